//! `vir-federation`: runs the local development federation until Ctrl-C.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use vir_federation::{LocalFederation, Options};

#[derive(Debug, Parser)]
#[command(
    name = "vir-federation",
    version,
    about = "The local development federation of the Verwijsindex"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create what is missing (PKI, registry, configs) and run pseudonymiser, hub and three nodes.
    Up {
        /// Data folder: PKI, registry, configuration, SQLite databases, dev clock.
        #[arg(long, default_value = "vir-data")]
        data: PathBuf,
        /// Throw away the data folder first.
        #[arg(long)]
        fresh: bool,
        /// First port: pseudonymiser on PORT, hub on PORT+1, nodes on PORT+101, +102, +103.
        #[arg(long, default_value_t = 7000)]
        base_port: u16,
        /// Households in a newly generated person registry.
        #[arg(long, default_value_t = 1000)]
        households: usize,
        /// Log as JSON lines.
        #[arg(long)]
        json_logs: bool,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    vir_shared::tls::install_crypto_provider();
    vir_shared::binary::exit("vir-federation", up(Cli::parse().command).await)
}

async fn up(command: Command) -> anyhow::Result<()> {
    let Command::Up {
        data,
        fresh,
        base_port,
        households,
        json_logs,
    } = command;
    vir_shared::telemetry::init(json_logs);
    if fresh && data.exists() {
        std::fs::remove_dir_all(&data)
            .with_context(|| format!("removing {} for --fresh", data.display()))?;
    }
    let mut options = Options::new(&data);
    options.base_port = Some(base_port);
    options.households = households;
    let fed = LocalFederation::start(options).await.with_context(|| {
        format!("starting the federation on ports from {base_port} (`--base-port` moves them)")
    })?;
    print_welcome(&fed)?;
    tokio::signal::ctrl_c().await?;
    println!("Stopping…");
    fed.shutdown().await
}

fn print_welcome(fed: &LocalFederation) -> anyhow::Result<()> {
    println!();
    println!(
        "Local Verwijsindex federation is running (data in {}):",
        fed.data_dir.display()
    );
    println!("  pseudonymiser  {}", fed.file.pseudonymiser.url);
    println!("  hub            {}", fed.file.hub.url);
    for n in &fed.file.nodes {
        println!("  node {:<14} {}", n.region, n.url);
    }
    println!();
    println!("Prometheus metrics (virctl --data … status summarises them):");
    let metrics = [
        ("pseudonymiser".to_owned(), &fed.file.pseudonymiser.metrics),
        ("hub".to_owned(), &fed.file.hub.metrics),
    ]
    .into_iter()
    .chain(
        fed.file
            .nodes
            .iter()
            .map(|n| (format!("node {}", n.region), &n.metrics)),
    );
    for (name, url) in metrics {
        if let Some(url) = url {
            println!("  {name:<19} {url}");
        }
    }
    println!();
    println!("Organisations (virctl --as ID):");
    for o in &fed.file.organisations {
        println!(
            "  {:<22} {} ({}{})",
            o.id,
            o.name,
            o.category,
            if o.national { "" } else { ", regional only" }
        );
    }
    if !fed.web_urls.is_empty() {
        println!();
        println!("Web UI per node (development certificate: accept it in the browser, or import pki/root.pem):");
        for (region, url) in &fed.web_urls {
            println!("  {region:<14} {url}/login");
        }
        println!("Development accounts (username / password):");
        for a in &fed.dev_accounts {
            println!(
                "  {:<22} {:<26} {}{}",
                a.org,
                a.username,
                a.password,
                if a.administrator {
                    "   (beheerder)"
                } else {
                    ""
                }
            );
        }
    }
    let registry = vir_certs::registry::read(&fed.registry_file())?;
    let today = vir_shared::clock::Clock::today(&*fed.clock);
    if let Some(youth) = registry
        .people
        .iter()
        .find(|p| p.death_date.is_none() && !p.parents.is_empty() && p.age_on(today) < 18)
    {
        let data = fed.data_dir.display();
        println!();
        println!("Make a cross-regional match (in another terminal):");
        println!("  cargo run -q -p virctl -- --data {data} --as drenthe/school signal create --bsn {} --name \"J. de Vries\" --phone 0592-123456", youth.bsn);
        println!("  cargo run -q -p virctl -- --data {data} --as zuid-limburg/jgz signal create --bsn {} --name \"M. Smeets\" --email m.smeets@ggdzl.example", youth.bsn);
        println!("  cargo run -q -p virctl -- --data {data} --as drenthe/school match list");
        println!(
            "  cargo run -q -p virctl -- --data {data} --as zuid-limburg/jgz notification list"
        );
        println!("  cargo run -q -p virctl -- --data {data} hub status");
    }
    println!();
    println!(
        "Ctrl-C stops the federation; its data stays in {}.",
        fed.data_dir.display()
    );
    Ok(())
}
