//! The pseudonymiser: the service alone ([`crate::pseudo_service`]), and end to end through the
//! node-side client (`KeyClient`: blind, evaluate over mTLS, verify the proof, finalise), each
//! one key at a time, in batches, and in batches from the three nodes at once; and what the
//! shipped rate limit means for someone enumerating every BSN with a stolen node certificate
//! (computed, not run).

use std::time::{Duration, Instant};

use anyhow::{bail, ensure};
use serde::Serialize;
use vir_pseudonymiser::config::RateLimit;
use vir_pseudonymiser::KeyClient;
use vir_shared::keys::KeyDomain;

use crate::fed::BenchFed;
use crate::pseudo_service::{self, ServiceRates};
use crate::settings::Settings;

/// Roughly the number of valid BSNs (9 digits passing the 11-test).
pub const ALL_BSNS: f64 = 91_000_000.0;

#[derive(Debug, Clone, Serialize)]
pub struct PseudoResult {
    /// The service alone (elements blinded beforehand).
    pub service: ServiceRates,
    /// End to end through `KeyClient`, client and service on this machine.
    pub single_calls: usize,
    pub single_per_s: f64,
    pub batch: usize,
    pub batches: usize,
    pub batched_per_s: f64,
    /// Batched, the three nodes at once (total over the three).
    pub batched_three_nodes_per_s: f64,
    /// The shipped defaults of `[rate_limit]`.
    pub default_per_minute: u32,
    pub default_burst: u32,
    /// Enumerating all BSNs at the default limit: with one node certificate, and with all three.
    pub enumerate_days_one_node: f64,
    pub enumerate_days_three_nodes: f64,
    /// The same without any limit, at the service's measured batched rate for one node.
    pub enumerate_hours_unlimited: f64,
}

fn inputs(offset: usize, n: usize) -> Vec<Vec<u8>> {
    (offset..offset + n)
        .map(|i| format!("{:09}", 100_000_000 + i).into_bytes())
        .collect()
}

fn client(fed: &BenchFed, node: usize) -> anyhow::Result<KeyClient> {
    let n = &fed.nodes[node];
    let channel = vir_shared::tls::channel(&fed.pseudonymiser.url(), &n.tls, "localhost")?;
    let region = n.plan.code.parse()?;
    Ok(KeyClient::new(channel, region))
}

async fn batched(client: KeyClient, offset: usize, settings: &Settings) -> anyhow::Result<usize> {
    let start = Instant::now();
    let mut done = 0;
    for b in 0..settings.pseudo_batches {
        if start.elapsed() > settings.phase_limit {
            bail!("batched keys not done within {:?}", settings.phase_limit);
        }
        let batch = inputs(offset + b * settings.pseudo_batch, settings.pseudo_batch);
        let keys = client.keys(KeyDomain::Person, &batch).await?;
        ensure!(
            keys.len() == batch.len(),
            "{} keys for {} inputs",
            keys.len(),
            batch.len()
        );
        done += keys.len();
    }
    Ok(done)
}

pub async fn run(settings: &Settings, fed: &BenchFed) -> anyhow::Result<PseudoResult> {
    let service = pseudo_service::measure(settings, fed).await?;
    let clients = (0..fed.nodes.len())
        .map(|i| client(fed, i))
        .collect::<anyhow::Result<Vec<_>>>()?;
    for c in &clients {
        c.refresh_public_keys().await?;
    }

    let start = Instant::now();
    for (i, input) in inputs(0, settings.pseudo_single).iter().enumerate() {
        if start.elapsed() > settings.phase_limit {
            bail!("single keys: {i} done within {:?}", settings.phase_limit);
        }
        clients[0].key(KeyDomain::Person, input).await?;
    }
    let single_per_s = settings.pseudo_single as f64 / secs(start.elapsed());

    let start = Instant::now();
    let done = batched(clients[0].clone(), 1_000_000, settings).await?;
    let batched_per_s = done as f64 / secs(start.elapsed());

    let start = Instant::now();
    let mut tasks = Vec::new();
    for (i, c) in clients.iter().enumerate() {
        let c = c.clone();
        let settings = settings.clone();
        tasks.push(tokio::spawn(async move {
            batched(c, 2_000_000 + i * 1_000_000, &settings).await
        }));
    }
    let mut done = 0;
    for task in tasks {
        done += task.await??;
    }
    let batched_three_nodes_per_s = done as f64 / secs(start.elapsed());

    let limit = RateLimit::default();
    let days_at = |per_minute: f64| ALL_BSNS / per_minute / 60.0 / 24.0;
    Ok(PseudoResult {
        service,
        single_calls: settings.pseudo_single,
        single_per_s,
        batch: settings.pseudo_batch,
        batches: settings.pseudo_batches,
        batched_per_s,
        batched_three_nodes_per_s,
        default_per_minute: limit.per_minute,
        default_burst: limit.burst,
        enumerate_days_one_node: days_at(f64::from(limit.per_minute)),
        enumerate_days_three_nodes: days_at(3.0 * f64::from(limit.per_minute)),
        enumerate_hours_unlimited: ALL_BSNS / service.batched_per_s / 3600.0,
    })
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64().max(1e-9)
}
