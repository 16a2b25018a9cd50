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
//! side. Renewal is here too; destruction itself is in [`crate::destroy`].

use std::time::Duration;

use chrono::{Days, NaiveDate};
use tokio_util::sync::CancellationToken;

use crate::accesslog::Actor;
use crate::config::Partner;
pub use crate::destroy::DestroyWhy;
use crate::index::RegionalIndex;
use crate::rules::{not_found, RuleError};
use crate::signal::{check_end_date, Signal, SignalStatus};
use crate::store::details::{self, Marker};
use crate::store::notices::{self, Notice, Topic};
use crate::store::{lifecycle, signals, StoreError};

/// How often the date is looked at; the daily rules run only when it changed.
pub const CHECK_EVERY: Duration = Duration::from_secs(1);

/// Signals handled per transaction by a sweep.
const BATCH: i64 = 200;

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
                    log_access_log_anchor(&index).await;
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

/// Once a day, the access log's head in the service log: the log collector keeps it outside
/// the database, as an anchor for `virctl admin accesslog verify --anchor`
/// ([`crate::accesslog::Anchor`]).
async fn log_access_log_anchor(index: &RegionalIndex) {
    match index.access_log_head().await {
        // An empty log has nothing to anchor.
        Ok(head) if head.seq == 0 => {}
        Ok(head) => tracing::info!(
            anchor = %head,
            event = "access_log_anchor",
            "access log head, to keep outside the database"
        ),
        Err(e) => tracing::warn!(error = %e, "access log head not read"),
    }
}

impl RegionalIndex {
    /// The date rules, in the order of the module docs.
    pub async fn daily(&self) -> Result<DailyReport, StoreError> {
        let youths_destroyed = self.destroy_youths_due().await?;
        // The sweep only fails on storage; anything else would be a bug, reported as such.
        let expired = self.expire_due().await.map_err(|e| match e {
            crate::index::IndexError::Store(s) => s,
            _ => StoreError::Corrupt("expiry sweep"),
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
            let Some(last) = page.last() else {
                return Ok(destroyed);
            };
            after = last.to_string();
            for bsn in &page {
                let Some(person) = self.registry.lookup(bsn) else {
                    continue;
                };
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

    /// Destroys archived signals whose archive term is over (003 art. 16.2); returns how many.
    pub async fn purge_archive(&self) -> Result<usize, StoreError> {
        let mut total = 0;
        loop {
            let cutoff = crate::rules::lifetime::archive_cutoff(
                self.clock.today(),
                &self.rules.config.lifetime,
            );
            let mut tx = self.db.write().await?;
            let due = lifecycle::past_archive_term(&mut tx.tx, cutoff, BATCH).await?;
            for signal in &due {
                self.destroy_in(
                    &mut tx.tx,
                    signal,
                    DestroyWhy::ArchiveTerm,
                    &Actor::scheduler(&self.region),
                )
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
        let until = today
            .checked_add_days(Days::new(u64::from(days)))
            .unwrap_or(NaiveDate::MAX);
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
            let wrote = self
                .end_signal(conn, &signal, SignalStatus::Expired, now_ms)
                .await?;
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
        let renewed = signals::get(conn, &signal.id)
            .await?
            .ok_or_else(|| not_found("signal"))?;
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
