//! Regional matches between signals on different youths (the node's own; the hub does the
//! same across regions):
//! - family: the youths have a common parent in the registry (Jeugdwet 7.1.2.3 e; 001
//!   Q14-15). Half-siblings share one parent and match; cousins do not;
//! - address: the same registry address, only where the region has it on (002 art. 1
//!   "Match" 2b; off by default);
//! - candidate: the same fallback identity (surname, birth date, gender) where at least one
//!   youth has no BSN (002 art. 8.5-8.7). Proposed to the administrator
//!   ([`crate::candidates`]); only a confirmed one becomes a match.
//!
//! Signals of the same organisation never match each other. A pair of signals has at most one
//! open link, of the strongest kind (family over address over candidate). Each side's
//! signaller is told once, naming the other organisation and contact details, never the other
//! youth: the notification names the signaller's own signal, and so its own youth.
//! Everything runs inside the caller's transaction.

use std::collections::BTreeMap;

use sqlx::AnyConnection;
use vir_shared::{Bsn, RegionCode};

use crate::facts;
use crate::index::{MatchView, OtherParty};
use crate::party::Party;
use crate::signal::Signal;
use crate::store::links::{self, ADDRESS, FALLBACK, PARENT};
use crate::store::nobsn;
use crate::store::notifications::{self, Notification};
use crate::store::{signals, StoreError};

pub const KIND_FAMILY: &str = "family";
pub const KIND_ADDRESS: &str = "address";
pub const KIND_CANDIDATE: &str = "candidate";

fn rank(kind: &str) -> u8 {
    match kind {
        KIND_FAMILY => 3,
        KIND_ADDRESS => 2,
        _ => 1,
    }
}

/// Whether the youth of `bsn` is one signalled without a BSN (not linked yet).
pub async fn without_bsn(conn: &mut AnyConnection, bsn: &Bsn) -> Result<bool, StoreError> {
    Ok(nobsn::youth(conn, bsn.as_str())
        .await?
        .is_some_and(|y| y.linked_bsn.is_none()))
}

/// Active signals of other organisations on the youths with a fact equal to one of `values`.
async fn signals_sharing(
    conn: &mut AnyConnection,
    signal: &Signal,
    kind: &str,
    values: &[String],
) -> Result<Vec<Signal>, StoreError> {
    let mut out: Vec<Signal> = Vec::new();
    for value in values {
        for youth in links::youths_with(&mut *conn, kind, value, signal.bsn.as_str()).await? {
            let Ok(bsn) = youth.parse::<Bsn>() else {
                continue;
            };
            for other in signals::active_on_youth(&mut *conn, &bsn).await? {
                if other.partner_oin != signal.partner_oin && !out.iter().any(|o| o.id == other.id)
                {
                    out.push(other);
                }
            }
        }
    }
    Ok(out)
}

/// Opens a link between two active signals and tells both signallers, once.
pub(crate) async fn open_link(
    conn: &mut AnyConnection,
    kind: &str,
    a: &Signal,
    b: &Signal,
    region: &RegionCode,
    now_ms: i64,
) -> Result<String, StoreError> {
    let id = uuid::Uuid::new_v4().to_string();
    links::insert_link(&mut *conn, &id, kind, &a.id, &b.id, now_ms).await?;
    for (own, other) in [(a, b), (b, a)] {
        let notification = Notification {
            id: uuid::Uuid::new_v4().to_string(),
            partner_oin: own.partner_oin.to_string(),
            signal_id: own.id.clone(),
            kind: kind.to_owned(),
            match_id: id.clone(),
            parties: vec![Party::of_signal(other, region)],
            created_ms: now_ms,
        };
        notifications::insert(&mut *conn, &notification).await?;
    }
    Ok(id)
}

/// Links a just-stored (or just-linked) active signal with the other active signals of its
/// region: family and address links at once, candidates proposed. Returns the links opened.
pub async fn link_new_signal(
    conn: &mut AnyConnection,
    signal: &Signal,
    region: &RegionCode,
    address_match: bool,
    now_ms: i64,
) -> Result<usize, StoreError> {
    let own = facts::of_youth(&mut *conn, signal.bsn.as_str()).await?;
    let parents: Vec<String> = own.parents.iter().map(Bsn::to_string).collect();
    let mut wanted: BTreeMap<String, (&'static str, Signal)> = BTreeMap::new();
    for other in signals_sharing(&mut *conn, signal, PARENT, &parents).await? {
        wanted.insert(other.id.clone(), (KIND_FAMILY, other));
    }
    if address_match {
        let address: Vec<String> = own.address.iter().cloned().collect();
        for other in signals_sharing(&mut *conn, signal, ADDRESS, &address).await? {
            wanted
                .entry(other.id.clone())
                .or_insert((KIND_ADDRESS, other));
        }
    }
    let mut opened = 0;
    for (kind, other) in wanted.into_values() {
        match links::open_link(&mut *conn, &signal.id, &other.id).await? {
            Some(link) if rank(&link.kind) >= rank(kind) => continue,
            Some(weaker) => links::end_link(&mut *conn, &weaker.id, now_ms).await?,
            None => {}
        }
        open_link(&mut *conn, kind, signal, &other, region, now_ms).await?;
        opened += 1;
    }

    // Candidates: the same fallback identity where at least one youth has no BSN.
    let fallback = [own.fallback.clone()];
    let this_without = without_bsn(&mut *conn, &signal.bsn).await?;
    for other in signals_sharing(&mut *conn, signal, FALLBACK, &fallback).await? {
        if !this_without && !without_bsn(&mut *conn, &other.bsn).await? {
            continue;
        }
        if links::open_link(&mut *conn, &signal.id, &other.id)
            .await?
            .is_some()
            || nobsn::regional_pair_known(&mut *conn, &signal.id, &other.id).await?
        {
            continue;
        }
        crate::candidates::propose(&mut *conn, signal, &other, now_ms).await?;
    }
    Ok(opened)
}

/// After the youth's facts changed: ends the family and address links whose basis is gone,
/// then links the signal again.
pub async fn relink_signal(
    conn: &mut AnyConnection,
    signal: &Signal,
    region: &RegionCode,
    address_match: bool,
    now_ms: i64,
) -> Result<usize, StoreError> {
    let own = facts::of_youth(&mut *conn, signal.bsn.as_str()).await?;
    for link in links::open_links_of(&mut *conn, &signal.id).await? {
        if link.kind == KIND_CANDIDATE {
            continue;
        }
        let Some(other) = signals::get(&mut *conn, link.other(&signal.id)).await? else {
            continue;
        };
        let theirs = facts::of_youth(&mut *conn, other.bsn.as_str()).await?;
        let holds = match link.kind.as_str() {
            KIND_FAMILY => own.parents.iter().any(|p| theirs.parents.contains(p)),
            _ => address_match && own.address.is_some() && own.address == theirs.address,
        };
        if !holds {
            links::end_link(&mut *conn, &link.id, now_ms).await?;
        }
    }
    link_new_signal(conn, signal, region, address_match, now_ms).await
}

/// A signal stopped being active (or gave way to its BSN): its links end and its pending
/// candidates close.
pub async fn signal_ended(
    conn: &mut AnyConnection,
    signal_id: &str,
    now_ms: i64,
) -> Result<(), StoreError> {
    for link in links::open_links_of(&mut *conn, signal_id).await? {
        links::end_link(&mut *conn, &link.id, now_ms).await?;
    }
    for candidate in nobsn::pending_of_signal(&mut *conn, signal_id).await? {
        nobsn::close(&mut *conn, &candidate.id, now_ms).await?;
    }
    Ok(())
}

/// The open links of one of the caller's signals, as matches.
pub async fn views_of_signal(
    conn: &mut AnyConnection,
    signal: &Signal,
    region: &RegionCode,
) -> Result<Vec<MatchView>, StoreError> {
    let mut views = Vec::new();
    for link in links::open_links_of(&mut *conn, &signal.id).await? {
        let Some(other) = signals::get(&mut *conn, link.other(&signal.id)).await? else {
            continue;
        };
        views.push(MatchView {
            id: link.id.clone(),
            kind: link.kind.clone(),
            your_signal_id: signal.id.clone(),
            others: vec![OtherParty::Known(Party::of_signal(&other, region))],
            created_ms: link.created_ms,
        });
    }
    Ok(views)
}
