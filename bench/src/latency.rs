//! End-to-end notification latency: a signal created at node A (Drenthe) on a youth that node B
//! (Zuid-Limburg) has already signalled, until node B has stored the notification that tells
//! its signaller about A's.
//!
//! The path: A's transaction and outbox; A's forwarder (person key from the pseudonymiser,
//! `Submit`); the hub's match and both feeds; A verifies B's chain, seals its contact details
//! and relays them; the hub delivers the envelope to B's feed; B opens it and notifies. Times
//! are the nodes' own store timestamps (`signals.created_ms` at A, `notifications.created_ms`
//! at B; every service reads the system clock), so polling adds nothing. Measured idle and
//! while the hub takes a steady background load from other node identities.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde::Serialize;
use tonic::transport::Channel;
use vir_proto as pb;
use vir_proto::node_client::NodeClient;

use crate::fed::BenchFed;
use crate::load::{Load, LoadDone};
use crate::settings::Settings;

/// Partner calls in flight while B's signals are put in place.
const SETUP_CONCURRENCY: usize = 8;
/// Background load runs this long before the first sample, to reach a steady state.
const LOAD_WARM_UP: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Serialize)]
pub struct LatencyResult {
    pub condition: String,
    pub samples: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
    pub load: Option<LoadDone>,
}

/// A signal request as a partner system sends it.
pub fn signal_request(bsn: &str, name: &str) -> pb::CreateSignalRequest {
    pb::CreateSignalRequest {
        bsn: bsn.to_owned(),
        signaller: Some(pb::Contact {
            name: name.to_owned(),
            phone: "010-1234567".to_owned(),
            email: "signaller@example.nl".to_owned(),
        }),
        ..Default::default()
    }
}

/// Creates a signal on each youth, `concurrency` calls in flight.
pub async fn create_all(
    client: &NodeClient<Channel>,
    youths: &[String],
    concurrency: usize,
    name: &str,
) -> anyhow::Result<()> {
    let chunk = youths.len().div_ceil(concurrency.max(1)).max(1);
    let mut tasks = Vec::new();
    for part in youths.chunks(chunk) {
        let mut client = client.clone();
        let part = part.to_vec();
        let name = name.to_owned();
        tasks.push(tokio::spawn(async move {
            for bsn in part {
                client
                    .create_signal(signal_request(&bsn, &name))
                    .await
                    .context("CreateSignal")?;
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(())
}

/// Waits until a node has forwarded its whole outbox to the hub.
pub async fn wait_outbox_empty(
    client: &NodeClient<Channel>,
    limit: Duration,
) -> anyhow::Result<()> {
    let start = Instant::now();
    loop {
        let status = client
            .clone()
            .status(pb::NodeStatusRequest {})
            .await?
            .into_inner();
        if status.outbox_pending == 0 {
            return Ok(());
        }
        if start.elapsed() > limit {
            bail!(
                "{} operations still in the outbox after {limit:?}",
                status.outbox_pending
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub async fn run(settings: &Settings, fed: &BenchFed) -> anyhow::Result<Vec<LatencyResult>> {
    let idle = measure(settings, fed, "idle", None).await?;
    let loaded = measure(settings, fed, "load", Some(settings.load_rate)).await?;
    Ok(vec![idle, loaded])
}

async fn measure(
    settings: &Settings,
    fed: &BenchFed,
    condition: &str,
    load_rate: Option<u32>,
) -> anyhow::Result<LatencyResult> {
    let youths = fed.take_youths(settings.latency_samples)?;
    let wanted: HashSet<&str> = youths.iter().map(String::as_str).collect();
    let a = fed.partner(0, 0)?;
    let b = fed.partner(1, 0)?;
    create_all(&b, &youths, SETUP_CONCURRENCY, "Bea Bakker").await?;
    wait_outbox_empty(&b, settings.phase_limit).await?;

    let load = match load_rate {
        Some(rate) => {
            let load = Load::start(&fed.load, &fed.hub.url(), rate)?;
            tokio::time::sleep(LOAD_WARM_UP).await;
            Some(load)
        }
        None => None,
    };
    let mut ticker = tokio::time::interval(settings.latency_interval);
    for bsn in &youths {
        ticker.tick().await;
        a.clone()
            .create_signal(signal_request(bsn, "Anna Alberts"))
            .await
            .context("CreateSignal at node A")?;
    }
    let notified = wait_notified(fed, &wanted, settings.phase_limit).await;
    let load = match load {
        Some(load) => Some(load.stop().await?),
        None => None,
    };
    let notified = notified?;
    let created = created_at_a(fed, &wanted).await?;
    let mut latencies: Vec<f64> = notified
        .iter()
        .map(|(bsn, at_b)| {
            let at_a = created.get(bsn).copied().unwrap_or(*at_b);
            (at_b - at_a) as f64
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    Ok(LatencyResult {
        condition: condition.to_owned(),
        samples: latencies.len(),
        p50_ms: percentile(&latencies, 50.0),
        p95_ms: percentile(&latencies, 95.0),
        p99_ms: percentile(&latencies, 99.0),
        max_ms: latencies.last().copied().unwrap_or(0.0),
        mean_ms: latencies.iter().sum::<f64>() / latencies.len().max(1) as f64,
        load,
    })
}

/// Waits until node B has a cross-regional notification for every wanted youth; returns when
/// each was stored (Unix ms), by BSN.
async fn wait_notified(
    fed: &BenchFed,
    wanted: &HashSet<&str>,
    limit: Duration,
) -> anyhow::Result<HashMap<String, i64>> {
    let mut db = fed.node_db(1).await?;
    let start = Instant::now();
    loop {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT s.bsn, n.created_ms FROM notifications n \
             JOIN signals s ON s.id = n.signal_id \
             JOIN remote_matches r ON r.hub_match_id = n.match_id \
             WHERE n.kind = 'client'",
        )
        .fetch_all(&mut db)
        .await?;
        let found: HashMap<String, i64> = rows
            .into_iter()
            .filter(|(bsn, _)| wanted.contains(bsn.as_str()))
            .collect();
        if found.len() == wanted.len() {
            return Ok(found);
        }
        if start.elapsed() > limit {
            bail!(
                "node B was notified about {} of {} signals within {limit:?}",
                found.len(),
                wanted.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// When node A stored each wanted youth's signal (Unix ms), by BSN.
async fn created_at_a(
    fed: &BenchFed,
    wanted: &HashSet<&str>,
) -> anyhow::Result<HashMap<String, i64>> {
    let mut db = fed.node_db(0).await?;
    let oin = fed.nodes[0].plan.orgs[0].oin.to_string();
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT bsn, created_ms FROM signals WHERE partner_oin = $1")
            .bind(oin)
            .fetch_all(&mut db)
            .await?;
    Ok(rows
        .into_iter()
        .filter(|(bsn, _)| wanted.contains(bsn.as_str()))
        .collect())
}

/// The nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&v, 100.0), 100.0);
        assert_eq!(percentile(&[7.0], 95.0), 7.0);
    }
}
