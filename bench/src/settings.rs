//! How much each scenario does: the full run an operator makes by hand, `--quick`, and the tiny
//! counts of the smoke test. Every count is bounded and every phase has a time limit.

use std::time::Duration;

use serde::Serialize;

/// How the scale scenario runs the hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum HubProcess {
    /// The `vir-hub` binary next to this executable (built first if missing), as its own
    /// process, so its resident memory is the hub's alone; in-process if that fails.
    Separate,
    /// In this process (the resident memory then includes the bench itself).
    InProcess,
}

#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    /// Signals per ingest measurement, over the three node identities.
    pub ingest_signals: usize,
    /// Operations per `Submit` (a node's forwarder default is 500).
    pub ingest_batch: usize,
    /// Admin URL of a PostgreSQL server; fresh databases are made on it.
    pub postgres: Option<String>,
    /// Stored keys at which the per-signal ingest cost and the hub's memory are measured.
    pub scale_levels: Vec<usize>,
    /// Signals per measured round at each level, and how many rounds (the fastest counts).
    pub scale_round: usize,
    pub scale_rounds: usize,
    /// Operations per `Submit` while filling the hub up to a level (the hub's maximum).
    pub prefill_batch: usize,
    pub hub_process: HubProcess,
    /// Latency samples per condition (idle, under load), and the pause between two.
    pub latency_samples: usize,
    #[serde(with = "millis")]
    pub latency_interval: Duration,
    /// Background signals per second at the hub while the loaded samples are taken.
    pub load_rate: u32,
    /// Single-key calls, and batched calls of `pseudo_batch` inputs, to the pseudonymiser.
    pub pseudo_single: usize,
    pub pseudo_batches: usize,
    pub pseudo_batch: usize,
    /// Signals per node through the partner API, and requests in flight per node.
    pub node_signals: usize,
    pub node_concurrency: usize,
    /// Households in the synthetic person registry of the federation scenarios.
    pub households: usize,
    /// The longest any one phase may take before the run fails.
    #[serde(with = "millis")]
    pub phase_limit: Duration,
}

impl Settings {
    /// The full run (tens of minutes on two cores).
    pub fn full() -> Settings {
        Settings {
            ingest_signals: 120_000,
            ingest_batch: 500,
            postgres: None,
            scale_levels: vec![10_000, 100_000, 1_000_000],
            scale_round: 12_000,
            scale_rounds: 3,
            prefill_batch: 10_000,
            hub_process: HubProcess::Separate,
            latency_samples: 300,
            latency_interval: Duration::from_millis(50),
            load_rate: 1000,
            pseudo_single: 500,
            pseudo_batches: 10,
            pseudo_batch: 1000,
            node_signals: 1000,
            node_concurrency: 8,
            households: 6000,
            phase_limit: Duration::from_secs(600),
        }
    }

    /// A few minutes: smaller counts, scale up to 100k stored keys.
    pub fn quick() -> Settings {
        Settings {
            ingest_signals: 30_000,
            scale_levels: vec![10_000, 100_000],
            scale_round: 6_000,
            scale_rounds: 2,
            latency_samples: 100,
            pseudo_single: 200,
            pseudo_batches: 4,
            node_signals: 300,
            households: 2000,
            phase_limit: Duration::from_secs(300),
            ..Settings::full()
        }
    }

    /// Seconds: every code path with a few hundred signals (the smoke test).
    pub fn smoke() -> Settings {
        Settings {
            ingest_signals: 600,
            ingest_batch: 100,
            scale_levels: vec![600, 1_800],
            scale_round: 300,
            scale_rounds: 1,
            prefill_batch: 600,
            hub_process: HubProcess::InProcess,
            latency_samples: 8,
            latency_interval: Duration::from_millis(20),
            load_rate: 200,
            pseudo_single: 10,
            pseudo_batches: 1,
            pseudo_batch: 100,
            node_signals: 12,
            node_concurrency: 4,
            households: 150,
            phase_limit: Duration::from_secs(120),
            ..Settings::full()
        }
    }
}

mod millis {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }
}
