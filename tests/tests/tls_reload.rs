//! Certificates and CRLs are reloaded without a restart: a client certificate revoked by a new
//! CRL is refused on its next connection after a reload (SIGHUP's path, and a file change),
//! while a connection made before the revocation keeps working.

use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::service::interceptor::InterceptedService;
use tonic::{Code, Request, Status};
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;
use vir_certs::{test_oin, DevPki};
use vir_shared::tls::TlsPaths;
use vir_tests::eventually;

const WAIT: Duration = Duration::from_secs(20);

/// The health service behind the identity check every real service makes on each call.
fn identified(request: Request<()>) -> Result<Request<()>, Status> {
    vir_shared::tls::peer_cert(&request)?;
    Ok(request)
}

/// A health check on `channel`: `Ok` or the status code of the refusal.
async fn check(channel: tonic::transport::Channel) -> Result<(), Code> {
    HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .map(|_| ())
        .map_err(|s| s.code())
}

/// A new channel, hence a new connection and handshake on its first call.
fn connect(url: &str, tls: &TlsPaths) -> tonic::transport::Channel {
    vir_shared::tls::channel(url, tls, "localhost").expect("channel")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_client_is_refused_after_reload_and_an_open_connection_stays() {
    vir_shared::tls::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let pki = DevPki::create(dir.path(), "VIR Test").unwrap();
    let crl = dir.path().join("issuing-ca.crl.pem");
    pki.write_crl(&[], &crl).unwrap();
    let mut server_tls = pki
        .issue_service("server", "VIR Hub", &test_oin(1), "localhost")
        .unwrap();
    server_tls.crls = vec![crl.clone()];
    let alice = pki.issue_client("alice", "School A", &test_oin(2)).unwrap();
    let bob = pki.issue_client("bob", "School B", &test_oin(3)).unwrap();

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    let shutdown = CancellationToken::new();
    let tls = vir_shared::tls::server_config(&server_tls).unwrap();
    let incoming = vir_shared::tls::incoming(listener, tls, shutdown.clone(), "test");
    let (_reporter, health) = tonic_health::server::health_reporter();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(InterceptedService::new(health, identified))
            .serve_with_incoming_shutdown(incoming, shutdown.clone().cancelled_owned()),
    );

    let open = connect(&url, &alice);
    assert_eq!(check(open.clone()).await, Ok(()), "alice before revocation");

    // Revoke alice and reload as SIGHUP does.
    pki.write_crl(&[alice.cert.as_path()], &crl).unwrap();
    vir_shared::tls::request_reload();
    eventually("alice refused on a new connection", WAIT, || async {
        (check(connect(&url, &alice)).await == Err(Code::Unauthenticated)).then_some(())
    })
    .await;
    assert_eq!(
        check(open.clone()).await,
        Ok(()),
        "the connection made before the reload is kept, with its verdict"
    );
    assert_eq!(
        check(connect(&url, &bob)).await,
        Ok(()),
        "bob is not revoked"
    );

    // Lift the revocation by replacing the file only: the watcher notices the change.
    pki.write_crl(&[], &crl).unwrap();
    eventually(
        "alice accepted again after the CRL file changed",
        WAIT,
        || async { (check(connect(&url, &alice)).await == Ok(())).then_some(()) },
    )
    .await;

    // A broken CRL file is not taken: the material in use stays.
    std::fs::write(
        &crl,
        b"-----BEGIN X509 CRL-----\nnot base64\n-----END X509 CRL-----\n",
    )
    .unwrap();
    vir_shared::tls::request_reload();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        check(connect(&url, &bob)).await,
        Ok(()),
        "still serving on the old material"
    );

    shutdown.cancel();
    server.await.unwrap().unwrap();
}
