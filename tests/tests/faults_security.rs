//! S8 (issue 8): nobody gets in who does not belong. Against the running hub and nodes, with
//! the log captured: a certificate of another CA, an expired one, a revoked one (CRL checked
//! by the hub, reloaded without a restart), a node certificate of region A submitting for
//! region B, and a partner of one region calling another region's node are all refused on the
//! first RPC and logged; a TLS 1.1 ClientHello gets a protocol alert and is logged too.
//!
//! `refusals.rs` checks the same refusals on the nodes' partner API with the exact statuses and
//! that nothing is stored; `tls_reload.rs` checks CRL reloads on a bare server (open
//! connections keep their verdict, a broken CRL file is not taken). This test adds the hub, the
//! log lines, and the protocol version.

use std::time::Duration;

use chrono::Duration as Days;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::Code;
use vir_proto as pb;
use vir_proto::hub_client::HubClient;
use vir_proto::node_client::NodeClient;
use vir_tests::faults::{node_tls, reconfigure_hub, Figures, LogCapture};
use vir_tests::{eventually, TestFed};

const WAIT: Duration = Duration::from_secs(30);

async fn hub_status_with(url: &str, tls: &vir_shared::tls::TlsPaths) -> Result<(), tonic::Status> {
    let channel = vir_shared::tls::channel(url, tls, "localhost").unwrap();
    HubClient::new(channel)
        .status(pb::HubStatusRequest {})
        .await
        .map(|_| ())
}

/// Sends a TLS 1.1 ClientHello (legacy version 3.2, no supported_versions extension) and
/// returns the first bytes the server answers with.
async fn tls11_client_hello(addr: std::net::SocketAddr) -> Vec<u8> {
    let mut body = vec![0x03, 0x02]; // client_version TLS 1.1
    body.extend_from_slice(&[0x42; 32]); // random
    body.push(0); // session id
    body.extend_from_slice(&[0x00, 0x04, 0xc0, 0x13, 0x00, 0x2f]); // two TLS 1.1 suites
    body.extend_from_slice(&[0x01, 0x00]); // null compression
    let mut handshake = vec![0x01, 0x00, 0x00, body.len() as u8];
    handshake.extend_from_slice(&body);
    let mut record = vec![0x16, 0x03, 0x02, 0x00, handshake.len() as u8];
    record.extend_from_slice(&handshake);
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(&record).await.unwrap();
    let mut answer = vec![0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut answer))
        .await
        .expect("the server answers")
        .unwrap_or(0);
    answer.truncate(n);
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s8_foreign_expired_revoked_spoofed_cross_region_and_old_tls_are_refused_and_logged() {
    let log = LogCapture::default();
    let _ = tracing_subscriber::fmt()
        .with_env_filter("warn")
        .with_ansi(false)
        .with_writer(log.clone())
        .try_init();
    let mut t = TestFed::start().await;
    let crl = t.dir.path().join("issuing.crl.pem");
    t.fed.pki.write_crl(&[], &crl).unwrap();
    let crl_for_hub = crl.clone();
    reconfigure_hub(&mut t, |c| c.tls.crls = vec![crl_for_hub]).await;
    let hub = t.fed.file.hub.url.clone();
    let hub_addr = t.fed.hub.as_ref().unwrap().local_addr;
    let mut refused = 0u64;

    // 1. Another CA: the OIN of a Drenthe partner, issued by a look-alike root.
    let partner_oin: vir_shared::Oin = vir_node::config::NodeConfig::load(
        &t.fed.data_dir.join("config").join("node-drenthe.toml"),
    )
    .unwrap()
    .partners[0]
        .oin
        .clone();
    let foreign = vir_certs::DevPki::create(&t.dir.path().join("foreign"), "Foreign").unwrap();
    let mut forged = foreign
        .issue_client("forged", "Verwijsindex Drenthe", &partner_oin)
        .unwrap();
    forged.ca = t.fed.pki.root_path();
    let err = hub_status_with(&hub, &forged)
        .await
        .expect_err("foreign CA");
    assert_eq!(err.code(), Code::Unauthenticated, "another CA: {err:?}");
    refused += 1;

    // 2. Expired, of the right CA.
    let now = chrono::Utc::now();
    let expired = t
        .fed
        .pki
        .issue_client_valid(
            "expired-op",
            "VIR Beheer",
            &partner_oin,
            now - Days::days(400),
            now - Days::days(30),
        )
        .unwrap();
    let err = hub_status_with(&hub, &expired).await.expect_err("expired");
    assert_eq!(err.code(), Code::Unauthenticated, "expired: {err:?}");
    assert!(err.message().to_lowercase().contains("expired"), "{err:?}");
    refused += 1;

    // 3. Revoked: the Drenthe node's certificate goes on the CRL; the hub reloads it without a
    //    restart and refuses new connections with it.
    let drenthe = node_tls(&t, "drenthe");
    assert!(hub_status_with(&hub, &drenthe).await.is_ok());
    t.fed
        .pki
        .write_crl(&[drenthe.cert.as_path()], &crl)
        .unwrap();
    vir_shared::tls::request_reload();
    let err = eventually("the revocation is in force", WAIT, || async {
        hub_status_with(&hub, &drenthe).await.err()
    })
    .await;
    assert_eq!(err.code(), Code::Unauthenticated, "revoked: {err:?}");
    refused += 1;
    t.fed.pki.write_crl(&[], &crl).unwrap();
    vir_shared::tls::request_reload();
    eventually("the revocation lifted", WAIT, || async {
        hub_status_with(&hub, &drenthe).await.ok()
    })
    .await;

    // 4. Drenthe's node certificate submitting for Zuid-Limburg.
    let channel = vir_shared::tls::channel(&hub, &drenthe, "localhost").unwrap();
    let err = HubClient::new(channel)
        .submit(pb::SubmitRequest {
            region: "zuid-limburg".into(),
            operations: vec![],
        })
        .await
        .expect_err("spoofed region");
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    refused += 1;

    // 5. A Zuid-Limburg partner calling the Drenthe node.
    let zl_school = t.fed.org_tls("zuid-limburg/school").unwrap();
    let drenthe_node = t.fed.file.node("drenthe").unwrap().url.clone();
    let err =
        NodeClient::new(vir_shared::tls::channel(&drenthe_node, &zl_school, "localhost").unwrap())
            .list_signals(pb::ListSignalsRequest {})
            .await
            .expect_err("partner of another region");
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    refused += 1;

    // 6. TLS 1.1: the hub answers with an alert (content type 21), never a ServerHello.
    let answer = tls11_client_hello(hub_addr).await;
    println!("  TLS 1.1 ClientHello answered with {answer:02x?}");
    assert!(
        answer.is_empty() || answer[0] == 0x15,
        "an alert or a closed connection, not a handshake: {answer:02x?}"
    );
    if answer.len() >= 7 {
        // rustls answers a hello without TLS 1.2 or 1.3 with handshake_failure (40);
        // protocol_version (70) would do as well.
        assert!(
            matches!(answer[6], 0x28 | 0x46),
            "alert handshake_failure or protocol_version: {answer:02x?}"
        );
    }
    refused += 1;

    // Every refusal is in the log, without personal data.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let text = log.text();
    let count = |needle: &str| text.lines().filter(|l| l.contains(needle)).count();
    let tls_refused = count("tls_refused");
    let access_refused = count("access_refused");
    let caller_refused = count("caller_refused");
    println!("  logged: tls_refused {tls_refused}, access_refused {access_refused}, caller_refused {caller_refused}");
    assert!(
        tls_refused >= 4,
        "foreign, expired, revoked, TLS 1.1 logged:\n{text}"
    );
    assert!(
        text.contains("protocol version")
            || text.to_lowercase().contains("protocolversion")
            || text.contains("TLS handshake failed"),
        "TLS 1.1 logged:\n{text}"
    );
    assert!(access_refused >= 1, "spoofed region logged:\n{text}");
    assert!(caller_refused >= 1, "cross-region partner logged:\n{text}");
    let figures = Figures {
        sent: refused,
        received: 0,
        duplicates: 0,
        gaps: 0,
        recovery: Duration::ZERO,
    };
    figures.print("s8_refusals (sent = attempts, received = admitted)");
    t.shutdown().await;
}
