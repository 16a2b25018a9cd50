//! A party to a match: who the other professional is and how to reach them. It is what a
//! notification names (003 Bijlage 2), what a node seals for another node in an envelope, and
//! what the receiving node stores when it opens one. Never anything about the concern.

use std::fmt;

use serde::{Deserialize, Serialize};
use vir_proto as pb;
use vir_shared::RegionCode;

use crate::signal::{Contact, Signal};

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Party {
    pub organisation: String,
    pub oin: String,
    /// A partner category (`Category::as_str`); free text when it comes from another node.
    pub category: String,
    pub contact: Contact,
    pub region: String,
    /// YYYY-MM-DD.
    pub signalled_on: String,
    /// The party's own signal id: a local signal id, or the other node's opaque signal_ref.
    /// Lets "nobody is told twice about the same party" be checked.
    #[serde(default)]
    pub signal_ref: String,
}

impl fmt::Debug for Party {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Party")
            .field("oin", &self.oin)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

/// The most a sealed party may hold once opened: far above any honest one, a bound on what a
/// misbehaving node can make this node store.
pub const MAX_PARTY_JSON: usize = 8 * 1024;

impl Party {
    /// The signaller of a local signal, as told to others.
    pub fn of_signal(signal: &Signal, region: &RegionCode) -> Party {
        Party {
            organisation: signal.organisation.clone(),
            oin: signal.partner_oin.to_string(),
            category: signal.category.as_str().to_owned(),
            contact: signal.signaller.clone(),
            region: region.to_string(),
            signalled_on: crate::store::format_date(signal.signalled_on()),
            signal_ref: signal.id.clone(),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses a party that came from another node (opened envelope): bounded and well-formed.
    pub fn from_json(bytes: &[u8]) -> Option<Party> {
        if bytes.len() > MAX_PARTY_JSON {
            return None;
        }
        serde_json::from_slice(bytes).ok()
    }

    pub fn to_proto(&self) -> pb::MatchParty {
        pb::MatchParty {
            organisation: self.organisation.clone(),
            organisation_oin: self.oin.clone(),
            category: self.category.clone(),
            signaller: Some(pb::Contact::from(&self.contact)),
            region: self.region.clone(),
            signalled_on: self.signalled_on.clone(),
            contact_pending: false,
        }
    }

    /// A cross-regional party whose sealed details have not arrived (yet).
    pub fn pending_proto(region: &str) -> pb::MatchParty {
        pb::MatchParty {
            region: region.to_owned(),
            contact_pending: true,
            ..Default::default()
        }
    }
}

pub fn parties_to_json(parties: &[Party]) -> String {
    serde_json::to_string(parties).unwrap_or_else(|_| "[]".into())
}

pub fn parties_from_json(text: &str) -> Option<Vec<Party>> {
    serde_json::from_str(text).ok()
}
