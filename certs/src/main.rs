//! `vir-certs`: create the development PKI, issue certificates for services, nodes and partner
//! organisations, generate the synthetic person registry, and inspect certificate files.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use chrono::{Duration, NaiveDate, Utc};
use clap::{Parser, Subcommand};
use vir_certs::{inspect, registry, DevPki, TlsPaths};
use vir_shared::{Oin, RegionCode};

#[derive(Parser)]
#[command(name = "vir-certs", version, about)]
/// Certificate tooling for the federated Verwijsindex: a PKIoverheid-style development PKI,
/// organisation certificates, and the synthetic person registry.
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a fresh root → domain CA → issuing CA hierarchy in DIR (refuses to overwrite one).
    DevPki {
        /// Directory for root.pem, domain-ca.pem, issuing-ca.pem and their keys.
        #[arg(long)]
        dir: PathBuf,
        /// Name prefix of the CAs, e.g. "VIR Dev" gives "VIR Dev Private Root CA - G1".
        #[arg(long, default_value = "VIR Dev")]
        prefix: String,
    },
    /// Issue a server+client certificate for a service (hub, pseudonymiser).
    IssueService {
        /// PKI directory made by `dev-pki`.
        #[arg(long)]
        dir: PathBuf,
        /// Name of the certificate; files go to DIR/NAME/.
        #[arg(long)]
        name: String,
        /// Organisation (subject O).
        #[arg(long)]
        org: String,
        /// The organisation's 20-digit OIN (subject serialNumber).
        #[arg(long)]
        oin: Oin,
        /// Host name (subject CN and DNS name); localhost and 127.0.0.1 are always added.
        #[arg(long)]
        host: String,
    },
    /// Issue a node certificate: region in subject OU and a fresh certified HPKE key.
    IssueNode {
        /// PKI directory made by `dev-pki`.
        #[arg(long)]
        dir: PathBuf,
        /// Name of the certificate; files go to DIR/NAME/.
        #[arg(long)]
        name: String,
        /// Region code, e.g. drenthe, zuid-limburg, hoeksche-waard.
        #[arg(long)]
        region: RegionCode,
        /// The node operator's 20-digit OIN (subject serialNumber).
        #[arg(long)]
        oin: Oin,
        /// Host name (subject CN and DNS name); localhost and 127.0.0.1 are always added.
        #[arg(long)]
        host: String,
    },
    /// Issue a client certificate for a partner organisation (school, JGZ, social work).
    IssueClient {
        /// PKI directory made by `dev-pki`.
        #[arg(long)]
        dir: PathBuf,
        /// Name of the certificate; files go to DIR/NAME/.
        #[arg(long)]
        name: String,
        /// Organisation (subject O and CN).
        #[arg(long)]
        org: String,
        /// The organisation's 20-digit OIN (subject serialNumber).
        #[arg(long)]
        oin: Oin,
        /// Days of validity from now (the certificate is also valid from a day ago).
        #[arg(long, default_value_t = 365)]
        days: u32,
    },
    /// Generate the synthetic person registry (JSON) for development nodes.
    Registry {
        /// File to write.
        #[arg(long)]
        out: PathBuf,
        /// Number of households (families of 1-2 parents and 1-4 children).
        #[arg(long, default_value_t = 200)]
        households: usize,
        /// Seed: the same seed and date give the same registry.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Reference date for ages (YYYY-MM-DD); today if omitted.
        #[arg(long)]
        today: Option<NaiveDate>,
    },
    /// Show subject, OIN, validity, key usages and HPKE key of each certificate in a file.
    Inspect {
        /// PEM file (a chain is shown leaf first) or a single DER certificate.
        file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    vir_shared::tls::install_crypto_provider();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vir-certs: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::DevPki { dir, prefix } => {
            let pki = DevPki::create(&dir, &prefix)?;
            for path in [pki.root_path(), pki.domain_ca_path(), pki.issuing_ca_path()] {
                print_path(&path);
                print_path(&path.with_extension("key"));
            }
        }
        Command::IssueService {
            dir,
            name,
            org,
            oin,
            host,
        } => {
            let paths = DevPki::load(&dir)?.issue_service(&name, &org, &oin, &host)?;
            print_tls(&paths);
        }
        Command::IssueNode {
            dir,
            name,
            region,
            oin,
            host,
        } => {
            let node = DevPki::load(&dir)?.issue_node(&name, &region, &oin, &host)?;
            print_tls(&node.tls);
            print_path(&node.hpke_private_key);
            println!("hpke public key {}", hex::encode(node.hpke_public_key));
        }
        Command::IssueClient {
            dir,
            name,
            org,
            oin,
            days,
        } => {
            let now = Utc::now();
            let paths = DevPki::load(&dir)?.issue_client_valid(
                &name,
                &org,
                &oin,
                now - Duration::days(1),
                now + Duration::days(i64::from(days)),
            )?;
            print_tls(&paths);
        }
        Command::Registry {
            out,
            households,
            seed,
            today,
        } => {
            let reg = match today {
                Some(date) => registry::generate_on(seed, households, date),
                None => registry::generate(seed, households),
            };
            registry::write(&out, &reg)?;
            print_path(&out);
            println!("{} people in {households} households", reg.people.len());
        }
        Command::Inspect { file, json } => {
            let summaries = inspect::inspect_file(&file)?;
            if json {
                let text = serde_json::to_string_pretty(&summaries).context("encoding JSON")?;
                println!("{text}");
            } else {
                for (i, summary) in summaries.iter().enumerate() {
                    if i > 0 {
                        println!();
                    }
                    println!("{summary}");
                }
            }
        }
    }
    Ok(())
}

fn print_tls(paths: &TlsPaths) {
    print_path(&paths.cert);
    print_path(&paths.key);
    println!("trust root {}", paths.ca.display());
}

fn print_path(path: &Path) {
    println!("wrote {}", path.display());
}
