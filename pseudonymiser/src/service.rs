//! The gRPC handlers of `vir.v1.Pseudonymiser`, and the one place where refusals become
//! `tonic::Status` codes.
//!
//! A request passes, in order: the identity interceptor (unknown OIN → PERMISSION_DENIED), the
//! region claim (spoofing → PERMISSION_DENIED), the cheap shape checks (domain, version, batch
//! size → INVALID_ARGUMENT), the node's rate limit (→ RESOURCE_EXHAUSTED), and only then the
//! evaluation, on a blocking thread because it is pure CPU. Nothing from a request body is ever
//! logged; refusals are logged with the caller's OIN and the reason, and counted in [`Metrics`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tonic::metadata::MetadataValue;
use tonic::{Request, Response, Status};
use vir_proto as pb;
use vir_shared::keys::KeyDomain;
use vir_shared::SharedClock;

use crate::identity::{self, Caller, IdentityError};
use crate::oprf::{KeySet, OprfError};
use crate::ratelimit::{Limited, NodeLimiters};

/// Metadata key of a RESOURCE_EXHAUSTED answer: milliseconds until the batch would be admitted.
pub const RETRY_AFTER_MS: &str = "retry-after-ms";

/// Counters for later export as metrics. Never holds anything about inputs.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Elements evaluated since start-up.
    pub evaluated_elements: AtomicU64,
    /// Evaluate calls answered.
    pub evaluate_calls: AtomicU64,
    /// Callers refused for their identity (unknown OIN, spoofed region).
    pub refused_identity: AtomicU64,
    /// Batches refused by the rate limit (over the rate or over the burst).
    pub refused_rate_limit: AtomicU64,
    /// Malformed requests (unknown domain, unserved version, bad elements, batch size).
    pub refused_invalid: AtomicU64,
}

/// Why a call was refused; [`ServiceError::into_status`] is the single mapping to gRPC codes.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error(transparent)]
    Invalid(#[from] OprfError),
    #[error(transparent)]
    Limited(#[from] Limited),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ServiceError {
    fn into_status(self, clock: &SharedClock) -> Status {
        match self {
            ServiceError::Identity(e) => e.into(),
            ServiceError::Invalid(OprfError::Evaluation(reason)) => {
                tracing::error!(%reason, "OPRF evaluation failed");
                Status::internal("evaluation failed")
            }
            ServiceError::Invalid(e) => Status::invalid_argument(e.to_string()),
            ServiceError::Limited(e @ Limited::OverBurst { .. }) => {
                Status::invalid_argument(e.to_string())
            }
            ServiceError::Limited(Limited::Exceeded {
                per_minute,
                retry_after,
            }) => {
                let at = clock.now() + retry_after;
                let mut status = Status::resource_exhausted(format!(
                    "rate limit of {per_minute} elements per minute exceeded; retry after {:.3} s (at {})",
                    retry_after.as_secs_f64(),
                    at.to_rfc3339(),
                ));
                let ms = retry_after.as_millis().max(1).to_string();
                if let Ok(value) = MetadataValue::try_from(ms) {
                    status.metadata_mut().insert(RETRY_AFTER_MS, value);
                }
                status
            }
            ServiceError::Internal(reason) => {
                tracing::error!(%reason, "pseudonymiser internal error");
                Status::internal("internal error")
            }
        }
    }
}

/// The service state shared by all connections.
pub struct PseudonymiserService {
    keys: Arc<KeySet>,
    limiters: NodeLimiters,
    metrics: Arc<Metrics>,
    clock: SharedClock,
}

impl PseudonymiserService {
    pub fn new(
        keys: Arc<KeySet>,
        limiters: NodeLimiters,
        metrics: Arc<Metrics>,
        clock: SharedClock,
    ) -> Self {
        PseudonymiserService {
            keys,
            limiters,
            metrics,
            clock,
        }
    }

    /// Counts and logs a refusal, then maps it. Logs the OIN and reason only.
    fn refuse(&self, caller: &Caller, error: ServiceError) -> Status {
        let kind = match &error {
            ServiceError::Identity(_) => Some(&self.metrics.refused_identity),
            ServiceError::Limited(_) => Some(&self.metrics.refused_rate_limit),
            ServiceError::Invalid(OprfError::Evaluation(_)) | ServiceError::Internal(_) => None,
            ServiceError::Invalid(_) => Some(&self.metrics.refused_invalid),
        };
        if let Some(counter) = kind {
            counter.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                oin = %caller.oin,
                reason = %error,
                event = "evaluate_refused",
                "refused an Evaluate call"
            );
        }
        error.into_status(&self.clock)
    }

    async fn evaluate_inner(
        &self,
        caller: &Caller,
        request: pb::EvaluateRequest,
    ) -> Result<pb::EvaluateResponse, ServiceError> {
        caller.check_region_claim(&request.region)?;
        let domain = KeyDomain::try_from(request.domain).map_err(|_| OprfError::UnknownDomain)?;
        let version = self.keys.resolve_version(request.key_version)?;
        let n = request.blinded_elements.len();
        KeySet::check_batch_size(n)?;
        self.limiters.check(&caller.oin, n)?;

        let keys = Arc::clone(&self.keys);
        let blinded = request.blinded_elements;
        let evaluation =
            tokio::task::spawn_blocking(move || keys.evaluate(domain, version, &blinded))
                .await
                .map_err(|e| ServiceError::Internal(format!("evaluation task: {e}")))??;

        self.metrics.evaluate_calls.fetch_add(1, Ordering::Relaxed);
        self.metrics
            .evaluated_elements
            .fetch_add(n as u64, Ordering::Relaxed);
        tracing::debug!(oin = %caller.oin, domain = domain.label(), version, elements = n, "evaluated");
        Ok(pb::EvaluateResponse {
            key_version: evaluation.version,
            evaluated_elements: evaluation.elements,
            proof: evaluation.proof,
        })
    }
}

#[tonic::async_trait]
impl pb::pseudonymiser_server::Pseudonymiser for PseudonymiserService {
    async fn evaluate(
        &self,
        request: Request<pb::EvaluateRequest>,
    ) -> Result<Response<pb::EvaluateResponse>, Status> {
        let caller = identity::caller(&request)?;
        match self.evaluate_inner(&caller, request.into_inner()).await {
            Ok(response) => Ok(Response::new(response)),
            Err(e) => Err(self.refuse(&caller, e)),
        }
    }

    async fn public_keys(
        &self,
        request: Request<pb::PublicKeysRequest>,
    ) -> Result<Response<pb::PublicKeysResponse>, Status> {
        // Only configured nodes get here (the interceptor); the keys are public anyway.
        identity::caller(&request)?;
        let keys = self
            .keys
            .public_keys()
            .into_iter()
            .map(|(domain, version, public_key)| pb::PublicKey {
                domain: pb::KeyDomain::from(domain) as i32,
                version,
                public_key: public_key.to_vec(),
            })
            .collect();
        Ok(Response::new(pb::PublicKeysResponse {
            current_version: self.keys.current_version(),
            keys,
        }))
    }
}
