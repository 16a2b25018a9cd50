//! Certificate tooling for the federation: a PKIoverheid-style development PKI, the leaf
//! certificates of services, nodes and partner organisations, and the synthetic person registry.
//!
//! Module map:
//! - [`DevPki`] (`pki`): the root → domain CA → issuing CA hierarchy on disk, created fresh or
//!   loaded again to issue more leaves.
//! - `leaf`: [`DevPki::issue_service`], [`DevPki::issue_node`] (with the node's certified HPKE
//!   key), [`DevPki::issue_client`]; [`test_oin`] and [`read_hpke_private_key`].
//! - [`inspect`]: a readable summary of a certificate file, for operators.
//! - [`registry`]: the deterministic synthetic person registry (families over the three regions).
//!
//! Architecture invariants: every private key is written with mode 0600; every leaf carries the
//! organisation's OIN in its subject `serialNumber`, which is how the services know who calls.

mod files;
pub mod inspect;
mod leaf;
mod pki;
pub mod registry;

pub use leaf::{read_hpke_private_key, test_oin, NodeCredentials};
pub use pki::DevPki;
pub use vir_shared::tls::TlsPaths;
