//! The kinds of hub match and the rule that picks one for a pair of signals from their keys.
//!
//! Two active signals of different regions match on (strongest first):
//! - CLIENT: equal person keys, the same youth (Jeugdwet 7.1.2.3 c);
//! - FAMILY: a parent key of one equals a parent key of the other, different youths with a
//!   common parent (7.1.2.3 e; 001 Q14-15). Half-siblings share one parent and match; cousins
//!   share grandparents only, which are never sent, and do not;
//! - ADDRESS: equal address keys (7.1.2.3 d; 002 art. 1 "Match" 2b). A node sends an address
//!   key only when its region has address matching on, so a pair needs it on in both regions;
//! - CANDIDATE: equal fallback keys (surname, birth date, gender) where at least one signal has
//!   no person key (002 art. 8.5-8.7). Two signals with person keys are two known people: their
//!   person keys decide, never their names.
//!
//! Keys compare by value AND version: keys of different versions never match. A pair has at
//! most one active match, of the strongest kind that applies ([`strongest`]). The rule is
//! symmetric, so the result does not depend on which signal arrived first.

use vir_proto as pb;
use vir_shared::keys::KEY_LEN;

/// A key as stored: value and version.
pub type StoredKey = ([u8; KEY_LEN], i64);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Candidate,
    Address,
    Family,
    Client,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Client => "client",
            Kind::Family => "family",
            Kind::Address => "address",
            Kind::Candidate => "candidate",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        [Kind::Client, Kind::Family, Kind::Address, Kind::Candidate]
            .into_iter()
            .find(|k| k.label() == s)
    }

    pub fn to_proto(self) -> pb::MatchKind {
        match self {
            Kind::Client => pb::MatchKind::Client,
            Kind::Family => pb::MatchKind::Family,
            Kind::Address => pb::MatchKind::Address,
            Kind::Candidate => pb::MatchKind::Candidate,
        }
    }
}

/// Every key of one signal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignalKeys {
    pub person: Option<StoredKey>,
    pub parents: Vec<StoredKey>,
    pub address: Option<StoredKey>,
    pub fallback: Option<StoredKey>,
}

impl SignalKeys {
    /// The (role, key) rows of `signal_keys` for these keys.
    pub(super) fn role_rows(&self) -> Vec<(&'static str, StoredKey)> {
        let mut rows: Vec<(&'static str, StoredKey)> =
            self.parents.iter().map(|k| ("parent", *k)).collect();
        rows.extend(self.address.map(|k| ("address", k)));
        rows.extend(self.fallback.map(|k| ("fallback", k)));
        rows.sort();
        rows.dedup();
        rows
    }
}

fn equal(a: &Option<StoredKey>, b: &Option<StoredKey>) -> bool {
    matches!((a, b), (Some(a), Some(b)) if a == b)
}

/// The kind of match between two signals of different regions, if any (see the module docs).
pub fn strongest(a: &SignalKeys, b: &SignalKeys) -> Option<Kind> {
    if equal(&a.person, &b.person) {
        return Some(Kind::Client);
    }
    if a.parents.iter().any(|p| b.parents.contains(p)) {
        return Some(Kind::Family);
    }
    if equal(&a.address, &b.address) {
        return Some(Kind::Address);
    }
    let one_without_bsn = a.person.is_none() || b.person.is_none();
    if one_without_bsn && equal(&a.fallback, &b.fallback) {
        return Some(Kind::Candidate);
    }
    None
}

/// Whether the basis of an existing match of `kind` is known to be gone with the keys as they
/// are now. Keys of different versions (a rotation under way) cannot be compared: the match
/// stays until both sides carry keys of one version.
pub fn basis_gone(kind: Kind, a: &SignalKeys, b: &SignalKeys) -> bool {
    let comparable = |x: &[StoredKey], y: &[StoredKey]| {
        x.is_empty() || y.is_empty() || x.iter().any(|k| y.iter().any(|l| l.1 == k.1))
    };
    let as_slice = |k: &Option<StoredKey>| k.iter().copied().collect::<Vec<_>>();
    match kind {
        // A changed person key of the same version ends every match when it arrives.
        Kind::Client => false,
        Kind::Family => {
            comparable(&a.parents, &b.parents) && !a.parents.iter().any(|p| b.parents.contains(p))
        }
        Kind::Address => {
            let (x, y) = (as_slice(&a.address), as_slice(&b.address));
            comparable(&x, &y) && !equal(&a.address, &b.address)
        }
        Kind::Candidate => {
            let (x, y) = (as_slice(&a.fallback), as_slice(&b.fallback));
            let both_known = a.person.is_some() && b.person.is_some();
            both_known || (comparable(&x, &y) && !equal(&a.fallback, &b.fallback))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(byte: u8) -> StoredKey {
        ([byte; KEY_LEN], 1)
    }

    fn keys(person: Option<u8>, parents: &[u8], address: Option<u8>, fallback: u8) -> SignalKeys {
        SignalKeys {
            person: person.map(k),
            parents: parents.iter().copied().map(k).collect(),
            address: address.map(k),
            fallback: Some(k(fallback)),
        }
    }

    #[test]
    fn the_strongest_kind_wins() {
        let youth = keys(Some(1), &[10, 11], Some(20), 30);
        // The same youth signalled elsewhere: client, though parents and address agree too.
        assert_eq!(strongest(&youth, &youth), Some(Kind::Client));
        let sibling = keys(Some(2), &[10, 11], Some(20), 31);
        assert_eq!(strongest(&youth, &sibling), Some(Kind::Family));
        let half_sibling = keys(Some(3), &[11, 12], None, 32);
        assert_eq!(strongest(&youth, &half_sibling), Some(Kind::Family));
        // Cousins: their parents are siblings, not the same people.
        let cousin = keys(Some(4), &[13, 14], None, 33);
        assert_eq!(strongest(&youth, &cousin), None);
        let neighbour = keys(Some(5), &[15], Some(20), 34);
        assert_eq!(strongest(&youth, &neighbour), Some(Kind::Address));
        // Address off in one region: no address key there, no match.
        let far_neighbour = keys(Some(5), &[15], None, 34);
        assert_eq!(strongest(&youth, &far_neighbour), None);
    }

    #[test]
    fn fallback_keys_only_match_a_signal_without_a_bsn() {
        let known = keys(Some(1), &[], None, 30);
        let twin_name = keys(Some(2), &[], None, 30);
        assert_eq!(strongest(&known, &twin_name), None);
        let without_bsn = keys(None, &[], None, 30);
        assert_eq!(strongest(&known, &without_bsn), Some(Kind::Candidate));
        assert_eq!(strongest(&without_bsn, &known), Some(Kind::Candidate));
        assert_eq!(strongest(&without_bsn, &without_bsn), Some(Kind::Candidate));
    }

    #[test]
    fn a_basis_is_gone_only_when_comparable() {
        let a = keys(Some(1), &[10], None, 30);
        let b = keys(Some(2), &[10], None, 31);
        assert!(!basis_gone(Kind::Family, &a, &b));
        let parents_changed = keys(Some(1), &[12], None, 30);
        assert!(basis_gone(Kind::Family, &parents_changed, &b));
        let rotated = SignalKeys {
            parents: vec![([12; KEY_LEN], 2)],
            ..a.clone()
        };
        assert!(!basis_gone(Kind::Family, &rotated, &b), "versions differ");
        // A candidate gives way once both sides are known by their BSN.
        let without_bsn = keys(None, &[], None, 30);
        assert!(!basis_gone(Kind::Candidate, &without_bsn, &a));
        let linked = keys(Some(9), &[], None, 30);
        assert!(basis_gone(Kind::Candidate, &linked, &a));
        assert_eq!(Kind::parse("family"), Some(Kind::Family));
        assert!(Kind::Client > Kind::Family && Kind::Address > Kind::Candidate);
    }
}
