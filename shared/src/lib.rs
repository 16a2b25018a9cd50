//! Domain types and rules shared by the hub, the nodes and the pseudonymiser.
//!
//! Module map:
//! - [`bsn`], [`ids`]: identifiers that cannot hold invalid values (BSN with the 11-test, OIN,
//!   region, CBS municipality code, postcode).
//! - [`keys`]: pseudonymised keys (OPRF outputs) with domain and version; [`fallback`]: the
//!   normalised inputs of the address and no-BSN fallback key domains.
//! - [`person`]: a person from the person registry, and the development registry file.
//! - [`regions`]: the known regions and their municipalities (domain.md "Municipalities").
//! - [`clock`]: the one clock every date rule reads; settable in development, never in production.
//! - [`tls`]: mutual TLS for servers and clients, and the caller's identity from its certificate.
//! - [`db`]: connecting to SQLite or PostgreSQL through sqlx and running migrations.
//! - [`localfed`]: the address book of the local development federation (for `virctl`).
//! - [`limits`]: the transport limits every gRPC server applies (`[limits]` in each config).
//! - [`service`]: a handle to a running server task (address, shutdown).
//! - [`health`]: the plaintext gRPC health listener for orchestrators, and its probe.
//! - [`metrics`]: Prometheus registry per service, RPC latency layer, the `/metrics` listener.
//! - [`reflection`]: the gRPC reflection service every server carries.
//! - [`report`]: policy report tables with small-cell suppression (also by difference), CSV, SVG.
//! - [`telemetry`]: tracing set-up for binaries; [`binary`]: signals, health listener and the
//!   one-line error exit the service binaries share.

pub mod binary;
pub mod bsn;
pub mod clock;
pub mod db;
pub mod devregistry;
pub mod envelope;
pub mod fallback;
pub mod health;
pub mod ids;
pub mod keys;
pub mod limits;
pub mod localfed;
pub mod metrics;
pub mod person;
pub mod ports;
pub mod reflection;
pub mod regions;
pub mod report;
pub mod service;
pub mod telemetry;
pub mod tls;

pub use bsn::Bsn;
pub use clock::{Clock, SharedClock};
pub use ids::{MunicipalityCode, Oin, Postcode, RegionCode};
