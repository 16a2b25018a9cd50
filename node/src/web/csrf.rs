//! CSRF protection: every POST form carries a hidden `csrf` field that must equal the session's
//! token (or, on the login form, the token in the pre-login cookie: double submit). The
//! session cookie is `SameSite=Strict` as well; the token also protects browsers that ignore it.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::session::Session;

/// The hidden form field.
pub const FIELD: &str = "csrf";
/// The cookie holding the login form's token.
pub const LOGIN_COOKIE: &str = "vir_csrf";

/// Compares two tokens without leaking where they differ (hashes of equal length).
pub fn same(a: &str, b: &str) -> bool {
    let (a, b) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// Refuses a form whose token is not the session's (403, the form is not handled).
// The refusal is the handler's whole answer; boxing it would only add a step to every caller.
#[allow(clippy::result_large_err)]
pub fn check(session: &Session, submitted: &str) -> Result<(), Response> {
    if !submitted.is_empty() && same(&session.csrf, submitted) {
        Ok(())
    } else {
        tracing::warn!(event = "csrf_refused", account = %session.account.id, "form without a valid CSRF token");
        Err(refused())
    }
}

pub fn refused() -> Response {
    (
        StatusCode::FORBIDDEN,
        axum::response::Html(
            super::html::bare_page(
                "Verzoek geweigerd",
                "Dit formulier is verlopen of niet van deze site (CSRF-controle). Laad de pagina opnieuw en probeer het nog eens.",
            )
            .into_string(),
        ),
    )
        .into_response()
}
