//! The pages of the UI, one module per area. Handlers read forms whose fields all default to
//! empty, so a missing field is refused by the validation that names it, never by a parser.

pub mod admin;
pub mod admin_rights;
pub mod login;
pub mod matches;
pub mod notices;
pub mod reports;
pub mod signals;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};

use super::session;
use super::WebState;

/// `/`: the start page of the account's role, or the login page.
pub async fn home(State(state): State<WebState>, headers: HeaderMap) -> Response {
    match session::lookup(&state, &headers).await {
        Some(s) if s.is_admin() => Redirect::to("/beheer").into_response(),
        Some(_) => Redirect::to("/signalen").into_response(),
        None => Redirect::to("/login").into_response(),
    }
}

/// A query's `gelukt`/`fout` message after a redirect (Post/Redirect/Get).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct Outcome {
    pub gelukt: String,
    pub fout: String,
}

impl Outcome {
    pub fn done(&self) -> Option<&str> {
        (!self.gelukt.is_empty()).then_some(self.gelukt.as_str())
    }
    pub fn error(&self) -> Option<&str> {
        (!self.fout.is_empty()).then_some(self.fout.as_str())
    }
}

/// A redirect to `path` that shows `message` as done.
pub fn done(path: &str, message: &str) -> Response {
    Redirect::to(&format!(
        "{path}?gelukt={}",
        super::html::url_encode(message)
    ))
    .into_response()
}
