//! The hub's database settings beyond the shared defaults, and checkpoints off the commit path.
//!
//! Bulk ingest was profiled (callgrind, perf, strace; `vir-bench`, see BENCHMARKS.md). What the
//! profiles showed, and the setting that answers it:
//! - SQLite gives multi-row statements a statement journal (the pages they touch, in case one
//!   row fails and the statement must be undone), in a temporary file: more writes than the WAL
//!   itself. `temp_store = MEMORY` keeps it in memory.
//! - The default page cache (2 MB) held a fraction of the on-disk key indexes: a `Submit` of
//!   500 signals spilled dirty pages mid-transaction and read index pages from the file again.
//!   The writer (one connection, see `vir_shared::db`) got 64 MB. Since the key index moved into
//!   the hub process's memory (`key_index.rs`) the pages a `Submit` writes are mostly at the ends of
//!   the tables and the primary key, and 16 MB costs no more per signal at a million stored
//!   keys than 64 MB did, with 30-50 MB less resident memory (`vir-bench --only scale`, side by
//!   side). Readers keep the default.
//! - In WAL mode the commit that crosses `wal_autocheckpoint` pages copies the WAL into the
//!   database file and syncs it. At a million stored keys that sync of scattered index pages
//!   cost more than everything else in the ingest, all of it inside a `Submit`. So a
//!   background task checkpoints passively (never waiting for the writer or readers) once a
//!   second, and the writer checkpoints only as a backstop, at a larger WAL. Once a second
//!   rather than every 250 ms: an index page that several commits dirty in the meantime is
//!   copied into the database file once; at a million stored keys that cut the cost per signal
//!   by a quarter (4 runs side by side, `vir-bench --only scale`, BENCHMARKS.md).
//! - PostgreSQL: after five executions a prepared statement may switch to a generic plan, made
//!   once. The key look-up (`person_key IN ($2, …)`) first runs on an empty table, where a
//!   sequential scan is cheapest, and kept that plan while the table grew (40 ms a look-up at
//!   30,000 signals, growing with the table). Custom plans take the index every time.

use vir_shared::db::Tuning;

pub(crate) const TUNING: Tuning = Tuning {
    sqlite_writer: &[
        "PRAGMA temp_store = MEMORY",
        "PRAGMA cache_size = -16384",
        // The backstop: 20,000 pages (80 MB of WAL) if the background checkpoints fall behind.
        "PRAGMA wal_autocheckpoint = 20000",
        // After a checkpoint the WAL file is cut back to this size.
        "PRAGMA journal_size_limit = 67108864",
    ],
    postgres_session: &["SET plan_cache_mode = force_custom_plan"],
    // A `Submit` locks the signals table (`Store::begin_submit`); the other writes touch one
    // row each. Replicas write concurrently.
    postgres_serialised_writes: false,
};
