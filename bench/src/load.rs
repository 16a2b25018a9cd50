//! Steady background load at the hub: three extra node identities submit the half-matching
//! workload at a fixed rate (every 100 ms, each a batch), as the forwarders of other nodes would,
//! until stopped. If the hub falls behind, the achieved rate drops and is reported as such.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use vir_shared::RegionCode;

use crate::setup::Identities;
use crate::workload::{self, Sender};

const TICK: Duration = Duration::from_millis(100);

/// What the load generator did.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct LoadDone {
    pub target_per_s: u32,
    pub achieved_per_s: f64,
    pub signals: u64,
    /// Submits that took longer than a tick (the hub did not keep up at that moment).
    pub late_ticks: u64,
}

pub struct Load {
    stop: CancellationToken,
    task: JoinHandle<anyhow::Result<LoadDone>>,
}

impl Load {
    /// Starts submitting `rate` signals per second over the identities in `ids` to `hub_url`.
    pub fn start(ids: &Identities, hub_url: &str, rate: u32) -> anyhow::Result<Load> {
        let regions: Vec<RegionCode> = ids.nodes.iter().map(|n| n.region.clone()).collect();
        let clients = (0..regions.len())
            .map(|i| ids.hub_client(i, hub_url))
            .collect::<anyhow::Result<Vec<_>>>()?;
        // Op ids continue past any earlier load run on the same hub: start from the time.
        let first_op_id = chrono::Utc::now().timestamp_micros().max(0) as u64;
        let mut senders: Vec<Sender> = regions
            .iter()
            .map(|r| Sender {
                last_op_id: first_op_id,
                ..Sender::new(r.clone(), "0106")
            })
            .collect();
        // Signals per sender per tick, a multiple of 4 (the workload's pattern), at least 4.
        let per_tick = f64::from(rate) * TICK.as_secs_f64() / regions.len() as f64;
        let per_sender = ((per_tick / 4.0).round() as usize).max(1) * 4;
        let stop = CancellationToken::new();
        let token = stop.clone();
        let sent = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn(async move {
            let start = Instant::now();
            let mut ticker = tokio::time::interval(TICK);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let (mut n, mut late) = (0u64, 0u64);
            loop {
                tokio::select! {
                    _ = token.cancelled() => break,
                    _ = ticker.tick() => {}
                }
                let round = workload::round(&format!("load-{n}"), &mut senders, per_sender);
                n += 1;
                let began = Instant::now();
                let mut calls = Vec::new();
                for ((client, region), operations) in
                    clients.iter().zip(&regions).zip(round.per_sender)
                {
                    let mut client = client.clone();
                    let request = vir_proto::SubmitRequest {
                        region: region.to_string(),
                        operations,
                    };
                    calls.push(async move { client.submit(request).await });
                }
                for response in futures::future::join_all(calls).await {
                    response?;
                }
                sent.fetch_add((per_sender * regions.len()) as u64, Ordering::Relaxed);
                if began.elapsed() > TICK {
                    late += 1;
                }
            }
            let signals = sent.load(Ordering::Relaxed);
            Ok(LoadDone {
                target_per_s: rate,
                achieved_per_s: signals as f64 / start.elapsed().as_secs_f64().max(1e-9),
                signals,
                late_ticks: late,
            })
        });
        Ok(Load { stop, task })
    }

    pub async fn stop(self) -> anyhow::Result<LoadDone> {
        self.stop.cancel();
        self.task.await?
    }
}
