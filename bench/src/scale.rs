//! Scale: the per-signal ingest cost at growing numbers of stored keys, and the hub's resident
//! memory at each.
//!
//! The hub runs as its own process (the workspace's `vir-hub` binary) on SQLite. It is filled
//! up to each level with large batches of the same half-matching workload, then measured with
//! rounds of node-sized batches; the fastest round counts, as the one least disturbed by
//! whatever else runs on the machine.
//!
//! The cost at a level is compared with a baseline measured side by side: a second hub process,
//! the reference, is held at the first level (10,000 keys), and each round on the measured hub
//! follows the same round on the reference, whose signals are then removed again (untimed). A
//! machine whose speed changes by half within minutes (as the one of BENCHMARKS.md does) then
//! moves both figures, not the ratio. The ratio to the first level measured minutes earlier is
//! reported beside it.

use std::path::Path;

use anyhow::{ensure, Context};
use serde::Serialize;
use tonic::transport::Channel;
use vir_proto::hub_client::HubClient;
use vir_shared::service::ServiceHandle;
use vir_shared::RegionCode;

use crate::drive;
use crate::process::{self, HubProcess};
use crate::settings::{HubProcess as Mode, Settings};
use crate::setup::{loopback, Identities};
use crate::{system_clock, workload};

/// Signals per region generated at once while filling (bounds the bench's own memory).
const FILL_CHUNK: usize = 40_000;

#[derive(Debug, Clone, Serialize)]
pub struct ScaleLevel {
    pub level: usize,
    /// Stored signals when the measurement started and ended.
    pub stored_before: u64,
    pub stored_after: u64,
    /// Microseconds of wall time per signal, per round; the fastest counts.
    pub rounds_micros: Vec<f64>,
    pub micros_per_signal: f64,
    pub per_s: f64,
    /// The same rounds on the reference hub (held at the first level), each just before the
    /// measured hub's; the fastest counts.
    pub reference_rounds_micros: Vec<f64>,
    pub reference_micros_per_signal: f64,
    /// `micros_per_signal` over `reference_micros_per_signal`: the cost against the first
    /// level, measured side by side.
    pub ratio_side_by_side: f64,
    /// `micros_per_signal` over that of the first level, measured when that level was.
    pub ratio_to_first: f64,
    pub rss_mib: f64,
    pub peak_rss_mib: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScaleResult {
    /// How the hub ran: its own process, or in-process and why.
    pub hub: String,
    pub fill_per_s: f64,
    pub matches: u64,
    pub expected_matches: u64,
    pub levels: Vec<ScaleLevel>,
}

enum Running {
    Process(HubProcess),
    InProcess(ServiceHandle),
}

impl Running {
    fn pid(&self) -> Option<u32> {
        match self {
            Running::Process(p) => Some(p.pid),
            Running::InProcess(_) => None,
        }
    }

    async fn stop(self) -> anyhow::Result<()> {
        match self {
            Running::Process(p) => p.stop().await,
            Running::InProcess(h) => h.shutdown().await?,
        }
        Ok(())
    }
}

/// A hub under measurement, with a client and a sender per region.
struct Target {
    hub: Running,
    clients: Vec<HubClient<Channel>>,
    /// The region of each client, in the same order.
    regions: Vec<RegionCode>,
    senders: Vec<workload::Sender>,
    /// Signals it holds.
    stored: u64,
    /// Matches it must have made.
    expected_matches: u64,
}

impl Target {
    async fn start(
        settings: &Settings,
        dir: &Path,
        ids: &Identities,
    ) -> anyhow::Result<(Target, String)> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let regions: Vec<RegionCode> = ids.nodes.iter().map(|n| n.region.clone()).collect();
        let (hub, url, how) = start(settings, dir, ids).await?;
        let clients: Vec<HubClient<Channel>> = (0..regions.len())
            .map(|i| ids.hub_client(i, &url))
            .collect::<anyhow::Result<_>>()?;
        drive::warm_up(&clients, &regions).await?;
        let target = Target {
            hub,
            clients,
            regions,
            senders: workload::federation_senders(),
            stored: 0,
            expected_matches: 0,
        };
        Ok((target, how))
    }

    /// Fills the hub up to `level` signals in large batches; returns the signals sent and the
    /// seconds it took.
    async fn fill_to(&mut self, level: usize, settings: &Settings) -> anyhow::Result<(u64, f64)> {
        let (mut signals, mut secs) = (0u64, 0f64);
        while (self.stored as usize) < level {
            let per_region =
                ((level - self.stored as usize) / self.regions.len()).clamp(4, FILL_CHUNK);
            let round = workload::round(
                &format!("fill-{}", self.stored),
                &mut self.senders,
                per_region,
            );
            self.expected_matches += round.expected_matches;
            let sent = self
                .send(round, settings.prefill_batch, settings)
                .await
                .with_context(|| format!("filling a hub towards {level} keys"))?;
            self.stored += sent.signals;
            signals += sent.signals;
            secs += sent.elapsed.as_secs_f64();
        }
        Ok((signals, secs))
    }

    /// One measured round of node-sized batches; returns microseconds per signal and the
    /// round's removal (its signals' next operations), for a hub that must stay at its size.
    async fn round(
        &mut self,
        tag: &str,
        settings: &Settings,
        keep: bool,
    ) -> anyhow::Result<(f64, Option<workload::Round>)> {
        let per_region = settings.scale_round / self.regions.len();
        let round = workload::round(tag, &mut self.senders, per_region);
        let removal = (!keep).then(|| workload::removal(&round, &mut self.senders));
        if keep {
            // A removed signal's matches end with it.
            self.expected_matches += round.expected_matches;
        }
        let sent = self
            .send(round, settings.ingest_batch, settings)
            .await
            .with_context(|| format!("round {tag}"))?;
        self.stored += sent.signals;
        Ok((sent.micros_per_signal(), removal))
    }

    /// Sends a round's removal (untimed).
    async fn remove(
        &mut self,
        removal: workload::Round,
        settings: &Settings,
    ) -> anyhow::Result<()> {
        let removed = self
            .send(removal, settings.ingest_batch, settings)
            .await
            .context("removing the signals of a reference round")?;
        self.stored -= removed.signals;
        Ok(())
    }

    /// Sends `round` over gRPC in batches of `batch`, each client for its region.
    async fn send(
        &self,
        round: workload::Round,
        batch: usize,
        settings: &Settings,
    ) -> anyhow::Result<drive::Sent> {
        drive::over_grpc(
            &self.clients,
            &self.regions,
            round,
            batch,
            settings.phase_limit,
        )
        .await
    }

    /// Checks that the hub holds the signals and matches it was sent.
    async fn check(&self, name: &str) -> anyhow::Result<u64> {
        let status = self.clients[0]
            .clone()
            .status(vir_proto::HubStatusRequest {})
            .await?
            .into_inner();
        ensure!(
            status.active_signals == self.stored && status.matches == self.expected_matches,
            "scale: the {name} hub holds {} signals and {} matches, expected {} and {}",
            status.active_signals,
            status.matches,
            self.stored,
            self.expected_matches
        );
        Ok(status.matches)
    }
}

async fn start(
    settings: &Settings,
    dir: &Path,
    ids: &Identities,
) -> anyhow::Result<(Running, String, String)> {
    let url = vir_shared::db::sqlite_url(&dir.join("scale-hub.sqlite"));
    if settings.hub_process == Mode::Separate {
        match process::locate_or_build() {
            Ok(binary) => {
                let hub = HubProcess::start(&binary, dir, ids, &url).await?;
                let how = format!("separate process ({})", binary.display());
                let hub_url = hub.url.clone();
                return Ok((Running::Process(hub), hub_url, how));
            }
            Err(e) => {
                let how = format!(
                    "in-process: no vir-hub binary ({}); RSS includes the bench",
                    vir_shared::binary::one_line(&e)
                );
                eprintln!("scale: {how}");
                let handle =
                    vir_hub::spawn(ids.hub_config(loopback(), &url)?, system_clock()).await?;
                let hub_url = handle.url();
                return Ok((Running::InProcess(handle), hub_url, how));
            }
        }
    }
    let handle = vir_hub::spawn(ids.hub_config(loopback(), &url)?, system_clock()).await?;
    let hub_url = handle.url();
    let how = "in-process (as configured); RSS includes the bench".to_owned();
    Ok((Running::InProcess(handle), hub_url, how))
}

pub async fn run(settings: &Settings, dir: &Path, ids: &Identities) -> anyhow::Result<ScaleResult> {
    let (mut measured, how) = Target::start(settings, dir, ids).await?;
    let reference = Target::start(settings, &dir.join("reference"), ids).await;
    let result = match reference {
        Ok((mut reference, _)) => {
            let result = measure(settings, &mut measured, &mut reference, how).await;
            reference.hub.stop().await?;
            result
        }
        Err(e) => Err(e.context("starting the reference hub")),
    };
    measured.hub.stop().await?;
    result
}

async fn measure(
    settings: &Settings,
    measured: &mut Target,
    reference: &mut Target,
    how: String,
) -> anyhow::Result<ScaleResult> {
    let first_level = settings.scale_levels.first().copied().unwrap_or_default();
    reference.fill_to(first_level, settings).await?;
    let (mut fill_signals, mut fill_secs) = (0u64, 0f64);
    let mut levels: Vec<ScaleLevel> = Vec::new();
    for &level in &settings.scale_levels {
        let (signals, secs) = measured.fill_to(level, settings).await?;
        fill_signals += signals;
        fill_secs += secs;
        let stored_before = measured.stored;
        let mut rounds_micros = Vec::with_capacity(settings.scale_rounds);
        let mut reference_rounds_micros = Vec::with_capacity(settings.scale_rounds);
        for i in 0..settings.scale_rounds.max(1) {
            let tag = format!("measure-{level}-{i}");
            // Each goes first in turn; the reference's removal comes after both, so its
            // writes (and their checkpoint) do not fall into the measured hub's round only.
            let (reference_micros, removal) = if i % 2 == 0 {
                let on_reference = reference.round(&tag, settings, false).await?;
                rounds_micros.push(measured.round(&tag, settings, true).await?.0);
                on_reference
            } else {
                rounds_micros.push(measured.round(&tag, settings, true).await?.0);
                reference.round(&tag, settings, false).await?
            };
            reference_rounds_micros.push(reference_micros);
            if let Some(removal) = removal {
                reference.remove(removal, settings).await?;
            }
        }
        let fastest = |rounds: &[f64]| rounds.iter().copied().fold(f64::INFINITY, f64::min);
        let micros = fastest(&rounds_micros);
        let reference_micros = fastest(&reference_rounds_micros);
        let (rss_mib, peak_rss_mib) = process::memory_mib(measured.hub.pid())?;
        let first = levels.first().map_or(micros, |l| l.micros_per_signal);
        levels.push(ScaleLevel {
            level,
            stored_before,
            stored_after: measured.stored,
            rounds_micros,
            micros_per_signal: micros,
            per_s: 1e6 / micros,
            reference_rounds_micros,
            reference_micros_per_signal: reference_micros,
            ratio_side_by_side: micros / reference_micros,
            ratio_to_first: micros / first,
            rss_mib,
            peak_rss_mib,
        });
    }
    let matches = measured.check("measured").await?;
    reference.check("reference").await?;
    Ok(ScaleResult {
        hub: how,
        fill_per_s: fill_signals as f64 / fill_secs.max(1e-9),
        matches,
        expected_matches: measured.expected_matches,
        levels,
    })
}
