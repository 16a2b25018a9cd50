//! The partner API (gRPC `vir.v1.Node`): convenant partners create, list and withdraw their
//! signals and read their matches and notifications.
//!
//! Who calls is the OIN in the verified client certificate, mapped to a configured partner;
//! nothing in a message says who is calling. An unknown OIN is PERMISSION_DENIED and logged.
//! Every RPC sees only the caller's own signals, matches and notifications (001 Q9: the index is
//! not a lookup system). Logs name signal ids and OINs, never a BSN, name or contact detail.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use tonic::{Request, Response, Status};
use vir_proto as pb;
use vir_shared::person::Person;
use vir_shared::Oin;

use crate::config::Partner;
use crate::index::{IndexError, MatchView, OtherParty, RegionalIndex};
use crate::party::Party;
use crate::signal::{NewSignal, Signal};
use crate::store::notifications::Notification;

/// The `Node` service.
#[derive(Clone)]
pub struct NodeApi {
    pub(crate) index: RegionalIndex,
    partners: Arc<HashMap<Oin, Partner>>,
    hub_connected: Arc<AtomicBool>,
    rekey: Arc<crate::rekey::RekeyState>,
    report_threshold: u64,
}

impl NodeApi {
    pub fn new(index: RegionalIndex, partners: &[Partner], hub_connected: Arc<AtomicBool>) -> Self {
        let partners = partners
            .iter()
            .map(|p| (p.oin.clone(), p.clone()))
            .collect();
        NodeApi {
            index,
            partners: Arc::new(partners),
            hub_connected,
            rekey: Arc::default(),
            report_threshold: crate::reports::default_threshold(),
        }
    }

    /// The configured partner with this OIN (the web UI's accounts belong to one).
    pub fn partner(&self, oin: &Oin) -> Option<&Partner> {
        self.partners.get(oin)
    }

    /// Every configured partner, by organisation name.
    pub fn partners(&self) -> Vec<Partner> {
        let mut all: Vec<Partner> = self.partners.values().cloned().collect();
        all.sort_by(|a, b| a.organisation.cmp(&b.organisation));
        all
    }

    /// Reports the re-key task's progress in `Status`.
    #[must_use]
    pub fn with_rekey_state(mut self, rekey: Arc<crate::rekey::RekeyState>) -> Self {
        self.rekey = rekey;
        self
    }

    /// Policy reports hide cells below this count (`report_threshold` in the configuration).
    #[must_use]
    pub fn with_report_threshold(mut self, threshold: u64) -> Self {
        self.report_threshold = threshold;
        self
    }

    pub(crate) fn report_threshold(&self) -> u64 {
        self.report_threshold
    }

    /// The configured partners, in OIN order.
    pub(crate) fn partner_list(&self) -> Vec<Partner> {
        let mut list: Vec<Partner> = self.partners.values().cloned().collect();
        list.sort_by(|a, b| a.oin.as_str().cmp(b.oin.as_str()));
        list
    }

    /// The configured partner behind the request's client certificate.
    pub(crate) fn caller<T>(
        &self,
        request: &Request<T>,
        rpc: &'static str,
    ) -> Result<&Partner, Status> {
        // The web UI calls in-process with the logged-in account's organisation; a request
        // from the network never carries this extension (tonic does not make it from bytes).
        if let Some(web) = request.extensions().get::<crate::web::WebCaller>() {
            return self.partners.get(&web.oin).ok_or_else(|| {
                Status::permission_denied("this account's organisation is no longer a partner")
            });
        }
        let cert = vir_shared::tls::peer_cert(request)?;
        self.partners.get(&cert.oin).ok_or_else(|| {
            // NEN 7513: a refused access is logged too (in the background: it returns no data).
            let index = self.index.clone();
            let actor = crate::accesslog::Actor::unknown(cert.oin.as_str());
            tokio::spawn(async move {
                let access = crate::accesslog::Access {
                    action: rpc,
                    object: String::new(),
                    youth: None,
                    result: "PermissionDenied",
                };
                if let Err(e) = index.audit(&actor, &[access]).await {
                    tracing::error!(error = %e, "access log could not be written");
                }
            });
            tracing::warn!(
                rpc,
                oin = %cert.oin,
                event = "caller_refused",
                "a certificate whose OIN is not a configured partner called the partner API"
            );
            Status::permission_denied(format!(
                "organisation {} is not a partner of this regional index",
                cert.oin
            ))
        })
    }
}

impl NodeApi {
    /// CreateSignal after the caller is known: administrators do not signal (003 art. 6.4: a
    /// signal needs a direct professional relationship), and the region's rules check the
    /// urgency code and chain registration.
    async fn create_checked(
        &self,
        partner: &Partner,
        request: pb::CreateSignalRequest,
    ) -> Result<pb::Signal, Status> {
        const RPC: &str = "CreateSignal";
        if partner.role == crate::config::Role::Administrator {
            return Err(Status::permission_denied(
                "the regional administrator does not signal (003 art. 6.4)",
            ));
        }
        let options = crate::rules::SignalOptions::from_request(
            request.urgency,
            request.chain_registration,
            &self.index.rules.config.signals,
        )
        .map_err(|e| status_of(e.into(), RPC, partner))?;
        // Without a usable BSN: a description instead (002 art. 8.5-8.7; crate::nobsn).
        if request.bsn.trim().is_empty() && request.without_bsn.is_some() {
            return crate::nobsn_api::create_without_bsn(self, partner, request, options).await;
        }
        let new = NewSignal::try_from(request).map_err(|e| status_of(e.into(), RPC, partner))?;
        match self.index.create_signal_with(partner, new, options).await {
            Ok((signal, person)) => {
                let mut out = signal_to_proto(&signal, Some(&person));
                crate::rules_api::enrich_signal(&self.index, &mut out)
                    .await
                    .map_err(|e| crate::rules_api::rule_status(e, RPC))?;
                Ok(out)
            }
            Err(e) => {
                let status = status_of(e, RPC, partner);
                tracing::info!(partner = %partner.oin, code = ?status.code(), "signal refused");
                Err(status)
            }
        }
    }
}

/// Maps the index's errors to gRPC codes; storage failures are logged and not detailed.
pub(crate) fn status_of(error: IndexError, rpc: &'static str, partner: &Partner) -> Status {
    match error {
        IndexError::Invalid(e) => Status::invalid_argument(e.to_string()),
        e @ IndexError::UnknownPerson => Status::not_found(e.to_string()),
        e @ (IndexError::Deceased | IndexError::TooOld) => {
            Status::failed_precondition(e.to_string())
        }
        e @ IndexError::AlreadyActive => Status::already_exists(e.to_string()),
        e @ IndexError::NotFound => Status::not_found(e.to_string()),
        IndexError::Store(e) => {
            tracing::error!(rpc, partner = %partner.oin, error = %e, "storage failure");
            Status::internal("the regional index could not complete the request")
        }
    }
}

fn rfc3339_ms(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub(crate) fn signal_to_proto(signal: &Signal, youth: Option<&Person>) -> pb::Signal {
    // A youth without a BSN: its verwijsindexnummer, never shown as a BSN (crate::nobsn).
    let vin = youth.is_none() && crate::nobsn::in_vin_block(&signal.bsn);
    pb::Signal {
        id: signal.id.clone(),
        bsn: if vin {
            String::new()
        } else {
            signal.bsn.to_string()
        },
        verwijsindex_number: if vin {
            signal.bsn.to_string()
        } else {
            String::new()
        },
        youth_name: youth.map(Person::display_name).unwrap_or_default(),
        birth_date: youth
            .map(|p| crate::store::format_date(p.birth_date))
            .unwrap_or_default(),
        signaller: Some(pb::Contact::from(&signal.signaller)),
        status: pb::SignalStatus::from(signal.status) as i32,
        created_at: rfc3339_ms(signal.created_ms),
        end_date: crate::store::format_date(signal.end_date),
        national: signal.national,
        ..Default::default()
    }
}

pub(crate) fn match_kind(kind: &str) -> pb::MatchKind {
    match kind {
        "client" => pb::MatchKind::Client,
        "family" => pb::MatchKind::Family,
        "address" => pb::MatchKind::Address,
        "candidate" => pb::MatchKind::Candidate,
        _ => pb::MatchKind::Unspecified,
    }
}

fn match_to_proto(m: &MatchView) -> pb::Match {
    pb::Match {
        id: m.id.clone(),
        kind: match_kind(&m.kind) as i32,
        your_signal_id: m.your_signal_id.clone(),
        others: m
            .others
            .iter()
            .map(|o| match o {
                OtherParty::Known(party) => party.to_proto(),
                OtherParty::Pending { region } => Party::pending_proto(region),
            })
            .collect(),
        created_at: rfc3339_ms(m.created_ms),
    }
}

fn notification_to_proto(n: &Notification) -> pb::Notification {
    pb::Notification {
        id: n.id.clone(),
        kind: match_kind(&n.kind) as i32,
        match_id: n.match_id.clone(),
        your_signal_id: n.signal_id.clone(),
        parties: n.parties.iter().map(Party::to_proto).collect(),
        created_at: rfc3339_ms(n.created_ms),
    }
}

#[tonic::async_trait]
impl pb::node_server::Node for NodeApi {
    async fn create_signal(
        &self,
        request: Request<pb::CreateSignalRequest>,
    ) -> Result<Response<pb::Signal>, Status> {
        const RPC: &str = "CreateSignal";
        let partner = self.caller(&request, RPC)?;
        let actor = self.actor(&request, partner);
        let asked_bsn = request.get_ref().bsn.clone();
        let result = self.create_checked(partner, request.into_inner()).await;
        crate::rules_api::log_created(self, &actor, &asked_bsn, &result).await?;
        result.map(Response::new)
    }

    async fn list_signals(
        &self,
        request: Request<pb::ListSignalsRequest>,
    ) -> Result<Response<pb::ListSignalsResponse>, Status> {
        const RPC: &str = "ListSignals";
        let partner = self.caller(&request, RPC)?;
        let list = self
            .index
            .list_signals(partner)
            .await
            .map_err(|e| status_of(e, RPC, partner))?;
        let actor = self.actor(&request, partner);
        let signals: Vec<&Signal> = list.iter().map(|(s, _)| s).collect();
        crate::rules_api::log_signals(self, &actor, RPC, &signals).await?;
        let mut signals = Vec::with_capacity(list.len());
        for (s, p) in &list {
            let mut out = signal_to_proto(s, p.as_ref());
            crate::rules_api::enrich_signal(&self.index, &mut out)
                .await
                .map_err(|e| crate::rules_api::rule_status(e, RPC))?;
            signals.push(out);
        }
        Ok(Response::new(pb::ListSignalsResponse { signals }))
    }

    async fn withdraw_signal(
        &self,
        request: Request<pb::WithdrawSignalRequest>,
    ) -> Result<Response<pb::Signal>, Status> {
        const RPC: &str = "WithdrawSignal";
        let partner = self.caller(&request, RPC)?;
        let actor = self.actor(&request, partner);
        let id = request.into_inner().signal_id;
        let result = self
            .index
            .withdraw_signal(partner, id.trim())
            .await
            .map_err(|e| status_of(e, RPC, partner));
        crate::rules_api::log_withdrawn(self, &actor, id.trim(), &result).await?;
        let signal = result?;
        let youth = self.index.registry.lookup(&signal.bsn);
        let mut out = signal_to_proto(&signal, youth.as_ref());
        crate::rules_api::enrich_signal(&self.index, &mut out)
            .await
            .map_err(|e| crate::rules_api::rule_status(e, RPC))?;
        Ok(Response::new(out))
    }

    async fn list_matches(
        &self,
        request: Request<pb::ListMatchesRequest>,
    ) -> Result<Response<pb::ListMatchesResponse>, Status> {
        const RPC: &str = "ListMatches";
        let partner = self.caller(&request, RPC)?;
        let views = self
            .index
            .list_matches(partner)
            .await
            .map_err(|e| status_of(e, RPC, partner))?;
        let actor = self.actor(&request, partner);
        let objects: Vec<(String, &str)> = views
            .iter()
            .map(|m| (format!("match:{}", m.id), m.your_signal_id.as_str()))
            .collect();
        crate::rules_api::log_reads(self, &actor, RPC, &objects).await?;
        Ok(Response::new(pb::ListMatchesResponse {
            matches: views.iter().map(match_to_proto).collect(),
        }))
    }

    async fn list_notifications(
        &self,
        request: Request<pb::ListNotificationsRequest>,
    ) -> Result<Response<pb::ListNotificationsResponse>, Status> {
        const RPC: &str = "ListNotifications";
        let partner = self.caller(&request, RPC)?;
        let list = self
            .index
            .list_notifications(partner)
            .await
            .map_err(|e| status_of(e, RPC, partner))?;
        let actor = self.actor(&request, partner);
        let objects: Vec<(String, &str)> = list
            .iter()
            .map(|n| (format!("notification:{}", n.id), n.signal_id.as_str()))
            .collect();
        crate::rules_api::log_reads(self, &actor, RPC, &objects).await?;
        Ok(Response::new(pb::ListNotificationsResponse {
            notifications: list.iter().map(notification_to_proto).collect(),
        }))
    }

    async fn status(
        &self,
        request: Request<pb::NodeStatusRequest>,
    ) -> Result<Response<pb::NodeStatusResponse>, Status> {
        const RPC: &str = "Status";
        let partner = self.caller(&request, RPC)?;
        let s = self
            .index
            .status()
            .await
            .map_err(|e| status_of(e, RPC, partner))?;
        Ok(Response::new(pb::NodeStatusResponse {
            region: self.index.region.to_string(),
            active_signals: s.active_signals,
            matches: s.matches,
            outbox_pending: s.outbox_pending,
            feed_applied_seq: s.feed_applied_seq,
            hub_connected: self.hub_connected.load(Ordering::Relaxed),
            clock_now: self
                .index
                .clock
                .now()
                .to_rfc3339_opts(SecondsFormat::Secs, true),
            key_version: self.rekey.current_version(),
            rekey_pending: self.rekey.pending(),
        }))
    }

    // The regions' rules: handled in `crate::rules_api`.

    async fn renew_signal(
        &self,
        request: Request<pb::RenewSignalRequest>,
    ) -> Result<Response<pb::Signal>, Status> {
        crate::rules_api::renew_signal(self, request).await
    }

    async fn record_informing(
        &self,
        request: Request<pb::RecordInformingRequest>,
    ) -> Result<Response<pb::Signal>, Status> {
        crate::rules_api::record_informing(self, request).await
    }

    async fn list_archive(
        &self,
        request: Request<pb::ListArchiveRequest>,
    ) -> Result<Response<pb::ListArchiveResponse>, Status> {
        crate::rules_api::list_archive(self, request).await
    }

    async fn record_consultation(
        &self,
        request: Request<pb::RecordConsultationRequest>,
    ) -> Result<Response<pb::MatchFollowUp>, Status> {
        crate::rules_api::record_consultation(self, request).await
    }

    async fn set_regie(
        &self,
        request: Request<pb::SetRegieRequest>,
    ) -> Result<Response<pb::MatchFollowUp>, Status> {
        crate::rules_api::set_regie(self, request).await
    }

    async fn list_follow_ups(
        &self,
        request: Request<pb::ListFollowUpsRequest>,
    ) -> Result<Response<pb::ListFollowUpsResponse>, Status> {
        crate::rules_api::list_follow_ups(self, request).await
    }

    async fn list_notices(
        &self,
        request: Request<pb::ListNoticesRequest>,
    ) -> Result<Response<pb::ListNoticesResponse>, Status> {
        crate::rules_api::list_notices(self, request).await
    }

    async fn request_destruction(
        &self,
        request: Request<pb::RequestDestructionRequest>,
    ) -> Result<Response<pb::RequestDestructionResponse>, Status> {
        crate::rules_api::request_destruction(self, request).await
    }

    async fn admin_destroy_signal(
        &self,
        request: Request<pb::AdminDestroySignalRequest>,
    ) -> Result<Response<pb::AdminDestroySignalResponse>, Status> {
        crate::rules_api::admin_destroy_signal(self, request).await
    }

    async fn admin_correct_signal(
        &self,
        request: Request<pb::AdminCorrectSignalRequest>,
    ) -> Result<Response<pb::Signal>, Status> {
        crate::rules_api::admin_correct_signal(self, request).await
    }

    async fn admin_lodge_objection(
        &self,
        request: Request<pb::AdminLodgeObjectionRequest>,
    ) -> Result<Response<pb::Objection>, Status> {
        crate::rules_api::admin_lodge_objection(self, request).await
    }

    async fn admin_decide_objection(
        &self,
        request: Request<pb::AdminDecideObjectionRequest>,
    ) -> Result<Response<pb::Objection>, Status> {
        crate::rules_api::admin_decide_objection(self, request).await
    }

    async fn admin_list_objections(
        &self,
        request: Request<pb::AdminListObjectionsRequest>,
    ) -> Result<Response<pb::AdminListObjectionsResponse>, Status> {
        crate::rules_api::admin_list_objections(self, request).await
    }

    async fn admin_inzage(
        &self,
        request: Request<pb::AdminInzageRequest>,
    ) -> Result<Response<pb::AdminInzageResponse>, Status> {
        crate::rules_api::admin_inzage(self, request).await
    }

    async fn admin_inzage_all_regions(
        &self,
        request: Request<pb::AdminInzageRequest>,
    ) -> Result<Response<pb::AdminInzageAllRegionsResponse>, Status> {
        crate::rules_api::admin_inzage_all_regions(self, request).await
    }

    async fn admin_inzage_result(
        &self,
        request: Request<pb::AdminInzageResultRequest>,
    ) -> Result<Response<pb::AdminInzageResultResponse>, Status> {
        crate::rules_api::admin_inzage_result(self, request).await
    }

    async fn admin_deadlines(
        &self,
        request: Request<pb::AdminDeadlinesRequest>,
    ) -> Result<Response<pb::AdminDeadlinesResponse>, Status> {
        crate::rules_api::admin_deadlines(self, request).await
    }

    async fn admin_access_log(
        &self,
        request: Request<pb::AdminAccessLogRequest>,
    ) -> Result<Response<pb::AdminAccessLogResponse>, Status> {
        crate::rules_api::admin_access_log(self, request).await
    }

    async fn admin_verify_access_log(
        &self,
        request: Request<pb::AdminVerifyAccessLogRequest>,
    ) -> Result<Response<pb::AdminVerifyAccessLogResponse>, Status> {
        crate::rules_api::admin_verify_access_log(self, request).await
    }

    async fn admin_close_task(
        &self,
        request: Request<pb::AdminCloseTaskRequest>,
    ) -> Result<Response<pb::Notice>, Status> {
        crate::rules_api::admin_close_task(self, request).await
    }

    // Signals without a BSN and candidate matches: handled in `crate::nobsn_api`.

    async fn link_signal(
        &self,
        request: Request<pb::LinkSignalRequest>,
    ) -> Result<Response<pb::Signal>, Status> {
        crate::nobsn_api::link_signal(self, request).await
    }

    async fn admin_list_candidates(
        &self,
        request: Request<pb::AdminListCandidatesRequest>,
    ) -> Result<Response<pb::AdminListCandidatesResponse>, Status> {
        crate::nobsn_api::admin_list_candidates(self, request).await
    }

    async fn admin_decide_candidate(
        &self,
        request: Request<pb::AdminDecideCandidateRequest>,
    ) -> Result<Response<pb::Candidate>, Status> {
        crate::nobsn_api::admin_decide_candidate(self, request).await
    }

    async fn admin_list_moves(
        &self,
        request: Request<pb::AdminListMovesRequest>,
    ) -> Result<Response<pb::AdminListMovesResponse>, Status> {
        crate::verhuizing_api::admin_list_moves(self, request).await
    }

    async fn admin_accept_handover(
        &self,
        request: Request<pb::AdminAcceptHandoverRequest>,
    ) -> Result<Response<pb::MoveIn>, Status> {
        crate::verhuizing_api::admin_accept_handover(self, request).await
    }

    async fn admin_policy_report(
        &self,
        request: Request<pb::PolicyReportRequest>,
    ) -> Result<Response<pb::PolicyReportResponse>, Status> {
        crate::reports::rpc::admin_policy_report(self, request).await
    }
}
