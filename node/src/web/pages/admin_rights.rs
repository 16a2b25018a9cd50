//! The administrator's casework: candidate matches to confirm or reject, missed deadlines and
//! open tasks, inzage (in this region or all regions) and bezwaar (lodge, decide).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;
use maud::html;
use vir_proto as pb;
use vir_proto::node_server::Node;

use super::{done, Outcome};
use crate::web::calls::{self, request};
use crate::web::html::{addressee, csrf_field, error_page, flash, notice_topic, page, respond};
use crate::web::session::{AdminSession, Session};
use crate::web::{csrf, WebState};

fn candidate_status(status: i32) -> &'static str {
    match pb::CandidateStatus::try_from(status).unwrap_or(pb::CandidateStatus::Unspecified) {
        pb::CandidateStatus::Pending => "wacht op besluit",
        pb::CandidateStatus::Confirmed => "bevestigd",
        pb::CandidateStatus::Rejected => "afgewezen",
        pb::CandidateStatus::Closed => "gesloten",
        pb::CandidateStatus::Unspecified => "onbekend",
    }
}

pub async fn candidates(
    State(state): State<WebState>,
    AdminSession(session): AdminSession,
    Query(outcome): Query<Outcome>,
) -> Response {
    let list = match state
        .api
        .admin_list_candidates(request(
            &session,
            pb::AdminListCandidatesRequest {
                pending_only: false,
            },
        ))
        .await
    {
        Ok(r) => r.into_inner().candidates,
        Err(s) => return calls::refusal(&session, &s),
    };
    let body = html! {
        (flash(outcome.error(), outcome.done()))
        p.hint { "Een kandidaat-match is een mogelijke match op een jeugdige zonder BSN (002 art. 8.5-8.7). De melders horen er pas van als u (en bij een andere regio ook die beheerder) bevestigt." }
        @if list.is_empty() { p { "Geen kandidaat-matches." } }
        table #kandidaten {
            thead { tr { th { "Status" } th { "Signalen in deze regio" } th { "Andere regio" } th { "Besluit" } } }
            tbody {
                @for c in &list {
                    tr {
                        td { (candidate_status(c.status)) }
                        td {
                            @for s in &c.sides {
                                div { (s.organisation) ": " (s.given_name) " " (s.surname) ", " (s.birth_date) ", " (s.gender)
                                    @if !s.verwijsindex_number.is_empty() { " (vi-nr " (s.verwijsindex_number) ")" } }
                            }
                        }
                        td { (c.other_region) }
                        td {
                            @if c.status == pb::CandidateStatus::Pending as i32 {
                                form.inline method="post" action={ "/beheer/kandidaten/" (c.id) } {
                                    (csrf_field(&session)) input type="hidden" name="besluit" value="bevestigen";
                                    button type="submit" { "Zelfde jeugdige" }
                                }
                                " "
                                form.inline method="post" action={ "/beheer/kandidaten/" (c.id) } {
                                    (csrf_field(&session)) input type="hidden" name="besluit" value="afwijzen";
                                    button.stil type="submit" { "Niet dezelfde" }
                                }
                            } @else { (c.decided_at) }
                        }
                    }
                }
            }
        }
    };
    respond(StatusCode::OK, page(&session, "Kandidaat-matches", body))
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct DecideForm {
    pub csrf: String,
    pub besluit: String,
}

pub async fn decide_candidate(
    State(state): State<WebState>,
    AdminSession(session): AdminSession,
    Path(id): Path<String>,
    Form(form): Form<DecideForm>,
) -> Response {
    if let Err(refused) = csrf::check(&session, &form.csrf) {
        return refused;
    }
    let confirm = match form.besluit.as_str() {
        "bevestigen" => true,
        "afwijzen" => false,
        _ => {
            return error_page(
                StatusCode::BAD_REQUEST,
                &session,
                "Onjuiste invoer in veld «besluit»: bevestigen of afwijzen",
            )
        }
    };
    let message = pb::AdminDecideCandidateRequest {
        candidate_id: id,
        confirm,
    };
    match state
        .api
        .admin_decide_candidate(request(&session, message))
        .await
    {
        Ok(_) => done("/beheer/kandidaten", "Besluit vastgelegd."),
        Err(s) => calls::refusal(&session, &s),
    }
}

pub async fn deadlines(
    State(state): State<WebState>,
    AdminSession(session): AdminSession,
    Query(outcome): Query<Outcome>,
) -> Response {
    let d = match state
        .api
        .admin_deadlines(request(&session, pb::AdminDeadlinesRequest {}))
        .await
    {
        Ok(r) => r.into_inner(),
        Err(s) => return calls::refusal(&session, &s),
    };
    let body = html! {
        (flash(outcome.error(), outcome.done()))
        h2 { "Gemiste overlegtermijnen" }
        @if d.missed_consultations.is_empty() { p { "Geen." } }
        @else {
            table #gemist {
                thead { tr { th { "Organisatie" } th { "Gemeente" } th { "Uiterlijk" } th { "Coördinator ingelicht" } th { "Match" } } }
                tbody { @for m in &d.missed_consultations {
                    tr { td { (m.organisation) } td { (m.municipality) } td { (m.due_on) }
                         td { @if m.escalated_at.is_empty() { "nog niet" } @else { (m.escalated_at) } }
                         td { code { (m.match_id) } } }
                } }
            }
        }
        h2 { "Bezwaren met een beslistermijn" }
        @if d.objections_due.is_empty() { p { "Geen." } }
        @else {
            table { thead { tr { th { "Bezwaar" } th { "Beslissen uiterlijk" } th { "Te laat?" } } }
                tbody { @for o in &d.objections_due {
                    tr { td { a href="/beheer/bezwaar" { code { (o.objection_id) } } }
                         td { (o.decision_due) @if o.overdue { " (verstreken)" } }
                         td { @if o.late { "ingediend na 6 weken" } @else { "—" } } }
                } } }
        }
        h2 { "Open taken" }
        @if d.tasks.is_empty() { p { "Geen." } }
        @for t in &d.tasks {
            p { (notice_topic(t.topic)) " · signaal " code { (t.your_signal_id) } " · " (t.created_at) " "
                form.inline method="post" action={ "/beheer/taken/" (t.id) "/afgerond" } {
                    (csrf_field(&session)) button.stil type="submit" { "Afgerond" }
                } }
        }
    };
    respond(StatusCode::OK, page(&session, "Termijnen", body))
}

pub async fn close_task(
    State(state): State<WebState>,
    AdminSession(session): AdminSession,
    Path(id): Path<String>,
    Form(form): Form<super::login::CsrfOnly>,
) -> Response {
    if let Err(refused) = csrf::check(&session, &form.csrf) {
        return refused;
    }
    let message = pb::AdminCloseTaskRequest { notice_id: id };
    match state.api.admin_close_task(request(&session, message)).await {
        Ok(_) => done("/beheer/termijnen", "Taak afgerond."),
        Err(s) => calls::refusal(&session, &s),
    }
}

fn parse_addressee(text: &str, field: &'static str) -> Result<pb::Addressee, String> {
    match text {
        "parents" => Ok(pb::Addressee::Parents),
        "parents_and_youth" => Ok(pb::Addressee::ParentsAndYouth),
        "youth" => Ok(pb::Addressee::Youth),
        _ => Err(format!(
            "Onjuiste invoer in veld «{field}»: kies ouders, ouders en jeugdige of jeugdige"
        )),
    }
}

fn addressee_select(name: &str) -> maud::Markup {
    html! {
        select id=(name) name=(name) {
            option value="parents" { "ouders" }
            option value="parents_and_youth" { "ouders en jeugdige" }
            option value="youth" { "jeugdige" }
        }
    }
}

fn inzage_form_markup(session: &Session) -> maud::Markup {
    html! {
        form.blok method="post" action="/beheer/inzage" {
            (csrf_field(session))
            label for="bsn" { "BSN van de jeugdige" }
            input #bsn name="bsn" inputmode="numeric" autocomplete="off" required;
            label for="requested_by" { "Wie vraagt inzage?" }
            (addressee_select("requested_by"))
            label { input type="checkbox" name="youth_not_capable" value="1"; " De jeugdige kan zijn belangen niet zelf overzien (ouders handelen)" }
            label { input type="checkbox" name="all_regions" value="1"; " Ook de andere regio's vragen (via de landelijke index)" }
            button type="submit" { "Inzage opvragen" }
        }
    }
}

pub async fn inzage_form(AdminSession(session): AdminSession) -> Response {
    respond(
        StatusCode::OK,
        page(&session, "Inzage", inzage_form_markup(&session)),
    )
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct InzageForm {
    pub csrf: String,
    pub bsn: String,
    pub requested_by: String,
    pub youth_not_capable: String,
    pub all_regions: String,
}

pub async fn inzage(
    State(state): State<WebState>,
    AdminSession(session): AdminSession,
    Form(form): Form<InzageForm>,
) -> Response {
    if let Err(refused) = csrf::check(&session, &form.csrf) {
        return refused;
    }
    let requested_by = match parse_addressee(&form.requested_by, "requested_by") {
        Ok(a) => a,
        Err(e) => return error_page(StatusCode::BAD_REQUEST, &session, &e),
    };
    let message = pb::AdminInzageRequest {
        bsn: form.bsn.trim().to_owned(),
        requested_by: requested_by as i32,
        youth_not_capable: form.youth_not_capable == "1",
    };
    let (export, request_id) = if form.all_regions == "1" {
        match state
            .api
            .admin_inzage_all_regions(request(&session, message))
            .await
        {
            Ok(r) => {
                let r = r.into_inner();
                (r.regional.unwrap_or_default(), Some(r.request_id))
            }
            Err(s) => return calls::refusal(&session, &s),
        }
    } else {
        match state.api.admin_inzage(request(&session, message)).await {
            Ok(r) => (r.into_inner(), None),
            Err(s) => return calls::refusal(&session, &s),
        }
    };
    let body = html! {
        p { (export.signals) " signaal/signalen en " (export.access_log_entries) " regel(s) uit het toegangslog in deze regio." }
        @if let Some(id) = &request_id {
            p { "De andere regio's zijn gevraagd. " a href={ "/beheer/inzage/" (id) } { "Bekijk hun antwoorden" } }
        }
        h2 { "Export" }
        pre #export { (export.export_json) }
    };
    respond(StatusCode::OK, page(&session, "Inzage", body))
}

pub async fn inzage_result(
    State(state): State<WebState>,
    AdminSession(session): AdminSession,
    Path(id): Path<String>,
) -> Response {
    let message = pb::AdminInzageResultRequest { request_id: id };
    let r = match state
        .api
        .admin_inzage_result(request(&session, message))
        .await
    {
        Ok(r) => r.into_inner(),
        Err(s) => return calls::refusal(&session, &s),
    };
    let body = html! {
        @if !r.forwarded { p { "De landelijke index heeft nog niet laten weten welke regio's zijn gevraagd." } }
        @if !r.pending_regions.is_empty() { p { "Nog geen antwoord van: " (r.pending_regions.join(", ")) } }
        @for a in &r.answers { h2 { "Regio " (a.region) } pre { (a.export_json) } }
        h2 { "Deze regio" } pre { (r.regional_export_json) }
    };
    respond(StatusCode::OK, page(&session, "Inzage alle regio's", body))
}

fn outcome_label(outcome: i32) -> &'static str {
    match pb::ObjectionOutcome::try_from(outcome).unwrap_or(pb::ObjectionOutcome::Pending) {
        pb::ObjectionOutcome::Pending => "open",
        pb::ObjectionOutcome::Upheld => "gegrond: vernietigd",
        pb::ObjectionOutcome::NoLongerNeeded => "niet meer nodig: gearchiveerd",
        pb::ObjectionOutcome::Rejected => "ongegrond",
    }
}

pub async fn objections(
    State(state): State<WebState>,
    AdminSession(session): AdminSession,
    Query(outcome): Query<Outcome>,
) -> Response {
    let list = match state
        .api
        .admin_list_objections(request(
            &session,
            pb::AdminListObjectionsRequest { open_only: false },
        ))
        .await
    {
        Ok(r) => r.into_inner().objections,
        Err(s) => return calls::refusal(&session, &s),
    };
    let body = html! {
        (flash(outcome.error(), outcome.done()))
        form.blok method="post" action="/beheer/bezwaar" {
            h2 { "Bezwaar vastleggen" }
            (csrf_field(&session))
            label for="bsn" { "BSN van de jeugdige" }
            input #bsn name="bsn" inputmode="numeric" autocomplete="off" required;
            label for="signal_id" { "Eén signaal (leeg = alle signalen op de jeugdige)" }
            input #signal_id name="signal_id";
            label for="lodged_by" { "Wie maakt bezwaar?" }
            (addressee_select("lodged_by"))
            label for="lodged_on" { "Ontvangen op (leeg = vandaag)" }
            input #lodged_on type="date" name="lodged_on";
            label { input type="checkbox" name="youth_not_capable" value="1"; " De jeugdige kan zijn belangen niet zelf overzien" }
            button type="submit" { "Bezwaar vastleggen" }
        }
        h2 { "Bezwaren" }
        table #bezwaren {
            thead { tr { th { "Ontvangen" } th { "Door" } th { "Signalen" } th { "Beslissen uiterlijk" } th { "Uitkomst" } } }
            tbody { @for o in &list {
                tr {
                    td { (o.lodged_on) @if o.late { br; span.hint { "na 6 weken ingediend" } } }
                    td { (addressee(o.lodged_by)) }
                    td { (o.signal_ids.len()) }
                    td { (o.decision_due) }
                    td {
                        @if o.outcome == pb::ObjectionOutcome::Pending as i32 {
                            form.inline method="post" action={ "/beheer/bezwaar/" (o.id) } {
                                (csrf_field(&session))
                                select name="outcome" {
                                    option value="upheld" { "gegrond (vernietigen)" }
                                    option value="no_longer_needed" { "niet meer nodig (archiveren)" }
                                    option value="rejected" { "ongegrond" }
                                }
                                button type="submit" { "Beslissen" }
                            }
                        } @else { (outcome_label(o.outcome)) " op " (o.decided_on) }
                    }
                }
            } }
        }
    };
    respond(StatusCode::OK, page(&session, "Bezwaar", body))
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct LodgeForm {
    pub csrf: String,
    pub bsn: String,
    pub signal_id: String,
    pub lodged_by: String,
    pub lodged_on: String,
    pub youth_not_capable: String,
}

pub async fn lodge_objection(
    State(state): State<WebState>,
    AdminSession(session): AdminSession,
    Form(form): Form<LodgeForm>,
) -> Response {
    if let Err(refused) = csrf::check(&session, &form.csrf) {
        return refused;
    }
    let lodged_by = match parse_addressee(&form.lodged_by, "lodged_by") {
        Ok(a) => a,
        Err(e) => return error_page(StatusCode::BAD_REQUEST, &session, &e),
    };
    let message = pb::AdminLodgeObjectionRequest {
        bsn: form.bsn.trim().to_owned(),
        signal_id: form.signal_id.trim().to_owned(),
        lodged_on: form.lodged_on.trim().to_owned(),
        lodged_by: lodged_by as i32,
        youth_not_capable: form.youth_not_capable == "1",
        informed_on: String::new(),
    };
    match state
        .api
        .admin_lodge_objection(request(&session, message))
        .await
    {
        Ok(o) => done(
            "/beheer/bezwaar",
            &format!(
                "Bezwaar vastgelegd; beslissen uiterlijk {}.",
                o.into_inner().decision_due
            ),
        ),
        Err(s) => calls::refusal(&session, &s),
    }
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct DecideObjectionForm {
    pub csrf: String,
    pub outcome: String,
    pub decided_on: String,
}

pub async fn decide_objection(
    State(state): State<WebState>,
    AdminSession(session): AdminSession,
    Path(id): Path<String>,
    Form(form): Form<DecideObjectionForm>,
) -> Response {
    if let Err(refused) = csrf::check(&session, &form.csrf) {
        return refused;
    }
    let outcome = match form.outcome.as_str() {
        "upheld" => pb::ObjectionOutcome::Upheld,
        "no_longer_needed" => pb::ObjectionOutcome::NoLongerNeeded,
        "rejected" => pb::ObjectionOutcome::Rejected,
        _ => {
            return error_page(
                StatusCode::BAD_REQUEST,
                &session,
                "Onjuiste invoer in veld «outcome»: gegrond, niet meer nodig of ongegrond",
            )
        }
    };
    let message = pb::AdminDecideObjectionRequest {
        objection_id: id,
        outcome: outcome as i32,
        decided_on: form.decided_on.trim().to_owned(),
    };
    match state
        .api
        .admin_decide_objection(request(&session, message))
        .await
    {
        Ok(_) => done("/beheer/bezwaar", "Besluit op bezwaar vastgelegd."),
        Err(s) => calls::refusal(&session, &s),
    }
}
