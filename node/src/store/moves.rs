//! SQL for `moves_out` (a youth of the region with active signals moved) and `moves_in` (a youth
//! with active signals elsewhere moved into the region: inverhuis). Issue 5; 002 art. 1, 15.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::StoreError;

/// A move of a youth with active signals (isverhuisd side). `Debug` omits the youth.
#[derive(Clone, PartialEq, Eq)]
pub struct MoveOut {
    pub id: String,
    pub bsn: String,
    pub from_municipality: String,
    pub to_municipality: String,
    /// within_municipality | within_region | out_of_region
    pub kind: String,
    /// The region serving the new municipality, once the hub said (empty before).
    pub to_region: String,
    /// told | routing | handed_over | uncovered | offered
    pub status: String,
    /// YYYY-MM-DD.
    pub moved_on: String,
    /// Signallers and coordinators told.
    pub told: i64,
    /// Who coordinated when the youth moved (empty if nobody): the hand-over names them.
    pub regievoerder_oin: String,
    pub regievoerder_org: String,
    pub created_ms: i64,
}

impl std::fmt::Debug for MoveOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MoveOut")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

const OUT_COLUMNS: &str = "id, bsn, from_municipality, to_municipality, kind, to_region, status, \
                           moved_on, told, regievoerder_oin, regievoerder_org, created_ms";

fn out_row(row: &AnyRow) -> Result<MoveOut, StoreError> {
    Ok(MoveOut {
        id: row.try_get("id")?,
        bsn: row.try_get("bsn")?,
        from_municipality: row.try_get("from_municipality")?,
        to_municipality: row.try_get("to_municipality")?,
        kind: row.try_get("kind")?,
        to_region: row.try_get("to_region")?,
        status: row.try_get("status")?,
        moved_on: row.try_get("moved_on")?,
        told: row.try_get("told")?,
        regievoerder_oin: row.try_get("regievoerder_oin")?,
        regievoerder_org: row.try_get("regievoerder_org")?,
        created_ms: row.try_get("created_ms")?,
    })
}

pub async fn insert_out(conn: &mut AnyConnection, m: &MoveOut) -> Result<(), StoreError> {
    sqlx::query(&format!(
        "INSERT INTO moves_out ({OUT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    ))
    .bind(&m.id)
    .bind(&m.bsn)
    .bind(&m.from_municipality)
    .bind(&m.to_municipality)
    .bind(&m.kind)
    .bind(&m.to_region)
    .bind(&m.status)
    .bind(&m.moved_on)
    .bind(m.told)
    .bind(&m.regievoerder_oin)
    .bind(&m.regievoerder_org)
    .bind(m.created_ms)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn get_out(conn: &mut AnyConnection, id: &str) -> Result<Option<MoveOut>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {OUT_COLUMNS} FROM moves_out WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(out_row).transpose()
}

pub async fn all_out(conn: &mut AnyConnection) -> Result<Vec<MoveOut>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {OUT_COLUMNS} FROM moves_out ORDER BY created_ms, id"
    ))
    .fetch_all(conn)
    .await?;
    rows.iter().map(out_row).collect()
}

pub async fn set_out_status(
    conn: &mut AnyConnection,
    id: &str,
    status: &str,
    to_region: &str,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE moves_out SET status = $2, to_region = $3 WHERE id = $1")
        .bind(id)
        .bind(status)
        .bind(to_region)
        .execute(conn)
        .await?;
    Ok(())
}

/// A move into the region (inverhuis). `Debug` omits the youth and the package.
#[derive(Clone, PartialEq, Eq)]
pub struct MoveIn {
    pub id: String,
    pub from_region: String,
    pub municipality: String,
    /// Empty when the package did not open.
    pub bsn: String,
    /// The opened package, prost-encoded `HandoverPackage`.
    pub package: Option<Vec<u8>>,
    /// The sending node's HPKE key from its verified certificate, to seal an offer to; `None`
    /// when the chain the hub relayed was refused.
    pub sender_key: Option<Vec<u8>>,
    /// received | accepted | rejected
    pub status: String,
    pub received_ms: i64,
    pub accepted_ms: Option<i64>,
    pub accepted_by: Option<String>,
    pub offer_sent: bool,
}

impl std::fmt::Debug for MoveIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MoveIn")
            .field("id", &self.id)
            .field("from_region", &self.from_region)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

const IN_COLUMNS: &str = "id, from_region, municipality, bsn, package, sender_key, status, \
                          received_ms, accepted_ms, accepted_by, offer_sent";

fn in_row(row: &AnyRow) -> Result<MoveIn, StoreError> {
    let offer_sent: i64 = row.try_get("offer_sent")?;
    Ok(MoveIn {
        id: row.try_get("id")?,
        from_region: row.try_get("from_region")?,
        municipality: row.try_get("municipality")?,
        bsn: row.try_get("bsn")?,
        package: row.try_get("package")?,
        sender_key: row.try_get("sender_key")?,
        status: row.try_get("status")?,
        received_ms: row.try_get("received_ms")?,
        accepted_ms: row.try_get("accepted_ms")?,
        accepted_by: row.try_get("accepted_by")?,
        offer_sent: offer_sent != 0,
    })
}

/// Records a move in; false if this move id was recorded before (the feed repeats nothing, but
/// a move id is unique by construction and checked anyway).
pub async fn insert_in(conn: &mut AnyConnection, m: &MoveIn) -> Result<bool, StoreError> {
    if get_in(&mut *conn, &m.id).await?.is_some() {
        return Ok(false);
    }
    sqlx::query(&format!(
        "INSERT INTO moves_in ({IN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    ))
    .bind(&m.id)
    .bind(&m.from_region)
    .bind(&m.municipality)
    .bind(&m.bsn)
    .bind(m.package.clone())
    .bind(m.sender_key.clone())
    .bind(&m.status)
    .bind(m.received_ms)
    .bind(m.accepted_ms)
    .bind(m.accepted_by.clone())
    .bind(i64::from(m.offer_sent))
    .execute(conn)
    .await?;
    Ok(true)
}

pub async fn get_in(conn: &mut AnyConnection, id: &str) -> Result<Option<MoveIn>, StoreError> {
    let row = sqlx::query(&format!("SELECT {IN_COLUMNS} FROM moves_in WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(in_row).transpose()
}

pub async fn all_in(conn: &mut AnyConnection) -> Result<Vec<MoveIn>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {IN_COLUMNS} FROM moves_in ORDER BY received_ms, id"
    ))
    .fetch_all(conn)
    .await?;
    rows.iter().map(in_row).collect()
}

pub async fn accept_in(
    conn: &mut AnyConnection,
    id: &str,
    by_oin: &str,
    offer_sent: bool,
    now_ms: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE moves_in SET status = 'accepted', accepted_ms = $2, accepted_by = $3, \
         offer_sent = $4 WHERE id = $1",
    )
    .bind(id)
    .bind(now_ms)
    .bind(by_oin)
    .bind(i64::from(offer_sent))
    .execute(conn)
    .await?;
    Ok(())
}

/// Whether the node knows of moves of this youth (a death then erases them too).
pub async fn known_youth(conn: &mut AnyConnection, bsn: &str) -> Result<bool, StoreError> {
    let n: i64 = sqlx::query_scalar(
        "SELECT (SELECT COUNT(*) FROM moves_in WHERE bsn = $1) \
         + (SELECT COUNT(*) FROM moves_out WHERE bsn = $1)",
    )
    .bind(bsn)
    .fetch_one(conn)
    .await?;
    Ok(n > 0)
}

/// Erases the youth's moves (death, age 23: 003 art. 16.5).
pub async fn forget_youth(conn: &mut AnyConnection, bsn: &str) -> Result<(), StoreError> {
    for sql in [
        "DELETE FROM moves_in WHERE bsn = $1",
        "DELETE FROM moves_out WHERE bsn = $1",
    ] {
        sqlx::query(sql).bind(bsn).execute(&mut *conn).await?;
    }
    Ok(())
}
