//! The pseudonymisation service of the federated Verwijsindex, and the client nodes use.
//!
//! The service holds the only secret that turns a BSN (or an address, or a no-BSN fallback
//! identity) into a key, and evaluates an oblivious PRF (RFC 9497, ristretto255-SHA512,
//! verifiable mode) on blinded elements: it never sees an input, answers only configured nodes
//! (OIN in the mTLS certificate), and rate-limits each node per evaluated element, so that
//! neither the hub nor a thief of a node certificate can test all 91 million BSNs.
//!
//! Module map:
//! - [`config`]: the TOML configuration, validated at start-up.
//! - [`seed`]: the secret seed file (hex, 0600) and `init-seed`.
//! - [`oprf`]: key derivation per (domain, version) and batched evaluation with one proof.
//! - [`identity`]: certificate OIN → configured node; region claims.
//! - [`ratelimit`]: a GCRA limiter per node, counted in elements.
//! - [`service`]: the gRPC handlers, refusal counters, and the mapping to status codes.
//! - [`server`]: [`spawn`]: bind, serve over mTLS, shut down gracefully.
//! - [`client`]: [`client::KeyClient`], the node side: batches, public keys, errors; its
//!   cryptography (blind, verify, finalise) is in `blinding`.

pub(crate) mod blinding;
pub mod client;
pub mod config;
pub mod identity;
pub mod metrics;
pub mod oprf;
pub mod ratelimit;
pub mod seed;
pub mod server;
pub mod service;

pub use client::{KeyClient, KeyClientError};
pub use config::Config;
pub use server::{spawn, spawn_with_metrics, Running};
