//! The transport ceiling: a bench-local `vir.v1.Hub` whose store does nothing.
//!
//! It is served exactly as the hub is (`vir_hub::spawn`): the same `vir_shared::tls` server
//! material and accept loop with the per-connection verdict, the same tonic server options and
//! message limits, the same caller identification (`vir_hub::identity::Directory`), and the same
//! decoding and validation of every operation (`vir_hub::ops::parse_batch`). Only the storage
//! is missing: every valid operation answers APPLIED. What the real hub reaches over this path
//! is therefore bounded by what this one reaches.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};
use vir_hub::identity::Directory;
use vir_hub::HubConfig;
use vir_proto as pb;
use vir_proto::hub_server::{Hub, HubServer};
use vir_shared::service::ServiceHandle;

use crate::setup::MAX_MESSAGE;

/// The same keepalive as the hub's server.
const KEEPALIVE: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
struct NullHub {
    directory: Directory,
    /// Operations validated and acknowledged, for the bench's sanity check.
    applied: Arc<AtomicU64>,
}

#[tonic::async_trait]
impl Hub for NullHub {
    async fn snapshot(
        &self,
        _request: tonic::Request<vir_proto::SnapshotRequest>,
    ) -> Result<tonic::Response<vir_proto::SnapshotResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented(
            "this test hub keeps every feed item",
        ))
    }

    async fn submit(
        &self,
        request: Request<pb::SubmitRequest>,
    ) -> Result<Response<pb::SubmitResponse>, Status> {
        let claimed = request.get_ref().region.clone();
        self.directory.node(&request, "Submit", &claimed)?;
        // The hub reads the presented chain on every call to compare it with the stored one.
        let _chain = vir_shared::tls::peer_chain(&request);
        let ops = vir_hub::ops::parse_batch(request.into_inner().operations)
            .map_err(vir_hub::to_status)?;
        self.applied.fetch_add(ops.len() as u64, Ordering::Relaxed);
        let results = ops
            .iter()
            .map(|o| pb::OperationResult {
                op_id: o.op_id,
                outcome: pb::OpOutcome::Applied as i32,
            })
            .collect();
        Ok(Response::new(pb::SubmitResponse {
            results,
            last_applied_op_id: ops.last().map_or(0, |o| o.op_id),
        }))
    }

    type SubscribeStream = vir_hub::subscribe::FeedStream;

    async fn subscribe(
        &self,
        _request: Request<pb::SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        Err(Status::unimplemented(
            "the transport ceiling keeps no feeds",
        ))
    }

    async fn ack(
        &self,
        _request: Request<pb::AckRequest>,
    ) -> Result<Response<pb::AckResponse>, Status> {
        Err(Status::unimplemented(
            "the transport ceiling keeps no feeds",
        ))
    }

    async fn status(
        &self,
        _request: Request<pb::HubStatusRequest>,
    ) -> Result<Response<pb::HubStatusResponse>, Status> {
        Err(Status::unimplemented(
            "the transport ceiling keeps no counts",
        ))
    }

    async fn report(
        &self,
        _request: Request<pb::PolicyReportRequest>,
    ) -> Result<Response<pb::PolicyReportResponse>, Status> {
        Err(Status::unimplemented(
            "the transport ceiling keeps no counts",
        ))
    }
}

/// A running transport ceiling: its handle and the count of operations it acknowledged.
pub struct NullHubHandle {
    pub handle: ServiceHandle,
    pub applied: Arc<AtomicU64>,
}

/// Serves the null hub on `config.listen` with `config.tls`, as `vir_hub::spawn` serves the hub.
pub async fn spawn(config: &HubConfig) -> anyhow::Result<NullHubHandle> {
    let tls = vir_shared::tls::server_config(&config.tls).context("null hub TLS")?;
    let listener = TcpListener::bind(config.listen).await?;
    let local_addr = listener.local_addr()?;
    let shutdown = CancellationToken::new();
    let incoming = vir_shared::tls::incoming(listener, tls, shutdown.clone(), "null-hub");
    let applied = Arc::new(AtomicU64::new(0));
    let service = NullHub {
        directory: Directory::from_config(config),
        applied: applied.clone(),
    };
    let server = HubServer::new(service)
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE);
    let signal = shutdown.clone().cancelled_owned();
    let task = tokio::spawn(async move {
        tonic::transport::Server::builder()
            .http2_keepalive_interval(Some(KEEPALIVE))
            .http2_keepalive_timeout(Some(KEEPALIVE))
            .add_service(server)
            .serve_with_incoming_shutdown(incoming, signal)
            .await
            .context("null hub server")
    });
    Ok(NullHubHandle {
        handle: ServiceHandle::new(local_addr, shutdown, task),
        applied,
    })
}
