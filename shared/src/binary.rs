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
/// The `{:#}` form names the file, key and reason of a configuration error, without the
/// backtrace that anyhow's `Debug` form would print.
pub fn exit(program: &str, result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{program}: error: {e:#}");
            ExitCode::FAILURE
        }
    }
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
}
