//! `/berichten`: match notifications and notices (prompts, reminders, alerts, administrator
//! tasks) of the account's organisation, newest first. Kinds this UI does not know yet are
//! shown generically, so new notice kinds (such as those of a move) appear without a change.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use vir_proto as pb;
use vir_proto::node_server::Node;

use super::Outcome;
use crate::web::calls::{self, request};
use crate::web::html::{csrf_field, flash, match_kind, notice_topic, page, party, respond};
use crate::web::session::Session;
use crate::web::WebState;

pub async fn list(
    State(state): State<WebState>,
    session: Session,
    Query(outcome): Query<Outcome>,
) -> Response {
    let notices = match state
        .api
        .list_notices(request(&session, pb::ListNoticesRequest {}))
        .await
    {
        Ok(r) => r.into_inner().notices,
        Err(s) => return calls::refusal(&session, &s),
    };
    // The administrator signals nothing, so has no match notifications.
    let notifications = if session.is_admin() {
        Vec::new()
    } else {
        match state
            .api
            .list_notifications(request(&session, pb::ListNotificationsRequest {}))
            .await
        {
            Ok(r) => r.into_inner().notifications,
            Err(s) => return calls::refusal(&session, &s),
        }
    };
    let body = html! {
        (flash(outcome.error(), outcome.done()))
        h2 { "Nieuwe matches" }
        @if notifications.is_empty() { p { "Geen meldingen van matches." } }
        @for n in notifications.iter().rev() {
            article id={ "melding-" (n.id) } {
                p { strong { "Match (" (match_kind(n.kind)) ")" } " · " (n.created_at) " · "
                    a href={ "/matches/" (n.match_id) } { "Bekijk match" } }
                @for p in &n.parties { (party(p)) }
            }
        }
        h2 { "Berichten" }
        @if notices.is_empty() { p { "Geen berichten." } }
        @else {
            table #berichten {
                thead { tr { th { "Onderwerp" } th { "Datum" } th { "Uiterlijk" } th { "Over" } th {} } }
                tbody {
                    @for n in notices.iter().rev() {
                        tr id={ "bericht-" (n.id) } {
                            td { (notice_topic(n.topic)) @if !n.detail.is_empty() { br; span.hint { (n.detail) } } }
                            td { (n.created_at) }
                            td { (n.due_on) }
                            td {
                                @if !n.match_id.is_empty() && !session.is_admin() {
                                    a href={ "/matches/" (n.match_id) } { "match" } " "
                                }
                                @if !n.your_signal_id.is_empty() { span.hint { "signaal " (n.your_signal_id) } }
                                @for p in &n.parties { (party(p)) }
                            }
                            td {
                                @if session.is_admin() && is_task(n.topic) {
                                    form.inline method="post" action={ "/beheer/taken/" (n.id) "/afgerond" } {
                                        (csrf_field(&session)) button.stil type="submit" { "Afgerond" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    respond(StatusCode::OK, page(&session, "Berichten", body))
}

/// Administrator tasks stay open until marked done (`AdminCloseTask`).
fn is_task(topic: i32) -> bool {
    topic == pb::NoticeTopic::DestructionRequested as i32
        || topic == pb::NoticeTopic::SignallersToInform as i32
}
