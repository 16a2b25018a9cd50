//! Inzage across regions (issue 6, "Rights"; 002 art. 18-19; 003 art. 17): the administrator's
//! request through the hub to the other regions, and this node's answers to theirs.
//!
//! - Request ([`RegionalIndex::inzage_all_regions`]): the regional export (rights holder checked
//!   as for [`RegionalIndex::inzage`]), stored with the request, and an outbox `inzage_request`
//!   carrying the youth; the forwarder puts the person key in its place (fetched if not cached).
//!   The hub asks every other region with a signal on that key and says which it asked
//!   (`InzageForwarded`).
//! - Answer (`InzageRequested`): verify the requester's chain (OU = the requesting region, an
//!   HPKE key), build this region's export for the youth whose cached person key is the key
//!   (an empty one when unknown, so the requester knows the region answered), seal it to that
//!   key with `request_id|from|to` as associated data, queue an outbox `inzage_answer`, and log
//!   the disclosure in the access log. The export is built before the feed transaction (it
//!   reads with the pool), the outbox append and the log entry are in it.
//! - `InzageAnswered`: open, check it is JSON, store it with the request, once.

use std::path::Path;

use rustls::pki_types::UnixTime;
use serde_json::{json, Value};
use sqlx::AnyConnection;
use vir_proto as pb;
use vir_shared::{Bsn, RegionCode};

use crate::accesslog::Actor;
use crate::index::RegionalIndex;
use crate::inzage::Export;
use crate::remote::{envelope_aad, Applied, Context};
use crate::rules::{Addressee, RuleError};
use crate::store::inzage::{self as store, InzageAnswer, InzageRequest};
use crate::store::outbox::{self, OutboxOp};
use crate::store::StoreError;

/// Largest sealed export the hub relays (`vir_hub::ops::MAX_INZAGE_SEALED_LEN`).
pub const MAX_SEALED_LEN: usize = 1024 * 1024;

/// This node's answer to another region's request, prepared before the feed transaction.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub op: OutboxOp,
    pub from_region: String,
    /// The youth the export is about, when this region knows the key.
    pub youth: Option<Bsn>,
}

/// The result of one request, for `AdminInzageResult`.
#[derive(Debug, Clone)]
pub struct InzageResult {
    pub request: InzageRequest,
    pub answers: Vec<InzageAnswer>,
    pub pending: Vec<String>,
}

impl RegionalIndex {
    /// The regional export, and a request to the other regions through the hub.
    pub async fn inzage_all_regions(
        &self,
        admin_oin: &str,
        bsn: &Bsn,
        requested_by: Addressee,
        youth_not_capable: bool,
    ) -> Result<(String, Export), RuleError> {
        let export = self.inzage(bsn, requested_by, youth_not_capable).await?;
        let request_id = uuid::Uuid::new_v4().to_string();
        let now_ms = self.clock.now().timestamp_millis();
        let request = InzageRequest {
            request_id: request_id.clone(),
            bsn: bsn.as_str().to_owned(),
            requested_by_oin: admin_oin.to_owned(),
            regional_export: serde_json::to_string(&export.json).unwrap_or_default(),
            created_ms: now_ms,
            asked: None,
        };
        let mut tx = self.db.write().await.map_err(StoreError::from)?;
        store::insert_request(&mut tx.tx, &request).await?;
        let op = OutboxOp::InzageRequest {
            request_id: request_id.clone(),
            bsn: bsn.as_str().to_owned(),
        };
        outbox::append(&mut tx.tx, &op, now_ms).await?;
        tx.commit().await.map_err(StoreError::from)?;
        self.outbox_written.notify_one();
        tracing::info!(request_id = %request_id, "inzage request to the other regions queued");
        Ok((request_id, export))
    }

    /// A request of this node with the answers so far; None if unknown.
    pub async fn inzage_result(
        &self,
        request_id: &str,
    ) -> Result<Option<InzageResult>, StoreError> {
        let mut conn = self.db.pool.acquire().await?;
        let Some(request) = store::request(&mut conn, request_id).await? else {
            return Ok(None);
        };
        let answers = store::answers(&mut conn, request_id).await?;
        let pending = request
            .asked
            .iter()
            .flatten()
            .filter(|r| !answers.iter().any(|a| &a.region == *r))
            .cloned()
            .collect();
        Ok(Some(InzageResult {
            request,
            answers,
            pending,
        }))
    }

    /// Prepares the answer to an `InzageRequested` item; `None` for any other item, an error
    /// (the reason names no person) when it cannot be answered.
    pub async fn prepare_inzage_answer(
        &self,
        ca: &Path,
        item: &pb::FeedItem,
    ) -> Result<Option<Result<Prepared, &'static str>>, StoreError> {
        let Some(pb::feed_item::Body::InzageRequested(r)) = &item.body else {
            return Ok(None);
        };
        Ok(Some(self.prepare(ca, r).await?))
    }

    async fn prepare(
        &self,
        ca: &Path,
        r: &pb::InzageRequested,
    ) -> Result<Result<Prepared, &'static str>, StoreError> {
        let Ok(request_id) = uuid::Uuid::parse_str(&r.request_id) else {
            return Ok(Err("InzageRequested: malformed request id"));
        };
        let request_id = request_id.hyphenated().to_string();
        let Ok(from) = r.from_region.parse::<RegionCode>() else {
            return Ok(Err("InzageRequested: malformed region"));
        };
        if from == self.region {
            return Ok(Err("InzageRequested: from this node's own region"));
        }
        let Some(key) = r.person_key.clone() else {
            return Ok(Err("InzageRequested: no person key"));
        };
        let Ok(key) = vir_shared::keys::PseudoKey::try_from(key) else {
            return Ok(Err("InzageRequested: malformed person key"));
        };
        let recipient = match vir_shared::tls::verify_chain(&r.requester_chain, ca, UnixTime::now())
        {
            Ok(peer) if peer.organisational_unit.as_deref() != Some(from.as_str()) => {
                return Ok(Err(
                    "InzageRequested: certificate is not for the requesting region",
                ))
            }
            Ok(peer) => match peer.hpke_public_key {
                Some(k) => k,
                None => return Ok(Err("InzageRequested: certificate carries no HPKE key")),
            },
            Err(_) => return Ok(Err("InzageRequested: requester's chain does not verify")),
        };
        let mut conn = self.db.pool.acquire().await?;
        let bsn = store::youth_with_key(&mut conn, &key.value, key.version).await?;
        drop(conn);
        let youth = bsn.and_then(|b| b.parse::<Bsn>().ok());
        let requested_by = format!("the administrator of region {from}, through the national hub");
        let export = match &youth {
            Some(bsn) => match self.export(bsn, &requested_by).await {
                Ok(export) => Some(export.json),
                Err(RuleError::Store(e)) => return Err(e),
                Err(_) => None,
            },
            None => None,
        };
        let export = export.unwrap_or_else(|| self.empty_export(&requested_by));
        let aad = envelope_aad(&request_id, self.region.as_str(), from.as_str());
        let mut plain = serde_json::to_vec(&export).unwrap_or_default();
        // HPKE adds a fixed overhead; keep well within what the hub relays.
        if plain.len() > MAX_SEALED_LEN - 1024 {
            plain = serde_json::to_vec(&json!({
                "region": self.region.as_str(),
                "error": "the export is too large to send through the national hub; \
                    ask this region's administrator directly",
            }))
            .unwrap_or_default();
        }
        let Ok(sealed) = vir_shared::envelope::seal(&recipient, &aad, &plain) else {
            return Ok(Err("InzageRequested: unusable HPKE key"));
        };
        Ok(Ok(Prepared {
            op: OutboxOp::InzageAnswer {
                request_id,
                to_region: from.to_string(),
                sealed_hex: hex::encode(sealed),
            },
            from_region: from.to_string(),
            youth,
        }))
    }

    fn empty_export(&self, requested_by: &str) -> Value {
        json!({
            "region": self.region.as_str(),
            "produced_at": chrono::DateTime::from_timestamp_millis(self.clock.now().timestamp_millis())
                .unwrap_or_default()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "requested_by": requested_by,
            "youth": Value::Null,
            "signals": [],
            "matches": [],
            "given_to": [],
            "note": "this region holds no data about the youth",
        })
    }

    /// Logs the disclosure of an answer in the feed transaction.
    pub async fn audit_inzage_answer(
        &self,
        conn: &mut AnyConnection,
        prepared: &Prepared,
    ) -> Result<(), StoreError> {
        let actor = Actor {
            oin: String::new(),
            organisation: format!("node of region {}", prepared.from_region),
            on_behalf_of: format!("the administrator of region {}", prepared.from_region),
        };
        self.audit_in(
            conn,
            &actor,
            "InzageAnswer",
            "youth",
            prepared.youth.as_ref(),
            "OK",
        )
        .await
    }
}

/// `InzageRequested`: queue the prepared answer.
pub async fn requested(conn: &mut AnyConnection, cx: &Context<'_>) -> Result<Applied, StoreError> {
    match cx.inzage_answer {
        Some(Ok(prepared)) => {
            outbox::append(conn, &prepared.op, cx.clock.now().timestamp_millis()).await?;
            tracing::info!(from_region = %prepared.from_region, known = prepared.youth.is_some(), "inzage answer queued");
            Ok(Applied::Done { outbox: true })
        }
        Some(Err(reason)) => Ok(Applied::Skipped(reason)),
        None => Ok(Applied::Skipped("InzageRequested: no answer prepared")),
    }
}

/// `InzageForwarded`: the regions the hub asked.
pub async fn forwarded(
    conn: &mut AnyConnection,
    f: pb::InzageForwarded,
) -> Result<Applied, StoreError> {
    let regions: Vec<String> = f
        .to_regions
        .iter()
        .filter_map(|r| r.parse::<RegionCode>().ok())
        .map(|r| r.to_string())
        .collect();
    if regions.len() != f.to_regions.len() {
        return Ok(Applied::Skipped("InzageForwarded: malformed region"));
    }
    if !store::set_asked(conn, &f.request_id, &regions).await? {
        return Ok(Applied::Skipped("InzageForwarded: unknown request"));
    }
    tracing::info!(request_id = %f.request_id, regions_asked = regions.len(), "inzage request forwarded by the hub");
    Ok(Applied::Done { outbox: false })
}

/// `InzageAnswered`: open and store, once.
pub async fn answered(
    conn: &mut AnyConnection,
    cx: &Context<'_>,
    a: pb::InzageAnswered,
) -> Result<Applied, StoreError> {
    let Some(request) = store::request(conn, &a.request_id).await? else {
        return Ok(Applied::Skipped("InzageAnswered: unknown request"));
    };
    let Ok(from) = a.from_region.parse::<RegionCode>() else {
        return Ok(Applied::Skipped("InzageAnswered: malformed region"));
    };
    if let Some(asked) = &request.asked {
        if !asked.iter().any(|r| r == from.as_str()) {
            return Ok(Applied::Skipped("InzageAnswered: region was not asked"));
        }
    }
    let aad = envelope_aad(&request.request_id, from.as_str(), cx.region.as_str());
    let Ok(plain) = vir_shared::envelope::open(cx.hpke_private_key, &aad, &a.sealed) else {
        return Ok(Applied::Skipped("InzageAnswered: does not open"));
    };
    let Ok(export) = serde_json::from_slice::<Value>(&plain) else {
        return Ok(Applied::Skipped("InzageAnswered: content is not JSON"));
    };
    let answer = InzageAnswer {
        region: from.to_string(),
        export: export.to_string(),
        answered_ms: cx.clock.now().timestamp_millis(),
    };
    if store::insert_answer(conn, &request.request_id, &answer).await? {
        tracing::info!(request_id = %request.request_id, from_region = %from, "inzage answer opened and stored");
    }
    Ok(Applied::Done { outbox: false })
}
