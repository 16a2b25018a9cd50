//! Certificate tooling for the federation: a PKIoverheid-style development PKI, the leaf
//! certificates of services, nodes and partner organisations, and the synthetic person registry.
//!
//! Module map:
//! - [`DevPki`] (`pki`): the root → domain CA → issuing CA hierarchy on disk, created fresh or
//!   loaded again to issue more leaves.
//! - `leaf`: [`DevPki::issue_service`], [`DevPki::issue_node`] (with the node's certified HPKE
//!   key), [`DevPki::issue_client`] and [`DevPki::issue_client_valid`]; [`test_oin`] and
//!   [`read_hpke_private_key`].
//! - [`inspect`]: a readable summary of a certificate file, for operators.
//! - [`registry`]: the deterministic synthetic person registry (families over the three regions).
//! - `files`: writing keys with mode 0600, and leaf directory names that cannot escape the PKI.
//!
//! Architecture invariants: every private key (CA, leaf, HPKE) is written with mode 0600; every
//! leaf carries the organisation's OIN in its subject `serialNumber`, which is how the services
//! know who calls; a leaf's `cert.pem` is the chain without the root, which peers must already
//! trust.
//!
//! A fresh PKI per test, as the integration tests use it:
//!
//! ```
//! use vir_certs::{test_oin, DevPki};
//! use vir_shared::tls::{load_certs, verify_chain};
//!
//! # fn main() -> anyhow::Result<()> {
//! let dir = tempfile::tempdir()?;
//! let pki = DevPki::create(dir.path(), "VIR Dev")?;
//! let hub = pki.issue_service("hub", "VIR Hub", &test_oin(1), "localhost")?;
//! let node = pki.issue_node("node-drenthe", &"drenthe".parse()?, &test_oin(2), "localhost")?;
//! let school = pki.issue_client("school", "OBS De Regenboog", &test_oin(3))?;
//!
//! // What a node does before sealing an envelope to another node's HPKE key.
//! let chain: Vec<Vec<u8>> = load_certs(&node.tls.cert)?
//!     .iter()
//!     .map(|c| c.as_ref().to_vec())
//!     .collect();
//! let peer = verify_chain(&chain, &pki.root_path(), rustls_pki_types::UnixTime::now())?;
//! assert_eq!(peer.organisational_unit.as_deref(), Some("drenthe"));
//! assert_eq!(peer.hpke_public_key, Some(node.hpke_public_key));
//! # let _ = (hub, school);
//! # Ok(())
//! # }
//! ```
//!
//! The same from the command line: `vir-certs dev-pki --dir pki`, then `vir-certs issue-node
//! --dir pki --name node-drenthe --region drenthe --oin 00000099000000000002 --host localhost`,
//! and `vir-certs inspect pki/node-drenthe/cert.pem` to check the result.

pub mod check;
mod crl;
pub mod csr;
mod files;
pub mod inspect;
mod leaf;
mod pki;
pub mod region;
pub mod registry;

pub use leaf::{read_hpke_private_key, test_oin, NodeCredentials};
pub use pki::DevPki;
pub use vir_shared::tls::TlsPaths;
