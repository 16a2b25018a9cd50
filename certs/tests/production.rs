//! Production certificate steps on a look-alike PKI: a chain is imported only when it fits its
//! role, key, root and region; expiry is reported and an expired certificate fails the check.

use chrono::{Duration, Utc};
use vir_certs::check::{self, Expected};
use vir_certs::csr::Role;
use vir_certs::{test_oin, DevPki};

#[test]
fn import_checks_root_role_key_region_and_hpke_key() {
    vir_shared::tls::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let pki = DevPki::create(&dir.path().join("pki"), "VIR Test").unwrap();
    let other = DevPki::create(&dir.path().join("other"), "Elsewhere").unwrap();
    let region = "drenthe".parse().unwrap();
    let node = pki
        .issue_node("node", &region, &test_oin(10), "node.example")
        .unwrap();
    let client = pki.issue_client("school", "School", &test_oin(11)).unwrap();
    let out = dir.path().join("installed.pem");

    let node_expected = Expected {
        role: Role::Node,
        root: &node.tls.ca,
        key: &node.tls.key,
        hpke_key: Some(&node.hpke_private_key),
        region: Some(&region),
    };
    let report = check::import(&node.tls.cert, &node_expected, &out).unwrap();
    assert_eq!(report.oin, test_oin(10).to_string());
    assert!(report.days_left > 300);
    assert!(report.warnings.is_empty());
    assert_eq!(
        vir_shared::tls::load_certs(&out).unwrap(),
        vir_shared::tls::load_certs(&node.tls.cert).unwrap()
    );

    let wrong_root = Expected {
        root: &other.root_path(),
        ..node_expected.clone()
    };
    assert!(check::check_chain(&node.tls.cert, &wrong_root).is_err());
    let wrong_key = Expected {
        key: &client.key,
        ..node_expected.clone()
    };
    let err = check::check_chain(&node.tls.cert, &wrong_key).unwrap_err();
    assert!(format!("{err:#}").contains("does not belong"), "{err:#}");
    let zl = "zuid-limburg".parse().unwrap();
    let wrong_region = Expected {
        region: Some(&zl),
        ..node_expected.clone()
    };
    assert!(check::check_chain(&node.tls.cert, &wrong_region).is_err());

    // A client certificate has no serverAuth and no HPKE key: not a node, fine as a client.
    let as_node = Expected {
        key: &client.key,
        hpke_key: None,
        ..node_expected.clone()
    };
    assert!(check::check_chain(&client.cert, &as_node).is_err());
    let as_client = Expected {
        role: Role::Client,
        root: &client.ca,
        key: &client.key,
        hpke_key: None,
        region: None,
    };
    check::check_chain(&client.cert, &as_client).unwrap();
}

#[test]
fn check_reports_days_left_and_fails_on_expired() {
    let dir = tempfile::tempdir().unwrap();
    let pki = DevPki::create(dir.path(), "VIR Test").unwrap();
    let now = Utc::now();
    let soon = pki
        .issue_client_valid(
            "soon",
            "Soon",
            &test_oin(1),
            now - Duration::days(300),
            now + Duration::days(10),
        )
        .unwrap();
    let gone = pki
        .issue_client_valid(
            "gone",
            "Gone",
            &test_oin(2),
            now - Duration::days(400),
            now - Duration::days(2),
        )
        .unwrap();

    let soon = check::expiry(&soon.cert).unwrap();
    assert_eq!(soon.status, "renew");
    assert!((9..=10).contains(&soon.days_left), "{}", soon.days_left);
    check::none_expired(std::slice::from_ref(&soon)).unwrap();

    let gone = check::expiry(&gone.cert).unwrap();
    assert_eq!(gone.status, "expired");
    assert!(gone.days_left < 0);
    assert!(check::none_expired(&[soon.clone(), gone]).is_err());
    assert!(check::metrics(&[soon]).contains("vir_certificate_days_left{file="));
}
