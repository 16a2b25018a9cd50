//! Identifiers that are validated once, at the edge, and cannot hold invalid values afterwards.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("an OIN has exactly 20 digits, got {0:?}")]
    Oin(String),
    #[error("a region code is 2-40 lowercase letters, digits or '-', got {0:?}")]
    Region(String),
    #[error("a CBS municipality code has exactly 4 digits, got {0:?}")]
    Municipality(String),
    #[error("not a Dutch postcode (four digits, not starting with 0, and two letters other than SA, SD, SS): {0:?}")]
    Postcode(String),
}

macro_rules! string_id {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                s.parse()
            }
        }
        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }
    };
}

/// Organisation identification number: 20 digits. Test OINs start with `00000099`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Oin(String);
string_id!(Oin);

impl Oin {
    /// The prefix of OINs reserved for testing (domain.md "Identifiers").
    pub const TEST_PREFIX: &'static str = "00000099";

    pub fn is_test(&self) -> bool {
        self.0.starts_with(Self::TEST_PREFIX)
    }
}

impl FromStr for Oin {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let t = s.trim();
        if t.len() == 20 && t.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Oin(t.to_owned()))
        } else {
            Err(IdError::Oin(s.to_owned()))
        }
    }
}

/// A region's code, e.g. `drenthe`, `zuid-limburg`, `hoeksche-waard`. Regions are added by
/// configuration, so this checks the form, not a fixed list.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RegionCode(String);
string_id!(RegionCode);

impl FromStr for RegionCode {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let ok = (2..=40).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-');
        if ok {
            Ok(RegionCode(s.to_owned()))
        } else {
            Err(IdError::Region(s.to_owned()))
        }
    }
}

/// A CBS gemeentecode: 4 digits, e.g. `0106` for Assen.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MunicipalityCode(String);
string_id!(MunicipalityCode);

impl FromStr for MunicipalityCode {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let t = s.trim();
        if t.len() == 4 && t.bytes().all(|b| b.is_ascii_digit()) {
            Ok(MunicipalityCode(t.to_owned()))
        } else {
            Err(IdError::Municipality(s.to_owned()))
        }
    }
}

/// A Dutch postcode, normalised to `1234AB` (spaces removed, upper case).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Postcode(String);
string_id!(Postcode);

impl FromStr for Postcode {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let t: String = s
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_uppercase();
        let b = t.as_bytes();
        let ok = b.len() == 6
            && (b'1'..=b'9').contains(&b[0])
            && b[1..4].iter().all(u8::is_ascii_digit)
            && b[4..6].iter().all(u8::is_ascii_uppercase)
            && !matches!(&t[4..6], "SA" | "SD" | "SS");
        if ok {
            Ok(Postcode(t))
        } else {
            Err(IdError::Postcode(s.to_owned()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oin() {
        assert!("00000099123456780000".parse::<Oin>().unwrap().is_test());
        assert!("0000009912345678000".parse::<Oin>().is_err());
    }

    #[test]
    fn postcode_normalises_and_rejects_unissued_letters() {
        assert_eq!("9401 ab".parse::<Postcode>().unwrap().as_str(), "9401AB");
        assert!("0401AB".parse::<Postcode>().is_err());
        assert!("9401SS".parse::<Postcode>().is_err());
        assert!("9401A".parse::<Postcode>().is_err());
    }

    #[test]
    fn region_and_municipality() {
        assert!("zuid-limburg".parse::<RegionCode>().is_ok());
        assert!("Zuid Limburg".parse::<RegionCode>().is_err());
        assert!("0106".parse::<MunicipalityCode>().is_ok());
        assert!("106".parse::<MunicipalityCode>().is_err());
    }
}
