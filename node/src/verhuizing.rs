//! Verhuizing (issue 5): what the node does when the person registry reports that a youth with
//! signals moved, died or got other parents (domain.md "Moving"; 002 art. 1, 15; 003 art. 14;
//! Jeugdwet 7.1.2.3 g).
//!
//! A registry event is a hint: [`RegionalIndex::reconcile_youth`] compares the registry with
//! what the node recorded (the youth's municipality in `youths`, its address in `youth_facts`)
//! and acts on the difference in one transaction, so a lost, late or repeated event changes
//! nothing ([`run`] also compares every youth at start and with the hourly facts refresh).
//!
//! - **Move** (another address, same or other municipality): every signaller with an active
//!   signal on the youth and the regievoerder get an **isverhuisd** notice (002 art. 1); within
//!   the region also the new municipality's coordinator (7.1.2.3 g). The youth's municipality,
//!   and with it the controller (003 art. 3.3) and the lead region of regie (003 art. 13.6),
//!   follows the registry; national signals are upserted again with the new municipality.
//! - **Out of the region** (the youth lived here): an outbox `move_out` with the youth's person
//!   key and the new CBS code; the hub answers with the receiving node's certified chain, and
//!   [`crate::verhuizing_remote`] seals the hand-over package to it, or says that no node serves
//!   the municipality, and the signallers are told.
//! - **Death**: the youth is destroyed, archive included (003 art. 16.5); the hub erases its
//!   signals (outbox `forget`, [`crate::destroy`]); Zuid-Limburg's administrator gets the task to
//!   inform the signallers within the term (002 art. 17.6).

use std::time::Duration;

use sqlx::AnyConnection;
use tokio_util::sync::CancellationToken;
use vir_shared::person::Person;
use vir_shared::{Bsn, MunicipalityCode};

use crate::accesslog::Actor;
use crate::destroy::DestroyWhy;
use crate::facts::{self, YouthFacts};
use crate::index::RegionalIndex;
use crate::registry::RegistryEvent;
use crate::signal::Signal;
use crate::store::moves::{self, MoveOut};
use crate::store::notices::{self, Notice, Topic};
use crate::store::outbox::{self, OutboxOp};
use crate::store::{coordination, details, format_date, signals, StoreError};

/// Kinds of move, as stored and shown.
pub const WITHIN_MUNICIPALITY: &str = "within_municipality";
pub const WITHIN_REGION: &str = "within_region";
/// A youth who lived elsewhere moved into this region (its node sends the inverhuis).
pub const INTO_REGION: &str = "into_region";
pub const OUT_OF_REGION: &str = "out_of_region";

/// Statuses of a move out.
pub const TOLD: &str = "told";
pub const ROUTING: &str = "routing";
pub const HANDED_OVER: &str = "handed_over";
pub const UNCOVERED: &str = "uncovered";
pub const OFFERED: &str = "offered";

/// What one reconciliation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Reconciled {
    pub moved: bool,
    pub died: bool,
    pub facts_changed: bool,
}

impl Reconciled {
    pub fn changed(self) -> bool {
        self.moved || self.died || self.facts_changed
    }
}

impl RegionalIndex {
    /// Acts on registry events: each names a youth to compare again (see the module docs).
    /// Returns how many youths changed.
    pub async fn apply_registry_events(
        &self,
        events: &[RegistryEvent],
    ) -> Result<usize, StoreError> {
        let mut youths: Vec<&Bsn> = events.iter().map(|e| &e.bsn).collect();
        youths.sort();
        youths.dedup();
        let mut changed = 0;
        for bsn in youths {
            if self.reconcile_youth(bsn).await?.changed() {
                changed += 1;
            }
        }
        Ok(changed)
    }

    /// Compares the registry with what the node recorded for one youth and acts on the
    /// difference (see the module docs). A youth the node does not know is left alone.
    pub async fn reconcile_youth(&self, bsn: &Bsn) -> Result<Reconciled, StoreError> {
        let Some(person) = self.registry.lookup(bsn) else {
            return Ok(Reconciled::default());
        };
        if person.death_date.is_some_and(|d| d <= self.clock.today()) {
            return self.destroy_after_death(bsn).await;
        }
        let now_ms = self.clock.now().timestamp_millis();
        let mut tx = self.db.write().await?;
        let conn: &mut AnyConnection = &mut tx.tx;
        signals::lock_youth(conn, bsn).await?;
        let Some(recorded) = recorded_municipality(conn, bsn).await? else {
            return Ok(Reconciled::default());
        };
        let old_facts = facts::of_youth(conn, bsn.as_str()).await?;
        let new_facts = YouthFacts::of_person(&person);
        let moved = recorded != person.municipality.as_str()
            || (old_facts.address.is_some() && old_facts.address != new_facts.address);
        let active = signals::active_on_youth(conn, bsn).await?;
        let mut wrote_outbox = false;
        if moved {
            if !active.is_empty() {
                wrote_outbox |= self
                    .record_move(conn, &person, &recorded, &active, now_ms)
                    .await?;
            }
            // The municipality of residence is the controller (003 art. 3.3) and decides the
            // lead region of regie (003 art. 13.6): it follows the registry.
            signals::upsert_youth(conn, bsn, &person.municipality).await?;
            sqlx::query(
                "UPDATE signals SET municipality = $2 WHERE bsn = $1 AND status = 'active'",
            )
            .bind(bsn.as_str())
            .bind(person.municipality.as_str())
            .execute(&mut *conn)
            .await?;
            details::enqueue(conn, bsn, now_ms).await?;
        }
        let facts_changed = facts::record(conn, bsn, &new_facts).await?;
        if moved || facts_changed {
            wrote_outbox |= self.relink_and_upsert(conn, bsn, now_ms).await?;
        }
        tx.commit().await?;
        if wrote_outbox {
            self.outbox_written.notify_one();
        }
        if moved {
            self.followup_wanted.notify_one();
        }
        Ok(Reconciled {
            moved,
            died: false,
            facts_changed,
        })
    }

    /// Destroys a youth who died, everywhere: in the region (archive included), at the hub
    /// (the `forget` that [`RegionalIndex::destroy_youth_in`] queues), and the moves recorded.
    async fn destroy_after_death(&self, bsn: &Bsn) -> Result<Reconciled, StoreError> {
        let mut tx = self.db.write().await?;
        let conn: &mut AnyConnection = &mut tx.tx;
        let signals: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM signals WHERE bsn = $1")
            .bind(bsn.as_str())
            .fetch_one(&mut *conn)
            .await?;
        if signals > 0 {
            self.destroy_youth_in(conn, bsn, DestroyWhy::Death).await?;
        } else if moves::known_youth(conn, bsn.as_str()).await? {
            // Only a received hand-over (inverhuis) about this youth: erased as well.
            moves::forget_youth(conn, bsn.as_str()).await?;
            notices_forget(conn, bsn).await?;
        } else {
            return Ok(Reconciled::default());
        }
        tx.commit().await?;
        self.outbox_written.notify_one();
        Ok(Reconciled {
            died: true,
            ..Reconciled::default()
        })
    }

    /// Records a move of a youth with active signals: isverhuisd to the signallers, the
    /// regievoerder and (within the region) the new municipality's coordinator; a `move_out`
    /// for the hub when the youth leaves this region. True if the outbox was written.
    async fn record_move(
        &self,
        conn: &mut AnyConnection,
        person: &Person,
        from: &str,
        active: &[Signal],
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let to = &person.municipality;
        let lived_here = from
            .parse::<MunicipalityCode>()
            .is_ok_and(|m| self.rules.serves(&m));
        let kind = move_kind(from, to.as_str(), lived_here, self.rules.serves(to));
        let detail = match kind {
            WITHIN_MUNICIPALITY => WITHIN_MUNICIPALITY.to_owned(),
            _ => format!("{kind}:{to}"),
        };
        // The youth's node tells the hub: the node of the region the youth lived in.
        let route = kind == OUT_OF_REGION && lived_here;

        let mut told: Vec<String> = Vec::new();
        for signal in active {
            let mut notice = Notice::new(signal.partner_oin.as_str(), Topic::Isverhuisd, now_ms);
            notice.signal_id = signal.id.clone();
            notice.bsn = person.bsn.to_string();
            notice.detail = detail.clone();
            notices::insert(&mut *conn, &notice).await?;
            told.push(signal.partner_oin.to_string());
        }
        let mut coordinators: Vec<String> = Vec::new();
        let regie = coordination::open_of_youth(&mut *conn, person.bsn.as_str()).await?;
        let (regievoerder_oin, regievoerder_org) = regie
            .map(|c| (c.coordinator_oin, c.coordinator_org))
            .unwrap_or_default();
        coordinators.push(regievoerder_oin.clone());
        if kind == WITHIN_REGION {
            // Jeugdwet 7.1.2.3 g: the coordinator in the new municipality is told as well.
            if let Some(p) = self.rules.coordinator(to) {
                coordinators.push(p.oin.to_string());
            }
        }
        for oin in coordinators {
            // Only a partner of this region; another region's party learns it from its node.
            if oin.is_empty() || told.contains(&oin) || self.rules.partner(&oin).is_none() {
                continue;
            }
            let mut notice = Notice::new(&oin, Topic::Isverhuisd, now_ms);
            notice.bsn = person.bsn.to_string();
            notice.detail = detail.clone();
            notices::insert(&mut *conn, &notice).await?;
            told.push(oin);
        }

        let record = MoveOut {
            id: uuid::Uuid::new_v4().to_string(),
            bsn: person.bsn.to_string(),
            from_municipality: from.to_owned(),
            to_municipality: to.to_string(),
            kind: kind.to_owned(),
            to_region: if kind == OUT_OF_REGION {
                String::new()
            } else {
                self.region.to_string()
            },
            status: if route { ROUTING } else { TOLD }.to_owned(),
            moved_on: format_date(self.clock.today()),
            told: told.len() as i64,
            regievoerder_oin,
            regievoerder_org,
            created_ms: now_ms,
        };
        moves::insert_out(&mut *conn, &record).await?;
        if route {
            let op = OutboxOp::MoveOut {
                move_id: record.id.clone(),
                signal_ref: active[0].id.clone(),
                municipality: to.to_string(),
            };
            outbox::append(&mut *conn, &op, now_ms).await?;
        }
        self.audit_in(
            &mut *conn,
            &Actor::scheduler(&self.region),
            "move",
            &format!("move:{}", record.id),
            Some(&person.bsn),
            kind,
        )
        .await?;
        tracing::info!(move_id = %record.id, kind, told = told.len(), to_hub = route, "isverhuisd sent");
        Ok(route)
    }

    /// Redoes the youth's regional family and address links and upserts its national signals
    /// again (new parents, address or municipality). True if the outbox was written.
    pub(crate) async fn relink_and_upsert(
        &self,
        conn: &mut AnyConnection,
        bsn: &Bsn,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut wrote_outbox = false;
        for signal in signals::active_on_youth(&mut *conn, bsn).await? {
            crate::family::relink_signal(
                &mut *conn,
                &signal,
                &self.region,
                self.address_match,
                now_ms,
            )
            .await?;
            if signal.national {
                let op = OutboxOp::Upsert {
                    signal_ref: signal.id.clone(),
                };
                outbox::append(&mut *conn, &op, now_ms).await?;
                wrote_outbox = true;
            }
        }
        Ok(wrote_outbox)
    }
}

/// The kind of a move seen from this region: `lived_here` and `serves_new` say whether the old
/// and the new municipality are this region's.
pub fn move_kind(from: &str, to: &str, lived_here: bool, serves_new: bool) -> &'static str {
    if from == to {
        WITHIN_MUNICIPALITY
    } else if serves_new && lived_here {
        WITHIN_REGION
    } else if serves_new {
        INTO_REGION
    } else {
        OUT_OF_REGION
    }
}

/// The youth's recorded municipality of residence; `None` for a youth the node does not hold.
async fn recorded_municipality(
    conn: &mut AnyConnection,
    bsn: &Bsn,
) -> Result<Option<String>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT municipality FROM youths WHERE bsn = $1")
            .bind(bsn.as_str())
            .fetch_optional(conn)
            .await?,
    )
}

async fn notices_forget(conn: &mut AnyConnection, bsn: &Bsn) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM notices WHERE bsn = $1")
        .bind(bsn.as_str())
        .execute(conn)
        .await?;
    Ok(())
}

/// Asks the registry for changes every `every` and acts on them, until `shutdown`. Changes made
/// while the node was down are found by the comparison of every youth that [`crate::facts::run`]
/// does at start.
pub async fn run(index: RegionalIndex, every: Duration, shutdown: CancellationToken) {
    let mut pending: Vec<RegistryEvent> = Vec::new();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        pending.extend(index.registry.changes());
        if pending.is_empty() {
            continue;
        }
        match index.apply_registry_events(&pending).await {
            Ok(changed) => {
                tracing::info!(
                    events = pending.len(),
                    youths_changed = changed,
                    "registry events applied"
                );
                pending.clear();
            }
            Err(e) => {
                tracing::warn!(error = %e, events = pending.len(), "applying registry events failed; will retry");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_of_move_from_the_region_s_point_of_view() {
        assert_eq!(move_kind("0106", "0106", true, true), WITHIN_MUNICIPALITY);
        assert_eq!(move_kind("0106", "0114", true, true), WITHIN_REGION);
        // Only OUT_OF_REGION of a youth who lived here goes to the hub (`record_move`).
        assert_eq!(move_kind("0106", "0935", true, false), OUT_OF_REGION);
        assert_eq!(move_kind("0935", "0106", false, true), INTO_REGION);
        assert_eq!(move_kind("0935", "0917", false, false), OUT_OF_REGION);
    }
}
