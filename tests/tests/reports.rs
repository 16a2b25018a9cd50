//! Policy reports (003 art. 25; 004 §15) end to end: a cell of 3 is hidden, a second cell goes
//! with it, and no hidden cell can be recovered from the published totals — checked by an
//! independent exact solver (`vir_tests::disclosure`) on the regional and the national report,
//! and on random tables.

use std::time::Duration;

use proptest::prelude::*;
use vir_proto as pb;
use vir_tests::disclosure::{disclosed_cells, grid_of};
use vir_tests::{eventually, signal_request, TestFed};

const WAIT: Duration = Duration::from_secs(30);

fn assert_safe(table: &pb::ReportTable) {
    let grid = grid_of(table);
    let disclosed = disclosed_cells(&grid, table.row_totals);
    assert!(
        disclosed.is_empty(),
        "{}: hidden cells {disclosed:?} follow from the totals:\n{}",
        table.id,
        table.csv
    );
    for row in &grid {
        for value in row.iter().flatten() {
            assert!(
                table.threshold == 0 || *value == 0 || *value >= table.threshold,
                "{}: a visible cell {value} is below the threshold",
                table.id
            );
        }
    }
}

fn table<'a>(report: &'a pb::PolicyReportResponse, id: &str) -> &'a pb::ReportTable {
    report
        .tables
        .iter()
        .find(|t| t.id == id)
        .unwrap_or_else(|| panic!("table {id} missing"))
}

fn row<'a>(t: &'a pb::ReportTable, label: &str) -> &'a pb::ReportRow {
    t.rows
        .iter()
        .find(|r| r.label == label)
        .unwrap_or_else(|| panic!("{}: no row {label}", t.id))
}

fn hidden(c: &pb::ReportCell) -> bool {
    matches!(c.cell, Some(pb::report_cell::Cell::Suppressed(true)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cell_of_three_is_hidden_and_totals_do_not_reveal_it() {
    let t = TestFed::start().await;
    let youths: Vec<String> = t
        .unrelated_youths()
        .iter()
        .map(|p| p.bsn.to_string())
        .collect();
    assert!(youths.len() >= 25, "the registry has enough youths");
    // Drenthe: the school signals 3 youths, the JGZ 12, social work 7, the police 6 of the
    // JGZ's youths (regional matches). Zuid-Limburg's JGZ signals 3 of the school's youths.
    let plan: [(&str, std::ops::Range<usize>); 5] = [
        ("drenthe/school", 0..3),
        ("drenthe/jgz", 3..15),
        ("drenthe/mw", 15..22),
        ("drenthe/police", 3..9),
        ("zuid-limburg/jgz", 0..3),
    ];
    for (org, range) in plan {
        let mut client = t.node_client(org);
        for bsn in &youths[range] {
            client
                .create_signal(signal_request(bsn, "Sam Jansen"))
                .await
                .unwrap_or_else(|e| panic!("{org} signals: {e}"));
        }
    }

    // A partner may not see the reports; the administrator may.
    let refused = t
        .node_client("drenthe/school")
        .admin_policy_report(pb::PolicyReportRequest::default())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);
    let bad = t
        .node_client("drenthe/beheer")
        .admin_policy_report(pb::PolicyReportRequest {
            from: "gisteren".into(),
            to: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
    assert!(bad.message().starts_with("from:"), "{}", bad.message());

    let report = t
        .node_client("drenthe/beheer")
        .admin_policy_report(pb::PolicyReportRequest::default())
        .await
        .expect("the administrator gets the reports")
        .into_inner();
    let ids: Vec<&str> = report.tables.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "per_organisation",
            "per_age_group",
            "organisations_per_youth",
            "coordination_started",
            "partners_never_signalled"
        ]
    );
    for t in &report.tables {
        assert_safe(t);
    }

    let per_org = table(&report, "per_organisation");
    let school = row(per_org, "CBS De Regenboog Assen");
    assert!(
        hidden(&school.cells[0]),
        "the school's 3 signals are hidden"
    );
    let signals_hidden = per_org.rows.iter().filter(|r| hidden(&r.cells[0])).count();
    assert!(
        signals_hidden >= 2,
        "a second cell is hidden with it:\n{}",
        per_org.csv
    );
    assert_eq!(
        per_org.totals.as_ref().unwrap().cells[0].cell,
        Some(pb::report_cell::Cell::Value(28))
    );
    assert!(per_org
        .csv
        .lines()
        .any(|l| l == "CBS De Regenboog Assen,x,x"
            || l == "CBS De Regenboog Assen,x,0"
            || l.starts_with("CBS De Regenboog Assen,x,")));
    assert!(per_org.svg.starts_with("<svg"));
    // 22 youths: 16 with one organisation, 6 with two (JGZ and police).
    let spread = table(&report, "organisations_per_youth");
    assert_eq!(
        row(spread, "1").cells[0].cell,
        Some(pb::report_cell::Cell::Value(16))
    );
    assert_eq!(
        row(spread, "2").cells[0].cell,
        Some(pb::report_cell::Cell::Value(6))
    );
    // Organisations are counted, not people: nothing hidden, the silent sports coach shows.
    let silent = table(&report, "partners_never_signalled");
    assert_eq!(silent.threshold, 0);
    assert!(silent
        .rows
        .iter()
        .all(|r| r.cells.iter().all(|c| !hidden(c))));

    // The national report per region: Zuid-Limburg's 3 signals and the 3 matches are hidden.
    let operator = &t.fed.file.operator;
    let hub_channel =
        vir_shared::tls::channel(&t.fed.file.hub.url, operator, &t.fed.file.hub.server_name)
            .unwrap();
    let mut hub = vir_proto::hub_client::HubClient::new(hub_channel);
    let national = eventually("the hub has every signal", WAIT, || {
        let mut hub = hub.clone();
        async move {
            let r = hub
                .report(pb::PolicyReportRequest::default())
                .await
                .ok()?
                .into_inner();
            let t = r.tables.first()?;
            (t.totals.as_ref()?.cells.first()?.cell == Some(pb::report_cell::Cell::Value(31)))
                .then_some(r)
        }
    })
    .await;
    let per_region = table(&national, "per_region");
    assert_safe(per_region);
    assert!(hidden(&row(per_region, "zuid-limburg").cells[0]));
    assert!(hidden(&row(per_region, "zuid-limburg").cells[1]));
    let bad = hub
        .report(pb::PolicyReportRequest {
            from: "2026-02-30".into(),
            to: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
    t.shutdown().await;
}

fn any_table() -> impl Strategy<Value = vir_shared::report::Table> {
    (1usize..6, 1usize..5, any::<bool>()).prop_flat_map(|(rows, columns, row_totals)| {
        proptest::collection::vec(proptest::collection::vec(0u64..16, columns), rows).prop_map(
            move |values| vir_shared::report::Table {
                id: "random".into(),
                title: "random".into(),
                row_header: "r".into(),
                columns: (0..columns).map(|c| format!("c{c}")).collect(),
                rows: values
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| (format!("r{i}"), v))
                    .collect(),
                row_totals,
                threshold: 5,
            },
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Whatever the counts, every small cell is hidden and no hidden cell follows from what
    /// is published.
    #[test]
    fn no_table_discloses_a_hidden_cell(t in any_table()) {
        let published = vir_shared::report::wire::to_proto(&t.publish());
        assert_safe(&published);
    }
}

/// Control: the checker does find a cell that only primary suppression would leave exposed.
#[test]
fn the_checker_finds_a_cell_recoverable_from_its_total() {
    let value = |v| pb::ReportCell {
        cell: Some(pb::report_cell::Cell::Value(v)),
    };
    let suppressed = pb::ReportCell {
        cell: Some(pb::report_cell::Cell::Suppressed(true)),
    };
    let exposed = pb::ReportTable {
        id: "control".into(),
        rows: vec![
            pb::ReportRow {
                label: "A".into(),
                cells: vec![suppressed],
            },
            pb::ReportRow {
                label: "B".into(),
                cells: vec![value(12)],
            },
        ],
        totals: Some(pb::ReportRow {
            label: "Totaal".into(),
            cells: vec![value(15)],
        }),
        ..Default::default()
    };
    assert_eq!(disclosed_cells(&grid_of(&exposed), false), vec![(0, 0)]);
}
