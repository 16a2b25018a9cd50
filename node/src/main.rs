//! `vir-node`: run a regional index node, or check its configuration.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use vir_node::config::{read_hpke_private_key, NodeConfig};
use vir_node::registry::FileRegistry;

/// A regional index node of the federated Verwijsindex.
#[derive(Debug, Parser)]
#[command(name = "vir-node", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the partner API and follow the hub until interrupted (Ctrl-C or SIGTERM).
    Run {
        /// The TOML configuration file.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Log JSON lines instead of text.
        #[arg(long)]
        json_logs: bool,
    },
    /// Parse and validate a configuration, and check the files it names.
    CheckConfig {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    vir_shared::tls::install_crypto_provider();
    let cli = Cli::parse();
    match cli.command {
        Command::Run { config, json_logs } => {
            vir_shared::telemetry::init(json_logs);
            run(config).await
        }
        Command::CheckConfig { config } => {
            vir_shared::telemetry::init(false);
            let cfg = NodeConfig::load(&config)?;
            vir_shared::tls::server_config(&cfg.tls).context("TLS files")?;
            read_hpke_private_key(&cfg.hpke_private_key)?;
            let registry = FileRegistry::load(&cfg.registry.file)?;
            println!(
                "{}: ok (region {}, {} partners, {} municipalities, {} people in the registry)",
                config.display(),
                cfg.region,
                cfg.partners.len(),
                cfg.municipalities.len(),
                registry.len()
            );
            Ok(())
        }
    }
}

async fn run(path: PathBuf) -> anyhow::Result<()> {
    let config = NodeConfig::load(&path)?;
    let clock = config.clock.build(config.is_production())?;
    let handle = vir_node::spawn(config, clock).await?;
    let token = handle.shutdown_token();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutdown requested");
        token.cancel();
    });
    handle.wait().await
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
