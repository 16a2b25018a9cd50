//! Test harness: a whole federation (pseudonymiser, hub, three nodes) in-process on 127.0.0.1
//! with a fresh PKI, registry and SQLite databases in a temporary folder, started by the same
//! code as `vir-federation up`, plus small helpers to call it as partner organisations do.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDate, TimeZone, Utc};
use tonic::transport::Channel;
use vir_federation::{LocalFederation, Options};
use vir_proto as pb;
use vir_proto::node_client::NodeClient;
use vir_shared::clock::ManualClock;
use vir_shared::person::{Person, RegistryFile};

pub use vir_federation;

pub mod disclosure;
pub mod faults;
pub mod own_postgres;
pub mod web;
pub mod webdriver;

/// A running test federation; its folder is removed when it is dropped.
pub struct TestFed {
    pub fed: LocalFederation,
    pub clock: Arc<ManualClock>,
    pub registry: RegistryFile,
    pub dir: tempfile::TempDir,
}

/// The date the test clock starts at. Fixed, so registry ages are the same in every run.
pub fn start_date() -> NaiveDate {
    Utc::now().date_naive()
}

impl TestFed {
    pub async fn start() -> TestFed {
        Self::start_with(|_| {}).await
    }

    /// Starts a federation after letting the caller adjust the options.
    pub async fn start_with(adjust: impl FnOnce(&mut Options)) -> TestFed {
        init_tracing();
        let dir = tempfile::tempdir().expect("temp dir");
        let clock =
            ManualClock::new(Utc.from_utc_datetime(&start_date().and_hms_opt(9, 0, 0).unwrap()));
        let mut options = Options::new(dir.path().join("data"));
        options.households = 150;
        options.clock = Some(clock.clone());
        // The web UI (and its Argon2-hashed dev accounts) only where a test asks for it.
        options.web = false;
        adjust(&mut options);
        let fed = LocalFederation::start(options)
            .await
            .expect("federation starts");
        let registry = vir_certs::registry::read(&fed.registry_file()).expect("registry");
        TestFed {
            fed,
            clock,
            registry,
            dir,
        }
    }

    /// An organisation's notifications per (own signal, other organisation), so a duplicate
    /// shows as a count above 1.
    pub async fn notification_counts(
        &self,
        org: &str,
    ) -> std::collections::BTreeMap<String, usize> {
        let list = self
            .node_client(org)
            .list_notifications(pb::ListNotificationsRequest {})
            .await
            .expect("list notifications")
            .into_inner()
            .notifications;
        let mut counts = std::collections::BTreeMap::new();
        for n in list {
            for p in n.parties {
                *counts
                    .entry(format!("{}|{}", n.your_signal_id, p.organisation))
                    .or_insert(0) += 1;
            }
        }
        counts
    }

    /// A partner system's client for an organisation of the federation (`drenthe/school`).
    pub fn node_client(&self, org: &str) -> NodeClient<Channel> {
        let o = self.fed.file.organisation(org).expect("organisation");
        let node = self.fed.file.node(&o.region).expect("node");
        let channel =
            vir_shared::tls::channel(&node.url, &o.tls, &node.server_name).expect("channel");
        NodeClient::new(channel)
    }

    /// Living youths under 18 with at least one parent in the registry, in a stable order.
    pub fn youths(&self) -> Vec<&Person> {
        let today = start_date();
        self.registry
            .people
            .iter()
            .filter(|p| p.death_date.is_none() && p.age_on(today) < 18 && !p.parents.is_empty())
            .collect()
    }

    /// [`Self::youths`] without siblings or half-siblings of an earlier one: no two share a
    /// parent, so signals on them make client matches only, never family matches.
    pub fn unrelated_youths(&self) -> Vec<&Person> {
        let mut seen = std::collections::HashSet::new();
        self.youths()
            .into_iter()
            .filter(|p| {
                let fresh = p.parents.iter().all(|b| !seen.contains(b));
                if fresh {
                    seen.extend(p.parents.iter().cloned());
                }
                fresh
            })
            .collect()
    }

    /// The display name of an organisation of the federation, by its id ("drenthe/school").
    pub fn organisation_name(&self, id: &str) -> String {
        self.fed
            .file
            .organisation(id)
            .unwrap_or_else(|e| panic!("no organisation {id}: {e}"))
            .name
            .clone()
    }

    /// The BSNs of the first `n` [`Self::unrelated_youths`], as the partner API takes them.
    pub fn unrelated_bsns(&self, n: usize) -> Vec<String> {
        self.unrelated_youths()
            .iter()
            .take(n)
            .map(|p| p.bsn.to_string())
            .collect()
    }

    /// A living person aged 23 or more.
    pub fn adult(&self) -> &Person {
        let today = start_date();
        self.registry
            .people
            .iter()
            .find(|p| p.death_date.is_none() && p.age_on(today) >= 23)
            .expect("an adult in the registry")
    }

    pub async fn shutdown(self) {
        self.fed.shutdown().await.expect("clean shutdown");
    }
}

/// A signal request with contact details for `name`.
pub fn signal_request(bsn: &str, name: &str) -> pb::CreateSignalRequest {
    pb::CreateSignalRequest {
        bsn: bsn.to_owned(),
        signaller: Some(pb::Contact {
            name: name.to_owned(),
            phone: "010-1234567".to_owned(),
            email: format!("{}@example.nl", name.to_lowercase().replace(' ', ".")),
        }),
        end_date: String::new(),
        ..Default::default()
    }
}

/// Polls `check` until it returns `Some`, for at most `timeout`. Panics with `what` on time-out.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every text and blob of every table of an SQLite database, for privacy checks.
pub async fn dump_sqlite(url: &str) -> Vec<u8> {
    use sqlx::{Connection, Row};
    let mut conn = sqlx::SqliteConnection::connect(url)
        .await
        .expect("open sqlite");
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
            .fetch_all(&mut conn)
            .await
            .expect("tables");
    let mut out = Vec::new();
    for table in tables {
        let rows = sqlx::query(&format!("SELECT * FROM \"{table}\""))
            .fetch_all(&mut conn)
            .await
            .expect("rows");
        for row in rows {
            for (i, _) in row.columns().iter().enumerate() {
                if let Ok(Some(text)) = row.try_get::<Option<String>, _>(i) {
                    out.extend_from_slice(text.as_bytes());
                } else if let Ok(Some(blob)) = row.try_get::<Option<Vec<u8>>, _>(i) {
                    out.extend_from_slice(&blob);
                } else if let Ok(Some(n)) = row.try_get::<Option<i64>, _>(i) {
                    out.extend_from_slice(n.to_string().as_bytes());
                }
                out.push(b'\n');
            }
        }
    }
    out
}

pub fn contains(haystack: &[u8], needle: &str) -> bool {
    let needle = needle.as_bytes();
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_test_writer()
        .try_init();
}
