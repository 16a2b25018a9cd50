//! The synthetic registry holds what the nodes rely on: valid unique BSNs, parents present,
//! plausible ages, families that cross regions, and the same file for the same seed.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;
use vir_certs::registry;
use vir_shared::person::{Person, RegistryFile};
use vir_shared::regions::region_of_municipality;
use vir_shared::Bsn;

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, 1).unwrap()
}

fn sample() -> RegistryFile {
    registry::generate_on(7, 300, today())
}

fn region_of(person: &Person) -> &'static str {
    region_of_municipality(person.municipality.as_str())
        .expect("every municipality belongs to a shipped region")
        .code
}

#[test]
fn every_bsn_is_valid_and_unique() {
    let reg = sample();
    let mut seen = HashSet::new();
    for person in &reg.people {
        assert!(person.bsn.as_str().parse::<Bsn>().is_ok());
        assert!(seen.insert(person.bsn.clone()), "duplicate BSN");
    }
    assert!(
        reg.people.len() >= 300 * 2,
        "households have at least a parent and a child"
    );
}

#[test]
fn children_have_their_parents_in_the_file_and_are_younger() {
    let reg = sample();
    let by_bsn: HashMap<&Bsn, &Person> = reg.people.iter().map(|p| (&p.bsn, p)).collect();
    let mut children = 0;
    for child in reg.people.iter().filter(|p| !p.parents.is_empty()) {
        assert!(child.parents.len() <= 2);
        for bsn in &child.parents {
            let parent = by_bsn.get(bsn).expect("parent is in the registry");
            assert!(parent.age_on(today()) >= child.age_on(today()) + 18);
        }
        // Adults with parents listed are the siblings of a cousin structure (kin.rs).
        if child.age_on(today()) >= 23 {
            continue;
        }
        children += 1;
        assert!(child.death_date.is_none());
        for bsn in &child.parents {
            let parent = by_bsn[bsn];
            assert!((25..=55).contains(&parent.age_on(today())));
        }
    }
    assert!(children >= 300);
}

#[test]
fn some_families_cross_a_regional_border() {
    let reg = sample();
    let by_bsn: HashMap<&Bsn, &Person> = reg.people.iter().map(|p| (&p.bsn, p)).collect();
    let split_households: HashSet<Vec<Bsn>> = reg
        .people
        .iter()
        .filter(|child| {
            child
                .parents
                .iter()
                .any(|b| region_of(by_bsn[b]) != region_of(child))
        })
        .map(|child| child.parents.clone())
        .collect();
    // About 10% of 300 households.
    assert!(
        (10..=60).contains(&split_households.len()),
        "{} split households",
        split_households.len()
    );

    let regions: HashSet<&str> = reg.people.iter().map(region_of).collect();
    assert_eq!(regions.len(), 3, "all three regions have residents");
}

#[test]
fn names_addresses_and_deaths_look_real() {
    let reg = sample();
    assert!(reg.people.iter().any(|p| p.surname_prefix == "van der"));
    assert!(reg.people.iter().any(|p| p.address.addition.is_some()));
    assert!(reg.people.iter().all(|p| !p.given_names.is_empty()));
    let deceased = reg.people.iter().filter(|p| p.death_date.is_some()).count();
    assert!(deceased < reg.people.len() / 50, "{deceased} deceased");
    for person in &reg.people {
        if let Some(death) = person.death_date {
            assert!(death >= person.birth_date && death < today());
        }
        let region = region_of_municipality(person.municipality.as_str()).unwrap();
        let (_, name) = region
            .municipalities
            .iter()
            .find(|(code, _)| *code == person.municipality.as_str())
            .unwrap();
        assert_eq!(person.address.city, *name);
    }
}

#[test]
fn same_seed_same_file() {
    let a = registry::generate_on(42, 50, today());
    let b = registry::generate_on(42, 50, today());
    let c = registry::generate_on(43, 50, today());
    assert!(a.people == b.people);
    assert!(a.people != c.people);
    assert!(registry::generate(42, 3).people.len() >= 6);
}

#[test]
fn written_file_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data").join("registry.json");
    let reg = registry::generate_on(1, 20, today());
    registry::write(&path, &reg).unwrap();
    let back = registry::read(&path).unwrap();
    assert!(back.people == reg.people);
}

#[test]
fn half_siblings_step_siblings_and_cousins_are_there() {
    let reg = sample();
    let youths: Vec<&Person> = reg
        .people
        .iter()
        .filter(|p| p.age_on(today()) < 23 && !p.parents.is_empty())
        .collect();
    let common =
        |a: &Person, b: &Person| a.parents.iter().filter(|p| b.parents.contains(p)).count();
    let mut half = 0;
    let mut step = 0;
    let mut cousins = 0;
    for (i, a) in youths.iter().enumerate() {
        for b in &youths[i + 1..] {
            match common(a, b) {
                1 => half += 1,
                0 if a.address == b.address => step += 1,
                0 if registry::are_cousins(a, b, &reg.people) => cousins += 1,
                _ => {}
            }
        }
    }
    assert!(half >= 6, "{half} half-sibling pairs");
    assert!(step >= 3, "{step} step-sibling pairs at one address");
    assert!(cousins >= 3, "{cousins} cousin pairs");
}
