//! The hub's error type and the one function that turns it into a gRPC status.
//!
//! Messages of client errors say what was wrong (field, op id) so a node operator can act;
//! storage errors are logged here and answered with a bare INTERNAL, never with SQL text.

use tonic::Status;

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// The request is malformed: a field fails validation. Nothing of the request was applied.
    #[error("{0}")]
    InvalidArgument(String),
    /// The caller is known but may not do this (e.g. claims another region).
    #[error("{0}")]
    PermissionDenied(String),
    /// The request is well-formed but the index is not in a state that allows it (unknown
    /// match, feed position no longer kept).
    #[error("{0}")]
    FailedPrecondition(String),
    /// A position beyond what exists (subscribe or ack past the feed head).
    #[error("{0}")]
    OutOfRange(String),
    #[error("storage: {0}")]
    Store(#[from] StoreError),
}

/// A failure of the storage layer. Never shown to callers.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
    #[error(transparent)]
    Db(#[from] vir_shared::db::DbError),
    /// Stored data that does not decode (a feed body, a certificate chain, a counter).
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// Another hub process holds the SQLite database (`store::lock_sqlite`).
    #[error(
        "another hub process is using this SQLite database (lock {0}); one hub process per \
         SQLite database, replicas need PostgreSQL"
    )]
    InUse(String),
    /// The lock file of an SQLite database could not be made or locked.
    #[error("SQLite database lock: {0}")]
    Lock(String),
}

impl From<sqlx::Error> for HubError {
    fn from(e: sqlx::Error) -> Self {
        HubError::Store(StoreError::Sqlx(e))
    }
}

impl HubError {
    pub fn invalid(message: impl Into<String>) -> Self {
        HubError::InvalidArgument(message.into())
    }

    pub fn precondition(message: impl Into<String>) -> Self {
        HubError::FailedPrecondition(message.into())
    }
}

/// Maps a hub error to the status a caller sees. Storage failures are logged with their cause
/// and reported as INTERNAL without detail.
pub fn to_status(error: HubError) -> Status {
    match error {
        HubError::InvalidArgument(m) => Status::invalid_argument(m),
        HubError::PermissionDenied(m) => Status::permission_denied(m),
        HubError::FailedPrecondition(m) => Status::failed_precondition(m),
        HubError::OutOfRange(m) => Status::out_of_range(m),
        HubError::Store(e) => {
            tracing::error!(error = %e, event = "storage_error", "storage operation failed");
            Status::internal("internal storage error")
        }
    }
}

impl From<HubError> for Status {
    fn from(e: HubError) -> Self {
        to_status(e)
    }
}
