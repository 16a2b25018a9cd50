//! A professional's matches: who else is involved (organisation and contact details), the
//! consultation deadline, and who coordinates (regie); recording the consultation and regie.
//! `/matches/{id}` is the deep link of a match mail.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;
use maud::{html, Markup};
use vir_proto as pb;
use vir_proto::node_server::Node;

use super::{done, Outcome};
use crate::web::calls::{self, request};
use crate::web::html::{csrf_field, error_page, flash, match_kind, page, party, respond};
use crate::web::session::Session;
use crate::web::{csrf, WebState};

/// The caller's matches and follow-ups (each call access-logged by the service layer).
async fn load(
    state: &WebState,
    session: &Session,
) -> Result<(Vec<pb::Match>, Vec<pb::MatchFollowUp>), Response> {
    let matches = state
        .api
        .list_matches(request(session, pb::ListMatchesRequest {}))
        .await
        .map_err(|s| calls::refusal(session, &s))?
        .into_inner()
        .matches;
    let follow_ups = state
        .api
        .list_follow_ups(request(session, pb::ListFollowUpsRequest {}))
        .await
        .map_err(|s| calls::refusal(session, &s))?
        .into_inner()
        .follow_ups;
    Ok((matches, follow_ups))
}

fn regie_text(f: Option<&pb::MatchFollowUp>) -> String {
    match f.and_then(|f| f.regie.as_ref()) {
        Some(r) if !r.coordinator_organisation.is_empty() => r.coordinator_organisation.clone(),
        Some(r) if r.basis == "signallers_decide" => "de melders besluiten samen".into(),
        Some(r) if !r.lead_region.is_empty() => format!("regio {}", r.lead_region),
        _ => "nog niet bepaald".into(),
    }
}

pub async fn list(
    State(state): State<WebState>,
    session: Session,
    Query(outcome): Query<Outcome>,
) -> Response {
    let (matches, follow_ups) = match load(&state, &session).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let body = html! {
        (flash(outcome.error(), outcome.done()))
        @if matches.is_empty() {
            p { "Er zijn nog geen matches op de signalen van uw organisatie." }
        } @else {
            table #matches {
                thead { tr { th { "Match" } th { "Soort" } th { "Andere betrokkenen" } th { "Overleg uiterlijk" } th { "Regie" } } }
                tbody {
                    @for m in &matches {
                        @let f = follow_ups.iter().find(|f| f.match_id == m.id);
                        tr {
                            td { a href={ "/matches/" (m.id) } { "Bekijk match" } br; span.hint { (m.created_at) } }
                            td { (match_kind(m.kind)) }
                            td { @for p in &m.others { (party(p)) } }
                            td {
                                @match f {
                                    Some(f) if !f.consulted_on.is_empty() => { "overlegd op " (f.consulted_on) }
                                    Some(f) => { (f.consultation_due_on) @if f.escalated { " (verstreken)" } }
                                    None => { "—" }
                                }
                            }
                            td { (regie_text(f)) }
                        }
                    }
                }
            }
        }
    };
    respond(StatusCode::OK, page(&session, "Matches", body))
}

fn detail(session: &Session, m: &pb::Match, f: Option<&pb::MatchFollowUp>) -> Markup {
    html! {
        section #match-detail {
            p { "Soort match: " strong { (match_kind(m.kind)) } " · uw signaal " code { (m.your_signal_id) } " · sinds " (m.created_at) }
            h2 { "Andere betrokkenen" }
            @for p in &m.others { (party(p)) }
            h2 { "Overleg" }
            @match f {
                Some(f) if !f.consulted_on.is_empty() => { p { "Overleg vastgelegd op " (f.consulted_on) "." } }
                Some(f) => {
                    p {
                        @if f.consultation_due_on.is_empty() { "Overleg met de andere melders; de termijn volgt." }
                        @else { "Overleg met de andere melders uiterlijk " strong { (f.consultation_due_on) } "." }
                        @if f.escalated { " De termijn is verstreken; de coördinator van de gemeente is ingelicht." } }
                    form.blok method="post" action={ "/matches/" (m.id) "/overleg" } {
                        (csrf_field(session))
                        label for="consulted_on" { "Overlegd op (leeg = vandaag)" }
                        input #consulted_on type="date" name="consulted_on";
                        button type="submit" { "Overleg vastleggen" }
                    }
                }
                None => { p { "Voor deze match geldt geen overlegtermijn." } }
            }
            h2 { "Regie (zorgcoördinatie)" }
            p { "Regie: " (regie_text(f)) }
            form.blok method="post" action={ "/matches/" (m.id) "/regie" } {
                (csrf_field(session))
                label for="coordinator_oin" { "Wie coördineert?" }
                select #coordinator_oin name="coordinator_oin" {
                    option value=(session.account.partner_oin.as_str()) { "Mijn organisatie" }
                    @for p in &m.others {
                        @if !p.organisation_oin.is_empty() {
                            option value=(p.organisation_oin) { (p.organisation) }
                        }
                    }
                }
                button type="submit" { "Regie vastleggen" }
            }
        }
    }
}

pub async fn show(
    State(state): State<WebState>,
    session: Session,
    Path(id): Path<String>,
    Query(outcome): Query<Outcome>,
) -> Response {
    let (matches, follow_ups) = match load(&state, &session).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    // Only the caller's own matches are listed: another organisation's match is not found.
    let Some(m) = matches.iter().find(|m| m.id == id) else {
        return error_page(
            StatusCode::NOT_FOUND,
            &session,
            "Deze match bestaat niet of hoort niet bij uw organisatie.",
        );
    };
    let f = follow_ups.iter().find(|f| f.match_id == m.id);
    respond(
        StatusCode::OK,
        page(
            &session,
            "Match",
            html! { (flash(outcome.error(), outcome.done())) (detail(&session, m, f)) },
        ),
    )
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct ConsultedForm {
    pub csrf: String,
    pub consulted_on: String,
}

pub async fn consulted(
    State(state): State<WebState>,
    session: Session,
    Path(id): Path<String>,
    Form(form): Form<ConsultedForm>,
) -> Response {
    if let Err(refused) = csrf::check(&session, &form.csrf) {
        return refused;
    }
    let message = pb::RecordConsultationRequest {
        match_id: id.clone(),
        consulted_on: form.consulted_on.trim().to_owned(),
    };
    match state
        .api
        .record_consultation(request(&session, message))
        .await
    {
        Ok(_) => done(&format!("/matches/{id}"), "Overleg vastgelegd."),
        Err(status) => calls::refusal(&session, &status),
    }
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct RegieForm {
    pub csrf: String,
    pub coordinator_oin: String,
}

pub async fn regie(
    State(state): State<WebState>,
    session: Session,
    Path(id): Path<String>,
    Form(form): Form<RegieForm>,
) -> Response {
    if let Err(refused) = csrf::check(&session, &form.csrf) {
        return refused;
    }
    let message = pb::SetRegieRequest {
        match_id: id.clone(),
        coordinator_oin: form.coordinator_oin.trim().to_owned(),
    };
    match state.api.set_regie(request(&session, message)).await {
        Ok(_) => done(&format!("/matches/{id}"), "Regie vastgelegd."),
        Err(status) => calls::refusal(&session, &status),
    }
}
