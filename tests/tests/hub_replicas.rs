//! Two hub replicas on one PostgreSQL database, as behind a load balancer: nodes connected to
//! either replica see the same matches, and every feed stays gap-free. Runs when
//! `VIR_TEST_POSTGRES_URL` names a server (always in CI).

use std::time::Duration;

use sqlx::{Connection, Row};
use vir_proto as pb;
use vir_shared::db::testing::fresh_postgres_database;
use vir_tests::{eventually, signal_request, TestFed};

const WAIT: Duration = Duration::from_secs(60);

async fn hub_status(t: &TestFed, url: &str) -> pb::HubStatusResponse {
    let channel = vir_shared::tls::channel(url, &t.fed.file.operator, "localhost").unwrap();
    vir_proto::hub_client::HubClient::new(channel)
        .status(pb::HubStatusRequest {})
        .await
        .expect("hub status")
        .into_inner()
}

/// How many of `org`'s matches name `other_org` as the other party.
async fn matches_with(t: &TestFed, org: &str, other_org: &str) -> usize {
    t.node_client(org)
        .list_matches(pb::ListMatchesRequest {})
        .await
        .expect("list matches")
        .into_inner()
        .matches
        .iter()
        .filter(|m| m.others.iter().any(|o| o.organisation == other_org))
        .count()
}

async fn node_status(t: &TestFed, org: &str) -> pb::NodeStatusResponse {
    t.node_client(org)
        .status(pb::NodeStatusRequest {})
        .await
        .expect("node status")
        .into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_on_two_hub_replicas_see_the_same_matches_and_feeds_stay_contiguous() {
    let Some(hub_db) = fresh_postgres_database("hub_replicas").await else {
        eprintln!("VIR_TEST_POSTGRES_URL is not set: skipping the two-replica test");
        return;
    };
    let db_url = hub_db.clone();
    let mut t = TestFed::start_with(move |o| o.hub_storage_url = Some(db_url)).await;
    let replica_a = t.fed.file.hub.url.clone();
    // Replica B's idle subscriptions re-read the feed only every 10 minutes by themselves, so
    // Zuid-Limburg sees what replica A appends in time only if A's appends wake B.
    let replica_b = t
        .fed
        .spawn_hub_replica(|c| c.heartbeat_ms = 600_000)
        .await
        .expect("second replica");
    // Zuid-Limburg goes through replica B; Drenthe stays on replica A.
    t.fed
        .point_node_at_hub("zuid-limburg", &replica_b.url())
        .await
        .expect("Zuid-Limburg on replica B");

    let youths = t.unrelated_bsns(12);
    let (first, second) = youths.split_at(6);
    let drenthe_org = t
        .fed
        .file
        .organisation("drenthe/school")
        .unwrap()
        .name
        .clone();
    let zl_org = t
        .fed
        .file
        .organisation("zuid-limburg/jgz")
        .unwrap()
        .name
        .clone();

    // First half: Zuid-Limburg signals first (through B), so the match is made by replica A
    // when Drenthe signals, and must reach Zuid-Limburg's subscription on replica B.
    for bsn in first {
        t.node_client("zuid-limburg/jgz")
            .create_signal(signal_request(bsn, "Marieke Smeets"))
            .await
            .expect("ZL signal");
    }
    eventually("Zuid-Limburg's signals at the hub", WAIT, || async {
        (node_status(&t, "zuid-limburg/jgz").await.outbox_pending == 0).then_some(())
    })
    .await;
    for bsn in first {
        t.node_client("drenthe/school")
            .create_signal(signal_request(bsn, "Jan de Vries"))
            .await
            .expect("Drenthe signal");
    }
    // Second half the other way round: replica B makes the matches Drenthe follows on A.
    eventually("Drenthe's signals at the hub", WAIT, || async {
        (node_status(&t, "drenthe/school").await.outbox_pending == 0).then_some(())
    })
    .await;
    for bsn in second {
        t.node_client("drenthe/school")
            .create_signal(signal_request(bsn, "Jan de Vries"))
            .await
            .expect("Drenthe signal");
    }
    eventually("Drenthe's second signals at the hub", WAIT, || async {
        (node_status(&t, "drenthe/school").await.outbox_pending == 0).then_some(())
    })
    .await;
    for bsn in second {
        t.node_client("zuid-limburg/jgz")
            .create_signal(signal_request(bsn, "Marieke Smeets"))
            .await
            .expect("ZL signal");
    }

    for (org, other) in [
        ("drenthe/school", zl_org.as_str()),
        ("zuid-limburg/jgz", drenthe_org.as_str()),
    ] {
        eventually(&format!("{org} sees every match"), WAIT, || async {
            (matches_with(&t, org, other).await >= youths.len()).then_some(())
        })
        .await;
        assert_eq!(matches_with(&t, org, other).await, youths.len(), "{org}");
    }

    // Both replicas answer from the same state.
    let a = hub_status(&t, &replica_a).await;
    let b = hub_status(&t, &replica_b.url()).await;
    assert_eq!(a.matches, youths.len() as u64);
    assert_eq!((a.active_signals, a.matches), (b.active_signals, b.matches));

    // Every feed is 1..=head without a hole, and each node applied it to the end.
    let mut conn = sqlx::PgConnection::connect(&hub_db).await.unwrap();
    for (region, org) in [
        ("drenthe", "drenthe/school"),
        ("zuid-limburg", "zuid-limburg/jgz"),
    ] {
        let head: i64 = sqlx::query("SELECT feed_head FROM nodes WHERE region = $1")
            .bind(region)
            .fetch_one(&mut conn)
            .await
            .unwrap()
            .get(0);
        let seqs: Vec<i64> =
            sqlx::query_scalar("SELECT seq FROM feed WHERE region = $1 ORDER BY seq")
                .bind(region)
                .fetch_all(&mut conn)
                .await
                .unwrap();
        assert!(
            head >= youths.len() as i64,
            "{region}: a feed item per match at least"
        );
        assert_eq!(
            seqs,
            (1..=head).collect::<Vec<_>>(),
            "{region}: feed contiguous"
        );
        eventually(
            &format!("{region} applied its whole feed"),
            WAIT,
            || async { (node_status(&t, org).await.feed_applied_seq == head as u64).then_some(()) },
        )
        .await;
    }
    conn.close().await.unwrap();

    replica_b.shutdown().await.unwrap();
    t.shutdown().await;
}
