//! Every bench scenario with tiny counts, so CI exercises the bench's code paths: each scenario
//! runs to the end, the counts add up and every expected match is made. The figures themselves
//! are not judged here; the full bench is run by hand (see BENCHMARKS.md).

use vir_bench::settings::Settings;
use vir_bench::{postgres, Scenario};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_runs_with_tiny_counts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut settings = Settings::smoke();
    settings.postgres = postgres::server_url(None);
    let report = vir_bench::run(&settings, &Scenario::ALL, dir.path())
        .await
        .expect("bench run");
    let failures: Vec<_> = report
        .notes
        .iter()
        .filter(|n| n.contains("failed"))
        .collect();
    assert!(failures.is_empty(), "{failures:?}");

    let backends = 1 + usize::from(settings.postgres.is_some());
    assert_eq!(report.ingest.len(), backends);
    for i in &report.ingest {
        assert_eq!(i.signals, settings.ingest_signals as u64, "{}", i.backend);
        assert_eq!(i.active_signals, i.signals, "{}", i.backend);
        assert_eq!(i.expected_matches, i.signals / 4, "{}", i.backend);
        assert_eq!(
            i.matches, i.expected_matches,
            "{}: all matches made",
            i.backend
        );
        assert!(i.ingest_per_s > 0.0 && i.transport_ceiling_per_s > 0.0);
        assert!(i.store_ceiling_per_s > 0.0 && i.ratio > 0.0);
    }

    let scale = report.scale.as_ref().expect("scale result");
    assert_eq!(scale.levels.len(), settings.scale_levels.len());
    assert_eq!(scale.matches, scale.expected_matches);
    for level in &scale.levels {
        assert!(level.stored_before >= level.level as u64);
        assert!(level.micros_per_signal > 0.0 && level.rss_mib > 0.0);
        // The reference hub ran the same rounds (its own consistency, signals and matches
        // after the removals, is checked by the scenario itself).
        assert_eq!(
            level.reference_rounds_micros.len(),
            level.rounds_micros.len()
        );
        assert!(level.reference_micros_per_signal > 0.0);
        let ratio = level.micros_per_signal / level.reference_micros_per_signal;
        assert!((level.ratio_side_by_side - ratio).abs() < 1e-9);
    }

    assert_eq!(report.latency.len(), 2, "idle and under load");
    for l in &report.latency {
        assert_eq!(l.samples, settings.latency_samples, "{}", l.condition);
        assert!(l.p50_ms <= l.p99_ms && l.p99_ms <= l.max_ms, "{l:?}");
    }
    let load = report.latency[1].load.expect("background load");
    assert!(load.signals > 0 && load.achieved_per_s > 0.0);

    let pseudo = report.pseudonymiser.as_ref().expect("pseudonymiser result");
    assert!(pseudo.single_per_s > 0.0 && pseudo.batched_per_s > 0.0);
    assert!(
        (pseudo.enumerate_days_one_node - 105.3).abs() < 1.0,
        "{pseudo:?}"
    );

    let node = report.node.as_ref().expect("node result");
    assert_eq!(node.signals, (settings.node_signals * 3) as u64);
    assert!(node.api_per_s > 0.0 && node.forwarded_per_s > 0.0);

    let table = report.table();
    println!("{table}");
    assert!(
        table.contains("hub ingest with matching (sqlite)"),
        "{table}"
    );
    serde_json::to_string(&report).expect("the report serialises");
}
