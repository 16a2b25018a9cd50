//! Pure date rules of a signal's life and the age bands: the latest end date (003 art. 16.1),
//! how long the archive keeps a signal (003 art. 16.2), the objection terms (001 Q30; 003 art.
//! 18.3), and whom to inform and who exercises the rights by age (003 art. 9.2, 19.1).

use chrono::{Days, Months, NaiveDate};
use vir_proto as pb;

use super::{InformingRules, LifetimeRules, ObjectionRules};

/// The latest end date of a signal made or renewed on `today` (003 art. 16.1: never longer than
/// two years; 29 February falls back to 28 February).
pub fn latest_end_date(today: NaiveDate, rules: &LifetimeRules) -> NaiveDate {
    today
        .checked_add_months(Months::new(rules.active_months))
        .unwrap_or(NaiveDate::MAX)
}

/// Until when the archive keeps a signal that ended on `ended_on` (003 art. 16.2: "maximaal
/// vijf jaar"). On that day it is destroyed.
pub fn archive_until(ended_on: NaiveDate, rules: &LifetimeRules) -> NaiveDate {
    ended_on
        .checked_add_months(Months::new(rules.archive_years * 12))
        .unwrap_or(NaiveDate::MAX)
}

/// Signals that ended before this day are past the archive term on `today`.
pub fn archive_cutoff(today: NaiveDate, rules: &LifetimeRules) -> NaiveDate {
    today
        .checked_sub_months(Months::new(rules.archive_years * 12))
        .unwrap_or(NaiveDate::MIN)
}

/// An objection lodged on `lodged_on` is late when more than the term passed since informing
/// (001 Q30: within 6 weeks); a late objection is flagged, never dropped.
pub fn objection_is_late(
    informed_on: Option<NaiveDate>,
    lodged_on: NaiveDate,
    rules: &ObjectionRules,
) -> bool {
    informed_on.is_some_and(|informed| {
        let term_end = informed
            .checked_add_days(Days::new(u64::from(rules.late_after_weeks) * 7))
            .unwrap_or(NaiveDate::MAX);
        lodged_on > term_end
    })
}

/// The decision on an objection is due 4 weeks after it was lodged (003 art. 18.3).
pub fn objection_decision_due(lodged_on: NaiveDate, rules: &ObjectionRules) -> NaiveDate {
    lodged_on
        .checked_add_days(Days::new(u64::from(rules.decision_weeks) * 7))
        .unwrap_or(NaiveDate::MAX)
}

/// Whom a signal is told to and who exercises the rights (003 art. 9.2, 19.1; 002 art. 21).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Addressee {
    /// Under 12: the legal representatives.
    Parents,
    /// 12 to 16: the legal representatives and the youth (jointly, for the rights).
    ParentsAndYouth,
    /// 16 or older: the youth.
    Youth,
}

impl Addressee {
    pub fn for_age(age: u32, rules: &InformingRules) -> Addressee {
        if age < rules.parents_only_below {
            Addressee::Parents
        } else if age < rules.youth_only_from {
            Addressee::ParentsAndYouth
        } else {
            Addressee::Youth
        }
    }

    /// Whether informing `self` meets the duty towards `required` (informing more people than
    /// required is fine: parents and youth cover either alone).
    pub fn covers(self, required: Addressee) -> bool {
        self == required || self == Addressee::ParentsAndYouth
    }

    /// Whether `self` may exercise the rights that belong to `required`: exactly those people,
    /// or the parents when the youth cannot weigh their interests (003 art. 19.2; 002 art. 22).
    pub fn may_exercise(self, required: Addressee, youth_not_capable: bool) -> bool {
        self == required || (youth_not_capable && self == Addressee::Parents)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Addressee::Parents => "parents",
            Addressee::ParentsAndYouth => "parents_and_youth",
            Addressee::Youth => "youth",
        }
    }

    pub fn parse(text: &str) -> Option<Addressee> {
        match text {
            "parents" => Some(Addressee::Parents),
            "parents_and_youth" => Some(Addressee::ParentsAndYouth),
            "youth" => Some(Addressee::Youth),
            _ => None,
        }
    }

    pub fn from_proto(value: i32) -> Option<Addressee> {
        match pb::Addressee::try_from(value).ok()? {
            pb::Addressee::Parents => Some(Addressee::Parents),
            pb::Addressee::ParentsAndYouth => Some(Addressee::ParentsAndYouth),
            pb::Addressee::Youth => Some(Addressee::Youth),
            pb::Addressee::Unspecified => None,
        }
    }

    pub fn to_proto(self) -> pb::Addressee {
        match self {
            Addressee::Parents => pb::Addressee::Parents,
            Addressee::ParentsAndYouth => pb::Addressee::ParentsAndYouth,
            Addressee::Youth => pb::Addressee::Youth,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    /// 003 art. 16.1, 16.2: 2 years active, then 5 years in the archive.
    #[test]
    fn two_years_active_five_archived_art_16() {
        let rules = LifetimeRules::default();
        assert_eq!(latest_end_date(d(2026, 5, 10), &rules), d(2028, 5, 10));
        assert_eq!(latest_end_date(d(2028, 2, 29), &rules), d(2030, 2, 28));
        assert_eq!(archive_until(d(2028, 5, 10), &rules), d(2033, 5, 10));
        assert_eq!(archive_cutoff(d(2033, 5, 10), &rules), d(2028, 5, 10));
    }

    /// 003 art. 9.2 and 19.1: under 12 the parents, 12-16 both, 16 and older the youth.
    #[test]
    fn age_bands_art_9_2_and_19_1() {
        let rules = InformingRules::default();
        assert_eq!(Addressee::for_age(11, &rules), Addressee::Parents);
        assert_eq!(Addressee::for_age(12, &rules), Addressee::ParentsAndYouth);
        assert_eq!(Addressee::for_age(15, &rules), Addressee::ParentsAndYouth);
        assert_eq!(Addressee::for_age(16, &rules), Addressee::Youth);
        assert!(Addressee::ParentsAndYouth.covers(Addressee::Youth));
        assert!(!Addressee::Parents.covers(Addressee::ParentsAndYouth));
        assert!(!Addressee::Youth.may_exercise(Addressee::ParentsAndYouth, false));
        assert!(Addressee::Parents.may_exercise(Addressee::Youth, true));
    }

    /// 001 Q30: later than 6 weeks after informing is late; 003 art. 18.3: decide in 4 weeks.
    #[test]
    fn objection_terms_q30_and_art_18_3() {
        let rules = ObjectionRules::default();
        let informed = Some(d(2026, 3, 1));
        assert!(!objection_is_late(informed, d(2026, 4, 12), &rules));
        assert!(objection_is_late(informed, d(2026, 4, 13), &rules));
        assert!(!objection_is_late(None, d(2030, 1, 1), &rules));
        assert_eq!(
            objection_decision_due(d(2026, 4, 13), &rules),
            d(2026, 5, 11)
        );
    }
}
