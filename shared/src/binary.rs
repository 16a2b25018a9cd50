//! What the three service binaries share once their service is spawned: signals (SIGTERM and
//! Ctrl-C stop, SIGHUP reloads certificates and CRLs), the optional plaintext health listener,
//! and errors printed as one line with exit code 1.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::Context;

use crate::service::ServiceHandle;
use crate::tls::TlsPaths;

/// Serves until SIGTERM or Ctrl-C (graceful shutdown) and reloads TLS material on SIGHUP.
/// With `health_listen`, also serves the plaintext gRPC health service there
/// ([`crate::health::serve_plain`]), NOT_SERVING as soon as a stop is requested.
pub async fn serve(handle: ServiceHandle, health_listen: Option<SocketAddr>) -> anyhow::Result<()> {
    crate::tls::reload_on_sighup();
    let stop = handle.shutdown_token();
    if let Some(addr) = health_listen {
        crate::health::serve_plain(addr, stop.clone()).await?;
    }
    tokio::spawn(async move {
        stop_signal().await;
        tracing::info!("stop requested");
        stop.cancel();
    });
    handle.wait().await
}

/// The exit of a binary: `program: error: cause: cause…` on one line and code 1 on an error.
/// The chain names the file, key and reason of a configuration error, without the backtrace
/// that anyhow's `Debug` form would print.
pub fn exit(program: &str, result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{program}: error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// An error and its causes on one line, `outer: inner: innermost`, each cause written once.
///
/// Many of our error types (and some of our dependencies') put their source in their own
/// message (`"storage: {0}"`) *and* return it from `source()`, so anyhow's `{:#}` printed it
/// twice: `config.toml: TOML parse error … missing field: TOML parse error … missing field`.
/// A cause whose whole text is already in the line adds nothing and is left out; a context
/// that does not repeat its cause (`.context("migrating hub storage")`) still gets it appended.
pub fn one_line(error: &anyhow::Error) -> String {
    let top: &(dyn std::error::Error + 'static) = error.as_ref();
    chain_line(top)
}

/// [`one_line`] for any error with its `source()` chain.
pub fn chain_line(error: &(dyn std::error::Error + 'static)) -> String {
    let mut line = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        let text = e.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        cause = e.source();
    }
    line
}

/// A production storage URL must not carry a password: it belongs in a file or the environment
/// (`PGPASSFILE`, `PGPASSWORD`), which the PostgreSQL driver reads, never in the TOML file.
pub fn refuse_inline_password(storage_url: &str) -> Result<(), String> {
    if crate::db::has_inline_password(storage_url) {
        return Err("contains a password: put it in a file named by PGPASSFILE \
             (or in PGPASSWORD) and remove it from the URL"
            .to_owned());
    }
    Ok(())
}

/// For `check-config`: loads the TLS material (certificate, key, roots, CRLs) as the server
/// would, refuses an expired certificate, and says how long it stays valid. Errors name the
/// configuration file and the `tls` key.
pub fn check_tls(config_file: &Path, tls: &TlsPaths) -> anyhow::Result<String> {
    let at = |key: &str| format!("{}: `{key}`", config_file.display());
    crate::tls::server_config(tls).with_context(|| at("tls"))?;
    let days =
        crate::tls::leaf_days_left(&tls.cert, SystemTime::now()).with_context(|| at("tls.cert"))?;
    anyhow::ensure!(
        days >= 0,
        "{}: {} has expired",
        at("tls.cert"),
        tls.cert.display()
    );
    Ok(if days < crate::tls::EXPIRY_WARNING_DAYS {
        format!("certificate expires in {days} days: RENEW IT NOW")
    } else {
        format!("certificate valid for {days} more days")
    })
}

async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_urls_are_refused() {
        assert!(refuse_inline_password("postgres://vir:secret@db/vir").is_err());
        assert!(refuse_inline_password("postgresql://vir:@db/vir").is_err());
        assert!(refuse_inline_password("postgres://vir@db:5432/vir").is_ok());
        assert!(refuse_inline_password("postgres://db/vir?user=vir").is_ok());
        assert!(refuse_inline_password("postgres://db/vir?user=vir&password=x").is_err());
        assert!(refuse_inline_password("sqlite:///var/lib/vir/hub.sqlite?mode=rwc").is_ok());
    }

    #[derive(Debug, thiserror::Error)]
    #[error("{path}: {source}")]
    struct Repeats {
        path: &'static str,
        source: std::io::Error,
    }

    fn missing() -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::NotFound, "missing field `listen`")
    }

    #[test]
    fn a_cause_in_its_parents_message_is_written_once() {
        let error = anyhow::Error::new(Repeats {
            path: "hub.toml",
            source: missing(),
        });
        assert_eq!(
            format!("{error:#}"),
            "hub.toml: missing field `listen`: missing field `listen`"
        );
        assert_eq!(one_line(&error), "hub.toml: missing field `listen`");
    }

    #[test]
    fn a_context_that_does_not_repeat_its_cause_gets_it_appended() {
        let error = anyhow::Error::new(Repeats {
            path: "hub.toml",
            source: missing(),
        })
        .context("migrating hub storage");
        assert_eq!(
            one_line(&error),
            "migrating hub storage: hub.toml: missing field `listen`"
        );
        let plain = anyhow::Error::new(missing()).context("reading hub.toml");
        assert_eq!(one_line(&plain), "reading hub.toml: missing field `listen`");
    }
}
