//! Logging in and out. The login form is protected by a double-submit CSRF token (there is no
//! session yet); a successful login starts a session and goes to the page that was asked for.

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup, DOCTYPE};

use crate::web::accounts::{self, Login};
use crate::web::html::respond;
use crate::web::session::{self, Session};
use crate::web::{csrf, WebState};

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct LoginQuery {
    pub volgende: String,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct LoginForm {
    pub username: String,
    pub password: String,
    pub csrf: String,
    pub volgende: String,
}

/// Only a path on this site: never `//host` or a scheme, so the login cannot redirect away.
fn local_path(wanted: &str) -> &str {
    let ok = wanted.starts_with('/') && !wanted.starts_with("//") && !wanted.contains('\\');
    if ok {
        wanted
    } else {
        "/"
    }
}

fn login_page(token: &str, next: &str, username: &str, error: Option<&str>) -> Markup {
    html! {
        (DOCTYPE)
        html lang="nl" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "Inloggen — Verwijsindex" }
                link rel="stylesheet" href="/static/stijl.css";
            }
            body {
                header { span.merk { "Verwijsindex" } }
                main {
                    h1 { "Inloggen" }
                    @if let Some(e) = error { p.fout role="alert" { (e) } }
                    form.blok method="post" action="/login" {
                        input type="hidden" name="csrf" value=(token);
                        input type="hidden" name="volgende" value=(next);
                        label for="username" { "Gebruikersnaam" }
                        input id="username" name="username" autocomplete="username" required value=(username);
                        label for="password" { "Wachtwoord" }
                        input id="password" name="password" type="password" autocomplete="current-password" required;
                        button type="submit" { "Inloggen" }
                    }
                    p.hint { "Voor professionals en beheerders van de convenantpartners van deze regio." }
                }
            }
        }
    }
}

/// A login page with a fresh CSRF token in its cookie.
fn login_response(status: StatusCode, next: &str, username: &str, error: Option<&str>) -> Response {
    let token = session::random_token();
    let mut response = respond(status, login_page(&token, next, username, error));
    response.headers_mut().append(
        header::SET_COOKIE,
        session::set_cookie(csrf::LOGIN_COOKIE, &token, 3600),
    );
    response
}

pub async fn form(Query(query): Query<LoginQuery>) -> Response {
    login_response(StatusCode::OK, local_path(&query.volgende), "", None)
}

pub async fn submit(
    State(state): State<WebState>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let next = local_path(&form.volgende).to_owned();
    let cookie_token = session::cookie(&headers, csrf::LOGIN_COOKIE).unwrap_or_default();
    if cookie_token.is_empty() || !csrf::same(&cookie_token, &form.csrf) {
        tracing::warn!(
            event = "csrf_refused",
            "login form without a valid CSRF token"
        );
        return csrf::refused();
    }
    if form.username.trim().is_empty() {
        return login_response(
            StatusCode::BAD_REQUEST,
            &next,
            "",
            Some("Vul het veld «username» (gebruikersnaam) in."),
        );
    }
    let now = state.now_ms();
    let lock_ms = i64::from(state.config.lockout_minutes) * 60_000;
    let outcome = accounts::login(
        &state.db,
        &form.username,
        &form.password,
        now,
        state.config.lockout_attempts,
        lock_ms,
    )
    .await;
    match outcome {
        Ok(Login::Ok(account)) => match session::start(&state, &account).await {
            Ok(token) => {
                tracing::info!(event = "web_login", account = %account.id, partner = %account.partner_oin, "logged in");
                let mut response = Redirect::to(&next).into_response();
                let headers = response.headers_mut();
                headers.append(
                    header::SET_COOKIE,
                    session::set_cookie(
                        session::COOKIE,
                        &token,
                        i64::from(state.config.session_minutes) * 60,
                    ),
                );
                headers.append(
                    header::SET_COOKIE,
                    session::set_cookie(csrf::LOGIN_COOKIE, "", 0),
                );
                response
            }
            Err(e) => storage_failure(e),
        },
        Ok(Login::Refused) => {
            tracing::info!(event = "web_login_refused", "login refused");
            login_response(
                StatusCode::UNAUTHORIZED,
                &next,
                &form.username,
                Some("Onjuiste gebruikersnaam of wachtwoord."),
            )
        }
        Ok(Login::Locked(until)) => {
            tracing::warn!(event = "web_login_locked", "login refused: account locked");
            let minutes = ((until - now) + 59_999) / 60_000;
            login_response(
                StatusCode::LOCKED,
                &next,
                &form.username,
                Some(&format!(
                    "Dit account is tijdelijk geblokkeerd na te veel mislukte pogingen. Probeer het over {minutes} minuten opnieuw, of vraag de beheerder om een nieuw wachtwoord."
                )),
            )
        }
        Err(e) => storage_failure(e),
    }
}

fn storage_failure(e: sqlx::Error) -> Response {
    tracing::error!(error = %e, "web login: storage failure");
    respond(
        StatusCode::INTERNAL_SERVER_ERROR,
        crate::web::html::bare_page(
            "Er ging iets mis",
            "Inloggen lukt nu niet. Probeer het later opnieuw.",
        ),
    )
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct CsrfOnly {
    pub csrf: String,
}

pub async fn logout(
    State(state): State<WebState>,
    session: Session,
    Form(form): Form<CsrfOnly>,
) -> Response {
    if let Err(refused) = csrf::check(&session, &form.csrf) {
        return refused;
    }
    if let Err(e) = session::end(&state, &session.token).await {
        tracing::error!(error = %e, "web logout: storage failure");
    }
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        session::set_cookie(session::COOKIE, "", 0),
    );
    response
}
