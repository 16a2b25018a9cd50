//! `virctl status` against a running test federation: every service serving, with its version
//! and figures; a stopped node shows as down and makes the command fail.

use std::time::Duration;

use vir_tests::{eventually, signal_request, TestFed};

async fn virctl_status(t: &TestFed, json: bool) -> (bool, String) {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_virctl"));
    command
        .arg("--data")
        .arg(&t.fed.data_dir)
        .arg("status")
        .env_remove("VIR_AS");
    if json {
        command.arg("--json");
    }
    let out = command.output().await.expect("virctl runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn row<'a>(rows: &'a [serde_json::Value], service: &str) -> &'a serde_json::Value {
    rows.iter()
        .find(|r| r["service"] == service)
        .unwrap_or_else(|| panic!("{service} missing from {rows:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_summarises_every_service_and_reports_a_stopped_node() {
    let mut t = TestFed::start().await;
    let bsn = t.youths()[0].bsn.to_string();
    t.node_client("drenthe/school")
        .create_signal(signal_request(&bsn, "Jan de Vries"))
        .await
        .unwrap();
    t.node_client("zuid-limburg/jgz")
        .create_signal(signal_request(&bsn, "Marieke Smeets"))
        .await
        .unwrap();

    let rows: Vec<serde_json::Value> = eventually(
        "the match counted and the outboxes empty",
        Duration::from_secs(30),
        || async {
            let (ok, out) = virctl_status(&t, true).await;
            assert!(ok, "virctl status fails on a healthy federation: {out}");
            let rows: Vec<serde_json::Value> = serde_json::from_str(&out).expect("JSON");
            let settled = ["node:drenthe", "node:zuid-limburg"].iter().all(|n| {
                let r = row(&rows, n);
                r["matches"] == 1 && r["outbox"] == 0 && r["feed_lag"] == 0
            });
            (settled && row(&rows, "hub")["matches"] == 1).then_some(rows)
        },
    )
    .await;
    assert_eq!(rows.len(), 5, "pseudonymiser, hub and three nodes");
    for r in &rows {
        assert_eq!(r["health"], "SERVING", "{r}");
        assert_eq!(r["version"], env!("CARGO_PKG_VERSION"), "{r}");
        assert_eq!(r["problems"], serde_json::json!([]), "{r}");
    }
    assert_eq!(row(&rows, "hub")["signals"], 2);
    let drenthe = row(&rows, "node:drenthe");
    assert_eq!(drenthe["signals"], 1);
    assert_eq!(row(&rows, "node:hoeksche-waard")["signals"], 0);

    let (ok, text) = virctl_status(&t, false).await;
    assert!(ok);
    assert!(text.starts_with("SERVICE"), "{text}");
    assert!(text
        .lines()
        .any(|l| l.starts_with("node:drenthe") && l.contains("SERVING")));

    t.fed.stop_node("hoeksche-waard", false).await.unwrap();
    let (ok, out) = virctl_status(&t, true).await;
    assert!(!ok, "a stopped node makes virctl status fail");
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(row(&rows, "node:hoeksche-waard")["health"], "DOWN");
    assert_eq!(row(&rows, "node:drenthe")["health"], "SERVING");
    t.fed.start_node("hoeksche-waard").await.unwrap();
    t.shutdown().await;
}
