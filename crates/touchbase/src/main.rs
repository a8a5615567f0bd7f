//! `touchbase`: the binary. It parses the command line, opens the store named by `--db`, and
//! hands over to the library crates; every error reaches the user here, with what to do.

mod args;
mod commands;
mod demo;
mod edit;
mod keys;
mod output;
mod source;
mod store;

use std::process::ExitCode;

/// mimalloc instead of the system allocator: ingest allocates and frees several small values per
/// event on two threads, and glibc's malloc/free took about 30 % of an import's CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;

use crate::args::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.verbose);
    quiet_on_closed_stdout();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// When the reader of standard output goes away (`touchbase audit log | head`), stops quietly
/// with the shell's exit status for SIGPIPE (141) instead of a panic message: `println!`
/// panics on a closed pipe, and what was asked for has been read.
fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}

fn init_tracing(verbose: bool) {
    let default = if verbose {
        "info,touchbase=debug"
    } else {
        "warn,touchbase=info"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("TOUCHBASE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let db = cli.db;
    let key_file = cli.key_file;
    let options = store::Options {
        key_file: key_file.clone(),
        audit_head: cli.audit_head,
    };
    // The organization key of the store `--db` names (the demo's is its own store's).
    let org_keys = || {
        keys::load(
            db.as_deref().unwrap_or(store::DEFAULT_DB),
            key_file.as_deref(),
        )
    };
    if let (Some(name), Command::Serve(_) | Command::Demo(_)) = (&cli.as_user, &cli.command) {
        eprintln!(
            "note: --as {name} is ignored here: the server knows each caller by its bearer token"
        );
    }
    let command = match cli.command {
        // Needs no store: it writes events for the demo organization.
        Command::Gen(a) => return commands::r#gen::run(a),
        Command::Demo(a) => {
            let db = db.unwrap_or_else(|| demo::DEFAULT_DB.to_owned());
            let keys = keys::load(&db, key_file.as_deref())?;
            return commands::serve::demo(&db, &options, keys, a).await;
        }
        // The server knows its callers by their bearer tokens, not by `--as`.
        Command::Serve(a) => {
            let store = store::open(db.as_deref(), &options).await?;
            return commands::serve::serve(store, org_keys()?, a).await;
        }
        Command::Deliver(a) => {
            let store = store::open(db.as_deref(), &options).await?;
            return commands::feed::deliver(store, org_keys()?, a).await;
        }
        Command::Listen(a) => {
            let secret = a
                .secret
                .as_deref()
                .map(touchbase_core::endpoint::whsec_bytes)
                .transpose()
                .map_err(|e| anyhow::anyhow!("--secret: {e}"))?;
            let listener = tokio::net::TcpListener::bind(a.listen)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", a.listen))?;
            eprintln!(
                "touchbase listening for webhooks on http://{}/ (ctrl-c stops)",
                listener.local_addr()?
            );
            touchbase_server::listen::run(listener, secret, touchbase_server::shutdown_signal())
                .await?;
            return Ok(());
        }
        Command::Key(crate::args::KeyCommand::New { out }) => {
            keys::write(&out, &keys::fresh()?)?;
            println!(
                "wrote a new key to {}: keep it outside the database, and back it up",
                out.display()
            );
            return Ok(());
        }
        Command::Key(crate::args::KeyCommand::Rotate) => {
            let path = keys::rotate(
                db.as_deref().unwrap_or(store::DEFAULT_DB),
                key_file.as_deref(),
            )?;
            println!(
                "{}: a new organization key; the old one stays as `retired` to check the audit records \
                 it sealed. Restart running servers. Webhook secrets are derived from the key and changed \
                 with it: `touchbase endpoint rotate KEY` shows each endpoint's new secret for its receiver",
                path.display()
            );
            return Ok(());
        }
        command => command,
    };
    let store = store::open(db.as_deref(), &options).await?;
    let actor = store::actor(&*store, cli.as_user.as_deref()).await?;
    let (store, actor) = (&*store, &actor);
    match command {
        Command::Init(a) => commands::init::run(store, actor, a).await,
        Command::Inventory(a) => commands::inventory::run(store, actor, a).await,
        Command::Point(a) => commands::point::run(store, actor, a).await,
        Command::Proposal(a) => commands::proposal::run(store, actor, a).await,
        Command::User(a) => commands::user::run(store, actor, a).await,
        Command::Token(a) => commands::user::run_token(store, actor, a).await,
        Command::Audit(a) => commands::audit::run(store, actor, a).await,
        Command::Import(a) => commands::events::import(store, actor, a).await,
        Command::Rejects(a) => commands::events::rejects(store, actor, a).await,
        Command::Undocumented(a) => commands::events::undocumented(store, actor, a).await,
        Command::Check(a) => commands::check::run(store, actor, a).await,
        Command::Scorecard(a) => commands::measure::scorecard(store, actor, a).await,
        Command::Portfolio(a) => commands::measure::portfolio(store, actor, a).await,
        Command::Journeys(a) => commands::measure::journeys(store, actor, a).await,
        Command::Quality(a) => commands::measure::quality(store, actor, a).await,
        Command::Settings(a) => commands::settings::run(store, actor, a).await,
        Command::Report(a) => commands::report::run(store, actor, a).await,
        Command::Endpoint(a) => commands::feed::endpoint(store, actor, &org_keys()?, a).await,
        Command::Rule(a) => commands::feed::rule(store, actor, a).await,
        Command::Deliveries(a) => commands::feed::deliveries(store, actor, a).await,
        Command::Standing(a) => commands::standing::run(store, actor, &org_keys()?, a).await,
        Command::Survey(a) => commands::voice::survey(store, actor, &org_keys()?, a).await,
        Command::Customers(a) => commands::voice::customers(store, actor, a).await,
        Command::Codebook(a) => commands::voice::codebook(store, actor, a).await,
        Command::Themes(a) => commands::voice::themes(store, actor, a).await,
        Command::Answers(a) => commands::answers::answers(store, actor, a).await,
        Command::WhyBuy(a) => commands::answers::why_buy(store, actor, a).await,
        Command::Party(a) => commands::answers::party(store, actor, a).await,
        Command::Responses(a) => commands::voice::responses(store, actor, a).await,
        Command::Serve(_)
        | Command::Demo(_)
        | Command::Gen(_)
        | Command::Deliver(_)
        | Command::Key(_)
        | Command::Listen(_) => {
            unreachable!("handled above")
        }
    }
}
