//! What the hub's verhuizing feed items do to the node (issue 5), inside the feed follower's
//! transaction ([`crate::feed`]):
//!
//! - `MoveRouted` (to the region the youth left): verify the receiving node's chain against the
//!   federation root (its region in the OU, its HPKE key in the extension), build the hand-over
//!   package (the signallers' organisations and contact details, the regievoerder, the active
//!   signals' dates; never the concern, which the node does not hold), seal it to that key with
//!   `move|move_id|from|to` as associated data, and queue it as an outbox `move_handover`.
//! - `MoveUncovered`: no regional index serves the new municipality; the signallers are told.
//! - `Inverhuis` (to the receiving region): open the package, record the move in (`moves_in`)
//!   and give the designated officers an inverhuis notice naming the signallers (002 art. 15.1;
//!   003 art. 14.1). A package that does not open (tampered, or sealed to another key) is
//!   recorded as rejected, with a notice, and nothing of it is kept.
//! - `HandoverOffered` (back to the region the youth left): open the officer's contact and
//!   offer the signallers a hand-over to a care provider in the new region (002 art. 15).

use prost::Message;
use rustls::pki_types::UnixTime;
use sqlx::AnyConnection;
use vir_proto as pb;
use vir_shared::{Bsn, RegionCode};

use crate::party::{Party, MAX_PARTY_JSON};
use crate::remote::{Applied, Context};
use crate::signal::Contact;
use crate::store::moves::{self, MoveIn};
use crate::store::notices::{self, Notice, Topic};
use crate::store::outbox::{self, OutboxOp};
use crate::store::{format_date, signals, StoreError};
use crate::verhuizing::{HANDED_OVER, OFFERED, ROUTING, TOLD, UNCOVERED};

const DONE: Applied = Applied::Done { outbox: false };

/// Largest hand-over package this node opens and keeps.
pub const MAX_PACKAGE_LEN: usize = 64 * 1024;

/// The associated data of a hand-over package: binds it to its move and direction.
pub fn package_aad(move_id: &str, from_region: &str, to_region: &str) -> Vec<u8> {
    format!("move|{move_id}|{from_region}|{to_region}").into_bytes()
}

/// The associated data of a hand-over offer (the other direction, another purpose).
pub fn offer_aad(move_id: &str, from_region: &str, to_region: &str) -> Vec<u8> {
    format!("offer|{move_id}|{from_region}|{to_region}").into_bytes()
}

fn valid_id(id: &str) -> bool {
    uuid::Uuid::parse_str(id).is_ok()
}

/// The HPKE key of a node of `region`, from a chain verified against the federation root.
pub fn verified_node_key(
    chain: &[Vec<u8>],
    ca: &std::path::Path,
    region: &str,
) -> Result<[u8; 32], String> {
    match vir_shared::tls::verify_chain(chain, ca, UnixTime::now()) {
        Ok(peer) if peer.organisational_unit.as_deref() != Some(region) => {
            Err("certificate is not for the move's other region".to_owned())
        }
        Ok(peer) => peer
            .hpke_public_key
            .ok_or_else(|| "certificate carries no HPKE key".to_owned()),
        Err(e) => Err(e.to_string()),
    }
}

/// The hand-over package of a youth as this node knows it now.
async fn package_of(
    conn: &mut AnyConnection,
    record: &moves::MoveOut,
) -> Result<Option<pb::HandoverPackage>, StoreError> {
    let Ok(bsn) = record.bsn.parse::<Bsn>() else {
        return Ok(None);
    };
    let active = signals::active_on_youth(&mut *conn, &bsn).await?;
    Ok(Some(pb::HandoverPackage {
        bsn: record.bsn.clone(),
        from_municipality: record.from_municipality.clone(),
        to_municipality: record.to_municipality.clone(),
        moved_on: record.moved_on.clone(),
        signals: active
            .iter()
            .map(|s| pb::HandoverSignal {
                organisation: s.organisation.clone(),
                organisation_oin: s.partner_oin.to_string(),
                category: s.category.as_str().to_owned(),
                signaller: Some(pb::Contact {
                    name: s.signaller.name.clone(),
                    phone: s.signaller.phone.clone(),
                    email: s.signaller.email.clone(),
                }),
                signalled_on: format_date(s.signalled_on()),
                end_date: format_date(s.end_date),
            })
            .collect(),
        // Who coordinated when the youth moved: regie has passed to the new region since.
        regievoerder_oin: record.regievoerder_oin.clone(),
        regievoerder_organisation: record.regievoerder_org.clone(),
    }))
}

pub async fn move_routed(
    conn: &mut AnyConnection,
    cx: &Context<'_>,
    m: pb::MoveRouted,
) -> Result<Applied, StoreError> {
    let Some(record) = moves::get_out(conn, &m.move_id).await? else {
        return Ok(Applied::Skipped("MoveRouted: not a move of this node"));
    };
    if record.status != ROUTING {
        return Ok(DONE);
    }
    let Ok(to_region) = m.to_region.parse::<RegionCode>() else {
        return Ok(Applied::Skipped("MoveRouted: malformed region"));
    };
    if &to_region == cx.region {
        // The hub's configuration puts the municipality in this region: nothing to hand over.
        moves::set_out_status(conn, &record.id, TOLD, to_region.as_str()).await?;
        tracing::warn!(move_id = %record.id, "hub routed a move out back to this region; check the municipality lists");
        return Ok(DONE);
    }
    let key = match verified_node_key(&m.receiver_chain, cx.ca, to_region.as_str()) {
        Ok(key) => key,
        Err(reason) => {
            tracing::warn!(move_id = %record.id, %reason, "receiving node's chain refused; no hand-over");
            return Ok(Applied::Skipped(
                "MoveRouted: receiving node's chain refused",
            ));
        }
    };
    let Some(package) = package_of(conn, &record).await? else {
        return Ok(Applied::Skipped(
            "MoveRouted: move of a youth without a BSN",
        ));
    };
    let aad = package_aad(&record.id, cx.region.as_str(), to_region.as_str());
    let Ok(sealed) = vir_shared::envelope::seal(&key, &aad, &package.encode_to_vec()) else {
        return Ok(Applied::Skipped("MoveRouted: sealing failed"));
    };
    let now_ms = cx.clock.now().timestamp_millis();
    let op = OutboxOp::MoveHandover {
        move_id: record.id.clone(),
        to_region: to_region.to_string(),
        sealed_hex: hex::encode(sealed),
    };
    outbox::append(conn, &op, now_ms).await?;
    moves::set_out_status(conn, &record.id, HANDED_OVER, to_region.as_str()).await?;
    tracing::info!(move_id = %record.id, to_region = %to_region, signals = package.signals.len(), "hand-over package sealed");
    Ok(Applied::Done { outbox: true })
}

/// Notices of `topic` to every signaller with an active signal on the youth.
async fn tell_signallers(
    conn: &mut AnyConnection,
    bsn: &str,
    topic: Topic,
    detail: &str,
    parties: &[Party],
    now_ms: i64,
) -> Result<usize, StoreError> {
    let Ok(bsn) = bsn.parse::<Bsn>() else {
        return Ok(0);
    };
    let active = signals::active_on_youth(&mut *conn, &bsn).await?;
    for signal in &active {
        let mut notice = Notice::new(signal.partner_oin.as_str(), topic, now_ms);
        notice.signal_id = signal.id.clone();
        notice.bsn = bsn.to_string();
        notice.detail = detail.to_owned();
        notice.parties = parties.to_vec();
        notices::insert(&mut *conn, &notice).await?;
    }
    Ok(active.len())
}

pub async fn move_uncovered(
    conn: &mut AnyConnection,
    cx: &Context<'_>,
    m: pb::MoveUncovered,
) -> Result<Applied, StoreError> {
    let Some(record) = moves::get_out(conn, &m.move_id).await? else {
        return Ok(Applied::Skipped("MoveUncovered: not a move of this node"));
    };
    if record.status != ROUTING {
        return Ok(DONE);
    }
    let now_ms = cx.clock.now().timestamp_millis();
    let told = tell_signallers(
        conn,
        &record.bsn,
        Topic::MovedUncovered,
        &record.to_municipality,
        &[],
        now_ms,
    )
    .await?;
    moves::set_out_status(conn, &record.id, UNCOVERED, "").await?;
    tracing::info!(move_id = %record.id, told, "move to a municipality no regional index serves");
    Ok(DONE)
}

/// Opens and checks a hand-over package; the reason names no person.
fn open_package(
    cx: &Context<'_>,
    m: &pb::Inverhuis,
) -> Result<(pb::HandoverPackage, Vec<u8>), &'static str> {
    let aad = package_aad(&m.move_id, &m.from_region, cx.region.as_str());
    let plain = vir_shared::envelope::open(cx.hpke_private_key, &aad, &m.sealed)
        .map_err(|_| "the sealed package does not open")?;
    if plain.len() > MAX_PACKAGE_LEN {
        return Err("the package is too large");
    }
    let package =
        pb::HandoverPackage::decode(plain.as_slice()).map_err(|_| "not a hand-over package")?;
    if package.bsn.parse::<Bsn>().is_err() {
        return Err("the package names no valid BSN");
    }
    if package.to_municipality != m.municipality {
        return Err("the package is about another municipality than the hub's message");
    }
    Ok((package, plain))
}

pub async fn inverhuis(
    conn: &mut AnyConnection,
    cx: &Context<'_>,
    m: pb::Inverhuis,
) -> Result<Applied, StoreError> {
    if !valid_id(&m.move_id) || m.from_region.parse::<RegionCode>().is_err() {
        return Ok(Applied::Skipped("Inverhuis: malformed ids"));
    }
    if moves::get_in(conn, &m.move_id).await?.is_some() {
        return Ok(DONE);
    }
    let now_ms = cx.clock.now().timestamp_millis();
    let opened = open_package(cx, &m);
    let mut record = MoveIn {
        id: m.move_id.clone(),
        from_region: m.from_region.clone(),
        municipality: m.municipality.clone(),
        bsn: String::new(),
        package: None,
        sender_key: verified_node_key(&m.sender_chain, cx.ca, &m.from_region)
            .ok()
            .map(|k| k.to_vec()),
        status: "rejected".into(),
        received_ms: now_ms,
        accepted_ms: None,
        accepted_by: None,
        offer_sent: false,
    };
    let parties: Vec<Party> = match &opened {
        Ok((package, plain)) => {
            record.bsn = package.bsn.clone();
            record.package = Some(plain.clone());
            record.status = "received".into();
            package
                .signals
                .iter()
                .map(|s| Party {
                    organisation: s.organisation.clone(),
                    oin: s.organisation_oin.clone(),
                    category: s.category.clone(),
                    contact: s
                        .signaller
                        .as_ref()
                        .map(|c| Contact {
                            name: c.name.clone(),
                            phone: c.phone.clone(),
                            email: c.email.clone(),
                        })
                        .unwrap_or_default(),
                    region: m.from_region.clone(),
                    signalled_on: s.signalled_on.clone(),
                    signal_ref: String::new(),
                })
                .collect()
        }
        Err(reason) => {
            tracing::warn!(move_id = %m.move_id, from_region = %m.from_region, reason, event = "inverhuis_rejected", "inverhuis package rejected");
            Vec::new()
        }
    };
    moves::insert_in(conn, &record).await?;
    let detail = match &opened {
        Ok(_) => format!("from:{}", m.from_region),
        Err(_) => format!("rejected:{}", m.from_region),
    };
    for officer in cx.officers {
        let mut notice = Notice::new(officer, Topic::Inverhuis, now_ms);
        notice.bsn = record.bsn.clone();
        notice.detail = detail.clone();
        notice.parties = parties.clone();
        notices::insert(&mut *conn, &notice).await?;
    }
    tracing::info!(move_id = %m.move_id, from_region = %m.from_region, status = %record.status, "inverhuis received");
    Ok(DONE)
}

pub async fn handover_offered(
    conn: &mut AnyConnection,
    cx: &Context<'_>,
    m: pb::HandoverOffered,
) -> Result<Applied, StoreError> {
    let Some(record) = moves::get_out(conn, &m.move_id).await? else {
        return Ok(Applied::Skipped("HandoverOffered: not a move of this node"));
    };
    if record.status == OFFERED {
        return Ok(DONE);
    }
    if record.to_region != m.from_region {
        return Ok(Applied::Skipped(
            "HandoverOffered: not from the move's region",
        ));
    }
    let aad = offer_aad(&m.move_id, &m.from_region, cx.region.as_str());
    let Ok(plain) = vir_shared::envelope::open(cx.hpke_private_key, &aad, &m.sealed) else {
        return Ok(Applied::Skipped("HandoverOffered: does not open"));
    };
    if plain.len() > MAX_PARTY_JSON {
        return Ok(Applied::Skipped("HandoverOffered: too large"));
    }
    let Some(mut officer) = Party::from_json(&plain) else {
        return Ok(Applied::Skipped("HandoverOffered: content is not a party"));
    };
    officer.region = m.from_region.clone();
    let now_ms = cx.clock.now().timestamp_millis();
    let told = tell_signallers(
        conn,
        &record.bsn,
        Topic::HandoverOffered,
        &format!("from:{}", m.from_region),
        &[officer],
        now_ms,
    )
    .await?;
    moves::set_out_status(conn, &record.id, OFFERED, &record.to_region).await?;
    tracing::info!(move_id = %record.id, told, "hand-over offered to the signallers");
    Ok(DONE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_and_offer_bind_their_direction() {
        let (sk, pk) = vir_shared::envelope::generate_keypair();
        let sealed = vir_shared::envelope::seal(&pk, &package_aad("m", "a", "b"), b"x").unwrap();
        assert!(vir_shared::envelope::open(&sk, &package_aad("m", "a", "b"), &sealed).is_ok());
        for aad in [
            package_aad("m", "b", "a"),
            package_aad("n", "a", "b"),
            offer_aad("m", "a", "b"),
        ] {
            assert!(vir_shared::envelope::open(&sk, &aad, &sealed).is_err());
        }
    }
}
