//! The pseudonymiser's configuration: a TOML file parsed once at start-up into typed values.
//!
//! ```toml
//! environment = "production"
//! listen = "127.0.0.1:7000"
//! seed_file = "/etc/vir/pseudonymiser.seed"   # 32 bytes, hex; created by `init-seed`
//! current_version = 1
//! versions = [1]
//!
//! [tls]
//! cert = "/etc/vir/pseudonymiser.crt"
//! key = "/etc/vir/pseudonymiser.key"
//! ca = "/etc/vir/federation-root.crt"
//!
//! [[nodes]]
//! oin = "00000099000000000001"
//! region = "drenthe"
//!
//! [rate_limit]
//! per_minute = 600
//! burst = 2000
//! ```
//!
//! The OPRF secret is never in this file: only the path of the seed file is.

use std::collections::HashSet;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use vir_shared::clock::ClockConfig;
use vir_shared::tls::TlsPaths;
use vir_shared::{Oin, RegionCode};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub environment: Environment,
    /// Address to listen on; port 0 picks a free port (tests).
    pub listen: SocketAddr,
    pub tls: TlsPaths,
    /// File holding the 32-byte secret seed, hex-encoded, mode 0600.
    pub seed_file: PathBuf,
    /// The key version used when a request asks for version 0.
    #[serde(default = "default_version")]
    pub current_version: u32,
    /// Every key version still evaluated. Defaults to `[current_version]`. Keep an old version
    /// here while nodes re-key their active signals after a rotation.
    #[serde(default)]
    pub versions: Vec<u32>,
    /// The nodes allowed to call, by the OIN in their certificate.
    pub nodes: Vec<NodeEntry>,
    #[serde(default)]
    pub rate_limit: RateLimit,
    #[serde(default)]
    pub clock: ClockConfig,
    /// `[metrics] listen = "127.0.0.1:9101"`: serve Prometheus `/metrics` there (plain HTTP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<vir_shared::metrics::MetricsConfig>,
    /// `log_format = "json"` or `"text"` (`VIR_LOG_FORMAT` overrides it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_format: Option<vir_shared::telemetry::LogFormat>,
    /// Transport limits of the gRPC server (`vir_shared::limits`).
    #[serde(default)]
    pub limits: vir_shared::limits::ServerLimits,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    #[default]
    Production,
    Development,
}

/// A node that may call: its certificate's OIN and the region it serves.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct NodeEntry {
    pub oin: Oin,
    pub region: RegionCode,
}

/// How many elements one node may have evaluated, counted per element (a batch of n costs n).
///
/// The defaults follow a region's real volume. A region makes at most a few hundred signals a
/// day and each needs one to five keys (person, parents, address, fallback), so a busy day is
/// about 1,500 evaluations. `burst = 2000` lets a node send a whole day's backlog at once (after
/// an outage of the hub or of this service) and holds two full client batches of 1,000.
/// `per_minute = 600` (one element per 100 ms, 36,000 an hour) lets a node re-key all of its
/// active signals within an hour or two after a key rotation.
///
/// The limit is what keeps a stolen node certificate from turning the OPRF into a dictionary:
/// at 600 a minute, enumerating the roughly 91 million valid BSNs takes 91,000,000 / 600 =
/// about 152,000 minutes, i.e. some 105 days of uninterrupted maximum use per node, about 575
/// times a region's busiest normal day, every day. That is visible in the refusal counters and
/// logs long before it is done, and the certificate can be revoked and the node removed.
///
/// A single request larger than `burst` can never be admitted and is refused with
/// INVALID_ARGUMENT; keep `burst` at or above the client's batch size
/// ([`crate::client::MAX_CLIENT_BATCH`]) or have nodes use `KeyClient::with_max_batch`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    #[serde(default = "default_per_minute")]
    pub per_minute: u32,
    #[serde(default = "default_burst")]
    pub burst: u32,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            per_minute: default_per_minute(),
            burst: default_burst(),
        }
    }
}

fn default_version() -> u32 {
    1
}

fn default_per_minute() -> u32 {
    600
}

fn default_burst() -> u32 {
    2000
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: {error}")]
    Read {
        file: PathBuf,
        error: std::io::Error,
    },
    #[error("{file}: {error}")]
    Parse {
        file: PathBuf,
        error: Box<toml::de::Error>,
    },
    #[error("{file}: `{key}`: {reason}")]
    Invalid {
        file: PathBuf,
        key: &'static str,
        reason: String,
    },
}

/// A validation failure before it is tied to a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub key: &'static str,
    pub reason: String,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`: {}", self.key, self.reason)
    }
}

impl std::error::Error for Invalid {}

fn invalid(key: &'static str, reason: impl Into<String>) -> Invalid {
    Invalid {
        key,
        reason: reason.into(),
    }
}

impl Config {
    /// Reads, parses and validates a configuration file; every error names the file, and the
    /// key and reason where there is one.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            file: path.to_owned(),
            error,
        })?;
        Self::from_toml(&text).map_err(|e| match e {
            FromTomlError::Parse(error) => ConfigError::Parse {
                file: path.to_owned(),
                error: Box::new(error),
            },
            FromTomlError::Invalid(Invalid { key, reason }) => ConfigError::Invalid {
                file: path.to_owned(),
                key,
                reason,
            },
        })
    }

    /// Parses and validates configuration text, filling `versions` from `current_version`.
    pub fn from_toml(text: &str) -> Result<Config, FromTomlError> {
        let mut config: Config = toml::from_str(text).map_err(FromTomlError::Parse)?;
        if config.versions.is_empty() {
            config.versions = vec![config.current_version];
        }
        config.validate().map_err(FromTomlError::Invalid)?;
        Ok(config)
    }

    pub fn is_production(&self) -> bool {
        self.environment == Environment::Production
    }

    /// Checks what the types cannot. `spawn` calls this too, for configurations built in code.
    pub fn validate(&self) -> Result<(), Invalid> {
        if let Err(e) = self.limits.validate() {
            return Err(invalid("limits", e.to_string()));
        }
        if self.current_version == 0 {
            return Err(invalid(
                "current_version",
                "must be 1 or higher (0 means \"current\" on the wire)",
            ));
        }
        let mut seen = HashSet::new();
        for &v in &self.versions {
            if v == 0 {
                return Err(invalid("versions", "a key version must be 1 or higher"));
            }
            if !seen.insert(v) {
                return Err(invalid("versions", format!("version {v} is listed twice")));
            }
        }
        if !self.versions.is_empty() && !self.versions.contains(&self.current_version) {
            return Err(invalid(
                "versions",
                format!(
                    "must include current_version {} (served: {:?})",
                    self.current_version, self.versions
                ),
            ));
        }
        if self.nodes.is_empty() {
            return Err(invalid(
                "nodes",
                "no [[nodes]] configured: the service would refuse every caller",
            ));
        }
        let mut oins = HashSet::new();
        for node in &self.nodes {
            if !oins.insert(&node.oin) {
                return Err(invalid(
                    "nodes",
                    format!("OIN {} is configured twice", node.oin),
                ));
            }
        }
        if self.rate_limit.per_minute == 0 {
            return Err(invalid(
                "rate_limit.per_minute",
                "must be 1 or higher (0 would refuse everything for ever)",
            ));
        }
        if self.rate_limit.burst == 0 {
            return Err(invalid("rate_limit.burst", "must be 1 or higher"));
        }
        if let Err(e) = self.clock.build(self.is_production()) {
            return Err(invalid("clock", e.to_string()));
        }
        Ok(())
    }

    /// The versions served, with `versions` filled from `current_version` if left empty.
    pub fn served_versions(&self) -> Vec<u32> {
        if self.versions.is_empty() {
            vec![self.current_version]
        } else {
            self.versions.clone()
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FromTomlError {
    #[error(transparent)]
    Parse(toml::de::Error),
    #[error(transparent)]
    Invalid(Invalid),
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
listen = "127.0.0.1:0"
seed_file = "seed.hex"

[tls]
cert = "c.pem"
key = "k.pem"
ca = "ca.pem"

[[nodes]]
oin = "00000099000000000001"
region = "drenthe"
"#;

    #[test]
    fn defaults_are_filled_in() {
        let c = Config::from_toml(BASE).unwrap();
        assert_eq!(c.environment, Environment::Production);
        assert_eq!(c.current_version, 1);
        assert_eq!(c.versions, vec![1]);
        assert_eq!(c.rate_limit, RateLimit::default());
        assert_eq!(c.rate_limit.per_minute, 600);
        assert_eq!(c.rate_limit.burst, 2000);
        assert_eq!(c.nodes[0].region.as_str(), "drenthe");
    }

    #[test]
    fn unknown_field_is_refused() {
        let text = format!("colour = \"blue\"\n{BASE}");
        let err = Config::from_toml(&text).unwrap_err().to_string();
        assert!(err.contains("colour"), "{err}");
    }

    #[test]
    fn unknown_field_in_a_table_is_refused() {
        let text = format!("{BASE}\n[rate_limit]\nper_minute = 10\nbrust = 5\n");
        let err = Config::from_toml(&text).unwrap_err().to_string();
        assert!(err.contains("brust"), "{err}");
    }

    #[test]
    fn bad_values_are_refused_with_their_key() {
        let bad_oin = BASE.replace("00000099000000000001", "123");
        assert!(Config::from_toml(&bad_oin).is_err());

        let bad_env = format!("environment = \"staging\"\n{BASE}");
        assert!(Config::from_toml(&bad_env).is_err());

        let text = format!("current_version = 2\nversions = [1]\n{BASE}");
        match Config::from_toml(&text) {
            Err(FromTomlError::Invalid(i)) => assert_eq!(i.key, "versions"),
            other => panic!("expected invalid versions, got {other:?}"),
        }

        let text = format!("{BASE}\n[rate_limit]\nper_minute = 0\n");
        match Config::from_toml(&text) {
            Err(FromTomlError::Invalid(i)) => assert_eq!(i.key, "rate_limit.per_minute"),
            other => panic!("expected invalid rate limit, got {other:?}"),
        }

        let text =
            format!("{BASE}\n[[nodes]]\noin = \"00000099000000000001\"\nregion = \"twente\"\n");
        match Config::from_toml(&text) {
            Err(FromTomlError::Invalid(i)) => assert_eq!(i.key, "nodes"),
            other => panic!("expected duplicate OIN, got {other:?}"),
        }
    }

    #[test]
    fn production_refuses_a_dev_clock() {
        let text = format!("{BASE}\n[clock]\nmode = \"dev\"\nfile = \"dev-clock\"\n");
        match Config::from_toml(&text) {
            Err(FromTomlError::Invalid(i)) => assert_eq!(i.key, "clock"),
            other => panic!("expected a refused clock, got {other:?}"),
        }
        let dev = format!("environment = \"development\"\n{text}");
        assert!(Config::from_toml(&dev).is_ok());
    }

    #[test]
    fn the_example_configuration_is_valid() {
        let c = Config::from_toml(include_str!("../pseudonymiser.example.toml")).unwrap();
        assert_eq!(c.nodes.len(), 2);
        assert_eq!(c.rate_limit, RateLimit::default());
        assert!(c.is_production());
    }

    #[test]
    fn load_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pseudonymiser.toml");
        std::fs::write(&path, format!("current_version = 0\n{BASE}")).unwrap();
        let err = Config::load(&path).unwrap_err().to_string();
        assert!(err.contains("pseudonymiser.toml"), "{err}");
        assert!(err.contains("current_version"), "{err}");
    }
}
