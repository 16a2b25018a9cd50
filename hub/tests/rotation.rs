//! A pseudonymiser key rotation at the hub, on every storage backend: while the regions
//! re-upsert their signals with keys of the new version one after the other, every match stays
//! (client, family, candidate) and nobody is told anything; once they all have, a new signal
//! matches the old ones again.

use std::collections::BTreeSet;

use chrono::{TimeZone, Utc};
use sqlx::Row;
use vir_hub::{HubState, NodeEntry};
use vir_proto as pb;
use vir_shared::clock::ManualClock;
use vir_shared::{Oin, RegionCode};

const REGIONS: [&str; 3] = ["drenthe", "zuid-limburg", "hoeksche-waard"];

fn region(code: &str) -> RegionCode {
    code.parse().unwrap()
}

async fn open(url: &str) -> HubState {
    let nodes: Vec<NodeEntry> = REGIONS
        .iter()
        .enumerate()
        .map(|(i, code)| NodeEntry {
            oin: format!("000000990000000001{i:02}").parse::<Oin>().unwrap(),
            region: region(code),
            municipalities: Vec::new(),
        })
        .collect();
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap());
    HubState::open(url, &nodes, clock).await.unwrap()
}

/// The key of input `n` under `version`: another version gives another value, as the OPRF does.
fn key(domain: pb::KeyDomain, n: u8, version: u32) -> pb::PseudoKey {
    pb::PseudoKey {
        domain: domain as i32,
        version,
        value: vec![n.wrapping_add((version as u8).wrapping_mul(100)); 64],
    }
}

/// A signal: its ref, and its inputs (person None = without a BSN).
struct Sig {
    signal_ref: &'static str,
    person: Option<u8>,
    parents: &'static [u8],
    fallback: u8,
}

impl Sig {
    fn upsert(&self, version: u32) -> pb::SignalUpsert {
        pb::SignalUpsert {
            signal_ref: self.signal_ref.into(),
            person_key: self.person.map(|n| key(pb::KeyDomain::Person, n, version)),
            municipality: "0106".into(),
            parent_keys: self
                .parents
                .iter()
                .map(|n| key(pb::KeyDomain::Person, *n, version))
                .collect(),
            address_key: None,
            fallback_key: Some(key(pb::KeyDomain::Fallback, self.fallback, version)),
        }
    }
}

/// A node: its region, its signals and its next op id.
struct Node {
    region: RegionCode,
    signals: Vec<Sig>,
    next_op: u64,
}

impl Node {
    fn new(i: usize, signals: Vec<Sig>) -> Node {
        Node {
            region: region(REGIONS[i]),
            signals,
            next_op: 1,
        }
    }

    /// Upserts every signal of the node with keys of `version`, in one `Submit`.
    async fn upsert_all(&mut self, state: &HubState, version: u32) {
        let mut ops = Vec::new();
        for s in &self.signals {
            ops.push(pb::Operation {
                op_id: self.next_op,
                op: Some(pb::operation::Op::Upsert(s.upsert(version))),
            });
            self.next_op += 1;
        }
        state.submit(&self.region, ops).await.unwrap();
    }

    async fn feed_len(&self, state: &HubState) -> usize {
        state.feed_page(&self.region, 1, 1000).await.unwrap().len()
    }
}

/// Active matches as (kind, match id, {(region, ref), (region, ref)}).
async fn active_matches(
    state: &HubState,
) -> BTreeSet<(String, String, BTreeSet<(String, String)>)> {
    let mut conn = state.store().db().pool.acquire().await.unwrap();
    let rows = sqlx::query(
        "SELECT kind, match_id, region_a, ref_a, region_b, ref_b FROM matches \
         WHERE ended_ms IS NULL",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    rows.iter()
        .map(|r| {
            let pair: BTreeSet<(String, String)> = [
                (r.get::<String, _>(2), r.get::<String, _>(3)),
                (r.get::<String, _>(4), r.get::<String, _>(5)),
            ]
            .into();
            (r.get::<String, _>(0), r.get::<String, _>(1), pair)
        })
        .collect()
}

#[tokio::test]
async fn matches_survive_a_rotation_region_by_region_and_new_signals_match_old_ones() {
    let dir = tempfile::tempdir().unwrap();
    for url in vir_shared::db::testing::storage_urls(dir.path(), "hub_rotation").await {
        let state = open(&url).await;
        // Youth 1 (parent 10) in Drenthe and Limburg: client. Its sibling (parent 10) in
        // Hoeksche Waard: family with both. A youth without a BSN in Drenthe and a known one
        // with the same fallback identity in Limburg: candidate.
        let mut d = Node::new(
            0,
            vec![
                Sig {
                    signal_ref: "d-1",
                    person: Some(1),
                    parents: &[10],
                    fallback: 41,
                },
                Sig {
                    signal_ref: "d-2",
                    person: None,
                    parents: &[],
                    fallback: 50,
                },
            ],
        );
        let mut l = Node::new(
            1,
            vec![
                Sig {
                    signal_ref: "l-1",
                    person: Some(1),
                    parents: &[10],
                    fallback: 41,
                },
                Sig {
                    signal_ref: "l-2",
                    person: Some(3),
                    parents: &[],
                    fallback: 50,
                },
            ],
        );
        let mut h = Node::new(
            2,
            vec![Sig {
                signal_ref: "h-1",
                person: Some(2),
                parents: &[10],
                fallback: 42,
            }],
        );
        for node in [&mut d, &mut l, &mut h] {
            node.upsert_all(&state, 1).await;
        }
        let before = active_matches(&state).await;
        let kinds: Vec<&str> = before.iter().map(|(k, _, _)| k.as_str()).collect();
        assert_eq!(before.len(), 4, "{before:?}");
        assert_eq!(
            kinds.iter().filter(|k| **k == "family").count(),
            2,
            "{kinds:?}"
        );
        assert!(kinds.contains(&"client") && kinds.contains(&"candidate"));
        let feeds = [
            d.feed_len(&state).await,
            l.feed_len(&state).await,
            h.feed_len(&state).await,
        ];

        // The regions re-key one after the other; in between, versions 1 and 2 meet.
        for i in 0..3 {
            [&mut d, &mut l, &mut h][i].upsert_all(&state, 2).await;
            assert_eq!(active_matches(&state).await, before, "after region {i}");
        }
        // Twice is the same as once.
        d.upsert_all(&state, 2).await;
        assert_eq!(active_matches(&state).await, before);
        assert_eq!(
            [
                d.feed_len(&state).await,
                l.feed_len(&state).await,
                h.feed_len(&state).await,
            ],
            feeds,
            "nobody is told anything by a rotation"
        );

        // A new signal on youth 1 under version 2 matches both old ones.
        let mut h_new = Node {
            region: region(REGIONS[2]),
            signals: vec![Sig {
                signal_ref: "h-2",
                person: Some(1),
                parents: &[10],
                fallback: 41,
            }],
            next_op: h.next_op,
        };
        h_new.upsert_all(&state, 2).await;
        let after = active_matches(&state).await;
        assert!(before.is_subset(&after));
        let new: Vec<_> = after.difference(&before).collect();
        assert_eq!(new.len(), 2, "{new:?}");
        assert!(new.iter().all(|(kind, _, pair)| kind == "client"
            && pair.contains(&(REGIONS[2].to_owned(), "h-2".to_owned()))));
    }
}
