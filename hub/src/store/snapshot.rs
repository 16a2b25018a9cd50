//! Feed retention and resync (issue 8): old feed items are removed by the clock, and a node
//! whose position fell below the removed range gets a snapshot of its open matches instead.
//!
//! - [`Store::prune_feeds`] removes, per region, the items created before a cut-off (always a
//!   prefix of the feed, so what is kept stays contiguous) and raises `nodes.feed_floor`;
//!   `Subscribe` from at or below the floor answers FAILED_PRECONDITION "resync needed".
//! - [`Store::snapshot`] reads, consistently with the feed head, every open match of the
//!   region's signals (as the `MatchCreated` it would have received) and the latest envelope
//!   sent to it per open match. Consistency: the snapshot first takes the region's feed
//!   counter row (a no-op update), which every append to that feed also takes, so no append
//!   to this region's feed can fall between reading the head and reading the matches.
//! - What a snapshot cannot rebuild from the tables is never pruned before the node has it:
//!   items the region has not acknowledged that carry a move, a hand-over offer or an inzage
//!   (the sealed package of an `Inverhuis` lives only in its feed item) stay in the feed below
//!   the floor and travel in the snapshot's `kept`; once the node has acknowledged past them,
//!   the next pruning removes them with the rest.

use prost::Message;
use sqlx::Row;
use vir_proto as pb;
use vir_shared::RegionCode;

use super::kinds::Kind;
use super::nodes::decode_chain;
use super::{to_u64, Store, StoreError};

/// What a node needs to continue from `head_seq + 1` as if it had applied the whole feed.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub head_seq: u64,
    pub matches: Vec<pb::MatchCreated>,
    pub envelopes: Vec<pb::EnvelopeDelivered>,
    /// Unacknowledged items below the floor that the tables cannot rebuild, in feed order.
    pub kept: Vec<pb::FeedItem>,
}

/// Whether a pruned, unacknowledged item must be kept for the region's snapshot: everything but
/// what the snapshot rebuilds from the tables (matches and their envelopes) and bodies emptied
/// by an erasure.
fn kept_past_retention(body: &[u8]) -> bool {
    use pb::feed_item::Body;
    match pb::FeedItem::decode(body).ok().and_then(|item| item.body) {
        None | Some(Body::MatchCreated(_) | Body::MatchEnded(_) | Body::Envelope(_)) => false,
        Some(
            Body::InzageRequested(_)
            | Body::InzageAnswered(_)
            | Body::InzageForwarded(_)
            | Body::MoveRouted(_)
            | Body::MoveUncovered(_)
            | Body::Inverhuis(_)
            | Body::HandoverOffered(_),
        ) => true,
    }
}

impl Store {
    /// Removes feed items created before `cutoff_ms`; returns the items removed.
    pub async fn prune_feeds(&self, cutoff_ms: i64) -> Result<u64, StoreError> {
        let regions: Vec<String> = sqlx::query_scalar("SELECT region FROM nodes")
            .fetch_all(&self.db().pool)
            .await?;
        let mut removed = 0;
        for region in regions {
            let mut tx = self.db().write().await?;
            let last: Option<i64> = sqlx::query_scalar(
                "SELECT MAX(seq) FROM feed WHERE region = $1 AND created_ms < $2",
            )
            .bind(region.as_str())
            .bind(cutoff_ms)
            .fetch_one(&mut *tx.tx)
            .await?;
            let Some(last) = last else { continue };
            let acked: i64 = sqlx::query_scalar("SELECT acked_seq FROM nodes WHERE region = $1")
                .bind(region.as_str())
                .fetch_one(&mut *tx.tx)
                .await?;
            let unacked = sqlx::query(
                "SELECT seq, body FROM feed WHERE region = $1 AND seq > $2 AND seq <= $3 \
                 ORDER BY seq",
            )
            .bind(region.as_str())
            .bind(acked)
            .bind(last)
            .fetch_all(&mut *tx.tx)
            .await?;
            let mut kept = Vec::new();
            for row in &unacked {
                let body: Vec<u8> = row.try_get(1)?;
                if kept_past_retention(&body) {
                    kept.push(row.try_get::<i64, _>(0)?);
                }
            }
            // Delete the ranges between the kept items (most often: one range, up to `last`).
            let mut done = 0;
            let mut after = i64::MIN;
            for upto in kept.iter().map(|k| k - 1).chain([last]) {
                if upto > after {
                    done += sqlx::query(
                        "DELETE FROM feed WHERE region = $1 AND seq > $2 AND seq <= $3",
                    )
                    .bind(region.as_str())
                    .bind(after)
                    .bind(upto)
                    .execute(&mut *tx.tx)
                    .await?
                    .rows_affected();
                }
                after = upto + 1;
            }
            sqlx::query("UPDATE nodes SET feed_floor = $2 WHERE region = $1 AND feed_floor < $2")
                .bind(region.as_str())
                .bind(last)
                .execute(&mut *tx.tx)
                .await?;
            tx.commit().await?;
            removed += done;
            tracing::info!(%region, floor = last, removed = done, kept = kept.len(), event = "feed_pruned", "feed items past retention removed");
        }
        // Envelopes of matches that ended before the cut-off are never needed again.
        let mut tx = self.db().write().await?;
        sqlx::query(
            "DELETE FROM match_envelopes WHERE match_id IN \
             (SELECT match_id FROM matches WHERE ended_ms IS NOT NULL AND ended_ms < $1)",
        )
        .bind(cutoff_ms)
        .execute(&mut *tx.tx)
        .await?;
        tx.commit().await?;
        Ok(removed)
    }

    /// The open matches of `region` and the envelopes sent to it, at the current feed head.
    pub async fn snapshot(&self, region: &RegionCode) -> Result<Snapshot, StoreError> {
        let mut tx = self.db().write().await?;
        sqlx::query("UPDATE nodes SET feed_head = feed_head WHERE region = $1")
            .bind(region.as_str())
            .execute(&mut *tx.tx)
            .await?;
        let head: i64 = sqlx::query_scalar("SELECT feed_head FROM nodes WHERE region = $1")
            .bind(region.as_str())
            .fetch_optional(&mut *tx.tx)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("region {region} has no feed")))?;
        let rows = sqlx::query(
            "SELECT m.match_id, m.kind, m.region_a, m.ref_a, m.region_b, m.ref_b, n.cert_chain \
             FROM matches m JOIN nodes n \
             ON n.region = CASE WHEN m.region_a = $1 THEN m.region_b ELSE m.region_a END \
             WHERE m.ended_ms IS NULL AND (m.region_a = $1 OR m.region_b = $1) \
             ORDER BY m.created_ms, m.match_id",
        )
        .bind(region.as_str())
        .fetch_all(&mut *tx.tx)
        .await?;
        let mut matches = Vec::with_capacity(rows.len());
        for row in &rows {
            let match_id: String = row.try_get(0)?;
            let kind: String = row.try_get(1)?;
            let kind = Kind::parse(&kind)
                .ok_or_else(|| StoreError::Corrupt(format!("matches.kind {kind:?}")))?;
            let (region_a, ref_a): (String, String) = (row.try_get(2)?, row.try_get(3)?);
            let (region_b, ref_b): (String, String) = (row.try_get(4)?, row.try_get(5)?);
            let chain: Option<Vec<u8>> = row.try_get(6)?;
            let (own_ref, other_region, other_ref) = if region_a == region.as_str() {
                (ref_a, region_b, ref_b)
            } else {
                (ref_b, region_a, ref_a)
            };
            matches.push(pb::MatchCreated {
                match_id,
                kind: kind.to_proto() as i32,
                your_signal_ref: own_ref,
                other_region,
                other_signal_ref: other_ref,
                other_node_chain: match chain {
                    Some(bytes) => decode_chain(&bytes)?,
                    None => Vec::new(),
                },
            });
        }
        let rows = sqlx::query(
            "SELECT e.match_id, e.from_region, e.about_signal_ref, e.sealed \
             FROM match_envelopes e JOIN matches m ON m.match_id = e.match_id \
             WHERE e.to_region = $1 AND m.ended_ms IS NULL ORDER BY e.created_ms, e.match_id",
        )
        .bind(region.as_str())
        .fetch_all(&mut *tx.tx)
        .await?;
        let envelopes = rows
            .iter()
            .map(|row| {
                Ok(pb::EnvelopeDelivered {
                    match_id: row.try_get(0)?,
                    from_region: row.try_get(1)?,
                    about_signal_ref: row.try_get(2)?,
                    sealed: row.try_get(3)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        // What stays below the floor is what pruning kept for this snapshot.
        let rows = sqlx::query(
            "SELECT f.seq, f.created_ms, f.body, c.chain FROM feed f \
             JOIN nodes n ON n.region = f.region \
             LEFT JOIN feed_chains c ON c.digest = f.chain_digest \
             WHERE f.region = $1 AND f.seq <= n.feed_floor ORDER BY f.seq",
        )
        .bind(region.as_str())
        .fetch_all(&mut *tx.tx)
        .await?;
        let kept = rows
            .iter()
            .map(|row| super::feed::item_from_row(region, row))
            .collect::<Result<Vec<_>, StoreError>>()?;
        tx.commit().await?;
        Ok(Snapshot {
            head_seq: to_u64(head, "nodes.feed_head")?,
            matches,
            envelopes,
            kept,
        })
    }
}
