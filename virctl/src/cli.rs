//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "virctl",
    version,
    about = "Command line for the federated Verwijsindex"
)]
pub struct Cli {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// Who you are and which server you talk to.
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// Data folder of a local federation (reads federation.toml there).
    #[arg(long, global = true, env = "VIR_DATA", default_value = "vir-data")]
    pub data: PathBuf,
    /// Act as this organisation of the local federation, e.g. `drenthe/school`.
    #[arg(long = "as", global = true, env = "VIR_AS")]
    pub as_org: Option<String>,
    /// Node URL, e.g. https://vir.drenthe.example:7101 (instead of --as).
    #[arg(long, global = true)]
    pub node: Option<String>,
    /// Client certificate chain (PEM), with --node.
    #[arg(long, global = true)]
    pub cert: Option<PathBuf>,
    /// Client private key (PEM), with --node.
    #[arg(long, global = true)]
    pub key: Option<PathBuf>,
    /// Federation root certificate (PEM), with --node.
    #[arg(long, global = true)]
    pub ca: Option<PathBuf>,
    /// Name in the server's certificate, with --node.
    #[arg(long, global = true, default_value = "localhost")]
    pub server_name: String,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create, list and withdraw signals.
    #[command(subcommand)]
    Signal(SignalCommand),
    /// Matches of your signals, with the other signallers' contact details.
    #[command(subcommand)]
    Match(MatchCommand),
    /// Notifications for your organisation.
    #[command(subcommand)]
    Notification(NotificationCommand),
    /// Status of your node (counts, outbox, feed, hub link).
    Status,
    /// The national hub.
    #[command(subcommand)]
    Hub(HubCommand),
    /// Development tools for the local federation.
    #[command(subcommand)]
    Dev(DevCommand),
}

#[derive(Debug, Subcommand)]
pub enum SignalCommand {
    /// Signal that you are involved with a youth. Never say what the concern is.
    Create(CreateSignal),
    /// Your organisation's signals.
    List,
    /// Withdraw (inactivate) one of your signals.
    Withdraw {
        /// The signal id from `signal list`.
        id: String,
    },
}

#[derive(Debug, Args)]
pub struct CreateSignal {
    /// The youth's BSN (9 digits, 11-test).
    #[arg(long)]
    pub bsn: String,
    /// Your name, as the other professionals will see it.
    #[arg(long)]
    pub name: String,
    /// Your phone number.
    #[arg(long, default_value = "")]
    pub phone: String,
    /// Your e-mail address.
    #[arg(long, default_value = "")]
    pub email: String,
    /// Planned end date, YYYY-MM-DD, at most 2 years ahead (default: 2 years).
    #[arg(long)]
    pub end_date: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum MatchCommand {
    /// Your matches.
    List,
}

#[derive(Debug, Subcommand)]
pub enum NotificationCommand {
    /// Your notifications, oldest first.
    List,
}

#[derive(Debug, Subcommand)]
pub enum HubCommand {
    /// Counts per region at the hub (operator certificate).
    Status,
}

#[derive(Debug, Subcommand)]
pub enum DevCommand {
    /// The development clock that every service of the local federation reads.
    #[command(subcommand)]
    Clock(ClockCommand),
}

#[derive(Debug, Subcommand)]
pub enum ClockCommand {
    /// Show the federation's current time.
    Show,
    /// Set the date (and optionally the time): 2027-03-29 or 2027-03-29T09:00:00Z.
    Set { when: String },
    /// Move the clock forward: 30d, 12h, 2y (a year is 365 days), 6w.
    Advance { by: String },
    /// Back to real time.
    Reset,
}
