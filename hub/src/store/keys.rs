//! The keys of a signal besides its person key (`signal_keys`: parents, address, fallback),
//! and reconciling a known signal's matches with its keys as they are now.
//!
//! A node re-upserts a signal when what it knows of the youth changes: new parents after a
//! registry change (a new partner, an adoption), a BSN linked to a signal made without one
//! (002 art. 8.5-8.7), an address. Then every active match of the signal whose basis is gone
//! ends (both sides are told), a pair that now matches more strongly gets the stronger match
//! instead of the weaker one (a candidate gives way to the client match: no duplicate), and new
//! partners get a match.

use sqlx::any::AnyRow;
use sqlx::Row;
use vir_shared::keys::KEY_LEN;

use super::ingest::Ingest;
use super::key_index::{insert_target, key_row, Role};
use super::kinds::{basis_gone, Kind, SignalKeys, StoredKey};
use super::shapes::insert_chunks;
use super::upsert::{keys_of_upsert, Partners};
use crate::error::StoreError;
use crate::ops::Upsert;

/// An active match of one of the submitting node's signals.
struct ActiveMatch {
    match_id: String,
    other_region: String,
    other_ref: String,
    kind: Kind,
}

fn key_from(value: Vec<u8>, version: i64, what: &str) -> Result<StoredKey, StoreError> {
    let value: [u8; KEY_LEN] = value
        .as_slice()
        .try_into()
        .map_err(|_| StoreError::Corrupt(format!("{what} of {} bytes", value.len())))?;
    Ok((value, version))
}

impl Ingest<'_> {
    /// Writes the parent, address and fallback keys of a run: the known refs' old keys go
    /// first, so `signal_keys` always holds what the last upsert said. On SQLite the key index
    /// learns both (`key_index.rs`): the deleted rows come back (`RETURNING`), the inserted
    /// ones get row ids it allots.
    pub(super) async fn replace_keys(
        &mut self,
        run: &[&Upsert],
        known: &[&Upsert],
    ) -> Result<(), StoreError> {
        for u in known {
            self.delete_other_keys(u.signal_ref.as_str()).await?;
        }
        let rows: Vec<(&str, &'static str, StoredKey)> = run
            .iter()
            .flat_map(|u| {
                keys_of_upsert(u)
                    .role_rows()
                    .into_iter()
                    .map(|(role, key)| (u.signal_ref.as_str(), role, key))
            })
            .collect();
        for chunk in insert_chunks(self.conn, &rows) {
            let first_row = self
                .index
                .as_mut()
                .map(|index| index.allot_key_rows(chunk.rows.len()));
            let (into, per_row) = insert_target(
                "signal_keys",
                "region, signal_ref, role, key_value, key_version",
                5,
                first_row.is_some(),
            );
            let sql = chunk.sql(&into, per_row, " ON CONFLICT DO NOTHING");
            let mut query = sqlx::query(&sql);
            for (row, (signal_ref, role, (value, version))) in
                (first_row.unwrap_or_default()..).zip(chunk.rows)
            {
                if first_row.is_some() {
                    query = query.bind(row);
                }
                query = query
                    .bind(self.region.as_str())
                    .bind(*signal_ref)
                    .bind(*role)
                    .bind(value.to_vec())
                    .bind(*version);
            }
            let inserted = chunk
                .pad(query, per_row)
                .execute(&mut *self.conn)
                .await?
                .rows_affected();
            if let Some(first_row) = first_row {
                self.index_inserted_keys(chunk.rows, first_row, inserted)
                    .await?;
            }
        }
        Ok(())
    }

    /// Tells the key index about the `inserted` rows of one insert into `signal_keys` whose
    /// `rows` got row ids from `first_row` on. A row the insert skipped (it was there already)
    /// has no row id: then the rows that did go in are read back.
    async fn index_inserted_keys(
        &mut self,
        rows: &[(&str, &'static str, StoredKey)],
        first_row: i64,
        inserted: u64,
    ) -> Result<(), StoreError> {
        let Some(index) = self.index.as_mut() else {
            return Ok(());
        };
        if usize::try_from(inserted).ok() == Some(rows.len()) {
            for (row, (_, role, (value, _))) in (first_row..).zip(rows) {
                index.added(Role::named(role)?, value, row)?;
            }
            return Ok(());
        }
        let back = sqlx::query(
            "SELECT rowid, role, substr(key_value, 1, 8) FROM signal_keys \
             WHERE rowid >= $1 AND rowid < $2",
        )
        .bind(first_row)
        .bind(first_row.saturating_add(i64::try_from(rows.len()).unwrap_or(i64::MAX)))
        .fetch_all(&mut *self.conn)
        .await?;
        for row in &back {
            let (row, role, prefix) = key_row(row)?;
            index.added(role, &prefix, row)?;
        }
        Ok(())
    }

    /// Deletes the parent, address and fallback keys of one of the sender's signals; on
    /// SQLite the key index learns which (see [`Ingest::delete_rows`]).
    pub(super) async fn delete_other_keys(&mut self, signal_ref: &str) -> Result<(), StoreError> {
        let deleted = self
            .delete_rows(
                "signal_keys",
                "rowid, role, substr(key_value, 1, 8)",
                signal_ref,
            )
            .await?;
        if let Some(index) = self.index.as_mut() {
            for row in &deleted {
                let (row, role, prefix) = key_row(row)?;
                index.removed(role, &prefix, row)?;
            }
        }
        Ok(())
    }

    /// Deletes the rows of `table` (`signals` or `signal_keys`, written into the SQL, never
    /// input) of one of the sender's signals. On SQLite each deleted row's `returning` columns
    /// come back (`RETURNING`), for the key index; on PostgreSQL nothing does.
    pub(super) async fn delete_rows(
        &mut self,
        table: &str,
        returning: &str,
        signal_ref: &str,
    ) -> Result<Vec<AnyRow>, StoreError> {
        let delete = format!("DELETE FROM {table} WHERE region = $1 AND signal_ref = $2");
        if self.index.is_none() {
            sqlx::query(&delete)
                .bind(self.region.as_str())
                .bind(signal_ref)
                .execute(&mut *self.conn)
                .await?;
            return Ok(Vec::new());
        }
        Ok(sqlx::query(&format!("{delete} RETURNING {returning}"))
            .bind(self.region.as_str())
            .bind(signal_ref)
            .fetch_all(&mut *self.conn)
            .await?)
    }

    /// Every key of a stored signal.
    async fn stored_keys(
        &mut self,
        region: &str,
        signal_ref: &str,
    ) -> Result<SignalKeys, StoreError> {
        let mut keys = SignalKeys::default();
        let row = sqlx::query(
            "SELECT person_key, key_version FROM signals WHERE region = $1 AND signal_ref = $2",
        )
        .bind(region)
        .bind(signal_ref)
        .fetch_optional(&mut *self.conn)
        .await?;
        if let Some(row) = row {
            let value: Option<Vec<u8>> = row.try_get(0)?;
            let version: Option<i64> = row.try_get(1)?;
            if let Some(value) = value {
                keys.person = Some(key_from(
                    value,
                    version.unwrap_or_default(),
                    "signals.person_key",
                )?);
            }
        }
        let rows = sqlx::query(
            "SELECT role, key_value, key_version FROM signal_keys \
             WHERE region = $1 AND signal_ref = $2",
        )
        .bind(region)
        .bind(signal_ref)
        .fetch_all(&mut *self.conn)
        .await?;
        for row in rows {
            let role: String = row.try_get(0)?;
            let key = key_from(row.try_get(1)?, row.try_get(2)?, "signal_keys.key_value")?;
            match role.as_str() {
                "parent" => keys.parents.push(key),
                "address" => keys.address = Some(key),
                "fallback" => keys.fallback = Some(key),
                other => return Err(StoreError::Corrupt(format!("signal_keys.role {other}"))),
            }
        }
        Ok(keys)
    }

    /// The active matches of one of this node's signals.
    async fn active_matches(&mut self, signal_ref: &str) -> Result<Vec<ActiveMatch>, StoreError> {
        self.flush_matches().await?;
        let rows = sqlx::query(
            "SELECT match_id, kind, region_a, ref_a, region_b, ref_b FROM matches \
             WHERE ended_ms IS NULL AND \
             ((region_a = $1 AND ref_a = $2) OR (region_b = $1 AND ref_b = $2))",
        )
        .bind(self.region.as_str())
        .bind(signal_ref)
        .fetch_all(&mut *self.conn)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let kind: String = row.try_get(1)?;
            let region_a: String = row.try_get(2)?;
            let ref_a: String = row.try_get(3)?;
            let (other_region, other_ref) =
                if region_a == self.region.as_str() && ref_a == signal_ref {
                    (row.try_get(4)?, row.try_get(5)?)
                } else {
                    (region_a, ref_a)
                };
            out.push(ActiveMatch {
                match_id: row.try_get(0)?,
                other_region,
                other_ref,
                kind: Kind::parse(&kind)
                    .ok_or_else(|| StoreError::Corrupt(format!("matches.kind {kind}")))?,
            });
        }
        Ok(out)
    }

    /// Brings a known signal's matches in line with its keys as they are now (module docs).
    pub(super) async fn reconcile(
        &mut self,
        u: &Upsert,
        partners: Partners,
    ) -> Result<(), StoreError> {
        let own = keys_of_upsert(u);
        let mut standing: Partners = Partners::new();
        for m in self.active_matches(u.signal_ref.as_str()).await? {
            let other = self.stored_keys(&m.other_region, &m.other_ref).await?;
            let wanted = partners.get(&(m.other_region.clone(), m.other_ref.clone()));
            let outgrown = wanted.is_some_and(|kind| *kind > m.kind);
            if basis_gone(m.kind, &own, &other) || outgrown {
                self.end_match(&m.match_id, &u.signal_ref, &m.other_region, &m.other_ref)
                    .await?;
            } else {
                standing.insert((m.other_region, m.other_ref), m.kind);
            }
        }
        for ((other_region, other_ref), kind) in partners {
            if standing.contains_key(&(other_region.clone(), other_ref.clone())) {
                continue;
            }
            self.create_match(&u.signal_ref, &other_region, &other_ref, kind)
                .await?;
        }
        Ok(())
    }
}
