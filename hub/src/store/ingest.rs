//! Applying a node's operations: upserts and matching, removals, envelope relays. One
//! transaction per `Submit`; any error rolls the whole request back.
//!
//! Matching rules of the hub:
//! - Signals match when their person keys are equal (same value and key version) and they
//!   belong to different regions. Same-region matches are the node's own business.
//! - A pair has at most one active match. A new match is told to both nodes (`MatchCreated`,
//!   each from its own view, with the other node's certificate chain).
//! - A removed signal ends its active matches; the other side is told (`MatchEnded`).
//! - An active signal re-upserted with a different key of the same version identifies another
//!   person now (a corrected BSN): its matches end and both sides are told. A different key
//!   version is a key rotation of the same person: matches stay.

use std::collections::{BTreeMap, HashMap};

use sqlx::{AnyConnection, Row};
use vir_proto as pb;
use vir_shared::keys::PseudoKey;
use vir_shared::RegionCode;

use super::feed::append;
use super::nodes::decode_chain;
use super::{conn, to_i64, to_u64, Store};
use crate::error::{HubError, StoreError};
use crate::ops::{Op, Operation, Relay, SignalRef, Upsert};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpOutcome {
    Applied,
    Duplicate,
}

/// What a `Submit` did: per-op outcomes, and which feeds grew (to wake their subscribers).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubmitOutcome {
    pub results: Vec<(u64, OpOutcome)>,
    pub last_applied_op_id: u64,
    /// The new head of every feed that got items.
    pub feed_heads: BTreeMap<RegionCode, u64>,
    pub matches_created: u64,
    pub matches_ended: u64,
    pub envelopes: u64,
}

impl Store {
    /// Applies `ops` (already validated, strictly increasing) for the node of `region`, in one
    /// transaction. Op ids at or below the node's last applied one are duplicates and change
    /// nothing.
    pub async fn submit(
        &self,
        region: &RegionCode,
        ops: &[Operation],
        now_ms: i64,
    ) -> Result<SubmitOutcome, HubError> {
        let mut tx = self.begin_submit().await?;
        let last: i64 = sqlx::query("SELECT last_op_id FROM nodes WHERE region = $1")
            .bind(region.as_str())
            .fetch_optional(conn(&mut tx))
            .await?
            .ok_or_else(|| HubError::precondition(format!("region {region} is not registered")))?
            .try_get(0)?;
        let before = to_u64(last, "last_op_id")?;
        let mut ingest = Ingest {
            conn: conn(&mut tx),
            region,
            now_ms,
            chains: HashMap::new(),
            outcome: SubmitOutcome {
                last_applied_op_id: before,
                ..SubmitOutcome::default()
            },
        };
        for operation in ops {
            if operation.op_id <= ingest.outcome.last_applied_op_id {
                ingest
                    .outcome
                    .results
                    .push((operation.op_id, OpOutcome::Duplicate));
                continue;
            }
            ingest.apply(operation).await?;
            ingest.outcome.last_applied_op_id = operation.op_id;
            ingest
                .outcome
                .results
                .push((operation.op_id, OpOutcome::Applied));
        }
        let outcome = ingest.outcome;
        if outcome.last_applied_op_id != before {
            sqlx::query("UPDATE nodes SET last_op_id = $2 WHERE region = $1")
                .bind(region.as_str())
                .bind(to_i64(outcome.last_applied_op_id))
                .execute(conn(&mut tx))
                .await?;
        }
        tx.commit().await?;
        Ok(outcome)
    }
}

/// The state of one `Submit` transaction.
struct Ingest<'a> {
    conn: &'a mut AnyConnection,
    region: &'a RegionCode,
    now_ms: i64,
    /// Certificate chains read in this transaction, per region.
    chains: HashMap<RegionCode, Vec<Vec<u8>>>,
    outcome: SubmitOutcome,
}

/// An active match as seen from one of its signals.
struct MatchSide {
    match_id: String,
    other_region: String,
    other_ref: String,
}

impl Ingest<'_> {
    async fn apply(&mut self, operation: &Operation) -> Result<(), HubError> {
        match &operation.op {
            Op::Upsert(upsert) => self.upsert(upsert).await?,
            Op::Remove { signal_ref } => self.remove(signal_ref).await?,
            Op::Relay(relay) => self.relay(operation.op_id, relay).await?,
        }
        Ok(())
    }

    async fn upsert(&mut self, u: &Upsert) -> Result<(), StoreError> {
        let region = self.region.as_str();
        let key = &u.person_key;
        let previous = sqlx::query(
            "SELECT person_key, key_version, active FROM signals \
             WHERE region = $1 AND signal_ref = $2",
        )
        .bind(region)
        .bind(u.signal_ref.as_str())
        .fetch_optional(&mut *self.conn)
        .await?;
        match previous {
            None => {
                sqlx::query(
                    "INSERT INTO signals (region, signal_ref, person_key, key_version, \
                     municipality, active, created_ms, updated_ms) \
                     VALUES ($1, $2, $3, $4, $5, 1, $6, $6)",
                )
                .bind(region)
                .bind(u.signal_ref.as_str())
                .bind(key.value.to_vec())
                .bind(i64::from(key.version))
                .bind(u.municipality.as_str())
                .bind(self.now_ms)
                .execute(&mut *self.conn)
                .await?;
            }
            Some(row) => {
                let old_key: Vec<u8> = row.try_get(0)?;
                let old_version: i64 = row.try_get(1)?;
                let was_active: i64 = row.try_get(2)?;
                let other_person = old_version == i64::from(key.version)
                    && old_key.as_slice() != key.value.as_slice();
                if was_active == 1 && other_person {
                    self.end_matches(&u.signal_ref, true).await?;
                }
                sqlx::query(
                    "UPDATE signals SET person_key = $3, key_version = $4, municipality = $5, \
                     active = 1, updated_ms = $6, removed_ms = NULL \
                     WHERE region = $1 AND signal_ref = $2",
                )
                .bind(region)
                .bind(u.signal_ref.as_str())
                .bind(key.value.to_vec())
                .bind(i64::from(key.version))
                .bind(u.municipality.as_str())
                .bind(self.now_ms)
                .execute(&mut *self.conn)
                .await?;
            }
        }
        self.match_key(&u.signal_ref, key).await
    }

    /// Creates a match with every active signal of another region with the same key, unless
    /// the pair already has an active one.
    async fn match_key(&mut self, signal_ref: &SignalRef, key: &PseudoKey) -> Result<(), StoreError> {
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
            let existing = sqlx::query(
                "SELECT match_id FROM matches WHERE ended_ms IS NULL AND \
                 ((region_a = $1 AND ref_a = $2 AND region_b = $3 AND ref_b = $4) OR \
                  (region_a = $3 AND ref_a = $4 AND region_b = $1 AND ref_b = $2))",
            )
            .bind(self.region.as_str())
            .bind(signal_ref.as_str())
            .bind(other_region.as_str())
            .bind(other_ref.as_str())
            .fetch_optional(&mut *self.conn)
            .await?;
            if existing.is_none() {
                self.create_match(signal_ref, &other_region, &other_ref).await?;
            }
        }
        Ok(())
    }

    async fn create_match(
        &mut self,
        signal_ref: &SignalRef,
        other_region: &str,
        other_ref: &str,
    ) -> Result<(), StoreError> {
        let other_region: RegionCode = other_region
            .parse()
            .map_err(|e| StoreError::Corrupt(format!("signals.region: {e}")))?;
        let match_id = uuid::Uuid::new_v4().hyphenated().to_string();
        sqlx::query(
            "INSERT INTO matches (match_id, kind, region_a, ref_a, region_b, ref_b, created_ms) \
             VALUES ($1, 'client', $2, $3, $4, $5, $6)",
        )
        .bind(match_id.as_str())
        .bind(self.region.as_str())
        .bind(signal_ref.as_str())
        .bind(other_region.as_str())
        .bind(other_ref)
        .bind(self.now_ms)
        .execute(&mut *self.conn)
        .await?;

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
        self.append(region, pb::feed_item::Body::MatchCreated(ours))
            .await?;
        self.append(&other_region, pb::feed_item::Body::MatchCreated(theirs))
            .await?;
        self.outcome.matches_created += 1;
        Ok(())
    }

    async fn remove(&mut self, signal_ref: &SignalRef) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE signals SET active = 0, removed_ms = $3, updated_ms = $3 \
             WHERE region = $1 AND signal_ref = $2 AND active = 1",
        )
        .bind(self.region.as_str())
        .bind(signal_ref.as_str())
        .bind(self.now_ms)
        .execute(&mut *self.conn)
        .await?;
        // Removing an unknown or already inactive signal is a no-op, not an error: the node's
        // outbox may carry a removal of a signal whose upsert was never forwarded.
        if done.rows_affected() > 0 {
            self.end_matches(signal_ref, false).await?;
        }
        Ok(())
    }

    /// Ends the active matches of one of this node's signals and tells the other sides (and,
    /// with `tell_self`, this node too).
    async fn end_matches(&mut self, signal_ref: &SignalRef, tell_self: bool) -> Result<(), StoreError> {
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
            self.append(&other_region, ended(side.other_ref.clone()))
                .await?;
            if tell_self {
                let region = self.region;
                self.append(region, ended(signal_ref.to_string())).await?;
            }
            self.outcome.matches_ended += 1;
        }
        Ok(())
    }

    /// Queues a sealed envelope for the other node of a match. The match must exist and be
    /// between the sender's region and `to_region`, and be about the sender's signal in it. An
    /// ended match still relays: the envelope may have been queued before the end.
    async fn relay(&mut self, op_id: u64, r: &Relay) -> Result<(), HubError> {
        let refuse = |field: &str, reason: String| {
            HubError::precondition(format!("operation {op_id}: {field}: {reason}"))
        };
        if &r.to_region == self.region {
            return Err(HubError::invalid(format!(
                "operation {op_id}: relay.to_region: cannot relay to the sender's own region"
            )));
        }
        let row = sqlx::query(
            "SELECT region_a, ref_a, region_b, ref_b FROM matches WHERE match_id = $1",
        )
        .bind(r.match_id.as_str())
        .fetch_optional(&mut *self.conn)
        .await?
        .ok_or_else(|| refuse("relay.match_id", format!("unknown match {}", r.match_id)))?;
        let (region_a, ref_a): (String, String) = (row.try_get(0)?, row.try_get(1)?);
        let (region_b, ref_b): (String, String) = (row.try_get(2)?, row.try_get(3)?);
        let (sender, receiver) = (self.region.as_str(), r.to_region.as_str());
        let sender_ref = if region_a == sender && region_b == receiver {
            ref_a
        } else if region_b == sender && region_a == receiver {
            ref_b
        } else {
            return Err(refuse(
                "relay.match_id",
                format!("match {} is not between {sender} and {receiver}", r.match_id),
            ));
        };
        if sender_ref != r.about_signal_ref.as_str() {
            return Err(refuse(
                "relay.about_signal_ref",
                format!("not the sender's signal in match {}", r.match_id),
            ));
        }
        let body = pb::feed_item::Body::Envelope(pb::EnvelopeDelivered {
            match_id: r.match_id.clone(),
            from_region: sender.to_owned(),
            about_signal_ref: sender_ref,
            sealed: r.sealed.clone(),
        });
        self.append(&r.to_region, body).await?;
        self.outcome.envelopes += 1;
        Ok(())
    }

    async fn append(
        &mut self,
        region: &RegionCode,
        body: pb::feed_item::Body,
    ) -> Result<(), StoreError> {
        let seq = append(self.conn, region, body, self.now_ms).await?;
        self.outcome.feed_heads.insert(region.clone(), seq);
        Ok(())
    }

    /// The certificate chain a region's node last presented (empty if it never called).
    async fn chain(&mut self, region: &RegionCode) -> Result<Vec<Vec<u8>>, StoreError> {
        if let Some(chain) = self.chains.get(region) {
            return Ok(chain.clone());
        }
        let stored: Option<Vec<u8>> =
            sqlx::query("SELECT cert_chain FROM nodes WHERE region = $1")
                .bind(region.as_str())
                .fetch_optional(&mut *self.conn)
                .await?
                .map(|row| row.try_get(0))
                .transpose()?
                .flatten();
        let chain = match stored {
            Some(bytes) => decode_chain(&bytes)?,
            None => Vec::new(),
        };
        if chain.is_empty() {
            tracing::warn!(%region, "no certificate chain stored for a matched region");
        }
        self.chains.insert(region.clone(), chain.clone());
        Ok(chain)
    }
}
