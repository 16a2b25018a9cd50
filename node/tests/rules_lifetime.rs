//! The lifetime rules on every backend: expiry at 2 years exactly, renewal, the archive
//! (visible to a new signaller, never matching, purged after 5 years), destruction at 23 and at
//! death, and destruction by an administrator (003 art. 1, 16; 002 art. 17; Jeugdwet 7.1.4.5-6).

mod common;

use common::*;
use vir_node::config::Category;
use vir_node::lifecycle::DestroyWhy;
use vir_node::rules::{RuleError, RulesConfig};
use vir_node::signal::SignalStatus;
use vir_node::store::notices::Topic;
use vir_node::store::outbox::OutboxOp;

/// 003 art. 1, 16.1: active at most 2 years: on the day 2 years after signalling it is expired,
/// the day before it is not; it goes to the archive and a `remove` reaches the hub.
#[tokio::test]
async fn expiry_at_two_years_exactly_art_16_1() {
    for_each_backend("rules_expiry", |url| async move {
        let youth = bsn(40_000_000);
        let jgz = partner(1, Category::Jgz);
        let f = fixture(
            &url,
            at(2026, 5, 10, 9, 0),
            RulesConfig::default(),
            std::slice::from_ref(&jgz),
            vec![person(&youth, day(2014, 1, 1))],
        )
        .await;
        let (s, _) = f
            .index
            .create_signal(&jgz, new_signal(&youth, "A"))
            .await
            .unwrap();
        assert_eq!(s.end_date, day(2028, 5, 10));

        go_to(&f, at(2028, 5, 9, 23, 59)).await;
        assert_eq!(
            f.index.status().await.unwrap().active_signals,
            1,
            "the day before: active"
        );
        go_to(&f, at(2028, 5, 10, 0, 0)).await;
        let (s, _) = &f.index.list_signals(&jgz).await.unwrap()[0];
        assert_eq!(s.status, SignalStatus::Expired, "2 years exactly: expired");
        assert_eq!(
            outbox_ops(&f.index).await.last(),
            Some(&OutboxOp::Remove {
                signal_ref: s.id.clone()
            }),
            "the hub is told (003 art. 16.2)"
        );
        // After expiry only a new signal (001 Q11-12).
        let err = f.index.renew_signal(&jgz, &s.id, None).await.unwrap_err();
        assert!(matches!(err, RuleError::Precondition(_)), "{err:?}");
        f.index
            .create_signal(&jgz, new_signal(&youth, "A again"))
            .await
            .unwrap();
    })
    .await;
}

/// 003 art. 16.1: a renewal before expiry restarts the 2 years; the signaller is reminded
/// before the end date.
#[tokio::test]
async fn renewal_restarts_two_years_art_16_1() {
    for_each_backend("rules_renewal", |url| async move {
        let youth = bsn(40_000_100);
        let jgz = partner(1, Category::Jgz);
        let f = fixture(
            &url,
            at(2026, 5, 10, 9, 0),
            RulesConfig::default(),
            std::slice::from_ref(&jgz),
            vec![person(&youth, day(2014, 1, 1))],
        )
        .await;
        let (s, _) = f
            .index
            .create_signal(&jgz, new_signal(&youth, "A"))
            .await
            .unwrap();

        go_to(&f, at(2028, 4, 26, 9, 0)).await;
        let reminders = notices_of(&f.index, &jgz, Topic::RenewalDue).await;
        assert_eq!(reminders.len(), 1, "reminded 14 days before the end date");
        assert_eq!(reminders[0].due_on, Some(day(2028, 5, 10)));

        go_to(&f, at(2028, 5, 1, 9, 0)).await;
        let renewed = f.index.renew_signal(&jgz, &s.id, None).await.unwrap();
        assert_eq!(
            renewed.end_date,
            day(2030, 5, 1),
            "2 years from the renewal"
        );
        // An asked end date beyond 2 years from today is refused.
        let err = f
            .index
            .renew_signal(&jgz, &s.id, Some(day(2030, 5, 2)))
            .await
            .unwrap_err();
        assert!(matches!(err, RuleError::Invalid(_)), "{err:?}");

        go_to(&f, at(2028, 5, 10, 9, 0)).await;
        assert_eq!(
            f.index.status().await.unwrap().active_signals,
            1,
            "still active after the old end date"
        );
        go_to(&f, at(2030, 5, 1, 0, 0)).await;
        assert_eq!(
            f.index.status().await.unwrap().active_signals,
            0,
            "expired 2 years after the renewal"
        );
    })
    .await;
}

/// 003 art. 16.8; 002 art. 17.10; Jeugdwet 7.1.4.6: the archive is visible to a later signaller
/// while their signal is active, never matches, and is destroyed after 5 years (003 art. 16.2).
#[tokio::test]
async fn archive_visible_to_new_signaller_never_matches_and_is_purged_art_16_2_16_8() {
    for_each_backend("rules_archive", |url| async move {
        let youth = bsn(40_000_200);
        let school = partner(1, Category::School);
        let jgz = partner(2, Category::Jgz);
        let f = fixture(
            &url,
            at(2026, 5, 10, 9, 0),
            RulesConfig::default(),
            &[school.clone(), jgz.clone()],
            vec![person(&youth, day(2014, 1, 1))],
        )
        .await;
        let (old, _) = f
            .index
            .create_signal(&school, new_signal(&youth, "Old"))
            .await
            .unwrap();
        f.index.withdraw_signal(&school, &old.id).await.unwrap();

        go_to(&f, at(2027, 1, 4, 9, 0)).await;
        let (new, _) = f
            .index
            .create_signal(&jgz, new_signal(&youth, "New"))
            .await
            .unwrap();
        f.index.process_followups().await.unwrap();
        let status = f.index.status().await.unwrap();
        assert_eq!(
            (status.active_signals, status.matches),
            (1, 0),
            "an archived signal never matches"
        );
        assert!(f.index.list_notifications(&jgz).await.unwrap().is_empty());
        let told = notices_of(&f.index, &jgz, Topic::ArchivedSignals).await;
        assert_eq!(told.len(), 1, "the new signaller is shown the archive once");
        assert_eq!(told[0].parties[0].signal_ref, old.id);
        let visible = f.index.visible_archive(&jgz).await.unwrap();
        assert_eq!(visible.len(), 1);
        assert_eq!(visible[0].0.id, old.id);
        assert!(
            f.index.visible_archive(&school).await.unwrap().is_empty(),
            "no active signal, no view"
        );

        // Only while the signal is active.
        f.index.withdraw_signal(&jgz, &new.id).await.unwrap();
        assert!(f.index.visible_archive(&jgz).await.unwrap().is_empty());

        // Withdrawn 2026-05-10: in the archive until 2031-05-10.
        go_to(&f, at(2031, 5, 9, 9, 0)).await;
        assert_eq!(signals_stored(&f.index).await, 2);
        go_to(&f, at(2031, 5, 10, 9, 0)).await;
        assert_eq!(
            signals_stored(&f.index).await,
            1,
            "destroyed after 5 years in the archive"
        );
    })
    .await;
}

/// 003 art. 16.5; 002 art. 17.6-17.8: destroyed at the 23rd birthday, archive included.
#[tokio::test]
async fn destroyed_at_the_23rd_birthday_archive_included_art_16_5() {
    for_each_backend("rules_age23", |url| async move {
        let youth = bsn(40_000_300);
        let (school, jgz) = (partner(1, Category::School), partner(2, Category::Jgz));
        let f = fixture(
            &url,
            at(2026, 5, 10, 9, 0),
            RulesConfig::default(),
            &[school.clone(), jgz.clone()],
            vec![person(&youth, day(2005, 6, 1))],
        )
        .await;
        let (archived, _) = f
            .index
            .create_signal(&school, new_signal(&youth, "A"))
            .await
            .unwrap();
        f.index
            .withdraw_signal(&school, &archived.id)
            .await
            .unwrap();
        let (active, _) = f
            .index
            .create_signal(&jgz, new_signal(&youth, "B"))
            .await
            .unwrap();

        go_to(&f, at(2028, 5, 31, 9, 0)).await;
        assert_eq!(signals_stored(&f.index).await, 2, "22 years old: kept");
        go_to(&f, at(2028, 6, 1, 0, 0)).await;
        assert_eq!(
            signals_stored(&f.index).await,
            0,
            "23 today: everything destroyed"
        );
        assert!(f.index.list_signals(&jgz).await.unwrap().is_empty());
        assert!(f.index.list_notifications(&jgz).await.unwrap().is_empty());
        let ops = outbox_ops(&f.index).await;
        assert!(
            ops.contains(&OutboxOp::Remove {
                signal_ref: active.id.clone()
            }),
            "the active signal leaves the national index"
        );
        // Then the hub erases every trace of the youth's signals, as after a death.
        let Some(OutboxOp::Forget { signal_refs }) = ops.last() else {
            panic!("the hub is asked to forget the youth: {ops:?}");
        };
        assert!(
            signal_refs.contains(&active.id) && signal_refs.contains(&archived.id),
            "{signal_refs:?}"
        );
        let told = notices_of(&f.index, &jgz, Topic::SignalDestroyed).await;
        assert_eq!(told.len(), 1);
        assert_eq!(
            (
                told[0].signal_id.as_str(),
                told[0].detail.as_str(),
                told[0].bsn.as_str()
            ),
            (active.id.as_str(), "age_limit", "")
        );
    })
    .await;
}

/// 003 art. 16.5; 002 art. 17.6: destroyed at death; with `death_inform_days` (Zuid-Limburg)
/// only a task naming the organisations is kept for the administrator.
#[tokio::test]
async fn destroyed_at_death_and_administrator_told_whom_to_inform_art_17_6() {
    for_each_backend("rules_death", |url| async move {
        let youth = bsn(40_000_400);
        let (school, admin) = (partner(1, Category::School), administrator(9));
        let mut rules = RulesConfig::default();
        rules.lifetime.death_inform_days = 14;
        let f = fixture(
            &url,
            at(2026, 5, 10, 9, 0),
            rules,
            &[school.clone(), admin.clone()],
            vec![person(&youth, day(2014, 1, 1))],
        )
        .await;
        let (s, _) = f
            .index
            .create_signal(&school, new_signal(&youth, "A"))
            .await
            .unwrap();
        f.registry.died(&youth, day(2026, 6, 2));
        go_to(&f, at(2026, 6, 1, 9, 0)).await;
        assert_eq!(signals_stored(&f.index).await, 1);
        go_to(&f, at(2026, 6, 2, 9, 0)).await;
        assert_eq!(signals_stored(&f.index).await, 0, "destroyed at death");
        let tasks = notices_of(&f.index, &admin, Topic::SignallersToInform).await;
        assert_eq!(tasks.len(), 1);
        assert_eq!(
            tasks[0].due_on,
            Some(day(2026, 6, 16)),
            "2 weeks (002 art. 17.6)"
        );
        assert_eq!(tasks[0].parties[0].organisation, school.organisation);
        assert_eq!(tasks[0].parties[0].signal_ref, s.id);
        assert!(tasks[0].bsn.is_empty(), "the task does not name the youth");
    })
    .await;
}

/// 003 art. 16.3, 20: an administrator destroys a wrong signal: every trace is erased, the
/// signaller it matched with is told, and the hub never gets it (or gets its removal).
#[tokio::test]
async fn administrator_destroys_and_matched_signallers_are_told_art_16_3_and_20() {
    for_each_backend("rules_destroy", |url| async move {
        let youth = bsn(40_000_500);
        let (school, jgz, admin) = (
            partner(1, Category::School),
            partner(2, Category::Jgz),
            administrator(9),
        );
        let f = fixture(
            &url,
            at(2026, 5, 10, 9, 0),
            RulesConfig::default(),
            &[school.clone(), jgz.clone(), admin.clone()],
            vec![person(&youth, day(2014, 1, 1))],
        )
        .await;
        let (wrong, _) = f
            .index
            .create_signal(&school, new_signal(&youth, "Wrong"))
            .await
            .unwrap();
        f.index
            .create_signal(&jgz, new_signal(&youth, "Right"))
            .await
            .unwrap();
        f.index.process_followups().await.unwrap();
        assert_eq!(
            f.index
                .request_destruction(&school, &wrong.id)
                .await
                .unwrap(),
            1
        );

        let told = f
            .index
            .admin_destroy(&admin, &wrong.id, DestroyWhy::Wrong)
            .await
            .unwrap();
        assert_eq!(told, 1);
        assert!(
            f.index.list_signals(&school).await.unwrap().is_empty(),
            "erased"
        );
        let removed = notices_of(&f.index, &jgz, Topic::SignalRemoved).await;
        assert_eq!(
            removed.len(),
            1,
            "the matched signaller is told (003 art. 20)"
        );
        assert!(
            removed[0].parties[0].contact.name.is_empty(),
            "without the removed contact"
        );
        // What the JGZ signaller was told no longer names the destroyed signal.
        for n in f.index.list_notifications(&jgz).await.unwrap() {
            assert!(n.parties.iter().all(|p| p.signal_ref != wrong.id));
        }
        // The unsent upsert of the wrong signal became a no-op removal; a removal follows.
        let ops = outbox_ops(&f.index).await;
        assert!(!ops.contains(&OutboxOp::Upsert {
            signal_ref: wrong.id.clone()
        }));
        assert_eq!(
            ops.last(),
            Some(&OutboxOp::Remove {
                signal_ref: wrong.id.clone()
            })
        );
        assert!(
            notices_of(&f.index, &admin, Topic::DestructionRequested)
                .await
                .is_empty(),
            "task closed with the signal"
        );
    })
    .await;
}
