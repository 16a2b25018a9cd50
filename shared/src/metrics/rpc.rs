//! RPC latency per method and status code: a tower layer on the tonic server.
//!
//! The method label is the gRPC path (`vir.v1.Hub/Submit`) only when the path belongs to the
//! compiled protocol (`vir_proto::FILE_DESCRIPTOR_SET`), the health or the reflection service;
//! any other path counts as `unknown`, so a caller cannot invent label values. The code label is
//! the gRPC status name (`Ok`, `NotFound`, …). A failure answered in the response headers
//! (trailers-only, as tonic answers every error of a unary call) is read there; a call whose
//! headers carry no status answered `Ok`. Streaming calls are timed to their first headers.

use std::collections::HashSet;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use futures::future::BoxFuture;
use prometheus::{HistogramOpts, HistogramVec, Registry};
use prost::Message;
use tonic::codegen::http;

/// Method paths of services that are not in `vir.proto` but that every server carries.
const EXTRA_PATHS: &[&str] = &[
    "grpc.health.v1.Health/Check",
    "grpc.health.v1.Health/Watch",
    "grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    "grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
];

/// The label used for a path outside the protocol.
pub const UNKNOWN_METHOD: &str = "unknown";

#[derive(Clone)]
pub struct RpcMetrics {
    histogram: HistogramVec,
    known: Arc<HashSet<String>>,
}

impl RpcMetrics {
    pub(super) fn new(registry: &Registry) -> RpcMetrics {
        let histogram = HistogramVec::new(
            HistogramOpts::new(
                "vir_rpc_duration_seconds",
                "Time to answer a gRPC call, by method and gRPC status code.",
            ),
            &["method", "code"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(histogram.clone()))
            .expect("first registration");
        RpcMetrics {
            histogram,
            known: Arc::new(known_methods()),
        }
    }

    /// The label for a request path: the method if the protocol has it, else [`UNKNOWN_METHOD`].
    pub fn method_label(&self, path: &str) -> String {
        let method = path.trim_start_matches('/');
        if self.known.contains(method) {
            method.to_owned()
        } else {
            UNKNOWN_METHOD.to_owned()
        }
    }

    fn observe(&self, method: &str, code: &str, seconds: f64) {
        self.histogram
            .with_label_values(&[method, code])
            .observe(seconds);
    }
}

/// Every `package.Service/Method` of the compiled protocol, plus [`EXTRA_PATHS`].
pub fn known_methods() -> HashSet<String> {
    let mut known: HashSet<String> = EXTRA_PATHS.iter().map(|p| p.to_string()).collect();
    let set = prost_types::FileDescriptorSet::decode(vir_proto::FILE_DESCRIPTOR_SET)
        .expect("the descriptor set compiled into vir-proto decodes");
    for file in set.file {
        let package = file.package.unwrap_or_default();
        for service in file.service {
            let name = service.name.unwrap_or_default();
            for method in service.method {
                known.insert(format!(
                    "{package}.{name}/{}",
                    method.name.unwrap_or_default()
                ));
            }
        }
    }
    known
}

/// The gRPC status name of a code number (a fixed set of 17 names).
pub fn code_name(code: i32) -> &'static str {
    use tonic::Code::*;
    match tonic::Code::from_i32(code) {
        Ok => "Ok",
        Cancelled => "Cancelled",
        Unknown => "Unknown",
        InvalidArgument => "InvalidArgument",
        DeadlineExceeded => "DeadlineExceeded",
        NotFound => "NotFound",
        AlreadyExists => "AlreadyExists",
        PermissionDenied => "PermissionDenied",
        ResourceExhausted => "ResourceExhausted",
        FailedPrecondition => "FailedPrecondition",
        Aborted => "Aborted",
        OutOfRange => "OutOfRange",
        Unimplemented => "Unimplemented",
        Internal => "Internal",
        Unavailable => "Unavailable",
        DataLoss => "DataLoss",
        Unauthenticated => "Unauthenticated",
    }
}

#[derive(Clone)]
pub struct RpcMetricsLayer {
    metrics: RpcMetrics,
}

impl RpcMetricsLayer {
    pub(super) fn new(metrics: RpcMetrics) -> RpcMetricsLayer {
        RpcMetricsLayer { metrics }
    }
}

impl<S> tower::Layer<S> for RpcMetricsLayer {
    type Service = RpcMetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RpcMetricsService {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

#[derive(Clone)]
pub struct RpcMetricsService<S> {
    inner: S,
    metrics: RpcMetrics,
}

impl<S, B, RB> tower::Service<http::Request<B>> for RpcMetricsService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<RB>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    RB: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let method = self.metrics.method_label(request.uri().path());
        let metrics = self.metrics.clone();
        let started = Instant::now();
        let answer = self.inner.call(request);
        Box::pin(async move {
            let result = answer.await;
            let code = match &result {
                Ok(response) => response
                    .headers()
                    .get("grpc-status")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<i32>().ok())
                    .map(code_name)
                    .unwrap_or("Ok"),
                // The transport failed before any answer: no gRPC code was sent.
                Err(_) => "Unavailable",
            };
            metrics.observe(&method, code, started.elapsed().as_secs_f64());
            result
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_methods_are_known_and_other_paths_are_not() {
        let metrics = RpcMetrics::new(&Registry::new());
        assert_eq!(
            metrics.method_label("/vir.v1.Hub/Submit"),
            "vir.v1.Hub/Submit"
        );
        assert_eq!(
            metrics.method_label("/vir.v1.Node/CreateSignal"),
            "vir.v1.Node/CreateSignal"
        );
        assert_eq!(
            metrics.method_label("/grpc.health.v1.Health/Check"),
            "grpc.health.v1.Health/Check"
        );
        // A caller-chosen path (here one that smuggles a BSN) never becomes a label.
        assert_eq!(
            metrics.method_label("/vir.v1.Node/123456782"),
            UNKNOWN_METHOD
        );
    }
}
