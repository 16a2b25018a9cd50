//! Policy reports of the region (003 art. 25; 004 §15).
//!
//! 003 art. 25.1: "De functioneel beheerder verwerkt gegevens over het aantal signalen en
//! matches ten behoeve van inzicht over het gebruik van de DVi"; 25.3: "… op een wijze die
//! waarborgt dat zij niet tot een persoon herleidbaar zijn". 004 §15 lists the reports: signals
//! by age group (0-23), by organisation, the number of organisations per youth, how often
//! coordination started per coordinating organisation, and users who were trained but never
//! signalled — "dat de informatie nooit te herleiden is naar een jeugdige of naar een melder".
//!
//! Every function returns a [`Published`] table: cells below the threshold are hidden, also
//! when a total minus the visible cells would reveal them (`vir_shared::report::suppress`).
//! Modules: [`facts`] reads what is counted, [`tables`] builds each table.
//!
//! The web UI has no user accounts in this branch, so "trained users who never signalled" is
//! counted per connected partner organisation ([`tables::partners_never_signalled`]).

pub mod facts;
pub mod rpc;
pub mod tables;

pub use facts::ReportFacts;
pub use tables::{
    coordination_started, organisations_per_youth, partners_never_signalled, per_age_group,
    per_organisation,
};
pub use vir_shared::report::wire::Period;
pub use vir_shared::report::{Published, Table};

use crate::config::Partner;
use crate::index::RegionalIndex;

/// Cells below this count are suppressed unless the configuration says otherwise.
pub fn default_threshold() -> u64 {
    vir_shared::report::DEFAULT_THRESHOLD
}

/// Every report of the region for `period`, in the order of 004 §15.
pub async fn all(
    index: &RegionalIndex,
    partners: &[Partner],
    period: Period,
    threshold: u64,
) -> Result<Vec<Published>, sqlx::Error> {
    let facts = ReportFacts::load(index, period).await?;
    Ok(vec![
        per_organisation(&facts, threshold),
        per_age_group(&facts, threshold),
        organisations_per_youth(&facts, threshold),
        coordination_started(&facts, threshold),
        partners_never_signalled(&facts, partners),
    ])
}
