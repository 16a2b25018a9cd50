//! Health endpoints for orchestrators: the standard gRPC health service (`grpc.health.v1`) on
//! a separate plaintext port, and a probe client for it.
//!
//! Every service also serves `grpc.health.v1.Health` on its mutual-TLS port, but Kubernetes'
//! built-in gRPC probes, Docker health checks and most load balancers cannot present a client
//! certificate. So the binaries can open a second, plaintext listener (`--health-listen`) that
//! serves only the health service: it tells whether the process is up and serving, and nothing
//! else. Bind it to loopback unless a prober on another host (the kubelet) needs it.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

/// How long [`probe`] waits for an answer, so a hung process fails its probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// Serves the health service on `addr` (plaintext HTTP/2) until `shutdown`: SERVING while the
/// service runs, NOT_SERVING from the moment it is asked to stop. Returns the bound address.
pub async fn serve_plain(
    addr: SocketAddr,
    shutdown: CancellationToken,
) -> anyhow::Result<(SocketAddr, JoinHandle<()>)> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the health listener {addr}"))?;
    let local = listener.local_addr()?;
    let (reporter, service) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    let task = tokio::spawn(async move {
        let stopping = shutdown.clone();
        let mark = async move {
            stopping.cancelled().await;
            reporter
                .set_service_status("", tonic_health::ServingStatus::NotServing)
                .await;
        };
        let served = tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming_shutdown(incoming, async move {
                mark.await;
                // Let a prober see NOT_SERVING briefly before the port closes.
                tokio::time::sleep(Duration::from_millis(200)).await;
            })
            .await;
        if let Err(e) = served {
            tracing::warn!(error = %e, "health listener failed");
        }
    });
    tracing::info!(%local, "health listener (plaintext, grpc.health.v1 only)");
    Ok((local, task))
}

/// Asks the plaintext health service at `addr` for the overall status; `Ok` only for SERVING.
pub async fn probe(addr: SocketAddr) -> anyhow::Result<()> {
    let check = async {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))?
            .connect_timeout(PROBE_TIMEOUT)
            .connect()
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        let answer = HealthClient::new(channel)
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .await
            .with_context(|| format!("health check at {addr}"))?
            .into_inner();
        match ServingStatus::try_from(answer.status) {
            Ok(ServingStatus::Serving) => Ok(()),
            Ok(other) => anyhow::bail!("{addr}: {}", other.as_str_name()),
            Err(_) => anyhow::bail!("{addr}: unknown status {}", answer.status),
        }
    };
    tokio::time::timeout(PROBE_TIMEOUT, check)
        .await
        .map_err(|_| anyhow::anyhow!("{addr}: no answer within {PROBE_TIMEOUT:?}"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn serving_until_shutdown_then_refused() {
        let stop = CancellationToken::new();
        let (addr, task) = serve_plain("127.0.0.1:0".parse().unwrap(), stop.clone())
            .await
            .unwrap();
        probe(addr).await.unwrap();
        stop.cancel();
        task.await.unwrap();
        assert!(probe(addr).await.is_err());
    }
}
