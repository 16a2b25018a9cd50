//! Erasure: "all digital data of the signal are wiped" (003 art. 16.2; 002 art. 17.2), for a
//! destroyed signal, at the end of the archive term, and for a youth at 23 or death (003 art.
//! 16.5; 002 art. 17.6-17.8). Runs in the caller's transaction.
//!
//! What stays: the access log (its own retention; it names the youth only by pseudonym), the
//! outbox's `remove` operations (opaque signal refs), and objections as a record of the
//! decision, without the BSN.

use sqlx::{AnyConnection, Row};
use vir_shared::Bsn;

use super::outbox::OutboxOp;
use super::{notices, objections, StoreError};
use crate::party::{parties_from_json, parties_to_json};

/// Erases one signal and every trace of it, including its party in the notifications and
/// notices of the other signals on the same youth.
pub async fn erase_signal(
    conn: &mut AnyConnection,
    signal_id: &str,
    bsn: &Bsn,
) -> Result<(), StoreError> {
    scrub_party(&mut *conn, signal_id, bsn).await?;
    neutralise_outbox(&mut *conn, signal_id).await?;
    // Its family, address and candidate matches (issue 4).
    super::links::erase_links(&mut *conn, signal_id).await?;
    super::nobsn::erase_candidates(&mut *conn, signal_id).await?;
    for sql in [
        "DELETE FROM notifications WHERE signal_id = $1",
        "DELETE FROM notices WHERE signal_id = $1",
        "DELETE FROM match_members WHERE signal_id = $1",
        "DELETE FROM remote_matches WHERE signal_id = $1",
        "DELETE FROM consultations WHERE signal_id = $1",
        "DELETE FROM signal_details WHERE signal_id = $1",
        "DELETE FROM signals WHERE id = $1",
    ] {
        sqlx::query(sql).bind(signal_id).execute(&mut *conn).await?;
    }
    // A regional match of the youth without members left says nothing any more.
    sqlx::query(
        "DELETE FROM regional_matches WHERE bsn = $1 \
         AND NOT EXISTS (SELECT 1 FROM match_members mm WHERE mm.match_id = regional_matches.id)",
    )
    .bind(bsn.as_str())
    .execute(&mut *conn)
    .await?;
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM signals WHERE bsn = $1")
        .bind(bsn.as_str())
        .fetch_one(&mut *conn)
        .await?;
    if left == 0 {
        forget_youth(conn, bsn).await?;
    }
    Ok(())
}

/// Erases every signal of a youth, archive included, and the youth itself.
pub async fn erase_youth(conn: &mut AnyConnection, bsn: &Bsn) -> Result<usize, StoreError> {
    let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM signals WHERE bsn = $1")
        .bind(bsn.as_str())
        .fetch_all(&mut *conn)
        .await?;
    for id in &ids {
        erase_signal(&mut *conn, id, bsn).await?;
    }
    forget_youth(conn, bsn).await?;
    Ok(ids.len())
}

/// The youth-level rows once no signal is left.
async fn forget_youth(conn: &mut AnyConnection, bsn: &Bsn) -> Result<(), StoreError> {
    for sql in [
        "DELETE FROM notices WHERE bsn = $1",
        "DELETE FROM consultations WHERE bsn = $1",
        "DELETE FROM coordinations WHERE bsn = $1",
        "DELETE FROM followup_queue WHERE bsn = $1",
        "DELETE FROM regional_matches WHERE bsn = $1",
        "DELETE FROM youths WHERE bsn = $1",
        // Issue 4: the registry facts, and the description of a youth without a BSN.
        "DELETE FROM youth_facts WHERE bsn = $1",
        "DELETE FROM no_bsn_youths WHERE vin = $1",
        // Inzage across regions: the requests and the other regions' answers.
        "DELETE FROM inzage_answers WHERE request_id IN \
         (SELECT request_id FROM inzage_requests WHERE bsn = $1)",
        "DELETE FROM inzage_requests WHERE bsn = $1",
    ] {
        sqlx::query(sql)
            .bind(bsn.as_str())
            .execute(&mut *conn)
            .await?;
    }
    // Verhuizing (issue 5): the youth's moves and received hand-over packages.
    super::moves::forget_youth(&mut *conn, bsn.as_str()).await?;
    objections::forget_youth(conn, bsn.as_str()).await
}

/// Takes the erased signal's party out of what the youth's other signallers were told.
async fn scrub_party(
    conn: &mut AnyConnection,
    signal_id: &str,
    bsn: &Bsn,
) -> Result<(), StoreError> {
    let rows = sqlx::query(
        "SELECT n.id, n.parties FROM notifications n JOIN signals s ON s.id = n.signal_id \
         WHERE s.bsn = $1 AND n.signal_id <> $2",
    )
    .bind(bsn.as_str())
    .bind(signal_id)
    .fetch_all(&mut *conn)
    .await?;
    for row in rows {
        let id: String = row.try_get("id")?;
        let text: String = row.try_get("parties")?;
        let parties =
            parties_from_json(&text).ok_or(StoreError::Corrupt("notifications.parties"))?;
        if !parties.iter().any(|p| p.signal_ref == signal_id) {
            continue;
        }
        let kept: Vec<_> = parties
            .into_iter()
            .filter(|p| p.signal_ref != signal_id)
            .collect();
        if kept.is_empty() {
            sqlx::query("DELETE FROM notifications WHERE id = $1")
                .bind(&id)
                .execute(&mut *conn)
                .await?;
        } else {
            sqlx::query("UPDATE notifications SET parties = $1 WHERE id = $2")
                .bind(parties_to_json(&kept))
                .bind(&id)
                .execute(&mut *conn)
                .await?;
        }
    }
    for notice in notices::of_youth(&mut *conn, bsn.as_str()).await? {
        if notice.parties.iter().any(|p| p.signal_ref == signal_id) {
            let kept: Vec<_> = notice
                .parties
                .into_iter()
                .filter(|p| p.signal_ref != signal_id)
                .collect();
            notices::set_parties(&mut *conn, &notice.id, &kept).await?;
        }
    }
    Ok(())
}

/// Unsent operations that would carry the erased signal to the hub (its upsert, its sealed
/// envelopes) become no-op removals: the ids stay, so the hub's op order is untouched, and the
/// hub treats a removal of a signal it never knew as a no-op.
async fn neutralise_outbox(conn: &mut AnyConnection, signal_id: &str) -> Result<(), StoreError> {
    let rows =
        sqlx::query("SELECT id, payload FROM outbox WHERE sent_ms IS NULL AND payload LIKE $1")
            .bind(format!("%{signal_id}%"))
            .fetch_all(&mut *conn)
            .await?;
    let removal = OutboxOp::Remove {
        signal_ref: signal_id.to_owned(),
    };
    let payload =
        serde_json::to_string(&removal).map_err(|_| StoreError::Corrupt("outbox.payload"))?;
    for row in rows {
        let id: i64 = row.try_get("id")?;
        let text: String = row.try_get("payload")?;
        let carries = match serde_json::from_str::<OutboxOp>(&text) {
            Ok(OutboxOp::Upsert { signal_ref }) => signal_ref == signal_id,
            Ok(OutboxOp::Relay {
                about_signal_ref, ..
            }) => about_signal_ref == signal_id,
            Ok(OutboxOp::MoveOut { signal_ref, .. }) => signal_ref == signal_id,
            _ => false,
        };
        if carries {
            sqlx::query("UPDATE outbox SET kind = $1, payload = $2 WHERE id = $3")
                .bind(removal.kind())
                .bind(&payload)
                .bind(id)
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(())
}

/// A correction: the party of `party.signal_ref` in what the youth's other signallers were
/// told is replaced by the corrected one (002 art. 19, 23).
pub async fn replace_party(
    conn: &mut AnyConnection,
    bsn: &Bsn,
    party: &crate::party::Party,
) -> Result<(), StoreError> {
    let rows = sqlx::query(
        "SELECT n.id, n.parties FROM notifications n JOIN signals s ON s.id = n.signal_id \
         WHERE s.bsn = $1 AND n.signal_id <> $2",
    )
    .bind(bsn.as_str())
    .bind(&party.signal_ref)
    .fetch_all(&mut *conn)
    .await?;
    for row in rows {
        let id: String = row.try_get("id")?;
        let text: String = row.try_get("parties")?;
        let mut parties =
            parties_from_json(&text).ok_or(StoreError::Corrupt("notifications.parties"))?;
        let mut changed = false;
        for p in parties
            .iter_mut()
            .filter(|p| p.signal_ref == party.signal_ref)
        {
            *p = party.clone();
            changed = true;
        }
        if changed {
            sqlx::query("UPDATE notifications SET parties = $1 WHERE id = $2")
                .bind(parties_to_json(&parties))
                .bind(&id)
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(())
}
