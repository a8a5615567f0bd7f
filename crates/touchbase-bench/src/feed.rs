//! The reverse feed's step (R18): what an event rule firing on about a tenth of the events costs
//! a bulk import and batched HTTP ingest (each beside the same run without the rule), how fast
//! the dispatcher drains an outbox, and how long a firing takes to reach its endpoint. Every
//! endpoint is a webhook to a receiver in this process (`receiver.rs`) that answers 200 at once.
//!
//! The step has its own events file (`--feed-events`, 1,000,000 by default), so that it runs in
//! a few minutes whatever `--events` the other steps use. The rule's condition is chosen from
//! that file: the one of `point: P` or `outcomes.satisfaction: { lte: N }` closest to 10 % of
//! its events (counted: those of live points, the ones that fire).

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Deserialize;
use touchbase_core::inventory::Status;
use touchbase_store::Store;

use crate::receiver::Receiver;
use crate::report::{Report, Unit, targets};
use crate::{Bench, Imported, blocking, child, data, http_load, mb, ms, per_second, sqlite_floor};

const IMPORT: &str = "feed import";
const HTTP: &str = "feed http batched";
const DRAIN: &str = "feed drain";
const LATENCY: &str = "feed latency";
/// The endpoint every rule delivers to.
const ENDPOINT: &str = "sink";
/// The rule's key.
const RULE: &str = "tenth";
/// How long the step waits for deliveries once none has come for that long.
const QUIET: Duration = Duration::from_secs(10);

/// A rule's condition the benchmark can also test itself, to pick the events that fire.
#[derive(Debug, Clone, PartialEq)]
enum Condition {
    Point(String),
    SatisfactionAtMost(i64),
}

impl Condition {
    fn yaml(&self) -> String {
        match self {
            Condition::Point(p) => format!("{{ point: {p} }}"),
            Condition::SatisfactionAtMost(n) => {
                format!("{{ \"outcomes.satisfaction\": {{ lte: {n} }} }}")
            }
        }
    }

    fn shown(&self) -> String {
        match self {
            Condition::Point(p) => format!("point: {p}"),
            Condition::SatisfactionAtMost(n) => format!("outcomes.satisfaction: {{ lte: {n} }}"),
        }
    }

    /// Whether an event of a counted point meets it.
    fn meets(&self, line: &Line) -> bool {
        match self {
            Condition::Point(p) => line.point == *p,
            Condition::SatisfactionAtMost(n) => line
                .outcomes
                .as_ref()
                .and_then(|o| o.satisfaction)
                .is_some_and(|s| s <= *n),
        }
    }
}

/// The rule file: rule `tenth` on `condition`, to the endpoint `sink`.
fn rule_yaml(condition: &Condition) -> String {
    format!(
        "key: {RULE}\nwhen:\n  event: {}\ndo: [ {{ endpoint: {ENDPOINT} }} ]\n",
        condition.yaml()
    )
}

/// The fields of an events file's line the conditions read.
#[derive(Deserialize)]
struct Line<'a> {
    #[serde(borrow)]
    point: Cow<'a, str>,
    outcomes: Option<Outcomes>,
}

#[derive(Deserialize)]
struct Outcomes {
    satisfaction: Option<i64>,
}

/// The points whose events are counted (and so fire rules): the demo inventory's live points,
/// the baseline [`data::set_up_store`] takes.
fn counted_points() -> anyhow::Result<Vec<String>> {
    let inventory = touchbase_core::file::parse_inventory(data::INVENTORY)
        .map_err(|e| anyhow::anyhow!("the demo inventory: {e}"))?;
    Ok(inventory
        .points
        .into_iter()
        .filter(|p| p.status == Status::Live)
        .map(|p| p.key)
        .collect())
}

/// Reads every line of `path` that parses, with `each`.
fn for_each_line(path: &Path, mut each: impl FnMut(&str, &Line)) -> anyhow::Result<()> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read `{}`", path.display()))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut text = String::new();
    loop {
        text.clear();
        if reader.read_line(&mut text)? == 0 {
            return Ok(());
        }
        if let Ok(line) = serde_json::from_str::<Line>(&text) {
            each(&text, &line);
        }
    }
}

/// The condition whose share of the file's events is nearest 10 %, and that share.
fn choose(path: &Path, counted: &[String]) -> anyhow::Result<(Condition, f64, u64)> {
    let mut total = 0u64;
    let mut by_point: BTreeMap<String, u64> = BTreeMap::new();
    let mut satisfaction: BTreeMap<i64, u64> = BTreeMap::new();
    for_each_line(path, |_, line| {
        total += 1;
        if !counted.iter().any(|p| *p == line.point) {
            return;
        }
        *by_point.entry(line.point.to_string()).or_default() += 1;
        if let Some(s) = line.outcomes.as_ref().and_then(|o| o.satisfaction) {
            *satisfaction.entry(s).or_default() += 1;
        }
    })?;
    if total == 0 {
        bail!("`{}` holds no events", path.display());
    }
    let mut candidates: Vec<(Condition, u64)> = by_point
        .into_iter()
        .map(|(p, n)| (Condition::Point(p), n))
        .collect();
    let mut at_most = 0;
    for (s, n) in satisfaction {
        at_most += n;
        candidates.push((Condition::SatisfactionAtMost(s), at_most));
    }
    let distance = |n: u64| (n as f64 / total as f64 - 0.10).abs();
    let (condition, matched) = candidates
        .into_iter()
        .min_by(|a, b| distance(a.1).total_cmp(&distance(b.1)))
        .context("no event of the file is of a counted point")?;
    Ok((condition, matched as f64 / total as f64, total))
}

/// Writes to `out` the first `n` lines of `path` that meet `condition`, after skipping `skip`
/// of them; how many it wrote.
fn write_matching(
    path: &Path,
    condition: &Condition,
    counted: &[String],
    skip: u64,
    n: u64,
    out: &Path,
) -> anyhow::Result<u64> {
    let file =
        std::fs::File::create(out).with_context(|| format!("cannot write `{}`", out.display()))?;
    let mut writer = BufWriter::new(file);
    let (mut seen, mut written) = (0u64, 0u64);
    let mut failed = None;
    for_each_line(path, |text, line| {
        if written == n || !counted.iter().any(|p| *p == line.point) || !condition.meets(line) {
            return;
        }
        seen += 1;
        if seen > skip {
            if let Err(e) = writer.write_all(text.as_bytes()) {
                failed.get_or_insert(e);
            }
            written += 1;
        }
    })?;
    if let Some(e) = failed {
        return Err(e).with_context(|| format!("cannot write `{}`", out.display()));
    }
    writer.flush()?;
    Ok(written)
}

/// The events file of the step: the main one when it has as many events (and another step
/// made sure of it), else its own.
async fn events_file(bench: &Bench) -> anyhow::Result<PathBuf> {
    let n = bench.args.feed_events;
    let main_written = bench.args.only.iter().any(|s| *s != crate::Step::Feed);
    if n == bench.args.events && main_written {
        return Ok(bench.events.clone());
    }
    let (exe, work, seed) = (bench.exe.clone(), bench.work.clone(), bench.args.seed);
    blocking(move || data::events_file_named(&exe, &work, "feed-events.ndjson", n, seed)).await
}

/// What the step's parts share.
#[derive(Debug)]
struct Feed {
    events: PathBuf,
    rule: PathBuf,
    /// Events in `events`.
    total: u64,
}

/// Step 8: the reverse feed.
pub async fn run(bench: &Bench, report: &mut Report) -> anyhow::Result<()> {
    let events = events_file(bench).await?;
    let counted = counted_points()?;
    let (condition, share, total) = {
        let (events, counted) = (events.clone(), counted.clone());
        blocking(move || choose(&events, &counted)).await?
    };
    println!(
        "  feed: rule `{RULE}` on {} ({:.1} % of the {} events of {}), to the webhook `{ENDPOINT}` \
         (a receiver in this process on 127.0.0.1, answering 200 at once)",
        condition.shown(),
        share * 100.0,
        total,
        events.display()
    );
    let rule = bench.work.join("feed-rule.yaml");
    std::fs::write(&rule, rule_yaml(&condition))
        .with_context(|| format!("cannot write `{}`", rule.display()))?;
    let feed = Feed {
        events,
        rule,
        total,
    };
    let fired = imports(bench, report, &feed).await?;
    http(bench, report, &feed, fired).await?;

    let (drain_file, latency_file) = (
        bench.work.join("feed-drain.ndjson"),
        bench.work.join("feed-latency.ndjson"),
    );
    let (drain_n, latency_n) = (bench.args.feed_drain, bench.args.feed_latency_events);
    let (written_drain, written_latency) = {
        let (events, condition, counted) = (feed.events.clone(), condition.clone(), counted);
        let (drain_file, latency_file) = (drain_file.clone(), latency_file.clone());
        blocking(move || {
            let d = write_matching(&events, &condition, &counted, 0, drain_n, &drain_file)?;
            let l = write_matching(&events, &condition, &counted, d, latency_n, &latency_file)?;
            Ok((d, l))
        })
        .await?
    };
    drain(bench, report, &feed, &drain_file, written_drain).await?;
    latency(bench, report, &feed, &latency_file, written_latency).await?;
    for file in [drain_file, latency_file] {
        let _ = std::fs::remove_file(file);
    }
    Ok(())
}

/// Flushes what earlier rounds wrote, so that its write-back does not slow this round's own
/// flushes (as before each step).
fn quiet_disk() {
    let _ = std::process::Command::new("sync").status();
}

/// Removes a SQLite store and its key file.
fn remove_store(db: &Path) {
    sqlite_floor::remove_db(db);
    let _ = std::fs::remove_file(format!("{}.key", db.display()));
}

/// The outbox's deliveries, added up over rules and endpoints.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    fired: u64,
    delivered: u64,
    pending: u64,
    dead: u64,
}

/// The outbox of the store `db`, read once no touchbase process has it open.
async fn counts(db: &Path) -> anyhow::Result<Counts> {
    let store = touchbase_store_sqlite::SqliteStore::open(db)
        .with_context(|| format!("cannot open `{}`", db.display()))?;
    let mut total = Counts::default();
    for c in store.feed_counts().await? {
        total.fired += c.fired;
        total.delivered += c.delivered;
        total.pending += c.pending;
        total.dead += c.dead;
    }
    Ok(total)
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(0.0)
}

/// Part 1: `touchbase import` of the step's file into a fresh store with the endpoint, without
/// and with the rule, `--feed-rounds` times alternately; the median rates and their ratio. No
/// dispatcher runs (import only writes the outbox). Returns the deliveries one import fired.
async fn imports(bench: &Bench, report: &mut Report, feed: &Feed) -> anyhow::Result<u64> {
    let tools = Tools::of(bench);
    let receiver = Receiver::start().await?;
    let db = bench.work.join("feed-import.db");
    let rounds = bench.args.feed_rounds.max(1);
    let (mut without, mut with) = (Vec::new(), Vec::new());
    let (mut cpu_without, mut cpu_with) = (Vec::new(), Vec::new());
    let mut fired = Counts::default();
    let mut peak = 0;
    for round in 1..=rounds {
        for rule in [false, true] {
            let what = if rule { "the rule" } else { "no rules" };
            let done = {
                let (tools, db, url) = (tools.clone(), db.clone(), receiver.url.clone());
                let rule_file = rule.then(|| feed.rule.clone());
                let events = feed.events.to_string_lossy().into_owned();
                blocking(move || {
                    tools.set_up(&db, &url, rule_file.as_deref(), false)?;
                    quiet_disk();
                    tools.run(&db, &["import", &events, "--json"])
                })
                .await?
            };
            let imported: Imported = serde_json::from_str(&done.stdout)
                .with_context(|| format!("`import --json` printed no summary: {}", done.stdout))?;
            let rate = per_second(imported.total(), done.wall);
            let c = counts(&db).await?;
            println!(
                "  {IMPORT}: round {round}, {what}: {} events in {:.1} s ({rate:.0} events/s, \
                 CPU {:.1} s), {} accepted, {} held; {} deliveries written, {} pending",
                imported.total(),
                done.wall.as_secs_f64(),
                done.cpu.as_secs_f64(),
                imported.accepted,
                imported.held,
                c.fired,
                c.pending
            );
            if rule {
                with.push(rate);
                cpu_with.push(done.cpu.as_secs_f64());
                fired = c;
                peak = peak.max(done.peak_rss);
            } else {
                without.push(rate);
                cpu_without.push(done.cpu.as_secs_f64());
            }
        }
    }
    remove_store(&db);
    let (without, with) = (median(&without), median(&with));
    report.add(
        IMPORT,
        &format!("rate, no rules (median of {rounds})"),
        without,
        Unit::EventsPerS,
        None,
    );
    report.add(
        IMPORT,
        &format!("rate, rule on ~10 % (median of {rounds})"),
        with,
        Unit::EventsPerS,
        None,
    );
    report.add(
        IMPORT,
        "ratio with rule / without",
        with / without,
        Unit::Ratio,
        Some(targets::FEED_RATIO),
    );
    for (what, cpu) in [("no rules", &cpu_without), ("the rule", &cpu_with)] {
        report.add(
            IMPORT,
            &format!("CPU time, {what} (median)"),
            median(cpu),
            Unit::Seconds,
            None,
        );
    }
    report.add(
        IMPORT,
        "events that fired (deliveries / events)",
        fired.fired as f64 / feed.total.max(1) as f64,
        Unit::Ratio,
        None,
    );
    report.add(
        IMPORT,
        "deliveries written per import",
        fired.fired as f64,
        Unit::Count,
        None,
    );
    report.add(
        IMPORT,
        "peak memory, with the rule",
        mb(peak),
        Unit::Megabytes,
        Some(targets::PEAK_MB),
    );
    println!(
        "  {IMPORT}: the receiver got {} requests during the imports (import dispatches nothing)",
        receiver.arrivals().len()
    );
    Ok(fired.fired)
}

/// The binary, the work directory and the inventory, owned, for blocking tasks.
#[derive(Debug, Clone)]
struct Tools {
    exe: PathBuf,
    work: PathBuf,
    inventory: PathBuf,
}

impl Tools {
    fn of(bench: &Bench) -> Tools {
        Tools {
            exe: bench.exe.clone(),
            work: bench.work.clone(),
            inventory: bench.inventory.clone(),
        }
    }

    fn run(&self, db: &Path, args: &[&str]) -> anyhow::Result<child::Finished> {
        child::run(child::touchbase(
            &self.exe,
            &self.work,
            &db.to_string_lossy(),
            args,
        ))
    }

    /// A fresh SQLite store at `db` with the demo inventory, the webhook `sink` to `url`, and
    /// the rule in `rule` when given; an admin token when `token`.
    fn set_up(
        &self,
        db: &Path,
        url: &str,
        rule: Option<&Path>,
        token: bool,
    ) -> anyhow::Result<Option<String>> {
        remove_store(db);
        let db_text = db.to_string_lossy();
        data::set_up_store(&self.exe, &self.work, &db_text, &self.inventory)?;
        self.run(
            db,
            &["endpoint", "add", ENDPOINT, "--url", url, "--allow-private"],
        )
        .context("the endpoint was not added")?;
        if let Some(rule) = rule {
            self.run(db, &["rule", "add", "--file", &rule.to_string_lossy()])
                .context("the rule was not added")?;
        }
        Ok(match token {
            true => Some(data::admin_token(&self.exe, &self.work, &db_text)?),
            false => None,
        })
    }
}

/// What a round of the batched HTTP comparison has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    NoRules,
    /// The rule, its endpoint disabled: firings are written, nothing is sent.
    NotSent,
    /// The rule, the dispatcher delivering to the receiver.
    Sent,
}

impl Variant {
    fn shown(self) -> &'static str {
        match self {
            Variant::NoRules => "no rules",
            Variant::NotSent => "the rule, endpoint disabled (nothing sent)",
            Variant::Sent => "the rule, dispatcher delivering",
        }
    }
}

/// A variant's rounds.
#[derive(Debug, Default)]
struct Rounds {
    rates: Vec<f64>,
    /// The server's CPU time during the load, and this process's (the load and the receiver).
    server_cpu: Vec<f64>,
    own_cpu: Vec<f64>,
}

/// Part 2: the batched HTTP load of the `http` step (`--batch` events per request,
/// `--in-flight` at a time) over the step's file, on a fresh server without the rule, with it
/// and its endpoint disabled (the firings' cost to ingest alone), and with it delivering,
/// `--feed-rounds` times in turn. Delivering, the server's dispatcher sends to the receiver
/// while the load runs; the rest is delivered before the server stops (a server stopped with
/// deliveries due sends them first), and that tail is timed apart.
async fn http(bench: &Bench, report: &mut Report, feed: &Feed, fired: u64) -> anyhow::Result<()> {
    let tools = Tools::of(bench);
    let db = bench.work.join("feed-http.db");
    let log = bench.work.join("feed-http-server.log");
    let rounds = bench.args.feed_rounds.max(1);
    println!(
        "  {HTTP}: {} events per request, {} in flight; with the rule delivering, the server's \
         dispatcher sends to the receiver (in this process, beside the load) while the load runs",
        bench.args.batch, bench.args.in_flight
    );
    let variants = [Variant::NoRules, Variant::NotSent, Variant::Sent];
    let mut done: Vec<Rounds> = variants.iter().map(|_| Rounds::default()).collect();
    let (mut during, mut tails) = (Vec::new(), Vec::new());
    let (mut failures, mut peak) = (0u64, 0u64);
    for round in 1..=rounds {
        for (v, variant) in variants.into_iter().enumerate() {
            let receiver = Receiver::start().await?;
            let server = {
                let (tools, db, log) = (tools.clone(), db.clone(), log.clone());
                let url = receiver.url.clone();
                let rule_file = (variant != Variant::NoRules).then(|| feed.rule.clone());
                blocking(move || {
                    let token = tools.set_up(&db, &url, rule_file.as_deref(), true)?;
                    if variant == Variant::NotSent {
                        tools.run(&db, &["endpoint", "disable", ENDPOINT, "--reason", "bench"])?;
                    }
                    quiet_disk();
                    let server =
                        child::Server::start(&tools.exe, &tools.work, &db.to_string_lossy(), &log)?;
                    Ok((server, token.unwrap_or_default()))
                })
                .await?
            };
            let (server, token) = server;
            let plan = http_load::Plan {
                address: server.address.clone(),
                token,
                per_request: bench.args.batch,
                connections: bench.args.in_flight,
                limit: None,
                pace: None,
            };
            let (server_before, own_before) = (server.cpu_time(), child::own_cpu_time());
            let load = http_load::run(&feed.events, &plan).await?;
            let cpu = |after: Option<Duration>, before: Option<Duration>| {
                after
                    .zip(before)
                    .map_or(0.0, |(a, b)| (a.saturating_sub(b)).as_secs_f64())
            };
            let server_cpu = cpu(server.cpu_time(), server_before);
            let own_cpu = cpu(child::own_cpu_time(), own_before);
            let rate = per_second(load.events, load.wall);
            failures += load.failures;
            if let Some(first) = &load.first_failure {
                println!("  {HTTP}: first failure: {first}");
            }
            let got = receiver.distinct();
            let tail_started = Instant::now();
            let all = variant != Variant::Sent || receiver.wait_for(fired, QUIET).await;
            let tail = tail_started.elapsed();
            let server_peak = blocking(move || server.stop()).await?;
            let c = counts(&db).await?;
            let mut line = format!(
                "  {HTTP}: round {round}, {}: {} events in {:.1} s ({rate:.0} events/s), \
                 CPU during the load: server {server_cpu:.1} s, load and receiver {own_cpu:.1} s",
                variant.shown(),
                load.events,
                load.wall.as_secs_f64(),
            );
            if variant == Variant::Sent {
                let after = receiver.distinct().saturating_sub(got);
                line.push_str(&format!(
                    "; {got} deliveries received during the load, {after} in the {:.1} s after \
                     it ({:.0} deliveries/s){}",
                    tail.as_secs_f64(),
                    per_second(after, tail),
                    if all { "" } else { ", NOT ALL" },
                ));
                during.push(got as f64);
                tails.push(per_second(after, tail));
                peak = peak.max(server_peak);
            }
            if variant != Variant::NoRules {
                line.push_str(&format!(
                    "; the store: {} fired, {} delivered, {} pending",
                    c.fired, c.delivered, c.pending
                ));
            }
            println!("{line}");
            done[v].rates.push(rate);
            done[v].server_cpu.push(server_cpu);
            done[v].own_cpu.push(own_cpu);
        }
    }
    remove_store(&db);
    let without = median(&done[0].rates);
    for (variant, rounds_done) in variants.into_iter().zip(&done) {
        let rate = median(&rounds_done.rates);
        report.add(
            HTTP,
            &format!("rate, {} (median of {rounds})", variant.shown()),
            rate,
            Unit::EventsPerS,
            None,
        );
        if variant != Variant::NoRules {
            let target = (variant == Variant::Sent).then_some(targets::FEED_RATIO);
            report.add(
                HTTP,
                &format!("ratio {} / no rules", variant.shown()),
                rate / without,
                Unit::Ratio,
                target,
            );
        }
        report.add(
            HTTP,
            &format!("server CPU during the load, {} (median)", variant.shown()),
            median(&rounds_done.server_cpu),
            Unit::Seconds,
            None,
        );
    }
    report.add(
        HTTP,
        "deliveries received during the load (median)",
        median(&during),
        Unit::Count,
        None,
    );
    report.add(
        HTTP,
        "delivery rate after the load (median)",
        median(&tails),
        Unit::DeliveriesPerS,
        None,
    );
    report.add(
        HTTP,
        "server peak memory, the rule delivering",
        mb(peak),
        Unit::Megabytes,
        Some(targets::PEAK_MB),
    );
    report.add(
        HTTP,
        "failures (non-2xx or no answer)",
        failures as f64,
        Unit::Count,
        Some(crate::report::Target::AtMost(0.0)),
    );
    Ok(())
}

/// Part 3: `n` deliveries pending (the `n` first firing events of the file imported with the
/// rule), drained to the receiver by `touchbase deliver --until-idle` (start to exit), then
/// again in a fresh store by `touchbase serve`'s dispatcher (from the server's start to the
/// last delivery received).
async fn drain(
    bench: &Bench,
    report: &mut Report,
    feed: &Feed,
    events: &Path,
    n: u64,
) -> anyhow::Result<()> {
    let tools = Tools::of(bench);
    let db = bench.work.join("feed-drain.db");
    let pending = |receiver: &Receiver| {
        let (tools, db, url) = (tools.clone(), db.clone(), receiver.url.clone());
        let (rule, events) = (feed.rule.clone(), events.to_string_lossy().into_owned());
        async move {
            let set_up = db.clone();
            blocking(move || {
                tools.set_up(&set_up, &url, Some(&rule), false)?;
                tools.run(&set_up, &["import", &events, "--json"])?;
                Ok(())
            })
            .await?;
            counts(&db).await
        }
    };

    let receiver = Receiver::start().await?;
    let before = pending(&receiver).await?;
    println!(
        "  {DRAIN}: {} deliveries pending ({n} firing events imported), `touchbase deliver --until-idle` …",
        before.pending
    );
    let done = {
        let (tools, db) = (tools.clone(), db.clone());
        blocking(move || tools.run(&db, &["deliver", "--until-idle"])).await?
    };
    let after = counts(&db).await?;
    let got = receiver.distinct();
    println!(
        "  {DRAIN}: deliver: {} in {:.2} s; the receiver got {} requests, {got} distinct; the store: {} delivered, {} pending, {} dead",
        done.stdout.trim(),
        done.wall.as_secs_f64(),
        receiver.arrivals().len(),
        after.delivered,
        after.pending,
        after.dead
    );
    report.add(
        DRAIN,
        "deliver --until-idle (start to exit)",
        per_second(after.delivered, done.wall),
        Unit::DeliveriesPerS,
        Some(targets::FEED_DRAIN),
    );
    report.add(
        DRAIN,
        "deliver --until-idle, peak memory",
        mb(done.peak_rss),
        Unit::Megabytes,
        Some(targets::PEAK_MB),
    );
    drop(receiver);

    let receiver = Receiver::start().await?;
    let before = pending(&receiver).await?;
    println!(
        "  {DRAIN}: {} deliveries pending again in a fresh store, `touchbase serve` …",
        before.pending
    );
    let started = Instant::now();
    let server = {
        let (tools, db) = (tools.clone(), db.clone());
        let log = bench.work.join("feed-drain-server.log");
        blocking(move || child::Server::start(&tools.exe, &tools.work, &db.to_string_lossy(), &log))
            .await?
    };
    let all = receiver.wait_for(before.pending, QUIET).await;
    let wall = started.elapsed();
    let got = receiver.distinct();
    blocking(move || server.stop()).await?;
    let after = counts(&db).await?;
    println!(
        "  {DRAIN}: serve: {got} distinct deliveries received{} in {:.2} s from the server's start ({} requests); the store: {} delivered, {} pending",
        if all { "" } else { " (NOT ALL)" },
        wall.as_secs_f64(),
        receiver.arrivals().len(),
        after.delivered,
        after.pending
    );
    report.add(
        DRAIN,
        "serve's dispatcher (server start to last delivery)",
        per_second(got, wall),
        Unit::DeliveriesPerS,
        Some(targets::FEED_DRAIN),
    );
    remove_store(&db);
    Ok(())
}

/// Part 4: `touchbase serve` with the rule; `n` firing events posted one per request at
/// `--feed-rate` a second; for each delivery received, its arrival less its body's `fired_at`
/// (the instant the server checked the event, before its write), on the same clock.
async fn latency(
    bench: &Bench,
    report: &mut Report,
    feed: &Feed,
    events: &Path,
    n: u64,
) -> anyhow::Result<()> {
    let tools = Tools::of(bench);
    let db = bench.work.join("feed-latency.db");
    let receiver = Receiver::start().await?;
    let (server, token) = {
        let (tools, db, url) = (tools.clone(), db.clone(), receiver.url.clone());
        let rule = feed.rule.clone();
        let log = bench.work.join("feed-latency-server.log");
        blocking(move || {
            let token = tools.set_up(&db, &url, Some(&rule), true)?;
            let server =
                child::Server::start(&tools.exe, &tools.work, &db.to_string_lossy(), &log)?;
            Ok((server, token.unwrap_or_default()))
        })
        .await?
    };
    let rate = bench.args.feed_rate;
    println!("  {LATENCY}: {n} firing events, one per request, {rate} a second on 4 connections …");
    let plan = http_load::Plan {
        address: server.address.clone(),
        token,
        per_request: 1,
        connections: 4,
        limit: None,
        pace: Some(rate),
    };
    let load = http_load::run(events, &plan).await?;
    let all = receiver.wait_for(n, QUIET).await;
    blocking(move || server.stop()).await?;
    remove_store(&db);
    if let Some(first) = &load.first_failure {
        println!("  {LATENCY}: first failure: {first}");
    }
    let arrivals = receiver.arrivals();
    // The first arrival of each delivery (a delivery sent twice counts once).
    let mut first: HashMap<&str, i64> = HashMap::new();
    let mut latencies = Vec::new();
    for a in &arrivals {
        if first.contains_key(a.id.as_str()) {
            continue;
        }
        first.insert(&a.id, a.at_us);
        if let Some(fired) = a.fired_at_us {
            latencies.push(Duration::from_micros((a.at_us - fired).max(0) as u64));
        }
    }
    latencies.sort_unstable();
    println!(
        "  {LATENCY}: {} events sent in {:.1} s ({:.0} a second), {} deliveries received{} ({} requests)",
        load.events,
        load.wall.as_secs_f64(),
        per_second(load.events, load.wall),
        first.len(),
        if all { "" } else { ", NOT ALL" },
        arrivals.len()
    );
    for (name, p, target) in [
        ("p50 fired to received", 50.0, None),
        ("p95 fired to received", 95.0, None),
        ("p99 fired to received", 99.0, Some(targets::FEED_P99_MS)),
        ("max fired to received", 100.0, None),
    ] {
        if let Some(l) = http_load::percentile(&latencies, p) {
            report.add(LATENCY, name, ms(l), Unit::Milliseconds, target);
        }
    }
    if let Some(l) = http_load::percentile(&load.latencies, 99.0) {
        report.add(
            LATENCY,
            "p99 POST answered",
            ms(l),
            Unit::Milliseconds,
            None,
        );
    }
    report.add(
        LATENCY,
        "failures (non-2xx or no answer)",
        load.failures as f64,
        Unit::Count,
        Some(crate::report::Target::AtMost(0.0)),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_files_parse() {
        for condition in [
            Condition::Point("store.checkout".into()),
            Condition::SatisfactionAtMost(2),
        ] {
            let rules = touchbase_core::rules::parse_rules(&rule_yaml(&condition))
                .unwrap_or_else(|e| panic!("{condition:?}: {e}"));
            assert_eq!(rules.len(), 1);
            assert_eq!(rules[0].key, RULE);
        }
    }

    #[test]
    fn conditions_meet_the_lines_they_name() {
        let line = |text: &'static str| serde_json::from_str::<Line>(text).unwrap();
        let checkout = line(r#"{"point":"store.checkout","outcomes":{"satisfaction":2}}"#);
        let order = line(r#"{"point":"web.order","at":"2026-03-01T09:30:00Z"}"#);
        let point = Condition::Point("store.checkout".into());
        assert!(point.meets(&checkout));
        assert!(!point.meets(&order));
        let unhappy = Condition::SatisfactionAtMost(2);
        assert!(unhappy.meets(&checkout));
        assert!(!unhappy.meets(&order));
        assert!(!Condition::SatisfactionAtMost(1).meets(&checkout));
    }

    #[test]
    fn the_median_is_the_middle_value() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[5.0]), 5.0);
        assert_eq!(median(&[]), 0.0);
    }
}
