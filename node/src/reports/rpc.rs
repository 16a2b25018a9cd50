//! `Node.AdminPolicyReport`: the region's reports for its administrator, as tables with CSV
//! and SVG. The answer holds suppressed counts only, no youth and no professional.

use tonic::{Request, Response, Status};
use vir_proto as pb;
use vir_shared::report::wire::{to_proto, Period};

use crate::api::NodeApi;

pub async fn admin_policy_report(
    api: &NodeApi,
    request: Request<pb::PolicyReportRequest>,
) -> Result<Response<pb::PolicyReportResponse>, Status> {
    const RPC: &str = "AdminPolicyReport";
    api.admin(&request, RPC).await?;
    let period = Period::from_request(request.get_ref(), api.index.clock.today())
        .map_err(Status::invalid_argument)?;
    let partners = api.partner_list();
    let tables = super::all(&api.index, &partners, period, api.report_threshold())
        .await
        .map_err(|e| {
            tracing::error!(rpc = RPC, error = %e, "storage failure");
            Status::internal("the report could not be made")
        })?;
    Ok(Response::new(pb::PolicyReportResponse {
        from: period.from.to_string(),
        to: period.to.to_string(),
        tables: tables.iter().map(to_proto).collect(),
    }))
}
