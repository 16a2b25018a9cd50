//! The `[rules]` section each region's node configuration ships with: the region's own values
//! where the sources differ (../shared/domain.md, "Where the sources disagree"), each with its
//! article, so that the local federation runs what the regions agreed.

use std::fmt::Write as _;

use crate::plan::{RegionPlan, COORDINATOR};

/// The OIN of a region's organisation by short name.
fn oin_of(r: &RegionPlan, short: &str) -> Option<String> {
    r.orgs
        .iter()
        .find(|o| o.short == short)
        .map(|o| o.oin.to_string())
}

/// The `[rules]` TOML of a region (empty for a region without shipped rules: the defaults).
pub fn rules_section(r: &RegionPlan) -> String {
    let (consultation_days, death_days, urgency, regie, coordinator) = match r.code {
        // 003 art. 10.1: five working days; Bijlage 2: social work, else JGZ, else together.
        "drenthe" => (5, 0, false, DRENTHE_REGIE, oin_of(r, COORDINATOR)),
        // 002 art. 10.1: ten working days; 17.6: the administrator informs after a death;
        // 14.1: the signallers choose a hoofdregisseur.
        "zuid-limburg" => (10, 14, false, ZUID_LIMBURG_REGIE, oin_of(r, COORDINATOR)),
        // 004 §5: urgency codes, Bureau Jeugdzorg else the CJG's regisseur sluitende aanpak.
        "hoeksche-waard" => (5, 0, true, HOEKSCHE_WAARD_REGIE, oin_of(r, "cjg")),
        _ => return String::new(),
    };
    let mut s = String::from(
        "\n# The region's rules (node/src/rules). Articles: ../shared/domain.md and its sources.\n",
    );
    let _ = write!(
        s,
        "[rules.lifetime]\n\
         # Active at most 24 months after signalling or renewal (003 art. 1, 16.1; 002 art. 17.1).\n\
         active_months = 24\n\
         # Inactive and expired signals stay 5 years in the archive (003 art. 16.2; Jeugdwet 7.1.4.6).\n\
         archive_years = 5\n\
         # Destroyed, archive included, at this age and at death (003 art. 16.5; 002 art. 17.6-17.8).\n\
         destroy_at_age = 23\n\
         # The signaller is reminded this many days before the end date to renew.\n\
         renewal_reminder_days = 14\n\
         # After a death the administrator informs the signallers within this many days (002 art. 17.6); 0 = they are told directly.\n\
         death_inform_days = {death_days}\n\n\
         [rules.signals]\n\
         # Urgency codes 1 \"laag\" and 2 \"urgent\" (004 §5, §12) and ketenregistratie (004 §11, §13).\n\
         urgency_codes = {urgency}\n\
         chain_registration = {urgency}\n\n\
         [rules.consultation]\n\
         # Consult the other signallers within this many working days of a match (003 art. 10.1: 5; 002 art. 10.1: 10).\n\
         working_days = {consultation_days}\n\
         # For a youth with an urgent signal (004 §5: coordination starts at once).\n\
         urgent_working_days = 1\n\
         # Good Friday is not a holiday in the Algemene termijnenwet.\n\
         good_friday = false\n\n\
         {regie}\n\
         [rules.informing]\n\
         # Under 12 the parents, 12-16 parents and youth, from 16 the youth (003 art. 9.2, 19.1).\n\
         parents_only_below = 12\n\
         youth_only_from = 16\n\n\
         [rules.objection]\n\
         # Accepted at any time; later than 6 weeks after informing it is flagged late (001 Q30; 003 art. 18.1).\n\
         late_after_weeks = 6\n\
         # Decided within 4 weeks (003 art. 18.3; 002 art. 20.3); the administrators are reminded.\n\
         decision_weeks = 4\n\
         reminder_days_before = [7, 1]\n"
    );
    if let Some(oin) = coordinator {
        let _ = write!(
            s,
            "\n# The municipalities' coordinator: alerted when a consultation deadline is missed (003 art. 13; 004 §6).\n\
             [[rules.coordinators]]\noin = \"{oin}\"\nmunicipalities = []\n"
        );
    }
    s
}

const DRENTHE_REGIE: &str = "[rules.regie]\n\
# 003 Bijlage 2: Maatschappelijk Werk among the signallers has regie, else JGZ, else the\n\
# signallers decide together; the proposal binds at first and they may change it.\n\
mode = \"proposal\"\n\
categories = [\"social_work\", \"jgz\"]\n\
fallback = \"signallers\"\n";

const ZUID_LIMBURG_REGIE: &str = "[rules.regie]\n\
# 002 art. 14.1: the signallers choose a hoofdregisseur per match.\n\
mode = \"chosen\"\n\
categories = []\n\
fallback = \"signallers\"\n";

const HOEKSCHE_WAARD_REGIE: &str = "[rules.regie]\n\
# 004 §5.2: Bureau Jeugdzorg if involved, else the regisseur sluitende aanpak at the CJG.\n\
mode = \"proposal\"\n\
categories = [\"youth_care\"]\n\
fallback = \"coordinator\"\n";

#[cfg(test)]
mod tests {
    use std::path::Path;

    use vir_node::config::NodeConfig;
    use vir_node::rules::RegieMode;

    /// Every shipped region's node configuration, rules included, parses and validates.
    #[test]
    fn shipped_rules_parse_and_validate() {
        let tls = vir_shared::tls::TlsPaths {
            cert: "c.pem".into(),
            key: "k.pem".into(),
            ca: "ca.pem".into(),
            crls: Vec::new(),
        };
        for r in crate::plan::regions() {
            let text = crate::configs::node(&crate::configs::NodeFiles {
                region: &r,
                listen: "127.0.0.1:0".parse().unwrap(),
                tls: &tls,
                hpke_private_key: Path::new("hpke.key"),
                hub_url: "https://127.0.0.1:1",
                pseudonymiser_url: "https://127.0.0.1:2",
                storage_url: "sqlite:///tmp/x.sqlite",
                registry_file: Path::new("registry.json"),
                clock_file: Path::new("dev-clock"),
            });
            let config = NodeConfig::from_toml(&text).unwrap_or_else(|e| panic!("{}: {e}", r.code));
            let rules = &config.rules;
            match r.code {
                "drenthe" => assert_eq!(rules.consultation.working_days, 5),
                "zuid-limburg" => {
                    assert_eq!(rules.consultation.working_days, 10);
                    assert_eq!(rules.regie.mode, RegieMode::Chosen);
                    assert_eq!(rules.lifetime.death_inform_days, 14);
                }
                _ => assert!(rules.signals.urgency_codes),
            }
            assert_eq!(rules.coordinators.len(), 1, "{}", r.code);
            assert_eq!(
                config
                    .partners
                    .iter()
                    .filter(|p| p.role == vir_node::config::Role::Administrator)
                    .count(),
                1
            );
        }
    }
}
