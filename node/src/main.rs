//! `vir-node`: run a regional index node, check its configuration, migrate its storage, or
//! probe a running node's health.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

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
    /// Serve the partner API and follow the hub until SIGTERM or Ctrl-C; SIGHUP reloads
    /// certificates and CRLs.
    Run {
        /// The TOML configuration file.
        #[arg(long, value_name = "FILE", env = "VIR_NODE_CONFIG")]
        config: PathBuf,
        /// Log JSON lines instead of text.
        #[arg(long)]
        json_logs: bool,
        /// Also serve the plaintext gRPC health service here (for orchestrator probes).
        #[arg(long, env = "VIR_HEALTH_LISTEN")]
        health_listen: Option<SocketAddr>,
    },
    /// Parse and validate a configuration, and check the files it names.
    CheckConfig {
        #[arg(long, value_name = "FILE", env = "VIR_NODE_CONFIG")]
        config: PathBuf,
    },
    /// Create or upgrade the storage schema, then exit (`run` does this too).
    Migrate {
        #[arg(long, value_name = "FILE", env = "VIR_NODE_CONFIG")]
        config: PathBuf,
    },
    /// Create a web UI account (the first administrator, or any other), if its username is
    /// free. The password is read from VIR_ACCOUNT_PASSWORD or, without it, from standard input.
    CreateAccount {
        #[arg(long, value_name = "FILE", env = "VIR_NODE_CONFIG")]
        config: PathBuf,
        /// OIN of the organisation (a configured partner; the administrator's for an administrator).
        #[arg(long)]
        partner: String,
        #[arg(long)]
        username: String,
        /// Where mail notifications go.
        #[arg(long)]
        email: String,
    },
    /// Ask a running node's health listener whether it is serving (exit code 0 if so).
    Probe {
        #[arg(long, env = "VIR_HEALTH_LISTEN")]
        addr: SocketAddr,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    vir_shared::tls::install_crypto_provider();
    let cli = Cli::parse();
    vir_shared::binary::exit("vir-node", execute(cli.command).await)
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
            let clock = config.clock.build(config.is_production())?;
            let handle = vir_node::spawn(config, clock).await?;
            vir_shared::binary::serve(handle, health_listen).await
        }
        Command::CheckConfig { config: path } => {
            vir_shared::telemetry::init(false);
            let cfg = load(&path)?;
            let certificate = vir_shared::binary::check_tls(&path, &cfg.tls)?;
            read_hpke_private_key(&cfg.hpke_private_key)
                .with_context(|| format!("{}: `hpke_private_key`", path.display()))?;
            let registry = FileRegistry::load(&cfg.registry.file)
                .with_context(|| format!("{}: `registry.file`", path.display()))?;
            println!(
                "{}: ok (region {}, {} partners, {} municipalities, {} people in the registry; {certificate})",
                path.display(),
                cfg.region,
                cfg.partners.len(),
                cfg.municipalities.len(),
                registry.len()
            );
            Ok(())
        }
        Command::Migrate { config } => {
            vir_shared::telemetry::init(false);
            let config = load(&config)?;
            let db = vir_node::store::connect(&config.storage_url)
                .await
                .context("migrating the node's storage")?;
            db.close().await;
            println!("node storage of region {} is up to date", config.region);
            Ok(())
        }
        Command::CreateAccount {
            config,
            partner,
            username,
            email,
        } => {
            vir_shared::telemetry::init(false);
            let config = load(&config)?;
            let oin: vir_shared::Oin = partner
                .parse()
                .map_err(|e| anyhow::anyhow!("--partner: {e}"))?;
            let password = match std::env::var("VIR_ACCOUNT_PASSWORD") {
                Ok(p) => p,
                Err(_) => {
                    eprintln!("Password for {username} (one line):");
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line)?;
                    line.trim_end_matches(['\r', '\n']).to_owned()
                }
            };
            let clock = config.clock.build(config.is_production())?;
            let wanted = [(oin, username.clone(), email, password)];
            let created = vir_node::web::accounts::ensure_in_storage(
                &config,
                &wanted,
                clock.now().timestamp_millis(),
            )
            .await?;
            if created == 1 {
                println!("account {username} created");
            } else {
                println!("account {username} exists already; nothing changed");
            }
            Ok(())
        }
        Command::Probe { addr } => vir_shared::health::probe(addr).await,
    }
}

/// Loads the configuration, and refuses a password in a production storage URL or a link to a
/// database on another host that does not verify the server.
fn load(path: &Path) -> anyhow::Result<NodeConfig> {
    let config = NodeConfig::load(path)?;
    if config.is_production() {
        vir_shared::binary::refuse_inline_password(&config.storage_url)
            .and_then(|()| vir_shared::binary::refuse_unverified_link(&config.storage_url))
            .map_err(|reason| anyhow::anyhow!("{}: `storage_url`: {reason}", path.display()))?;
    }
    Ok(config)
}
