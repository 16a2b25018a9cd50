//! Starting the hub: storage, mutual TLS listener, gRPC server with the health service, the
//! link to other replicas on the same PostgreSQL database, graceful shutdown.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use vir_proto::hub_server::HubServer;
use vir_shared::service::ServiceHandle;
use vir_shared::SharedClock;

use crate::config::HubConfig;
use crate::identity::Directory;
use crate::service::HubService;
use crate::state::HubState;

/// Connects and migrates storage, binds `config.listen` and serves the Hub service over mutual
/// TLS until the handle is shut down. Feed subscriptions end on shutdown, so it completes.
pub async fn spawn(config: HubConfig, clock: SharedClock) -> anyhow::Result<ServiceHandle> {
    config
        .validate()
        .map_err(|e| anyhow::anyhow!("configuration: {}: {}", e.key, e.reason))?;
    let tls = vir_shared::tls::server_config(&config.tls).context("hub TLS configuration")?;
    let state = HubState::open(&config.storage_url, &config.nodes, clock)
        .await
        .context("opening hub storage")?;
    let state = Arc::new(state);
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let local_addr = listener.local_addr()?;

    let shutdown = CancellationToken::new();
    crate::replicas::follow(state.clone(), &config.storage_url, shutdown.clone());
    crate::retention::spawn(
        state.clone(),
        config.feed_retention_days,
        Duration::from_millis(config.feed_prune_interval_ms),
        shutdown.clone(),
    );
    let kill = CancellationToken::new();
    let incoming = vir_shared::tls::incoming_with_kill_switch(
        listener,
        tls,
        shutdown.clone(),
        kill.clone(),
        "hub",
    );
    let limits = config.limits;
    let service = HubService::new(
        state.clone(),
        Directory::from_config(&config),
        Duration::from_millis(config.heartbeat_ms),
        shutdown.clone(),
    )
    .with_report_threshold(config.report_threshold);
    let server = HubServer::new(service)
        .max_decoding_message_size(limits.max_message())
        .max_encoding_message_size(limits.max_message());
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<HubServer<HubService>>().await;
    let reflection = vir_shared::reflection::service().context("gRPC reflection")?;
    let regions = config.nodes.iter().map(|n| n.region.to_string()).collect();
    let metrics = crate::metrics::hub_metrics(state.clone(), regions);
    let metrics_addr =
        vir_shared::metrics::start_listener(config.metrics.as_ref(), &metrics, shutdown.clone())
            .await?;
    tracing::info!(
        %local_addr,
        nodes = config.nodes.len(),
        operators = config.operators.len(),
        backend = ?state.store().backend(),
        "hub listening"
    );

    let signal = shutdown.clone().cancelled_owned();
    let task = tokio::spawn(async move {
        let served = limits
            .apply(tonic::transport::Server::builder())
            .layer(metrics.rpc_layer())
            .add_service(health_service)
            .add_service(reflection)
            .add_service(server)
            .serve_with_incoming_shutdown(incoming, signal)
            .await;
        state.close().await;
        tracing::info!(%local_addr, "hub stopped");
        served.context("hub server")
    });
    Ok(ServiceHandle::new(local_addr, shutdown, task)
        .with_metrics_addr(metrics_addr)
        .with_kill_switch(kill))
}
