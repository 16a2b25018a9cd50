//! S6 (issue 8): a node offline longer than the hub's feed retention gets a clear "resync
//! needed" answer (FAILED_PRECONDITION) and recovers through `Hub.Snapshot`; afterwards its
//! state equals that of a node that never went offline.
//!
//! Drenthe goes offline; Hoeksche Waard, the reference, stays online. Both follow the same
//! script with Zuid-Limburg on their own youths (A for Drenthe, B for Hoeksche Waard): matches
//! made and envelopes exchanged before, matches made and one ended while Drenthe is away, then
//! two days pass (retention: 1 day) and the hub prunes the feeds. Drenthe's matches and
//! notifications after the resync must equal Hoeksche Waard's, youth by youth, and Zuid-Limburg
//! must have received Drenthe's envelopes as it received Hoeksche Waard's.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tonic::Code;
use vir_proto as pb;
use vir_tests::faults::{
    hub_as_node, hub_status, node_status, reconfigure_hub, region_status, Figures,
};
use vir_tests::{eventually, signal_request, TestFed};

const WAIT: Duration = Duration::from_secs(60);

async fn signal(t: &TestFed, org: &str, bsn: &str, name: &str) -> String {
    t.node_client(org)
        .create_signal(signal_request(bsn, name))
        .await
        .unwrap_or_else(|e| panic!("{org}: {e}"))
        .into_inner()
        .id
}

/// A node's matches and notifications, with each signal replaced by its youth's index in
/// `youths`, so two nodes on different youths compare. Other organisations of the node's own
/// kind are named by their region-neutral role (`own node`).
async fn view(
    t: &TestFed,
    org: &str,
    youths: &[String],
    own_org: &str,
) -> (Vec<String>, Vec<String>) {
    let mut client = t.node_client(org);
    let signals = client
        .list_signals(pb::ListSignalsRequest {})
        .await
        .unwrap()
        .into_inner()
        .signals;
    let index: BTreeMap<String, usize> = signals
        .iter()
        .filter_map(|s| {
            youths
                .iter()
                .position(|b| *b == s.bsn)
                .map(|i| (s.id.clone(), i))
        })
        .collect();
    let name = |o: &str| {
        if o == own_org {
            "OWN".to_owned()
        } else {
            o.to_owned()
        }
    };
    let mut matches: Vec<String> = client
        .list_matches(pb::ListMatchesRequest {})
        .await
        .unwrap()
        .into_inner()
        .matches
        .iter()
        .filter_map(|m| {
            let youth = index.get(&m.your_signal_id)?;
            let mut others: Vec<String> = m
                .others
                .iter()
                .map(|o| {
                    format!(
                        "{}:{}:{}",
                        name(&o.organisation),
                        o.signaller.as_ref().map(|c| c.name.as_str()).unwrap_or(""),
                        o.contact_pending
                    )
                })
                .collect();
            others.sort();
            Some(format!("{youth}|{}|{}", m.kind, others.join(",")))
        })
        .collect();
    matches.sort();
    let mut notes: Vec<String> = client
        .list_notifications(pb::ListNotificationsRequest {})
        .await
        .unwrap()
        .into_inner()
        .notifications
        .iter()
        .filter_map(|n| {
            let youth = index.get(&n.your_signal_id)?;
            let mut parties: Vec<String> =
                n.parties.iter().map(|p| name(&p.organisation)).collect();
            parties.sort();
            Some(format!("{youth}|{}", parties.join(",")))
        })
        .collect();
    notes.sort();
    (matches, notes)
}

async fn org_name(t: &TestFed, id: &str) -> String {
    t.fed.file.organisation(id).unwrap().name.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s6_node_offline_past_retention_resyncs_from_a_snapshot_and_equals_an_online_node() {
    let mut t = TestFed::start().await;
    reconfigure_hub(&mut t, |c| {
        c.feed_retention_days = 1;
        c.feed_prune_interval_ms = 200;
    })
    .await;
    let all = t.unrelated_bsns(16);
    let (a, b) = all.split_at(8);
    let (drenthe, hw, zl) = ("drenthe/school", "hoeksche-waard/cjg", "zuid-limburg/jgz");

    // Before: four matches each, envelopes exchanged; four more signals waiting at the hub.
    let mut zl_on_a = Vec::new();
    let mut zl_on_b = Vec::new();
    for i in 0..4 {
        signal(&t, drenthe, &a[i], "Jan de Vries").await;
        signal(&t, hw, &b[i], "Jan de Vries").await;
        zl_on_a.push(signal(&t, zl, &a[i], "Marieke Smeets").await);
        zl_on_b.push(signal(&t, zl, &b[i], "Marieke Smeets").await);
    }
    for i in 4..8 {
        signal(&t, drenthe, &a[i], "Jan de Vries").await;
        signal(&t, hw, &b[i], "Jan de Vries").await;
    }
    for org in [drenthe, hw] {
        eventually("first matches notified", WAIT, || async {
            let s = node_status(&t, org).await;
            let n = t
                .node_client(org)
                .list_notifications(pb::ListNotificationsRequest {})
                .await
                .unwrap()
                .into_inner()
                .notifications
                .len();
            (s.outbox_pending == 0 && n >= 4).then_some(())
        })
        .await;
    }

    // Drenthe goes away; meanwhile four new matches each, and one ended each.
    t.fed.stop_node("drenthe", false).await.unwrap();
    let applied_before = {
        let s = hub_status(&t).await;
        region_status(&s, "drenthe").feed_acked_seq
    };
    for i in 4..8 {
        zl_on_a.push(signal(&t, zl, &a[i], "Marieke Smeets").await);
        zl_on_b.push(signal(&t, zl, &b[i], "Marieke Smeets").await);
    }
    for id in [&zl_on_a[0], &zl_on_b[0]] {
        t.node_client(zl)
            .withdraw_signal(pb::WithdrawSignalRequest {
                signal_id: id.clone(),
            })
            .await
            .expect("withdraw");
    }
    eventually("Zuid-Limburg's outbox drained", WAIT, || async {
        (node_status(&t, zl).await.outbox_pending == 0).then_some(())
    })
    .await;
    eventually("Hoeksche Waard up to date", WAIT, || async {
        let s = hub_status(&t).await;
        let head = region_status(&s, "hoeksche-waard").feed_head_seq;
        let hw_status = node_status(&t, hw).await;
        (hw_status.feed_applied_seq == head && hw_status.outbox_pending == 0).then_some(())
    })
    .await;

    // Two days later the hub has pruned what Drenthe never read.
    t.clock.advance(chrono::Duration::days(2));
    let as_drenthe = hub_as_node(&t, "drenthe", &t.fed.file.hub.url.clone());
    let refusal = eventually("Drenthe's position pruned", WAIT, || async {
        let request = pb::SubscribeRequest {
            region: "drenthe".into(),
            from_seq: applied_before + 1,
        };
        as_drenthe.clone().subscribe(request).await.err()
    })
    .await;
    println!(
        "  Subscribe from {}: {:?} {}",
        applied_before + 1,
        refusal.code(),
        refusal.message()
    );
    assert_eq!(refusal.code(), Code::FailedPrecondition);
    assert!(refusal.message().contains("resync needed"), "{refusal:?}");

    // Drenthe comes back, resyncs, and catches up.
    let back = Instant::now();
    t.fed.start_node("drenthe").await.unwrap();
    let d_org = org_name(&t, drenthe).await;
    let hw_org = org_name(&t, hw).await;
    let reference = view(&t, hw, b, &hw_org).await;
    let resynced = eventually(
        "Drenthe equals the node that stayed online",
        WAIT,
        || async {
            let v = view(&t, drenthe, a, &d_org).await;
            let settled = node_status(&t, drenthe).await.outbox_pending == 0;
            (settled && v == reference).then_some(v)
        },
    )
    .await;
    let recovery = back.elapsed();
    // Zuid-Limburg got Drenthe's envelopes for the matches made while Drenthe was away, as it
    // got Hoeksche Waard's.
    let zl_org = org_name(&t, zl).await;
    let zl_a = eventually("Zuid-Limburg notified of Drenthe's side", WAIT, || async {
        let v = view(&t, zl, a, &zl_org).await;
        let w = view(&t, zl, b, &zl_org).await;
        let rename = |v: &Vec<String>, from: &str| -> Vec<String> {
            v.iter().map(|s| s.replace(from, "PEER")).collect()
        };
        (rename(&v.1, &d_org) == rename(&w.1, &hw_org)).then_some(v)
    })
    .await;

    let status = hub_status(&t).await;
    let d_status = node_status(&t, drenthe).await;
    let mut counts: BTreeMap<&String, usize> = BTreeMap::new();
    for n in &resynced.1 {
        *counts.entry(n).or_insert(0) += 1;
    }
    let figures = Figures {
        sent: 2 * a.len() as u64,
        received: resynced.1.len() as u64,
        duplicates: (resynced.1.len() - counts.len()) as u64,
        gaps: region_status(&status, "drenthe")
            .feed_head_seq
            .abs_diff(d_status.feed_applied_seq),
        recovery,
    };
    figures.print("s6_resync_from_snapshot");
    println!(
        "  Drenthe after resync: {} matches, {} notifications; Zuid-Limburg on A: {} notifications",
        resynced.0.len(),
        resynced.1.len(),
        zl_a.1.len()
    );
    assert_eq!(resynced, reference);
    assert_eq!(resynced.0.len(), 7, "eight matches, one ended");
    assert_eq!((figures.duplicates, figures.gaps), (0, 0));
    t.shutdown().await;
}
