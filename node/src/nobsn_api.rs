//! The RPCs of signals without a BSN and of candidate matches (issue 4), delegated from
//! [`crate::api`] so that the partner API's own file stays about the spine. Each access is
//! logged (Jeugdwet 7.1.2.3 f, h, i; NEN 7513), naming the youth by pseudonym only.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use tonic::{Request, Response, Status};
use vir_proto as pb;
use vir_shared::fallback::gender_code;
use vir_shared::Bsn;

use crate::accesslog::Access;
use crate::api::{signal_to_proto, status_of, NodeApi};
use crate::config::{Partner, Role};
use crate::nobsn::NoBsnIdentity;
use crate::rules::SignalOptions;
use crate::signal::{Contact, InvalidField};
use crate::store::nobsn::{self, CandidateRow};
use crate::store::signals;

fn rfc3339_ms(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn invalid(field: &'static str, reason: &str) -> InvalidField {
    InvalidField {
        field,
        reason: reason.to_owned(),
    }
}

/// CreateSignal with `without_bsn` instead of a BSN (called by `create_checked`, after the
/// caller and the rules' options are checked).
pub(crate) async fn create_without_bsn(
    api: &NodeApi,
    partner: &Partner,
    request: pb::CreateSignalRequest,
    options: SignalOptions,
) -> Result<pb::Signal, Status> {
    const RPC: &str = "CreateSignal";
    let refuse = |e: InvalidField| status_of(e.into(), RPC, partner);
    let identity =
        NoBsnIdentity::try_from(request.without_bsn.unwrap_or_default()).map_err(refuse)?;
    let contact = request
        .signaller
        .ok_or_else(|| refuse(invalid("signaller", "required")))?;
    let signaller = Contact::try_from(contact).map_err(refuse)?;
    let end_date = match request.end_date.trim() {
        "" => None,
        text => Some(
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map_err(|_| refuse(invalid("end_date", "not a date in the form YYYY-MM-DD")))?,
        ),
    };
    let (signal, person) = api
        .index
        .create_signal_without_bsn(partner, identity, signaller, end_date, options)
        .await
        .map_err(|e| status_of(e, RPC, partner))?;
    let mut out = signal_to_proto(&signal, person.as_ref());
    crate::rules_api::enrich_signal(&api.index, &mut out)
        .await
        .map_err(|e| crate::rules_api::rule_status(e, RPC))?;
    Ok(out)
}

pub async fn link_signal(
    api: &NodeApi,
    request: Request<pb::LinkSignalRequest>,
) -> Result<Response<pb::Signal>, Status> {
    const RPC: &str = "LinkSignal";
    let partner = api.caller(&request, RPC)?.clone();
    let actor = api.actor(&request, &partner);
    let req = request.into_inner();
    let result = async {
        let bsn: Bsn = req
            .bsn
            .trim()
            .parse()
            .map_err(|e: vir_shared::bsn::BsnError| {
                status_of(invalid("bsn", &e.to_string()).into(), RPC, &partner)
            })?;
        let signal = api
            .index
            .link_signal(&partner, req.signal_id.trim(), bsn)
            .await
            .map_err(|e| status_of(e, RPC, &partner))?;
        let youth = api.index.registry.lookup(&signal.bsn);
        let mut out = signal_to_proto(&signal, youth.as_ref());
        crate::rules_api::enrich_signal(&api.index, &mut out)
            .await
            .map_err(|e| crate::rules_api::rule_status(e, RPC))?;
        Ok((out, signal.bsn))
    }
    .await;
    let code = crate::rules_api::result_of(&result);
    let youth = result.as_ref().ok().map(|(_, bsn)| bsn.clone());
    let access = Access {
        action: RPC,
        object: req.signal_id.clone(),
        youth: youth.as_ref(),
        result: &code,
    };
    api.log(&actor, &[access]).await?;
    result.map(|(out, _)| Response::new(out))
}

/// The caller, who must be the regional administrator; a refusal is logged.
async fn administrator<T>(
    api: &NodeApi,
    request: &Request<T>,
    rpc: &'static str,
) -> Result<Partner, Status> {
    let partner = api.caller(request, rpc)?.clone();
    if partner.role != Role::Administrator {
        tracing::warn!(rpc, partner = %partner.oin, event = "admin_refused", "a partner that is not the administrator called an administrator RPC");
        let actor = api.actor(request, &partner);
        let access = Access {
            action: rpc,
            object: String::new(),
            youth: None,
            result: "PermissionDenied",
        };
        api.log(&actor, &[access]).await?;
        return Err(Status::permission_denied(
            "only the regional administrator (functioneel beheerder) may do this",
        ));
    }
    Ok(partner)
}

/// One local side of a candidate as the administrator sees it: the youth as described (without
/// a BSN) or as the registry gives it, and the organisation.
async fn local_side(
    api: &NodeApi,
    signal_id: &str,
) -> Result<Option<(pb::CandidateSide, Bsn)>, Status> {
    let internal = |_| Status::internal("the regional index could not complete the request");
    let mut conn = api.index.db.pool.acquire().await.map_err(internal)?;
    let Some(signal) = signals::get(&mut conn, signal_id)
        .await
        .map_err(|_| Status::internal("storage"))?
    else {
        return Ok(None);
    };
    let mut side = pb::CandidateSide {
        signal_id: signal.id.clone(),
        region: api.index.region.to_string(),
        organisation: signal.organisation.clone(),
        organisation_oin: signal.partner_oin.to_string(),
        municipality: signal.municipality.to_string(),
        ..Default::default()
    };
    let described = nobsn::youth(&mut conn, signal.bsn.as_str())
        .await
        .map_err(|_| Status::internal("storage"))?
        .filter(|y| y.linked_bsn.is_none());
    if let Some(y) = described {
        side.surname = y.surname;
        side.given_name = y.given_name;
        side.birth_date = y.birth_date;
        side.gender = y.gender;
        side.postcode = y.postcode;
        side.house_number = y.house_number;
        side.house_number_addition = y.addition;
        side.verwijsindex_number = y.vin;
    } else if let Some(p) = api.index.registry.lookup(&signal.bsn) {
        side.surname = format!("{} {}", p.surname_prefix, p.surname)
            .trim()
            .to_owned();
        side.given_name = p.given_names.clone();
        side.birth_date = crate::store::format_date(p.birth_date);
        side.gender = gender_code(p.gender).to_owned();
        side.postcode = p.address.postcode.to_string();
        side.house_number = p.address.house_number;
        side.house_number_addition = p.address.addition.clone().unwrap_or_default();
    }
    Ok(Some((side, signal.bsn)))
}

async fn candidate_to_proto(
    api: &NodeApi,
    row: &CandidateRow,
) -> Result<(pb::Candidate, Vec<Bsn>), Status> {
    let mut sides = Vec::new();
    let mut youths = Vec::new();
    for id in [&row.signal_id, &row.other_signal_id] {
        if id.is_empty() {
            continue;
        }
        if let Some((side, bsn)) = local_side(api, id).await? {
            sides.push(side);
            youths.push(bsn);
        }
    }
    let status = match row.status.as_str() {
        "pending" => pb::CandidateStatus::Pending,
        "confirmed" => pb::CandidateStatus::Confirmed,
        "rejected" => pb::CandidateStatus::Rejected,
        _ => pb::CandidateStatus::Closed,
    };
    Ok((
        pb::Candidate {
            id: row.id.clone(),
            status: status as i32,
            sides,
            hub_match_id: row.hub_match_id.clone(),
            other_region: row.other_region.clone(),
            created_at: rfc3339_ms(row.created_ms),
            decided_at: row.decided_ms.map(rfc3339_ms).unwrap_or_default(),
            decided_by: row.decided_by.clone().unwrap_or_default(),
        },
        youths,
    ))
}

pub async fn admin_list_candidates(
    api: &NodeApi,
    request: Request<pb::AdminListCandidatesRequest>,
) -> Result<Response<pb::AdminListCandidatesResponse>, Status> {
    const RPC: &str = "AdminListCandidates";
    let partner = administrator(api, &request, RPC).await?;
    let actor = api.actor(&request, &partner);
    let rows = {
        let mut conn = api
            .index
            .db
            .pool
            .acquire()
            .await
            .map_err(|_| Status::internal("storage"))?;
        nobsn::candidates(&mut conn, request.get_ref().pending_only)
            .await
            .map_err(|e| status_of(e.into(), RPC, &partner))?
    };
    let mut candidates = Vec::with_capacity(rows.len());
    let mut youths = Vec::new();
    for row in &rows {
        let (candidate, seen) = candidate_to_proto(api, row).await?;
        candidates.push(candidate);
        youths.extend(seen);
    }
    // One entry per youth shown: an administrator's look at identities is an access too.
    let accesses: Vec<Access<'_>> = youths
        .iter()
        .map(|bsn| Access {
            action: RPC,
            object: String::new(),
            youth: Some(bsn),
            result: "ok",
        })
        .collect();
    api.log(&actor, &accesses).await?;
    Ok(Response::new(pb::AdminListCandidatesResponse {
        candidates,
    }))
}

pub async fn admin_decide_candidate(
    api: &NodeApi,
    request: Request<pb::AdminDecideCandidateRequest>,
) -> Result<Response<pb::Candidate>, Status> {
    const RPC: &str = "AdminDecideCandidate";
    let partner = administrator(api, &request, RPC).await?;
    let actor = api.actor(&request, &partner);
    let req = request.into_inner();
    let decided = api
        .index
        .decide_candidate(partner.oin.as_str(), req.candidate_id.trim(), req.confirm)
        .await
        .map_err(|e| status_of(e, RPC, &partner));
    let result = match decided {
        Ok(row) => candidate_to_proto(api, &row).await,
        Err(status) => Err(status),
    };
    let code = crate::rules_api::result_of(&result);
    let youths: Vec<Bsn> = result.as_ref().map(|(_, y)| y.clone()).unwrap_or_default();
    let mut accesses: Vec<Access<'_>> = youths
        .iter()
        .map(|bsn| Access {
            action: RPC,
            object: req.candidate_id.clone(),
            youth: Some(bsn),
            result: &code,
        })
        .collect();
    if accesses.is_empty() {
        accesses.push(Access {
            action: RPC,
            object: req.candidate_id.clone(),
            youth: None,
            result: &code,
        });
    }
    api.log(&actor, &accesses).await?;
    result.map(|(candidate, _)| Response::new(candidate))
}
