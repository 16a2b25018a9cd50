//! Verhuizing (issue 5): changing the development registry (a move, a death, new parents) and
//! the designated officer's commands (moves out and in, accepting a hand-over).

use std::path::PathBuf;

use anyhow::Context;
use chrono::NaiveDate;
use serde_json::{json, Value};
use vir_proto as pb;
use vir_shared::clock::DevClock;
use vir_shared::devregistry;
use vir_shared::localfed::FederationFile;
use vir_shared::person::{Address, Person};
use vir_shared::Bsn;

use crate::cli::*;
use crate::commands::{print_json, status};
use crate::rules::node;

/// The registry file: `--file`, else `registry.json` in the federation's data folder.
fn registry_file(target: &TargetArgs, file: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(file) = file {
        return Ok(file);
    }
    let fed = FederationFile::load(&target.data)?;
    let data = fed
        .clock_file
        .parent()
        .context("the federation file names no data folder")?;
    Ok(data.join("registry.json"))
}

fn bsn(text: &str) -> anyhow::Result<Bsn> {
    text.parse().map_err(|e| anyhow::anyhow!("--bsn: {e}"))
}

/// What the registry says of a person, for the operator who simulates it (development only).
fn person_json(p: &Person) -> Value {
    json!({
        "bsn": p.bsn.to_string(), "municipality": p.municipality.to_string(),
        "street": p.address.street, "house_number": p.address.house_number,
        "addition": p.address.addition, "postcode": p.address.postcode.to_string(),
        "city": p.address.city,
        "death_date": p.death_date.map(|d| d.to_string()),
        "parents": p.parents.iter().map(|b| b.to_string()).collect::<Vec<_>>(),
    })
}

pub fn dev_registry(
    target: &TargetArgs,
    cmd: RegistryCommand,
    json_out: bool,
) -> anyhow::Result<()> {
    let (person, what) = match cmd {
        RegistryCommand::Show { bsn: b, file } => {
            let path = registry_file(target, file)?;
            let b = bsn(&b)?;
            let person = devregistry::read(&path)?
                .people
                .into_iter()
                .find(|p| p.bsn == b)
                .context("the registry has no person with this BSN")?;
            (person, "registry")
        }
        RegistryCommand::Move {
            bsn: b,
            municipality,
            postcode,
            house_number,
            addition,
            street,
            city,
            file,
        } => {
            let path = registry_file(target, file)?;
            let municipality = devregistry::parse_municipality(&municipality)?;
            let address = Address {
                street,
                house_number,
                addition,
                postcode: postcode
                    .parse()
                    .map_err(|e| anyhow::anyhow!("--postcode: {e}"))?,
                city,
            };
            (
                devregistry::move_person(&path, &bsn(&b)?, municipality, address)?,
                "moved",
            )
        }
        RegistryCommand::Death { bsn: b, date, file } => {
            let path = registry_file(target, file)?;
            let on = match date {
                Some(d) => NaiveDate::parse_from_str(&d, "%Y-%m-%d")
                    .with_context(|| format!("--date {d:?}: expected YYYY-MM-DD"))?,
                None => {
                    let fed = FederationFile::load(&target.data)?;
                    let offset = DevClock::read_offset(&fed.clock_file)?;
                    (chrono::Utc::now() + chrono::Duration::seconds(offset)).date_naive()
                }
            };
            (devregistry::record_death(&path, &bsn(&b)?, on)?, "died")
        }
        RegistryCommand::Parents {
            bsn: b,
            parents,
            file,
        } => {
            let path = registry_file(target, file)?;
            let parents = parents
                .iter()
                .map(|p| bsn(p))
                .collect::<anyhow::Result<Vec<_>>>()?;
            (
                devregistry::set_parents(&path, &bsn(&b)?, parents)?,
                "parents changed",
            )
        }
    };
    if json_out {
        print_json(&person_json(&person));
    } else {
        println!(
            "{what}: municipality {}, {} {}{} {} {}{}",
            person.municipality,
            person.address.street,
            person.address.house_number,
            person.address.addition.as_deref().unwrap_or(""),
            person.address.postcode,
            person.address.city,
            person
                .death_date
                .map(|d| format!(", died {d}"))
                .unwrap_or_default()
        );
    }
    Ok(())
}

fn move_in_json(m: &pb::MoveIn) -> Value {
    let package = m.package.as_ref().map(|p| {
        json!({
            "bsn": p.bsn, "from_municipality": p.from_municipality,
            "to_municipality": p.to_municipality, "moved_on": p.moved_on,
            "regievoerder_oin": p.regievoerder_oin,
            "regievoerder_organisation": p.regievoerder_organisation,
            "signals": p.signals.iter().map(|s| {
                let c = s.signaller.clone().unwrap_or_default();
                json!({"organisation": s.organisation, "organisation_oin": s.organisation_oin,
                       "category": s.category, "name": c.name, "phone": c.phone,
                       "email": c.email, "signalled_on": s.signalled_on, "end_date": s.end_date})
            }).collect::<Vec<_>>(),
        })
    });
    json!({
        "move_id": m.move_id, "from_region": m.from_region, "municipality": m.municipality,
        "status": m.status, "received_at": m.received_at, "accepted_at": m.accepted_at,
        "accepted_by": m.accepted_by, "offer_sent": m.offer_sent, "package": package,
    })
}

fn print_move_in(m: &pb::MoveIn) {
    println!(
        "inverhuis {}  from {}  to municipality {}  {}",
        m.move_id, m.from_region, m.municipality, m.status
    );
    if let Some(p) = &m.package {
        println!("  youth {}  moved on {}", p.bsn, p.moved_on);
        for s in &p.signals {
            let c = s.signaller.clone().unwrap_or_default();
            println!(
                "  signal by {} ({}) since {}: {} {} {}",
                s.organisation, s.category, s.signalled_on, c.name, c.phone, c.email
            );
        }
        if !p.regievoerder_organisation.is_empty() {
            println!("  regie: {}", p.regievoerder_organisation);
        }
    }
}

pub async fn admin(t: &TargetArgs, cmd: AdminCommand, json_out: bool) -> anyhow::Result<()> {
    let mut node = node(t)?;
    match cmd {
        AdminCommand::Moves => {
            let res = node
                .admin_list_moves(pb::AdminListMovesRequest {})
                .await
                .map_err(status)?
                .into_inner();
            if json_out {
                print_json(&json!({
                    "moves_out": res.moves_out.iter().map(|m| json!({
                        "move_id": m.move_id, "bsn": m.bsn, "from_municipality": m.from_municipality,
                        "to_municipality": m.to_municipality, "kind": m.kind,
                        "to_region": m.to_region, "status": m.status, "moved_on": m.moved_on,
                        "told": m.told,
                    })).collect::<Vec<_>>(),
                    "moves_in": res.moves_in.iter().map(move_in_json).collect::<Vec<_>>(),
                }));
            } else {
                if res.moves_out.is_empty() && res.moves_in.is_empty() {
                    println!("No moves.");
                }
                for m in &res.moves_out {
                    println!(
                        "isverhuisd {}  {} → {}  {}  {}{}  ({} told)",
                        m.move_id,
                        m.from_municipality,
                        m.to_municipality,
                        m.kind,
                        m.status,
                        if m.to_region.is_empty() {
                            String::new()
                        } else {
                            format!(" to {}", m.to_region)
                        },
                        m.told
                    );
                }
                for m in &res.moves_in {
                    print_move_in(m);
                }
            }
        }
        AdminCommand::AcceptHandover {
            move_id,
            name,
            phone,
            email,
        } => {
            let officer = (!phone.is_empty() || !email.is_empty()).then_some(pb::Contact {
                name,
                phone,
                email,
            });
            let m = node
                .admin_accept_handover(pb::AdminAcceptHandoverRequest { move_id, officer })
                .await
                .map_err(status)?
                .into_inner();
            if json_out {
                print_json(&move_in_json(&m));
            } else {
                print_move_in(&m);
            }
        }
        _ => anyhow::bail!("not a verhuizing command"),
    }
    Ok(())
}
