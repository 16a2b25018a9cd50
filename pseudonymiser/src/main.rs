//! `vir-pseudonymiser`: run the OPRF service, create its seed, or check a configuration.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use vir_pseudonymiser::config::Config;
use vir_pseudonymiser::seed::Seed;

/// The pseudonymisation service of the federated Verwijsindex (oblivious PRF, RFC 9497).
#[derive(Debug, Parser)]
#[command(name = "vir-pseudonymiser", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the Pseudonymiser gRPC service until interrupted (Ctrl-C or SIGTERM).
    Run {
        /// The TOML configuration file.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Log JSON lines instead of text.
        #[arg(long)]
        json_logs: bool,
    },
    /// Write a new random 32-byte seed (hex, mode 0600). Refuses to overwrite a file.
    InitSeed {
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Parse and validate a configuration, and check that its seed file is readable.
    CheckConfig {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    vir_shared::tls::install_crypto_provider();
    let cli = Cli::parse();
    match execute(cli.command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // `{:#}` prints the whole chain on one line: file, key and reason.
            eprintln!("vir-pseudonymiser: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn execute(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Run { config, json_logs } => {
            vir_shared::telemetry::init(json_logs);
            run(config).await
        }
        Command::InitSeed { out } => {
            vir_shared::telemetry::init(false);
            Seed::init_file(&out)?;
            println!("wrote a new seed to {} (mode 0600)", out.display());
            Ok(())
        }
        Command::CheckConfig { config } => {
            vir_shared::telemetry::init(false);
            let cfg = Config::load(&config)?;
            Seed::load(&cfg.seed_file)?;
            vir_shared::tls::server_config(&cfg.tls).context("TLS files")?;
            println!(
                "{}: ok ({} nodes, key versions {:?}, current {})",
                config.display(),
                cfg.nodes.len(),
                cfg.served_versions(),
                cfg.current_version
            );
            Ok(())
        }
    }
}

async fn run(path: PathBuf) -> anyhow::Result<()> {
    let config = Config::load(&path)?;
    let clock = config.clock.build(config.is_production())?;
    let handle = vir_pseudonymiser::spawn(config, clock).await?;
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
