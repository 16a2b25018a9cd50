//! Candidate matches: equal fallback keys (surname, birth date, gender) where at least one
//! youth has no BSN (002 art. 8.5-8.7; Jeugdwet: matches on a verwijsindexservicenummer are
//! candidates, a person confirms). They are shown to the regional administrator, never to the
//! signallers, until confirmed:
//!
//! - regional: both signals are here. Confirmed, they become a `candidate` link and both
//!   signallers are told once; rejected, the pair is never proposed again.
//! - cross-regional: the hub reports the pair (`MatchCreated`, kind CANDIDATE) to both nodes,
//!   and each region's administrator decides for its own side. Confirming seals this side's
//!   contact details for the other node (the envelope exchange of any match); the signaller is
//!   told once the other side's envelope is here, which only happens when the other
//!   administrator confirmed too. A rejection sends nothing, so nobody on either side is told.
//!   Of the other side the administrator sees only the region.

use sqlx::AnyConnection;
use vir_proto as pb;

use crate::index::IndexError;
use crate::party::Party;
use crate::remote::{self, Applied, Context};
use crate::signal::{Signal, SignalStatus};
use crate::store::matches::{self, RemoteMatch};
use crate::store::nobsn::{self, CandidateRow};
use crate::store::notifications::{self, Notification};
use crate::store::outbox::{self, OutboxOp};
use crate::store::{signals, StoreError};

pub const PENDING: &str = "pending";
pub const CONFIRMED: &str = "confirmed";
pub const REJECTED: &str = "rejected";

fn new_row(signal_id: &str, now_ms: i64) -> CandidateRow {
    CandidateRow {
        id: uuid::Uuid::new_v4().to_string(),
        status: PENDING.to_owned(),
        signal_id: signal_id.to_owned(),
        other_signal_id: String::new(),
        hub_match_id: String::new(),
        other_region: String::new(),
        other_signal_ref: String::new(),
        recipient_key: None,
        other_party: None,
        created_ms: now_ms,
        decided_ms: None,
        decided_by: None,
    }
}

/// Proposes a regional candidate between two active signals.
pub async fn propose(
    conn: &mut AnyConnection,
    a: &Signal,
    b: &Signal,
    now_ms: i64,
) -> Result<(), StoreError> {
    let mut row = new_row(&a.id, now_ms);
    row.other_signal_id = b.id.clone();
    nobsn::insert_candidate(conn, &row).await?;
    tracing::info!(candidate_id = %row.id, "regional candidate match proposed to the administrator");
    Ok(())
}

/// A cross-regional candidate from the hub: held for the administrator, with the other
/// node's HPKE key if its certificate verified. Nothing is sealed yet.
pub async fn hold_remote(
    conn: &mut AnyConnection,
    signal: &Signal,
    m: &pb::MatchCreated,
    recipient: Option<[u8; 32]>,
    now_ms: i64,
) -> Result<Applied, StoreError> {
    if nobsn::candidate_of_hub_match(&mut *conn, &m.match_id)
        .await?
        .is_some()
    {
        return Ok(Applied::Done { outbox: false });
    }
    if signal.status != SignalStatus::Active {
        return Ok(Applied::Skipped(
            "MatchCreated: candidate on an ended signal",
        ));
    }
    let mut row = new_row(&signal.id, now_ms);
    row.hub_match_id = m.match_id.clone();
    row.other_region = m.other_region.clone();
    row.other_signal_ref = m.other_signal_ref.clone();
    row.recipient_key = recipient.map(hex::encode);
    nobsn::insert_candidate(conn, &row).await?;
    tracing::info!(candidate_id = %row.id, match_id = %m.match_id, other_region = %m.other_region, "cross-regional candidate held for the administrator");
    Ok(Applied::Done { outbox: false })
}

/// An envelope for a hub match this node does not know as a match: a candidate's. Kept
/// (opened) until the administrator decides; dropped after a rejection.
pub async fn envelope_for_candidate(
    conn: &mut AnyConnection,
    cx: &Context<'_>,
    e: &pb::EnvelopeDelivered,
) -> Result<Applied, StoreError> {
    let Some(row) = nobsn::candidate_of_hub_match(&mut *conn, &e.match_id).await? else {
        return Ok(Applied::Skipped("EnvelopeDelivered: unknown match"));
    };
    if e.from_region != row.other_region || e.about_signal_ref != row.other_signal_ref {
        return Ok(Applied::Skipped(
            "EnvelopeDelivered: does not belong to this match",
        ));
    }
    if row.status != PENDING {
        return Ok(Applied::Done { outbox: false });
    }
    let aad = remote::envelope_aad(&e.match_id, &e.from_region, cx.region.as_str());
    let Ok(plain) = vir_shared::envelope::open(cx.hpke_private_key, &aad, &e.sealed) else {
        return Ok(Applied::Skipped("EnvelopeDelivered: does not open"));
    };
    let Some(mut party) = Party::from_json(&plain) else {
        return Ok(Applied::Skipped(
            "EnvelopeDelivered: content is not a party",
        ));
    };
    party.region = row.other_region.clone();
    party.signal_ref = row.other_signal_ref.clone();
    nobsn::set_other_party(conn, &row.id, Some(&party.to_json())).await?;
    Ok(Applied::Done { outbox: false })
}

/// The hub ended a match this node does not know as a match: a pending candidate closes.
pub async fn candidate_ended(
    conn: &mut AnyConnection,
    cx: &Context<'_>,
    m: &pb::MatchEnded,
) -> Result<Applied, StoreError> {
    let Some(row) = nobsn::candidate_of_hub_match(&mut *conn, &m.match_id).await? else {
        return Ok(Applied::Skipped("MatchEnded: unknown match"));
    };
    if row.signal_id != m.your_signal_ref {
        return Ok(Applied::Skipped(
            "MatchEnded: signal does not belong to this match",
        ));
    }
    nobsn::close(conn, &row.id, cx.clock.now().timestamp_millis()).await?;
    Ok(Applied::Done { outbox: false })
}

fn notify(signal: &Signal, kind: &str, match_id: &str, party: Party, now_ms: i64) -> Notification {
    Notification {
        id: uuid::Uuid::new_v4().to_string(),
        partner_oin: signal.partner_oin.to_string(),
        signal_id: signal.id.clone(),
        kind: kind.to_owned(),
        match_id: match_id.to_owned(),
        parties: vec![party],
        created_ms: now_ms,
    }
}

impl crate::index::RegionalIndex {
    /// The administrator's decision on a pending candidate (see the module docs). A candidate
    /// decided before is returned as it is; one whose signal ended meanwhile closes.
    pub async fn decide_candidate(
        &self,
        administrator_oin: &str,
        candidate_id: &str,
        confirm: bool,
    ) -> Result<CandidateRow, IndexError> {
        let now_ms = self.clock.now().timestamp_millis();
        let mut tx = self.db.write().await?;
        let conn: &mut AnyConnection = &mut tx.tx;
        let row = nobsn::candidate(conn, candidate_id)
            .await?
            .ok_or(IndexError::NotFound)?;
        if row.status != PENDING {
            return Ok(row);
        }
        let active = |s: Option<Signal>| s.filter(|s| s.status == SignalStatus::Active);
        let Some(signal) = active(signals::get(conn, &row.signal_id).await?) else {
            nobsn::close(conn, &row.id, now_ms).await?;
            let closed = nobsn::candidate(conn, candidate_id)
                .await?
                .ok_or(IndexError::NotFound)?;
            tx.commit().await?;
            return Ok(closed);
        };
        let mut wrote_outbox = false;
        if !confirm {
            nobsn::decide(conn, &row.id, REJECTED, administrator_oin, now_ms).await?;
            nobsn::set_other_party(conn, &row.id, None).await?;
        } else if row.hub_match_id.is_empty() {
            let Some(other) = active(signals::get(conn, &row.other_signal_id).await?) else {
                nobsn::close(conn, &row.id, now_ms).await?;
                let closed = nobsn::candidate(conn, candidate_id)
                    .await?
                    .ok_or(IndexError::NotFound)?;
                tx.commit().await?;
                return Ok(closed);
            };
            nobsn::decide(conn, &row.id, CONFIRMED, administrator_oin, now_ms).await?;
            if crate::store::links::open_link(conn, &signal.id, &other.id)
                .await?
                .is_none()
            {
                crate::family::open_link(
                    conn,
                    crate::family::KIND_CANDIDATE,
                    &signal,
                    &other,
                    &self.region,
                    now_ms,
                )
                .await?;
            }
        } else {
            nobsn::decide(conn, &row.id, CONFIRMED, administrator_oin, now_ms).await?;
            wrote_outbox = self.confirm_remote(conn, &row, &signal, now_ms).await?;
        }
        let decided = nobsn::candidate(conn, candidate_id)
            .await?
            .ok_or(IndexError::NotFound)?;
        tx.commit().await?;
        if wrote_outbox {
            self.outbox_written.notify_one();
        }
        tracing::info!(%candidate_id, administrator = %administrator_oin, status = %decided.status, "candidate decided");
        Ok(decided)
    }

    /// This side of a confirmed cross-regional candidate: the match is recorded, this side's
    /// party sealed for the other node, and the signaller told if the other side's party is
    /// here already. True if an envelope was queued.
    async fn confirm_remote(
        &self,
        conn: &mut AnyConnection,
        row: &CandidateRow,
        signal: &Signal,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let other = row
            .other_party
            .as_deref()
            .and_then(|j| Party::from_json(j.as_bytes()));
        let recipient = row
            .recipient_key
            .as_deref()
            .and_then(|h| hex::decode(h).ok())
            .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok());
        let record = RemoteMatch {
            hub_match_id: row.hub_match_id.clone(),
            signal_id: signal.id.clone(),
            kind: crate::family::KIND_CANDIDATE.to_owned(),
            other_region: row.other_region.clone(),
            other_signal_ref: row.other_signal_ref.clone(),
            other_party: other.as_ref().map(Party::to_json),
            created_ms: now_ms,
            ended_ms: None,
            other_hpke_key: recipient,
        };
        matches::insert_remote(&mut *conn, &record).await?;
        if let Some(party) = other {
            let told = notify(
                signal,
                crate::family::KIND_CANDIDATE,
                &row.hub_match_id,
                party,
                now_ms,
            );
            notifications::insert(&mut *conn, &told).await?;
        }
        let Some(recipient) = recipient else {
            tracing::warn!(match_id = %row.hub_match_id, event = "peer_chain_refused", "confirmed candidate: no verified key of the other node, contact details stay here");
            return Ok(false);
        };
        let party = Party::of_signal(signal, &self.region);
        let aad = remote::envelope_aad(&row.hub_match_id, self.region.as_str(), &row.other_region);
        let Ok(sealed) = vir_shared::envelope::seal(&recipient, &aad, party.to_json().as_bytes())
        else {
            tracing::warn!(match_id = %row.hub_match_id, "confirmed candidate: the other node's key is unusable");
            return Ok(false);
        };
        let op = OutboxOp::Relay {
            match_id: row.hub_match_id.clone(),
            to_region: row.other_region.clone(),
            about_signal_ref: signal.id.clone(),
            sealed_hex: hex::encode(sealed),
        };
        outbox::append(conn, &op, now_ms).await?;
        Ok(true)
    }
}
