//! The pseudonymiser service alone: `Evaluate` calls carrying elements blinded beforehand, so
//! the figure is the work of the service host (evaluate under the secret key, prove the batch,
//! mutual TLS, the rate limiter), not the nodes' blinding and finalising, which in a federation
//! runs on the nodes' own machines.

use std::time::Instant;

use anyhow::{bail, ensure};
use serde::Serialize;
use tonic::transport::Channel;
use vir_proto as pb;
use vir_proto::pseudonymiser_client::PseudonymiserClient;
use voprf::{Ristretto255, VoprfClient};

use crate::fed::BenchFed;
use crate::settings::Settings;

#[derive(Debug, Clone, Copy, Serialize)]
pub struct ServiceRates {
    /// One element per call.
    pub single_per_s: f64,
    /// `pseudo_batch` elements per call, one node.
    pub batched_per_s: f64,
    /// Batched, the three nodes at once (total).
    pub batched_three_nodes_per_s: f64,
}

/// `n` blinded elements as a node sends them (32 bytes each).
fn blinded(n: usize) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut rng = rand::rngs::OsRng;
    (0..n)
        .map(|i| {
            let input = format!("{:09}", 300_000_000 + i);
            let blind = VoprfClient::<Ristretto255>::blind(input.as_bytes(), &mut rng)
                .map_err(|e| anyhow::anyhow!("blinding: {e:?}"))?;
            Ok(blind.message.serialize().to_vec())
        })
        .collect()
}

struct Caller {
    rpc: PseudonymiserClient<Channel>,
    region: String,
}

impl Caller {
    fn new(fed: &BenchFed, node: usize) -> anyhow::Result<Caller> {
        let n = &fed.nodes[node];
        let channel = vir_shared::tls::channel(&fed.pseudonymiser.url(), &n.tls, "localhost")?;
        Ok(Caller {
            rpc: PseudonymiserClient::new(channel),
            region: n.plan.code.to_owned(),
        })
    }

    /// `calls` evaluations of `elements`; returns the elements evaluated.
    async fn evaluate(
        &mut self,
        elements: &[Vec<u8>],
        calls: usize,
        settings: &Settings,
    ) -> anyhow::Result<usize> {
        let start = Instant::now();
        let mut done = 0;
        for _ in 0..calls {
            if start.elapsed() > settings.phase_limit {
                bail!("evaluations not done within {:?}", settings.phase_limit);
            }
            let request = pb::EvaluateRequest {
                region: self.region.clone(),
                domain: pb::KeyDomain::Person as i32,
                key_version: 0,
                blinded_elements: elements.to_vec(),
            };
            let response = self.rpc.evaluate(request).await?.into_inner();
            ensure!(
                response.evaluated_elements.len() == elements.len(),
                "{} elements evaluated of {}",
                response.evaluated_elements.len(),
                elements.len()
            );
            done += elements.len();
        }
        Ok(done)
    }
}

pub async fn measure(settings: &Settings, fed: &BenchFed) -> anyhow::Result<ServiceRates> {
    let batch = blinded(settings.pseudo_batch)?;
    let mut callers = (0..fed.nodes.len())
        .map(|i| Caller::new(fed, i))
        .collect::<anyhow::Result<Vec<_>>>()?;
    // The first call makes the connection.
    callers[0].evaluate(&batch[..1], 1, settings).await?;

    let start = Instant::now();
    let done = callers[0]
        .evaluate(&batch[..1], settings.pseudo_single, settings)
        .await?;
    let single_per_s = done as f64 / start.elapsed().as_secs_f64().max(1e-9);

    let start = Instant::now();
    let done = callers[0]
        .evaluate(&batch, settings.pseudo_batches, settings)
        .await?;
    let batched_per_s = done as f64 / start.elapsed().as_secs_f64().max(1e-9);

    let start = Instant::now();
    let mut tasks = Vec::new();
    for mut caller in callers {
        let batch = batch.clone();
        let settings = settings.clone();
        tasks.push(tokio::spawn(async move {
            caller
                .evaluate(&batch, settings.pseudo_batches, &settings)
                .await
        }));
    }
    let mut done = 0;
    for task in tasks {
        done += task.await??;
    }
    let batched_three_nodes_per_s = done as f64 / start.elapsed().as_secs_f64().max(1e-9);
    Ok(ServiceRates {
        single_per_s,
        batched_per_s,
        batched_three_nodes_per_s,
    })
}
