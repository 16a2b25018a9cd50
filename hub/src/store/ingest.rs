//! Applying a node's operations: upserts and matching, removals, envelope relays. One
//! transaction per `Submit`; any error rolls the whole request back.
//!
//! Upserts are applied in bulk runs (`upsert.rs`), matches made and ended in `matching.rs`.
//!
//! Matching rules of the hub:
//! - Signals match when they share a key (same value and key version) and belong to different
//!   regions: a person key (client), a parent key (family), an address key (address) or a
//!   fallback key where one has no BSN (candidate); the strongest kind wins ([`super::kinds`]).
//!   Same-region matches are the node's own business.
//! - A pair has at most one active match. A new match is told to both nodes (`MatchCreated`,
//!   each from its own view, with the other node's certificate chain).
//! - A removed signal ends its active matches; the other side is told (`MatchEnded`).
//! - An active signal re-upserted with a different key of the same version identifies another
//!   person now (a corrected BSN): its matches end and both sides are told. A different key
//!   version is a key rotation of the same person: matches stay. Otherwise a re-upserted
//!   signal's matches are reconciled with its new keys (`keys.rs`).

use std::collections::{BTreeMap, HashMap, HashSet};

use sqlx::{AnyConnection, Row};
use vir_proto as pb;
use vir_shared::RegionCode;

use super::feed::append_all;
use super::key_index::IndexTx;
use super::matching::NewMatch;
use super::nodes::decode_chain;
use super::upsert::MAX_RUN;
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
        let index = match &self.key_index {
            Some(key_index) => Some(key_index.begin(conn(&mut tx)).await?),
            None => None,
        };
        let mut ingest = Ingest {
            conn: conn(&mut tx),
            index,
            region,
            now_ms,
            chains: HashMap::new(),
            pending: BTreeMap::new(),
            new_matches: Vec::new(),
            outcome: SubmitOutcome {
                last_applied_op_id: before,
                ..SubmitOutcome::default()
            },
        };
        // Op ids increase strictly, so the duplicates are a prefix.
        let first_new = ops.partition_point(|o| o.op_id <= before);
        for operation in &ops[..first_new] {
            ingest
                .outcome
                .results
                .push((operation.op_id, OpOutcome::Duplicate));
        }
        ingest.apply_all(&ops[first_new..]).await?;
        let mut index = ingest.index.take();
        let outcome = ingest.finish().await?;
        if outcome.last_applied_op_id != before {
            sqlx::query("UPDATE nodes SET last_op_id = $2 WHERE region = $1")
                .bind(region.as_str())
                .bind(to_i64(outcome.last_applied_op_id))
                .execute(conn(&mut tx))
                .await?;
        }
        if let Some(index) = index.as_mut() {
            index.commit_starts();
        }
        let committed = tx.commit().await;
        if let (Ok(()), Some(index)) = (&committed, index.take()) {
            index.committed();
        }
        // Otherwise the index's part drops in its commit state: rebuilt before the next
        // `Submit` (`key_index::IndexTx`).
        committed?;
        Ok(outcome)
    }
}

/// The upserts at the start of `ops` that can be applied together: consecutive, with distinct
/// signal refs, at most [`MAX_RUN`] of them.
fn upsert_run(ops: &[Operation]) -> Vec<&Upsert> {
    let mut refs = HashSet::new();
    let mut run = Vec::new();
    for operation in ops.iter().take(MAX_RUN) {
        match &operation.op {
            Op::Upsert(u) if refs.insert(u.signal_ref.as_str()) => run.push(u),
            _ => break,
        }
    }
    run
}

/// The state of one `Submit` transaction.
pub(super) struct Ingest<'a> {
    pub(super) conn: &'a mut AnyConnection,
    /// On SQLite, this transaction's changes to the key index (`key_index.rs`).
    pub(super) index: Option<IndexTx>,
    /// The submitting node's region.
    pub(super) region: &'a RegionCode,
    pub(super) now_ms: i64,
    /// Certificate chains read in this transaction, per region.
    chains: HashMap<RegionCode, Vec<Vec<u8>>>,
    /// Feed items of this transaction per region, in order; written by [`Ingest::finish`].
    pub(super) pending: BTreeMap<RegionCode, Vec<pb::feed_item::Body>>,
    /// Matches created in this transaction, not yet written (see [`Ingest::flush_matches`]).
    pub(super) new_matches: Vec<NewMatch>,
    pub(super) outcome: SubmitOutcome,
}

impl Ingest<'_> {
    /// Applies new operations in order: runs of upserts in bulk, the others one by one.
    async fn apply_all(&mut self, ops: &[Operation]) -> Result<(), HubError> {
        let mut rest = ops;
        while let Some(first) = rest.first() {
            let taken = match &first.op {
                Op::Upsert(_) => {
                    let run = upsert_run(rest);
                    self.upsert_run(&run).await?;
                    run.len()
                }
                Op::Remove { signal_ref } => {
                    self.remove(signal_ref).await?;
                    1
                }
                Op::Relay(relay) => {
                    self.relay(first.op_id, relay).await?;
                    1
                }
                Op::InzageRequest(request) => {
                    self.inzage_request(first.op_id, request).await?;
                    1
                }
                Op::InzageAnswer(answer) => {
                    self.inzage_answer(first.op_id, answer).await?;
                    1
                }
                Op::MoveOut(m) => {
                    self.move_out(first.op_id, m).await?;
                    1
                }
                Op::MoveHandover(h) => {
                    self.move_handover(first.op_id, h).await?;
                    1
                }
                Op::HandoverOffer(h) => {
                    self.handover_offer(first.op_id, h).await?;
                    1
                }
                Op::Forget { signal_refs } => {
                    self.forget(signal_refs).await?;
                    1
                }
            };
            for operation in &rest[..taken] {
                self.outcome.last_applied_op_id = operation.op_id;
                self.outcome
                    .results
                    .push((operation.op_id, OpOutcome::Applied));
            }
            rest = &rest[taken..];
        }
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
        self.flush_matches().await?;
        let row =
            sqlx::query("SELECT region_a, ref_a, region_b, ref_b FROM matches WHERE match_id = $1")
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
                format!(
                    "match {} is not between {sender} and {receiver}",
                    r.match_id
                ),
            ));
        };
        if sender_ref != r.about_signal_ref.as_str() {
            return Err(refuse(
                "relay.about_signal_ref",
                format!("not the sender's signal in match {}", r.match_id),
            ));
        }
        // Kept beside the feed item for snapshots (`store::snapshot`), in this transaction.
        sqlx::query(
            "INSERT INTO match_envelopes \
             (match_id, to_region, from_region, about_signal_ref, sealed, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (match_id, to_region) DO UPDATE SET from_region = excluded.from_region, \
             about_signal_ref = excluded.about_signal_ref, sealed = excluded.sealed, \
             created_ms = excluded.created_ms",
        )
        .bind(r.match_id.as_str())
        .bind(receiver)
        .bind(sender)
        .bind(sender_ref.as_str())
        .bind(r.sealed.clone())
        .bind(self.now_ms)
        .execute(&mut *self.conn)
        .await?;
        let body = pb::feed_item::Body::Envelope(pb::EnvelopeDelivered {
            match_id: r.match_id.clone(),
            from_region: sender.to_owned(),
            about_signal_ref: sender_ref,
            sealed: r.sealed.clone(),
        });
        self.append(&r.to_region, body);
        self.outcome.envelopes += 1;
        Ok(())
    }

    /// Queues a feed item; all are written at the end of the transaction.
    pub(super) fn append(&mut self, region: &RegionCode, body: pb::feed_item::Body) {
        self.pending.entry(region.clone()).or_default().push(body);
    }

    /// Writes the feed items of this transaction (all regions at once, `feed::append_all`), and
    /// returns the outcome with the new feed heads.
    async fn finish(mut self) -> Result<SubmitOutcome, StoreError> {
        self.flush_matches().await?;
        let pending = std::mem::take(&mut self.pending);
        self.outcome.feed_heads = append_all(self.conn, pending, self.now_ms).await?;
        Ok(self.outcome)
    }

    /// The certificate chain a region's node last presented (empty if it never called).
    pub(super) async fn chain(&mut self, region: &RegionCode) -> Result<Vec<Vec<u8>>, StoreError> {
        if let Some(chain) = self.chains.get(region) {
            return Ok(chain.clone());
        }
        let stored: Option<Vec<u8>> = sqlx::query("SELECT cert_chain FROM nodes WHERE region = $1")
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
