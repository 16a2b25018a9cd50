//! The feed follower: subscribes to this node's hub feed from the last applied position + 1 and
//! applies each item exactly once.
//!
//! Architecture invariant: an item's effects and the new `feed_state.applied_seq` are written
//! in ONE transaction; an item at or below the stored position is skipped, so a reconnect that
//! replays items changes nothing. After the commit the position is acknowledged to the hub
//! (best effort: the stored position, not the ack, is the truth). Any error or the end of the
//! stream leads to a reconnect with exponential back-off (backon); `hub_connected` says whether
//! a subscription is open.
//!
//! A garbled or unknown item is logged (ids and regions only) and counted in the
//! `feed_skipped` counter, and the position still advances: one poisoned item must not wedge
//! the feed for ever. What an item does is in [`crate::remote`].

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use vir_proto as pb;
use vir_proto::hub_client::HubClient;

use crate::forwarder::{backoff, MAX_BACKOFF};
use crate::index::RegionalIndex;
use crate::remote::{self, Applied};
use crate::store::{feed, StoreError};

/// How long an `Ack` may take; it is only informative for the hub.
const ACK_TIMEOUT: Duration = Duration::from_secs(2);

pub struct FeedFollower {
    pub index: RegionalIndex,
    pub hub: HubClient<Channel>,
    /// The federation root, to verify other nodes' chains before sealing to their keys.
    pub ca: PathBuf,
    pub hpke_private_key: [u8; 32],
    pub connected: Arc<AtomicBool>,
    /// The highest feed sequence number the hub announced (heartbeat or item), for metrics.
    pub head_seq: Arc<std::sync::atomic::AtomicU64>,
}

#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("hub: {} ({:?})", .0.message(), .0.code())]
    Hub(#[from] tonic::Status),
    #[error("the hub ended the feed stream")]
    Ended,
}

impl FeedFollower {
    /// Runs until `shutdown` is cancelled.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut delays = backoff();
        loop {
            let result = tokio::select! {
                _ = shutdown.cancelled() => Ok(()),
                r = self.follow(&mut delays) => r,
            };
            self.connected.store(false, Ordering::Relaxed);
            if shutdown.is_cancelled() {
                return;
            }
            let delay = delays.next().unwrap_or(MAX_BACKOFF);
            if let Err(e) = result {
                tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "hub feed interrupted; reconnecting");
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(delay) => {}
            }
        }
    }

    /// One subscription: from the stored position until an error or the end of the stream.
    async fn follow(&mut self, delays: &mut backon::ExponentialBackoff) -> Result<(), FeedError> {
        let from_seq = {
            let mut conn = self
                .index
                .db
                .pool
                .acquire()
                .await
                .map_err(StoreError::from)?;
            feed::applied_seq(&mut conn).await? + 1
        };
        let request = pb::SubscribeRequest {
            region: self.index.region.to_string(),
            from_seq,
        };
        let mut stream = match self.hub.subscribe(request).await {
            Ok(response) => response.into_inner(),
            Err(status)
                if status.code() == tonic::Code::FailedPrecondition
                    && status.message().contains("resync needed") =>
            {
                tracing::warn!(
                    from_seq,
                    reason = status.message(),
                    event = "feed_resync",
                    "the hub no longer keeps our feed position; resyncing from a snapshot"
                );
                self.resync().await?;
                return Ok(());
            }
            Err(status) => return Err(status.into()),
        };
        self.connected.store(true, Ordering::Relaxed);
        *delays = backoff();
        tracing::info!(from_seq, "following the hub feed");
        while let Some(event) = stream.message().await? {
            match event.event {
                Some(pb::feed_event::Event::Item(item)) => {
                    let seq = item.seq;
                    self.head_seq.fetch_max(seq, Ordering::Relaxed);
                    if self.apply(item).await? {
                        self.ack(seq).await;
                    }
                }
                Some(pb::feed_event::Event::Heartbeat(beat)) => {
                    self.head_seq.fetch_max(beat.head_seq, Ordering::Relaxed);
                }
                None => {}
            }
        }
        Err(FeedError::Ended)
    }

    /// Applies one item and stores its position in one transaction. False if it was applied
    /// before (position at or past it).
    pub async fn apply(&self, item: pb::FeedItem) -> Result<bool, StoreError> {
        let index = &self.index;
        // An other region's inzage request: its export is read before the write transaction.
        let inzage_answer = index.prepare_inzage_answer(&self.ca, &item).await?;
        let mut tx = index.db.write().await?;
        let applied = feed::applied_seq(&mut tx.tx).await?;
        if item.seq <= applied {
            return Ok(false);
        }
        if item.seq != applied + 1 {
            tracing::warn!(
                seq = item.seq,
                applied,
                "hub feed skipped sequence numbers; applying what arrived"
            );
        }
        let seq = item.seq;
        let outcome = self
            .apply_in(&mut tx.tx, item, inzage_answer.as_ref())
            .await?;
        match &outcome {
            Applied::Done { .. } => {}
            Applied::Skipped(reason) => {
                feed::count_skipped(&mut tx.tx).await?;
                tracing::warn!(
                    seq,
                    reason,
                    event = "feed_item_skipped",
                    "hub feed item not applied"
                );
            }
        }
        feed::set_applied_seq(&mut tx.tx, seq).await?;
        tx.commit().await?;
        if let Applied::Done { outbox: true } = outcome {
            index.outbox_written.notify_one();
        }
        Ok(true)
    }

    /// Applies one item inside the caller's transaction, with what a feed item may need: the
    /// officers who receive an inverhuis message, and the answer to an inzage request,
    /// prepared before the transaction (and audited with it).
    async fn apply_in(
        &self,
        conn: &mut sqlx::AnyConnection,
        item: pb::FeedItem,
        inzage_answer: Option<&Result<crate::inzage_remote::Prepared, &'static str>>,
    ) -> Result<Applied, StoreError> {
        let index = &self.index;
        // Verhuizing: who receives an inverhuis message (issue 5).
        let officers: Vec<String> = index
            .move_officers()
            .iter()
            .map(|p| p.oin.to_string())
            .collect();
        let context = remote::Context {
            region: &index.region,
            clock: &index.clock,
            ca: &self.ca,
            hpke_private_key: &self.hpke_private_key,
            inzage_answer,
            officers: &officers,
        };
        let outcome = remote::apply_item(conn, &context, item).await?;
        if let (Applied::Done { .. }, Some(Ok(prepared))) = (&outcome, inzage_answer) {
            index.audit_inzage_answer(conn, prepared).await?;
        }
        Ok(outcome)
    }

    /// Applies a hub snapshot in ONE transaction: every open match as its `MatchCreated`,
    /// every envelope as its `EnvelopeDelivered` (both idempotent: what is known is skipped),
    /// a `MatchEnded` for each open match the hub no longer has, then the items the hub kept
    /// past retention (moves, hand-over offers, inzage) as the feed would have brought them,
    /// and the snapshot's head as the new position. The feed then continues from head + 1.
    pub async fn resync(&mut self) -> Result<(), FeedError> {
        let request = pb::SnapshotRequest {
            region: self.index.region.to_string(),
        };
        let mut snapshot = self.hub.snapshot(request).await?.into_inner();
        let kept = std::mem::take(&mut snapshot.kept);
        // Inzage answers read the export before the write transaction, as in `apply`.
        let mut answers = Vec::with_capacity(kept.len());
        for item in &kept {
            answers.push(self.index.prepare_inzage_answer(&self.ca, item).await?);
        }
        let index = &self.index;
        let mut tx = index.db.write().await.map_err(StoreError::from)?;
        let applied = feed::applied_seq(&mut tx.tx).await?;
        if snapshot.head_seq <= applied {
            return Ok(());
        }
        let open: std::collections::HashSet<String> = snapshot
            .matches
            .iter()
            .map(|m| m.match_id.clone())
            .collect();
        let mut outbox = false;
        let (matches, envelopes) = (snapshot.matches.len(), snapshot.envelopes.len());
        let bodies = snapshot
            .matches
            .into_iter()
            .map(pb::feed_item::Body::MatchCreated)
            .chain(
                snapshot
                    .envelopes
                    .into_iter()
                    .map(pb::feed_item::Body::Envelope),
            );
        let gone: Vec<pb::feed_item::Body> = crate::store::matches::open_remote_all(&mut tx.tx)
            .await?
            .into_iter()
            .filter(|m| !open.contains(&m.hub_match_id))
            .map(|m| {
                pb::feed_item::Body::MatchEnded(pb::MatchEnded {
                    match_id: m.hub_match_id,
                    your_signal_ref: m.signal_id,
                })
            })
            .collect();
        let ended = gone.len();
        let kept_items = kept.len();
        let rebuilt = bodies.chain(gone).map(|body| {
            let item = pb::FeedItem {
                seq: snapshot.head_seq,
                created_unix_ms: 0,
                body: Some(body),
            };
            (item, None)
        });
        for (item, answer) in rebuilt.chain(kept.into_iter().zip(answers)) {
            match self.apply_in(&mut tx.tx, item, answer.as_ref()).await? {
                Applied::Done { outbox: o } => outbox |= o,
                Applied::Skipped(reason) => {
                    feed::count_skipped(&mut tx.tx).await?;
                    tracing::warn!(
                        reason,
                        event = "feed_item_skipped",
                        "snapshot entry not applied"
                    );
                }
            }
        }
        feed::set_applied_seq(&mut tx.tx, snapshot.head_seq).await?;
        tx.commit().await.map_err(StoreError::from)?;
        if outbox {
            index.outbox_written.notify_one();
        }
        tracing::info!(
            head_seq = snapshot.head_seq,
            matches,
            envelopes,
            ended,
            kept = kept_items,
            event = "feed_resynced",
            "resynced from a hub snapshot"
        );
        // The hub's pruning drops the items it kept for us once we acknowledge past them.
        self.ack(snapshot.head_seq).await;
        Ok(())
    }

    async fn ack(&mut self, seq: u64) {
        let request = pb::AckRequest {
            region: self.index.region.to_string(),
            seq,
        };
        match tokio::time::timeout(ACK_TIMEOUT, self.hub.ack(request)).await {
            Ok(Ok(_)) => {}
            Ok(Err(status)) => tracing::debug!(seq, code = ?status.code(), "feed ack refused"),
            Err(_) => tracing::debug!(seq, "feed ack timed out"),
        }
    }
}
