//! `vir-hub`: run the national hub, check its configuration, migrate its storage, or probe a
//! running hub's health.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use vir_hub::{HubConfig, Store};

#[derive(Debug, Parser)]
#[command(
    name = "vir-hub",
    version,
    about = "The national hub (VIR) of the federated Verwijsindex"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the Hub gRPC service until SIGTERM or Ctrl-C; SIGHUP reloads certificates and CRLs.
    Run {
        #[arg(long, env = "VIR_HUB_CONFIG")]
        config: PathBuf,
        /// Log JSON lines instead of text.
        #[arg(long)]
        json_logs: bool,
        /// Also serve the plaintext gRPC health service here (for orchestrator probes).
        #[arg(long, env = "VIR_HEALTH_LISTEN")]
        health_listen: Option<SocketAddr>,
    },
    /// Parse and validate the configuration and load its certificates, then exit.
    CheckConfig {
        #[arg(long, env = "VIR_HUB_CONFIG")]
        config: PathBuf,
    },
    /// Create or upgrade the storage schema, then exit.
    Migrate {
        #[arg(long, env = "VIR_HUB_CONFIG")]
        config: PathBuf,
    },
    /// Ask a running hub's health listener whether it is serving (exit code 0 if so).
    Probe {
        #[arg(long, env = "VIR_HEALTH_LISTEN")]
        addr: SocketAddr,
    },
}

/// mimalloc instead of the C library's allocator, for Rust and (with its `override` feature) for
/// the bundled SQLite alike. Profiled on bulk ingest (`perf record`, `vir-bench --only store`,
/// BENCHMARKS.md): glibc's `malloc`/`free` and their chunk bookkeeping were 12-15% of all
/// samples, mostly in SQLite's worker thread, which allocates per statement and row.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    vir_shared::tls::install_crypto_provider();
    vir_shared::binary::exit("vir-hub", execute(cli.command).await)
}

async fn execute(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Run {
            config,
            json_logs,
            health_listen,
        } => {
            let config = load(&config)?;
            vir_shared::telemetry::init_format(vir_shared::telemetry::LogFormat::select(
                json_logs,
                config.log_format,
            ));
            let clock = config.clock.build(config.environment.is_production())?;
            let handle = vir_hub::spawn(config, clock).await?;
            vir_shared::binary::serve(handle, health_listen).await
        }
        Command::CheckConfig { config: path } => {
            let config = load(&path)?;
            let certificate = vir_shared::binary::check_tls(&path, &config.tls)?;
            println!(
                "{}: ok ({} nodes, {} operators; {certificate})",
                path.display(),
                config.nodes.len(),
                config.operators.len(),
            );
            Ok(())
        }
        Command::Migrate { config } => {
            vir_shared::telemetry::init(false);
            let config = load(&config)?;
            let store = Store::connect(&config.storage_url)
                .await
                .context("migrating hub storage")?;
            store.close().await;
            println!("hub storage is up to date");
            Ok(())
        }
        Command::Probe { addr } => vir_shared::health::probe(addr).await,
    }
}

/// Loads the configuration, and refuses a password in a production storage URL or a link to a
/// database on another host that does not verify the server.
fn load(path: &Path) -> anyhow::Result<HubConfig> {
    let config = HubConfig::load(path)?;
    if config.environment.is_production() {
        vir_shared::binary::refuse_inline_password(&config.storage_url)
            .and_then(|()| vir_shared::binary::refuse_unverified_link(&config.storage_url))
            .map_err(|reason| anyhow::anyhow!("{}: `storage_url`: {reason}", path.display()))?;
    }
    Ok(config)
}
