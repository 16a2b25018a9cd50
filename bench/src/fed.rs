//! The federation the latency, pseudonymiser and node scenarios run against: the pseudonymiser,
//! the hub and the three regional nodes in this process on 127.0.0.1, configured by the same
//! writers as the local development federation (`vir_federation::configs`), with three
//! differences a benchmark needs:
//!
//! - every service reads the system clock, so store timestamps of different nodes compare;
//! - the pseudonymiser's rate limit is lifted (its cost is measured, not its limit; the
//!   limit's effect is computed from the shipped defaults in [`crate::pseudo`]);
//! - the hub knows three extra node identities (`bench-load-*`) that inject background load.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{ensure, Context};
use tonic::transport::Channel;
use vir_certs::{test_oin, DevPki};
use vir_federation::{configs, plan};
use vir_proto::node_client::NodeClient;
use vir_shared::person::RegistryFile;
use vir_shared::service::ServiceHandle;
use vir_shared::tls::TlsPaths;

use crate::setup::{loopback, Identities, NodeIdentity};
use crate::system_clock;

/// Regions of the background-load identities.
const LOAD_REGIONS: [&str; 3] = ["bench-load-a", "bench-load-b", "bench-load-c"];

/// One regional node of the bench federation.
pub struct Node {
    pub plan: plan::RegionPlan,
    pub handle: ServiceHandle,
    pub tls: TlsPaths,
    pub storage_url: String,
    /// TLS of each partner organisation, in the order of `plan.orgs`.
    pub orgs: Vec<TlsPaths>,
}

pub struct BenchFed {
    pub pseudonymiser: ServiceHandle,
    pub hub: ServiceHandle,
    pub nodes: Vec<Node>,
    /// Node identities the hub accepts that belong to no running node: the load injectors.
    pub load: Identities,
    pub registry: RegistryFile,
    youths: Vec<String>,
    next_youth: AtomicUsize,
}

impl BenchFed {
    pub async fn start(dir: &Path, households: usize) -> anyhow::Result<BenchFed> {
        vir_shared::tls::install_crypto_provider();
        for sub in ["pki", "config", "db"] {
            std::fs::create_dir_all(dir.join(sub))?;
        }
        let clock = system_clock();
        let pki = DevPki::create(&dir.join("pki"), "VIR Bench Federation")?;
        let regions = plan::regions();
        let clock_file = dir.join("dev-clock");
        let registry = vir_certs::registry::generate_on(2026, households, clock.today());
        let registry_file = dir.join("registry.json");
        vir_certs::registry::write(&registry_file, &registry)?;
        let seed_file = dir.join("pki").join("pseudonymiser-seed.hex");
        vir_pseudonymiser::seed::Seed::init_file(&seed_file)?;

        let pseudo_tls = pki.issue_service(
            "pseudonymiser",
            "VIR Pseudonymisatiedienst",
            &test_oin(plan::PSEUDONYMISER_OIN),
            "localhost",
        )?;
        let text = configs::pseudonymiser(&configs::PseudonymiserFiles {
            listen: loopback(),
            tls: &pseudo_tls,
            seed_file: &seed_file,
            clock_file: &clock_file,
            regions: &regions,
        });
        let mut config = vir_pseudonymiser::Config::from_toml(&text)
            .map_err(|e| anyhow::anyhow!("bench pseudonymiser configuration: {e:?}"))?;
        config.rate_limit.per_minute = u32::MAX / 2;
        config.rate_limit.burst = 1_000_000;
        let pseudonymiser = vir_pseudonymiser::spawn(config, clock.clone()).await?;

        let load = load_identities(&pki, &dir.join("pki"))?;
        let hub_tls = pki.issue_service(
            "hub",
            "Verwijsindex Risicojongeren",
            &test_oin(plan::HUB_OIN),
            "localhost",
        )?;
        let mut text = configs::hub(&configs::HubFiles {
            listen: loopback(),
            tls: &hub_tls,
            storage_url: &vir_shared::db::sqlite_url(&dir.join("db").join("hub.sqlite")),
            operator_oin: test_oin(plan::OPERATOR_OIN).as_str(),
            clock_file: &clock_file,
            regions: &regions,
        });
        for n in &load.nodes {
            text.push_str(&format!(
                "\n[[nodes]]\noin = \"{}\"\nregion = \"{}\"\n",
                n.oin, n.region
            ));
        }
        let hub_config = dir.join("config").join("hub.toml");
        std::fs::write(&hub_config, text)?;
        let hub = vir_hub::spawn(vir_hub::HubConfig::load(&hub_config)?, clock.clone()).await?;

        let mut nodes = Vec::new();
        for r in regions {
            let region = r.code.parse()?;
            let creds = pki.issue_node(
                &format!("node-{}", r.code),
                &region,
                &r.node_oin,
                "localhost",
            )?;
            let mut orgs = Vec::new();
            for o in &r.orgs {
                orgs.push(pki.issue_client(
                    &format!("{}-{}", r.code, o.short),
                    o.organisation,
                    &o.oin,
                )?);
            }
            let storage_url =
                vir_shared::db::sqlite_url(&dir.join("db").join(format!("node-{}.sqlite", r.code)));
            let text = configs::node(&configs::NodeFiles {
                region: &r,
                listen: loopback(),
                tls: &creds.tls,
                hpke_private_key: &creds.hpke_private_key,
                hub_url: &hub.url(),
                pseudonymiser_url: &pseudonymiser.url(),
                storage_url: &storage_url,
                registry_file: &registry_file,
                clock_file: &clock_file,
            });
            let path = dir.join("config").join(format!("node-{}.toml", r.code));
            std::fs::write(&path, text)?;
            let config = vir_node::NodeConfig::load(&path)?;
            let handle = vir_node::spawn(config, clock.clone())
                .await
                .with_context(|| format!("starting node {}", r.code))?;
            nodes.push(Node {
                plan: r,
                handle,
                tls: creds.tls,
                storage_url,
                orgs,
            });
        }
        let youths = one_youth_per_family(&registry, clock.today());
        Ok(BenchFed {
            pseudonymiser,
            hub,
            nodes,
            load,
            registry,
            youths,
            next_youth: AtomicUsize::new(0),
        })
    }

    /// `n` youths no scenario has used yet (BSNs).
    pub fn take_youths(&self, n: usize) -> anyhow::Result<Vec<String>> {
        let start = self.next_youth.fetch_add(n, Ordering::Relaxed);
        ensure!(
            start + n <= self.youths.len(),
            "the bench registry has {} youths, {} needed: raise the households",
            self.youths.len(),
            start + n
        );
        Ok(self.youths[start..start + n].to_vec())
    }

    /// A partner system's client: organisation `org` of node `node`.
    pub fn partner(&self, node: usize, org: usize) -> anyhow::Result<NodeClient<Channel>> {
        let n = &self.nodes[node];
        let channel = vir_shared::tls::channel(&n.handle.url(), &n.orgs[org], "localhost")?;
        Ok(NodeClient::new(channel))
    }

    /// The SQLite file of node `node`, opened read-only.
    pub async fn node_db(&self, node: usize) -> anyhow::Result<sqlx::SqliteConnection> {
        use sqlx::Connection;
        let url = self.nodes[node].storage_url.replace("mode=rwc", "mode=ro");
        Ok(sqlx::SqliteConnection::connect(&url).await?)
    }

    /// Stops the nodes, then the hub and the pseudonymiser.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        for node in self.nodes {
            node.handle.shutdown().await?;
        }
        self.hub.shutdown().await?;
        self.pseudonymiser.shutdown().await
    }
}

/// Living youths under 18, at most one per family (no two share a parent), so that a scenario's
/// signals make the client matches it intends and no family matches between siblings.
fn one_youth_per_family(registry: &RegistryFile, today: chrono::NaiveDate) -> Vec<String> {
    let mut parents = HashSet::new();
    let mut youths = Vec::new();
    for p in &registry.people {
        if p.death_date.is_some() || p.age_on(today) >= 18 {
            continue;
        }
        if p.parents.iter().any(|parent| parents.contains(parent)) {
            continue;
        }
        parents.extend(p.parents.iter().cloned());
        youths.push(p.bsn.to_string());
    }
    youths
}

fn load_identities(pki: &DevPki, dir: &Path) -> anyhow::Result<Identities> {
    let mut nodes = Vec::new();
    for (i, code) in LOAD_REGIONS.iter().enumerate() {
        let region = code.parse()?;
        let oin = test_oin(900 + i as u64);
        let creds = pki.issue_node(code, &region, &oin, "localhost")?;
        nodes.push(NodeIdentity {
            region,
            oin,
            tls: creds.tls,
            chain: Vec::new(),
        });
    }
    Ok(Identities {
        pki_dir: PathBuf::from(dir),
        hub: TlsPaths::new("", "", ""),
        nodes,
    })
}
