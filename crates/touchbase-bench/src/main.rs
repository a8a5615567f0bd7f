//! `touchbase-bench`: how fast the `touchbase` binary takes interaction events in, measured as
//! users run it (the release binary beside this one, as child processes), each figure next to
//! its target and to a floor of the same run — the same rows written the plainest fast way.
//!
//! ```text
//! cargo build --release --workspace
//! target/release/touchbase-bench --events 10000000 [--pg URL] [--only sqlite,pg,http,single,measure,feed,journeys] [--work DIR]
//! ```
//!
//! The steps: the data (`touchbase gen`); SQLite bulk import and the SQLite floor; PostgreSQL
//! bulk import and the PostgreSQL floor (binary COPY); HTTP batched; single-event HTTP; the
//! measurement layer's speed on both stores, beside DuckDB's over the same events; the reverse
//! feed (an event rule's cost to ingest, the outbox's drain, firing-to-delivery latency) over
//! a file of its own (`--feed-events`, 1,000,000).
//!
//! `touchbase-bench standing [--orders 100000] [--db sqlite|URL]…` is apart: standing orders
//! captured, scheduled and delivered at scale, in this process (`src/standing.rs`).

mod child;
mod data;
mod feed;
mod http_load;
mod journeys;
mod measure;
mod pg_floor;
mod receiver;
mod report;
mod sqlite_floor;
mod standing;
mod voice;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use serde::Deserialize;

use crate::report::{Machine, Report, Unit, targets};

/// Benchmarks event ingest of the touchbase binary beside this one.
#[derive(Debug, Parser)]
#[command(
    name = "touchbase-bench",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// Events in the file the bulk and batched steps send (`touchbase gen --events N`).
    #[arg(long, default_value_t = 10_000_000)]
    events: u64,
    /// The seed of `touchbase gen`.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The PostgreSQL server: a database is created on it for the run and dropped at the end.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
    pg: String,
    /// The steps to run.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "sqlite,pg,http,single,measure,feed,journeys"
    )]
    only: Vec<Step>,
    /// Where the events file and the stores go (the events file is kept and reused).
    #[arg(long, default_value = "bench-work")]
    work: PathBuf,
    /// Also save the figures as JSON to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// HTTP batched: events per request.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// HTTP batched: requests in flight, each on its own connection.
    #[arg(long, default_value_t = 4)]
    in_flight: usize,
    /// Single-event HTTP: how many events (the first of the file), one per request.
    #[arg(long, default_value_t = 200_000)]
    single_events: u64,
    /// Single-event HTTP: concurrent connections, one request in flight on each.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Single-event HTTP: rounds, each on a fresh server; the figures are the median round's
    /// (its rate waits on the disk's flushes, which vary from run to run).
    #[arg(long, default_value_t = 3)]
    single_rounds: usize,
    /// Reverse feed: events in the file its imports and batched HTTP send (`feed-events.ndjson`,
    /// its own, so that the step takes minutes whatever --events is; --events' file when equal).
    #[arg(long, default_value_t = 1_000_000)]
    feed_events: u64,
    /// Reverse feed: rounds of each comparison, its variants in turn (without the rule, with
    /// it); the figures are the medians of the rounds.
    #[arg(long, default_value_t = 3)]
    feed_rounds: usize,
    /// Reverse feed: deliveries pending for the drain.
    #[arg(long, default_value_t = 10_000)]
    feed_drain: u64,
    /// Reverse feed: firing events posted one per request for the latency.
    #[arg(long, default_value_t = 5_000)]
    feed_latency_events: u64,
    /// Reverse feed: the rate they are posted at, events per second.
    #[arg(long, default_value_t = 250.0)]
    feed_rate: f64,
    /// Journeys: leave the SQLite store out (to take PostgreSQL's figures alone).
    #[arg(long)]
    journeys_without_sqlite: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Standing orders at scale, in this process (no touchbase binary needed): first orders
    /// captured, the scheduler's steps over two weeks, every run delivered to a receiver.
    Standing(standing::Args),
    /// The voice of the customer at scale, in this process: a million survey responses taken
    /// in, every point's voice by month, the themes re-coded by a 50-code codebook.
    Voice(voice::Args),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Step {
    /// SQLite bulk import, and the SQLite floor.
    Sqlite,
    /// PostgreSQL bulk import, and the PostgreSQL floor.
    Pg,
    /// HTTP batched: NDJSON bodies of --batch events.
    Http,
    /// Single-event HTTP.
    Single,
    /// Scorecards, portfolio and journeys over stores holding the events file (imported once
    /// and kept in the work directory), and DuckDB's scorecards over the same events.
    Measure,
    /// The reverse feed: bulk import and batched HTTP with an event rule firing on ~10 % of
    /// the events beside the same without, the outbox's drain, firing-to-delivery latency.
    Feed,
    /// The journeys cut ahead of time on the measurement step's stores: the first request
    /// after 1,000 new events, attribution for the year, and single-event POSTs during a
    /// full catch-up under a server.
    Journeys,
}

/// What every step needs.
#[derive(Debug)]
struct Bench {
    args: Args,
    exe: PathBuf,
    work: PathBuf,
    events: PathBuf,
    inventory: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let args = Args::parse();
    match &args.command {
        Some(Command::Standing(standing)) => return standing::main(standing).await,
        Some(Command::Voice(voice)) => return voice::main(voice).await,
        None => {}
    }
    let exe = child::touchbase_exe()?;
    std::fs::create_dir_all(&args.work)
        .with_context(|| format!("cannot create `{}`", args.work.display()))?;
    let work = args.work.canonicalize()?;
    let version = child::run({
        let mut command = std::process::Command::new(&exe);
        command.arg("--version");
        command
    })?;
    let mut report = Report::new(Machine {
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        events: args.events,
        single_events: args.single_events,
        feed_events: args.only.contains(&Step::Feed).then_some(args.feed_events),
        standing_orders: None,
        touchbase: version.stdout.trim().to_owned(),
        started: jiff::Timestamp::now()
            .strftime("%Y-%m-%d %H:%M:%SZ")
            .to_string(),
    });
    // The feed step has a file of its own: the main one is written only for the others.
    let events = if args.only.iter().any(|s| *s != Step::Feed) {
        let (exe, work, n, seed) = (exe.clone(), work.clone(), args.events, args.seed);
        blocking(move || data::events_file(&exe, &work, n, seed)).await?
    } else {
        work.join("events.ndjson")
    };
    let inventory = data::inventory_file(&work)?;
    let bench = Bench {
        args,
        exe,
        work,
        events,
        inventory,
    };
    let steps = [
        Step::Sqlite,
        Step::Pg,
        Step::Http,
        Step::Single,
        Step::Measure,
        Step::Feed,
        Step::Journeys,
    ];
    for step in steps.into_iter().filter(|s| bench.args.only.contains(s)) {
        let name = match step {
            Step::Sqlite => "sqlite",
            Step::Pg => "pg",
            Step::Http => "http batched",
            Step::Single => "http single",
            Step::Measure => "measure",
            Step::Feed => "feed",
            Step::Journeys => "journeys",
        };
        // Each step starts on a quiet disk: what the previous ones wrote is flushed first, so
        // that its write-back does not slow this step's own flushes.
        let _ = std::process::Command::new("sync").status();
        println!("{name}: start");
        let started = Instant::now();
        let done = match step {
            Step::Sqlite => sqlite(&bench, &mut report).await,
            Step::Pg => pg(&bench, &mut report).await,
            Step::Http => http_batched(&bench, &mut report).await,
            Step::Single => http_single(&bench, &mut report).await,
            Step::Measure => measure_step(&bench, &mut report).await,
            Step::Feed => feed::run(&bench, &mut report).await,
            Step::Journeys => journeys::run(&bench, &mut report).await,
        };
        match done {
            Ok(()) => println!("{name}: done in {:.1} s", started.elapsed().as_secs_f64()),
            Err(e) => report.fail(name, &e),
        }
    }
    report.print_table();
    if let Some(path) = &bench.args.json {
        report.save(path)?;
    }
    if report.failed.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!(
        "touchbase-bench: {} step(s) could not run",
        report.failed.len()
    );
    Ok(ExitCode::FAILURE)
}

/// Runs blocking work (child processes, files, SQLite) off the runtime's threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .context("a blocking task panicked")?
}

/// `touchbase import --json`'s summary.
#[derive(Debug, Deserialize)]
struct Imported {
    accepted: u64,
    duplicates: u64,
    held: u64,
    rejected: u64,
    events_per_s: f64,
}

impl Imported {
    fn total(&self) -> u64 {
        self.accepted + self.duplicates + self.held + self.rejected
    }
}

fn per_second(count: u64, wall: Duration) -> f64 {
    count as f64 / wall.as_secs_f64().max(1e-9)
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

/// Sets up `db` with the demo inventory and runs `touchbase --db DB import EVENTS --json`.
async fn import_events(bench: &Bench, db: &str) -> anyhow::Result<child::Finished> {
    let (exe, work, inventory, events) = (
        bench.exe.clone(),
        bench.work.clone(),
        bench.inventory.clone(),
        bench.events.to_string_lossy().into_owned(),
    );
    let db = db.to_owned();
    blocking(move || {
        data::set_up_store(&exe, &work, &db, &inventory)?;
        child::run(child::touchbase(
            &exe,
            &work,
            &db,
            &["import", &events, "--json"],
        ))
    })
    .await
}

/// Runs `touchbase --db DB import EVENTS --json` on a store set up with the demo inventory;
/// records the import's figures under `step`.
async fn import(bench: &Bench, report: &mut Report, step: &str, db: &str) -> anyhow::Result<()> {
    let done = import_events(bench, db).await?;
    let imported: Imported = serde_json::from_str(&done.stdout)
        .with_context(|| format!("`import --json` printed no summary: {}", done.stdout))?;
    println!(
        "  {step}: {} events in {:.1} s: {} accepted, {} duplicates, {} held, {} rejected",
        imported.total(),
        done.wall.as_secs_f64(),
        imported.accepted,
        imported.duplicates,
        imported.held,
        imported.rejected
    );
    let rate = per_second(imported.total(), done.wall);
    let target = if step.starts_with("sqlite") {
        targets::SQLITE_IMPORT
    } else {
        targets::PG_IMPORT
    };
    report.add(
        step,
        "rate (events / wall time)",
        rate,
        Unit::EventsPerS,
        Some(target),
    );
    report.add(
        step,
        "rate as touchbase reports it",
        imported.events_per_s,
        Unit::EventsPerS,
        None,
    );
    report.add(
        step,
        "peak memory",
        mb(done.peak_rss),
        Unit::Megabytes,
        Some(targets::PEAK_MB),
    );
    report.add(
        step,
        "wall time",
        done.wall.as_secs_f64(),
        Unit::Seconds,
        None,
    );
    Ok(())
}

/// The rate of the last figure named `figure` of `step`.
fn figure(report: &Report, step: &str, figure: &str) -> Option<f64> {
    report
        .figures
        .iter()
        .rev()
        .find(|f| f.step == step && f.figure == figure)
        .map(|f| f.value)
}

/// Step 2 and 3: SQLite bulk import, and the SQLite floor of the same run.
async fn sqlite(bench: &Bench, report: &mut Report) -> anyhow::Result<()> {
    let db = bench.work.join("bench.db");
    sqlite_floor::remove_db(&db);
    import(bench, report, "sqlite import", &db.to_string_lossy()).await?;
    let size = data::file_size(&db) + data::file_size(&db.with_extension("db-wal"));
    report.add(
        "sqlite import",
        "database size",
        mb(size),
        Unit::Megabytes,
        None,
    );
    sqlite_floor::remove_db(&db);

    println!("  sqlite floor: the same rows, no index, multi-row INSERTs …");
    let (events, floor_db) = (bench.events.clone(), bench.work.join("floor.db"));
    let floor = {
        let floor_db = floor_db.clone();
        blocking(move || sqlite_floor::run(&events, &floor_db)).await?
    };
    sqlite_floor::remove_db(&floor_db);
    let rate = per_second(floor.rows + floor.skipped, floor.wall);
    println!(
        "  sqlite floor: {} rows written ({} lines skipped) in {:.1} s",
        floor.rows,
        floor.skipped,
        floor.wall.as_secs_f64()
    );
    report.add("sqlite floor", "rate", rate, Unit::EventsPerS, None);
    report.add(
        "sqlite floor",
        "database size",
        mb(floor.size),
        Unit::Megabytes,
        None,
    );
    if let Some(import) = figure(report, "sqlite import", "rate (events / wall time)") {
        report.add(
            "sqlite import",
            "ratio import / floor",
            import / rate,
            Unit::Ratio,
            Some(targets::SQLITE_RATIO),
        );
    }
    Ok(())
}

/// Step 4: PostgreSQL bulk import, and the PostgreSQL floor (binary COPY), in a database made
/// for the run.
async fn pg(bench: &Bench, report: &mut Report) -> anyhow::Result<()> {
    let scratch = pg_floor::Scratch::create(&bench.args.pg).await?;
    println!("  pg: database {}", scratch.name);
    let done = pg_steps(bench, report, &scratch.url).await;
    let dropped = scratch.drop().await;
    done?;
    dropped
}

async fn pg_steps(bench: &Bench, report: &mut Report, url: &str) -> anyhow::Result<()> {
    import(bench, report, "pg import", url).await?;
    let client = pg_floor::connect(url).await?;
    let size = pg_floor::table_size(&client, "events").await?;
    report.add(
        "pg import",
        "events table size",
        mb(size),
        Unit::Megabytes,
        None,
    );

    println!("  pg floor: the same rows, no index, binary COPY …");
    let floor = pg_floor::run(&bench.events, url).await?;
    let rate = per_second(floor.rows + floor.skipped, floor.wall);
    println!(
        "  pg floor: {} rows copied ({} lines skipped) in {:.1} s",
        floor.rows,
        floor.skipped,
        floor.wall.as_secs_f64()
    );
    report.add("pg floor", "rate", rate, Unit::EventsPerS, None);
    report.add(
        "pg floor",
        "table size",
        mb(floor.size),
        Unit::Megabytes,
        None,
    );
    if let Some(import) = figure(report, "pg import", "rate (events / wall time)") {
        report.add(
            "pg import",
            "ratio import / floor",
            import / rate,
            Unit::Ratio,
            None,
        );
    }
    Ok(())
}

/// A fresh SQLite store with the demo inventory and an admin token, served.
async fn served(bench: &Bench, name: &str) -> anyhow::Result<(child::Server, String, PathBuf)> {
    let db = bench.work.join(format!("{name}.db"));
    sqlite_floor::remove_db(&db);
    let (exe, work, inventory) = (
        bench.exe.clone(),
        bench.work.clone(),
        bench.inventory.clone(),
    );
    let db_text = db.to_string_lossy().into_owned();
    let log = bench.work.join(format!("{name}-server.log"));
    let (server, token) = blocking(move || {
        data::set_up_store(&exe, &work, &db_text, &inventory)?;
        let token = data::admin_token(&exe, &work, &db_text)?;
        let server = child::Server::start(&exe, &work, &db_text, &log)?;
        Ok((server, token))
    })
    .await?;
    println!("  {name}: serving on {}", server.address);
    Ok((server, token, db))
}

/// Stops the server; records its peak memory and the failures of the load.
async fn stopped(
    report: &mut Report,
    step: &str,
    server: child::Server,
    load: &http_load::Load,
) -> anyhow::Result<()> {
    let peak = blocking(move || server.stop()).await?;
    server_figures(report, step, peak, load);
    Ok(())
}

/// The server's peak memory and the load's failures, added to the report.
fn server_figures(report: &mut Report, step: &str, peak: u64, load: &http_load::Load) {
    let s = load.summary;
    println!(
        "  {step}: {} events in {} requests in {:.1} s: {} accepted, {} duplicates, {} held, {} rejected",
        load.events,
        load.requests,
        load.wall.as_secs_f64(),
        s.accepted,
        s.duplicates,
        s.held,
        s.rejected
    );
    report.add(
        step,
        "server peak memory",
        mb(peak),
        Unit::Megabytes,
        Some(targets::PEAK_MB),
    );
    report.add(
        step,
        "failures (non-2xx or no answer)",
        load.failures as f64,
        Unit::Count,
        Some(report::Target::AtMost(0.0)),
    );
    if let Some(first) = &load.first_failure {
        println!("  {step}: first failure: {first}");
    }
}

/// Step 5: HTTP batched — the whole file as NDJSON bodies of `--batch` events, `--in-flight`
/// requests at a time.
async fn http_batched(bench: &Bench, report: &mut Report) -> anyhow::Result<()> {
    const STEP: &str = "http batched";
    let (server, token, db) = served(bench, "http").await?;
    let plan = http_load::Plan {
        address: server.address.clone(),
        token,
        per_request: bench.args.batch,
        connections: bench.args.in_flight,
        limit: None,
        pace: None,
    };
    println!(
        "  {STEP}: {} events per request, {} in flight …",
        plan.per_request, plan.connections
    );
    let load = http_load::run(&bench.events, &plan).await?;
    report.add(
        STEP,
        "rate",
        per_second(load.events, load.wall),
        Unit::EventsPerS,
        Some(targets::HTTP_BATCHED),
    );
    for (name, p) in [("p50 request", 50.0), ("p99 request", 99.0)] {
        if let Some(latency) = http_load::percentile(&load.latencies, p) {
            report.add(STEP, name, ms(latency), Unit::Milliseconds, None);
        }
    }
    stopped(report, STEP, server, &load).await?;
    sqlite_floor::remove_db(&db);
    Ok(())
}

/// Step 6: single-event HTTP — the first `--single-events` events, one per request, on
/// `--connections` connections, `--single-rounds` times on a fresh server each. The rate and
/// latencies are the median round's (by rate), with the slowest and fastest rounds' rates; the
/// memory is the highest peak, the failures those of every round.
async fn http_single(bench: &Bench, report: &mut Report) -> anyhow::Result<()> {
    const STEP: &str = "http single";
    let rounds = bench.args.single_rounds.max(1);
    let mut done = Vec::new();
    for round in 1..=rounds {
        let (server, token, db) = served(bench, "single").await?;
        let plan = http_load::Plan {
            address: server.address.clone(),
            token,
            per_request: 1,
            connections: bench.args.connections,
            limit: Some(bench.args.single_events),
            pace: None,
        };
        println!(
            "  {STEP}: round {round} of {rounds}: {} events, one per request, {} connections …",
            bench.args.single_events, plan.connections
        );
        let load = http_load::run(&bench.events, &plan).await?;
        let peak = blocking(move || server.stop()).await?;
        sqlite_floor::remove_db(&db);
        let rate = per_second(load.requests, load.wall);
        println!("  {STEP}: round {round}: {rate:.0} requests/s");
        done.push((rate, load, peak));
    }
    done.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (slowest, fastest) = (done[0].0, done[done.len() - 1].0);
    let peak = done.iter().map(|(_, _, peak)| *peak).max().unwrap_or(0);
    let failures: u64 = done.iter().map(|(_, load, _)| load.failures).sum();
    let (rate, mut load, _) = done.swap_remove(done.len() / 2);
    report.add(
        STEP,
        "rate, median round",
        rate,
        Unit::RequestsPerS,
        Some(targets::SINGLE_RATE),
    );
    if rounds > 1 {
        report.add(
            STEP,
            "rate, slowest round",
            slowest,
            Unit::RequestsPerS,
            None,
        );
        report.add(
            STEP,
            "rate, fastest round",
            fastest,
            Unit::RequestsPerS,
            None,
        );
    }
    for (name, p, target) in [
        ("p50 latency", 50.0, None),
        ("p99 latency", 99.0, Some(targets::SINGLE_P99_MS)),
        ("max latency", 100.0, None),
    ] {
        if let Some(latency) = http_load::percentile(&load.latencies, p) {
            report.add(STEP, name, ms(latency), Unit::Milliseconds, target);
        }
    }
    if load.first_failure.is_none() {
        load.first_failure = done.iter().find_map(|(_, l, _)| l.first_failure.clone());
    }
    load.failures = failures;
    server_figures(report, STEP, peak, &load);
    Ok(())
}

/// Step 7: the measurement layer on SQLite and PostgreSQL, and DuckDB's scorecards over the
/// same counted events; the ratio of each store's scorecards time to DuckDB's.
async fn measure_step(bench: &Bench, report: &mut Report) -> anyhow::Result<()> {
    let mut ours = Vec::new();
    println!("  sqlite measure: …");
    let sqlite = measure::sqlite_store(bench).await?;
    let scorecards = measure::time_store(&sqlite, report, "sqlite measure").await?;
    ours.push(("sqlite measure", scorecards));
    drop(sqlite);

    println!("  pg measure: …");
    let pg = async {
        let store = measure::pg_store(bench).await?;
        measure::time_store(&store, report, "pg measure").await
    }
    .await;
    match pg {
        Ok(scorecards) => ours.push(("pg measure", scorecards)),
        Err(e) => report.fail("pg measure", &e),
    }

    println!("  duckdb: …");
    let (work, db) = (bench.work.clone(), bench.work.join("measure.db"));
    let duck = blocking(move || measure::duckdb(&work, &db)).await?;
    measure::add_duck(report, &duck, &ours);
    Ok(())
}
