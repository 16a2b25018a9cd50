//! Hub ingest with matching, per storage backend, beside its two ceilings measured in the same
//! run on the same workload:
//!
//! - ingest: three node identities submit in parallel over gRPC + mutual TLS to a real hub
//!   (`vir_hub::spawn`) on a fresh database;
//! - transport ceiling: the same path to a hub whose store does nothing ([`crate::null_hub`]);
//! - store ceiling: the same operations straight into `HubState::submit`, no network.
//!
//! The ratio ingest / min(ceilings) says how much of what the parts allow the whole reaches.

use std::path::Path;
use std::sync::Arc;

use anyhow::{ensure, Context};
use serde::Serialize;
use vir_hub::HubState;
use vir_shared::RegionCode;

use crate::drive::{self, Sent};
use crate::postgres::FreshDatabase;
use crate::settings::Settings;
use crate::setup::{loopback, Identities};
use crate::{null_hub, system_clock, workload};

#[derive(Debug, Clone, Serialize)]
pub struct IngestResult {
    pub backend: String,
    pub signals: u64,
    pub batch: usize,
    pub expected_matches: u64,
    /// Active matches the hub holds afterwards (must equal `expected_matches`).
    pub matches: u64,
    pub active_signals: u64,
    pub ingest_per_s: f64,
    pub transport_ceiling_per_s: f64,
    pub store_ceiling_per_s: f64,
    /// ingest / min(transport ceiling, store ceiling).
    pub ratio: f64,
    /// The bare-table reference ([`crate::bare`]): the same keys looked up and inserted into
    /// one indexed table, batches of 1,000, nothing else.
    pub bare_table_per_s: f64,
    /// ingest / bare table.
    pub ratio_to_bare: f64,
}

/// Where a measurement stores: a fresh SQLite file, or a fresh database on a PostgreSQL server.
pub enum Storage<'a> {
    Sqlite(&'a Path),
    Postgres(&'a str),
}

impl Storage<'_> {
    fn label(&self) -> &'static str {
        match self {
            Storage::Sqlite(_) => "sqlite",
            Storage::Postgres(_) => "postgres",
        }
    }

    pub(crate) async fn fresh(
        &self,
        what: &str,
    ) -> anyhow::Result<(String, Option<FreshDatabase>)> {
        match self {
            Storage::Sqlite(dir) => {
                let file = dir.join(format!("{what}-{}.sqlite", uuid::Uuid::new_v4().simple()));
                Ok((vir_shared::db::sqlite_url(&file), None))
            }
            Storage::Postgres(admin) => {
                let db = FreshDatabase::create(admin, what).await?;
                Ok((db.url.clone(), Some(db)))
            }
        }
    }
}

async fn drop_fresh(db: Option<FreshDatabase>) {
    if let Some(db) = db {
        if let Err(e) = db.drop_database().await {
            tracing::warn!(error = %e, "could not drop a bench database");
        }
    }
}

fn regions(ids: &Identities) -> Vec<RegionCode> {
    ids.nodes.iter().map(|n| n.region.clone()).collect()
}

/// Measures ingest and both ceilings on `storage`.
pub async fn run(
    settings: &Settings,
    ids: &Identities,
    storage: Storage<'_>,
) -> anyhow::Result<IngestResult> {
    let regions = regions(ids);
    let per_region = settings.ingest_signals / regions.len();
    let transport = transport_ceiling(settings, ids, per_region).await?;
    let store = store_ceiling(settings, ids, &storage, per_region).await?;
    let bare = crate::bare::run(&storage, settings.ingest_signals, settings.phase_limit).await?;

    let (url, fresh) = storage.fresh("ingest").await?;
    let config = ids.hub_config(loopback(), &url)?;
    let hub = vir_hub::spawn(config, system_clock()).await?;
    let clients = (0..regions.len())
        .map(|i| ids.hub_client(i, &hub.url()))
        .collect::<anyhow::Result<Vec<_>>>()?;
    drive::warm_up(&clients, &regions).await?;
    let mut senders = workload::federation_senders();
    let round = workload::round("ingest", &mut senders, per_region);
    let expected_matches = round.expected_matches;
    let sent = drive::over_grpc(
        &clients,
        &regions,
        round,
        settings.ingest_batch,
        settings.phase_limit,
    )
    .await
    .context("hub ingest")?;
    let status = clients[0]
        .clone()
        .status(vir_proto::HubStatusRequest {})
        .await?
        .into_inner();
    hub.shutdown().await?;
    drop_fresh(fresh).await;

    let ingest = sent.per_second();
    let ceiling = transport.per_second().min(store.per_second());
    Ok(IngestResult {
        backend: storage.label().to_owned(),
        signals: sent.signals,
        batch: settings.ingest_batch,
        expected_matches,
        matches: status.matches,
        active_signals: status.active_signals,
        ingest_per_s: ingest,
        transport_ceiling_per_s: transport.per_second(),
        store_ceiling_per_s: store.per_second(),
        ratio: ingest / ceiling,
        bare_table_per_s: bare.per_second(),
        ratio_to_bare: ingest / bare.per_second(),
    })
}

/// The same gRPC + mTLS path and validation to a hub that stores nothing.
async fn transport_ceiling(
    settings: &Settings,
    ids: &Identities,
    per_region: usize,
) -> anyhow::Result<Sent> {
    let regions = regions(ids);
    let config = ids.hub_config(loopback(), "sqlite::memory:")?;
    let null = null_hub::spawn(&config).await?;
    let clients = (0..regions.len())
        .map(|i| ids.hub_client(i, &null.handle.url()))
        .collect::<anyhow::Result<Vec<_>>>()?;
    drive::warm_up(&clients, &regions).await?;
    let mut senders = workload::federation_senders();
    let round = workload::round("transport", &mut senders, per_region);
    let sent = drive::over_grpc(
        &clients,
        &regions,
        round,
        settings.ingest_batch,
        settings.phase_limit,
    )
    .await
    .context("transport ceiling")?;
    let applied = null.applied.load(std::sync::atomic::Ordering::Relaxed);
    null.handle.shutdown().await?;
    ensure!(
        applied == sent.signals,
        "transport ceiling acknowledged {applied} of {} operations",
        sent.signals
    );
    Ok(sent)
}

/// The same operations into `HubState::submit` in this process: storage and matching only.
pub async fn store_ceiling(
    settings: &Settings,
    ids: &Identities,
    storage: &Storage<'_>,
    per_region: usize,
) -> anyhow::Result<Sent> {
    let regions = regions(ids);
    let (url, fresh) = storage.fresh("store").await?;
    let config = ids.hub_config(loopback(), &url)?;
    let state = Arc::new(HubState::open(&url, &config.nodes, system_clock()).await?);
    // As the gRPC service does on a node's first call, so matches carry the chains.
    for node in &ids.nodes {
        state.record_chain(&node.region, node.chain.clone()).await?;
    }
    let mut senders = workload::federation_senders();
    let round = workload::round("store", &mut senders, per_region);
    let expected = round.expected_matches;
    let sent = drive::in_process(
        &state,
        &regions,
        round,
        settings.ingest_batch,
        settings.phase_limit,
    )
    .await
    .context("store ceiling")?;
    let status = state.status().await?;
    state.close().await;
    drop_fresh(fresh).await;
    ensure!(
        status.matches == expected && status.active_signals == sent.signals,
        "store ceiling: {} matches (expected {expected}), {} active signals (expected {})",
        status.matches,
        status.active_signals,
        sent.signals
    );
    Ok(sent)
}
