//! Per-node feeds: appending an item inside a write transaction, and reading pages in order.
//!
//! Sequence numbers come from `nodes.feed_head`, incremented by the appending transaction
//! (`UPDATE … SET feed_head = feed_head + n … RETURNING`) for all items of that transaction
//! for a region at once. The row stays locked until commit, so on PostgreSQL a second writer
//! to the same feed waits and takes the next numbers only after the first committed: no gaps
//! and no "seq 7 visible before seq 6". SQLite has one writer at a time anyway.

use prost::Message;
use sqlx::{AnyConnection, Row};
use vir_proto as pb;
use vir_shared::RegionCode;

use super::shapes::shaped;
use super::{to_i64, to_u64, Store};
use crate::error::StoreError;

/// How many feed items a subscriber reads per query.
pub const FEED_PAGE: u32 = 500;

/// Appends `bodies` to `region`'s feed, in order, and returns the new head. One counter update
/// reserves the whole range (the row stays locked until commit), then multi-row INSERTs.
pub(crate) async fn append_all(
    conn: &mut AnyConnection,
    region: &RegionCode,
    bodies: Vec<pb::feed_item::Body>,
    now_ms: i64,
) -> Result<u64, StoreError> {
    let count = i64::try_from(bodies.len())
        .map_err(|_| StoreError::Corrupt("feed batch too large".into()))?;
    let row = sqlx::query(
        "UPDATE nodes SET feed_head = feed_head + $2 WHERE region = $1 RETURNING feed_head",
    )
    .bind(region.as_str())
    .bind(count)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| StoreError::Corrupt(format!("no node row (feed counter) for {region}")))?;
    let head: i64 = row.try_get(0)?;
    let mut seq = head - count + 1;
    let sizes: Vec<usize> = shaped(&bodies).iter().map(|c| c.len()).collect();
    let mut bodies = bodies.into_iter();
    for size in sizes {
        let chunk: Vec<_> = bodies.by_ref().take(size).collect();
        let mut sql = String::from("INSERT INTO feed (region, seq, created_ms, body) VALUES ");
        for i in 0..chunk.len() {
            let p = 3 + 2 * i;
            let sep = if i == 0 { "" } else { ", " };
            sql.push_str(&format!("{sep}($1, ${p}, $2, ${})", p + 1));
        }
        let mut query = sqlx::query(&sql).bind(region.as_str()).bind(now_ms);
        for body in chunk {
            // Only the body is encoded; seq and time are columns, filled in when read.
            let encoded = pb::FeedItem {
                seq: 0,
                created_unix_ms: 0,
                body: Some(body),
            }
            .encode_to_vec();
            query = query.bind(seq).bind(encoded);
            seq += 1;
        }
        query.execute(&mut *conn).await?;
    }
    to_u64(head, "feed_head")
}

impl Store {
    /// Up to `limit` items of `region`'s feed with seq ≥ `from_seq`, in order.
    pub async fn feed_page(
        &self,
        region: &RegionCode,
        from_seq: u64,
        limit: u32,
    ) -> Result<Vec<pb::FeedItem>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, created_ms, body FROM feed WHERE region = $1 AND seq >= $2 \
             ORDER BY seq LIMIT $3",
        )
        .bind(region.as_str())
        .bind(to_i64(from_seq))
        .bind(i64::from(limit))
        .fetch_all(&self.db.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let seq = to_u64(row.try_get(0)?, "feed.seq")?;
                let created_unix_ms: i64 = row.try_get(1)?;
                let body: Vec<u8> = row.try_get(2)?;
                let item = pb::FeedItem::decode(body.as_slice())
                    .map_err(|e| StoreError::Corrupt(format!("feed {region}/{seq}: {e}")))?;
                if item.body.is_none() {
                    return Err(StoreError::Corrupt(format!(
                        "feed {region}/{seq}: empty body"
                    )));
                }
                Ok(pb::FeedItem {
                    seq,
                    created_unix_ms,
                    body: item.body,
                })
            })
            .collect()
    }
}
