//! The person registry the node resolves a BSN against (BRP through BV BSN in production;
//! 003 art. 8.1-8.3: identity fields come from the registry, not from the signaller).
//!
//! [`PersonRegistry`] is the seam: the file-backed [`FileRegistry`] serves development and
//! tests; a BRP adapter would implement the same trait (and could cache, since lookups are
//! synchronous and cheap by contract; a slow remote registry would be wrapped in a cache that is
//! refreshed outside the request path).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use vir_shared::person::{Person, RegistryFile};
use vir_shared::Bsn;

/// Looks people up by BSN. `None`: the registry does not know this BSN.
pub trait PersonRegistry: Send + Sync {
    fn lookup(&self, bsn: &Bsn) -> Option<Person>;

    /// The people with this fallback identity (`vir_shared::fallback::fallback_input`:
    /// normalised surname, birth date, gender), for a signal without a BSN (003 art. 8.3:
    /// resolve against the registry). A registry that cannot search returns none.
    fn search(&self, fallback_input: &str) -> Vec<Person> {
        let _ = fallback_input;
        Vec::new()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("reading the person registry {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a person registry file: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{path}: a BSN occurs more than once (entry {index})")]
    Duplicate { path: PathBuf, index: usize },
}

/// The development registry: the whole JSON file indexed by BSN in memory.
pub struct FileRegistry {
    people: HashMap<Bsn, Person>,
    /// BSNs by fallback identity, for [`PersonRegistry::search`].
    by_fallback: HashMap<String, Vec<Bsn>>,
}

impl std::fmt::Debug for FileRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileRegistry")
            .field("people", &self.people.len())
            .finish()
    }
}

impl FileRegistry {
    /// Reads and indexes a registry file (`vir_shared::person::RegistryFile` as JSON).
    pub fn load(path: &Path) -> Result<FileRegistry, RegistryError> {
        let bytes = std::fs::read(path).map_err(|source| RegistryError::Read {
            path: path.to_owned(),
            source,
        })?;
        let file: RegistryFile =
            serde_json::from_slice(&bytes).map_err(|source| RegistryError::Parse {
                path: path.to_owned(),
                source,
            })?;
        Self::from_file(file).map_err(|index| RegistryError::Duplicate {
            path: path.to_owned(),
            index,
        })
    }

    /// Indexes people already in memory. Err(index) of the first repeated BSN: a registry
    /// that gives two people one BSN cannot be trusted to say who a signal is about.
    pub fn from_file(file: RegistryFile) -> Result<FileRegistry, usize> {
        let mut people = HashMap::with_capacity(file.people.len());
        let mut by_fallback: HashMap<String, Vec<Bsn>> = HashMap::new();
        for (index, person) in file.people.into_iter().enumerate() {
            by_fallback
                .entry(vir_shared::fallback::fallback_input_of(&person))
                .or_default()
                .push(person.bsn.clone());
            if people.insert(person.bsn.clone(), person).is_some() {
                return Err(index);
            }
        }
        Ok(FileRegistry {
            people,
            by_fallback,
        })
    }

    pub fn len(&self) -> usize {
        self.people.len()
    }

    pub fn is_empty(&self) -> bool {
        self.people.is_empty()
    }
}

impl PersonRegistry for FileRegistry {
    fn lookup(&self, bsn: &Bsn) -> Option<Person> {
        self.people.get(bsn).cloned()
    }

    fn search(&self, fallback_input: &str) -> Vec<Person> {
        self.by_fallback
            .get(fallback_input)
            .into_iter()
            .flatten()
            .filter_map(|bsn| self.people.get(bsn).cloned())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use vir_shared::person::{Address, Gender};

    pub(crate) fn person(bsn: &str) -> Person {
        Person {
            bsn: bsn.parse().unwrap(),
            given_names: "Anna Maria".into(),
            surname_prefix: "van der".into(),
            surname: "Berg".into(),
            gender: Gender::Female,
            birth_date: NaiveDate::from_ymd_opt(2015, 3, 1).unwrap(),
            address: Address {
                street: "Markt".into(),
                house_number: 1,
                addition: None,
                postcode: "9401AB".parse().unwrap(),
                city: "Assen".into(),
            },
            municipality: "0106".parse().unwrap(),
            parents: vec![],
            death_date: None,
        }
    }

    #[test]
    fn loads_and_looks_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.json");
        let file = RegistryFile {
            people: vec![person("111222333"), person("123456782")],
        };
        std::fs::write(&path, serde_json::to_vec(&file).unwrap()).unwrap();
        let reg = FileRegistry::load(&path).unwrap();
        assert_eq!(reg.len(), 2);
        assert!(reg.lookup(&"111222333".parse().unwrap()).is_some());
        assert!(reg.lookup(&Bsn::from_prefix(10_000_001).unwrap()).is_none());
    }

    #[test]
    fn searches_by_fallback_identity() {
        let file = RegistryFile {
            people: vec![person("111222333"), person("123456782")],
        };
        let reg = FileRegistry::from_file(file).unwrap();
        let found = reg.search("berg|2015-03-01|V");
        assert_eq!(found.len(), 2, "both are Anna Maria van der Berg");
        assert!(reg.search("berg|2015-03-02|V").is_empty());
    }

    #[test]
    fn refuses_duplicates() {
        let file = RegistryFile {
            people: vec![person("111222333"), person("111222333")],
        };
        assert_eq!(FileRegistry::from_file(file).unwrap_err(), 1);
    }
}
