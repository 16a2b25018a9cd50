//! The hub's storage: nodes, signals (keys only), matches and per-node feeds, on SQLite or
//! PostgreSQL through one set of runtime queries.
//!
//! Tables (see `migrations/`):
//! - `nodes`: one row per region: OIN, the certificate chain it last presented, the last applied
//!   op id, the feed counter (`feed_head`), the acknowledged position and the retention floor.
//! - `signals`: (region, signal_ref) → person key (none for a signal without a BSN), key
//!   version, municipality, active; `signal_keys`: its parent, address and fallback keys.
//! - `matches`: a pair of signals of two regions sharing a key, with its kind (client, family,
//!   address, candidate; see [`kinds`]).
//! - `feed`: (region, seq) → the prost-encoded `FeedItem` body.
//!
//! Architecture invariant: a feed sequence number comes from `nodes.feed_head`, incremented in the
//! transaction that appends the item, so each feed is contiguous from 1 and a reader never sees
//! seq n+1 committed before seq n. All changes of one `Submit` commit in one transaction.
//!
//! Submodules: [`nodes`] (node rows, chains, acks, status), [`ingest`] (applying operations),
//! `upsert` (bulk upserts), `keys` (the other keys, reconciling a re-upserted signal),
//! [`kinds`] (which kind of match a pair makes), `matching` (creating and ending matches),
//! [`feed`] (appending and reading feed items), `prefix` (key look-ups by an indexed 8-byte
//! prefix), `key_index` (on SQLite, that index in the hub process's memory), `shapes` (multi-row
//! statements), `moves` (verhuizing: routing a move, relaying the sealed hand-over as one
//! `Inverhuis`, erasing a youth who died).

pub mod feed;
pub mod ingest;
mod inzage;
mod key_index;
mod keys;
pub mod kinds;
mod matching;
mod moves;
pub mod nodes;
mod prefix;
pub mod report;
mod shapes;
pub mod snapshot;
mod tuning;
mod upsert;

use std::fs::{File, TryLockError};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backon::{ConstantBuilder, Retryable};

use sqlx::migrate::Migrator;
use sqlx::AnyConnection;
use vir_shared::db::{Backend, Db, WriteTx};

use crate::error::StoreError;
use key_index::KeyIndex;

pub static SQLITE_MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");
pub static POSTGRES_MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

pub use feed::FEED_PAGE;
pub use ingest::{OpOutcome, SubmitOutcome};
pub use nodes::{NodeRow, StatusCounts};

/// A connection pool to the hub's database, migrated on connect.
#[derive(Debug, Clone)]
pub struct Store {
    db: Db,
    /// On SQLite, the lock that keeps a second hub process off the database while this store is
    /// open (see [`lock_sqlite`]); released by [`Store::close`] or when the process ends.
    sqlite_lock: Arc<Mutex<Option<File>>>,
    /// On SQLite, the key index in this process's memory (`key_index.rs`).
    key_index: Option<KeyIndex>,
}

impl Store {
    /// Connects to `sqlite://…` or `postgres://…` and runs the migrations.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        let sqlite_lock = Arc::new(Mutex::new(lock_sqlite(url).await?));
        let db =
            Db::connect_tuned(url, &SQLITE_MIGRATOR, &POSTGRES_MIGRATOR, tuning::TUNING).await?;
        db.spawn_background_checkpoints(vir_shared::db::BACKGROUND_CHECKPOINT_EVERY);
        let key_index = if db.backend == Backend::Sqlite {
            // Built here, not at the first request: some seconds per million stored signals.
            let started = std::time::Instant::now();
            let mut tx = db.write().await?;
            let index = KeyIndex::build(conn(&mut tx)).await?;
            drop(tx);
            tracing::info!(
                elapsed_ms = started.elapsed().as_millis() as u64,
                "writer connected, key index built"
            );
            Some(index)
        } else {
            None
        };
        Ok(Store {
            db,
            sqlite_lock,
            key_index,
        })
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn backend(&self) -> Backend {
        self.db.backend
    }

    /// On SQLite, compares the in-memory key index with the tables (`key_index.rs`); an error
    /// names the first difference. A consistency check for tests and operators; nothing to do
    /// on PostgreSQL.
    pub async fn verify_key_index(&self) -> Result<(), StoreError> {
        let Some(index) = &self.key_index else {
            return Ok(());
        };
        let mut tx = self.db.write().await?;
        index.verify(conn(&mut tx)).await
    }

    pub async fn close(&self) {
        self.db.close().await;
        // Dropping the file releases the lock.
        self.sqlite_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
    }

    /// Begins the write transaction of a `Submit`. On SQLite, [`Db::write`] already serialises
    /// writers. On PostgreSQL an exclusive lock on `signals` (plain reads still pass) does the
    /// same, for two reasons: two concurrent upserts of the same key from different regions
    /// must see each other, or the match would be missed under READ COMMITTED; and feed
    /// counters of several nodes are taken in data-dependent order, which could deadlock.
    pub(crate) async fn begin_submit(&self) -> Result<WriteTx, StoreError> {
        let mut tx = self.db.write().await?;
        if self.db.backend == Backend::Postgres {
            sqlx::query("LOCK TABLE signals IN EXCLUSIVE MODE")
                .execute(conn(&mut tx))
                .await?;
        }
        Ok(tx)
    }
}

/// Takes the lock of an SQLite hub database (`<database>.lock` beside it), or refuses: one hub
/// process per SQLite database. Its key index lives in the process's memory (`key_index.rs`),
/// so keys written by a second process would be missing from it and their
/// matches missed. The operating system releases the lock when the process ends, also on a
/// crash; a hub restarted at once may find it held for a moment, so a held lock is retried for
/// [`LOCK_WAIT`] before the store refuses. Replicas share PostgreSQL instead.
async fn lock_sqlite(url: &str) -> Result<Option<File>, StoreError> {
    let Some(path) = vir_shared::db::sqlite_path(url) else {
        return Ok(None);
    };
    let mut lock_path = path.into_os_string();
    lock_path.push(".lock");
    let lock_path = PathBuf::from(lock_path);
    if let Some(dir) = lock_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| lock_error(&lock_path, e))?;
    }
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| lock_error(&lock_path, e))?;
    let held = || StoreError::InUse(lock_path.display().to_string());
    let take = || async {
        match file.try_lock() {
            Ok(()) => Ok(()),
            Err(TryLockError::WouldBlock) => Err(held()),
            Err(TryLockError::Error(e)) => Err(lock_error(&lock_path, e)),
        }
    };
    let mut told = false;
    take.retry(
        ConstantBuilder::default()
            .with_delay(LOCK_RETRY)
            .with_max_times((LOCK_WAIT.as_millis() / LOCK_RETRY.as_millis()) as usize),
    )
    .when(|e| matches!(e, StoreError::InUse(_)))
    .notify(|_, _| {
        if !told {
            told = true;
            tracing::warn!(lock = %lock_path.display(), "SQLite database locked by another hub; waiting");
        }
    })
    .await?;
    Ok(Some(file))
}

/// How long [`lock_sqlite`] waits for a held lock, and how often it tries.
const LOCK_WAIT: Duration = Duration::from_secs(15);
const LOCK_RETRY: Duration = Duration::from_millis(100);

fn lock_error(path: &std::path::Path, e: std::io::Error) -> StoreError {
    StoreError::Lock(format!("{}: {e}", path.display()))
}

/// The connection inside a write transaction.
pub(crate) fn conn(tx: &mut WriteTx) -> &mut AnyConnection {
    &mut tx.tx
}

/// Stored counters are non-negative BIGINTs; anything else is corruption, not a panic.
pub(crate) fn to_u64(v: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("negative {what}: {v}")))
}

/// Values we bind are bounded by validation (op ids ≤ i64::MAX); saturate rather than wrap.
pub(crate) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}
