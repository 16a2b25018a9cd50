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
    /// The rules' prompts, reminders and alerts for your organisation (consult, inform, renew,
    /// regie, deadline missed, a party left, a signal corrected or removed).
    #[command(subcommand)]
    Notice(NoticeCommand),
    /// For the regional administrator (functioneel beheerder): destroy, correct, bezwaar,
    /// inzage, deadlines, access log.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// For operators: health, version and key figures of every service of the federation
    /// (from federation.toml, or --service). With --as or --node: your node's own Status.
    Status {
        /// A service to look at instead of federation.toml: KIND=GRPC_URL[,METRICS_URL], KIND
        /// being hub, pseudonymiser or node:REGION; called with --cert/--key/--ca.
        #[arg(long = "service")]
        services: Vec<String>,
    },
    /// The national hub.
    #[command(subcommand)]
    Hub(HubCommand),
    /// Development tools for the local federation.
    #[command(subcommand)]
    Dev(DevCommand),
    /// Policy reports (003 art. 25; 004 §15): your region's, as its administrator (--as
    /// REGION/beheer), or the national counts per region with --hub (operator certificate).
    /// Small cells are hidden (x), also where totals would reveal them.
    Report(ReportArgs),
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The national report of the hub instead of the region's.
    #[arg(long)]
    pub hub: bool,
    /// First day counted, YYYY-MM-DD (default: from the beginning).
    #[arg(long)]
    pub from: Option<String>,
    /// Last day counted, YYYY-MM-DD (default: today).
    #[arg(long)]
    pub to: Option<String>,
    /// Only this table (its id, e.g. per_organisation).
    #[arg(long)]
    pub table: Option<String>,
    /// Print the tables as CSV.
    #[arg(long, conflicts_with = "svg")]
    pub csv: bool,
    /// Print the chart of one table (with --table when the report has several) as SVG.
    #[arg(long)]
    pub svg: bool,
    /// Write every table as ID.csv and ID.svg into this folder.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

// Parsed once per invocation: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum SignalCommand {
    /// Signal that you are involved with a youth. Never say what the concern is.
    Create(CreateSignal),
    /// Your organisation's signals.
    List,
    /// Withdraw (inactivate) one of your signals: it goes to the archive (003 art. 16.7).
    Withdraw {
        /// The signal id from `signal list`.
        id: String,
    },
    /// Renew one of your active signals: its 2 years start again today (003 art. 16.1).
    Renew {
        id: String,
        /// New end date, YYYY-MM-DD, at most 2 years ahead (default: 2 years).
        #[arg(long)]
        end_date: Option<String>,
    },
    /// The archived signals of other organisations on the youths of your active signals
    /// (003 art. 16.8).
    Archive,
    /// Record whom you informed about a signal, or why informing is postponed (003 art. 9).
    Inform {
        id: String,
        /// parents, parents-and-youth or youth (must fit the youth's age, 003 art. 9.2).
        #[arg(long, value_enum, conflicts_with = "postponed")]
        informed: Option<crate::rules::AddresseeArg>,
        /// When, YYYY-MM-DD (default: today).
        #[arg(long)]
        on: Option<String>,
        /// Why informing is postponed (003 art. 9.3).
        #[arg(long)]
        postponed: Option<String>,
    },
    /// Ask the administrator to destroy a signal you made wrongly (003 art. 16.3).
    RequestDestruction { id: String },
    /// Link a signal made without a BSN to the youth's BSN, once known: it is matched again.
    Link {
        id: String,
        #[arg(long)]
        bsn: String,
    },
}

#[derive(Debug, Args)]
pub struct CreateSignal {
    /// The youth's BSN (9 digits, 11-test). Without one, describe the youth with --surname,
    /// --birth-date and --gender (002 art. 8.5-8.7).
    #[arg(long, default_value = "", required_unless_present = "surname")]
    pub bsn: String,
    /// Without a BSN: the surname as you know it ("Van der Berg" or "Berg, van der").
    #[arg(long, conflicts_with = "bsn", requires_all = ["birth_date", "gender"])]
    pub surname: Option<String>,
    /// Without a BSN: the first given name (helps the administrator judge a candidate).
    #[arg(long, requires = "surname")]
    pub given_name: Option<String>,
    /// Without a BSN: the birth date, YYYY-MM-DD.
    #[arg(long, requires = "surname")]
    pub birth_date: Option<String>,
    /// Without a BSN: V, M or O.
    #[arg(long, requires = "surname")]
    pub gender: Option<String>,
    /// Without a BSN: the municipality of residence (CBS code, e.g. 0106).
    #[arg(long, requires = "surname")]
    pub municipality: Option<String>,
    /// Without a BSN: postcode (with --house-number).
    #[arg(long, requires_all = ["surname", "house_number"])]
    pub postcode: Option<String>,
    #[arg(long, requires = "postcode")]
    pub house_number: Option<u32>,
    #[arg(long, requires = "house_number")]
    pub addition: Option<String>,
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
    /// Hoeksche Waard urgency code: 1 "laag" or 2 "urgent" (004 §5, §12).
    #[arg(long, default_value_t = 0)]
    pub urgency: u32,
    /// Hoeksche Waard ketenregistratie: involvement without a concern (004 §11, §13).
    #[arg(long)]
    pub chain_registration: bool,
}

#[derive(Debug, Subcommand)]
pub enum MatchCommand {
    /// Your matches.
    List,
    /// Per match: the consultation deadline, whether you consulted, who has regie.
    FollowUp,
    /// Record that you consulted the other signallers (003 art. 10.1).
    Consulted {
        match_id: String,
        /// When, YYYY-MM-DD (default: today).
        #[arg(long)]
        on: Option<String>,
    },
    /// Choose who coordinates (003 Bijlage 2; 002 art. 14.1): a party of the match or the
    /// municipality's coordinator, by OIN.
    Regie {
        match_id: String,
        #[arg(long)]
        coordinator: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum NoticeCommand {
    /// Your notices, oldest first.
    List,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Destroy a signal: every trace is erased (003 art. 16.2-16.3).
    Destroy {
        signal_id: String,
        #[arg(long, value_enum)]
        reason: crate::rules::DestroyArg,
    },
    /// Correct a signaller's contact details; matched signallers are told (003 art. 20).
    Correct {
        signal_id: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "")]
        phone: String,
        #[arg(long, default_value = "")]
        email: String,
    },
    /// Objections (bezwaar, 003 art. 18; 002 art. 20).
    #[command(subcommand)]
    Bezwaar(BezwaarCommand),
    /// The complete export for one youth within the region (003 art. 17; 002 art. 18).
    Inzage {
        #[arg(long)]
        bsn: String,
        /// Who asks: parents, parents-and-youth or youth (003 art. 19.1).
        #[arg(long, value_enum)]
        by: crate::rules::AddresseeArg,
        /// The youth cannot weigh their interests: the parents act (003 art. 19.2).
        #[arg(long)]
        not_capable: bool,
        /// Also ask the other regions through the national hub; collect their sealed answers
        /// with `admin inzage-result ID`.
        #[arg(long)]
        all_regions: bool,
    },
    /// The result of an inzage request to all regions: this region's export, the other
    /// regions' answers, and which regions have not answered yet.
    InzageResult { request_id: String },
    /// Missed consultation deadlines, objection decisions due, and your open tasks.
    Deadlines,
    /// Close one of your tasks (a destruction request not granted, a death notice handled).
    CloseTask { notice_id: String },
    /// The access log (NEN 7513).
    #[command(subcommand)]
    Accesslog(AccesslogCommand),
    /// Candidate matches on signals without a BSN (002 art. 8.5-8.7): confirm or reject.
    #[command(subcommand)]
    Candidates(CandidatesCommand),
    /// Verhuizing: moves out of the region (isverhuisd) and into it (inverhuis, with the
    /// opened hand-over package).
    Moves,
    /// Accept the hand-over of a youth who moved in (002 art. 15): where the region offers
    /// hand-over, the old region's signallers get the offer with your contact details.
    AcceptHandover {
        move_id: String,
        #[arg(long, default_value = "")]
        name: String,
        #[arg(long, default_value = "")]
        phone: String,
        #[arg(long, default_value = "")]
        email: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum CandidatesCommand {
    /// Candidates waiting for your decision (all of them with --all).
    List {
        #[arg(long)]
        all: bool,
    },
    /// The same youth: both signallers are told, once.
    Confirm { id: String },
    /// Not the same youth: nobody is ever told.
    Reject { id: String },
}

#[derive(Debug, Subcommand)]
pub enum BezwaarCommand {
    /// Register an objection, accepted at any time; late ones are flagged (001 Q30).
    Lodge {
        #[arg(long)]
        bsn: String,
        /// One signal (default: every signal on the youth).
        #[arg(long)]
        signal: Option<String>,
        /// Who objects: parents, parents-and-youth or youth (003 art. 19.1).
        #[arg(long, value_enum)]
        by: crate::rules::AddresseeArg,
        /// Received on, YYYY-MM-DD (default: today).
        #[arg(long)]
        lodged_on: Option<String>,
        /// When the person was informed, if not recorded with the signals.
        #[arg(long)]
        informed_on: Option<String>,
        #[arg(long)]
        not_capable: bool,
    },
    /// Decide: upheld destroys, no-longer-needed inactivates, rejected keeps.
    Decide {
        objection_id: String,
        #[arg(long, value_enum)]
        outcome: crate::rules::OutcomeArg,
        #[arg(long)]
        on: Option<String>,
    },
    /// Objections, or only the undecided ones.
    List {
        #[arg(long)]
        open: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum AccesslogCommand {
    /// Entries, optionally about one youth or by one organisation.
    Query {
        #[arg(long)]
        bsn: Option<String>,
        #[arg(long)]
        actor: Option<String>,
        #[arg(long, default_value_t = 0)]
        from: u64,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Check the hash chain: an edited or deleted entry is found. Prints the head as an anchor
    /// (`SEQ:HASH`) to keep outside the database; the node also logs one daily
    /// (`event=access_log_anchor`).
    Verify {
        /// An anchor kept outside the database (`SEQ:HASH`, repeatable): a chain rewritten
        /// after it, hashes recomputed, is found too.
        #[arg(long = "anchor")]
        anchors: Vec<String>,
    },
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
    /// The development person registry (registry.json): simulate what the BRP reports. Every
    /// node re-reads the file and acts (isverhuisd, inverhuis, destruction at death).
    #[command(subcommand)]
    Registry(RegistryCommand),
}

#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// Show what the registry says of a person (municipality, address, death, parents).
    Show {
        #[arg(long)]
        bsn: String,
        /// The registry file; default: registry.json in the federation's data folder.
        #[arg(long)]
        file: Option<std::path::PathBuf>,
    },
    /// A move: new municipality (0935 or GM0935) and address.
    Move {
        #[arg(long)]
        bsn: String,
        #[arg(long)]
        municipality: String,
        #[arg(long)]
        postcode: String,
        #[arg(long)]
        house_number: u32,
        #[arg(long)]
        addition: Option<String>,
        #[arg(long, default_value = "")]
        street: String,
        #[arg(long, default_value = "")]
        city: String,
        #[arg(long)]
        file: Option<std::path::PathBuf>,
    },
    /// A death (default: the federation clock's date).
    Death {
        #[arg(long)]
        bsn: String,
        /// YYYY-MM-DD.
        #[arg(long)]
        date: Option<String>,
        #[arg(long)]
        file: Option<std::path::PathBuf>,
    },
    /// New legal parents (repeat --parent; none = no parents).
    Parents {
        #[arg(long)]
        bsn: String,
        #[arg(long = "parent")]
        parents: Vec<String>,
        #[arg(long)]
        file: Option<std::path::PathBuf>,
    },
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
