//! Runs a parsed command and prints the result as text or JSON.

use anyhow::{bail, Context};
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;
use vir_proto as pb;
use vir_proto::hub_client::HubClient;
use vir_proto::node_client::NodeClient;
use vir_shared::clock::DevClock;
use vir_shared::localfed::FederationFile;

use crate::cli::*;
use crate::target;

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let json = cli.json;
    match cli.command {
        Command::Signal(cmd) => signal(&cli.target, cmd, json).await,
        Command::Match(
            cmd @ (MatchCommand::FollowUp
            | MatchCommand::Consulted { .. }
            | MatchCommand::Regie { .. }),
        ) => crate::rules::match_command(&cli.target, cmd, json).await,
        Command::Notice(NoticeCommand::List) => crate::rules::notices(&cli.target, json).await,
        Command::Admin(cmd) => crate::admin::admin(&cli.target, cmd, json).await,
        Command::Match(MatchCommand::List) => {
            let mut node = NodeClient::new(target::node_channel(&cli.target)?);
            let res = node
                .list_matches(pb::ListMatchesRequest {})
                .await
                .map_err(status)?;
            let matches = res.into_inner().matches;
            if json {
                print_json(&json!(matches.iter().map(match_json).collect::<Vec<_>>()));
            } else if matches.is_empty() {
                println!("No matches.");
            } else {
                for m in &matches {
                    print_match(m);
                }
            }
            Ok(())
        }
        Command::Notification(NotificationCommand::List) => {
            let mut node = NodeClient::new(target::node_channel(&cli.target)?);
            let res = node
                .list_notifications(pb::ListNotificationsRequest {})
                .await
                .map_err(status)?;
            let items = res.into_inner().notifications;
            if json {
                print_json(&json!(items
                    .iter()
                    .map(notification_json)
                    .collect::<Vec<_>>()));
            } else if items.is_empty() {
                println!("No notifications.");
            } else {
                for n in &items {
                    println!(
                        "{}  {} match {} on your signal {}",
                        n.created_at,
                        kind_name(n.kind),
                        n.match_id,
                        n.your_signal_id
                    );
                    for p in &n.parties {
                        println!("    {}", party_line(p));
                    }
                }
            }
            Ok(())
        }
        Command::Status { services }
            if cli.target.as_org.is_none() && cli.target.node.is_none() =>
        {
            crate::status::run(&cli.target, &services, json).await
        }
        Command::Status { .. } => {
            let mut node = NodeClient::new(target::node_channel(&cli.target)?);
            let s = node
                .status(pb::NodeStatusRequest {})
                .await
                .map_err(status)?
                .into_inner();
            if json {
                print_json(&json!({
                    "region": s.region, "active_signals": s.active_signals, "matches": s.matches,
                    "outbox_pending": s.outbox_pending, "feed_applied_seq": s.feed_applied_seq,
                    "hub_connected": s.hub_connected, "clock_now": s.clock_now,
                    "key_version": s.key_version, "rekey_pending": s.rekey_pending,
                }));
            } else {
                println!("region            {}", s.region);
                println!("active signals    {}", s.active_signals);
                println!("matches           {}", s.matches);
                println!("outbox pending    {}", s.outbox_pending);
                println!("feed applied seq  {}", s.feed_applied_seq);
                println!("hub connected     {}", s.hub_connected);
                println!("key version       {}", s.key_version);
                println!("re-key pending    {}", s.rekey_pending);
                println!("clock             {}", s.clock_now);
            }
            Ok(())
        }
        Command::Report(args) => crate::report::run(&cli.target, args, json).await,
        Command::Hub(HubCommand::Status) => {
            let mut hub = HubClient::new(target::hub_channel(&cli.target)?);
            let s = hub
                .status(pb::HubStatusRequest {})
                .await
                .map_err(status)?
                .into_inner();
            if json {
                let regions: Vec<_> = s.regions.iter().map(|r| json!({
                    "region": r.region, "active_signals": r.active_signals,
                    "feed_head_seq": r.feed_head_seq, "feed_acked_seq": r.feed_acked_seq,
                    "last_applied_op_id": r.last_applied_op_id, "subscribers": r.subscribers,
                })).collect();
                print_json(
                    &json!({"active_signals": s.active_signals, "matches": s.matches, "regions": regions}),
                );
            } else {
                println!(
                    "active signals {}   matches {}",
                    s.active_signals, s.matches
                );
                println!(
                    "{:<16} {:>8} {:>10} {:>10} {:>10} {:>5}",
                    "region", "signals", "feed head", "acked", "last op", "subs"
                );
                for r in &s.regions {
                    println!(
                        "{:<16} {:>8} {:>10} {:>10} {:>10} {:>5}",
                        r.region,
                        r.active_signals,
                        r.feed_head_seq,
                        r.feed_acked_seq,
                        r.last_applied_op_id,
                        r.subscribers
                    );
                }
            }
            Ok(())
        }
        Command::Dev(DevCommand::Clock(cmd)) => dev_clock(&cli.target, cmd, json),
        Command::Dev(DevCommand::Registry(cmd)) => {
            crate::verhuizing::dev_registry(&cli.target, cmd, json)
        }
    }
}

async fn signal(target: &TargetArgs, cmd: SignalCommand, json: bool) -> anyhow::Result<()> {
    let mut node = NodeClient::new(target::node_channel(target)?);
    match cmd {
        SignalCommand::Create(c) => {
            let without_bsn = crate::nobsn::identity(&c);
            let req = pb::CreateSignalRequest {
                bsn: c.bsn,
                signaller: Some(pb::Contact {
                    name: c.name,
                    phone: c.phone,
                    email: c.email,
                }),
                end_date: c.end_date.unwrap_or_default(),
                urgency: c.urgency,
                chain_registration: c.chain_registration,
                without_bsn,
            };
            let s = node.create_signal(req).await.map_err(status)?.into_inner();
            if json {
                print_json(&signal_json(&s));
            } else {
                println!(
                    "Signal {} created for {} (ends {}){}",
                    s.id,
                    s.youth_name,
                    s.end_date,
                    if s.national {
                        ", forwarded to the national index"
                    } else {
                        ", regional only"
                    }
                );
            }
        }
        SignalCommand::List => {
            let list = node
                .list_signals(pb::ListSignalsRequest {})
                .await
                .map_err(status)?
                .into_inner()
                .signals;
            if json {
                print_json(&json!(list.iter().map(signal_json).collect::<Vec<_>>()));
            } else if list.is_empty() {
                println!("No signals.");
            } else {
                for s in &list {
                    println!(
                        "{}  {:<9} {}  {}  ends {}",
                        s.id,
                        status_name(s.status),
                        s.bsn,
                        s.youth_name,
                        s.end_date
                    );
                }
            }
        }
        other @ (SignalCommand::Renew { .. }
        | SignalCommand::Archive
        | SignalCommand::Inform { .. }
        | SignalCommand::RequestDestruction { .. }) => {
            return crate::rules::signal_command(&mut node, other, json).await;
        }
        SignalCommand::Link { id, bsn } => return crate::nobsn::link(target, id, bsn, json).await,
        SignalCommand::Withdraw { id } => {
            let s = node
                .withdraw_signal(pb::WithdrawSignalRequest { signal_id: id })
                .await
                .map_err(status)?
                .into_inner();
            if json {
                print_json(&signal_json(&s));
            } else {
                println!("Signal {} is now {}", s.id, status_name(s.status));
            }
        }
    }
    Ok(())
}

fn dev_clock(target: &TargetArgs, cmd: ClockCommand, json: bool) -> anyhow::Result<()> {
    let fed = FederationFile::load(&target.data)?;
    let file = &fed.clock_file;
    match cmd {
        ClockCommand::Show => {}
        ClockCommand::Set { when } => {
            let at = parse_when(&when)?;
            DevClock::write_target(file, at)?;
        }
        ClockCommand::Advance { by } => {
            let offset = DevClock::read_offset(file)? + parse_duration(&by)?.num_seconds();
            DevClock::write_offset(file, offset)?;
        }
        ClockCommand::Reset => DevClock::write_offset(file, 0)?,
    }
    let now = Utc::now() + chrono::Duration::seconds(DevClock::read_offset(file)?);
    if json {
        print_json(
            &json!({"now": now.to_rfc3339(), "offset_seconds": DevClock::read_offset(file)?}),
        );
    } else {
        println!("Federation clock: {}", now.format("%Y-%m-%d %H:%M:%S UTC"));
    }
    Ok(())
}

fn parse_when(s: &str) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(t) = s.parse::<DateTime<Utc>>() {
        return Ok(t);
    }
    let date: NaiveDate = s
        .parse()
        .with_context(|| format!("{s:?} is not a date (YYYY-MM-DD) or an RFC 3339 time"))?;
    // Keep the time of day, so the clock keeps moving naturally from the new date.
    Ok(date.and_time(Utc::now().time()).and_utc())
}

fn parse_duration(s: &str) -> anyhow::Result<chrono::Duration> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = num
        .parse()
        .with_context(|| format!("{s:?}: expected a number then d, h, w or y"))?;
    Ok(match unit {
        "h" => chrono::Duration::hours(n),
        "d" => chrono::Duration::days(n),
        "w" => chrono::Duration::weeks(n),
        "y" => chrono::Duration::days(365 * n),
        _ => bail!("{s:?}: unit must be h, d, w or y"),
    })
}

pub(crate) fn status(s: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("{:?}: {}", s.code(), s.message())
}

pub(crate) fn print_json(v: &serde_json::Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

fn kind_name(k: i32) -> &'static str {
    match pb::MatchKind::try_from(k) {
        Ok(pb::MatchKind::Client) => "client",
        Ok(pb::MatchKind::Family) => "family",
        Ok(pb::MatchKind::Address) => "address",
        Ok(pb::MatchKind::Candidate) => "candidate",
        _ => "unknown",
    }
}

pub(crate) fn status_name(s: i32) -> &'static str {
    match pb::SignalStatus::try_from(s) {
        Ok(pb::SignalStatus::Active) => "active",
        Ok(pb::SignalStatus::Inactive) => "inactive",
        Ok(pb::SignalStatus::Expired) => "expired",
        _ => "unknown",
    }
}

fn contact_json(c: &Option<pb::Contact>) -> serde_json::Value {
    c.as_ref()
        .map(|c| json!({"name": c.name, "phone": c.phone, "email": c.email}))
        .unwrap_or(serde_json::Value::Null)
}

pub(crate) fn signal_json(s: &pb::Signal) -> serde_json::Value {
    json!({
        "id": s.id, "bsn": s.bsn, "youth_name": s.youth_name, "birth_date": s.birth_date,
        "signaller": contact_json(&s.signaller), "status": status_name(s.status),
        "created_at": s.created_at, "end_date": s.end_date, "national": s.national,
        "urgency": s.urgency, "chain_registration": s.chain_registration,
        "archive_until": s.archive_until, "renewed_at": s.renewed_at,
        "verwijsindex_number": s.verwijsindex_number,
        "informing": s.informing.as_ref().map(|i| json!({
            "informed": i.informed, "informed_on": i.informed_on,
            "postponed_reason": i.postponed_reason, "recorded_at": i.recorded_at, "required": i.required,
        })),
    })
}

pub(crate) fn party_json(p: &pb::MatchParty) -> serde_json::Value {
    json!({
        "organisation": p.organisation, "organisation_oin": p.organisation_oin,
        "category": p.category, "signaller": contact_json(&p.signaller), "region": p.region,
        "signalled_on": p.signalled_on, "contact_pending": p.contact_pending,
    })
}

fn match_json(m: &pb::Match) -> serde_json::Value {
    json!({
        "id": m.id, "kind": kind_name(m.kind), "your_signal_id": m.your_signal_id,
        "created_at": m.created_at, "others": m.others.iter().map(party_json).collect::<Vec<_>>(),
    })
}

fn notification_json(n: &pb::Notification) -> serde_json::Value {
    json!({
        "id": n.id, "kind": kind_name(n.kind), "match_id": n.match_id,
        "your_signal_id": n.your_signal_id, "created_at": n.created_at,
        "parties": n.parties.iter().map(party_json).collect::<Vec<_>>(),
    })
}

pub(crate) fn party_line(p: &pb::MatchParty) -> String {
    if p.contact_pending {
        return format!(
            "{} ({}, {}): contact details on their way",
            p.organisation, p.category, p.region
        );
    }
    let c = p.signaller.clone().unwrap_or_default();
    format!(
        "{} ({}, {}): {} {} {} since {}",
        p.organisation, p.category, p.region, c.name, c.phone, c.email, p.signalled_on
    )
}

fn print_match(m: &pb::Match) {
    println!(
        "{} match {} on your signal {} (since {})",
        kind_name(m.kind),
        m.id,
        m.your_signal_id,
        m.created_at
    );
    for p in &m.others {
        println!("    {}", party_line(p));
    }
}
