//! The national hub (VIR): matches pseudonymised person keys across regions and feeds each node
//! what concerns it.
//!
//! The hub stores only what nodes send: opaque signal refs, person keys (64-byte OPRF outputs
//! it cannot reverse, with their version), municipality codes and sealed envelopes it cannot
//! open. Never a BSN, name, birth date or address; logs carry regions, op ids and counts.
//!
//! Module map, in the order a request travels:
//! - [`retention`]: feed items past `feed_retention_days` are removed; `Snapshot` resyncs.
//! - [`config`]: `HubConfig` from TOML (nodes by OIN and region, operators, storage, TLS).
//! - [`server`]: [`spawn`]: storage, the mutual-TLS listener and the gRPC server.
//! - [`service`]: the `vir.v1.Hub` handlers; [`identity`] maps the certificate's OIN to a node
//!   region or an operator and checks region claims.
//! - [`ops`]: a `Submit`'s operations validated into domain types (all or nothing).
//! - [`state`]: the core without transport ([`HubState`]): submit, feed, ack, status.
//! - [`store`]: SQLite/PostgreSQL storage; [`store::ingest`] applies operations and matches in
//!   one transaction per `Submit`; [`store::feed`] keeps the contiguous per-node feeds.
//! - [`notify`]: wakes feed subscribers after commit; [`subscribe`]: one feed subscription;
//!   [`replicas`]: several hub replicas on one PostgreSQL database wake each other's subscribers.
//! - [`error`]: [`HubError`] and its mapping to gRPC status codes.

pub mod config;
pub mod error;
pub mod identity;
pub mod metrics;
pub mod notify;
pub mod ops;
pub mod replicas;
pub mod report;
pub mod retention;
pub mod server;
pub mod service;
pub mod state;
pub mod store;
pub mod subscribe;

pub use config::{ConfigError, Environment, HubConfig, NodeEntry};
pub use error::{to_status, HubError, StoreError};
pub use server::spawn;
pub use state::HubState;
pub use store::Store;
