//! What a hub feed item does to the node: cross-regional matches and the sealed envelopes that
//! carry the other party's contact details (ARCHITECTURE.md "Data flow", steps 5 and 6).
//!
//! - `MatchCreated`: record the match; verify the other node's certificate chain against the
//!   federation root (region in its OU, HPKE key in its extension); seal this side's party
//!   (organisation, OIN, category, signaller contact, date, region) to that key with the match
//!   id and both regions as associated data; queue the envelope as an outbox `relay`.
//! - `EnvelopeDelivered`: open it with the node's HPKE private key, store the other party and
//!   notify the local signaller, once.
//! - `MatchEnded`: mark the match ended.
//! - A CANDIDATE match (equal fallback keys) is held for the administrator instead, and its
//!   envelope kept until the decision ([`crate::candidates`]).
//!
//! Every check comes before the first write, so a refused item ([`Applied::Skipped`]) changes
//! nothing but the feed position. Everything runs in the feed follower's transaction.

use std::path::Path;

use rustls::pki_types::UnixTime;
use sqlx::AnyConnection;
use vir_proto as pb;
use vir_shared::{RegionCode, SharedClock};

use crate::party::Party;
use crate::signal::SignalStatus;
use crate::store::matches::{self, RemoteMatch};
use crate::store::notices::{self, Notice, Topic};
use crate::store::notifications::{self, Notification};
use crate::store::outbox::{self, OutboxOp};
use crate::store::{details, signals, StoreError};

/// Longest id the hub may use for a match (bounds what a feed item makes us store).
const MAX_ID_LEN: usize = 128;

pub struct Context<'a> {
    pub region: &'a RegionCode,
    pub clock: &'a SharedClock,
    pub ca: &'a Path,
    pub hpke_private_key: &'a [u8; 32],
    /// The answer to an `InzageRequested` item, prepared before the transaction
    /// ([`crate::inzage_remote`]).
    pub inzage_answer: Option<&'a Result<crate::inzage_remote::Prepared, &'static str>>,
    /// OINs of the designated officers who receive inverhuis messages ([`crate::verhuizing`]).
    pub officers: &'a [String],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// Applied (or already applied: a no-op); `outbox` if an operation was queued.
    Done { outbox: bool },
    /// Refused; the reason names no person.
    Skipped(&'static str),
}

const DONE: Applied = Applied::Done { outbox: false };

/// The associated data binding an envelope to its match and direction.
pub fn envelope_aad(match_id: &str, from_region: &str, to_region: &str) -> Vec<u8> {
    format!("{match_id}|{from_region}|{to_region}").into_bytes()
}

fn kind_label(kind: i32) -> Option<&'static str> {
    match pb::MatchKind::try_from(kind).ok()? {
        pb::MatchKind::Client => Some("client"),
        pb::MatchKind::Family => Some("family"),
        pb::MatchKind::Address => Some("address"),
        pb::MatchKind::Candidate => Some("candidate"),
        pb::MatchKind::Unspecified => None,
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_ID_LEN && id.chars().all(|c| c.is_ascii_graphic())
}

pub async fn apply_item(
    conn: &mut AnyConnection,
    cx: &Context<'_>,
    item: pb::FeedItem,
) -> Result<Applied, StoreError> {
    match item.body {
        Some(pb::feed_item::Body::MatchCreated(m)) => match_created(conn, cx, m).await,
        Some(pb::feed_item::Body::Envelope(e)) => envelope_delivered(conn, cx, e).await,
        Some(pb::feed_item::Body::MatchEnded(m)) => match_ended(conn, cx, m).await,
        Some(pb::feed_item::Body::InzageRequested(_)) => {
            crate::inzage_remote::requested(conn, cx).await
        }
        Some(pb::feed_item::Body::InzageForwarded(f)) => {
            crate::inzage_remote::forwarded(conn, f).await
        }
        Some(pb::feed_item::Body::InzageAnswered(a)) => {
            crate::inzage_remote::answered(conn, cx, a).await
        }
        Some(pb::feed_item::Body::MoveRouted(m)) => {
            crate::verhuizing_remote::move_routed(conn, cx, m).await
        }
        Some(pb::feed_item::Body::MoveUncovered(m)) => {
            crate::verhuizing_remote::move_uncovered(conn, cx, m).await
        }
        Some(pb::feed_item::Body::Inverhuis(m)) => {
            crate::verhuizing_remote::inverhuis(conn, cx, m).await
        }
        Some(pb::feed_item::Body::HandoverOffered(m)) => {
            crate::verhuizing_remote::handover_offered(conn, cx, m).await
        }
        None => Ok(Applied::Skipped("feed item without a body")),
    }
}

async fn match_created(
    conn: &mut AnyConnection,
    cx: &Context<'_>,
    m: pb::MatchCreated,
) -> Result<Applied, StoreError> {
    let Some(kind) = kind_label(m.kind) else {
        return Ok(Applied::Skipped("MatchCreated: unknown match kind"));
    };
    if !valid_id(&m.match_id) || !valid_id(&m.other_signal_ref) {
        return Ok(Applied::Skipped("MatchCreated: malformed ids"));
    }
    let Ok(other_region) = m.other_region.parse::<RegionCode>() else {
        return Ok(Applied::Skipped("MatchCreated: malformed region"));
    };
    let Some(signal) = signals::get(conn, &m.your_signal_ref).await? else {
        return Ok(Applied::Skipped("MatchCreated: not a signal of this node"));
    };
    if matches::remote(conn, &m.match_id).await?.is_some() {
        return Ok(DONE);
    }
    // A candidate waits for the administrator; nothing is sealed yet (crate::candidates).
    if kind == crate::family::KIND_CANDIDATE {
        let recipient = verified_recipient(cx, &m, &other_region).ok();
        let now_ms = cx.clock.now().timestamp_millis();
        return crate::candidates::hold_remote(conn, &signal, &m, recipient, now_ms).await;
    }
    let now_ms = cx.clock.now().timestamp_millis();
    let mut record = RemoteMatch {
        hub_match_id: m.match_id.clone(),
        signal_id: signal.id.clone(),
        kind: kind.to_owned(),
        other_region: other_region.to_string(),
        other_signal_ref: m.other_signal_ref.clone(),
        other_party: None,
        created_ms: now_ms,
        ended_ms: None,
        other_hpke_key: None,
    };
    // The hub saw a removal late: record the match as ended and tell nothing about our side.
    if signal.status != SignalStatus::Active {
        record.ended_ms = Some(now_ms);
        matches::insert_remote(conn, &record).await?;
        tracing::info!(match_id = %m.match_id, signal_id = %signal.id, "remote match on an ended signal");
        return Ok(DONE);
    }

    let recipient = match verified_recipient(cx, &m, &other_region) {
        Ok(key) => key,
        Err(reason) => {
            // The match itself stands (the hub found it); our contact details stay here.
            tracing::warn!(
                match_id = %m.match_id,
                other_region = %other_region,
                %reason,
                event = "peer_chain_refused",
                "not sealing contact details: the other node's certificate did not verify"
            );
            matches::insert_remote(conn, &record).await?;
            // The rules follow the match up (consultation, regie) once this commits.
            details::enqueue(conn, &signal.bsn, now_ms).await?;
            return Ok(DONE);
        }
    };
    let party = Party::of_signal(&signal, cx.region);
    let aad = envelope_aad(&m.match_id, cx.region.as_str(), other_region.as_str());
    let sealed = match vir_shared::envelope::seal(&recipient, &aad, party.to_json().as_bytes()) {
        Ok(sealed) => sealed,
        Err(_) => return Ok(Applied::Skipped("MatchCreated: unusable HPKE key")),
    };
    // Kept so a later correction of our signaller's details reaches the same node.
    record.other_hpke_key = Some(recipient);
    matches::insert_remote(conn, &record).await?;
    details::enqueue(conn, &signal.bsn, now_ms).await?;
    let op = OutboxOp::Relay {
        match_id: m.match_id.clone(),
        to_region: other_region.to_string(),
        about_signal_ref: signal.id.clone(),
        sealed_hex: hex::encode(sealed),
    };
    outbox::append(conn, &op, now_ms).await?;
    tracing::info!(match_id = %m.match_id, signal_id = %signal.id, other_region = %other_region, kind, "remote match recorded; envelope queued");
    Ok(Applied::Done { outbox: true })
}

/// The other node's HPKE key, if its chain verifies: seal only to a key the federation CA
/// certified for that region. Certificate validity is a TLS matter and uses the real time,
/// like the handshakes, not the rules' clock.
fn verified_recipient(
    cx: &Context<'_>,
    m: &pb::MatchCreated,
    other_region: &RegionCode,
) -> Result<[u8; 32], String> {
    match vir_shared::tls::verify_chain(&m.other_node_chain, cx.ca, UnixTime::now()) {
        Ok(peer) if peer.organisational_unit.as_deref() != Some(other_region.as_str()) => {
            Err("certificate is not for the match's other region".to_owned())
        }
        Ok(peer) => peer
            .hpke_public_key
            .ok_or_else(|| "certificate carries no HPKE key".to_owned()),
        Err(e) => Err(e.to_string()),
    }
}

async fn envelope_delivered(
    conn: &mut AnyConnection,
    cx: &Context<'_>,
    e: pb::EnvelopeDelivered,
) -> Result<Applied, StoreError> {
    let Some(record) = matches::remote(conn, &e.match_id).await? else {
        // Perhaps a candidate still waiting for the administrator.
        return crate::candidates::envelope_for_candidate(conn, cx, &e).await;
    };
    if e.from_region != record.other_region || e.about_signal_ref != record.other_signal_ref {
        return Ok(Applied::Skipped(
            "EnvelopeDelivered: does not belong to this match",
        ));
    }
    let aad = envelope_aad(&e.match_id, &e.from_region, cx.region.as_str());
    let Ok(plain) = vir_shared::envelope::open(cx.hpke_private_key, &aad, &e.sealed) else {
        return Ok(Applied::Skipped("EnvelopeDelivered: does not open"));
    };
    let Some(mut party) = Party::from_json(&plain) else {
        return Ok(Applied::Skipped(
            "EnvelopeDelivered: content is not a party",
        ));
    };
    // What the hub vouches for wins over what the sender wrote about itself.
    party.region = record.other_region.clone();
    party.signal_ref = record.other_signal_ref.clone();
    let Some(signal) = signals::get(conn, &record.signal_id).await? else {
        return Ok(Applied::Skipped("EnvelopeDelivered: local signal missing"));
    };
    let party_json = party.to_json();
    match &record.other_party {
        // The same envelope again (a replayed feed item, a snapshot): nothing changes.
        Some(known) if *known == party_json => return Ok(DONE),
        // A later envelope for a match we know: the other region corrected its signaller's
        // contact details (002 art. 19, 23).
        Some(_) => return envelope_corrected(conn, cx, &record, &signal, party).await,
        None => {}
    }

    matches::set_remote_party(conn, &record.hub_match_id, &party_json).await?;
    // The other party's organisation may change who has regie.
    details::enqueue(conn, &signal.bsn, cx.clock.now().timestamp_millis()).await?;
    if record.ended_ms.is_none() && signal.status == SignalStatus::Active {
        let notification = Notification {
            id: uuid::Uuid::new_v4().to_string(),
            partner_oin: signal.partner_oin.to_string(),
            signal_id: signal.id.clone(),
            kind: record.kind.clone(),
            match_id: record.hub_match_id.clone(),
            parties: vec![party],
            created_ms: cx.clock.now().timestamp_millis(),
        };
        notifications::insert(conn, &notification).await?;
    }
    tracing::info!(match_id = %record.hub_match_id, signal_id = %signal.id, from_region = %record.other_region, "envelope opened; signaller notified");
    Ok(DONE)
}

/// The other region's corrected contact details replace those we had, and our signaller
/// is told as a correction inside the region tells them (`RegionalIndex::correct_signal`).
async fn envelope_corrected(
    conn: &mut AnyConnection,
    cx: &Context<'_>,
    record: &RemoteMatch,
    signal: &crate::signal::Signal,
    party: Party,
) -> Result<Applied, StoreError> {
    let now_ms = cx.clock.now().timestamp_millis();
    matches::set_remote_party(conn, &record.hub_match_id, &party.to_json()).await?;
    details::enqueue(conn, &signal.bsn, now_ms).await?;
    let mut notice = Notice::new(signal.partner_oin.as_str(), Topic::SignalCorrected, now_ms);
    notice.signal_id = signal.id.clone();
    notice.bsn = signal.bsn.to_string();
    notice.match_id = record.hub_match_id.clone();
    notice.parties = vec![party];
    notices::insert(conn, &notice).await?;
    tracing::info!(match_id = %record.hub_match_id, signal_id = %signal.id, from_region = %record.other_region, "corrected contact details from the other region; signaller told");
    Ok(DONE)
}

async fn match_ended(
    conn: &mut AnyConnection,
    cx: &Context<'_>,
    m: pb::MatchEnded,
) -> Result<Applied, StoreError> {
    let Some(record) = matches::remote(conn, &m.match_id).await? else {
        return crate::candidates::candidate_ended(conn, cx, &m).await;
    };
    if record.signal_id != m.your_signal_ref {
        return Ok(Applied::Skipped(
            "MatchEnded: signal does not belong to this match",
        ));
    }
    let now_ms = cx.clock.now().timestamp_millis();
    if matches::end_remote(conn, &m.match_id, now_ms).await? {
        crate::followup::remote_party_left(conn, &record, now_ms).await?;
        tracing::info!(match_id = %m.match_id, signal_id = %record.signal_id, "remote match ended");
    }
    Ok(DONE)
}
