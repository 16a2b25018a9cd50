//! The synthetic person registry: families spread over the three shipped regions, generated
//! deterministically from a seed, standing in for the BRP (through BV BSN) in development.
//!
//! Each household has one or two parents (25-55) and one to four children (0-22) living at one
//! address in one municipality. About one household in ten is split: one parent lives in
//! another region, so the same child can be signalled in two regions and family matches can
//! cross a regional border, as 13.5% of them do in practice (domain.md "Scale"). Every BSN
//! passes the 11-test and is unique; children list their parents' BSNs, and parents are people
//! in the file themselves. A handful of adults (about 0.5%) have died. Blended households
//! (half-siblings, step-siblings at one address) and cousins are added after the households
//! (`kin.rs`), so tests find every kind of family match and the cousins that must not match.
//!
//! Ages are relative to a reference date: [`generate`] uses today, so a 22-year-old stays a
//! youth when the file is used; [`generate_on`] takes the date explicitly and is a pure function
//! of (seed, households, date).

mod kin;
mod names;

pub use kin::are_cousins;

use std::collections::HashSet;
use std::path::Path;

use anyhow::Context;
use chrono::{Days, Months, NaiveDate, Utc};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use vir_shared::person::{Address, Gender, Person, RegistryFile};
use vir_shared::regions::{KnownRegion, ALL};
use vir_shared::{Bsn, MunicipalityCode, Postcode};

use names::*;

/// Share of households in which one parent lives in another region than the children.
const SPLIT_SHARE: f64 = 0.10;
/// Share of (unsplit) households with two parents.
const TWO_PARENT_SHARE: f64 = 0.75;
/// Share of adults with a death date.
const DECEASED_SHARE: f64 = 0.005;
const CHILD_AGES: std::ops::RangeInclusive<u32> = 0..=22;
const PARENT_MIN_AGE: u32 = 25;
const PARENT_MAX_AGE: u32 = 55;
/// A parent is at least this much older than their oldest child.
const GENERATION_GAP: u32 = 18;

/// Generates `households` families with ages relative to today.
pub fn generate(seed: u64, households: usize) -> RegistryFile {
    generate_on(seed, households, Utc::now().date_naive())
}

/// Generates `households` families with ages relative to `today`: the same arguments always
/// give the same file.
pub fn generate_on(seed: u64, households: usize, today: NaiveDate) -> RegistryFile {
    let mut generator = Generator {
        rng: StdRng::seed_from_u64(seed),
        today,
        bsn_prefixes: HashSet::new(),
        addresses: HashSet::new(),
        people: Vec::new(),
        households: Vec::new(),
    };
    for _ in 0..households {
        generator.household();
    }
    // Blended households and cousins from a second stream, so the households above stay the
    // same as without them (kin.rs).
    generator.rng = StdRng::seed_from_u64(seed ^ 0x6b69_6e5f_7365_6564);
    generator.kin(households);
    RegistryFile {
        people: generator.people,
    }
}

/// Writes the registry as pretty JSON (`{"people": [...]}`), creating the parent directory.
pub fn write(path: &Path, reg: &RegistryFile) -> anyhow::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating directory {}", parent.display()))?;
    }
    let json = serde_json::to_vec_pretty(reg).context("serialising the registry")?;
    std::fs::write(path, json).with_context(|| format!("writing {}", path.display()))
}

/// Reads a registry file written by [`write()`].
pub fn read(path: &Path) -> anyhow::Result<RegistryFile> {
    let json = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&json)
        .with_context(|| format!("{}: not a registry file", path.display()))
}

struct Generator {
    rng: StdRng,
    today: NaiveDate,
    bsn_prefixes: HashSet<u32>,
    /// (postcode, number, addition) already given to a household: addresses are distinct so
    /// that address matches only arise where a test makes them.
    addresses: HashSet<(Postcode, u32, Option<String>)>,
    people: Vec<Person>,
    /// Each household's region and first parent (index into `people`), for `kin.rs`.
    households: Vec<HouseholdRecord>,
}

struct HouseholdRecord {
    region_index: usize,
    first_parent: Option<usize>,
}

/// Where a household lives.
struct Home {
    address: Address,
    municipality: MunicipalityCode,
}

impl Generator {
    fn household(&mut self) {
        let split = self.rng.gen_bool(SPLIT_SHARE);
        let parent_count = if split || self.rng.gen_bool(TWO_PARENT_SHARE) {
            2
        } else {
            1
        };
        let child_count = self.rng.gen_range(1..=4);

        let region_index = self.rng.gen_range(0..ALL.len());
        let home = self.home(ALL[region_index]);
        let (family_prefix, family_surname) = *pick(&mut self.rng, SURNAMES);

        let child_ages: Vec<u32> = (0..child_count)
            .map(|_| self.rng.gen_range(CHILD_AGES))
            .collect();
        let oldest = child_ages.iter().copied().max().unwrap_or(0);
        let min_parent_age = PARENT_MIN_AGE.max(oldest + GENERATION_GAP);

        let first_gender = self.adult_gender();
        let mut parents = Vec::with_capacity(parent_count);
        for index in 0..parent_count {
            let (gender, (prefix, surname)) = if index == 0 {
                (first_gender, (family_prefix, family_surname))
            } else {
                // Mostly a mother and a father; partners keep their own surname in the BRP.
                let gender = if self.rng.gen_bool(0.9) {
                    opposite(first_gender)
                } else {
                    first_gender
                };
                (gender, *pick(&mut self.rng, SURNAMES))
            };
            let lives_elsewhere = split && index == 1;
            let (address, municipality) = if lives_elsewhere {
                let others: Vec<&KnownRegion> = ALL
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| *i != region_index)
                    .map(|(_, r)| *r)
                    .collect();
                let other = others[self.rng.gen_range(0..others.len())];
                let elsewhere = self.home(other);
                (elsewhere.address, elsewhere.municipality)
            } else {
                (home.address.clone(), home.municipality.clone())
            };
            let age = self.rng.gen_range(min_parent_age..=PARENT_MAX_AGE);
            let birth_date = self.birth_date(age);
            let death_date = self
                .rng
                .gen_bool(DECEASED_SHARE)
                .then(|| self.death_date(birth_date));
            let person = Person {
                bsn: self.bsn(),
                given_names: self.given_names(gender, false),
                surname_prefix: prefix.to_owned(),
                surname: surname.to_owned(),
                gender,
                birth_date,
                address,
                municipality,
                parents: Vec::new(),
                death_date,
            };
            parents.push(person);
        }

        let parent_bsns: Vec<Bsn> = parents.iter().map(|p| p.bsn.clone()).collect();
        self.households.push(HouseholdRecord {
            region_index,
            first_parent: (!parents.is_empty()).then_some(self.people.len()),
        });
        self.people.extend(parents);
        for age in child_ages {
            let gender = self.child_gender();
            let person = Person {
                bsn: self.bsn(),
                given_names: self.given_names(gender, true),
                surname_prefix: family_prefix.to_owned(),
                surname: family_surname.to_owned(),
                gender,
                birth_date: self.birth_date(age),
                address: home.address.clone(),
                municipality: home.municipality.clone(),
                parents: parent_bsns.clone(),
                death_date: None,
            };
            self.people.push(person);
        }
    }

    /// A BSN whose 8-digit prefix has not been used, so every BSN in the file is unique.
    fn bsn(&mut self) -> Bsn {
        loop {
            let prefix = self.rng.gen_range(10_000_000..=99_999_999);
            if self.bsn_prefixes.contains(&prefix) {
                continue;
            }
            if let Some(bsn) = Bsn::from_prefix(prefix) {
                self.bsn_prefixes.insert(prefix);
                return bsn;
            }
        }
    }

    /// A fresh address in a random municipality of `region`.
    fn home(&mut self, region: &KnownRegion) -> Home {
        let &(code, name) = pick(&mut self.rng, region.municipalities);
        let municipality: MunicipalityCode = code
            .parse()
            .expect("the shipped regions hold 4-digit CBS codes");
        let (lo, hi) = postcode_range(code);
        loop {
            let digits = self.rng.gen_range(lo..=hi);
            let letters: String = (0..2)
                .map(|_| char::from(self.rng.gen_range(b'A'..=b'Z')))
                .collect();
            // Letter pairs that are never issued (SA, SD, SS) fail to parse: draw again.
            let Ok(postcode) = format!("{digits}{letters}").parse::<Postcode>() else {
                continue;
            };
            let house_number = self.rng.gen_range(1..=250);
            let addition = self
                .rng
                .gen_bool(0.15)
                .then(|| (*pick(&mut self.rng, ADDITIONS)).to_owned());
            if !self
                .addresses
                .insert((postcode.clone(), house_number, addition.clone()))
            {
                continue;
            }
            return Home {
                address: Address {
                    street: (*pick(&mut self.rng, STREETS)).to_owned(),
                    house_number,
                    addition,
                    postcode,
                    city: name.to_owned(),
                },
                municipality,
            };
        }
    }

    /// A birth date on which a person is exactly `age` on `today`.
    fn birth_date(&mut self, age: u32) -> NaiveDate {
        let latest = self.today - Months::new(12 * age);
        let earliest = self.today - Months::new(12 * (age + 1)) + Days::new(1);
        let span = (latest - earliest).num_days().max(0) as u64;
        latest - Days::new(self.rng.gen_range(0..=span))
    }

    /// A death date in the past year, after the birth date.
    fn death_date(&mut self, birth_date: NaiveDate) -> NaiveDate {
        let date = self.today - Days::new(self.rng.gen_range(1..=365));
        date.max(birth_date)
    }

    fn adult_gender(&mut self) -> Gender {
        if self.rng.gen_bool(0.5) {
            Gender::Female
        } else {
            Gender::Male
        }
    }

    /// Children are occasionally registered with gender unknown.
    fn child_gender(&mut self) -> Gender {
        match self.rng.gen_range(0..200) {
            0 => Gender::Unknown,
            n if n % 2 == 0 => Gender::Female,
            _ => Gender::Male,
        }
    }

    /// One given name, sometimes followed by a traditional second name.
    fn given_names(&mut self, gender: Gender, child: bool) -> String {
        let female = match gender {
            Gender::Female => true,
            Gender::Male => false,
            Gender::Unknown => self.rng.gen_bool(0.5),
        };
        let first = match (child, female) {
            (true, true) => pick(&mut self.rng, CHILD_NAMES_FEMALE),
            (true, false) => pick(&mut self.rng, CHILD_NAMES_MALE),
            (false, true) => pick(&mut self.rng, ADULT_NAMES_FEMALE),
            (false, false) => pick(&mut self.rng, ADULT_NAMES_MALE),
        };
        if self.rng.gen_bool(0.3) {
            let second = if female {
                pick(&mut self.rng, SECOND_NAMES_FEMALE)
            } else {
                pick(&mut self.rng, SECOND_NAMES_MALE)
            };
            format!("{first} {second}")
        } else {
            (*first).to_owned()
        }
    }
}

fn opposite(gender: Gender) -> Gender {
    match gender {
        Gender::Female => Gender::Male,
        Gender::Male => Gender::Female,
        Gender::Unknown => Gender::Unknown,
    }
}

/// A random element of a non-empty constant list.
fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> &'a T {
    items
        .choose(rng)
        .expect("the reference lists are not empty")
}
