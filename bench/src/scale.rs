//! Scale: the per-signal ingest cost at growing numbers of stored keys (as a ratio to the first
//! level), and the hub's resident memory at each.
//!
//! The hub runs as its own process (the workspace's `vir-hub` binary) on SQLite. It is filled
//! up to each level with large batches of the same half-matching workload, then measured with
//! rounds of node-sized batches; the fastest round counts, as the one least disturbed by
//! whatever else runs on the machine.

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
    /// `micros_per_signal` over that of the first level.
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
                let how = format!("in-process: no vir-hub binary ({e:#}); RSS includes the bench");
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
    let (hub, url, how) = start(settings, dir, ids).await?;
    let result = measure(settings, ids, &hub, &url, how).await;
    hub.stop().await?;
    result
}

async fn measure(
    settings: &Settings,
    ids: &Identities,
    hub: &Running,
    url: &str,
    how: String,
) -> anyhow::Result<ScaleResult> {
    let regions: Vec<RegionCode> = ids.nodes.iter().map(|n| n.region.clone()).collect();
    let clients: Vec<HubClient<Channel>> = (0..regions.len())
        .map(|i| ids.hub_client(i, url))
        .collect::<anyhow::Result<_>>()?;
    drive::warm_up(&clients, &regions).await?;
    let mut senders = workload::federation_senders();
    let mut stored = 0u64;
    let mut expected_matches = 0u64;
    let (mut fill_signals, mut fill_secs) = (0u64, 0f64);
    let mut levels: Vec<ScaleLevel> = Vec::new();
    for &level in &settings.scale_levels {
        while (stored as usize) < level {
            let per_region = ((level - stored as usize) / regions.len()).clamp(4, FILL_CHUNK);
            let round = workload::round(&format!("fill-{stored}"), &mut senders, per_region);
            expected_matches += round.expected_matches;
            let sent = drive::over_grpc(
                &clients,
                &regions,
                round,
                settings.prefill_batch,
                settings.phase_limit,
            )
            .await
            .with_context(|| format!("filling the hub towards {level} keys"))?;
            stored += sent.signals;
            fill_signals += sent.signals;
            fill_secs += sent.elapsed.as_secs_f64();
        }
        let stored_before = stored;
        let mut rounds_micros = Vec::with_capacity(settings.scale_rounds);
        for i in 0..settings.scale_rounds.max(1) {
            let round = workload::round(
                &format!("measure-{level}-{i}"),
                &mut senders,
                settings.scale_round / regions.len(),
            );
            expected_matches += round.expected_matches;
            let sent = drive::over_grpc(
                &clients,
                &regions,
                round,
                settings.ingest_batch,
                settings.phase_limit,
            )
            .await
            .with_context(|| format!("measuring at {level} keys"))?;
            stored += sent.signals;
            rounds_micros.push(sent.micros_per_signal());
        }
        let micros = rounds_micros.iter().copied().fold(f64::INFINITY, f64::min);
        let (rss_mib, peak_rss_mib) = process::memory_mib(hub.pid())?;
        let first = levels.first().map_or(micros, |l| l.micros_per_signal);
        levels.push(ScaleLevel {
            level,
            stored_before,
            stored_after: stored,
            rounds_micros,
            micros_per_signal: micros,
            per_s: 1e6 / micros,
            ratio_to_first: micros / first,
            rss_mib,
            peak_rss_mib,
        });
    }
    let status = clients[0]
        .clone()
        .status(vir_proto::HubStatusRequest {})
        .await?
        .into_inner();
    ensure!(
        status.active_signals == stored && status.matches == expected_matches,
        "scale: hub holds {} signals and {} matches, expected {stored} and {expected_matches}",
        status.active_signals,
        status.matches
    );
    Ok(ScaleResult {
        hub: how,
        fill_per_s: fill_signals as f64 / fill_secs.max(1e-9),
        matches: status.matches,
        expected_matches,
        levels,
    })
}
