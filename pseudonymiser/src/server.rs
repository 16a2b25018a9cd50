//! Starting the service: read the seed, derive the keys, bind, and serve gRPC over mTLS until
//! the handle's shutdown token is cancelled.

use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Server;
use vir_proto::pseudonymiser_server::PseudonymiserServer;
use vir_shared::service::ServiceHandle;
use vir_shared::SharedClock;

use crate::client::MAX_CLIENT_BATCH;
use crate::config::Config;
use crate::identity::Authenticator;
use crate::oprf::{KeySet, MAX_BATCH};
use crate::ratelimit::NodeLimiters;
use crate::seed::Seed;
use crate::service::{Metrics, PseudonymiserService};

/// Room for a full batch of [`MAX_BATCH`] elements (34 bytes each on the wire) and then some.
const MAX_MESSAGE_BYTES: usize = MAX_BATCH * 64 + 64 * 1024;

/// A running pseudonymiser: its handle and its counters.
#[derive(Debug)]
pub struct Running {
    pub handle: ServiceHandle,
    pub metrics: Arc<Metrics>,
}

/// Starts the service as configured and returns once it listens. `config.listen` may use port
/// 0; the handle reports the real address.
pub async fn spawn(config: Config, clock: SharedClock) -> anyhow::Result<ServiceHandle> {
    Ok(spawn_with_metrics(config, clock).await?.handle)
}

/// [`spawn`], also returning the counters (refusals, evaluated elements) for metrics and tests.
pub async fn spawn_with_metrics(config: Config, clock: SharedClock) -> anyhow::Result<Running> {
    config.validate().context("pseudonymiser configuration")?;
    if config.rate_limit.burst < MAX_CLIENT_BATCH as u32 {
        tracing::warn!(
            burst = config.rate_limit.burst,
            client_batch = MAX_CLIENT_BATCH,
            "rate_limit.burst is below the KeyClient's batch size: larger batches are refused \
             unless nodes use KeyClient::with_max_batch"
        );
    }
    let versions = config.served_versions();
    // The seed is needed only to derive the keys; it is not kept.
    let keys = {
        let seed = Seed::load(&config.seed_file).context("reading the OPRF seed")?;
        KeySet::derive(&seed, config.current_version, &versions)
            .context("deriving the OPRF keys")?
    };

    let tls = vir_shared::tls::server_config(&config.tls).context("pseudonymiser TLS")?;
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let local_addr = listener.local_addr().context("reading the bound address")?;

    let metrics = Arc::new(Metrics::default());
    let limiters = NodeLimiters::new(config.rate_limit, config.nodes.iter().map(|n| &n.oin));
    let service = PseudonymiserService::new(Arc::new(keys), limiters, Arc::clone(&metrics), clock);
    let authenticator = Authenticator::new(&config.nodes, Arc::clone(&metrics));
    // The largest batch bounds a message anyway; `[limits]` may only lower it.
    let max_message = config.limits.max_message().min(MAX_MESSAGE_BYTES);
    let limits = config.limits;
    let grpc = InterceptedService::new(
        PseudonymiserServer::new(service)
            .max_decoding_message_size(max_message)
            .max_encoding_message_size(max_message),
        authenticator,
    );

    let shutdown = CancellationToken::new();
    let kill = CancellationToken::new();
    let incoming = vir_shared::tls::incoming_with_kill_switch(
        listener,
        tls,
        shutdown.clone(),
        kill.clone(),
        "pseudonymiser",
    );
    let stop = shutdown.clone();
    tracing::info!(
        %local_addr,
        nodes = config.nodes.len(),
        current_version = config.current_version,
        ?versions,
        per_minute = config.rate_limit.per_minute,
        burst = config.rate_limit.burst,
        "pseudonymiser listening"
    );
    // Health answers without the node authenticator: probes carry no node certificate.
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<PseudonymiserServer<PseudonymiserService>>()
        .await;
    let reflection = vir_shared::reflection::service().context("gRPC reflection")?;
    let service_metrics = crate::metrics::pseudonymiser_metrics(Arc::clone(&metrics));
    let metrics_addr = vir_shared::metrics::start_listener(
        config.metrics.as_ref(),
        &service_metrics,
        shutdown.clone(),
    )
    .await?;
    let task = tokio::spawn(async move {
        limits
            .apply(Server::builder())
            .layer(service_metrics.rpc_layer())
            .add_service(health_service)
            .add_service(reflection)
            .add_service(grpc)
            .serve_with_incoming_shutdown(incoming, stop.cancelled_owned())
            .await
            .context("pseudonymiser server")?;
        tracing::info!("pseudonymiser stopped");
        Ok(())
    });
    Ok(Running {
        handle: ServiceHandle::new(local_addr, shutdown, task)
            .with_metrics_addr(metrics_addr)
            .with_kill_switch(kill),
        metrics,
    })
}
