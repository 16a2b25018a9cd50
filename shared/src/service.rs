//! A handle to a running server: where it listens, and how to stop it (gracefully or by force).

use std::net::SocketAddr;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Returned by every service's `spawn`. Dropping it does not stop the service.
#[derive(Debug)]
pub struct ServiceHandle {
    pub local_addr: SocketAddr,
    /// Where `/metrics` is served, when the configuration has `[metrics]`.
    pub metrics_addr: Option<SocketAddr>,
    shutdown: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
    /// Severs every open connection on [`Self::kill`] (see `tls::incoming_with_kill_switch`).
    kill_switch: Option<CancellationToken>,
}

impl ServiceHandle {
    pub fn new(
        local_addr: SocketAddr,
        shutdown: CancellationToken,
        task: JoinHandle<anyhow::Result<()>>,
    ) -> Self {
        ServiceHandle {
            local_addr,
            metrics_addr: None,
            shutdown,
            task,
            kill_switch: None,
        }
    }

    /// Records where the service's `/metrics` listener is bound.
    pub fn with_metrics_addr(mut self, addr: Option<SocketAddr>) -> Self {
        self.metrics_addr = addr;
        self
    }

    /// A token [`Self::kill`] cancels first, so the service's open connections die with it
    /// instead of finishing their calls gracefully.
    pub fn with_kill_switch(mut self, kill: CancellationToken) -> Self {
        self.kill_switch = Some(kill);
        self
    }

    /// `https://127.0.0.1:PORT`, for clients.
    pub fn url(&self) -> String {
        format!("https://{}", self.local_addr)
    }

    /// A token that is cancelled when the service is asked to stop.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Asks the service to stop, lets in-flight work finish, and waits for it.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        match self.task.await {
            Ok(result) => result,
            Err(e) if e.is_cancelled() => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Stops the service at once, as a crash would: nothing in flight is finished.
    pub async fn kill(self) {
        if let Some(kill) = &self.kill_switch {
            kill.cancel();
        }
        self.shutdown.cancel();
        self.task.abort();
        let _ = self.task.await;
    }

    /// Waits until the service ends by itself (for binaries).
    pub async fn wait(self) -> anyhow::Result<()> {
        match self.task.await {
            Ok(result) => result,
            Err(e) => Err(e.into()),
        }
    }
}
