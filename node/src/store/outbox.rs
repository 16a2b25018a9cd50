//! SQL for the `outbox`: operations for the hub, written in the same transaction as the change
//! they describe, and sent by the forwarder in id order.
//!
//! The id is the hub's `op_id`. The hub answers DUPLICATE for an op_id at or below the last it
//! applied, so an id that became visible after a higher one would be lost. Ids are therefore
//! taken from the `outbox` counter row inside the writing transaction (see
//! [`super::next_value`]), never from an auto-increment or a sequence.

use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, Row};

use super::{counter, next_value, StoreError};

/// One operation, stored as JSON in `payload` (with its kind also in `kind`, for operators).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OutboxOp {
    /// A signal is active: the forwarder adds its person key and municipality.
    Upsert { signal_ref: String },
    /// A signal stopped being active.
    Remove { signal_ref: String },
    /// A sealed envelope for another node about a match.
    Relay {
        match_id: String,
        to_region: String,
        about_signal_ref: String,
        sealed_hex: String,
    },
    /// Inzage across regions: the forwarder puts the youth's person key in place of the BSN.
    InzageRequest { request_id: String, bsn: String },
    /// This region's sealed inzage export for the requesting region.
    InzageAnswer {
        request_id: String,
        to_region: String,
        sealed_hex: String,
    },
    /// Verhuizing: the youth of `signal_ref` moved to `municipality`, outside the region; the
    /// forwarder puts the youth's person key in (issue 5).
    MoveOut {
        move_id: String,
        signal_ref: String,
        municipality: String,
    },
    /// The sealed hand-over package of a routed move.
    MoveHandover {
        move_id: String,
        to_region: String,
        sealed_hex: String,
    },
    /// The officer's sealed hand-over offer back to the region the youth came from.
    HandoverOffer {
        move_id: String,
        to_region: String,
        sealed_hex: String,
    },
    /// A youth died: the hub erases these signals and everything about them.
    Forget { signal_refs: Vec<String> },
}

impl OutboxOp {
    pub fn kind(&self) -> &'static str {
        match self {
            OutboxOp::Upsert { .. } => "upsert",
            OutboxOp::Remove { .. } => "remove",
            OutboxOp::Relay { .. } => "relay",
            OutboxOp::InzageRequest { .. } => "inzage_request",
            OutboxOp::InzageAnswer { .. } => "inzage_answer",
            OutboxOp::MoveOut { .. } => "move_out",
            OutboxOp::MoveHandover { .. } => "move_handover",
            OutboxOp::HandoverOffer { .. } => "handover_offer",
            OutboxOp::Forget { .. } => "forget",
        }
    }
}

/// An unsent row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    pub id: i64,
    pub op: OutboxOp,
}

/// Appends an operation inside the caller's transaction and returns its id.
pub async fn append(
    conn: &mut AnyConnection,
    op: &OutboxOp,
    now_ms: i64,
) -> Result<i64, StoreError> {
    let id = next_value(&mut *conn, counter::OUTBOX).await?;
    let payload = serde_json::to_string(op).map_err(|_| StoreError::Corrupt("outbox.payload"))?;
    sqlx::query("INSERT INTO outbox (id, kind, payload, created_ms) VALUES ($1, $2, $3, $4)")
        .bind(id)
        .bind(op.kind())
        .bind(payload)
        .bind(now_ms)
        .execute(conn)
        .await?;
    Ok(id)
}

/// The oldest unsent operations, in id order.
pub async fn unsent(conn: &mut AnyConnection, limit: i64) -> Result<Vec<OutboxRow>, StoreError> {
    let rows =
        sqlx::query("SELECT id, payload FROM outbox WHERE sent_ms IS NULL ORDER BY id LIMIT $1")
            .bind(limit)
            .fetch_all(conn)
            .await?;
    rows.iter()
        .map(|row| {
            let payload: String = row.try_get("payload")?;
            Ok(OutboxRow {
                id: row.try_get("id")?,
                op: serde_json::from_str(&payload)
                    .map_err(|_| StoreError::Corrupt("outbox.payload"))?,
            })
        })
        .collect()
}

/// Marks operations as accepted by the hub (applied, or a duplicate of an applied one).
pub async fn mark_sent(
    conn: &mut AnyConnection,
    ids: &[i64],
    now_ms: i64,
) -> Result<(), StoreError> {
    for id in ids {
        sqlx::query("UPDATE outbox SET sent_ms = $1 WHERE id = $2 AND sent_ms IS NULL")
            .bind(now_ms)
            .bind(id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

pub async fn count_pending(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE sent_ms IS NULL")
            .fetch_one(conn)
            .await?,
    )
}

/// Every operation, sent or not, in id order (for tests and operators).
pub async fn all(conn: &mut AnyConnection) -> Result<Vec<OutboxRow>, StoreError> {
    let rows = sqlx::query("SELECT id, payload FROM outbox ORDER BY id")
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|row| {
            let payload: String = row.try_get("payload")?;
            Ok(OutboxRow {
                id: row.try_get("id")?,
                op: serde_json::from_str(&payload)
                    .map_err(|_| StoreError::Corrupt("outbox.payload"))?,
            })
        })
        .collect()
}
