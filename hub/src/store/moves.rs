//! Verhuizing (issue 5; 002 art. 1, 15; 003 art. 14): the hub routes a move by the new
//! municipality, relays the sealed hand-over package as exactly one `Inverhuis`, relays the
//! receiving officer's offer back, and erases a youth who died (`forget`).
//!
//! The hub learns the new municipality's CBS code and the person key it already held; the
//! hand-over package and the offer are sealed to the other node's certified HPKE key, so the hub
//! relays them without being able to open them. Exactly once: operations are deduplicated by
//! op id, and a move id is routed and delivered at most once (a repeat changes nothing).

use std::collections::HashSet;

use prost::Message;
use sqlx::Row;
use vir_proto as pb;
use vir_shared::RegionCode;

use super::ingest::Ingest;
use super::key_index::Role;
use super::to_u64;
use crate::error::{HubError, StoreError};
use crate::ops::{MoveOut, SealedForMove, SignalRef};

/// Move statuses at the hub.
const ROUTED: &str = "routed";
const DELIVERED: &str = "delivered";
const OWN_REGION: &str = "own_region";
const UNCOVERED: &str = "uncovered";

impl Ingest<'_> {
    /// Records a move and tells the sender where it goes: `MoveRouted` with the receiving node's
    /// chain, or `MoveUncovered` when no node serves the municipality.
    pub(super) async fn move_out(&mut self, op_id: u64, m: &MoveOut) -> Result<(), HubError> {
        let existing = sqlx::query("SELECT from_region FROM moves WHERE move_id = $1")
            .bind(m.move_id.as_str())
            .fetch_optional(&mut *self.conn)
            .await?;
        if let Some(row) = existing {
            let from: String = row.try_get(0)?;
            if from != self.region.as_str() {
                return Err(HubError::precondition(format!(
                    "operation {op_id}: move_out.move_id: already used by another region"
                )));
            }
            return Ok(());
        }
        let serving: Option<String> =
            sqlx::query_scalar("SELECT region FROM node_municipalities WHERE municipality = $1")
                .bind(m.municipality.as_str())
                .fetch_optional(&mut *self.conn)
                .await?;
        let to_region = serving.and_then(|r| r.parse::<RegionCode>().ok());
        let status = match &to_region {
            None => UNCOVERED,
            Some(r) if r == self.region => OWN_REGION,
            Some(_) => ROUTED,
        };
        sqlx::query(
            "INSERT INTO moves (move_id, from_region, to_region, municipality, person_key, \
             key_version, status, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(m.move_id.as_str())
        .bind(self.region.as_str())
        .bind(to_region.as_ref().map(RegionCode::as_str))
        .bind(m.municipality.as_str())
        .bind(m.person_key.value.to_vec())
        .bind(i64::from(m.person_key.version))
        .bind(status)
        .bind(self.now_ms)
        .execute(&mut *self.conn)
        .await?;
        let sender = self.region.clone();
        let body = match &to_region {
            None => pb::feed_item::Body::MoveUncovered(pb::MoveUncovered {
                move_id: m.move_id.clone(),
                municipality: m.municipality.to_string(),
            }),
            Some(region) => pb::feed_item::Body::MoveRouted(pb::MoveRouted {
                move_id: m.move_id.clone(),
                to_region: region.to_string(),
                receiver_chain: if region == &sender {
                    Vec::new()
                } else {
                    self.chain(region).await?
                },
            }),
        };
        self.append(&sender, body);
        tracing::info!(op_id, move_id = %m.move_id, from_region = %sender, status, "move routed");
        Ok(())
    }

    /// Appends the one `Inverhuis` of a routed move, with the sealed package, to the receiving
    /// node's feed. A second hand-over for the same move changes nothing.
    pub(super) async fn move_handover(
        &mut self,
        op_id: u64,
        h: &SealedForMove,
    ) -> Result<(), HubError> {
        let refuse = |reason: &str| {
            HubError::precondition(format!("operation {op_id}: move_handover: {reason}"))
        };
        let row = sqlx::query(
            "SELECT from_region, to_region, municipality, person_key, key_version, status \
             FROM moves WHERE move_id = $1",
        )
        .bind(h.move_id.as_str())
        .fetch_optional(&mut *self.conn)
        .await?
        .ok_or_else(|| refuse("unknown move"))?;
        let from: String = row.try_get(0)?;
        let to: Option<String> = row.try_get(1)?;
        if from != self.region.as_str() || to.as_deref() != Some(h.to_region.as_str()) {
            return Err(refuse("not a move from the sender to to_region"));
        }
        let status: String = row.try_get(5)?;
        if status == DELIVERED {
            return Ok(());
        }
        if status != ROUTED {
            return Err(refuse("the move was not routed to another region"));
        }
        let municipality: String = row.try_get(2)?;
        let key_value: Vec<u8> = row.try_get(3)?;
        let key_version: i64 = row.try_get(4)?;
        let sender_chain = self.chain(&self.region.clone()).await?;
        let body = pb::feed_item::Body::Inverhuis(pb::Inverhuis {
            move_id: h.move_id.clone(),
            from_region: from,
            municipality,
            person_key: Some(pb::PseudoKey {
                domain: pb::KeyDomain::Person as i32,
                version: to_u64(key_version, "moves.key_version")? as u32,
                value: key_value,
            }),
            sealed: h.sealed.clone(),
            sender_chain,
        });
        sqlx::query("UPDATE moves SET status = $2, delivered_ms = $3 WHERE move_id = $1")
            .bind(h.move_id.as_str())
            .bind(DELIVERED)
            .bind(self.now_ms)
            .execute(&mut *self.conn)
            .await?;
        self.append(&h.to_region, body);
        self.outcome.envelopes += 1;
        tracing::info!(op_id, move_id = %h.move_id, to_region = %h.to_region, "inverhuis relayed");
        Ok(())
    }

    /// Relays the receiving officer's sealed offer back to the region the youth came from.
    pub(super) async fn handover_offer(
        &mut self,
        op_id: u64,
        h: &SealedForMove,
    ) -> Result<(), HubError> {
        let row =
            sqlx::query("SELECT from_region, to_region, status FROM moves WHERE move_id = $1")
                .bind(h.move_id.as_str())
                .fetch_optional(&mut *self.conn)
                .await?;
        let Some(row) = row else {
            return Err(HubError::precondition(format!(
                "operation {op_id}: handover_offer: unknown move"
            )));
        };
        let (from, to, status): (String, Option<String>, String) =
            (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        if to.as_deref() != Some(self.region.as_str())
            || from != h.to_region.as_str()
            || status != DELIVERED
        {
            return Err(HubError::precondition(format!(
                "operation {op_id}: handover_offer: not a move delivered to the sender from to_region"
            )));
        }
        let body = pb::feed_item::Body::HandoverOffered(pb::HandoverOffered {
            move_id: h.move_id.clone(),
            from_region: self.region.to_string(),
            sealed: h.sealed.clone(),
        });
        self.append(&h.to_region, body);
        self.outcome.envelopes += 1;
        Ok(())
    }

    /// A youth died or reached the age limit: erases the sender's signals `refs` with their
    /// keys, their matches, the
    /// moves with their person keys, and every feed item that names them (emptied in place, so
    /// the feeds stay contiguous; a node skips an empty item).
    pub(super) async fn forget(&mut self, refs: &[SignalRef]) -> Result<(), HubError> {
        self.flush_matches().await?;
        let mut keys: Vec<Vec<u8>> = Vec::new();
        let mut since_ms = i64::MAX;
        for r in refs {
            let row = sqlx::query(
                "SELECT person_key, created_ms FROM signals WHERE region = $1 AND signal_ref = $2",
            )
            .bind(self.region.as_str())
            .bind(r.as_str())
            .fetch_optional(&mut *self.conn)
            .await?;
            if let Some(row) = row {
                let key: Option<Vec<u8>> = row.try_get(0)?;
                keys.extend(key);
                since_ms = since_ms.min(row.try_get(1)?);
            }
        }
        let mut match_ids: HashSet<String> = HashSet::new();
        let mut move_ids: HashSet<String> = HashSet::new();
        // The feeds that can name what is erased: the sender's, and those of the regions it
        // matched with or handed a move to.
        let mut regions: HashSet<String> = HashSet::from([self.region.to_string()]);
        for r in refs {
            let rows: Vec<(String, String, String)> = sqlx::query_as(
                "SELECT match_id, region_a, region_b FROM matches \
                 WHERE (region_a = $1 AND ref_a = $2) OR (region_b = $1 AND ref_b = $2)",
            )
            .bind(self.region.as_str())
            .bind(r.as_str())
            .fetch_all(&mut *self.conn)
            .await?;
            for (id, a, b) in rows {
                match_ids.insert(id);
                regions.insert(a);
                regions.insert(b);
            }
            sqlx::query(
                "DELETE FROM matches WHERE (region_a = $1 AND ref_a = $2) \
                 OR (region_b = $1 AND ref_b = $2)",
            )
            .bind(self.region.as_str())
            .bind(r.as_str())
            .execute(&mut *self.conn)
            .await?;
            self.delete_signal_rows(r.as_str()).await?;
        }
        keys.sort();
        keys.dedup();
        for key in &keys {
            let rows: Vec<(String, i64, String, Option<String>)> = sqlx::query_as(
                "SELECT move_id, created_ms, from_region, to_region FROM moves \
                 WHERE person_key = $1",
            )
            .bind(key.clone())
            .fetch_all(&mut *self.conn)
            .await?;
            for (id, created, from, to) in rows {
                since_ms = since_ms.min(created);
                move_ids.insert(id);
                regions.insert(from);
                regions.extend(to);
            }
            sqlx::query("DELETE FROM moves WHERE person_key = $1")
                .bind(key.clone())
                .execute(&mut *self.conn)
                .await?;
        }
        let erased = Erased {
            keys: keys.iter().cloned().collect(),
            region: self.region.to_string(),
            refs: refs.iter().map(|r| r.as_str().to_owned()).collect(),
            match_ids,
            move_ids,
        };
        let mut emptied = 0;
        if since_ms != i64::MAX {
            for region in &regions {
                emptied += self.empty_feed_items(&erased, region, since_ms).await?;
            }
        }
        for bodies in self.pending.values_mut() {
            bodies.retain(|body| !erased.names(body));
        }
        tracing::info!(
            signals = refs.len(),
            feed_items_emptied = emptied,
            "a youth's signals erased at the hub"
        );
        Ok(())
    }

    /// Empties the items of `region`'s feed since `since_ms` that name what was erased;
    /// returns how many.
    async fn empty_feed_items(
        &mut self,
        erased: &Erased,
        region: &str,
        since_ms: i64,
    ) -> Result<u64, StoreError> {
        let rows: Vec<(i64, Vec<u8>)> = sqlx::query_as(
            "SELECT seq, body FROM feed WHERE region = $1 AND created_ms >= $2 ORDER BY seq",
        )
        .bind(region)
        .bind(since_ms)
        .fetch_all(&mut *self.conn)
        .await?;
        let empty = pb::FeedItem::default().encode_to_vec();
        let mut count = 0;
        for (seq, body) in rows {
            let Ok(item) = pb::FeedItem::decode(body.as_slice()) else {
                continue;
            };
            let names = item.body.as_ref().is_some_and(|b| {
                erased.names(b) || (region == erased.region && erased.names_own(b))
            });
            if names {
                sqlx::query(
                    "UPDATE feed SET body = $3, chain_digest = NULL WHERE region = $1 AND seq = $2",
                )
                .bind(region)
                .bind(seq)
                .bind(empty.clone())
                .execute(&mut *self.conn)
                .await?;
                count += 1;
            }
        }
        Ok(count)
    }

    /// Deletes one of the sender's signals and its other keys; on SQLite the key index drops
    /// them when the `Submit` commits (`key_index.rs`).
    async fn delete_signal_rows(&mut self, signal_ref: &str) -> Result<(), StoreError> {
        self.delete_other_keys(signal_ref).await?;
        let deleted = self
            .delete_rows("signals", "rowid, substr(person_key, 1, 8)", signal_ref)
            .await?;
        if let Some(index) = self.index.as_mut() {
            for row in deleted {
                if let Some(prefix) = row.try_get::<Option<Vec<u8>>, _>(1)? {
                    index.removed(Role::Person, &prefix, row.try_get(0)?)?;
                }
            }
        }
        Ok(())
    }
}

/// What a `forget` erased, to find the feed items that name it.
struct Erased {
    /// The person keys of the erased signals.
    keys: HashSet<Vec<u8>>,
    region: String,
    refs: HashSet<String>,
    match_ids: HashSet<String>,
    move_ids: HashSet<String>,
}

impl Erased {
    /// The item names an erased signal of the region, an erased match, or an erased move.
    fn names(&self, body: &pb::feed_item::Body) -> bool {
        use pb::feed_item::Body;
        match body {
            Body::MatchCreated(m) => {
                self.match_ids.contains(&m.match_id)
                    || (m.other_region == self.region && self.refs.contains(&m.other_signal_ref))
            }
            Body::Envelope(e) => {
                self.match_ids.contains(&e.match_id)
                    || (e.from_region == self.region && self.refs.contains(&e.about_signal_ref))
            }
            Body::MoveRouted(m) => self.move_ids.contains(&m.move_id),
            Body::MoveUncovered(m) => self.move_ids.contains(&m.move_id),
            Body::Inverhuis(m) => self.move_ids.contains(&m.move_id),
            Body::HandoverOffered(m) => self.move_ids.contains(&m.move_id),
            // A match that ended tells the other side of another youth (a family match) that
            // it ended; it names only that side's signal.
            Body::InzageRequested(r) => r
                .person_key
                .as_ref()
                .is_some_and(|k| self.keys.contains(&k.value)),
            Body::MatchEnded(_) | Body::InzageAnswered(_) | Body::InzageForwarded(_) => false,
        }
    }

    /// In the sender's own feed: items about its erased signals.
    fn names_own(&self, body: &pb::feed_item::Body) -> bool {
        use pb::feed_item::Body;
        match body {
            Body::MatchCreated(m) => self.refs.contains(&m.your_signal_ref),
            Body::MatchEnded(m) => self.refs.contains(&m.your_signal_ref),
            _ => false,
        }
    }
}
