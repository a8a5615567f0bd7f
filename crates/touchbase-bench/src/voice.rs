//! `touchbase-bench voice`: the voice of the customer (R14) at scale, in this process, on a
//! fresh SQLite store in a temporary directory. No touchbase binary is needed: the store and
//! the operations are the libraries the binary is made of.
//!
//! The steps, each printed as it is measured:
//! 1. an inventory of 20 live points and one survey of them all (nps, csat, ces, change);
//! 2. `--responses` responses spread over a year (scores drawn, every one with a `change`
//!    answer of 6–14 words from a vocabulary of 120; at random instants, or with `--in-order`
//!    in the order of their interactions), taken in batches of 10,000 as
//!    `touchbase responses import` takes them (`responses::take`: read, checked, written with
//!    their daily voice counts in one transaction per batch);
//! 3. the voice figures of every point by month over the year (`measure::scorecards`, 20
//!    points × 12 months), cold and then warm;
//! 4. a codebook of 50 `change` codes imported, then the themes of the whole year
//!    (`codebook::themes_of`): every answer read and re-coded by the new version; and the
//!    coder alone over the same answers in memory.
//!
//! Timings are printed next to their targets, never asserted; what is checked (and makes the
//! run fail) is what the figures must be: every response accepted, the year's scorecards
//! counting them all, and the themes seeing every answer.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use touchbase_core::Actor;
use touchbase_core::period::{Granularity, Period};
use touchbase_core::voice::{Coder, Family};
use touchbase_store::Store;
use touchbase_store::ingest::{Input, Status};
use touchbase_store::measure::{self, Days, GroupBy, Scope};
use touchbase_store_sqlite::SqliteStore;

use crate::report::{Machine, Report, Target, Unit};
use crate::standing::{Draw, TempDir};

/// Responses per transaction, as `touchbase responses import` writes them.
const BATCH: usize = 10_000;
const POINTS: usize = 20;
const CODES: usize = 50;
const DAY_US: i64 = 86_400_000_000;
/// 2025-01-01T00:00:00Z: the year the responses fall in.
const YEAR_START: i64 = 1_735_689_600_000_000;

/// The targets of the voice issue.
const IMPORT: Target = Target::AtLeast(100_000.0);
const FIGURES_MS: Target = Target::AtMost(100.0);
const RECODE_S: Target = Target::AtMost(10.0);

/// The voice of the customer at scale: import, figures by month, re-coding.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Responses taken in.
    #[arg(long, default_value_t = 1_000_000)]
    responses: u64,
    /// Responses in the order of their interactions (as an export from another survey tool
    /// usually comes), rather than in random order over the year.
    #[arg(long)]
    in_order: bool,
    /// The seed of the scores and the answers.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Also save the figures as JSON to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

/// The vocabulary the answers and the codebook's patterns are made of.
fn word(i: u64) -> String {
    const STEMS: [&str; 12] = [
        "wait", "queue", "price", "staff", "deliver", "refund", "app", "site", "call", "parcel",
        "store", "order",
    ];
    const ENDS: [&str; 10] = [
        "", "ing", "ed", "s", "er", "ly", "ful", "less", "ment", "ish",
    ];
    format!(
        "{}{}",
        STEMS[(i % 12) as usize],
        ENDS[((i / 12) % 10) as usize]
    )
}

fn inventory() -> String {
    let mut text = String::from(
        "organization: { name: Voice Bench, currency: EUR }\nparties:\n  - { key: customer, kind: individual }\npoints:\n",
    );
    for p in 0..POINTS {
        text.push_str(&format!(
            "  - {{ key: p{p:02}, name: Point {p}, party: customer, function: service, channel: web, mode: machine, \
             expected: {{ volume_per_month: 1000, value_company: 1, cost: 0.1 }}, strategic_value: low, owner: ops, status: live }}\n"
        ));
    }
    let points: Vec<String> = (0..POINTS).map(|p| format!("p{p:02}")).collect();
    text.push_str(&format!(
        "surveys:\n  - {{ key: bench, name: Bench, points: [{}], questions: [nps, csat, ces, change] }}\n",
        points.join(", ")
    ));
    text
}

/// A codebook of [`CODES`] `change` codes, each any of two or three words of the vocabulary,
/// some with a `none`.
fn codebook(version: u32, draw: &mut Draw) -> String {
    let mut text = format!("version: {version}\ncodes:\n");
    for c in 0..CODES {
        let any: Vec<String> = (0..2 + draw.below(2))
            .map(|_| word(draw.below(120)))
            .collect();
        let none = if c % 5 == 0 {
            format!(", none: [{}]", word(draw.below(120)))
        } else {
            String::new()
        };
        text.push_str(&format!(
            "  - {{ key: code-{c:02}, family: change, any: [{}]{none} }}\n",
            any.join(", ")
        ));
    }
    text
}

/// The `i`-th of `n` responses: at a random instant of the year, or (`in_order`) at its place
/// in the year.
fn response(i: u64, n: u64, in_order: bool, draw: &mut Draw) -> String {
    let point = draw.below(POINTS as u64);
    let second = if in_order {
        i * (365 * 86_400) / n.max(1)
    } else {
        draw.below(365 * 86_400)
    };
    let at = YEAR_START + second as i64 * 1_000_000;
    let words: Vec<String> = (0..6 + draw.below(9))
        .map(|k| {
            if k > 0 && draw.below(12) == 0 {
                "not".to_owned()
            } else {
                word(draw.below(120))
            }
        })
        .collect();
    serde_json::json!({
        "id": format!("r{i:08}"),
        "survey": "bench",
        "point": format!("p{point:02}"),
        "at": jiff::Timestamp::from_microsecond(at).expect("in range").to_string(),
        "party": format!("c{}", draw.below(200_000)),
        "answers": {
            "nps": draw.below(11),
            "csat": 1 + draw.below(5),
            "ces": 1 + draw.below(7),
            "change": words.join(" "),
        },
    })
    .to_string()
}

pub async fn main(args: &Args) -> anyhow::Result<ExitCode> {
    let mut report = Report::new(Machine {
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        events: 0,
        single_events: 0,
        feed_events: None,
        standing_orders: None,
        touchbase: format!(
            "touchbase {} (its libraries, in this process)",
            env!("CARGO_PKG_VERSION")
        ),
        started: jiff::Timestamp::now()
            .strftime("%Y-%m-%d %H:%M:%SZ")
            .to_string(),
    });
    let step = "voice sqlite";
    println!("{step}: start");
    let started = Instant::now();
    match run(args, &mut report, step).await {
        Ok(()) => println!("{step}: done in {:.1} s", started.elapsed().as_secs_f64()),
        Err(e) => report.fail(step, &e),
    }
    report.print_table();
    if let Some(path) = &args.json {
        report.save(path)?;
    }
    if report.failed.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("touchbase-bench voice: the step failed its checks or could not run");
    Ok(ExitCode::FAILURE)
}

async fn run(args: &Args, report: &mut Report, step: &str) -> anyhow::Result<()> {
    let n = args.responses;
    let dir = TempDir::new()?;
    let path = dir.0.join("voice.db");
    println!("  {step}: a fresh store at {}", path.display());
    let store =
        SqliteStore::open(&path).with_context(|| format!("cannot open `{}`", path.display()))?;
    let actor = Actor::local_admin();
    let parsed = touchbase_core::file::parse_inventory(&inventory())
        .map_err(|e| anyhow::anyhow!("the step's inventory: {e}"))?;
    touchbase_store::inventory::import(
        &store,
        &actor,
        &parsed,
        touchbase_store::inventory::ImportMode::Baseline,
    )
    .await
    .context("the step's inventory was not imported")?;

    // 2. The responses, made ahead so that only their taking is timed.
    let mut draw = Draw(args.seed);
    let batches: Vec<Vec<Input>> = (0..n)
        .collect::<Vec<u64>>()
        .chunks(BATCH)
        .map(|ids| {
            ids.iter()
                .map(|i| Input::new(response(*i, n, args.in_order, &mut draw), "bench"))
                .collect()
        })
        .collect();
    let now = YEAR_START + 400 * DAY_US;
    let started = Instant::now();
    let mut accepted = 0u64;
    for batch in &batches {
        let outcomes = touchbase_store::responses::take(&store, &actor, batch, now).await?;
        accepted += outcomes
            .iter()
            .filter(|o| o.status == Status::Accepted)
            .count() as u64;
    }
    let seconds = started.elapsed().as_secs_f64();
    drop(batches);
    if accepted != n {
        bail!("{accepted} of {n} responses accepted");
    }
    report.add(
        step,
        &format!(
            "{n} responses taken ({})",
            if args.in_order {
                "in the order of their interactions"
            } else {
                "at random instants of the year"
            }
        ),
        n as f64 / seconds,
        Unit::ResponsesPerS,
        Some(IMPORT),
    );

    // 3. Every point's voice by month over the year.
    let year = Period::new(YEAR_START, YEAR_START + 365 * DAY_US)?;
    let inventory = touchbase_store::inventory::get(&store).await?.value;
    for pass in ["cold", "warm"] {
        let started = Instant::now();
        let days = Days::counts(&store, year).await?;
        let scopes = Scope::all(&inventory, GroupBy::Point, &days);
        let cards = measure::cards(&inventory, &days, &scopes, Some(Granularity::Month))?;
        let ms = started.elapsed().as_secs_f64() * 1_000.0;
        let counted: u64 = cards.iter().map(|c| c.scorecard.voice.responses).sum();
        if counted != n || cards.len() != POINTS * 12 {
            bail!(
                "the monthly scorecards count {counted} responses in {} cards; {n} in {} expected",
                cards.len(),
                POINTS * 12
            );
        }
        report.add(
            step,
            &format!("voice of {POINTS} points by month over a year ({pass})"),
            ms,
            Unit::Milliseconds,
            (pass == "warm").then_some(FIGURES_MS),
        );
    }

    // 4. A 50-code codebook: version 1, then version 2 re-codes every answer.
    let mut draw = Draw(args.seed ^ 0x5eed);
    for version in 1..=2 {
        let text = codebook(version, &mut draw);
        touchbase_store::codebook::import(&store, &actor, &text, now + i64::from(version))
            .await
            .with_context(|| format!("codebook version {version}"))?;
        let started = Instant::now();
        let themes =
            touchbase_store::codebook::themes_of(&store, &actor, &Scope::Organization, year)
                .await?;
        let seconds = started.elapsed().as_secs_f64();
        if themes.with_change != n || themes.codebook != Some(version) {
            bail!(
                "the themes saw {} answers by version {:?}; {n} by {version} expected",
                themes.with_change,
                themes.codebook
            );
        }
        let mentions: u64 = themes.themes.iter().map(|t| t.mentions).sum();
        println!(
            "  {step}: version {version}: {} themes, {} tags over {n} answers",
            themes.themes.len(),
            crate::report::thousands(mentions as f64)
        );
        report.add(
            step,
            &format!("themes of {n} answers re-coded by codebook version {version} ({CODES} codes), read to figures"),
            seconds,
            Unit::Seconds,
            Some(RECODE_S),
        );
    }
    let book = touchbase_store::codebook::current(&store)
        .await?
        .context("the codebook is on record")?;
    let answers: Vec<String> = store
        .open_answers(year.from, year.to)
        .await?
        .into_iter()
        .filter_map(|a| a.change)
        .collect();
    let coder = Coder::new(&book);
    let started = Instant::now();
    let tags: usize = answers
        .iter()
        .map(|a| coder.code(Family::Change, a).len())
        .sum();
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "  {step}: the coder alone: {} tags",
        crate::report::thousands(tags as f64)
    );
    report.add(
        step,
        &format!("the coder alone over {} answers in memory", answers.len()),
        seconds,
        Unit::Seconds,
        None,
    );
    let size = crate::data::file_size(&path)
        + crate::data::file_size(&path.with_extension("db-wal"))
        + crate::data::file_size(&path.with_extension("db-shm"));
    report.add(
        step,
        "database size",
        crate::mb(size),
        Unit::Megabytes,
        None,
    );
    Ok(())
}
