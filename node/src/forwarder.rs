//! The forwarder: drains the outbox to `Hub.Submit`, in id order, never skipping a row.
//!
//! Each round reads the oldest unsent operations (`forwarder.batch_size`), makes sure every
//! youth of an `upsert` has a person key (missing ones are fetched in one batch from the
//! pseudonymiser through the OPRF client and cached in `youths`), and submits them with
//! `op_id` = outbox id. Operations the hub reports APPLIED or DUPLICATE (already applied: a
//! re-sent batch) are marked sent; anything else is retried with exponential back-off and
//! jitter (backon), capped at [`MAX_BACKOFF`]. The forwarder sleeps until a writer commits to
//! the outbox (a [`Notify`]) or `forwarder.poll_ms` passes.
//!
//! An upsert also carries the person keys of the youth's parents, the fallback key, and, where
//! the region has address matching on, the address key ([`crate::keyinputs`]); a youth without
//! a BSN has no person key.
//!
//! A cached key of another version than the pseudonymiser's current one (a rotation happened,
//! [`crate::rekey`]) counts as missing and is fetched again.
//!
//! Only keys, opaque signal refs, municipality codes and sealed envelopes leave the node
//! (domain.md "Pseudonymisation"): the BSN goes to the pseudonymiser blinded, never to the hub.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use vir_proto as pb;
use vir_proto::hub_client::HubClient;
use vir_pseudonymiser::client::{KeyClient, KeyClientError};
use vir_shared::db::Db;
use vir_shared::keys::{KeyDomain, PseudoKey};
use vir_shared::{Bsn, RegionCode, SharedClock};

use crate::store::outbox::{self, OutboxOp, OutboxRow};
use crate::store::{signals, StoreError};

/// The longest pause between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Exponential back-off with jitter from 100 ms up to [`MAX_BACKOFF`], for ever.
pub(crate) fn backoff() -> ExponentialBackoff {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(100))
        .with_max_delay(MAX_BACKOFF)
        .with_jitter()
        .without_max_times()
        .build()
}

#[derive(Debug, thiserror::Error)]
enum ForwardError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("pseudonymiser: {0}")]
    Keys(#[from] KeyClientError),
    #[error("hub: {} ({:?})", .0.message(), .0.code())]
    Hub(#[from] tonic::Status),
    #[error("hub: Submit timed out")]
    Timeout,
    #[error("outbox row {0} names a signal that is not stored")]
    MissingSignal(i64),
    #[error("outbox row {0}: no person key for its youth")]
    MissingKey(i64),
    #[error("relay {0}: sealed envelope is not hex")]
    BadRelay(i64),
    #[error("pseudonymiser returned {got} keys for {asked} inputs")]
    KeyCount { asked: usize, got: usize },
    #[error("hub did not accept op {0}")]
    NotAccepted(u64),
    #[error(transparent)]
    Inputs(#[from] crate::keyinputs::FetchError),
}

pub struct Forwarder {
    pub db: Db,
    pub clock: SharedClock,
    pub region: RegionCode,
    pub hub: HubClient<Channel>,
    pub keys: KeyClient,
    pub batch_size: u32,
    pub poll: Duration,
    pub wake: Arc<Notify>,
    /// The region has address matching on: upserts carry the youth's address key.
    pub address_match: bool,
    /// How long one `Submit` may take before it counts as failed (and is sent again).
    pub submit_timeout: Duration,
}

impl Forwarder {
    /// Runs until `shutdown` is cancelled.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut delays = backoff();
        loop {
            if shutdown.is_cancelled() {
                return;
            }
            let pause = match self.forward_batch().await {
                Ok(0) => {
                    delays = backoff();
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = self.wake.notified() => {}
                        _ = tokio::time::sleep(self.poll) => {}
                    }
                    continue;
                }
                Ok(sent) => {
                    tracing::debug!(sent, "outbox operations accepted by the hub");
                    delays = backoff();
                    continue;
                }
                Err(e) => {
                    let delay = delays.next().unwrap_or(MAX_BACKOFF);
                    let delay = match &e {
                        ForwardError::Keys(k) => k.retry_after().map_or(delay, |r| r.max(delay)),
                        ForwardError::Inputs(k) => k.retry_after().map_or(delay, |r| r.max(delay)),
                        _ => delay,
                    };
                    tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "forwarding to the hub failed; will retry");
                    delay
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// One round: read, key, submit, mark. Returns how many operations were marked sent.
    async fn forward_batch(&mut self) -> Result<usize, ForwardError> {
        let rows = {
            let mut conn = self.db.pool.acquire().await.map_err(StoreError::from)?;
            outbox::unsent(&mut conn, i64::from(self.batch_size)).await?
        };
        if rows.is_empty() {
            return Ok(0);
        }
        let rows = within_submit_budget(rows);
        let operations = self.operations(&rows).await?;
        let request = pb::SubmitRequest {
            region: self.region.to_string(),
            operations,
        };
        let response = tokio::time::timeout(self.submit_timeout, self.hub.submit(request))
            .await
            .map_err(|_| ForwardError::Timeout)??
            .into_inner();

        let accepted: Vec<i64> = response
            .results
            .iter()
            .filter(|r| {
                matches!(
                    pb::OpOutcome::try_from(r.outcome),
                    Ok(pb::OpOutcome::Applied | pb::OpOutcome::Duplicate)
                )
            })
            .filter_map(|r| i64::try_from(r.op_id).ok())
            .filter(|id| rows.iter().any(|row| row.id == *id))
            .collect();
        if !accepted.is_empty() {
            let mut tx = self.db.write().await.map_err(StoreError::from)?;
            outbox::mark_sent(&mut tx.tx, &accepted, self.clock.now().timestamp_millis()).await?;
            tx.commit().await.map_err(StoreError::from)?;
        }
        if accepted.len() < rows.len() {
            let missing = rows
                .iter()
                .map(|r| r.id)
                .find(|id| !accepted.contains(id))
                .unwrap_or_default();
            return Err(ForwardError::NotAccepted(missing as u64));
        }
        Ok(accepted.len())
    }

    /// The wire operations for a batch of rows, with the keys filled in.
    async fn operations(&self, rows: &[OutboxRow]) -> Result<Vec<pb::Operation>, ForwardError> {
        let mut conn = self.db.pool.acquire().await.map_err(StoreError::from)?;
        // Signals of the upserts, the youths whose key is not cached yet, and the other
        // inputs (parents, address, fallback identity) of each upsert.
        let mut upserts = HashMap::new();
        let mut keys: HashMap<Bsn, PseudoKey> = HashMap::new();
        let mut missing: Vec<Bsn> = Vec::new();
        // After a key rotation a cached key of the old version is fetched again, so a new
        // upsert never carries one (the re-key of `crate::rekey` does the others).
        let current = self.keys.cached_current_version();
        let mut other_keys = crate::keyinputs::KeyInputs::at_version(current);
        for row in rows {
            if let OutboxOp::Upsert { signal_ref } = &row.op {
                let signal = signals::get(&mut conn, signal_ref)
                    .await?
                    .ok_or(ForwardError::MissingSignal(row.id))?;
                let inputs = crate::keyinputs::UpsertInputs::of_signal(
                    &mut conn,
                    &signal,
                    self.address_match,
                )
                .await?;
                // A youth without a BSN has no person key: its VIN never leaves the node.
                if inputs.with_bsn
                    && !keys.contains_key(&signal.bsn)
                    && !missing.contains(&signal.bsn)
                {
                    match signals::person_key(&mut conn, &signal.bsn).await? {
                        Some(key) if current.is_none_or(|v| v == key.version) => {
                            keys.insert(signal.bsn.clone(), key);
                        }
                        _ => missing.push(signal.bsn.clone()),
                    }
                }
                other_keys.want(&mut conn, &inputs).await?;
                upserts.insert(row.id, (signal, inputs));
            }
        }
        // Inzage across regions: the youth's person key, like an upsert's.
        for row in rows {
            if let OutboxOp::InzageRequest { bsn, .. } = &row.op {
                let bsn: Bsn = bsn.parse().map_err(|_| ForwardError::BadRelay(row.id))?;
                if !keys.contains_key(&bsn) && !missing.contains(&bsn) {
                    match signals::person_key(&mut conn, &bsn).await? {
                        Some(key) if current.is_none_or(|v| v == key.version) => {
                            keys.insert(bsn, key);
                        }
                        _ => missing.push(bsn),
                    }
                }
            }
        }
        // Verhuizing: the person key of the moving youth, found through one of its signals.
        let mut movers: HashMap<i64, Bsn> = HashMap::new();
        for row in rows {
            if let OutboxOp::MoveOut { signal_ref, .. } = &row.op {
                let signal = signals::get(&mut conn, signal_ref)
                    .await?
                    .ok_or(ForwardError::MissingSignal(row.id))?;
                let bsn = signal.bsn.clone();
                if !keys.contains_key(&bsn) && !missing.contains(&bsn) {
                    match signals::person_key(&mut conn, &bsn).await? {
                        Some(key) if current.is_none_or(|v| v == key.version) => {
                            keys.insert(bsn.clone(), key);
                        }
                        _ => missing.push(bsn.clone()),
                    }
                }
                movers.insert(row.id, bsn);
            }
        }
        drop(conn);
        // The youths' keys and the other inputs' keys at once: separate OPRF round trips, and
        // each one is on the way of a new signal to the hub.
        let (youth_keys, ()) = tokio::try_join!(
            async {
                match missing.is_empty() {
                    true => Ok(Vec::new()),
                    false => self.fetch_keys(&missing).await,
                }
            },
            async {
                let fetched = other_keys.fetch_missing(&self.db, &self.keys).await;
                fetched.map_err(ForwardError::from)
            },
        )?;
        keys.extend(youth_keys);

        let mut operations = Vec::with_capacity(rows.len());
        for row in rows {
            let op = match &row.op {
                OutboxOp::Upsert { signal_ref } => {
                    let (signal, inputs) = upserts
                        .get(&row.id)
                        .ok_or(ForwardError::MissingSignal(row.id))?;
                    let person_key = if inputs.with_bsn {
                        let key = keys
                            .get(&signal.bsn)
                            .ok_or(ForwardError::MissingKey(row.id))?;
                        Some(pb::PseudoKey::from(key))
                    } else {
                        None
                    };
                    let mut upsert = other_keys
                        .upsert(inputs)
                        .ok_or(ForwardError::MissingKey(row.id))?;
                    upsert.signal_ref = signal_ref.clone();
                    upsert.person_key = person_key;
                    upsert.municipality = signal.municipality.to_string();
                    pb::operation::Op::Upsert(upsert)
                }
                OutboxOp::Remove { signal_ref } => pb::operation::Op::Remove(pb::SignalRemove {
                    signal_ref: signal_ref.clone(),
                }),
                OutboxOp::Relay {
                    match_id,
                    to_region,
                    about_signal_ref,
                    sealed_hex,
                } => pb::operation::Op::Relay(pb::EnvelopeRelay {
                    match_id: match_id.clone(),
                    to_region: to_region.clone(),
                    about_signal_ref: about_signal_ref.clone(),
                    sealed: hex::decode(sealed_hex).map_err(|_| ForwardError::BadRelay(row.id))?,
                }),
                OutboxOp::InzageRequest { request_id, bsn } => {
                    let bsn: Bsn = bsn.parse().map_err(|_| ForwardError::BadRelay(row.id))?;
                    let key = keys.get(&bsn).ok_or(ForwardError::MissingKey(row.id))?;
                    pb::operation::Op::InzageRequest(pb::InzageRequest {
                        request_id: request_id.clone(),
                        person_key: Some(pb::PseudoKey::from(key)),
                    })
                }
                OutboxOp::InzageAnswer {
                    request_id,
                    to_region,
                    sealed_hex,
                } => pb::operation::Op::InzageAnswer(pb::InzageAnswer {
                    request_id: request_id.clone(),
                    to_region: to_region.clone(),
                    sealed: hex::decode(sealed_hex).map_err(|_| ForwardError::BadRelay(row.id))?,
                }),
                OutboxOp::MoveOut {
                    move_id,
                    municipality,
                    ..
                } => {
                    let bsn = movers
                        .get(&row.id)
                        .ok_or(ForwardError::MissingSignal(row.id))?;
                    let key = keys.get(bsn).ok_or(ForwardError::MissingKey(row.id))?;
                    pb::operation::Op::MoveOut(pb::MoveOut {
                        move_id: move_id.clone(),
                        person_key: Some(pb::PseudoKey::from(key)),
                        municipality: municipality.clone(),
                    })
                }
                OutboxOp::MoveHandover {
                    move_id,
                    to_region,
                    sealed_hex,
                } => pb::operation::Op::MoveHandover(pb::MoveHandover {
                    move_id: move_id.clone(),
                    to_region: to_region.clone(),
                    sealed: hex::decode(sealed_hex).map_err(|_| ForwardError::BadRelay(row.id))?,
                }),
                OutboxOp::HandoverOffer {
                    move_id,
                    to_region,
                    sealed_hex,
                } => pb::operation::Op::HandoverOffer(pb::HandoverOffer {
                    move_id: move_id.clone(),
                    to_region: to_region.clone(),
                    sealed: hex::decode(sealed_hex).map_err(|_| ForwardError::BadRelay(row.id))?,
                }),
                OutboxOp::Forget { signal_refs } => pb::operation::Op::Forget(pb::PersonForget {
                    signal_refs: signal_refs.clone(),
                }),
            };
            operations.push(pb::Operation {
                op_id: row.id as u64,
                op: Some(op),
            });
        }
        Ok(operations)
    }

    /// Person keys for youths not cached yet: one OPRF batch (input = the 9 BSN digits), then
    /// cached in `youths` so a youth is never pseudonymised twice for the same key version.
    async fn fetch_keys(&self, bsns: &[Bsn]) -> Result<Vec<(Bsn, PseudoKey)>, ForwardError> {
        let inputs: Vec<Vec<u8>> = bsns
            .iter()
            .map(|b| b.as_str().as_bytes().to_vec())
            .collect();
        let keys = self.keys.keys(KeyDomain::Person, &inputs).await?;
        if keys.len() != bsns.len() {
            return Err(ForwardError::KeyCount {
                asked: bsns.len(),
                got: keys.len(),
            });
        }
        let mut tx = self.db.write().await.map_err(StoreError::from)?;
        for (bsn, key) in bsns.iter().zip(&keys) {
            signals::store_person_key(&mut tx.tx, bsn, key).await?;
        }
        tx.commit().await.map_err(StoreError::from)?;
        tracing::info!(
            youths = bsns.len(),
            "person keys obtained from the pseudonymiser"
        );
        Ok(bsns.iter().cloned().zip(keys).collect())
    }
}

/// Sealed bytes one `Submit` may carry in inzage answers (the hub accepts 16 MiB requests; an
/// answer is at most 1 MiB): a batch stops before the answer that would exceed it, and always
/// holds at least one row.
const SUBMIT_SEALED_BUDGET: usize = 8 * 1024 * 1024;

fn within_submit_budget(mut rows: Vec<OutboxRow>) -> Vec<OutboxRow> {
    let mut total = 0usize;
    let keep = rows
        .iter()
        .position(|row| {
            if let OutboxOp::InzageAnswer { sealed_hex, .. } = &row.op {
                total += sealed_hex.len() / 2;
            }
            total > SUBMIT_SEALED_BUDGET
        })
        .unwrap_or(rows.len())
        .max(1);
    rows.truncate(keep);
    rows
}
