//! The rights of the people concerned and the access log, on every backend: bezwaar (003 art.
//! 18; 002 art. 20; 001 Q29-30), who exercises the rights (003 art. 19), inzage (002 art.
//! 18-19; 003 art. 17) and the NEN 7513 access log with its hash chain.

mod common;

use common::*;
use vir_node::accesslog::{Access, Actor, Anchor};
use vir_node::config::Category;
use vir_node::informing::InformingRecord;
use vir_node::rights::NewObjection;
use vir_node::rules::{Addressee, RuleError, RulesConfig};
use vir_node::signal::SignalStatus;
use vir_node::store::notices::Topic;
use vir_node::store::objections::Outcome;

fn objection(youth: &vir_shared::Bsn, by: Addressee) -> NewObjection {
    NewObjection {
        bsn: youth.clone(),
        signal_id: None,
        lodged_on: None,
        lodged_by: by,
        youth_not_capable: false,
        informed_on: None,
    }
}

/// 001 Q29-30; 002 art. 20.2; 003 art. 18: an objection is accepted at any time and flagged
/// late after 6 weeks; the signal stays active (and matching) until the decision, due in 4
/// weeks with reminders; upheld destroys, no longer needed inactivates, rejected keeps.
#[tokio::test]
async fn bezwaar_keeps_the_signal_active_until_decided_art_20_2() {
    for_each_backend("rules_bezwaar", |url| async move {
        let (youth, other) = (bsn(42_000_000), bsn(42_000_100));
        let (school, jgz, admin) = (
            partner(1, Category::School),
            partner(2, Category::Jgz),
            administrator(9),
        );
        let people = vec![
            person(&youth, day(2008, 1, 1)),
            person(&other, day(2008, 1, 1)),
        ];
        let f = fixture(
            &url,
            at(2026, 3, 2, 9, 0),
            RulesConfig::default(),
            &[school.clone(), jgz.clone(), admin.clone()],
            people,
        )
        .await;
        let (a, _) = f
            .index
            .create_signal(&school, new_signal(&youth, "School"))
            .await
            .unwrap();
        f.index
            .create_signal(&jgz, new_signal(&youth, "JGZ"))
            .await
            .unwrap();
        let informed = InformingRecord {
            informed: Some(Addressee::Youth),
            ..Default::default()
        };
        f.index
            .record_informing(&school, &a.id, informed)
            .await
            .unwrap();

        // 18 years old: the youth objects, 7 weeks after being informed.
        go_to(&f, at(2026, 4, 20, 9, 0)).await;
        let err = f
            .index
            .lodge_objection(&admin, objection(&youth, Addressee::Parents))
            .await
            .unwrap_err();
        assert!(
            matches!(err, RuleError::Invalid(_)),
            "16+: the youth exercises the rights (003 art. 19.1)"
        );
        let mut new = objection(&youth, Addressee::Youth);
        new.signal_id = Some(a.id.clone());
        let lodged = f.index.lodge_objection(&admin, new).await.unwrap();
        assert!(
            lodged.late,
            "lodged more than 6 weeks after informing: flagged (001 Q30)"
        );
        assert_eq!(
            lodged.decision_due,
            day(2026, 5, 18),
            "decision within 4 weeks (003 art. 18.3)"
        );

        // Pending: the signal stays active and keeps matching.
        go_to(&f, at(2026, 5, 11, 9, 0)).await;
        let status = f.index.status().await.unwrap();
        assert_eq!(
            (status.active_signals, status.matches),
            (2, 1),
            "active until decided"
        );
        assert_eq!(
            notices_of(&f.index, &admin, Topic::ObjectionDecisionDue)
                .await
                .len(),
            1,
            "reminded a week before"
        );
        go_to(&f, at(2026, 5, 19, 9, 0)).await;
        let reminders = notices_of(&f.index, &admin, Topic::ObjectionDecisionDue).await;
        assert_eq!(reminders.last().map(|n| n.detail.as_str()), Some("overdue"));
        assert_eq!(
            f.index
                .deadline_overview(&admin)
                .await
                .unwrap()
                .objections_due
                .len(),
            1
        );

        let decided = f
            .index
            .decide_objection(&admin, &lodged.id, Outcome::Upheld, None)
            .await
            .unwrap();
        assert_eq!(decided.outcome, Some(Outcome::Upheld));
        assert!(
            f.index.list_signals(&school).await.unwrap().is_empty(),
            "upheld: destroyed"
        );
        assert_eq!(
            notices_of(&f.index, &jgz, Topic::SignalRemoved).await.len(),
            1,
            "the matched signaller is told (003 art. 20)"
        );

        // No longer needed: inactivated; rejected: stays.
        let (b, _) = f
            .index
            .create_signal(&school, new_signal(&other, "School"))
            .await
            .unwrap();
        let (c, _) = f
            .index
            .create_signal(&jgz, new_signal(&other, "JGZ"))
            .await
            .unwrap();
        let mut on_b = objection(&other, Addressee::Youth);
        on_b.signal_id = Some(b.id.clone());
        let mut on_c = objection(&other, Addressee::Youth);
        on_c.signal_id = Some(c.id.clone());
        let ob = f.index.lodge_objection(&admin, on_b).await.unwrap();
        let oc = f.index.lodge_objection(&admin, on_c).await.unwrap();
        assert!(!ob.late, "never informed: the 6 weeks have not started");
        f.index
            .decide_objection(&admin, &ob.id, Outcome::NoLongerNeeded, None)
            .await
            .unwrap();
        f.index
            .decide_objection(&admin, &oc.id, Outcome::Rejected, None)
            .await
            .unwrap();
        let (b_now, _) = f
            .index
            .list_signals(&school)
            .await
            .unwrap()
            .into_iter()
            .find(|(s, _)| s.id == b.id)
            .unwrap();
        assert_eq!(
            b_now.status,
            SignalStatus::Inactive,
            "no longer needed: to the archive"
        );
        let (c_now, _) = f
            .index
            .list_signals(&jgz)
            .await
            .unwrap()
            .into_iter()
            .find(|(s, _)| s.id == c.id)
            .unwrap();
        assert_eq!(c_now.status, SignalStatus::Active, "rejected: stays");
        let err = f
            .index
            .decide_objection(&admin, &oc.id, Outcome::Upheld, None)
            .await
            .unwrap_err();
        assert!(matches!(err, RuleError::Precondition(_)), "decided once");
    })
    .await;
}

/// 003 art. 19.1-19.2: under 12 the parents, 12-16 jointly, 16+ the youth; the parents when the
/// youth cannot weigh their interests. Inzage exports everything of the youth in the region.
#[tokio::test]
async fn rights_follow_the_age_bands_and_inzage_exports_everything_art_19_and_17() {
    for_each_backend("rules_inzage", |url| async move {
        let youth = bsn(42_000_200);
        let (school, jgz, admin) = (
            partner(1, Category::School),
            partner(2, Category::Jgz),
            administrator(9),
        );
        let f = fixture(
            &url,
            at(2026, 5, 11, 9, 0),
            RulesConfig::default(),
            &[school.clone(), jgz.clone(), admin.clone()],
            vec![person(&youth, day(2012, 1, 1))],
        )
        .await;
        let (a, _) = f
            .index
            .create_signal(&school, new_signal(&youth, "Anna School"))
            .await
            .unwrap();
        f.index
            .create_signal(&jgz, new_signal(&youth, "Bram JGZ"))
            .await
            .unwrap();
        f.index.process_followups().await.unwrap();
        f.index
            .audit(
                &Actor::partner(&school, Some("Anna School")),
                &[Access {
                    action: "ListSignals",
                    object: format!("signal:{}", a.id),
                    youth: Some(&youth),
                    result: "ok",
                }],
            )
            .await
            .unwrap();

        for by in [Addressee::Youth, Addressee::Parents] {
            let err = f.index.inzage(&youth, by, false).await.unwrap_err();
            assert!(matches!(err, RuleError::Invalid(_)), "14: jointly ({by:?})");
        }
        assert!(
            f.index
                .inzage(&youth, Addressee::Parents, true)
                .await
                .is_ok(),
            "003 art. 19.2"
        );
        let export = f
            .index
            .inzage(&youth, Addressee::ParentsAndYouth, false)
            .await
            .unwrap();
        assert_eq!(export.signals, 2);
        let json = export.json.to_string();
        for expected in [
            "Anna School",
            "Bram JGZ",
            "de Boer",
            "2012-01-01",
            "archive_until",
            "given_to",
            "consultation_requested",
            "Verwijsindex Risicojongeren",
            "ListSignals",
        ] {
            assert!(json.contains(expected), "the export lacks {expected:?}");
        }
        assert!(export.access_log_entries >= 1);
        assert!(
            !f.index
                .access_log(0, None, None, 100)
                .await
                .unwrap()
                .iter()
                .any(|e| e.entry.subject.contains(youth.as_str())),
            "the log names no BSN"
        );
    })
    .await;
}

/// NEN 7513: the access log is append-only (the database refuses changes) and its SHA-256
/// chain shows a row edited or deleted behind the database's back.
/// What someone with the database's keys could do after editing a row: recompute the hashes
/// of every row from `from_seq` on, and the head, so that the chain is consistent again.
async fn rehash_from(conn: &mut sqlx::AnyConnection, from_seq: i64) {
    use vir_node::store::accesslog;
    let rows = accesslog::query(conn, from_seq - 1, None, None, 1000)
        .await
        .unwrap();
    let mut prev = rows[0].hash.clone();
    for row in rows.iter().skip(1) {
        let hash = accesslog::row_hash(row.seq, &row.entry, &prev);
        sqlx::query("UPDATE access_log SET prev_hash = $1, hash = $2 WHERE seq = $3")
            .bind(&prev)
            .bind(&hash)
            .bind(row.seq)
            .execute(&mut *conn)
            .await
            .unwrap();
        prev = hash;
    }
    sqlx::query("UPDATE access_log_head SET hash = $1 WHERE id = 1")
        .bind(&prev)
        .execute(&mut *conn)
        .await
        .unwrap();
}

#[tokio::test]
async fn the_access_log_chain_detects_an_edited_row_nen_7513() {
    for_each_backend("rules_accesslog", |url| async move {
        let youth = bsn(42_000_300);
        let school = partner(1, Category::School);
        let f = fixture(
            &url,
            at(2026, 5, 11, 9, 0),
            RulesConfig::default(),
            std::slice::from_ref(&school),
            vec![person(&youth, day(2012, 1, 1))],
        )
        .await;
        let actor = Actor::partner(&school, Some("J. Jansen"));
        for n in 0..5 {
            let access = Access {
                action: "ListSignals",
                object: format!("signal:{n}"),
                youth: Some(&youth),
                result: "ok",
            };
            f.index.audit(&actor, &[access]).await.unwrap();
        }
        let v = f.index.verify_access_log(&[]).await.unwrap();
        assert_eq!((v.entries, v.broken.clone()), (5, None));
        // The head, written down outside the database (the daily anchor line).
        let anchor = v.head.clone();
        assert_eq!(anchor.seq, 5);
        assert_eq!(anchor.to_string().parse::<Anchor>(), Ok(anchor.clone()));
        assert!("5:abc".parse::<Anchor>().is_err() && "x:y".parse::<Anchor>().is_err());
        // An anchor past the end: rows were deleted at the end.
        let beyond = Anchor {
            seq: 9,
            hash: anchor.hash.clone(),
        };
        let v = f.index.verify_access_log(&[beyond]).await.unwrap();
        assert_eq!(v.broken.map(|b| b.0), Some(6));
        let mine = f
            .index
            .access_log(0, Some(&youth), Some(school.oin.as_str()), 10)
            .await
            .unwrap();
        assert_eq!(mine.len(), 5);
        assert_eq!(
            (
                mine[0].entry.on_behalf_of.as_str(),
                mine[0].entry.actor.as_str()
            ),
            ("J. Jansen", school.organisation.as_str())
        );

        let mut conn = f.index.db.pool.acquire().await.unwrap();
        let refused = sqlx::query("UPDATE access_log SET result = 'denied' WHERE seq = 3")
            .execute(&mut *conn)
            .await;
        assert!(refused.is_err(), "the database refuses to change the log");
        // Someone with the database's keys drops the guard and edits a row.
        let drop_guard = match f.index.db.backend {
            vir_shared::db::Backend::Sqlite => "DROP TRIGGER access_log_no_update",
            vir_shared::db::Backend::Postgres => "DROP TRIGGER access_log_no_change ON access_log",
        };
        sqlx::query(drop_guard).execute(&mut *conn).await.unwrap();
        sqlx::query("UPDATE access_log SET result = 'denied' WHERE seq = 3")
            .execute(&mut *conn)
            .await
            .unwrap();
        let v = f.index.verify_access_log(&[]).await.unwrap();
        let (seq, why) = v.broken.expect("the edit is detected");
        assert_eq!(seq, 3);
        assert!(why.contains("edited"), "{why}");

        // Whoever holds the database's keys can also recompute every hash after the edit and
        // the head: the chain alone then looks intact, the anchor kept elsewhere does not.
        rehash_from(&mut conn, 3).await;
        let v = f.index.verify_access_log(&[]).await.unwrap();
        assert_eq!(v.broken, None, "a rewritten chain is consistent in itself");
        let v = f
            .index
            .verify_access_log(std::slice::from_ref(&anchor))
            .await
            .unwrap();
        let (seq, why) = v.broken.expect("the anchor finds the rewrite");
        assert_eq!(seq, 5);
        assert!(why.contains("anchor"), "{why}");
        drop(conn);
        if f.index.db.backend == vir_shared::db::Backend::Sqlite {
            // A deleted row breaks the link of the next one.
            let mut conn = f.index.db.pool.acquire().await.unwrap();
            sqlx::query("UPDATE access_log SET result = 'ok' WHERE seq = 3")
                .execute(&mut *conn)
                .await
                .unwrap();
            sqlx::query("DROP TRIGGER access_log_no_delete")
                .execute(&mut *conn)
                .await
                .unwrap();
            sqlx::query("DELETE FROM access_log WHERE seq = 2")
                .execute(&mut *conn)
                .await
                .unwrap();
            drop(conn);
            assert_eq!(
                f.index
                    .verify_access_log(&[])
                    .await
                    .unwrap()
                    .broken
                    .map(|b| b.0),
                Some(2)
            );
        }
    })
    .await;
}
