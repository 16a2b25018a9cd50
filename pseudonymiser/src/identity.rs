//! Who is calling: the OIN in the verified client certificate, mapped to a configured node.
//!
//! The TLS layer has already checked the chain against the federation root; this interceptor
//! reads the OIN from the leaf, refuses an OIN that is not a configured node with
//! PERMISSION_DENIED, and puts the [`Caller`] in the request extensions. Handlers take the
//! caller from there and never from a message field; a `region` in a message is only a claim,
//! checked with [`Caller::check_region_claim`].
//!
//! Refusals are logged with the OIN and the reason, never with anything from the request body.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tonic::service::Interceptor;
use tonic::{Request, Status};
use vir_shared::{Oin, RegionCode};

use crate::config::NodeEntry;
use crate::service::Metrics;

/// A configured node whose certificate verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub oin: Oin,
    pub region: RegionCode,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("OIN {0} is not a node of this federation")]
    UnknownOin(Oin),
    #[error("the request claims region {claimed:?}, but the certificate of OIN {oin} belongs to region {actual}")]
    RegionMismatch {
        oin: Oin,
        claimed: String,
        actual: RegionCode,
    },
}

impl From<IdentityError> for Status {
    fn from(e: IdentityError) -> Status {
        Status::permission_denied(e.to_string())
    }
}

impl Caller {
    /// An empty claim is allowed (the certificate says who is calling); a different region is
    /// a spoofing attempt and refused.
    pub fn check_region_claim(&self, claimed: &str) -> Result<(), IdentityError> {
        if claimed.is_empty() || claimed == self.region.as_str() {
            Ok(())
        } else {
            Err(IdentityError::RegionMismatch {
                oin: self.oin.clone(),
                claimed: claimed.to_owned(),
                actual: self.region.clone(),
            })
        }
    }
}

/// The interceptor that maps a certificate to a [`Caller`].
#[derive(Debug, Clone)]
pub struct Authenticator {
    nodes: Arc<HashMap<Oin, RegionCode>>,
    metrics: Arc<Metrics>,
}

impl Authenticator {
    pub fn new(nodes: &[NodeEntry], metrics: Arc<Metrics>) -> Authenticator {
        let nodes = nodes
            .iter()
            .map(|n| (n.oin.clone(), n.region.clone()))
            .collect();
        Authenticator {
            nodes: Arc::new(nodes),
            metrics,
        }
    }

    pub fn lookup(&self, oin: &Oin) -> Result<Caller, IdentityError> {
        self.nodes
            .get(oin)
            .map(|region| Caller {
                oin: oin.clone(),
                region: region.clone(),
            })
            .ok_or_else(|| IdentityError::UnknownOin(oin.clone()))
    }
}

impl Interceptor for Authenticator {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let peer = vir_shared::tls::peer_cert(&request)?;
        match self.lookup(&peer.oin) {
            Ok(caller) => {
                request.extensions_mut().insert(caller);
                Ok(request)
            }
            Err(e) => {
                self.metrics
                    .refused_identity
                    .fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    oin = %peer.oin,
                    reason = %e,
                    event = "caller_refused",
                    "refused a caller that is not a configured node"
                );
                Err(e.into())
            }
        }
    }
}

/// The caller the interceptor put in the request. Missing only if the service was mounted
/// without the interceptor, which is a bug, not a client error.
pub fn caller<T>(request: &Request<T>) -> Result<Caller, Status> {
    request
        .extensions()
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| Status::internal("caller identity missing"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_claims() {
        let caller = Caller {
            oin: "00000099000000000001".parse().unwrap(),
            region: "drenthe".parse().unwrap(),
        };
        assert!(caller.check_region_claim("").is_ok());
        assert!(caller.check_region_claim("drenthe").is_ok());
        let err = caller.check_region_claim("twente").unwrap_err();
        assert!(matches!(err, IdentityError::RegionMismatch { .. }));
        assert_eq!(Status::from(err).code(), tonic::Code::PermissionDenied);
    }

    #[test]
    fn unknown_oin() {
        let auth = Authenticator::new(
            &[NodeEntry {
                oin: "00000099000000000001".parse().unwrap(),
                region: "drenthe".parse().unwrap(),
            }],
            Arc::default(),
        );
        let stranger: Oin = "00000099000000000002".parse().unwrap();
        assert_eq!(
            auth.lookup(&stranger),
            Err(IdentityError::UnknownOin(stranger))
        );
    }
}
