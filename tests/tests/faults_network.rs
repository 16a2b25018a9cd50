//! Fault injection on the links (issue 8): a TCP fault proxy between node and hub that cuts,
//! refuses and black-holes (S3), connections recycled by the hub's maximum connection age (S7),
//! and the servers' limits: an oversize request and an HTTP/2 reset flood are refused while
//! the server stays healthy for other clients. Every test prints its figures.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tonic::Code;
use vir_proto as pb;
use vir_tests::faults::{
    hub_as_node, hub_status, node_status, reconfigure_hub, reconfigure_node, region_status,
    FaultProxy, FeedReader, Figures, ProxyMode, WireNode,
};
use vir_tests::{eventually, signal_request, TestFed};

const WAIT: Duration = Duration::from_secs(60);

/// Creates a signal on each youth in both regions.
async fn signal_both(t: &TestFed, youths: &[String]) {
    for bsn in youths {
        t.node_client("zuid-limburg/jgz")
            .create_signal(signal_request(bsn, "Marieke Smeets"))
            .await
            .expect("ZL signal");
        t.node_client("drenthe/school")
            .create_signal(signal_request(bsn, "Jan de Vries"))
            .await
            .expect("Drenthe signal");
    }
}

/// Waits until Drenthe has no outbox left and both sides have `n` notifications, none twice;
/// returns (received, duplicates).
async fn delivered(t: &TestFed, n: usize) -> (u64, u64) {
    eventually("Drenthe's outbox drained", WAIT, || async {
        (node_status(t, "drenthe/school").await.outbox_pending == 0).then_some(())
    })
    .await;
    let (mut received, mut duplicates) = (0, 0);
    for org in ["drenthe/school", "zuid-limburg/jgz"] {
        let counts = eventually("notifications", WAIT, || async {
            let c = t.notification_counts(org).await;
            (c.len() >= n).then_some(c)
        })
        .await;
        assert_eq!(counts.len(), n, "{org}");
        received += counts.len() as u64;
        duplicates += counts.values().map(|&c| c as u64 - 1).sum::<u64>();
    }
    (received, duplicates)
}

async fn connected(t: &TestFed) -> bool {
    node_status(t, "drenthe/school").await.hub_connected
}

/// S3: between Drenthe and the hub a fault proxy black-holes the link (bytes vanish, nothing
/// closes), cuts every connection, and refuses new ones. HTTP/2 keepalives (node
/// `[links]`, 300 ms interval and time-out here) find the black hole within the configured
/// time; after every fault delivery resumes and nothing is lost or doubled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_fault_proxy_cut_refuse_blackhole_keepalive_detects_and_delivery_resumes() {
    const INTERVAL_MS: u64 = 300;
    const TIMEOUT_MS: u64 = 300;
    let mut t = TestFed::start().await;
    let hub = t.fed.hub.as_ref().unwrap().local_addr;
    let proxy = FaultProxy::start(hub).await;
    let proxy_url = proxy.url();
    reconfigure_node(&mut t, "drenthe", |c| {
        c.hub.url = proxy_url;
        c.links.keepalive_interval_ms = INTERVAL_MS;
        c.links.keepalive_timeout_ms = TIMEOUT_MS;
        c.links.connect_timeout_ms = 1000;
    })
    .await;
    let youths = t.unrelated_bsns(18);
    eventually("Drenthe connected through the proxy", WAIT, || async {
        connected(&t).await.then_some(())
    })
    .await;

    // Black hole: nothing closes; only the unanswered pings reveal the dead link.
    proxy.set(ProxyMode::Blackhole);
    let holed = Instant::now();
    eventually("keepalive finds the black hole", WAIT, || async {
        (!connected(&t).await).then_some(())
    })
    .await;
    let detected = holed.elapsed();
    let allowed = Duration::from_millis(INTERVAL_MS + TIMEOUT_MS + 1500);
    println!(
        "  black hole detected after {} ms (configured {INTERVAL_MS}+{TIMEOUT_MS} ms)",
        detected.as_millis()
    );
    assert!(
        detected <= allowed,
        "dead link found within the configured time: {detected:?}"
    );
    signal_both(&t, &youths[..6]).await;
    proxy.set(ProxyMode::Pass);
    let healed = Instant::now();
    let (r1, d1) = delivered(&t, 6).await;
    let recovery_blackhole = healed.elapsed();

    // Cut: every connection closed at once; the node reconnects by itself.
    proxy.cut_all();
    signal_both(&t, &youths[6..12]).await;
    let cut = Instant::now();
    let (r2, d2) = delivered(&t, 12).await;
    let recovery_cut = cut.elapsed();

    // Refuse: connections closed and new ones refused; the outbox holds the signals.
    proxy.set(ProxyMode::Refuse);
    proxy.cut_all();
    signal_both(&t, &youths[12..]).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(node_status(&t, "drenthe/school").await.outbox_pending > 0);
    proxy.set(ProxyMode::Pass);
    let reopened = Instant::now();
    let (r3, d3) = delivered(&t, 18).await;
    let recovery_refuse = reopened.elapsed();

    let status = hub_status(&t).await;
    let figures = Figures {
        sent: 2 * youths.len() as u64,
        received: r3,
        duplicates: d1 + d2 + d3,
        gaps: region_status(&status, "drenthe")
            .feed_head_seq
            .abs_diff(node_status(&t, "drenthe/school").await.feed_applied_seq),
        recovery: recovery_blackhole.max(recovery_cut).max(recovery_refuse),
    };
    figures.print("s3_fault_proxy");
    println!(
        "  recovery: black hole {} ms, cut {} ms, refuse {} ms; notified {r1}/{r2}/{r3}",
        recovery_blackhole.as_millis(),
        recovery_cut.as_millis(),
        recovery_refuse.as_millis()
    );
    assert_eq!(status.active_signals, 2 * youths.len() as u64);
    assert_eq!(status.matches, youths.len() as u64);
    assert_eq!((figures.duplicates, figures.gaps), (0, 0));
    t.shutdown().await;
}

/// S7: the hub recycles every connection after 1 s (`limits.max_connection_age_ms`, 500 ms
/// grace for open streams) while three wire nodes submit and follow their feeds: in-flight
/// calls finish, streams resume from their position, nothing is lost or doubled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s7_connections_recycled_by_max_age_lose_no_work() {
    const YOUTHS: u64 = 400;
    let mut t = TestFed::start().await;
    for r in ["drenthe", "zuid-limburg", "hoeksche-waard"] {
        t.fed.stop_node(r, false).await.unwrap();
    }
    reconfigure_hub(&mut t, |c| {
        c.limits.max_connection_age_ms = 1000;
        c.limits.max_connection_age_grace_ms = 500;
    })
    .await;
    let hub_url = t.fed.file.hub.url.clone();
    let regions = ["drenthe", "zuid-limburg"];
    let readers: Vec<FeedReader> = regions
        .iter()
        .map(|r| FeedReader::start(hub_as_node(&t, r, &hub_url), r))
        .collect();
    let started = Instant::now();
    let deadline = started + WAIT;
    let mut tasks = Vec::new();
    for region in regions {
        let mut node = WireNode::new(&t, region, &hub_url);
        tasks.push(tokio::spawn(async move {
            let ops: Vec<_> = (0..YOUTHS)
                .map(|y| node.upsert(&format!("{region}-{y}"), y))
                .collect();
            for batch in ops.chunks(4) {
                node.submit_until_accepted(batch.to_vec(), deadline).await;
                // Spread the load over several connection lifetimes.
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            node
        }));
    }
    let mut failed = 0;
    let mut sent = 0;
    for task in tasks {
        let node = task.await.unwrap();
        sent += node.applied + node.duplicate_answers;
        failed += node.failed_calls;
    }
    let mut figures = Figures {
        sent,
        ..Default::default()
    };
    let mut resubscriptions = 0;
    for (region, reader) in regions.iter().zip(readers) {
        let log = reader.wait_for_seq(YOUTHS, WAIT).await;
        reader.stop().await;
        let seqs: Vec<u64> = log.items.iter().map(|i| i.seq).collect();
        assert_eq!(seqs, (1..=YOUTHS).collect::<Vec<_>>(), "{region}");
        figures.received += log.items.len() as u64;
        figures.duplicates += log.duplicates;
        figures.gaps += log.gaps;
        resubscriptions += log.reconnects;
    }
    figures.recovery = started.elapsed();
    figures.print("s7_connections_recycled");
    println!("  feed streams recycled {resubscriptions} times, submits failed {failed} (re-sent)");
    let status = hub_status(&t).await;
    assert_eq!(sent, 2 * YOUTHS);
    assert_eq!(status.active_signals, 2 * YOUTHS);
    assert_eq!(status.matches, YOUTHS);
    assert!(
        resubscriptions >= 2,
        "connections were recycled ({resubscriptions})"
    );
    assert_eq!((figures.duplicates, figures.gaps), (0, 0));
    t.shutdown().await;
}

/// Limits: with `limits.max_message_bytes` at 64 KiB, a 200 KiB `Submit` is refused with
/// OUT_OF_RANGE / RESOURCE_EXHAUSTED and nothing is applied; an HTTP/2 rapid-reset flood
/// (streams opened and reset at once) gets the connection closed after
/// `limits.max_pending_reset_streams`; and the hub keeps serving other clients throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_oversize_and_reset_flood_are_refused_and_the_hub_stays_healthy() {
    let mut t = TestFed::start().await;
    for r in ["drenthe", "zuid-limburg", "hoeksche-waard"] {
        t.fed.stop_node(r, false).await.unwrap();
    }
    reconfigure_hub(&mut t, |c| {
        c.limits.max_message_bytes = 64 * 1024;
        c.limits.max_pending_reset_streams = 10;
    })
    .await;
    let hub_url = t.fed.file.hub.url.clone();
    let hub_addr = t.fed.hub.as_ref().unwrap().local_addr;

    // Oversize: one relay with 200 KiB sealed bytes.
    let mut drenthe = WireNode::new(&t, "drenthe", &hub_url);
    let big = pb::Operation {
        op_id: 1,
        op: Some(pb::operation::Op::Relay(pb::EnvelopeRelay {
            match_id: uuid_like(),
            to_region: "zuid-limburg".into(),
            about_signal_ref: "x".into(),
            sealed: vec![7; 200 * 1024],
        })),
    };
    let err = drenthe
        .submit_once(&[big], Duration::from_secs(10))
        .await
        .expect_err("oversize refused");
    println!("  oversize Submit: {:?} {}", err.code(), err.message());
    assert!(
        matches!(err.code(), Code::OutOfRange | Code::ResourceExhausted),
        "{err:?}"
    );
    let status = hub_status(&t).await;
    assert_eq!(region_status(&status, "drenthe").last_applied_op_id, 0);
    // The same client goes on with a normal batch.
    let small = drenthe.upsert("d-1", 1);
    let ok = drenthe
        .submit_once(&[small], Duration::from_secs(10))
        .await
        .expect("normal Submit after the oversize one");
    assert_eq!(ok.results.len(), 1);

    // Reset flood on one raw HTTP/2 connection with a node certificate.
    let tls = vir_tests::faults::node_tls(&t, "zuid-limburg");
    let flood = reset_flood(hub_addr, &tls, 2000).await;
    println!(
        "  reset flood: {} streams opened and reset before the hub closed the connection ({})",
        flood.0, flood.1
    );
    assert!(
        flood.0 < 2000,
        "the hub closed the flooding connection before 2000 resets"
    );
    // Meanwhile another client is served.
    let started = Instant::now();
    let status = hub_status(&t).await;
    assert_eq!(status.active_signals, 1);
    let figures = Figures {
        sent: 2,
        received: 1,
        duplicates: 0,
        gaps: 0,
        recovery: started.elapsed(),
    };
    figures.print("limits_oversize_and_reset_flood");
    t.shutdown().await;
}

fn uuid_like() -> String {
    "6f1c7d4e-8a2b-4c3d-9e5f-0a1b2c3d4e5f".into()
}

/// Opens `n` gRPC streams on one HTTP/2 connection and resets each at once. Returns how many
/// were opened before the server closed the connection, and the error that ended it.
async fn reset_flood(
    addr: std::net::SocketAddr,
    tls: &vir_shared::tls::TlsPaths,
    n: usize,
) -> (usize, String) {
    let mut roots = rustls::RootCertStore::empty();
    for c in vir_shared::tls::load_certs(&tls.ca).unwrap() {
        roots.add(c).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(
            vir_shared::tls::load_certs(&tls.cert).unwrap(),
            vir_shared::tls::load_key(&tls.key).unwrap(),
        )
        .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let stream = connector.connect(name, tcp).await.expect("TLS");
    let (client, connection) = h2::client::handshake(stream).await.expect("h2 handshake");
    let conn = tokio::spawn(connection);
    let mut opened = 0;
    let mut ended = String::from("connection still open");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut client = client;
    while opened < n && Instant::now() < deadline {
        client = match client.ready().await {
            Ok(c) => c,
            Err(e) => {
                ended = e.to_string();
                break;
            }
        };
        let request = http::Request::builder()
            .method("POST")
            .uri(format!("https://{addr}/vir.v1.Hub/Status"))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(())
            .unwrap();
        match client.send_request(request, false) {
            Ok((_response, mut stream)) => {
                stream.send_reset(h2::Reason::CANCEL);
                opened += 1;
            }
            Err(e) => {
                ended = e.to_string();
                break;
            }
        }
        tokio::task::yield_now().await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), conn).await;
    (opened, ended)
}
