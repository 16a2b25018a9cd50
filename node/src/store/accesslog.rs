//! SQL for the access log (NEN 7513): `access_log` rows chained by SHA-256, and
//! `access_log_head`, the last sequence number and hash.
//!
//! Each row's hash covers its fields and the previous row's hash, so an edited row no longer
//! matches its hash, and a deleted row breaks the link of the next one (or, at the end, the
//! head). An append locks the head row first, so appends take turns and the chain never forks
//! (PostgreSQL re-reads the row after the lock; SQLite serialises writers anyway).

use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::StoreError;

/// The hash the first row links to.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What an entry says (NEN 7513: who, on whose behalf, action, object, result, when).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewEntry {
    pub at_ms: i64,
    /// The caller's OIN; empty for the node itself (scheduler).
    pub actor_oin: String,
    /// The organisation (or `scheduler`).
    pub actor: String,
    /// The person or role the actor acted for.
    pub on_behalf_of: String,
    pub action: String,
    /// e.g. `signal:<id>`, `match:<id>`, `youth`.
    pub object: String,
    /// The youth's pseudonym (see `crate::accesslog`), empty if none.
    pub subject: String,
    /// `ok` or the refusal's code.
    pub result: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub seq: i64,
    pub entry: NewEntry,
    pub prev_hash: String,
    pub hash: String,
}

/// The hash of a row: SHA-256 over the previous hash and every field, each length-prefixed so
/// that no two different rows give the same input.
pub fn row_hash(seq: i64, e: &NewEntry, prev_hash: &str) -> String {
    let mut h = Sha256::new();
    let at = e.at_ms.to_string();
    let seq = seq.to_string();
    for field in [
        prev_hash,
        &seq,
        &at,
        &e.actor_oin,
        &e.actor,
        &e.on_behalf_of,
        &e.action,
        &e.object,
        &e.subject,
        &e.result,
    ] {
        h.update((field.len() as u64).to_be_bytes());
        h.update(field.as_bytes());
    }
    hex::encode(h.finalize())
}

/// Appends entries at the end of the chain, in the caller's transaction.
pub async fn append(conn: &mut AnyConnection, entries: &[NewEntry]) -> Result<(), StoreError> {
    if entries.is_empty() {
        return Ok(());
    }
    // The no-op update takes the head's row lock before it is read.
    sqlx::query("UPDATE access_log_head SET seq = seq WHERE id = 1")
        .execute(&mut *conn)
        .await?;
    let head = sqlx::query("SELECT seq, hash FROM access_log_head WHERE id = 1")
        .fetch_one(&mut *conn)
        .await?;
    let mut seq: i64 = head.try_get("seq")?;
    let mut prev: String = head.try_get("hash")?;
    for e in entries {
        seq += 1;
        let hash = row_hash(seq, e, &prev);
        sqlx::query(
            "INSERT INTO access_log (seq, at_ms, actor_oin, actor, on_behalf_of, action, object, \
             subject, result, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(seq)
        .bind(e.at_ms)
        .bind(&e.actor_oin)
        .bind(&e.actor)
        .bind(&e.on_behalf_of)
        .bind(&e.action)
        .bind(&e.object)
        .bind(&e.subject)
        .bind(&e.result)
        .bind(&prev)
        .bind(&hash)
        .execute(&mut *conn)
        .await?;
        prev = hash;
    }
    sqlx::query("UPDATE access_log_head SET seq = $1, hash = $2 WHERE id = 1")
        .bind(seq)
        .bind(&prev)
        .execute(conn)
        .await?;
    Ok(())
}

fn from_row(row: &AnyRow) -> Result<Entry, StoreError> {
    Ok(Entry {
        seq: row.try_get("seq")?,
        entry: NewEntry {
            at_ms: row.try_get("at_ms")?,
            actor_oin: row.try_get("actor_oin")?,
            actor: row.try_get("actor")?,
            on_behalf_of: row.try_get("on_behalf_of")?,
            action: row.try_get("action")?,
            object: row.try_get("object")?,
            subject: row.try_get("subject")?,
            result: row.try_get("result")?,
        },
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}

const COLUMNS: &str = "seq, at_ms, actor_oin, actor, on_behalf_of, action, object, subject, \
     result, prev_hash, hash";

/// Entries from `from_seq` on, optionally of one subject and/or one actor, at most `limit`.
pub async fn query(
    conn: &mut AnyConnection,
    from_seq: i64,
    subject: Option<&str>,
    actor_oin: Option<&str>,
    limit: i64,
) -> Result<Vec<Entry>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM access_log WHERE seq >= $1 \
         AND ($2 = '' OR subject = $2) AND ($3 = '' OR actor_oin = $3) ORDER BY seq LIMIT $4"
    ))
    .bind(from_seq)
    .bind(subject.unwrap_or(""))
    .bind(actor_oin.unwrap_or(""))
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter().map(from_row).collect()
}

/// The chain's head: (last seq, its hash).
pub async fn head(conn: &mut AnyConnection) -> Result<(i64, String), StoreError> {
    let row = sqlx::query("SELECT seq, hash FROM access_log_head WHERE id = 1")
        .fetch_one(conn)
        .await?;
    Ok((row.try_get("seq")?, row.try_get("hash")?))
}

/// A node-local secret by name, created with `fresh` on first use; true if it existed before
/// this call (so it is committed), false if this call's transaction made it.
pub async fn secret(
    conn: &mut AnyConnection,
    name: &str,
    fresh: &str,
) -> Result<(String, bool), StoreError> {
    let query = "SELECT value FROM node_secrets WHERE name = $1";
    let existing: Option<String> = sqlx::query_scalar(query)
        .bind(name)
        .fetch_optional(&mut *conn)
        .await?;
    if let Some(value) = existing {
        return Ok((value, true));
    }
    sqlx::query(
        "INSERT INTO node_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
    )
    .bind(name)
    .bind(fresh)
    .execute(&mut *conn)
    .await?;
    // A concurrent first use may have won (PostgreSQL waits for it, then reads its value).
    let value = sqlx::query_scalar(query).bind(name).fetch_one(conn).await?;
    Ok((value, false))
}
