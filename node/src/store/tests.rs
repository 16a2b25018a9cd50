//! The storage suite: the index's transactions on every configured backend (SQLite always,
//! PostgreSQL when `VIR_TEST_POSTGRES_URL` is set).

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{NaiveDate, TimeZone, Utc};
use vir_shared::clock::ManualClock;
use vir_shared::db::testing::storage_urls;
use vir_shared::person::{Address, Gender, Person, RegistryFile};
use vir_shared::{Bsn, Oin};

use super::outbox::{self, OutboxOp};
use super::{counter, counter_value};
use crate::config::{Category, Partner};
use crate::index::{IndexError, OtherParty, RegionalIndex};
use crate::registry::FileRegistry;
use crate::signal::{Contact, NewSignal, SignalStatus};

pub(crate) fn person(bsn: &Bsn, birth: NaiveDate) -> Person {
    Person {
        bsn: bsn.clone(),
        given_names: "Sam".into(),
        surname_prefix: String::new(),
        surname: "de Vries".into(),
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

fn bsn(n: u32) -> Bsn {
    (n..).find_map(Bsn::from_prefix).unwrap()
}

fn partner(n: u64, national: bool) -> Partner {
    Partner {
        oin: format!("00000099{n:012}").parse::<Oin>().unwrap(),
        organisation: format!("Organisation {n}"),
        category: Category::Jgz,
        national,
        role: Default::default(),
    }
}

fn new_signal(bsn: &Bsn, name: &str) -> NewSignal {
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

struct Fixture {
    index: RegionalIndex,
    clock: Arc<ManualClock>,
    youth: Bsn,
}

async fn fixture(url: &str) -> Fixture {
    let youth = bsn(20_000_000);
    let people = vec![person(&youth, NaiveDate::from_ymd_opt(2012, 6, 1).unwrap())];
    let registry = FileRegistry::from_file(RegistryFile { people }).unwrap();
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 5, 10, 9, 0, 0).unwrap());
    let db = super::connect(url).await.unwrap();
    let index = RegionalIndex::new(
        db,
        clock.clone(),
        "drenthe".parse().unwrap(),
        Arc::new(registry),
    );
    Fixture {
        index,
        clock,
        youth,
    }
}

async fn for_each_backend<F, Fut>(name: &str, test: F)
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    for url in storage_urls(dir.path(), name).await {
        test(url).await;
    }
}

#[tokio::test]
async fn four_signallers_each_told_once_about_each_other() {
    for_each_backend("node_match", |url| async move {
        let f = fixture(&url).await;
        let partners: Vec<Partner> = (1..=4).map(|n| partner(n, true)).collect();
        let mut ids = Vec::new();
        for (i, p) in partners.iter().enumerate() {
            let (s, _) = f
                .index
                .create_signal(p, new_signal(&f.youth, &format!("Signaller {}", i + 1)))
                .await
                .unwrap();
            ids.push(s.id);
        }
        let mut match_ids = HashSet::new();
        for (i, p) in partners.iter().enumerate() {
            let told = f.index.list_notifications(p).await.unwrap();
            let expected = [3, 3, 2, 1][i];
            assert_eq!(told.len(), expected, "signaller {}", i + 1);
            // Nobody is told twice about the same party, and never about themselves.
            let mut seen = HashSet::new();
            for n in &told {
                match_ids.insert(n.match_id.clone());
                assert_eq!(n.signal_id, ids[i]);
                for party in &n.parties {
                    assert_ne!(party.signal_ref, ids[i]);
                    assert!(seen.insert(party.signal_ref.clone()), "told twice");
                    assert_eq!(party.region, "drenthe");
                }
            }
            assert_eq!(seen.len(), 3, "signaller {} knows all three others", i + 1);
        }
        // Signaller 2: first a list naming 1, then 3, then 4.
        let told = f.index.list_notifications(&partners[1]).await.unwrap();
        let firsts: Vec<&str> = told
            .iter()
            .map(|n| n.parties[0].signal_ref.as_str())
            .collect();
        assert_eq!(firsts, [ids[0].as_str(), ids[2].as_str(), ids[3].as_str()]);
        // The newcomer's single notification lists everyone before it.
        let last = f.index.list_notifications(&partners[3]).await.unwrap();
        assert_eq!(last[0].parties.len(), 3);
        let mut names: Vec<&str> = last[0]
            .parties
            .iter()
            .map(|p| p.contact.name.as_str())
            .collect();
        names.sort_unstable();
        assert_eq!(names, ["Signaller 1", "Signaller 2", "Signaller 3"]);
        assert_eq!(match_ids.len(), 1, "one regional match per youth");

        let matches = f.index.list_matches(&partners[0]).await.unwrap();
        assert_eq!(matches.len(), 1);
        assert_eq!(matches[0].others.len(), 3);
        assert!(matches[0].others.iter().all(
            |o| matches!(o, OtherParty::Known(p) if p.organisation.starts_with("Organisation"))
        ));
        let status = f.index.status().await.unwrap();
        assert_eq!((status.active_signals, status.matches), (4, 1));
    })
    .await;
}

#[tokio::test]
async fn second_active_signal_by_one_organisation_is_refused_and_nothing_stored() {
    for_each_backend("node_dup", |url| async move {
        let f = fixture(&url).await;
        let p = partner(1, true);
        f.index
            .create_signal(&p, new_signal(&f.youth, "A"))
            .await
            .unwrap();
        let err = f
            .index
            .create_signal(&p, new_signal(&f.youth, "A again"))
            .await
            .unwrap_err();
        assert!(matches!(err, IndexError::AlreadyActive), "{err:?}");
        assert_eq!(f.index.list_signals(&p).await.unwrap().len(), 1);
        let mut conn = f.index.db.pool.acquire().await.unwrap();
        assert_eq!(outbox::all(&mut conn).await.unwrap().len(), 1);
        assert_eq!(counter_value(&mut conn, counter::OUTBOX).await.unwrap(), 1);
    })
    .await;
}

#[tokio::test]
async fn withdraw_ends_the_match_and_queues_a_remove_only_for_national_partners() {
    for_each_backend("node_withdraw", |url| async move {
        let f = fixture(&url).await;
        let national = partner(1, true);
        let regional_only = partner(2, false);
        let (a, _) = f
            .index
            .create_signal(&national, new_signal(&f.youth, "A"))
            .await
            .unwrap();
        let (b, _) = f
            .index
            .create_signal(&regional_only, new_signal(&f.youth, "B"))
            .await
            .unwrap();
        assert_eq!(f.index.status().await.unwrap().matches, 1);

        // Another organisation cannot withdraw it.
        let err = f
            .index
            .withdraw_signal(&regional_only, &a.id)
            .await
            .unwrap_err();
        assert!(matches!(err, IndexError::NotFound));

        let withdrawn = f.index.withdraw_signal(&national, &a.id).await.unwrap();
        assert_eq!(withdrawn.status, SignalStatus::Inactive);
        assert!(withdrawn.withdrawn_ms.is_some());
        assert_eq!(f.index.status().await.unwrap().matches, 0);
        assert!(f
            .index
            .list_matches(&regional_only)
            .await
            .unwrap()
            .is_empty());
        f.index
            .withdraw_signal(&regional_only, &b.id)
            .await
            .unwrap();

        let mut conn = f.index.db.pool.acquire().await.unwrap();
        let ops: Vec<OutboxOp> = outbox::all(&mut conn)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.op)
            .collect();
        assert_eq!(
            ops,
            [
                OutboxOp::Upsert {
                    signal_ref: a.id.clone()
                },
                OutboxOp::Remove {
                    signal_ref: a.id.clone()
                },
            ]
        );
    })
    .await;
}

#[tokio::test]
async fn outbox_ids_are_contiguous_and_sent_in_order() {
    for_each_backend("node_outbox", |url| async move {
        let f = fixture(&url).await;
        // Concurrent writers: ids must still be 1..=n without gaps.
        let mut tasks = Vec::new();
        for n in 0..12u64 {
            let index = f.index.clone();
            let youth = f.youth.clone();
            tasks.push(tokio::spawn(async move {
                index
                    .create_signal(&partner(n + 1, true), new_signal(&youth, "X"))
                    .await
                    .unwrap();
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let mut conn = f.index.db.pool.acquire().await.unwrap();
        let ids: Vec<i64> = outbox::unsent(&mut conn, 100)
            .await
            .unwrap()
            .iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(ids, (1..=12).collect::<Vec<_>>());
        // Concurrent creates on one youth still all match: each signaller knows the 11 others.
        for n in 1..=12u64 {
            let told = f.index.list_notifications(&partner(n, true)).await.unwrap();
            let known: HashSet<String> = told
                .iter()
                .flat_map(|t| t.parties.iter().map(|p| p.signal_ref.clone()))
                .collect();
            assert_eq!(known.len(), 11, "partner {n}");
        }
        outbox::mark_sent(&mut conn, &[1, 2, 3], 5).await.unwrap();
        let next: Vec<i64> = outbox::unsent(&mut conn, 2)
            .await
            .unwrap()
            .iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(next, [4, 5]);
        assert_eq!(outbox::count_pending(&mut conn).await.unwrap(), 9);
    })
    .await;
}

#[tokio::test]
async fn signals_expire_on_their_end_date() {
    for_each_backend("node_expiry", |url| async move {
        let f = fixture(&url).await;
        let p1 = partner(1, true);
        let p2 = partner(2, true);
        let mut short = new_signal(&f.youth, "A");
        short.end_date = Some(NaiveDate::from_ymd_opt(2026, 6, 1).unwrap());
        f.index.create_signal(&p1, short).await.unwrap();
        f.index
            .create_signal(&p2, new_signal(&f.youth, "B"))
            .await
            .unwrap();
        assert_eq!(f.index.expire_due().await.unwrap(), 0);
        f.clock.advance(chrono::Duration::days(22));
        assert_eq!(f.index.expire_due().await.unwrap(), 1);
        let status = f.index.status().await.unwrap();
        assert_eq!((status.active_signals, status.matches), (1, 0));
        let (s, _) = &f.index.list_signals(&p1).await.unwrap()[0];
        assert_eq!(s.status, SignalStatus::Expired);
        // upsert, upsert, remove
        assert_eq!(status.outbox_pending, 3);
        // After expiry the organisation may signal again (a new signal, 001 Q11-12).
        f.index
            .create_signal(&p1, new_signal(&f.youth, "A2"))
            .await
            .unwrap();
    })
    .await;
}

/// Write transactions that take the counters in opposite orders, several at once, all commit:
/// on PostgreSQL they go one at a time (`store::connect`), as on SQLite. Without that,
/// PostgreSQL aborts one of two crossing transactions as a deadlock.
#[tokio::test]
async fn write_transactions_taking_counters_in_crossing_orders_all_commit() {
    for_each_backend("node_counters", |url| async move {
        let db = Arc::new(super::connect(&url).await.unwrap());
        let mut tasks = Vec::new();
        for i in 0..6 {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                let order = if i % 2 == 0 {
                    [counter::OUTBOX, counter::NOTIFICATION]
                } else {
                    [counter::NOTIFICATION, counter::OUTBOX]
                };
                for _ in 0..4 {
                    let mut tx = db.write().await?;
                    super::next_value(&mut tx.tx, order[0]).await?;
                    // Long enough for the other order to take its first row meanwhile.
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    super::next_value(&mut tx.tx, order[1]).await?;
                    tx.commit().await?;
                }
                Ok::<(), super::StoreError>(())
            }));
        }
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        let mut conn = db.pool.acquire().await.unwrap();
        for name in [counter::OUTBOX, counter::NOTIFICATION] {
            assert_eq!(counter_value(&mut conn, name).await.unwrap(), 24, "{name}");
        }
    })
    .await;
}
