//! Cross-region matching inside a `Submit` transaction: creating a match for every active
//! signal of another region with the same person key, and ending matches when a signal goes.
//!
//! A new match is told to both nodes (`MatchCreated`, each from its own view, with the other
//! node's certificate chain so it can verify it and seal its envelope to the certified HPKE
//! key). An ended match is told to the side that remains (`MatchEnded`).

use sqlx::Row;
use vir_proto as pb;
use vir_shared::keys::PseudoKey;
use vir_shared::RegionCode;

use super::ingest::Ingest;
use crate::error::StoreError;
use crate::ops::SignalRef;

/// Matches rows per INSERT (4 parameters each, plus 3 shared).
const INSERT_CHUNK: usize = 250;

/// A match created in this transaction and not yet written: the submitting region is side a.
pub(super) struct NewMatch {
    match_id: String,
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
        for chunk in pending.chunks(INSERT_CHUNK) {
            let mut sql = String::from(
                "INSERT INTO matches (match_id, kind, region_a, ref_a, region_b, ref_b, \
                 created_ms) VALUES ",
            );
            for i in 0..chunk.len() {
                let p = 4 + 4 * i;
                let sep = if i == 0 { "" } else { ", " };
                sql.push_str(&format!(
                    "{sep}(${p}, $1, $2, ${}, ${}, ${}, $3)",
                    p + 1,
                    p + 2,
                    p + 3
                ));
            }
            let mut query = sqlx::query(&sql)
                .bind("client")
                .bind(self.region.as_str())
                .bind(self.now_ms);
            for m in chunk {
                query = query
                    .bind(m.match_id.as_str())
                    .bind(m.own_ref.as_str())
                    .bind(m.other_region.as_str())
                    .bind(m.other_ref.as_str());
            }
            query.execute(&mut *self.conn).await?;
        }
        Ok(())
    }

    /// Whether a signal of this node and one of another region already have an active match.
    async fn active_match_exists(
        &mut self,
        signal_ref: &SignalRef,
        other_region: &str,
        other_ref: &str,
    ) -> Result<bool, StoreError> {
        self.flush_matches().await?;
        let found = sqlx::query(
            "SELECT match_id FROM matches WHERE ended_ms IS NULL AND \
             ((region_a = $1 AND ref_a = $2 AND region_b = $3 AND ref_b = $4) OR \
              (region_a = $3 AND ref_a = $4 AND region_b = $1 AND ref_b = $2))",
        )
        .bind(self.region.as_str())
        .bind(signal_ref.as_str())
        .bind(other_region)
        .bind(other_ref)
        .fetch_optional(&mut *self.conn)
        .await?;
        Ok(found.is_some())
    }

    /// Creates a match with every active signal of another region with the same key, unless
    /// the pair already has an active one (only possible when `may_have_matches`).
    pub(super) async fn match_key(
        &mut self,
        signal_ref: &SignalRef,
        key: &PseudoKey,
        may_have_matches: bool,
    ) -> Result<(), StoreError> {
        let others = sqlx::query(
            "SELECT region, signal_ref FROM signals \
             WHERE person_key = $1 AND key_version = $2 AND active = 1 AND region <> $3",
        )
        .bind(key.value.to_vec())
        .bind(i64::from(key.version))
        .bind(self.region.as_str())
        .fetch_all(&mut *self.conn)
        .await?;
        for row in others {
            let other_region: String = row.try_get(0)?;
            let other_ref: String = row.try_get(1)?;
            if may_have_matches
                && self
                    .active_match_exists(signal_ref, &other_region, &other_ref)
                    .await?
            {
                continue;
            }
            self.create_match(signal_ref, &other_region, &other_ref)
                .await?;
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
    ) -> Result<(), StoreError> {
        let other_region: RegionCode = other_region
            .parse()
            .map_err(|e| StoreError::Corrupt(format!("signals.region: {e}")))?;
        let match_id = uuid::Uuid::new_v4().hyphenated().to_string();
        self.new_matches.push(NewMatch {
            match_id: match_id.clone(),
            own_ref: signal_ref.to_string(),
            other_region: other_region.to_string(),
            other_ref: other_ref.to_owned(),
        });

        let own_chain = self.chain(self.region).await?;
        let other_chain = self.chain(&other_region).await?;
        let ours = pb::MatchCreated {
            match_id: match_id.clone(),
            kind: pb::MatchKind::Client as i32,
            your_signal_ref: signal_ref.to_string(),
            other_region: other_region.to_string(),
            other_signal_ref: other_ref.to_owned(),
            other_node_chain: other_chain,
        };
        let theirs = pb::MatchCreated {
            match_id,
            kind: pb::MatchKind::Client as i32,
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
            sqlx::query("UPDATE matches SET ended_ms = $2 WHERE match_id = $1")
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
        }
        Ok(())
    }
}
