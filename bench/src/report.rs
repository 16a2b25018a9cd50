//! The report: every figure of a run with the machine it ran on, as JSON and as a table with the
//! issue's targets beside the figures. Targets are reported, never enforced.

use serde::Serialize;

use crate::hub_ingest::IngestResult;
use crate::latency::LatencyResult;
use crate::node_rate::NodeResult;
use crate::pseudo::PseudoResult;
use crate::scale::ScaleResult;
use crate::settings::Settings;

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpus: usize,
    pub cpu_model: String,
    pub memory_mib: u64,
    /// /proc/loadavg when the run started and when it ended (others may be using the machine).
    pub load_start: String,
    pub load_end: String,
    pub profile: String,
}

impl Machine {
    pub fn read() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map_or_else(|| "unknown".to_owned(), |(_, m)| m.trim().to_owned());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_mib = meminfo
            .lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kib| kib.parse::<u64>().ok())
            .map_or(0, |kib| kib / 1024);
        Machine {
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu_model,
            memory_mib,
            load_start: loadavg(),
            load_end: String::new(),
            profile: if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            }
            .to_owned(),
        }
    }
}

pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// One line of the table: a figure, and the target it is held against, if any.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub scenario: String,
    pub value: String,
    pub target: String,
    /// `None`: no target for this figure.
    pub met: Option<bool>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub date: String,
    pub machine: Machine,
    pub settings: Settings,
    pub ingest: Vec<IngestResult>,
    pub latency: Vec<LatencyResult>,
    pub scale: Option<ScaleResult>,
    pub pseudonymiser: Option<PseudoResult>,
    pub node: Option<NodeResult>,
    pub notes: Vec<String>,
    pub rows: Vec<Row>,
}

fn row(scenario: impl Into<String>, value: String, target: &str, met: Option<bool>) -> Row {
    Row {
        scenario: scenario.into(),
        value,
        target: target.to_owned(),
        met,
    }
}

/// 12345.6 → "12,346".
pub fn thousands(v: f64) -> String {
    let digits = format!("{:.0}", v.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl Report {
    /// Fills `rows` from the results.
    pub fn tabulate(&mut self) {
        let mut rows = Vec::new();
        for i in &self.ingest {
            let b = &i.backend;
            let sqlite = b == "sqlite";
            rows.push(row(
                format!("hub ingest with matching ({b})"),
                format!("{} signals/s", thousands(i.ingest_per_s)),
                if sqlite { ">= 50,000 signals/s" } else { "" },
                sqlite.then_some(i.ingest_per_s >= 50_000.0),
            ));
            rows.push(row(
                "  transport ceiling (gRPC + mTLS, null store)",
                format!("{} signals/s", thousands(i.transport_ceiling_per_s)),
                "",
                None,
            ));
            rows.push(row(
                format!("  store ceiling ({b}, HubState::submit)"),
                format!("{} signals/s", thousands(i.store_ceiling_per_s)),
                "",
                None,
            ));
            rows.push(row(
                "  ingest / min(ceilings)",
                format!("{:.2}", i.ratio),
                ">= 0.5",
                Some(i.ratio >= 0.5),
            ));
            rows.push(row(
                format!("  bare {b} table, key index, batches of 1,000 (reference)"),
                format!("{} signals/s", thousands(i.bare_table_per_s)),
                "",
                None,
            ));
            rows.push(row(
                "  ingest / bare table",
                format!("{:.2}", i.ratio_to_bare),
                "",
                None,
            ));
            rows.push(row(
                "  matches made / expected",
                format!("{} / {}", i.matches, i.expected_matches),
                "all",
                Some(i.matches == i.expected_matches),
            ));
        }
        for l in &self.latency {
            let loaded = l.load.is_some();
            let what = match &l.load {
                Some(load) => format!(
                    "notification latency under {} signals/s (achieved {})",
                    load.target_per_s,
                    thousands(load.achieved_per_s)
                ),
                None => "notification latency idle".to_owned(),
            };
            rows.push(row(
                what,
                format!(
                    "p50 {:.0} / p95 {:.0} / p99 {:.0} / max {:.0} ms",
                    l.p50_ms, l.p95_ms, l.p99_ms, l.max_ms
                ),
                if loaded { "p99 < 50 ms" } else { "" },
                loaded.then_some(l.p99_ms < 50.0),
            ));
        }
        if let Some(s) = &self.scale {
            for level in &s.levels {
                let last = s.levels.last().is_some_and(|l| l.level == level.level);
                let first = s.levels.first().is_some_and(|l| l.level == level.level);
                rows.push(row(
                    format!(
                        "ingest cost at {} stored keys",
                        thousands(level.level as f64)
                    ),
                    format!(
                        "{:.1} us/signal ({} /s), x{:.2}",
                        level.micros_per_signal,
                        thousands(level.per_s),
                        level.ratio_side_by_side
                    ),
                    if last && !first { "<= 1.3x at 1M" } else { "" },
                    (last && !first).then_some(level.ratio_side_by_side <= 1.3),
                ));
                rows.push(row(
                    format!(
                        "  reference hub at {} keys, same rounds",
                        thousands(s.levels.first().map_or(0.0, |l| l.level as f64))
                    ),
                    format!(
                        "{:.1} us/signal (x{:.2} to the first level's own run)",
                        level.reference_micros_per_signal, level.ratio_to_first
                    ),
                    "",
                    None,
                ));
                rows.push(row(
                    format!("  hub RSS at {} keys", thousands(level.level as f64)),
                    format!("{:.0} MiB (peak {:.0})", level.rss_mib, level.peak_rss_mib),
                    if last { "< 200 MB at 1M" } else { "" },
                    last.then_some(level.rss_mib * 1.048_576 < 200.0),
                ));
            }
        }
        if let Some(p) = &self.pseudonymiser {
            let s = &p.service;
            rows.push(row(
                format!("pseudonymiser service keys/s, batches of {}", p.batch),
                format!(
                    "{} (single {}, 3 nodes {})",
                    thousands(s.batched_per_s),
                    thousands(s.single_per_s),
                    thousands(s.batched_three_nodes_per_s)
                ),
                ">= 10,000",
                Some(s.batched_per_s >= 10_000.0),
            ));
            rows.push(row(
                "  end to end via KeyClient (blind+verify here)",
                format!(
                    "{} (single {}, 3 nodes {})",
                    thousands(p.batched_per_s),
                    thousands(p.single_per_s),
                    thousands(p.batched_three_nodes_per_s)
                ),
                "",
                None,
            ));
            rows.push(row(
                format!(
                    "enumerate 91M BSNs at {}/min per node",
                    p.default_per_minute
                ),
                format!(
                    "{:.0} days (3 nodes: {:.0}; no limit: {:.1} h)",
                    p.enumerate_days_one_node,
                    p.enumerate_days_three_nodes,
                    p.enumerate_hours_unlimited
                ),
                "",
                None,
            ));
        }
        if let Some(n) = &self.node {
            rows.push(row(
                "node partner API (3 nodes), accepted",
                format!("{:.0} signals/s", n.api_per_s),
                "",
                None,
            ));
            rows.push(row(
                "  forwarded to the hub (incl. OPRF)",
                format!("{:.0} signals/s", n.forwarded_per_s),
                "",
                None,
            ));
        }
        self.rows = rows;
    }

    /// The table, for a terminal.
    pub fn table(&self) -> String {
        let width = self
            .rows
            .iter()
            .map(|r| r.scenario.len())
            .max()
            .unwrap_or(0);
        let value_width = self.rows.iter().map(|r| r.value.len()).max().unwrap_or(0);
        let mut out = format!(
            "vir-bench {} on {} x {} ({} MiB), {} build, load {} -> {}\n\n",
            self.date,
            self.machine.cpus,
            self.machine.cpu_model,
            self.machine.memory_mib,
            self.machine.profile,
            self.machine.load_start,
            self.machine.load_end
        );
        for r in &self.rows {
            let verdict = match r.met {
                Some(true) => "met",
                Some(false) => "MISSED",
                None => "",
            };
            out.push_str(&format!(
                "{:width$}  {:value_width$}  {:22} {}\n",
                r.scenario, r.value, r.target, verdict
            ));
        }
        for note in &self.notes {
            out.push_str(&format!("\nnote: {note}"));
        }
        out.push('\n');
        out
    }
}
