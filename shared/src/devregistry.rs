//! Changing the development person registry file, so operators and tests can simulate what the
//! BRP reports: a move, a death, a change of parents (issue 5). Nodes re-read the file when it
//! changes and act on the difference (`vir_node::registry`). Development only: production
//! nodes read the BRP, which nobody changes from here.
//!
//! The file is replaced atomically (written next to it, then renamed), so a node never reads
//! half a file.

use std::path::Path;

use anyhow::Context;
use chrono::NaiveDate;

use crate::person::{Address, Person, RegistryFile};
use crate::{Bsn, MunicipalityCode};

/// A CBS code as given on a command line: `0935` or `GM0935`.
pub fn parse_municipality(text: &str) -> anyhow::Result<MunicipalityCode> {
    let t = text.trim();
    let digits = t
        .strip_prefix("GM")
        .or_else(|| t.strip_prefix("gm"))
        .unwrap_or(t);
    digits
        .parse()
        .with_context(|| format!("{text:?} is not a CBS municipality code (0935 or GM0935)"))
}

pub fn read(path: &Path) -> anyhow::Result<RegistryFile> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&bytes)
        .with_context(|| format!("{}: not a person registry file", path.display()))
}

/// Writes the file atomically (a temporary file in the same folder, then a rename).
pub fn write(path: &Path, file: &RegistryFile) -> anyhow::Result<()> {
    let json = serde_json::to_vec_pretty(file).context("serialising the registry")?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, json).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))
}

/// Applies `change` to the person with `bsn` and writes the file; returns the person as now.
pub fn change(
    path: &Path,
    bsn: &Bsn,
    change: impl FnOnce(&mut Person) -> anyhow::Result<()>,
) -> anyhow::Result<Person> {
    let mut file = read(path)?;
    let person = file
        .people
        .iter_mut()
        .find(|p| &p.bsn == bsn)
        .ok_or_else(|| anyhow::anyhow!("the registry has no person with this BSN"))?;
    change(person)?;
    let changed = person.clone();
    write(path, &file)?;
    Ok(changed)
}

/// A move to `address` in `municipality`.
pub fn move_person(
    path: &Path,
    bsn: &Bsn,
    municipality: MunicipalityCode,
    address: Address,
) -> anyhow::Result<Person> {
    change(path, bsn, |p| {
        if p.address == address && p.municipality == municipality {
            anyhow::bail!("the person already lives at this address");
        }
        p.municipality = municipality;
        p.address = address;
        Ok(())
    })
}

/// A death on `on`.
pub fn record_death(path: &Path, bsn: &Bsn, on: NaiveDate) -> anyhow::Result<Person> {
    change(path, bsn, |p| {
        if p.death_date.is_some() {
            anyhow::bail!("the registry already records this person's death");
        }
        p.death_date = Some(on);
        Ok(())
    })
}

/// New legal parents (adoption, recognition).
pub fn set_parents(path: &Path, bsn: &Bsn, parents: Vec<Bsn>) -> anyhow::Result<Person> {
    change(path, bsn, |p| {
        p.parents = parents;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::person::Gender;

    fn person(bsn: &str) -> Person {
        Person {
            bsn: bsn.parse().unwrap(),
            given_names: "Anna".into(),
            surname_prefix: String::new(),
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
    fn moves_deaths_and_parents_are_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.json");
        write(
            &path,
            &RegistryFile {
                people: vec![person("111222333")],
            },
        )
        .unwrap();
        let bsn: Bsn = "111222333".parse().unwrap();
        let address = Address {
            street: "Vrijthof".into(),
            house_number: 3,
            addition: None,
            postcode: "6211LD".parse().unwrap(),
            city: "Maastricht".into(),
        };
        let municipality = parse_municipality("GM0935").unwrap();
        move_person(&path, &bsn, municipality.clone(), address.clone()).unwrap();
        assert!(
            move_person(&path, &bsn, municipality, address).is_err(),
            "a move to the same address is refused"
        );
        record_death(&path, &bsn, NaiveDate::from_ymd_opt(2026, 5, 1).unwrap()).unwrap();
        set_parents(&path, &bsn, vec!["123456782".parse().unwrap()]).unwrap();
        let p = &read(&path).unwrap().people[0];
        assert_eq!(p.municipality.as_str(), "0935");
        assert_eq!(p.address.city, "Maastricht");
        assert!(p.death_date.is_some());
        assert_eq!(p.parents.len(), 1);
        assert!(parse_municipality("GM93").is_err());
        assert!(change(&path, &"123456782".parse().unwrap(), |_| Ok(())).is_err());
    }
}
