//! `virctl report`: the region's policy reports (`Node.AdminPolicyReport`) or the national
//! counts per region (`Hub.Report`), as text, JSON, CSV or SVG files.

use anyhow::Context;
use serde_json::json;
use vir_proto as pb;

use crate::cli::{ReportArgs, TargetArgs};
use crate::target;

fn cell_text(c: &pb::ReportCell) -> String {
    match c.cell {
        Some(pb::report_cell::Cell::Value(v)) => v.to_string(),
        Some(pb::report_cell::Cell::Suppressed(_)) | None => "x".into(),
    }
}

fn print_text(t: &pb::ReportTable) {
    println!("{}", t.title);
    let width = t
        .rows
        .iter()
        .map(|r| r.label.chars().count())
        .chain([t.row_header.chars().count(), 6])
        .max()
        .unwrap_or(10);
    let mut heading = format!("  {:<width$}", t.row_header);
    for c in &t.columns {
        heading += &format!(" {c:>12}");
    }
    println!("{heading}");
    for r in t.rows.iter().chain(t.totals.as_ref()) {
        let mut line = format!("  {:<width$}", r.label);
        for c in &r.cells {
            line += &format!(" {:>12}", cell_text(c));
        }
        println!("{line}");
    }
    if t.threshold > 0 {
        println!(
            "  x = niet getoond: minder dan {} of daaruit af te leiden",
            t.threshold
        );
    }
    println!();
}

fn table_json(t: &pb::ReportTable) -> serde_json::Value {
    let row = |r: &pb::ReportRow| {
        json!({"label": r.label, "cells": r.cells.iter().map(|c| match c.cell {
            Some(pb::report_cell::Cell::Value(v)) => json!(v),
            _ => json!(null),
        }).collect::<Vec<_>>()})
    };
    json!({
        "id": t.id, "title": t.title, "row_header": t.row_header, "columns": t.columns,
        "rows": t.rows.iter().map(row).collect::<Vec<_>>(),
        "totals": t.totals.as_ref().map(row), "threshold": t.threshold,
    })
}

pub async fn run(target_args: &TargetArgs, args: ReportArgs, json: bool) -> anyhow::Result<()> {
    let request = pb::PolicyReportRequest {
        from: args.from.clone().unwrap_or_default(),
        to: args.to.clone().unwrap_or_default(),
    };
    let report = if args.hub {
        let mut hub = vir_proto::hub_client::HubClient::new(target::hub_channel(target_args)?);
        hub.report(request).await
    } else {
        let mut node = vir_proto::node_client::NodeClient::new(target::node_channel(target_args)?);
        node.admin_policy_report(request).await
    }
    .map_err(|s| anyhow::anyhow!("{}: {}", s.code(), s.message()))?
    .into_inner();
    let tables: Vec<&pb::ReportTable> = report
        .tables
        .iter()
        .filter(|t| args.table.as_deref().is_none_or(|id| t.id == id))
        .collect();
    if tables.is_empty() {
        let ids: Vec<&str> = report.tables.iter().map(|t| t.id.as_str()).collect();
        anyhow::bail!("no table {:?}; tables: {}", args.table, ids.join(", "));
    }
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        for t in &tables {
            for (ext, body) in [("csv", &t.csv), ("svg", &t.svg)] {
                let path = dir.join(format!("{}.{ext}", t.id));
                std::fs::write(&path, body)
                    .with_context(|| format!("writing {}", path.display()))?;
                println!("{}", path.display());
            }
        }
    } else if args.svg {
        let [one] = tables.as_slice() else {
            anyhow::bail!("--svg prints one chart: choose a table with --table");
        };
        print!("{}", one.svg);
    } else if args.csv {
        let csvs: Vec<&str> = tables.iter().map(|t| t.csv.as_str()).collect();
        print!("{}", csvs.join("\n"));
    } else if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "from": report.from, "to": report.to,
                "tables": tables.iter().map(|t| table_json(t)).collect::<Vec<_>>(),
            }))?
        );
    } else {
        println!("Periode {} t/m {}\n", report.from, report.to);
        for t in tables {
            print_text(t);
        }
    }
    Ok(())
}
