//! SQL for matches: regional client matches with their members, and the cross-regional matches
//! the hub reports (`remote_matches`).

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use vir_shared::Bsn;

use super::StoreError;

/// The open regional match on a youth, if any: (id, created_ms).
pub async fn open_on_youth(
    conn: &mut AnyConnection,
    bsn: &Bsn,
) -> Result<Option<(String, i64)>, StoreError> {
    let row = sqlx::query(
        "SELECT id, created_ms FROM regional_matches WHERE bsn = $1 AND ended_ms IS NULL",
    )
    .bind(bsn.as_str())
    .fetch_optional(conn)
    .await?;
    Ok(match row {
        Some(row) => Some((row.try_get("id")?, row.try_get("created_ms")?)),
        None => None,
    })
}

pub async fn create(
    conn: &mut AnyConnection,
    id: &str,
    bsn: &Bsn,
    now_ms: i64,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO regional_matches (id, bsn, created_ms) VALUES ($1, $2, $3)")
        .bind(id)
        .bind(bsn.as_str())
        .bind(now_ms)
        .execute(conn)
        .await?;
    Ok(())
}

/// Signal ids currently in a match (joined and not left).
pub async fn current_members(
    conn: &mut AnyConnection,
    match_id: &str,
) -> Result<Vec<String>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT signal_id FROM match_members WHERE match_id = $1 AND left_ms IS NULL \
         ORDER BY joined_ms, signal_id",
    )
    .bind(match_id)
    .fetch_all(conn)
    .await?)
}

pub async fn add_member(
    conn: &mut AnyConnection,
    match_id: &str,
    signal_id: &str,
    now_ms: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO match_members (match_id, signal_id, joined_ms) VALUES ($1, $2, $3) \
         ON CONFLICT (match_id, signal_id) DO NOTHING",
    )
    .bind(match_id)
    .bind(signal_id)
    .bind(now_ms)
    .execute(conn)
    .await?;
    Ok(())
}

/// Takes a signal out of the regional matches it is in; returns the ids of those matches.
pub async fn leave_all(
    conn: &mut AnyConnection,
    signal_id: &str,
    now_ms: i64,
) -> Result<Vec<String>, StoreError> {
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT match_id FROM match_members WHERE signal_id = $1 AND left_ms IS NULL",
    )
    .bind(signal_id)
    .fetch_all(&mut *conn)
    .await?;
    sqlx::query("UPDATE match_members SET left_ms = $1 WHERE signal_id = $2 AND left_ms IS NULL")
        .bind(now_ms)
        .bind(signal_id)
        .execute(conn)
        .await?;
    Ok(ids)
}

pub async fn end(conn: &mut AnyConnection, match_id: &str, now_ms: i64) -> Result<(), StoreError> {
    sqlx::query("UPDATE regional_matches SET ended_ms = $1 WHERE id = $2 AND ended_ms IS NULL")
        .bind(now_ms)
        .bind(match_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// The open regional match a signal is in, with the match's creation time.
pub async fn open_of_signal(
    conn: &mut AnyConnection,
    signal_id: &str,
) -> Result<Option<(String, i64)>, StoreError> {
    let row = sqlx::query(
        "SELECT m.id, m.created_ms FROM match_members mm \
         JOIN regional_matches m ON m.id = mm.match_id \
         WHERE mm.signal_id = $1 AND mm.left_ms IS NULL AND m.ended_ms IS NULL",
    )
    .bind(signal_id)
    .fetch_optional(conn)
    .await?;
    Ok(match row {
        Some(row) => Some((row.try_get("id")?, row.try_get("created_ms")?)),
        None => None,
    })
}

/// A cross-regional match as this node knows it.
#[derive(Clone, PartialEq, Eq)]
pub struct RemoteMatch {
    pub hub_match_id: String,
    pub signal_id: String,
    pub kind: String,
    pub other_region: String,
    pub other_signal_ref: String,
    /// JSON of the opened envelope ([`crate::party::Party`]); None until it arrives.
    pub other_party: Option<String>,
    pub created_ms: i64,
    pub ended_ms: Option<i64>,
    /// The other node's certified HPKE key, to seal a correction of our signaller's details to
    /// (002 art. 19, 23). None where its certificate did not verify, and for matches recorded
    /// before the key was kept (migration 0040).
    pub other_hpke_key: Option<[u8; 32]>,
}

impl std::fmt::Debug for RemoteMatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteMatch")
            .field("hub_match_id", &self.hub_match_id)
            .field("other_region", &self.other_region)
            .finish_non_exhaustive()
    }
}

const REMOTE_COLUMNS: &str = "hub_match_id, signal_id, kind, other_region, other_signal_ref, \
     other_party, created_ms, ended_ms, other_hpke_key";

fn remote_from_row(row: &AnyRow) -> Result<RemoteMatch, StoreError> {
    Ok(RemoteMatch {
        hub_match_id: row.try_get("hub_match_id")?,
        signal_id: row.try_get("signal_id")?,
        kind: row.try_get("kind")?,
        other_region: row.try_get("other_region")?,
        other_signal_ref: row.try_get("other_signal_ref")?,
        other_party: row.try_get("other_party")?,
        created_ms: row.try_get("created_ms")?,
        ended_ms: row.try_get("ended_ms")?,
        other_hpke_key: match row.try_get::<Option<Vec<u8>>, _>("other_hpke_key")? {
            None => None,
            Some(bytes) => Some(
                <[u8; 32]>::try_from(bytes.as_slice())
                    .map_err(|_| StoreError::Corrupt("remote_matches.other_hpke_key"))?,
            ),
        },
    })
}

pub async fn insert_remote(conn: &mut AnyConnection, m: &RemoteMatch) -> Result<(), StoreError> {
    sqlx::query(&format!(
        "INSERT INTO remote_matches ({REMOTE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    ))
    .bind(&m.hub_match_id)
    .bind(&m.signal_id)
    .bind(&m.kind)
    .bind(&m.other_region)
    .bind(&m.other_signal_ref)
    .bind(&m.other_party)
    .bind(m.created_ms)
    .bind(m.ended_ms)
    .bind(m.other_hpke_key.map(|k| k.to_vec()))
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn remote(
    conn: &mut AnyConnection,
    hub_match_id: &str,
) -> Result<Option<RemoteMatch>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {REMOTE_COLUMNS} FROM remote_matches WHERE hub_match_id = $1"
    ))
    .bind(hub_match_id)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(remote_from_row).transpose()
}

/// Every open cross-regional match, oldest first (a resync ends those the hub no longer has).
pub async fn open_remote_all(conn: &mut AnyConnection) -> Result<Vec<RemoteMatch>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {REMOTE_COLUMNS} FROM remote_matches WHERE ended_ms IS NULL \
         ORDER BY created_ms, hub_match_id"
    ))
    .fetch_all(conn)
    .await?;
    rows.iter().map(remote_from_row).collect()
}

/// Open cross-regional matches of a signal, oldest first.
pub async fn open_remote_of_signal(
    conn: &mut AnyConnection,
    signal_id: &str,
) -> Result<Vec<RemoteMatch>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {REMOTE_COLUMNS} FROM remote_matches WHERE signal_id = $1 AND ended_ms IS NULL \
         ORDER BY created_ms, hub_match_id"
    ))
    .bind(signal_id)
    .fetch_all(conn)
    .await?;
    rows.iter().map(remote_from_row).collect()
}

pub async fn set_remote_party(
    conn: &mut AnyConnection,
    hub_match_id: &str,
    party_json: &str,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE remote_matches SET other_party = $1 WHERE hub_match_id = $2")
        .bind(party_json)
        .bind(hub_match_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Ends one remote match (the hub said so) or all of a signal's (it stopped being active).
pub async fn end_remote(
    conn: &mut AnyConnection,
    hub_match_id: &str,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE remote_matches SET ended_ms = $1 WHERE hub_match_id = $2 AND ended_ms IS NULL",
    )
    .bind(now_ms)
    .bind(hub_match_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn end_remote_of_signal(
    conn: &mut AnyConnection,
    signal_id: &str,
    now_ms: i64,
) -> Result<u64, StoreError> {
    let done = sqlx::query(
        "UPDATE remote_matches SET ended_ms = $1 WHERE signal_id = $2 AND ended_ms IS NULL",
    )
    .bind(now_ms)
    .bind(signal_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// Open matches: regional ones plus cross-regional ones.
pub async fn count_open(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    let regional: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM regional_matches WHERE ended_ms IS NULL")
            .fetch_one(&mut *conn)
            .await?;
    let remote: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM remote_matches WHERE ended_ms IS NULL")
            .fetch_one(conn)
            .await?;
    Ok(regional + remote)
}
