//! The mail outbox: turning notifications and notices into mails, and marking them sent.
//!
//! Notifications and notices share the `notification` counter, taken in their writing
//! transaction while the counter row is locked, so their `seq` values become visible in
//! increasing order. [`enqueue_new`] reads everything after `mail_cursor.last_seq`, writes one
//! `mail_outbox` row per recipient and moves the cursor, in one transaction: a crash before the
//! commit reads the same rows again, after it the mails are in the outbox. Rows stay until the
//! SMTP server accepted them, so nothing is lost on a restart.

use sqlx::{AnyConnection, Row};
use vir_shared::db::Db;

use super::compose::{self, MailText};

/// Notifications and notices read per round.
const SCAN_BATCH: i64 = 200;

/// One thing that was told to an organisation.
struct Told {
    seq: i64,
    source: String,
    partner_oin: String,
    match_id: String,
    /// Empty for a match notification.
    topic: String,
}

async fn told_after(conn: &mut AnyConnection, after: i64) -> Result<Vec<Told>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT seq, id, partner_oin, match_id, '' AS topic, 'notification' AS kind \
         FROM notifications WHERE seq > $1 \
         UNION ALL \
         SELECT seq, id, partner_oin, match_id, topic, 'notice' AS kind \
         FROM notices WHERE seq > $2 \
         ORDER BY seq LIMIT $3",
    )
    .bind(after)
    .bind(after)
    .bind(SCAN_BATCH)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            let kind: String = r.try_get("kind")?;
            let id: String = r.try_get("id")?;
            Ok(Told {
                seq: r.try_get("seq")?,
                source: format!("{kind}:{id}"),
                partner_oin: r.try_get("partner_oin")?,
                match_id: r.try_get("match_id")?,
                topic: r.try_get("topic")?,
            })
        })
        .collect()
}

fn text_of(told: &Told, base_url: &str) -> Option<MailText> {
    if told.source.starts_with("notification:") {
        Some(compose::for_match(base_url, &told.match_id))
    } else {
        compose::for_notice(base_url, &told.topic, &told.match_id)
    }
}

/// Queues mails for what was told since the cursor; returns how many mails were queued.
/// Repeats until nothing new is left.
pub async fn enqueue_new(db: &Db, base_url: &str, now_ms: i64) -> Result<usize, sqlx::Error> {
    let mut queued = 0;
    loop {
        let mut tx = db.write().await?;
        let cursor: i64 = sqlx::query_scalar("SELECT last_seq FROM mail_cursor WHERE id = 1")
            .fetch_one(&mut **tx)
            .await?;
        let told = told_after(&mut tx, cursor).await?;
        let Some(last) = told.last().map(|t| t.seq) else {
            return Ok(queued);
        };
        for t in &told {
            let Some(text) = text_of(t, base_url) else {
                continue;
            };
            let recipients =
                crate::web::accounts::active_of_partner(&mut tx, &t.partner_oin).await?;
            for account in recipients {
                let done = sqlx::query(
                    "INSERT INTO mail_outbox \
                     (id, source, recipient, subject, body, created_ms, attempts, last_error, sent_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, 0, NULL, NULL) \
                     ON CONFLICT (source, recipient) DO NOTHING",
                )
                .bind(uuid::Uuid::new_v4().to_string())
                .bind(&t.source)
                .bind(&account.email)
                .bind(&text.subject)
                .bind(&text.body)
                .bind(now_ms)
                .execute(&mut **tx)
                .await?;
                queued += done.rows_affected() as usize;
            }
        }
        sqlx::query("UPDATE mail_cursor SET last_seq = $1 WHERE id = 1")
            .bind(last)
            .execute(&mut **tx)
            .await?;
        tx.commit().await?;
    }
}

/// A mail waiting to be sent.
#[derive(Clone)]
pub struct Pending {
    pub id: String,
    pub recipient: String,
    pub subject: String,
    pub body: String,
    pub attempts: i64,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("id", &self.id)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

/// The oldest unsent mails.
pub async fn pending(db: &Db, limit: i64) -> Result<Vec<Pending>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, recipient, subject, body, attempts FROM mail_outbox \
         WHERE sent_ms IS NULL ORDER BY created_ms, id LIMIT $1",
    )
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Pending {
                id: r.try_get("id")?,
                recipient: r.try_get("recipient")?,
                subject: r.try_get("subject")?,
                body: r.try_get("body")?,
                attempts: r.try_get("attempts")?,
            })
        })
        .collect()
}

pub async fn mark_sent(db: &Db, id: &str, now_ms: i64) -> Result<(), sqlx::Error> {
    let mut tx = db.write().await?;
    sqlx::query("UPDATE mail_outbox SET sent_ms = $1, attempts = attempts + 1 WHERE id = $2")
        .bind(now_ms)
        .bind(id)
        .execute(&mut **tx)
        .await?;
    tx.commit().await
}

pub async fn mark_failed(db: &Db, id: &str, error: &str) -> Result<(), sqlx::Error> {
    let mut tx = db.write().await?;
    sqlx::query("UPDATE mail_outbox SET attempts = attempts + 1, last_error = $1 WHERE id = $2")
        .bind(error)
        .bind(id)
        .execute(&mut **tx)
        .await?;
    tx.commit().await
}

/// Unsent mails (operators watch this; it is the mail outbox depth).
pub async fn unsent(db: &Db) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM mail_outbox WHERE sent_ms IS NULL")
        .fetch_one(&db.pool)
        .await
}
