//! Shared fixture of the rule suites: a `RegionalIndex` on every configured backend (SQLite
//! always, PostgreSQL when `VIR_TEST_POSTGRES_URL` is set), a manual clock, and a person
//! registry the test can change (a death, a move).

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use vir_node::config::{Category, Partner, Role};
use vir_node::index::RegionalIndex;
use vir_node::registry::PersonRegistry;
use vir_node::rules::{Rules, RulesConfig};
use vir_node::signal::{Contact, NewSignal};
use vir_node::store::notices::{Notice, Topic};
use vir_node::store::outbox::{self, OutboxOp};
use vir_shared::clock::ManualClock;
use vir_shared::db::testing::storage_urls;
use vir_shared::person::{Address, Gender, Person};
use vir_shared::{Bsn, Oin};

/// A registry the test can change while the node runs.
#[derive(Default)]
pub struct TestRegistry(RwLock<HashMap<Bsn, Person>>);

impl TestRegistry {
    pub fn add(&self, person: Person) {
        self.0.write().unwrap().insert(person.bsn.clone(), person);
    }

    pub fn died(&self, bsn: &Bsn, on: NaiveDate) {
        if let Some(p) = self.0.write().unwrap().get_mut(bsn) {
            p.death_date = Some(on);
        }
    }
}

impl PersonRegistry for TestRegistry {
    fn lookup(&self, bsn: &Bsn) -> Option<Person> {
        self.0.read().unwrap().get(bsn).cloned()
    }
}

pub fn bsn(n: u32) -> Bsn {
    (n..).find_map(Bsn::from_prefix).unwrap()
}

pub fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

pub fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
}

pub fn person(bsn: &Bsn, birth: NaiveDate) -> Person {
    Person {
        bsn: bsn.clone(),
        given_names: "Sam".into(),
        surname_prefix: String::new(),
        surname: "de Boer".into(),
        gender: Gender::Unknown,
        birth_date: birth,
        address: Address {
            street: "Brink".into(),
            house_number: 3,
            addition: None,
            postcode: "9401AB".parse().unwrap(),
            city: "Assen".into(),
        },
        municipality: "0106".parse().unwrap(),
        parents: vec![],
        death_date: None,
    }
}

pub fn partner(n: u64, category: Category) -> Partner {
    Partner {
        oin: format!("00000099{n:012}").parse::<Oin>().unwrap(),
        organisation: format!("Organisation {n} ({category})"),
        category,
        national: true,
        role: Role::Partner,
    }
}

pub fn administrator(n: u64) -> Partner {
    Partner {
        role: Role::Administrator,
        national: false,
        organisation: "Functioneel beheer".into(),
        ..partner(n, Category::Other)
    }
}

pub fn new_signal(bsn: &Bsn, name: &str) -> NewSignal {
    NewSignal {
        bsn: bsn.clone(),
        signaller: Contact {
            name: name.into(),
            phone: "0592 123456".into(),
            email: String::new(),
        },
        end_date: None,
    }
}

pub struct Fixture {
    pub index: RegionalIndex,
    pub clock: Arc<ManualClock>,
    pub registry: Arc<TestRegistry>,
}

/// A node index for region "drenthe" (municipality 0106) with `rules` and `partners`.
pub async fn fixture(
    url: &str,
    start: DateTime<Utc>,
    config: RulesConfig,
    partners: &[Partner],
    people: Vec<Person>,
) -> Fixture {
    let registry = Arc::new(TestRegistry::default());
    for p in people {
        registry.add(p);
    }
    let clock = ManualClock::new(start);
    let db = vir_node::store::connect(url).await.unwrap();
    let region: vir_shared::RegionCode = "drenthe".parse().unwrap();
    let rules = Rules {
        config,
        region: region.clone(),
        municipalities: vec!["0106".parse().unwrap(), "0114".parse().unwrap()],
        partners: partners.to_vec(),
    };
    let index = RegionalIndex::new(db, clock.clone(), region, registry.clone()).with_rules(rules);
    Fixture {
        index,
        clock,
        registry,
    }
}

pub async fn for_each_backend<F, Fut>(name: &str, test: F)
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    for url in storage_urls(dir.path(), name).await {
        test(url).await;
    }
}

pub async fn outbox_ops(index: &RegionalIndex) -> Vec<OutboxOp> {
    let mut conn = index.db.pool.acquire().await.unwrap();
    outbox::all(&mut conn)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.op)
        .collect()
}

pub async fn notices_of(index: &RegionalIndex, p: &Partner, topic: Topic) -> Vec<Notice> {
    index
        .notices(p)
        .await
        .unwrap()
        .into_iter()
        .filter(|n| n.topic == topic)
        .collect()
}

/// Moves the clock and runs the daily rules and the follow-up queue, as the scheduler does.
pub async fn go_to(f: &Fixture, when: DateTime<Utc>) {
    f.clock.set(when);
    f.index.daily().await.unwrap();
    f.index.process_followups().await.unwrap();
}

pub async fn signals_stored(index: &RegionalIndex) -> i64 {
    let mut conn = index.db.pool.acquire().await.unwrap();
    sqlx::query_scalar("SELECT COUNT(*) FROM signals")
        .fetch_one(&mut *conn)
        .await
        .unwrap()
}
