//! S9 (issue 8): a proptest state machine. Random sequences of create / renew / withdraw /
//! node restart (graceful or crash) run against a real federation and are compared with a
//! model: the signals each organisation sees, the hub's active signals and cross-regional
//! matches, and every feed applied to its head. "Move" (verhuizing, issue 5) is not part of
//! this branch and is left out. Bounded: 8 cases of at most 15 steps.

use std::collections::BTreeMap;
use std::time::Duration;

use proptest::prelude::*;
use tonic::Code;
use vir_proto as pb;
use vir_tests::faults::{hub_status, node_status, region_status, Figures};
use vir_tests::{eventually, signal_request, TestFed};

const ORGS: [&str; 4] = [
    "drenthe/school",
    "drenthe/jgz",
    "zuid-limburg/jgz",
    "hoeksche-waard/cjg",
];
const REGIONS: [&str; 3] = ["drenthe", "zuid-limburg", "hoeksche-waard"];
const WAIT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
enum Step {
    Create { org: usize, youth: usize },
    Renew { pick: usize },
    Withdraw { pick: usize },
    Restart { region: usize, crash: bool },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0..ORGS.len(), 0..4usize).prop_map(|(org, youth)| Step::Create { org, youth }),
        1 => any::<usize>().prop_map(|pick| Step::Renew { pick }),
        2 => any::<usize>().prop_map(|pick| Step::Withdraw { pick }),
        1 => (0..REGIONS.len(), any::<bool>()).prop_map(|(region, crash)| Step::Restart { region, crash }),
    ]
}

fn region_of(org: &str) -> &str {
    org.split('/').next().unwrap()
}

/// Active signals by (organisation, youth) → signal id.
type Model = BTreeMap<(usize, usize), String>;

async fn run(steps: Vec<Step>) -> Result<(), TestCaseError> {
    let mut t = TestFed::start().await;
    let youths = t.unrelated_bsns(4);
    let mut model = Model::new();
    for step in &steps {
        match *step {
            Step::Create { org, youth } => {
                let result = t
                    .node_client(ORGS[org])
                    .create_signal(signal_request(&youths[youth], "Sam Bakker"))
                    .await;
                match (model.contains_key(&(org, youth)), result) {
                    (false, Ok(s)) => {
                        model.insert((org, youth), s.into_inner().id);
                    }
                    (true, Err(e)) => prop_assert_eq!(e.code(), Code::AlreadyExists),
                    (known, other) => {
                        prop_assert!(
                            false,
                            "create {step:?}: model active={known}, got {other:?}"
                        )
                    }
                }
            }
            Step::Renew { pick } | Step::Withdraw { pick } if !model.is_empty() => {
                let key = *model.keys().nth(pick % model.len()).unwrap();
                let id = model[&key].clone();
                let mut client = t.node_client(ORGS[key.0]);
                if matches!(step, Step::Renew { .. }) {
                    let r = client
                        .renew_signal(pb::RenewSignalRequest {
                            signal_id: id,
                            end_date: String::new(),
                        })
                        .await;
                    prop_assert!(r.is_ok(), "renew: {r:?}");
                } else {
                    let r = client
                        .withdraw_signal(pb::WithdrawSignalRequest { signal_id: id })
                        .await;
                    prop_assert!(r.is_ok(), "withdraw: {r:?}");
                    model.remove(&key);
                }
            }
            Step::Renew { .. } | Step::Withdraw { .. } => {}
            Step::Restart { region, crash } => {
                t.fed
                    .restart_node(REGIONS[region], crash)
                    .await
                    .expect("restart");
            }
        }
    }
    // Settled: every outbox empty and every feed applied to its head.
    for (org, region) in [ORGS[0], ORGS[2], ORGS[3]].iter().zip(REGIONS) {
        eventually("node settled", WAIT, || async {
            let s = node_status(&t, org).await;
            let head = region_status(&hub_status(&t).await, region).feed_head_seq;
            (s.outbox_pending == 0 && s.feed_applied_seq == head).then_some(())
        })
        .await;
    }
    for (i, org) in ORGS.iter().enumerate() {
        let mut seen: Vec<String> = t
            .node_client(org)
            .list_signals(pb::ListSignalsRequest {})
            .await
            .unwrap()
            .into_inner()
            .signals
            .into_iter()
            .filter(|s| s.status == pb::SignalStatus::Active as i32)
            .map(|s| s.id)
            .collect();
        seen.sort();
        let mut expected: Vec<String> = model
            .iter()
            .filter(|((o, _), _)| *o == i)
            .map(|(_, id)| id.clone())
            .collect();
        expected.sort();
        prop_assert_eq!(seen, expected, "{}: active signals", org);
    }
    // Hub: one entry per active signal; a match per pair of active signals on the same youth
    // from different regions.
    let mut pairs = 0u64;
    for youth in 0..youths.len() {
        let on: Vec<&str> = model
            .keys()
            .filter(|(_, y)| *y == youth)
            .map(|(o, _)| region_of(ORGS[*o]))
            .collect();
        for (i, a) in on.iter().enumerate() {
            pairs += on[i + 1..].iter().filter(|b| *b != a).count() as u64;
        }
    }
    let status = hub_status(&t).await;
    let figures = Figures {
        sent: steps.len() as u64,
        received: status.active_signals,
        duplicates: status.active_signals.saturating_sub(model.len() as u64),
        gaps: 0,
        recovery: Duration::ZERO,
    };
    figures.print("s9_model (sent = steps, received = active signals at the hub)");
    prop_assert_eq!(status.active_signals, model.len() as u64);
    prop_assert_eq!(status.matches, pairs);
    t.shutdown().await;
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, max_shrink_iters: 4, ..ProptestConfig::default() })]

    #[test]
    fn s9_random_create_renew_withdraw_restart_matches_the_model(steps in prop::collection::vec(step(), 1..16)) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(run(steps))?;
    }
}
