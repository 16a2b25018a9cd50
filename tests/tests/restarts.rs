//! Failures on the spine: a node that crashes while its feed is streaming resumes from its last
//! applied position, and a hub that is down while nodes queue signals gets them all, once.

use std::time::Duration;

use vir_proto as pb;
use vir_tests::{eventually, signal_request, TestFed};

const WAIT: Duration = Duration::from_secs(60);

async fn hub_status(t: &TestFed) -> pb::HubStatusResponse {
    let channel =
        vir_shared::tls::channel(&t.fed.file.hub.url, &t.fed.file.operator, "localhost").unwrap();
    vir_proto::hub_client::HubClient::new(channel)
        .status(pb::HubStatusRequest {})
        .await
        .expect("hub status")
        .into_inner()
}

async fn node_status(t: &TestFed, org: &str) -> pb::NodeStatusResponse {
    t.node_client(org)
        .status(pb::NodeStatusRequest {})
        .await
        .expect("node status")
        .into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_crashed_mid_stream_resumes_its_feed_without_loss_or_repetition() {
    let mut t = TestFed::start().await;
    let youths = t.unrelated_bsns(24);

    for bsn in &youths {
        t.node_client("zuid-limburg/jgz")
            .create_signal(signal_request(bsn, "Marieke Smeets"))
            .await
            .expect("ZL signal");
    }
    for bsn in &youths {
        t.node_client("drenthe/school")
            .create_signal(signal_request(bsn, "Jan de Vries"))
            .await
            .expect("Drenthe signal");
    }
    // Crash Zuid-Limburg as soon as the first matches reach it, while the rest still stream.
    eventually("the first match at Zuid-Limburg", WAIT, || async {
        (node_status(&t, "zuid-limburg/jgz").await.feed_applied_seq > 0).then_some(())
    })
    .await;
    t.fed.stop_node("zuid-limburg", true).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    t.fed.start_node("zuid-limburg").await.unwrap();

    for org in ["zuid-limburg/jgz", "drenthe/school"] {
        let counts = eventually("every cross-regional match notified", WAIT, || async {
            let counts = t.notification_counts(org).await;
            (counts.len() >= youths.len()).then_some(counts)
        })
        .await;
        assert_eq!(counts.len(), youths.len(), "{org}: one match per youth");
        assert!(
            counts.values().all(|&n| n == 1),
            "{org}: no notification repeated: {counts:?}"
        );
    }
    // Settled: the hub made each match once.
    assert_eq!(hub_status(&t).await.matches, youths.len() as u64);
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signals_queued_while_the_hub_is_down_all_arrive_once_after_it_restarts() {
    let mut t = TestFed::start().await;
    let youths: Vec<String> = t
        .unrelated_youths()
        .iter()
        .skip(30)
        .take(15)
        .map(|p| p.bsn.to_string())
        .collect();

    t.fed.stop_hub(true).await.unwrap();
    for bsn in &youths {
        t.node_client("drenthe/jgz")
            .create_signal(signal_request(bsn, "Bram Mulder"))
            .await
            .expect("Drenthe signal while the hub is down");
        t.node_client("hoeksche-waard/cjg")
            .create_signal(signal_request(bsn, "Fenna Jansen"))
            .await
            .expect("Hoeksche Waard signal while the hub is down");
    }
    let pending = node_status(&t, "drenthe/jgz").await.outbox_pending;
    assert_eq!(
        pending,
        youths.len() as u64,
        "signals wait in Drenthe's outbox"
    );

    t.fed.start_hub().await.unwrap();
    eventually("both outboxes drained", WAIT, || async {
        let d = node_status(&t, "drenthe/jgz").await.outbox_pending;
        let h = node_status(&t, "hoeksche-waard/cjg").await.outbox_pending;
        (d == 0 && h == 0).then_some(())
    })
    .await;
    let status = hub_status(&t).await;
    assert_eq!(
        status.active_signals,
        2 * youths.len() as u64,
        "every signal at the hub once"
    );
    assert_eq!(status.matches, youths.len() as u64, "one match per youth");

    for org in ["drenthe/jgz", "hoeksche-waard/cjg"] {
        let counts = eventually("notifications after the hub came back", WAIT, || async {
            let counts = t.notification_counts(org).await;
            (counts.len() >= youths.len()).then_some(counts)
        })
        .await;
        assert_eq!(counts.len(), youths.len(), "{org}");
        assert!(counts.values().all(|&n| n == 1), "{org}: {counts:?}");
    }

    // A graceful hub restart changes nothing and repeats nothing.
    t.fed.restart_hub(false).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after = hub_status(&t).await;
    assert_eq!(
        (after.active_signals, after.matches),
        (status.active_signals, status.matches)
    );
    for org in ["drenthe/jgz", "hoeksche-waard/cjg"] {
        let counts = t.notification_counts(org).await;
        assert!(
            counts.values().all(|&n| n == 1),
            "{org} after restart: {counts:?}"
        );
    }
    t.shutdown().await;
}
