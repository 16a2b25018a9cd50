//! The hub's core, without transport: storage, feed notifications, the clock and the chains
//! nodes presented. The gRPC service calls into this after identifying the caller; tests call it
//! directly.

use std::collections::HashMap;
use std::sync::Mutex;

use vir_proto as pb;
use vir_shared::{RegionCode, SharedClock};

use crate::config::NodeEntry;
use crate::error::HubError;
use crate::notify::Feeds;
use crate::ops::parse_batch;
use crate::store::{OpOutcome, Store};

pub struct HubState {
    store: Store,
    feeds: Feeds,
    clock: SharedClock,
    /// The chain each node last presented, so an unchanged one is not written on every call.
    chains: Mutex<HashMap<RegionCode, Vec<Vec<u8>>>>,
}

impl std::fmt::Debug for HubState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubState")
            .field("backend", &self.store.backend())
            .finish_non_exhaustive()
    }
}

impl HubState {
    /// Connects and migrates storage, registers the configured nodes and loads feed heads.
    pub async fn open(
        storage_url: &str,
        nodes: &[NodeEntry],
        clock: SharedClock,
    ) -> Result<HubState, HubError> {
        let store = Store::connect(storage_url).await?;
        store
            .register_nodes(nodes, clock.now().timestamp_millis())
            .await?;
        let rows = store.nodes().await?;
        let feeds = Feeds::new(rows.iter().map(|r| (r.region.clone(), r.feed_head)));
        let chains = rows.into_iter().map(|r| (r.region, r.chain)).collect();
        Ok(HubState {
            store,
            feeds,
            clock,
            chains: Mutex::new(chains),
        })
    }

    /// Today by the hub's clock (report periods end today by default).
    pub fn today(&self) -> chrono::NaiveDate {
        self.clock.today()
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn feeds(&self) -> &Feeds {
        &self.feeds
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now().timestamp_millis()
    }

    pub async fn close(&self) {
        self.store.close().await;
    }

    /// Validates and applies a node's operations in one transaction, then wakes the
    /// subscribers of every feed that grew.
    pub async fn submit(
        &self,
        region: &RegionCode,
        operations: Vec<pb::Operation>,
    ) -> Result<pb::SubmitResponse, HubError> {
        let ops = parse_batch(operations)?;
        let outcome = self.store.submit(region, &ops, self.now_ms()).await?;
        for (feed, head) in &outcome.feed_heads {
            self.feeds.advance(feed, *head);
        }
        let duplicates = outcome
            .results
            .iter()
            .filter(|(_, o)| *o == OpOutcome::Duplicate)
            .count();
        tracing::info!(
            %region,
            ops = ops.len(),
            applied = ops.len() - duplicates,
            duplicates,
            matches_created = outcome.matches_created,
            matches_ended = outcome.matches_ended,
            envelopes = outcome.envelopes,
            last_op_id = outcome.last_applied_op_id,
            "submit applied"
        );
        Ok(pb::SubmitResponse {
            results: outcome
                .results
                .iter()
                .map(|(op_id, o)| pb::OperationResult {
                    op_id: *op_id,
                    outcome: match o {
                        OpOutcome::Applied => pb::OpOutcome::Applied,
                        OpOutcome::Duplicate => pb::OpOutcome::Duplicate,
                    } as i32,
                })
                .collect(),
            last_applied_op_id: outcome.last_applied_op_id,
        })
    }

    /// Checks that a subscription may start at `from_seq` (0 means 1) and returns the
    /// normalised start. Items at or below the retention floor are gone: the node must resync.
    pub async fn subscribe_from(
        &self,
        region: &RegionCode,
        from_seq: u64,
    ) -> Result<u64, HubError> {
        let from = from_seq.max(1);
        let node = self
            .store
            .node(region)
            .await?
            .ok_or_else(|| HubError::precondition(format!("region {region} has no feed")))?;
        if from <= node.feed_floor {
            return Err(HubError::precondition(format!(
                "resync needed: items up to {} are no longer kept",
                node.feed_floor
            )));
        }
        if from > node.feed_head.saturating_add(1) {
            return Err(HubError::OutOfRange(format!(
                "from_seq {from} is beyond the feed head {}",
                node.feed_head
            )));
        }
        Ok(from)
    }

    /// Up to `limit` feed items from `from_seq` on.
    pub async fn feed_page(
        &self,
        region: &RegionCode,
        from_seq: u64,
        limit: u32,
    ) -> Result<Vec<pb::FeedItem>, HubError> {
        Ok(self.store.feed_page(region, from_seq, limit).await?)
    }

    pub async fn ack(&self, region: &RegionCode, seq: u64) -> Result<(), HubError> {
        self.store.ack(region, seq).await?;
        Ok(())
    }

    /// Stores the chain a node presented if it differs from the one on record.
    pub async fn record_chain(
        &self,
        region: &RegionCode,
        chain: Vec<Vec<u8>>,
    ) -> Result<(), HubError> {
        let unchanged = {
            let chains = self.chains.lock().unwrap_or_else(|e| e.into_inner());
            chains.get(region) == Some(&chain)
        };
        if unchanged || chain.is_empty() {
            return Ok(());
        }
        self.store
            .store_chain(region, &chain, self.now_ms())
            .await?;
        tracing::info!(%region, certificates = chain.len(), "node certificate chain recorded");
        let mut chains = self.chains.lock().unwrap_or_else(|e| e.into_inner());
        chains.insert(region.clone(), chain);
        Ok(())
    }

    /// Counts for operators and nodes; no keys, no refs.
    pub async fn status(&self) -> Result<pb::HubStatusResponse, HubError> {
        let counts = self.store.status_counts().await?;
        let nodes = self.store.nodes().await?;
        let active: HashMap<RegionCode, u64> = counts.per_region.into_iter().collect();
        let regions = nodes
            .into_iter()
            .map(|node| pb::RegionStatus {
                active_signals: active.get(&node.region).copied().unwrap_or(0),
                feed_head_seq: node.feed_head,
                feed_acked_seq: node.acked_seq,
                last_applied_op_id: node.last_op_id,
                subscribers: u32::try_from(self.feeds.subscribers(&node.region))
                    .unwrap_or(u32::MAX),
                region: node.region.to_string(),
            })
            .collect();
        Ok(pb::HubStatusResponse {
            active_signals: counts.active_signals,
            matches: counts.active_matches,
            regions,
        })
    }
}
