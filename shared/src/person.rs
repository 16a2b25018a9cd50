//! A person as the person registry (BRP through BV BSN) gives it, and the file format of the
//! synthetic development registry. Only nodes hold these; nothing here ever reaches the hub.

use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::{Bsn, MunicipalityCode, Postcode};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Gender {
    Male,
    Female,
    Unknown,
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Address {
    pub street: String,
    pub house_number: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addition: Option<String>,
    pub postcode: Postcode,
    pub city: String,
}

/// Personal data: `Debug` is redacted so it cannot end up in a log.
impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Address(<redacted>)")
    }
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Person {
    pub bsn: Bsn,
    pub given_names: String,
    /// Dutch surname prefix ("van der", "de", "'t"), empty if none.
    #[serde(default)]
    pub surname_prefix: String,
    pub surname: String,
    pub gender: Gender,
    pub birth_date: NaiveDate,
    pub address: Address,
    /// CBS code of the municipality of residence.
    pub municipality: MunicipalityCode,
    /// BSNs of the legal parents per the registry.
    #[serde(default)]
    pub parents: Vec<Bsn>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub death_date: Option<NaiveDate>,
}

impl Person {
    /// "J. van der Berg": initials and full surname, for display to the signaller only.
    pub fn display_name(&self) -> String {
        let initials: String = self
            .given_names
            .split_whitespace()
            .filter_map(|n| n.chars().next())
            .map(|c| format!("{c}."))
            .collect();
        let prefix = if self.surname_prefix.is_empty() {
            String::new()
        } else {
            format!("{} ", self.surname_prefix)
        };
        format!("{initials} {prefix}{}", self.surname)
    }

    /// Age in whole years on `date`.
    pub fn age_on(&self, date: NaiveDate) -> u32 {
        date.years_since(self.birth_date).unwrap_or(0)
    }
}

impl fmt::Debug for Person {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Person(<redacted>)")
    }
}

/// The synthetic registry file: `{"people": [...]}` as JSON.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryFile {
    pub people: Vec<Person>,
}
