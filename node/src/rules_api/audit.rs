//! Access logging of the partner API (NEN 7513, see [`crate::accesslog`]): who the caller is as
//! an actor, entries for what each RPC read or wrote, and the administrator check. A read is
//! logged before its answer leaves: if the log cannot be written the caller gets INTERNAL.

use tonic::{Request, Status};
use vir_proto as pb;
use vir_shared::Bsn;

use super::{on_behalf_of, result_of, rule_status};
use crate::accesslog::{Access, Actor};
use crate::api::NodeApi;
use crate::config::{Partner, Role};
use crate::signal::Signal;

impl NodeApi {
    /// The caller, as an actor of the access log.
    pub(crate) fn actor<T>(&self, request: &Request<T>, partner: &Partner) -> Actor {
        Actor::partner(partner, on_behalf_of(request).as_deref())
    }

    /// Writes access-log entries; a failure refuses the answer.
    pub(crate) async fn log(&self, actor: &Actor, accesses: &[Access<'_>]) -> Result<(), Status> {
        self.index.audit(actor, accesses).await.map_err(|e| {
            tracing::error!(error = %e, "access log could not be written");
            Status::internal("the regional index could not log this access")
        })
    }

    /// The caller, who must be the regional administrator (functioneel beheerder).
    pub(crate) async fn admin<T>(
        &self,
        request: &Request<T>,
        rpc: &'static str,
    ) -> Result<(Partner, Actor), Status> {
        let partner = self.caller(request, rpc)?.clone();
        let actor = self.actor(request, &partner);
        if partner.role != Role::Administrator {
            tracing::warn!(rpc, partner = %partner.oin, event = "admin_refused", "a partner that is not the administrator called an administrator RPC");
            let access = Access {
                action: rpc,
                object: String::new(),
                youth: None,
                result: "PermissionDenied",
            };
            self.log(&actor, &[access]).await?;
            return Err(Status::permission_denied(
                "only the regional administrator (functioneel beheerder) may do this",
            ));
        }
        Ok((partner, actor))
    }

    /// Logs one access about one signal's youth and returns the result unchanged.
    pub(super) async fn logged<T>(
        &self,
        actor: &Actor,
        rpc: &'static str,
        object: String,
        youth: Option<&Bsn>,
        result: Result<T, Status>,
    ) -> Result<T, Status> {
        let code = result_of(&result);
        self.log(
            actor,
            &[Access {
                action: rpc,
                object,
                youth,
                result: &code,
            }],
        )
        .await?;
        result
    }

    /// The youth of a signal, if it exists (for the access log).
    pub(super) async fn youth_of(&self, signal_id: &str) -> Option<Bsn> {
        let mut conn = self.index.db.pool.acquire().await.ok()?;
        let signal = crate::store::signals::get(&mut conn, signal_id.trim())
            .await
            .ok()??;
        Some(signal.bsn)
    }

    pub(super) async fn signal_reply(&self, signal: &Signal) -> Result<pb::Signal, Status> {
        let youth = self.index.registry.lookup(&signal.bsn);
        let mut out = crate::api::signal_to_proto(signal, youth.as_ref());
        super::enrich_signal(&self.index, &mut out)
            .await
            .map_err(|e| rule_status(e, "signal"))?;
        Ok(out)
    }
}

/// The access log of CreateSignal: the new signal, or the refusal (about the youth asked for,
/// when the BSN was valid).
pub(crate) async fn log_created(
    api: &NodeApi,
    actor: &Actor,
    asked_bsn: &str,
    result: &Result<pb::Signal, Status>,
) -> Result<(), Status> {
    let youth = asked_bsn.trim().parse::<Bsn>().ok();
    let object = match result {
        Ok(s) => format!("signal:{}", s.id),
        Err(_) => "signal".to_owned(),
    };
    let code = result_of(result);
    api.log(
        actor,
        &[Access {
            action: "CreateSignal",
            object,
            youth: youth.as_ref(),
            result: &code,
        }],
    )
    .await
}

pub(crate) async fn log_withdrawn(
    api: &NodeApi,
    actor: &Actor,
    signal_id: &str,
    result: &Result<Signal, Status>,
) -> Result<(), Status> {
    let youth = match result {
        Ok(s) => Some(s.bsn.clone()),
        Err(_) => None,
    };
    let code = result_of(result);
    let access = Access {
        action: "WithdrawSignal",
        object: format!("signal:{signal_id}"),
        youth: youth.as_ref(),
        result: &code,
    };
    api.log(actor, &[access]).await
}

/// One entry per signal read.
pub(crate) async fn log_signals(
    api: &NodeApi,
    actor: &Actor,
    rpc: &'static str,
    signals: &[&Signal],
) -> Result<(), Status> {
    let accesses: Vec<Access> = signals
        .iter()
        .map(|s| Access {
            action: rpc,
            object: format!("signal:{}", s.id),
            youth: Some(&s.bsn),
            result: "ok",
        })
        .collect();
    api.log(actor, &accesses).await
}

/// One entry per object read, each about the youth of the caller's signal it belongs to.
pub(crate) async fn log_reads(
    api: &NodeApi,
    actor: &Actor,
    rpc: &'static str,
    objects: &[(String, &str)],
) -> Result<(), Status> {
    let mut youths = Vec::with_capacity(objects.len());
    for (_, signal_id) in objects {
        youths.push(api.youth_of(signal_id).await);
    }
    let accesses: Vec<Access> = objects
        .iter()
        .zip(&youths)
        .map(|((object, _), youth)| Access {
            action: rpc,
            object: object.clone(),
            youth: youth.as_ref(),
            result: "ok",
        })
        .collect();
    api.log(actor, &accesses).await
}
