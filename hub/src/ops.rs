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
    Remove { signal_ref: SignalRef },
    Relay(Relay),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upsert {
    pub signal_ref: SignalRef,
    /// Always a person-domain key.
    pub person_key: PseudoKey,
    pub municipality: MunicipalityCode,
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
            None => return Err(err("op", "missing: upsert, remove or relay".into())),
            Some(pb::operation::Op::Upsert(u)) => {
                let signal_ref =
                    SignalRef::parse(u.signal_ref).map_err(|r| err("upsert.signal_ref", r))?;
                let key = u
                    .person_key
                    .ok_or_else(|| err("upsert.person_key", "missing".into()))?;
                let person_key = PseudoKey::try_from(key)
                    .and_then(|k| k.expect_domain(KeyDomain::Person))
                    .map_err(|e| err("upsert.person_key", e.to_string()))?;
                let municipality = u
                    .municipality
                    .parse::<MunicipalityCode>()
                    .map_err(|e| err("upsert.municipality", e.to_string()))?;
                Op::Upsert(Upsert {
                    signal_ref,
                    person_key,
                    municipality,
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
        };
        Ok(Operation { op_id, op })
    }
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
