//! SQL for what links signals on different youths: the registry facts of a youth
//! (`youth_facts`), the regional family, address and confirmed candidate matches
//! (`link_matches`), and the key cache of parents, addresses and fallback identities
//! (`pseudo_keys`).

use sqlx::{AnyConnection, Row};
use vir_shared::keys::{KeyDomain, PseudoKey, KEY_LEN};

use super::StoreError;

pub const PARENT: &str = "parent";
pub const ADDRESS: &str = "address";
pub const FALLBACK: &str = "fallback";

/// The facts of a youth, as (kind, value) sorted.
pub async fn facts_of(
    conn: &mut AnyConnection,
    bsn: &str,
) -> Result<Vec<(String, String)>, StoreError> {
    let rows =
        sqlx::query("SELECT kind, value FROM youth_facts WHERE bsn = $1 ORDER BY kind, value")
            .bind(bsn)
            .fetch_all(conn)
            .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("kind")?, r.try_get("value")?)))
        .collect()
}

/// Replaces a youth's facts; true if they changed.
pub async fn replace_facts(
    conn: &mut AnyConnection,
    bsn: &str,
    facts: &[(String, String)],
) -> Result<bool, StoreError> {
    let mut wanted = facts.to_vec();
    wanted.sort();
    wanted.dedup();
    if facts_of(&mut *conn, bsn).await? == wanted {
        return Ok(false);
    }
    sqlx::query("DELETE FROM youth_facts WHERE bsn = $1")
        .bind(bsn)
        .execute(&mut *conn)
        .await?;
    for (kind, value) in &wanted {
        sqlx::query("INSERT INTO youth_facts (bsn, kind, value) VALUES ($1, $2, $3)")
            .bind(bsn)
            .bind(kind)
            .bind(value)
            .execute(&mut *conn)
            .await?;
    }
    Ok(true)
}

pub async fn forget_facts(conn: &mut AnyConnection, bsn: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM youth_facts WHERE bsn = $1")
        .bind(bsn)
        .execute(conn)
        .await?;
    Ok(())
}

/// Other youths with a fact of `kind` equal to `value`.
pub async fn youths_with(
    conn: &mut AnyConnection,
    kind: &str,
    value: &str,
    except_bsn: &str,
) -> Result<Vec<String>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT DISTINCT bsn FROM youth_facts WHERE kind = $1 AND value = $2 AND bsn <> $3 \
         ORDER BY bsn",
    )
    .bind(kind)
    .bind(value)
    .bind(except_bsn)
    .fetch_all(conn)
    .await?)
}

/// An open or ended regional link between two signals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub id: String,
    pub kind: String,
    pub signal_a: String,
    pub signal_b: String,
    pub created_ms: i64,
}

impl Link {
    /// The other signal of the link, seen from `signal_id`.
    pub fn other(&self, signal_id: &str) -> &str {
        if self.signal_a == signal_id {
            &self.signal_b
        } else {
            &self.signal_a
        }
    }
}

fn ordered<'a>(a: &'a str, b: &'a str) -> (&'a str, &'a str) {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

fn link_from(row: &sqlx::any::AnyRow) -> Result<Link, StoreError> {
    Ok(Link {
        id: row.try_get("id")?,
        kind: row.try_get("kind")?,
        signal_a: row.try_get("signal_a")?,
        signal_b: row.try_get("signal_b")?,
        created_ms: row.try_get("created_ms")?,
    })
}

/// The open link between two signals, if any.
pub async fn open_link(
    conn: &mut AnyConnection,
    a: &str,
    b: &str,
) -> Result<Option<Link>, StoreError> {
    let (a, b) = ordered(a, b);
    let row = sqlx::query(
        "SELECT id, kind, signal_a, signal_b, created_ms FROM link_matches \
         WHERE signal_a = $1 AND signal_b = $2 AND ended_ms IS NULL",
    )
    .bind(a)
    .bind(b)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(link_from).transpose()
}

pub async fn insert_link(
    conn: &mut AnyConnection,
    id: &str,
    kind: &str,
    a: &str,
    b: &str,
    now_ms: i64,
) -> Result<(), StoreError> {
    let (a, b) = ordered(a, b);
    sqlx::query(
        "INSERT INTO link_matches (id, kind, signal_a, signal_b, created_ms) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(kind)
    .bind(a)
    .bind(b)
    .bind(now_ms)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn end_link(conn: &mut AnyConnection, id: &str, now_ms: i64) -> Result<(), StoreError> {
    sqlx::query("UPDATE link_matches SET ended_ms = $1 WHERE id = $2 AND ended_ms IS NULL")
        .bind(now_ms)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Open links of a signal, oldest first.
pub async fn open_links_of(
    conn: &mut AnyConnection,
    signal_id: &str,
) -> Result<Vec<Link>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, kind, signal_a, signal_b, created_ms FROM link_matches \
         WHERE (signal_a = $1 OR signal_b = $1) AND ended_ms IS NULL ORDER BY created_ms, id",
    )
    .bind(signal_id)
    .fetch_all(conn)
    .await?;
    rows.iter().map(link_from).collect()
}

pub async fn count_open_links(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM link_matches WHERE ended_ms IS NULL")
            .fetch_one(conn)
            .await?,
    )
}

/// Erases every link of a signal (its destruction, 003 art. 16.2).
pub async fn erase_links(conn: &mut AnyConnection, signal_id: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM link_matches WHERE signal_a = $1 OR signal_b = $1")
        .bind(signal_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// A cached key for an input of a domain (a parent's BSN, an address, a fallback identity).
pub async fn cached_key(
    conn: &mut AnyConnection,
    domain: KeyDomain,
    input: &str,
) -> Result<Option<PseudoKey>, StoreError> {
    let row = sqlx::query(
        "SELECT key_value, key_version FROM pseudo_keys WHERE domain = $1 AND input = $2",
    )
    .bind(domain.label())
    .bind(input)
    .fetch_optional(conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let value: Vec<u8> = row.try_get("key_value")?;
    let version: i64 = row.try_get("key_version")?;
    Ok(Some(PseudoKey {
        domain,
        version: u32::try_from(version)
            .map_err(|_| StoreError::Corrupt("pseudo_keys.key_version"))?,
        value: <[u8; KEY_LEN]>::try_from(value.as_slice())
            .map_err(|_| StoreError::Corrupt("pseudo_keys.key_value"))?,
    }))
}

pub async fn store_key(
    conn: &mut AnyConnection,
    input: &str,
    key: &PseudoKey,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO pseudo_keys (domain, input, key_value, key_version) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (domain, input) DO UPDATE SET key_value = excluded.key_value, \
         key_version = excluded.key_version",
    )
    .bind(key.domain.label())
    .bind(input)
    .bind(key.value.to_vec())
    .bind(i64::from(key.version))
    .execute(conn)
    .await?;
    Ok(())
}
