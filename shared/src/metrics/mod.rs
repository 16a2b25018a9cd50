//! Prometheus metrics for every service: a registry per running service (several services share
//! one process in tests and in the local federation), RPC latency per method and status code,
//! and a plain-HTTP `/metrics` listener (axum) that refreshes the service's gauges on each scrape.
//!
//! Privacy rule: label values come only from fixed sets — the method paths of the compiled
//! protocol ([`rpc`]), gRPC code names, configured region codes, match kinds and signal states.
//! Never a BSN, a name, an OIN of a person or any free string taken from a request.
//!
//! Submodules: [`rpc`] (the tower layer on the tonic server), [`http`] (the listener).

pub mod http;
pub mod rpc;

use std::sync::Arc;

use futures::future::BoxFuture;
use prometheus::{IntGauge, IntGaugeVec, Opts, Registry};
use serde::{Deserialize, Serialize};

pub use prometheus;

/// `[metrics]` in a service's configuration: where `/metrics` is served (plain HTTP). Absent:
/// no listener. Bind it to loopback or an operator network; it carries counts only.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    pub listen: std::net::SocketAddr,
}

/// Updates a service's gauges from its storage right before a scrape is encoded.
pub type Refresh = Arc<dyn Fn() -> BoxFuture<'static, ()> + Send + Sync>;

/// The metrics of one running service: its registry, the RPC histogram and a build-info gauge.
#[derive(Clone)]
pub struct ServiceMetrics {
    registry: Registry,
    rpc: rpc::RpcMetrics,
    refresh: Option<Refresh>,
}

impl std::fmt::Debug for ServiceMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceMetrics").finish_non_exhaustive()
    }
}

impl ServiceMetrics {
    /// A registry for `service` ("hub", "node", "pseudonymiser"), with `vir_build_info` set.
    pub fn new(service: &'static str) -> ServiceMetrics {
        let registry = Registry::new();
        let info = IntGaugeVec::new(
            Opts::new(
                "vir_build_info",
                "The running service and its version (always 1).",
            ),
            &["service", "version"],
        )
        .expect("valid metric");
        info.with_label_values(&[service, env!("CARGO_PKG_VERSION")])
            .set(1);
        registry
            .register(Box::new(info))
            .expect("first registration");
        let rpc = rpc::RpcMetrics::new(&registry);
        ServiceMetrics {
            registry,
            rpc,
            refresh: None,
        }
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The tower layer that times every RPC of a tonic server into `vir_rpc_duration_seconds`.
    pub fn rpc_layer(&self) -> rpc::RpcMetricsLayer {
        rpc::RpcMetricsLayer::new(self.rpc.clone())
    }

    /// Sets what runs before each scrape (reading counts from storage into gauges).
    pub fn with_refresh(mut self, refresh: Refresh) -> ServiceMetrics {
        self.refresh = Some(refresh);
        self
    }

    /// Registers and returns a gauge without labels.
    pub fn gauge(&self, name: &str, help: &str) -> IntGauge {
        let gauge = IntGauge::new(name, help).expect("valid metric name");
        self.registry
            .register(Box::new(gauge.clone()))
            .expect("each metric registered once");
        gauge
    }

    /// Registers and returns a gauge family with one label from a fixed set.
    pub fn gauge_vec(&self, name: &str, help: &str, label: &str) -> IntGaugeVec {
        let gauge = IntGaugeVec::new(Opts::new(name, help), &[label]).expect("valid metric name");
        self.registry
            .register(Box::new(gauge.clone()))
            .expect("each metric registered once");
        gauge
    }

    /// Registers and returns a counter family with one label from a fixed set.
    pub fn counter_vec(&self, name: &str, help: &str, label: &str) -> prometheus::IntCounterVec {
        let counter =
            prometheus::IntCounterVec::new(Opts::new(name, help), &[label]).expect("valid metric");
        self.registry
            .register(Box::new(counter.clone()))
            .expect("each metric registered once");
        counter
    }

    /// Refreshes the gauges and encodes the registry in the Prometheus text format.
    pub async fn render(&self) -> String {
        if let Some(refresh) = &self.refresh {
            refresh().await;
        }
        let families = self.registry.gather();
        let mut out = String::new();
        if let Err(e) = prometheus::TextEncoder::new().encode_utf8(&families, &mut out) {
            tracing::warn!(error = %e, "encoding metrics");
        }
        out
    }
}

/// Sets a labelled gauge family to exactly `values`: labels not in `values` but in `fixed` are
/// set to 0, so a state that emptied shows 0 instead of its last value.
pub fn set_all(gauge: &IntGaugeVec, fixed: &[&str], values: &[(String, i64)]) {
    for label in fixed {
        let value = values
            .iter()
            .find(|(l, _)| l == label)
            .map(|(_, v)| *v)
            .unwrap_or(0);
        gauge.with_label_values(&[label]).set(value);
    }
}

/// Starts the `/metrics` listener when `config` asks for one; stopped by `shutdown`.
pub async fn start_listener(
    config: Option<&MetricsConfig>,
    metrics: &ServiceMetrics,
    shutdown: tokio_util::sync::CancellationToken,
) -> anyhow::Result<Option<std::net::SocketAddr>> {
    match config {
        None => Ok(None),
        Some(c) => {
            let (addr, _task) = http::serve(c.listen, metrics.clone(), shutdown).await?;
            Ok(Some(addr))
        }
    }
}
