//! The node's Prometheus metrics, read from storage at each scrape: signals per state, open
//! matches per kind (regional and national), outbox depth, and how far the node is behind its
//! hub feed. Labels come from fixed sets (states, kinds); never a BSN, name or organisation.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use sqlx::Row;
use vir_shared::db::Db;
use vir_shared::metrics::{set_all, ServiceMetrics};

const STATES: &[&str] = &["active", "inactive", "expired"];
const KINDS: &[&str] = &[
    "regional_client",
    "regional_family",
    "regional_address",
    "regional_candidate",
    "national_client",
    "national_family",
    "national_address",
    "national_candidate",
];

/// What the refresh reads besides storage.
pub struct Live {
    pub hub_connected: Arc<AtomicBool>,
    pub feed_head: Arc<AtomicU64>,
}

pub fn node_metrics(db: Db, live: Live) -> ServiceMetrics {
    let metrics = ServiceMetrics::new("node");
    let signals = metrics.gauge_vec("vir_node_signals", "Signals per state.", "state");
    let matches = metrics.gauge_vec(
        "vir_node_matches",
        "Open matches per kind (regional: made by this node; national: reported by the hub).",
        "kind",
    );
    let outbox = metrics.gauge(
        "vir_node_outbox_depth",
        "Operations waiting in the outbox for the hub.",
    );
    let applied = metrics.gauge(
        "vir_node_feed_applied_seq",
        "The last hub feed item this node applied.",
    );
    let head = metrics.gauge(
        "vir_node_feed_head_seq",
        "The highest feed sequence number the hub announced (0: not yet heard).",
    );
    let behind = metrics.gauge(
        "vir_node_feed_items_behind",
        "Feed items the hub announced that this node has not applied yet.",
    );
    let connected = metrics.gauge(
        "vir_node_hub_connected",
        "1 while the node follows the hub feed.",
    );
    let refresh = move || {
        let db = db.clone();
        let hub_connected = live.hub_connected.clone();
        let feed_head = live.feed_head.clone();
        let (signals, matches, outbox, applied, head, behind, connected) = (
            signals.clone(),
            matches.clone(),
            outbox.clone(),
            applied.clone(),
            head.clone(),
            behind.clone(),
            connected.clone(),
        );
        Box::pin(async move {
            match read(&db).await {
                Ok(counts) => {
                    set_all(&signals, STATES, &counts.signals);
                    set_all(&matches, KINDS, &counts.matches);
                    outbox.set(counts.outbox);
                    applied.set(counts.applied);
                    let announced = feed_head.load(Ordering::Relaxed) as i64;
                    head.set(announced);
                    behind.set((announced - counts.applied).max(0));
                }
                Err(e) => tracing::warn!(error = %e, "metrics: reading node counts"),
            }
            connected.set(i64::from(hub_connected.load(Ordering::Relaxed)));
        }) as futures::future::BoxFuture<'static, ()>
    };
    metrics.with_refresh(Arc::new(refresh))
}

struct Counts {
    signals: Vec<(String, i64)>,
    matches: Vec<(String, i64)>,
    outbox: i64,
    applied: i64,
}

async fn grouped(db: &Db, sql: &str, prefix: &str) -> Result<Vec<(String, i64)>, sqlx::Error> {
    let rows = sqlx::query(sql).fetch_all(&db.pool).await?;
    rows.iter()
        .map(|r| {
            Ok((
                format!("{prefix}{}", r.try_get::<String, _>(0)?),
                r.try_get::<i64, _>(1)?,
            ))
        })
        .collect()
}

async fn single(db: &Db, sql: &str) -> Result<i64, sqlx::Error> {
    sqlx::query(sql).fetch_one(&db.pool).await?.try_get(0)
}

async fn read(db: &Db) -> Result<Counts, sqlx::Error> {
    let signals = grouped(
        db,
        "SELECT status, COUNT(*) FROM signals GROUP BY status",
        "",
    )
    .await?;
    let mut matches = vec![(
        "regional_client".to_owned(),
        single(
            db,
            "SELECT COUNT(*) FROM regional_matches WHERE ended_ms IS NULL",
        )
        .await?,
    )];
    matches.extend(
        grouped(
            db,
            "SELECT kind, COUNT(*) FROM link_matches WHERE ended_ms IS NULL GROUP BY kind",
            "regional_",
        )
        .await?,
    );
    matches.extend(
        grouped(
            db,
            "SELECT kind, COUNT(*) FROM remote_matches WHERE ended_ms IS NULL GROUP BY kind",
            "national_",
        )
        .await?,
    );
    Ok(Counts {
        signals,
        matches,
        outbox: single(db, "SELECT COUNT(*) FROM outbox WHERE sent_ms IS NULL").await?,
        applied: single(db, "SELECT applied_seq FROM feed_state WHERE id = 1").await?,
    })
}
