//! The local development federation: a fresh PKI, a synthetic person registry, configuration
//! files, and the pseudonymiser, hub and three regional nodes running in this process on
//! 127.0.0.1, all reading one development clock.
//!
//! The same code starts the federation for `vir-federation up` and for the integration tests,
//! so the tests exercise what a tester runs. Each service is started from the configuration file
//! written here, through the same `load` and `spawn` as its own binary.
//!
//! Development only: production services run as separate processes (see `deploy/`).

pub mod configs;
pub mod plan;
mod replicas;
pub mod rules;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use vir_certs::DevPki;
use vir_shared::clock::DevClock;
use vir_shared::localfed::{self, FederationFile};
use vir_shared::service::ServiceHandle;
use vir_shared::tls::TlsPaths;
use vir_shared::SharedClock;

pub use plan::{OrgPlan, RegionPlan};

/// How to start the federation.
#[derive(Clone)]
pub struct Options {
    /// Everything lives under this folder.
    pub data_dir: PathBuf,
    /// First port: pseudonymiser on `base`, hub on `base+1`, nodes on `base+101…`. `None` lets
    /// the system pick free ports (tests).
    pub base_port: Option<u16>,
    /// Households in the synthetic registry (about 3.5 people each).
    pub households: usize,
    /// The clock every service reads; `None` = the dev clock file under `data_dir`.
    pub clock: Option<SharedClock>,
    /// Storage URL per service; `None` = SQLite files under `data_dir/db`.
    pub hub_storage_url: Option<String>,
    /// Storage URL of a node, by region code; a region not listed uses SQLite under `data_dir/db`.
    pub node_storage_urls: BTreeMap<String, String>,
    /// How often the nodes check the pseudonymiser's key version (`forwarder.key_check_ms`);
    /// `None` = the nodes' default. Tests of a key rotation make it short.
    pub node_key_check_ms: Option<u64>,
    /// Serve each node's web UI (on `base+201…`, or a free port), with one development
    /// account per organisation.
    pub web: bool,
    /// Mail notifications to a plain SMTP server on 127.0.0.1 at this port; `None` = no mail.
    pub smtp_port: Option<u16>,
}

impl Options {
    pub fn new(data_dir: impl Into<PathBuf>) -> Options {
        Options {
            data_dir: data_dir.into(),
            base_port: None,
            households: 1000,
            clock: None,
            hub_storage_url: None,
            node_storage_urls: BTreeMap::new(),
            node_key_check_ms: None,
            web: true,
            smtp_port: None,
        }
    }
}

/// A web UI account of the local federation: one per organisation, printed by `up`.
#[derive(Debug, Clone)]
pub struct DevAccount {
    /// `<region>/<short>`, as for `virctl --as`.
    pub org: String,
    pub region: String,
    pub username: String,
    pub email: String,
    pub password: String,
    pub administrator: bool,
}

impl DevAccount {
    fn of(region: &RegionPlan, org: &OrgPlan) -> DevAccount {
        DevAccount {
            org: format!("{}/{}", region.code, org.short),
            region: region.code.to_owned(),
            username: format!("{}-{}", region.code, org.short),
            email: format!("{}@{}.vir.example", org.short, region.code),
            // Development only: known, printed, and long enough for the password rule.
            password: format!("welkom-{}-{}", region.code, org.short),
            administrator: org.role == "administrator",
        }
    }
}

/// A running federation. Services can be restarted (gracefully or as a crash) on the same port.
pub struct LocalFederation {
    pub file: FederationFile,
    pub regions: Vec<RegionPlan>,
    pub pki: DevPki,
    pub data_dir: PathBuf,
    pub clock: SharedClock,
    pub pseudonymiser: Option<ServiceHandle>,
    pub hub: Option<ServiceHandle>,
    pub nodes: BTreeMap<String, ServiceHandle>,
    config_dir: PathBuf,
    /// Ports of stopped services, kept so they come back where their clients expect them.
    stopped: BTreeMap<String, SocketAddr>,
    node_key_check_ms: Option<u64>,
    /// The web UI of each node (`https://localhost:PORT`), by region.
    pub web_urls: BTreeMap<String, String>,
    /// The development accounts of the web UIs.
    pub dev_accounts: Vec<DevAccount>,
}

fn loopback(port: Option<u16>, offset: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port.map(|p| p + offset).unwrap_or(0)))
}

impl LocalFederation {
    /// Prepares whatever is missing under `data_dir` (PKI, registry, seed) and starts everything.
    pub async fn start(options: Options) -> anyhow::Result<LocalFederation> {
        vir_shared::tls::install_crypto_provider();
        let data = std::path::absolute(&options.data_dir)
            .with_context(|| format!("data folder {}", options.data_dir.display()))?;
        for sub in ["pki", "config", "db"] {
            std::fs::create_dir_all(data.join(sub))?;
        }
        let clock_file = data.join("dev-clock");
        let clock: SharedClock = options
            .clock
            .clone()
            .unwrap_or_else(|| DevClock::new(&clock_file));
        let regions = plan::regions();
        let pki = DevPki::load_or_create(&data.join("pki"), "VIR Dev")?;
        let localhost = "localhost";

        let registry_file = data.join("registry.json");
        if !registry_file.exists() {
            let registry =
                vir_certs::registry::generate_on(2026, options.households, clock.today());
            vir_certs::registry::write(&registry_file, &registry)?;
        }
        let seed_file = data.join("pki").join("pseudonymiser-seed.hex");
        if !seed_file.exists() {
            vir_pseudonymiser::seed::Seed::init_file(&seed_file)?;
        }

        // Certificates are (re)issued at every start: cheap, and never stale.
        let pseudo_tls = pki.issue_service(
            "pseudonymiser",
            "VIR Pseudonymisatiedienst",
            &vir_certs::test_oin(plan::PSEUDONYMISER_OIN),
            localhost,
        )?;
        let hub_tls = pki.issue_service(
            "hub",
            "Verwijsindex Risicojongeren",
            &vir_certs::test_oin(plan::HUB_OIN),
            localhost,
        )?;
        let operator_oin = vir_certs::test_oin(plan::OPERATOR_OIN);
        let operator_tls = pki.issue_client("operator", "VIR Beheer", &operator_oin)?;
        let mut node_creds = BTreeMap::new();
        let mut organisations = Vec::new();
        for r in &regions {
            let region = r.code.parse()?;
            node_creds.insert(
                r.code.to_owned(),
                pki.issue_node(&format!("node-{}", r.code), &region, &r.node_oin, localhost)?,
            );
            for o in &r.orgs {
                let tls =
                    pki.issue_client(&format!("{}-{}", r.code, o.short), o.organisation, &o.oin)?;
                organisations.push(localfed::Organisation {
                    id: format!("{}/{}", r.code, o.short),
                    region: r.code.to_owned(),
                    name: o.organisation.to_owned(),
                    category: o.category.to_owned(),
                    oin: o.oin.to_string(),
                    national: o.national,
                    tls,
                });
            }
        }

        let config_dir = data.join("config");
        let mut fed = LocalFederation {
            file: FederationFile {
                clock_file: clock_file.clone(),
                hub: localfed::Endpoint {
                    url: String::new(),
                    server_name: localhost.into(),
                    metrics: None,
                },
                pseudonymiser: localfed::Endpoint {
                    url: String::new(),
                    server_name: localhost.into(),
                    metrics: None,
                },
                operator: operator_tls,
                nodes: Vec::new(),
                organisations,
            },
            regions: regions.clone(),
            pki,
            data_dir: data.clone(),
            clock,
            pseudonymiser: None,
            hub: None,
            nodes: BTreeMap::new(),
            config_dir: config_dir.clone(),
            stopped: BTreeMap::new(),
            node_key_check_ms: options.node_key_check_ms,
            web_urls: BTreeMap::new(),
            dev_accounts: Vec::new(),
        };

        let pseudo_toml = configs::pseudonymiser(&configs::PseudonymiserFiles {
            listen: loopback(options.base_port, 0),
            tls: &pseudo_tls,
            seed_file: &seed_file,
            clock_file: &clock_file,
            regions: &regions,
        }) + &configs::metrics_section(loopback(options.base_port, 50));
        std::fs::write(config_dir.join("pseudonymiser.toml"), pseudo_toml)?;
        let pseudonymiser = fed.spawn_pseudonymiser(None).await?;
        fed.file.pseudonymiser.url = pseudonymiser.url();
        fed.file.pseudonymiser.metrics = pseudonymiser.metrics_addr.map(localfed::metrics_url);
        fed.pseudonymiser = Some(pseudonymiser);

        let hub_storage = options
            .hub_storage_url
            .clone()
            .unwrap_or_else(|| vir_shared::db::sqlite_url(&data.join("db").join("hub.sqlite")));
        let hub_toml = configs::hub(&configs::HubFiles {
            listen: loopback(options.base_port, 1),
            tls: &hub_tls,
            storage_url: &hub_storage,
            operator_oin: operator_oin.as_str(),
            clock_file: &clock_file,
            regions: &regions,
        }) + &configs::metrics_section(loopback(options.base_port, 51));
        std::fs::write(config_dir.join("hub.toml"), hub_toml)?;
        let hub = fed.spawn_hub(None).await?;
        fed.file.hub.url = hub.url();
        fed.file.hub.metrics = hub.metrics_addr.map(localfed::metrics_url);
        fed.hub = Some(hub);

        for (i, r) in regions.iter().enumerate() {
            let creds = &node_creds[r.code];
            let storage = options
                .node_storage_urls
                .get(r.code)
                .cloned()
                .unwrap_or_else(|| {
                    vir_shared::db::sqlite_url(
                        &data.join("db").join(format!("node-{}.sqlite", r.code)),
                    )
                });
            let toml = configs::node(&configs::NodeFiles {
                region: r,
                listen: loopback(options.base_port, 101 + i as u16),
                tls: &creds.tls,
                hpke_private_key: &creds.hpke_private_key,
                hub_url: &fed.file.hub.url,
                pseudonymiser_url: &fed.file.pseudonymiser.url,
                storage_url: &storage,
                registry_file: &registry_file,
                clock_file: &clock_file,
            });
            let web_listen = if options.web {
                let port = match options.base_port {
                    Some(base) => base + 201 + i as u16,
                    None => vir_shared::ports::free_port()?,
                };
                Some(SocketAddr::from(([127, 0, 0, 1], port)))
            } else {
                None
            };
            let toml = toml
                + &configs::metrics_section(loopback(options.base_port, 151 + i as u16))
                + &configs::node_web(web_listen, options.smtp_port, r);
            std::fs::write(fed.node_config_path(r.code), toml)?;
            if let Some(listen) = web_listen {
                let accounts: Vec<DevAccount> =
                    r.orgs.iter().map(|o| DevAccount::of(r, o)).collect();
                let config = vir_node::config::NodeConfig::load(&fed.node_config_path(r.code))?;
                let wanted: Vec<_> = r
                    .orgs
                    .iter()
                    .zip(&accounts)
                    .map(|(o, a)| {
                        (
                            o.oin.clone(),
                            a.username.clone(),
                            a.email.clone(),
                            a.password.clone(),
                        )
                    })
                    .collect();
                vir_node::web::accounts::ensure_in_storage(
                    &config,
                    &wanted,
                    fed.clock.now().timestamp_millis(),
                )
                .await
                .with_context(|| format!("development accounts of {}", r.code))?;
                fed.web_urls.insert(
                    r.code.to_owned(),
                    format!("https://localhost:{}", listen.port()),
                );
                fed.dev_accounts.extend(accounts);
            }
            let handle = fed.spawn_node(r.code, None).await?;
            fed.file.nodes.push(localfed::NodeEntry {
                region: r.code.to_owned(),
                url: handle.url(),
                server_name: localhost.into(),
                metrics: handle.metrics_addr.map(localfed::metrics_url),
            });
            fed.nodes.insert(r.code.to_owned(), handle);
        }
        fed.file.save(&data)?;
        Ok(fed)
    }

    fn node_config_path(&self, region: &str) -> PathBuf {
        self.config_dir.join(format!("node-{region}.toml"))
    }

    fn pseudonymiser_config_path(&self) -> PathBuf {
        self.config_dir.join("pseudonymiser.toml")
    }

    /// Starts the pseudonymiser from its config file; `listen` pins the port of a restarted one.
    async fn spawn_pseudonymiser(
        &self,
        listen: Option<SocketAddr>,
    ) -> anyhow::Result<ServiceHandle> {
        let mut config =
            vir_pseudonymiser::config::Config::load(&self.pseudonymiser_config_path())?;
        config.listen = listen.unwrap_or(config.listen);
        vir_pseudonymiser::server::spawn(config, self.clock.clone()).await
    }

    /// Restarts the pseudonymiser gracefully on its old port, reading its config file again
    /// (as an operator does after changing `current_version` or `versions`).
    pub async fn restart_pseudonymiser(&mut self) -> anyhow::Result<()> {
        let old = self
            .pseudonymiser
            .take()
            .context("pseudonymiser not running")?;
        let listen = old.local_addr;
        old.shutdown().await?;
        // The old listener may be closed a moment after the service stopped: retry the port.
        let mut attempts = 0;
        let handle = loop {
            match self.spawn_pseudonymiser(Some(listen)).await {
                Ok(handle) => break handle,
                Err(e) if attempts < 50 && address_in_use(&e) => {
                    attempts += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                Err(e) => return Err(e),
            }
        };
        // A restarted service's metrics listener may get another port (port 0 in the config).
        self.file.pseudonymiser.metrics = handle.metrics_addr.map(localfed::metrics_url);
        self.pseudonymiser = Some(handle);
        Ok(())
    }

    /// Rewrites `current_version` and `versions` in the pseudonymiser's config file (checked
    /// like `vir-pseudonymiser check-config` would) and restarts it: a key rotation step of
    /// `deploy/README.md` section 9.
    pub async fn set_key_versions(&mut self, current: u32, versions: &[u32]) -> anyhow::Result<()> {
        let path = self.pseudonymiser_config_path();
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let listed: Vec<String> = versions.iter().map(u32::to_string).collect();
        let mut out = String::new();
        for line in text.lines() {
            let key = line.split('=').next().unwrap_or_default().trim();
            if key == "current_version" || key == "versions" {
                continue;
            }
            out.push_str(line);
            out.push('\n');
            if key == "seed_file" {
                out.push_str(&format!(
                    "current_version = {current}\nversions = [{}]\n",
                    listed.join(", ")
                ));
            }
        }
        vir_pseudonymiser::config::Config::from_toml(&out)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        std::fs::write(&path, out).with_context(|| format!("writing {}", path.display()))?;
        self.restart_pseudonymiser().await
    }

    /// Starts the hub from its config file; `listen` pins the port of a restarted hub, so its
    /// clients need not be told.
    async fn spawn_hub(&self, listen: Option<SocketAddr>) -> anyhow::Result<ServiceHandle> {
        let mut config = vir_hub::config::HubConfig::load(&self.config_dir.join("hub.toml"))?;
        config.listen = listen.unwrap_or(config.listen);
        vir_hub::spawn(config, self.clock.clone()).await
    }

    async fn spawn_node(
        &self,
        region: &str,
        listen: Option<SocketAddr>,
    ) -> anyhow::Result<ServiceHandle> {
        let mut config = vir_node::config::NodeConfig::load(&self.node_config_path(region))?;
        config.listen = listen.unwrap_or(config.listen);
        if let Some(ms) = self.node_key_check_ms {
            config.forwarder.key_check_ms = ms;
        }
        vir_node::spawn(config, self.clock.clone()).await
    }

    /// Stops the hub (as a crash when `crash`): its port is kept for [`Self::start_hub`].
    pub async fn stop_hub(&mut self, crash: bool) -> anyhow::Result<()> {
        let old = self.hub.take().context("hub not running")?;
        self.stopped.insert("hub".into(), old.local_addr);
        stop(old, crash).await
    }

    /// Starts a stopped hub again on its old port and data.
    pub async fn start_hub(&mut self) -> anyhow::Result<()> {
        let listen = *self.stopped.get("hub").context("hub was not stopped")?;
        // A killed hub's listener may close a moment later: retry the port.
        let mut attempts = 0;
        let handle = loop {
            match self.spawn_hub(Some(listen)).await {
                Ok(handle) => break handle,
                Err(e) if attempts < 50 && address_in_use(&e) => {
                    attempts += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                Err(e) => return Err(e),
            }
        };
        self.stopped.remove("hub");
        self.file.hub.metrics = handle.metrics_addr.map(localfed::metrics_url);
        self.hub = Some(handle);
        Ok(())
    }

    pub async fn restart_hub(&mut self, crash: bool) -> anyhow::Result<()> {
        self.stop_hub(crash).await?;
        self.start_hub().await
    }

    /// Stops a node (as a crash when `crash`): its port is kept for [`Self::start_node`].
    pub async fn stop_node(&mut self, region: &str, crash: bool) -> anyhow::Result<()> {
        let old = self
            .nodes
            .remove(region)
            .with_context(|| format!("no node {region} running"))?;
        self.stopped
            .insert(format!("node-{region}"), old.local_addr);
        stop(old, crash).await
    }

    /// Starts a stopped node again on its old port and data.
    pub async fn start_node(&mut self, region: &str) -> anyhow::Result<()> {
        let key = format!("node-{region}");
        let listen = *self
            .stopped
            .get(&key)
            .with_context(|| format!("node {region} was not stopped"))?;
        let mut attempts = 0;
        let handle = loop {
            match self.spawn_node(region, Some(listen)).await {
                Ok(handle) => break handle,
                Err(e) if attempts < 50 && address_in_use(&e) => {
                    attempts += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                Err(e) => return Err(e),
            }
        };
        self.stopped.remove(&key);
        if let Some(entry) = self.file.nodes.iter_mut().find(|n| n.region == region) {
            entry.metrics = handle.metrics_addr.map(localfed::metrics_url);
        }
        self.nodes.insert(region.to_owned(), handle);
        Ok(())
    }

    pub async fn restart_node(&mut self, region: &str, crash: bool) -> anyhow::Result<()> {
        self.stop_node(region, crash).await?;
        self.start_node(region).await
    }

    /// The hub's storage URL, as configured.
    pub fn hub_storage_url(&self) -> anyhow::Result<String> {
        Ok(vir_hub::config::HubConfig::load(&self.config_dir.join("hub.toml"))?.storage_url)
    }

    /// A node's storage URL, as configured.
    pub fn node_storage_url(&self, region: &str) -> anyhow::Result<String> {
        Ok(vir_node::config::NodeConfig::load(&self.node_config_path(region))?.storage_url)
    }

    /// TLS files of an organisation, by `<region>/<short>` id.
    pub fn org_tls(&self, id: &str) -> anyhow::Result<TlsPaths> {
        Ok(self.file.organisation(id)?.tls.clone())
    }

    /// The registry file the nodes read.
    pub fn registry_file(&self) -> PathBuf {
        self.data_dir.join("registry.json")
    }

    /// Stops every service gracefully, nodes first.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        for (_, node) in std::mem::take(&mut self.nodes) {
            node.shutdown().await?;
        }
        if let Some(hub) = self.hub.take() {
            hub.shutdown().await?;
        }
        if let Some(p) = self.pseudonymiser.take() {
            p.shutdown().await?;
        }
        Ok(())
    }
}

fn address_in_use(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::AddrInUse)
    })
}

async fn stop(handle: ServiceHandle, crash: bool) -> anyhow::Result<()> {
    if crash {
        handle.kill().await;
        Ok(())
    } else {
        handle.shutdown().await
    }
}
