//! `touchbase-bench standing`: standing orders (R19) at scale, in this process, on a fresh
//! store — SQLite in a temporary directory, and PostgreSQL in a database made for the run when
//! `--db URL` names a server. No touchbase binary is needed: the store, the ingest path, the
//! scheduler and the dispatcher are the libraries the binary is made of.
//!
//! The steps, each printed as it is measured:
//! 1. the inventory (`standing.yaml`): `web.order` live, `auto.order` repeating each
//!    household's first web order weekly (Europe/London, 24 h cut-off, implied consent: active
//!    at once) to the webhook `fulfilment`, a receiver in this process (`receiver.rs`);
//! 2. `--orders` first orders of as many households (1–6 items each), ingested as
//!    `touchbase import` does (batches of 10,000 decoded and checked on a thread of their own
//!    while the one before is written), each capturing its standing order in its own
//!    transaction;
//! 3. the scheduler: one step a week and an hour after the first orders (every order's first
//!    run due), then a step a day over the week after (the sixth locks the next runs at their
//!    cut-off, the seventh sends them), then the last step again at the same instant, which
//!    must write nothing;
//! 4. the dispatcher (`run_until_idle`) sending every run to the receiver, which counts the
//!    distinct `Idempotency-Key` headers and the duplicates: one key per run sent, no
//!    duplicate.
//!
//! Timings are printed next to their targets, never asserted; what is checked (and makes the
//! run fail) is what the runs must be: every order captured, each run sent once, the repeat
//! step writing nothing, each run received once with its key.

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use touchbase_core::Actor;
use touchbase_core::endpoint::{EndpointKind, Keys};
use touchbase_store::Store;
use touchbase_store::ingest::{self, Input, Summary};
use touchbase_store::scheduler::{self, StepReport};

use crate::receiver::Receiver;
use crate::report::{Machine, Report, Target, Unit, targets};
use crate::{child, mb, ms, per_second, pg_floor};

/// The inventory of the step.
const INVENTORY: &str = include_str!("standing.yaml");
/// The automated point's endpoint.
const ENDPOINT: &str = "fulfilment";
/// Events per transaction, as `touchbase import` writes them.
const IMPORT_BATCH: usize = 10_000;
/// The first orders fall within this many seconds (an hour) of the first.
const SPREAD_S: u64 = 3_600;
const HOUR_US: i64 = 3_600 * 1_000_000;
const DAY_US: i64 = 24 * HOUR_US;

/// Standing orders at scale: capture, the scheduler's steps, delivery of the runs.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// First orders ingested, one per household: the standing orders captured.
    #[arg(long, default_value_t = 100_000)]
    orders: u64,
    /// The stores, in turn: `sqlite` (a fresh file in a temporary directory) or a
    /// `postgres://` URL (a database is created on that server for the run and dropped at the
    /// end). Repeat to run on both.
    #[arg(long, default_value = "sqlite")]
    db: Vec<String>,
    /// The seed of the baskets.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Also save the figures as JSON to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

/// Runs the step on each store of `--db`.
pub async fn main(args: &Args) -> anyhow::Result<ExitCode> {
    let postgres = |db: &str| db.starts_with("postgres://") || db.starts_with("postgresql://");
    if let Some(db) = args.db.iter().find(|db| *db != "sqlite" && !postgres(db)) {
        bail!("--db {db}: write `sqlite` or a postgres:// URL");
    }
    let mut report = Report::new(Machine {
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        events: 0,
        single_events: 0,
        feed_events: None,
        standing_orders: Some(args.orders),
        touchbase: format!(
            "touchbase {} (its libraries, in this process)",
            env!("CARGO_PKG_VERSION")
        ),
        started: jiff::Timestamp::now()
            .strftime("%Y-%m-%d %H:%M:%SZ")
            .to_string(),
    });
    for db in &args.db {
        let step = if db == "sqlite" {
            "standing sqlite"
        } else {
            "standing pg"
        };
        println!("{step}: start");
        let started = Instant::now();
        let done = if db == "sqlite" {
            on_sqlite(args, &mut report, step).await
        } else {
            on_postgres(args, &mut report, step, db).await
        };
        match done {
            Ok(()) => println!("{step}: done in {:.1} s", started.elapsed().as_secs_f64()),
            Err(e) => report.fail(step, &e),
        }
    }
    report.print_table();
    if let Some(path) = &args.json {
        report.save(path)?;
    }
    if report.failed.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!(
        "touchbase-bench standing: {} store(s) failed their checks or could not run",
        report.failed.len()
    );
    Ok(ExitCode::FAILURE)
}

/// A directory of its own under the system's temporary directory, removed when dropped.
pub(crate) struct TempDir(pub(crate) PathBuf);

impl TempDir {
    pub(crate) fn new() -> anyhow::Result<TempDir> {
        let path = std::env::temp_dir().join(format!(
            "touchbase-bench-{}-{}",
            std::process::id(),
            jiff::Timestamp::now().as_microsecond()
        ));
        std::fs::create_dir_all(&path)
            .with_context(|| format!("cannot create `{}`", path.display()))?;
        Ok(TempDir(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn on_sqlite(args: &Args, report: &mut Report, step: &str) -> anyhow::Result<()> {
    let dir = TempDir::new()?;
    let path = dir.0.join("standing.db");
    println!("  {step}: a fresh store at {}", path.display());
    let store = touchbase_store_sqlite::SqliteStore::open(&path)
        .with_context(|| format!("cannot open `{}`", path.display()))?;
    run(args, report, step, Arc::new(store)).await?;
    let size = crate::data::file_size(&path)
        + crate::data::file_size(&path.with_extension("db-wal"))
        + crate::data::file_size(&path.with_extension("db-shm"));
    report.add(step, "database size", mb(size), Unit::Megabytes, None);
    Ok(())
}

async fn on_postgres(
    args: &Args,
    report: &mut Report,
    step: &str,
    url: &str,
) -> anyhow::Result<()> {
    let scratch = pg_floor::Scratch::create(url).await?;
    println!("  {step}: database {}", scratch.name);
    let done = async {
        let store = touchbase_store_postgres::PostgresStore::connect(&scratch.url).await?;
        run(args, report, step, Arc::new(store)).await
    }
    .await;
    let dropped = scratch.drop().await;
    done?;
    dropped
}

/// A small deterministic generator (splitmix64) for the baskets.
pub(crate) struct Draw(pub(crate) u64);

impl Draw {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The `i`-th household's first web order at `at` (microseconds): 1 to 6 distinct lines of a
/// catalogue of 400 products.
fn first_order(i: u64, at: i64, draw: &mut Draw) -> String {
    let lines = 1 + draw.below(6);
    let mut skus: Vec<u64> = Vec::with_capacity(lines as usize);
    while (skus.len() as u64) < lines {
        let sku = draw.below(400);
        if !skus.contains(&sku) {
            skus.push(sku);
        }
    }
    let basket: Vec<serde_json::Value> = skus
        .iter()
        .map(|sku| {
            serde_json::json!({
                "sku": format!("sku-{sku:03}"),
                "qty": 1 + draw.below(4),
                "price": 0.5 + (sku % 40) as f64 * 0.25,
            })
        })
        .collect();
    let at = jiff::Timestamp::from_microsecond(at).expect("in range");
    serde_json::json!({
        "id": format!("first-{i:07}"),
        "point": "web.order",
        "at": at.to_string(),
        "party": format!("hh-{i:07}"),
        "channel": "web",
        "value": { "company": 30.0 },
        "data": { "basket": basket },
    })
    .to_string()
}

/// Ingests the `n` first orders as `touchbase import` does: batches decoded and checked on a
/// thread of their own while the batch before is written. The first falls at `first` and the
/// others within [`SPREAD_S`] of it.
async fn ingest_first_orders(
    store: &dyn Store,
    n: u64,
    first: i64,
    seed: u64,
) -> anyhow::Result<Summary> {
    let checker = ingest::checker(store).await?;
    let (send, mut receive) = tokio::sync::mpsc::channel(1);
    let reader = std::thread::Builder::new()
        .name("standing-orders".into())
        .spawn(move || {
            let mut draw = Draw(seed);
            let mut batch = Vec::with_capacity(IMPORT_BATCH);
            for i in 0..n {
                let at = first + (i % SPREAD_S) as i64 * 1_000_000;
                batch.push(Input::new(first_order(i, at, &mut draw), "bench"));
                if batch.len() == IMPORT_BATCH || i + 1 == n {
                    let prepared = ingest::prepare_batch(&checker, &batch);
                    batch.clear();
                    if send.blocking_send(prepared).is_err() {
                        return;
                    }
                }
            }
        })
        .context("cannot start the thread that writes the first orders")?;
    let mut summary = Summary::default();
    while let Some(prepared) = receive.recv().await {
        let written = ingest::commit(store, prepared).await?;
        summary.add(&written.value);
    }
    let _ = reader.join();
    Ok(summary)
}

/// The deliveries written to the endpoint so far.
async fn fired(store: &dyn Store) -> anyhow::Result<u64> {
    Ok(store
        .feed_counts()
        .await?
        .iter()
        .filter(|c| c.endpoint == ENDPOINT)
        .map(|c| c.fired)
        .sum())
}

/// One scheduler step at `now`, timed; printed.
async fn timed_step(
    store: &dyn Store,
    actor: &Actor,
    step: &str,
    what: &str,
    now: i64,
) -> anyhow::Result<(StepReport, Duration)> {
    let started = Instant::now();
    let done = scheduler::step(store, actor, now).await?;
    let wall = started.elapsed();
    println!(
        "  {step}: {what} ({}): {} orders looked at, {} sent, {} locked, {} skipped, {} caught \
         up, {} problems in {:.2} s",
        done.now,
        done.orders,
        done.sent,
        done.locked,
        done.skipped,
        done.caught_up,
        done.problems.len(),
        wall.as_secs_f64()
    );
    for problem in done.problems.iter().take(3) {
        println!("  {step}:   problem: {problem}");
    }
    Ok((done, wall))
}

/// The whole step on one store.
async fn run(
    args: &Args,
    report: &mut Report,
    step: &str,
    store: Arc<dyn Store>,
) -> anyhow::Result<()> {
    let n = args.orders;
    let actor = Actor::local_admin();
    let keys = Keys::from_bytes([7; 32]);
    let receiver = Receiver::start().await?;
    let inventory = touchbase_core::file::parse_inventory(INVENTORY)
        .map_err(|e| anyhow::anyhow!("the step's inventory: {e}"))?;
    touchbase_store::inventory::import(
        &*store,
        &actor,
        &inventory,
        touchbase_store::inventory::ImportMode::Baseline,
    )
    .await
    .context("the step's inventory was not imported")?;
    touchbase_store::feed::add_endpoint(
        &*store,
        &actor,
        &keys,
        touchbase_store::feed::NewEndpoint {
            key: ENDPOINT.to_owned(),
            kind: EndpointKind::Webhook,
            target: receiver.url.clone(),
            allow_private: true,
        },
    )
    .await
    .context("the endpoint was not added")?;
    println!(
        "  {step}: auto.order repeats each household's first web.order weekly (Europe/London, \
         24 h cut-off, implied consent) to the webhook `{ENDPOINT}` (a receiver in this process \
         on 127.0.0.1, answering 200 at once)"
    );

    // 1. The first orders, four weeks ago (on the hour), within an hour of each other.
    let now = jiff::Timestamp::now().as_microsecond();
    let first = (now - 28 * DAY_US).div_euclid(HOUR_US) * HOUR_US;
    println!(
        "  {step}: ingesting {n} first orders (1–6 items each, batches of {IMPORT_BATCH}) from {} …",
        touchbase_core::rules::instant(first)
    );
    let started = Instant::now();
    let summary = ingest_first_orders(&*store, n, first, args.seed).await?;
    let wall = started.elapsed();
    println!(
        "  {step}: {} first orders in {:.1} s: {} accepted, {} duplicates, {} held, {} rejected",
        summary.total(),
        wall.as_secs_f64(),
        summary.accepted,
        summary.duplicates,
        summary.held,
        summary.rejected
    );
    report.add(
        step,
        "capture: first orders ingested, each capturing its order",
        per_second(n, wall),
        Unit::OrdersPerS,
        None,
    );
    let mut wrong = Vec::new();
    if summary.accepted != n {
        wrong.push(format!("{} of {n} first orders accepted", summary.accepted));
    }

    // 2. A week and an hour later: every order's first run is due.
    let week = first + 7 * DAY_US + HOUR_US;
    let (done, wall) = timed_step(&*store, &actor, step, "the week's step", week).await?;
    if done.orders != n {
        wrong.push(format!("{} of {n} orders captured", done.orders));
    }
    if done.sent != n {
        wrong.push(format!("the week's step sent {} runs of {n}", done.sent));
    }
    let mut sent = done.sent;
    if let Some(peak) = child::own_peak_rss() {
        println!(
            "  {step}: peak memory of this process after the week's step: {:.1} MB",
            mb(peak)
        );
    }
    report.add(
        step,
        "the week's step: runs sent / wall time",
        per_second(done.sent, wall),
        Unit::RunsPerS,
        None,
    );
    report.add(
        step,
        "the week's step: wall time",
        wall.as_secs_f64(),
        Unit::Seconds,
        Some(targets::STANDING_STEP_S),
    );

    // 3. A step a day over the next week: the sixth locks the next runs, the seventh sends them.
    let mut daily = Duration::ZERO;
    let (mut locked, mut daily_sent) = (0, 0);
    let mut last = week;
    for day in 1..=7 {
        last = week + day * DAY_US;
        let (done, wall) = timed_step(&*store, &actor, step, &format!("day {day}"), last).await?;
        daily += wall;
        locked += done.locked;
        daily_sent += done.sent;
    }
    sent += daily_sent;
    if (locked, daily_sent) != (n, n) {
        wrong.push(format!(
            "the daily steps locked {locked} and sent {daily_sent} runs, not {n} and {n}"
        ));
    }
    report.add(
        step,
        "the next week, a step a day: 7 steps' wall time",
        daily.as_secs_f64(),
        Unit::Seconds,
        None,
    );
    report.add(
        step,
        "the next week: runs locked and sent / wall time",
        per_second(locked + daily_sent, daily),
        Unit::RunsPerS,
        None,
    );

    // 4. The last step again, at the same instant: nothing more.
    let before = fired(&*store).await?;
    let (again, wall) = timed_step(&*store, &actor, step, "the last step again", last).await?;
    let written = again.sent + again.locked + again.skipped + (fired(&*store).await? - before);
    println!(
        "  {step}: the step repeated wrote {written} runs and deliveries ({:.0} ms)",
        ms(wall)
    );
    report.add(
        step,
        "the last step repeated: runs and deliveries written",
        written as f64,
        Unit::Count,
        Some(Target::AtMost(0.0)),
    );
    if written != 0 {
        wrong.push(format!(
            "the repeated step wrote {written} runs or deliveries"
        ));
    }

    // 5. Every run delivered by the dispatcher.
    println!("  {step}: delivering the {sent} runs with the dispatcher (run_until_idle) …");
    let dispatcher = touchbase_feed::Dispatcher::new(
        Arc::clone(&store),
        keys.clone(),
        touchbase_feed::Config::default(),
    )?;
    let started = Instant::now();
    let delivered = dispatcher.run_until_idle().await?;
    let wall = started.elapsed();
    let arrivals = receiver.arrivals();
    let mut keys_seen: HashSet<&str> = HashSet::with_capacity(arrivals.len());
    let (mut duplicates, mut keyless) = (0u64, 0u64);
    for arrival in &arrivals {
        match arrival.idempotency_key.as_deref() {
            Some(key) if !keys_seen.insert(key) => duplicates += 1,
            Some(_) => {}
            None => keyless += 1,
        }
    }
    let distinct = keys_seen.len() as u64;
    println!(
        "  {step}: the dispatcher: {} claimed, {} delivered, {} failed, {} dead in {:.1} s; the \
         receiver: {} requests, {distinct} distinct Idempotency-Keys, {duplicates} duplicates, \
         {keyless} without a key",
        delivered.claimed,
        delivered.delivered,
        delivered.failed,
        delivered.dead,
        wall.as_secs_f64(),
        arrivals.len()
    );
    report.add(
        step,
        "delivery: runs delivered / wall time",
        per_second(delivered.delivered, wall),
        Unit::RunsPerS,
        Some(targets::STANDING_DELIVERY),
    );
    report.add(
        step,
        "delivery: distinct Idempotency-Keys received",
        distinct as f64,
        Unit::Count,
        None,
    );
    report.add(
        step,
        "delivery: duplicates received",
        duplicates as f64,
        Unit::Count,
        Some(Target::AtMost(0.0)),
    );
    if distinct != sent || duplicates != 0 || keyless != 0 {
        wrong.push(format!(
            "{distinct} distinct keys received for {sent} runs sent, {duplicates} duplicates, \
             {keyless} without a key"
        ));
    }
    let (counted, held) = store.event_counts().await?;
    println!(
        "  {step}: the store holds {counted} counted and {held} held events (first orders and runs)"
    );
    if counted != n + sent {
        wrong.push(format!(
            "{counted} counted events, not the {n} first orders and {sent} runs"
        ));
    }
    if let Some(peak) = child::own_peak_rss() {
        report.add(
            step,
            "peak memory of this process so far (store, receiver and dispatcher)",
            mb(peak),
            Unit::Megabytes,
            None,
        );
    }
    if !wrong.is_empty() {
        bail!("{}", wrong.join("; "));
    }
    println!("  {step}: checks passed: every order captured, each run sent and received once");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_inventory_has_a_live_automated_point() {
        let inventory = touchbase_core::file::parse_inventory(INVENTORY).unwrap();
        let auto = inventory.point("auto.order").unwrap();
        let standing = auto.standing.as_ref().unwrap();
        assert_eq!(auto.status, touchbase_core::Status::Live);
        assert_eq!(standing.from, "web.order");
        assert_eq!(standing.endpoint, ENDPOINT);
        assert_eq!(standing.consent, touchbase_core::standing::Consent::Implied);
    }

    #[test]
    fn first_orders_carry_one_to_six_distinct_items() {
        let mut draw = Draw(1);
        for i in 0..200 {
            let text = first_order(i, 1_790_000_000_000_000, &mut draw);
            let event: serde_json::Value = serde_json::from_str(&text).unwrap();
            let basket = event["data"]["basket"].as_array().unwrap();
            assert!((1..=6).contains(&basket.len()), "{text}");
            let skus: HashSet<&str> = basket.iter().map(|b| b["sku"].as_str().unwrap()).collect();
            assert_eq!(skus.len(), basket.len(), "{text}");
            assert_eq!(event["party"], format!("hh-{i:07}"));
        }
    }
}
