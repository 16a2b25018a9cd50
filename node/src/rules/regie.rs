//! Who coordinates (regie), as a pure decision over the organisations involved:
//!
//! - Drenthe (003 Bijlage 2): Maatschappelijk Werk among the signallers has regie, else JGZ,
//!   else the signallers decide together; the proposal binds at first and they may change it.
//! - Hoeksche Waard (004 §5.2): Bureau Jeugdzorg (youth care) if involved, else the regisseur
//!   sluitende aanpak at the CJG (the municipality's coordinator). An urgent signal gets
//!   coordination at once, even without a match (004 §5, §12).
//! - Zuid-Limburg (002 art. 14.1): the signallers choose a hoofdregisseur per match.
//! - Across regions the coordinator of the municipality where the youth lives leads (003 art.
//!   13.6; 002 art. 14.4); the caller checks residence before asking here.

use super::{RegieFallback, RegieMode, RegieRules};

/// An organisation involved with the youth: a local signaller, or another region's party.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub oin: String,
    pub organisation: String,
    /// `Category::as_str`, or the free text another node sent.
    pub category: String,
    /// A local signal id, or empty for another region's party.
    pub signal_id: String,
}

/// How the coordinator was determined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// By the category order; binding until the signallers change it.
    Proposal,
    /// Chosen by a signaller of the match (SetRegie).
    Chosen,
    /// Nobody yet: the signallers decide together (or choose, in "chosen" mode).
    SignallersDecide,
    /// The municipality's coordinator (fallback "coordinator").
    MunicipalCoordinator,
    /// Assigned at once for an urgent signal, without a match (004 §5).
    Urgent,
    /// The youth lives in another region, whose coordinator leads (003 art. 13.6).
    ResidenceRegion,
}

impl Basis {
    pub fn as_str(self) -> &'static str {
        match self {
            Basis::Proposal => "proposal",
            Basis::Chosen => "chosen",
            Basis::SignallersDecide => "signallers_decide",
            Basis::MunicipalCoordinator => "municipal_coordinator",
            Basis::Urgent => "urgent",
            Basis::ResidenceRegion => "residence_region",
        }
    }

    pub fn parse(text: &str) -> Option<Basis> {
        [
            Basis::Proposal,
            Basis::Chosen,
            Basis::SignallersDecide,
            Basis::MunicipalCoordinator,
            Basis::Urgent,
            Basis::ResidenceRegion,
        ]
        .into_iter()
        .find(|b| b.as_str() == text)
    }
}

/// The outcome: who coordinates (nobody yet: `coordinator` is None) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub coordinator: Option<Candidate>,
    pub basis: Basis,
}

/// The region's proposal for the organisations involved. `municipal` is the coordinator of
/// the youth's municipality, if configured; `urgent` says a signal asks for coordination at
/// once (it may be the only one).
pub fn propose(
    rules: &RegieRules,
    involved: &[Candidate],
    municipal: Option<Candidate>,
    urgent: bool,
) -> Assignment {
    if rules.mode == RegieMode::Proposal {
        for category in &rules.categories {
            if let Some(first) = involved.iter().find(|c| c.category == category.as_str()) {
                return Assignment {
                    coordinator: Some(first.clone()),
                    basis: if urgent && involved.len() < 2 {
                        Basis::Urgent
                    } else {
                        Basis::Proposal
                    },
                };
            }
        }
    }
    // Nobody of the categories, or the signallers choose. An urgent signal cannot wait for a
    // choice: its municipality's coordinator takes it, where there is one.
    let to_coordinator = rules.fallback == RegieFallback::Coordinator || urgent;
    match municipal {
        Some(coordinator) if to_coordinator && (rules.mode == RegieMode::Proposal || urgent) => {
            Assignment {
                coordinator: Some(coordinator),
                basis: if urgent && involved.len() < 2 {
                    Basis::Urgent
                } else {
                    Basis::MunicipalCoordinator
                },
            }
        }
        _ => Assignment {
            coordinator: None,
            basis: Basis::SignallersDecide,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Category;

    fn org(category: &str) -> Candidate {
        Candidate {
            oin: format!("oin-{category}"),
            organisation: format!("Org {category}"),
            category: category.to_owned(),
            signal_id: format!("signal-{category}"),
        }
    }

    fn drenthe() -> RegieRules {
        RegieRules::default()
    }

    fn hoeksche_waard() -> RegieRules {
        RegieRules {
            mode: RegieMode::Proposal,
            categories: vec![Category::YouthCare],
            fallback: RegieFallback::Coordinator,
        }
    }

    /// 003 Bijlage 2: social work over JGZ, JGZ over the rest, else the signallers decide.
    #[test]
    fn drenthe_social_work_then_jgz_bijlage_2() {
        let picked = propose(
            &drenthe(),
            &[org("jgz"), org("school"), org("social_work")],
            None,
            false,
        );
        assert_eq!(picked.coordinator.unwrap().category, "social_work");
        assert_eq!(picked.basis, Basis::Proposal);
        let picked = propose(&drenthe(), &[org("school"), org("jgz")], None, false);
        assert_eq!(picked.coordinator.unwrap().category, "jgz");
        let picked = propose(
            &drenthe(),
            &[org("school"), org("police")],
            Some(org("cjg")),
            false,
        );
        assert_eq!(picked.coordinator, None);
        assert_eq!(picked.basis, Basis::SignallersDecide);
    }

    /// 004 §5.2: Bureau Jeugdzorg if involved, else the CJG's regisseur; urgent at once.
    #[test]
    fn hoeksche_waard_youth_care_else_cjg_and_urgent_at_once_par_5() {
        let rules = hoeksche_waard();
        let picked = propose(
            &rules,
            &[org("school"), org("youth_care")],
            Some(org("cjg")),
            false,
        );
        assert_eq!(picked.coordinator.unwrap().category, "youth_care");
        let picked = propose(
            &rules,
            &[org("school"), org("police")],
            Some(org("cjg")),
            false,
        );
        assert_eq!(picked.coordinator.unwrap().oin, "oin-cjg");
        assert_eq!(picked.basis, Basis::MunicipalCoordinator);
        let picked = propose(&rules, &[org("school")], Some(org("cjg")), true);
        assert_eq!(picked.coordinator.unwrap().oin, "oin-cjg");
        assert_eq!(picked.basis, Basis::Urgent);
    }

    /// 002 art. 14.1: in Zuid-Limburg the signallers choose; nothing is proposed.
    #[test]
    fn zuid_limburg_signallers_choose_art_14_1() {
        let rules = RegieRules {
            mode: RegieMode::Chosen,
            categories: vec![],
            fallback: RegieFallback::Signallers,
        };
        let picked = propose(&rules, &[org("social_work"), org("jgz")], None, false);
        assert_eq!(picked.coordinator, None);
        assert_eq!(picked.basis, Basis::SignallersDecide);
    }
}
