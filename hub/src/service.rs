//! The `vir.v1.Hub` gRPC service: identify the caller from its certificate, check its region
//! claim, record its certificate chain, then call into [`HubState`].

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};
use vir_proto as pb;
use vir_proto::hub_server::Hub;
use vir_shared::{Oin, RegionCode};

use crate::error::to_status;
use crate::identity::{Caller, Directory};
use crate::state::HubState;
use crate::subscribe::{self, FeedStream};

#[derive(Debug, Clone)]
pub struct HubService {
    state: Arc<HubState>,
    directory: Directory,
    heartbeat: Duration,
    shutdown: CancellationToken,
    report_threshold: u64,
}

impl HubService {
    pub fn new(
        state: Arc<HubState>,
        directory: Directory,
        heartbeat: Duration,
        shutdown: CancellationToken,
    ) -> HubService {
        HubService {
            state,
            directory,
            heartbeat,
            shutdown,
            report_threshold: vir_shared::report::DEFAULT_THRESHOLD,
        }
    }

    /// `Report` hides cells below this count.
    #[must_use]
    pub fn with_report_threshold(mut self, threshold: u64) -> HubService {
        self.report_threshold = threshold;
        self
    }

    /// Identifies a node call and records the chain it presented (relayed to matched nodes).
    async fn node<T>(
        &self,
        request: &Request<T>,
        rpc: &'static str,
        claimed_region: &str,
    ) -> Result<(Oin, RegionCode), Status> {
        let (oin, region) = self.directory.node(request, rpc, claimed_region)?;
        let chain = vir_shared::tls::peer_chain(request);
        self.state
            .record_chain(&region, chain)
            .await
            .map_err(to_status)?;
        Ok((oin, region))
    }
}

#[tonic::async_trait]
impl Hub for HubService {
    async fn submit(
        &self,
        request: Request<pb::SubmitRequest>,
    ) -> Result<Response<pb::SubmitResponse>, Status> {
        let claimed = request.get_ref().region.clone();
        let (oin, region) = self.node(&request, "Submit", &claimed).await?;
        let operations = request.into_inner().operations;
        let count = operations.len();
        match self.state.submit(&region, operations).await {
            Ok(response) => Ok(Response::new(response)),
            Err(e) => {
                let status = to_status(e);
                if status.code() != tonic::Code::Internal {
                    tracing::warn!(
                        %oin,
                        %region,
                        ops = count,
                        code = ?status.code(),
                        reason = status.message(),
                        "submit refused"
                    );
                }
                Err(status)
            }
        }
    }

    type SubscribeStream = FeedStream;

    async fn subscribe(
        &self,
        request: Request<pb::SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let claimed = request.get_ref().region.clone();
        let (oin, region) = self.node(&request, "Subscribe", &claimed).await?;
        let from_seq = request.get_ref().from_seq;
        let from = match self.state.subscribe_from(&region, from_seq).await {
            Ok(from) => from,
            Err(e) => {
                let status = to_status(e);
                tracing::warn!(%oin, %region, from_seq, reason = status.message(), "subscribe refused");
                return Err(status);
            }
        };
        let stream = subscribe::start(
            self.state.clone(),
            region,
            from,
            self.heartbeat,
            self.shutdown.clone(),
        );
        Ok(Response::new(stream))
    }

    async fn ack(
        &self,
        request: Request<pb::AckRequest>,
    ) -> Result<Response<pb::AckResponse>, Status> {
        let claimed = request.get_ref().region.clone();
        let (oin, region) = self.node(&request, "Ack", &claimed).await?;
        let seq = request.get_ref().seq;
        self.state.ack(&region, seq).await.map_err(|e| {
            let status = to_status(e);
            tracing::warn!(%oin, %region, seq, reason = status.message(), "ack refused");
            status
        })?;
        Ok(Response::new(pb::AckResponse {}))
    }

    async fn status(
        &self,
        request: Request<pb::HubStatusRequest>,
    ) -> Result<Response<pb::HubStatusResponse>, Status> {
        // Nodes and operators alike: the answer holds counts only.
        if let Caller::Node { region, .. } = self.directory.caller(&request, "Status")? {
            let chain = vir_shared::tls::peer_chain(&request);
            self.state
                .record_chain(&region, chain)
                .await
                .map_err(to_status)?;
        }
        let status = self.state.status().await.map_err(to_status)?;
        Ok(Response::new(status))
    }

    async fn report(
        &self,
        request: Request<pb::PolicyReportRequest>,
    ) -> Result<Response<pb::PolicyReportResponse>, Status> {
        // Nodes and operators alike: suppressed counts per region only.
        self.directory.caller(&request, "Report")?;
        let period =
            vir_shared::report::wire::Period::from_request(request.get_ref(), self.state.today())
                .map_err(Status::invalid_argument)?;
        let report = crate::report::report(&self.state, period, self.report_threshold)
            .await
            .map_err(to_status)?;
        Ok(Response::new(report))
    }

    async fn snapshot(
        &self,
        request: Request<pb::SnapshotRequest>,
    ) -> Result<Response<pb::SnapshotResponse>, Status> {
        let claimed = request.get_ref().region.clone();
        let (oin, region) = self.node(&request, "Snapshot", &claimed).await?;
        let snapshot = self
            .state
            .store()
            .snapshot(&region)
            .await
            .map_err(|e| to_status(crate::error::HubError::Store(e)))?;
        tracing::info!(
            %oin,
            %region,
            head_seq = snapshot.head_seq,
            matches = snapshot.matches.len(),
            envelopes = snapshot.envelopes.len(),
            kept = snapshot.kept.len(),
            event = "snapshot_served",
            "node resyncs from a snapshot"
        );
        Ok(Response::new(pb::SnapshotResponse {
            head_seq: snapshot.head_seq,
            matches: snapshot.matches,
            envelopes: snapshot.envelopes,
            kept: snapshot.kept,
        }))
    }
}
