//! The command line, as clap reads it. Values are checked here only as far as their type;
//! the rules of the inventory are checked by the library when the command runs.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use touchbase_core::{Mode, Status};

/// touchbase: the system of record for an organization's points of interaction.
#[derive(Debug, Parser)]
#[command(name = "touchbase", version, about, propagate_version = true)]
pub struct Cli {
    /// The store: a SQLite file path (created when absent) or a postgres:// URL.
    /// [default: ./touchbase.db; for `demo`, ./touchbase-demo.db]
    #[arg(long, global = true, env = "TOUCHBASE_DB")]
    pub db: Option<String>,

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
    /// List, show, add, edit and retire points of interaction.
    #[command(subcommand)]
    Point(PointCommand),
    /// Serve the JSON API and the dashboard.
    Serve(ServeArgs),
    /// Create the demo organization (when absent) and serve it.
    Demo(ServeArgs),
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
    /// Add a point from a YAML or JSON file (`-` reads standard input).
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
    /// Retire a point: it stays on record but is no longer live.
    Retire { key: String },
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The address to listen on.
    #[arg(long, env = "TOUCHBASE_LISTEN", default_value = "127.0.0.1:7878")]
    pub listen: SocketAddr,
    /// The largest request body accepted, in bytes.
    #[arg(long, env = "TOUCHBASE_BODY_LIMIT", default_value_t = 8 * 1024 * 1024)]
    pub body_limit: usize,
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
