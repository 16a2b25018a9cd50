//! A regional index node of the federated Verwijsindex.
//!
//! A node holds its region's signals with full identity data, matches them inside the region,
//! tells the partners' professionals who else is involved, and forwards pseudonymised keys
//! only to the national hub, whose feed brings cross-regional matches back.
//!
//! Module map:
//! - [`config`]: the TOML configuration ([`NodeConfig`]).
//! - [`registry`]: the person registry seam ([`registry::PersonRegistry`]) and the dev file.
//! - [`signal`], [`party`]: a signal and a match party, checked at the edge.
//! - [`store`]: SQL per table family on SQLite or PostgreSQL, with the migrations.
//! - [`matching`]: regional client matching and who is told what (003 Bijlage 2).
//! - [`index`]: the operations and their transactions ([`index::RegionalIndex`]).
//! - [`api`]: the partner API (gRPC `Node`), identity from the client certificate.
//! - [`forwarder`]: drains the outbox to `Hub.Submit`, with person keys from the pseudonymiser.
//! - [`rekey`]: after a pseudonymiser key rotation, re-keys the youths of the active national
//!   signals and upserts them again, so no cross-regional match is lost.
//! - [`feed`]: follows `Hub.Subscribe`, applying each item exactly once; [`remote`]: what an
//!   item does (cross-regional matches, sealed envelopes).
//! - [`rules`]: the region's rules as settings, and the pure rule functions (lifetime, working
//!   days, regie, age bands); [`lifecycle`] (the scheduler: expiry, archive, destruction,
//!   reminders), [`followup`] (after a match: consultation, informing prompt, regie),
//!   [`regie`], [`deadlines`], [`informing`], [`rights`], [`inzage`] and [`accesslog`] (NEN
//!   7513) apply them; [`rules_api`] serves them.
//! - Family, address and candidate matches and signals without a BSN (issue 4): [`facts`]
//!   (what the registry says of a youth: parents, address, fallback identity),
//!   [`family`] (regional family and address matches, candidate proposals), [`nobsn`]
//!   (verwijsindexnummer, linking to a BSN), [`candidates`] (the administrator's decisions),
//!   [`nobsn_api`] serves them.
//! - Verhuizing (issue 5): [`verhuizing`] (registry events: a move gives isverhuisd, a move out
//!   of the region goes to the hub, a death destroys everywhere), [`verhuizing_remote`] (the
//!   hub's move items: the sealed hand-over package, inverhuis, the hand-over offer),
//!   [`verhuizing_api`] serves them.
//! - The people's side (issue 7): [`web`] (the web UI for professionals and administrators,
//!   calling the same [`api::NodeApi`] in-process) and [`mail`] (notifications mailed with a
//!   deep link only, through a durable outbox).
//! - [`server`]: [`spawn`], which starts all of it.

pub mod accesslog;
pub mod api;
pub mod archive;
pub mod candidates;
pub mod config;
pub mod deadlines;
pub mod destroy;
pub mod facts;
pub mod family;
pub mod feed;
pub mod followup;
pub mod forwarder;
pub mod index;
pub mod informing;
pub mod inzage;
pub mod inzage_remote;
pub mod keyinputs;
pub mod lifecycle;
pub mod mail;
pub mod matching;
pub mod metrics;
pub mod nobsn;
pub mod nobsn_api;
pub mod party;
pub mod regie;
pub mod registry;
pub mod rekey;
pub mod remote;
pub mod reports;
pub mod rights;
pub mod rules;
pub mod rules_api;
pub mod server;
pub mod signal;
pub mod store;
pub mod verhuizing;
pub mod verhuizing_api;
pub mod verhuizing_remote;
pub mod web;

pub use config::NodeConfig;
pub use server::{spawn, spawn_with_registry};
