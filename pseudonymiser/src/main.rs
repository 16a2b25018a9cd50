//! `vir-pseudonymiser`: run the OPRF service, create its seed, check a configuration, or probe
//! a running service's health.

use std::net::SocketAddr;
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
    /// Serve the Pseudonymiser gRPC service until SIGTERM or Ctrl-C; SIGHUP reloads
    /// certificates and CRLs.
    Run {
        /// The TOML configuration file.
        #[arg(long, value_name = "FILE", env = "VIR_PSEUDONYMISER_CONFIG")]
        config: PathBuf,
        /// Log JSON lines instead of text.
        #[arg(long)]
        json_logs: bool,
        /// Also serve the plaintext gRPC health service here (for orchestrator probes).
        #[arg(long, env = "VIR_HEALTH_LISTEN")]
        health_listen: Option<SocketAddr>,
    },
    /// Write a new random 32-byte seed (hex, mode 0600). Refuses to overwrite a file.
    InitSeed {
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Parse and validate a configuration, and check that its seed and TLS files are usable.
    CheckConfig {
        #[arg(long, value_name = "FILE", env = "VIR_PSEUDONYMISER_CONFIG")]
        config: PathBuf,
    },
    /// Ask a running pseudonymiser's health listener whether it is serving (exit code 0 if so).
    Probe {
        #[arg(long, env = "VIR_HEALTH_LISTEN")]
        addr: SocketAddr,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    vir_shared::tls::install_crypto_provider();
    let cli = Cli::parse();
    vir_shared::binary::exit("vir-pseudonymiser", execute(cli.command).await)
}

async fn execute(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Run {
            config,
            json_logs,
            health_listen,
        } => {
            let config = Config::load(&config)?;
            vir_shared::telemetry::init_format(vir_shared::telemetry::LogFormat::select(
                json_logs,
                config.log_format,
            ));
            let clock = config.clock.build(config.is_production())?;
            let handle = vir_pseudonymiser::spawn(config, clock).await?;
            vir_shared::binary::serve(handle, health_listen).await
        }
        Command::InitSeed { out } => {
            vir_shared::telemetry::init(false);
            Seed::init_file(&out)?;
            println!("wrote a new seed to {} (mode 0600)", out.display());
            Ok(())
        }
        Command::CheckConfig { config: path } => {
            vir_shared::telemetry::init(false);
            let cfg = Config::load(&path)?;
            Seed::load(&cfg.seed_file)
                .with_context(|| format!("{}: `seed_file`", path.display()))?;
            let certificate = vir_shared::binary::check_tls(&path, &cfg.tls)?;
            println!(
                "{}: ok ({} nodes, key versions {:?}, current {}; {certificate})",
                path.display(),
                cfg.nodes.len(),
                cfg.served_versions(),
                cfg.current_version
            );
            Ok(())
        }
        Command::Probe { addr } => vir_shared::health::probe(addr).await,
    }
}
