//! Inzage: the complete export for one youth within the region, as the administrator hands it
//! to the person (002 art. 18-19; 003 art. 17): the purpose, the data processed (the youth from
//! the person registry, every signal, active and archived), the matches, to whom which data
//! were given (notifications and notices, the national index, other regions), the origin of
//! each, the retention dates, objections, coordination, and the access-log entries about the
//! youth (Jeugdwet 7.1.2.3 i). Who may ask follows the age bands (003 art. 19).
//!
//! Not included: the other regions' data. Those come from a request through the hub, answered
//! with sealed envelopes ([`crate::inzage_remote`]).

use serde_json::{json, Value};
use vir_shared::Bsn;

use crate::index::RegionalIndex;
use crate::rules::lifetime::archive_until;
use crate::rules::{not_found, Addressee, RuleError};
use crate::store::lifecycle::{self, ended_on};
use crate::store::{consultations, coordination, details, matches, notices, objections};
use crate::store::{format_date, notifications};

/// The export, and counts for the caller.
#[derive(Debug, Clone)]
pub struct Export {
    pub json: Value,
    pub signals: usize,
    pub access_log_entries: usize,
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl RegionalIndex {
    /// Produces the export for one youth, after checking who asks (003 art. 19).
    pub async fn inzage(
        &self,
        bsn: &Bsn,
        requested_by: Addressee,
        youth_not_capable: bool,
    ) -> Result<Export, RuleError> {
        let today = self.clock.today();
        self.check_rights_holder(bsn, today, requested_by, youth_not_capable)?;
        self.export(bsn, requested_by.as_str()).await
    }

    /// The export for one youth, without checking who asks: for [`Self::inzage`], and for an
    /// other region's request through the hub (that region's administrator checked).
    /// `not_found` when the region has nothing about the youth.
    pub async fn export(&self, bsn: &Bsn, requested_by: &str) -> Result<Export, RuleError> {
        let mut conn = self.db.pool.acquire().await?;
        let all = lifecycle::all_on_youth(&mut conn, bsn).await?;
        let objections = objections::of_youth(&mut conn, bsn.as_str()).await?;
        if all.is_empty() && objections.is_empty() {
            return Err(not_found("this youth has no signals in the region"));
        }
        let person = self.registry.lookup(bsn);
        let lifetime = &self.rules.config.lifetime;

        let mut signals_out = Vec::new();
        let mut matches_out = Vec::new();
        let mut disclosures = Vec::new();
        for s in &all {
            let d = details::get(&mut conn, &s.id).await?;
            let ended = ended_on(s);
            signals_out.push(json!({
                "id": s.id, "organisation": s.organisation, "organisation_oin": s.partner_oin.as_str(),
                "category": s.category.as_str(),
                "signaller": {"name": s.signaller.name, "phone": s.signaller.phone, "email": s.signaller.email},
                "status": s.status.as_str(), "signalled_at": rfc3339(s.created_ms),
                "end_date": format_date(s.end_date), "ended_on": ended.map(format_date),
                "archive_until": ended.map(|e| format_date(archive_until(e, lifetime))),
                "renewed_at": d.renewed_ms.map(rfc3339), "renewals": d.renewals,
                "urgency": d.urgency, "chain_registration": d.chain_registration,
                "informing": d.informing.as_ref().map(|i| json!({
                    "informed": i.informed.map(Addressee::as_str),
                    "informed_on": i.informed_on.map(format_date),
                    "postponed_reason": i.postponed_reason, "recorded_at": rfc3339(i.recorded_ms),
                })),
                "forwarded_to_national_index": s.national,
                "origin": "the signaller's organisation (identity fields: the person registry)",
            }));
            if s.national {
                disclosures.push(json!({
                    "to": "Verwijsindex Risicojongeren (national hub)",
                    "what": "a pseudonymised key, an opaque reference and the municipality code; no identity",
                    "about_signal": s.id,
                }));
            }
            for remote in matches::open_remote_of_signal(&mut conn, &s.id).await? {
                matches_out.push(json!({
                    "kind": remote.kind, "id": remote.hub_match_id, "your_signal": s.id,
                    "other_region": remote.other_region,
                    "other_party": remote.other_party.as_deref().and_then(|p| serde_json::from_str::<Value>(p).ok()),
                    "created_at": rfc3339(remote.created_ms),
                    "origin": "the other region's node, sealed through the national hub",
                }));
                disclosures.push(json!({
                    "to": format!("the node of region {}", remote.other_region),
                    "what": "the signaller's organisation and contact details (sealed envelope)",
                    "about_signal": s.id, "at": rfc3339(remote.created_ms),
                }));
            }
            let told = notifications::of_partner(&mut conn, s.partner_oin.as_str()).await?;
            for n in told.iter().filter(|n| n.signal_id == s.id) {
                disclosures.push(json!({
                    "to": s.organisation, "to_oin": s.partner_oin.as_str(), "at": rfc3339(n.created_ms),
                    "what": format!("{} match notification", n.kind),
                    "parties": n.parties.iter().map(|p| json!({"organisation": p.organisation, "region": p.region})).collect::<Vec<_>>(),
                }));
            }
        }
        if let Some((id, created_ms)) = matches::open_on_youth(&mut conn, bsn).await? {
            let members: Vec<Value> = lifecycle::members_joined(&mut conn, &id)
                .await?
                .into_iter()
                .map(|(signal, joined)| json!({"signal": signal, "joined_at": rfc3339(joined)}))
                .collect();
            matches_out.push(json!({"kind": "client", "id": id, "created_at": rfc3339(created_ms), "members": members}));
        }
        for n in notices::of_youth(&mut conn, bsn.as_str()).await? {
            let to = self
                .rules
                .partner(&n.partner_oin)
                .map(|p| p.organisation.clone())
                .unwrap_or_default();
            disclosures.push(json!({
                "to": to, "to_oin": n.partner_oin, "at": rfc3339(n.created_ms), "what": n.topic.as_str(),
                "parties": n.parties.iter().map(|p| json!({"organisation": p.organisation, "region": p.region})).collect::<Vec<_>>(),
            }));
        }
        let coordination: Vec<Value> = coordination::of_youth(&mut conn, bsn.as_str())
            .await?
            .iter()
            .map(|c| {
                json!({
                    "coordinator": c.coordinator_org, "coordinator_oin": c.coordinator_oin,
                    "basis": c.basis.as_str(), "lead_region": c.lead_region,
                    "since": rfc3339(c.created_ms), "changed_at": rfc3339(c.changed_ms),
                    "ended_at": c.ended_ms.map(rfc3339),
                })
            })
            .collect();
        let consultations: Vec<Value> = consultations::of_youth(&mut conn, bsn.as_str())
            .await?
            .iter()
            .map(|c| json!({
                "match": c.match_id, "signal": c.signal_id, "due_on": format_date(c.due_on),
                "consulted_on": c.consulted_on.map(format_date), "escalated_at": c.escalated_ms.map(rfc3339),
            }))
            .collect();
        let objections_out: Vec<Value> = objections
            .iter()
            .map(|o| json!({
                "id": o.id, "signals": o.signal_ids, "lodged_on": format_date(o.lodged_on),
                "lodged_by": o.lodged_by.as_str(), "late": o.late,
                "decision_due": format_date(o.decision_due),
                "decided_on": o.decided_on.map(format_date), "outcome": o.outcome.map(|x| x.as_str()),
            }))
            .collect();
        drop(conn);
        let log = self.access_log(0, Some(bsn), None, i64::MAX).await?;
        let log_out: Vec<Value> = log
            .iter()
            .map(|e| json!({
                "seq": e.seq, "at": rfc3339(e.entry.at_ms), "who": e.entry.actor, "who_oin": e.entry.actor_oin,
                "on_behalf_of": e.entry.on_behalf_of, "action": e.entry.action, "object": e.entry.object,
                "result": e.entry.result,
            }))
            .collect();
        let destroy_on = person.as_ref().and_then(|p| {
            p.birth_date
                .checked_add_months(chrono::Months::new(lifetime.destroy_at_age * 12))
        });
        let youth = person.as_ref().map(|p| json!({
            "bsn": p.bsn.as_str(), "name": p.display_name(), "given_names": p.given_names,
            "surname_prefix": p.surname_prefix, "surname": p.surname,
            "gender": format!("{:?}", p.gender).to_lowercase(), "birth_date": format_date(p.birth_date),
            "address": {"street": p.address.street, "house_number": p.address.house_number,
                "addition": p.address.addition, "postcode": p.address.postcode.as_str(), "city": p.address.city},
            "municipality": p.municipality.as_str(),
            "origin": "the person registry (BRP), not the signallers",
        }));
        let export = json!({
            "region": self.region.as_str(),
            "produced_at": rfc3339(self.clock.now().timestamp_millis()),
            "requested_by": requested_by,
            "purpose": "The verwijsindex brings professionals who are involved with the same youth \
                into contact; it holds that they are involved, never what the concern is \
                (Jeugdwet 7.1.4.3; 003 art. 2, 8.4).",
            "controller": person.as_ref().map(|p| format!("the municipality of residence (003 art. 3.3): {}", p.municipality)),
            "youth": youth,
            "signals": signals_out,
            "matches": matches_out,
            "given_to": disclosures,
            "coordination": coordination,
            "consultations": consultations,
            "objections": objections_out,
            "retention": {
                "active": format!("until the end date, at most {} months after signalling or renewal (003 art. 16.1)", lifetime.active_months),
                "archive": format!("{} years after a signal ended (003 art. 16.2)", lifetime.archive_years),
                "destroyed_on": destroy_on.map(format_date),
                "destroyed_at": format!("age {} or death, archive included (003 art. 16.5)", lifetime.destroy_at_age),
            },
            "rights": "inzage and copy, correction, objection (bezwaar); exercised by the parents under 12, \
                jointly from 12 to 16, by the youth from 16 (003 art. 17-19)",
            "access_log": log_out,
            "other_regions": "not included: this export covers this region; other regions answer a request through the national hub (AdminInzageAllRegions)",
        });
        Ok(Export {
            json: export,
            signals: all.len(),
            access_log_entries: log.len(),
        })
    }
}
