//! The administrator's RPCs (functioneel beheerder): destroy, correct, bezwaar, inzage,
//! deadlines, tasks and the access log. Each first checks the caller's role
//! (`role = "administrator"`), else PERMISSION_DENIED, logged.

use tonic::{Request, Response, Status};
use vir_proto as pb;
use vir_shared::Bsn;

use super::views::{self, notice_to_proto, objection_to_proto};
use super::{bad, bsn, date, rule_status};
use crate::accesslog::Access;
use crate::api::NodeApi;
use crate::lifecycle::DestroyWhy;
use crate::rights::NewObjection;
use crate::rules::Addressee;
use crate::signal::{Contact, InvalidField};
use crate::store::objections::Outcome;

pub async fn admin_destroy_signal(
    api: &NodeApi,
    request: Request<pb::AdminDestroySignalRequest>,
) -> Result<Response<pb::AdminDestroySignalResponse>, Status> {
    const RPC: &str = "AdminDestroySignal";
    let (admin, actor) = api.admin(&request, RPC).await?;
    let req = request.into_inner();
    let why = match pb::DestroyReason::try_from(req.reason) {
        Ok(pb::DestroyReason::ObjectionUpheld) => DestroyWhy::ObjectionUpheld,
        Ok(pb::DestroyReason::Wrong) => DestroyWhy::Wrong,
        _ => {
            return Err(bad(
                "reason",
                "say why: wrong (003 art. 16.3) or objection_upheld (003 art. 16.6)",
            ))
        }
    };
    let youth = api.youth_of(&req.signal_id).await;
    let result = api
        .index
        .admin_destroy(&admin, &req.signal_id, why)
        .await
        .map_err(|e| rule_status(e, RPC));
    let told = api
        .logged(
            &actor,
            RPC,
            format!("signal:{}", req.signal_id.trim()),
            youth.as_ref(),
            result,
        )
        .await?;
    Ok(Response::new(pb::AdminDestroySignalResponse {
        signal_id: req.signal_id.trim().to_owned(),
        signallers_told: u32::try_from(told).unwrap_or(u32::MAX),
    }))
}

pub async fn admin_correct_signal(
    api: &NodeApi,
    request: Request<pb::AdminCorrectSignalRequest>,
) -> Result<Response<pb::Signal>, Status> {
    const RPC: &str = "AdminCorrectSignal";
    let (_, actor) = api.admin(&request, RPC).await?;
    let req = request.into_inner();
    let result = async {
        let contact = Contact::try_from(
            req.signaller
                .clone()
                .ok_or_else(|| bad("signaller", "required"))?,
        )
        .map_err(|e: InvalidField| Status::invalid_argument(e.to_string()))?;
        let signal = api
            .index
            .correct_signal(&req.signal_id, contact)
            .await
            .map_err(|e| rule_status(e, RPC))?;
        api.signal_reply(&signal).await
    }
    .await;
    let youth = api.youth_of(&req.signal_id).await;
    api.logged(
        &actor,
        RPC,
        format!("signal:{}", req.signal_id.trim()),
        youth.as_ref(),
        result,
    )
    .await
    .map(Response::new)
}

pub async fn admin_lodge_objection(
    api: &NodeApi,
    request: Request<pb::AdminLodgeObjectionRequest>,
) -> Result<Response<pb::Objection>, Status> {
    const RPC: &str = "AdminLodgeObjection";
    let (admin, actor) = api.admin(&request, RPC).await?;
    let req = request.into_inner();
    let youth = bsn(&req.bsn)?;
    let result = async {
        let new = NewObjection {
            bsn: youth.clone(),
            signal_id: Some(req.signal_id.clone()).filter(|s| !s.trim().is_empty()),
            lodged_on: date(&req.lodged_on, "lodged_on")?,
            lodged_by: Addressee::from_proto(req.lodged_by)
                .ok_or_else(|| bad("lodged_by", "parents, parents_and_youth or youth"))?,
            youth_not_capable: req.youth_not_capable,
            informed_on: date(&req.informed_on, "informed_on")?,
        };
        api.index
            .lodge_objection(&admin, new)
            .await
            .map_err(|e| rule_status(e, RPC))
    }
    .await;
    let objection = api
        .logged(&actor, RPC, "objection".into(), Some(&youth), result)
        .await?;
    Ok(Response::new(objection_to_proto(&objection)))
}

pub async fn admin_decide_objection(
    api: &NodeApi,
    request: Request<pb::AdminDecideObjectionRequest>,
) -> Result<Response<pb::Objection>, Status> {
    const RPC: &str = "AdminDecideObjection";
    let (admin, actor) = api.admin(&request, RPC).await?;
    let req = request.into_inner();
    let outcome = match pb::ObjectionOutcome::try_from(req.outcome) {
        Ok(pb::ObjectionOutcome::Upheld) => Outcome::Upheld,
        Ok(pb::ObjectionOutcome::NoLongerNeeded) => Outcome::NoLongerNeeded,
        Ok(pb::ObjectionOutcome::Rejected) => Outcome::Rejected,
        _ => return Err(bad("outcome", "upheld, no_longer_needed or rejected")),
    };
    let result = async {
        let on = date(&req.decided_on, "decided_on")?;
        api.index
            .decide_objection(&admin, &req.objection_id, outcome, on)
            .await
            .map_err(|e| rule_status(e, RPC))
    }
    .await;
    let youth = result.as_ref().ok().and_then(|o| o.bsn.parse::<Bsn>().ok());
    let objection = api
        .logged(
            &actor,
            RPC,
            format!("objection:{}", req.objection_id.trim()),
            youth.as_ref(),
            result,
        )
        .await?;
    Ok(Response::new(objection_to_proto(&objection)))
}

pub async fn admin_list_objections(
    api: &NodeApi,
    request: Request<pb::AdminListObjectionsRequest>,
) -> Result<Response<pb::AdminListObjectionsResponse>, Status> {
    const RPC: &str = "AdminListObjections";
    let (_, actor) = api.admin(&request, RPC).await?;
    let list = api
        .index
        .objections(request.get_ref().open_only)
        .await
        .map_err(|e| rule_status(e, RPC))?;
    let youths: Vec<Option<Bsn>> = list.iter().map(|o| o.bsn.parse().ok()).collect();
    let accesses: Vec<Access> = list
        .iter()
        .zip(&youths)
        .map(|(o, y)| Access {
            action: RPC,
            object: format!("objection:{}", o.id),
            youth: y.as_ref(),
            result: "ok",
        })
        .collect();
    api.log(&actor, &accesses).await?;
    Ok(Response::new(pb::AdminListObjectionsResponse {
        objections: list.iter().map(objection_to_proto).collect(),
    }))
}

pub async fn admin_inzage(
    api: &NodeApi,
    request: Request<pb::AdminInzageRequest>,
) -> Result<Response<pb::AdminInzageResponse>, Status> {
    const RPC: &str = "AdminInzage";
    let (_, actor) = api.admin(&request, RPC).await?;
    let req = request.into_inner();
    let youth = bsn(&req.bsn)?;
    let by = Addressee::from_proto(req.requested_by)
        .ok_or_else(|| bad("requested_by", "parents, parents_and_youth or youth"))?;
    // The export lists the access log, this access included: log first.
    let result = api
        .index
        .inzage(&youth, by, req.youth_not_capable)
        .await
        .map_err(|e| rule_status(e, RPC));
    api.logged(
        &actor,
        RPC,
        "youth".into(),
        Some(&youth),
        Ok::<(), Status>(()),
    )
    .await?;
    let export = result?;
    Ok(Response::new(pb::AdminInzageResponse {
        export_json: serde_json::to_string_pretty(&export.json).unwrap_or_default(),
        signals: u32::try_from(export.signals).unwrap_or(u32::MAX),
        access_log_entries: u32::try_from(export.access_log_entries).unwrap_or(u32::MAX),
    }))
}

/// The regional export and a request through the hub to the other regions (issue 6, "Rights").
pub async fn admin_inzage_all_regions(
    api: &NodeApi,
    request: Request<pb::AdminInzageRequest>,
) -> Result<Response<pb::AdminInzageAllRegionsResponse>, Status> {
    const RPC: &str = "AdminInzageAllRegions";
    let (admin, actor) = api.admin(&request, RPC).await?;
    let req = request.into_inner();
    let youth = bsn(&req.bsn)?;
    let by = Addressee::from_proto(req.requested_by)
        .ok_or_else(|| bad("requested_by", "parents, parents_and_youth or youth"))?;
    // The export lists the access log, this access included: log first.
    api.logged(
        &actor,
        RPC,
        "youth".into(),
        Some(&youth),
        Ok::<(), Status>(()),
    )
    .await?;
    let (request_id, export) = api
        .index
        .inzage_all_regions(admin.oin.as_str(), &youth, by, req.youth_not_capable)
        .await
        .map_err(|e| rule_status(e, RPC))?;
    Ok(Response::new(pb::AdminInzageAllRegionsResponse {
        request_id,
        regional: Some(pb::AdminInzageResponse {
            export_json: serde_json::to_string_pretty(&export.json).unwrap_or_default(),
            signals: u32::try_from(export.signals).unwrap_or(u32::MAX),
            access_log_entries: u32::try_from(export.access_log_entries).unwrap_or(u32::MAX),
        }),
    }))
}

/// A request's regional export, the other regions' opened answers and who is still pending.
pub async fn admin_inzage_result(
    api: &NodeApi,
    request: Request<pb::AdminInzageResultRequest>,
) -> Result<Response<pb::AdminInzageResultResponse>, Status> {
    const RPC: &str = "AdminInzageResult";
    let (_, actor) = api.admin(&request, RPC).await?;
    let request_id = request.into_inner().request_id.trim().to_lowercase();
    let found = api
        .index
        .inzage_result(&request_id)
        .await
        .map_err(|e| rule_status(e.into(), RPC))?;
    let youth = found
        .as_ref()
        .and_then(|r| r.request.bsn.parse::<Bsn>().ok());
    let result = found.ok_or_else(|| Status::not_found("no inzage request with this id"));
    let result = api
        .logged(
            &actor,
            RPC,
            format!("inzage request {request_id}"),
            youth.as_ref(),
            result,
        )
        .await?;
    let pretty = |text: &str| {
        serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .and_then(|v| serde_json::to_string_pretty(&v).ok())
            .unwrap_or_else(|| text.to_owned())
    };
    Ok(Response::new(pb::AdminInzageResultResponse {
        request_id: result.request.request_id.clone(),
        regional_export_json: pretty(&result.request.regional_export),
        answers: result
            .answers
            .iter()
            .map(|a| pb::RegionInzageAnswer {
                region: a.region.clone(),
                export_json: pretty(&a.export),
                answered_unix_ms: a.answered_ms,
            })
            .collect(),
        pending_regions: result.pending.clone(),
        forwarded: result.request.asked.is_some(),
        requested_unix_ms: result.request.created_ms,
    }))
}

pub async fn admin_deadlines(
    api: &NodeApi,
    request: Request<pb::AdminDeadlinesRequest>,
) -> Result<Response<pb::AdminDeadlinesResponse>, Status> {
    const RPC: &str = "AdminDeadlines";
    let (admin, actor) = api.admin(&request, RPC).await?;
    let overview = api
        .index
        .deadline_overview(&admin)
        .await
        .map_err(|e| rule_status(e, RPC))?;
    let youths: Vec<Option<Bsn>> = overview
        .missed
        .iter()
        .map(|(c, _)| c.bsn.parse().ok())
        .collect();
    let accesses: Vec<Access> = overview
        .missed
        .iter()
        .zip(&youths)
        .map(|((c, _), y)| Access {
            action: RPC,
            object: format!("match:{}", c.match_id),
            youth: y.as_ref(),
            result: "ok",
        })
        .collect();
    api.log(&actor, &accesses).await?;
    Ok(Response::new(views::overview_to_proto(
        &overview,
        api.index.clock.today(),
    )))
}

pub async fn admin_access_log(
    api: &NodeApi,
    request: Request<pb::AdminAccessLogRequest>,
) -> Result<Response<pb::AdminAccessLogResponse>, Status> {
    const RPC: &str = "AdminAccessLog";
    let (_, actor) = api.admin(&request, RPC).await?;
    let req = request.into_inner();
    let youth = match req.bsn.trim() {
        "" => None,
        b => Some(bsn(b)?),
    };
    let actor_oin = Some(req.actor_oin.trim()).filter(|o| !o.is_empty());
    let limit = if req.limit == 0 {
        500
    } else {
        i64::from(req.limit.min(10_000))
    };
    let from = i64::try_from(req.from_seq).unwrap_or(i64::MAX);
    let entries = api
        .index
        .access_log(from, youth.as_ref(), actor_oin, limit)
        .await
        .map_err(|e| rule_status(e.into(), RPC))?;
    api.log(
        &actor,
        &[Access {
            action: RPC,
            object: "access_log".into(),
            youth: youth.as_ref(),
            result: "ok",
        }],
    )
    .await?;
    Ok(Response::new(pb::AdminAccessLogResponse {
        entries: entries.iter().map(views::entry_to_proto).collect(),
    }))
}

pub async fn admin_verify_access_log(
    api: &NodeApi,
    request: Request<pb::AdminVerifyAccessLogRequest>,
) -> Result<Response<pb::AdminVerifyAccessLogResponse>, Status> {
    const RPC: &str = "AdminVerifyAccessLog";
    let (_, _actor) = api.admin(&request, RPC).await?;
    let anchors = request
        .get_ref()
        .anchors
        .iter()
        .map(|a| a.parse::<crate::accesslog::Anchor>())
        .collect::<Result<Vec<_>, String>>()
        .map_err(|reason| bad("anchors", &reason))?;
    let v = api
        .index
        .verify_access_log(&anchors)
        .await
        .map_err(|e| rule_status(e.into(), RPC))?;
    if let Some((seq, problem)) = &v.broken {
        tracing::error!(seq, %problem, event = "access_log_broken", "the access log's hash chain is broken");
    }
    Ok(Response::new(pb::AdminVerifyAccessLogResponse {
        intact: v.broken.is_none(),
        entries: v.entries,
        first_bad_seq: v.broken.as_ref().map_or(0, |b| b.0),
        problem: v.broken.map(|b| b.1).unwrap_or_default(),
        head: v.head.to_string(),
    }))
}

pub async fn admin_close_task(
    api: &NodeApi,
    request: Request<pb::AdminCloseTaskRequest>,
) -> Result<Response<pb::Notice>, Status> {
    const RPC: &str = "AdminCloseTask";
    let (admin, actor) = api.admin(&request, RPC).await?;
    let req = request.into_inner();
    let result = api
        .index
        .close_task(&admin, &req.notice_id)
        .await
        .map_err(|e| rule_status(e, RPC));
    let youth = result.as_ref().ok().and_then(|n| n.bsn.parse::<Bsn>().ok());
    let notice = api
        .logged(
            &actor,
            RPC,
            format!("notice:{}", req.notice_id.trim()),
            youth.as_ref(),
            result,
        )
        .await?;
    Ok(Response::new(notice_to_proto(&notice)))
}
