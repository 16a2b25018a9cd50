//! SQL for the feed position: the last hub feed item applied, kept in the same transaction as
//! the item's effects so that each item is applied exactly once.

use sqlx::AnyConnection;

use super::{counter, next_value, StoreError};

pub async fn applied_seq(conn: &mut AnyConnection) -> Result<u64, StoreError> {
    let seq: i64 = sqlx::query_scalar("SELECT applied_seq FROM feed_state WHERE id = 1")
        .fetch_one(conn)
        .await?;
    u64::try_from(seq).map_err(|_| StoreError::Corrupt("feed_state.applied_seq"))
}

pub async fn set_applied_seq(conn: &mut AnyConnection, seq: u64) -> Result<(), StoreError> {
    let seq = i64::try_from(seq).map_err(|_| StoreError::Corrupt("feed_state.applied_seq"))?;
    sqlx::query("UPDATE feed_state SET applied_seq = $1 WHERE id = 1")
        .bind(seq)
        .execute(conn)
        .await?;
    Ok(())
}

/// Counts a feed item that could not be applied (garbled, unknown, refused) and was skipped.
pub async fn count_skipped(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    next_value(conn, counter::FEED_SKIPPED).await
}
