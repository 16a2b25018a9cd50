//! Regional matching (003 Bijlage 2): two or more active signals on the same youth by different
//! organisations form a client match, and every signaller involved is told, also on a third
//! and fourth signal.
//!
//! Who is told what, so that nobody is told twice about the same party:
//! - the newcomer gets ONE notification listing every other organisation with an active signal;
//! - each earlier signaller gets ONE notification naming the newcomer only.
//!
//! With four signallers in turn, signaller 1 gets three notifications (naming 2, 3 and 4), 2
//! gets three (listing 1, then naming 3, then 4), 3 gets two (listing 1 and 2, then naming 4)
//! and 4 gets one (listing 1, 2 and 3). The notifications name the organisation and contact
//! details, never anything about the concern (003 art. 8.4).
//!
//! A youth has at most one open regional match. A signal that stops being active leaves it;
//! when fewer than two signals remain, the match ends. Everything here runs inside the caller's
//! transaction.

use sqlx::AnyConnection;
use vir_shared::RegionCode;

use crate::party::Party;
use crate::signal::Signal;
use crate::store::matches;
use crate::store::notifications::{self, Notification};
use crate::store::signals;
use crate::store::StoreError;

/// The `kind` of a client-match notification (the wire's `MATCH_KIND_CLIENT`).
pub const KIND_CLIENT: &str = "client";

/// What matching a new signal did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MatchOutcome {
    /// The regional match the new signal joined, if any.
    pub match_id: Option<String>,
    /// How many earlier signals (other organisations) were told about the newcomer.
    pub others_told: usize,
}

/// Matches a just-inserted active signal against the other active signals on its youth and
/// writes the notifications.
pub async fn match_new_signal(
    conn: &mut AnyConnection,
    newcomer: &Signal,
    region: &RegionCode,
    now_ms: i64,
) -> Result<MatchOutcome, StoreError> {
    let others: Vec<Signal> = signals::active_on_youth(&mut *conn, &newcomer.bsn)
        .await?
        .into_iter()
        .filter(|s| s.id != newcomer.id && s.partner_oin != newcomer.partner_oin)
        .collect();
    if others.is_empty() {
        return Ok(MatchOutcome::default());
    }

    let match_id = match matches::open_on_youth(&mut *conn, &newcomer.bsn).await? {
        Some((id, _)) => id,
        None => {
            let id = uuid::Uuid::new_v4().to_string();
            matches::create(&mut *conn, &id, &newcomer.bsn, now_ms).await?;
            id
        }
    };
    // Earlier signals are members already unless this is the match's start.
    for other in &others {
        matches::add_member(&mut *conn, &match_id, &other.id, now_ms).await?;
    }
    matches::add_member(&mut *conn, &match_id, &newcomer.id, now_ms).await?;

    let notify = |partner_oin: &str, signal_id: &str, parties: Vec<Party>| Notification {
        id: uuid::Uuid::new_v4().to_string(),
        partner_oin: partner_oin.to_owned(),
        signal_id: signal_id.to_owned(),
        kind: KIND_CLIENT.to_owned(),
        match_id: match_id.clone(),
        parties,
        created_ms: now_ms,
    };

    let everyone_else = others.iter().map(|s| Party::of_signal(s, region)).collect();
    notifications::insert(
        &mut *conn,
        &notify(newcomer.partner_oin.as_str(), &newcomer.id, everyone_else),
    )
    .await?;
    let newcomer_party = Party::of_signal(newcomer, region);
    for other in &others {
        notifications::insert(
            &mut *conn,
            &notify(
                other.partner_oin.as_str(),
                &other.id,
                vec![newcomer_party.clone()],
            ),
        )
        .await?;
    }
    Ok(MatchOutcome {
        match_id: Some(match_id),
        others_told: others.len(),
    })
}

/// Takes a signal that stopped being active out of its matches: it leaves its regional match
/// (which ends when fewer than two signals remain), its family, address and candidate links
/// end, and its side of every cross-regional match ends. The hub ends the other side when the `remove` operation arrives.
pub async fn signal_ended(
    conn: &mut AnyConnection,
    signal_id: &str,
    now_ms: i64,
) -> Result<(), StoreError> {
    for match_id in matches::leave_all(&mut *conn, signal_id, now_ms).await? {
        let remaining = matches::current_members(&mut *conn, &match_id).await?;
        if remaining.len() < 2 {
            matches::end(&mut *conn, &match_id, now_ms).await?;
        }
    }
    matches::end_remote_of_signal(&mut *conn, signal_id, now_ms).await?;
    // Its family, address and candidate matches too (crate::family).
    crate::family::signal_ended(conn, signal_id, now_ms).await
}
