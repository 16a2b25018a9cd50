//! The address book of a local development federation, written by `vir-federation` to
//! `<data>/federation.toml` and read by `virctl --data <data> --as <region>/<org>`, so that
//! testers need not type certificate paths and ports.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::tls::TlsPaths;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FederationFile {
    /// The dev clock offset file shared by all services (`virctl dev clock`).
    pub clock_file: PathBuf,
    pub hub: Endpoint,
    pub pseudonymiser: Endpoint,
    /// The hub operator's client certificate (for `virctl hub status`).
    pub operator: TlsPaths,
    pub nodes: Vec<NodeEntry>,
    pub organisations: Vec<Organisation>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    pub url: String,
    pub server_name: String,
    /// `http://HOST:PORT/metrics` when the service serves Prometheus metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeEntry {
    pub region: String,
    pub url: String,
    pub server_name: String,
    /// `http://HOST:PORT/metrics` when the service serves Prometheus metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Organisation {
    /// `<region>/<short name>`, e.g. `drenthe/school`.
    pub id: String,
    pub region: String,
    pub name: String,
    pub category: String,
    pub oin: String,
    pub national: bool,
    pub tls: TlsPaths,
}

impl FederationFile {
    pub const FILE_NAME: &'static str = "federation.toml";

    pub fn load(data_dir: &Path) -> anyhow::Result<FederationFile> {
        let path = data_dir.join(Self::FILE_NAME);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            anyhow::anyhow!(
                "{}: {e} (start the local federation first: cargo run -p vir-federation)",
                path.display()
            )
        })?;
        toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }

    pub fn save(&self, data_dir: &Path) -> anyhow::Result<()> {
        let path = data_dir.join(Self::FILE_NAME);
        std::fs::write(&path, toml::to_string_pretty(self)?)?;
        Ok(())
    }

    pub fn organisation(&self, id: &str) -> anyhow::Result<&Organisation> {
        self.organisations
            .iter()
            .find(|o| o.id == id)
            .ok_or_else(|| {
                let known: Vec<&str> = self.organisations.iter().map(|o| o.id.as_str()).collect();
                anyhow::anyhow!("unknown organisation {id:?}; known: {}", known.join(", "))
            })
    }

    pub fn node(&self, region: &str) -> anyhow::Result<&NodeEntry> {
        self.nodes
            .iter()
            .find(|n| n.region == region)
            .ok_or_else(|| anyhow::anyhow!("no node for region {region:?} in the federation"))
    }
}

/// The `/metrics` URL of a listener address.
pub fn metrics_url(addr: std::net::SocketAddr) -> String {
    format!("http://{addr}/metrics")
}

/// The listener address in a `/metrics` URL written by [`metrics_url`].
pub fn metrics_addr(url: &str) -> Option<std::net::SocketAddr> {
    url.strip_prefix("http://")?
        .strip_suffix("/metrics")?
        .parse()
        .ok()
}
