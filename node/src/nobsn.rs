//! Signals without a usable BSN (002 art. 8.5-8.7; 003 art. 8.3; Jeugdwet:
//! verwijsindexservicenummer).
//!
//! A signaller who has no BSN gives surname, birth date and gender (and, for a youth who never
//! had a BSN, the municipality or postcode + house number). The node first resolves that
//! against the person registry (003 art. 8.3): exactly one living person who agrees with every
//! detail given → an ordinary signal on that BSN. Otherwise it issues a verwijsindexnummer
//! (VIN) and the signal matches only through its fallback key, as candidates for the
//! administrator ([`crate::candidates`]).
//!
//! The VIN stands where a BSN would (`signals.bsn`, `youths.bsn`), so every rule of the region
//! (lifetime, renewal, archive, rights, access log) applies unchanged. It is a 9-digit number
//! passing the 11-test from the block starting with `00`, which the registry is checked not to
//! know when the number is issued; the node knows it is a VIN from `no_bsn_youths` and never
//! asks the pseudonymiser for a person key for it. The same organisation describing the same
//! youth again gets the same VIN (stable): one signal per organisation per youth (001 Q13).
//!
//! Linking ([`RegionalIndex::link_signal`]): once the BSN is known, the signal moves to it and
//! is matched again on the BSN; its candidate links end and its pending candidates close, so
//! the real match replaces them and no duplicate remains.

use chrono::NaiveDate;
use rand::Rng;
use sqlx::AnyConnection;
use vir_proto as pb;
use vir_shared::fallback::{fallback_input, gender_code, normalise_given_name, parse_gender};
use vir_shared::person::{Gender, Person};
use vir_shared::{Bsn, MunicipalityCode, Postcode};

use crate::config::{Partner, Role};
use crate::facts::YouthFacts;
use crate::index::{IndexError, RegionalIndex, MAX_AGE_EXCLUSIVE};
use crate::rules::SignalOptions;
use crate::signal::{check_end_date, Contact, InvalidField, NewSignal, Signal, SignalStatus};
use crate::store::nobsn::{self, NoBsnYouth};
use crate::store::outbox::{self, OutboxOp};
use crate::store::{details, format_date, signals, StoreError};

const MAX_SURNAME: usize = 200;
const MAX_ADDITION: usize = 10;

fn invalid(field: &'static str, reason: impl Into<String>) -> InvalidField {
    InvalidField {
        field,
        reason: reason.into(),
    }
}

/// What the signaller knows of a youth without a usable BSN, checked at the edge.
/// `Debug` is redacted: these are personal data.
#[derive(Clone)]
pub struct NoBsnIdentity {
    pub surname: String,
    pub given_name: String,
    pub birth_date: NaiveDate,
    pub gender: Gender,
    pub municipality: Option<MunicipalityCode>,
    pub postcode: Option<Postcode>,
    pub house_number: u32,
    pub addition: String,
}

impl std::fmt::Debug for NoBsnIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NoBsnIdentity(<redacted>)")
    }
}

impl TryFrom<pb::NoBsnIdentity> for NoBsnIdentity {
    type Error = InvalidField;
    fn try_from(p: pb::NoBsnIdentity) -> Result<Self, InvalidField> {
        let surname = p.surname.trim().to_owned();
        if surname.is_empty() || vir_shared::fallback::normalise_surname(&surname).is_empty() {
            return Err(invalid("without_bsn.surname", "required"));
        }
        let too_long =
            |s: &str, max: usize| s.chars().count() > max || s.chars().any(char::is_control);
        if too_long(&surname, MAX_SURNAME) || too_long(&p.given_name, MAX_SURNAME) {
            return Err(invalid(
                "without_bsn.surname",
                format!("at most {MAX_SURNAME} characters"),
            ));
        }
        let birth_date =
            NaiveDate::parse_from_str(p.birth_date.trim(), "%Y-%m-%d").map_err(|_| {
                invalid(
                    "without_bsn.birth_date",
                    "not a date in the form YYYY-MM-DD",
                )
            })?;
        let gender =
            parse_gender(&p.gender).ok_or_else(|| invalid("without_bsn.gender", "V, M or O"))?;
        let municipality = match p.municipality.trim() {
            "" => None,
            m => Some(m.parse().map_err(|e: vir_shared::ids::IdError| {
                invalid("without_bsn.municipality", e.to_string())
            })?),
        };
        let postcode = match p.postcode.trim() {
            "" => None,
            pc => Some(pc.parse().map_err(|e: vir_shared::ids::IdError| {
                invalid("without_bsn.postcode", e.to_string())
            })?),
        };
        if postcode.is_some() != (p.house_number > 0) {
            return Err(invalid(
                "without_bsn.house_number",
                "postcode and house number go together",
            ));
        }
        let addition = p.house_number_addition.trim().to_owned();
        if too_long(&addition, MAX_ADDITION) {
            return Err(invalid(
                "without_bsn.house_number_addition",
                format!("at most {MAX_ADDITION} characters"),
            ));
        }
        Ok(NoBsnIdentity {
            surname,
            given_name: p.given_name.trim().to_owned(),
            birth_date,
            gender,
            municipality,
            postcode,
            house_number: p.house_number,
            addition,
        })
    }
}

impl NoBsnIdentity {
    /// The fallback-domain input (normalised surname, birth date, gender).
    pub fn fallback(&self) -> String {
        fallback_input(&self.surname, self.birth_date, self.gender)
    }

    /// Whether a registry person agrees with every detail given.
    fn fits(&self, person: &Person) -> bool {
        let given = normalise_given_name(&self.given_name);
        (given.is_empty() || normalise_given_name(&person.given_names) == given)
            && self
                .municipality
                .as_ref()
                .is_none_or(|m| *m == person.municipality)
            && self.postcode.as_ref().is_none_or(|pc| {
                *pc == person.address.postcode && self.house_number == person.address.house_number
            })
    }
}

/// Whether a number is from the block verwijsindexnummers are issued from.
pub fn in_vin_block(bsn: &Bsn) -> bool {
    bsn.as_str().starts_with("00")
}

impl RegionalIndex {
    /// Creates a signal from a description instead of a BSN (module docs). Returns the signal
    /// and the registry person when the description resolved to one.
    pub async fn create_signal_without_bsn(
        &self,
        partner: &Partner,
        identity: NoBsnIdentity,
        signaller: Contact,
        end_date: Option<NaiveDate>,
        options: SignalOptions,
    ) -> Result<(Signal, Option<Person>), IndexError> {
        let fallback = identity.fallback();
        let found: Vec<Person> = self
            .registry
            .search(&fallback)
            .into_iter()
            .filter(|p| p.death_date.is_none() && identity.fits(p))
            .collect();
        if let [person] = found.as_slice() {
            let new = NewSignal {
                bsn: person.bsn.clone(),
                signaller,
                end_date,
            };
            let (signal, person) = self.create_signal_with(partner, new, options).await?;
            tracing::info!(signal_id = %signal.id, "signal without a BSN resolved by the registry");
            return Ok((signal, Some(person)));
        }

        let today = self.clock.today();
        let lifetime = &self.rules.config.lifetime;
        let end_date = check_end_date(end_date, today, lifetime.active_months)?;
        if identity.birth_date > today {
            return Err(invalid("without_bsn.birth_date", "in the future").into());
        }
        let age = today.years_since(identity.birth_date).unwrap_or(0);
        if age >= lifetime.destroy_at_age.min(MAX_AGE_EXCLUSIVE) {
            return Err(IndexError::TooOld);
        }
        // Its residence decides who coordinates (003 art. 13.6); nobody else can tell it.
        let municipality = identity.municipality.clone().ok_or_else(|| {
            invalid(
                "without_bsn.municipality",
                "required when the registry does not know the youth",
            )
        })?;
        let youth = self
            .vin_for(partner, &identity, &fallback, &municipality)
            .await?;
        let now_ms = self.clock.now().timestamp_millis();
        let signal = Signal {
            id: crate::index::new_signal_id(),
            bsn: youth
                .vin
                .parse()
                .map_err(|_| StoreError::Corrupt("no_bsn_youths.vin"))?,
            municipality,
            partner_oin: partner.oin.clone(),
            organisation: partner.organisation.clone(),
            category: partner.category,
            signaller,
            status: SignalStatus::Active,
            national: partner.national,
            created_ms: now_ms,
            end_date,
            withdrawn_ms: None,
        };
        self.store_signal(
            partner,
            &signal,
            options,
            &YouthFacts::of_no_bsn(&youth),
            Some(&youth),
        )
        .await?;
        Ok((signal, None))
    }

    /// The VIN this organisation used for this description before, or a new one.
    async fn vin_for(
        &self,
        partner: &Partner,
        identity: &NoBsnIdentity,
        fallback: &str,
        municipality: &MunicipalityCode,
    ) -> Result<NoBsnYouth, IndexError> {
        let mut conn = self.db.pool.acquire().await?;
        let postcode = identity
            .postcode
            .as_ref()
            .map(|p| p.to_string())
            .unwrap_or_default();
        let described = nobsn::youths_described(&mut conn, partner.oin.as_str(), fallback).await?;
        if let Some(same) = described.into_iter().find(|y| {
            y.municipality == municipality.as_str()
                && y.postcode == postcode
                && y.house_number == identity.house_number
        }) {
            return Ok(same);
        }
        let vin = loop {
            let Some(candidate) = Bsn::from_prefix(rand::thread_rng().gen_range(1..1_000_000))
            else {
                continue;
            };
            let taken: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM youths WHERE bsn = $1")
                .bind(candidate.as_str())
                .fetch_one(&mut *conn)
                .await?;
            if taken == 0
                && self.registry.lookup(&candidate).is_none()
                && nobsn::youth(&mut conn, candidate.as_str()).await?.is_none()
            {
                break candidate;
            }
        };
        Ok(NoBsnYouth {
            vin: vin.to_string(),
            partner_oin: partner.oin.to_string(),
            surname: identity.surname.clone(),
            given_name: identity.given_name.clone(),
            birth_date: format_date(identity.birth_date),
            gender: gender_code(identity.gender).to_owned(),
            municipality: municipality.to_string(),
            postcode,
            house_number: identity.house_number,
            addition: identity.addition.clone(),
            fallback: fallback.to_owned(),
            linked_bsn: None,
            created_ms: self.clock.now().timestamp_millis(),
        })
    }

    /// Links a signal made without a BSN to the youth's BSN (module docs). The signaller who
    /// made it may, and any administrator of the region.
    pub async fn link_signal(
        &self,
        caller: &Partner,
        signal_id: &str,
        bsn: Bsn,
    ) -> Result<Signal, IndexError> {
        let today = self.clock.today();
        let person = self
            .registry
            .lookup(&bsn)
            .ok_or(IndexError::UnknownPerson)?;
        if person.death_date.is_some() {
            return Err(IndexError::Deceased);
        }
        if person.age_on(today)
            >= self
                .rules
                .config
                .lifetime
                .destroy_at_age
                .min(MAX_AGE_EXCLUSIVE)
        {
            return Err(IndexError::TooOld);
        }
        let now_ms = self.clock.now().timestamp_millis();
        let mut tx = self.db.write().await?;
        let conn: &mut AnyConnection = &mut tx.tx;
        let admin = caller.role == Role::Administrator;
        let signal = signals::get(conn, signal_id)
            .await?
            .filter(|s| admin || s.partner_oin == caller.oin)
            .ok_or(IndexError::NotFound)?;
        let vin = signal.bsn.clone();
        if !crate::family::without_bsn(conn, &vin).await? {
            return Err(invalid("signal_id", "not a signal made without a BSN").into());
        }
        if signal.status != SignalStatus::Active {
            return Err(invalid("signal_id", "only an active signal can be linked").into());
        }
        signals::upsert_youth(conn, &bsn, &person.municipality).await?;
        if signals::active_by_partner(conn, &bsn, signal.partner_oin.as_str())
            .await?
            .is_some()
        {
            return Err(IndexError::AlreadyActive);
        }
        // Its candidates give way to the matches on the BSN (no duplicate).
        crate::family::signal_ended(conn, &signal.id, now_ms).await?;
        move_signal(conn, &signal.id, &bsn, &person).await?;
        nobsn::mark_linked(conn, vin.as_str(), bsn.as_str(), now_ms).await?;
        crate::store::links::forget_facts(conn, vin.as_str()).await?;
        crate::facts::record(conn, &bsn, &YouthFacts::of_person(&person)).await?;
        let linked = signals::get(conn, &signal.id)
            .await?
            .ok_or(IndexError::NotFound)?;
        crate::matching::match_new_signal(conn, &linked, &self.region, now_ms).await?;
        crate::family::link_new_signal(conn, &linked, &self.region, self.address_match, now_ms)
            .await?;
        details::enqueue(conn, &bsn, now_ms).await?;
        details::enqueue(conn, &vin, now_ms).await?;
        if linked.national {
            let op = OutboxOp::Upsert {
                signal_ref: linked.id.clone(),
            };
            outbox::append(conn, &op, now_ms).await?;
        }
        tx.commit().await?;
        self.outbox_written.notify_one();
        self.followup_wanted.notify_one();
        tracing::info!(%signal_id, partner = %caller.oin, "signal without a BSN linked to a BSN");
        Ok(linked)
    }
}

/// Moves a signal from its VIN to the youth's BSN; the VIN's youth row goes when no signal is
/// left on it.
async fn move_signal(
    conn: &mut AnyConnection,
    id: &str,
    bsn: &Bsn,
    person: &Person,
) -> Result<(), StoreError> {
    let vin: String = sqlx::query_scalar("SELECT bsn FROM signals WHERE id = $1")
        .bind(id)
        .fetch_one(&mut *conn)
        .await?;
    sqlx::query("UPDATE signals SET bsn = $1, municipality = $2 WHERE id = $3")
        .bind(bsn.as_str())
        .bind(person.municipality.as_str())
        .bind(id)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "DELETE FROM youths WHERE bsn = $1 AND NOT EXISTS (SELECT 1 FROM signals WHERE bsn = $1)",
    )
    .bind(&vin)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
