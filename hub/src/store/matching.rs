//! Cross-region matching inside a `Submit` transaction: creating a match (of the kind that
//! [`super::kinds`] picks) with every active signal of another region that shares a key, and
//! ending matches when a signal goes or its basis does.
//!
//! A new match is told to both nodes (`MatchCreated`, each from its own view, with the other
//! node's certificate chain so it can verify it and seal its envelope to the certified HPKE
//! key). An ended match is told to the side that remains (`MatchEnded`).

use sqlx::Row;
use vir_proto as pb;
use vir_shared::RegionCode;

use super::ingest::Ingest;
use super::kinds::Kind;
use super::shapes::insert_chunks;
use crate::error::StoreError;
use crate::ops::SignalRef;

/// A match created in this transaction and not yet written: the submitting region is side a.
pub(super) struct NewMatch {
    match_id: String,
    kind: Kind,
    own_ref: String,
    other_region: String,
    other_ref: String,
}

/// An active match as seen from one of its signals.
struct MatchSide {
    match_id: String,
    other_region: String,
    other_ref: String,
}

impl Ingest<'_> {
    /// Writes the matches created since the last flush, with multi-row INSERTs. Called before
    /// anything reads `matches`, and at the end of the transaction.
    pub(super) async fn flush_matches(&mut self) -> Result<(), StoreError> {
        let pending = std::mem::take(&mut self.new_matches);
        for chunk in insert_chunks(self.conn, &pending) {
            let sql = chunk.sql(
                "matches (match_id, kind, region_a, ref_a, region_b, ref_b, created_ms)",
                7,
                "",
            );
            let mut query = sqlx::query(&sql);
            for m in chunk.rows {
                query = query
                    .bind(m.match_id.as_str())
                    .bind(m.kind.label())
                    .bind(self.region.as_str())
                    .bind(m.own_ref.as_str())
                    .bind(m.other_region.as_str())
                    .bind(m.other_ref.as_str())
                    .bind(self.now_ms);
            }
            chunk.pad(query, 7).execute(&mut *self.conn).await?;
        }
        Ok(())
    }

    /// Creates a match of one of this node's signals with another region's signal and tells
    /// both nodes. The row is written by [`Ingest::flush_matches`].
    pub(super) async fn create_match(
        &mut self,
        signal_ref: &SignalRef,
        other_region: &str,
        other_ref: &str,
        kind: Kind,
    ) -> Result<(), StoreError> {
        let other_region: RegionCode = other_region
            .parse()
            .map_err(|e| StoreError::Corrupt(format!("signals.region: {e}")))?;
        // Time-ordered (UUIDv7): new ids go to the end of the `matches` primary key index instead
        // of a random page of it, one page written per commit instead of one per match.
        let match_id = uuid::Uuid::now_v7().hyphenated().to_string();
        self.new_matches.push(NewMatch {
            match_id: match_id.clone(),
            kind,
            own_ref: signal_ref.to_string(),
            other_region: other_region.to_string(),
            other_ref: other_ref.to_owned(),
        });

        let own_chain = self.chain(self.region).await?;
        let other_chain = self.chain(&other_region).await?;
        let ours = pb::MatchCreated {
            match_id: match_id.clone(),
            kind: kind.to_proto() as i32,
            your_signal_ref: signal_ref.to_string(),
            other_region: other_region.to_string(),
            other_signal_ref: other_ref.to_owned(),
            other_node_chain: other_chain,
        };
        let theirs = pb::MatchCreated {
            match_id,
            kind: kind.to_proto() as i32,
            your_signal_ref: other_ref.to_owned(),
            other_region: self.region.to_string(),
            other_signal_ref: signal_ref.to_string(),
            other_node_chain: own_chain,
        };
        let region = self.region;
        self.append(region, pb::feed_item::Body::MatchCreated(ours));
        self.append(&other_region, pb::feed_item::Body::MatchCreated(theirs));
        self.outcome.matches_created += 1;
        Ok(())
    }

    /// Ends one active match of one of this node's signals and tells both sides.
    pub(super) async fn end_match(
        &mut self,
        match_id: &str,
        own_ref: &SignalRef,
        other_region: &str,
        other_ref: &str,
    ) -> Result<(), StoreError> {
        self.flush_matches().await?;
        let side = MatchSide {
            match_id: match_id.to_owned(),
            other_region: other_region.to_owned(),
            other_ref: other_ref.to_owned(),
        };
        self.end_side(side, own_ref, true).await
    }

    /// Ends the active matches of one of this node's signals and tells the other sides (and,
    /// with `tell_self`, this node too).
    pub(super) async fn end_matches(
        &mut self,
        signal_ref: &SignalRef,
        tell_self: bool,
    ) -> Result<(), StoreError> {
        self.flush_matches().await?;
        let rows = sqlx::query(
            "SELECT match_id, region_a, ref_a, region_b, ref_b FROM matches \
             WHERE ended_ms IS NULL AND \
             ((region_a = $1 AND ref_a = $2) OR (region_b = $1 AND ref_b = $2))",
        )
        .bind(self.region.as_str())
        .bind(signal_ref.as_str())
        .fetch_all(&mut *self.conn)
        .await?;
        let mut sides = Vec::with_capacity(rows.len());
        for row in rows {
            let region_a: String = row.try_get(1)?;
            let (other_region, other_ref) = if region_a == self.region.as_str() {
                (row.try_get(3)?, row.try_get(4)?)
            } else {
                (region_a, row.try_get(2)?)
            };
            sides.push(MatchSide {
                match_id: row.try_get(0)?,
                other_region,
                other_ref,
            });
        }
        for side in sides {
            self.end_side(side, signal_ref, tell_self).await?;
        }
        Ok(())
    }

    /// Ends one match and queues `MatchEnded` for the other side (and this side too with
    /// `tell_self`).
    async fn end_side(
        &mut self,
        side: MatchSide,
        signal_ref: &SignalRef,
        tell_self: bool,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE matches SET ended_ms = $2 WHERE match_id = $1 AND ended_ms IS NULL")
            .bind(side.match_id.as_str())
            .bind(self.now_ms)
            .execute(&mut *self.conn)
            .await?;
        let other_region: RegionCode = side
            .other_region
            .parse()
            .map_err(|e| StoreError::Corrupt(format!("matches.region: {e}")))?;
        let ended = |your_signal_ref: String| {
            pb::feed_item::Body::MatchEnded(pb::MatchEnded {
                match_id: side.match_id.clone(),
                your_signal_ref,
            })
        };
        self.append(&other_region, ended(side.other_ref.clone()));
        if tell_self {
            let region = self.region;
            self.append(region, ended(signal_ref.to_string()));
        }
        self.outcome.matches_ended += 1;
        Ok(())
    }
}
