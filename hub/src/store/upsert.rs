//! Upserts in bulk: a run of upserts with distinct signal refs is inserted with multi-row
//! statements and matched with one lookup per chunk of keys, so a large `Submit` costs a few
//! statements per few hundred signals instead of several per signal.
//!
//! Why this is the same as applying them one by one: every signal in a run belongs to the
//! submitting region, and same-region signals never match at the hub, so the candidates of a
//! run (active signals of *other* regions with the same key) cannot change while the run is
//! applied. A signal ref that is new to the region has no matches yet (signals are never
//! deleted), so its matches need no existence check. Known refs (re-activation, key change)
//! take the one-by-one path, in their place in the order.

use std::collections::{HashMap, HashSet};

use sqlx::Row;
use vir_shared::keys::KEY_LEN;

use super::ingest::Ingest;
use crate::error::StoreError;
use crate::ops::Upsert;

/// Most upserts applied as one run.
pub(super) const MAX_RUN: usize = 500;
/// Rows per multi-row INSERT (4 parameters each, plus 2 shared).
const INSERT_CHUNK: usize = 250;
/// Keys per `IN (…)` lookup.
const LOOKUP_CHUNK: usize = 250;

/// A person key as stored: value and version.
type StoredKey = ([u8; KEY_LEN], i64);

impl Ingest<'_> {
    /// Applies a run of upserts (distinct signal refs), in order.
    pub(super) async fn upsert_run(&mut self, run: &[&Upsert]) -> Result<(), StoreError> {
        let mut new_refs = HashSet::new();
        for chunk in run.chunks(INSERT_CHUNK) {
            new_refs.extend(self.insert_new(chunk).await?);
        }
        let new_keys: Vec<StoredKey> = run
            .iter()
            .filter(|u| new_refs.contains(u.signal_ref.as_str()))
            .map(|u| stored_key(u))
            .collect();
        let candidates = self.other_regions_with(&new_keys).await?;
        for u in run {
            if new_refs.contains(u.signal_ref.as_str()) {
                let Some(others) = candidates.get(&stored_key(u)) else {
                    continue;
                };
                for (other_region, other_ref) in others {
                    self.create_match(&u.signal_ref, other_region, other_ref)
                        .await?;
                }
            } else {
                self.update_signal(u).await?;
                self.match_key(&u.signal_ref, &u.person_key, true).await?;
            }
        }
        Ok(())
    }

    /// Inserts the signals whose refs are new to this region; returns those refs.
    async fn insert_new(&mut self, chunk: &[&Upsert]) -> Result<Vec<String>, StoreError> {
        let mut sql = String::from(
            "INSERT INTO signals (region, signal_ref, person_key, key_version, municipality, \
             active, created_ms, updated_ms) VALUES ",
        );
        for i in 0..chunk.len() {
            let p = 3 + 4 * i;
            let sep = if i == 0 { "" } else { ", " };
            sql.push_str(&format!(
                "{sep}($1, ${p}, ${}, ${}, ${}, 1, $2, $2)",
                p + 1,
                p + 2,
                p + 3
            ));
        }
        sql.push_str(" ON CONFLICT (region, signal_ref) DO NOTHING RETURNING signal_ref");
        let mut query = sqlx::query(&sql)
            .bind(self.region.as_str())
            .bind(self.now_ms);
        for u in chunk {
            query = query
                .bind(u.signal_ref.as_str())
                .bind(u.person_key.value.to_vec())
                .bind(i64::from(u.person_key.version))
                .bind(u.municipality.as_str());
        }
        let rows = query.fetch_all(&mut *self.conn).await?;
        rows.iter()
            .map(|row| row.try_get::<String, _>(0).map_err(StoreError::from))
            .collect()
    }

    /// Active signals of other regions with one of `keys`, by key, in (region, ref) order.
    async fn other_regions_with(
        &mut self,
        keys: &[StoredKey],
    ) -> Result<HashMap<StoredKey, Vec<(String, String)>>, StoreError> {
        let mut found: HashMap<StoredKey, Vec<(String, String)>> = HashMap::new();
        for chunk in keys.chunks(LOOKUP_CHUNK) {
            let placeholders: Vec<String> =
                (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
            let sql = format!(
                "SELECT person_key, key_version, region, signal_ref FROM signals \
                 WHERE person_key IN ({}) AND active = 1 AND region <> $1 \
                 ORDER BY region, signal_ref",
                placeholders.join(", ")
            );
            let mut query = sqlx::query(&sql).bind(self.region.as_str());
            for (value, _) in chunk {
                query = query.bind(value.to_vec());
            }
            for row in query.fetch_all(&mut *self.conn).await? {
                let value: Vec<u8> = row.try_get(0)?;
                let value: [u8; KEY_LEN] = value.as_slice().try_into().map_err(|_| {
                    StoreError::Corrupt(format!("signals.person_key of {} bytes", value.len()))
                })?;
                let key = (value, row.try_get::<i64, _>(1)?);
                found
                    .entry(key)
                    .or_default()
                    .push((row.try_get(2)?, row.try_get(3)?));
            }
        }
        // A version mismatch is not a match: the lookup was by value only.
        let wanted: HashSet<&StoredKey> = keys.iter().collect();
        found.retain(|key, _| wanted.contains(key));
        Ok(found)
    }

    /// Re-activates or updates a known signal. A different key of the same version is another
    /// person: the signal's active matches end first.
    async fn update_signal(&mut self, u: &Upsert) -> Result<(), StoreError> {
        let region = self.region.as_str();
        let key = &u.person_key;
        let row = sqlx::query(
            "SELECT person_key, key_version, active FROM signals \
             WHERE region = $1 AND signal_ref = $2",
        )
        .bind(region)
        .bind(u.signal_ref.as_str())
        .fetch_one(&mut *self.conn)
        .await?;
        let old_key: Vec<u8> = row.try_get(0)?;
        let old_version: i64 = row.try_get(1)?;
        let was_active: i64 = row.try_get(2)?;
        let other_person =
            old_version == i64::from(key.version) && old_key.as_slice() != key.value.as_slice();
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
        .bind(key.value.to_vec())
        .bind(i64::from(key.version))
        .bind(u.municipality.as_str())
        .bind(self.now_ms)
        .execute(&mut *self.conn)
        .await?;
        Ok(())
    }
}

fn stored_key(u: &Upsert) -> StoredKey {
    (u.person_key.value, i64::from(u.person_key.version))
}
