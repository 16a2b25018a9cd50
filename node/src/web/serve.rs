//! Serving the UI: the routes, security headers on every answer, and HTTPS with the node's TLS
//! material (the same reloadable certificate as the partner API; see the module docs of
//! [`super`] for why).

use std::time::Duration;

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use vir_shared::tls::ServerTls;

use super::pages::{admin, admin_rights, login, matches, notices, reports, signals};
use super::WebState;

/// Every route of the UI.
pub fn router(state: WebState) -> Router {
    Router::new()
        .route("/static/stijl.css", get(stylesheet))
        .route("/", get(super::pages::home))
        .route("/login", get(login::form).post(login::submit))
        .route("/uitloggen", post(login::logout))
        .route("/signalen", get(signals::list).post(signals::create))
        .route("/signalen/{id}/intrekken", post(signals::withdraw))
        .route("/signalen/{id}/verlengen", post(signals::renew))
        .route("/signalen/{id}/informeren", post(signals::inform))
        .route("/matches", get(matches::list))
        .route("/matches/{id}", get(matches::show))
        .route("/matches/{id}/overleg", post(matches::consulted))
        .route("/matches/{id}/regie", post(matches::regie))
        .route("/berichten", get(notices::list))
        .route("/beheer", get(admin::overview))
        .route(
            "/beheer/gebruikers",
            get(admin::users).post(admin::create_user),
        )
        .route(
            "/beheer/gebruikers/{id}/wachtwoord",
            post(admin::reset_password),
        )
        .route("/beheer/gebruikers/{id}/actief", post(admin::set_active))
        .route("/beheer/partners", get(admin::partners))
        .route("/beheer/kandidaten", get(admin_rights::candidates))
        .route(
            "/beheer/kandidaten/{id}",
            post(admin_rights::decide_candidate),
        )
        .route("/beheer/termijnen", get(admin_rights::deadlines))
        .route("/beheer/rapportage", get(reports::overview))
        .route("/beheer/rapportage/{file}", get(reports::csv))
        .route(
            "/beheer/taken/{id}/afgerond",
            post(admin_rights::close_task),
        )
        .route(
            "/beheer/inzage",
            get(admin_rights::inzage_form).post(admin_rights::inzage),
        )
        .route("/beheer/inzage/{id}", get(admin_rights::inzage_result))
        .route(
            "/beheer/bezwaar",
            get(admin_rights::objections).post(admin_rights::lodge_objection),
        )
        .route("/beheer/bezwaar/{id}", post(admin_rights::decide_objection))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        super::html::STYLESHEET,
    )
        .into_response()
}

/// Pages are personal data: never cached, never framed, no referrer, only this origin's files.
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, name, value: &'static str| {
        h.entry(name).or_insert(HeaderValue::from_static(value));
    };
    set(headers, header::CACHE_CONTROL, "no-store");
    set(
        headers,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'self'; form-action 'self'; frame-ancestors 'none'",
    );
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    set(headers, header::REFERRER_POLICY, "no-referrer");
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(
        headers,
        header::STRICT_TRANSPORT_SECURITY,
        "max-age=31536000",
    );
    response
}

/// Serves the UI on `listener` over TLS until `shutdown`. Each handshake takes the node's TLS
/// material of that moment, so a certificate reload of the partner API applies here too. That
/// material asks for an optional client certificate, which a browser without one skips; the
/// UI does not use it (login is by account), so unlike the partner API a connection without
/// one is normal here and not logged.
pub async fn run(
    state: WebState,
    listener: TcpListener,
    tls: ServerTls,
    shutdown: CancellationToken,
) {
    let app = router(state);
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (tcp, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                tracing::warn!(error = %e, "web UI: accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = TlsAcceptor::from(tls.config());
        let app = app.clone();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "web UI: TLS handshake failed");
                    return;
                }
                Err(_) => return,
            };
            let service = TowerToHyperService::new(app);
            let builder = auto::Builder::new(TokioExecutor::new());
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                served = connection => {
                    if let Err(e) = served {
                        tracing::debug!(error = %e, "web connection ended with an error");
                    }
                }
                _ = stop.cancelled() => {}
            }
        });
    }
}

/// How long a browser may take to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
