//! SQL for `objections` (bezwaar): registered with dates, accepted at any time (003 art. 18.1;
//! 002 art. 20.1), a late one flagged (001 Q30), decided within 4 weeks (003 art. 18.3).

use chrono::NaiveDate;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{format_date, parse_date, StoreError};
use crate::rules::Addressee;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The signals are destroyed (003 art. 18.3).
    Upheld,
    /// The signals are inactivated (to the archive).
    NoLongerNeeded,
    /// The signals stay.
    Rejected,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Upheld => "upheld",
            Outcome::NoLongerNeeded => "no_longer_needed",
            Outcome::Rejected => "rejected",
        }
    }

    pub fn parse(text: &str) -> Option<Outcome> {
        [Outcome::Upheld, Outcome::NoLongerNeeded, Outcome::Rejected]
            .into_iter()
            .find(|o| o.as_str() == text)
    }
}

/// An objection. `Debug` omits the youth.
#[derive(Clone, PartialEq, Eq)]
pub struct Objection {
    pub id: String,
    /// Empty once the youth's data are destroyed.
    pub bsn: String,
    pub signal_ids: Vec<String>,
    pub lodged_on: NaiveDate,
    pub lodged_by: Addressee,
    pub informed_on: Option<NaiveDate>,
    pub late: bool,
    pub decision_due: NaiveDate,
    pub reminded_on: Option<NaiveDate>,
    pub decided_on: Option<NaiveDate>,
    pub outcome: Option<Outcome>,
    pub recorded_by: String,
    pub created_ms: i64,
}

impl std::fmt::Debug for Objection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Objection")
            .field("id", &self.id)
            .field("late", &self.late)
            .field("outcome", &self.outcome)
            .finish_non_exhaustive()
    }
}

const COLUMNS: &str = "id, bsn, signal_ids, lodged_on, lodged_by, informed_on, late, \
     decision_due, reminded_on, decided_on, outcome, recorded_by, created_ms";

fn from_row(row: &AnyRow) -> Result<Objection, StoreError> {
    let date = |name: &'static str| -> Result<Option<NaiveDate>, StoreError> {
        let text: Option<String> = row.try_get(name)?;
        text.map(|t| parse_date(&t, "objections date")).transpose()
    };
    let ids: String = row.try_get("signal_ids")?;
    let lodged_by: String = row.try_get("lodged_by")?;
    let outcome: Option<String> = row.try_get("outcome")?;
    Ok(Objection {
        id: row.try_get("id")?,
        bsn: row.try_get("bsn")?,
        signal_ids: serde_json::from_str(&ids)
            .map_err(|_| StoreError::Corrupt("objections.signal_ids"))?,
        lodged_on: date("lodged_on")?.ok_or(StoreError::Corrupt("objections.lodged_on"))?,
        lodged_by: Addressee::parse(&lodged_by)
            .ok_or(StoreError::Corrupt("objections.lodged_by"))?,
        informed_on: date("informed_on")?,
        late: row.try_get::<i64, _>("late")? != 0,
        decision_due: date("decision_due")?
            .ok_or(StoreError::Corrupt("objections.decision_due"))?,
        reminded_on: date("reminded_on")?,
        decided_on: date("decided_on")?,
        outcome: match outcome {
            Some(o) => Some(Outcome::parse(&o).ok_or(StoreError::Corrupt("objections.outcome"))?),
            None => None,
        },
        recorded_by: row.try_get("recorded_by")?,
        created_ms: row.try_get("created_ms")?,
    })
}

pub async fn insert(conn: &mut AnyConnection, o: &Objection) -> Result<(), StoreError> {
    let ids = serde_json::to_string(&o.signal_ids)
        .map_err(|_| StoreError::Corrupt("objections.signal_ids"))?;
    sqlx::query(&format!(
        "INSERT INTO objections ({COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
    ))
    .bind(&o.id)
    .bind(&o.bsn)
    .bind(ids)
    .bind(format_date(o.lodged_on))
    .bind(o.lodged_by.as_str())
    .bind(o.informed_on.map(format_date))
    .bind(i64::from(o.late))
    .bind(format_date(o.decision_due))
    .bind(o.reminded_on.map(format_date))
    .bind(o.decided_on.map(format_date))
    .bind(o.outcome.map(Outcome::as_str))
    .bind(&o.recorded_by)
    .bind(o.created_ms)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn get(conn: &mut AnyConnection, id: &str) -> Result<Option<Objection>, StoreError> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM objections WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// All objections, or the undecided ones, by decision date.
pub async fn list(conn: &mut AnyConnection, open_only: bool) -> Result<Vec<Objection>, StoreError> {
    let filter = if open_only {
        "WHERE decided_on IS NULL"
    } else {
        ""
    };
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM objections {filter} ORDER BY decision_due, id"
    ))
    .fetch_all(conn)
    .await?;
    rows.iter().map(from_row).collect()
}

pub async fn of_youth(conn: &mut AnyConnection, bsn: &str) -> Result<Vec<Objection>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM objections WHERE bsn = $1 ORDER BY lodged_on, id"
    ))
    .bind(bsn)
    .fetch_all(conn)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Whether an undecided objection covers this signal (it stays active meanwhile).
pub async fn pending_for_signal(
    conn: &mut AnyConnection,
    signal_id: &str,
) -> Result<bool, StoreError> {
    let pattern = format!("%\"{signal_id}\"%");
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM objections WHERE decided_on IS NULL AND signal_ids LIKE $1",
    )
    .bind(pattern)
    .fetch_one(conn)
    .await?;
    Ok(n > 0)
}

pub async fn decide(
    conn: &mut AnyConnection,
    id: &str,
    outcome: Outcome,
    decided_on: NaiveDate,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE objections SET outcome = $1, decided_on = $2 WHERE id = $3 AND decided_on IS NULL",
    )
    .bind(outcome.as_str())
    .bind(format_date(decided_on))
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn set_reminded(
    conn: &mut AnyConnection,
    id: &str,
    on: NaiveDate,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE objections SET reminded_on = $1 WHERE id = $2")
        .bind(format_date(on))
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// The youth's data were destroyed: the objections stay as a record of the decision, without
/// the BSN.
pub async fn forget_youth(conn: &mut AnyConnection, bsn: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE objections SET bsn = '' WHERE bsn = $1")
        .bind(bsn)
        .execute(conn)
        .await?;
    Ok(())
}
