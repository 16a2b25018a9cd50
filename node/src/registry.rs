//! The person registry the node resolves a BSN against (BRP through BV BSN in production;
//! 003 art. 8.1-8.3: identity fields come from the registry, not from the signaller).
//!
//! [`PersonRegistry`] is the seam: the file-backed [`FileRegistry`] serves development and
//! tests; a BRP adapter would implement the same trait (and could cache, since lookups are
//! synchronous and cheap by contract; a slow remote registry would be wrapped in a cache that is
//! refreshed outside the request path).
//!
//! The registry also delivers **changes** ([`PersonRegistry::changes`]): a move (new address
//! and municipality), a death, a change of parents. BRP delivers these as mutations for the
//! persons an afnemer follows; the development file is re-read when it changes on disk (written
//! by `virctl dev registry …`) and compared with what was loaded. The node treats an event as a
//! hint and compares the registry with what it recorded ([`crate::verhuizing`]), so a lost or
//! repeated event changes nothing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};
use std::time::SystemTime;

use chrono::NaiveDate;
use vir_shared::person::{Address, Person, RegistryFile};
use vir_shared::{Bsn, MunicipalityCode};

/// What changed about a person.
#[derive(Clone, PartialEq, Eq)]
pub enum RegistryChange {
    /// A new address, possibly in another municipality.
    Moved {
        municipality: MunicipalityCode,
        address: Address,
    },
    Died {
        on: NaiveDate,
    },
    ParentsChanged {
        parents: Vec<Bsn>,
    },
}

/// One change of one person. `Debug` names neither the person nor the address.
#[derive(Clone, PartialEq, Eq)]
pub struct RegistryEvent {
    pub bsn: Bsn,
    pub change: RegistryChange,
}

impl RegistryEvent {
    pub fn kind(&self) -> &'static str {
        match self.change {
            RegistryChange::Moved { .. } => "moved",
            RegistryChange::Died { .. } => "died",
            RegistryChange::ParentsChanged { .. } => "parents_changed",
        }
    }
}

impl std::fmt::Debug for RegistryEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryEvent")
            .field("kind", &self.kind())
            .finish_non_exhaustive()
    }
}

/// The events that turn `old` into `new`, per person known to both (a death first).
pub fn diff(old: &Person, new: &Person) -> Vec<RegistryEvent> {
    let mut events = Vec::new();
    let event = |change| RegistryEvent {
        bsn: new.bsn.clone(),
        change,
    };
    if let (None, Some(on)) = (old.death_date, new.death_date) {
        events.push(event(RegistryChange::Died { on }));
    }
    if old.municipality != new.municipality || old.address != new.address {
        events.push(event(RegistryChange::Moved {
            municipality: new.municipality.clone(),
            address: new.address.clone(),
        }));
    }
    if old.parents != new.parents {
        events.push(event(RegistryChange::ParentsChanged {
            parents: new.parents.clone(),
        }));
    }
    events
}

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

    /// The changes since the last call (see the module docs). A registry that cannot tell
    /// returns none; the node then finds changes by its periodic comparison only.
    fn changes(&self) -> Vec<RegistryEvent> {
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

/// The development registry: the whole JSON file indexed by BSN in memory, re-read when the
/// file changes ([`PersonRegistry::changes`]).
pub struct FileRegistry {
    index: RwLock<Index>,
    /// The file and the modification stamp of what was loaded; `None` for one made in memory.
    source: Option<(PathBuf, Mutex<Option<Stamp>>)>,
}

/// Modification time and length of the loaded file.
type Stamp = (SystemTime, u64);

struct Index {
    people: HashMap<Bsn, Person>,
    /// BSNs by fallback identity, for [`PersonRegistry::search`].
    by_fallback: HashMap<String, Vec<Bsn>>,
}

impl std::fmt::Debug for FileRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileRegistry")
            .field("people", &self.len())
            .finish()
    }
}

fn stamp_of(path: &Path) -> Option<Stamp> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

impl FileRegistry {
    /// Reads and indexes a registry file (`vir_shared::person::RegistryFile` as JSON).
    pub fn load(path: &Path) -> Result<FileRegistry, RegistryError> {
        let stamp = stamp_of(path);
        let mut registry = Self::read(path)?;
        registry.source = Some((path.to_owned(), Mutex::new(stamp)));
        Ok(registry)
    }

    fn read(path: &Path) -> Result<FileRegistry, RegistryError> {
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
            index: RwLock::new(Index {
                people,
                by_fallback,
            }),
            source: None,
        })
    }

    pub fn len(&self) -> usize {
        self.index.read().map_or(0, |i| i.people.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Re-reads the file if it changed since it was loaded, and returns what changed. A file
    /// that cannot be read or parsed (being written) is tried again at the next call.
    pub fn reload_if_changed(&self) -> Vec<RegistryEvent> {
        let Some((path, loaded)) = &self.source else {
            return Vec::new();
        };
        let now = stamp_of(path);
        let Ok(mut loaded) = loaded.lock() else {
            return Vec::new();
        };
        if now.is_none() || now == *loaded {
            return Vec::new();
        }
        let fresh = match Self::read(path) {
            Ok(fresh) => fresh,
            Err(e) => {
                tracing::warn!(error = %e, "person registry changed but cannot be read; will retry");
                return Vec::new();
            }
        };
        let Ok(fresh) = fresh.index.into_inner() else {
            return Vec::new();
        };
        let Ok(mut index) = self.index.write() else {
            return Vec::new();
        };
        let mut events = Vec::new();
        for (bsn, person) in &fresh.people {
            if let Some(old) = index.people.get(bsn) {
                events.extend(diff(old, person));
            }
        }
        *index = fresh;
        *loaded = now;
        tracing::info!(events = events.len(), "person registry reloaded");
        events
    }
}

impl PersonRegistry for FileRegistry {
    fn lookup(&self, bsn: &Bsn) -> Option<Person> {
        self.index.read().ok()?.people.get(bsn).cloned()
    }

    fn search(&self, fallback_input: &str) -> Vec<Person> {
        let Ok(index) = self.index.read() else {
            return Vec::new();
        };
        index
            .by_fallback
            .get(fallback_input)
            .into_iter()
            .flatten()
            .filter_map(|bsn| index.people.get(bsn).cloned())
            .collect()
    }

    fn changes(&self) -> Vec<RegistryEvent> {
        self.reload_if_changed()
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
    fn a_changed_file_gives_move_death_and_parent_events() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.json");
        let mut file = RegistryFile {
            people: vec![person("111222333"), person("123456782")],
        };
        std::fs::write(&path, serde_json::to_vec(&file).unwrap()).unwrap();
        let reg = FileRegistry::load(&path).unwrap();
        assert!(reg.changes().is_empty(), "nothing changed yet");

        file.people[0].municipality = "0935".parse().unwrap();
        file.people[0].address.postcode = "6211AB".parse().unwrap();
        file.people[1].death_date = NaiveDate::from_ymd_opt(2026, 1, 2);
        file.people[1].parents = vec!["111222333".parse().unwrap()];
        // A different length, so the change shows even where mtimes are coarse.
        file.people[0].address.street = "Vrijthof plein".into();
        std::fs::write(&path, serde_json::to_vec(&file).unwrap()).unwrap();
        let mut kinds: Vec<&str> = reg.changes().iter().map(RegistryEvent::kind).collect();
        kinds.sort();
        assert_eq!(kinds, ["died", "moved", "parents_changed"]);
        let moved = reg.lookup(&"111222333".parse().unwrap()).unwrap();
        assert_eq!(
            moved.municipality.as_str(),
            "0935",
            "lookups see the new file"
        );
        assert!(reg.changes().is_empty(), "each change is reported once");
    }

    #[test]
    fn refuses_duplicates() {
        let file = RegistryFile {
            people: vec![person("111222333"), person("111222333")],
        };
        assert_eq!(FileRegistry::from_file(file).unwrap_err(), 1);
    }
}
