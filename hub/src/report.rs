//! `Hub.Report`: national policy counts per region (003 art. 25; 004 §15) from the hub's
//! pseudonymous data — signals registered and matches per region — with small cells
//! suppressed, also by difference (`vir_shared::report::suppress`).

use vir_proto as pb;
use vir_shared::report::wire::{to_proto, Period};
use vir_shared::report::{Published, Table};

use crate::error::HubError;
use crate::state::HubState;
use crate::store::report::RegionCounts;

/// The table of signals and matches per region. A match between two regions counts in both,
/// so the matches column adds up to twice the number of national matches.
pub fn per_region(counts: &[RegionCounts], threshold: u64) -> Published {
    Table {
        id: "per_region".into(),
        title: "Landelijk: signalen en matches per regio".into(),
        row_header: "Regio".into(),
        columns: vec!["Signalen".into(), "Matches (per deelnemende regio)".into()],
        rows: counts
            .iter()
            .map(|c| (c.region.clone(), vec![c.signals, c.matches]))
            .collect(),
        row_totals: false,
        threshold,
    }
    .publish()
}

pub async fn report(
    state: &HubState,
    period: Period,
    threshold: u64,
) -> Result<pb::PolicyReportResponse, HubError> {
    let (start, end) = period.millis();
    let counts = state.store().region_counts(start, end).await?;
    Ok(pb::PolicyReportResponse {
        from: period.from.to_string(),
        to: period.to.to_string(),
        tables: vec![to_proto(&per_region(&counts, threshold))],
    })
}
