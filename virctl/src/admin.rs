//! The administrator's commands (functioneel beheerder): destroy, correct, bezwaar, inzage,
//! deadlines, tasks and the access log. The node refuses them to anyone else.

use anyhow::Context;
use serde_json::{json, Value};
use tonic::transport::Channel;
use vir_proto as pb;
use vir_proto::node_client::NodeClient;

use crate::cli::*;
use crate::commands::{print_json, signal_json, status};
use crate::rules::{addressee_name, node, notice_json, print_notices, DestroyArg, OutcomeArg};

fn outcome_name(o: i32) -> String {
    pb::ObjectionOutcome::try_from(o)
        .map(|o| {
            o.as_str_name()
                .trim_start_matches("OBJECTION_OUTCOME_")
                .to_lowercase()
        })
        .unwrap_or_else(|_| "unknown".into())
}

fn objection_json(o: &pb::Objection) -> Value {
    json!({
        "id": o.id, "bsn": o.bsn, "signal_ids": o.signal_ids, "lodged_on": o.lodged_on,
        "lodged_by": addressee_name(o.lodged_by), "informed_on": o.informed_on, "late": o.late,
        "decision_due": o.decision_due, "decided_on": o.decided_on, "outcome": outcome_name(o.outcome),
        "recorded_at": o.recorded_at,
    })
}

fn print_objection(o: &pb::Objection) {
    println!(
        "objection {}  lodged {} by {}{}  decision due {}  {}{}",
        o.id,
        o.lodged_on,
        addressee_name(o.lodged_by),
        if o.late {
            " (LATE: more than 6 weeks after informing)"
        } else {
            ""
        },
        o.decision_due,
        outcome_name(o.outcome),
        if o.decided_on.is_empty() {
            String::new()
        } else {
            format!(" on {}", o.decided_on)
        }
    );
}

pub async fn admin(t: &TargetArgs, cmd: AdminCommand, json: bool) -> anyhow::Result<()> {
    let mut node = node(t)?;
    match cmd {
        AdminCommand::Candidates(cmd) => return crate::nobsn::candidates(t, cmd, json).await,
        AdminCommand::Moves | AdminCommand::AcceptHandover { .. } => {
            return crate::verhuizing::admin(t, cmd, json).await
        }
        AdminCommand::Destroy { signal_id, reason } => {
            let reason = match reason {
                DestroyArg::Wrong => pb::DestroyReason::Wrong,
                DestroyArg::ObjectionUpheld => pb::DestroyReason::ObjectionUpheld,
            };
            let reason = reason as i32;
            let r = node
                .admin_destroy_signal(pb::AdminDestroySignalRequest { signal_id, reason })
                .await
                .map_err(status)?
                .into_inner();
            if json {
                print_json(
                    &json!({"signal_id": r.signal_id, "signallers_told": r.signallers_told}),
                );
            } else {
                println!(
                    "Signal {} destroyed; {} signaller(s) who had a match were told.",
                    r.signal_id, r.signallers_told
                );
            }
        }
        AdminCommand::Correct {
            signal_id,
            name,
            phone,
            email,
        } => {
            let req = pb::AdminCorrectSignalRequest {
                signal_id,
                signaller: Some(pb::Contact { name, phone, email }),
            };
            let s = node
                .admin_correct_signal(req)
                .await
                .map_err(status)?
                .into_inner();
            if json {
                print_json(&signal_json(&s));
            } else {
                println!(
                    "Signal {} corrected; signallers who had a match were told.",
                    s.id
                );
            }
        }
        AdminCommand::Bezwaar(cmd) => bezwaar(&mut node, cmd, json).await?,
        AdminCommand::Inzage {
            bsn,
            by,
            not_capable,
            all_regions: true,
        } => {
            let req = pb::AdminInzageRequest {
                bsn,
                requested_by: by.proto(),
                youth_not_capable: not_capable,
            };
            let r = node
                .admin_inzage_all_regions(req)
                .await
                .map_err(status)?
                .into_inner();
            let regional = r.regional.unwrap_or_default();
            if json {
                let export: Value =
                    serde_json::from_str(&regional.export_json).unwrap_or(Value::Null);
                print_json(&json!({
                    "request_id": r.request_id, "export": export,
                    "signals": regional.signals, "access_log_entries": regional.access_log_entries,
                }));
            } else {
                println!("{}", regional.export_json);
                eprintln!(
                    "{} signal(s), {} access-log entries. Other regions asked through the hub: \
                     request {} (virctl admin inzage-result {}).",
                    regional.signals, regional.access_log_entries, r.request_id, r.request_id
                );
            }
        }
        AdminCommand::InzageResult { request_id } => {
            let r = node
                .admin_inzage_result(pb::AdminInzageResultRequest { request_id })
                .await
                .map_err(status)?
                .into_inner();
            let parse = |text: &str| serde_json::from_str::<Value>(text).unwrap_or(Value::Null);
            let answers: Vec<Value> = r
                .answers
                .iter()
                .map(|a| {
                    json!({
                        "region": a.region, "answered_unix_ms": a.answered_unix_ms,
                        "export": parse(&a.export_json),
                    })
                })
                .collect();
            let doc = json!({
                "request_id": r.request_id,
                "requested_unix_ms": r.requested_unix_ms,
                "forwarded_by_hub": r.forwarded,
                "regional_export": parse(&r.regional_export_json),
                "other_regions": answers,
                "pending_regions": r.pending_regions,
            });
            print_json(&doc);
            if !json {
                if !r.forwarded {
                    eprintln!("The hub has not yet said which regions it asked.");
                } else if r.pending_regions.is_empty() {
                    eprintln!(
                        "{} other region(s) answered; none pending.",
                        r.answers.len()
                    );
                } else {
                    eprintln!(
                        "{} other region(s) answered; waiting for {}.",
                        r.answers.len(),
                        r.pending_regions.join(", ")
                    );
                }
            }
        }
        AdminCommand::Inzage {
            bsn,
            by,
            not_capable,
            all_regions: false,
        } => {
            let req = pb::AdminInzageRequest {
                bsn,
                requested_by: by.proto(),
                youth_not_capable: not_capable,
            };
            let r = node.admin_inzage(req).await.map_err(status)?.into_inner();
            // The export is a JSON document already, for --json and text alike.
            println!("{}", r.export_json);
            if !json {
                eprintln!(
                    "{} signal(s), {} access-log entries.",
                    r.signals, r.access_log_entries
                );
            }
        }
        AdminCommand::Deadlines => {
            let r = node
                .admin_deadlines(pb::AdminDeadlinesRequest {})
                .await
                .map_err(status)?
                .into_inner();
            if json {
                print_json(&json!({
                    "missed_consultations": r.missed_consultations.iter().map(|m| json!({
                        "match_id": m.match_id, "signal_id": m.signal_id, "organisation": m.organisation,
                        "organisation_oin": m.organisation_oin, "municipality": m.municipality,
                        "due_on": m.due_on, "escalated_at": m.escalated_at,
                    })).collect::<Vec<_>>(),
                    "objections_due": r.objections_due.iter().map(|o| json!({
                        "objection_id": o.objection_id, "decision_due": o.decision_due, "overdue": o.overdue, "late": o.late,
                    })).collect::<Vec<_>>(),
                    "tasks": r.tasks.iter().map(notice_json).collect::<Vec<_>>(),
                }));
            } else {
                println!("Missed consultations: {}", r.missed_consultations.len());
                for m in &r.missed_consultations {
                    let esc = if m.escalated_at.is_empty() {
                        "not yet escalated".to_owned()
                    } else {
                        format!("escalated {}", m.escalated_at)
                    };
                    println!(
                        "    match {}: {} (municipality {}) due {}, {}",
                        m.match_id, m.organisation, m.municipality, m.due_on, esc
                    );
                }
                println!("Objection decisions due: {}", r.objections_due.len());
                for o in &r.objections_due {
                    println!(
                        "    {} due {}{}{}",
                        o.objection_id,
                        o.decision_due,
                        if o.overdue { " OVERDUE" } else { "" },
                        if o.late { " (lodged late)" } else { "" }
                    );
                }
                println!("Open tasks: {}", r.tasks.len());
                print_notices(&r.tasks);
            }
        }
        AdminCommand::CloseTask { notice_id } => {
            let n = node
                .admin_close_task(pb::AdminCloseTaskRequest { notice_id })
                .await
                .map_err(status)?
                .into_inner();
            if json {
                print_json(&notice_json(&n));
            } else {
                println!("Task {} closed.", n.id);
            }
        }
        AdminCommand::Accesslog(AccesslogCommand::Query {
            bsn,
            actor,
            from,
            limit,
        }) => {
            let req = pb::AdminAccessLogRequest {
                bsn: bsn.unwrap_or_default(),
                actor_oin: actor.unwrap_or_default(),
                from_seq: from,
                limit,
            };
            let entries = node
                .admin_access_log(req)
                .await
                .map_err(status)?
                .into_inner()
                .entries;
            if json {
                print_json(&json!(entries.iter().map(|e| json!({
                    "seq": e.seq, "at": e.at, "actor_oin": e.actor_oin, "actor": e.actor, "on_behalf_of": e.on_behalf_of,
                    "action": e.action, "object": e.object, "subject": e.subject, "result": e.result, "hash": e.hash,
                })).collect::<Vec<_>>()));
            } else {
                for e in &entries {
                    println!(
                        "{:>6} {} {} ({}) for {}: {} {} -> {}",
                        e.seq,
                        e.at,
                        e.actor,
                        e.actor_oin,
                        e.on_behalf_of,
                        e.action,
                        e.object,
                        e.result
                    );
                }
            }
        }
        AdminCommand::Accesslog(AccesslogCommand::Verify { anchors }) => {
            let v = node
                .admin_verify_access_log(pb::AdminVerifyAccessLogRequest { anchors })
                .await
                .map_err(status)?
                .into_inner();
            if json {
                print_json(
                    &json!({"intact": v.intact, "entries": v.entries, "first_bad_seq": v.first_bad_seq, "problem": v.problem, "head": v.head}),
                );
            } else if v.intact {
                println!(
                    "Access log intact: {} entries, hash chain verified.",
                    v.entries
                );
                println!(
                    "Head (keep outside the database; pass to a later check with --anchor): {}",
                    v.head
                );
            } else {
                println!(
                    "ACCESS LOG BROKEN at entry {}: {} ({} entries verified before it)",
                    v.first_bad_seq, v.problem, v.entries
                );
            }
            if !v.intact {
                anyhow::bail!("the access log's hash chain is broken");
            }
        }
    }
    Ok(())
}

async fn bezwaar(
    node: &mut NodeClient<Channel>,
    cmd: BezwaarCommand,
    json: bool,
) -> anyhow::Result<()> {
    let list = match cmd {
        BezwaarCommand::Lodge {
            bsn,
            signal,
            by,
            lodged_on,
            informed_on,
            not_capable,
        } => {
            let req = pb::AdminLodgeObjectionRequest {
                bsn,
                signal_id: signal.unwrap_or_default(),
                lodged_on: lodged_on.unwrap_or_default(),
                lodged_by: by.proto(),
                youth_not_capable: not_capable,
                informed_on: informed_on.unwrap_or_default(),
            };
            vec![node
                .admin_lodge_objection(req)
                .await
                .map_err(status)?
                .into_inner()]
        }
        BezwaarCommand::Decide {
            objection_id,
            outcome,
            on,
        } => {
            let outcome = match outcome {
                OutcomeArg::Upheld => pb::ObjectionOutcome::Upheld,
                OutcomeArg::NoLongerNeeded => pb::ObjectionOutcome::NoLongerNeeded,
                OutcomeArg::Rejected => pb::ObjectionOutcome::Rejected,
            };
            let outcome = outcome as i32;
            let req = pb::AdminDecideObjectionRequest {
                objection_id,
                outcome,
                decided_on: on.unwrap_or_default(),
            };
            vec![node
                .admin_decide_objection(req)
                .await
                .map_err(status)?
                .into_inner()]
        }
        BezwaarCommand::List { open } => {
            node.admin_list_objections(pb::AdminListObjectionsRequest { open_only: open })
                .await
                .map_err(status)
                .context("listing objections")?
                .into_inner()
                .objections
        }
    };
    if json {
        print_json(&json!(list.iter().map(objection_json).collect::<Vec<_>>()));
    } else if list.is_empty() {
        println!("No objections.");
    } else {
        list.iter().for_each(print_objection);
    }
    Ok(())
}
