//! The node's storage: signals with full identity, regional and remote matches, notifications,
//! the outbox towards the hub, and the feed position, on SQLite or PostgreSQL.
//!
//! Submodules hold the SQL of one table family each; they take an `&mut AnyConnection`, so a
//! caller composes them inside one write transaction (`Db::write`). The architecture
//! invariants live in the callers: a signal and its outbox entry are written in one transaction
//! ([`crate::index`]); a feed item and the new feed position are written in one transaction
//! ([`crate::feed`]).
//!
//! Runtime queries only, `$n` placeholders, times as Unix ms, dates as `YYYY-MM-DD`.

pub mod feed;
pub mod inzage;
pub mod links;
pub mod matches;
pub mod nobsn;
pub mod notifications;
pub mod outbox;
pub mod signals;

// The regions' rules (issue 6).
pub mod accesslog;
pub mod consultations;
pub mod coordination;
pub mod details;
pub mod erase;
pub mod lifecycle;
pub mod notices;
pub mod objections;

// Verhuizing (issue 5).
pub mod moves;

use chrono::NaiveDate;
use sqlx::migrate::Migrator;
use sqlx::AnyConnection;
use vir_shared::db::{Db, DbError, Tuning};

pub static SQLITE_MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");
pub static POSTGRES_MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// Connects to the node's storage and runs its migrations. Write transactions go one at a time
/// on PostgreSQL as on SQLite: they take the `counters` rows (outbox, notification) in an order
/// that depends on what they do (a new signal with a regional match, a match from the hub with
/// an envelope to queue), and concurrent ones deadlocked (seen in `backup_restore` on CI).
///
/// On SQLite the WAL is checkpointed in the background once a second, as on the hub, and the
/// writer checkpoints only as a backstop: a checkpoint inside a commit synced the database file
/// on the way of a signal to the hub and of a notification to its professional (50 times per
/// node in one `vir-bench --only latency` run, 2.4 ms each on average; BENCHMARKS.md).
pub async fn connect(url: &str) -> Result<Db, DbError> {
    let tuning = Tuning {
        // 10,000 pages (40 MB of WAL) if the background checkpoints fall behind.
        sqlite_writer: &["PRAGMA wal_autocheckpoint = 10000"],
        postgres_serialised_writes: true,
        ..Tuning::default()
    };
    let db = Db::connect_tuned(url, &SQLITE_MIGRATOR, &POSTGRES_MIGRATOR, tuning).await?;
    db.spawn_background_checkpoints(vir_shared::db::BACKGROUND_CHECKPOINT_EVERY);
    Ok(db)
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage: {0}")]
    Sqlx(#[from] sqlx::Error),
    /// The partial unique index `signals_one_active` (or the check before it) refused.
    #[error("this organisation already has an active signal on this youth")]
    AlreadyActive,
    /// A stored value that does not parse back: a bug or tampering, never user input.
    #[error("corrupt stored value in {0}")]
    Corrupt(&'static str),
}

impl StoreError {
    /// Maps a unique violation on the signals table to [`StoreError::AlreadyActive`]; under
    /// PostgreSQL two concurrent creates can both pass the check and only the index catches it.
    pub(crate) fn from_insert(e: sqlx::Error) -> StoreError {
        match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::AlreadyActive,
            _ => StoreError::Sqlx(e),
        }
    }
}

/// Counter rows, each in `counters`.
pub mod counter {
    pub const OUTBOX: &str = "outbox";
    pub const NOTIFICATION: &str = "notification";
    pub const FEED_SKIPPED: &str = "feed_skipped";
}

/// Takes the next value of a counter inside the caller's transaction. The row lock serialises
/// concurrent writers, so values become visible in the order they are taken (unlike a
/// PostgreSQL sequence, whose values can commit out of order).
pub async fn next_value(conn: &mut AnyConnection, name: &str) -> Result<i64, StoreError> {
    let value: i64 =
        sqlx::query_scalar("UPDATE counters SET value = value + 1 WHERE name = $1 RETURNING value")
            .bind(name)
            .fetch_one(conn)
            .await?;
    Ok(value)
}

pub async fn counter_value(conn: &mut AnyConnection, name: &str) -> Result<i64, StoreError> {
    let value: i64 = sqlx::query_scalar("SELECT value FROM counters WHERE name = $1")
        .bind(name)
        .fetch_one(conn)
        .await?;
    Ok(value)
}

pub(crate) fn format_date(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

pub(crate) fn parse_date(text: &str, what: &'static str) -> Result<NaiveDate, StoreError> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| StoreError::Corrupt(what))
}

#[cfg(test)]
mod family_tests;
#[cfg(test)]
mod tests;
