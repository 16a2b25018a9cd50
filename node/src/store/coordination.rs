//! SQL for `coordinations`: who coordinates (regie) for a youth, at most one open at a time.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::StoreError;
use crate::rules::regie::Basis;

/// A coordination. `Debug` omits the youth.
#[derive(Clone, PartialEq, Eq)]
pub struct Coordination {
    pub id: String,
    pub bsn: String,
    /// Empty while nobody is chosen.
    pub coordinator_oin: String,
    pub coordinator_org: String,
    /// The coordinator's local signal, if it is a signaller here.
    pub coordinator_signal_id: String,
    pub basis: Basis,
    pub lead_region: String,
    pub chosen_by_oin: Option<String>,
    pub created_ms: i64,
    pub changed_ms: i64,
    pub ended_ms: Option<i64>,
}

impl std::fmt::Debug for Coordination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coordination")
            .field("id", &self.id)
            .field("coordinator_oin", &self.coordinator_oin)
            .field("basis", &self.basis)
            .finish_non_exhaustive()
    }
}

const COLUMNS: &str = "id, bsn, coordinator_oin, coordinator_org, coordinator_signal_id, basis, \
     lead_region, chosen_by_oin, created_ms, changed_ms, ended_ms";

fn from_row(row: &AnyRow) -> Result<Coordination, StoreError> {
    let basis: String = row.try_get("basis")?;
    Ok(Coordination {
        id: row.try_get("id")?,
        bsn: row.try_get("bsn")?,
        coordinator_oin: row.try_get("coordinator_oin")?,
        coordinator_org: row.try_get("coordinator_org")?,
        coordinator_signal_id: row.try_get("coordinator_signal_id")?,
        basis: Basis::parse(&basis).ok_or(StoreError::Corrupt("coordinations.basis"))?,
        lead_region: row.try_get("lead_region")?,
        chosen_by_oin: row.try_get("chosen_by_oin")?,
        created_ms: row.try_get("created_ms")?,
        changed_ms: row.try_get("changed_ms")?,
        ended_ms: row.try_get("ended_ms")?,
    })
}

pub async fn open_of_youth(
    conn: &mut AnyConnection,
    bsn: &str,
) -> Result<Option<Coordination>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM coordinations WHERE bsn = $1 AND ended_ms IS NULL"
    ))
    .bind(bsn)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Every coordination of a youth, oldest first (for inzage).
pub async fn of_youth(
    conn: &mut AnyConnection,
    bsn: &str,
) -> Result<Vec<Coordination>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM coordinations WHERE bsn = $1 ORDER BY created_ms, id"
    ))
    .bind(bsn)
    .fetch_all(conn)
    .await?;
    rows.iter().map(from_row).collect()
}

pub async fn insert(conn: &mut AnyConnection, c: &Coordination) -> Result<(), StoreError> {
    sqlx::query(&format!(
        "INSERT INTO coordinations ({COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    ))
    .bind(&c.id)
    .bind(&c.bsn)
    .bind(&c.coordinator_oin)
    .bind(&c.coordinator_org)
    .bind(&c.coordinator_signal_id)
    .bind(c.basis.as_str())
    .bind(&c.lead_region)
    .bind(c.chosen_by_oin.as_deref())
    .bind(c.created_ms)
    .bind(c.changed_ms)
    .bind(c.ended_ms)
    .execute(conn)
    .await?;
    Ok(())
}

/// Stores a new coordinator and basis for an open coordination.
pub async fn update(conn: &mut AnyConnection, c: &Coordination) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE coordinations SET coordinator_oin = $1, coordinator_org = $2, \
         coordinator_signal_id = $3, basis = $4, lead_region = $5, chosen_by_oin = $6, \
         changed_ms = $7 WHERE id = $8",
    )
    .bind(&c.coordinator_oin)
    .bind(&c.coordinator_org)
    .bind(&c.coordinator_signal_id)
    .bind(c.basis.as_str())
    .bind(&c.lead_region)
    .bind(c.chosen_by_oin.as_deref())
    .bind(c.changed_ms)
    .bind(&c.id)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn end(conn: &mut AnyConnection, id: &str, now_ms: i64) -> Result<(), StoreError> {
    sqlx::query("UPDATE coordinations SET ended_ms = $1 WHERE id = $2 AND ended_ms IS NULL")
        .bind(now_ms)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}
