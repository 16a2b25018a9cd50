//! SQL for inzage across regions: this node's requests and the other regions' opened answers.

use sqlx::{AnyConnection, Row};

use super::StoreError;

/// A request of this node, with what the hub said and what came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InzageRequest {
    pub request_id: String,
    pub bsn: String,
    pub requested_by_oin: String,
    pub regional_export: String,
    pub created_ms: i64,
    /// The regions the hub asked; None until the hub said.
    pub asked: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InzageAnswer {
    pub region: String,
    pub export: String,
    pub answered_ms: i64,
}

pub async fn insert_request(conn: &mut AnyConnection, r: &InzageRequest) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO inzage_requests (request_id, bsn, requested_by_oin, regional_export, created_ms) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&r.request_id)
    .bind(&r.bsn)
    .bind(&r.requested_by_oin)
    .bind(&r.regional_export)
    .bind(r.created_ms)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn request(
    conn: &mut AnyConnection,
    request_id: &str,
) -> Result<Option<InzageRequest>, StoreError> {
    let row = sqlx::query(
        "SELECT request_id, bsn, requested_by_oin, regional_export, created_ms, asked \
         FROM inzage_requests WHERE request_id = $1",
    )
    .bind(request_id)
    .fetch_optional(conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let asked: Option<String> = row.try_get("asked")?;
    Ok(Some(InzageRequest {
        request_id: row.try_get("request_id")?,
        bsn: row.try_get("bsn")?,
        requested_by_oin: row.try_get("requested_by_oin")?,
        regional_export: row.try_get("regional_export")?,
        created_ms: row.try_get("created_ms")?,
        asked: asked.map(|a| {
            a.split(',')
                .filter(|r| !r.is_empty())
                .map(str::to_owned)
                .collect()
        }),
    }))
}

/// Records which regions the hub asked; false if the request is unknown.
pub async fn set_asked(
    conn: &mut AnyConnection,
    request_id: &str,
    regions: &[String],
) -> Result<bool, StoreError> {
    let done = sqlx::query("UPDATE inzage_requests SET asked = $2 WHERE request_id = $1")
        .bind(request_id)
        .bind(regions.join(","))
        .execute(conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Stores an opened answer once; false if that region had answered already.
pub async fn insert_answer(
    conn: &mut AnyConnection,
    request_id: &str,
    a: &InzageAnswer,
) -> Result<bool, StoreError> {
    let exists: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM inzage_answers WHERE request_id = $1 AND region = $2",
    )
    .bind(request_id)
    .bind(&a.region)
    .fetch_one(&mut *conn)
    .await?;
    if exists > 0 {
        return Ok(false);
    }
    sqlx::query(
        "INSERT INTO inzage_answers (request_id, region, export, answered_ms) \
         VALUES ($1, $2, $3, $4)",
    )
    .bind(request_id)
    .bind(&a.region)
    .bind(&a.export)
    .bind(a.answered_ms)
    .execute(conn)
    .await?;
    Ok(true)
}

pub async fn answers(
    conn: &mut AnyConnection,
    request_id: &str,
) -> Result<Vec<InzageAnswer>, StoreError> {
    let rows = sqlx::query(
        "SELECT region, export, answered_ms FROM inzage_answers WHERE request_id = $1 \
         ORDER BY region",
    )
    .bind(request_id)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(InzageAnswer {
                region: row.try_get("region")?,
                export: row.try_get("export")?,
                answered_ms: row.try_get("answered_ms")?,
            })
        })
        .collect()
}

/// The youth (BSN) whose cached person key is this one, if any.
pub async fn youth_with_key(
    conn: &mut AnyConnection,
    value: &[u8],
    version: u32,
) -> Result<Option<String>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT bsn FROM youths WHERE person_key = $1 AND key_version = $2 LIMIT 1",
    )
    .bind(value.to_vec())
    .bind(i64::from(version))
    .fetch_optional(conn)
    .await?)
}
