//! A signal (signaal) as the node holds it, and a new one as a partner asks for it, checked at
//! the edge so that the rest of the node never sees an invalid value.
//!
//! A signal says *that* a professional is involved, never *what* is wrong: there is no field
//! for the concern anywhere (001 Q7-8; 002 art. 8.1; 003 art. 8.4). It holds the youth's BSN,
//! the signaller's identification and contact details, the date and the planned end date
//! (Jeugdwet 7.1.4.3; 003 art. 8.5).

use std::fmt;

use chrono::{Months, NaiveDate};
use serde::{Deserialize, Serialize};
use vir_proto as pb;
use vir_shared::{Bsn, MunicipalityCode, Oin};

use crate::config::Category;

/// The longest a signal stays active: 2 years after signalling (003 art. 1, 16.1; 001 Q11-12).
pub const MAX_ACTIVE_MONTHS: u32 = 24;

const MAX_NAME: usize = 200;
const MAX_PHONE: usize = 40;
const MAX_EMAIL: usize = 254;

/// A professional's contact details. `Debug` is redacted: these are personal data.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    pub name: String,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub email: String,
}

impl fmt::Debug for Contact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Contact(<redacted>)")
    }
}

impl From<&Contact> for pb::Contact {
    fn from(c: &Contact) -> Self {
        pb::Contact {
            name: c.name.clone(),
            phone: c.phone.clone(),
            email: c.email.clone(),
        }
    }
}

/// Why a request does not describe a valid signal. Each names the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct InvalidField {
    pub field: &'static str,
    pub reason: String,
}

fn invalid(field: &'static str, reason: impl Into<String>) -> InvalidField {
    InvalidField {
        field,
        reason: reason.into(),
    }
}

impl TryFrom<pb::Contact> for Contact {
    type Error = InvalidField;
    fn try_from(c: pb::Contact) -> Result<Self, InvalidField> {
        let name = c.name.trim().to_owned();
        let phone = c.phone.trim().to_owned();
        let email = c.email.trim().to_owned();
        if name.is_empty() {
            return Err(invalid("signaller.name", "required"));
        }
        if name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
            return Err(invalid(
                "signaller.name",
                format!("at most {MAX_NAME} characters, no control characters"),
            ));
        }
        if phone.is_empty() && email.is_empty() {
            return Err(invalid(
                "signaller",
                "a phone number or an e-mail address is required (003 art. 8.5)",
            ));
        }
        let phone_ok = phone.chars().count() <= MAX_PHONE
            && phone
                .chars()
                .all(|ch| ch.is_ascii_digit() || " +-()".contains(ch));
        if !phone_ok {
            return Err(invalid(
                "signaller.phone",
                format!("at most {MAX_PHONE} characters: digits, spaces, + - ( )"),
            ));
        }
        if !email.is_empty() {
            let well_formed = email
                .split_once('@')
                .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'));
            if email.len() > MAX_EMAIL || !well_formed || email.chars().any(char::is_whitespace) {
                return Err(invalid("signaller.email", "not an e-mail address"));
            }
        }
        Ok(Contact { name, phone, email })
    }
}

/// A checked `CreateSignal` request. The end date's range depends on today, so it is checked
/// by [`NewSignal::end_date_on`].
#[derive(Debug, Clone)]
pub struct NewSignal {
    pub bsn: Bsn,
    pub signaller: Contact,
    pub end_date: Option<NaiveDate>,
}

impl TryFrom<pb::CreateSignalRequest> for NewSignal {
    type Error = InvalidField;
    fn try_from(req: pb::CreateSignalRequest) -> Result<Self, InvalidField> {
        let bsn: Bsn = req
            .bsn
            .parse()
            .map_err(|e: vir_shared::bsn::BsnError| invalid("bsn", e.to_string()))?;
        let signaller = Contact::try_from(
            req.signaller
                .ok_or_else(|| invalid("signaller", "required"))?,
        )?;
        let end_date = match req.end_date.trim() {
            "" => None,
            text => Some(
                NaiveDate::parse_from_str(text, "%Y-%m-%d")
                    .map_err(|_| invalid("end_date", "not a date in the form YYYY-MM-DD"))?,
            ),
        };
        Ok(NewSignal {
            bsn,
            signaller,
            end_date,
        })
    }
}

impl NewSignal {
    /// The planned end date: after today and at most 2 years from today; 2 years if none was
    /// given (003 art. 1, 16.1: active at most 2 years, the signaller may set an earlier end).
    pub fn end_date_on(&self, today: NaiveDate) -> Result<NaiveDate, InvalidField> {
        self.end_date_within(today, MAX_ACTIVE_MONTHS)
    }

    /// [`Self::end_date_on`] for a region whose signals live `months` (at most 24).
    pub fn end_date_within(
        &self,
        today: NaiveDate,
        months: u32,
    ) -> Result<NaiveDate, InvalidField> {
        check_end_date(self.end_date, today, months)
    }
}

/// An end date asked for on `today` (none: the longest), for a lifetime of `months`; also
/// used by a renewal (003 art. 16.1).
pub fn check_end_date(
    asked: Option<NaiveDate>,
    today: NaiveDate,
    months: u32,
) -> Result<NaiveDate, InvalidField> {
    let months = months.min(MAX_ACTIVE_MONTHS);
    let latest = today
        .checked_add_months(Months::new(months))
        .unwrap_or(NaiveDate::MAX);
    let term = if months == MAX_ACTIVE_MONTHS {
        "2 years".to_owned()
    } else {
        format!("{months} months")
    };
    match asked {
        None => Ok(latest),
        Some(date) if date <= today => Err(invalid("end_date", "must be after today")),
        Some(date) if date > latest => Err(invalid(
            "end_date",
            format!("at most {term} from today ({latest})"),
        )),
        Some(date) => Ok(date),
    }
}

/// Today plus 2 years (29 February falls back to 28 February).
pub fn latest_end_date(today: NaiveDate) -> NaiveDate {
    today
        .checked_add_months(Months::new(MAX_ACTIVE_MONTHS))
        .unwrap_or(NaiveDate::MAX)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalStatus {
    Active,
    /// Withdrawn by the signaller: in the archive (003 art. 16.2-16.3).
    Inactive,
    /// Past its end date (003 art. 16.1).
    Expired,
}

impl SignalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SignalStatus::Active => "active",
            SignalStatus::Inactive => "inactive",
            SignalStatus::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<SignalStatus> {
        match s {
            "active" => Some(SignalStatus::Active),
            "inactive" => Some(SignalStatus::Inactive),
            "expired" => Some(SignalStatus::Expired),
            _ => None,
        }
    }
}

impl From<SignalStatus> for pb::SignalStatus {
    fn from(s: SignalStatus) -> Self {
        match s {
            SignalStatus::Active => pb::SignalStatus::Active,
            SignalStatus::Inactive => pb::SignalStatus::Inactive,
            SignalStatus::Expired => pb::SignalStatus::Expired,
        }
    }
}

/// A stored signal. `Debug` prints only the id and status.
#[derive(Clone, PartialEq, Eq)]
pub struct Signal {
    /// UUID; also the opaque `signal_ref` the hub knows it by.
    pub id: String,
    pub bsn: Bsn,
    pub municipality: MunicipalityCode,
    pub partner_oin: Oin,
    pub organisation: String,
    pub category: Category,
    pub signaller: Contact,
    pub status: SignalStatus,
    pub national: bool,
    pub created_ms: i64,
    pub end_date: NaiveDate,
    pub withdrawn_ms: Option<i64>,
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signal")
            .field("id", &self.id)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

impl Signal {
    /// The day it was signalled (UTC, like every date rule; see `vir_shared::clock`).
    pub fn signalled_on(&self) -> NaiveDate {
        chrono::DateTime::from_timestamp_millis(self.created_ms)
            .map(|t| t.date_naive())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(bsn: &str, end_date: &str) -> pb::CreateSignalRequest {
        pb::CreateSignalRequest {
            bsn: bsn.into(),
            signaller: Some(pb::Contact {
                name: "J. Jansen".into(),
                phone: "+31 6 1234 5678".into(),
                email: String::new(),
            }),
            end_date: end_date.into(),
            ..Default::default()
        }
    }

    #[test]
    fn checks_fields() {
        assert!(NewSignal::try_from(request("111222333", "")).is_ok());
        assert_eq!(
            NewSignal::try_from(request("123456789", ""))
                .unwrap_err()
                .field,
            "bsn"
        );
        assert_eq!(
            NewSignal::try_from(request("111222333", "1-2-2027"))
                .unwrap_err()
                .field,
            "end_date"
        );
        let mut no_contact = request("111222333", "");
        no_contact.signaller.as_mut().unwrap().phone.clear();
        assert_eq!(
            NewSignal::try_from(no_contact).unwrap_err().field,
            "signaller"
        );
        let mut no_name = request("111222333", "");
        no_name.signaller.as_mut().unwrap().name = "  ".into();
        assert_eq!(
            NewSignal::try_from(no_name).unwrap_err().field,
            "signaller.name"
        );
    }

    #[test]
    fn end_date_is_after_today_and_within_two_years() {
        let today = NaiveDate::from_ymd_opt(2026, 5, 10).unwrap();
        let with = |d: &str| NewSignal::try_from(request("111222333", d)).unwrap();
        assert_eq!(
            with("").end_date_on(today).unwrap(),
            NaiveDate::from_ymd_opt(2028, 5, 10).unwrap()
        );
        assert!(with("2028-05-10").end_date_on(today).is_ok());
        assert!(with("2028-05-11").end_date_on(today).is_err());
        assert!(with("2026-05-10").end_date_on(today).is_err());
        assert!(with("2026-05-11").end_date_on(today).is_ok());
        let leap = NaiveDate::from_ymd_opt(2028, 2, 29).unwrap();
        assert_eq!(
            latest_end_date(leap),
            NaiveDate::from_ymd_opt(2030, 2, 28).unwrap()
        );
    }
}
