//! The node's web UI for professionals and administrators: server-rendered HTML (maud), served
//! over HTTPS with the node's own TLS certificate, started by [`crate::spawn`] when `[web]` is
//! configured.
//!
//! Every page acts through the same [`NodeApi`] as the gRPC partner API, called in-process with
//! the logged-in account's organisation ([`WebCaller`]) and the account as "on behalf of"
//! ([`calls`]): the same authorization (a professional sees only their organisation's signals,
//! administrator pages only for the administrator) and the same access log (NEN 7513).
//!
//! Module map: [`accounts`] (Argon2 passwords, lockout, the administrator's user management),
//! [`session`] (cookies, sessions stored hashed, the logged-in account), [`csrf`] (tokens on
//! every form), [`html`] (layout and Dutch labels), [`calls`] (the bridge to `NodeApi`),
//! [`pages`] (one module per area).
//!
//! Why HTTPS with the node certificate: the session cookie is `Secure`, and the development
//! PKI already issues the node a server certificate for `localhost`; a browser trusts it after
//! the federation root is imported (the tests and the local federation's Chromium skip that
//! check). The HTTPS port shares the partner API's reloadable TLS material ([`serve::run`]).

pub mod accounts;
pub mod calls;
pub mod csrf;
pub mod html;
pub mod pages;
pub mod serve;
pub mod session;

#[cfg(test)]
mod storage_tests;

use std::net::SocketAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use vir_shared::db::Db;
use vir_shared::{Oin, SharedClock};

use crate::api::NodeApi;

/// `[web]`: where the UI listens, and its session and lockout settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct WebConfig {
    /// HTTPS address of the UI; port 0 picks a free port (tests).
    pub listen: SocketAddr,
    /// A session ends this long after login.
    #[serde(default = "default_session_minutes")]
    pub session_minutes: u32,
    /// Failed logins in a row before the account is locked.
    #[serde(default = "default_lockout_attempts")]
    pub lockout_attempts: u32,
    /// How long a locked account stays locked, by the node's clock.
    #[serde(default = "default_lockout_minutes")]
    pub lockout_minutes: u32,
}

fn default_session_minutes() -> u32 {
    8 * 60
}
fn default_lockout_attempts() -> u32 {
    5
}
fn default_lockout_minutes() -> u32 {
    15
}

impl WebConfig {
    /// A UI on `listen` with the default settings.
    pub fn on(listen: SocketAddr) -> WebConfig {
        WebConfig {
            listen,
            session_minutes: default_session_minutes(),
            lockout_attempts: default_lockout_attempts(),
            lockout_minutes: default_lockout_minutes(),
        }
    }
}

/// The caller of an in-process `NodeApi` call made by the web UI: the organisation of the
/// logged-in account. Only this process can put it in a request's extensions.
#[derive(Debug, Clone)]
pub struct WebCaller {
    pub oin: Oin,
}

/// What every handler shares.
#[derive(Clone)]
pub struct WebState {
    pub api: NodeApi,
    pub db: Db,
    pub clock: SharedClock,
    pub config: Arc<WebConfig>,
    /// The region's display name, for page titles.
    pub region_name: Arc<str>,
}

impl WebState {
    pub fn now_ms(&self) -> i64 {
        self.clock.now().timestamp_millis()
    }
}
