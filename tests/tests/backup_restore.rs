//! Backup and restore of a node's PostgreSQL database as `deploy/README.md` tells operators:
//! `pg_dump --format=custom`, the database destroyed, `pg_restore` into a new empty one. The
//! node comes back with the same signals, matches and notifications, and goes on following its
//! feed from where the backup left it. Runs when `VIR_TEST_POSTGRES_URL` names a server.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use sqlx::Connection;
use vir_proto as pb;
use vir_shared::db::testing::fresh_postgres_database;
use vir_tests::{eventually, signal_request, TestFed};

const WAIT: Duration = Duration::from_secs(60);

/// A PostgreSQL client tool: the newest `/usr/lib/postgresql/*/bin/NAME` (Debian's layout, where
/// the tools are not on PATH), else NAME on PATH.
fn pg_tool(name: &str) -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|bin| bin.join(name).is_file())
        .collect();
    // Directory names are major versions: order them as numbers, newest last.
    dirs.sort_by_key(|bin| {
        bin.parent()
            .and_then(Path::file_name)
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    dirs.pop()
        .map(|bin| bin.join(name))
        .unwrap_or_else(|| PathBuf::from(name))
}

fn run(tool: &str, args: &[&str]) {
    let path = pg_tool(tool);
    let output = Command::new(&path)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", path.display()));
    assert!(
        output.status.success(),
        "{} failed: {}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// What a partner and an operator can see of a node, to compare before and after.
#[derive(Debug, PartialEq)]
struct Snapshot {
    signals: Vec<pb::Signal>,
    matches: Vec<pb::Match>,
    notifications: Vec<pb::Notification>,
    /// active signals, matches, outbox pending, feed position.
    status: (u64, u64, u64, u64),
}

async fn snapshot(t: &TestFed, orgs: &[&str]) -> Snapshot {
    let mut s = Snapshot {
        signals: Vec::new(),
        matches: Vec::new(),
        notifications: Vec::new(),
        status: (0, 0, 0, 0),
    };
    for org in orgs {
        let mut client = t.node_client(org);
        let signals = client
            .list_signals(pb::ListSignalsRequest {})
            .await
            .unwrap();
        s.signals.extend(signals.into_inner().signals);
        let matches = client
            .list_matches(pb::ListMatchesRequest {})
            .await
            .unwrap();
        s.matches.extend(matches.into_inner().matches);
        let notes = client
            .list_notifications(pb::ListNotificationsRequest {})
            .await
            .unwrap();
        s.notifications.extend(notes.into_inner().notifications);
    }
    let status = t
        .node_client(orgs[0])
        .status(pb::NodeStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    s.status = (
        status.active_signals,
        status.matches,
        status.outbox_pending,
        status.feed_applied_seq,
    );
    s
}

/// The hub's feed head of a region.
async fn hub_feed_head(t: &TestFed, region: &str) -> u64 {
    let channel =
        vir_shared::tls::channel(&t.fed.file.hub.url, &t.fed.file.operator, "localhost").unwrap();
    let status = vir_proto::hub_client::HubClient::new(channel)
        .status(pb::HubStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    status
        .regions
        .iter()
        .find(|r| r.region == region)
        .map_or(0, |r| r.feed_head_seq)
}

/// Cross-regional matches of `org` that name `other_org`.
async fn matches_with(t: &TestFed, org: &str, other_org: &str) -> usize {
    let matches = t
        .node_client(org)
        .list_matches(pb::ListMatchesRequest {})
        .await
        .unwrap()
        .into_inner()
        .matches;
    matches
        .iter()
        .filter(|m| m.others.iter().any(|o| o.organisation == other_org))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_restored_from_pg_dump_has_the_same_signals_and_matches() {
    let Some(node_db) = fresh_postgres_database("node_backup").await else {
        eprintln!("VIR_TEST_POSTGRES_URL is not set: skipping the backup and restore test");
        return;
    };
    let url = node_db.clone();
    let mut t = TestFed::start_with(move |o| {
        o.node_storage_urls.insert("drenthe".into(), url);
    })
    .await;
    let youths = t.unrelated_bsns(6);
    let zl_org = t
        .fed
        .file
        .organisation("zuid-limburg/jgz")
        .unwrap()
        .name
        .clone();
    let orgs = ["drenthe/school", "drenthe/jgz"];

    // Four cross-regional matches and one regional one.
    for bsn in &youths[..4] {
        t.node_client("drenthe/school")
            .create_signal(signal_request(bsn, "Jan de Vries"))
            .await
            .unwrap();
        t.node_client("zuid-limburg/jgz")
            .create_signal(signal_request(bsn, "Marieke Smeets"))
            .await
            .unwrap();
    }
    for org in orgs {
        t.node_client(org)
            .create_signal(signal_request(&youths[4], "Bram Mulder"))
            .await
            .unwrap();
    }
    eventually("the cross-regional matches in Drenthe", WAIT, || async {
        (matches_with(&t, "drenthe/school", &zl_org).await == 4).then_some(())
    })
    .await;
    // Settled: nothing queued on either side and Drenthe's whole feed applied (envelopes too).
    eventually("the federation settled", WAIT, || async {
        let drenthe = snapshot(&t, &orgs).await.status;
        let zl = snapshot(&t, &["zuid-limburg/jgz"]).await.status;
        let head = hub_feed_head(&t, "drenthe").await;
        (drenthe.2 == 0 && zl.2 == 0 && drenthe.3 == head).then_some(())
    })
    .await;
    let before = snapshot(&t, &orgs).await;
    assert_eq!(before.signals.len(), 6, "4 + 2 signals");
    t.fed.stop_node("drenthe", false).await.unwrap();

    // Backup, destroy, restore, exactly as the operator guide says.
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("node-drenthe.dump");
    let dump_arg = dump.to_str().unwrap();
    run(
        "pg_dump",
        &["--format=custom", "--file", dump_arg, "--dbname", &node_db],
    );
    let (server, name) = node_db.rsplit_once('/').unwrap();
    let mut admin = sqlx::PgConnection::connect(&format!("{server}/postgres"))
        .await
        .unwrap();
    sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .unwrap();
    run(
        "pg_restore",
        &[
            "--no-owner",
            "--exit-on-error",
            "--dbname",
            &node_db,
            dump_arg,
        ],
    );
    admin.close().await.unwrap();

    t.fed.start_node("drenthe").await.unwrap();
    let after = snapshot(&t, &orgs).await;
    assert_eq!(after, before, "the restored node shows the same state");

    // It goes on from its restored feed position: a new match arrives once, old ones are not
    // repeated.
    t.node_client("zuid-limburg/jgz")
        .create_signal(signal_request(&youths[5], "Marieke Smeets"))
        .await
        .unwrap();
    t.node_client("drenthe/school")
        .create_signal(signal_request(&youths[5], "Jan de Vries"))
        .await
        .unwrap();
    eventually("the new match after the restore", WAIT, || async {
        (matches_with(&t, "drenthe/school", &zl_org).await == 5).then_some(())
    })
    .await;
    let notes = t
        .node_client("drenthe/school")
        .list_notifications(pb::ListNotificationsRequest {})
        .await
        .unwrap()
        .into_inner()
        .notifications;
    let mut ids: Vec<&str> = notes.iter().map(|n| n.match_id.as_str()).collect();
    let total = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(
        ids.len(),
        total,
        "no notification repeated after the restore"
    );
    t.shutdown().await;
}
