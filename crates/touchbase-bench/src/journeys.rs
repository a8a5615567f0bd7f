//! The journeys step: on the stores of the measurement step (the events file imported once
//! and kept in the work directory), how the journeys cut ahead of time keep up.
//!
//! 1. A trickle: 1,000 new events at instants spread over the year, for parties already on
//!    record, ingested through the store; the next journeys request (which catches up on
//!    them) against a warm one.
//! 2. Attribution for the year: every point's, from the year's journeys, timed apart from
//!    the journeys request.
//! 3. A full catch-up while events arrive: the store's journeys are marked as cut under
//!    another cut (so everything is cut again from the events), `touchbase serve` is started
//!    on it (its keeper starts the catch-up at once), and single-event POSTs are sent one at a
//!    time, about 50 a second, until the catch-up is done; their latency is what ingest
//!    waits meanwhile.

use std::io::BufRead;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use touchbase_core::period::Period;
use touchbase_store::Store;
use touchbase_store::measure::{self, Days, JourneyQuery};

use crate::report::{Report, Unit};
use crate::{Bench, blocking, child, http_load, measure as bench_measure, pg_floor};

/// The targets of the journeys issue.
mod targets {
    use crate::report::Target;

    /// The first journeys request after 1,000 new events, against a warm one.
    pub const TRICKLE_RATIO: Target = Target::AtMost(1.2);
    /// Attribution for the year on top of the journeys, in ms.
    pub const ATTRIBUTION_MS: Target = Target::AtMost(1000.0);
    /// Single-event POSTs during a full catch-up: the 99th percentile, in ms.
    pub const POST_P99_MS: Target = Target::AtMost(50.0);
    /// … and the slowest, in ms.
    pub const POST_MAX_MS: Target = Target::AtMost(1000.0);
}

/// New events written for this run: the first `n` parties' lines of the events file, each
/// moved to an instant spread over the year, under new ids.
fn trickle(bench: &Bench, n: usize, tag: &str) -> anyhow::Result<Vec<String>> {
    let file = std::fs::File::open(&bench.events)
        .with_context(|| format!("cannot read `{}`", bench.events.display()))?;
    // Instants within the events' year (the period's last day left out), whole seconds.
    let year = Period::parse(bench_measure::YEAR.0, "2026-10-31")?;
    let (from, span) = (year.from / 1_000_000, (year.to - year.from) / 1_000_000);
    let nonce = std::process::id();
    let mut out = Vec::with_capacity(n);
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        if out.len() == n {
            break;
        }
        let mut event: serde_json::Value = serde_json::from_str(&line?)?;
        if event.get("party").is_none_or(|p| p.is_null()) {
            continue;
        }
        let at = from + (i as i64 * 7_919_i64 * 3_607) % span;
        event["id"] = format!("{tag}-{nonce}-{i}").into();
        event["at"] = jiff::Timestamp::from_second(at)?.to_string().into();
        out.push(event.to_string());
    }
    Ok(out)
}

pub async fn run(bench: &Bench, report: &mut Report) -> anyhow::Result<()> {
    if !bench.args.journeys_without_sqlite {
        on_sqlite(bench, report).await?;
    }
    if !bench.args.pg.is_empty()
        && let Err(e) = on_pg(bench, report).await
    {
        report.fail("pg journeys", &e);
    }
    Ok(())
}

async fn on_sqlite(bench: &Bench, report: &mut Report) -> anyhow::Result<()> {
    let sqlite = bench_measure::sqlite_store(bench).await?;
    on_store(bench, report, "sqlite journeys", &sqlite).await?;
    drop(sqlite);
    let db = bench.work.join("measure.db");
    let reset_db = db.clone();
    let watch_db = db.clone();
    full_catch_up(
        bench,
        report,
        "sqlite journeys",
        &db.to_string_lossy(),
        move || {
            let conn = rusqlite::Connection::open(&reset_db)?;
            conn.execute("UPDATE meta SET value = -1 WHERE key = 'journeys_cut'", [])?;
            Ok(())
        },
        move || {
            let conn = rusqlite::Connection::open(&watch_db)?;
            let (mark, last, queued): (i64, i64, i64) = conn.query_row(
                "SELECT (SELECT value FROM meta WHERE key = 'party_touches_seq'),
                        (SELECT COALESCE(MAX(seq), 0) FROM events),
                        (SELECT COUNT(*) FROM (SELECT 1 FROM touch_queue LIMIT 1))",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?;
            let cut: i64 = conn.query_row(
                "SELECT value FROM meta WHERE key = 'journeys_cut'",
                [],
                |r| r.get(0),
            )?;
            Ok((mark, last, queued, cut))
        },
    )
    .await
}

async fn on_pg(bench: &Bench, report: &mut Report) -> anyhow::Result<()> {
    let store = bench_measure::pg_store(bench).await?;
    on_store(bench, report, "pg journeys", &store).await?;
    drop(store);
    let url = pg_floor::with_database(&bench.args.pg, bench_measure::PG_DATABASE)?;
    let (reset_url, watch_url) = (url.clone(), url.clone());
    full_catch_up(
        bench,
        report,
        "pg journeys",
        &url,
        move || {
            pg_sync(
                &reset_url,
                "UPDATE meta SET value = -1 WHERE key = 'journeys_cut'",
            )
        },
        move || pg_watch(&watch_url),
    )
    .await
}

fn pg_sync(url: &str, sql: &str) -> anyhow::Result<()> {
    SyncPg::connect(url)?.batch_execute(sql)
}

fn pg_watch(url: &str) -> anyhow::Result<(i64, i64, i64, i64)> {
    let mut client = SyncPg::connect(url)?;
    let row = client.query_one(
        "SELECT (SELECT value FROM meta WHERE key = 'party_touches_seq'),
                (SELECT COALESCE(MAX(seq), 0) FROM events),
                (SELECT COUNT(*) FROM (SELECT 1 FROM touch_queue LIMIT 1) q),
                (SELECT value FROM meta WHERE key = 'journeys_cut')",
        &[],
    )?;
    Ok((row.get(0), row.get(1), row.get(2), row.get(3)))
}

/// A small blocking wrapper over tokio-postgres for the watcher's thread.
struct SyncPg {
    runtime: tokio::runtime::Runtime,
    client: tokio_postgres::Client,
}

impl SyncPg {
    fn connect(url: &str) -> anyhow::Result<SyncPg> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let client = runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
            tokio::spawn(async move {
                let _ = connection.await;
            });
            anyhow::Ok(client)
        })?;
        Ok(SyncPg { runtime, client })
    }

    fn batch_execute(&mut self, sql: &str) -> anyhow::Result<()> {
        Ok(self.runtime.block_on(self.client.batch_execute(sql))?)
    }

    fn query_one(
        &mut self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> anyhow::Result<tokio_postgres::Row> {
        Ok(self.runtime.block_on(self.client.query_one(sql, params))?)
    }
}

/// The trickle and attribution figures on `store`.
async fn on_store(
    bench: &Bench,
    report: &mut Report,
    step: &str,
    store: &dyn Store,
) -> anyhow::Result<()> {
    let inventory = touchbase_store::inventory::get(store).await?.value;
    let year = Period::parse(bench_measure::YEAR.0, bench_measure::YEAR.1)?;
    let query = JourneyQuery {
        period: year,
        party_type: None,
        start: None,
        top: Some(10),
    };
    // Caught up first (a first run after the import cuts everything).
    let started = Instant::now();
    let done = measure::keep_journeys_current(store, &inventory).await?;
    println!(
        "  {step}: caught up in {:.1} s ({} steps, {} events copied, {} touches cut, longest step {} ms)",
        started.elapsed().as_secs_f64(),
        done.steps,
        done.copied,
        done.cut,
        done.longest.as_millis()
    );
    let (warm, summary) =
        bench_measure::timed(|| async { Ok(measure::journeys(store, &inventory, &query).await?) })
            .await?;
    println!(
        "  {step}: {} journeys, {} variants, warm request {:.0} ms",
        summary.journeys,
        summary.distinct_variants,
        crate::ms(warm)
    );
    report.add(
        step,
        "journeys + top 10 variants, a year, warm",
        crate::ms(warm),
        Unit::Milliseconds,
        None,
    );

    let lines = trickle(bench, 1_000, "trickle")?;
    let inputs: Vec<touchbase_store::ingest::Input> = lines
        .iter()
        .map(|l| touchbase_store::ingest::Input::new(l.clone(), "bench"))
        .collect();
    let checker = touchbase_store::ingest::checker(store).await?;
    let actor = touchbase_core::Actor::local_admin();
    let outcomes = touchbase_store::ingest::ingest(store, &actor, &checker, &inputs).await?;
    let accepted = outcomes
        .iter()
        .filter(|o| o.status == touchbase_store::ingest::Status::Accepted)
        .count();
    println!("  {step}: 1,000 new events spread over the year: {accepted} accepted");
    let started = Instant::now();
    measure::journeys(store, &inventory, &query).await?;
    let first = started.elapsed();
    let ratio = first.as_secs_f64() / warm.as_secs_f64();
    println!(
        "  {step}: the next journeys request took {:.0} ms ({ratio:.2} × warm)",
        crate::ms(first)
    );
    report.add(
        step,
        "journeys after 1,000 new events, first request",
        crate::ms(first),
        Unit::Milliseconds,
        None,
    );
    report.add(
        step,
        "journeys after 1,000 new events / warm",
        ratio,
        Unit::Ratio,
        Some(targets::TRICKLE_RATIO),
    );

    let days = Days::read(store, &inventory, year).await?;
    let (attribution, shares) =
        bench_measure::timed(|| async { Ok(measure::attribution(&days.journeys, &[year])?) })
            .await?;
    println!(
        "  {step}: attribution of {} points for the year in {:.0} ms",
        shares.first().map_or(0, |s| s.len()),
        crate::ms(attribution)
    );
    report.add(
        step,
        "attribution for the year, on top of the journeys",
        crate::ms(attribution),
        Unit::Milliseconds,
        Some(targets::ATTRIBUTION_MS),
    );
    Ok(())
}

/// Cuts everything again under a running server while single events arrive.
async fn full_catch_up<R, W>(
    bench: &Bench,
    report: &mut Report,
    step: &str,
    db: &str,
    reset: R,
    watch: W,
) -> anyhow::Result<()>
where
    R: FnOnce() -> anyhow::Result<()> + Send + 'static,
    W: Fn() -> anyhow::Result<(i64, i64, i64, i64)> + Send + Sync + 'static,
{
    blocking(reset).await?;
    let (exe, work, db_text) = (bench.exe.clone(), bench.work.clone(), db.to_owned());
    let name = format!("bench-journeys-{}", std::process::id());
    let log = bench.work.join("journeys-server.log");
    let (server, token) = blocking(move || {
        let done = child::run(child::touchbase(
            &exe,
            &work,
            &db_text,
            &["user", "add", &name, "--role", "admin", "--json"],
        ))?;
        let shown: serde_json::Value = serde_json::from_str(&done.stdout)?;
        let token = shown["token"]
            .as_str()
            .context("`user add --json` printed no token")?
            .to_owned();
        Ok((child::Server::start(&exe, &work, &db_text, &log)?, token))
    })
    .await?;
    let started = Instant::now();
    let watch = Arc::new(watch);
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (watch, done) = (Arc::clone(&watch), Arc::clone(&done));
        tokio::task::spawn_blocking(move || -> anyhow::Result<Duration> {
            let started = Instant::now();
            let mut last_seen = None;
            loop {
                let (mark, last, queued, cut) = watch()?;
                // Caught up: cut under the server's cut, the mark at the events that were on
                // record when it started (the posts add more after it), nothing queued.
                let target = *last_seen.get_or_insert(last);
                if cut >= 0 && mark >= target && queued == 0 {
                    done.store(true, Ordering::Release);
                    return Ok(started.elapsed());
                }
                if started.elapsed() > Duration::from_secs(3_600) {
                    anyhow::bail!("the catch-up did not end within an hour");
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        })
    };
    let lines = trickle(bench, 200_000, "during")?;
    let mut sender = http_load::connect(&server.address).await?;
    let plan = http_load::Plan {
        address: server.address.clone(),
        token,
        per_request: 1,
        connections: 1,
        limit: None,
        pace: None,
    };
    let mut latencies = Vec::new();
    let mut failures = 0u64;
    for line in &lines {
        if done.load(Ordering::Acquire) {
            break;
        }
        let sent = Instant::now();
        let answer = http_load::post(&mut sender, &plan, Bytes::from(line.clone())).await;
        latencies.push(sent.elapsed());
        match answer {
            Ok((status, _)) if status.is_success() => {}
            _ => failures += 1,
        }
        tokio::time::sleep(Duration::from_millis(20).saturating_sub(sent.elapsed())).await;
    }
    let took = watcher.await.context("the watcher panicked")??;
    let wall = started.elapsed();
    let peak = blocking(move || server.stop()).await?;
    latencies.sort_unstable();
    let p = |q: f64| http_load::percentile(&latencies, q).map_or(0.0, crate::ms);
    let max = latencies.last().copied().map_or(0.0, crate::ms);
    println!(
        "  {step}: full catch-up under a server in {:.1} s (watched; {:.1} s from the start); {} single-event POSTs meanwhile, {failures} failed: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; server peak {} MB",
        took.as_secs_f64(),
        wall.as_secs_f64(),
        latencies.len(),
        p(50.0),
        p(99.0),
        max,
        peak / (1 << 20)
    );
    report.add(
        step,
        "full catch-up while single events arrive",
        took.as_secs_f64(),
        Unit::Seconds,
        None,
    );
    report.add(
        step,
        "single-event POSTs during the catch-up",
        latencies.len() as f64,
        Unit::Count,
        None,
    );
    report.add(
        step,
        "single-event POST p99 during the catch-up",
        p(99.0),
        Unit::Milliseconds,
        Some(targets::POST_P99_MS),
    );
    report.add(
        step,
        "single-event POST, slowest during the catch-up",
        max,
        Unit::Milliseconds,
        Some(targets::POST_MAX_MS),
    );
    if failures > 0 {
        anyhow::bail!("{failures} single-event POSTs failed during the catch-up");
    }
    Ok(())
}
