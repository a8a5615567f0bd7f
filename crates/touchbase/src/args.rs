//! The command line, as clap reads it. Values are checked here only as far as their type;
//! the rules of the inventory are checked by the library when the command runs.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use touchbase_core::governance::ProposalStatus;
use touchbase_core::{Mode, Role, Status};

pub use crate::source::Format;

/// touchbase: the system of record for an organization's points of interaction.
#[derive(Debug, Parser)]
#[command(name = "touchbase", version, about, propagate_version = true)]
pub struct Cli {
    /// The store: a SQLite file path (created when absent) or a postgres:// URL.
    /// [default: ./touchbase.db; for `demo`, ./touchbase-demo.db]
    #[arg(long, global = true, env = "TOUCHBASE_DB")]
    pub db: Option<String>,

    /// Act as this user, with the user's role (for trusted scripts that say who they are).
    /// [default: the local administrator, `local-admin`]
    #[arg(long = "as", global = true, env = "TOUCHBASE_AS", value_name = "USER")]
    pub as_user: Option<String>,

    /// The organization's key file: every secret touchbase signs with (webhook secrets, signed
    /// links) is derived from it, and it is kept outside the database. Or give the key itself
    /// in TOUCHBASE_KEY. [default for a SQLite store: the store's path with `.key` added,
    /// created when absent; a PostgreSQL store needs one of them]
    #[arg(long, global = true, env = "TOUCHBASE_KEY_FILE", value_name = "FILE")]
    pub key_file: Option<PathBuf>,

    /// Where the audit trail's head (its last record's sequence and hash, sealed with the key)
    /// is kept, outside the database: written after each write, checked by `audit verify`.
    /// [default for a SQLite store: the store's path with `.head` added; a PostgreSQL store
    /// keeps none unless given one]
    #[arg(long, global = true, env = "TOUCHBASE_AUDIT_HEAD", value_name = "FILE")]
    pub audit_head: Option<PathBuf>,

    /// Log more (or set TOUCHBASE_LOG, e.g. TOUCHBASE_LOG=debug).
    #[arg(long, short, global = true)]
    pub verbose: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create an empty inventory for an organization.
    Init(InitArgs),
    /// Keep the inventory as a file under version control: import, export, dry-run.
    #[command(subcommand)]
    Inventory(InventoryCommand),
    /// List, show, add, edit, retire points of interaction and take approved ones live.
    #[command(subcommand)]
    Point(PointCommand),
    /// The executives' sign-off: list, show, approve and reject proposals.
    #[command(subcommand)]
    Proposal(ProposalCommand),
    /// Users and their roles.
    #[command(subcommand)]
    User(UserCommand),
    /// API tokens: issue another, revoke one.
    #[command(subcommand)]
    Token(TokenCommand),
    /// The audit trail: read it, verify it has not been tampered with.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Take interaction events in from an NDJSON or CSV file, gzipped or not (`-` reads
    /// standard input).
    Import(ImportArgs),
    /// Rejected inputs: list them, show one, replay them once the cause is fixed.
    #[command(subcommand)]
    Rejects(RejectsCommand),
    /// Undocumented points of interaction: interactions held at points that are not live.
    Undocumented(UndocumentedArgs),
    /// Verify the store's invariants: the rollups equal the events, the journeys kept ahead
    /// equal a fresh cut, the held counts agree, the audit trail is intact. Names what
    /// differs; exits nonzero when anything does.
    Check(CheckArgs),
    /// Serve the JSON API and the dashboard.
    Serve(ServeArgs),
    /// Create the demo organization with a year of interactions (when absent) and serve it.
    Demo(DemoArgs),
    /// Write synthetic interaction events for the demo organization as NDJSON (wire format v1).
    Gen(GenArgs),
    /// Scorecards (R10–R12): volume, value, cost and outcomes against what was expected, for a
    /// point, a group of points or the whole organization, over a period or as a series.
    Scorecard(ScorecardArgs),
    /// Portfolio verdicts (R15): invest, improve or eliminate for each live point, with the
    /// figures and thresholds behind each verdict.
    Portfolio(PortfolioArgs),
    /// Journeys (R16): the sequences of points parties go through, the hand-offs between
    /// business functions and the weakest link of each common journey.
    ///
    /// The journeys whose first event is in the period count (each cut from the party's whole
    /// history); weakest links use each point's effectiveness over the period.
    Journeys(JourneysArgs),
    /// Data quality (R13): per point, the share of interactions whose data meets its contract
    /// and the rules that fail most.
    Quality(QualityArgs),
    /// The organization's settings for the portfolio and journey rules: list them, get one,
    /// set one (admins).
    Settings(SettingsArgs),
    /// Write the executive report: one self-contained HTML page with charts, Markdown or JSON.
    Report(crate::commands::report::ReportArgs),
    /// The reverse feed's endpoints (admins): webhooks, NATS JetStream subjects, MQTT topics.
    #[command(subcommand)]
    Endpoint(EndpointCommand),
    /// The reverse feed's rules: when to send what to which endpoints.
    #[command(subcommand)]
    Rule(RuleCommand),
    /// The reverse feed's deliveries: list them, show one with every attempt, replay.
    #[command(subcommand)]
    Deliveries(DeliveriesCommand),
    /// Deliver what the reverse feed's rules fired (`touchbase serve` does this too).
    Deliver(DeliverArgs),
    /// The organization's key, outside the database, from which every signing secret is derived.
    #[command(subcommand)]
    Key(KeyCommand),
    /// A local webhook receiver for trying the reverse feed: prints each delivery and whether
    /// its signature is valid.
    Listen(ListenArgs),
    /// Standing orders (R19): a party's first order repeated on schedule by an automated point.
    /// Run what is due, list and show orders, pause, resume, cancel, and issue a party's
    /// self-service link.
    #[command(subcommand)]
    Standing(StandingCommand),
    /// Surveys of key customers (R14): add one from a file, list them, show one.
    #[command(subcommand)]
    Survey(SurveyCommand),
    /// Survey responses collected elsewhere: import them from NDJSON or CSV.
    #[command(subcommand)]
    Responses(ResponsesCommand),
    /// Key customers, the only parties surveys invite: from a file, or by behaviour.
    #[command(subcommand)]
    Customers(CustomersCommand),
    /// The codebook that codes open answers: import a version, export the latest.
    #[command(subcommand)]
    Codebook(CodebookCommand),
    /// The themes of the `change` answers (what customers would change): mentions, share and
    /// NPS impact of each code, for a point or the whole organization over a period.
    Themes(ThemesArgs),
    /// Open answers as people code them: list them with their tags, tag or untag one
    /// (overriding the codebook's rules), code the double-coded sample, and see how far the
    /// coders agree.
    #[command(subcommand)]
    Answers(AnswersCommand),
    /// Why customers buy from us rather than from competitors: the senior team's answers
    /// beside the customers', product against interaction.
    #[command(subcommand)]
    WhyBuy(WhyBuyCommand),
    /// A party's personal data in touchbase: erase it from the voice of the customer.
    #[command(subcommand)]
    Party(PartyCommand),
}

/// The family of open answers a command works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FamilyArg {
    /// What customers would change.
    Change,
    /// Why they buy from us.
    WhyBuy,
}

impl FamilyArg {
    pub fn family(self) -> touchbase_core::voice::Family {
        match self {
            FamilyArg::Change => touchbase_core::voice::Family::Change,
            FamilyArg::WhyBuy => touchbase_core::voice::Family::WhyBuy,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum AnswersCommand {
    /// The open answers of a period with their tags (analysts and above): id, point, text,
    /// and each tag with who made it (the codebook's rule, or a person).
    List {
        #[arg(long, value_enum, default_value = "change")]
        family: FamilyArg,
        /// The answers about one point.
        #[arg(long, value_name = "KEY")]
        point: Option<String>,
        #[command(flatten)]
        period: PeriodArgs,
        #[arg(long)]
        json: bool,
    },
    /// Tag an answer with a code, whatever the codebook's rules say (analysts and above).
    Tag {
        /// The answer's id (its response's id, or a why-buy statement's `wb_…`).
        id: String,
        code: String,
    },
    /// Take a code off an answer, whatever the codebook's rules say (analysts and above).
    Untag { id: String, code: String },
    /// Code the double-coded sample (analysts and above): the same N answers for every coder,
    /// each shown in turn with the family's codes; type the codes that apply, separated by
    /// spaces or commas (`-` for none; an empty line or the end of input stops and keeps what
    /// was coded). Answers this coder coded already are skipped. Then prints the agreement.
    Code {
        #[arg(long)]
        sample: usize,
        /// Who is coding (the sample's agreement compares coders by this name).
        #[arg(long)]
        coder: String,
        #[arg(long, value_enum, default_value = "change")]
        family: FamilyArg,
    },
    /// Each code's Cohen's kappa over the double-coded sample; codes below 0.6 are unreliable.
    Agreement {
        #[arg(long, value_enum, default_value = "change")]
        family: FamilyArg,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum WhyBuyCommand {
    /// Give the senior team's answer to "why do customers buy from us rather than from
    /// competitors?" (as the acting user: executives and owners), as many as you like.
    Add { text: String },
    /// The senior team's answers of a period with their codes.
    List {
        #[command(flatten)]
        period: PeriodArgs,
        #[arg(long)]
        json: bool,
    },
    /// Why customers buy, executives beside customers: the coded answers, the product and
    /// interaction shares, each code's share (interaction codes with the points they name),
    /// and the gap between the two groups.
    Summary {
        #[command(flatten)]
        period: PeriodArgs,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum PartyCommand {
    /// Erase a party from the voice of the customer (admins): their responses lose their
    /// identity and texts and keep their scores (every count stays), their invitations and
    /// suppressions lose the party, their drafts go, and they are no longer a key customer.
    /// Their interactions (events) are the organization's record and stay.
    Forget { id: String },
}

#[derive(Debug, Subcommand)]
pub enum SurveyCommand {
    /// Add a survey from a YAML or JSON file, or replace the survey with its key (owners,
    /// executives, admins). New questions make a new version.
    Add {
        #[arg(long)]
        file: PathBuf,
    },
    /// The surveys.
    List {
        #[arg(long)]
        json: bool,
    },
    /// One survey, as YAML (or JSON).
    Show {
        key: String,
        #[arg(long)]
        json: bool,
    },
    /// Invite key customers for their interactions in a period: one invitation per accepted
    /// interaction at the survey's points, after the contact rules (`survey.*` settings); an
    /// interaction decided by an earlier run is left as it was. Prints each new invitation
    /// with its link (shown only now) and the suppressions by reason.
    Invite {
        survey: String,
        #[command(flatten)]
        period: PeriodArgs,
        /// The server's address the links point at.
        #[arg(
            long,
            env = "TOUCHBASE_PUBLIC_URL",
            default_value = "http://127.0.0.1:7878"
        )]
        base: String,
        /// Print the report as JSON, each invitation with its `link`.
        #[arg(long, conflicts_with = "csv")]
        json: bool,
        /// Print the new invitations as CSV for a mail merge: party, point, at, link, expires.
        #[arg(long)]
        csv: bool,
    },
    /// The invitations issued for a survey, and whether each was answered (never the links:
    /// only their hashes are kept).
    Invitations {
        survey: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum CodebookCommand {
    /// Import a codebook version (YAML; owners, executives, admins): its version must be above
    /// the one on record; every answer is coded by the latest.
    Import { file: PathBuf },
    /// The latest codebook, as it was imported.
    Export {
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct ThemesArgs {
    /// The themes of one point. [default: the whole organization]
    #[arg(long, value_name = "KEY")]
    pub point: Option<String>,
    #[command(flatten)]
    pub period: PeriodArgs,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum CustomersCommand {
    /// Key customers from a CSV file with the columns `party` and `segment` (admins); a party
    /// already on record gets the file's segment.
    Import { file: PathBuf },
    /// Key customers by behaviour: the N parties with the most value to the organization over
    /// a period (admins).
    Top {
        n: usize,
        #[command(flatten)]
        period: PeriodArgs,
        /// The segment they are recorded under.
        #[arg(long, default_value = "top-value")]
        segment: String,
    },
    /// The key customers.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ResponsesCommand {
    /// Take survey responses in (the responses wire format v1): NDJSON, one response per line,
    /// or CSV (`.csv`) with a header row of the field names flattened with dots
    /// (`answers.nps`); `.gz` is read as gzip; `-` reads standard input. Each response is
    /// taken once (by its id); one that breaks a rule is kept in the rejects with its reasons.
    Import {
        file: PathBuf,
        /// Read the file in this format, whatever its name says.
        #[arg(long, value_enum)]
        format: Option<Format>,
        /// Print the summary as JSON: accepted, duplicates, rejected.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum StandingCommand {
    /// Execute what is due at an instant (now by default): lock the runs whose cut-off has
    /// passed, send or skip the runs whose time has come — each run missed while nothing ran,
    /// once — and print what was done. `touchbase serve` runs this every minute; the runs'
    /// deliveries go out with `touchbase deliver` or the server.
    Run {
        /// The instant to run as (RFC 3339 or a date), for trying a schedule ahead of time.
        #[arg(long, value_parser = bound)]
        now: Option<i64>,
        #[arg(long)]
        json: bool,
    },
    /// Standing orders, by id.
    List {
        #[arg(long)]
        party: Option<String>,
        #[arg(long)]
        point: Option<String>,
        #[arg(long, value_enum)]
        status: Option<OrderStatusArg>,
        #[arg(long, default_value_t = 100)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// One order: its items, schedule, next run and cut-off, every revision and its runs
    /// (a sent run confirmed or failed as its delivery is).
    Show {
        id: String,
        #[arg(long, default_value_t = 20)]
        runs: u32,
        #[arg(long)]
        json: bool,
    },
    /// Pause an active order: its runs are skipped until it is resumed.
    Pause { id: String },
    /// Resume a paused order.
    Resume { id: String },
    /// Cancel an order for good (a run already locked still goes out); its links stop working.
    Cancel { id: String },
    /// A new self-service link for the party (earlier links to the order stop working).
    Link {
        id: String,
        /// How long it opens the page, e.g. 7d, 24h.
        #[arg(long, default_value = "7d", value_parser = span_seconds)]
        ttl: i64,
        /// The server's address the link points at.
        #[arg(
            long,
            env = "TOUCHBASE_PUBLIC_URL",
            default_value = "http://127.0.0.1:7878"
        )]
        base: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum OrderStatusArg {
    Offered,
    Active,
    Paused,
    Cancelled,
}

impl From<OrderStatusArg> for touchbase_core::standing::OrderStatus {
    fn from(s: OrderStatusArg) -> Self {
        use touchbase_core::standing::OrderStatus;
        match s {
            OrderStatusArg::Offered => OrderStatus::Offered,
            OrderStatusArg::Active => OrderStatus::Active,
            OrderStatusArg::Paused => OrderStatus::Paused,
            OrderStatusArg::Cancelled => OrderStatus::Cancelled,
        }
    }
}

fn span_seconds(text: &str) -> Result<i64, String> {
    touchbase_core::rules::Span::parse(text)
        .map(|s| s.micros() / 1_000_000)
        .map_err(|e| e.to_string())
}

#[derive(Debug, Args)]
pub struct ListenArgs {
    #[arg(long, default_value = "127.0.0.1:9000")]
    pub listen: SocketAddr,
    /// The endpoint's secret (`whsec_…`, shown by `touchbase endpoint add`), to check signatures.
    #[arg(long, env = "TOUCHBASE_LISTEN_SECRET")]
    pub secret: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Write a new random key to a file only its owner can read (for a PostgreSQL store; a
    /// SQLite store makes its own beside it).
    New {
        #[arg(long)]
        out: PathBuf,
    },
    /// Replace the organization key with a new one (in the key file of --key-file, or beside
    /// a SQLite store), keeping the old one in the file as `retired`: it checks the audit
    /// records it sealed and seals nothing more. Every secret derived from the key changes:
    /// give webhook receivers their endpoints' new secrets (`touchbase endpoint rotate`).
    Rotate,
}

#[derive(Debug, Subcommand)]
pub enum EndpointCommand {
    /// Declare an endpoint; its signing secret is shown once.
    #[command(group = clap::ArgGroup::new("target").required(true).multiple(false))]
    Add {
        key: String,
        /// A webhook: POSTed to, signed by the Standard Webhooks specification.
        #[arg(long, group = "target")]
        url: Option<String>,
        /// A NATS JetStream subject.
        #[arg(long, group = "target", value_name = "SUBJECT")]
        nats: Option<String>,
        /// An MQTT topic (QoS 1).
        #[arg(long, group = "target", value_name = "TOPIC")]
        mqtt: Option<String>,
        /// Let a webhook reach a private, loopback or link-local address.
        #[arg(long)]
        allow_private: bool,
        /// Print `{key, kind, target, secret}` as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The endpoints.
    List {
        #[arg(long)]
        json: bool,
    },
    /// A new signing secret; the previous one keeps signing beside it for --overlap.
    Rotate {
        key: String,
        /// How long both secrets sign.
        #[arg(long, default_value = "24h", value_parser = span)]
        overlap: touchbase_core::rules::Span,
        #[arg(long)]
        json: bool,
    },
    /// Send nothing to an endpoint; its deliveries wait until it is enabled.
    Disable {
        key: String,
        #[arg(long, default_value = "disabled by an admin")]
        reason: String,
    },
    /// Send to an endpoint again.
    Enable { key: String },
}

fn span(text: &str) -> Result<touchbase_core::rules::Span, String> {
    touchbase_core::rules::Span::parse(text)
}

#[derive(Debug, Subcommand)]
pub enum RuleCommand {
    /// Add rules from a YAML file, one rule per document (a rule with the same key is replaced).
    Add {
        #[arg(long)]
        file: PathBuf,
    },
    /// The rules.
    List {
        #[arg(long)]
        json: bool,
    },
    /// One rule, as YAML (or JSON).
    Show {
        key: String,
        #[arg(long)]
        json: bool,
    },
    Disable {
        key: String,
    },
    Enable {
        key: String,
    },
    Remove {
        key: String,
    },
    /// Run a rule over the stored history and list every time it would have fired, with the
    /// body it would have sent; sends nothing.
    Test {
        /// A saved rule.
        #[arg(required_unless_present = "file")]
        key: Option<String>,
        /// A rule from a file instead (its first document).
        #[arg(long, conflicts_with = "key")]
        file: Option<PathBuf>,
        #[command(flatten)]
        period: PeriodArgs,
        /// How many firings to show with their bodies.
        #[arg(long, default_value_t = 5)]
        samples: usize,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum DeliveriesCommand {
    /// Deliveries, newest first.
    List {
        #[arg(long, value_enum)]
        state: Option<DeliveryStateArg>,
        #[arg(long)]
        rule: Option<String>,
        #[arg(long)]
        endpoint: Option<String>,
        /// Fired at or after: a date or an RFC 3339 instant.
        #[arg(long, value_parser = bound)]
        since: Option<i64>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// One delivery with every attempt: when, the status, how long, the answer's first bytes.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Send deliveries again (admins): one by id, or every one fired since --since.
    #[command(group = clap::ArgGroup::new("which").required(true))]
    Replay {
        #[arg(group = "which")]
        id: Option<String>,
        #[arg(long, value_parser = bound, group = "which")]
        since: Option<i64>,
        #[arg(long, requires = "since")]
        rule: Option<String>,
        #[arg(long, value_enum, requires = "since")]
        state: Option<DeliveryStateArg>,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum DeliveryStateArg {
    Pending,
    Delivered,
    Dead,
}

impl From<DeliveryStateArg> for touchbase_store::outbox::DeliveryState {
    fn from(s: DeliveryStateArg) -> Self {
        use touchbase_store::outbox::DeliveryState as D;
        match s {
            DeliveryStateArg::Pending => D::Pending,
            DeliveryStateArg::Delivered => D::Delivered,
            DeliveryStateArg::Dead => D::Dead,
        }
    }
}

#[derive(Debug, Args)]
pub struct DeliverArgs {
    /// Exit once nothing is due (otherwise run until interrupted).
    #[arg(long)]
    pub until_idle: bool,
    #[command(flatten)]
    pub feed: FeedArgs,
}

/// Where the reverse feed's NATS and MQTT endpoints publish.
#[derive(Debug, Clone, Args)]
pub struct FeedArgs {
    /// The NATS server of NATS endpoints.
    #[arg(
        long,
        env = "TOUCHBASE_FEED_NATS",
        default_value = "nats://127.0.0.1:4222",
        value_name = "URL"
    )]
    pub feed_nats: String,
    /// The MQTT broker of MQTT endpoints. [default: --mqtt when given, else mqtt://127.0.0.1:1883]
    #[arg(long, env = "TOUCHBASE_FEED_MQTT", value_name = "URL")]
    pub feed_mqtt: Option<String>,
    /// How long a dispatcher holds the deliveries it claimed: if it dies, others take them
    /// after this. Longer than the 15 s a target has to answer, or a slow answer may be sent
    /// twice.
    #[arg(long, env = "TOUCHBASE_FEED_LEASE", default_value = "60s", value_parser = span)]
    pub feed_lease: touchbase_core::rules::Span,
    /// The server's address the survey links of rules' `invite` actions point at. [default:
    /// the address `serve` listens on; for `deliver`, http://127.0.0.1:7878]
    #[arg(long, env = "TOUCHBASE_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The organization's name.
    #[arg(long, default_value = "My organization")]
    pub name: String,
    /// Its industry, in words.
    #[arg(long, default_value = "")]
    pub industry: String,
    /// ISO 4217 code of the currency values are given in.
    #[arg(long, default_value = "USD")]
    pub currency: String,
}

#[derive(Debug, Subcommand)]
pub enum InventoryCommand {
    /// Make the stored inventory equal to a YAML file (`-` reads standard input).
    Import {
        file: PathBuf,
        /// Print what would be added, changed (field by field) and removed; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
        /// Take the inventory of points that exist already: live points the store has never
        /// seen are recorded as live without sign-off (admins only).
        #[arg(long)]
        baseline: bool,
    },
    /// Write the inventory as YAML (to standard output, or --out).
    Export {
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum PointCommand {
    /// List the points of interaction.
    List {
        #[arg(long)]
        status: Option<StatusArg>,
        #[arg(long)]
        function: Option<String>,
        #[arg(long)]
        mode: Option<ModeArg>,
        /// Print a JSON array of points.
        #[arg(long)]
        json: bool,
    },
    /// Show one point in full.
    Show {
        key: String,
        /// Print the point as JSON (default: YAML, as in the inventory file).
        #[arg(long)]
        json: bool,
    },
    /// Propose a new point from a YAML or JSON file (`-` reads standard input): it enters as
    /// `proposed`, with its business case, and waits for the executives' sign-off.
    Add {
        #[arg(long, short)]
        file: PathBuf,
    },
    /// Change a point: replace it from a file, or set fields (`--set expected.cost=0.9`).
    Edit {
        key: String,
        #[arg(long, short, conflicts_with = "set")]
        file: Option<PathBuf>,
        /// FIELD=VALUE, the field as a dotted path, the value as YAML (`facets=[people, process]`).
        #[arg(long, value_name = "FIELD=VALUE", required_unless_present = "file")]
        set: Vec<String>,
    },
    /// Retire a point: it stays on record but is no longer live (a live point needs sign-off).
    Retire { key: String },
    /// Take an approved point live (its owner, after sign-off).
    GoLive { key: String },
}

#[derive(Debug, Subcommand)]
pub enum ProposalCommand {
    /// List the proposals, oldest first.
    List {
        #[arg(long)]
        status: Option<ProposalStatusArg>,
        /// Print a JSON array of proposals.
        #[arg(long)]
        json: bool,
    },
    /// Show one proposal: its business case, why it needs sign-off, each decision.
    Show {
        id: u64,
        /// Print the proposal as JSON, the point as proposed included.
        #[arg(long)]
        json: bool,
    },
    /// Approve a proposal (executives; nobody approves their own).
    Approve {
        id: u64,
        /// Why: kept with the decision in the audit trail.
        #[arg(long)]
        comment: String,
    },
    /// Reject a proposal (executives; nobody rejects their own).
    Reject {
        id: u64,
        /// Why: kept with the decision in the audit trail.
        #[arg(long)]
        comment: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user and issue its first API token (shown once).
    Add {
        /// The user's name, as `--as NAME` and the audit trail give it.
        name: String,
        /// viewer reads; analyst also reads the audit trail and exports; owner also proposes
        /// and edits its points; executive also approves and rejects; admin administers (users,
        /// tokens, settings, imports) and does all an owner does, but approves nothing.
        #[arg(long)]
        role: RoleArg,
        /// An owner team the user acts for (repeat for several): the user owns the points
        /// whose `owner` is its name or one of its teams.
        #[arg(long = "team", value_name = "TEAM")]
        teams: Vec<String>,
        /// Print `name`, `role`, `token` and `token_id` as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the users with their roles, teams and token ids.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Issue another API token for a user (shown once).
    Issue {
        /// The user's name.
        user: String,
        /// Print `name`, `role`, `token` and `token_id` as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by its id (`tk_…`, from `touchbase user list`): it stops working at once.
    Revoke {
        #[arg(value_name = "TOKEN_ID")]
        token_id: String,
    },
    /// List the tokens (never their secrets): user, issued, last used (to the minute), revoked.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Print the audit trail, oldest first.
    Log {
        /// Only the records about this point (its proposals included).
        #[arg(long, value_name = "KEY")]
        point: Option<String>,
        /// Only the records written by this user.
        #[arg(long, value_name = "USER")]
        actor: Option<String>,
        /// Only the records at or after this instant: RFC 3339 (2026-03-01T09:00:00Z) or a
        /// date (2026-03-01, meaning 00:00 UTC).
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// Print the records as JSON, with before, after and their hashes.
        #[arg(long)]
        json: bool,
    },
    /// Check the trail: no record altered, inserted or removed, every seal matching the
    /// organization key, the head file reached, and the stored entities as the trail says.
    /// Exits nonzero when a problem is found.
    Verify {
        /// Print what was checked and found as JSON (the answer of /api/audit/verify).
        #[arg(long)]
        json: bool,
    },
    /// Append a sealed record that changes nothing and write the head file again: after a
    /// store written before sealing was checked, or when its head file was lost (check the
    /// trail's end first). Administrators only.
    Anchor,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// A file of events (wire format v1): NDJSON, one event per line, or CSV (`.csv`) with a
    /// header row of the field names flattened with dots (`outcomes.satisfaction`); `.gz` is
    /// read as gzip. `-` reads standard input.
    pub file: PathBuf,
    /// Read the file in this format, whatever its name says (CSV on standard input needs it).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Events written per transaction.
    #[arg(long, default_value_t = 10_000)]
    pub batch: usize,
    /// Print the summary as JSON: accepted, duplicates, held, rejected, events_per_s.
    #[arg(long)]
    pub json: bool,
    /// Fire the reverse feed's event rules on every matching event, however old (a rule's
    /// `max_age` otherwise keeps old events, such as a backfill, from firing).
    #[arg(long)]
    pub fire_rules: bool,
}

#[derive(Debug, Subcommand)]
pub enum RejectsCommand {
    /// The rejected inputs, oldest first, with their reasons.
    List {
        /// Also those already replayed.
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
    },
    /// One rejected input in full.
    Show { id: i64 },
    /// Run the rejects through the checks again; those that pass are taken.
    Replay {
        /// Only this reject.
        id: Option<i64>,
    },
    /// Remove the rejects received before a date, replayed or not (admins).
    Prune {
        /// A date (00:00 UTC) or an RFC 3339 instant: rejects received before it go.
        #[arg(long, value_name = "DATE")]
        before: String,
    },
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Print what was checked and every problem as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct UndocumentedArgs {
    /// Write a draft proposal for this key instead: a point file with the observed volume
    /// filled in, to complete and `touchbase point add --file`.
    #[arg(long, value_name = "KEY")]
    pub draft: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The address to listen on.
    #[arg(long, env = "TOUCHBASE_LISTEN", default_value = "127.0.0.1:7878")]
    pub listen: SocketAddr,
    /// How often the standing orders' scheduler steps (`touchbase standing run`), e.g. 1m, 30s.
    #[arg(long, env = "TOUCHBASE_STANDING_EVERY", default_value = "1m", value_parser = span_seconds)]
    pub standing_every: i64,
    /// The largest request body accepted, in bytes.
    #[arg(long, env = "TOUCHBASE_BODY_LIMIT", default_value_t = 8 * 1024 * 1024)]
    pub body_limit: usize,
    /// The most connections served at once (kept below the open-files limit); the next wait.
    #[arg(long, env = "TOUCHBASE_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,
    /// The most events one `POST /api/events` may carry.
    #[arg(long, env = "TOUCHBASE_MAX_BATCH", default_value_t = 10_000)]
    pub max_batch: usize,
    /// Also take events from this MQTT broker (mqtt://HOST:PORT), QoS 1.
    #[arg(long, env = "TOUCHBASE_MQTT", value_name = "URL")]
    pub mqtt: Option<String>,
    /// The MQTT topic filter to subscribe to.
    #[arg(
        long,
        env = "TOUCHBASE_MQTT_TOPIC",
        default_value = "touchbase/events/#",
        value_name = "FILTER"
    )]
    pub mqtt_topic: String,
    /// The MQTT client id: the broker keeps this client's unacknowledged messages across restarts.
    #[arg(long, env = "TOUCHBASE_MQTT_CLIENT_ID", default_value = "touchbase")]
    pub mqtt_client_id: String,
    #[command(flatten)]
    pub feed: FeedArgs,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// How many synthetic interactions a new demo store is loaded with (a year of them).
    #[arg(long, env = "TOUCHBASE_DEMO_EVENTS", default_value_t = 100_000)]
    pub events: u64,
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Args)]
pub struct GenArgs {
    /// How many events, exactly.
    #[arg(long, default_value_t = 100_000)]
    pub events: u64,
    /// The same seed gives the same bytes.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The first day of the period, YYYY-MM-DD. [default: --days before 2026-11-01]
    #[arg(long, value_name = "DATE")]
    pub from: Option<jiff::civil::Date>,
    /// How many days the period lasts.
    #[arg(long, default_value_t = 365)]
    pub days: u32,
    /// Write to this file rather than standard output.
    #[arg(long, short)]
    pub out: Option<PathBuf>,
}

/// The period measured, `[--from, --to)`. Each bound is a date (`2026-03-01`, meaning 00:00 UTC)
/// or an RFC 3339 instant (`2026-03-01T09:30:00+01:00`).
#[derive(Debug, Args)]
pub struct PeriodArgs {
    /// The period's first instant: a date (00:00 UTC) or an RFC 3339 instant.
    /// [default: 30 days before --to]
    #[arg(long, value_name = "WHEN", value_parser = bound)]
    pub from: Option<i64>,
    /// The first instant after the period: a date (00:00 UTC) or an RFC 3339 instant.
    /// [default: tomorrow 00:00 UTC, so that today counts]
    #[arg(long, value_name = "WHEN", value_parser = bound)]
    pub to: Option<i64>,
}

/// `--from`, `--to`: microseconds since the epoch; clap names the flag in the error.
fn bound(text: &str) -> Result<i64, String> {
    touchbase_core::period::parse_bound(text).map_err(|e| e.to_string())
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("scope").multiple(false))]
pub struct ScorecardArgs {
    /// The scorecard of one point. [default, without a selector: the whole organization]
    #[arg(long, value_name = "KEY", group = "scope")]
    pub point: Option<String>,
    /// The scorecard of the points of one business function.
    #[arg(long, group = "scope")]
    pub function: Option<String>,
    /// The scorecard of the points of one interface mode.
    #[arg(long, group = "scope")]
    pub mode: Option<ModeArg>,
    /// The scorecard of the points that serve one party type.
    #[arg(long, value_name = "PARTY", group = "scope")]
    pub party_type: Option<String>,
    /// Every group of a kind side by side: each live point (or one with events), each business
    /// function, each interface mode (machine vs people vs hybrid) or each party type.
    #[arg(long, value_name = "KIND", group = "scope")]
    pub all: Option<GroupByArg>,
    #[command(flatten)]
    pub period: PeriodArgs,
    /// A series: one scorecard per UTC day, week (from Monday) or calendar month, the first
    /// and last cut to the period.
    #[arg(long)]
    pub by: Option<GranularityArg>,
    /// Print JSON with METRICS.md's field names: one object, or an array for a series or --all.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PortfolioArgs {
    #[command(flatten)]
    pub period: PeriodArgs,
    /// Print a JSON array of {point, verdict, reasons: [{code, value, threshold}]}.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct JourneysArgs {
    #[command(flatten)]
    pub period: PeriodArgs,
    /// Only journeys of this party type (that of their first point).
    #[arg(long, value_name = "PARTY")]
    pub party_type: Option<String>,
    /// Only journeys that start at this point.
    #[arg(long, value_name = "KEY")]
    pub start: Option<String>,
    /// How many of the most frequent variants to list.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub top: usize,
    /// What cutting this point would cost: the journeys, variants and value through it, its
    /// removal effect, and where the parties went next (over all of the period's journeys).
    #[arg(long, value_name = "KEY", conflicts_with_all = ["party_type", "start"])]
    pub what_if_without: Option<String>,
    /// Print the summary as JSON: journeys, distinct_variants, edges, handoffs, variants (with
    /// --what-if-without, the what-if's fields).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct QualityArgs {
    #[command(flatten)]
    pub period: PeriodArgs,
    /// How many of each point's most frequent failures to list.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub top: usize,
    /// Print a JSON array of {point, volume, conforming, conformance_rate, failing}.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SettingsArgs {
    #[command(subcommand)]
    pub command: Option<SettingsCommand>,
    /// Print the settings as a JSON object, name → value.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum SettingsCommand {
    /// Print one setting's value.
    Get {
        /// e.g. portfolio.quality_threshold
        name: String,
    },
    /// Change one setting (admins); the change is on the audit trail.
    Set {
        /// e.g. portfolio.quality_threshold
        name: String,
        /// e.g. 0.7
        value: String,
    },
}

/// A kind of group for `scorecard --all`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum GroupByArg {
    Point,
    Function,
    Mode,
    PartyType,
}

impl From<GroupByArg> for touchbase_store::measure::GroupBy {
    fn from(g: GroupByArg) -> Self {
        use touchbase_store::measure::GroupBy;
        match g {
            GroupByArg::Point => GroupBy::Point,
            GroupByArg::Function => GroupBy::Function,
            GroupByArg::Mode => GroupBy::Mode,
            GroupByArg::PartyType => GroupBy::PartyType,
        }
    }
}

/// The buckets of a series.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum GranularityArg {
    Day,
    Week,
    Month,
}

impl From<GranularityArg> for touchbase_core::period::Granularity {
    fn from(g: GranularityArg) -> Self {
        use touchbase_core::period::Granularity;
        match g {
            GranularityArg::Day => Granularity::Day,
            GranularityArg::Week => Granularity::Week,
            GranularityArg::Month => Granularity::Month,
        }
    }
}

/// A point status on the command line.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum StatusArg {
    Proposed,
    Approved,
    Live,
    UnderReview,
    Retired,
    Rejected,
}

impl From<StatusArg> for Status {
    fn from(s: StatusArg) -> Status {
        match s {
            StatusArg::Proposed => Status::Proposed,
            StatusArg::Approved => Status::Approved,
            StatusArg::Live => Status::Live,
            StatusArg::UnderReview => Status::UnderReview,
            StatusArg::Retired => Status::Retired,
            StatusArg::Rejected => Status::Rejected,
        }
    }
}

/// A proposal status on the command line.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ProposalStatusArg {
    Pending,
    Approved,
    Rejected,
    Withdrawn,
}

impl From<ProposalStatusArg> for ProposalStatus {
    fn from(s: ProposalStatusArg) -> ProposalStatus {
        match s {
            ProposalStatusArg::Pending => ProposalStatus::Pending,
            ProposalStatusArg::Approved => ProposalStatus::Approved,
            ProposalStatusArg::Rejected => ProposalStatus::Rejected,
            ProposalStatusArg::Withdrawn => ProposalStatus::Withdrawn,
        }
    }
}

/// A role on the command line.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum RoleArg {
    Viewer,
    Analyst,
    Owner,
    Executive,
    Admin,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Role {
        match r {
            RoleArg::Viewer => Role::Viewer,
            RoleArg::Analyst => Role::Analyst,
            RoleArg::Owner => Role::Owner,
            RoleArg::Executive => Role::Executive,
            RoleArg::Admin => Role::Admin,
        }
    }
}

/// An interface mode on the command line.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ModeArg {
    Machine,
    People,
    Hybrid,
}

impl From<ModeArg> for Mode {
    fn from(m: ModeArg) -> Mode {
        match m {
            ModeArg::Machine => Mode::Machine,
            ModeArg::People => Mode::People,
            ModeArg::Hybrid => Mode::Hybrid,
        }
    }
}
