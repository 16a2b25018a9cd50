//! The storage suite of issue 4 on every configured backend (SQLite always, PostgreSQL when
//! `VIR_TEST_POSTGRES_URL` is set): regional family and address links, a registry change,
//! signals without a BSN with the administrator's decision, and linking to a BSN.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use chrono::{NaiveDate, TimeZone, Utc};
use vir_shared::clock::ManualClock;
use vir_shared::db::testing::storage_urls;
use vir_shared::person::{Gender, Person};
use vir_shared::{Bsn, Oin};

use super::outbox::{self, OutboxOp};
use super::tests::person;
use crate::config::{Category, Partner};
use crate::index::RegionalIndex;
use crate::nobsn::NoBsnIdentity;
use crate::registry::PersonRegistry;
use crate::rules::SignalOptions;
use crate::signal::{Contact, NewSignal};

/// A registry the test can change, like the BRP after a recognition or an adoption.
#[derive(Default)]
struct Registry(RwLock<HashMap<Bsn, Person>>);

impl PersonRegistry for Registry {
    fn lookup(&self, bsn: &Bsn) -> Option<Person> {
        self.0.read().unwrap().get(bsn).cloned()
    }
    fn search(&self, fallback: &str) -> Vec<Person> {
        let people = self.0.read().unwrap();
        people
            .values()
            .filter(|p| vir_shared::fallback::fallback_input_of(p) == fallback)
            .cloned()
            .collect()
    }
}

fn bsn(n: u32) -> Bsn {
    (n..).find_map(Bsn::from_prefix).unwrap()
}

fn partner(n: u64) -> Partner {
    Partner {
        oin: format!("00000099{n:012}").parse::<Oin>().unwrap(),
        organisation: format!("Organisation {n}"),
        category: Category::School,
        national: true,
        role: Default::default(),
    }
}

fn contact(name: &str) -> Contact {
    Contact {
        name: name.into(),
        phone: "0592 123456".into(),
        email: String::new(),
    }
}

struct Fixture {
    index: RegionalIndex,
    registry: Arc<Registry>,
}

/// Youths 1-6: 1 and 2 siblings (parents A, B); 3 a half-sibling (B, C); 4 a cousin (D, E);
/// 5 a step-sibling of 1 (parents F, G) at 1's address; 6 unrelated.
async fn fixture(url: &str, address_match: bool) -> (Fixture, Vec<Bsn>) {
    let registry = Arc::new(Registry::default());
    let birth = NaiveDate::from_ymd_opt(2014, 2, 3).unwrap();
    let parents = [
        bsn(30_000_000),
        bsn(30_000_100),
        bsn(30_000_200),
        bsn(30_000_300),
        bsn(30_000_400),
        bsn(30_000_500),
        bsn(30_000_600),
    ];
    let youths: Vec<Bsn> = (0..6).map(|i| bsn(21_000_000 + i * 100)).collect();
    let with = |i: usize, ps: &[usize], house: u32| {
        let mut p = person(&youths[i], birth);
        p.surname = format!("Kind{i}");
        p.parents = ps.iter().map(|&j| parents[j].clone()).collect();
        p.address.house_number = house;
        p
    };
    let people = [
        with(0, &[0, 1], 1),
        with(1, &[0, 1], 1),
        with(2, &[1, 2], 2),
        with(3, &[3, 4], 3),
        with(4, &[5, 6], 1),
        with(5, &[], 4),
    ];
    registry
        .0
        .write()
        .unwrap()
        .extend(people.into_iter().map(|p| (p.bsn.clone(), p)));
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 5, 10, 9, 0, 0).unwrap());
    let db = super::connect(url).await.unwrap();
    let index = RegionalIndex::new(db, clock, "drenthe".parse().unwrap(), registry.clone())
        .with_address_match(address_match);
    (Fixture { index, registry }, youths)
}

async fn signal(f: &Fixture, by: u64, youth: &Bsn) -> String {
    let new = NewSignal {
        bsn: youth.clone(),
        signaller: contact(&format!("Signaller {by}")),
        end_date: None,
    };
    f.index.create_signal(&partner(by), new).await.unwrap().0.id
}

/// (kind, other organisation) of every match of a partner.
async fn kinds(f: &Fixture, by: u64) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for m in f.index.list_matches(&partner(by)).await.unwrap() {
        for other in m.others {
            if let crate::index::OtherParty::Known(p) = other {
                out.push((m.kind.clone(), p.organisation));
            }
        }
    }
    out.sort();
    out
}

async fn told(f: &Fixture, by: u64) -> Vec<(String, String)> {
    let list = f.index.list_notifications(&partner(by)).await.unwrap();
    let mut out: Vec<(String, String)> = list
        .into_iter()
        .flat_map(|n| {
            let kind = n.kind.clone();
            n.parties
                .into_iter()
                .map(move |p| (kind.clone(), p.organisation))
        })
        .collect();
    out.sort();
    out
}

fn org(n: u64) -> String {
    format!("Organisation {n}")
}

#[tokio::test]
async fn family_and_address_links_inside_the_region() {
    let dir = tempfile::tempdir().unwrap();
    for url in storage_urls(dir.path(), "node_family").await {
        let (f, y) = fixture(&url, true).await;
        for (by, youth) in [(1, 0), (2, 1), (3, 2), (4, 3), (5, 4), (6, 5)] {
            signal(&f, by, &y[youth]).await;
        }
        let fam = |n| ("family".to_owned(), org(n));
        let addr = |n| ("address".to_owned(), org(n));
        assert_eq!(kinds(&f, 1).await, [addr(5), fam(2), fam(3)]);
        assert_eq!(kinds(&f, 3).await, [fam(1), fam(2)], "half-siblings");
        assert!(kinds(&f, 4).await.is_empty(), "the cousin");
        assert!(kinds(&f, 6).await.is_empty());
        assert_eq!(
            told(&f, 5).await,
            [addr(1), addr(2)],
            "step-siblings at one address"
        );
        // Withdrawn: its links end.
        let mine = f.index.list_signals(&partner(3)).await.unwrap()[0]
            .0
            .id
            .clone();
        f.index.withdraw_signal(&partner(3), &mine).await.unwrap();
        assert_eq!(kinds(&f, 1).await, [addr(5), fam(2)]);
    }
}

#[tokio::test]
async fn without_address_matching_step_siblings_do_not_match() {
    let dir = tempfile::tempdir().unwrap();
    for url in storage_urls(dir.path(), "node_no_address").await {
        let (f, y) = fixture(&url, false).await;
        signal(&f, 1, &y[0]).await;
        signal(&f, 5, &y[4]).await;
        assert!(kinds(&f, 1).await.is_empty());
    }
}

#[tokio::test]
async fn a_registry_change_relinks_and_upserts_again() {
    let dir = tempfile::tempdir().unwrap();
    for url in storage_urls(dir.path(), "node_registry_change").await {
        let (f, y) = fixture(&url, false).await;
        let on_cousin = signal(&f, 1, &y[3]).await;
        signal(&f, 2, &y[5]).await;
        assert_eq!(f.index.refresh_registry_facts().await.unwrap(), 0);
        // Youth 6 turns out to be a child of the cousin's parent D (recognition).
        {
            let mut people = f.registry.0.write().unwrap();
            let cousin_parent = people[&y[3]].parents[0].clone();
            people.get_mut(&y[5]).unwrap().parents = vec![cousin_parent];
        }
        assert_eq!(f.index.refresh_registry_facts().await.unwrap(), 1);
        assert_eq!(kinds(&f, 1).await, [("family".to_owned(), org(2))]);
        let mut conn = f.index.db.pool.acquire().await.unwrap();
        let upserts = outbox::all(&mut conn)
            .await
            .unwrap()
            .into_iter()
            .filter(|r| matches!(&r.op, OutboxOp::Upsert { .. }))
            .count();
        assert_eq!(
            upserts, 3,
            "two signals, and youth 6's again with its new parent"
        );
        drop(conn);
        assert_eq!(
            f.index.refresh_registry_facts().await.unwrap(),
            0,
            "nothing new"
        );
        assert!(!on_cousin.is_empty());
    }
}

fn anna(surname: &str, given: &str) -> NoBsnIdentity {
    NoBsnIdentity {
        surname: surname.into(),
        given_name: given.into(),
        birth_date: NaiveDate::from_ymd_opt(2012, 3, 4).unwrap(),
        gender: Gender::Female,
        municipality: Some("0106".parse().unwrap()),
        postcode: None,
        house_number: 0,
        addition: String::new(),
    }
}

#[tokio::test]
async fn candidates_wait_for_the_administrator_and_a_link_gives_way_to_the_bsn() {
    let dir = tempfile::tempdir().unwrap();
    for url in storage_urls(dir.path(), "node_candidates").await {
        let (f, y) = fixture(&url, false).await;
        let make = |by: u64, id: NoBsnIdentity| {
            let index = f.index.clone();
            async move {
                index
                    .create_signal_without_bsn(
                        &partner(by),
                        id,
                        contact("X"),
                        None,
                        SignalOptions::default(),
                    )
                    .await
                    .unwrap()
                    .0
            }
        };
        let a = make(1, anna("Van der Berg", "Anna")).await;
        let b = make(2, anna("Berg, van der", "anna")).await;
        assert!(crate::nobsn::in_vin_block(&a.bsn) && a.bsn != b.bsn);
        let mut conn = f.index.db.pool.acquire().await.unwrap();
        let pending = super::nobsn::candidates(&mut conn, true).await.unwrap();
        drop(conn);
        assert_eq!(pending.len(), 1);
        assert!(told(&f, 1).await.is_empty() && kinds(&f, 1).await.is_empty());

        let decided = f
            .index
            .decide_candidate("admin", &pending[0].id, true)
            .await
            .unwrap();
        assert_eq!(decided.status, "confirmed");
        f.index
            .decide_candidate("admin", &pending[0].id, true)
            .await
            .unwrap();
        assert_eq!(
            told(&f, 1).await,
            [("candidate".to_owned(), org(2))],
            "told once"
        );
        assert_eq!(told(&f, 2).await, [("candidate".to_owned(), org(1))]);

        // Linked to a BSN with another organisation's signal: the client match replaces it.
        signal(&f, 3, &y[5]).await;
        f.index
            .link_signal(&partner(1), &a.id, y[5].clone())
            .await
            .unwrap();
        assert_eq!(kinds(&f, 1).await, [("client".to_owned(), org(3))]);
        assert!(kinds(&f, 2).await.is_empty(), "the candidate link ended");
        let again = f.index.link_signal(&partner(1), &a.id, y[5].clone()).await;
        assert!(again.is_err(), "a linked signal is not linked twice");
    }
}
