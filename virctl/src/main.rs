//! `virctl`: the command line for partners, administrators and operators of the Verwijsindex.
//!
//! It talks gRPC over mutual TLS like any partner system: who you are is the certificate you
//! present. Against the local federation, `--data DIR --as REGION/ORG` picks the certificate and
//! node address from `DIR/federation.toml`; elsewhere give `--node`, `--cert`, `--key`, `--ca`.

mod admin;
mod cli;
mod commands;
mod nobsn;
mod report;
mod rules;
mod status;
mod target;
mod verhuizing;

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    vir_shared::tls::install_crypto_provider();
    let cli = cli::Cli::parse();
    match commands::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("virctl: {}", vir_shared::binary::one_line(&e));
            std::process::ExitCode::FAILURE
        }
    }
}
