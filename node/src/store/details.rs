//! SQL for `signal_details` (what the rules add to a signal: urgency, chain registration,
//! renewal, the informing record and which prompts were sent) and for `followup_queue` (youths
//! whose matches changed and need their follow-up).

use chrono::NaiveDate;
use sqlx::{AnyConnection, Row};
use vir_shared::Bsn;

use super::{format_date, parse_date, StoreError};
use crate::rules::Addressee;

/// The informing record of a signal (003 art. 9.5). `Debug` omits the reason.
#[derive(Clone, PartialEq, Eq)]
pub struct Informing {
    /// None when postponed.
    pub informed: Option<Addressee>,
    pub informed_on: Option<NaiveDate>,
    /// Why informing is postponed (003 art. 9.3).
    pub postponed_reason: Option<String>,
    pub recorded_ms: i64,
}

impl std::fmt::Debug for Informing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Informing")
            .field("informed", &self.informed)
            .field("postponed", &self.postponed_reason.is_some())
            .finish()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Details {
    /// 0 none, 1 "laag", 2 "urgent" (004 §5, §12).
    pub urgency: u32,
    pub chain_registration: bool,
    pub renewed_ms: Option<i64>,
    pub renewals: i64,
    pub informing: Option<Informing>,
    pub informing_prompted_ms: Option<i64>,
    pub archive_told_ms: Option<i64>,
    pub renewal_reminded_for: Option<NaiveDate>,
}

pub const URGENT: u32 = 2;

/// Writes the details of a new signal (in the signal's transaction).
pub async fn insert(
    conn: &mut AnyConnection,
    signal_id: &str,
    urgency: u32,
    chain_registration: bool,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO signal_details (signal_id, urgency, chain_registration) VALUES ($1, $2, $3) \
         ON CONFLICT (signal_id) DO NOTHING",
    )
    .bind(signal_id)
    .bind(i64::from(urgency))
    .bind(i64::from(chain_registration))
    .execute(conn)
    .await?;
    Ok(())
}

/// The details of a signal; defaults for a signal stored before they existed.
pub async fn get(conn: &mut AnyConnection, signal_id: &str) -> Result<Details, StoreError> {
    let row = sqlx::query(
        "SELECT urgency, chain_registration, renewed_ms, renewals, informed, informed_on, \
         postponed_reason, informing_recorded_ms, informing_prompted_ms, archive_told_ms, \
         renewal_reminded_for FROM signal_details WHERE signal_id = $1",
    )
    .bind(signal_id)
    .fetch_optional(conn)
    .await?;
    let Some(row) = row else {
        return Ok(Details::default());
    };
    let date = |name: &'static str| -> Result<Option<NaiveDate>, StoreError> {
        let text: Option<String> = row.try_get(name)?;
        text.map(|t| parse_date(&t, "signal_details date"))
            .transpose()
    };
    let recorded: Option<i64> = row.try_get("informing_recorded_ms")?;
    let informed: Option<String> = row.try_get("informed")?;
    let informing = match recorded {
        Some(recorded_ms) => Some(Informing {
            informed: match informed {
                Some(text) => Some(
                    Addressee::parse(&text)
                        .ok_or(StoreError::Corrupt("signal_details.informed"))?,
                ),
                None => None,
            },
            informed_on: date("informed_on")?,
            postponed_reason: row.try_get("postponed_reason")?,
            recorded_ms,
        }),
        None => None,
    };
    Ok(Details {
        urgency: u32::try_from(row.try_get::<i64, _>("urgency")?).unwrap_or(0),
        chain_registration: row.try_get::<i64, _>("chain_registration")? != 0,
        renewed_ms: row.try_get("renewed_ms")?,
        renewals: row.try_get("renewals")?,
        informing,
        informing_prompted_ms: row.try_get("informing_prompted_ms")?,
        archive_told_ms: row.try_get("archive_told_ms")?,
        renewal_reminded_for: date("renewal_reminded_for")?,
    })
}

/// Makes sure a signal has a details row, so the updates below always find one.
async fn ensure(conn: &mut AnyConnection, signal_id: &str) -> Result<(), StoreError> {
    insert(conn, signal_id, 0, false).await
}

pub async fn set_informing(
    conn: &mut AnyConnection,
    signal_id: &str,
    informing: &Informing,
) -> Result<(), StoreError> {
    ensure(&mut *conn, signal_id).await?;
    sqlx::query(
        "UPDATE signal_details SET informed = $1, informed_on = $2, postponed_reason = $3, \
         informing_recorded_ms = $4 WHERE signal_id = $5",
    )
    .bind(informing.informed.map(Addressee::as_str))
    .bind(informing.informed_on.map(format_date))
    .bind(informing.postponed_reason.as_deref())
    .bind(informing.recorded_ms)
    .bind(signal_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Sets one of the `*_ms` markers (`informing_prompted_ms`, `archive_told_ms`, `renewed_ms`).
pub async fn mark(
    conn: &mut AnyConnection,
    signal_id: &str,
    column: Marker,
    now_ms: i64,
) -> Result<(), StoreError> {
    ensure(&mut *conn, signal_id).await?;
    let sql = match column {
        Marker::InformingPrompted => {
            "UPDATE signal_details SET informing_prompted_ms = $1 WHERE signal_id = $2"
        }
        Marker::ArchiveTold => {
            "UPDATE signal_details SET archive_told_ms = $1 WHERE signal_id = $2"
        }
        Marker::Renewed => {
            "UPDATE signal_details SET renewed_ms = $1, renewals = renewals + 1, \
             renewal_reminded_for = NULL WHERE signal_id = $2"
        }
    };
    sqlx::query(sql)
        .bind(now_ms)
        .bind(signal_id)
        .execute(conn)
        .await?;
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    InformingPrompted,
    ArchiveTold,
    Renewed,
}

pub async fn set_renewal_reminded(
    conn: &mut AnyConnection,
    signal_id: &str,
    end_date: NaiveDate,
) -> Result<(), StoreError> {
    ensure(&mut *conn, signal_id).await?;
    sqlx::query("UPDATE signal_details SET renewal_reminded_for = $1 WHERE signal_id = $2")
        .bind(format_date(end_date))
        .bind(signal_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Queues a youth for its follow-up (see `crate::followup`), in the caller's transaction.
pub async fn enqueue(conn: &mut AnyConnection, bsn: &Bsn, now_ms: i64) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO followup_queue (bsn, queued_ms) VALUES ($1, $2) \
         ON CONFLICT (bsn) DO UPDATE SET queued_ms = excluded.queued_ms",
    )
    .bind(bsn.as_str())
    .bind(now_ms)
    .execute(conn)
    .await?;
    Ok(())
}

/// The oldest queued youths, with the time they were queued.
pub async fn queued(conn: &mut AnyConnection, limit: i64) -> Result<Vec<(Bsn, i64)>, StoreError> {
    let rows = sqlx::query("SELECT bsn, queued_ms FROM followup_queue ORDER BY queued_ms LIMIT $1")
        .bind(limit)
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|row| {
            let bsn: String = row.try_get("bsn")?;
            Ok((
                bsn.parse()
                    .map_err(|_| StoreError::Corrupt("followup_queue.bsn"))?,
                row.try_get("queued_ms")?,
            ))
        })
        .collect()
}

/// Takes a youth off the queue unless it was queued again after `queued_ms`.
pub async fn dequeue(
    conn: &mut AnyConnection,
    bsn: &Bsn,
    queued_ms: i64,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM followup_queue WHERE bsn = $1 AND queued_ms <= $2")
        .bind(bsn.as_str())
        .bind(queued_ms)
        .execute(conn)
        .await?;
    Ok(())
}
