//! What an operation of the rules takes beyond the spine's request (a new signal's urgency
//! code and chain registration) and how such an operation fails.

use super::SignalRules;

/// What the region's rules add to a new signal: Hoeksche Waard's urgency code and
/// ketenregistratie (004 §5, §11-13).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SignalOptions {
    /// 0 none, 1 "laag", 2 "urgent".
    pub urgency: u32,
    pub chain_registration: bool,
}

impl SignalOptions {
    /// Checks what a request asks for against the region's rules.
    pub fn from_request(
        urgency: u32,
        chain_registration: bool,
        rules: &SignalRules,
    ) -> Result<SignalOptions, crate::signal::InvalidField> {
        let refuse = |field: &'static str, reason: &str| crate::signal::InvalidField {
            field,
            reason: reason.to_owned(),
        };
        let urgency = match (rules.urgency_codes, urgency) {
            // Without a code a Hoeksche Waard signal is "laag" (004 §12).
            (true, 0) => 1,
            (true, 1 | 2) => urgency,
            (true, _) => return Err(refuse("urgency", "1 (laag) or 2 (urgent)")),
            (false, 0) => 0,
            (false, _) => {
                return Err(refuse(
                    "urgency",
                    "this region has no urgency codes (004 §5, §12 are Hoeksche Waard's)",
                ))
            }
        };
        if chain_registration && !rules.chain_registration {
            return Err(refuse(
                "chain_registration",
                "this region keeps no ketenregistratie (004 §11, §13 are Hoeksche Waard's)",
            ));
        }
        Ok(SignalOptions {
            urgency,
            chain_registration,
        })
    }
}

/// Why an operation of the rules was refused or failed; [`crate::rules_api`] maps it to a
/// gRPC code. Messages name fields and articles, never a person.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error(transparent)]
    Invalid(#[from] crate::signal::InvalidField),
    #[error("{0}")]
    NotFound(String),
    /// The state does not allow it (e.g. renewing an expired signal).
    #[error("{0}")]
    Precondition(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

impl From<sqlx::Error> for RuleError {
    fn from(e: sqlx::Error) -> Self {
        RuleError::Store(crate::store::StoreError::Sqlx(e))
    }
}

pub(crate) fn not_found(what: &str) -> RuleError {
    RuleError::NotFound(what.to_owned())
}
