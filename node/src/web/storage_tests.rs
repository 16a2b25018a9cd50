//! The web UI's and mailer's SQL on every configured backend (SQLite always, PostgreSQL when
//! `VIR_TEST_POSTGRES_URL` is set): accounts with lockout, sessions' table, and the mail
//! outbox filled from notices exactly once.

use vir_shared::db::testing::storage_urls;

use super::accounts::{self, Login, NewAccount, Role};
use crate::config::{Category, Partner, Role as PartnerRole};
use crate::mail::outbox;
use crate::store::notices::{self, Notice, Topic};

fn partner(oin: u64, role: PartnerRole) -> Partner {
    Partner {
        oin: format!("0000009900000000{oin:04}").parse().unwrap(),
        organisation: format!("Organisatie {oin}"),
        category: Category::School,
        national: true,
        role,
    }
}

#[tokio::test]
async fn accounts_lock_and_the_mail_outbox_fills_once_on_every_backend() {
    let dir = tempfile::tempdir().unwrap();
    for url in storage_urls(dir.path(), "web_storage").await {
        let db = crate::store::connect(&url).await.expect("migrations run");
        let school = partner(101, PartnerRole::Partner);
        let admin = partner(199, PartnerRole::Administrator);
        let now = 1_800_000_000_000_i64;
        let new = |p: &Partner, user: &str| NewAccount {
            partner: p.clone(),
            username: user.into(),
            email: format!("{}@example.nl", user.to_lowercase()),
            password: "een-lang-wachtwoord".into(),
        };
        let a = accounts::create(&db, new(&school, "A.Prof"), now)
            .await
            .unwrap();
        assert_eq!(a.username, "a.prof");
        assert_eq!(a.role, Role::Professional);
        accounts::create(&db, new(&school, "b.prof"), now)
            .await
            .unwrap();
        let boss = accounts::create(&db, new(&admin, "beheer"), now)
            .await
            .unwrap();
        assert_eq!(boss.role, Role::Administrator);
        let taken = accounts::create(&db, new(&school, "a.prof"), now).await;
        assert!(matches!(taken, Err(accounts::AccountError::Field(f)) if f.field == "username"));

        // Three failures of three allowed lock for a minute; the lock ends by the clock.
        for _ in 0..2 {
            let r = accounts::login(&db, "a.prof", "fout", now, 3, 60_000)
                .await
                .unwrap();
            assert!(matches!(r, Login::Refused));
        }
        let r = accounts::login(&db, "a.prof", "fout", now, 3, 60_000)
            .await
            .unwrap();
        assert!(matches!(r, Login::Locked(until) if until == now + 60_000));
        let r = accounts::login(
            &db,
            "a.prof",
            "een-lang-wachtwoord",
            now + 59_000,
            3,
            60_000,
        )
        .await
        .unwrap();
        assert!(matches!(r, Login::Locked(_)));
        let r = accounts::login(
            &db,
            "a.prof",
            "een-lang-wachtwoord",
            now + 61_000,
            3,
            60_000,
        )
        .await
        .unwrap();
        assert!(matches!(r, Login::Ok(_)));

        // A notice to the school: one mail per active account of the school, once.
        let mut notice = Notice::new(school.oin.as_str(), Topic::RenewalDue, now);
        notice.signal_id = "s-1".into();
        notice.bsn = "111222333".into();
        let mut tx = db.write().await.unwrap();
        notices::insert(&mut tx.tx, &notice).await.unwrap();
        // Accompanies a match mail: not mailed on its own.
        let quiet = Notice::new(school.oin.as_str(), Topic::ConsultationRequested, now);
        notices::insert(&mut tx.tx, &quiet).await.unwrap();
        tx.commit().await.unwrap();
        let queued = outbox::enqueue_new(&db, "https://vir.example", now)
            .await
            .unwrap();
        assert_eq!(queued, 2);
        assert_eq!(
            outbox::enqueue_new(&db, "https://vir.example", now)
                .await
                .unwrap(),
            0
        );
        let pending = outbox::pending(&db, 10).await.unwrap();
        let mut to: Vec<&str> = pending.iter().map(|p| p.recipient.as_str()).collect();
        to.sort();
        assert_eq!(to, ["a.prof@example.nl", "b.prof@example.nl"]);
        assert!(pending.iter().all(|p| !p.body.contains("111222333")));
        outbox::mark_failed(&db, &pending[0].id, "down")
            .await
            .unwrap();
        outbox::mark_sent(&db, &pending[1].id, now).await.unwrap();
        assert_eq!(outbox::unsent(&db).await.unwrap(), 1);

        // An account switched off gets no mail.
        accounts::set_active(&db, &a.id, false).await.unwrap();
        let mut tx = db.write().await.unwrap();
        notices::insert(
            &mut tx.tx,
            &Notice::new(school.oin.as_str(), Topic::PartyLeft, now),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(
            outbox::enqueue_new(&db, "https://vir.example", now)
                .await
                .unwrap(),
            1
        );
        db.close().await;
    }
}
