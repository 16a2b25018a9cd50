//! The partner and administrator RPCs of the regions' rules, delegated from [`crate::api`], and
//! the access logging that every RPC touching personal data does (NEN 7513, see
//! [`crate::accesslog`]).
//!
//! Administrators are the partners configured with `role = "administrator"`; any other caller
//! of an `Admin*` RPC gets PERMISSION_DENIED, logged. A read is logged before its answer leaves:
//! if the log cannot be written, the caller gets INTERNAL and no data.

use chrono::NaiveDate;
use tonic::{Request, Response, Status};
use vir_proto as pb;
use vir_shared::Bsn;

use crate::accesslog::Access;
use crate::api::NodeApi;
use crate::informing::InformingRecord;
use crate::rules::{Addressee, RuleError};

mod admin;
mod audit;
mod views;

pub use admin::*;
pub(crate) use audit::{log_created, log_reads, log_signals, log_withdrawn};
use views::follow_up_to_proto;
pub(crate) use views::{enrich_signal, notice_to_proto};

/// The header in which a partner system names the professional it acts for.
pub const ON_BEHALF_OF: &str = "vir-on-behalf-of";

/// Maps the rules' errors to gRPC codes; storage failures are logged and not detailed.
pub(crate) fn rule_status(error: RuleError, rpc: &'static str) -> Status {
    match error {
        RuleError::Invalid(e) => Status::invalid_argument(e.to_string()),
        RuleError::NotFound(m) => Status::not_found(m),
        RuleError::Precondition(m) => Status::failed_precondition(m),
        RuleError::Store(e) => {
            tracing::error!(rpc, error = %e, "storage failure");
            Status::internal("the regional index could not complete the request")
        }
    }
}

pub(crate) fn bad(field: &'static str, reason: &str) -> Status {
    Status::invalid_argument(format!("{field}: {reason}"))
}

/// An optional date field: empty is None.
pub(crate) fn date(text: &str, field: &'static str) -> Result<Option<NaiveDate>, Status> {
    match text.trim() {
        "" => Ok(None),
        t => NaiveDate::parse_from_str(t, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| bad(field, "not a date in the form YYYY-MM-DD")),
    }
}

pub(crate) fn bsn(text: &str) -> Result<Bsn, Status> {
    text.trim()
        .parse()
        .map_err(|e: vir_shared::bsn::BsnError| bad("bsn", &e.to_string()))
}

/// The professional named in the request header, bounded and printable; else None.
pub(crate) fn on_behalf_of<T>(request: &Request<T>) -> Option<String> {
    let value = request.metadata().get(ON_BEHALF_OF)?.to_str().ok()?.trim();
    let ok = !value.is_empty() && value.len() <= 200 && !value.chars().any(char::is_control);
    ok.then(|| value.to_owned())
}

/// The code of a result, for the access log.
pub(crate) fn result_of<T>(result: &Result<T, Status>) -> String {
    match result {
        Ok(_) => "ok".into(),
        Err(s) => format!("{:?}", s.code()),
    }
}

pub async fn renew_signal(
    api: &NodeApi,
    request: Request<pb::RenewSignalRequest>,
) -> Result<Response<pb::Signal>, Status> {
    const RPC: &str = "RenewSignal";
    let partner = api.caller(&request, RPC)?.clone();
    let actor = api.actor(&request, &partner);
    let req = request.into_inner();
    let result = async {
        let end_date = date(&req.end_date, "end_date")?;
        let signal = api
            .index
            .renew_signal(&partner, &req.signal_id, end_date)
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

pub async fn record_informing(
    api: &NodeApi,
    request: Request<pb::RecordInformingRequest>,
) -> Result<Response<pb::Signal>, Status> {
    const RPC: &str = "RecordInforming";
    let partner = api.caller(&request, RPC)?.clone();
    let actor = api.actor(&request, &partner);
    let req = request.into_inner();
    let result = async {
        let record = InformingRecord {
            informed: Addressee::from_proto(req.informed),
            informed_on: date(&req.informed_on, "informed_on")?,
            postponed_reason: Some(req.postponed_reason.clone()),
        };
        let signal = api
            .index
            .record_informing(&partner, &req.signal_id, record)
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

pub async fn list_archive(
    api: &NodeApi,
    request: Request<pb::ListArchiveRequest>,
) -> Result<Response<pb::ListArchiveResponse>, Status> {
    const RPC: &str = "ListArchive";
    let partner = api.caller(&request, RPC)?.clone();
    let actor = api.actor(&request, &partner);
    let list = api
        .index
        .visible_archive(&partner)
        .await
        .map_err(|e| rule_status(e, RPC))?;
    let accesses: Vec<Access> = list
        .iter()
        .map(|(archived, _, youth)| Access {
            action: RPC,
            object: format!("signal:{}", archived.id),
            youth: Some(youth),
            result: "ok",
        })
        .collect();
    api.log(&actor, &accesses).await?;
    Ok(Response::new(pb::ListArchiveResponse {
        signals: list
            .iter()
            .map(|(archived, yours, _)| views::archived_to_proto(archived, yours, &api.index))
            .collect(),
    }))
}

pub async fn record_consultation(
    api: &NodeApi,
    request: Request<pb::RecordConsultationRequest>,
) -> Result<Response<pb::MatchFollowUp>, Status> {
    const RPC: &str = "RecordConsultation";
    let partner = api.caller(&request, RPC)?.clone();
    let actor = api.actor(&request, &partner);
    let req = request.into_inner();
    let result = async {
        let on = date(&req.consulted_on, "consulted_on")?;
        let view = api
            .index
            .record_consultation(&partner, &req.match_id, on)
            .await
            .map_err(|e| rule_status(e, RPC))?;
        Ok(view)
    }
    .await;
    let youth = match &result {
        Ok(v) => api.youth_of(&v.signal_id).await,
        Err(_) => None,
    };
    let view = api
        .logged(
            &actor,
            RPC,
            format!("match:{}", req.match_id.trim()),
            youth.as_ref(),
            result,
        )
        .await?;
    Ok(Response::new(follow_up_to_proto(&view)))
}

pub async fn set_regie(
    api: &NodeApi,
    request: Request<pb::SetRegieRequest>,
) -> Result<Response<pb::MatchFollowUp>, Status> {
    const RPC: &str = "SetRegie";
    let partner = api.caller(&request, RPC)?.clone();
    let actor = api.actor(&request, &partner);
    let req = request.into_inner();
    let result = api
        .index
        .set_regie(&partner, &req.match_id, &req.coordinator_oin)
        .await
        .map_err(|e| rule_status(e, RPC));
    let youth = result.as_ref().ok().and_then(|c| c.bsn.parse::<Bsn>().ok());
    api.logged(
        &actor,
        RPC,
        format!("match:{}", req.match_id.trim()),
        youth.as_ref(),
        result,
    )
    .await?;
    let views = api
        .index
        .follow_ups(&partner)
        .await
        .map_err(|e| rule_status(e, RPC))?;
    let view = views
        .iter()
        .find(|v| v.match_id == req.match_id.trim())
        .ok_or_else(|| Status::not_found("match"))?;
    Ok(Response::new(follow_up_to_proto(view)))
}

pub async fn list_follow_ups(
    api: &NodeApi,
    request: Request<pb::ListFollowUpsRequest>,
) -> Result<Response<pb::ListFollowUpsResponse>, Status> {
    const RPC: &str = "ListFollowUps";
    let partner = api.caller(&request, RPC)?.clone();
    let actor = api.actor(&request, &partner);
    let views = api
        .index
        .follow_ups(&partner)
        .await
        .map_err(|e| rule_status(e, RPC))?;
    let mut youths = Vec::new();
    for v in &views {
        youths.push(api.youth_of(&v.signal_id).await);
    }
    let accesses: Vec<Access> = views
        .iter()
        .zip(&youths)
        .map(|(v, y)| Access {
            action: RPC,
            object: format!("match:{}", v.match_id),
            youth: y.as_ref(),
            result: "ok",
        })
        .collect();
    api.log(&actor, &accesses).await?;
    Ok(Response::new(pb::ListFollowUpsResponse {
        follow_ups: views.iter().map(follow_up_to_proto).collect(),
    }))
}

pub async fn list_notices(
    api: &NodeApi,
    request: Request<pb::ListNoticesRequest>,
) -> Result<Response<pb::ListNoticesResponse>, Status> {
    const RPC: &str = "ListNotices";
    let partner = api.caller(&request, RPC)?.clone();
    let actor = api.actor(&request, &partner);
    let list = api
        .index
        .notices(&partner)
        .await
        .map_err(|e| rule_status(e, RPC))?;
    let youths: Vec<Option<Bsn>> = list.iter().map(|n| n.bsn.parse().ok()).collect();
    let accesses: Vec<Access> = list
        .iter()
        .zip(&youths)
        .map(|(n, y)| Access {
            action: RPC,
            object: format!("notice:{}", n.id),
            youth: y.as_ref(),
            result: "ok",
        })
        .collect();
    api.log(&actor, &accesses).await?;
    Ok(Response::new(pb::ListNoticesResponse {
        notices: list.iter().map(notice_to_proto).collect(),
    }))
}

pub async fn request_destruction(
    api: &NodeApi,
    request: Request<pb::RequestDestructionRequest>,
) -> Result<Response<pb::RequestDestructionResponse>, Status> {
    const RPC: &str = "RequestDestruction";
    let partner = api.caller(&request, RPC)?.clone();
    let actor = api.actor(&request, &partner);
    let req = request.into_inner();
    let result = api
        .index
        .request_destruction(&partner, &req.signal_id)
        .await
        .map_err(|e| rule_status(e, RPC));
    let youth = api.youth_of(&req.signal_id).await;
    let asked = api
        .logged(
            &actor,
            RPC,
            format!("signal:{}", req.signal_id.trim()),
            youth.as_ref(),
            result,
        )
        .await?;
    Ok(Response::new(pb::RequestDestructionResponse {
        administrators: u32::try_from(asked).unwrap_or(u32::MAX),
    }))
}
