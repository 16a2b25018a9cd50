//! Who coordinates (regie) for a youth, per the region's rule ([`crate::rules::regie`]): settled
//! after each change of the youth's matches, changed by a signaller with `SetRegie`, and shown
//! with each match's follow-up.
//!
//! A proposal binds at first and the signallers may change it (003 Bijlage 2); a choice stands
//! while the chosen organisation is still involved. An urgent Hoeksche Waard signal gets a
//! coordinator at once, even without a match (004 §5, §12). When the youth lives in another
//! region, that region's coordinator leads (003 art. 13.6; 002 art. 14.4). Every change is told
//! to the signallers involved and to a municipal coordinator who is given regie.

use sqlx::AnyConnection;
use vir_shared::regions::region_of_municipality;

use crate::config::Partner;
use crate::followup::YouthScope;
use crate::index::RegionalIndex;
use crate::party::Party;
use crate::rules::regie::{propose, Assignment, Basis, Candidate};
use crate::rules::{not_found, RuleError};
use crate::signal::Contact;
use crate::store::coordination::{self, Coordination};
use crate::store::notices::{self, Notice, Topic};
use crate::store::StoreError;

impl RegionalIndex {
    /// The region that leads for this youth: its region of residence.
    fn lead_region(&self, scope: &YouthScope) -> String {
        match &scope.municipality {
            Some(m) if !self.rules.serves(m) => region_of_municipality(m.as_str())
                .map(|r| r.code.to_owned())
                .unwrap_or_else(|| format!("municipality {m}")),
            _ => self.region.to_string(),
        }
    }

    /// The municipality's coordinator as a candidate, if configured.
    fn municipal_candidate(&self, scope: &YouthScope) -> Option<Candidate> {
        let partner = self.rules.coordinator(scope.municipality.as_ref()?)?;
        Some(Candidate {
            oin: partner.oin.to_string(),
            organisation: partner.organisation.clone(),
            category: partner.category.as_str().to_owned(),
            signal_id: String::new(),
        })
    }

    /// Settles the coordination of a youth after a change (see the module docs).
    pub(crate) async fn settle_regie(
        &self,
        conn: &mut AnyConnection,
        scope: &YouthScope,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let open = coordination::open_of_youth(&mut *conn, scope.bsn.as_str()).await?;
        if scope.matches.is_empty() && !scope.urgent {
            if let Some(c) = open {
                coordination::end(&mut *conn, &c.id, now_ms).await?;
            }
            return Ok(());
        }
        let candidates = scope.candidates();
        let municipal = self.municipal_candidate(scope);
        let lead_region = self.lead_region(scope);
        if let Some(c) = &open {
            let still_involved = candidates.iter().any(|x| x.oin == c.coordinator_oin)
                || municipal
                    .as_ref()
                    .is_some_and(|m| m.oin == c.coordinator_oin);
            if c.basis == Basis::Chosen && still_involved && c.lead_region == lead_region {
                return Ok(());
            }
        }
        let wanted = if lead_region != self.region.as_str() {
            Assignment {
                coordinator: None,
                basis: Basis::ResidenceRegion,
            }
        } else {
            propose(
                &self.rules.config.regie,
                &candidates,
                municipal,
                scope.urgent,
            )
        };
        let coordinator = wanted.coordinator.clone().unwrap_or_else(|| Candidate {
            oin: String::new(),
            organisation: String::new(),
            category: String::new(),
            signal_id: String::new(),
        });
        let record = Coordination {
            id: open
                .as_ref()
                .map_or_else(|| uuid::Uuid::new_v4().to_string(), |c| c.id.clone()),
            bsn: scope.bsn.to_string(),
            coordinator_oin: coordinator.oin.clone(),
            coordinator_org: coordinator.organisation.clone(),
            coordinator_signal_id: coordinator.signal_id.clone(),
            basis: wanted.basis,
            lead_region,
            chosen_by_oin: None,
            created_ms: open.as_ref().map_or(now_ms, |c| c.created_ms),
            changed_ms: now_ms,
            ended_ms: None,
        };
        match &open {
            Some(c)
                if c.coordinator_oin == record.coordinator_oin
                    && c.basis == record.basis
                    && c.lead_region == record.lead_region =>
            {
                return Ok(())
            }
            Some(_) => coordination::update(&mut *conn, &record).await?,
            None => coordination::insert(&mut *conn, &record).await?,
        }
        self.tell_regie(conn, scope, &record, &coordinator, now_ms)
            .await
    }

    /// Tells the signallers involved (and a municipal coordinator given regie) who coordinates.
    async fn tell_regie(
        &self,
        conn: &mut AnyConnection,
        scope: &YouthScope,
        record: &Coordination,
        coordinator: &Candidate,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let party = match scope.active.iter().find(|s| s.id == coordinator.signal_id) {
            Some(signal) => Some(Party::of_signal(signal, &self.region)),
            None if !coordinator.oin.is_empty() => Some(Party {
                organisation: coordinator.organisation.clone(),
                oin: coordinator.oin.clone(),
                category: coordinator.category.clone(),
                contact: Contact::default(),
                region: self.region.to_string(),
                signalled_on: String::new(),
                signal_ref: String::new(),
            }),
            None => None,
        };
        let mut told = Vec::new();
        let involved: Vec<_> = if scope.matches.is_empty() {
            scope.active.iter().collect()
        } else {
            scope.matched_signals()
        };
        for signal in involved {
            let mut notice = Notice::new(signal.partner_oin.as_str(), Topic::Regie, now_ms);
            notice.signal_id = signal.id.clone();
            notice.bsn = scope.bsn.to_string();
            notice.detail = record.basis.as_str().to_owned();
            notice.parties = party.iter().cloned().collect();
            notices::insert(&mut *conn, &notice).await?;
            told.push(signal.partner_oin.to_string());
        }
        // A municipal coordinator who is not a signaller here learns it has regie.
        let municipal = coordinator.signal_id.is_empty()
            && self.rules.partner(&coordinator.oin).is_some()
            && !told.contains(&coordinator.oin);
        if municipal {
            let mut notice = Notice::new(&coordinator.oin, Topic::Regie, now_ms);
            notice.bsn = scope.bsn.to_string();
            notice.detail = record.basis.as_str().to_owned();
            notice.parties = scope
                .active
                .iter()
                .map(|s| Party::of_signal(s, &self.region))
                .collect();
            notices::insert(&mut *conn, &notice).await?;
        }
        tracing::info!(coordination = %record.id, basis = record.basis.as_str(), "regie settled");
        Ok(())
    }

    /// A signaller of a match chooses who coordinates (003 Bijlage 2: the signallers may
    /// change the proposal; 002 art. 14.1: they choose a hoofdregisseur).
    pub async fn set_regie(
        &self,
        partner: &Partner,
        match_id: &str,
        coordinator_oin: &str,
    ) -> Result<Coordination, RuleError> {
        let now_ms = self.clock.now().timestamp_millis();
        let mut tx = self.db.write().await?;
        let conn = &mut tx.tx;
        let signal = self
            .signal_in_match(conn, partner, match_id)
            .await?
            .ok_or_else(|| not_found("no open match of an active signal of your organisation"))?;
        crate::store::signals::lock_youth(conn, &signal.bsn).await?;
        let scope = self.youth_scope(conn, &signal.bsn).await?;
        if self.lead_region(&scope) != self.region.as_str() {
            return Err(RuleError::Precondition(
                "the youth lives in another region, whose coordinator leads (003 art. 13.6; 002 art. 14.4)"
                    .into(),
            ));
        }
        let chosen = scope
            .candidates()
            .into_iter()
            .chain(self.municipal_candidate(&scope))
            .find(|c| c.oin == coordinator_oin.trim())
            .ok_or_else(|| {
                RuleError::Invalid(crate::signal::InvalidField {
                    field: "coordinator_oin",
                    reason: "not an organisation of this match nor the municipality's coordinator"
                        .into(),
                })
            })?;
        let open = coordination::open_of_youth(conn, signal.bsn.as_str()).await?;
        let record = Coordination {
            id: open
                .as_ref()
                .map_or_else(|| uuid::Uuid::new_v4().to_string(), |c| c.id.clone()),
            bsn: signal.bsn.to_string(),
            coordinator_oin: chosen.oin.clone(),
            coordinator_org: chosen.organisation.clone(),
            coordinator_signal_id: chosen.signal_id.clone(),
            basis: Basis::Chosen,
            lead_region: self.region.to_string(),
            chosen_by_oin: Some(partner.oin.to_string()),
            created_ms: open.as_ref().map_or(now_ms, |c| c.created_ms),
            changed_ms: now_ms,
            ended_ms: None,
        };
        match open {
            Some(_) => coordination::update(conn, &record).await?,
            None => coordination::insert(conn, &record).await?,
        }
        self.tell_regie(conn, &scope, &record, &chosen, now_ms)
            .await?;
        tx.commit().await?;
        Ok(record)
    }

    /// The caller's active signal in a match (regional or cross-regional), if any.
    pub(crate) async fn signal_in_match(
        &self,
        conn: &mut AnyConnection,
        partner: &Partner,
        match_id: &str,
    ) -> Result<Option<crate::signal::Signal>, StoreError> {
        use crate::signal::SignalStatus;
        use crate::store::{matches, signals};
        let match_id = match_id.trim();
        for signal in signals::of_partner(&mut *conn, partner.oin.as_str()).await? {
            if signal.status != SignalStatus::Active {
                continue;
            }
            let regional = matches::open_of_signal(&mut *conn, &signal.id).await?;
            if regional.is_some_and(|(id, _)| id == match_id) {
                return Ok(Some(signal));
            }
            let remote = matches::open_remote_of_signal(&mut *conn, &signal.id).await?;
            if remote.iter().any(|r| r.hub_match_id == match_id) {
                return Ok(Some(signal));
            }
        }
        Ok(None)
    }
}
