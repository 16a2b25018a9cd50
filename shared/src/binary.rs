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

/// A production link to PostgreSQL on another host must verify whom it talks to: the hub's
/// store holds every region's pseudonymised keys and the nodes' stores full identity data, and
/// with sqlx's default (`sslmode=prefer`) a machine in the middle can read and change both.
/// Accepted: a Unix socket or a loopback address (the link never leaves the machine),
/// `sslmode=verify-full` (TLS with the server's certificate checked against `sslrootcert` and its
/// name), or `sslmode=disable` written out, an operator's own choice for a network they trust.
/// `PGSSLMODE` and `PGHOST` count as the driver reads them.
pub fn refuse_unverified_link(storage_url: &str) -> Result<(), String> {
    use sqlx::postgres::{PgConnectOptions, PgSslMode};
    if !(storage_url.starts_with("postgres://") || storage_url.starts_with("postgresql://")) {
        return Ok(());
    }
    let options: PgConnectOptions = storage_url
        .parse()
        .map_err(|e| format!("not a PostgreSQL URL: {e}"))?;
    let host = options.get_host();
    let loopback = host == "localhost"
        || host
            .trim_matches(|c| c == '[' || c == ']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if options.get_socket().is_some() || loopback {
        return Ok(());
    }
    match options.get_ssl_mode() {
        PgSslMode::VerifyFull | PgSslMode::Disable => Ok(()),
        mode => Err(format!(
            "reaches PostgreSQL on {host} with sslmode={}, which does not check the server's \
             certificate: add sslmode=verify-full&sslrootcert=<the database's CA file> \
             (or sslmode=disable, on a network you trust)",
            ssl_mode_name(mode)
        )),
    }
}

fn ssl_mode_name(mode: sqlx::postgres::PgSslMode) -> &'static str {
    use sqlx::postgres::PgSslMode::*;
    match mode {
        Disable => "disable",
        Allow => "allow",
        Prefer => "prefer",
        Require => "require",
        VerifyCa => "verify-ca",
        VerifyFull => "verify-full",
    }
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

    #[test]
    fn a_remote_database_link_must_verify_the_server_or_say_it_does_not() {
        let refused = |url: &str| refuse_unverified_link(url).is_err();
        // Off the machine: the driver's default, `require` and `verify-ca` do not check the name.
        assert!(refused("postgres://vir@db.vir.internal:5432/vir_hub"));
        assert!(refused(
            "postgres://vir@db.vir.internal/vir_hub?sslmode=require"
        ));
        assert!(refused(
            "postgres://vir@10.1.2.3/vir_hub?sslmode=verify-ca&sslrootcert=/ca.pem"
        ));
        let reason = refuse_unverified_link("postgres://vir@db.vir.internal/vir_hub").unwrap_err();
        assert!(
            reason.contains("db.vir.internal") && reason.contains("sslmode=prefer"),
            "{reason}"
        );
        assert!(!refused(
            "postgres://vir@db.vir.internal/vir_hub?sslmode=verify-full&sslrootcert=/etc/vir/db-ca.pem"
        ));
        assert!(!refused(
            "postgres://vir@postgres:5432/vir_hub?sslmode=disable"
        ));
        // On the machine: loopback or a Unix socket.
        assert!(!refused("postgres://vir@127.0.0.1:5432/vir_hub"));
        assert!(!refused("postgres://vir@localhost/vir_hub"));
        assert!(!refused("postgres://vir@[::1]:5432/vir_hub"));
        assert!(!refused("postgres:///vir_hub?host=/var/run/postgresql"));
        assert!(!refused("sqlite:///var/lib/vir/hub.sqlite?mode=rwc"));
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
