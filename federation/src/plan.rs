//! Who takes part in the local federation: the three regions with their municipalities, the
//! convenant partners of each node, and the OINs of everyone (test OINs, prefix 00000099).

use vir_shared::regions::{KnownRegion, ALL};
use vir_shared::Oin;

/// A convenant partner of a region's node.
#[derive(Debug, Clone)]
pub struct OrgPlan {
    /// Short name, unique in the region: `virctl --as <region>/<short>`.
    pub short: &'static str,
    pub organisation: &'static str,
    /// social_work, jgz, school, police, youth_care or other.
    pub category: &'static str,
    /// Admitted to the national index (004 §9): its signals are forwarded to the hub.
    pub national: bool,
    /// `partner`, or `administrator` (the regional functioneel beheerder).
    pub role: &'static str,
    pub oin: Oin,
}

#[derive(Debug, Clone)]
pub struct RegionPlan {
    pub code: &'static str,
    pub name: &'static str,
    pub municipalities: Vec<&'static str>,
    pub node_oin: Oin,
    pub orgs: Vec<OrgPlan>,
}

pub const PSEUDONYMISER_OIN: u64 = 1;
pub const HUB_OIN: u64 = 2;
pub const OPERATOR_OIN: u64 = 3;

type OrgSpec = (&'static str, &'static str, &'static str, bool);

/// The short name of each region's administrator (functioneel beheerder), last in its list.
pub const ADMINISTRATOR: &str = "beheer";
/// The short name of the municipalities' coordinator in Drenthe and Zuid-Limburg (Hoeksche
/// Waard's is the CJG: the regisseur sluitende aanpak, 004 §5.2).
pub const COORDINATOR: &str = "regie";

const DRENTHE_ORGS: &[OrgSpec] = &[
    ("school", "CBS De Regenboog Assen", "school", true),
    ("jgz", "GGD Drenthe Jeugdgezondheidszorg", "jgz", true),
    ("mw", "Maatschappelijk Werk Drenthe", "social_work", true),
    ("police", "Politie Drenthe", "police", true),
    ("sport", "Buurtsportcoach Assen", "other", false),
    (
        "regie",
        "Matchcoördinatie Gemeenten Drenthe",
        "other",
        false,
    ),
    ("beheer", "Functioneel Beheer DVi", "other", false),
];

const ZUID_LIMBURG_ORGS: &[OrgSpec] = &[
    ("school", "Sint-Maartenscollege Maastricht", "school", true),
    ("jgz", "GGD Zuid Limburg Jeugdgezondheidszorg", "jgz", true),
    ("mw", "Maatschappelijk Werk Maastricht", "social_work", true),
    ("youthcare", "Jeugdzorg Zuid-Limburg", "youth_care", true),
    ("regie", "Regie Gemeenten Zuid-Limburg", "other", false),
    (
        "beheer",
        "Functioneel Beheer Regionale Verwijsindex",
        "other",
        false,
    ),
];

const HOEKSCHE_WAARD_ORGS: &[OrgSpec] = &[
    ("cjg", "CJG Hoeksche Waard", "jgz", true),
    ("bjz", "Bureau Jeugdzorg Hoeksche Waard", "youth_care", true),
    (
        "school",
        "Het Wellantcollege Oud-Beijerland",
        "school",
        true,
    ),
    ("police", "Politie Hoeksche Waard", "police", true),
    (
        "beheer",
        "Functioneel Beheer Zorg voor Jeugd",
        "other",
        false,
    ),
];

/// The three regions of the local federation.
pub fn regions() -> Vec<RegionPlan> {
    let specs: [&[OrgSpec]; 3] = [DRENTHE_ORGS, ZUID_LIMBURG_ORGS, HOEKSCHE_WAARD_ORGS];
    ALL.iter()
        .zip(specs)
        .enumerate()
        .map(|(i, (region, orgs))| region_plan(i as u64, region, orgs))
        .collect()
}

fn region_plan(index: u64, region: &KnownRegion, orgs: &[OrgSpec]) -> RegionPlan {
    RegionPlan {
        code: region.code,
        name: region.name,
        municipalities: region.municipalities.iter().map(|(c, _)| *c).collect(),
        node_oin: vir_certs::test_oin(10 + index),
        orgs: orgs
            .iter()
            .enumerate()
            .map(|(j, (short, organisation, category, national))| OrgPlan {
                short,
                organisation,
                category,
                national: *national,
                role: if *short == ADMINISTRATOR {
                    "administrator"
                } else {
                    "partner"
                },
                oin: vir_certs::test_oin(100 + index * 20 + j as u64),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn oins_are_unique() {
        let mut oins: Vec<String> = super::regions()
            .iter()
            .flat_map(|r| {
                std::iter::once(r.node_oin.to_string())
                    .chain(r.orgs.iter().map(|o| o.oin.to_string()))
            })
            .collect();
        let n = oins.len();
        oins.sort();
        oins.dedup();
        assert_eq!(n, oins.len());
    }
}
