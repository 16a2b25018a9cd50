//! Login sessions: a random id in a `Secure; HttpOnly; SameSite=Strict` cookie, stored only as
//! its SHA-256, with an expiry by the node's clock, and the session's CSRF token. The
//! [`Session`] extractor gives a handler the logged-in account or sends the browser to the
//! login page (coming back to the page it asked for).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::accounts::{self, Account, Role};
use super::WebState;

pub const COOKIE: &str = "vir_sessie";

/// 32 random bytes as hex: session ids and CSRF tokens.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// A `Set-Cookie` value for this UI: secure, not for scripts, never sent cross-site.
pub fn set_cookie(name: &str, value: &str, max_age_s: i64) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age={max_age_s}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("invalid=1"))
}

/// Starts a session for `account`; returns the cookie value to set.
pub async fn start(state: &WebState, account: &Account) -> Result<String, sqlx::Error> {
    let token = random_token();
    let now = state.now_ms();
    let expires = now + i64::from(state.config.session_minutes) * 60_000;
    let mut tx = state.db.write().await?;
    // Expired sessions go when anyone logs in; no sweeper needed.
    sqlx::query("DELETE FROM web_sessions WHERE expires_ms <= $1")
        .bind(now)
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "INSERT INTO web_sessions (id_hash, account_id, csrf_token, created_ms, expires_ms) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(hash_token(&token))
    .bind(&account.id)
    .bind(random_token())
    .bind(now)
    .bind(expires)
    .execute(&mut **tx)
    .await?;
    tx.commit().await?;
    Ok(token)
}

/// Ends the session with this cookie value.
pub async fn end(state: &WebState, token: &str) -> Result<(), sqlx::Error> {
    let mut tx = state.db.write().await?;
    sqlx::query("DELETE FROM web_sessions WHERE id_hash = $1")
        .bind(hash_token(token))
        .execute(&mut **tx)
        .await?;
    tx.commit().await
}

/// The logged-in account of a request, and its session's CSRF token.
#[derive(Debug, Clone)]
pub struct Session {
    pub account: Account,
    pub csrf: String,
    /// The cookie value (to end the session).
    pub token: String,
}

impl Session {
    pub fn is_admin(&self) -> bool {
        self.account.role == Role::Administrator
    }
}

/// Looks the cookie's session up: `None` when absent, unknown, expired or the account is off.
pub async fn lookup(state: &WebState, headers: &HeaderMap) -> Option<Session> {
    let token = cookie(headers, COOKIE)?;
    let row = sqlx::query(
        "SELECT account_id, csrf_token, expires_ms FROM web_sessions WHERE id_hash = $1",
    )
    .bind(hash_token(&token))
    .fetch_optional(&state.db.pool)
    .await
    .ok()??;
    let expires: i64 = row.try_get("expires_ms").ok()?;
    if expires <= state.now_ms() {
        return None;
    }
    let account_id: String = row.try_get("account_id").ok()?;
    let account = accounts::by_id(&state.db, &account_id).await.ok()??;
    if !account.active {
        return None;
    }
    Some(Session {
        account,
        csrf: row.try_get("csrf_token").ok()?,
        token,
    })
}

impl FromRequestParts<WebState> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &WebState) -> Result<Self, Response> {
        match lookup(state, &parts.headers).await {
            Some(session) => Ok(session),
            None => {
                let wanted = parts
                    .uri
                    .path_and_query()
                    .map(|p| p.as_str())
                    .unwrap_or("/");
                let target = if parts.method == axum::http::Method::GET {
                    format!("/login?volgende={}", super::html::url_encode(wanted))
                } else {
                    "/login".to_owned()
                };
                Err(Redirect::to(&target).into_response())
            }
        }
    }
}

/// A session that must be an administrator's: others get 403.
#[derive(Debug, Clone)]
pub struct AdminSession(pub Session);

impl FromRequestParts<WebState> for AdminSession {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &WebState) -> Result<Self, Response> {
        let session = Session::from_request_parts(parts, state).await?;
        if !session.is_admin() {
            return Err(super::html::error_page(
                axum::http::StatusCode::FORBIDDEN,
                &session,
                "Alleen de beheerder van de regio mag dit.",
            ));
        }
        Ok(AdminSession(session))
    }
}
