//! Who is calling: the OIN in the verified client certificate, mapped to a configured node
//! (its region) or an operator. Never a field in a message; a `region` field is only a claim
//! that is checked against the certificate. Every refusal is logged with the OIN and reason.

use std::collections::HashMap;

use tonic::{Request, Status};
use vir_shared::{Oin, RegionCode};

use crate::config::HubConfig;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    Node { oin: Oin, region: RegionCode },
    Operator { oin: Oin },
}

impl Caller {
    pub fn oin(&self) -> &Oin {
        match self {
            Caller::Node { oin, .. } | Caller::Operator { oin } => oin,
        }
    }
}

/// The configured identities, by OIN.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    by_oin: HashMap<Oin, Caller>,
}

impl Directory {
    pub fn from_config(config: &HubConfig) -> Directory {
        let mut by_oin = HashMap::new();
        for oin in &config.operators {
            by_oin.insert(oin.clone(), Caller::Operator { oin: oin.clone() });
        }
        for node in &config.nodes {
            let caller = Caller::Node {
                oin: node.oin.clone(),
                region: node.region.clone(),
            };
            by_oin.insert(node.oin.clone(), caller);
        }
        Directory { by_oin }
    }

    /// The caller of a request: PERMISSION_DENIED for a certificate whose OIN is not configured.
    pub fn caller<T>(&self, request: &Request<T>, rpc: &'static str) -> Result<Caller, Status> {
        let cert = vir_shared::tls::peer_cert(request)?;
        self.by_oin.get(&cert.oin).cloned().ok_or_else(|| {
            refuse(&cert.oin, rpc, "OIN is not a configured node or operator");
            Status::permission_denied(format!("OIN {} is not known to the hub", cert.oin))
        })
    }

    /// The calling node's region, checked against the region it claims in the request.
    pub fn node<T>(
        &self,
        request: &Request<T>,
        rpc: &'static str,
        claimed_region: &str,
    ) -> Result<(Oin, RegionCode), Status> {
        match self.caller(request, rpc)? {
            Caller::Node { oin, region } => {
                if claimed_region != region.as_str() {
                    refuse(&oin, rpc, "claimed region differs from the certificate's");
                    return Err(Status::permission_denied(format!(
                        "this certificate belongs to region {region}, not {claimed_region:?}"
                    )));
                }
                Ok((oin, region))
            }
            Caller::Operator { oin } => {
                refuse(&oin, rpc, "operator certificate used for a node call");
                Err(Status::permission_denied(
                    "only node certificates may call this",
                ))
            }
        }
    }
}

fn refuse(oin: &Oin, rpc: &'static str, reason: &'static str) {
    tracing::warn!(%oin, rpc, reason, event = "access_refused", "request refused");
}
