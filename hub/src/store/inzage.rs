//! Inzage across regions (issue 6, "Rights"): a node asks for the exports of the other regions
//! about one youth, and each of them answers with its export sealed to the requester's
//! certified HPKE key. The hub only routes: it asks the regions that have or had a signal with
//! the person key (it holds those keys already), records who asked and whom it asked, and
//! relays an answer from an asked region back to the requester only. It cannot open an answer.

use std::collections::BTreeSet;

use sqlx::Row;
use vir_proto as pb;
use vir_shared::keys::PseudoKey;
use vir_shared::RegionCode;

use super::ingest::Ingest;
use super::key_index::{prefix_of, regions_with_person_key, Role};
use super::prefix::{key_prefix, REGIONS_WITH_PERSON_KEY};
use super::shapes::{max_rows, padded, Placeholders};
use crate::error::{HubError, StoreError};
use crate::ops::{InzageAnswer, InzageRequest};

impl Ingest<'_> {
    /// The regions other than the sender's with a signal (any status) on `person_key`, in
    /// order. Stored region codes are valid; anything else is skipped rather than failing.
    async fn regions_with_person_key(
        &mut self,
        person_key: &PseudoKey,
    ) -> Result<Vec<RegionCode>, StoreError> {
        let mut found = BTreeSet::new();
        if let Some(index) = &self.index {
            // SQLite: the rows the key index names (`key_index.rs`).
            let rows = index.rows_with(Role::Person, &[prefix_of(&person_key.value)?]);
            for list in padded(&rows, max_rows(self.conn)) {
                let sql =
                    regions_with_person_key(&Placeholders::for_conn(self.conn).list(list.len()));
                let mut query = sqlx::query(&sql)
                    .bind(self.region.as_str())
                    .bind(person_key.value.to_vec())
                    .bind(i64::from(person_key.version));
                for row in list {
                    query = query.bind(row);
                }
                for row in query.fetch_all(&mut *self.conn).await? {
                    found.insert(row.try_get::<String, _>(0)?);
                }
            }
        } else {
            let rows = sqlx::query(REGIONS_WITH_PERSON_KEY)
                .bind(person_key.value.to_vec())
                .bind(i64::from(person_key.version))
                .bind(self.region.as_str())
                .bind(key_prefix(&person_key.value))
                .fetch_all(&mut *self.conn)
                .await?;
            for row in rows {
                found.insert(row.try_get::<String, _>(0)?);
            }
        }
        Ok(found
            .into_iter()
            .filter_map(|region| region.parse::<RegionCode>().ok())
            .collect())
    }

    /// Records the request and appends `InzageRequested` to the feed of every other region
    /// with a signal (any status) on `person_key`, and `InzageForwarded` to the requester's.
    pub(super) async fn inzage_request(
        &mut self,
        op_id: u64,
        request: &InzageRequest,
    ) -> Result<(), HubError> {
        let (request_id, person_key) = (request.request_id.as_str(), &request.person_key);
        let existing = sqlx::query("SELECT from_region FROM inzage_requests WHERE request_id = $1")
            .bind(request_id)
            .fetch_optional(&mut *self.conn)
            .await?;
        if let Some(row) = existing {
            let from: String = row.try_get(0)?;
            if from != self.region.as_str() {
                return Err(HubError::precondition(format!(
                    "operation {op_id}: inzage_request.request_id: already used by another region"
                )));
            }
            // The same region asking again under the same id: already routed.
            return Ok(());
        }
        let asked = self.regions_with_person_key(person_key).await?;
        sqlx::query(
            "INSERT INTO inzage_requests (request_id, from_region, asked, created_ms) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(request_id)
        .bind(self.region.as_str())
        .bind(
            asked
                .iter()
                .map(RegionCode::as_str)
                .collect::<Vec<_>>()
                .join(","),
        )
        .bind(self.now_ms)
        .execute(&mut *self.conn)
        .await?;
        let chain = self.chain(&self.region.clone()).await?;
        let from_region = self.region.to_string();
        for region in &asked {
            let body = pb::feed_item::Body::InzageRequested(pb::InzageRequested {
                request_id: request_id.to_owned(),
                from_region: from_region.clone(),
                person_key: Some(pb::PseudoKey::from(person_key)),
                requester_chain: chain.clone(),
            });
            self.append(region, body);
        }
        let forwarded = pb::feed_item::Body::InzageForwarded(pb::InzageForwarded {
            request_id: request_id.to_owned(),
            to_regions: asked.iter().map(RegionCode::to_string).collect(),
        });
        let requester = self.region.clone();
        self.append(&requester, forwarded);
        tracing::info!(op_id, request_id, from_region = %from_region, regions_asked = asked.len(), "inzage request routed");
        Ok(())
    }

    /// Relays a sealed answer to the requester, if the request came from `to_region` and the
    /// sender was asked.
    pub(super) async fn inzage_answer(
        &mut self,
        op_id: u64,
        answer: &InzageAnswer,
    ) -> Result<(), HubError> {
        let (request_id, to_region, sealed) = (
            answer.request_id.as_str(),
            &answer.to_region,
            &answer.sealed,
        );
        let refuse = |reason: &str| {
            HubError::precondition(format!("operation {op_id}: inzage_answer: {reason}"))
        };
        let row =
            sqlx::query("SELECT from_region, asked FROM inzage_requests WHERE request_id = $1")
                .bind(request_id)
                .fetch_optional(&mut *self.conn)
                .await?
                .ok_or_else(|| refuse("unknown request"))?;
        let (from, asked): (String, String) = (row.try_get(0)?, row.try_get(1)?);
        if from != to_region.as_str() {
            return Err(refuse("to_region is not the region that asked"));
        }
        if !asked.split(',').any(|r| r == self.region.as_str()) {
            return Err(refuse("the sender's region was not asked"));
        }
        let body = pb::feed_item::Body::InzageAnswered(pb::InzageAnswered {
            request_id: request_id.to_owned(),
            from_region: self.region.to_string(),
            sealed: sealed.to_vec(),
        });
        self.append(to_region, body);
        self.outcome.envelopes += 1;
        tracing::info!(op_id, request_id, to_region = %to_region, "inzage answer relayed");
        Ok(())
    }
}
