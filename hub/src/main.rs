//! `vir-hub`: run the national hub, check its configuration, or migrate its storage.

use std::path::PathBuf;

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
    /// Serve the Hub gRPC service until interrupted (Ctrl-C or SIGTERM).
    Run {
        #[arg(long, env = "VIR_HUB_CONFIG")]
        config: PathBuf,
        /// Log JSON lines instead of text.
        #[arg(long)]
        json_logs: bool,
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
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    vir_shared::tls::install_crypto_provider();
    match cli.command {
        Command::Run { config, json_logs } => {
            vir_shared::telemetry::init(json_logs);
            let config = HubConfig::load(&config)?;
            let clock = config.clock.build(config.environment.is_production())?;
            let handle = vir_hub::spawn(config, clock).await?;
            let stop = handle.shutdown_token();
            tokio::spawn(async move {
                wait_for_signal().await;
                tracing::info!("stop requested");
                stop.cancel();
            });
            handle.wait().await
        }
        Command::CheckConfig { config } => {
            let loaded = HubConfig::load(&config)?;
            vir_shared::tls::server_config(&loaded.tls)
                .with_context(|| format!("{}: tls", config.display()))?;
            println!(
                "{}: ok ({} nodes, {} operators)",
                config.display(),
                loaded.nodes.len(),
                loaded.operators.len()
            );
            Ok(())
        }
        Command::Migrate { config } => {
            vir_shared::telemetry::init(false);
            let config = HubConfig::load(&config)?;
            let store = Store::connect(&config.storage_url)
                .await
                .context("migrating hub storage")?;
            store.close().await;
            println!("hub storage is up to date");
            Ok(())
        }
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
