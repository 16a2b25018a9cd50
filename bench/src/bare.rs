//! The bare-table reference: the floor any key index pays, measured in the same run.
//!
//! One table of (key, region, signal ref) with an index on the key, and for each batch of
//! signals one look-up of their keys and one insert, committed per batch: what the issue's
//! "bare SQLite table with a key index, WAL and batches of 1,000" figure means. The hub does the
//! same look-ups and inserts plus what makes it a hub (matches, feed items, the op-id check);
//! comparing the two says what those cost, and comparing machines' bare figures says how far
//! a figure from another machine carries.

use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use sqlx::any::AnyPoolOptions;
use sqlx::Row;

use crate::drive::Sent;
use crate::hub_ingest::Storage;
use crate::workload;

/// Signals per transaction, as in the reference figure.
pub const BATCH: usize = 1_000;

/// Looks up and inserts `signals` keys (the ingest workload's, half of them pairs) in batches
/// of [`BATCH`]; returns the time taken and checks every pair was found once.
pub async fn run(storage: &Storage<'_>, signals: usize, limit: Duration) -> anyhow::Result<Sent> {
    sqlx::any::install_default_drivers();
    let (url, fresh) = storage.fresh("bare").await?;
    let sqlite = url.starts_with("sqlite:");
    let pool = AnyPoolOptions::new()
        .max_connections(1)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if sqlite {
                    // The settings every SQLite database of the project gets (vir_shared::db).
                    for pragma in ["PRAGMA journal_mode = WAL", "PRAGMA synchronous = NORMAL"] {
                        sqlx::query(pragma).execute(&mut *conn).await?;
                    }
                }
                Ok(())
            })
        })
        .connect(&url)
        .await
        .context("bare table: connect")?;
    let blob = if sqlite { "BLOB" } else { "BYTEA" };
    sqlx::query(&format!(
        "CREATE TABLE bare (k {blob} NOT NULL, region TEXT NOT NULL, ref TEXT NOT NULL)"
    ))
    .execute(&pool)
    .await?;
    sqlx::query("CREATE INDEX bare_k ON bare (k)")
        .execute(&pool)
        .await?;

    let mut senders = workload::federation_senders();
    let per_region = signals / senders.len();
    let round = workload::round("bare", &mut senders, per_region);
    // The senders' operations interleaved, as three nodes' Submits would arrive.
    let mut rows: Vec<(Vec<u8>, String, String)> = Vec::with_capacity(round.signals());
    let longest = round.per_sender.iter().map(Vec::len).max().unwrap_or(0);
    for i in 0..longest {
        for (s, ops) in round.per_sender.iter().enumerate() {
            if let Some(op) = ops.get(i) {
                if let Some(vir_proto::operation::Op::Upsert(u)) = &op.op {
                    let key = u.person_key.as_ref().map(|k| k.value.clone());
                    rows.push((
                        key.unwrap_or_default(),
                        senders[s].region.to_string(),
                        u.signal_ref.clone(),
                    ));
                }
            }
        }
    }

    let started = Instant::now();
    let mut found = 0u64;
    for batch in rows.chunks(BATCH) {
        ensure!(started.elapsed() < limit, "bare table: over the time limit");
        let mut tx = pool.begin().await?;
        // Multi-row statements of at most 100 rows (SQLite's default bind limit is 32,766).
        for chunk in batch.chunks(100) {
            let list: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT region, ref FROM bare WHERE k IN ({})",
                list.join(", ")
            );
            let mut query = sqlx::query(&sql);
            for (key, _, _) in chunk {
                query = query.bind(key.clone());
            }
            for row in query.fetch_all(&mut *tx).await? {
                let _: String = row.try_get(0)?;
                found += 1;
            }
            let values: Vec<String> = (0..chunk.len())
                .map(|i| format!("(${}, ${}, ${})", 3 * i + 1, 3 * i + 2, 3 * i + 3))
                .collect();
            let sql = format!(
                "INSERT INTO bare (k, region, ref) VALUES {}",
                values.join(", ")
            );
            let mut query = sqlx::query(&sql);
            for (key, region, signal_ref) in chunk {
                query = query
                    .bind(key.clone())
                    .bind(region.as_str())
                    .bind(signal_ref.as_str());
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
    }
    let elapsed = started.elapsed();
    pool.close().await;
    if let Some(db) = fresh {
        if let Err(e) = db.drop_database().await {
            tracing::warn!(error = %e, "could not drop a bench database");
        }
    }
    // Every pair's second key finds the first (a pair inside one batch is looked up before
    // either is inserted, so it is not found: count those as the bare table would see them).
    ensure!(
        found <= round.expected_matches,
        "bare table: {found} keys found, at most {} expected",
        round.expected_matches
    );
    Ok(Sent {
        signals: rows.len() as u64,
        elapsed,
    })
}
