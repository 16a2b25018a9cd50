//! The development PKI as the services see it: leaves parse into identities, chains verify
//! against their own root only, validity windows are honoured, keys are private, and a real
//! mutual TLS handshake succeeds with the issued files.

use std::path::Path;

use chrono::{Duration, Utc};
use rustls_pki_types::UnixTime;
use vir_certs::{read_hpke_private_key, test_oin, DevPki, TlsPaths};
use vir_shared::tls::{load_certs, parse_leaf, verify_chain};
use vir_shared::RegionCode;

fn chain(paths: &TlsPaths) -> Vec<Vec<u8>> {
    load_certs(&paths.cert)
        .unwrap()
        .iter()
        .map(|c| c.as_ref().to_vec())
        .collect()
}

fn drenthe() -> RegionCode {
    "drenthe".parse().unwrap()
}

#[test]
fn node_leaf_carries_identity_region_and_hpke_key() {
    let dir = tempfile::tempdir().unwrap();
    let pki = DevPki::create(dir.path(), "VIR Dev").unwrap();
    let node = pki
        .issue_node(
            "node-drenthe",
            &drenthe(),
            &test_oin(1),
            "node-drenthe.vir.test",
        )
        .unwrap();

    let certs = chain(&node.tls);
    assert_eq!(certs.len(), 3, "leaf, issuing CA, domain CA; not the root");
    let peer = parse_leaf(&certs[0]).unwrap();
    assert_eq!(peer.oin, test_oin(1));
    assert_eq!(peer.organisation.as_deref(), Some("Verwijsindex Drenthe"));
    assert_eq!(peer.organisational_unit.as_deref(), Some("drenthe"));
    assert_eq!(peer.common_name.as_deref(), Some("node-drenthe.vir.test"));
    assert_eq!(peer.hpke_public_key, Some(node.hpke_public_key));

    // The private key on disk belongs to the certified public key.
    let private = read_hpke_private_key(&node.hpke_private_key).unwrap();
    use hpke::{Deserializable, Kem, Serializable};
    type X = hpke::kem::X25519HkdfSha256;
    let sk = <X as Kem>::PrivateKey::from_bytes(&private).unwrap();
    assert_eq!(
        <X as Kem>::sk_to_pk(&sk).to_bytes().as_slice(),
        node.hpke_public_key.as_slice()
    );
}

#[test]
fn service_and_client_leaves_parse() {
    let dir = tempfile::tempdir().unwrap();
    let pki = DevPki::create(dir.path(), "VIR Dev").unwrap();
    let hub = pki
        .issue_service("hub", "VIR Hub", &test_oin(100), "hub.vir.test")
        .unwrap();
    let peer = parse_leaf(&chain(&hub)[0]).unwrap();
    assert_eq!(peer.oin, test_oin(100));
    assert_eq!(peer.organisation.as_deref(), Some("VIR Hub"));
    assert_eq!(peer.common_name.as_deref(), Some("hub.vir.test"));
    assert_eq!(peer.organisational_unit, None);
    assert_eq!(peer.hpke_public_key, None);
    assert_eq!(hub.ca, pki.root_path());

    let school = pki
        .issue_client("school", "OBS De Regenboog", &test_oin(200))
        .unwrap();
    let peer = parse_leaf(&chain(&school)[0]).unwrap();
    assert_eq!(peer.oin, test_oin(200));
    assert_eq!(peer.organisation.as_deref(), Some("OBS De Regenboog"));
}

#[test]
fn chain_verifies_against_its_own_root_only() {
    let dir = tempfile::tempdir().unwrap();
    let ours = DevPki::create(&dir.path().join("ours"), "VIR Dev").unwrap();
    let foreign = DevPki::create(&dir.path().join("foreign"), "Foreign").unwrap();
    let node = ours
        .issue_node("node", &drenthe(), &test_oin(1), "localhost")
        .unwrap();
    let impostor = foreign
        .issue_node("node", &drenthe(), &test_oin(1), "localhost")
        .unwrap();

    let peer = verify_chain(&chain(&node.tls), &ours.root_path(), UnixTime::now()).unwrap();
    assert_eq!(peer.hpke_public_key, Some(node.hpke_public_key));
    assert!(verify_chain(&chain(&impostor.tls), &ours.root_path(), UnixTime::now()).is_err());
    assert!(verify_chain(&chain(&node.tls), &foreign.root_path(), UnixTime::now()).is_err());
}

#[test]
fn validity_window_is_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let pki = DevPki::create(dir.path(), "VIR Dev").unwrap();
    let now = Utc::now();
    let expired = pki
        .issue_client_valid(
            "expired",
            "JGZ Drenthe",
            &test_oin(3),
            now - Duration::days(30),
            now - Duration::days(1),
        )
        .unwrap();
    let future = pki
        .issue_client_valid(
            "future",
            "JGZ Drenthe",
            &test_oin(3),
            now + Duration::days(1),
            now + Duration::days(30),
        )
        .unwrap();
    let current = pki
        .issue_client("current", "JGZ Drenthe", &test_oin(3))
        .unwrap();

    let root = pki.root_path();
    assert!(verify_chain(&chain(&expired), &root, UnixTime::now()).is_err());
    assert!(verify_chain(&chain(&future), &root, UnixTime::now()).is_err());
    assert!(verify_chain(&chain(&current), &root, UnixTime::now()).is_ok());
    assert!(pki
        .issue_client_valid("backwards", "JGZ", &test_oin(3), now, now)
        .is_err());
}

#[test]
fn loaded_pki_issues_leaves_under_the_same_root() {
    let dir = tempfile::tempdir().unwrap();
    let created = DevPki::create(dir.path(), "VIR Dev").unwrap();
    let first = created
        .issue_service(
            "pseudonymiser",
            "VIR Pseudonymiser",
            &test_oin(7),
            "localhost",
        )
        .unwrap();
    drop(created);

    let loaded = DevPki::load(dir.path()).unwrap();
    let later = loaded
        .issue_node(
            "node-zl",
            &"zuid-limburg".parse().unwrap(),
            &test_oin(8),
            "localhost",
        )
        .unwrap();
    for paths in [&first, &later.tls] {
        verify_chain(&chain(paths), &loaded.root_path(), UnixTime::now()).unwrap();
    }
    // The intermediates appended by the loaded PKI are the same as the original ones.
    assert_eq!(chain(&first)[1..], chain(&later.tls)[1..]);

    assert!(
        DevPki::create(dir.path(), "VIR Dev").is_err(),
        "no silent overwrite"
    );
    assert!(DevPki::load(&dir.path().join("missing")).is_err());
}

#[cfg(unix)]
#[test]
fn every_key_file_is_0600() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;

    let dir = tempfile::tempdir().unwrap();
    let pki = DevPki::create(dir.path(), "VIR Dev").unwrap();
    let node = pki
        .issue_node("node", &drenthe(), &test_oin(1), "localhost")
        .unwrap();
    let client = pki
        .issue_client("client", "Veilig Thuis", &test_oin(2))
        .unwrap();
    for key in ["root.key", "domain-ca.key", "issuing-ca.key"] {
        assert_eq!(mode(&dir.path().join(key)), 0o600, "{key}");
    }
    for key in [&node.tls.key, &node.hpke_private_key, &client.key] {
        assert_eq!(mode(key), 0o600, "{}", key.display());
    }
}

#[test]
fn issued_files_complete_a_mutual_tls_handshake() {
    use rustls::pki_types::ServerName;
    use rustls::{ClientConnection, RootCertStore, ServerConnection};
    use std::sync::Arc;

    vir_shared::tls::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let pki = DevPki::create(dir.path(), "VIR Dev").unwrap();
    let hub = pki
        .issue_service("hub", "VIR Hub", &test_oin(100), "hub.vir.test")
        .unwrap();
    let school = pki.issue_client("school", "OBS", &test_oin(200)).unwrap();

    let server_config = vir_shared::tls::server_config(&hub).unwrap();
    let mut roots = RootCertStore::empty();
    for root in load_certs(&pki.root_path()).unwrap() {
        roots.add(root).unwrap();
    }
    let mut client_config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_client_auth_cert(
            load_certs(&school.cert).unwrap(),
            vir_shared::tls::load_key(&school.key).unwrap(),
        )
        .unwrap();
    client_config.alpn_protocols = vec![b"h2".to_vec()];

    for host in ["hub.vir.test", "localhost"] {
        let name = ServerName::try_from(host.to_owned()).unwrap();
        let mut client = ClientConnection::new(Arc::new(client_config.clone()), name).unwrap();
        let mut server = ServerConnection::new(server_config.config()).unwrap();
        while client.is_handshaking() || server.is_handshaking() {
            let mut buf = Vec::new();
            client.write_tls(&mut buf).unwrap();
            server.read_tls(&mut buf.as_slice()).unwrap();
            server.process_new_packets().unwrap();
            let mut buf = Vec::new();
            server.write_tls(&mut buf).unwrap();
            client.read_tls(&mut buf.as_slice()).unwrap();
            client.process_new_packets().unwrap();
        }
        let presented = server.peer_certificates().unwrap();
        let peer = parse_leaf(presented[0].as_ref()).unwrap();
        assert_eq!(peer.oin, test_oin(200));
    }
}

#[test]
fn inspect_reports_what_operators_check() {
    let dir = tempfile::tempdir().unwrap();
    let pki = DevPki::create(dir.path(), "VIR Dev").unwrap();
    let node = pki
        .issue_node("node", &drenthe(), &test_oin(1), "node.vir.test")
        .unwrap();
    let summaries = vir_certs::inspect::inspect_file(&node.tls.cert).unwrap();
    assert_eq!(summaries.len(), 3);
    let leaf = &summaries[0];
    assert_eq!(leaf.oin.as_deref(), Some(test_oin(1).as_str()));
    assert_eq!(leaf.status, "valid");
    assert!(!leaf.is_ca);
    assert_eq!(leaf.key_usage, ["digitalSignature", "keyEncipherment"]);
    assert_eq!(leaf.extended_key_usage, ["serverAuth", "clientAuth"]);
    assert_eq!(
        leaf.subject_alt_names,
        ["DNS:node.vir.test", "DNS:localhost", "IP:127.0.0.1"]
    );
    assert_eq!(
        leaf.hpke_public_key,
        Some(hex::encode(node.hpke_public_key))
    );
    let issuing = &summaries[1];
    assert!(issuing.is_ca);
    assert_eq!(issuing.path_len_constraint, Some(0));
    assert_eq!(issuing.key_usage, ["keyCertSign", "cRLSign"]);
    assert_eq!(
        issuing.common_name.as_deref(),
        Some("VIR Dev TSP Issuing CA")
    );
    assert!(leaf.to_string().contains("HPKE key:     present"));

    let root = vir_certs::inspect::inspect_file(&pki.root_path()).unwrap();
    assert_eq!(root[0].path_len_constraint, Some(2));
    assert_eq!(root[0].subject, root[0].issuer);
}
