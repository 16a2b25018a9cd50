//! SQL for `notifications`: what a partner has been told about matches, in the order told.

use sqlx::{AnyConnection, Row};

use super::{counter, next_value, StoreError};
use crate::party::{parties_from_json, parties_to_json, Party};

/// A notification to a partner about one of its signals. `Debug` omits the parties.
#[derive(Clone, PartialEq, Eq)]
pub struct Notification {
    pub id: String,
    pub partner_oin: String,
    pub signal_id: String,
    /// `client` (a client match); the wire's `MatchKind` in lower case.
    pub kind: String,
    pub match_id: String,
    /// The parties this notification tells about: the new ones only.
    pub parties: Vec<Party>,
    pub created_ms: i64,
}

impl std::fmt::Debug for Notification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notification")
            .field("id", &self.id)
            .field("signal_id", &self.signal_id)
            .field("match_id", &self.match_id)
            .field("parties", &self.parties.len())
            .finish()
    }
}

/// Stores a notification; its order among the partner's notifications comes from the
/// `notification` counter, taken in the caller's transaction.
pub async fn insert(conn: &mut AnyConnection, n: &Notification) -> Result<(), StoreError> {
    let seq = next_value(&mut *conn, counter::NOTIFICATION).await?;
    sqlx::query(
        "INSERT INTO notifications \
         (id, seq, partner_oin, signal_id, kind, match_id, parties, created_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&n.id)
    .bind(seq)
    .bind(&n.partner_oin)
    .bind(&n.signal_id)
    .bind(&n.kind)
    .bind(&n.match_id)
    .bind(parties_to_json(&n.parties))
    .bind(n.created_ms)
    .execute(conn)
    .await?;
    Ok(())
}

/// A partner's notifications, in the order they were made.
pub async fn of_partner(
    conn: &mut AnyConnection,
    partner_oin: &str,
) -> Result<Vec<Notification>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, partner_oin, signal_id, kind, match_id, parties, created_ms \
         FROM notifications WHERE partner_oin = $1 ORDER BY seq",
    )
    .bind(partner_oin)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|row| {
            let parties: String = row.try_get("parties")?;
            Ok(Notification {
                id: row.try_get("id")?,
                partner_oin: row.try_get("partner_oin")?,
                signal_id: row.try_get("signal_id")?,
                kind: row.try_get("kind")?,
                match_id: row.try_get("match_id")?,
                parties: parties_from_json(&parties)
                    .ok_or(StoreError::Corrupt("notifications.parties"))?,
                created_ms: row.try_get("created_ms")?,
            })
        })
        .collect()
}
