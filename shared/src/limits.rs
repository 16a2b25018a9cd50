//! Limits every gRPC server of the federation applies (hub, node, pseudonymiser), as one
//! `[limits]` section of each service's configuration, with defaults meant for production.
//!
//! What each protects against:
//! - `max_message_bytes`: one request or answer larger than this gets `OUT_OF_RANGE` /
//!   `RESOURCE_EXHAUSTED` instead of being buffered whole.
//! - `max_concurrent_streams`: HTTP/2 streams (calls) one connection may have open at once.
//! - `max_pending_reset_streams`: streams a client opened and reset before the server accepted
//!   them (the HTTP/2 "rapid reset" flood, CVE-2023-44487); beyond it the connection is closed
//!   with GOAWAY.
//! - `max_local_error_reset_streams`: streams the server reset because the client broke the
//!   protocol; beyond it the connection is closed.
//! - `request_timeout_ms`: a unary call that takes longer is cancelled (`CANCELLED`); for a
//!   stream it bounds the time until the stream starts.
//! - `concurrency_per_connection` + `load_shed`: calls in progress per connection; with load
//!   shedding a call beyond it is refused at once with `RESOURCE_EXHAUSTED` (no queue builds).
//! - `keepalive_interval_ms` / `keepalive_timeout_ms`: HTTP/2 pings that find a dead peer.
//! - `max_connection_age_ms` / `max_connection_age_grace_ms`: connections are recycled
//!   (GOAWAY, in-flight calls finish; after the grace period the connection is closed), so
//!   load spreads again over hub replicas and no connection lives for ever. 0 = no limit.

use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerLimits {
    pub max_message_bytes: usize,
    pub max_concurrent_streams: u32,
    pub max_pending_reset_streams: usize,
    pub max_local_error_reset_streams: usize,
    pub request_timeout_ms: u64,
    pub concurrency_per_connection: usize,
    pub load_shed: bool,
    pub keepalive_interval_ms: u64,
    pub keepalive_timeout_ms: u64,
    pub max_connection_age_ms: u64,
    pub max_connection_age_grace_ms: u64,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            // Room for a `Submit` of many operations or an inzage answer (1 MiB sealed).
            max_message_bytes: 16 * 1024 * 1024,
            max_concurrent_streams: 256,
            // hyper's own default; stated here so an operator sees it.
            max_pending_reset_streams: 20,
            max_local_error_reset_streams: 1024,
            request_timeout_ms: 60_000,
            concurrency_per_connection: 256,
            load_shed: true,
            keepalive_interval_ms: 10_000,
            keepalive_timeout_ms: 10_000,
            max_connection_age_ms: 0,
            max_connection_age_grace_ms: 0,
        }
    }
}

/// A limit that makes no sense, by its key in `[limits]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("limits.{key}: {reason}")]
pub struct InvalidLimit {
    pub key: &'static str,
    pub reason: String,
}

impl ServerLimits {
    /// Bounds that keep a typo from disabling a protection or starving the service.
    pub fn validate(&self) -> Result<(), InvalidLimit> {
        let bad = |key, reason: &str| {
            Err(InvalidLimit {
                key,
                reason: reason.to_owned(),
            })
        };
        if !(1024..=256 * 1024 * 1024).contains(&self.max_message_bytes) {
            return bad("max_message_bytes", "must be between 1024 and 268435456");
        }
        if self.max_concurrent_streams == 0 {
            return bad("max_concurrent_streams", "must be at least 1");
        }
        if self.max_pending_reset_streams == 0 {
            return bad("max_pending_reset_streams", "must be at least 1");
        }
        if self.max_local_error_reset_streams == 0 {
            return bad("max_local_error_reset_streams", "must be at least 1");
        }
        if self.request_timeout_ms < 100 {
            return bad("request_timeout_ms", "must be at least 100");
        }
        if self.concurrency_per_connection == 0 {
            return bad("concurrency_per_connection", "must be at least 1");
        }
        if self.keepalive_interval_ms < 100 || self.keepalive_timeout_ms < 100 {
            return bad(
                "keepalive_interval_ms",
                "keepalive interval and timeout must be at least 100",
            );
        }
        if self.max_connection_age_ms != 0 && self.max_connection_age_ms < 1000 {
            return bad("max_connection_age_ms", "0 (no limit) or at least 1000");
        }
        Ok(())
    }

    pub fn max_message(&self) -> usize {
        self.max_message_bytes
    }

    pub fn keepalive_interval(&self) -> Duration {
        Duration::from_millis(self.keepalive_interval_ms)
    }

    pub fn keepalive_timeout(&self) -> Duration {
        Duration::from_millis(self.keepalive_timeout_ms)
    }

    /// The server builder with every transport limit set. Message sizes are set on each
    /// generated service (`max_decoding_message_size`), with [`Self::max_message`].
    pub fn apply<L>(&self, server: tonic::transport::Server<L>) -> tonic::transport::Server<L> {
        let mut server = server
            .max_concurrent_streams(self.max_concurrent_streams)
            .http2_max_pending_accept_reset_streams(Some(self.max_pending_reset_streams))
            .http2_max_local_error_reset_streams(Some(self.max_local_error_reset_streams))
            .timeout(Duration::from_millis(self.request_timeout_ms))
            .concurrency_limit_per_connection(self.concurrency_per_connection)
            .load_shed(self.load_shed)
            .http2_keepalive_interval(Some(self.keepalive_interval()))
            .http2_keepalive_timeout(Some(self.keepalive_timeout()));
        if self.max_connection_age_ms > 0 {
            server = server.max_connection_age(Duration::from_millis(self.max_connection_age_ms));
            if self.max_connection_age_grace_ms > 0 {
                server = server.max_connection_age_grace(Duration::from_millis(
                    self.max_connection_age_grace_ms,
                ));
            }
        }
        server
    }
}

/// How a client channel finds a dead link: HTTP/2 pings every `keepalive_interval_ms`, the
/// link counts as dead when a ping is not answered within `keepalive_timeout_ms`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ChannelSettings {
    pub keepalive_interval_ms: u64,
    pub keepalive_timeout_ms: u64,
    pub connect_timeout_ms: u64,
}

impl Default for ChannelSettings {
    fn default() -> Self {
        ChannelSettings {
            keepalive_interval_ms: 10_000,
            keepalive_timeout_ms: 10_000,
            connect_timeout_ms: 5_000,
        }
    }
}

impl ChannelSettings {
    pub fn validate(&self) -> Result<(), InvalidLimit> {
        if self.keepalive_interval_ms < 100
            || self.keepalive_timeout_ms < 100
            || self.connect_timeout_ms < 100
        {
            return Err(InvalidLimit {
                key: "keepalive_interval_ms",
                reason:
                    "keepalive interval, keepalive timeout and connect timeout must be at least 100"
                        .into(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_an_empty_section_gives_them() {
        assert_eq!(ServerLimits::default().validate(), Ok(()));
        let parsed: ServerLimits = toml::from_str("").unwrap();
        assert_eq!(parsed, ServerLimits::default());
        let parsed: ChannelSettings = toml::from_str("keepalive_timeout_ms = 500").unwrap();
        assert_eq!(parsed.keepalive_timeout_ms, 500);
        assert_eq!(parsed.keepalive_interval_ms, 10_000);
    }

    #[test]
    fn nonsense_limits_name_their_key() {
        let limits = ServerLimits {
            max_message_bytes: 10,
            ..ServerLimits::default()
        };
        assert_eq!(limits.validate().unwrap_err().key, "max_message_bytes");
        let limits = ServerLimits {
            max_connection_age_ms: 5,
            ..ServerLimits::default()
        };
        assert_eq!(limits.validate().unwrap_err().key, "max_connection_age_ms");
        assert!(toml::from_str::<ServerLimits>("colour = 1").is_err());
    }

    /// A service whose calls wait at a gate until the test opens it: a call in progress for as
    /// long as the test wants, without timing.
    #[derive(Clone)]
    struct Gated<S> {
        inner: S,
        gate: std::sync::Arc<tokio::sync::Semaphore>,
        arrived: std::sync::Arc<tokio::sync::Notify>,
    }

    impl<S: tonic::server::NamedService> tonic::server::NamedService for Gated<S> {
        const NAME: &'static str = S::NAME;
    }

    impl<S, R> tower::Service<R> for Gated<S>
    where
        S: tower::Service<R> + Clone + Send + 'static,
        S::Future: Send,
        R: Send + 'static,
    {
        type Response = S::Response;
        type Error = S::Error;
        type Future = tonic::codegen::BoxFuture<S::Response, S::Error>;

        fn poll_ready(
            &mut self,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Result<(), S::Error>> {
            self.inner.poll_ready(cx)
        }

        fn call(&mut self, request: R) -> Self::Future {
            let (mut inner, gate, arrived) =
                (self.inner.clone(), self.gate.clone(), self.arrived.clone());
            Box::pin(async move {
                arrived.notify_one();
                let _open = gate.acquire().await;
                inner.call(request).await
            })
        }
    }

    /// Load shedding: with one call allowed per connection, a second call while the first is in
    /// progress is refused at once with RESOURCE_EXHAUSTED instead of queueing, and the first
    /// still completes. Real gRPC on 127.0.0.1 through [`ServerLimits::apply`].
    #[tokio::test]
    async fn a_call_beyond_the_connection_limit_is_shed_at_once() {
        use tonic_health::pb::health_client::HealthClient;
        use tonic_health::pb::HealthCheckRequest;
        let limits = ServerLimits {
            concurrency_per_connection: 1,
            load_shed: true,
            ..ServerLimits::default()
        };
        let (_reporter, health) = tonic_health::server::health_reporter();
        let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(0));
        let arrived = std::sync::Arc::new(tokio::sync::Notify::new());
        let gated = Gated {
            inner: health,
            gate: gate.clone(),
            arrived: arrived.clone(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
        let server = tokio::spawn(
            limits
                .apply(tonic::transport::Server::builder())
                .add_service(gated)
                .serve_with_incoming(incoming),
        );
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let request = || HealthCheckRequest {
            service: String::new(),
        };
        let mut first_client = HealthClient::new(channel.clone());
        let first = tokio::spawn(async move { first_client.check(request()).await });
        arrived.notified().await;

        // Without shedding the second call would wait for the first: bounded, it fails instead.
        let mut second_client = HealthClient::new(channel.clone());
        let shed = tokio::time::timeout(Duration::from_secs(10), second_client.check(request()))
            .await
            .expect("answered at once, not queued")
            .expect_err("a second call on the connection is shed");
        assert_eq!(shed.code(), tonic::Code::ResourceExhausted, "{shed:?}");

        gate.add_permits(1);
        let answer = first
            .await
            .unwrap()
            .expect("the call in progress completes");
        assert_eq!(
            answer.into_inner().status,
            tonic_health::pb::health_check_response::ServingStatus::Serving as i32
        );
        server.abort();
    }
}
