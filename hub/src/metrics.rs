//! The hub's Prometheus metrics: active signals per region, open matches per kind, feed head,
//! lag (head − acked) and subscribers per region, read from storage at each scrape. Labels are
//! configured region codes and the four match kinds only.

use std::sync::Arc;

use vir_shared::metrics::{set_all, ServiceMetrics};

use crate::state::HubState;

const KINDS: &[&str] = &["client", "family", "address", "candidate"];

/// The hub's metrics registry with a refresh that reads `state`.
pub fn hub_metrics(state: Arc<HubState>, regions: Vec<String>) -> ServiceMetrics {
    let metrics = ServiceMetrics::new("hub");
    let signals = metrics.gauge_vec(
        "vir_hub_signals",
        "Active signals the hub holds, per region.",
        "region",
    );
    let matches = metrics.gauge_vec("vir_hub_matches", "Open hub matches, per kind.", "kind");
    let head = metrics.gauge_vec(
        "vir_hub_feed_head",
        "Highest sequence number in each region's feed.",
        "region",
    );
    let lag = metrics.gauge_vec(
        "vir_hub_feed_lag",
        "Feed items not yet acknowledged by each region's node (head − acked).",
        "region",
    );
    let subscribers = metrics.gauge_vec(
        "vir_hub_feed_subscribers",
        "Open feed subscriptions per region.",
        "region",
    );
    let refresh = move || {
        let state = state.clone();
        let regions = regions.clone();
        let (signals, matches, head, lag, subscribers) = (
            signals.clone(),
            matches.clone(),
            head.clone(),
            lag.clone(),
            subscribers.clone(),
        );
        Box::pin(async move {
            match state.status().await {
                Ok(status) => {
                    for r in status.regions {
                        // Only configured regions become labels.
                        if !regions.contains(&r.region) {
                            continue;
                        }
                        let label = [r.region.as_str()];
                        signals
                            .with_label_values(&label)
                            .set(r.active_signals as i64);
                        head.with_label_values(&label).set(r.feed_head_seq as i64);
                        lag.with_label_values(&label)
                            .set(r.feed_head_seq.saturating_sub(r.feed_acked_seq) as i64);
                        subscribers
                            .with_label_values(&label)
                            .set(i64::from(r.subscribers));
                    }
                }
                Err(e) => tracing::warn!(error = %e, "metrics: hub status"),
            }
            match state.store().open_matches_by_kind().await {
                Ok(counts) => set_all(&matches, KINDS, &counts),
                Err(e) => tracing::warn!(error = %e, "metrics: matches per kind"),
            }
        }) as futures::future::BoxFuture<'static, ()>
    };
    metrics.with_refresh(Arc::new(refresh))
}
