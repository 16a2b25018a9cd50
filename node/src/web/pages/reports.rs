//! The administrator's policy reports (003 art. 25; 004 §15): the tables of
//! `Node.AdminPolicyReport` with their charts, and each table as a CSV download.
//!
//! Everything shown comes from that call, so the suppression of small cells (also by
//! difference, `vir_shared::report`) is the same here as in `virctl report`: a hidden cell
//! carries no value on its way to the browser.

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use maud::html;
use vir_proto as pb;
use vir_proto::node_server::Node;

use crate::web::calls::{self, request};
use crate::web::html::{error_page, page, respond};
use crate::web::session::{AdminSession, Session};
use crate::web::WebState;

/// The reporting period from the query string (`van`, `tot`: YYYY-MM-DD; empty = all of it).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct PeriodQuery {
    pub van: String,
    pub tot: String,
}

impl PeriodQuery {
    fn request(&self) -> pb::PolicyReportRequest {
        pb::PolicyReportRequest {
            from: self.van.trim().to_owned(),
            to: self.tot.trim().to_owned(),
        }
    }

    fn query_string(&self) -> String {
        format!(
            "?van={}&tot={}",
            crate::web::html::url_encode(self.van.trim()),
            crate::web::html::url_encode(self.tot.trim())
        )
    }
}

async fn report(
    state: &WebState,
    session: &Session,
    period: &PeriodQuery,
) -> Result<pb::PolicyReportResponse, Response> {
    state
        .api
        .admin_policy_report(request(session, period.request()))
        .await
        .map(tonic::Response::into_inner)
        .map_err(|s| calls::refusal(session, &s))
}

fn cell(c: Option<&pb::ReportCell>) -> String {
    match c.and_then(|c| c.cell) {
        Some(pb::report_cell::Cell::Value(v)) => v.to_string(),
        Some(pb::report_cell::Cell::Suppressed(_)) => "x".to_owned(),
        None => String::new(),
    }
}

/// `GET /beheer/rapportage`: every table, its chart and a CSV link.
pub async fn overview(
    State(state): State<WebState>,
    AdminSession(session): AdminSession,
    Query(period): Query<PeriodQuery>,
) -> Response {
    let report = match report(&state, &session, &period).await {
        Ok(r) => r,
        Err(refused) => return refused,
    };
    let query = period.query_string();
    let body = html! {
        h1 { "Beleidsrapportage" }
        p { "Periode " (report.from) " tot en met " (report.to) ". Aantallen onder de drempel zijn "
            "verborgen (x), en waar nodig ook een tweede cel, zodat een verborgen aantal niet uit de "
            "totalen terug te rekenen is (003 art. 25; 004 §15)." }
        form method="get" action="/beheer/rapportage" {
            label { "Van " input type="date" name="van" value=(period.van); }
            " "
            label { "Tot en met " input type="date" name="tot" value=(period.tot); }
            " "
            button type="submit" { "Toon" }
        }
        @for table in &report.tables {
            section.rapport id=(table.id) {
                h2 { (table.title) }
                table {
                    thead { tr { th { (table.row_header) } @for c in &table.columns { th { (c) } } } }
                    tbody {
                        @for row in &table.rows {
                            tr { td { (row.label) } @for i in 0..table.columns.len() { td { (cell(row.cells.get(i))) } } }
                        }
                        @if let Some(totals) = &table.totals {
                            tr.totaal { td { (totals.label) } @for i in 0..table.columns.len() { td { (cell(totals.cells.get(i))) } } }
                        }
                    }
                }
                @if !table.svg.is_empty() {
                    // As an image, not inline: whatever the chart holds cannot run as page content.
                    img.grafiek alt={ "Grafiek: " (table.title) }
                        src={ "data:image/svg+xml;base64," (base64::engine::general_purpose::STANDARD.encode(&table.svg)) };
                }
                p { a href={ "/beheer/rapportage/" (table.id) ".csv" (query) } download { "Download als CSV" } }
            }
        }
    };
    respond(StatusCode::OK, page(&session, "Rapportage", body))
}

/// `GET /beheer/rapportage/{id}.csv`: one table as CSV.
pub async fn csv(
    State(state): State<WebState>,
    AdminSession(session): AdminSession,
    Path(file): Path<String>,
    Query(period): Query<PeriodQuery>,
) -> Response {
    let Some(id) = file.strip_suffix(".csv") else {
        return error_page(StatusCode::NOT_FOUND, &session, "Onbekend rapport.");
    };
    let report = match report(&state, &session, &period).await {
        Ok(r) => r,
        Err(refused) => return refused,
    };
    match report.tables.into_iter().find(|t| t.id == id) {
        Some(table) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!(
                        "attachment; filename=\"verwijsindex-{}-{}.csv\"",
                        table.id, report.to
                    ),
                ),
            ],
            table.csv,
        )
            .into_response(),
        None => error_page(StatusCode::NOT_FOUND, &session, "Onbekend rapport."),
    }
}
