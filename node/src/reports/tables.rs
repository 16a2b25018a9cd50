//! The region's report tables (004 §15), each built from [`ReportFacts`] and published with
//! small cells suppressed.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use vir_shared::report::{Published, Table};

use super::ReportFacts;
use crate::config::{Partner, Role};

fn count_by<'a>(labels: impl Iterator<Item = &'a str>) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for l in labels {
        *out.entry(l.to_owned()).or_insert(0) += 1;
    }
    out
}

/// Signals and matches per organisation (004 §15 "door de aangesloten instellingen"). A match
/// counts once for each of the organisation's signals taking part in it.
pub fn per_organisation(facts: &ReportFacts, threshold: u64) -> Published {
    let signals = count_by(facts.signals.iter().map(|s| s.organisation.as_str()));
    let matches = count_by(facts.matches.iter().map(|m| m.organisation.as_str()));
    let organisations: BTreeSet<&String> = signals.keys().chain(matches.keys()).collect();
    Table {
        id: "per_organisation".into(),
        title: "Signalen en matches per organisatie".into(),
        row_header: "Organisatie".into(),
        columns: vec!["Signalen".into(), "Matches".into()],
        rows: organisations
            .into_iter()
            .map(|o| {
                let n = |m: &BTreeMap<String, u64>| m.get(o).copied().unwrap_or(0);
                (o.clone(), vec![n(&signals), n(&matches)])
            })
            .collect(),
        row_totals: false,
        threshold,
    }
    .publish()
}

/// The age groups of 0 to 23 (004 §15), cut where the rules change: rights at 12 and 16
/// (003 art. 19.1), adulthood at 18.
pub const AGE_GROUPS: &[(&str, u32, u32)] = &[
    ("0-3 jaar", 0, 3),
    ("4-11 jaar", 4, 11),
    ("12-15 jaar", 12, 15),
    ("16-17 jaar", 16, 17),
    ("18-22 jaar", 18, 22),
];

const AGE_UNKNOWN: &str = "Onbekend";

fn age_group(age: Option<u32>) -> &'static str {
    age.and_then(|a| {
        AGE_GROUPS
            .iter()
            .find(|(_, lo, hi)| (*lo..=*hi).contains(&a))
    })
    .map(|(label, _, _)| *label)
    .unwrap_or(AGE_UNKNOWN)
}

/// Signals and matches per age group of the youth (when signalled, when matched).
pub fn per_age_group(facts: &ReportFacts, threshold: u64) -> Published {
    let signals = count_by(facts.signals.iter().map(|s| age_group(s.age)));
    let matches = count_by(facts.matches.iter().map(|m| age_group(m.age)));
    let mut labels: Vec<&str> = AGE_GROUPS.iter().map(|(l, _, _)| *l).collect();
    if signals.contains_key(AGE_UNKNOWN) || matches.contains_key(AGE_UNKNOWN) {
        labels.push(AGE_UNKNOWN);
    }
    Table {
        id: "per_age_group".into(),
        title: "Signalen en matches per leeftijdsgroep".into(),
        row_header: "Leeftijd".into(),
        columns: vec!["Signalen".into(), "Matches".into()],
        rows: labels
            .into_iter()
            .map(|l| {
                let n = |m: &BTreeMap<String, u64>| m.get(l).copied().unwrap_or(0);
                (l.to_owned(), vec![n(&signals), n(&matches)])
            })
            .collect(),
        row_totals: false,
        threshold,
    }
    .publish()
}

/// How many youths had signals from 1, 2, or 3 or more organisations in the period (004 §15
/// "overzicht van het aantal betrokken instellingen bij een jeugdige").
pub fn organisations_per_youth(facts: &ReportFacts, threshold: u64) -> Published {
    let mut per_youth: HashMap<&str, BTreeSet<&str>> = HashMap::new();
    for s in &facts.signals {
        per_youth
            .entry(s.youth.as_str())
            .or_default()
            .insert(s.organisation.as_str());
    }
    let mut buckets = [0u64; 3];
    for organisations in per_youth.values() {
        buckets[organisations.len().clamp(1, 3) - 1] += 1;
    }
    Table {
        id: "organisations_per_youth".into(),
        title: "Jeugdigen naar aantal betrokken organisaties".into(),
        row_header: "Organisaties".into(),
        columns: vec!["Jeugdigen".into()],
        rows: vec![
            ("1".into(), vec![buckets[0]]),
            ("2".into(), vec![buckets[1]]),
            ("3 of meer".into(), vec![buckets[2]]),
        ],
        row_totals: false,
        threshold,
    }
    .publish()
}

/// How often coordination (regie) started, per coordinating organisation (004 §15; 003
/// Bijlage 2).
pub fn coordination_started(facts: &ReportFacts, threshold: u64) -> Published {
    let started = count_by(facts.coordinations.iter().map(String::as_str));
    Table {
        id: "coordination_started".into(),
        title: "Gestarte regie per coördinerende organisatie".into(),
        row_header: "Organisatie".into(),
        columns: vec!["Gestart".into()],
        rows: started.into_iter().map(|(o, n)| (o, vec![n])).collect(),
        row_totals: false,
        threshold,
    }
    .publish()
}

/// Connected partner organisations, and those that did not signal in the period, per category.
/// Stands in for "trained users who never signalled" (004 §15) until the node has user
/// accounts. It counts organisations, not people, so nothing is hidden (threshold 0).
pub fn partners_never_signalled(facts: &ReportFacts, partners: &[Partner]) -> Published {
    let signalled: BTreeSet<&str> = facts
        .signals
        .iter()
        .map(|s| s.partner_oin.as_str())
        .collect();
    let mut per_category: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for p in partners.iter().filter(|p| p.role == Role::Partner) {
        let entry = per_category.entry(p.category.as_str()).or_default();
        entry.0 += 1;
        if !signalled.contains(p.oin.as_str()) {
            entry.1 += 1;
        }
    }
    Table {
        id: "partners_never_signalled".into(),
        title: "Aangesloten organisaties die niet signaleerden".into(),
        row_header: "Categorie".into(),
        columns: vec!["Aangesloten".into(), "Niet gesignaleerd".into()],
        rows: per_category
            .into_iter()
            .map(|(c, (all, silent))| (c.to_owned(), vec![all, silent]))
            .collect(),
        row_totals: false,
        threshold: 0,
    }
    .publish()
}
