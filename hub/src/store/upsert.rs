//! Upserts in bulk: a run of upserts with distinct signal refs is inserted with multi-row
//! statements and matched with one lookup per chunk of keys and key role, so a large `Submit`
//! costs a few statements per few hundred signals instead of several per signal.
//!
//! Why this is the same as applying them one by one: every signal in a run belongs to the
//! submitting region, and same-region signals never match at the hub, so the partners of a
//! run (active signals of *other* regions sharing a key) cannot change while the run is
//! applied. A signal ref that is new to the region has no matches yet (signals are never
//! deleted), so its matches need no existence check. Known refs (re-activation, a key change,
//! new parents after a registry change, a link to a BSN) are reconciled one by one
//! ([`super::keys`]).
//!
//! The kind of each match is the strongest that applies ([`super::kinds`]).

use std::collections::{BTreeMap, HashMap, HashSet};

use sqlx::Row;
use vir_shared::keys::KEY_LEN;

use super::ingest::Ingest;
use super::key_index::{insert_target, prefix_of, Role};
use super::kinds::{Kind, SignalKeys, StoredKey};
use super::prefix::{key_prefix, lookup_sql};
use super::shapes::{insert_chunks, max_rows, padded, Placeholders};
use crate::error::StoreError;
use crate::ops::Upsert;

/// Most upserts applied as one run.
pub(super) const MAX_RUN: usize = 500;

/// The partners of one signal: (other region, other ref) → the strongest kind.
pub(super) type Partners = BTreeMap<(String, String), Kind>;

impl Ingest<'_> {
    /// Applies a run of upserts (distinct signal refs), in order.
    pub(super) async fn upsert_run(&mut self, run: &[&Upsert]) -> Result<(), StoreError> {
        // Before the run is written: see `partners_of`.
        let mut partners = self.partners_of(run).await?;
        let new_refs: HashSet<String> = self.insert_new(run).await?.into_iter().collect();
        let known: Vec<&Upsert> = run
            .iter()
            .copied()
            .filter(|u| !new_refs.contains(u.signal_ref.as_str()))
            .collect();
        for u in &known {
            self.update_signal(u).await?;
        }
        self.replace_keys(run, &known).await?;
        for u in run {
            let found = partners.remove(u.signal_ref.as_str()).unwrap_or_default();
            if new_refs.contains(u.signal_ref.as_str()) {
                for ((other_region, other_ref), kind) in found {
                    self.create_match(&u.signal_ref, &other_region, &other_ref, kind)
                        .await?;
                }
            } else {
                self.reconcile(u, found).await?;
            }
        }
        Ok(())
    }

    /// Inserts the signals whose refs are new to this region; returns those refs.
    ///
    /// One statement per chunk inserts the run and skips the refs the region already has
    /// (`ON CONFLICT DO NOTHING`; usually there are none), rather than looking the refs up
    /// first: that look-up was 7% of the store's statement time (`vir-bench --only store`,
    /// BENCHMARKS.md). Which refs were new:
    /// - PostgreSQL returns them (`RETURNING`).
    /// - SQLite's driver would hand every returned row over from its worker thread one by one,
    ///   which for a whole run costs more than the insert (profiled). There, every row is
    ///   inserted with a row id allotted by the key index (`key_index.rs`): if every row went
    ///   in, nothing more is asked; otherwise the known refs are the run's rows with an older
    ///   row id. The new rows' person keys go into the key index when the `Submit` commits.
    async fn insert_new(&mut self, run: &[&Upsert]) -> Result<Vec<String>, StoreError> {
        let mut new_refs = Vec::with_capacity(run.len());
        // The refs of a run are distinct (see `upsert_run`); a run cut into chunks keeps shapes
        // few (see `shapes.rs`).
        for part in insert_chunks(self.conn, run) {
            let first_row = self
                .index
                .as_mut()
                .map(|index| index.allot_signal_rows(part.rows.len()));
            let (into, per_row) = insert_target(
                "signals",
                "region, signal_ref, person_key, key_version, municipality, active, created_ms, \
                 updated_ms",
                8,
                first_row.is_some(),
            );
            let tail = if first_row.is_some() {
                " ON CONFLICT (region, signal_ref) DO NOTHING"
            } else {
                " ON CONFLICT (region, signal_ref) DO NOTHING RETURNING signal_ref"
            };
            let sql = part.sql(&into, per_row, tail);
            let mut query = sqlx::query(&sql);
            for (row, u) in (first_row.unwrap_or_default()..).zip(part.rows) {
                if first_row.is_some() {
                    query = query.bind(row);
                }
                query = query
                    .bind(self.region.as_str())
                    .bind(u.signal_ref.as_str())
                    .bind(u.person_key.as_ref().map(|k| k.value.to_vec()))
                    .bind(u.person_key.as_ref().map(|k| i64::from(k.version)))
                    .bind(u.municipality.as_str())
                    .bind(1i64)
                    .bind(self.now_ms)
                    .bind(self.now_ms);
            }
            let query = part.pad(query, per_row);
            let Some(first_row) = first_row else {
                for row in query.fetch_all(&mut *self.conn).await? {
                    new_refs.push(row.try_get::<String, _>(0)?);
                }
                continue;
            };
            let inserted = query.execute(&mut *self.conn).await?.rows_affected();
            if inserted == 0 {
                continue;
            }
            let known = if usize::try_from(inserted).ok() == Some(part.rows.len()) {
                HashSet::new()
            } else {
                self.refs_before(part.rows, first_row).await?
            };
            for (row, u) in (first_row..).zip(part.rows) {
                if known.contains(u.signal_ref.as_str()) {
                    continue;
                }
                if let (Some(index), Some(key)) = (self.index.as_mut(), &u.person_key) {
                    index.added(Role::Person, &key.value, row)?;
                }
                new_refs.push(u.signal_ref.to_string());
            }
        }
        Ok(new_refs)
    }

    /// The refs among `rows` that this region had before the insert whose rows got row ids
    /// from `first_row` on (SQLite): those in older rows.
    async fn refs_before(
        &mut self,
        rows: &[&Upsert],
        first_row: i64,
    ) -> Result<HashSet<String>, StoreError> {
        let refs: Vec<&str> = rows.iter().map(|u| u.signal_ref.as_str()).collect();
        let mut known = HashSet::new();
        for list in padded(&refs, max_rows(self.conn)) {
            let sql = format!(
                "SELECT signal_ref FROM signals WHERE region = ? AND rowid < ? \
                 AND signal_ref IN ({})",
                Placeholders::for_conn(self.conn).list(list.len())
            );
            let mut query = sqlx::query(&sql).bind(self.region.as_str()).bind(first_row);
            for signal_ref in list {
                query = query.bind(signal_ref);
            }
            for row in query.fetch_all(&mut *self.conn).await? {
                known.insert(row.try_get::<String, _>(0)?);
            }
        }
        Ok(known)
    }

    /// The partners of every signal of the run: active signals of other regions that share a
    /// person, parent, address or fallback key with it (same value and version), each with the
    /// strongest kind that applies (the rule of [`super::kinds::strongest`], evaluated from the
    /// lookups). Looked up per key role in chunks.
    ///
    /// Called before the run is written, though the result is the same after: partners are
    /// other regions' signals, and a run writes only its own region's. Before, the look-up does
    /// not meet the run's own new signals, which it would otherwise find under every key and
    /// read, only to drop them (`vir-bench --only store`, BENCHMARKS.md).
    pub(super) async fn partners_of(
        &mut self,
        run: &[&Upsert],
    ) -> Result<BTreeMap<String, Partners>, StoreError> {
        let own: Vec<(&str, SignalKeys)> = run
            .iter()
            .map(|u| (u.signal_ref.as_str(), keys_of_upsert(u)))
            .collect();
        let mut result: BTreeMap<String, Partners> = BTreeMap::new();
        for role in ["person", "parent", "address", "fallback"] {
            let mut wanted: Vec<StoredKey> = own
                .iter()
                .flat_map(|(_, keys)| role_keys(keys, role))
                .collect();
            wanted.sort();
            wanted.dedup();
            if wanted.is_empty() {
                continue;
            }
            let found = self.lookup(role, &wanted).await?;
            let mut by_key: HashMap<StoredKey, Vec<&Hit>> = HashMap::new();
            for hit in &found {
                by_key.entry(hit.key).or_default().push(hit);
            }
            for (own_ref, keys) in &own {
                for key in role_keys(keys, role) {
                    for hit in by_key.get(&key).into_iter().flatten() {
                        let kind = match role {
                            "person" => Kind::Client,
                            "parent" => Kind::Family,
                            "address" => Kind::Address,
                            // Two people known by their BSN are never a candidate.
                            _ if keys.person.is_some() && hit.has_person_key => continue,
                            _ => Kind::Candidate,
                        };
                        let slot = result
                            .entry((*own_ref).to_owned())
                            .or_default()
                            .entry((hit.region.clone(), hit.signal_ref.clone()))
                            .or_insert(kind);
                        *slot = (*slot).max(kind);
                    }
                }
            }
        }
        Ok(result)
    }

    /// Active signals of other regions holding one of `keys` (sorted, distinct) in `role`.
    async fn lookup(&mut self, role: &str, keys: &[StoredKey]) -> Result<Vec<Hit>, StoreError> {
        // By prefix (`prefix.rs`); the whole key is compared below.
        let lists: Vec<Vec<LookupArg>> = match &self.index {
            // SQLite: the rows the key index names, by row id (`key_index.rs`).
            Some(index) => {
                let prefixes = keys
                    .iter()
                    .map(|(value, _)| prefix_of(value))
                    .collect::<Result<Vec<u64>, _>>()?;
                let rows = index.rows_with(Role::named(role)?, &prefixes);
                let rows: Vec<LookupArg> = rows.into_iter().map(LookupArg::Row).collect();
                padded(&rows, max_rows(self.conn))
            }
            None => {
                let mut prefixes: Vec<LookupArg> = keys
                    .iter()
                    .map(|(value, _)| LookupArg::Prefix(key_prefix(value)))
                    .collect();
                prefixes.dedup();
                padded(&prefixes, max_rows(self.conn))
            }
        };
        let mut hits = Vec::new();
        for list in lists {
            let sql = lookup_sql(self.conn, role, list.len());
            let mut query = sqlx::query(&sql).bind(self.region.as_str());
            for arg in list {
                query = match arg {
                    LookupArg::Row(row) => query.bind(row),
                    LookupArg::Prefix(prefix) => query.bind(prefix),
                };
            }
            for row in query.fetch_all(&mut *self.conn).await? {
                let value: Vec<u8> = row.try_get(0)?;
                let value: [u8; KEY_LEN] = value.as_slice().try_into().map_err(|_| {
                    StoreError::Corrupt(format!("{role} key of {} bytes", value.len()))
                })?;
                let version: Option<i64> = row.try_get(1)?;
                hits.push(Hit {
                    key: (value, version.unwrap_or_default()),
                    region: row.try_get(2)?,
                    signal_ref: row.try_get(3)?,
                    has_person_key: row.try_get::<i64, _>(4)? == 1,
                });
            }
        }
        // Neither a version mismatch nor a shared prefix is a match: the lookup was by prefix.
        hits.retain(|h| keys.binary_search(&h.key).is_ok());
        Ok(hits)
    }

    /// Re-activates or updates a known signal. A different person key of the same version is
    /// another person (a corrected BSN): the signal's active matches end first. A person key
    /// where there was none is a link to a BSN (002 art. 8.5-8.7): the matches are reconciled.
    async fn update_signal(&mut self, u: &Upsert) -> Result<(), StoreError> {
        let region = self.region.as_str();
        // On SQLite also the row id, for the key index.
        let sql = if self.index.is_some() {
            "SELECT person_key, key_version, active, rowid FROM signals \
             WHERE region = $1 AND signal_ref = $2"
        } else {
            "SELECT person_key, key_version, active FROM signals \
             WHERE region = $1 AND signal_ref = $2"
        };
        let row = sqlx::query(sql)
            .bind(region)
            .bind(u.signal_ref.as_str())
            .fetch_one(&mut *self.conn)
            .await?;
        let old_key: Option<Vec<u8>> = row.try_get(0)?;
        let old_version: Option<i64> = row.try_get(1)?;
        let was_active: i64 = row.try_get(2)?;
        if let Some(index) = self.index.as_mut() {
            let new_key = u.person_key.as_ref().map(|k| k.value.as_slice());
            if old_key.as_deref() != new_key {
                let row_id: i64 = row.try_get(3)?;
                if let Some(old) = &old_key {
                    index.removed(Role::Person, old, row_id)?;
                }
                if let Some(new) = new_key {
                    index.added(Role::Person, new, row_id)?;
                }
            }
        }
        let other_person = match (&old_key, &u.person_key) {
            (Some(old), Some(new)) => {
                old_version == Some(i64::from(new.version))
                    && old.as_slice() != new.value.as_slice()
            }
            (Some(_), None) => true,
            (None, _) => false,
        };
        if was_active == 1 && other_person {
            self.end_matches(&u.signal_ref, true).await?;
        }
        sqlx::query(
            "UPDATE signals SET person_key = $3, key_version = $4, municipality = $5, \
             active = 1, updated_ms = $6, removed_ms = NULL \
             WHERE region = $1 AND signal_ref = $2",
        )
        .bind(region)
        .bind(u.signal_ref.as_str())
        .bind(u.person_key.as_ref().map(|k| k.value.to_vec()))
        .bind(u.person_key.as_ref().map(|k| i64::from(k.version)))
        .bind(u.municipality.as_str())
        .bind(self.now_ms)
        .execute(&mut *self.conn)
        .await?;
        Ok(())
    }
}

/// A value of a look-up's list: a row id (SQLite, from the key index) or a key prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
enum LookupArg {
    Row(i64),
    Prefix(Vec<u8>),
}

/// One signal of another region found by a key lookup.
struct Hit {
    key: StoredKey,
    region: String,
    signal_ref: String,
    has_person_key: bool,
}

fn stored(key: &vir_shared::keys::PseudoKey) -> StoredKey {
    (key.value, i64::from(key.version))
}

/// The keys an upsert carries, as stored.
pub(super) fn keys_of_upsert(u: &Upsert) -> SignalKeys {
    SignalKeys {
        person: u.person_key.as_ref().map(stored),
        parents: u.parent_keys.iter().map(stored).collect(),
        address: u.address_key.as_ref().map(stored),
        fallback: u.fallback_key.as_ref().map(stored),
    }
}

fn role_keys(keys: &SignalKeys, role: &str) -> Vec<StoredKey> {
    match role {
        "person" => keys.person.into_iter().collect(),
        "parent" => keys.parents.clone(),
        "address" => keys.address.into_iter().collect(),
        _ => keys.fallback.into_iter().collect(),
    }
}
