//! When a server's TLS material is read again: on request (SIGHUP in the binaries, through
//! [`request_reload`]) and when one of its files changes (checked every few seconds).
//!
//! Polling file stamps rather than using inotify works the same for a renewed certificate
//! copied into place, a CRL fetched by a timer, and Kubernetes secrets (a symlink swapped under
//! a mounted volume), with no extra dependency. A reload that fails keeps the material in use
//! and is logged (`event = "tls_reload_failed"`), and is retried when the files change again.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::server::ServerTls;
use super::{leaf_days_left, TlsPaths};

/// How often the files are checked for changes.
const WATCH_INTERVAL: Duration = Duration::from_secs(5);

/// A certificate that expires within this many days is logged as a warning at every load.
pub const EXPIRY_WARNING_DAYS: i64 = 30;

/// The process-wide reload generation: every server's watcher reloads when it grows.
fn generation() -> &'static watch::Sender<u64> {
    static GENERATION: OnceLock<watch::Sender<u64>> = OnceLock::new();
    GENERATION.get_or_init(|| watch::Sender::new(0))
}

/// Asks every TLS server of this process to read its certificate, key, roots and CRLs again.
/// Returns at once; the reloads happen in the servers' watcher tasks and are logged there.
pub fn request_reload() {
    generation().send_modify(|g| *g = g.wrapping_add(1));
}

/// Calls [`request_reload`] on every SIGHUP, for the binaries; a no-op where there is no SIGHUP.
pub fn reload_on_sighup() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::hangup()) {
            Ok(mut hangup) => {
                tokio::spawn(async move {
                    while hangup.recv().await.is_some() {
                        tracing::info!("SIGHUP: reloading certificates and CRLs");
                        request_reload();
                    }
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGHUP; reload on file change only")
            }
        }
    }
}

/// Modification time and length of every file of a [`TlsPaths`]; `None` for a missing file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamps(Vec<(PathBuf, Option<(SystemTime, u64)>)>);

impl Stamps {
    fn of(paths: &TlsPaths) -> Stamps {
        let files = [&paths.cert, &paths.key, &paths.ca]
            .into_iter()
            .chain(paths.crls.iter());
        Stamps(
            files
                .map(|path| {
                    // metadata() follows symlinks, so a swapped Kubernetes secret shows up.
                    let stamp = std::fs::metadata(path)
                        .ok()
                        .and_then(|m| Some((m.modified().ok()?, m.len())));
                    (path.clone(), stamp)
                })
                .collect(),
        )
    }
}

/// Logs how long the server certificate has left: a warning within [`EXPIRY_WARNING_DAYS`].
pub(crate) fn log_expiry(paths: &TlsPaths, service: &str) {
    match leaf_days_left(&paths.cert, SystemTime::now()) {
        Ok(days) if days < 0 => tracing::error!(
            service,
            cert = %paths.cert.display(),
            days_left = days,
            event = "cert_expired",
            "the server certificate has expired"
        ),
        Ok(days) if days < EXPIRY_WARNING_DAYS => tracing::warn!(
            service,
            cert = %paths.cert.display(),
            days_left = days,
            event = "cert_expiring",
            "the server certificate expires soon: renew it and send SIGHUP"
        ),
        Ok(days) => tracing::info!(service, days_left = days, "server certificate valid"),
        Err(e) => tracing::warn!(service, error = %e, "cannot read the certificate's expiry"),
    }
}

/// Reloads `tls` on request and on file change until `shutdown`.
pub(crate) async fn watch(tls: ServerTls, shutdown: CancellationToken, service: &'static str) {
    log_expiry(tls.paths(), service);
    let mut requests = generation().subscribe();
    requests.borrow_and_update();
    let mut stamps = Stamps::of(tls.paths());
    let mut ticker = tokio::time::interval(WATCH_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let reason = tokio::select! {
            _ = shutdown.cancelled() => return,
            changed = requests.changed() => {
                if changed.is_err() {
                    return;
                }
                "reload requested"
            }
            _ = ticker.tick() => {
                let now = Stamps::of(tls.paths());
                if now == stamps {
                    continue;
                }
                stamps = now;
                "files changed"
            }
        };
        match tls.reload() {
            Ok(()) => {
                tracing::info!(
                    service,
                    reason,
                    crls = tls.paths().crls.len(),
                    event = "tls_reloaded",
                    "certificate, roots and CRLs reloaded; existing connections are kept"
                );
                log_expiry(tls.paths(), service);
            }
            Err(e) => tracing::error!(
                service,
                reason,
                error = %e,
                event = "tls_reload_failed",
                "TLS reload failed; still using the previous certificate, roots and CRLs"
            ),
        }
    }
}
