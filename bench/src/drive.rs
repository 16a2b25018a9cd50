//! Sending a round of operations to a hub: one task per node identity, all at once, each sending
//! its own operations in order in batches with one `Submit` in flight, as a node's forwarder
//! does. Batches are built before the clock starts; every task gives up at the deadline.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use tonic::transport::Channel;
use vir_hub::HubState;
use vir_proto as pb;
use vir_proto::hub_client::HubClient;
use vir_shared::RegionCode;

use crate::workload::Round;

/// What a round took.
#[derive(Debug, Clone, Copy)]
pub struct Sent {
    pub signals: u64,
    pub elapsed: Duration,
}

impl Sent {
    pub fn per_second(&self) -> f64 {
        self.signals as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Microseconds of wall time per signal.
    pub fn micros_per_signal(&self) -> f64 {
        self.elapsed.as_secs_f64() * 1e6 / (self.signals.max(1) as f64)
    }
}

fn batches(ops: Vec<pb::Operation>, batch: usize) -> Vec<Vec<pb::Operation>> {
    let mut out = Vec::with_capacity(ops.len() / batch.max(1) + 1);
    let mut ops = ops.into_iter().peekable();
    while ops.peek().is_some() {
        out.push(ops.by_ref().take(batch.max(1)).collect());
    }
    out
}

fn check_results(
    region: &RegionCode,
    sent: usize,
    response: &pb::SubmitResponse,
) -> anyhow::Result<()> {
    let applied = response
        .results
        .iter()
        .filter(|r| r.outcome == pb::OpOutcome::Applied as i32)
        .count();
    ensure!(
        applied == sent,
        "{region}: {applied} of {sent} operations applied"
    );
    Ok(())
}

/// One empty `Submit` per client: the TLS connection is made before timing starts.
pub async fn warm_up(clients: &[HubClient<Channel>], regions: &[RegionCode]) -> anyhow::Result<()> {
    for (client, region) in clients.iter().zip(regions) {
        let request = pb::SubmitRequest {
            region: region.to_string(),
            operations: Vec::new(),
        };
        client
            .clone()
            .submit(request)
            .await
            .with_context(|| format!("warm-up Submit as {region}"))?;
    }
    Ok(())
}

/// Sends `round` over gRPC, client `i` for region `i`.
pub async fn over_grpc(
    clients: &[HubClient<Channel>],
    regions: &[RegionCode],
    round: Round,
    batch: usize,
    deadline: Duration,
) -> anyhow::Result<Sent> {
    let signals = round.signals() as u64;
    let work: Vec<_> = round
        .per_sender
        .into_iter()
        .map(|ops| batches(ops, batch))
        .collect();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for ((client, region), batches) in clients.iter().zip(regions).zip(work) {
        let mut client = client.clone();
        let region = region.clone();
        tasks.push(tokio::spawn(async move {
            for operations in batches {
                if start.elapsed() > deadline {
                    bail!("{region}: round not done within {deadline:?}");
                }
                let sent = operations.len();
                let request = pb::SubmitRequest {
                    region: region.to_string(),
                    operations,
                };
                let response = client
                    .submit(request)
                    .await
                    .with_context(|| format!("Submit as {region}"))?
                    .into_inner();
                check_results(&region, sent, &response)?;
            }
            Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(Sent {
        signals,
        elapsed: start.elapsed(),
    })
}

/// Sends `round` straight into the hub's core, no network: the store ceiling.
pub async fn in_process(
    state: &Arc<HubState>,
    regions: &[RegionCode],
    round: Round,
    batch: usize,
    deadline: Duration,
) -> anyhow::Result<Sent> {
    let signals = round.signals() as u64;
    let work: Vec<_> = round
        .per_sender
        .into_iter()
        .map(|ops| batches(ops, batch))
        .collect();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (region, batches) in regions.iter().zip(work) {
        let state = state.clone();
        let region = region.clone();
        tasks.push(tokio::spawn(async move {
            for operations in batches {
                if start.elapsed() > deadline {
                    bail!("{region}: round not done within {deadline:?}");
                }
                let sent = operations.len();
                let response = state
                    .submit(&region, operations)
                    .await
                    .with_context(|| format!("submit as {region}"))?;
                check_results(&region, sent, &response)?;
            }
            Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(Sent {
        signals,
        elapsed: start.elapsed(),
    })
}
