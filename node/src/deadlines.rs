//! Consultation deadlines and their escalation (003 art. 10.1, 13; 002 art. 10.1; 004 §6):
//! after a match each signaller consults the others within the region's working days
//! (weekends and public holidays skipped, see [`crate::rules::calendar`]) and records it. The
//! first working day after a missed deadline the municipality's coordinator is alerted (the
//! administrators where no coordinator is configured); the administrator's overview lists every
//! missed consultation and every objection decision due.

use chrono::NaiveDate;
use sqlx::AnyConnection;

use crate::config::Partner;
use crate::index::RegionalIndex;
use crate::party::Party;
use crate::rules::{not_found, RuleError};
use crate::signal::{InvalidField, Signal, SignalStatus};
use crate::store::consultations::{self, Consultation};
use crate::store::coordination::{self, Coordination};
use crate::store::notices::{self, Notice, Topic};
use crate::store::objections::{self, Objection};
use crate::store::{matches, signals, StoreError};

/// Consultations escalated per transaction.
const BATCH: i64 = 200;

/// One match of one of the caller's signals, with its deadline and coordination.
#[derive(Debug, Clone)]
pub struct FollowUp {
    pub match_id: String,
    pub signal_id: String,
    pub consultation: Option<Consultation>,
    pub regie: Option<Coordination>,
}

/// What the administrator's overview shows.
#[derive(Debug, Clone, Default)]
pub struct Overview {
    /// Past due and not recorded, with the signal (None if it no longer exists).
    pub missed: Vec<(Consultation, Option<Signal>)>,
    pub objections_due: Vec<Objection>,
    pub tasks: Vec<Notice>,
}

impl RegionalIndex {
    /// Records that the caller consulted the other signallers of a match (003 art. 10.1).
    pub async fn record_consultation(
        &self,
        partner: &Partner,
        match_id: &str,
        consulted_on: Option<NaiveDate>,
    ) -> Result<FollowUp, RuleError> {
        let today = self.clock.today();
        let now_ms = self.clock.now().timestamp_millis();
        let mut tx = self.db.write().await?;
        let conn = &mut tx.tx;
        let signal = self
            .signal_in_match(conn, partner, match_id)
            .await?
            .ok_or_else(|| not_found("no open match of an active signal of your organisation"))?;
        // The follow-up may not have run yet for a match this fresh.
        self.follow_up_youth(conn, &signal.bsn).await?;
        let consultation = consultations::get(conn, match_id.trim(), &signal.id)
            .await?
            .ok_or_else(|| not_found("no consultation is due for this match"))?;
        let on = consulted_on.unwrap_or(today);
        if on > today || on < consultation.started_on {
            return Err(InvalidField {
                field: "consulted_on",
                reason: format!("between the match ({}) and today", consultation.started_on),
            }
            .into());
        }
        consultations::record(conn, &consultation.match_id, &signal.id, on, now_ms).await?;
        let view = follow_up_of(conn, &consultation.match_id, &signal).await?;
        tx.commit().await?;
        Ok(view)
    }

    /// The follow-up of each match of the caller's active signals.
    pub async fn follow_ups(&self, partner: &Partner) -> Result<Vec<FollowUp>, RuleError> {
        let mut conn = self.db.pool.acquire().await?;
        let mut views = Vec::new();
        for signal in signals::of_partner(&mut conn, partner.oin.as_str()).await? {
            if signal.status != SignalStatus::Active {
                continue;
            }
            let mut ids = Vec::new();
            if let Some((id, _)) = matches::open_of_signal(&mut conn, &signal.id).await? {
                ids.push(id);
            }
            for remote in matches::open_remote_of_signal(&mut conn, &signal.id).await? {
                ids.push(remote.hub_match_id);
            }
            for id in ids {
                views.push(follow_up_of(&mut conn, &id, &signal).await?);
            }
        }
        Ok(views)
    }

    /// Alerts the coordinators of every consultation missed by today; returns how many.
    pub async fn escalate_missed(&self) -> Result<usize, StoreError> {
        let mut total = 0;
        loop {
            let today = self.clock.today();
            let now_ms = self.clock.now().timestamp_millis();
            let mut tx = self.db.write().await?;
            let due = consultations::due_for_escalation(&mut tx.tx, today, BATCH).await?;
            for c in &due {
                if self.escalate(&mut tx.tx, c, now_ms).await? {
                    total += 1;
                }
            }
            tx.commit().await?;
            if due.len() < BATCH as usize {
                return Ok(total);
            }
        }
    }

    /// Escalates one missed consultation, or closes it if its signal left the match.
    async fn escalate(
        &self,
        conn: &mut AnyConnection,
        c: &Consultation,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let signal = signals::get(&mut *conn, &c.signal_id).await?;
        let current = match &signal {
            Some(s) if s.status == SignalStatus::Active => {
                let regional = matches::open_of_signal(&mut *conn, &s.id).await?;
                let remote = matches::open_remote_of_signal(&mut *conn, &s.id).await?;
                regional.is_some_and(|(id, _)| id == c.match_id)
                    || remote.iter().any(|r| r.hub_match_id == c.match_id)
            }
            _ => false,
        };
        let Some(signal) = signal.filter(|_| current) else {
            consultations::close(&mut *conn, c, now_ms).await?;
            return Ok(false);
        };
        let coordinator = c
            .municipality
            .parse()
            .ok()
            .and_then(|m| self.rules.coordinator(&m));
        let recipients: Vec<&Partner> = match coordinator {
            Some(p) => vec![p],
            None => self.rules.administrators().collect(),
        };
        for recipient in &recipients {
            let mut notice = Notice::new(recipient.oin.as_str(), Topic::DeadlineMissed, now_ms);
            notice.signal_id = signal.id.clone();
            notice.bsn = c.bsn.clone();
            notice.match_id = c.match_id.clone();
            notice.due_on = Some(c.due_on);
            notice.detail = format!("{}_working_days", c.working_days);
            notice.parties = vec![Party::of_signal(&signal, &self.region)];
            notices::insert(&mut *conn, &notice).await?;
        }
        consultations::mark_escalated(&mut *conn, c, now_ms).await?;
        tracing::info!(
            match_id = %c.match_id,
            signal_id = %c.signal_id,
            due_on = %c.due_on,
            alerted = recipients.len(),
            event = "consultation_deadline_missed",
            "consultation deadline missed; coordinator alerted"
        );
        Ok(true)
    }

    /// The administrator's overview (003 art. 13; 004 §6): missed consultations, objection
    /// decisions due, and the administrator's open tasks.
    pub async fn deadline_overview(&self, admin: &Partner) -> Result<Overview, RuleError> {
        let today = self.clock.today();
        let mut conn = self.db.pool.acquire().await?;
        let mut missed = Vec::new();
        for c in consultations::missed(&mut conn, today).await? {
            let signal = signals::get(&mut conn, &c.signal_id).await?;
            missed.push((c, signal));
        }
        Ok(Overview {
            missed,
            objections_due: objections::list(&mut conn, true).await?,
            tasks: notices::open_tasks(&mut conn, admin.oin.as_str()).await?,
        })
    }
}

/// The follow-up of one match of one signal.
async fn follow_up_of(
    conn: &mut AnyConnection,
    match_id: &str,
    signal: &Signal,
) -> Result<FollowUp, StoreError> {
    Ok(FollowUp {
        match_id: match_id.to_owned(),
        signal_id: signal.id.clone(),
        consultation: consultations::get(&mut *conn, match_id, &signal.id).await?,
        regie: coordination::open_of_youth(conn, signal.bsn.as_str()).await?,
    })
}
