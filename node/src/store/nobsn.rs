//! SQL for youths signalled without a BSN (`no_bsn_youths`, 002 art. 8.5-8.7) and for
//! candidate matches waiting for the administrator (`candidates`).

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::StoreError;

/// A youth without a usable BSN as the signaller described it, under its verwijsindexnummer.
/// `Debug` is redacted: these are personal data.
#[derive(Clone, PartialEq, Eq)]
pub struct NoBsnYouth {
    pub vin: String,
    pub partner_oin: String,
    pub surname: String,
    pub given_name: String,
    /// YYYY-MM-DD.
    pub birth_date: String,
    /// V, M or O.
    pub gender: String,
    pub municipality: String,
    /// '' and 0 when not given.
    pub postcode: String,
    pub house_number: u32,
    pub addition: String,
    /// The fallback-domain input.
    pub fallback: String,
    pub linked_bsn: Option<String>,
    pub created_ms: i64,
}

impl std::fmt::Debug for NoBsnYouth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NoBsnYouth(<redacted>)")
    }
}

const YOUTH_COLUMNS: &str = "vin, partner_oin, surname, given_name, birth_date, gender, \
     municipality, postcode, house_number, addition, fallback, linked_bsn, created_ms";

fn youth_from(row: &AnyRow) -> Result<NoBsnYouth, StoreError> {
    Ok(NoBsnYouth {
        vin: row.try_get("vin")?,
        partner_oin: row.try_get("partner_oin")?,
        surname: row.try_get("surname")?,
        given_name: row.try_get("given_name")?,
        birth_date: row.try_get("birth_date")?,
        gender: row.try_get("gender")?,
        municipality: row.try_get("municipality")?,
        postcode: row.try_get("postcode")?,
        house_number: u32::try_from(row.try_get::<i64, _>("house_number")?)
            .map_err(|_| StoreError::Corrupt("no_bsn_youths.house_number"))?,
        addition: row.try_get("addition")?,
        fallback: row.try_get("fallback")?,
        linked_bsn: row.try_get("linked_bsn")?,
        created_ms: row.try_get("created_ms")?,
    })
}

pub async fn insert_youth(conn: &mut AnyConnection, y: &NoBsnYouth) -> Result<(), StoreError> {
    sqlx::query(&format!(
        "INSERT INTO no_bsn_youths ({YOUTH_COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
    ))
    .bind(&y.vin)
    .bind(&y.partner_oin)
    .bind(&y.surname)
    .bind(&y.given_name)
    .bind(&y.birth_date)
    .bind(&y.gender)
    .bind(&y.municipality)
    .bind(&y.postcode)
    .bind(i64::from(y.house_number))
    .bind(&y.addition)
    .bind(&y.fallback)
    .bind(&y.linked_bsn)
    .bind(y.created_ms)
    .execute(conn)
    .await?;
    Ok(())
}

/// The youth behind a verwijsindexnummer, linked or not.
pub async fn youth(conn: &mut AnyConnection, vin: &str) -> Result<Option<NoBsnYouth>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {YOUTH_COLUMNS} FROM no_bsn_youths WHERE vin = $1"
    ))
    .bind(vin)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(youth_from).transpose()
}

/// The unlinked youths this organisation described with this fallback identity: the same
/// description again reuses the number (stable), so one organisation has one signal per youth.
pub async fn youths_described(
    conn: &mut AnyConnection,
    partner_oin: &str,
    fallback: &str,
) -> Result<Vec<NoBsnYouth>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {YOUTH_COLUMNS} FROM no_bsn_youths \
         WHERE partner_oin = $1 AND fallback = $2 AND linked_bsn IS NULL ORDER BY created_ms"
    ))
    .bind(partner_oin)
    .bind(fallback)
    .fetch_all(conn)
    .await?;
    rows.iter().map(youth_from).collect()
}

pub async fn mark_linked(
    conn: &mut AnyConnection,
    vin: &str,
    bsn: &str,
    now_ms: i64,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE no_bsn_youths SET linked_bsn = $1, linked_ms = $2 WHERE vin = $3")
        .bind(bsn)
        .bind(now_ms)
        .bind(vin)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn forget_youth(conn: &mut AnyConnection, vin: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM no_bsn_youths WHERE vin = $1")
        .bind(vin)
        .execute(conn)
        .await?;
    Ok(())
}

/// A candidate match. Regional: `other_signal_id` set; cross-regional: `hub_match_id` set.
#[derive(Clone, PartialEq, Eq)]
pub struct CandidateRow {
    pub id: String,
    /// pending | confirmed | rejected | closed
    pub status: String,
    pub signal_id: String,
    pub other_signal_id: String,
    pub hub_match_id: String,
    pub other_region: String,
    pub other_signal_ref: String,
    pub recipient_key: Option<String>,
    pub other_party: Option<String>,
    pub created_ms: i64,
    pub decided_ms: Option<i64>,
    pub decided_by: Option<String>,
}

impl std::fmt::Debug for CandidateRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CandidateRow")
            .field("id", &self.id)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

const CANDIDATE_COLUMNS: &str = "id, status, signal_id, other_signal_id, hub_match_id, \
     other_region, other_signal_ref, recipient_key, other_party, created_ms, decided_ms, decided_by";

fn candidate_from(row: &AnyRow) -> Result<CandidateRow, StoreError> {
    Ok(CandidateRow {
        id: row.try_get("id")?,
        status: row.try_get("status")?,
        signal_id: row.try_get("signal_id")?,
        other_signal_id: row.try_get("other_signal_id")?,
        hub_match_id: row.try_get("hub_match_id")?,
        other_region: row.try_get("other_region")?,
        other_signal_ref: row.try_get("other_signal_ref")?,
        recipient_key: row.try_get("recipient_key")?,
        other_party: row.try_get("other_party")?,
        created_ms: row.try_get("created_ms")?,
        decided_ms: row.try_get("decided_ms")?,
        decided_by: row.try_get("decided_by")?,
    })
}

pub async fn insert_candidate(
    conn: &mut AnyConnection,
    c: &CandidateRow,
) -> Result<(), StoreError> {
    sqlx::query(&format!(
        "INSERT INTO candidates ({CANDIDATE_COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    ))
    .bind(&c.id)
    .bind(&c.status)
    .bind(&c.signal_id)
    .bind(&c.other_signal_id)
    .bind(&c.hub_match_id)
    .bind(&c.other_region)
    .bind(&c.other_signal_ref)
    .bind(&c.recipient_key)
    .bind(&c.other_party)
    .bind(c.created_ms)
    .bind(c.decided_ms)
    .bind(&c.decided_by)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn candidate(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<CandidateRow>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {CANDIDATE_COLUMNS} FROM candidates WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(candidate_from).transpose()
}

pub async fn candidate_of_hub_match(
    conn: &mut AnyConnection,
    hub_match_id: &str,
) -> Result<Option<CandidateRow>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {CANDIDATE_COLUMNS} FROM candidates WHERE hub_match_id = $1 AND hub_match_id <> ''"
    ))
    .bind(hub_match_id)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(candidate_from).transpose()
}

/// Whether two local signals were ever proposed as a candidate (in any status): a rejected
/// pair is never proposed again.
pub async fn regional_pair_known(
    conn: &mut AnyConnection,
    a: &str,
    b: &str,
) -> Result<bool, StoreError> {
    let found: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM candidates WHERE hub_match_id = '' AND \
         ((signal_id = $1 AND other_signal_id = $2) OR (signal_id = $2 AND other_signal_id = $1))",
    )
    .bind(a)
    .bind(b)
    .fetch_one(conn)
    .await?;
    Ok(found > 0)
}

/// Candidates, oldest first; only pending ones with `pending_only`.
pub async fn candidates(
    conn: &mut AnyConnection,
    pending_only: bool,
) -> Result<Vec<CandidateRow>, StoreError> {
    let filter = if pending_only {
        "WHERE status = 'pending'"
    } else {
        ""
    };
    let rows = sqlx::query(&format!(
        "SELECT {CANDIDATE_COLUMNS} FROM candidates {filter} ORDER BY created_ms, id"
    ))
    .fetch_all(conn)
    .await?;
    rows.iter().map(candidate_from).collect()
}

/// Pending candidates in which a signal takes part.
pub async fn pending_of_signal(
    conn: &mut AnyConnection,
    signal_id: &str,
) -> Result<Vec<CandidateRow>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {CANDIDATE_COLUMNS} FROM candidates \
         WHERE (signal_id = $1 OR other_signal_id = $1) AND status = 'pending'"
    ))
    .bind(signal_id)
    .fetch_all(conn)
    .await?;
    rows.iter().map(candidate_from).collect()
}

pub async fn decide(
    conn: &mut AnyConnection,
    id: &str,
    status: &str,
    by: &str,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE candidates SET status = $1, decided_by = $2, decided_ms = $3 \
         WHERE id = $4 AND status = 'pending'",
    )
    .bind(status)
    .bind(by)
    .bind(now_ms)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Closes a candidate that can no longer be decided (a side ended, or a link superseded it).
pub async fn close(conn: &mut AnyConnection, id: &str, now_ms: i64) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE candidates SET status = 'closed', decided_ms = $1, other_party = NULL \
         WHERE id = $2 AND status = 'pending'",
    )
    .bind(now_ms)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Keeps the other side's party (opened envelope) until the decision.
pub async fn set_other_party(
    conn: &mut AnyConnection,
    id: &str,
    party_json: Option<&str>,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE candidates SET other_party = $1 WHERE id = $2")
        .bind(party_json)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Erases every candidate of a signal (its destruction).
pub async fn erase_candidates(conn: &mut AnyConnection, signal_id: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM candidates WHERE signal_id = $1 OR other_signal_id = $1")
        .bind(signal_id)
        .execute(conn)
        .await?;
    Ok(())
}
