//! Several hub replicas on one PostgreSQL database: each replica's feed subscribers learn of
//! items appended by the others.
//!
//! The replicas are stateless apart from the database, which already keeps every feed
//! contiguous (the feed counter row is locked by the appending transaction, whichever replica
//! runs it). What a replica does not see by itself is *when* another replica appended, so:
//!
//! - after a commit, a replica sends `NOTIFY vir_feed, '<region>:<head>'` (PostgreSQL delivers
//!   it to every listening session); every replica LISTENs and wakes its local subscribers;
//! - every [`POLL`] each replica also reads all feed heads, so a notification lost while the
//!   listening connection was down (or with a pooler that does not pass LISTEN through) delays
//!   an item by at most that long, and never loses it: subscribers read the feed table itself.
//!
//! SQLite is one process by nature; nothing here runs for it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::Row;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use vir_shared::db::Backend;
use vir_shared::RegionCode;

use crate::state::HubState;

/// The PostgreSQL notification channel of feed heads.
pub const CHANNEL: &str = "vir_feed";

/// How often every feed head is read from the database, as a fallback for lost notifications.
pub const POLL: Duration = Duration::from_secs(2);

/// Pause before listening again after the listening connection failed.
const RETRY: Duration = Duration::from_secs(1);

/// Starts announcing this replica's appends and following the other replicas' ones, until
/// `shutdown`. Does nothing on SQLite.
pub fn follow(state: Arc<HubState>, storage_url: &str, shutdown: CancellationToken) {
    if state.store().backend() != Backend::Postgres {
        return;
    }
    let (tx, rx) = mpsc::unbounded_channel();
    state.feeds().set_publisher(tx);
    tokio::spawn(announce(state.clone(), rx, shutdown.clone()));
    tokio::spawn(listen(state, storage_url.to_owned(), shutdown));
}

/// Sends a NOTIFY per grown head, coalescing what queued up meanwhile to one per region.
async fn announce(
    state: Arc<HubState>,
    mut heads: mpsc::UnboundedReceiver<(RegionCode, u64)>,
    shutdown: CancellationToken,
) {
    loop {
        let first = tokio::select! {
            _ = shutdown.cancelled() => return,
            next = heads.recv() => match next {
                Some(head) => head,
                None => return,
            },
        };
        let mut latest = BTreeMap::from([first]);
        while let Ok((region, head)) = heads.try_recv() {
            let entry = latest.entry(region).or_insert(head);
            *entry = (*entry).max(head);
        }
        for (region, head) in latest {
            let sent = sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANNEL)
                .bind(format!("{region}:{head}"))
                .execute(&state.store().db().pool)
                .await;
            if let Err(e) = sent {
                // The other replicas still find the item within one POLL.
                tracing::warn!(%region, head, error = %e, "feed notification not sent");
            }
        }
    }
}

/// Wakes local subscribers on the other replicas' notifications, and on every [`POLL`] from
/// the stored heads.
async fn listen(state: Arc<HubState>, url: String, shutdown: CancellationToken) {
    let mut listener: Option<PgListener> = None;
    let mut poll = tokio::time::interval(POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        if listener.is_none() {
            listener = match connect(&url).await {
                Ok(l) => Some(l),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot LISTEN for other replicas' feed heads; polling only");
                    None
                }
            };
        }
        let notification = async {
            match listener.as_mut() {
                Some(l) => l.try_recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = poll.tick() => sync_heads(&state).await,
            received = notification => match received {
                Ok(Some(n)) => apply(&state, n.payload()),
                // The connection was lost and re-established: what came meanwhile is gone.
                Ok(None) => sync_heads(&state).await,
                Err(e) => {
                    tracing::warn!(error = %e, "listening for feed heads failed; reconnecting");
                    listener = None;
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(RETRY) => {}
                    }
                }
            },
        }
    }
}

async fn connect(url: &str) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect(url).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

/// Applies one `<region>:<head>` notification; anything else is ignored with a warning.
fn apply(state: &HubState, payload: &str) {
    match parse(payload) {
        Some((region, head)) => {
            state.feeds().advance_local(&region, head);
        }
        None => tracing::warn!(payload, "malformed feed notification ignored"),
    }
}

fn parse(payload: &str) -> Option<(RegionCode, u64)> {
    let (region, head) = payload.rsplit_once(':')?;
    Some((region.parse().ok()?, head.parse().ok()?))
}

/// Reads every feed head and wakes the subscribers of those that grew.
async fn sync_heads(state: &HubState) {
    let rows = match sqlx::query("SELECT region, feed_head FROM nodes")
        .fetch_all(&state.store().db().pool)
        .await
    {
        Ok(rows) => rows,
        Err(e) => {
            tracing::warn!(error = %e, "reading feed heads failed");
            return;
        }
    };
    for row in rows {
        let (Ok(region), Ok(head)) = (row.try_get::<String, _>(0), row.try_get::<i64, _>(1)) else {
            continue;
        };
        if let (Ok(region), Ok(head)) = (region.parse::<RegionCode>(), u64::try_from(head)) {
            state.feeds().advance_local(&region, head);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_parse_or_are_refused() {
        let (region, head) = parse("zuid-limburg:42").unwrap();
        assert_eq!(region.as_str(), "zuid-limburg");
        assert_eq!(head, 42);
        for bad in ["", "drenthe", "drenthe:", ":5", "drenthe:-1", "Drenthe!:1"] {
            assert!(parse(bad).is_none(), "{bad:?} accepted");
        }
    }
}
