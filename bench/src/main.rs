//! `vir-bench`: run the benchmarks on this machine, print the table, write the JSON.
//!
//! `cargo run --release -p vir-bench -- [--quick] [--json out.json] [--postgres URL]`

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use vir_bench::settings::Settings;
use vir_bench::Scenario;

#[derive(Debug, Parser)]
#[command(
    name = "vir-bench",
    version,
    about = "Throughput, latency, scale and memory of the federated Verwijsindex on this machine"
)]
struct Cli {
    /// Smaller counts (a few minutes); scale stops at 100k stored keys.
    #[arg(long)]
    quick: bool,
    /// Also write the report as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// A PostgreSQL server (admin URL) to measure hub ingest on as well; fresh databases are
    /// created on it and dropped. Defaults to VIR_TEST_POSTGRES_URL.
    #[arg(long)]
    postgres: Option<String>,
    /// Operations per `Submit` in the ingest scenario and the store ceiling (default 500, a
    /// node forwarder's batch).
    #[arg(long)]
    ingest_batch: Option<usize>,
    /// Run only these scenarios (comma-separated).
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Scenario>,
    /// Run the scale scenario's hub in this process instead of as the vir-hub binary.
    #[arg(long)]
    hub_in_process: bool,
    /// Keep the working folder (databases, configuration, hub log) in a new folder under this
    /// one instead of a temporary one.
    #[arg(long)]
    keep: Option<PathBuf>,
}

/// The hub's allocator, as in the `vir-hub` binary (see there): the store ceiling and the ingest
/// scenario run the hub in this process.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    vir_shared::tls::install_crypto_provider();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    match execute(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vir-bench: {}", vir_shared::binary::one_line(&e));
            ExitCode::FAILURE
        }
    }
}

async fn execute(cli: Cli) -> anyhow::Result<()> {
    let mut settings = if cli.quick {
        Settings::quick()
    } else {
        Settings::full()
    };
    settings.postgres = vir_bench::postgres::server_url(cli.postgres);
    if let Some(batch) = cli.ingest_batch {
        anyhow::ensure!(batch > 0, "--ingest-batch must be at least 1");
        settings.ingest_batch = batch;
    }
    if cli.hub_in_process {
        settings.hub_process = vir_bench::HubProcess::InProcess;
    }
    let scenarios = if cli.only.is_empty() {
        Scenario::ALL.to_vec()
    } else {
        cli.only
    };
    let temp = tempfile::tempdir()?;
    let dir = match &cli.keep {
        Some(dir) => {
            // A fresh folder per run: every scenario starts from an empty PKI and databases.
            let run = dir.join(format!(
                "run-{}",
                chrono::Utc::now().format("%Y%m%dT%H%M%S")
            ));
            std::fs::create_dir_all(&run)?;
            eprintln!("working folder: {}", run.display());
            run
        }
        None => temp.path().to_owned(),
    };
    let report = vir_bench::run(&settings, &scenarios, &dir).await?;
    println!("{}", report.table());
    if let Some(path) = &cli.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
