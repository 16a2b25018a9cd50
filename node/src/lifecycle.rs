//! The lifecycle scheduler: one task inside the node that applies the date rules when the
//! clock's date changes (checked every [`CHECK_EVERY`], so a test or the development federation
//! that moves the clock sees the effect within a second) and drains the follow-up queue:
//!
//! 1. destroyed at 23 and at death, archive included (003 art. 16.5; 002 art. 17.6-17.8);
//! 2. expired at the end date: 2 years after signalling or renewal, or earlier if the signaller
//!    said so (003 art. 1, 16.1); an expired signal goes to the archive (Jeugdwet 7.1.4.6);
//! 3. destroyed when the archive term (5 years) is over (003 art. 16.2);
//! 4. missed consultation deadlines escalated ([`crate::deadlines`]);
//! 5. reminders: renewal before the end date, objection decisions due ([`crate::rights`]).
//!
//! Every removal and inactivation of a national signal queues a hub `remove` (via
//! `RegionalIndex::end_signal`), so the hub ends the cross-regional matches and tells the other
//! side. Renewal and destruction by an administrator are here too.

use std::time::Duration;

use chrono::{Days, NaiveDate};
use sqlx::AnyConnection;
use tokio_util::sync::CancellationToken;

use crate::accesslog::Actor;
use crate::config::Partner;
use crate::index::RegionalIndex;
use crate::party::Party;
use crate::rules::{not_found, RuleError};
use crate::signal::{check_end_date, Signal, SignalStatus};
use crate::store::details::{self, Marker};
use crate::store::notices::{self, Notice, Topic};
use crate::store::{erase, lifecycle, signals, StoreError};

/// How often the date is looked at; the daily rules run only when it changed.
pub const CHECK_EVERY: Duration = Duration::from_secs(1);

/// Signals handled per transaction by a sweep.
const BATCH: i64 = 200;

/// Why a signal is destroyed; the code in notices and the access log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DestroyWhy {
    /// By an administrator: the signal was made wrongly (003 art. 16.3-16.4).
    Wrong,
    /// An objection was upheld (003 art. 16.6, 18.3).
    ObjectionUpheld,
    AgeLimit,
    Death,
    /// The archive term is over (003 art. 16.2).
    ArchiveTerm,
}

impl DestroyWhy {
    pub fn as_str(self) -> &'static str {
        match self {
            DestroyWhy::Wrong => "wrong",
            DestroyWhy::ObjectionUpheld => "objection_upheld",
            DestroyWhy::AgeLimit => "age_limit",
            DestroyWhy::Death => "death",
            DestroyWhy::ArchiveTerm => "archive_term",
        }
    }
}

/// What one daily run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DailyReport {
    pub youths_destroyed: usize,
    pub expired: usize,
    pub purged: usize,
    pub escalated: usize,
    pub reminders: usize,
}

/// Runs until `shutdown` is cancelled.
pub async fn run(index: RegionalIndex, shutdown: CancellationToken) {
    let mut swept: Option<NaiveDate> = None;
    loop {
        let today = index.clock.today();
        if swept != Some(today) {
            match index.daily().await {
                Ok(report) => {
                    if report != DailyReport::default() {
                        tracing::info!(%today, ?report, "daily rules applied");
                    }
                    swept = Some(today);
                }
                Err(e) => tracing::warn!(error = %e, "daily rules failed; will retry"),
            }
        }
        if let Err(e) = index.process_followups().await {
            tracing::warn!(error = %e, "follow-up failed; will retry");
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = index.followup_wanted.notified() => {}
            _ = tokio::time::sleep(CHECK_EVERY) => {}
        }
    }
}

impl RegionalIndex {
    /// The date rules, in the order of the module docs.
    pub async fn daily(&self) -> Result<DailyReport, StoreError> {
        let youths_destroyed = self.destroy_youths_due().await?;
        let expired = self.expire_due().await.map_err(|e| match e {
            crate::index::IndexError::Store(s) => s,
            other => StoreError::Corrupt(if matches!(other, crate::index::IndexError::NotFound) {
                "expiry: signal vanished"
            } else {
                "expiry"
            }),
        })?;
        let purged = self.purge_archive().await?;
        let escalated = self.escalate_missed().await?;
        let reminders = self.remind_renewals().await? + self.remind_objections().await?;
        self.process_followups().await?;
        Ok(DailyReport {
            youths_destroyed,
            expired,
            purged,
            escalated,
            reminders,
        })
    }

    /// Destroys every youth who turned 23 or died, archive included; returns how many.
    pub async fn destroy_youths_due(&self) -> Result<usize, StoreError> {
        let today = self.clock.today();
        let max_age = self.rules.config.lifetime.destroy_at_age;
        let mut after = String::new();
        let mut destroyed = 0;
        loop {
            let page = {
                let mut conn = self.db.pool.acquire().await?;
                lifecycle::youths_after(&mut conn, &after, BATCH).await?
            };
            let Some(last) = page.last() else { return Ok(destroyed) };
            after = last.to_string();
            for bsn in &page {
                let Some(person) = self.registry.lookup(bsn) else { continue };
                let why = if person.death_date.is_some_and(|d| d <= today) {
                    DestroyWhy::Death
                } else if person.age_on(today) >= max_age {
                    DestroyWhy::AgeLimit
                } else {
                    continue;
                };
                let mut tx = self.db.write().await?;
                self.destroy_youth_in(&mut tx.tx, bsn, why).await?;
                tx.commit().await?;
                self.outbox_written.notify_one();
                destroyed += 1;
            }
        }
    }

    /// Destroys all of a youth's signals, archive included (003 art. 16.5).
    async fn destroy_youth_in(
        &self,
        conn: &mut AnyConnection,
        bsn: &vir_shared::Bsn,
        why: DestroyWhy,
    ) -> Result<(), StoreError> {
        let now_ms = self.clock.now().timestamp_millis();
        signals::lock_youth(&mut *conn, bsn).await?;
        let all = lifecycle::all_on_youth(&mut *conn, bsn).await?;
        for signal in all.iter().filter(|s| s.status == SignalStatus::Active) {
            self.end_signal(&mut *conn, signal, SignalStatus::Inactive, now_ms).await?;
        }
        erase::erase_youth(&mut *conn, bsn).await?;
        let days = self.rules.config.lifetime.death_inform_days;
        if why == DestroyWhy::Death && days > 0 {
            // 002 art. 17.6: the administrator informs the signallers within the term; only
            // this task, naming the organisations, is kept.
            let due = self.clock.today().checked_add_days(Days::new(u64::from(days)));
            for admin in self.rules.administrators() {
                let mut task = Notice::new(admin.oin.as_str(), Topic::SignallersToInform, now_ms);
                task.due_on = due;
                task.detail = why.as_str().to_owned();
                task.parties = all.iter().map(|s| Party::of_signal(s, &self.region)).collect();
                notices::insert(&mut *conn, &task).await?;
            }
        } else {
            for signal in &all {
                self.tell_destroyed(&mut *conn, signal, why, now_ms).await?;
            }
        }
        self.audit_in(&mut *conn, &Actor::scheduler(&self.region), "destroy_youth", "youth", Some(bsn), why.as_str())
            .await?;
        tracing::info!(signals = all.len(), reason = why.as_str(), "youth's signals destroyed");
        Ok(())
    }

    /// The signaller learns that their signal was destroyed, and why (no youth named).
    async fn tell_destroyed(
        &self,
        conn: &mut AnyConnection,
        signal: &Signal,
        why: DestroyWhy,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut notice = Notice::new(signal.partner_oin.as_str(), Topic::SignalDestroyed, now_ms);
        notice.signal_id = signal.id.clone();
        notice.detail = why.as_str().to_owned();
        notices::insert(conn, &notice).await
    }

    /// Destroys one signal in the caller's transaction: it ends (a hub `remove` if national),
    /// every signaller who had a match with it is told when the law asks (003 art. 20; 002 art.
    /// 23), and every trace is erased. Returns how many signallers were told.
    pub(crate) async fn destroy_in(
        &self,
        conn: &mut AnyConnection,
        signal: &Signal,
        why: DestroyWhy,
        actor: &Actor,
    ) -> Result<usize, StoreError> {
        let now_ms = self.clock.now().timestamp_millis();
        signals::lock_youth(&mut *conn, &signal.bsn).await?;
        if signal.status == SignalStatus::Active {
            self.end_signal(&mut *conn, signal, SignalStatus::Inactive, now_ms).await?;
        }
        let told = match why {
            DestroyWhy::Wrong | DestroyWhy::ObjectionUpheld => {
                self.tell_removed(&mut *conn, signal, Topic::SignalRemoved, now_ms).await?
            }
            _ => 0,
        };
        erase::erase_signal(&mut *conn, &signal.id, &signal.bsn).await?;
        if why != DestroyWhy::ArchiveTerm {
            self.tell_destroyed(&mut *conn, signal, why, now_ms).await?;
        }
        self.audit_in(&mut *conn, actor, "destroy_signal", &format!("signal:{}", signal.id), Some(&signal.bsn), why.as_str())
            .await?;
        Ok(told)
    }

    /// Tells every signaller who ever had a regional match with `signal` that it was corrected
    /// or removed (003 art. 20; 002 art. 23). Other regions learn a removal from the hub.
    pub(crate) async fn tell_removed(
        &self,
        conn: &mut AnyConnection,
        signal: &Signal,
        topic: Topic,
        now_ms: i64,
    ) -> Result<usize, StoreError> {
        let mut party = Party::of_signal(signal, &self.region);
        if topic == Topic::SignalRemoved {
            // A removed signal's contact details are not handed out again.
            party.contact = Default::default();
        }
        let others = lifecycle::ever_matched_with(&mut *conn, &signal.id).await?;
        for other in &others {
            let mut notice = Notice::new(other.partner_oin.as_str(), topic, now_ms);
            notice.signal_id = other.id.clone();
            notice.bsn = other.bsn.to_string();
            notice.parties = vec![party.clone()];
            notices::insert(&mut *conn, &notice).await?;
        }
        Ok(others.len())
    }

    /// Destroys archived signals whose archive term is over (003 art. 16.2); returns how many.
    pub async fn purge_archive(&self) -> Result<usize, StoreError> {
        let mut total = 0;
        loop {
            let cutoff = crate::rules::lifetime::archive_cutoff(self.clock.today(), &self.rules.config.lifetime);
            let mut tx = self.db.write().await?;
            let due = lifecycle::past_archive_term(&mut tx.tx, cutoff, BATCH).await?;
            for signal in &due {
                self.destroy_in(&mut tx.tx, signal, DestroyWhy::ArchiveTerm, &Actor::scheduler(&self.region))
                    .await?;
            }
            tx.commit().await?;
            total += due.len();
            if due.len() < BATCH as usize {
                return Ok(total);
            }
        }
    }

    /// Reminds signallers to renew before their signal's end date; returns how many.
    pub async fn remind_renewals(&self) -> Result<usize, StoreError> {
        let days = self.rules.config.lifetime.renewal_reminder_days;
        if days == 0 {
            return Ok(0);
        }
        let today = self.clock.today();
        let until = today.checked_add_days(Days::new(u64::from(days))).unwrap_or(NaiveDate::MAX);
        let now_ms = self.clock.now().timestamp_millis();
        let mut tx = self.db.write().await?;
        let due = lifecycle::ending_by(&mut tx.tx, until, BATCH).await?;
        for signal in &due {
            let mut notice = Notice::new(signal.partner_oin.as_str(), Topic::RenewalDue, now_ms);
            notice.signal_id = signal.id.clone();
            notice.bsn = signal.bsn.to_string();
            notice.due_on = Some(signal.end_date);
            notices::insert(&mut tx.tx, &notice).await?;
            details::set_renewal_reminded(&mut tx.tx, &signal.id, signal.end_date).await?;
        }
        tx.commit().await?;
        Ok(due.len())
    }

    /// Renews one of the partner's active signals: its term starts again today (003 art.
    /// 16.1). An expired or inactive signal cannot be renewed (001 Q11-12: a new signal).
    pub async fn renew_signal(
        &self,
        partner: &Partner,
        signal_id: &str,
        end_date: Option<NaiveDate>,
    ) -> Result<Signal, RuleError> {
        let today = self.clock.today();
        let now_ms = self.clock.now().timestamp_millis();
        let mut tx = self.db.write().await?;
        let conn = &mut tx.tx;
        let signal = signals::get(conn, signal_id.trim())
            .await?
            .filter(|s| s.partner_oin == partner.oin)
            .ok_or_else(|| not_found("no such signal of your organisation"))?;
        if signal.status == SignalStatus::Active && signal.end_date <= today {
            // Its end date came before the daily sweep did: it is expired, not renewable.
            let wrote = self.end_signal(conn, &signal, SignalStatus::Expired, now_ms).await?;
            tx.commit().await?;
            if wrote {
                self.outbox_written.notify_one();
            }
            self.followup_wanted.notify_one();
            return Err(expired_refusal());
        }
        if signal.status != SignalStatus::Active {
            return Err(expired_refusal());
        }
        let new_end = check_end_date(end_date, today, self.rules.config.lifetime.active_months)?;
        lifecycle::set_end_date(conn, &signal.id, new_end).await?;
        details::mark(conn, &signal.id, Marker::Renewed, now_ms).await?;
        let renewed = signals::get(conn, &signal.id).await?.ok_or_else(|| not_found("signal"))?;
        tx.commit().await?;
        tracing::info!(signal_id = %signal.id, end_date = %new_end, "signal renewed");
        Ok(renewed)
    }
}

fn expired_refusal() -> RuleError {
    RuleError::Precondition(
        "only an active signal can be renewed; after expiry or withdrawal make a new signal \
         (003 art. 16.1; 001 Q11-12)"
            .into(),
    )
}
