//! A fresh development PKI for a bench run: the hub's certificate and the node identities that
//! submit to it, and the hub's configuration for them, written as an operator writes it (TOML),
//! so the in-process hub, the hub process and the transport ceiling all read the same thing.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use tonic::transport::Channel;
use vir_certs::DevPki;
use vir_hub::HubConfig;
use vir_proto::hub_client::HubClient;
use vir_shared::tls::TlsPaths;
use vir_shared::{Oin, RegionCode};

/// Room for the largest `Submit` (10,000 operations) in both directions.
pub const MAX_MESSAGE: usize = 16 * 1024 * 1024;

/// A node identity that submits: its region, OIN, certificate and the chain it presents.
#[derive(Debug, Clone)]
pub struct NodeIdentity {
    pub region: RegionCode,
    pub oin: Oin,
    pub tls: TlsPaths,
    /// DER chain, leaf first, as the hub records it from the handshake.
    pub chain: Vec<Vec<u8>>,
}

/// The certificates of one bench hub and its submitting nodes.
pub struct Identities {
    pub pki_dir: PathBuf,
    pub hub: TlsPaths,
    pub nodes: Vec<NodeIdentity>,
}

impl Identities {
    /// A fresh PKI in `dir` with a hub certificate and a node certificate per region.
    pub fn create(dir: &Path, regions: &[RegionCode]) -> anyhow::Result<Identities> {
        let pki = DevPki::create(dir, "VIR Bench").context("creating the bench PKI")?;
        let hub =
            pki.issue_service("hub", "VIR Bench Hub", &vir_certs::test_oin(2), "localhost")?;
        let mut nodes = Vec::with_capacity(regions.len());
        for (i, region) in regions.iter().enumerate() {
            let oin = vir_certs::test_oin(10 + i as u64);
            let creds = pki.issue_node(&format!("node-{region}"), region, &oin, "localhost")?;
            let chain = vir_shared::tls::load_certs(&creds.tls.cert)?
                .iter()
                .map(|c| c.as_ref().to_vec())
                .collect();
            nodes.push(NodeIdentity {
                region: region.clone(),
                oin,
                tls: creds.tls,
                chain,
            });
        }
        Ok(Identities {
            pki_dir: dir.to_owned(),
            hub,
            nodes,
        })
    }

    /// The hub's configuration file: these nodes, the given storage, the system clock.
    pub fn hub_toml(&self, listen: SocketAddr, storage_url: &str) -> String {
        let path = |p: &Path| toml::Value::String(p.display().to_string());
        let mut tls = toml::Table::new();
        tls.insert("cert".into(), path(&self.hub.cert));
        tls.insert("key".into(), path(&self.hub.key));
        tls.insert("ca".into(), path(&self.hub.ca));
        let nodes: Vec<toml::Value> = self
            .nodes
            .iter()
            .map(|n| {
                let mut t = toml::Table::new();
                t.insert("oin".into(), n.oin.to_string().into());
                t.insert("region".into(), n.region.to_string().into());
                toml::Value::Table(t)
            })
            .collect();
        let mut t = toml::Table::new();
        // Development: a storage URL with a password is accepted (a throw-away bench server).
        t.insert("environment".into(), "development".into());
        t.insert("listen".into(), listen.to_string().into());
        t.insert("storage_url".into(), storage_url.into());
        t.insert("tls".into(), toml::Value::Table(tls));
        t.insert("nodes".into(), toml::Value::Array(nodes));
        toml::to_string(&t).expect("a TOML table serialises")
    }

    /// The same configuration, parsed and validated as the hub binary does.
    pub fn hub_config(&self, listen: SocketAddr, storage_url: &str) -> anyhow::Result<HubConfig> {
        let config: HubConfig = toml::from_str(&self.hub_toml(listen, storage_url))
            .context("bench hub configuration")?;
        config
            .validate()
            .map_err(|e| anyhow::anyhow!("bench hub configuration: {}: {}", e.key, e.reason))?;
        Ok(config)
    }

    /// A `Hub` client presenting node `i`'s certificate.
    pub fn hub_client(&self, i: usize, url: &str) -> anyhow::Result<HubClient<Channel>> {
        let channel = vir_shared::tls::channel(url, &self.nodes[i].tls, "localhost")?;
        Ok(HubClient::new(channel)
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE))
    }
}

/// A free port on 127.0.0.1 for a process that cannot report the one it bound
/// ([`vir_shared::ports::free_port`]).
pub fn free_port() -> anyhow::Result<SocketAddr> {
    Ok(SocketAddr::from((
        [127, 0, 0, 1],
        vir_shared::ports::free_port()?,
    )))
}

/// 127.0.0.1 with a port the system picks.
pub fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}
