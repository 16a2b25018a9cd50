//! The informing duty (003 art. 9; 001 Q17-20): each signaller records whom they told about
//! the signal and when, or why telling is postponed (003 art. 9.3, 9.5). Whom the rules require
//! follows the youth's age: the parents under 12, the parents and the youth from 12 to 16, the
//! youth from 16 (003 art. 9.2; domain.md: at exactly 16, the youth only). The duty must be met
//! at the latest when a match arises: [`crate::followup`] prompts a matched signaller without a
//! record.

use chrono::NaiveDate;
use vir_shared::Bsn;

use crate::config::Partner;
use crate::index::RegionalIndex;
use crate::rules::{not_found, Addressee, RuleError};
use crate::signal::{InvalidField, Signal};
use crate::store::details::{self, Informing};
use crate::store::signals;

/// The longest postponement reason kept; it is read by the signaller and the administrator.
const MAX_REASON: usize = 500;

/// What a signaller records.
#[derive(Clone, Default)]
pub struct InformingRecord {
    pub informed: Option<Addressee>,
    pub informed_on: Option<NaiveDate>,
    pub postponed_reason: Option<String>,
}

fn invalid(field: &'static str, reason: impl Into<String>) -> RuleError {
    RuleError::Invalid(InvalidField {
        field,
        reason: reason.into(),
    })
}

impl RegionalIndex {
    /// Whom the rules require to be informed about this youth on `on`, if the registry knows
    /// the youth.
    pub fn required_addressee(&self, bsn: &Bsn, on: NaiveDate) -> Option<Addressee> {
        let person = self.registry.lookup(bsn)?;
        Some(self.rules.addressee(person.age_on(on)))
    }

    /// Records the informing of one of the partner's own signals (any status: a late record
    /// on an archived signal is still a record).
    pub async fn record_informing(
        &self,
        partner: &Partner,
        signal_id: &str,
        record: InformingRecord,
    ) -> Result<Signal, RuleError> {
        let today = self.clock.today();
        let now_ms = self.clock.now().timestamp_millis();
        let mut tx = self.db.write().await?;
        let conn = &mut tx.tx;
        let signal = signals::get(conn, signal_id.trim())
            .await?
            .filter(|s| s.partner_oin == partner.oin)
            .ok_or_else(|| not_found("no such signal of your organisation"))?;
        let reason = record
            .postponed_reason
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty());
        let informing = match (reason, record.informed) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "postponed_reason",
                    "either informed (with informed_on) or a postponement reason, not both",
                ))
            }
            (Some(reason), None) => {
                if reason.chars().count() > MAX_REASON || reason.chars().any(char::is_control) {
                    return Err(invalid(
                        "postponed_reason",
                        format!("at most {MAX_REASON} characters, no control characters"),
                    ));
                }
                Informing {
                    informed: None,
                    informed_on: None,
                    postponed_reason: Some(reason.to_owned()),
                    recorded_ms: now_ms,
                }
            }
            (None, None) => {
                return Err(invalid(
                    "informed",
                    "say whom you informed, or why informing is postponed (003 art. 9.3)",
                ))
            }
            (None, Some(informed)) => {
                let on = record.informed_on.unwrap_or(today);
                if on > today {
                    return Err(invalid("informed_on", "not in the future"));
                }
                if let Some(required) = self.required_addressee(&signal.bsn, on) {
                    if !informed.covers(required) {
                        return Err(invalid(
                            "informed",
                            format!(
                                "at this age the rules require informing: {} (003 art. 9.2)",
                                required.as_str()
                            ),
                        ));
                    }
                }
                Informing {
                    informed: Some(informed),
                    informed_on: Some(on),
                    postponed_reason: None,
                    recorded_ms: now_ms,
                }
            }
        };
        details::set_informing(conn, &signal.id, &informing).await?;
        tx.commit().await?;
        tracing::info!(signal_id = %signal.id, postponed = informing.informed.is_none(), "informing recorded");
        Ok(signal)
    }
}
