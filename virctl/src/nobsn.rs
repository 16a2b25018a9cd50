//! Signals without a BSN (002 art. 8.5-8.7): linking one to its BSN, and the administrator's
//! candidate matches (list, confirm, reject). `--json` prints what the node answered.

use serde_json::json;
use vir_proto as pb;
use vir_proto::node_client::NodeClient;

use crate::cli::{CandidatesCommand, CreateSignal, TargetArgs};
use crate::commands::{print_json, signal_json, status};
use crate::target;

/// The description of a youth without a BSN, if the flags give one (`--surname` and friends).
pub fn identity(c: &CreateSignal) -> Option<pb::NoBsnIdentity> {
    let surname = c.surname.clone()?;
    Some(pb::NoBsnIdentity {
        surname,
        given_name: c.given_name.clone().unwrap_or_default(),
        birth_date: c.birth_date.clone().unwrap_or_default(),
        gender: c.gender.clone().unwrap_or_default(),
        municipality: c.municipality.clone().unwrap_or_default(),
        postcode: c.postcode.clone().unwrap_or_default(),
        house_number: c.house_number.unwrap_or_default(),
        house_number_addition: c.addition.clone().unwrap_or_default(),
    })
}

/// `virctl signal link ID --bsn BSN`.
pub async fn link(target: &TargetArgs, id: String, bsn: String, json: bool) -> anyhow::Result<()> {
    let mut node = NodeClient::new(target::node_channel(target)?);
    let s = node
        .link_signal(pb::LinkSignalRequest { signal_id: id, bsn })
        .await
        .map_err(status)?
        .into_inner();
    if json {
        print_json(&signal_json(&s));
    } else {
        println!(
            "Signal {} is now on the youth's BSN and matched again",
            s.id
        );
    }
    Ok(())
}

fn candidate_status(s: i32) -> &'static str {
    match pb::CandidateStatus::try_from(s) {
        Ok(pb::CandidateStatus::Pending) => "pending",
        Ok(pb::CandidateStatus::Confirmed) => "confirmed",
        Ok(pb::CandidateStatus::Rejected) => "rejected",
        Ok(pb::CandidateStatus::Closed) => "closed",
        _ => "unknown",
    }
}

fn side_json(s: &pb::CandidateSide) -> serde_json::Value {
    json!({
        "signal_id": s.signal_id, "region": s.region, "organisation": s.organisation,
        "organisation_oin": s.organisation_oin, "surname": s.surname, "given_name": s.given_name,
        "birth_date": s.birth_date, "gender": s.gender, "municipality": s.municipality,
        "postcode": s.postcode, "house_number": s.house_number,
        "house_number_addition": s.house_number_addition,
        "verwijsindex_number": s.verwijsindex_number,
    })
}

fn candidate_json(c: &pb::Candidate) -> serde_json::Value {
    json!({
        "id": c.id, "status": candidate_status(c.status), "hub_match_id": c.hub_match_id,
        "other_region": c.other_region, "created_at": c.created_at, "decided_at": c.decided_at,
        "decided_by": c.decided_by, "sides": c.sides.iter().map(side_json).collect::<Vec<_>>(),
    })
}

fn print_candidate(c: &pb::Candidate) {
    println!(
        "candidate {} ({}) since {}",
        c.id,
        candidate_status(c.status),
        c.created_at
    );
    for s in &c.sides {
        let number = if s.verwijsindex_number.is_empty() {
            String::from("with BSN")
        } else {
            format!("VIN {}", s.verwijsindex_number)
        };
        println!(
            "    {} {} {} {} {}, {}: {}",
            s.surname, s.given_name, s.birth_date, s.gender, s.municipality, number, s.organisation
        );
    }
    if !c.other_region.is_empty() {
        println!(
            "    and a signal in {} (details after both regions confirm)",
            c.other_region
        );
    }
}

/// `virctl admin candidates list|confirm|reject`.
pub async fn candidates(
    target: &TargetArgs,
    cmd: CandidatesCommand,
    json: bool,
) -> anyhow::Result<()> {
    let mut node = NodeClient::new(target::node_channel(target)?);
    let (id, confirm) = match cmd {
        CandidatesCommand::List { all } => {
            let list = node
                .admin_list_candidates(pb::AdminListCandidatesRequest { pending_only: !all })
                .await
                .map_err(status)?
                .into_inner()
                .candidates;
            if json {
                print_json(&json!(list.iter().map(candidate_json).collect::<Vec<_>>()));
            } else if list.is_empty() {
                println!("No candidates.");
            } else {
                list.iter().for_each(print_candidate);
            }
            return Ok(());
        }
        CandidatesCommand::Confirm { id } => (id, true),
        CandidatesCommand::Reject { id } => (id, false),
    };
    let c = node
        .admin_decide_candidate(pb::AdminDecideCandidateRequest {
            candidate_id: id,
            confirm,
        })
        .await
        .map_err(status)?
        .into_inner();
    if json {
        print_json(&candidate_json(&c));
    } else {
        print_candidate(&c);
    }
    Ok(())
}
