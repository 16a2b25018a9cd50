//! The follow-up of a youth whose matches changed, run after the change commits (a queue in
//! `followup_queue`, drained by the lifecycle task and right after a partner's write):
//!
//! - every signaller in a match owes a consultation within the region's working days, and is
//!   asked whether they consulted and who has regie (003 art. 10.1; 002 art. 10.1; 001 Q7);
//! - a match on a signal without an informing record prompts its signaller (003 art. 9.1);
//! - who coordinates is settled by the region's rule ([`crate::regie`]);
//! - a new signal on a youth with archived signals makes those signallers visible to it
//!   (Jeugdwet 7.1.4.6; 003 art. 16.8).
//!
//! Everything here is idempotent: a youth processed twice gets nothing twice.

use chrono::{DateTime, NaiveDate};
use sqlx::AnyConnection;
use vir_shared::{Bsn, MunicipalityCode, RegionCode};

use crate::index::RegionalIndex;
use crate::party::Party;
use crate::rules::regie::Candidate;
use crate::signal::Signal;
use crate::store::consultations::{self, Consultation};
use crate::store::details::{self, Marker, URGENT};
use crate::store::matches::{self, RemoteMatch};
use crate::store::notices::{self, Notice, Topic};
use crate::store::{lifecycle, signals, StoreError};

/// Youths followed up per round.
const BATCH: i64 = 100;

pub(crate) fn day_of(ms: i64) -> NaiveDate {
    DateTime::from_timestamp_millis(ms)
        .map(|t| t.date_naive())
        .unwrap_or_default()
}

/// One match a youth is in, as this node sees it.
pub(crate) struct MatchScope {
    pub match_id: String,
    /// Local signals in it, with the time each joined.
    pub local: Vec<(Signal, i64)>,
    /// For a cross-regional match: the other region's side.
    pub remote: Option<RemoteMatch>,
}

/// What the rules look at for one youth.
pub(crate) struct YouthScope {
    pub bsn: Bsn,
    pub active: Vec<Signal>,
    pub matches: Vec<MatchScope>,
    /// A Hoeksche Waard "urgent" signal is active (004 §5).
    pub urgent: bool,
    /// Of residence now, per the registry (else as signalled); None without either.
    pub municipality: Option<MunicipalityCode>,
}

impl YouthScope {
    /// The organisations involved: the signallers in a match (local, and the other regions'
    /// parties whose details arrived), or every active signaller when there is no match.
    pub fn candidates(&self) -> Vec<Candidate> {
        let mut out: Vec<Candidate> = Vec::new();
        let mut add = |c: Candidate| {
            if !out.iter().any(|o| o.oin == c.oin) {
                out.push(c);
            }
        };
        for scope in &self.matches {
            for (signal, _) in &scope.local {
                add(candidate_of(signal));
            }
            let other = scope.remote.as_ref().and_then(|r| r.other_party.as_deref());
            if let Some(party) = other.and_then(|j| Party::from_json(j.as_bytes())) {
                add(Candidate {
                    oin: party.oin,
                    organisation: party.organisation,
                    category: party.category,
                    signal_id: String::new(),
                });
            }
        }
        if self.matches.is_empty() {
            self.active.iter().for_each(|s| add(candidate_of(s)));
        }
        out
    }

    /// The local signals in any match, each once.
    pub fn matched_signals(&self) -> Vec<&Signal> {
        let mut out: Vec<&Signal> = Vec::new();
        for (signal, _) in self.matches.iter().flat_map(|m| m.local.iter()) {
            if !out.iter().any(|s| s.id == signal.id) {
                out.push(signal);
            }
        }
        out
    }
}

pub(crate) fn candidate_of(signal: &Signal) -> Candidate {
    Candidate {
        oin: signal.partner_oin.to_string(),
        organisation: signal.organisation.clone(),
        category: signal.category.as_str().to_owned(),
        signal_id: signal.id.clone(),
    }
}

/// A signal stops being active: the other parties of its regional match are told, and the
/// youth is queued for its follow-up. In the caller's transaction, before it leaves.
pub(crate) async fn signal_leaving(
    conn: &mut AnyConnection,
    signal: &Signal,
    region: &RegionCode,
    now_ms: i64,
) -> Result<(), StoreError> {
    if let Some((match_id, _)) = matches::open_of_signal(&mut *conn, &signal.id).await? {
        let party = Party::of_signal(signal, region);
        for member in matches::current_members(&mut *conn, &match_id).await? {
            if member == signal.id {
                continue;
            }
            if let Some(other) = signals::get(&mut *conn, &member).await? {
                let mut notice = Notice::new(other.partner_oin.as_str(), Topic::PartyLeft, now_ms);
                notice.signal_id = other.id.clone();
                notice.bsn = other.bsn.to_string();
                notice.match_id = match_id.clone();
                notice.parties = vec![party.clone()];
                notices::insert(&mut *conn, &notice).await?;
            }
        }
    }
    details::enqueue(conn, &signal.bsn, now_ms).await
}

impl RegionalIndex {
    /// Follows up every queued youth, each in its own transaction; returns how many.
    pub async fn process_followups(&self) -> Result<usize, StoreError> {
        let mut done = 0;
        loop {
            let queued = {
                let mut conn = self.db.pool.acquire().await?;
                details::queued(&mut conn, BATCH).await?
            };
            if queued.is_empty() {
                return Ok(done);
            }
            for (bsn, queued_ms) in &queued {
                let mut tx = self.db.write().await?;
                self.follow_up_youth(&mut tx.tx, bsn).await?;
                details::dequeue(&mut tx.tx, bsn, *queued_ms).await?;
                tx.commit().await?;
                done += 1;
            }
            if queued.len() < BATCH as usize {
                return Ok(done);
            }
        }
    }

    /// Reads what the rules look at for one youth (the caller holds the youth's lock).
    pub(crate) async fn youth_scope(
        &self,
        conn: &mut AnyConnection,
        bsn: &Bsn,
    ) -> Result<YouthScope, StoreError> {
        let active = signals::active_on_youth(&mut *conn, bsn).await?;
        let mut scopes = Vec::new();
        if let Some((match_id, _)) = matches::open_on_youth(&mut *conn, bsn).await? {
            let mut local = Vec::new();
            for (id, joined_ms) in lifecycle::members_joined(&mut *conn, &match_id).await? {
                if let Some(signal) = active.iter().find(|s| s.id == id) {
                    local.push((signal.clone(), joined_ms));
                }
            }
            scopes.push(MatchScope {
                match_id,
                local,
                remote: None,
            });
        }
        for signal in &active {
            for remote in matches::open_remote_of_signal(&mut *conn, &signal.id).await? {
                scopes.push(MatchScope {
                    match_id: remote.hub_match_id.clone(),
                    local: vec![(signal.clone(), remote.created_ms)],
                    remote: Some(remote),
                });
            }
        }
        let mut urgent = false;
        if self.rules.config.signals.urgency_codes {
            for signal in &active {
                urgent |= details::get(&mut *conn, &signal.id).await?.urgency >= URGENT;
            }
        }
        // The municipality of residence now, per the registry; else as signalled.
        let municipality = self
            .registry
            .lookup(bsn)
            .map(|p| p.municipality)
            .or_else(|| active.first().map(|s| s.municipality.clone()));
        Ok(YouthScope {
            bsn: bsn.clone(),
            active,
            matches: scopes,
            urgent,
            municipality,
        })
    }

    /// The follow-up of one youth (see the module docs), in the caller's transaction.
    pub(crate) async fn follow_up_youth(
        &self,
        conn: &mut AnyConnection,
        bsn: &Bsn,
    ) -> Result<(), StoreError> {
        signals::lock_youth(&mut *conn, bsn).await?;
        let now_ms = self.clock.now().timestamp_millis();
        let scope = self.youth_scope(&mut *conn, bsn).await?;
        self.open_consultations(&mut *conn, &scope, now_ms).await?;
        self.prompt_informing(&mut *conn, &scope, now_ms).await?;
        self.settle_regie(&mut *conn, &scope, now_ms).await?;
        self.show_archive(&mut *conn, &scope, now_ms).await?;
        Ok(())
    }

    /// Each signaller in a match owes a consultation by the deadline and is asked for it.
    async fn open_consultations(
        &self,
        conn: &mut AnyConnection,
        scope: &YouthScope,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let rules = &self.rules.config.consultation;
        let days = if scope.urgent {
            rules.urgent_working_days
        } else {
            rules.working_days
        };
        let calendar = self.rules.calendar();
        for m in &scope.matches {
            for (signal, joined_ms) in &m.local {
                if consultations::get(&mut *conn, &m.match_id, &signal.id)
                    .await?
                    .is_some()
                {
                    continue;
                }
                let started_on = day_of(*joined_ms);
                let due_on = calendar.add_working_days(started_on, days);
                let consultation = Consultation {
                    match_id: m.match_id.clone(),
                    signal_id: signal.id.clone(),
                    bsn: scope.bsn.to_string(),
                    municipality: scope
                        .municipality
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                    started_on,
                    due_on,
                    escalate_on: calendar.next_working_day(due_on),
                    working_days: days,
                    consulted_on: None,
                    answered_ms: None,
                    escalated_ms: None,
                    closed_ms: None,
                    created_ms: now_ms,
                };
                if !consultations::insert(&mut *conn, &consultation).await? {
                    continue;
                }
                let mut notice = Notice::new(
                    signal.partner_oin.as_str(),
                    Topic::ConsultationRequested,
                    now_ms,
                );
                notice.signal_id = signal.id.clone();
                notice.bsn = scope.bsn.to_string();
                notice.match_id = m.match_id.clone();
                notice.due_on = Some(due_on);
                notice.detail = format!("{days}_working_days");
                notice.parties = self.others_in(m, &signal.id);
                notices::insert(&mut *conn, &notice).await?;
            }
        }
        Ok(())
    }

    /// The other parties of a match, as told to one of its signallers.
    fn others_in(&self, m: &MatchScope, signal_id: &str) -> Vec<Party> {
        let mut parties: Vec<Party> = m
            .local
            .iter()
            .filter(|(s, _)| s.id != signal_id)
            .map(|(s, _)| Party::of_signal(s, &self.region))
            .collect();
        let other = m.remote.as_ref().and_then(|r| r.other_party.as_deref());
        parties.extend(other.and_then(|j| Party::from_json(j.as_bytes())));
        parties
    }

    /// 003 art. 9.1: informing is due at the latest when a match arises.
    async fn prompt_informing(
        &self,
        conn: &mut AnyConnection,
        scope: &YouthScope,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let required = self
            .registry
            .lookup(&scope.bsn)
            .map(|p| self.rules.addressee(p.age_on(self.clock.today())));
        for signal in scope.matched_signals() {
            let d = details::get(&mut *conn, &signal.id).await?;
            if d.informing.is_some() || d.informing_prompted_ms.is_some() {
                continue;
            }
            let mut notice = Notice::new(
                signal.partner_oin.as_str(),
                Topic::InformingRequired,
                now_ms,
            );
            notice.signal_id = signal.id.clone();
            notice.bsn = scope.bsn.to_string();
            notice.detail = required.map(|a| a.as_str().to_owned()).unwrap_or_default();
            notices::insert(&mut *conn, &notice).await?;
            details::mark(&mut *conn, &signal.id, Marker::InformingPrompted, now_ms).await?;
        }
        Ok(())
    }

    /// Jeugdwet 7.1.4.6; 003 art. 16.8: a new signaller sees the archived signals of others.
    async fn show_archive(
        &self,
        conn: &mut AnyConnection,
        scope: &YouthScope,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut archive = None;
        for signal in &scope.active {
            if details::get(&mut *conn, &signal.id)
                .await?
                .archive_told_ms
                .is_some()
            {
                continue;
            }
            if archive.is_none() {
                archive = Some(lifecycle::archived_on_youth(&mut *conn, &scope.bsn).await?);
            }
            let others: Vec<Party> = archive
                .iter()
                .flatten()
                .filter(|a| a.partner_oin != signal.partner_oin)
                .map(|a| Party::of_signal(a, &self.region))
                .collect();
            if !others.is_empty() {
                let mut notice =
                    Notice::new(signal.partner_oin.as_str(), Topic::ArchivedSignals, now_ms);
                notice.signal_id = signal.id.clone();
                notice.bsn = scope.bsn.to_string();
                notice.parties = others;
                notices::insert(&mut *conn, &notice).await?;
            }
            details::mark(&mut *conn, &signal.id, Marker::ArchiveTold, now_ms).await?;
        }
        Ok(())
    }
}

/// A cross-regional match lost its other side (the hub said so): the local signaller is told
/// which party left, and the youth is followed up again (regie).
pub(crate) async fn remote_party_left(
    conn: &mut AnyConnection,
    record: &RemoteMatch,
    now_ms: i64,
) -> Result<(), StoreError> {
    let Some(signal) = signals::get(&mut *conn, &record.signal_id).await? else {
        return Ok(());
    };
    if signal.status == crate::signal::SignalStatus::Active {
        let mut notice = Notice::new(signal.partner_oin.as_str(), Topic::PartyLeft, now_ms);
        notice.signal_id = signal.id.clone();
        notice.bsn = signal.bsn.to_string();
        notice.match_id = record.hub_match_id.clone();
        notice.detail = format!("region:{}", record.other_region);
        notice.parties = record
            .other_party
            .as_deref()
            .and_then(|j| Party::from_json(j.as_bytes()))
            .into_iter()
            .collect();
        notices::insert(&mut *conn, &notice).await?;
    }
    details::enqueue(conn, &signal.bsn, now_ms).await
}
