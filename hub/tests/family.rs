//! Family, address and candidate matches at the hub, on every storage backend (SQLite always,
//! PostgreSQL when `VIR_TEST_POSTGRES_URL` is set), and a property test: the matches do not
//! depend on the order in which signals arrive.

use std::collections::BTreeSet;

use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use sqlx::Row;
use vir_hub::store::kinds::{strongest, SignalKeys};
use vir_hub::{HubState, NodeEntry};
use vir_proto as pb;
use vir_shared::clock::ManualClock;
use vir_shared::{Oin, RegionCode};

const REGIONS: [&str; 3] = ["drenthe", "zuid-limburg", "hoeksche-waard"];
const DRENTHE: &str = REGIONS[0];
const LIMBURG: &str = REGIONS[1];
const HOEKSCHE: &str = REGIONS[2];

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

macro_rules! on_every_backend {
    ($name:expr, |$state:ident| $body:block) => {{
        let dir = tempfile::tempdir().unwrap();
        for url in vir_shared::db::testing::storage_urls(dir.path(), $name).await {
            let $state = open(&url).await;
            $body
        }
    }};
}

fn key(domain: pb::KeyDomain, n: u8) -> pb::PseudoKey {
    pb::PseudoKey {
        domain: domain as i32,
        version: 1,
        value: vec![n; 64],
    }
}

/// A signal as a node describes it: key bytes per role (person None = without a BSN).
#[derive(Debug, Clone)]
struct Sig {
    region: usize,
    person: Option<u8>,
    parents: Vec<u8>,
    address: Option<u8>,
    fallback: u8,
}

impl Sig {
    fn upsert(&self, signal_ref: &str) -> pb::SignalUpsert {
        pb::SignalUpsert {
            signal_ref: signal_ref.into(),
            person_key: self.person.map(|n| key(pb::KeyDomain::Person, n)),
            municipality: "0106".into(),
            parent_keys: self
                .parents
                .iter()
                .map(|n| key(pb::KeyDomain::Person, *n))
                .collect(),
            address_key: self.address.map(|n| key(pb::KeyDomain::Address, n)),
            fallback_key: Some(key(pb::KeyDomain::Fallback, self.fallback)),
        }
    }

    fn keys(&self) -> SignalKeys {
        let k = |n: u8| ([n; 64], 1i64);
        SignalKeys {
            person: self.person.map(k),
            parents: self.parents.iter().copied().map(k).collect(),
            address: self.address.map(k),
            fallback: Some(k(self.fallback)),
        }
    }
}

fn op(op_id: u64, upsert: pb::SignalUpsert) -> pb::Operation {
    pb::Operation {
        op_id,
        op: Some(pb::operation::Op::Upsert(upsert)),
    }
}

/// Active matches as (kind, {(region, ref), (region, ref)}), order-free.
async fn active_matches(state: &HubState) -> BTreeSet<(String, BTreeSet<(String, String)>)> {
    let mut conn = state.store().db().pool.acquire().await.unwrap();
    let rows = sqlx::query(
        "SELECT kind, region_a, ref_a, region_b, ref_b FROM matches WHERE ended_ms IS NULL",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    rows.iter()
        .map(|r| {
            let pair: BTreeSet<(String, String)> = [
                (r.get::<String, _>(1), r.get::<String, _>(2)),
                (r.get::<String, _>(3), r.get::<String, _>(4)),
            ]
            .into();
            (r.get::<String, _>(0), pair)
        })
        .collect()
}

fn kinds_told(items: &[pb::FeedItem]) -> Vec<pb::MatchKind> {
    items
        .iter()
        .filter_map(|i| match &i.body {
            Some(pb::feed_item::Body::MatchCreated(m)) => Some(m.kind()),
            _ => None,
        })
        .collect()
}

fn ended(items: &[pb::FeedItem]) -> usize {
    items
        .iter()
        .filter(|i| matches!(i.body, Some(pb::feed_item::Body::MatchEnded(_))))
        .count()
}

fn sig(region: usize, person: Option<u8>, parents: &[u8], address: Option<u8>, fb: u8) -> Sig {
    Sig {
        region,
        person,
        parents: parents.to_vec(),
        address,
        fallback: fb,
    }
}

#[tokio::test]
async fn siblings_and_half_siblings_match_as_family_cousins_do_not() {
    on_every_backend!("hub_family", |state| {
        // Parents 10 and 11; the half-sibling shares 11; the cousin's parents are 12 and 13.
        let youth = sig(0, Some(1), &[10, 11], None, 41);
        let sibling = sig(1, Some(2), &[10, 11], None, 42);
        let half = sig(2, Some(3), &[11, 14], None, 43);
        let cousin = sig(1, Some(4), &[12, 13], None, 44);
        let sub = |s: &Sig, id: u64, r: &str| (REGIONS[s.region], op(id, s.upsert(r)));
        for (from, operation) in [
            sub(&youth, 1, "d-youth"),
            sub(&sibling, 1, "l-sibling"),
            sub(&half, 1, "h-half"),
            sub(&cousin, 2, "l-cousin"),
        ] {
            state.submit(&region(from), vec![operation]).await.unwrap();
        }
        let drenthe = state.feed_page(&region(DRENTHE), 1, 100).await.unwrap();
        assert_eq!(
            kinds_told(&drenthe),
            [pb::MatchKind::Family, pb::MatchKind::Family],
            "the youth's sibling and half-sibling; not the cousin"
        );
        let active = active_matches(&state).await;
        assert_eq!(active.len(), 3, "youth-sibling, youth-half, sibling-half");
        assert!(active.iter().all(|(kind, _)| kind == "family"));
        assert!(!active
            .iter()
            .any(|(_, pair)| pair.iter().any(|(_, r)| r == "l-cousin")));
    });
}

#[tokio::test]
async fn address_keys_match_only_between_signals_that_both_carry_one() {
    on_every_backend!("hub_address", |state| {
        // Drenthe has address matching off: its node sends no address key.
        let d = sig(0, Some(1), &[], None, 41);
        let l = sig(1, Some(2), &[], Some(20), 42);
        let h = sig(2, Some(3), &[], Some(20), 43);
        for (s, r) in [(&d, "d-1"), (&l, "l-1"), (&h, "h-1")] {
            state
                .submit(&region(REGIONS[s.region]), vec![op(1, s.upsert(r))])
                .await
                .unwrap();
        }
        let active = active_matches(&state).await;
        assert_eq!(active.len(), 1);
        let (kind, pair) = active.iter().next().unwrap();
        assert_eq!(kind, "address");
        assert!(pair.iter().all(|(region, _)| region != DRENTHE));
    });
}

#[tokio::test]
async fn a_candidate_gives_way_to_the_client_match_after_a_link() {
    on_every_backend!("hub_candidate", |state| {
        // Two known people with the same name and birth date are never candidates.
        let known = sig(1, Some(2), &[], None, 50);
        let namesake = sig(2, Some(3), &[], None, 50);
        state
            .submit(&region(LIMBURG), vec![op(1, known.upsert("l-1"))])
            .await
            .unwrap();
        state
            .submit(&region(HOEKSCHE), vec![op(1, namesake.upsert("h-1"))])
            .await
            .unwrap();
        assert!(active_matches(&state).await.is_empty());

        // A signal without a BSN: candidates with both.
        let without = sig(0, None, &[], None, 50);
        state
            .submit(&region(DRENTHE), vec![op(1, without.upsert("d-1"))])
            .await
            .unwrap();
        let active = active_matches(&state).await;
        assert_eq!(active.len(), 2);
        assert!(active.iter().all(|(kind, _)| kind == "candidate"));

        // Linked to the BSN of the Limburg youth: one client match, the candidates end.
        let linked = sig(0, Some(2), &[], None, 50);
        state
            .submit(&region(DRENTHE), vec![op(2, linked.upsert("d-1"))])
            .await
            .unwrap();
        let active = active_matches(&state).await;
        assert_eq!(active.len(), 1, "{active:?}");
        let (kind, pair) = active.iter().next().unwrap();
        assert_eq!(kind, "client");
        assert!(pair.contains(&(LIMBURG.to_owned(), "l-1".to_owned())));
        let drenthe = state.feed_page(&region(DRENTHE), 1, 100).await.unwrap();
        assert_eq!(
            kinds_told(&drenthe),
            [
                pb::MatchKind::Candidate,
                pb::MatchKind::Candidate,
                pb::MatchKind::Client
            ]
        );
        assert_eq!(ended(&drenthe), 2, "both candidates ended");
        let limburg = state.feed_page(&region(LIMBURG), 1, 100).await.unwrap();
        assert_eq!(ended(&limburg), 1);
        assert_eq!(
            kinds_told(&limburg),
            [pb::MatchKind::Candidate, pb::MatchKind::Client]
        );
    });
}

#[tokio::test]
async fn new_parents_end_the_old_family_match_and_make_the_new_one() {
    on_every_backend!("hub_parents", |state| {
        let youth = sig(0, Some(1), &[10], None, 41);
        let old_sibling = sig(1, Some(2), &[10], None, 42);
        let new_sibling = sig(2, Some(3), &[15], None, 43);
        state
            .submit(&region(DRENTHE), vec![op(1, youth.upsert("d-1"))])
            .await
            .unwrap();
        state
            .submit(&region(LIMBURG), vec![op(1, old_sibling.upsert("l-1"))])
            .await
            .unwrap();
        state
            .submit(&region(HOEKSCHE), vec![op(1, new_sibling.upsert("h-1"))])
            .await
            .unwrap();
        assert_eq!(active_matches(&state).await.len(), 1);
        // Adopted: the registry now names parent 15 only. The node re-upserts.
        let adopted = sig(0, Some(1), &[15], None, 41);
        state
            .submit(&region(DRENTHE), vec![op(2, adopted.upsert("d-1"))])
            .await
            .unwrap();
        let active = active_matches(&state).await;
        assert_eq!(active.len(), 1);
        let (kind, pair) = active.iter().next().unwrap();
        assert_eq!(kind, "family");
        assert!(pair.contains(&(HOEKSCHE.to_owned(), "h-1".to_owned())));
        let limburg = state.feed_page(&region(LIMBURG), 1, 100).await.unwrap();
        assert_eq!(ended(&limburg), 1, "the old sibling's side is told");
        // The same upsert again changes nothing.
        state
            .submit(&region(DRENTHE), vec![op(3, adopted.upsert("d-1"))])
            .await
            .unwrap();
        assert_eq!(active_matches(&state).await, active);
    });
}

/// Submits the signals in the given order (one `Submit` each) and returns the active matches
/// by signal index.
async fn arrive(url: &str, sigs: &[Sig], order: &[usize]) -> BTreeSet<(String, [usize; 2])> {
    let state = open(url).await;
    let mut op_ids = [0u64; 3];
    for &i in order {
        let s = &sigs[i];
        op_ids[s.region] += 1;
        let operation = op(op_ids[s.region], s.upsert(&format!("s-{i}")));
        state
            .submit(&region(REGIONS[s.region]), vec![operation])
            .await
            .unwrap();
    }
    let result = active_matches(&state)
        .await
        .into_iter()
        .map(|(kind, pair)| {
            let mut ids: Vec<usize> = pair
                .iter()
                .map(|(_, r)| r.trim_start_matches("s-").parse().unwrap())
                .collect();
            ids.sort();
            (kind, [ids[0], ids[1]])
        })
        .collect();
    state.close().await;
    result
}

fn arb_sig() -> impl Strategy<Value = Sig> {
    (
        0usize..3,
        proptest::option::weighted(0.8, 0u8..4),
        proptest::collection::vec(10u8..14, 0..3),
        proptest::option::of(20u8..22),
        40u8..43,
    )
        .prop_map(|(region, person, parents, address, fallback)| Sig {
            region,
            person,
            parents,
            address,
            fallback,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn matching_does_not_depend_on_arrival_order(
        sigs in proptest::collection::vec(arb_sig(), 2..7),
        seed in any::<u64>(),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let forward: Vec<usize> = (0..sigs.len()).collect();
        let mut shuffled = forward.clone();
        // A deterministic shuffle from the seed (Fisher-Yates with a small LCG).
        let mut state = seed | 1;
        for i in (1..shuffled.len()).rev() {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            shuffled.swap(i, (state >> 33) as usize % (i + 1));
        }
        let url = |name: &str| vir_shared::db::sqlite_url(&dir.path().join(name));
        let (a, b) = runtime.block_on(async {
            (arrive(&url("a.sqlite"), &sigs, &forward).await,
             arrive(&url("b.sqlite"), &sigs, &shuffled).await)
        });
        prop_assert_eq!(&a, &b);
        // And both equal the rule applied to every pair of different regions.
        let mut expected = BTreeSet::new();
        for i in 0..sigs.len() {
            for j in i + 1..sigs.len() {
                if sigs[i].region == sigs[j].region {
                    continue;
                }
                if let Some(kind) = strongest(&sigs[i].keys(), &sigs[j].keys()) {
                    expected.insert((kind.label().to_owned(), [i, j]));
                }
            }
        }
        prop_assert_eq!(a, expected);
    }
}
