//! Storage fault (issue 8): PostgreSQL is killed (`pg_ctl stop -m immediate`) and restarted
//! under load; the hub and a node on it recover without manual steps, and nothing is lost or
//! doubled. Runs when `VIR_TEST_POSTGRES_URL` is set (always in CI); it never touches that
//! server: it starts its own instance with `initdb`/`pg_ctl` from the installed PostgreSQL
//! binaries on a free port, so other tests keep their database.

use std::time::{Duration, Instant};

use tonic::Code;
use vir_proto as pb;
use vir_tests::faults::{hub_status, node_status, Figures};
use vir_tests::own_postgres::OwnPostgres;
use vir_tests::{eventually, signal_request, TestFed};

const WAIT: Duration = Duration::from_secs(90);

/// Creates a signal, retrying; an earlier attempt that committed without its answer shows as
/// ALREADY_EXISTS, which counts as done.
async fn create_until_done(t: &TestFed, org: &str, bsn: &str, name: &str) -> u32 {
    let deadline = Instant::now() + WAIT;
    let mut failures = 0;
    loop {
        match t
            .node_client(org)
            .create_signal(signal_request(bsn, name))
            .await
        {
            Ok(_) => return failures,
            Err(e) if e.code() == Code::AlreadyExists => return failures,
            Err(_) => {
                failures += 1;
                assert!(Instant::now() < deadline, "{org}: signal never created");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_killed_and_restarted_under_load_hub_and_node_recover() {
    if std::env::var("VIR_TEST_POSTGRES_URL").map_or(true, |u| u.is_empty()) {
        eprintln!("VIR_TEST_POSTGRES_URL is not set: skipping the PostgreSQL kill test");
        return;
    }
    let pg = OwnPostgres::start();
    let hub_db = pg.database("hub").await;
    let node_db = pg.database("drenthe").await;
    let t = TestFed::start_with(move |o| {
        o.hub_storage_url = Some(hub_db);
        o.node_storage_urls.insert("drenthe".into(), node_db);
    })
    .await;
    let youths = t.unrelated_bsns(20);
    for bsn in &youths {
        create_until_done(&t, "zuid-limburg/jgz", bsn, "Marieke Smeets").await;
    }
    // Drenthe's partner keeps signalling while PostgreSQL goes down and comes back.
    let client = t.node_client("drenthe/school");
    let progress = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let load = {
        let (bsns, progress) = (youths.clone(), progress.clone());
        tokio::spawn(async move {
            let deadline = Instant::now() + WAIT;
            let mut failures = 0u32;
            for bsn in bsns {
                loop {
                    match client
                        .clone()
                        .create_signal(signal_request(&bsn, "Jan de Vries"))
                        .await
                    {
                        Ok(_) => break,
                        Err(e) if e.code() == Code::AlreadyExists => break,
                        Err(_) => {
                            failures += 1;
                            assert!(Instant::now() < deadline, "signal never created");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                }
                progress.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            failures
        })
    };
    eventually("load under way", WAIT, || async {
        (progress.load(std::sync::atomic::Ordering::Relaxed) >= 5).then_some(())
    })
    .await;
    pg.kill();
    let down = Instant::now();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    pg.up();
    let outage = down.elapsed();
    let failures = load.await.expect("load task");
    let restarted = Instant::now();
    eventually(
        "Drenthe's outbox drained after the outage",
        WAIT,
        || async {
            let s = t
                .node_client("drenthe/school")
                .status(pb::NodeStatusRequest {})
                .await
                .ok()?
                .into_inner();
            (s.outbox_pending == 0).then_some(())
        },
    )
    .await;
    let mut received = 0;
    let mut duplicates = 0;
    for org in ["drenthe/school", "zuid-limburg/jgz"] {
        let counts = eventually("every match notified", WAIT, || async {
            let list = t
                .node_client(org)
                .list_notifications(pb::ListNotificationsRequest {})
                .await
                .ok()?
                .into_inner()
                .notifications;
            let mut counts = std::collections::BTreeMap::new();
            for n in list {
                for p in n.parties {
                    *counts
                        .entry(format!("{}|{}", n.your_signal_id, p.organisation))
                        .or_insert(0usize) += 1;
                }
            }
            (counts.len() >= youths.len()).then_some(counts)
        })
        .await;
        assert_eq!(counts.len(), youths.len(), "{org}");
        received += counts.len() as u64;
        duplicates += counts.values().map(|&n| n as u64 - 1).sum::<u64>();
    }
    let status = hub_status(&t).await;
    let drenthe = node_status(&t, "drenthe/school").await;
    let figures = Figures {
        sent: 2 * youths.len() as u64,
        received,
        duplicates,
        gaps: 0,
        recovery: restarted.elapsed(),
    };
    figures.print("postgres_killed_and_restarted");
    println!(
        "  PostgreSQL down {} ms; partner calls refused during the outage: {failures}; \
         Drenthe feed at {}",
        outage.as_millis(),
        drenthe.feed_applied_seq
    );
    assert_eq!(status.active_signals, 2 * youths.len() as u64);
    assert_eq!(status.matches, youths.len() as u64);
    assert_eq!(duplicates, 0);
    t.shutdown().await;
}
