//! Starting a node: storage, registry, the links to hub and pseudonymiser, the partner API over
//! mutual TLS, and the forwarder, re-key, feed and lifecycle tasks, all stopped by one token.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::transport::Server;
use vir_proto::hub_client::HubClient;
use vir_proto::node_server::NodeServer;
use vir_pseudonymiser::client::KeyClient;
use vir_shared::service::ServiceHandle;
use vir_shared::SharedClock;

use crate::api::NodeApi;
use crate::config::{read_hpke_private_key, NodeConfig};
use crate::feed::FeedFollower;
use crate::forwarder::Forwarder;
use crate::index::RegionalIndex;
use crate::registry::{FileRegistry, PersonRegistry};
use crate::rekey::{RekeyState, Rekeyer};
use crate::rules::Rules;

/// Starts the node as configured, with the registry file of `config.registry`, and returns
/// once it listens. `config.listen` may use port 0; the handle reports the real address.
pub async fn spawn(config: NodeConfig, clock: SharedClock) -> anyhow::Result<ServiceHandle> {
    let registry = FileRegistry::load(&config.registry.file)?;
    spawn_with_registry(config, clock, Arc::new(registry)).await
}

/// [`spawn`] with a person registry given in code (another adapter, or a test's).
pub async fn spawn_with_registry(
    config: NodeConfig,
    clock: SharedClock,
    registry: Arc<dyn PersonRegistry>,
) -> anyhow::Result<ServiceHandle> {
    config.validate().context("node configuration")?;
    let hpke_private_key = read_hpke_private_key(&config.hpke_private_key)?;
    check_hpke_key_matches_certificate(&config, &hpke_private_key)?;

    let db = crate::store::connect(&config.storage_url)
        .await
        .with_context(|| format!("opening the node's storage for region {}", config.region))?;
    let tls = vir_shared::tls::server_config(&config.tls).context("node TLS")?;
    let hub_channel = vir_shared::tls::channel_with(
        &config.hub.url,
        &config.tls,
        &config.hub.server_name,
        &config.links,
    )
    .context("channel to the hub")?;
    let pseudonymiser_channel = vir_shared::tls::channel_with(
        &config.pseudonymiser.url,
        &config.tls,
        &config.pseudonymiser.server_name,
        &config.links,
    )
    .context("channel to the pseudonymiser")?;
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let local_addr = listener.local_addr().context("reading the bound address")?;

    let index = RegionalIndex::new(db.clone(), clock.clone(), config.region.clone(), registry)
        .with_rules(Rules::of(&config))
        .with_address_match(config.matching.address)
        .with_moves(config.moves.clone());
    let hub_connected = Arc::new(AtomicBool::new(false));
    let rekey_state = Arc::new(RekeyState::default());
    let feed_head = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let api = NodeApi::new(index.clone(), &config.partners, hub_connected.clone())
        .with_rekey_state(rekey_state.clone())
        .with_report_threshold(config.report_threshold);
    let keys = KeyClient::new(pseudonymiser_channel, config.region.clone());
    let forwarder = Forwarder {
        db: db.clone(),
        clock: clock.clone(),
        region: config.region.clone(),
        hub: HubClient::new(hub_channel.clone()),
        keys: keys.clone(),
        batch_size: config.forwarder.batch_size,
        poll: Duration::from_millis(config.forwarder.poll_ms),
        wake: index.outbox_written.clone(),
        address_match: config.matching.address,
        submit_timeout: Duration::from_millis(config.forwarder.submit_timeout_ms),
    };
    let rekeyer = Rekeyer {
        db: db.clone(),
        clock: clock.clone(),
        keys,
        address_match: config.matching.address,
        wake: index.outbox_written.clone(),
        check_every: Duration::from_millis(config.forwarder.key_check_ms),
        batch: config.forwarder.rekey_batch as usize,
        keys_per_minute: config.forwarder.rekey_keys_per_minute,
        state: rekey_state,
    };
    let feed = FeedFollower {
        index: index.clone(),
        hub: HubClient::new(hub_channel),
        ca: config.tls.ca.clone(),
        hpke_private_key,
        connected: hub_connected.clone(),
        head_seq: feed_head.clone(),
    };

    let registry_watch = Duration::from_millis(config.registry.watch_ms);
    // The web UI (issue 7): same TLS material, its own port; and the mailer.
    let web = match &config.web {
        Some(web) => {
            let listener = TcpListener::bind(web.listen)
                .await
                .with_context(|| format!("binding the web UI on {}", web.listen))?;
            let addr = listener
                .local_addr()
                .context("reading the web UI's address")?;
            let state = crate::web::WebState {
                api: api.clone(),
                db: db.clone(),
                clock: clock.clone(),
                config: Arc::new(web.clone()),
                region_name: config.name.clone().into(),
            };
            tracing::info!(%addr, "web UI listening (https)");
            Some((state, listener, addr))
        }
        None => None,
    };
    let mailer = match &config.mail {
        Some(mail) => {
            let base_url = match (&mail.base_url, &web) {
                (Some(url), _) => url.clone(),
                (None, Some((_, _, addr))) => format!("https://localhost:{}", addr.port()),
                (None, None) => anyhow::bail!(
                    "[mail] needs `base_url` for its deep links when [web] is not configured"
                ),
            };
            Some(crate::mail::Mailer {
                db: db.clone(),
                clock: clock.clone(),
                config: mail.clone(),
                base_url,
            })
        }
        None => None,
    };

    let shutdown = CancellationToken::new();
    let web_task = {
        let tls = tls.clone();
        let stop = shutdown.clone();
        async move {
            if let Some((state, listener, _)) = web {
                crate::web::serve::run(state, listener, tls, stop).await;
            }
        }
    };
    let mail_task = {
        let stop = shutdown.clone();
        async move {
            if let Some(mailer) = mailer {
                mailer.run(stop).await;
            }
        }
    };
    let kill = CancellationToken::new();
    let incoming = vir_shared::tls::incoming_with_kill_switch(
        listener,
        tls,
        shutdown.clone(),
        kill.clone(),
        "node",
    );
    let limits = config.limits;
    tracing::info!(
        %local_addr,
        region = %config.region,
        partners = config.partners.len(),
        municipalities = config.municipalities.len(),
        "node listening"
    );
    let stop = shutdown.clone();
    // One task runs everything, so `ServiceHandle::kill` stops all of it at once.
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<NodeServer<NodeApi>>().await;
    let reflection = vir_shared::reflection::service().context("gRPC reflection")?;
    let metrics = crate::metrics::node_metrics(
        db.clone(),
        crate::metrics::Live {
            hub_connected,
            feed_head,
        },
    );
    let metrics_addr =
        vir_shared::metrics::start_listener(config.metrics.as_ref(), &metrics, shutdown.clone())
            .await?;
    let task = tokio::spawn(async move {
        let server = limits
            .apply(Server::builder())
            .layer(metrics.rpc_layer())
            .add_service(health_service)
            .add_service(reflection)
            .add_service(
                NodeServer::new(api)
                    .max_decoding_message_size(limits.max_message())
                    .max_encoding_message_size(limits.max_message()),
            )
            .serve_with_incoming_shutdown(incoming, stop.clone().cancelled_owned());
        let (served, (), (), (), (), (), (), (), ()) = tokio::join!(
            async {
                let served = server.await;
                // The server ended (asked to, or failed): stop the background tasks too.
                stop.cancel();
                served
            },
            forwarder.run(stop.clone()),
            rekeyer.run(stop.clone()),
            feed.run(stop.clone()),
            crate::facts::run(index.clone(), stop.clone()),
            crate::verhuizing::run(index.clone(), registry_watch, stop.clone()),
            crate::lifecycle::run(index, stop.clone()),
            web_task,
            mail_task,
        );
        db.close().await;
        served.context("node server")?;
        tracing::info!("node stopped");
        Ok(())
    });
    Ok(ServiceHandle::new(local_addr, shutdown, task)
        .with_metrics_addr(metrics_addr)
        .with_kill_switch(kill))
}

/// Envelopes are sealed to the key in this node's certificate; a private key file that does
/// not belong to it would make every envelope for this node unreadable.
fn check_hpke_key_matches_certificate(
    config: &NodeConfig,
    private_key: &[u8; 32],
) -> anyhow::Result<()> {
    let certs = vir_shared::tls::load_certs(&config.tls.cert).context("node certificate")?;
    let leaf = vir_shared::tls::parse_leaf(certs[0].as_ref()).context("node certificate")?;
    let public = vir_shared::envelope::public_key_of(private_key)
        .map_err(|e| anyhow::anyhow!("{}: {e}", config.hpke_private_key.display()))?;
    match leaf.hpke_public_key {
        Some(certified) if certified == public => {}
        Some(_) => anyhow::bail!(
            "{} does not belong to the HPKE key in {}",
            config.hpke_private_key.display(),
            config.tls.cert.display()
        ),
        None => anyhow::bail!(
            "{}: a node certificate must carry an HPKE key (extension {:?})",
            config.tls.cert.display(),
            vir_shared::tls::HPKE_KEY_OID
        ),
    }
    if leaf.organisational_unit.as_deref() != Some(config.region.as_str()) {
        anyhow::bail!(
            "{}: the certificate's OU is {:?}, not the configured region {}",
            config.tls.cert.display(),
            leaf.organisational_unit,
            config.region
        );
    }
    Ok(())
}
