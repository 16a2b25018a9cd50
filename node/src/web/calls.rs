//! The bridge from a page to the node's service layer: a `NodeApi` call made in-process with the
//! logged-in account's organisation as caller and the account as "on behalf of", so the UI gets
//! exactly the partner API's authorization, validation and access logging; and the mapping of
//! its refusals to HTTP statuses with a Dutch message that names the field.

use axum::http::StatusCode;
use axum::response::Response;
use tonic::metadata::MetadataValue;
use tonic::{Code, Request, Status};

use super::html::error_page;
use super::session::Session;
use super::WebCaller;

/// A request as the account's organisation, on behalf of the account (`web:<username>` in the
/// access log).
pub fn request<T>(session: &Session, message: T) -> Request<T> {
    let mut request = Request::new(message);
    request.extensions_mut().insert(WebCaller {
        oin: session.account.partner_oin.clone(),
    });
    if let Ok(value) = MetadataValue::try_from(format!("web:{}", session.account.username)) {
        request
            .metadata_mut()
            .insert(crate::rules_api::ON_BEHALF_OF, value);
    }
    request
}

/// The HTTP status for a refusal of the service layer.
pub fn http_status(code: Code) -> StatusCode {
    match code {
        Code::InvalidArgument | Code::OutOfRange => StatusCode::BAD_REQUEST,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::PermissionDenied | Code::Unauthenticated => StatusCode::FORBIDDEN,
        Code::AlreadyExists | Code::FailedPrecondition | Code::Aborted => StatusCode::CONFLICT,
        Code::ResourceExhausted | Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// A Dutch sentence for a refusal; the service's own text (which starts with the field for
/// invalid input, e.g. `bsn: …`) follows it.
pub fn message(status: &Status) -> String {
    let detail = status.message();
    match status.code() {
        Code::InvalidArgument | Code::OutOfRange => match detail.split_once(": ") {
            Some((field, reason)) if !field.contains(' ') => {
                format!("Onjuiste invoer in veld «{field}»: {reason}")
            }
            _ => format!("Onjuiste invoer: {detail}"),
        },
        Code::NotFound => format!("Niet gevonden (of niet van uw organisatie): {detail}"),
        Code::PermissionDenied | Code::Unauthenticated => format!("Geen toegang: {detail}"),
        Code::AlreadyExists | Code::FailedPrecondition | Code::Aborted => {
            format!("Niet mogelijk: {detail}")
        }
        _ => "De verwijsindex kon het verzoek niet afhandelen. Probeer het later opnieuw.".into(),
    }
}

/// A refusal as an error page.
pub fn refusal(session: &Session, status: &Status) -> Response {
    error_page(http_status(status.code()), session, &message(status))
}
