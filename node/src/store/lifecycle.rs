//! SQL the lifecycle rules need on `signals` and `youths` beyond the spine's: renewal, the
//! archive, the youths to look at daily, a correction of the signaller's contact details.

use chrono::{DateTime, NaiveDate};
use sqlx::{AnyConnection, Row};
use vir_shared::Bsn;

use super::{format_date, signals, StoreError};
use crate::signal::{Contact, Signal, SignalStatus};

/// The day a signal stopped being active: the withdrawal day (inactive) or the end date
/// (expired: active while today < end_date). None while active.
pub fn ended_on(signal: &Signal) -> Option<NaiveDate> {
    match signal.status {
        SignalStatus::Active => None,
        SignalStatus::Expired => Some(signal.end_date),
        SignalStatus::Inactive => Some(
            signal
                .withdrawn_ms
                .and_then(DateTime::from_timestamp_millis)
                .map(|t| t.date_naive())
                .unwrap_or(signal.end_date),
        ),
    }
}

async fn by_ids(conn: &mut AnyConnection, ids: Vec<String>) -> Result<Vec<Signal>, StoreError> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(signal) = signals::get(&mut *conn, &id).await? {
            out.push(signal);
        }
    }
    Ok(out)
}

/// Every signal on a youth, active and archived, oldest first.
pub async fn all_on_youth(conn: &mut AnyConnection, bsn: &Bsn) -> Result<Vec<Signal>, StoreError> {
    let ids: Vec<String> =
        sqlx::query_scalar("SELECT id FROM signals WHERE bsn = $1 ORDER BY created_ms, id")
            .bind(bsn.as_str())
            .fetch_all(&mut *conn)
            .await?;
    by_ids(conn, ids).await
}

/// The archive on a youth: its inactive and expired signals, oldest first (003 art. 16.2).
pub async fn archived_on_youth(
    conn: &mut AnyConnection,
    bsn: &Bsn,
) -> Result<Vec<Signal>, StoreError> {
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM signals WHERE bsn = $1 AND status <> 'active' ORDER BY created_ms, id",
    )
    .bind(bsn.as_str())
    .fetch_all(&mut *conn)
    .await?;
    by_ids(conn, ids).await
}

/// Archived signals that ended on or before `cutoff` (past the archive term), at most `limit`.
pub async fn past_archive_term(
    conn: &mut AnyConnection,
    cutoff: NaiveDate,
    limit: i64,
) -> Result<Vec<Signal>, StoreError> {
    // An inactive signal ended on its withdrawal day: before the start of the day after cutoff.
    let next_day_ms = cutoff
        .succ_opt()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_millis())
        .unwrap_or(i64::MAX);
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM signals WHERE (status = 'expired' AND end_date <= $1) \
         OR (status = 'inactive' AND withdrawn_ms < $2) ORDER BY id LIMIT $3",
    )
    .bind(format_date(cutoff))
    .bind(next_day_ms)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    by_ids(conn, ids).await
}

/// Active signals whose end date is on or before `until` (for renewal reminders).
pub async fn ending_by(
    conn: &mut AnyConnection,
    until: NaiveDate,
    limit: i64,
) -> Result<Vec<Signal>, StoreError> {
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT s.id FROM signals s LEFT JOIN signal_details d ON d.signal_id = s.id \
         WHERE s.status = 'active' AND s.end_date <= $1 \
         AND (d.renewal_reminded_for IS NULL OR d.renewal_reminded_for <> s.end_date) \
         ORDER BY s.end_date, s.id LIMIT $2",
    )
    .bind(format_date(until))
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    by_ids(conn, ids).await
}

/// Youths with stored signals after `after` (BSN order), at most `limit`.
pub async fn youths_after(
    conn: &mut AnyConnection,
    after: &str,
    limit: i64,
) -> Result<Vec<Bsn>, StoreError> {
    let rows = sqlx::query("SELECT bsn FROM youths WHERE bsn > $1 ORDER BY bsn LIMIT $2")
        .bind(after)
        .bind(limit)
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|row| {
            let bsn: String = row.try_get("bsn")?;
            bsn.parse().map_err(|_| StoreError::Corrupt("youths.bsn"))
        })
        .collect()
}

/// A renewal: the new end date of an active signal (003 art. 16.1). False if not active.
pub async fn set_end_date(
    conn: &mut AnyConnection,
    id: &str,
    end_date: NaiveDate,
) -> Result<bool, StoreError> {
    let done = sqlx::query("UPDATE signals SET end_date = $1 WHERE id = $2 AND status = 'active'")
        .bind(format_date(end_date))
        .bind(id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// A correction of the signaller's contact details (003 art. 17; 002 art. 19).
pub async fn set_contact(
    conn: &mut AnyConnection,
    id: &str,
    contact: &Contact,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE signals SET signaller_name = $1, signaller_phone = $2, signaller_email = $3 \
         WHERE id = $4",
    )
    .bind(&contact.name)
    .bind(&contact.phone)
    .bind(&contact.email)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Signals of other organisations that were ever in a regional match with `signal_id`.
pub async fn ever_matched_with(
    conn: &mut AnyConnection,
    signal_id: &str,
) -> Result<Vec<Signal>, StoreError> {
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT other.signal_id FROM match_members mine \
         JOIN match_members other ON other.match_id = mine.match_id \
         WHERE mine.signal_id = $1 AND other.signal_id <> $1 ORDER BY other.signal_id",
    )
    .bind(signal_id)
    .fetch_all(&mut *conn)
    .await?;
    by_ids(conn, ids).await
}

/// The signals currently in a regional match, with when each joined, in joining order.
pub async fn members_joined(
    conn: &mut AnyConnection,
    match_id: &str,
) -> Result<Vec<(String, i64)>, StoreError> {
    let rows = sqlx::query(
        "SELECT signal_id, joined_ms FROM match_members WHERE match_id = $1 AND left_ms IS NULL \
         ORDER BY joined_ms, signal_id",
    )
    .bind(match_id)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|row| Ok((row.try_get("signal_id")?, row.try_get("joined_ms")?)))
        .collect()
}
