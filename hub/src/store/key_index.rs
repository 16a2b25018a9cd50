//! On SQLite, the key index lives in the hub process's memory: per key role, the set of
//! (8-byte prefix, row id) of every stored key. It is built from the tables when the store
//! opens and changed only by committed `Submit`s.
//!
//! Why (issue 9, profiled with `vir-bench`, BENCHMARKS.md):
//! - Keys are OPRF outputs, uniformly spread, so every insert into an on-disk key index lands
//!   on a random leaf page. At a million stored keys a `Submit` of 500 signals dirtied some 500
//!   index pages, written to the WAL at commit and copied into the database file again at the
//!   checkpoint: the cost per signal grew with the number of stored keys.
//! - An index in a temporary table of the writer connection (the previous design) is written
//!   nowhere, but SQLite still journals every page a transaction changes, in memory: per
//!   `Submit` of 500 signals, the statement that indexed them and the prefix look-up took half
//!   of all statement time in the store ceiling (`RUST_LOG=sqlx::query=debug`, elapsed per
//!   statement). Here an insert is a few hundred nanoseconds, and a look-up asks the database
//!   only for rows that hold a key with a wanted prefix, by row id.
//!
//! Why this is exact:
//! - Every write of a key goes through the one writer connection of the one hub process (the
//!   store holds a file lock beside the database, `super::lock_sqlite`), inside a `Submit`.
//!   The write paths that add or drop a key (the bulk insert of new signals, a changed person
//!   key, the replacement of a signal's other keys, erasure) record what they did in the
//!   `Submit`'s [`IndexTx`]; [`KeyIndex::commit`] applies it after the transaction commits. A
//!   rolled-back `Submit` changes nothing.
//! - Those paths know their row ids: rows are inserted with row ids the hub allots from
//!   counters kept here (above every row id in the table), rows are deleted with `RETURNING`.
//! - A `Submit` holds the index ([`IndexTx`]) from its start until its changes are applied
//!   or dropped; the writer's own lock is released as the transaction commits, before that,
//!   so the next `Submit` waits here for them. Its look-ups see what committed before it, which
//!   is what they need: they look for other regions' signals, and a `Submit` writes only its
//!   own region's.
//! - If a commit fails, or the `Submit` is dropped while its commit is under way (a node's
//!   connection breaks), whether it went through is not known: the index is rebuilt from the
//!   tables before the next `Submit` uses it ([`IndexTx`]'s drop, [`KeyIndex::begin`]).
//! - Every look-up reads the rows and compares the whole key and version, so a prefix shared
//!   by two keys never makes a match.
//! - [`KeyIndex::verify`] compares the index with one built from the tables; the storage tests
//!   run it after every kind of write.
//!
//! Its size: 16 bytes per key in a B-tree set, about 25 MB for a million keys.
//!
//! PostgreSQL keeps its expression indexes on the tables (migration `0040_key_prefix_index`):
//! there several hub replicas share the database, and the write path is not one connection.

use std::collections::BTreeSet;
use std::sync::Arc;

use futures::TryStreamExt;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use tokio::sync::{Mutex, OwnedMutexGuard};

use super::prefix::PREFIX_LEN;
use crate::error::StoreError;

/// The role of a key: a person key in `signals`, the others in `signal_keys`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    Person,
    Parent,
    Address,
    Fallback,
}

impl Role {
    /// A role as the matching code names it: `person`, or `signal_keys.role`.
    pub(super) fn named(role: &str) -> Result<Role, StoreError> {
        match role {
            "person" => Ok(Role::Person),
            "parent" => Ok(Role::Parent),
            "address" => Ok(Role::Address),
            "fallback" => Ok(Role::Fallback),
            other => Err(StoreError::Corrupt(format!("signal_keys.role {other}"))),
        }
    }

    fn slot(self) -> usize {
        self as usize
    }
}

/// The indexed part of a key (its first [`PREFIX_LEN`] bytes).
pub(super) fn prefix_of(value: &[u8]) -> Result<u64, StoreError> {
    let head: [u8; PREFIX_LEN] = value
        .get(..PREFIX_LEN)
        .and_then(|head| head.try_into().ok())
        .ok_or_else(|| StoreError::Corrupt(format!("a key of {} bytes", value.len())))?;
    Ok(u64::from_be_bytes(head))
}

/// One change to the index.
enum Change {
    Add(Role, u64, i64),
    Remove(Role, u64, i64),
}

/// What the index holds.
#[derive(Default)]
struct Entries {
    /// Per role ([`Role::slot`]): (prefix, row id).
    by_role: [BTreeSet<(u64, i64)>; 4],
    /// Above every row id of `signals` and of `signal_keys`: the next to allot.
    next_signal_row: i64,
    next_key_row: i64,
}

struct Shared {
    entries: Entries,
    /// A commit failed or was abandoned ([`IndexTx`]'s drop), so the index may not be what
    /// the tables hold: rebuilt before use.
    stale: bool,
}

/// The key index of an SQLite hub store (module docs).
#[derive(Clone)]
pub(crate) struct KeyIndex {
    /// Held by a `Submit` from its start until its changes are applied ([`IndexTx`]): the
    /// writer's own lock is released as its transaction commits, before that.
    shared: Arc<Mutex<Shared>>,
}

impl std::fmt::Debug for KeyIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut out = f.debug_struct("KeyIndex");
        if let Ok(shared) = self.shared.try_lock() {
            let keys: usize = shared.entries.by_role.iter().map(BTreeSet::len).sum();
            out.field("keys", &keys).field("stale", &shared.stale);
        }
        out.finish_non_exhaustive()
    }
}

/// The index's part of one `Submit`: the index itself, held for the whole `Submit`, the
/// changes it makes and the row ids it allots, applied only by [`IndexTx::committed`].
pub(super) struct IndexTx {
    shared: OwnedMutexGuard<Shared>,
    changes: Vec<Change>,
    next_signal_row: i64,
    next_key_row: i64,
    /// Set just before the transaction commits ([`IndexTx::commit_starts`]). Dropped in this
    /// state, the commit failed or its outcome was never seen (the `Submit`'s future was
    /// dropped while the commit was under way, as when a node's connection breaks): the
    /// transaction may have gone through, so the index is marked for a rebuild.
    in_commit: bool,
}

impl Drop for IndexTx {
    fn drop(&mut self) {
        if self.in_commit {
            self.shared.stale = true;
        }
    }
}

impl IndexTx {
    /// A `Submit`'s part, holding the index until it is committed or dropped.
    fn holding(shared: OwnedMutexGuard<Shared>) -> IndexTx {
        let (next_signal_row, next_key_row) =
            (shared.entries.next_signal_row, shared.entries.next_key_row);
        IndexTx {
            shared,
            changes: Vec::new(),
            next_signal_row,
            next_key_row,
            in_commit: false,
        }
    }

    /// The row ids (sorted, distinct) holding a key in `role` with one of `prefixes`: rows of
    /// `signals` for person keys, of `signal_keys` for the others. As committed before this
    /// `Submit` (module docs).
    pub(super) fn rows_with(&self, role: Role, prefixes: &[u64]) -> Vec<i64> {
        let set = &self.shared.entries.by_role[role.slot()];
        let mut rows: Vec<i64> = prefixes
            .iter()
            .flat_map(|&p| {
                set.range((p, i64::MIN)..=(p, i64::MAX))
                    .map(|&(_, row)| row)
            })
            .collect();
        rows.sort_unstable();
        rows.dedup();
        rows
    }

    /// `n` consecutive new row ids of `signals`; the first is returned.
    pub(super) fn allot_signal_rows(&mut self, n: usize) -> i64 {
        allot(&mut self.next_signal_row, n)
    }

    /// `n` consecutive new row ids of `signal_keys`; the first is returned.
    pub(super) fn allot_key_rows(&mut self, n: usize) -> i64 {
        allot(&mut self.next_key_row, n)
    }

    pub(super) fn added(&mut self, role: Role, value: &[u8], row: i64) -> Result<(), StoreError> {
        self.changes.push(Change::Add(role, prefix_of(value)?, row));
        Ok(())
    }

    pub(super) fn removed(&mut self, role: Role, value: &[u8], row: i64) -> Result<(), StoreError> {
        self.changes
            .push(Change::Remove(role, prefix_of(value)?, row));
        Ok(())
    }

    /// Just before the `Submit`'s transaction commits (see the `in_commit` field).
    pub(super) fn commit_starts(&mut self) {
        self.in_commit = true;
    }

    /// After the `Submit`'s transaction committed: applies its changes, in order.
    pub(super) fn committed(mut self) {
        let entries = &mut self.shared.entries;
        for change in std::mem::take(&mut self.changes) {
            match change {
                Change::Add(role, prefix, row) => {
                    entries.by_role[role.slot()].insert((prefix, row))
                }
                Change::Remove(role, prefix, row) => {
                    entries.by_role[role.slot()].remove(&(prefix, row))
                }
            };
        }
        entries.next_signal_row = entries.next_signal_row.max(self.next_signal_row);
        entries.next_key_row = entries.next_key_row.max(self.next_key_row);
        self.in_commit = false;
    }
}

fn allot(next: &mut i64, n: usize) -> i64 {
    let first = *next;
    *next = next.saturating_add(i64::try_from(n).unwrap_or(i64::MAX));
    first
}

impl KeyIndex {
    /// Builds the index from the tables.
    pub(super) async fn build(conn: &mut AnyConnection) -> Result<KeyIndex, StoreError> {
        let entries = read_tables(conn).await?;
        Ok(KeyIndex {
            shared: Arc::new(Mutex::new(Shared {
                entries,
                stale: false,
            })),
        })
    }

    /// Starts the index's part of a `Submit`, inside its transaction on the writer: waits for
    /// the `Submit` before to have applied its changes, and rebuilds a stale index from the
    /// tables. A dropped [`IndexTx`] changes nothing.
    pub(super) async fn begin(&self, conn: &mut AnyConnection) -> Result<IndexTx, StoreError> {
        let mut shared = self.shared.clone().lock_owned().await;
        if shared.stale {
            shared.entries = read_tables(conn).await?;
            shared.stale = false;
            tracing::warn!("key index rebuilt from the tables after a failed or abandoned commit");
        }
        Ok(IndexTx::holding(shared))
    }

    /// Compares the index with one built from the tables now; an error names the first
    /// difference. The storage tests run it after every kind of write.
    pub(super) async fn verify(&self, conn: &mut AnyConnection) -> Result<(), StoreError> {
        let live = self.shared.lock().await;
        if live.stale {
            // Rebuilt from the tables before the next `Submit` uses it: nothing to compare.
            return Ok(());
        }
        let fresh = read_tables(conn).await?;
        let live = &live.entries;
        for role in [Role::Person, Role::Parent, Role::Address, Role::Fallback] {
            let (have, want) = (&live.by_role[role.slot()], &fresh.by_role[role.slot()]);
            if let Some(extra) = have.difference(want).next() {
                return Err(StoreError::Corrupt(format!(
                    "key index: {role:?} entry for row {} not in the tables",
                    extra.1
                )));
            }
            if let Some(missing) = want.difference(have).next() {
                return Err(StoreError::Corrupt(format!(
                    "key index: {role:?} key of row {} missing",
                    missing.1
                )));
            }
        }
        if live.next_signal_row < fresh.next_signal_row || live.next_key_row < fresh.next_key_row {
            return Err(StoreError::Corrupt(
                "key index: row counters below the tables' row ids".into(),
            ));
        }
        Ok(())
    }
}

/// The target of a multi-row insert into `table` (`signals` or `signal_keys`) of `per_row`
/// `columns`, and the values per row: with a leading `rowid` where the key index allots the
/// rows' ids (SQLite).
pub(super) fn insert_target(
    table: &str,
    columns: &str,
    per_row: usize,
    allotted: bool,
) -> (String, usize) {
    if allotted {
        (format!("{table} (rowid, {columns})"), per_row + 1)
    } else {
        (format!("{table} ({columns})"), per_row)
    }
}

/// A row of `signal_keys` as (row id, role, prefix), selected in that order.
pub(super) fn key_row(row: &AnyRow) -> Result<(i64, Role, Vec<u8>), StoreError> {
    let role = Role::named(row.try_get::<String, _>(1)?.as_str())?;
    Ok((row.try_get(0)?, role, row.try_get(2)?))
}

/// Every key of the tables, and the next row ids. The rows are read as a stream: collected
/// first, a million of them took some 130 MB more at the hub's start, kept by the allocator
/// afterwards.
async fn read_tables(conn: &mut AnyConnection) -> Result<Entries, StoreError> {
    let mut entries = Entries::default();
    {
        let mut rows = sqlx::query(
            "SELECT rowid, substr(person_key, 1, 8) FROM signals WHERE person_key IS NOT NULL",
        )
        .fetch(&mut *conn);
        while let Some(row) = rows.try_next().await? {
            let prefix: Vec<u8> = row.try_get(1)?;
            entries.by_role[Role::Person.slot()].insert((prefix_of(&prefix)?, row.try_get(0)?));
        }
    }
    {
        let mut rows = sqlx::query("SELECT rowid, role, substr(key_value, 1, 8) FROM signal_keys")
            .fetch(&mut *conn);
        while let Some(row) = rows.try_next().await? {
            let (row, role, prefix) = key_row(&row)?;
            entries.by_role[role.slot()].insert((prefix_of(&prefix)?, row));
        }
    }
    let row = sqlx::query(
        "SELECT COALESCE((SELECT MAX(rowid) FROM signals), 0), \
         COALESCE((SELECT MAX(rowid) FROM signal_keys), 0)",
    )
    .fetch_one(&mut *conn)
    .await?;
    entries.next_signal_row = row.try_get::<i64, _>(0)?.saturating_add(1);
    entries.next_key_row = row.try_get::<i64, _>(1)?.saturating_add(1);
    Ok(entries)
}

/// The look-up of the active signals of other regions holding a person key in one of the rows
/// (row ids of `signals` from the index); `region` and `list` are the placeholders of the
/// asking region and of the rows. Yields key, version, region, ref, 1.
pub(super) fn person_lookup(region: &str, list: &str) -> String {
    format!(
        "SELECT person_key, key_version, region, signal_ref, 1 FROM signals \
         WHERE region <> {region} AND rowid IN ({list}) AND active = 1 \
         ORDER BY region, signal_ref"
    )
}

/// The same for another role (`parent`, `address` or `fallback`, written into the SQL, never
/// input), rows of `signal_keys`: key, version, region, ref, and whether the signal has a person
/// key. CROSS JOIN: SQLite then reads the key rows first, whatever its statistics say.
pub(super) fn other_lookup(role: &str, region: &str, list: &str) -> String {
    format!(
        "SELECT k.key_value, k.key_version, k.region, k.signal_ref, \
         CASE WHEN s.person_key IS NULL THEN 0 ELSE 1 END \
         FROM signal_keys k CROSS JOIN signals s \
         ON s.region = k.region AND s.signal_ref = k.signal_ref \
         WHERE k.region <> {region} AND k.rowid IN ({list}) AND k.role = '{role}' \
         AND s.active = 1 ORDER BY k.region, k.signal_ref"
    )
}

/// The regions other than the first placeholder's with a signal (any status) on the person key
/// and version of the next two, in one of the rows of the list.
pub(super) fn regions_with_person_key(list: &str) -> String {
    format!(
        "SELECT DISTINCT region FROM signals \
         WHERE region <> ? AND person_key = ? AND key_version = ? AND rowid IN ({list}) \
         ORDER BY region"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index_with(entries: Entries) -> KeyIndex {
        KeyIndex {
            shared: Arc::new(Mutex::new(Shared {
                entries,
                stale: false,
            })),
        }
    }

    fn key(first: u8) -> [u8; 64] {
        let mut key = [0u8; 64];
        key[0] = first;
        key
    }

    /// [`KeyIndex::begin`] without a database (the index is not stale, so none is read).
    async fn open(index: &KeyIndex) -> IndexTx {
        IndexTx::holding(index.shared.clone().lock_owned().await)
    }

    #[tokio::test]
    async fn a_committed_submit_changes_the_index_in_order_and_a_dropped_one_does_not() {
        let index = index_with(Entries {
            next_signal_row: 10,
            next_key_row: 5,
            ..Entries::default()
        });
        let p1 = prefix_of(&key(1)).unwrap();

        let mut dropped = open(&index).await;
        assert_eq!(dropped.allot_signal_rows(3), 10);
        dropped.added(Role::Person, &key(1), 10).unwrap();
        drop(dropped);

        let mut tx = open(&index).await;
        assert!(tx.rows_with(Role::Person, &[p1]).is_empty());
        assert_eq!(tx.allot_signal_rows(2), 10);
        assert_eq!(tx.allot_signal_rows(1), 12);
        assert_eq!(tx.allot_key_rows(4), 5);
        tx.added(Role::Person, &key(1), 10).unwrap();
        tx.added(Role::Person, &key(1), 11).unwrap();
        tx.added(Role::Parent, &key(1), 5).unwrap();
        // Added, then dropped again in the same transaction (an erasure): gone.
        tx.added(Role::Person, &key(2), 12).unwrap();
        tx.removed(Role::Person, &key(2), 12).unwrap();
        tx.commit_starts();
        tx.committed();

        let next = open(&index).await;
        assert_eq!(next.rows_with(Role::Person, &[p1]), [10, 11]);
        assert_eq!(next.rows_with(Role::Parent, &[p1]), [5]);
        assert!(next.rows_with(Role::Address, &[p1]).is_empty());
        let p2 = prefix_of(&key(2)).unwrap();
        assert!(next.rows_with(Role::Person, &[p2]).is_empty());
        assert_eq!((next.next_signal_row, next.next_key_row), (13, 9));
    }

    /// The writer's lock is released as a `Submit` commits, before its index changes are
    /// applied: the next `Submit` must not start on the index before them.
    #[tokio::test]
    async fn the_next_submit_waits_for_the_changes_of_the_one_before() {
        let index = index_with(Entries {
            next_signal_row: 1,
            next_key_row: 1,
            ..Entries::default()
        });
        let mut first = open(&index).await;
        first.allot_signal_rows(1);
        first.added(Role::Person, &key(1), 1).unwrap();
        let waiting = tokio::spawn({
            let index = index.clone();
            async move {
                let next = open(&index).await;
                (
                    next.rows_with(Role::Person, &[prefix_of(&key(1)).unwrap()]),
                    next.next_signal_row,
                )
            }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(
            !waiting.is_finished(),
            "began while the first held the index"
        );
        first.committed();
        assert_eq!(waiting.await.unwrap(), (vec![1], 2));
    }

    /// Dropped before its commit (a refused `Submit`), a transaction leaves the index as it
    /// was; dropped during its commit (a failed commit, or a cancelled `Submit`), it leaves the
    /// index marked for a rebuild, since the commit may have gone through.
    #[tokio::test]
    async fn a_transaction_dropped_during_its_commit_marks_the_index_for_a_rebuild() {
        let index = index_with(Entries::default());
        let mut refused = open(&index).await;
        refused.added(Role::Person, &key(1), 1).unwrap();
        drop(refused);
        assert!(!index.shared.lock().await.stale);

        let mut cancelled = open(&index).await;
        cancelled.added(Role::Person, &key(1), 1).unwrap();
        cancelled.commit_starts();
        drop(cancelled);
        assert!(index.shared.lock().await.stale);
    }

    /// A stale index is rebuilt from the tables by the next `Submit` before its look-ups: here
    /// the entries a commit would have added are missing, as after a `Submit` dropped during
    /// its commit, and the next region's signal still finds its partner.
    #[tokio::test]
    async fn a_stale_index_is_rebuilt_before_the_next_submit_looks_keys_up() {
        use chrono::{TimeZone, Utc};
        use vir_proto as pb;
        use vir_shared::clock::ManualClock;

        let dir = tempfile::tempdir().unwrap();
        let url = vir_shared::db::sqlite_url(&dir.path().join("hub.sqlite"));
        let regions = ["drenthe", "zuid-limburg"];
        let nodes: Vec<crate::NodeEntry> = regions
            .iter()
            .enumerate()
            .map(|(i, code)| crate::NodeEntry {
                oin: format!("000000990000000001{i:02}").parse().unwrap(),
                region: code.parse().unwrap(),
                municipalities: Vec::new(),
            })
            .collect();
        let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap());
        let state = crate::HubState::open(&url, &nodes, clock).await.unwrap();
        let upsert = |signal_ref: &str| pb::Operation {
            op_id: 1,
            op: Some(pb::operation::Op::Upsert(pb::SignalUpsert {
                signal_ref: signal_ref.into(),
                person_key: Some(pb::PseudoKey {
                    domain: pb::KeyDomain::Person as i32,
                    version: 1,
                    value: vec![7; 64],
                }),
                municipality: "0106".into(),
                ..Default::default()
            })),
        };
        state
            .submit(&nodes[0].region, vec![upsert("d-1")])
            .await
            .unwrap();
        let index = state.store().key_index.clone().unwrap();
        {
            let mut shared = index.shared.lock().await;
            shared.entries.by_role = Default::default();
            shared.stale = true;
        }

        let response = state
            .submit(&nodes[1].region, vec![upsert("l-1")])
            .await
            .unwrap();
        assert_eq!(response.results.len(), 1);
        let told = state.feed_page(&nodes[1].region, 1, 10).await.unwrap();
        assert!(
            matches!(&told[..], [item] if matches!(&item.body,
                Some(pb::feed_item::Body::MatchCreated(m)) if m.other_signal_ref == "d-1")),
            "{told:?}"
        );
        assert!(!index.shared.lock().await.stale);
        state.store().verify_key_index().await.unwrap();
    }

    #[test]
    fn a_key_shorter_than_the_prefix_is_corruption_not_a_panic() {
        assert!(matches!(prefix_of(&[1, 2, 3]), Err(StoreError::Corrupt(_))));
        assert_eq!(prefix_of(&key(1)).unwrap(), 1u64 << 56);
        assert!(Role::named("person").is_ok());
        assert!(matches!(Role::named("x"), Err(StoreError::Corrupt(_))));
    }
}
