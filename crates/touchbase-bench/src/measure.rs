//! The measurement step: how long the measurement layer takes over a store holding the events
//! file, on SQLite and on PostgreSQL, each figure the median of several runs after a warm-up,
//! store reads included. The stores are kept in the work directory (SQLite: `measure.db`;
//! PostgreSQL: the database `touchbase_bench_measure`) and reused by the next run when they
//! hold events, so the 10 M events are imported once.

use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use touchbase_core::inventory::Inventory;
use touchbase_core::period::{Granularity, Period};
use touchbase_store::Store;
use touchbase_store::measure::{self, JourneyQuery, Scope};

use crate::report::{Report, Target, Unit};
use crate::{Bench, child, pg_floor};

/// The year `touchbase gen` draws its events in: the 365 days ending 2026-11-01.
pub const YEAR: (&str, &str) = ("2025-11-01", "2026-11-01");
/// Runs of each figure after the warm-up; the median is kept.
pub const RUNS: usize = 5;
/// The PostgreSQL database the step keeps between runs.
pub const PG_DATABASE: &str = "touchbase_bench_measure";

/// The targets of the measurement issue.
pub mod targets {
    use crate::report::Target;

    /// Every point's scorecards and the organization's, for a year by month, in ms.
    pub const SCORECARDS_MS: Target = Target::AtMost(100.0);
    /// The portfolio over a year, in ms.
    pub const PORTFOLIO_MS: Target = Target::AtMost(100.0);
    /// The journey graph with the top variants over a year, in ms.
    pub const JOURNEYS_MS: Target = Target::AtMost(1000.0);
}

/// The median of `RUNS` timed runs of `work`, after one untimed run; with the last result.
pub async fn timed<T, F, Fut>(work: F) -> anyhow::Result<(Duration, T)>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    let (_, median, last) = timed_first(work).await?;
    Ok((median, last))
}

/// The time of a first run of `work`, then the median of `RUNS` more; with the last result.
pub async fn timed_first<T, F, Fut>(mut work: F) -> anyhow::Result<(Duration, Duration, T)>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    let started = Instant::now();
    let mut last = work().await?;
    let first = started.elapsed();
    let mut times = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let started = Instant::now();
        last = work().await?;
        times.push(started.elapsed());
    }
    times.sort();
    Ok((first, times[times.len() / 2], last))
}

/// Times scorecards, portfolio and journeys on `store`, records them under `step`; the
/// scorecards' time (DuckDB's is compared with it).
pub async fn time_store(
    store: &dyn Store,
    report: &mut Report,
    step: &str,
) -> anyhow::Result<Duration> {
    let inventory: Inventory = touchbase_store::inventory::get(store).await?.value;
    let period = Period::parse(YEAR.0, YEAR.1)?;
    let mut scopes: Vec<Scope> = inventory
        .points
        .iter()
        .map(|p| Scope::Point(p.key.clone()))
        .collect();
    scopes.push(Scope::Organization);
    let (counted, held) = store.event_counts().await?;
    println!(
        "  {step}: {counted} counted and {held} held events, {} points",
        inventory.points.len()
    );

    let (scorecards, cards) = timed(|| async {
        Ok(
            measure::scorecards(store, &inventory, period, &scopes, Some(Granularity::Month))
                .await?,
        )
    })
    .await?;
    println!(
        "  {step}: {} scorecards (every point and the organization, 12 months)",
        cards.len()
    );
    report.add(
        step,
        "scorecards: all points + organization, a year by month",
        crate::ms(scorecards),
        Unit::Milliseconds,
        Some(targets::SCORECARDS_MS),
    );

    let (portfolio, verdicts) =
        timed(|| async { Ok(measure::portfolio(store, &inventory, period).await?) }).await?;
    println!("  {step}: {} portfolio verdicts", verdicts.len());
    report.add(
        step,
        "portfolio, a year",
        crate::ms(portfolio),
        Unit::Milliseconds,
        Some(targets::PORTFOLIO_MS),
    );

    let query = JourneyQuery {
        period,
        party_type: None,
        start: None,
        top: Some(10),
    };
    let (first, journeys, summary) =
        timed_first(|| async { Ok(measure::journeys(store, &inventory, &query).await?) }).await?;
    report.add(
        step,
        "journeys: first request (catches up on the events not yet seen)",
        crate::ms(first),
        Unit::Milliseconds,
        None,
    );
    println!(
        "  {step}: {} journeys, {} variants, {} edges",
        summary.journeys,
        summary.distinct_variants,
        summary.edges.len()
    );
    report.add(
        step,
        "journeys: graph + top 10 variants, a year",
        crate::ms(journeys),
        Unit::Milliseconds,
        Some(targets::JOURNEYS_MS),
    );
    Ok(scorecards)
}

/// Imports the events file into `db` (set up with the demo inventory first) unless the store
/// already holds events.
pub async fn ensure_imported(bench: &Bench, store: &dyn Store, db: &str) -> anyhow::Result<()> {
    let (counted, held) = store.event_counts().await.unwrap_or((0, 0));
    if counted + held > 0 {
        println!("  reusing {} ({counted} counted events)", shown(db));
        return Ok(());
    }
    println!("  importing the events into {} …", shown(db));
    let done = crate::import_events(bench, db).await?;
    println!("  imported in {:.1} s", done.wall.as_secs_f64());
    Ok(())
}

fn shown(db: &str) -> String {
    touchbase_store_postgres::redact(db)
}

/// The SQLite store of the step, imported once.
pub async fn sqlite_store(bench: &Bench) -> anyhow::Result<touchbase_store_sqlite::SqliteStore> {
    let db = bench.work.join("measure.db");
    let db_text = db.to_string_lossy().into_owned();
    let store = touchbase_store_sqlite::SqliteStore::open(&db)
        .with_context(|| format!("cannot open `{db_text}`"))?;
    ensure_imported(bench, &store, &db_text).await?;
    Ok(store)
}

/// The PostgreSQL store of the step (the database [`PG_DATABASE`], created when missing),
/// imported once.
pub async fn pg_store(bench: &Bench) -> anyhow::Result<touchbase_store_postgres::PostgresStore> {
    let admin = pg_floor::connect(&bench.args.pg).await?;
    let exists = admin
        .query_opt(
            "SELECT 1 FROM pg_database WHERE datname = $1",
            &[&PG_DATABASE],
        )
        .await?
        .is_some();
    if !exists {
        admin
            .batch_execute(&format!("CREATE DATABASE {PG_DATABASE}"))
            .await
            .with_context(|| format!("cannot create the database {PG_DATABASE}"))?;
    }
    let url = pg_floor::with_database(&bench.args.pg, PG_DATABASE)?;
    let store = touchbase_store_postgres::PostgresStore::connect(&url).await?;
    ensure_imported(bench, &store, &url).await?;
    Ok(store)
}

/// The SQLite events file DuckDB reads: every counted event's columns the scorecards add up,
/// as CSV, written once from the SQLite store (so DuckDB sees exactly the counted events).
pub fn export_counted(db: &Path, csv: &Path) -> anyhow::Result<u64> {
    let conn = rusqlite::Connection::open(db)?;
    let mut stmt = conn.prepare(
        "SELECT point, at, intent IS NOT NULL, satisfaction, knowledge, resolved, engaged,
             value_company, value_party, cost, conforms
         FROM events WHERE held = 0",
    )?;
    let mut rows = stmt.query([])?;
    let file =
        std::fs::File::create(csv).with_context(|| format!("cannot write `{}`", csv.display()))?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    use std::io::Write;
    writeln!(
        out,
        "point,at,intent,satisfaction,knowledge,resolved,engaged,value_company,value_party,cost,conforms"
    )?;
    let mut n = 0u64;
    let flag = |v: Option<bool>| match v {
        None => "",
        Some(true) => "true",
        Some(false) => "false",
    };
    while let Some(r) = rows.next()? {
        let satisfaction: Option<i64> = r.get(3)?;
        writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{}",
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, bool>(2)?,
            satisfaction.map(|s| s.to_string()).unwrap_or_default(),
            flag(r.get(4)?),
            flag(r.get(5)?),
            flag(r.get(6)?),
            r.get::<_, f64>(7)?,
            r.get::<_, f64>(8)?,
            r.get::<_, f64>(9)?,
            r.get::<_, bool>(10)?,
        )?;
        n += 1;
    }
    out.flush()?;
    Ok(n)
}

/// What the DuckDB script printed.
#[derive(Debug, serde::Deserialize)]
pub struct DuckFigures {
    pub rows: u64,
    pub groups: u64,
    pub median_ms: f64,
    pub version: String,
}

/// The Python script DuckDB runs: Parquet from the CSV once, then the per-point monthly sums
/// and counts of the scorecards, timed.
const DUCK_SCRIPT: &str = include_str!("duck_scorecards.py");

/// DuckDB (from PyPI, in a venv in the work directory) computing the point scorecards by month
/// over the same counted events, exported to Parquet.
pub fn duckdb(work: &Path, sqlite_db: &Path) -> anyhow::Result<DuckFigures> {
    let venv = work.join("duckdb-venv");
    let python = venv.join("bin").join("python");
    if !python.is_file() {
        println!("  duckdb: python3 -m venv + pip install duckdb …");
        let mut make = std::process::Command::new("python3");
        make.args(["-m", "venv"]).arg(&venv);
        child::run(make).context("`python3 -m venv` failed: is python3 installed?")?;
        let mut pip = std::process::Command::new(venv.join("bin").join("pip"));
        pip.args(["install", "--quiet", "duckdb"]);
        child::run(pip).context("`pip install duckdb` failed")?;
    }
    let parquet = work.join("counted.parquet");
    let csv = work.join("counted.csv");
    if !parquet.is_file() {
        println!("  duckdb: exporting the counted events …");
        let n = export_counted(sqlite_db, &csv)?;
        println!("  duckdb: {n} counted events exported");
    }
    let script = work.join("duck_scorecards.py");
    std::fs::write(&script, DUCK_SCRIPT)?;
    let period = Period::parse(YEAR.0, YEAR.1)?;
    let mut run = std::process::Command::new(&python);
    run.arg(&script)
        .arg(&csv)
        .arg(&parquet)
        .arg(period.from.to_string())
        .arg(period.to.to_string())
        .arg(RUNS.to_string());
    let done = child::run(run).context("the DuckDB script failed")?;
    let _ = std::fs::remove_file(&csv);
    let figures: DuckFigures = serde_json::from_str(done.stdout.trim())
        .with_context(|| format!("the DuckDB script printed no figures: {}", done.stdout))?;
    Ok(figures)
}

/// Records DuckDB's figure and the ratio touchbase / DuckDB of `step`'s scorecards.
pub fn add_duck(report: &mut Report, duck: &DuckFigures, ours: &[(&str, Duration)]) {
    println!(
        "  duckdb {}: {} events, {} (point, month) groups",
        duck.version, duck.rows, duck.groups
    );
    report.add(
        "duckdb",
        "point scorecards' sums and counts, a year by month (Parquet)",
        duck.median_ms,
        Unit::Milliseconds,
        None,
    );
    for (step, time) in ours {
        report.add(
            step,
            "scorecards time / DuckDB's",
            crate::ms(*time) / duck.median_ms,
            Unit::Ratio,
            Some(Target::AtMost(1.0)),
        );
    }
}
