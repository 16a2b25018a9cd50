//! Node throughput through the partner API: each of the three nodes takes signals from one of
//! its partner organisations, several calls in flight, on youths new to it, so every signal
//! costs the registry look-up, the regional transaction and, in the forwarder, a person key from
//! the pseudonymiser (OPRF) before it reaches the hub. Half of each node's youths are also
//! signalled at the next node, so hub matches and envelope relays run along as they would.
//!
//! Two rates: accepted by the partner API (all `CreateSignal` calls answered), and forwarded
//! (the hub holds every one of them).

use std::time::{Duration, Instant};

use anyhow::{bail, ensure};
use serde::Serialize;

use crate::fed::BenchFed;
use crate::latency::create_all;
use crate::settings::Settings;

#[derive(Debug, Clone, Serialize)]
pub struct NodeResult {
    pub nodes: usize,
    pub signals: u64,
    pub concurrency_per_node: usize,
    pub api_per_s: f64,
    pub forwarded_per_s: f64,
}

async fn hub_active_signals(fed: &BenchFed) -> anyhow::Result<u64> {
    let mut hub = fed.load.hub_client(0, &fed.hub.url())?;
    Ok(hub
        .status(vir_proto::HubStatusRequest {})
        .await?
        .into_inner()
        .active_signals)
}

pub async fn run(settings: &Settings, fed: &BenchFed) -> anyhow::Result<NodeResult> {
    let nodes = fed.nodes.len();
    let per_node = settings.node_signals / 4 * 4;
    // Node r signals own_r (half) plus shared_r and shared_{r-1} (a quarter each).
    let own: Vec<Vec<String>> = (0..nodes)
        .map(|_| fed.take_youths(per_node / 2))
        .collect::<anyhow::Result<_>>()?;
    let shared: Vec<Vec<String>> = (0..nodes)
        .map(|_| fed.take_youths(per_node / 4))
        .collect::<anyhow::Result<_>>()?;
    let work: Vec<Vec<String>> = (0..nodes)
        .map(|r| {
            let mut youths = own[r].clone();
            youths.extend(shared[r].iter().cloned());
            youths.extend(shared[(r + nodes - 1) % nodes].iter().cloned());
            youths
        })
        .collect();
    let signals = (per_node * nodes) as u64;
    let before = hub_active_signals(fed).await?;

    let start = Instant::now();
    let mut tasks = Vec::new();
    for (r, youths) in work.into_iter().enumerate() {
        let client = fed.partner(r, 0)?;
        let concurrency = settings.node_concurrency;
        tasks.push(tokio::spawn(async move {
            create_all(&client, &youths, concurrency, "Nina Noord").await
        }));
    }
    for task in tasks {
        task.await??;
    }
    let api = start.elapsed();
    loop {
        let at_hub = hub_active_signals(fed).await? - before;
        if at_hub >= signals {
            ensure!(
                at_hub == signals,
                "hub holds {at_hub} new signals, {signals} sent"
            );
            break;
        }
        if start.elapsed() > settings.phase_limit {
            bail!(
                "{at_hub} of {signals} signals at the hub within {:?}",
                settings.phase_limit
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let forwarded = start.elapsed();
    Ok(NodeResult {
        nodes,
        signals,
        concurrency_per_node: settings.node_concurrency,
        api_per_s: signals as f64 / api.as_secs_f64().max(1e-9),
        forwarded_per_s: signals as f64 / forwarded.as_secs_f64().max(1e-9),
    })
}
