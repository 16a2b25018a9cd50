//! The partner and administrator RPCs of the regions' rules (issue 6), delegated from
//! [`crate::api`] so that the partner API's own file stays about the spine.

use tonic::{Request, Response, Status};
use vir_proto as pb;

use crate::api::NodeApi;

fn pending() -> Status {
    Status::unavailable("being built")
}

macro_rules! pending_rpc {
    ($($name:ident($req:ty) -> $res:ty;)*) => {
        $(pub async fn $name(_api: &NodeApi, _request: Request<$req>) -> Result<Response<$res>, Status> {
            Err(pending())
        })*
    };
}

pending_rpc! {
    renew_signal(pb::RenewSignalRequest) -> pb::Signal;
    record_informing(pb::RecordInformingRequest) -> pb::Signal;
    list_archive(pb::ListArchiveRequest) -> pb::ListArchiveResponse;
    record_consultation(pb::RecordConsultationRequest) -> pb::MatchFollowUp;
    set_regie(pb::SetRegieRequest) -> pb::MatchFollowUp;
    list_follow_ups(pb::ListFollowUpsRequest) -> pb::ListFollowUpsResponse;
    list_notices(pb::ListNoticesRequest) -> pb::ListNoticesResponse;
    request_destruction(pb::RequestDestructionRequest) -> pb::RequestDestructionResponse;
    admin_destroy_signal(pb::AdminDestroySignalRequest) -> pb::AdminDestroySignalResponse;
    admin_correct_signal(pb::AdminCorrectSignalRequest) -> pb::Signal;
    admin_lodge_objection(pb::AdminLodgeObjectionRequest) -> pb::Objection;
    admin_decide_objection(pb::AdminDecideObjectionRequest) -> pb::Objection;
    admin_list_objections(pb::AdminListObjectionsRequest) -> pb::AdminListObjectionsResponse;
    admin_inzage(pb::AdminInzageRequest) -> pb::AdminInzageResponse;
    admin_deadlines(pb::AdminDeadlinesRequest) -> pb::AdminDeadlinesResponse;
    admin_access_log(pb::AdminAccessLogRequest) -> pb::AdminAccessLogResponse;
    admin_verify_access_log(pb::AdminVerifyAccessLogRequest) -> pb::AdminVerifyAccessLogResponse;
    admin_close_task(pb::AdminCloseTaskRequest) -> pb::Notice;
}
