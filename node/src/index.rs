//! The regional index's operations, below the wire: create, withdraw and list signals, list
//! matches and notifications, expire signals. The partner API ([`crate::api`]) maps requests
//! and errors; the rules and the transactions live here.
//!
//! Architecture invariant: a signal, its regional matching and notifications, and its outbox
//! operation are written in ONE transaction; on any error nothing is stored.

use std::sync::Arc;

use sqlx::AnyConnection;
use tokio::sync::Notify;
use vir_shared::db::Db;
use vir_shared::person::Person;
use vir_shared::{RegionCode, SharedClock};

use crate::config::MovesConfig;
use crate::config::Partner;
use crate::matching;
use crate::party::Party;
use crate::registry::PersonRegistry;
use crate::rules::{Rules, SignalOptions};
use crate::signal::{InvalidField, NewSignal, Signal, SignalStatus};
use crate::store::matches;
use crate::store::notifications::{self, Notification};
use crate::store::outbox::{self, OutboxOp};
use crate::store::{details, feed, signals, StoreError};

/// Youths only: a signal is refused from the 23rd birthday (domain.md "jeugdige";
/// 003 art. 16.5: destroyed in any case at 23).
pub const MAX_AGE_EXCLUSIVE: u32 = 23;

/// Signals expired per transaction by the sweep.
const EXPIRY_BATCH: i64 = 200;

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error(transparent)]
    Invalid(#[from] InvalidField),
    #[error("bsn: not known to the person registry")]
    UnknownPerson,
    #[error("the person registry records this person as deceased (003 art. 16.5)")]
    Deceased,
    #[error("only youths under {MAX_AGE_EXCLUSIVE} can be signalled (003 art. 16.5)")]
    TooOld,
    #[error("your organisation already has an active signal on this youth")]
    AlreadyActive,
    #[error("no such signal of your organisation")]
    NotFound,
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for IndexError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::AlreadyActive => IndexError::AlreadyActive,
            other => IndexError::Store(other),
        }
    }
}

impl From<sqlx::Error> for IndexError {
    fn from(e: sqlx::Error) -> Self {
        IndexError::Store(StoreError::Sqlx(e))
    }
}

/// Another party in a match as the caller sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OtherParty {
    Known(Party),
    /// Cross-regional, sealed details not arrived yet.
    Pending {
        region: String,
    },
}

/// One match of one of the caller's active signals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchView {
    /// A regional match id, or the hub's match id for a cross-regional one.
    pub id: String,
    pub kind: String,
    pub your_signal_id: String,
    pub others: Vec<OtherParty>,
    pub created_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexStatus {
    pub active_signals: u64,
    pub matches: u64,
    pub outbox_pending: u64,
    pub feed_applied_seq: u64,
}

/// The node's index: storage plus the rules. Cheap to clone.
#[derive(Clone)]
pub struct RegionalIndex {
    pub db: Db,
    pub clock: SharedClock,
    pub region: RegionCode,
    pub registry: Arc<dyn PersonRegistry>,
    /// Woken after a commit that appended to the outbox.
    pub outbox_written: Arc<Notify>,
    /// The region's rules (lifetime, regie, deadlines, informing, rights).
    pub rules: Arc<Rules>,
    /// Woken after a commit that queued a youth for its follow-up ([`crate::followup`]).
    pub followup_wanted: Arc<Notify>,
    /// The key of the access log's subject pseudonyms, read once ([`crate::accesslog`]).
    pub(crate) subject_key: Arc<tokio::sync::OnceCell<String>>,
    /// Address matches in this region (002 art. 1 "Match" 2b; off by default).
    pub address_match: bool,
    /// Verhuizing: inverhuis officers and the hand-over offer (issue 5).
    pub moves: Arc<MovesConfig>,
}

impl RegionalIndex {
    pub fn new(
        db: Db,
        clock: SharedClock,
        region: RegionCode,
        registry: Arc<dyn PersonRegistry>,
    ) -> Self {
        RegionalIndex {
            db,
            clock,
            rules: Arc::new(Rules::defaults(region.clone())),
            region,
            registry,
            outbox_written: Arc::new(Notify::new()),
            followup_wanted: Arc::new(Notify::new()),
            subject_key: Arc::new(tokio::sync::OnceCell::new()),
            address_match: false,
            moves: Arc::new(MovesConfig::default()),
        }
    }

    /// The same index with the region's verhuizing settings (`[moves]`, issue 5).
    pub fn with_moves(mut self, moves: MovesConfig) -> Self {
        self.moves = Arc::new(moves);
        self
    }

    /// The designated officers who receive inverhuis messages (002 art. 3.5; 003 "ontvanger
    /// inverhuisberichten"): the configured ones, else every administrator.
    pub fn move_officers(&self) -> Vec<&crate::config::Partner> {
        if self.moves.officers.is_empty() {
            self.rules.administrators().collect()
        } else {
            self.rules
                .partners
                .iter()
                .filter(|p| self.moves.officers.contains(&p.oin))
                .collect()
        }
    }

    /// The same index with address matching on or off (`[matching] address`).
    pub fn with_address_match(mut self, on: bool) -> Self {
        self.address_match = on;
        self
    }

    /// The same index applying `rules` instead of the defaults.
    pub fn with_rules(mut self, rules: Rules) -> Self {
        self.rules = Arc::new(rules);
        self
    }

    fn now_ms(&self) -> i64 {
        self.clock.now().timestamp_millis()
    }

    /// Creates a signal for `partner` (see the module docs for what happens in one
    /// transaction). Returns the stored signal and the youth as the registry gives it.
    pub async fn create_signal(
        &self,
        partner: &Partner,
        new: NewSignal,
    ) -> Result<(Signal, Person), IndexError> {
        self.create_signal_with(partner, new, SignalOptions::default())
            .await
    }

    /// [`Self::create_signal`] with what the region's rules add (urgency, chain registration).
    pub async fn create_signal_with(
        &self,
        partner: &Partner,
        new: NewSignal,
        options: SignalOptions,
    ) -> Result<(Signal, Person), IndexError> {
        let today = self.clock.today();
        let lifetime = &self.rules.config.lifetime;
        let end_date = new.end_date_within(today, lifetime.active_months)?;
        let person = self
            .registry
            .lookup(&new.bsn)
            .ok_or(IndexError::UnknownPerson)?;
        // 003 art. 16.5; 002 art. 17.6-17.8: no signals on the deceased.
        if person.death_date.is_some() {
            return Err(IndexError::Deceased);
        }
        if person.age_on(today) >= lifetime.destroy_at_age.min(MAX_AGE_EXCLUSIVE) {
            return Err(IndexError::TooOld);
        }

        let now_ms = self.now_ms();
        let signal = Signal {
            id: new_signal_id(),
            bsn: new.bsn,
            municipality: person.municipality.clone(),
            partner_oin: partner.oin.clone(),
            organisation: partner.organisation.clone(),
            category: partner.category,
            signaller: new.signaller,
            status: SignalStatus::Active,
            national: partner.national,
            created_ms: now_ms,
            end_date,
            withdrawn_ms: None,
        };
        let facts = crate::facts::YouthFacts::of_person(&person);
        self.store_signal(partner, &signal, options, &facts, None)
            .await?;
        Ok((signal, person))
    }

    /// Stores a new signal whose youth is settled (see the module docs for what happens in one
    /// transaction): by the registry, or as a youth without a BSN (`no_bsn`, stored with its
    /// verwijsindexnummer in the same transaction, 002 art. 8.5-8.7).
    pub(crate) async fn store_signal(
        &self,
        partner: &Partner,
        signal: &Signal,
        options: SignalOptions,
        facts: &crate::facts::YouthFacts,
        no_bsn: Option<&crate::store::nobsn::NoBsnYouth>,
    ) -> Result<(), IndexError> {
        let today = self.clock.today();
        let now_ms = signal.created_ms;
        let mut tx = self.db.write().await?;
        let conn: &mut AnyConnection = &mut tx.tx;
        // First: writers on one youth take turns from here on (see `signals::lock_youth`).
        signals::upsert_youth(conn, &signal.bsn, &signal.municipality).await?;
        if let Some(youth) = no_bsn {
            if crate::store::nobsn::youth(conn, &youth.vin)
                .await?
                .is_none()
            {
                crate::store::nobsn::insert_youth(conn, youth).await?;
            }
        }
        // A signal past its end date is not active: end it first so it neither blocks a new one
        // by the same organisation nor matches (003 art. 16.1).
        let mut wrote_outbox = self.expire_in(conn, today, Some(&signal.bsn)).await? > 0;
        if signals::active_by_partner(conn, &signal.bsn, signal.partner_oin.as_str())
            .await?
            .is_some()
        {
            return Err(IndexError::AlreadyActive);
        }
        signals::insert(conn, signal).await?;
        // The rules' part: urgency and chain registration, and the youth's follow-up (regie,
        // consultation deadlines, prompts) once committed.
        details::insert(
            conn,
            &signal.id,
            options.urgency,
            options.chain_registration,
        )
        .await?;
        details::enqueue(conn, &signal.bsn, now_ms).await?;
        let outcome = matching::match_new_signal(conn, signal, &self.region, now_ms).await?;
        // Signals on other youths: family, address, candidates (crate::family).
        crate::facts::record(conn, &signal.bsn, facts).await?;
        let links =
            crate::family::link_new_signal(conn, signal, &self.region, self.address_match, now_ms)
                .await?;
        // Only organisations admitted to the national index are forwarded (004 §9).
        if signal.national {
            let op = OutboxOp::Upsert {
                signal_ref: signal.id.clone(),
            };
            outbox::append(conn, &op, now_ms).await?;
            wrote_outbox = true;
        }
        tx.commit().await?;
        if wrote_outbox {
            self.outbox_written.notify_one();
        }
        self.followup_wanted.notify_one();
        tracing::info!(
            signal_id = %signal.id,
            partner = %partner.oin,
            national = signal.national,
            regional_match = outcome.match_id.as_deref().unwrap_or(""),
            others_told = outcome.others_told,
            links,
            without_bsn = no_bsn.is_some(),
            "signal created"
        );
        Ok(())
    }

    /// Withdraws (inactivates) one of the partner's own active signals (003 art. 16.2-16.3):
    /// it goes to the archive, leaves its matches and, if national, is removed from the hub.
    /// An already inactive or expired signal is returned as it is.
    pub async fn withdraw_signal(
        &self,
        partner: &Partner,
        signal_id: &str,
    ) -> Result<Signal, IndexError> {
        let now_ms = self.now_ms();
        let mut tx = self.db.write().await?;
        let conn: &mut AnyConnection = &mut tx.tx;
        let signal = signals::get(conn, signal_id)
            .await?
            .filter(|s| s.partner_oin == partner.oin)
            .ok_or(IndexError::NotFound)?;
        if signal.status != SignalStatus::Active {
            return Ok(signal);
        }
        let wrote_outbox = self
            .end_signal(conn, &signal, SignalStatus::Inactive, now_ms)
            .await?;
        let stored = signals::get(conn, signal_id)
            .await?
            .ok_or(IndexError::NotFound)?;
        tx.commit().await?;
        if wrote_outbox {
            self.outbox_written.notify_one();
        }
        self.followup_wanted.notify_one();
        tracing::info!(%signal_id, partner = %partner.oin, "signal withdrawn");
        Ok(stored)
    }

    /// Ends an active signal in the caller's transaction; true if an outbox op was appended.
    pub(crate) async fn end_signal(
        &self,
        conn: &mut AnyConnection,
        signal: &Signal,
        status: SignalStatus,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        signals::lock_youth(conn, &signal.bsn).await?;
        if !signals::deactivate(conn, &signal.id, status, now_ms).await? {
            return Ok(false);
        }
        // The other parties are told, and the youth's follow-up (regie) looked at again.
        crate::followup::signal_leaving(conn, signal, &self.region, now_ms).await?;
        matching::signal_ended(conn, &signal.id, now_ms).await?;
        // Removal from the regional index removes it from the national one too (003 art. 16.2).
        if signal.national {
            let op = OutboxOp::Remove {
                signal_ref: signal.id.clone(),
            };
            outbox::append(conn, &op, now_ms).await?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Expires active signals whose end date has come (of one youth, or all); returns how many
    /// outbox operations were written.
    async fn expire_in(
        &self,
        conn: &mut AnyConnection,
        today: chrono::NaiveDate,
        bsn: Option<&vir_shared::Bsn>,
    ) -> Result<usize, StoreError> {
        let now_ms = self.now_ms();
        let mut ops = 0;
        for signal in signals::due_to_expire(conn, today, bsn, EXPIRY_BATCH).await? {
            if self
                .end_signal(conn, &signal, SignalStatus::Expired, now_ms)
                .await?
            {
                ops += 1;
            }
            tracing::info!(signal_id = %signal.id, "signal expired");
        }
        Ok(ops)
    }

    /// Expires every signal whose end date has come, in batches; returns how many expired.
    pub async fn expire_due(&self) -> Result<usize, IndexError> {
        let mut total = 0;
        loop {
            let today = self.clock.today();
            let mut tx = self.db.write().await?;
            let conn: &mut AnyConnection = &mut tx.tx;
            let due = signals::due_to_expire(conn, today, None, EXPIRY_BATCH)
                .await?
                .len();
            if due == 0 {
                return Ok(total);
            }
            let ops = self.expire_in(conn, today, None).await?;
            tx.commit().await?;
            if ops > 0 {
                self.outbox_written.notify_one();
            }
            total += due;
        }
    }

    /// The partner's own signals, newest first, with the youth from the registry (if known).
    pub async fn list_signals(
        &self,
        partner: &Partner,
    ) -> Result<Vec<(Signal, Option<Person>)>, IndexError> {
        let mut conn = self.db.pool.acquire().await?;
        let list = signals::of_partner(&mut conn, partner.oin.as_str()).await?;
        Ok(list
            .into_iter()
            .map(|s| {
                let person = self.registry.lookup(&s.bsn);
                (s, person)
            })
            .collect())
    }

    /// For each of the partner's active signals: its regional match (the other active
    /// signallers) and its cross-regional matches, one [`MatchView`] per match.
    pub async fn list_matches(&self, partner: &Partner) -> Result<Vec<MatchView>, IndexError> {
        let mut conn = self.db.pool.acquire().await?;
        let mut views = Vec::new();
        for signal in signals::of_partner(&mut conn, partner.oin.as_str()).await? {
            if signal.status != SignalStatus::Active {
                continue;
            }
            if let Some((match_id, created_ms)) =
                matches::open_of_signal(&mut conn, &signal.id).await?
            {
                let mut others = Vec::new();
                for member in matches::current_members(&mut conn, &match_id).await? {
                    if member == signal.id {
                        continue;
                    }
                    if let Some(other) = signals::get(&mut conn, &member).await? {
                        others.push(OtherParty::Known(Party::of_signal(&other, &self.region)));
                    }
                }
                views.push(MatchView {
                    id: match_id,
                    kind: matching::KIND_CLIENT.to_owned(),
                    your_signal_id: signal.id.clone(),
                    others,
                    created_ms,
                });
            }
            // Family, address and confirmed candidate matches inside the region.
            views.extend(crate::family::views_of_signal(&mut conn, &signal, &self.region).await?);
            for remote in matches::open_remote_of_signal(&mut conn, &signal.id).await? {
                let other = match remote
                    .other_party
                    .as_deref()
                    .and_then(|j| Party::from_json(j.as_bytes()))
                {
                    Some(party) => OtherParty::Known(party),
                    None => OtherParty::Pending {
                        region: remote.other_region.clone(),
                    },
                };
                views.push(MatchView {
                    id: remote.hub_match_id,
                    kind: remote.kind,
                    your_signal_id: signal.id.clone(),
                    others: vec![other],
                    created_ms: remote.created_ms,
                });
            }
        }
        Ok(views)
    }

    pub async fn list_notifications(
        &self,
        partner: &Partner,
    ) -> Result<Vec<Notification>, IndexError> {
        let mut conn = self.db.pool.acquire().await?;
        Ok(notifications::of_partner(&mut conn, partner.oin.as_str()).await?)
    }

    pub async fn status(&self) -> Result<IndexStatus, IndexError> {
        let mut conn = self.db.pool.acquire().await?;
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        Ok(IndexStatus {
            active_signals: count(signals::count_active(&mut conn).await?),
            matches: count(
                matches::count_open(&mut conn).await?
                    + crate::store::links::count_open_links(&mut conn).await?,
            ),
            outbox_pending: count(outbox::count_pending(&mut conn).await?),
            feed_applied_seq: feed::applied_seq(&mut conn).await?,
        })
    }
}

/// A new signal's id, which is also its opaque ref at the hub. Time-ordered (UUIDv7) so that
/// new signals go to the end of the signal indexes, here and at the hub, instead of a random
/// page of them (one page written per commit instead of one per signal; see BENCHMARKS.md).
/// It tells nothing the hub does not already know: it records when a signal arrives.
pub(crate) fn new_signal_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
