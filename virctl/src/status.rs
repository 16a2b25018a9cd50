//! `virctl status`: one line per service of the federation — health, version and key figures
//! (signals, matches, outbox depth, feed lag) from its `Status` RPC and its `/metrics` page.
//!
//! The services come from `federation.toml` (`--data`) or from `--service` flags. The hub's
//! `Status` is called with the operator certificate; a node's `Status` only with a certificate
//! the node knows (in a local federation: the region's administrator, `REGION/beheer`);
//! otherwise its figures come from `/metrics` alone. Exit status 1 when a service is not serving.

use std::time::Duration;

use anyhow::Context;
use serde::Serialize;
use tonic::transport::Channel;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;
use vir_proto as pb;
use vir_shared::localfed::FederationFile;
use vir_shared::metrics::http::{label_value, sample_sum, scrape};
use vir_shared::tls::{self, TlsPaths};

use crate::cli::TargetArgs;

const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// One service to look at.
#[derive(Debug, Clone)]
pub struct ServiceTarget {
    /// `hub`, `pseudonymiser` or `node:<region>`.
    pub name: String,
    pub url: String,
    pub server_name: String,
    pub metrics: Option<String>,
    /// The certificate to call it with.
    pub tls: TlsPaths,
    /// A node's certificate that may call its `Status` (a partner or administrator).
    pub status_tls: Option<TlsPaths>,
}

/// What `virctl status` prints for one service.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ServiceSummary {
    pub service: String,
    pub url: String,
    pub health: String,
    pub version: Option<String>,
    pub signals: Option<u64>,
    pub matches: Option<u64>,
    pub outbox: Option<u64>,
    pub feed_lag: Option<u64>,
    /// Further figures (hub link, key version, evaluations, refusals).
    pub notes: Vec<String>,
    /// Why a figure is missing (metrics unreachable, Status refused…).
    pub problems: Vec<String>,
}

/// Parses `--service KIND=GRPC_URL[,METRICS_URL]` (KIND: hub, pseudonymiser, node:REGION).
pub fn parse_service(spec: &str, args: &TargetArgs) -> anyhow::Result<ServiceTarget> {
    let (name, rest) = spec
        .split_once('=')
        .with_context(|| format!("--service {spec:?}: expected KIND=GRPC_URL[,METRICS_URL]"))?;
    let known = name == "hub" || name == "pseudonymiser" || name.starts_with("node:");
    anyhow::ensure!(
        known,
        "--service {spec:?}: KIND is hub, pseudonymiser or node:REGION"
    );
    let (url, metrics) = match rest.split_once(',') {
        Some((u, m)) => (u.to_owned(), Some(m.to_owned())),
        None => (rest.to_owned(), None),
    };
    let (Some(cert), Some(key), Some(ca)) = (&args.cert, &args.key, &args.ca) else {
        anyhow::bail!("--service needs --cert, --key and --ca (an operator certificate)");
    };
    let tls = TlsPaths::new(cert, key, ca);
    Ok(ServiceTarget {
        name: name.to_owned(),
        url,
        server_name: args.server_name.clone(),
        metrics,
        status_tls: name.starts_with("node:").then(|| tls.clone()),
        tls,
    })
}

/// Every service of a local federation's `federation.toml`.
pub fn from_federation(file: &FederationFile) -> Vec<ServiceTarget> {
    let mut out = vec![
        ServiceTarget {
            name: "pseudonymiser".into(),
            url: file.pseudonymiser.url.clone(),
            server_name: file.pseudonymiser.server_name.clone(),
            metrics: file.pseudonymiser.metrics.clone(),
            tls: file.operator.clone(),
            status_tls: None,
        },
        ServiceTarget {
            name: "hub".into(),
            url: file.hub.url.clone(),
            server_name: file.hub.server_name.clone(),
            metrics: file.hub.metrics.clone(),
            tls: file.operator.clone(),
            status_tls: None,
        },
    ];
    for node in &file.nodes {
        let admin = file
            .organisations
            .iter()
            .find(|o| o.region == node.region && o.id.ends_with("/beheer"));
        out.push(ServiceTarget {
            name: format!("node:{}", node.region),
            url: node.url.clone(),
            server_name: node.server_name.clone(),
            metrics: node.metrics.clone(),
            tls: file.operator.clone(),
            status_tls: admin.map(|o| o.tls.clone()),
        });
    }
    out
}

/// Looks at every service concurrently.
pub async fn summarise(targets: Vec<ServiceTarget>) -> Vec<ServiceSummary> {
    let checks = targets.into_iter().map(summarise_one);
    futures::future::join_all(checks).await
}

fn count(page: &str, name: &str) -> Option<u64> {
    sample_sum(page, name, &[]).map(|v| v.max(0.0) as u64)
}

async fn summarise_one(target: ServiceTarget) -> ServiceSummary {
    let mut s = ServiceSummary {
        service: target.name.clone(),
        url: target.url.clone(),
        health: "UNKNOWN".into(),
        version: None,
        signals: None,
        matches: None,
        outbox: None,
        feed_lag: None,
        notes: Vec::new(),
        problems: Vec::new(),
    };
    match tls::channel(&target.url, &target.tls, &target.server_name) {
        Ok(channel) => match health(channel.clone()).await {
            Ok(state) => s.health = state,
            Err(e) => {
                s.health = "DOWN".into();
                s.problems
                    .push(format!("health: {}", vir_shared::binary::one_line(&e)));
            }
        },
        Err(e) => s
            .problems
            .push(format!("channel: {}", vir_shared::binary::chain_line(&e))),
    }
    let page = match &target.metrics {
        Some(url) => match scrape(url).await {
            Ok(page) => Some(page),
            Err(e) => {
                s.problems
                    .push(format!("metrics: {}", vir_shared::binary::one_line(&e)));
                None
            }
        },
        None => {
            s.problems.push("no metrics URL".into());
            None
        }
    };
    if let Some(page) = &page {
        s.version = label_value(page, "vir_build_info", "version");
    }
    if target.name == "hub" {
        if let Some(page) = &page {
            s.feed_lag = count(page, "vir_hub_feed_lag");
        }
        match hub_status(&target).await {
            Ok(status) => {
                s.signals = Some(status.active_signals);
                s.matches = Some(status.matches);
                let subscribers: u32 = status.regions.iter().map(|r| r.subscribers).sum();
                s.notes.push(format!(
                    "regions {} subscribers {subscribers}",
                    status.regions.len()
                ));
            }
            Err(e) => s
                .problems
                .push(format!("Status: {}", vir_shared::binary::one_line(&e))),
        }
    } else if target.name == "pseudonymiser" {
        if let Some(page) = &page {
            let evaluated = sample_sum(
                page,
                "vir_pseudonymiser_evaluations_total",
                &[("unit", "elements")],
            )
            .unwrap_or(0.0);
            let refused = sample_sum(page, "vir_pseudonymiser_refusals_total", &[]).unwrap_or(0.0);
            s.notes
                .push(format!("evaluated {evaluated} refused {refused}"));
        }
    } else {
        if let Some(page) = &page {
            s.signals =
                sample_sum(page, "vir_node_signals", &[("state", "active")]).map(|v| v as u64);
            s.matches = count(page, "vir_node_matches");
            s.outbox = count(page, "vir_node_outbox_depth");
            s.feed_lag = count(page, "vir_node_feed_items_behind");
        }
        if let Some(tls_paths) = &target.status_tls {
            match node_status(&target, tls_paths).await {
                Ok(status) => {
                    s.signals = Some(status.active_signals);
                    s.matches = Some(status.matches);
                    s.outbox = Some(status.outbox_pending);
                    s.notes.push(format!(
                        "hub {} key v{}",
                        if status.hub_connected {
                            "connected"
                        } else {
                            "NOT connected"
                        },
                        status.key_version
                    ));
                }
                Err(e) => s
                    .problems
                    .push(format!("Status: {}", vir_shared::binary::one_line(&e))),
            }
        }
    }
    s
}

async fn health(channel: Channel) -> anyhow::Result<String> {
    let answer = tokio::time::timeout(
        CALL_TIMEOUT,
        HealthClient::new(channel).check(HealthCheckRequest {
            service: String::new(),
        }),
    )
    .await
    .context("no answer")??
    .into_inner();
    Ok(
        tonic_health::pb::health_check_response::ServingStatus::try_from(answer.status)
            .map(|s| s.as_str_name().to_owned())
            .unwrap_or_else(|_| format!("status {}", answer.status)),
    )
}

async fn hub_status(target: &ServiceTarget) -> anyhow::Result<pb::HubStatusResponse> {
    let channel = tls::channel(&target.url, &target.tls, &target.server_name)?;
    let mut hub = vir_proto::hub_client::HubClient::new(channel);
    Ok(
        tokio::time::timeout(CALL_TIMEOUT, hub.status(pb::HubStatusRequest {}))
            .await
            .context("no answer")??
            .into_inner(),
    )
}

async fn node_status(
    target: &ServiceTarget,
    tls_paths: &TlsPaths,
) -> anyhow::Result<pb::NodeStatusResponse> {
    let channel = tls::channel(&target.url, tls_paths, &target.server_name)?;
    let mut node = vir_proto::node_client::NodeClient::new(channel);
    Ok(
        tokio::time::timeout(CALL_TIMEOUT, node.status(pb::NodeStatusRequest {}))
            .await
            .context("no answer")??
            .into_inner(),
    )
}

fn cell(v: Option<u64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "-".into())
}

/// The table `virctl status` prints.
pub fn table(rows: &[ServiceSummary]) -> String {
    let mut out = format!(
        "{:<22} {:<12} {:<8} {:>8} {:>8} {:>7} {:>9}  {}\n",
        "SERVICE", "HEALTH", "VERSION", "SIGNALS", "MATCHES", "OUTBOX", "FEED LAG", "NOTES"
    );
    for r in rows {
        let mut notes = r.notes.clone();
        notes.extend(r.problems.iter().map(|p| format!("! {p}")));
        out += &format!(
            "{:<22} {:<12} {:<8} {:>8} {:>8} {:>7} {:>9}  {}\n",
            r.service,
            r.health,
            r.version.as_deref().unwrap_or("-"),
            cell(r.signals),
            cell(r.matches),
            cell(r.outbox),
            cell(r.feed_lag),
            notes.join("; ")
        );
    }
    out
}

/// Runs `virctl status`; fails (after printing) when any service is not serving.
pub async fn run(args: &TargetArgs, services: &[String], json: bool) -> anyhow::Result<()> {
    let targets = if services.is_empty() {
        from_federation(&FederationFile::load(&args.data)?)
    } else {
        services
            .iter()
            .map(|s| parse_service(s, args))
            .collect::<anyhow::Result<Vec<_>>>()?
    };
    let rows = summarise(targets).await;
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        print!("{}", table(&rows));
    }
    let down: Vec<&str> = rows
        .iter()
        .filter(|r| r.health != "SERVING")
        .map(|r| r.service.as_str())
        .collect();
    anyhow::ensure!(down.is_empty(), "not serving: {}", down.join(", "));
    Ok(())
}
