//! Wire views of the rules' values: domain values in, `vir_proto` messages out.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use vir_proto as pb;

use crate::deadlines::{FollowUp, Overview};
use crate::index::RegionalIndex;
use crate::party::Party;
use crate::rules::lifetime::archive_until;
use crate::rules::RuleError;
use crate::signal::Signal;
use crate::store::accesslog::Entry;
use crate::store::coordination::Coordination;
use crate::store::lifecycle::ended_on;
use crate::store::notices::Notice;
use crate::store::objections::{Objection, Outcome};
use crate::store::{details, format_date, signals};

fn rfc3339(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn date(d: Option<NaiveDate>) -> String {
    d.map(format_date).unwrap_or_default()
}

/// Adds what the rules keep about a signal to its wire form.
pub(crate) async fn enrich_signal(
    index: &RegionalIndex,
    out: &mut pb::Signal,
) -> Result<(), RuleError> {
    let mut conn = index.db.pool.acquire().await?;
    let Some(signal) = signals::get(&mut conn, &out.id).await? else {
        return Ok(());
    };
    let d = details::get(&mut conn, &signal.id).await?;
    out.urgency = d.urgency;
    out.chain_registration = d.chain_registration;
    out.renewed_at = d.renewed_ms.map(rfc3339).unwrap_or_default();
    out.archive_until =
        date(ended_on(&signal).map(|e| archive_until(e, &index.rules.config.lifetime)));
    let required = index.required_addressee(&signal.bsn, index.clock.today());
    out.informing = match (d.informing, required) {
        (None, None) => None,
        (informing, required) => Some(pb::Informing {
            informed: informing
                .as_ref()
                .and_then(|i| i.informed)
                .map_or(0, |a| a.to_proto() as i32),
            informed_on: date(informing.as_ref().and_then(|i| i.informed_on)),
            postponed_reason: informing
                .as_ref()
                .and_then(|i| i.postponed_reason.clone())
                .unwrap_or_default(),
            recorded_at: informing
                .as_ref()
                .map(|i| rfc3339(i.recorded_ms))
                .unwrap_or_default(),
            required: required.map_or(0, |a| a.to_proto() as i32),
        }),
    };
    Ok(())
}

pub(crate) fn archived_to_proto(
    archived: &Signal,
    yours: &Signal,
    index: &RegionalIndex,
) -> pb::ArchivedSignal {
    let ended = ended_on(archived);
    pb::ArchivedSignal {
        your_signal_id: yours.id.clone(),
        organisation: archived.organisation.clone(),
        organisation_oin: archived.partner_oin.to_string(),
        category: archived.category.as_str().to_owned(),
        signaller: Some(pb::Contact::from(&archived.signaller)),
        signalled_on: format_date(archived.signalled_on()),
        ended_on: date(ended),
        status: pb::SignalStatus::from(archived.status) as i32,
        archive_until: date(ended.map(|e| archive_until(e, &index.rules.config.lifetime))),
    }
}

fn regie_to_proto(c: &Coordination) -> pb::Regie {
    pb::Regie {
        coordinator_oin: c.coordinator_oin.clone(),
        coordinator_organisation: c.coordinator_org.clone(),
        basis: c.basis.as_str().to_owned(),
        lead_region: c.lead_region.clone(),
        changed_at: rfc3339(c.changed_ms),
    }
}

pub(crate) fn follow_up_to_proto(v: &FollowUp) -> pb::MatchFollowUp {
    let c = v.consultation.as_ref();
    pb::MatchFollowUp {
        match_id: v.match_id.clone(),
        your_signal_id: v.signal_id.clone(),
        consultation_due_on: date(c.map(|c| c.due_on)),
        consulted_on: date(c.and_then(|c| c.consulted_on)),
        escalated: c.is_some_and(|c| c.escalated_ms.is_some()),
        regie: v.regie.as_ref().map(regie_to_proto),
    }
}

pub(crate) fn notice_to_proto(n: &Notice) -> pb::Notice {
    pb::Notice {
        id: n.id.clone(),
        topic: n.topic.to_proto() as i32,
        your_signal_id: n.signal_id.clone(),
        match_id: n.match_id.clone(),
        parties: n.parties.iter().map(Party::to_proto).collect(),
        due_on: date(n.due_on),
        detail: n.detail.clone(),
        created_at: rfc3339(n.created_ms),
    }
}

pub(crate) fn objection_to_proto(o: &Objection) -> pb::Objection {
    pb::Objection {
        id: o.id.clone(),
        bsn: o.bsn.clone(),
        signal_ids: o.signal_ids.clone(),
        lodged_on: format_date(o.lodged_on),
        lodged_by: o.lodged_by.to_proto() as i32,
        informed_on: date(o.informed_on),
        late: o.late,
        decision_due: format_date(o.decision_due),
        decided_on: date(o.decided_on),
        outcome: match o.outcome {
            None => pb::ObjectionOutcome::Pending,
            Some(Outcome::Upheld) => pb::ObjectionOutcome::Upheld,
            Some(Outcome::NoLongerNeeded) => pb::ObjectionOutcome::NoLongerNeeded,
            Some(Outcome::Rejected) => pb::ObjectionOutcome::Rejected,
        } as i32,
        recorded_at: rfc3339(o.created_ms),
    }
}

pub(crate) fn overview_to_proto(o: &Overview, today: NaiveDate) -> pb::AdminDeadlinesResponse {
    pb::AdminDeadlinesResponse {
        missed_consultations: o
            .missed
            .iter()
            .map(|(c, signal)| pb::MissedConsultation {
                match_id: c.match_id.clone(),
                signal_id: c.signal_id.clone(),
                organisation: signal
                    .as_ref()
                    .map(|s| s.organisation.clone())
                    .unwrap_or_default(),
                organisation_oin: signal
                    .as_ref()
                    .map(|s| s.partner_oin.to_string())
                    .unwrap_or_default(),
                municipality: c.municipality.clone(),
                due_on: format_date(c.due_on),
                escalated_at: c.escalated_ms.map(rfc3339).unwrap_or_default(),
            })
            .collect(),
        objections_due: o
            .objections_due
            .iter()
            .map(|x| pb::ObjectionDue {
                objection_id: x.id.clone(),
                decision_due: format_date(x.decision_due),
                overdue: today > x.decision_due,
                late: x.late,
            })
            .collect(),
        tasks: o.tasks.iter().map(notice_to_proto).collect(),
    }
}

pub(crate) fn entry_to_proto(e: &Entry) -> pb::AccessLogEntry {
    pb::AccessLogEntry {
        seq: u64::try_from(e.seq).unwrap_or(0),
        at: rfc3339(e.entry.at_ms),
        actor_oin: e.entry.actor_oin.clone(),
        actor: e.entry.actor.clone(),
        on_behalf_of: e.entry.on_behalf_of.clone(),
        action: e.entry.action.clone(),
        object: e.entry.object.clone(),
        subject: e.entry.subject.clone(),
        result: e.entry.result.clone(),
        hash: e.hash.clone(),
    }
}
