//! The pseudonymiser's Prometheus metrics: evaluated elements, Evaluate calls, and refusals by
//! reason (`rate_limit`, `identity`, `invalid`), copied from the service's counters
//! ([`crate::service::Metrics`]) at each scrape. No label names a node or an input.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use vir_shared::metrics::prometheus::IntCounter;
use vir_shared::metrics::ServiceMetrics;

use crate::service::Metrics;

/// Brings a Prometheus counter up to the service counter's value (both only grow).
fn catch_up(counter: &IntCounter, value: u64) {
    let shown = counter.get();
    if value > shown {
        counter.inc_by(value - shown);
    }
}

pub fn pseudonymiser_metrics(counters: Arc<Metrics>) -> ServiceMetrics {
    let metrics = ServiceMetrics::new("pseudonymiser");
    let evaluations = metrics.counter_vec(
        "vir_pseudonymiser_evaluations_total",
        "Blinded elements evaluated, per unit (elements or calls).",
        "unit",
    );
    let refusals = metrics.counter_vec(
        "vir_pseudonymiser_refusals_total",
        "Refused Evaluate calls, per reason.",
        "reason",
    );
    let refresh = move || {
        let counters = counters.clone();
        let (evaluations, refusals) = (evaluations.clone(), refusals.clone());
        Box::pin(async move {
            let read = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
            catch_up(
                &evaluations.with_label_values(&["elements"]),
                read(&counters.evaluated_elements),
            );
            catch_up(
                &evaluations.with_label_values(&["calls"]),
                read(&counters.evaluate_calls),
            );
            catch_up(
                &refusals.with_label_values(&["rate_limit"]),
                read(&counters.refused_rate_limit),
            );
            catch_up(
                &refusals.with_label_values(&["identity"]),
                read(&counters.refused_identity),
            );
            catch_up(
                &refusals.with_label_values(&["invalid"]),
                read(&counters.refused_invalid),
            );
        }) as futures::future::BoxFuture<'static, ()>
    };
    metrics.with_refresh(Arc::new(refresh))
}
