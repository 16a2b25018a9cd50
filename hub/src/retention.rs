//! Feed retention (issue 8): every `feed_prune_interval_ms` the items older than
//! `feed_retention_days` by the hub's clock are removed ([`crate::store::Store::prune_feeds`]).
//! A node that comes back after that resyncs from `Hub.Snapshot`.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::state::HubState;

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// Runs until `shutdown`; does nothing when `retention_days` is 0 (keep everything).
pub fn spawn(
    state: Arc<HubState>,
    retention_days: u32,
    every: Duration,
    shutdown: CancellationToken,
) {
    if retention_days == 0 {
        return;
    }
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
            let cutoff = state.now_ms() - i64::from(retention_days) * DAY_MS;
            if let Err(e) = state.store().prune_feeds(cutoff).await {
                tracing::warn!(error = %e, "feed retention failed; will retry");
            }
        }
    });
}
