//! The rights of the people concerned and the administrator's part in them (002 art. 17-23;
//! 003 art. 16-20; 001 Q29-30):
//!
//! - destroy: a signaller asks, an administrator destroys a signal that was made wrongly
//!   (003 art. 16.3-16.4); every signaller who had a match with it is told (003 art. 20);
//! - correction of a signaller's contact details, told likewise (002 art. 19, 23);
//! - bezwaar: registered with its dates and accepted at any time (003 art. 18.1; 002 art.
//!   20.1); lodged later than 6 weeks after informing it is flagged late, never dropped (001
//!   Q30); the decision is due in 4 weeks, with reminders to the administrators; the signal
//!   stays active until the decision (001 Q29; 002 art. 20.2); upheld destroys, "no longer
//!   needed" inactivates, rejected keeps;
//! - who may exercise the rights follows the age bands (003 art. 19; 002 art. 21-22).
//!
//! The inzage export is in [`crate::inzage`].

use chrono::{Days, NaiveDate};
use vir_shared::Bsn;

use crate::accesslog::Actor;
use crate::config::Partner;
use crate::index::RegionalIndex;
use crate::lifecycle::DestroyWhy;
use crate::party::Party;
use crate::rules::lifetime::{objection_decision_due, objection_is_late};
use crate::rules::{not_found, Addressee, RuleError};
use crate::signal::{Contact, InvalidField, Signal, SignalStatus};
use crate::store::matches;
use crate::store::notices::{self, Notice, Topic};
use crate::store::objections::{self, Objection, Outcome};
use crate::store::outbox::{self, OutboxOp};
use crate::store::{details, lifecycle, signals, StoreError};

fn invalid(field: &'static str, reason: impl Into<String>) -> RuleError {
    RuleError::Invalid(InvalidField {
        field,
        reason: reason.into(),
    })
}

/// An objection as the administrator registers it.
#[derive(Clone)]
pub struct NewObjection {
    pub bsn: Bsn,
    /// One signal, or None for every signal on the youth.
    pub signal_id: Option<String>,
    pub lodged_on: Option<NaiveDate>,
    pub lodged_by: Addressee,
    pub youth_not_capable: bool,
    pub informed_on: Option<NaiveDate>,
}

impl RegionalIndex {
    /// Checks that `who` may exercise the youth's rights on `on` (003 art. 19; 002 art. 21-22).
    pub fn check_rights_holder(
        &self,
        bsn: &Bsn,
        on: NaiveDate,
        who: Addressee,
        youth_not_capable: bool,
    ) -> Result<(), RuleError> {
        let Some(required) = self.required_addressee(bsn, on) else {
            return Ok(());
        };
        if who.may_exercise(required, youth_not_capable) {
            return Ok(());
        }
        Err(invalid(
            "lodged_by",
            format!(
                "at this age the rights are exercised by: {} (003 art. 19.1)",
                required.as_str()
            ),
        ))
    }

    /// A signaller asks the administrators to destroy one of its signals (003 art. 16.3).
    pub async fn request_destruction(
        &self,
        partner: &Partner,
        signal_id: &str,
    ) -> Result<usize, RuleError> {
        let now_ms = self.clock.now().timestamp_millis();
        let mut tx = self.db.write().await?;
        let signal = own_signal(&mut tx.tx, partner, signal_id).await?;
        let mut asked = 0;
        for admin in self.rules.administrators() {
            let mut task = Notice::new(admin.oin.as_str(), Topic::DestructionRequested, now_ms);
            task.signal_id = signal.id.clone();
            task.bsn = signal.bsn.to_string();
            task.parties = vec![Party::of_signal(&signal, &self.region)];
            notices::insert(&mut tx.tx, &task).await?;
            asked += 1;
        }
        tx.commit().await?;
        Ok(asked)
    }

    /// An administrator destroys a signal; returns how many signallers were told.
    pub async fn admin_destroy(
        &self,
        admin: &Partner,
        signal_id: &str,
        why: DestroyWhy,
    ) -> Result<usize, RuleError> {
        let mut tx = self.db.write().await?;
        let signal = signals::get(&mut tx.tx, signal_id.trim())
            .await?
            .ok_or_else(|| not_found("no such signal in this region"))?;
        let told = self
            .destroy_in(&mut tx.tx, &signal, why, &Actor::partner(admin, None))
            .await?;
        tx.commit().await?;
        self.outbox_written.notify_one();
        self.followup_wanted.notify_one();
        tracing::info!(signal_id = %signal.id, reason = why.as_str(), told, "signal destroyed by an administrator");
        Ok(told)
    }

    /// Corrects a signaller's contact details; those who had a match with it are told.
    pub async fn correct_signal(
        &self,
        signal_id: &str,
        contact: Contact,
    ) -> Result<Signal, RuleError> {
        let now_ms = self.clock.now().timestamp_millis();
        let mut tx = self.db.write().await?;
        let conn = &mut tx.tx;
        let signal = signals::get(conn, signal_id.trim())
            .await?
            .ok_or_else(|| not_found("no such signal in this region"))?;
        lifecycle::set_contact(conn, &signal.id, &contact).await?;
        let corrected = signals::get(conn, &signal.id)
            .await?
            .ok_or_else(|| not_found("signal"))?;
        crate::store::erase::replace_party(
            conn,
            &corrected.bsn,
            &Party::of_signal(&corrected, &self.region),
        )
        .await?;
        let told = self
            .tell_removed(conn, &corrected, Topic::SignalCorrected, now_ms)
            .await?;
        let (relayed, not_relayed) = self.relay_correction(conn, &corrected, now_ms).await?;
        tx.commit().await?;
        if relayed > 0 {
            self.outbox_written.notify_one();
        }
        tracing::info!(signal_id = %corrected.id, told, relayed, not_relayed, "signal corrected");
        if not_relayed > 0 {
            tracing::warn!(
                signal_id = %corrected.id,
                not_relayed,
                event = "correction_not_relayed",
                "a remote match has no certified key of the other node (recorded before it was \
                 kept, or its certificate did not verify): that region is not told"
            );
        }
        Ok(corrected)
    }

    /// Seals the corrected contact details to the other node of each open cross-regional match
    /// of the signal and queues them as a relay, as the first envelope was (002 art. 19, 23:
    /// whoever received the details is told of the correction). Returns (relayed, not relayed).
    async fn relay_correction(
        &self,
        conn: &mut sqlx::AnyConnection,
        corrected: &Signal,
        now_ms: i64,
    ) -> Result<(usize, usize), StoreError> {
        let party = Party::of_signal(corrected, &self.region);
        let (mut relayed, mut not_relayed) = (0, 0);
        for m in matches::open_remote_of_signal(conn, &corrected.id).await? {
            let Some(key) = m.other_hpke_key else {
                not_relayed += 1;
                continue;
            };
            let aad =
                crate::remote::envelope_aad(&m.hub_match_id, self.region.as_str(), &m.other_region);
            let Ok(sealed) = vir_shared::envelope::seal(&key, &aad, party.to_json().as_bytes())
            else {
                not_relayed += 1;
                continue;
            };
            let op = OutboxOp::Relay {
                match_id: m.hub_match_id,
                to_region: m.other_region,
                about_signal_ref: corrected.id.clone(),
                sealed_hex: hex::encode(sealed),
            };
            outbox::append(conn, &op, now_ms).await?;
            relayed += 1;
        }
        Ok((relayed, not_relayed))
    }

    /// Registers an objection; never refused for being late, only flagged.
    pub async fn lodge_objection(
        &self,
        admin: &Partner,
        new: NewObjection,
    ) -> Result<Objection, RuleError> {
        let today = self.clock.today();
        let lodged_on = new.lodged_on.unwrap_or(today);
        if lodged_on > today {
            return Err(invalid("lodged_on", "not in the future"));
        }
        self.check_rights_holder(&new.bsn, lodged_on, new.lodged_by, new.youth_not_capable)?;
        let mut tx = self.db.write().await?;
        let conn = &mut tx.tx;
        let on_youth = lifecycle::all_on_youth(conn, &new.bsn).await?;
        let covered: Vec<&Signal> = match new.signal_id.as_deref().map(str::trim) {
            Some(id) => on_youth.iter().filter(|s| s.id == id).collect(),
            None => on_youth.iter().collect(),
        };
        if covered.is_empty() {
            return Err(not_found("no such signal on this youth in the region"));
        }
        // The term runs from the latest informing on the covered signals, unless given.
        let mut informed_on = new.informed_on;
        if informed_on.is_none() {
            for signal in &covered {
                let on = details::get(conn, &signal.id)
                    .await?
                    .informing
                    .and_then(|i| i.informed_on);
                informed_on = informed_on.max(on);
            }
        }
        let rules = &self.rules.config.objection;
        let objection = Objection {
            id: uuid::Uuid::new_v4().to_string(),
            bsn: new.bsn.to_string(),
            signal_ids: covered.iter().map(|s| s.id.clone()).collect(),
            lodged_on,
            lodged_by: new.lodged_by,
            informed_on,
            late: objection_is_late(informed_on, lodged_on, rules),
            decision_due: objection_decision_due(lodged_on, rules),
            reminded_on: None,
            decided_on: None,
            outcome: None,
            recorded_by: admin.oin.to_string(),
            created_ms: self.clock.now().timestamp_millis(),
        };
        objections::insert(conn, &objection).await?;
        tx.commit().await?;
        tracing::info!(objection = %objection.id, late = objection.late, "objection registered");
        Ok(objection)
    }

    /// Decides an objection and applies the decision to the signals it covers.
    pub async fn decide_objection(
        &self,
        admin: &Partner,
        id: &str,
        outcome: Outcome,
        decided_on: Option<NaiveDate>,
    ) -> Result<Objection, RuleError> {
        let today = self.clock.today();
        let now_ms = self.clock.now().timestamp_millis();
        let mut tx = self.db.write().await?;
        let conn = &mut tx.tx;
        let objection = objections::get(conn, id.trim())
            .await?
            .ok_or_else(|| not_found("no such objection"))?;
        if objection.decided_on.is_some() {
            return Err(RuleError::Precondition(
                "this objection is decided already".into(),
            ));
        }
        let on = decided_on.unwrap_or(today);
        if on > today || on < objection.lodged_on {
            return Err(invalid("decided_on", "between the lodging and today"));
        }
        objections::decide(conn, &objection.id, outcome, on).await?;
        let actor = Actor::partner(admin, None);
        for signal_id in &objection.signal_ids {
            let Some(signal) = signals::get(conn, signal_id).await? else {
                continue;
            };
            match outcome {
                Outcome::Upheld => {
                    self.destroy_in(conn, &signal, DestroyWhy::ObjectionUpheld, &actor)
                        .await?;
                }
                Outcome::NoLongerNeeded if signal.status == SignalStatus::Active => {
                    signals::lock_youth(conn, &signal.bsn).await?;
                    self.end_signal(conn, &signal, SignalStatus::Inactive, now_ms)
                        .await?;
                    self.tell_removed(conn, &signal, Topic::SignalRemoved, now_ms)
                        .await?;
                }
                Outcome::NoLongerNeeded | Outcome::Rejected => {}
            }
        }
        let decided = objections::get(conn, &objection.id)
            .await?
            .ok_or_else(|| not_found("objection"))?;
        tx.commit().await?;
        self.outbox_written.notify_one();
        self.followup_wanted.notify_one();
        tracing::info!(objection = %objection.id, outcome = outcome.as_str(), "objection decided");
        Ok(decided)
    }

    pub async fn objections(&self, open_only: bool) -> Result<Vec<Objection>, RuleError> {
        let mut conn = self.db.pool.acquire().await?;
        Ok(objections::list(&mut conn, open_only).await?)
    }

    /// Reminds the administrators of objection decisions coming due (and overdue); returns
    /// how many reminders were sent.
    pub async fn remind_objections(&self) -> Result<usize, StoreError> {
        let today = self.clock.today();
        let now_ms = self.clock.now().timestamp_millis();
        let rules = &self.rules.config.objection;
        let mut tx = self.db.write().await?;
        let mut sent = 0;
        for objection in objections::list(&mut tx.tx, true).await? {
            let due = objection.decision_due;
            let mut moments: Vec<NaiveDate> = rules
                .reminder_days_before
                .iter()
                .filter_map(|d| due.checked_sub_days(Days::new(u64::from(*d))))
                .collect();
            moments.extend(due.succ_opt());
            let Some(latest) = moments.into_iter().filter(|m| *m <= today).max() else {
                continue;
            };
            if objection.reminded_on.is_some_and(|r| r >= latest) {
                continue;
            }
            for admin in self.rules.administrators() {
                let mut notice =
                    Notice::new(admin.oin.as_str(), Topic::ObjectionDecisionDue, now_ms);
                notice.bsn = objection.bsn.clone();
                notice.due_on = Some(due);
                notice.detail = if today > due { "overdue" } else { "due" }.to_owned();
                notice.match_id = objection.id.clone();
                notices::insert(&mut tx.tx, &notice).await?;
                sent += 1;
            }
            objections::set_reminded(&mut tx.tx, &objection.id, today).await?;
        }
        tx.commit().await?;
        Ok(sent)
    }

    /// Closes one of the administrator's open tasks.
    pub async fn close_task(&self, admin: &Partner, notice_id: &str) -> Result<Notice, RuleError> {
        let now_ms = self.clock.now().timestamp_millis();
        let mut tx = self.db.write().await?;
        if !notices::mark_done(&mut tx.tx, notice_id.trim(), admin.oin.as_str(), now_ms).await? {
            return Err(not_found("no such open task of yours"));
        }
        let notice = notices::get(&mut tx.tx, notice_id.trim())
            .await?
            .ok_or_else(|| not_found("task"))?;
        tx.commit().await?;
        Ok(notice)
    }
}

async fn own_signal(
    conn: &mut sqlx::AnyConnection,
    partner: &Partner,
    signal_id: &str,
) -> Result<Signal, RuleError> {
    signals::get(conn, signal_id.trim())
        .await?
        .filter(|s| s.partner_oin == partner.oin)
        .ok_or_else(|| not_found("no such signal of your organisation"))
}
