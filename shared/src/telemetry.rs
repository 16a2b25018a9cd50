//! Tracing set-up for the binaries: JSON lines for production, readable text for development.
//!
//! The format is chosen by `VIR_LOG_FORMAT` (`json` or `text`) when set, else by the
//! command-line flag, else by `log_format` in the service's configuration; text by default.
//!
//! Privacy rule: no BSN, name, birth date or address is ever a field of a log event. Domain
//! types that carry such data have redacted `Debug` forms; log ids, counts and codes instead.

use serde::{Deserialize, Serialize};
use tracing_subscriber::EnvFilter;

/// The environment variable that selects the log format, over flag and configuration.
pub const FORMAT_ENV: &str = "VIR_LOG_FORMAT";

/// `log_format` in a service's configuration.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl LogFormat {
    /// The format in force: `VIR_LOG_FORMAT` if set and valid, else `json_flag`, else `config`.
    pub fn select(json_flag: bool, config: Option<LogFormat>) -> LogFormat {
        match std::env::var(FORMAT_ENV).ok().as_deref().map(str::trim) {
            Some("json") => LogFormat::Json,
            Some("text") => LogFormat::Text,
            _ if json_flag => LogFormat::Json,
            _ => config.unwrap_or_default(),
        }
    }
}

/// Installs a global subscriber. `json` selects structured JSON output. The filter comes from
/// `RUST_LOG`, defaulting to `info`.
pub fn init(json: bool) {
    init_format(if json {
        LogFormat::Json
    } else {
        LogFormat::Text
    });
}

/// Installs a global subscriber writing `format` to standard output.
pub fn init_format(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    // A second init (tests, several services in one process) is harmless: ignore the error.
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration_value_parses() {
        #[derive(Deserialize)]
        struct C {
            log_format: Option<LogFormat>,
        }
        let c: C = toml::from_str("log_format = \"json\"").unwrap();
        assert_eq!(c.log_format, Some(LogFormat::Json));
        assert!(toml::from_str::<C>("log_format = \"yaml\"").is_err());
    }
}
