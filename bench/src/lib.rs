//! `vir-bench`: what the federation does on the operator's own hardware, all on 127.0.0.1,
//! every loop bounded in count and time, printed as a table and written as JSON.
//!
//! Throughput is meaningless without what bounds it, so each hub figure comes with its ceilings
//! measured in the same run on the same workload: the transport (gRPC + mutual TLS with a store
//! that does nothing) and the store (`HubState::submit` in-process, no network).
//!
//! Module map, in the order of a run:
//! - [`settings`]: how much each scenario does (full, `--quick`, the smoke test's tiny counts).
//! - [`setup`]: a fresh PKI with a hub and three node identities, the hub's configuration.
//! - [`workload`]: the half-matching ingest workload; [`drive`]: sending it, three nodes at once.
//! - [`hub_ingest`]: ingest on SQLite (and PostgreSQL, [`postgres`]) beside the transport
//!   ceiling ([`null_hub`]) and the store ceiling.
//! - [`scale`]: per-signal cost and resident memory at 10k, 100k and 1M stored keys, with the hub
//!   as its own process ([`process`]).
//! - [`fed`]: pseudonymiser, hub and three nodes in-process on the system clock, for
//!   [`latency`] (with background load from [`load`]), [`pseudo`] (and [`pseudo_service`])
//!   and [`node_rate`].
//! - [`report`]: the machine, the figures, the targets, the table.

pub mod bare;
pub mod drive;
pub mod fed;
pub mod hub_ingest;
pub mod latency;
pub mod load;
pub mod node_rate;
pub mod null_hub;
pub mod postgres;
pub mod process;
pub mod pseudo;
pub mod pseudo_service;
pub mod report;
pub mod scale;
pub mod settings;
pub mod setup;
pub mod workload;

use std::future::Future;
use std::sync::Arc;

use vir_shared::clock::SystemClock;
use vir_shared::SharedClock;

use crate::hub_ingest::Storage;
use crate::report::{Machine, Report};
use crate::settings::Settings;

pub use settings::HubProcess;

/// Every service of the bench reads the real time: store timestamps of different services
/// must compare.
pub fn system_clock() -> SharedClock {
    Arc::new(SystemClock)
}

/// The scenarios, by the names `--only` takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    Ingest,
    Scale,
    Latency,
    Pseudonymiser,
    Node,
    /// The store ceiling alone (SQLite), for profiling the hub's storage.
    Store,
}

impl Scenario {
    pub const ALL: [Scenario; 5] = [
        Scenario::Ingest,
        Scenario::Scale,
        Scenario::Latency,
        Scenario::Pseudonymiser,
        Scenario::Node,
    ];
}

/// Runs a scenario; a failure becomes a note in the report and the run goes on.
async fn attempt<T>(
    name: &str,
    notes: &mut Vec<String>,
    scenario: impl Future<Output = anyhow::Result<T>>,
) -> Option<T> {
    eprintln!("running: {name}");
    match scenario.await {
        Ok(v) => Some(v),
        Err(e) => {
            eprintln!("{name} failed: {}", vir_shared::binary::one_line(&e));
            notes.push(format!(
                "{name} failed: {}",
                vir_shared::binary::one_line(&e)
            ));
            None
        }
    }
}

/// Runs the chosen scenarios in a fresh folder under `dir`.
pub async fn run(
    settings: &Settings,
    scenarios: &[Scenario],
    dir: &std::path::Path,
) -> anyhow::Result<Report> {
    vir_shared::tls::install_crypto_provider();
    let mut report = Report {
        date: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        machine: Machine::read(),
        settings: settings.clone(),
        ingest: Vec::new(),
        latency: Vec::new(),
        scale: None,
        pseudonymiser: None,
        node: None,
        notes: Vec::new(),
        rows: Vec::new(),
    };
    let notes = &mut report.notes;
    let regions: Vec<_> = workload::federation_senders()
        .into_iter()
        .map(|s| s.region)
        .collect();
    let ids = setup::Identities::create(&dir.join("pki"), &regions)?;
    let wants = |s: Scenario| scenarios.contains(&s);

    if wants(Scenario::Ingest) {
        let storage = Storage::Sqlite(dir);
        let sqlite = hub_ingest::run(settings, &ids, storage);
        if let Some(r) = attempt("hub ingest (sqlite)", notes, sqlite).await {
            report.ingest.push(r);
        }
        match &settings.postgres {
            Some(url) => {
                let pg = hub_ingest::run(settings, &ids, Storage::Postgres(url));
                if let Some(r) = attempt("hub ingest (postgres)", notes, pg).await {
                    report.ingest.push(r);
                }
            }
            None => notes.push(
                "PostgreSQL not measured: give --postgres URL or VIR_TEST_POSTGRES_URL".into(),
            ),
        }
    }
    if wants(Scenario::Store) {
        let per_region = settings.ingest_signals / regions.len();
        let storage = Storage::Sqlite(dir);
        let store = hub_ingest::store_ceiling(settings, &ids, &storage, per_region);
        if let Some(sent) = attempt("store ceiling (sqlite)", notes, store).await {
            notes.push(format!(
                "store ceiling alone (sqlite): {} signals in {:.2} s, {:.0} signals/s",
                sent.signals,
                sent.elapsed.as_secs_f64(),
                sent.per_second()
            ));
        }
    }
    if wants(Scenario::Scale) {
        let scale_dir = dir.join("scale");
        std::fs::create_dir_all(&scale_dir)?;
        report.scale = attempt("scale", notes, scale::run(settings, &scale_dir, &ids)).await;
    }
    let federation = [Scenario::Latency, Scenario::Pseudonymiser, Scenario::Node];
    if federation.iter().any(|s| wants(*s)) {
        let fed_dir = dir.join("federation");
        let started = attempt(
            "federation start",
            notes,
            fed::BenchFed::start(&fed_dir, settings.households),
        )
        .await;
        if let Some(fed) = started {
            if wants(Scenario::Latency) {
                report.latency = attempt("latency", notes, latency::run(settings, &fed))
                    .await
                    .unwrap_or_default();
            }
            if wants(Scenario::Pseudonymiser) {
                report.pseudonymiser =
                    attempt("pseudonymiser", notes, pseudo::run(settings, &fed)).await;
            }
            if wants(Scenario::Node) {
                report.node = attempt("node", notes, node_rate::run(settings, &fed)).await;
            }
            fed.shutdown().await?;
        }
    }
    report.machine.load_end = report::loadavg();
    report.tabulate();
    Ok(report)
}
