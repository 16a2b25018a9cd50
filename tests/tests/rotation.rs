//! A pseudonymiser key rotation end to end (`deploy/README.md` section 9): matches made under
//! version 1 survive while the regions re-key one after the other, nobody is told twice, and
//! once every region is on version 2 new signals match the youths signalled before.

use std::time::Duration;

use sqlx::Connection;
use vir_proto as pb;
use vir_tests::{eventually, signal_request, TestFed};

const WAIT: Duration = Duration::from_secs(60);

const A_SCHOOL: &str = "drenthe/school";
const A_JGZ: &str = "drenthe/jgz";
const B_JGZ: &str = "zuid-limburg/jgz";
const B_SCHOOL: &str = "zuid-limburg/school";
const C_CJG: &str = "hoeksche-waard/cjg";

async fn node_status(t: &TestFed, org: &str) -> pb::NodeStatusResponse {
    t.node_client(org)
        .status(pb::NodeStatusRequest {})
        .await
        .expect("node status")
        .into_inner()
}

async fn hub_status(t: &TestFed) -> pb::HubStatusResponse {
    let channel =
        vir_shared::tls::channel(&t.fed.file.hub.url, &t.fed.file.operator, "localhost").unwrap();
    vir_proto::hub_client::HubClient::new(channel)
        .status(pb::HubStatusRequest {})
        .await
        .expect("hub status")
        .into_inner()
}

/// An organisation's matches as (match id, regions of the other parties), sorted.
async fn matches(t: &TestFed, org: &str) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = t
        .node_client(org)
        .list_matches(pb::ListMatchesRequest {})
        .await
        .expect("list matches")
        .into_inner()
        .matches
        .into_iter()
        .map(|m| {
            let mut regions: Vec<String> = m.others.into_iter().map(|o| o.region).collect();
            regions.sort();
            (m.id, regions)
        })
        .collect();
    out.sort();
    out
}

/// The organisations named in an organisation's notifications, one entry per mention.
async fn notified(t: &TestFed, org: &str) -> Vec<String> {
    let mut named: Vec<String> = t
        .node_client(org)
        .list_notifications(pb::ListNotificationsRequest {})
        .await
        .expect("list notifications")
        .into_inner()
        .notifications
        .into_iter()
        .flat_map(|n| n.parties)
        .map(|p| p.organisation)
        .collect();
    named.sort();
    named
}

/// The key version of each active signal at the hub, as (region, version), sorted.
async fn hub_key_versions(t: &TestFed) -> Vec<(String, i64)> {
    let url = t.fed.hub_storage_url().expect("hub storage url");
    let mut conn = sqlx::SqliteConnection::connect(&url)
        .await
        .expect("open the hub's database");
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT region, key_version FROM signals WHERE active = 1 ORDER BY region, key_version",
    )
    .fetch_all(&mut conn)
    .await
    .expect("hub signals");
    conn.close().await.expect("close");
    rows
}

/// Waits until the node of `org` has checked the pseudonymiser, found `version`, re-keyed all
/// its youths and sent every upsert to the hub.
async fn wait_rekeyed(t: &TestFed, org: &str, version: u32) {
    eventually(
        &format!("{org}'s node re-keyed to {version}"),
        WAIT,
        || async move {
            let s = node_status(t, org).await;
            (s.key_version == version && s.rekey_pending == 0 && s.outbox_pending == 0)
                .then_some(())
        },
    )
    .await;
}

async fn wait_matches(t: &TestFed, org: &str, n: usize) -> Vec<(String, Vec<String>)> {
    eventually(&format!("{n} matches at {org}"), WAIT, || async move {
        let m = matches(t, org).await;
        (m.len() == n && m.iter().all(|(_, r)| !r.is_empty())).then_some(m)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_rotation_keeps_matches_and_new_signals_match_old_ones() {
    let mut t = TestFed::start_with(|o| o.node_key_check_ms = Some(200)).await;
    let youths = t.unrelated_youths();
    let y1 = youths[0].bsn.to_string();
    let y2 = youths[1].bsn.to_string();
    let (a_org, b_org, c_org) = {
        let name = |id: &str| t.fed.file.organisation(id).unwrap().name.clone();
        (name(A_SCHOOL), name(B_JGZ), name(C_CJG))
    };

    // Under version 1: youth 1 in Drenthe and Zuid-Limburg (a match), youth 2 in Zuid-Limburg.
    wait_rekeyed(&t, A_SCHOOL, 1).await;
    t.node_client(A_SCHOOL)
        .create_signal(signal_request(&y1, "Jan de Vries"))
        .await
        .expect("Drenthe signals youth 1");
    t.node_client(B_JGZ)
        .create_signal(signal_request(&y1, "Marieke Smeets"))
        .await
        .expect("Zuid-Limburg signals youth 1");
    t.node_client(B_SCHOOL)
        .create_signal(signal_request(&y2, "Sanne Janssen"))
        .await
        .expect("Zuid-Limburg signals youth 2");
    let a_before = wait_matches(&t, A_SCHOOL, 1).await;
    let b_before = wait_matches(&t, B_JGZ, 1).await;
    assert_eq!(
        a_before[0].0, b_before[0].0,
        "one match, seen from both sides"
    );
    eventually("both sides told", WAIT, || async {
        (notified(&t, A_SCHOOL).await == [b_org.clone()]
            && notified(&t, B_JGZ).await == [a_org.clone()])
        .then_some(())
    })
    .await;
    wait_rekeyed(&t, B_JGZ, 1).await;
    assert_eq!(
        hub_key_versions(&t).await,
        [
            ("drenthe".to_owned(), 1),
            ("zuid-limburg".to_owned(), 1),
            ("zuid-limburg".to_owned(), 1)
        ]
    );
    assert_eq!(hub_status(&t).await.matches, 1);

    // Rotate while Zuid-Limburg is down: Drenthe re-keys alone first.
    t.fed.stop_node("zuid-limburg", false).await.unwrap();
    t.fed.set_key_versions(2, &[1, 2]).await.expect("rotate");
    wait_rekeyed(&t, A_SCHOOL, 2).await;
    wait_rekeyed(&t, C_CJG, 2).await;
    // The transition: Drenthe's signal is on version 2, Zuid-Limburg's still on 1, and the
    // match made under version 1 stands.
    eventually("Drenthe's signal on version 2 at the hub", WAIT, || async {
        let versions = hub_key_versions(&t).await;
        (versions
            == [
                ("drenthe".to_owned(), 2),
                ("zuid-limburg".to_owned(), 1),
                ("zuid-limburg".to_owned(), 1),
            ])
        .then_some(())
    })
    .await;
    assert_eq!(hub_status(&t).await.matches, 1, "no match lost or added");
    assert_eq!(
        matches(&t, A_SCHOOL).await,
        a_before,
        "Drenthe keeps its match"
    );

    // Zuid-Limburg comes back and re-keys by itself.
    t.fed.start_node("zuid-limburg").await.unwrap();
    wait_rekeyed(&t, B_JGZ, 2).await;
    eventually("every signal on version 2 at the hub", WAIT, || async {
        hub_key_versions(&t)
            .await
            .iter()
            .all(|(_, v)| *v == 2)
            .then_some(())
    })
    .await;
    assert_eq!(hub_status(&t).await.matches, 1, "no match lost or added");
    assert_eq!(matches(&t, A_SCHOOL).await, a_before);
    assert_eq!(matches(&t, B_JGZ).await, b_before);

    // New signals under version 2 match the youths signalled before the rotation: youth 1 in
    // Hoeksche Waard matches both earlier signals, youth 2 in Drenthe matches Zuid-Limburg's.
    t.node_client(C_CJG)
        .create_signal(signal_request(&y1, "Pieter Bakker"))
        .await
        .expect("Hoeksche Waard signals youth 1");
    t.node_client(A_JGZ)
        .create_signal(signal_request(&y2, "Fatima el Amrani"))
        .await
        .expect("Drenthe signals youth 2");
    let c = wait_matches(&t, C_CJG, 2).await;
    let mut c_regions: Vec<String> = c.into_iter().flat_map(|(_, r)| r).collect();
    c_regions.sort();
    assert_eq!(c_regions, ["drenthe", "zuid-limburg"]);
    let a_after = wait_matches(&t, A_SCHOOL, 2).await;
    assert!(
        a_after.contains(&a_before[0]),
        "the old match is still there"
    );
    wait_matches(&t, B_JGZ, 2).await;
    wait_matches(&t, A_JGZ, 1).await;
    wait_matches(&t, B_SCHOOL, 1).await;

    // Each signaller told exactly once about each other party: nothing repeated by the
    // rotation.
    eventually("everyone told once", WAIT, || async {
        let mut a = vec![b_org.clone(), c_org.clone()];
        a.sort();
        let mut b = vec![a_org.clone(), c_org.clone()];
        b.sort();
        let mut c = vec![a_org.clone(), b_org.clone()];
        c.sort();
        (notified(&t, A_SCHOOL).await == a
            && notified(&t, B_JGZ).await == b
            && notified(&t, C_CJG).await == c
            && notified(&t, A_JGZ).await.len() == 1
            && notified(&t, B_SCHOOL).await.len() == 1)
            .then_some(())
    })
    .await;

    // The hub: youth 1 in three regions (three pairs), youth 2 in two (one pair); nothing else.
    let hub = hub_status(&t).await;
    assert_eq!(hub.matches, 4);
    assert_eq!(hub.active_signals, 5);
    assert!(hub_key_versions(&t).await.iter().all(|(_, v)| *v == 2));

    // Version 1 can go: nothing still needs it.
    t.fed
        .set_key_versions(2, &[2])
        .await
        .expect("drop version 1");
    for org in [A_SCHOOL, B_JGZ, C_CJG] {
        wait_rekeyed(&t, org, 2).await;
    }
    assert_eq!(hub_status(&t).await.matches, 4);
    t.shutdown().await;
}
