//! Family structures beyond the plain household, appended after the households so that the
//! households themselves are the same as without them (a second random stream, from the seed):
//!
//! - blended households: two adults living together, each with a child from an earlier
//!   relationship (whose other parent lives elsewhere, often in another region) and a child of
//!   their own. The own child is a half-sibling of both others (one common parent: a family
//!   match); the two others are step-siblings, with no common parent but the same address (an
//!   address match only, where the region has address matching on). One per region in turn.
//! - cousins: a household parent gets a sibling (their parents, the grandparents, are in the
//!   file too and listed as that adult's parents) with children of their own elsewhere. The
//!   children of the two siblings are cousins: they share grandparents, never a parent, and
//!   must not match (001 Q14-15: a common parent).

use rand::Rng;
use vir_shared::person::{Gender, Person};
use vir_shared::regions::ALL;
use vir_shared::Bsn;

use super::names::SURNAMES;
use super::{opposite, pick, Generator, Home};

/// Structures of each kind per this many households (at least one per region).
const PER_HOUSEHOLDS: usize = 50;

impl Generator {
    /// Appends the blended households and cousin structures for `households` households.
    pub(super) fn kin(&mut self, households: usize) {
        let count = (households / PER_HOUSEHOLDS).max(ALL.len());
        for i in 0..count {
            self.blended(i % ALL.len());
        }
        for i in 0..count {
            self.cousins(i % ALL.len());
        }
    }

    /// A person at `home`, returned by index into `people`.
    fn add(
        &mut self,
        gender: Gender,
        age: u32,
        child: bool,
        home: &Home,
        parents: Vec<Bsn>,
        surname: (&str, &str),
    ) -> usize {
        let person = Person {
            bsn: self.bsn(),
            given_names: self.given_names(gender, child),
            surname_prefix: surname.0.to_owned(),
            surname: surname.1.to_owned(),
            gender,
            birth_date: self.birth_date(age),
            address: home.address.clone(),
            municipality: home.municipality.clone(),
            parents,
            death_date: None,
        };
        self.people.push(person);
        self.people.len() - 1
    }

    fn blended(&mut self, region_index: usize) {
        let home = self.home(ALL[region_index]);
        let other_region = (region_index + 1 + self.rng.gen_range(0..ALL.len() - 1)) % ALL.len();
        let elsewhere = self.home(ALL[other_region]);
        let far_region = self.rng.gen_range(0..ALL.len());
        let far = self.home(ALL[far_region]);
        let (name_p, name_r) = (
            *pick(&mut self.rng, SURNAMES),
            *pick(&mut self.rng, SURNAMES),
        );
        let gender_p = if self.rng.gen_bool(0.5) {
            Gender::Female
        } else {
            Gender::Male
        };
        let (age_p, age_r) = (self.rng.gen_range(30..=45), self.rng.gen_range(30..=45));
        let p = self.add(gender_p, age_p, false, &home, Vec::new(), name_p);
        let r = self.add(opposite(gender_p), age_r, false, &home, Vec::new(), name_r);
        // The earlier partners: one in another region, one anywhere.
        let q = self.add(
            opposite(gender_p),
            age_p,
            false,
            &elsewhere,
            Vec::new(),
            name_p,
        );
        let s = self.add(gender_p, age_r, false, &far, Vec::new(), name_r);
        let bsn = |g: &Generator, i: usize| g.people[i].bsn.clone();
        let step_a = vec![bsn(self, p), bsn(self, q)];
        let step_b = vec![bsn(self, r), bsn(self, s)];
        let own = vec![bsn(self, p), bsn(self, r)];
        let younger = |g: &mut Generator, max: u32| g.rng.gen_range(4..=max.min(17));
        let age_a = younger(self, age_p - 18);
        let age_b = younger(self, age_r - 18);
        let gender = self.child_gender();
        self.add(gender, age_a, true, &home, step_a, name_p);
        let gender = self.child_gender();
        self.add(gender, age_b, true, &home, step_b, name_r);
        let gender = self.child_gender();
        let age_own = self.rng.gen_range(0..=3);
        self.add(gender, age_own, true, &home, own, name_p);
    }

    fn cousins(&mut self, region_index: usize) {
        // A household parent in the region, without parents of their own yet.
        let found = self.households.iter().position(|h| {
            h.region_index == region_index
                && h.first_parent
                    .is_some_and(|i| self.people[i].parents.is_empty())
        });
        let Some(first) = found.and_then(|h| self.households[h].first_parent) else {
            return;
        };
        let born = self.people[first].birth_date;
        let age = self.today.years_since(born).unwrap_or(40);
        let names = (
            self.people[first].surname_prefix.clone(),
            self.people[first].surname.clone(),
        );
        let grand_home = self.home(ALL[region_index]);
        let surname = (names.0.as_str(), names.1.as_str());
        let grandmother = self.add(
            Gender::Female,
            age + 27,
            false,
            &grand_home,
            Vec::new(),
            surname,
        );
        let partner_name = *pick(&mut self.rng, SURNAMES);
        let grandfather = self.add(
            Gender::Male,
            age + 29,
            false,
            &grand_home,
            Vec::new(),
            partner_name,
        );
        let grandparents = vec![
            self.people[grandmother].bsn.clone(),
            self.people[grandfather].bsn.clone(),
        ];
        self.people[first].parents = grandparents.clone();
        // The sibling lives in another region half the time: cousins across a border.
        let sibling_region = if self.rng.gen_bool(0.5) {
            (region_index + 1) % ALL.len()
        } else {
            region_index
        };
        let home = self.home(ALL[sibling_region]);
        let sibling_age = (age + self.rng.gen_range(1..=4)).min(55);
        let gender = if self.rng.gen_bool(0.5) {
            Gender::Female
        } else {
            Gender::Male
        };
        let sibling = self.add(gender, sibling_age, false, &home, grandparents, surname);
        let partner = self.add(
            opposite(gender),
            sibling_age,
            false,
            &home,
            Vec::new(),
            partner_name,
        );
        let parents = vec![
            self.people[sibling].bsn.clone(),
            self.people[partner].bsn.clone(),
        ];
        for _ in 0..2 {
            let gender = self.child_gender();
            let child_age = self.rng.gen_range(0..=(sibling_age - 18).min(17));
            self.add(gender, child_age, true, &home, parents.clone(), surname);
        }
    }
}

/// Whether two people are cousins: no common parent, but a parent of one and a parent of the
/// other have a common parent.
pub fn are_cousins(a: &Person, b: &Person, people: &[Person]) -> bool {
    if a.parents.iter().any(|p| b.parents.contains(p)) {
        return false;
    }
    let grandparents = |person: &Person| -> Vec<Bsn> {
        person
            .parents
            .iter()
            .filter_map(|p| people.iter().find(|x| &x.bsn == p))
            .flat_map(|parent| parent.parents.clone())
            .collect()
    };
    let of_b = grandparents(b);
    grandparents(a).iter().any(|g| of_b.contains(g))
}
