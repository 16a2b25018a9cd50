//! The regions' rules as settings: the `[rules]` section of the node's TOML, parsed once into
//! typed values, and the pure functions that apply them (no storage, no clock).
//!
//! Every setting has a default, so a configuration without `[rules]` keeps working; the
//! defaults are the general ones of `../shared/domain.md` (Drenthe's where the sources
//! disagree). The shipped examples set each region's own values.
//!
//! ```toml
//! [rules.lifetime]          # 003 art. 1, 16; 002 art. 17; Jeugdwet 7.1.4.5-6
//! active_months = 24        # active at most 2 years after signalling or renewal (003 art. 16.1)
//! archive_years = 5         # inactive and expired signals in the archive (003 art. 16.2)
//! destroy_at_age = 23       # destroyed, archive included (003 art. 16.5; 002 art. 17.6-17.8)
//! renewal_reminder_days = 14
//! death_inform_days = 0     # Zuid-Limburg 14: the administrator informs the signallers (002 art. 17.6)
//!
//! [rules.signals]           # Hoeksche Waard (004 §5, §11-13)
//! urgency_codes = false
//! chain_registration = false
//!
//! [rules.consultation]      # 003 art. 10.1 (5); 002 art. 10.1 (10)
//! working_days = 5
//! urgent_working_days = 1
//! good_friday = false
//!
//! [rules.regie]             # 003 Bijlage 2; 004 §5.2; 002 art. 14
//! mode = "proposal"         # or "chosen"
//! categories = ["social_work", "jgz"]
//! fallback = "signallers"   # or "coordinator"
//!
//! [rules.informing]         # 003 art. 9.2, 19.1
//! parents_only_below = 12
//! youth_only_from = 16
//!
//! [rules.objection]         # 001 Q29-30; 003 art. 18; 002 art. 20
//! late_after_weeks = 6
//! decision_weeks = 4
//! reminder_days_before = [7, 1]
//!
//! [[rules.coordinators]]    # the municipality's coordinator (003 art. 13; 004 §6)
//! oin = "00000099000000000150"
//! municipalities = []       # empty: every municipality without its own entry
//! ```

pub mod calendar;
pub mod lifetime;
mod options;
pub mod regie;

use serde::{Deserialize, Serialize};
use vir_shared::{MunicipalityCode, Oin, RegionCode};

use crate::config::{Category, Invalid, Partner, Role};
pub use calendar::Calendar;
pub use lifetime::Addressee;
pub(crate) use options::not_found;
pub use options::{RuleError, SignalOptions};

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct RulesConfig {
    pub lifetime: LifetimeRules,
    pub signals: SignalRules,
    pub consultation: ConsultationRules,
    pub regie: RegieRules,
    pub informing: InformingRules,
    pub objection: ObjectionRules,
    pub coordinators: Vec<Coordinator>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct LifetimeRules {
    pub active_months: u32,
    pub archive_years: u32,
    pub destroy_at_age: u32,
    /// Days before the end date that the signaller is reminded to renew; 0 = never.
    pub renewal_reminder_days: u32,
    /// After a death, the administrators get a task to inform the signallers within this many
    /// days (002 art. 17.6); 0 = the signallers are told directly.
    pub death_inform_days: u32,
}

impl Default for LifetimeRules {
    fn default() -> Self {
        LifetimeRules {
            active_months: 24,
            archive_years: 5,
            destroy_at_age: 23,
            renewal_reminder_days: 14,
            death_inform_days: 0,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct SignalRules {
    /// Urgency codes 1 "laag" and 2 "urgent" (004 §5, §12).
    pub urgency_codes: bool,
    /// Ketenregistratie: involvement without a concern, matching like a signal (004 §11, §13).
    pub chain_registration: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct ConsultationRules {
    /// Working days after a match to consult (003 art. 10.1: 5; 002 art. 10.1: 10).
    pub working_days: u32,
    /// For a youth with an urgent signal (004 §5: coordination starts at once).
    pub urgent_working_days: u32,
    pub good_friday: bool,
}

impl Default for ConsultationRules {
    fn default() -> Self {
        ConsultationRules {
            working_days: 5,
            urgent_working_days: 1,
            good_friday: false,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RegieMode {
    /// The rule proposes a coordinator; binding at first, the signallers may change it.
    #[default]
    Proposal,
    /// The signallers choose a hoofdregisseur per match (Zuid-Limburg, 002 art. 14.1).
    Chosen,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RegieFallback {
    /// Nobody of the categories: the signallers decide together (003 Bijlage 2).
    #[default]
    Signallers,
    /// Nobody of the categories: the municipality's coordinator (004 §5.2: the regisseur
    /// sluitende aanpak at the CJG).
    Coordinator,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct RegieRules {
    pub mode: RegieMode,
    /// In order: the first category among the signallers has regie.
    pub categories: Vec<Category>,
    pub fallback: RegieFallback,
}

impl Default for RegieRules {
    fn default() -> Self {
        RegieRules {
            mode: RegieMode::Proposal,
            categories: vec![Category::SocialWork, Category::Jgz],
            fallback: RegieFallback::Signallers,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct InformingRules {
    /// Under this age the parents are informed and exercise the rights.
    pub parents_only_below: u32,
    /// From this age the youth alone (domain.md: at exactly 16, the youth only).
    pub youth_only_from: u32,
}

impl Default for InformingRules {
    fn default() -> Self {
        InformingRules {
            parents_only_below: 12,
            youth_only_from: 16,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct ObjectionRules {
    /// An objection lodged later than this after informing is flagged late (001 Q30).
    pub late_after_weeks: u32,
    /// The decision is due this many weeks after lodging (003 art. 18.3; 002 art. 20.3).
    pub decision_weeks: u32,
    /// Administrators are reminded this many days before the decision is due.
    pub reminder_days_before: Vec<u32>,
}

impl Default for ObjectionRules {
    fn default() -> Self {
        ObjectionRules {
            late_after_weeks: 6,
            decision_weeks: 4,
            reminder_days_before: vec![7, 1],
        }
    }
}

/// The coordinator (matchcoördinator, regisseur) of some municipalities: a configured partner.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Coordinator {
    pub oin: Oin,
    /// Empty: every municipality of the region without an entry of its own.
    #[serde(default)]
    pub municipalities: Vec<MunicipalityCode>,
}

fn invalid(key: &'static str, reason: impl Into<String>) -> Invalid {
    Invalid {
        key,
        reason: reason.into(),
    }
}

impl RulesConfig {
    /// Checks the values against the law's bounds and the rest of the configuration.
    pub fn validate(
        &self,
        partners: &[Partner],
        municipalities: &[MunicipalityCode],
    ) -> Result<(), Invalid> {
        let l = &self.lifetime;
        if !(1..=24).contains(&l.active_months) {
            return Err(invalid(
                "rules.lifetime.active_months",
                "1 to 24: a signal is never active longer than 2 years (003 art. 16.1)",
            ));
        }
        if !(1..=5).contains(&l.archive_years) {
            return Err(invalid(
                "rules.lifetime.archive_years",
                "1 to 5: the archive keeps a signal at most 5 years (003 art. 16.2)",
            ));
        }
        if !(1..=23).contains(&l.destroy_at_age) {
            return Err(invalid(
                "rules.lifetime.destroy_at_age",
                "1 to 23: destroyed at 23 at the latest (003 art. 16.5)",
            ));
        }
        let c = &self.consultation;
        if !(1..=30).contains(&c.working_days)
            || !(1..=c.working_days).contains(&c.urgent_working_days)
        {
            return Err(invalid(
                "rules.consultation",
                "working_days 1 to 30, urgent_working_days 1 to working_days",
            ));
        }
        let i = &self.informing;
        if i.parents_only_below > i.youth_only_from || i.youth_only_from > 23 {
            return Err(invalid(
                "rules.informing",
                "parents_only_below <= youth_only_from <= 23",
            ));
        }
        let o = &self.objection;
        if o.decision_weeks == 0 || o.late_after_weeks == 0 {
            return Err(invalid(
                "rules.objection",
                "decision_weeks and late_after_weeks must be 1 or more",
            ));
        }
        let mut defaults = 0;
        for coordinator in &self.coordinators {
            if !partners.iter().any(|p| p.oin == coordinator.oin) {
                return Err(invalid(
                    "rules.coordinators.oin",
                    format!("{} is not a configured partner", coordinator.oin),
                ));
            }
            if let Some(m) = coordinator
                .municipalities
                .iter()
                .find(|m| !municipalities.contains(m))
            {
                return Err(invalid(
                    "rules.coordinators.municipalities",
                    format!("{m} is not a municipality of this region"),
                ));
            }
            defaults += usize::from(coordinator.municipalities.is_empty());
        }
        if defaults > 1 {
            return Err(invalid(
                "rules.coordinators",
                "at most one entry without municipalities (the default coordinator)",
            ));
        }
        if self.regie.fallback == RegieFallback::Coordinator {
            if let Some(m) = municipalities
                .iter()
                .find(|m| self.coordinator_oin(m).is_none())
            {
                return Err(invalid(
                    "rules.regie.fallback",
                    format!(
                        "\"coordinator\" needs a coordinator for every municipality; {m} has none"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The OIN of the coordinator of a municipality: its own entry, else the default.
    pub fn coordinator_oin(&self, municipality: &MunicipalityCode) -> Option<&Oin> {
        let own = self
            .coordinators
            .iter()
            .find(|c| c.municipalities.contains(municipality));
        own.or_else(|| {
            self.coordinators
                .iter()
                .find(|c| c.municipalities.is_empty())
        })
        .map(|c| &c.oin)
    }
}

/// The rules as a running node applies them: the settings plus what they refer to.
#[derive(Debug, Clone)]
pub struct Rules {
    pub config: RulesConfig,
    pub region: RegionCode,
    pub municipalities: Vec<MunicipalityCode>,
    pub partners: Vec<Partner>,
}

impl Rules {
    /// The default rules for a region without partners (tests of the storage alone).
    pub fn defaults(region: RegionCode) -> Rules {
        Rules {
            config: RulesConfig::default(),
            region,
            municipalities: Vec::new(),
            partners: Vec::new(),
        }
    }

    /// The rules of a configured node.
    pub fn of(config: &crate::config::NodeConfig) -> Rules {
        Rules {
            config: config.rules.clone(),
            region: config.region.clone(),
            municipalities: config.municipalities.clone(),
            partners: config.partners.clone(),
        }
    }

    pub fn calendar(&self) -> Calendar {
        Calendar {
            good_friday: self.config.consultation.good_friday,
        }
    }

    /// Whether the youth lives in this region. Without configured municipalities (tests of
    /// the storage alone) every youth counts as living here.
    pub fn serves(&self, municipality: &MunicipalityCode) -> bool {
        self.municipalities.is_empty() || self.municipalities.contains(municipality)
    }

    pub fn partner(&self, oin: &str) -> Option<&Partner> {
        self.partners.iter().find(|p| p.oin.as_str() == oin)
    }

    /// The coordinator (a configured partner) of a municipality, if any.
    pub fn coordinator(&self, municipality: &MunicipalityCode) -> Option<&Partner> {
        let oin = self.config.coordinator_oin(municipality)?;
        self.partners.iter().find(|p| &p.oin == oin)
    }

    pub fn administrators(&self) -> impl Iterator<Item = &Partner> {
        self.partners
            .iter()
            .filter(|p| p.role == Role::Administrator)
    }

    /// Who is informed of a signal, and who exercises the rights, at `age` (003 art. 9.2, 19.1).
    pub fn addressee(&self, age: u32) -> Addressee {
        Addressee::for_age(age, &self.config.informing)
    }
}
