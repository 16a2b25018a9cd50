//! The hub's configuration: a TOML file parsed once at start-up into typed, validated structs.
//!
//! ```toml
//! environment = "production"          # or "development"; production refuses a dev clock
//! listen = "0.0.0.0:7443"
//! storage_url = "sqlite:///var/lib/vir-hub/hub.sqlite?mode=rwc"   # or postgres://…
//! operators = ["00000099000000000900"]  # may call Status
//! heartbeat_ms = 5000
//!
//! [tls]
//! cert = "/etc/vir-hub/hub.chain.pem"
//! key = "/etc/vir-hub/hub.key.pem"
//! ca = "/etc/vir-hub/root.pem"
//!
//! [[nodes]]
//! oin = "00000099000000000101"
//! region = "drenthe"
//! municipalities = ["0106", "0114"]
//!
//! [clock]
//! mode = "system"
//!
//! feed_retention_days = 30            # older feed items are removed; 0 = keep all
//! feed_prune_interval_ms = 60000
//!
//! [limits]                            # optional, see `vir_shared::limits`
//! max_message_bytes = 16777216
//! max_connection_age_ms = 0           # 0 = connections are never recycled
//! ```
//!
//! A bad file fails with the file, the key and the reason.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use vir_shared::clock::ClockConfig;
use vir_shared::tls::TlsPaths;
use vir_shared::{MunicipalityCode, Oin, RegionCode};

/// Heartbeats are at least this far apart, so a typo cannot flood every subscriber.
const MIN_HEARTBEAT_MS: u64 = 10;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HubConfig {
    #[serde(default)]
    pub environment: Environment,
    /// Address to listen on; port 0 picks a free port (tests).
    pub listen: SocketAddr,
    pub tls: TlsPaths,
    /// `sqlite://PATH?mode=rwc` or `postgres://USER@HOST/DB`.
    pub storage_url: String,
    /// The regional nodes: the OIN in their certificate, their region and its municipalities.
    #[serde(default)]
    pub nodes: Vec<NodeEntry>,
    /// OINs of operator certificates that may call `Status` (nodes may call it too).
    #[serde(default)]
    pub operators: Vec<Oin>,
    /// How often an idle feed subscription gets a heartbeat.
    #[serde(default = "default_heartbeat_ms")]
    pub heartbeat_ms: u64,
    #[serde(default)]
    pub clock: ClockConfig,
    /// `[metrics] listen = "127.0.0.1:9101"`: serve Prometheus `/metrics` there (plain HTTP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<vir_shared::metrics::MetricsConfig>,
    /// `log_format = "json"` or `"text"` (`VIR_LOG_FORMAT` overrides it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_format: Option<vir_shared::telemetry::LogFormat>,
    /// `Report` hides cells below this count (003 art. 25; default 5).
    #[serde(default = "default_report_threshold")]
    pub report_threshold: u64,
    /// Transport limits of the gRPC server (`vir_shared::limits`).
    #[serde(default)]
    pub limits: vir_shared::limits::ServerLimits,
    /// Feed items older than this many days (by the hub's clock) are removed; a node that
    /// asks for a removed position must resync from a snapshot. 0 = keep every item.
    #[serde(default = "default_feed_retention_days")]
    pub feed_retention_days: u32,
    /// How often the retention is applied.
    #[serde(default = "default_feed_prune_interval_ms")]
    pub feed_prune_interval_ms: u64,
}

fn default_report_threshold() -> u64 {
    vir_shared::report::DEFAULT_THRESHOLD
}

fn default_feed_retention_days() -> u32 {
    30
}

fn default_feed_prune_interval_ms() -> u64 {
    60_000
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct NodeEntry {
    pub oin: Oin,
    pub region: RegionCode,
    #[serde(default)]
    pub municipalities: Vec<MunicipalityCode>,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    #[default]
    Production,
    Development,
}

impl Environment {
    pub fn is_production(self) -> bool {
        self == Environment::Production
    }
}

fn default_heartbeat_ms() -> u64 {
    5000
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error("{path}: {key}: {reason}")]
    Invalid {
        path: PathBuf,
        key: String,
        reason: String,
    },
}

/// A rule the configuration breaks: the key and the reason (the file is added by `load`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub key: String,
    pub reason: String,
}

impl HubConfig {
    /// Reads, parses and validates a configuration file.
    pub fn load(path: &Path) -> Result<HubConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let config: HubConfig = toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source: Box::new(source),
        })?;
        config.validate().map_err(|e| ConfigError::Invalid {
            path: path.to_owned(),
            key: e.key,
            reason: e.reason,
        })?;
        Ok(config)
    }

    /// The rules serde cannot express: unique OINs, regions and municipalities, a storage URL
    /// this build understands, a sane heartbeat, and no dev clock in production.
    pub fn validate(&self) -> Result<(), Invalid> {
        let invalid = |key: String, reason: String| Invalid { key, reason };
        if self.feed_prune_interval_ms < 100 {
            return Err(invalid(
                "feed_prune_interval_ms".into(),
                "must be at least 100".into(),
            ));
        }
        if let Err(e) = self.limits.validate() {
            return Err(invalid(format!("limits.{}", e.key), e.reason));
        }
        if let Err(e) = vir_shared::db::backend_of(&self.storage_url) {
            return Err(invalid("storage_url".into(), e.to_string()));
        }
        if self.heartbeat_ms < MIN_HEARTBEAT_MS {
            return Err(invalid(
                "heartbeat_ms".into(),
                format!("must be at least {MIN_HEARTBEAT_MS}"),
            ));
        }
        if let Err(e) = self.clock.build(self.environment.is_production()) {
            return Err(invalid("clock.mode".into(), e.to_string()));
        }
        let mut oins: HashMap<&Oin, String> = HashMap::new();
        let mut regions: HashMap<&RegionCode, usize> = HashMap::new();
        let mut municipalities: HashMap<&MunicipalityCode, &RegionCode> = HashMap::new();
        for (i, node) in self.nodes.iter().enumerate() {
            let at = format!("nodes[{i}]");
            if let Some(first) = oins.insert(&node.oin, at.clone()) {
                return Err(invalid(
                    format!("{at}.oin"),
                    format!("OIN {} is already used by {first}", node.oin),
                ));
            }
            if let Some(first) = regions.insert(&node.region, i) {
                return Err(invalid(
                    format!("{at}.region"),
                    format!("region {} is already used by nodes[{first}]", node.region),
                ));
            }
            for code in &node.municipalities {
                if let Some(other) = municipalities.insert(code, &node.region) {
                    return Err(invalid(
                        format!("{at}.municipalities"),
                        format!("municipality {code} is already in region {other}"),
                    ));
                }
            }
        }
        for (i, oin) in self.operators.iter().enumerate() {
            let at = format!("operators[{i}]");
            if let Some(first) = oins.insert(oin, at.clone()) {
                return Err(invalid(at, format!("OIN {oin} is already used by {first}")));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
        listen = "127.0.0.1:0"
        storage_url = "sqlite://hub.sqlite?mode=rwc"
        operators = ["00000099000000000900"]
        [tls]
        cert = "hub.pem"
        key = "hub.key"
        ca = "root.pem"
        [[nodes]]
        oin = "00000099000000000101"
        region = "drenthe"
        municipalities = ["0106", "0114"]
        [[nodes]]
        oin = "00000099000000000102"
        region = "zuid-limburg"
        municipalities = ["0935"]
    "#;

    fn load_str(text: &str) -> Result<HubConfig, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hub.toml");
        std::fs::write(&path, text).unwrap();
        HubConfig::load(&path)
    }

    #[test]
    fn the_example_file_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("hub.example.toml");
        let config = HubConfig::load(&path).unwrap();
        assert_eq!(config.nodes.len(), 3);
        assert!(config.environment.is_production());
    }

    #[test]
    fn defaults_apply() {
        let config = load_str(BASE).unwrap();
        assert_eq!(config.environment, Environment::Production);
        assert_eq!(config.heartbeat_ms, 5000);
        assert_eq!(config.nodes.len(), 2);
    }

    #[test]
    fn unknown_key_is_refused() {
        let err = load_str(&format!("colour = \"red\"\n{BASE}")).unwrap_err();
        assert!(err.to_string().contains("colour"), "{err}");
    }

    #[test]
    fn duplicate_region_and_oin_are_refused() {
        let dup_region = BASE.replace("zuid-limburg", "drenthe");
        let err = load_str(&dup_region).unwrap_err();
        assert!(err.to_string().contains("nodes[1].region"), "{err}");

        let dup_oin = BASE.replace("00000099000000000102", "00000099000000000101");
        let err = load_str(&dup_oin).unwrap_err();
        assert!(err.to_string().contains("nodes[1].oin"), "{err}");

        let operator_is_node = BASE.replace("00000099000000000900", "00000099000000000101");
        let err = load_str(&operator_is_node).unwrap_err();
        assert!(err.to_string().contains("operators[0]"), "{err}");
    }

    #[test]
    fn bad_values_name_their_key() {
        let err = load_str(&BASE.replace("\"0935\"", "\"935\"")).unwrap_err();
        assert!(err.to_string().contains("935"), "{err}");

        let err = load_str(&BASE.replace("sqlite://", "mysql://")).unwrap_err();
        assert!(err.to_string().contains("storage_url"), "{err}");

        let dev_clock = format!("{BASE}\n[clock]\nmode = \"dev\"\nfile = \"dev-clock\"\n");
        let err = load_str(&dev_clock).unwrap_err();
        assert!(err.to_string().contains("clock.mode"), "{err}");
        let dev = format!("environment = \"development\"\n{dev_clock}");
        assert!(load_str(&dev).is_ok());
    }
}
