//! SQL for `consultations`: the consultation each signaller of a match owes, with its
//! deadline in working days (003 art. 10.1; 002 art. 10.1) and its escalation (003 art. 13).

use chrono::NaiveDate;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{format_date, parse_date, StoreError};

/// One signaller's consultation in one match. `Debug` omits the youth.
#[derive(Clone, PartialEq, Eq)]
pub struct Consultation {
    pub match_id: String,
    pub signal_id: String,
    pub bsn: String,
    pub municipality: String,
    pub started_on: NaiveDate,
    /// The last working day to consult.
    pub due_on: NaiveDate,
    /// The first working day after `due_on`: the coordinator is alerted then if nothing came.
    pub escalate_on: NaiveDate,
    pub working_days: u32,
    pub consulted_on: Option<NaiveDate>,
    pub answered_ms: Option<i64>,
    pub escalated_ms: Option<i64>,
    pub closed_ms: Option<i64>,
    pub created_ms: i64,
}

impl std::fmt::Debug for Consultation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consultation")
            .field("match_id", &self.match_id)
            .field("signal_id", &self.signal_id)
            .field("due_on", &self.due_on)
            .finish_non_exhaustive()
    }
}

const COLUMNS: &str = "match_id, signal_id, bsn, municipality, started_on, due_on, escalate_on, \
     working_days, consulted_on, answered_ms, escalated_ms, closed_ms, created_ms";

fn from_row(row: &AnyRow) -> Result<Consultation, StoreError> {
    let date = |name: &'static str| -> Result<NaiveDate, StoreError> {
        parse_date(&row.try_get::<String, _>(name)?, "consultations date")
    };
    let consulted: Option<String> = row.try_get("consulted_on")?;
    Ok(Consultation {
        match_id: row.try_get("match_id")?,
        signal_id: row.try_get("signal_id")?,
        bsn: row.try_get("bsn")?,
        municipality: row.try_get("municipality")?,
        started_on: date("started_on")?,
        due_on: date("due_on")?,
        escalate_on: date("escalate_on")?,
        working_days: u32::try_from(row.try_get::<i64, _>("working_days")?).unwrap_or(0),
        consulted_on: consulted
            .map(|d| parse_date(&d, "consultations.consulted_on"))
            .transpose()?,
        answered_ms: row.try_get("answered_ms")?,
        escalated_ms: row.try_get("escalated_ms")?,
        closed_ms: row.try_get("closed_ms")?,
        created_ms: row.try_get("created_ms")?,
    })
}

fn from_rows(rows: Vec<AnyRow>) -> Result<Vec<Consultation>, StoreError> {
    rows.iter().map(from_row).collect()
}

/// Inserts a consultation unless the signal already owes one for this match.
pub async fn insert(conn: &mut AnyConnection, c: &Consultation) -> Result<bool, StoreError> {
    let done = sqlx::query(&format!(
        "INSERT INTO consultations ({COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
         ON CONFLICT (match_id, signal_id) DO NOTHING"
    ))
    .bind(&c.match_id)
    .bind(&c.signal_id)
    .bind(&c.bsn)
    .bind(&c.municipality)
    .bind(format_date(c.started_on))
    .bind(format_date(c.due_on))
    .bind(format_date(c.escalate_on))
    .bind(i64::from(c.working_days))
    .bind(c.consulted_on.map(format_date))
    .bind(c.answered_ms)
    .bind(c.escalated_ms)
    .bind(c.closed_ms)
    .bind(c.created_ms)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn get(
    conn: &mut AnyConnection,
    match_id: &str,
    signal_id: &str,
) -> Result<Option<Consultation>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM consultations WHERE match_id = $1 AND signal_id = $2"
    ))
    .bind(match_id)
    .bind(signal_id)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Every consultation of a youth (for inzage).
pub async fn of_youth(
    conn: &mut AnyConnection,
    bsn: &str,
) -> Result<Vec<Consultation>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM consultations WHERE bsn = $1 ORDER BY created_ms, match_id"
    ))
    .bind(bsn)
    .fetch_all(conn)
    .await?;
    from_rows(rows)
}

/// Records the consultation; false if there is no such open consultation.
pub async fn record(
    conn: &mut AnyConnection,
    match_id: &str,
    signal_id: &str,
    consulted_on: NaiveDate,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE consultations SET consulted_on = $1, answered_ms = $2 \
         WHERE match_id = $3 AND signal_id = $4",
    )
    .bind(format_date(consulted_on))
    .bind(now_ms)
    .bind(match_id)
    .bind(signal_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Unanswered, unescalated, open consultations whose escalation day has come.
pub async fn due_for_escalation(
    conn: &mut AnyConnection,
    today: NaiveDate,
    limit: i64,
) -> Result<Vec<Consultation>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM consultations WHERE consulted_on IS NULL AND escalated_ms IS NULL \
         AND closed_ms IS NULL AND escalate_on <= $1 ORDER BY escalate_on, match_id LIMIT $2"
    ))
    .bind(format_date(today))
    .bind(limit)
    .fetch_all(conn)
    .await?;
    from_rows(rows)
}

/// Unanswered open consultations past their due date (escalated or not yet): the overview.
pub async fn missed(
    conn: &mut AnyConnection,
    today: NaiveDate,
) -> Result<Vec<Consultation>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM consultations WHERE consulted_on IS NULL AND closed_ms IS NULL \
         AND due_on < $1 ORDER BY due_on, match_id"
    ))
    .bind(format_date(today))
    .fetch_all(conn)
    .await?;
    from_rows(rows)
}

pub async fn mark_escalated(
    conn: &mut AnyConnection,
    c: &Consultation,
    now_ms: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE consultations SET escalated_ms = $1 WHERE match_id = $2 AND signal_id = $3",
    )
    .bind(now_ms)
    .bind(&c.match_id)
    .bind(&c.signal_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Closes a consultation whose signal left the match before answering: nothing to escalate.
pub async fn close(
    conn: &mut AnyConnection,
    c: &Consultation,
    now_ms: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE consultations SET closed_ms = $1 WHERE match_id = $2 AND signal_id = $3 \
         AND closed_ms IS NULL",
    )
    .bind(now_ms)
    .bind(&c.match_id)
    .bind(&c.signal_id)
    .execute(conn)
    .await?;
    Ok(())
}
