//! The administrator's overview, partners and user accounts: create an account for a partner's
//! professional (or a fellow administrator), reset a password (which also lifts a lockout),
//! switch an account off. Partners themselves are configured in `[[partners]]` (convenant
//! membership is a decision with a certificate behind it, not a click), so they are shown here.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;
use maud::html;
use vir_proto as pb;
use vir_proto::node_server::Node;

use super::{done, Outcome};
use crate::web::accounts::{self, AccountError, NewAccount, Role};
use crate::web::calls::{self, request};
use crate::web::html::{category, csrf_field, error_page, flash, page, respond};
use crate::web::session::AdminSession;
use crate::web::{csrf, WebState};

pub async fn overview(
    State(state): State<WebState>,
    AdminSession(session): AdminSession,
) -> Response {
    let deadlines = match state
        .api
        .admin_deadlines(request(&session, pb::AdminDeadlinesRequest {}))
        .await
    {
        Ok(r) => r.into_inner(),
        Err(s) => return calls::refusal(&session, &s),
    };
    let candidates = match state
        .api
        .admin_list_candidates(request(
            &session,
            pb::AdminListCandidatesRequest { pending_only: true },
        ))
        .await
    {
        Ok(r) => r.into_inner().candidates,
        Err(s) => return calls::refusal(&session, &s),
    };
    let body = html! {
        p { "Beheer van de verwijsindex van " (state.region_name) "." }
        ul {
            li { a href="/beheer/kandidaten" { (candidates.len()) " kandidaat-match(es) wachten op uw besluit" } }
            li { a href="/beheer/termijnen" { (deadlines.missed_consultations.len()) " gemiste overlegtermijn(en)" } }
            li { a href="/beheer/termijnen" { (deadlines.objections_due.len()) " bezwaar/bezwaren met een beslistermijn" } }
            li { a href="/beheer/termijnen" { (deadlines.tasks.len()) " open taak/taken" } }
            li { a href="/berichten" { "Berichten (waaronder verhuizingen)" } }
        }
    };
    respond(StatusCode::OK, page(&session, "Beheer", body))
}

pub async fn partners(
    State(state): State<WebState>,
    AdminSession(session): AdminSession,
) -> Response {
    let all = match accounts::all(&state.db).await {
        Ok(a) => a,
        Err(e) => return storage(&session, e),
    };
    let body = html! {
        p.hint { "Convenantpartners staan in de configuratie van de node ([[partners]]), met hun PKIoverheid-certificaat (OIN)." }
        table #partners {
            thead { tr { th { "Organisatie" } th { "OIN" } th { "Soort" } th { "Landelijk" } th { "Rol" } th { "Accounts" } } }
            tbody {
                @for p in state.api.partners() {
                    tr {
                        td { (p.organisation) }
                        td { code { (p.oin.as_str()) } }
                        td { (category(p.category.as_str())) }
                        td { @if p.national { "ja" } @else { "nee" } }
                        td { (Role::of_partner(&p).label()) }
                        td { (all.iter().filter(|a| a.partner_oin == p.oin).count()) }
                    }
                }
            }
        }
    };
    respond(StatusCode::OK, page(&session, "Partners", body))
}

#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(default)]
pub struct UserForm {
    pub csrf: String,
    pub partner_oin: String,
    pub username: String,
    pub email: String,
    pub password: String,
}

async fn users_page(
    state: &WebState,
    session: &crate::web::session::Session,
    status: StatusCode,
    form: &UserForm,
    error: Option<&str>,
    done: Option<&str>,
) -> Response {
    let all = match accounts::all(&state.db).await {
        Ok(a) => a,
        Err(e) => return storage(session, e),
    };
    let partners = state.api.partners();
    let name_of = |oin: &vir_shared::Oin| {
        partners
            .iter()
            .find(|p| &p.oin == oin)
            .map_or_else(|| oin.to_string(), |p| p.organisation.clone())
    };
    let body = html! {
        (flash(error, done))
        form.blok #nieuwe-gebruiker method="post" action="/beheer/gebruikers" {
            h2 { "Nieuw account" }
            (csrf_field(session))
            label for="partner_oin" { "Organisatie" }
            select #partner_oin name="partner_oin" {
                @for p in &partners {
                    option value=(p.oin.as_str()) selected[form.partner_oin == p.oin.as_str()] {
                        (p.organisation) " (" (Role::of_partner(p).label()) ")"
                    }
                }
            }
            label for="username" { "Gebruikersnaam" }
            input #username name="username" required value=(form.username);
            label for="email" { "E-mailadres (voor meldingen; er staan nooit namen in)" }
            input #email name="email" type="email" required value=(form.email);
            label for="password" { "Eerste wachtwoord (minstens " (accounts::MIN_PASSWORD_LEN) " tekens)" }
            input #password name="password" type="password" autocomplete="new-password" required;
            button type="submit" { "Account aanmaken" }
        }
        h2 { "Accounts" }
        table #gebruikers {
            thead { tr { th { "Gebruikersnaam" } th { "Organisatie" } th { "Rol" } th { "Status" } th { "Acties" } } }
            tbody {
                @for a in &all {
                    tr {
                        td { (a.username) br; span.hint { (a.email) } }
                        td { (name_of(&a.partner_oin)) }
                        td { (a.role.label()) }
                        td {
                            @if !a.active { "uitgeschakeld" }
                            @else if a.locked_until_ms.is_some_and(|u| u > state.now_ms()) { "geblokkeerd" }
                            @else { "actief" }
                        }
                        td {
                            form.inline method="post" action={ "/beheer/gebruikers/" (a.id) "/wachtwoord" } {
                                (csrf_field(session))
                                input name="password" type="password" placeholder="nieuw wachtwoord" autocomplete="new-password";
                                button type="submit" { "Wachtwoord instellen" }
                            }
                            " "
                            form.inline method="post" action={ "/beheer/gebruikers/" (a.id) "/actief" } {
                                (csrf_field(session))
                                input type="hidden" name="active" value=(if a.active { "0" } else { "1" });
                                button.stil type="submit" { @if a.active { "Uitschakelen" } @else { "Inschakelen" } }
                            }
                        }
                    }
                }
            }
        }
    };
    respond(status, page(session, "Gebruikers", body))
}

pub async fn users(
    State(state): State<WebState>,
    AdminSession(session): AdminSession,
    Query(outcome): Query<Outcome>,
) -> Response {
    users_page(
        &state,
        &session,
        StatusCode::OK,
        &UserForm::default(),
        outcome.error(),
        outcome.done(),
    )
    .await
}

pub async fn create_user(
    State(state): State<WebState>,
    AdminSession(session): AdminSession,
    Form(form): Form<UserForm>,
) -> Response {
    if let Err(refused) = csrf::check(&session, &form.csrf) {
        return refused;
    }
    let partner = form
        .partner_oin
        .trim()
        .parse()
        .ok()
        .and_then(|oin| state.api.partner(&oin).cloned());
    let Some(partner) = partner else {
        return users_page(
            &state,
            &session,
            StatusCode::BAD_REQUEST,
            &form,
            Some("Onjuiste invoer in veld «partner_oin»: geen partner van deze regio"),
            None,
        )
        .await;
    };
    let new = NewAccount {
        partner,
        username: form.username.clone(),
        email: form.email.clone(),
        password: form.password.clone(),
    };
    match accounts::create(&state.db, new, state.now_ms()).await {
        Ok(account) => {
            tracing::info!(event = "web_account_created", account = %account.id, by = %session.account.id, "account created");
            done(
                "/beheer/gebruikers",
                &format!("Account {} aangemaakt.", account.username),
            )
        }
        Err(AccountError::Field(f)) => {
            users_page(
                &state,
                &session,
                StatusCode::BAD_REQUEST,
                &form,
                Some(&format!(
                    "Onjuiste invoer in veld «{}»: {}",
                    f.field, f.reason
                )),
                None,
            )
            .await
        }
        Err(e) => {
            tracing::error!(error = %e, "creating an account failed");
            error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                &session,
                "Het account kon niet worden aangemaakt.",
            )
        }
    }
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct PasswordForm {
    pub csrf: String,
    pub password: String,
}

pub async fn reset_password(
    State(state): State<WebState>,
    AdminSession(session): AdminSession,
    Path(id): Path<String>,
    Form(form): Form<PasswordForm>,
) -> Response {
    if let Err(refused) = csrf::check(&session, &form.csrf) {
        return refused;
    }
    match accounts::reset_password(&state.db, &id, &form.password).await {
        Ok(true) => {
            tracing::info!(event = "web_password_reset", account = %id, by = %session.account.id, "password reset");
            done(
                "/beheer/gebruikers",
                "Wachtwoord ingesteld; een blokkade is opgeheven.",
            )
        }
        Ok(false) => error_page(StatusCode::NOT_FOUND, &session, "Dit account bestaat niet."),
        Err(AccountError::Field(f)) => error_page(
            StatusCode::BAD_REQUEST,
            &session,
            &format!("Onjuiste invoer in veld «{}»: {}", f.field, f.reason),
        ),
        Err(e) => {
            tracing::error!(error = %e, "password reset failed");
            error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                &session,
                "Het wachtwoord kon niet worden ingesteld.",
            )
        }
    }
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct ActiveForm {
    pub csrf: String,
    pub active: String,
}

pub async fn set_active(
    State(state): State<WebState>,
    AdminSession(session): AdminSession,
    Path(id): Path<String>,
    Form(form): Form<ActiveForm>,
) -> Response {
    if let Err(refused) = csrf::check(&session, &form.csrf) {
        return refused;
    }
    let active = match form.active.as_str() {
        "1" => true,
        "0" => false,
        _ => {
            return error_page(
                StatusCode::BAD_REQUEST,
                &session,
                "Onjuiste invoer in veld «active»: 0 of 1",
            )
        }
    };
    if !active && id == session.account.id {
        return error_page(
            StatusCode::CONFLICT,
            &session,
            "U kunt uw eigen account niet uitschakelen.",
        );
    }
    match accounts::set_active(&state.db, &id, active).await {
        Ok(true) => done(
            "/beheer/gebruikers",
            if active {
                "Account ingeschakeld."
            } else {
                "Account uitgeschakeld."
            },
        ),
        Ok(false) => error_page(StatusCode::NOT_FOUND, &session, "Dit account bestaat niet."),
        Err(e) => storage(&session, e),
    }
}

fn storage(session: &crate::web::session::Session, e: sqlx::Error) -> Response {
    tracing::error!(error = %e, "web: storage failure");
    error_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        session,
        "De gegevens konden niet worden gelezen.",
    )
}
