//! The burgerservicenummer: 9 digits passing the 11-test (domain.md "Identifiers").
//!
//! A `Bsn` can only be built from a valid number, and its `Debug` form is redacted so that a
//! BSN never ends up in a log line by accident.

use std::fmt;
use std::str::FromStr;

/// A BSN that passed the 11-test. `Display` gives the 9 digits; `Debug` is redacted.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Bsn(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BsnError {
    #[error("a BSN has exactly 9 digits")]
    Format,
    #[error("the BSN fails the 11-test")]
    Checksum,
}

impl Bsn {
    /// The 9 digits, for storage and for the OPRF input. Never log this.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Builds a valid BSN from its first 8 digits by choosing the check digit, if one exists.
    /// Used by the synthetic registry generator and tests.
    pub fn from_prefix(prefix: u32) -> Option<Bsn> {
        if prefix > 99_999_999 {
            return None;
        }
        let digits = format!("{prefix:08}");
        let sum: i64 = digits
            .bytes()
            .zip([9i64, 8, 7, 6, 5, 4, 3, 2])
            .map(|(d, w)| i64::from(d - b'0') * w)
            .sum();
        // sum - last ≡ 0 (mod 11), last in 0..=9
        let last = sum % 11;
        if last > 9 || sum == 0 {
            return None;
        }
        format!("{digits}{last}").parse().ok()
    }
}

/// The 11-test: weights 9..2 and -1 on the last digit; the sum is divisible by 11 and not 0.
fn passes_eleven_test(digits: &[u8]) -> bool {
    let weights = [9i64, 8, 7, 6, 5, 4, 3, 2, -1];
    let sum: i64 = digits
        .iter()
        .zip(weights)
        .map(|(d, w)| i64::from(d - b'0') * w)
        .sum();
    sum != 0 && sum % 11 == 0
}

impl FromStr for Bsn {
    type Err = BsnError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.len() != 9 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(BsnError::Format);
        }
        if !passes_eleven_test(s.as_bytes()) {
            return Err(BsnError::Checksum);
        }
        Ok(Bsn(s.to_owned()))
    }
}

impl fmt::Display for Bsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Bsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Bsn(<redacted>)")
    }
}

impl serde::Serialize for Bsn {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Bsn {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_valid_and_rejects_invalid() {
        assert!("111222333".parse::<Bsn>().is_ok());
        assert!("123456782".parse::<Bsn>().is_ok());
        assert_eq!("123456789".parse::<Bsn>(), Err(BsnError::Checksum));
        assert_eq!("12345678".parse::<Bsn>(), Err(BsnError::Format));
        assert_eq!("12345678a".parse::<Bsn>(), Err(BsnError::Format));
        assert_eq!("000000000".parse::<Bsn>(), Err(BsnError::Checksum));
    }

    #[test]
    fn from_prefix_makes_valid_numbers() {
        let mut made = 0;
        for p in 10_000_000..10_000_200 {
            if let Some(b) = Bsn::from_prefix(p) {
                assert!(b.as_str().parse::<Bsn>().is_ok());
                made += 1;
            }
        }
        assert!(made > 150, "most prefixes have a check digit, got {made}");
    }

    #[test]
    fn debug_is_redacted() {
        let b: Bsn = "123456782".parse().unwrap();
        assert!(!format!("{b:?}").contains("123456782"));
    }
}
