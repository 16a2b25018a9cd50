//! A professional's signals: the list with renew, withdraw and informing, and the form that
//! creates one (with the signaller's own contact details, never anything about the concern).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;
use maud::{html, Markup};
use vir_proto as pb;
use vir_proto::node_server::Node;

use super::{done, Outcome};
use crate::web::calls::{self, request};
use crate::web::html::{addressee, csrf_field, error_page, flash, page, respond, signal_status};
use crate::web::session::Session;
use crate::web::{csrf, WebState};

#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(default)]
pub struct CreateForm {
    pub csrf: String,
    pub bsn: String,
    pub name: String,
    pub phone: String,
    pub email: String,
    pub end_date: String,
    pub urgency: String,
}

fn create_form(session: &Session, f: &CreateForm) -> Markup {
    html! {
        form.blok #nieuw-signaal method="post" action="/signalen" {
            h2 { "Nieuw signaal" }
            p.hint { "Een signaal zegt alleen dát u betrokken bent bij een jeugdige, nooit waarom." }
            (csrf_field(session))
            label for="bsn" { "BSN van de jeugdige" }
            input #bsn name="bsn" inputmode="numeric" autocomplete="off" required value=(f.bsn);
            label for="name" { "Uw naam (contactpersoon)" }
            input #name name="name" required value=(f.name);
            label for="phone" { "Uw telefoonnummer" }
            input #phone name="phone" value=(f.phone);
            label for="email" { "Uw e-mailadres" }
            input #email name="email" type="email" value=(f.email);
            label for="end_date" { "Einddatum (optioneel, uiterlijk over 2 jaar)" }
            input #end_date name="end_date" type="date" value=(f.end_date);
            label for="urgency" { "Urgentie (alleen in regio's met urgentiecodes)" }
            select #urgency name="urgency" {
                option value="" selected[f.urgency.is_empty()] { "geen" }
                option value="1" selected[f.urgency == "1"] { "laag" }
                option value="2" selected[f.urgency == "2"] { "urgent" }
            }
            button type="submit" { "Signaal afgeven" }
        }
    }
}

fn signals_table(session: &Session, signals: &[pb::Signal]) -> Markup {
    html! {
        @if signals.is_empty() {
            p { "Uw organisatie heeft nog geen signalen." }
        } @else {
            table #signalen {
                thead { tr { th { "Jeugdige" } th { "BSN" } th { "Status" } th { "Einddatum" } th { "Informeren" } th { "Acties" } } }
                tbody {
                    @for s in signals {
                        tr id={ "signaal-" (s.id) } {
                            td { (s.youth_name) br; span.hint { "geboren " (s.birth_date) } }
                            td { @if s.bsn.is_empty() { "vi-nr " (s.verwijsindex_number) } @else { (s.bsn) } }
                            td { (signal_status(s.status)) }
                            td { (s.end_date) }
                            td {
                                @if let Some(i) = &s.informing {
                                    @if i.postponed_reason.is_empty() { (addressee(i.informed)) " op " (i.informed_on) }
                                    @else { "uitgesteld: " (i.postponed_reason) }
                                } @else { "nog niet vastgelegd" }
                            }
                            td {
                                @if s.status == pb::SignalStatus::Active as i32 {
                                    form.inline method="post" action={ "/signalen/" (s.id) "/verlengen" } {
                                        (csrf_field(session)) button type="submit" { "Verlengen" }
                                    }
                                    " "
                                    form.inline method="post" action={ "/signalen/" (s.id) "/intrekken" } {
                                        (csrf_field(session)) button.stil type="submit" { "Intrekken" }
                                    }
                                    details {
                                        summary { "Informeren vastleggen" }
                                        form method="post" action={ "/signalen/" (s.id) "/informeren" } {
                                            (csrf_field(session))
                                            label { "Geïnformeerd: "
                                                select name="informed" {
                                                    option value="parents" { "ouders" }
                                                    option value="parents_and_youth" { "ouders en jeugdige" }
                                                    option value="youth" { "jeugdige" }
                                                }
                                            }
                                            label { " op " input type="date" name="informed_on"; }
                                            br;
                                            label { "of uitgesteld omdat: " input name="postponed_reason"; }
                                            button type="submit" { "Vastleggen" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

async fn render(
    state: &WebState,
    session: &Session,
    status: StatusCode,
    form: &CreateForm,
    outcome: &Outcome,
    error: Option<&str>,
) -> Response {
    if session.is_admin() {
        return error_page(
            StatusCode::FORBIDDEN,
            session,
            "De beheerder geeft geen signalen af (003 art. 6.4).",
        );
    }
    let list = match state
        .api
        .list_signals(request(session, pb::ListSignalsRequest {}))
        .await
    {
        Ok(r) => r.into_inner().signals,
        Err(status) => return calls::refusal(session, &status),
    };
    respond(
        status,
        page(
            session,
            "Signalen",
            html! {
                (flash(error.or(outcome.error()), outcome.done()))
                (create_form(session, form))
                h2 { "Signalen van uw organisatie" }
                (signals_table(session, &list))
            },
        ),
    )
}

pub async fn list(
    State(state): State<WebState>,
    session: Session,
    Query(outcome): Query<Outcome>,
) -> Response {
    render(
        &state,
        &session,
        StatusCode::OK,
        &CreateForm::default(),
        &outcome,
        None,
    )
    .await
}

pub async fn create(
    State(state): State<WebState>,
    session: Session,
    Form(form): Form<CreateForm>,
) -> Response {
    if let Err(refused) = csrf::check(&session, &form.csrf) {
        return refused;
    }
    let urgency = match form.urgency.trim() {
        "" => 0,
        "1" => 1,
        "2" => 2,
        _ => {
            return render(
                &state,
                &session,
                StatusCode::BAD_REQUEST,
                &form,
                &Outcome::default(),
                Some("Onjuiste invoer in veld «urgency»: kies geen, laag of urgent"),
            )
            .await
        }
    };
    let message = pb::CreateSignalRequest {
        bsn: form.bsn.trim().to_owned(),
        signaller: Some(pb::Contact {
            name: form.name.trim().to_owned(),
            phone: form.phone.trim().to_owned(),
            email: form.email.trim().to_owned(),
        }),
        end_date: form.end_date.trim().to_owned(),
        urgency,
        ..Default::default()
    };
    match state.api.create_signal(request(&session, message)).await {
        Ok(signal) => {
            let signal = signal.into_inner();
            done(
                "/signalen",
                &format!("Signaal afgegeven voor {}.", signal.youth_name),
            )
        }
        Err(status) => {
            let http = calls::http_status(status.code());
            render(
                &state,
                &session,
                http,
                &form,
                &Outcome::default(),
                Some(&calls::message(&status)),
            )
            .await
        }
    }
}

pub async fn withdraw(
    State(state): State<WebState>,
    session: Session,
    Path(id): Path<String>,
    Form(form): Form<super::login::CsrfOnly>,
) -> Response {
    if let Err(refused) = csrf::check(&session, &form.csrf) {
        return refused;
    }
    let message = pb::WithdrawSignalRequest { signal_id: id };
    match state.api.withdraw_signal(request(&session, message)).await {
        Ok(_) => done("/signalen", "Signaal ingetrokken."),
        Err(status) => calls::refusal(&session, &status),
    }
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct RenewForm {
    pub csrf: String,
    pub end_date: String,
}

pub async fn renew(
    State(state): State<WebState>,
    session: Session,
    Path(id): Path<String>,
    Form(form): Form<RenewForm>,
) -> Response {
    if let Err(refused) = csrf::check(&session, &form.csrf) {
        return refused;
    }
    let message = pb::RenewSignalRequest {
        signal_id: id,
        end_date: form.end_date.trim().to_owned(),
    };
    match state.api.renew_signal(request(&session, message)).await {
        Ok(s) => done(
            "/signalen",
            &format!("Signaal verlengd tot {}.", s.into_inner().end_date),
        ),
        Err(status) => calls::refusal(&session, &status),
    }
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct InformForm {
    pub csrf: String,
    pub informed: String,
    pub informed_on: String,
    pub postponed_reason: String,
}

pub async fn inform(
    State(state): State<WebState>,
    session: Session,
    Path(id): Path<String>,
    Form(form): Form<InformForm>,
) -> Response {
    if let Err(refused) = csrf::check(&session, &form.csrf) {
        return refused;
    }
    let postponed = form.postponed_reason.trim().to_owned();
    let informed = if !postponed.is_empty() {
        pb::Addressee::Unspecified
    } else {
        match form.informed.as_str() {
            "parents" => pb::Addressee::Parents,
            "parents_and_youth" => pb::Addressee::ParentsAndYouth,
            "youth" => pb::Addressee::Youth,
            _ => return error_page(
                StatusCode::BAD_REQUEST,
                &session,
                "Onjuiste invoer in veld «informed»: kies ouders, ouders en jeugdige of jeugdige",
            ),
        }
    };
    let message = pb::RecordInformingRequest {
        signal_id: id,
        informed: informed as i32,
        informed_on: if postponed.is_empty() {
            form.informed_on.trim().to_owned()
        } else {
            String::new()
        },
        postponed_reason: postponed,
    };
    match state.api.record_informing(request(&session, message)).await {
        Ok(_) => done("/signalen", "Informeren vastgelegd."),
        Err(status) => calls::refusal(&session, &status),
    }
}
