//! On SQLite, the key index lives in memory: a temporary table of the writer connection, kept
//! exact by temporary triggers (and by the bulk insert of new signals) and rebuilt from the
//! tables whenever the connection opens.
//!
//! Why (issue 9, profiled with `vir-bench --only scale`, BENCHMARKS.md): keys are OPRF outputs,
//! uniformly spread, so every insert into an on-disk key index lands on a random leaf page.
//! At a million stored keys a `Submit` of 500 signals dirtied some 500 index pages, each
//! written to the WAL at commit and copied into the database file again at the checkpoint:
//! the cost per signal grew with the number of stored keys. The index in memory is written
//! nowhere; what is on disk is only appended to (the signals table in rowid order, the primary
//! key in time order of the UUIDv7 signal refs).
//!
//! Why this is safe:
//! - Every write of a key goes through the one writer connection (`vir_shared::db`: SQLite
//!   writers are serialised on it) of the one hub process (the store holds a file lock beside
//!   the database, `super::lock_sqlite`), and the index changes in the same transaction and is
//!   rolled back with it.
//! - Triggers keep it for every update and delete, and for every insert of a parent, address
//!   or fallback key: those paths need not remember the index. The one exception is the bulk
//!   insert of new signals (`upsert::insert_new`, the hub's one `INSERT INTO signals`). It
//!   adds its rows with one statement, sorted by prefix ([`add_inserted_signals`]): the store
//!   ceiling went from 45.7k to 48.6k signals/s against a trigger per row in arrival order
//!   (`vir-bench --only store`, four alternating runs each, BENCHMARKS.md). That statement
//!   checks that it indexed as many person keys as were inserted, and fails the `Submit`
//!   otherwise.
//! - The index is rebuilt from the tables each time the writer connects, before its first
//!   statement (the writer is kept open for the life of the process; see `vir_shared::db`).
//!   A restored backup, a crash, a restart: the tables are the truth, the index follows.
//! - Entries hold the 8-byte prefix and the row id (`prefix.rs`); every look-up reads the row
//!   and compares the whole key and version, so even a stale entry could never make a match.
//! - The readers never look a key up; the moves table keeps its own index on disk.
//!
//! Its size: about 21 bytes per key, 21 MB for the 1,036,008 signals of a `vir-bench` scale run
//! (`PRAGMA temp.page_count`).
//!
//! PostgreSQL keeps its expression indexes on the tables (migration `0040_key_prefix_index`):
//! there several hub replicas share the database, and the write path is not one connection.

use sqlx::AnyConnection;

use crate::error::StoreError;

/// The role of a key in the index: a person key in `signals`, the others in `signal_keys`.
fn role_code(role: &str) -> i64 {
    match role {
        "person" => 0,
        "parent" => 1,
        "address" => 2,
        _ => 3,
    }
}

/// The same mapping, in SQL, for the triggers (`signal_keys.role` is checked to be one of
/// these three).
macro_rules! role_sql {
    ($column:literal) => {
        concat!(
            "CASE ",
            $column,
            " WHEN 'parent' THEN 1 WHEN 'address' THEN 2 ELSE 3 END"
        )
    };
}

/// The statements the writer connection runs when it opens, after the pragmas (`temp_store =
/// MEMORY` first: the temporary database then lives in memory).
pub(super) const SQLITE_WRITER: &[&str] = &[
    // (role, prefix, row id): one B-tree, no separate table.
    "CREATE TEMP TABLE key_index (\
        role INTEGER NOT NULL, prefix BLOB NOT NULL, row INTEGER NOT NULL, \
        PRIMARY KEY (role, prefix, row)) WITHOUT ROWID",
    // Person keys: row is `signals.rowid`. Inserts: `add_inserted_signals`.
    "CREATE TEMP TRIGGER key_index_signal_update AFTER UPDATE OF person_key ON main.signals \
     BEGIN \
        DELETE FROM key_index WHERE role = 0 AND prefix = substr(old.person_key, 1, 8) \
            AND row = old.rowid; \
        INSERT OR IGNORE INTO key_index SELECT 0, substr(new.person_key, 1, 8), new.rowid \
            WHERE new.person_key IS NOT NULL; \
     END",
    "CREATE TEMP TRIGGER key_index_signal_delete AFTER DELETE ON main.signals BEGIN \
        DELETE FROM key_index WHERE role = 0 AND prefix = substr(old.person_key, 1, 8) \
            AND row = old.rowid; \
     END",
    // Parent, address and fallback keys: row is `signal_keys.rowid`.
    concat!(
        "CREATE TEMP TRIGGER key_index_keys_insert AFTER INSERT ON main.signal_keys BEGIN ",
        "INSERT OR IGNORE INTO key_index VALUES (",
        role_sql!("new.role"),
        ", substr(new.key_value, 1, 8), new.rowid); END"
    ),
    concat!(
        "CREATE TEMP TRIGGER key_index_keys_update AFTER UPDATE ON main.signal_keys BEGIN ",
        "DELETE FROM key_index WHERE role = ",
        role_sql!("old.role"),
        " AND prefix = substr(old.key_value, 1, 8) AND row = old.rowid; ",
        "INSERT OR IGNORE INTO key_index VALUES (",
        role_sql!("new.role"),
        ", substr(new.key_value, 1, 8), new.rowid); END"
    ),
    concat!(
        "CREATE TEMP TRIGGER key_index_keys_delete AFTER DELETE ON main.signal_keys BEGIN ",
        "DELETE FROM key_index WHERE role = ",
        role_sql!("old.role"),
        " AND prefix = substr(old.key_value, 1, 8) AND row = old.rowid; END"
    ),
    // The rebuild, in index order (sorted inserts fill pages in sequence).
    "INSERT INTO key_index SELECT 0, substr(person_key, 1, 8), rowid FROM main.signals \
     WHERE person_key IS NOT NULL ORDER BY 2, 3",
    concat!(
        "INSERT INTO key_index SELECT ",
        role_sql!("role"),
        ", substr(key_value, 1, 8), rowid FROM main.signal_keys ORDER BY 1, 2, 3"
    ),
];

/// Adds the `inserted` signals that one statement has just inserted (`upsert::insert_new`) to
/// the index: one statement for the lot, in index order, instead of a trigger program per row.
/// Their row ids are the last `inserted`, ending at `last_insert_rowid()` (why: see
/// `upsert::insert_new`; inserts into the index, a table without row ids, leave it as it is). `with_person_key` is how many of
/// them have a person key; an index that took a different number would miss matches, so that
/// fails the transaction.
pub(super) async fn add_inserted_signals(
    conn: &mut AnyConnection,
    inserted: u64,
    with_person_key: usize,
) -> Result<(), StoreError> {
    let added = sqlx::query(
        "INSERT INTO temp.key_index SELECT 0, substr(person_key, 1, 8), rowid FROM main.signals \
         WHERE rowid > last_insert_rowid() - ? AND rowid <= last_insert_rowid() \
         AND person_key IS NOT NULL ORDER BY 2, 3",
    )
    .bind(i64::try_from(inserted).unwrap_or(i64::MAX))
    .execute(conn)
    .await?
    .rows_affected();
    if usize::try_from(added).ok() != Some(with_person_key) {
        return Err(StoreError::Corrupt(format!(
            "the key index took {added} of {with_person_key} new person keys"
        )));
    }
    Ok(())
}

/// The look-ups through this index; [`super::prefix`] picks them on SQLite. `region` and
/// `list` are the placeholders of the asking region and of the prefixes.
///
/// Person keys: key, version, region, ref, 1. CROSS JOIN: SQLite then takes the index as the
/// outer loop, whatever its statistics say.
pub(super) fn person_lookup(region: &str, list: &str) -> String {
    format!(
        "SELECT s.person_key, s.key_version, s.region, s.signal_ref, 1 \
         FROM temp.key_index i CROSS JOIN main.signals s ON s.rowid = i.row \
         WHERE s.region <> {region} AND i.role = 0 AND i.prefix IN ({list}) AND s.active = 1 \
         ORDER BY s.region, s.signal_ref"
    )
}

/// The other roles: key, version, region, ref, and whether the signal has a person key.
pub(super) fn other_lookup(role: &str, region: &str, list: &str) -> String {
    let code = role_code(role);
    format!(
        "SELECT k.key_value, k.key_version, k.region, k.signal_ref, \
         CASE WHEN s.person_key IS NULL THEN 0 ELSE 1 END \
         FROM temp.key_index i CROSS JOIN main.signal_keys k ON k.rowid = i.row \
         CROSS JOIN main.signals s ON s.region = k.region AND s.signal_ref = k.signal_ref \
         WHERE k.region <> {region} AND i.role = {code} AND i.prefix IN ({list}) \
         AND s.active = 1 ORDER BY k.region, k.signal_ref"
    )
}

/// The regions other than `$3` with a signal (any status) on the person key `$1` of version
/// `$2`, whose prefix is `$4`.
pub(super) const REGIONS_WITH_PERSON_KEY: &str =
    "SELECT DISTINCT s.region FROM temp.key_index i CROSS JOIN main.signals s ON s.rowid = i.row \
     WHERE i.role = 0 AND i.prefix = $4 AND s.person_key = $1 AND s.key_version = $2 \
     AND s.region <> $3 ORDER BY s.region";
