//! The partners' commands of the regions' rules: renew, archive, inform, request destruction,
//! follow-up, consultation, regie and notices (the administrator's are in [`crate::admin`]).
//! Text for people, `--json` for scripts.

use clap::ValueEnum;
use serde_json::{json, Value};
use tonic::transport::Channel;
use vir_proto as pb;
use vir_proto::node_client::NodeClient;

use crate::cli::*;
use crate::commands::{party_json, party_line, print_json, signal_json, status};
use crate::target;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum AddresseeArg {
    Parents,
    ParentsAndYouth,
    Youth,
}

impl AddresseeArg {
    pub(crate) fn proto(self) -> i32 {
        let a = match self {
            AddresseeArg::Parents => pb::Addressee::Parents,
            AddresseeArg::ParentsAndYouth => pb::Addressee::ParentsAndYouth,
            AddresseeArg::Youth => pb::Addressee::Youth,
        };
        a as i32
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DestroyArg {
    /// The signal was made wrongly (003 art. 16.3-16.4).
    Wrong,
    /// An objection was upheld (003 art. 16.6).
    ObjectionUpheld,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum OutcomeArg {
    Upheld,
    NoLongerNeeded,
    Rejected,
}

pub(crate) fn node(t: &TargetArgs) -> anyhow::Result<NodeClient<Channel>> {
    Ok(NodeClient::new(target::node_channel(t)?))
}

pub(crate) fn addressee_name(a: i32) -> &'static str {
    match pb::Addressee::try_from(a) {
        Ok(pb::Addressee::Parents) => "parents",
        Ok(pb::Addressee::ParentsAndYouth) => "parents_and_youth",
        Ok(pb::Addressee::Youth) => "youth",
        _ => "",
    }
}

fn topic_name(t: i32) -> String {
    pb::NoticeTopic::try_from(t)
        .map(|t| {
            t.as_str_name()
                .trim_start_matches("NOTICE_TOPIC_")
                .to_lowercase()
        })
        .unwrap_or_else(|_| "unknown".into())
}

pub async fn signal_command(
    node: &mut NodeClient<Channel>,
    cmd: SignalCommand,
    json: bool,
) -> anyhow::Result<()> {
    let signal = match cmd {
        SignalCommand::Renew { id, end_date } => {
            let req = pb::RenewSignalRequest {
                signal_id: id,
                end_date: end_date.unwrap_or_default(),
            };
            node.renew_signal(req).await.map_err(status)?.into_inner()
        }
        SignalCommand::Inform {
            id,
            informed,
            on,
            postponed,
        } => {
            let req = pb::RecordInformingRequest {
                signal_id: id,
                informed: informed.map_or(0, AddresseeArg::proto),
                informed_on: on.unwrap_or_default(),
                postponed_reason: postponed.unwrap_or_default(),
            };
            node.record_informing(req)
                .await
                .map_err(status)?
                .into_inner()
        }
        SignalCommand::RequestDestruction { id } => {
            let res = node
                .request_destruction(pb::RequestDestructionRequest { signal_id: id })
                .await
                .map_err(status)?
                .into_inner();
            if json {
                print_json(&json!({"administrators_asked": res.administrators}));
            } else {
                println!(
                    "{} administrator(s) asked to destroy the signal.",
                    res.administrators
                );
            }
            return Ok(());
        }
        SignalCommand::Archive => {
            let list = node
                .list_archive(pb::ListArchiveRequest {})
                .await
                .map_err(status)?
                .into_inner()
                .signals;
            let rows: Vec<Value> = list
                .iter()
                .map(|a| json!({
                    "your_signal_id": a.your_signal_id, "organisation": a.organisation,
                    "organisation_oin": a.organisation_oin, "category": a.category,
                    "signaller": a.signaller.as_ref().map(|c| json!({"name": c.name, "phone": c.phone, "email": c.email})),
                    "signalled_on": a.signalled_on, "ended_on": a.ended_on, "archive_until": a.archive_until,
                }))
                .collect();
            if json {
                print_json(&json!(rows));
            } else if list.is_empty() {
                println!("No archived signals of others on the youths of your active signals.");
            } else {
                for a in &list {
                    let c = a.signaller.clone().unwrap_or_default();
                    println!(
                        "{} ({}) {} {} {}: {} to {}, archived until {} (your signal {})",
                        a.organisation,
                        a.category,
                        c.name,
                        c.phone,
                        c.email,
                        a.signalled_on,
                        a.ended_on,
                        a.archive_until,
                        a.your_signal_id
                    );
                }
            }
            return Ok(());
        }
        other => anyhow::bail!("not a rules command: {other:?}"),
    };
    if json {
        print_json(&signal_json(&signal));
    } else {
        let informing = signal.informing.as_ref().map_or(String::new(), |i| {
            if i.postponed_reason.is_empty() {
                format!(
                    ", informed {} on {}",
                    addressee_name(i.informed),
                    i.informed_on
                )
            } else {
                ", informing postponed".to_owned()
            }
        });
        println!("Signal {} ends {}{}", signal.id, signal.end_date, informing);
    }
    Ok(())
}

fn follow_up_json(f: &pb::MatchFollowUp) -> Value {
    json!({
        "match_id": f.match_id, "your_signal_id": f.your_signal_id,
        "consultation_due_on": f.consultation_due_on, "consulted_on": f.consulted_on,
        "escalated": f.escalated,
        "regie": f.regie.as_ref().map(|r| json!({
            "coordinator_oin": r.coordinator_oin, "coordinator_organisation": r.coordinator_organisation,
            "basis": r.basis, "lead_region": r.lead_region, "changed_at": r.changed_at,
        })),
    })
}

fn print_follow_up(f: &pb::MatchFollowUp) {
    let consulted = if f.consulted_on.is_empty() {
        "not yet".to_owned()
    } else {
        f.consulted_on.clone()
    };
    println!("match {} (your signal {})", f.match_id, f.your_signal_id);
    println!(
        "    consult by {}; consulted: {}{}",
        f.consultation_due_on,
        consulted,
        if f.escalated { "; ESCALATED" } else { "" }
    );
    if let Some(r) = &f.regie {
        let who = if r.coordinator_organisation.is_empty() {
            "nobody yet".to_owned()
        } else {
            format!("{} ({})", r.coordinator_organisation, r.coordinator_oin)
        };
        println!(
            "    regie: {who}, {} (lead region {})",
            r.basis, r.lead_region
        );
    }
}

pub async fn match_command(t: &TargetArgs, cmd: MatchCommand, json: bool) -> anyhow::Result<()> {
    let mut node = node(t)?;
    let list = match cmd {
        MatchCommand::FollowUp => {
            node.list_follow_ups(pb::ListFollowUpsRequest {})
                .await
                .map_err(status)?
                .into_inner()
                .follow_ups
        }
        MatchCommand::Consulted { match_id, on } => {
            let req = pb::RecordConsultationRequest {
                match_id,
                consulted_on: on.unwrap_or_default(),
            };
            vec![node
                .record_consultation(req)
                .await
                .map_err(status)?
                .into_inner()]
        }
        MatchCommand::Regie {
            match_id,
            coordinator,
        } => {
            let req = pb::SetRegieRequest {
                match_id,
                coordinator_oin: coordinator,
            };
            vec![node.set_regie(req).await.map_err(status)?.into_inner()]
        }
        MatchCommand::List => anyhow::bail!("`match list` is not a rules command"),
    };
    if json {
        print_json(&json!(list.iter().map(follow_up_json).collect::<Vec<_>>()));
    } else if list.is_empty() {
        println!("No matches to follow up.");
    } else {
        list.iter().for_each(print_follow_up);
    }
    Ok(())
}

pub(crate) fn notice_json(n: &pb::Notice) -> Value {
    json!({
        "id": n.id, "topic": topic_name(n.topic), "your_signal_id": n.your_signal_id,
        "match_id": n.match_id, "due_on": n.due_on, "detail": n.detail, "created_at": n.created_at,
        "parties": n.parties.iter().map(party_json).collect::<Vec<_>>(),
    })
}

pub(crate) fn print_notices(list: &[pb::Notice]) {
    for n in list {
        let due = if n.due_on.is_empty() {
            String::new()
        } else {
            format!(" due {}", n.due_on)
        };
        println!(
            "{}  {} {}{} (signal {}, match {}) [{}]",
            n.created_at,
            n.id,
            topic_name(n.topic),
            due,
            n.your_signal_id,
            n.match_id,
            n.detail
        );
        for p in &n.parties {
            println!("    {}", party_line(p));
        }
    }
}

pub async fn notices(t: &TargetArgs, json: bool) -> anyhow::Result<()> {
    let list = node(t)?
        .list_notices(pb::ListNoticesRequest {})
        .await
        .map_err(status)?
        .into_inner()
        .notices;
    if json {
        print_json(&json!(list.iter().map(notice_json).collect::<Vec<_>>()));
    } else if list.is_empty() {
        println!("No notices.");
    } else {
        print_notices(&list);
    }
    Ok(())
}
