//! `vir-certs`: create the development PKI, issue certificates for services, nodes and partner
//! organisations, generate the synthetic person registry, and inspect certificate files; for
//! production: key + CSR, import and check of issued chains, the federation's node CA, CRLs and
//! adding a region.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use chrono::{Duration, NaiveDate, Utc};
use clap::{Parser, Subcommand};
use vir_certs::check::{self, Expected};
use vir_certs::csr::{self, CsrSubject, Role};
use vir_certs::region::{self, NewRegion};
use vir_certs::{inspect, registry, DevPki, TlsPaths};
use vir_shared::{MunicipalityCode, Oin, RegionCode};

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
    /// Production: a new key and a CSR for a PKIoverheid TSP (services, clients) or the
    /// federation's node CA (nodes, with a new HPKE key). Writes DIR/key.pem, DIR/request.csr
    /// and for a node DIR/hpke.key.
    Csr {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, value_enum)]
        role: Role,
        /// Organisation (subject O).
        #[arg(long)]
        org: String,
        /// The organisation's 20-digit OIN (subject serialNumber).
        #[arg(long)]
        oin: Oin,
        /// Host name (subject CN and first DNS name) of a service or node; for a client, the
        /// organisation name is the CN.
        #[arg(long)]
        host: Option<String>,
        /// More DNS names the server is reached by.
        #[arg(long = "alt-name")]
        alt_names: Vec<String>,
        /// Node only: the region code (subject OU).
        #[arg(long)]
        region: Option<RegionCode>,
    },
    /// Production: check an issued chain (root, OIN, key usages, key, expiry; for a node its
    /// region and HPKE key) and install it as OUT without the root.
    Import {
        /// The chain the CA sent, leaf first (PEM).
        #[arg(long)]
        chain: PathBuf,
        /// The key made with the CSR.
        #[arg(long)]
        key: PathBuf,
        /// The root the services trust (their `tls.ca`).
        #[arg(long)]
        root: PathBuf,
        #[arg(long, value_enum)]
        role: Role,
        /// Node only: the HPKE private key made with the CSR.
        #[arg(long)]
        hpke_key: Option<PathBuf>,
        /// Node only: the region the certificate must name.
        #[arg(long)]
        region: Option<RegionCode>,
        /// Where to write the checked chain (the service's `tls.cert`).
        #[arg(long)]
        out: PathBuf,
    },
    /// Production: days until each certificate expires; warns within 30 days, fails (exit 1)
    /// when one has expired. `--metrics` prints Prometheus text for node_exporter.
    Check {
        files: Vec<PathBuf>,
        #[arg(long)]
        metrics: bool,
        #[arg(long)]
        json: bool,
    },
    /// Production: create the federation's node CA (root, domain and issuing CA), which issues
    /// node certificates with their HPKE key. Keep DIR offline; only issuing-ca.key signs.
    NodeCa {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value = "VIR Federatie")]
        prefix: String,
    },
    /// Write a CRL of DIR's issuing CA revoking the given certificates (none: an empty CRL).
    Crl {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// cert.pem files to revoke.
        revoke: Vec<PathBuf>,
    },
    /// Production: add a region in one step. Signs the region's node CSR with the node CA and
    /// registers its OIN (and municipalities) in the hub's and pseudonymiser's configuration
    /// files; restart those services to take it in.
    AddRegion {
        /// The node CA directory (`node-ca`).
        #[arg(long)]
        ca_dir: PathBuf,
        /// The CSR the region made with `csr --role node`.
        #[arg(long)]
        csr: PathBuf,
        #[arg(long)]
        region: RegionCode,
        #[arg(long)]
        oin: Oin,
        /// CBS codes of the region's municipalities, comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        municipalities: Vec<MunicipalityCode>,
        #[arg(long)]
        hub_config: PathBuf,
        #[arg(long)]
        pseudonymiser_config: PathBuf,
        /// Where to write the node's certificate chain (sent back to the region).
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 365)]
        days: u32,
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
            eprintln!("vir-certs: error: {}", vir_shared::binary::one_line(&e));
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
        Command::Csr {
            dir,
            role,
            org,
            oin,
            host,
            alt_names,
            region,
        } => {
            let common_name = match (role, host) {
                (Role::Client, _) => org.clone(),
                (_, Some(host)) => host,
                (_, None) => anyhow::bail!("--host is required for a service or node"),
            };
            let subject = CsrSubject {
                organisation: org,
                common_name,
                oin,
                region,
                hosts: alt_names,
            };
            let made = csr::write_csr(&dir, role, &subject)?;
            print_path(&made.key);
            print_path(&made.csr);
            if let Some((path, public)) = &made.hpke {
                print_path(path);
                println!(
                    "hpke public key {} (requested in the CSR)",
                    hex::encode(public)
                );
                println!("send {} to the federation's node CA", made.csr.display());
            } else {
                println!("send {} to your PKIoverheid TSP", made.csr.display());
            }
        }
        Command::Import {
            chain,
            key,
            root,
            role,
            hpke_key,
            region,
            out,
        } => {
            let expected = Expected {
                role,
                root: &root,
                key: &key,
                hpke_key: hpke_key.as_deref(),
                region: region.as_ref(),
            };
            let report = check::import(&chain, &expected, &out)?;
            println!(
                "{}: ok, OIN {}, {} days left",
                report.subject, report.oin, report.days_left
            );
            for warning in &report.warnings {
                println!("warning: {warning}");
            }
            print_path(&out);
        }
        Command::Check {
            files,
            metrics,
            json,
        } => {
            anyhow::ensure!(!files.is_empty(), "name at least one certificate file");
            let expiries = files
                .iter()
                .map(|f| check::expiry(f))
                .collect::<anyhow::Result<Vec<_>>>()?;
            if metrics {
                print!("{}", check::metrics(&expiries));
            } else if json {
                println!("{}", serde_json::to_string_pretty(&expiries)?);
            } else {
                for e in &expiries {
                    println!(
                        "{}: {} ({} days left)",
                        e.file.display(),
                        e.status,
                        e.days_left
                    );
                }
            }
            check::none_expired(&expiries)?;
        }
        Command::NodeCa { dir, prefix } => {
            let ca = DevPki::create(&dir, &prefix)?;
            print_path(&ca.root_path());
            println!(
                "add {} to every service's tls.ca bundle",
                ca.root_path().display()
            );
        }
        Command::Crl { dir, out, revoke } => {
            let paths: Vec<&Path> = revoke.iter().map(PathBuf::as_path).collect();
            DevPki::load(&dir)?.write_crl(&paths, &out)?;
            print_path(&out);
        }
        Command::AddRegion {
            ca_dir,
            csr,
            region,
            oin,
            municipalities,
            hub_config,
            pseudonymiser_config,
            out,
            days,
        } => {
            let new = NewRegion {
                region: region.clone(),
                oin: oin.clone(),
                municipalities,
            };
            // Check both files first, so that a conflict changes nothing at all.
            for (path, service) in [
                (&hub_config, region::Service::Hub),
                (&pseudonymiser_config, region::Service::Pseudonymiser),
            ] {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                region::with_region(&text, service, &new)
                    .with_context(|| path.display().to_string())?;
            }
            let issued = DevPki::load(&ca_dir)?.sign_node_csr(&csr, &region, &oin, days, &out)?;
            print_path(&issued.cert);
            region::register(&hub_config, region::Service::Hub, &new)?;
            print_path(&hub_config);
            region::register(&pseudonymiser_config, region::Service::Pseudonymiser, &new)?;
            print_path(&pseudonymiser_config);
            println!(
                "region {region} (OIN {oin}) registered; restart the hub replicas and the \
                 pseudonymiser, then send {} to the region",
                issued.cert.display()
            );
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
