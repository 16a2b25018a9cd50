//! A node's outbox operations, validated at the edge into types that cannot hold invalid values.
//!
//! A `Submit` is parsed completely before anything is written: one bad operation refuses the
//! whole request with INVALID_ARGUMENT naming the op id and the field, and nothing is applied.

use std::fmt;

use vir_proto as pb;
use vir_shared::keys::{KeyDomain, PseudoKey};
use vir_shared::{MunicipalityCode, RegionCode};

use crate::error::HubError;

/// Longest opaque signal reference a node may use (a UUID is 36).
pub const MAX_SIGNAL_REF_LEN: usize = 64;
/// Largest sealed envelope the hub relays. Contact details sealed with HPKE are far smaller.
pub const MAX_SEALED_LEN: usize = 16 * 1024;
/// Most operations in one `Submit`, so one request cannot hold the writer for long.
pub const MAX_OPS_PER_SUBMIT: usize = 10_000;

/// A node-chosen, opaque signal reference: 1 to 64 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SignalRef(String);

impl SignalRef {
    pub fn parse(s: String) -> Result<SignalRef, String> {
        if s.is_empty() {
            return Err("must not be empty".into());
        }
        if s.chars().count() > MAX_SIGNAL_REF_LEN {
            return Err(format!("longer than {MAX_SIGNAL_REF_LEN} characters"));
        }
        if s.chars().any(char::is_control) {
            return Err("contains control characters".into());
        }
        Ok(SignalRef(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SignalRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One validated operation with the node's outbox id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    pub op_id: u64,
    pub op: Op,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Upsert(Upsert),
    Remove {
        signal_ref: SignalRef,
    },
    Relay(Relay),
    InzageRequest(InzageRequest),
    InzageAnswer(InzageAnswer),
    MoveOut(MoveOut),
    /// The sealed hand-over package of a routed move (to_region's Inverhuis).
    MoveHandover(SealedForMove),
    /// The receiving officer's hand-over offer back to the sending region (002 art. 15).
    HandoverOffer(SealedForMove),
    /// A youth died: erase these signals of the sender and all about them (003 art. 16.5).
    Forget {
        signal_refs: Vec<SignalRef>,
    },
}

/// Verhuizing: a youth with active signals moved out of the sender's region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoveOut {
    pub move_id: String,
    pub person_key: PseudoKey,
    pub municipality: MunicipalityCode,
}

/// A sealed package about a move, for another region's node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedForMove {
    pub move_id: String,
    pub to_region: RegionCode,
    pub sealed: Vec<u8>,
}

/// Most signal refs one `forget` may carry (a youth has a handful of signals, archive included).
pub const MAX_FORGET_REFS: usize = 1000;

/// Inzage: ask the other regions with a signal on this person key for their export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InzageRequest {
    pub request_id: String,
    pub person_key: PseudoKey,
}

/// A sealed inzage export for the requesting region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InzageAnswer {
    pub request_id: String,
    pub to_region: RegionCode,
    pub sealed: Vec<u8>,
}

/// Most parent keys one upsert may carry: two legal parents, with room for a registry in the
/// middle of a change (adoption, recognition).
pub const MAX_PARENT_KEYS: usize = 4;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upsert {
    pub signal_ref: SignalRef,
    /// A person-domain key; None for a signal without a BSN, which has a fallback key instead.
    pub person_key: Option<PseudoKey>,
    pub municipality: MunicipalityCode,
    /// Person-domain keys of the youth's parents (family matches, Jeugdwet 7.1.2.3 e).
    pub parent_keys: Vec<PseudoKey>,
    /// Address-domain key, only from a region with address matching on.
    pub address_key: Option<PseudoKey>,
    /// Fallback-domain key (candidate matches, 002 art. 8.5-8.7).
    pub fallback_key: Option<PseudoKey>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relay {
    /// Normalised (lower-case, hyphenated) UUID of a hub match.
    pub match_id: String,
    pub to_region: RegionCode,
    pub about_signal_ref: SignalRef,
    pub sealed: Vec<u8>,
}

/// Why an operation was refused: which one, which field, what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpError {
    pub op_id: u64,
    pub field: &'static str,
    pub reason: String,
}

impl From<OpError> for HubError {
    fn from(e: OpError) -> Self {
        HubError::invalid(format!("operation {}: {}: {}", e.op_id, e.field, e.reason))
    }
}

impl TryFrom<pb::Operation> for Operation {
    type Error = OpError;

    fn try_from(operation: pb::Operation) -> Result<Self, OpError> {
        let op_id = operation.op_id;
        let err = |field: &'static str, reason: String| OpError {
            op_id,
            field,
            reason,
        };
        if op_id == 0 || op_id > i64::MAX as u64 {
            return Err(err("op_id", format!("must be between 1 and {}", i64::MAX)));
        }
        let op = match operation.op {
            None => {
                return Err(err(
                    "op",
                    "missing: upsert, remove, relay, inzage_request, inzage_answer, move_out, \
                     move_handover, handover_offer or forget"
                        .into(),
                ))
            }
            Some(pb::operation::Op::Upsert(u)) => {
                let signal_ref =
                    SignalRef::parse(u.signal_ref).map_err(|r| err("upsert.signal_ref", r))?;
                let key_in = |field: &'static str, key: pb::PseudoKey, domain: KeyDomain| {
                    PseudoKey::try_from(key)
                        .and_then(|k| k.expect_domain(domain))
                        .map_err(|e| err(field, e.to_string()))
                };
                let person_key = u
                    .person_key
                    .map(|k| key_in("upsert.person_key", k, KeyDomain::Person))
                    .transpose()?;
                let fallback_key = u
                    .fallback_key
                    .map(|k| key_in("upsert.fallback_key", k, KeyDomain::Fallback))
                    .transpose()?;
                if person_key.is_none() && fallback_key.is_none() {
                    return Err(err(
                        "upsert.person_key",
                        "missing (a signal without a BSN carries a fallback_key)".into(),
                    ));
                }
                if u.parent_keys.len() > MAX_PARENT_KEYS {
                    return Err(err(
                        "upsert.parent_keys",
                        format!("at most {MAX_PARENT_KEYS}, got {}", u.parent_keys.len()),
                    ));
                }
                let parent_keys = u
                    .parent_keys
                    .into_iter()
                    .map(|k| key_in("upsert.parent_keys", k, KeyDomain::Person))
                    .collect::<Result<Vec<_>, _>>()?;
                let address_key = u
                    .address_key
                    .map(|k| key_in("upsert.address_key", k, KeyDomain::Address))
                    .transpose()?;
                let municipality = u
                    .municipality
                    .parse::<MunicipalityCode>()
                    .map_err(|e| err("upsert.municipality", e.to_string()))?;
                Op::Upsert(Upsert {
                    signal_ref,
                    person_key,
                    municipality,
                    parent_keys,
                    address_key,
                    fallback_key,
                })
            }
            Some(pb::operation::Op::Remove(r)) => Op::Remove {
                signal_ref: SignalRef::parse(r.signal_ref)
                    .map_err(|r| err("remove.signal_ref", r))?,
            },
            Some(pb::operation::Op::Relay(r)) => {
                let match_id = uuid::Uuid::parse_str(&r.match_id)
                    .map_err(|_| err("relay.match_id", "not a hub match id".into()))?
                    .hyphenated()
                    .to_string();
                let to_region = r
                    .to_region
                    .parse::<RegionCode>()
                    .map_err(|e| err("relay.to_region", e.to_string()))?;
                let about_signal_ref = SignalRef::parse(r.about_signal_ref)
                    .map_err(|r| err("relay.about_signal_ref", r))?;
                if r.sealed.is_empty() || r.sealed.len() > MAX_SEALED_LEN {
                    return Err(err(
                        "relay.sealed",
                        format!(
                            "must be 1 to {MAX_SEALED_LEN} bytes, got {}",
                            r.sealed.len()
                        ),
                    ));
                }
                Op::Relay(Relay {
                    match_id,
                    to_region,
                    about_signal_ref,
                    sealed: r.sealed,
                })
            }
            Some(pb::operation::Op::InzageRequest(r)) => Op::InzageRequest(InzageRequest {
                request_id: request_id(r.request_id)
                    .map_err(|r| err("inzage_request.request_id", r))?,
                person_key: r
                    .person_key
                    .ok_or_else(|| err("inzage_request.person_key", "missing".into()))
                    .and_then(|k| {
                        PseudoKey::try_from(k)
                            .and_then(|k| k.expect_domain(KeyDomain::Person))
                            .map_err(|e| err("inzage_request.person_key", e.to_string()))
                    })?,
            }),
            Some(pb::operation::Op::InzageAnswer(a)) => {
                let request_id =
                    request_id(a.request_id).map_err(|r| err("inzage_answer.request_id", r))?;
                let to_region = a
                    .to_region
                    .parse::<RegionCode>()
                    .map_err(|e| err("inzage_answer.to_region", e.to_string()))?;
                if a.sealed.is_empty() || a.sealed.len() > MAX_INZAGE_SEALED_LEN {
                    return Err(err(
                        "inzage_answer.sealed",
                        format!(
                            "must be 1 to {MAX_INZAGE_SEALED_LEN} bytes, got {}",
                            a.sealed.len()
                        ),
                    ));
                }
                Op::InzageAnswer(InzageAnswer {
                    request_id,
                    to_region,
                    sealed: a.sealed,
                })
            }
            Some(pb::operation::Op::MoveOut(m)) => Op::MoveOut(MoveOut {
                move_id: request_id(m.move_id).map_err(|r| err("move_out.move_id", r))?,
                person_key: m
                    .person_key
                    .ok_or_else(|| err("move_out.person_key", "missing".into()))
                    .and_then(|k| {
                        PseudoKey::try_from(k)
                            .and_then(|k| k.expect_domain(KeyDomain::Person))
                            .map_err(|e| err("move_out.person_key", e.to_string()))
                    })?,
                municipality: m
                    .municipality
                    .parse::<MunicipalityCode>()
                    .map_err(|e| err("move_out.municipality", e.to_string()))?,
            }),
            Some(pb::operation::Op::MoveHandover(h)) => Op::MoveHandover(
                sealed_for_move(h.move_id, h.to_region, h.sealed, "move_handover")
                    .map_err(|(field, reason)| err(field, reason))?,
            ),
            Some(pb::operation::Op::HandoverOffer(h)) => Op::HandoverOffer(
                sealed_for_move(h.move_id, h.to_region, h.sealed, "handover_offer")
                    .map_err(|(field, reason)| err(field, reason))?,
            ),
            Some(pb::operation::Op::Forget(f)) => {
                if f.signal_refs.is_empty() || f.signal_refs.len() > MAX_FORGET_REFS {
                    return Err(err(
                        "forget.signal_refs",
                        format!(
                            "must be 1 to {MAX_FORGET_REFS}, got {}",
                            f.signal_refs.len()
                        ),
                    ));
                }
                Op::Forget {
                    signal_refs: f
                        .signal_refs
                        .into_iter()
                        .map(|r| SignalRef::parse(r).map_err(|r| err("forget.signal_refs", r)))
                        .collect::<Result<_, _>>()?,
                }
            }
        };
        Ok(Operation { op_id, op })
    }
}

/// A sealed package about a move: a UUID move id, a region, 1 to [`MAX_SEALED_LEN`] bytes.
fn sealed_for_move(
    move_id: String,
    to_region: String,
    sealed: Vec<u8>,
    what: &'static str,
) -> Result<SealedForMove, (&'static str, String)> {
    let field = |name: &'static str| -> &'static str {
        match (what, name) {
            ("move_handover", "move_id") => "move_handover.move_id",
            ("move_handover", "to_region") => "move_handover.to_region",
            ("move_handover", _) => "move_handover.sealed",
            (_, "move_id") => "handover_offer.move_id",
            (_, "to_region") => "handover_offer.to_region",
            _ => "handover_offer.sealed",
        }
    };
    let move_id = request_id(move_id).map_err(|r| (field("move_id"), r))?;
    let to_region = to_region
        .parse::<RegionCode>()
        .map_err(|e| (field("to_region"), e.to_string()))?;
    if sealed.is_empty() || sealed.len() > MAX_SEALED_LEN {
        return Err((
            field("sealed"),
            format!("must be 1 to {MAX_SEALED_LEN} bytes, got {}", sealed.len()),
        ));
    }
    Ok(SealedForMove {
        move_id,
        to_region,
        sealed,
    })
}

/// Largest sealed inzage export the hub relays: a region's export for one youth (signals,
/// matches, disclosures, access log) is larger than a party's contact details.
pub const MAX_INZAGE_SEALED_LEN: usize = 1024 * 1024;

/// A node-chosen inzage request id: a UUID, normalised to lower-case hyphenated.
fn request_id(s: String) -> Result<String, String> {
    uuid::Uuid::parse_str(&s)
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| "not a UUID".into())
}

/// Validates a whole request: every operation, at most [`MAX_OPS_PER_SUBMIT`] of them, with
/// strictly increasing op ids.
pub fn parse_batch(operations: Vec<pb::Operation>) -> Result<Vec<Operation>, HubError> {
    if operations.len() > MAX_OPS_PER_SUBMIT {
        return Err(HubError::invalid(format!(
            "operations: at most {MAX_OPS_PER_SUBMIT} per request, got {}",
            operations.len()
        )));
    }
    let mut parsed: Vec<Operation> = Vec::with_capacity(operations.len());
    for operation in operations {
        let operation = Operation::try_from(operation)?;
        if let Some(previous) = parsed.last() {
            if operation.op_id <= previous.op_id {
                return Err(HubError::invalid(format!(
                    "operation {}: op_id: must be greater than the previous op_id {}",
                    operation.op_id, previous.op_id
                )));
            }
        }
        parsed.push(operation);
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upsert(op_id: u64, key_len: usize, domain: pb::KeyDomain) -> pb::Operation {
        pb::Operation {
            op_id,
            op: Some(pb::operation::Op::Upsert(pb::SignalUpsert {
                signal_ref: "s-1".into(),
                person_key: Some(pb::PseudoKey {
                    domain: domain as i32,
                    version: 1,
                    value: vec![7; key_len],
                }),
                municipality: "0106".into(),
                ..Default::default()
            })),
        }
    }

    fn message(e: HubError) -> String {
        e.to_string()
    }

    #[test]
    fn valid_batch_parses() {
        let ops = vec![
            upsert(1, 64, pb::KeyDomain::Person),
            upsert(2, 64, pb::KeyDomain::Person),
        ];
        assert_eq!(parse_batch(ops).unwrap().len(), 2);
    }

    #[test]
    fn errors_name_the_op_and_field() {
        let e = message(parse_batch(vec![upsert(5, 63, pb::KeyDomain::Person)]).unwrap_err());
        assert!(
            e.contains("operation 5") && e.contains("upsert.person_key"),
            "{e}"
        );
        let e = message(parse_batch(vec![upsert(6, 64, pb::KeyDomain::Address)]).unwrap_err());
        assert!(e.contains("operation 6") && e.contains("person"), "{e}");
        let e = message(parse_batch(vec![upsert(0, 64, pb::KeyDomain::Person)]).unwrap_err());
        assert!(e.contains("op_id"), "{e}");
    }

    #[test]
    fn family_address_and_fallback_keys_are_checked() {
        let key = |domain: pb::KeyDomain| pb::PseudoKey {
            domain: domain as i32,
            version: 1,
            value: vec![1; 64],
        };
        let with = |f: &dyn Fn(&mut pb::SignalUpsert)| {
            let mut op = upsert(9, 64, pb::KeyDomain::Person);
            if let Some(pb::operation::Op::Upsert(u)) = op.op.as_mut() {
                f(u);
            }
            parse_batch(vec![op])
        };
        let ok = with(&|u| {
            u.parent_keys = vec![key(pb::KeyDomain::Person); 2];
            u.address_key = Some(key(pb::KeyDomain::Address));
            u.fallback_key = Some(key(pb::KeyDomain::Fallback));
        })
        .unwrap();
        let Op::Upsert(u) = &ok[0].op else {
            panic!("an upsert")
        };
        assert_eq!(u.parent_keys.len(), 2);
        assert!(u.address_key.is_some() && u.fallback_key.is_some());
        // Without a BSN: a fallback key instead of a person key.
        assert!(with(&|u| {
            u.person_key = None;
            u.fallback_key = Some(key(pb::KeyDomain::Fallback));
        })
        .is_ok());
        let e = message(with(&|u| u.person_key = None).unwrap_err());
        assert!(e.contains("upsert.person_key"), "{e}");
        let e = message(with(&|u| u.address_key = Some(key(pb::KeyDomain::Person))).unwrap_err());
        assert!(e.contains("upsert.address_key"), "{e}");
        let e = message(with(&|u| u.parent_keys = vec![key(pb::KeyDomain::Fallback)]).unwrap_err());
        assert!(e.contains("upsert.parent_keys"), "{e}");
        let e =
            message(with(&|u| u.parent_keys = vec![key(pb::KeyDomain::Person); 5]).unwrap_err());
        assert!(e.contains("at most"), "{e}");
    }

    #[test]
    fn move_operations_are_checked() {
        let move_out = |key: Option<pb::PseudoKey>, municipality: &str| pb::Operation {
            op_id: 4,
            op: Some(pb::operation::Op::MoveOut(pb::MoveOut {
                move_id: uuid::Uuid::new_v4().to_string(),
                person_key: key,
                municipality: municipality.into(),
            })),
        };
        let key = pb::PseudoKey {
            domain: pb::KeyDomain::Person as i32,
            version: 1,
            value: vec![3; 64],
        };
        assert!(parse_batch(vec![move_out(Some(key.clone()), "0935")]).is_ok());
        let e = message(parse_batch(vec![move_out(None, "0935")]).unwrap_err());
        assert!(e.contains("move_out.person_key"), "{e}");
        let e = message(parse_batch(vec![move_out(Some(key), "GM")]).unwrap_err());
        assert!(e.contains("move_out.municipality"), "{e}");
        let handover = |sealed: Vec<u8>| pb::Operation {
            op_id: 5,
            op: Some(pb::operation::Op::MoveHandover(pb::MoveHandover {
                move_id: uuid::Uuid::new_v4().to_string(),
                to_region: "zuid-limburg".into(),
                sealed,
            })),
        };
        assert!(parse_batch(vec![handover(vec![1; 64])]).is_ok());
        let e = message(parse_batch(vec![handover(Vec::new())]).unwrap_err());
        assert!(e.contains("move_handover.sealed"), "{e}");
        let forget = pb::Operation {
            op_id: 6,
            op: Some(pb::operation::Op::Forget(pb::PersonForget {
                signal_refs: Vec::new(),
            })),
        };
        let e = message(parse_batch(vec![forget]).unwrap_err());
        assert!(e.contains("forget.signal_refs"), "{e}");
    }

    #[test]
    fn op_ids_must_increase() {
        let ops = vec![
            upsert(3, 64, pb::KeyDomain::Person),
            upsert(3, 64, pb::KeyDomain::Person),
        ];
        let e = message(parse_batch(ops).unwrap_err());
        assert!(e.contains("greater than"), "{e}");
    }

    #[test]
    fn signal_refs_are_bounded() {
        assert!(SignalRef::parse(String::new()).is_err());
        assert!(SignalRef::parse("x".repeat(65)).is_err());
        assert!(SignalRef::parse("a\nb".into()).is_err());
        assert!(SignalRef::parse("x".repeat(64)).is_ok());
    }
}
