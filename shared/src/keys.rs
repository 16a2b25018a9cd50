//! Pseudonymised keys as the hub sees them: an OPRF output in a key domain, with a key version.
//!
//! Design (domain.md "Pseudonymisation"): a key is not a hash of a BSN. Nodes get it from the
//! pseudonymiser through an oblivious PRF (RFC 9497, ristretto255-SHA512), which never sees the
//! input and holds the only secret, so neither the hub nor anyone with the hub's data can test
//! the 91 million possible BSNs. Each domain has its own secret, so a person key never equals an
//! address key. Parents use the person domain: a parent's key equals their key as a person.

use std::fmt;

use vir_proto as pb;

/// The OPRF output length of ristretto255-SHA512.
pub const KEY_LEN: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyDomain {
    Person,
    Address,
    Fallback,
}

impl KeyDomain {
    /// A stable label, used in the OPRF key derivation and in storage.
    pub fn label(self) -> &'static str {
        match self {
            KeyDomain::Person => "person",
            KeyDomain::Address => "address",
            KeyDomain::Fallback => "fallback",
        }
    }

    pub const ALL: [KeyDomain; 3] = [KeyDomain::Person, KeyDomain::Address, KeyDomain::Fallback];
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("key domain is missing or unknown")]
    Domain,
    #[error("key version must be 1 or higher")]
    Version,
    #[error("a key is {KEY_LEN} bytes, got {0}")]
    Length(usize),
    #[error("expected a {expected} key, got a {got} key")]
    WrongDomain {
        expected: &'static str,
        got: &'static str,
    },
}

impl TryFrom<i32> for KeyDomain {
    type Error = KeyError;
    fn try_from(v: i32) -> Result<Self, KeyError> {
        match pb::KeyDomain::try_from(v) {
            Ok(pb::KeyDomain::Person) => Ok(KeyDomain::Person),
            Ok(pb::KeyDomain::Address) => Ok(KeyDomain::Address),
            Ok(pb::KeyDomain::Fallback) => Ok(KeyDomain::Fallback),
            _ => Err(KeyError::Domain),
        }
    }
}

impl From<KeyDomain> for pb::KeyDomain {
    fn from(d: KeyDomain) -> Self {
        match d {
            KeyDomain::Person => pb::KeyDomain::Person,
            KeyDomain::Address => pb::KeyDomain::Address,
            KeyDomain::Fallback => pb::KeyDomain::Fallback,
        }
    }
}

/// A pseudonymised key. `Debug` shows only a short prefix.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PseudoKey {
    pub domain: KeyDomain,
    pub version: u32,
    pub value: [u8; KEY_LEN],
}

impl PseudoKey {
    /// Checks the domain too: a key from the wrong domain is refused, not silently used.
    pub fn expect_domain(self, expected: KeyDomain) -> Result<Self, KeyError> {
        if self.domain == expected {
            Ok(self)
        } else {
            Err(KeyError::WrongDomain {
                expected: expected.label(),
                got: self.domain.label(),
            })
        }
    }

    pub fn hex(&self) -> String {
        hex::encode(self.value)
    }
}

impl fmt::Debug for PseudoKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PseudoKey({}/v{}/{}…)",
            self.domain.label(),
            self.version,
            &hex::encode(&self.value[..4])
        )
    }
}

impl TryFrom<pb::PseudoKey> for PseudoKey {
    type Error = KeyError;
    fn try_from(k: pb::PseudoKey) -> Result<Self, KeyError> {
        let domain = KeyDomain::try_from(k.domain)?;
        if k.version == 0 {
            return Err(KeyError::Version);
        }
        let value: [u8; KEY_LEN] = k
            .value
            .as_slice()
            .try_into()
            .map_err(|_| KeyError::Length(k.value.len()))?;
        Ok(PseudoKey {
            domain,
            version: k.version,
            value,
        })
    }
}

impl From<&PseudoKey> for pb::PseudoKey {
    fn from(k: &PseudoKey) -> Self {
        pb::PseudoKey {
            domain: pb::KeyDomain::from(k.domain) as i32,
            version: k.version,
            value: k.value.to_vec(),
        }
    }
}
