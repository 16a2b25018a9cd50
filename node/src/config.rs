//! The node's configuration: a TOML file parsed once at start-up into typed values.
//!
//! ```toml
//! environment = "production"            # or "development" (allows clock.mode = "dev")
//! region = "drenthe"
//! name = "Verwijsindex Drenthe"
//! municipalities = ["1680", "0106", "1681"]
//! listen = "0.0.0.0:7100"
//! storage_url = "sqlite:///var/lib/vir/node.sqlite?mode=rwc"   # or postgres://…
//! hpke_private_key = "/etc/vir/node/hpke.key"   # hex, written by vir-certs with the node cert
//!
//! [tls]            # serves the partner API; also the client cert towards hub and pseudonymiser
//! cert = "/etc/vir/node/cert.pem"
//! key = "/etc/vir/node/key.pem"
//! ca = "/etc/vir/federation-root.pem"
//!
//! [hub]
//! url = "https://hub.vir.example:7300"
//! server_name = "hub.vir.example"
//!
//! [pseudonymiser]
//! url = "https://pseudonymiser.vir.example:7000"
//! server_name = "pseudonymiser.vir.example"
//!
//! [registry]
//! file = "/var/lib/vir/registry.json"
//!
//! [[partners]]
//! oin = "00000099000000000101"
//! organisation = "GGD Drenthe JGZ"
//! category = "jgz"                      # social_work | jgz | school | police | youth_care | other
//! national = true                       # admitted to the national index (004 §9)
//! role = "partner"                      # or "administrator" (functioneel beheerder)
//!
//! [rules]          # optional: the region's rules, see `crate::rules`
//!
//! [matching]       # optional
//! address = false                       # address matches (on in Zuid-Limburg, 002 art. 1 "Match" 2b)
//!
//! [forwarder]      # optional
//! batch_size = 500
//! poll_ms = 500
//! key_check_ms = 300000                 # how often the pseudonymiser's key version is checked
//! rekey_batch = 100                     # youths re-keyed per batch after a key rotation
//! rekey_keys_per_minute = 300           # keys a re-key may ask per minute (pseudonymiser: 600)
//!
//! submit_timeout_ms = 30000             # a Submit without answer by then is sent again
//!
//! [clock]          # optional; mode = "dev" only with environment = "development"
//! mode = "system"
//!
//! [web]            # optional: the web UI for professionals and administrators (off without it)
//! listen = "127.0.0.1:7443"             # HTTPS with the [tls] certificate
//!
//! [mail]           # optional: mail notifications with a deep link (004 §11, §13)
//! host = "localhost"
//! port = 25
//! from = "verwijsindex@drenthe.example"
//! base_url = "https://vir.drenthe.example"   # deep links; default: the web UI's own address
//! [limits]         # optional: the partner API server's limits, see `vir_shared::limits`
//! max_message_bytes = 16777216
//!
//! [links]          # optional: keepalives towards hub and pseudonymiser
//! keepalive_interval_ms = 10000
//! keepalive_timeout_ms = 10000
//! connect_timeout_ms = 5000
//! ```

use std::collections::HashSet;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use vir_shared::clock::ClockConfig;
use vir_shared::tls::TlsPaths;
use vir_shared::{MunicipalityCode, Oin, RegionCode};

use crate::rules::RulesConfig;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    #[serde(default)]
    pub environment: Environment,
    pub region: RegionCode,
    /// Display name of the regional index, for logs and operators.
    pub name: String,
    /// CBS codes of the municipalities this region serves.
    pub municipalities: Vec<MunicipalityCode>,
    /// Address of the partner API; port 0 picks a free port (tests).
    pub listen: SocketAddr,
    pub tls: TlsPaths,
    /// File with the node's X25519 HPKE private key, hex; its public key is in the certificate.
    pub hpke_private_key: PathBuf,
    pub hub: Upstream,
    pub pseudonymiser: Upstream,
    /// `sqlite://PATH?mode=rwc` or `postgres://…`.
    pub storage_url: String,
    pub registry: RegistryConfig,
    /// The convenant partners allowed to call, by the OIN in their certificate.
    pub partners: Vec<Partner>,
    #[serde(default)]
    pub forwarder: ForwarderConfig,
    #[serde(default)]
    pub clock: ClockConfig,
    /// The region's rules (lifetime, regie, deadlines, informing, rights); see [`crate::rules`].
    #[serde(default)]
    pub rules: RulesConfig,
    /// Which matches besides client and family matches the region makes.
    #[serde(default)]
    pub matching: MatchingConfig,
    /// Verhuizing: who receives inverhuis messages, and whether the region offers a hand-over.
    #[serde(default)]
    pub moves: MovesConfig,
    /// The web UI (issue 7); absent = not served.
    #[serde(default)]
    pub web: Option<crate::web::WebConfig>,
    /// Mail notifications (issue 7); absent = nothing is mailed (the outbox still fills).
    #[serde(default)]
    pub mail: Option<crate::mail::MailConfig>,
    /// `[metrics] listen = "127.0.0.1:9101"`: serve Prometheus `/metrics` there (plain HTTP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<vir_shared::metrics::MetricsConfig>,
    /// `log_format = "json"` or `"text"` (`VIR_LOG_FORMAT` overrides it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_format: Option<vir_shared::telemetry::LogFormat>,
    /// Policy reports: cells below this count are suppressed (003 art. 25; default 5).
    #[serde(default = "crate::reports::default_threshold")]
    pub report_threshold: u64,
    /// Transport limits of the partner API server (`vir_shared::limits`).
    #[serde(default)]
    pub limits: vir_shared::limits::ServerLimits,
    /// Keepalive and connect timeouts of the links to the hub and the pseudonymiser: how soon
    /// a dead link is noticed and replaced.
    #[serde(default)]
    pub links: vir_shared::limits::ChannelSettings,
}

/// Verhuizing (issue 5; 002 art. 3.5, 15; 003 art. 14).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MovesConfig {
    /// OINs of the designated officers (ontvanger inverhuisberichten: the functioneel beheerder
    /// or convenantbeheerder) among the partners; empty = every administrator.
    #[serde(default)]
    pub officers: Vec<Oin>,
    /// Accepting a hand-over offers the old region's signallers a hand-over to a care provider
    /// in this region (Zuid-Limburg, 002 art. 1 "Inverhuisbericht", art. 15).
    #[serde(default)]
    pub handover_offer: bool,
}

/// The region's optional kinds of match. Client and family matches are always on: matching
/// can never be switched off (004 §13; Jeugdwet 7.1.2.3 c, e).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MatchingConfig {
    /// Signals on youths at the same registry address match (Jeugdwet 7.1.2.3 d). On in
    /// Zuid-Limburg (002 art. 1 "Match" 2b), off elsewhere. Across regions only between two
    /// regions that both have it on: only then do both nodes send an address key.
    #[serde(default)]
    pub address: bool,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    #[default]
    Production,
    Development,
}

/// A service the node calls: its URL and the name its certificate must carry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Upstream {
    pub url: String,
    pub server_name: String,
}

/// The person registry. Only the development file is supported; a BRP adapter would add a
/// variant here and an implementation of [`crate::registry::PersonRegistry`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RegistryConfig {
    /// JSON file in the format of `vir_shared::person::RegistryFile`.
    pub file: PathBuf,
    /// How often the node asks the registry for changes (moves, deaths, parents), in ms.
    #[serde(default = "default_registry_watch_ms")]
    pub watch_ms: u64,
}

fn default_registry_watch_ms() -> u64 {
    1000
}

/// A convenant partner (convenantpartij) with its profile.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Partner {
    pub oin: Oin,
    pub organisation: String,
    pub category: Category,
    /// Admitted to the national index: only then are its signals forwarded (004 §9).
    #[serde(default)]
    pub national: bool,
    /// `administrator`: the regional administrator (functioneel beheerder), who may call the
    /// `Admin*` RPCs and does not signal.
    #[serde(default)]
    pub role: Role,
}

/// What a partner may do at this node.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A convenant partner whose professionals signal.
    #[default]
    Partner,
    /// The regional administrator (functioneel beheerder, convenantbeheerder): destroys signals,
    /// handles objections and inzage, watches deadlines and the access log.
    Administrator,
}

/// The category of a partner organisation (domain.md glossary "convenantpartij").
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    SocialWork,
    Jgz,
    School,
    Police,
    YouthCare,
    Other,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::SocialWork => "social_work",
            Category::Jgz => "jgz",
            Category::School => "school",
            Category::Police => "police",
            Category::YouthCare => "youth_care",
            Category::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<Category> {
        [
            Category::SocialWork,
            Category::Jgz,
            Category::School,
            Category::Police,
            Category::YouthCare,
            Category::Other,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the forwarder drains the outbox towards the hub.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ForwarderConfig {
    /// Operations per `Hub.Submit` call.
    #[serde(default = "default_batch_size")]
    pub batch_size: u32,
    /// How often the outbox is polled when nothing wakes the forwarder.
    #[serde(default = "default_poll_ms")]
    pub poll_ms: u64,
    /// How often the pseudonymiser's current key version is checked (also at start); a new
    /// version re-keys the youths of the active national signals ([`crate::rekey`]).
    #[serde(default = "default_key_check_ms")]
    pub key_check_ms: u64,
    /// Youths re-keyed per batch (one OPRF call per key domain, one transaction).
    #[serde(default = "default_rekey_batch")]
    pub rekey_batch: u32,
    /// Keys a re-key asks the pseudonymiser for per minute: below its per-node rate limit
    /// (600 by default), so that new signals are still keyed while a rotation runs.
    #[serde(default = "default_rekey_keys_per_minute")]
    pub rekey_keys_per_minute: u32,
    /// How long one `Hub.Submit` may take before it counts as failed and the batch is sent
    /// again (the hub answers DUPLICATE for what it had applied).
    #[serde(default = "default_submit_timeout_ms")]
    pub submit_timeout_ms: u64,
}

impl Default for ForwarderConfig {
    fn default() -> Self {
        ForwarderConfig {
            batch_size: default_batch_size(),
            poll_ms: default_poll_ms(),
            key_check_ms: default_key_check_ms(),
            rekey_batch: default_rekey_batch(),
            rekey_keys_per_minute: default_rekey_keys_per_minute(),
            submit_timeout_ms: default_submit_timeout_ms(),
        }
    }
}

fn default_key_check_ms() -> u64 {
    5 * 60 * 1000
}

fn default_submit_timeout_ms() -> u64 {
    30_000
}

fn default_rekey_batch() -> u32 {
    100
}

fn default_rekey_keys_per_minute() -> u32 {
    300
}

fn default_batch_size() -> u32 {
    500
}

fn default_poll_ms() -> u64 {
    500
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: {source}")]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{file}: {source}")]
    Parse {
        file: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error("{file}: `{key}`: {reason}")]
    Invalid {
        file: PathBuf,
        key: &'static str,
        reason: String,
    },
}

/// A validation failure before it is tied to a file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{key}`: {reason}")]
pub struct Invalid {
    pub key: &'static str,
    pub reason: String,
}

fn invalid(key: &'static str, reason: impl Into<String>) -> Invalid {
    Invalid {
        key,
        reason: reason.into(),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FromTomlError {
    #[error(transparent)]
    Parse(toml::de::Error),
    #[error(transparent)]
    Invalid(Invalid),
}

impl NodeConfig {
    /// Reads, parses and validates a configuration file; every error names the file, and the
    /// key and reason where there is one.
    pub fn load(path: &Path) -> Result<NodeConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            file: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text).map_err(|e| match e {
            FromTomlError::Parse(source) => ConfigError::Parse {
                file: path.to_owned(),
                source: Box::new(source),
            },
            FromTomlError::Invalid(Invalid { key, reason }) => ConfigError::Invalid {
                file: path.to_owned(),
                key,
                reason,
            },
        })
    }

    pub fn from_toml(text: &str) -> Result<NodeConfig, FromTomlError> {
        let config: NodeConfig = toml::from_str(text).map_err(FromTomlError::Parse)?;
        config.validate().map_err(FromTomlError::Invalid)?;
        Ok(config)
    }

    pub fn is_production(&self) -> bool {
        self.environment == Environment::Production
    }

    /// The configured partner with this OIN, if any.
    pub fn partner(&self, oin: &Oin) -> Option<&Partner> {
        self.partners.iter().find(|p| &p.oin == oin)
    }

    /// Checks what the types cannot. `spawn` calls this too, for configurations built in code.
    pub fn validate(&self) -> Result<(), Invalid> {
        self.limits
            .validate()
            .map_err(|e| invalid("limits", e.to_string()))?;
        self.links
            .validate()
            .map_err(|e| invalid("links", e.to_string()))?;
        if self.forwarder.submit_timeout_ms < 100 {
            return Err(invalid(
                "forwarder.submit_timeout_ms",
                "must be at least 100",
            ));
        }
        if self.name.trim().is_empty() {
            return Err(invalid("name", "must not be empty"));
        }
        if self.municipalities.is_empty() {
            return Err(invalid(
                "municipalities",
                "a region serves at least one municipality",
            ));
        }
        let mut seen = HashSet::new();
        for m in &self.municipalities {
            if !seen.insert(m) {
                return Err(invalid("municipalities", format!("{m} is listed twice")));
            }
        }
        if self.partners.is_empty() {
            return Err(invalid(
                "partners",
                "no [[partners]] configured: the node would refuse every caller",
            ));
        }
        let mut oins = HashSet::new();
        for partner in &self.partners {
            if !oins.insert(&partner.oin) {
                return Err(invalid(
                    "partners",
                    format!("OIN {} is configured twice", partner.oin),
                ));
            }
            if partner.organisation.trim().is_empty() {
                return Err(invalid(
                    "partners.organisation",
                    format!("empty for OIN {}", partner.oin),
                ));
            }
        }
        for (key, upstream) in [
            ("hub.url", &self.hub),
            ("pseudonymiser.url", &self.pseudonymiser),
        ] {
            if !upstream.url.starts_with("https://") {
                return Err(invalid(key, "must be an https:// URL (mutual TLS)"));
            }
        }
        if let Err(e) = vir_shared::db::backend_of(&self.storage_url) {
            return Err(invalid("storage_url", e.to_string()));
        }
        if self.registry.watch_ms == 0 {
            return Err(invalid("registry.watch_ms", "must be 1 or higher"));
        }
        for officer in &self.moves.officers {
            if !self.partners.iter().any(|p| &p.oin == officer) {
                return Err(invalid(
                    "moves.officers",
                    format!("{officer} is not one of the [[partners]]"),
                ));
            }
        }
        if self.forwarder.batch_size == 0 {
            return Err(invalid("forwarder.batch_size", "must be 1 or higher"));
        }
        if self.forwarder.poll_ms == 0 {
            return Err(invalid("forwarder.poll_ms", "must be 1 or higher"));
        }
        if self.forwarder.key_check_ms == 0 {
            return Err(invalid("forwarder.key_check_ms", "must be 1 or higher"));
        }
        if self.forwarder.rekey_batch == 0 {
            return Err(invalid("forwarder.rekey_batch", "must be 1 or higher"));
        }
        if self.forwarder.rekey_keys_per_minute == 0 {
            return Err(invalid(
                "forwarder.rekey_keys_per_minute",
                "must be 1 or higher (0 would never finish a rotation)",
            ));
        }
        if let Err(e) = self.clock.build(self.is_production()) {
            return Err(invalid("clock", e.to_string()));
        }
        self.rules.validate(&self.partners, &self.municipalities)?;
        Ok(())
    }
}

/// Reads the node's HPKE private key: 64 hex digits (surrounding whitespace allowed).
pub fn read_hpke_private_key(path: &Path) -> anyhow::Result<[u8; 32]> {
    use anyhow::Context;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the HPKE private key {}", path.display()))?;
    let bytes = hex::decode(text.trim())
        .with_context(|| format!("{}: not a hex-encoded key", path.display()))?;
    bytes.as_slice().try_into().map_err(|_| {
        anyhow::anyhow!(
            "{}: an X25519 private key has 32 bytes, found {}",
            path.display(),
            bytes.len()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
        region = "drenthe"
        name = "Verwijsindex Drenthe"
        municipalities = ["0106", "0114"]
        listen = "127.0.0.1:0"
        storage_url = "sqlite:///tmp/node.sqlite?mode=rwc"
        hpke_private_key = "/etc/vir/hpke.key"
        tls = { cert = "c.pem", key = "k.pem", ca = "ca.pem" }
        hub = { url = "https://hub:7300", server_name = "hub" }
        pseudonymiser = { url = "https://ps:7000", server_name = "ps" }
        registry = { file = "registry.json" }
        [[partners]]
        oin = "00000099000000000101"
        organisation = "GGD Drenthe"
        category = "jgz"
        national = true
    "#;

    #[test]
    fn parses_with_defaults() {
        let c = NodeConfig::from_toml(EXAMPLE).unwrap();
        assert!(c.is_production());
        assert_eq!(c.forwarder, ForwarderConfig::default());
        assert_eq!(c.partners[0].category, Category::Jgz);
        assert!(c
            .partner(&"00000099000000000101".parse().unwrap())
            .is_some());
    }

    #[test]
    fn refuses_unknown_keys_and_bad_values() {
        let unknown = format!("{EXAMPLE}\nextra = 1\n");
        assert!(matches!(
            NodeConfig::from_toml(&unknown),
            Err(FromTomlError::Parse(_))
        ));
        let bad_category = EXAMPLE.replace("\"jgz\"", "\"doctor\"");
        assert!(matches!(
            NodeConfig::from_toml(&bad_category),
            Err(FromTomlError::Parse(_))
        ));
        let dev_clock = format!("{EXAMPLE}\n[clock]\nmode = \"dev\"\nfile = \"x\"\n");
        match NodeConfig::from_toml(&dev_clock) {
            Err(FromTomlError::Invalid(i)) => assert_eq!(i.key, "clock"),
            other => panic!("expected an invalid clock, got {other:?}"),
        }
    }

    /// Without `[rules]` the defaults apply; a value beyond the law (003 art. 16.1: never longer
    /// than 2 years) or a coordinator who is not a partner is refused, naming the key.
    #[test]
    fn rules_default_and_are_checked_against_the_law() {
        let c = NodeConfig::from_toml(EXAMPLE).unwrap();
        assert_eq!(c.rules, RulesConfig::default());
        assert_eq!(c.partners[0].role, Role::Partner);
        let admin = EXAMPLE.replace(
            "national = true",
            "national = true\nrole = \"administrator\"",
        );
        let c = NodeConfig::from_toml(&admin).unwrap();
        assert_eq!(c.partners[0].role, Role::Administrator);
        for (rules, key) in [
            (
                "[rules.lifetime]\nactive_months = 30\n",
                "rules.lifetime.active_months",
            ),
            (
                "[rules.lifetime]\narchive_years = 7\n",
                "rules.lifetime.archive_years",
            ),
            (
                "[[rules.coordinators]]\noin = \"00000099000000000999\"\n",
                "rules.coordinators.oin",
            ),
            (
                "[rules.regie]\nfallback = \"coordinator\"\n",
                "rules.regie.fallback",
            ),
        ] {
            match NodeConfig::from_toml(&format!("{EXAMPLE}\n{rules}")) {
                Err(FromTomlError::Invalid(i)) => assert_eq!(i.key, key),
                other => panic!("expected {key} refused, got {other:?}"),
            }
        }
    }
}
