//! Tracing set-up for the binaries: JSON lines for production, readable text for development.
//!
//! Privacy rule: no BSN, name, birth date or address is ever a field of a log event. Domain
//! types that carry such data have redacted `Debug` forms; log ids, counts and codes instead.

use tracing_subscriber::EnvFilter;

/// Installs a global subscriber. `json` selects structured JSON output. The filter comes from
/// `RUST_LOG`, defaulting to `info`.
pub fn init(json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    // A second init (tests, several services in one process) is harmless: ignore the error.
    let _ = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}
