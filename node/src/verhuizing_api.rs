//! The verhuizing RPCs (issue 5), delegated from [`crate::api`]: the designated officer's view of
//! moves out of and into the region, and accepting a hand-over (002 art. 15; 003 art. 14.1).
//! Each access is logged (NEN 7513), naming the youth by pseudonym only.

use chrono::{DateTime, SecondsFormat, Utc};
use prost::Message;
use tonic::{Request, Response, Status};
use vir_proto as pb;
use vir_shared::Bsn;

use crate::accesslog::Access;
use crate::api::NodeApi;
use crate::config::{Partner, Role};
use crate::party::Party;
use crate::signal::Contact;
use crate::store::moves::{self, MoveIn, MoveOut};
use crate::store::outbox::{self, OutboxOp};
use crate::store::StoreError;
use crate::verhuizing_remote::offer_aad;

fn rfc3339_ms(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn internal(e: StoreError) -> Status {
    tracing::error!(error = %e, "verhuizing storage failed");
    Status::internal("the regional index could not read or write the move")
}

/// The caller, who must be an administrator or a designated officer for moves.
async fn officer<T>(
    api: &NodeApi,
    request: &Request<T>,
    rpc: &'static str,
) -> Result<Partner, Status> {
    let partner = api.caller(request, rpc)?.clone();
    let designated = api.index.moves.officers.contains(&partner.oin);
    if partner.role != Role::Administrator && !designated {
        tracing::warn!(rpc, partner = %partner.oin, event = "admin_refused", "a partner that is not the administrator called a verhuizing RPC");
        let actor = api.actor(request, &partner);
        let access = Access {
            action: rpc,
            object: String::new(),
            youth: None,
            result: "PermissionDenied",
        };
        api.log(&actor, &[access]).await?;
        return Err(Status::permission_denied(
            "only the regional administrator or the designated officer may do this",
        ));
    }
    Ok(partner)
}

fn move_out_to_proto(m: &MoveOut) -> pb::MoveAway {
    pb::MoveAway {
        move_id: m.id.clone(),
        bsn: m.bsn.clone(),
        from_municipality: m.from_municipality.clone(),
        to_municipality: m.to_municipality.clone(),
        kind: m.kind.clone(),
        to_region: m.to_region.clone(),
        status: m.status.clone(),
        moved_on: m.moved_on.clone(),
        told: u32::try_from(m.told).unwrap_or(u32::MAX),
    }
}

fn move_in_to_proto(m: &MoveIn) -> pb::MoveIn {
    pb::MoveIn {
        move_id: m.id.clone(),
        from_region: m.from_region.clone(),
        municipality: m.municipality.clone(),
        status: m.status.clone(),
        package: m
            .package
            .as_deref()
            .and_then(|p| pb::HandoverPackage::decode(p).ok()),
        received_at: rfc3339_ms(m.received_ms),
        accepted_at: m.accepted_ms.map(rfc3339_ms).unwrap_or_default(),
        accepted_by: m.accepted_by.clone().unwrap_or_default(),
        offer_sent: m.offer_sent,
    }
}

pub async fn admin_list_moves(
    api: &NodeApi,
    request: Request<pb::AdminListMovesRequest>,
) -> Result<Response<pb::AdminListMovesResponse>, Status> {
    let partner = officer(api, &request, "AdminListMoves").await?;
    let actor = api.actor(&request, &partner);
    let (out, inn) = {
        let mut conn = api
            .index
            .db
            .pool
            .acquire()
            .await
            .map_err(|e| internal(e.into()))?;
        (
            moves::all_out(&mut conn).await.map_err(internal)?,
            moves::all_in(&mut conn).await.map_err(internal)?,
        )
    };
    let youths: Vec<Bsn> = out
        .iter()
        .map(|m| m.bsn.as_str())
        .chain(inn.iter().map(|m| m.bsn.as_str()))
        .filter_map(|b| b.parse().ok())
        .collect();
    let mut accesses: Vec<Access<'_>> = youths
        .iter()
        .map(|bsn| Access {
            action: "AdminListMoves",
            object: "moves".into(),
            youth: Some(bsn),
            result: "OK",
        })
        .collect();
    if accesses.is_empty() {
        accesses.push(Access {
            action: "AdminListMoves",
            object: "moves".into(),
            youth: None,
            result: "OK",
        });
    }
    api.log(&actor, &accesses).await?;
    Ok(Response::new(pb::AdminListMovesResponse {
        moves_out: out.iter().map(move_out_to_proto).collect(),
        moves_in: inn.iter().map(move_in_to_proto).collect(),
    }))
}

pub async fn admin_accept_handover(
    api: &NodeApi,
    request: Request<pb::AdminAcceptHandoverRequest>,
) -> Result<Response<pb::MoveIn>, Status> {
    let partner = officer(api, &request, "AdminAcceptHandover").await?;
    let actor = api.actor(&request, &partner);
    let body = request.get_ref();
    let move_id = body.move_id.trim().to_owned();
    if move_id.is_empty() {
        return Err(Status::invalid_argument("move_id: must not be empty"));
    }
    let index = &api.index;
    let offer = index.moves.handover_offer;
    let contact =
        match (&body.officer, offer) {
            (Some(c), true) => {
                let contact = Contact {
                    name: c.name.trim().to_owned(),
                    phone: c.phone.trim().to_owned(),
                    email: c.email.trim().to_owned(),
                };
                if contact.phone.is_empty() && contact.email.is_empty() {
                    return Err(Status::invalid_argument(
                        "officer: a phone number or an e-mail address is needed for the offer",
                    ));
                }
                Some(contact)
            }
            (None, true) => return Err(Status::invalid_argument(
                "officer: the contact details for the hand-over offer are missing (002 art. 15)",
            )),
            (_, false) => None,
        };
    let now_ms = index.clock.now().timestamp_millis();
    let mut tx = index.db.write().await.map_err(|e| internal(e.into()))?;
    let Some(record) = moves::get_in(&mut tx.tx, &move_id)
        .await
        .map_err(internal)?
    else {
        return Err(Status::not_found(format!(
            "move_id: no move into the region {move_id}"
        )));
    };
    let youth: Option<Bsn> = record.bsn.parse().ok();
    if record.status != "received" {
        drop(tx);
        let access = Access {
            action: "AdminAcceptHandover",
            object: format!("move:{move_id}"),
            youth: youth.as_ref(),
            result: "FailedPrecondition",
        };
        api.log(&actor, &[access]).await?;
        return Err(Status::failed_precondition(format!(
            "move_id: the move is {}, only a received move can be accepted",
            record.status
        )));
    }
    let mut offer_sent = false;
    if let Some(contact) = contact {
        let key: [u8; 32] = record
            .sender_key
            .as_deref()
            .and_then(|k| k.try_into().ok())
            .ok_or_else(|| {
                Status::failed_precondition(
                    "move_id: the sending node's certificate was refused when the move arrived",
                )
            })?;
        let party = Party {
            organisation: partner.organisation.clone(),
            oin: partner.oin.to_string(),
            category: partner.category.as_str().to_owned(),
            contact,
            region: index.region.to_string(),
            signalled_on: crate::store::format_date(index.clock.today()),
            signal_ref: String::new(),
        };
        let aad = offer_aad(&record.id, index.region.as_str(), &record.from_region);
        let sealed = vir_shared::envelope::seal(&key, &aad, party.to_json().as_bytes())
            .map_err(|_| Status::internal("sealing the hand-over offer failed"))?;
        let op = OutboxOp::HandoverOffer {
            move_id: record.id.clone(),
            to_region: record.from_region.clone(),
            sealed_hex: hex::encode(sealed),
        };
        outbox::append(&mut tx.tx, &op, now_ms)
            .await
            .map_err(internal)?;
        offer_sent = true;
    }
    moves::accept_in(
        &mut tx.tx,
        &record.id,
        partner.oin.as_str(),
        offer_sent,
        now_ms,
    )
    .await
    .map_err(internal)?;
    let updated = moves::get_in(&mut tx.tx, &record.id)
        .await
        .map_err(internal)?
        .ok_or_else(|| Status::internal("the accepted move disappeared"))?;
    tx.commit().await.map_err(|e| internal(e.into()))?;
    if offer_sent {
        index.outbox_written.notify_one();
    }
    api.log(
        &actor,
        &[Access {
            action: "AdminAcceptHandover",
            object: format!("move:{}", record.id),
            youth: youth.as_ref(),
            result: "OK",
        }],
    )
    .await?;
    tracing::info!(move_id = %record.id, offer_sent, "hand-over accepted");
    Ok(Response::new(move_in_to_proto(&updated)))
}
