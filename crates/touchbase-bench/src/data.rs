//! The data every step shares: the events file (`touchbase gen`), the demo inventory, a store
//! set up with it, and the rows the floors write, parsed from the same file.

use std::borrow::Cow;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::child;

/// The demo organization's inventory, the one `touchbase gen` draws its events for.
pub const INVENTORY: &str = include_str!("../../touchbase/src/demo/northwind.yaml");

/// The events file of `n` events from `seed` in `dir`: reused when it holds `n` lines already,
/// else written by `touchbase gen`.
pub fn events_file(exe: &Path, dir: &Path, n: u64, seed: u64) -> anyhow::Result<PathBuf> {
    events_file_named(exe, dir, "events.ndjson", n, seed)
}

/// [`events_file`] by another name in `dir`.
pub fn events_file_named(
    exe: &Path,
    dir: &Path,
    name: &str,
    n: u64,
    seed: u64,
) -> anyhow::Result<PathBuf> {
    let path = dir.join(name);
    if path.is_file() {
        let lines = count_lines(&path)?;
        if lines == n {
            println!(
                "data: reusing {} ({n} events, {})",
                path.display(),
                megabytes(file_size(&path))
            );
            return Ok(path);
        }
        println!(
            "data: {} holds {lines} events, not {n}: writing it again",
            path.display()
        );
    }
    println!("data: touchbase gen --events {n} --seed {seed} …");
    let started = Instant::now();
    let (n_text, seed_text) = (n.to_string(), seed.to_string());
    let path_text = path.to_string_lossy();
    let mut command = std::process::Command::new(exe);
    command.current_dir(dir).args([
        "gen", "--events", &n_text, "--seed", &seed_text, "--out", &path_text,
    ]);
    child::run(command).context(
        "`touchbase gen` failed: is the binary recent enough to have it? (cargo build --release --workspace)",
    )?;
    println!(
        "data: wrote {} ({n} events, {}) in {:.1} s",
        path.display(),
        megabytes(file_size(&path)),
        started.elapsed().as_secs_f64()
    );
    Ok(path)
}

fn count_lines(path: &Path) -> anyhow::Result<u64> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("cannot read `{}`", path.display()))?;
    let mut buffer = vec![0u8; 1 << 20];
    let mut lines = 0u64;
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            return Ok(lines);
        }
        lines += buffer[..read].iter().filter(|b| **b == b'\n').count() as u64;
    }
}

pub fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

pub fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// Writes the demo inventory to `dir` (once); its path.
pub fn inventory_file(dir: &Path) -> anyhow::Result<PathBuf> {
    let path = dir.join("northwind.yaml");
    std::fs::write(&path, INVENTORY)
        .with_context(|| format!("cannot write `{}`", path.display()))?;
    Ok(path)
}

/// Takes the demo inventory into the store `db` as `touchbase demo` does: its live points as a
/// baseline (R6), the others as proposals.
pub fn set_up_store(exe: &Path, dir: &Path, db: &str, inventory: &Path) -> anyhow::Result<()> {
    let inventory = inventory.to_string_lossy();
    child::run(child::touchbase(
        exe,
        dir,
        db,
        &["inventory", "import", &inventory, "--baseline"],
    ))
    .context("the demo inventory was not imported")?;
    Ok(())
}

/// Adds an admin user to the store `db`; its API token.
pub fn admin_token(exe: &Path, dir: &Path, db: &str) -> anyhow::Result<String> {
    #[derive(Deserialize)]
    struct Shown {
        token: String,
    }
    let done = child::run(child::touchbase(
        exe,
        dir,
        db,
        &["user", "add", "bench", "--role", "admin", "--json"],
    ))?;
    let shown: Shown = serde_json::from_str(&done.stdout)
        .with_context(|| format!("`user add --json` printed no token: {}", done.stdout))?;
    Ok(shown.token)
}

/// One event as the floors write it: the columns of the events table, from the wire format v1
/// with no checks but its types (PRODUCT.md). `data` and `vars` are kept as their JSON text.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub day: i64,
    pub key: i64,
    pub id: String,
    pub point: String,
    pub at: i64,
    pub party: Option<String>,
    pub channel: Option<String>,
    pub intent: Option<String>,
    pub satisfaction: Option<i64>,
    pub knowledge: Option<bool>,
    pub resolved: Option<bool>,
    pub engaged: Option<bool>,
    pub value_company: f64,
    pub value_party: f64,
    pub cost: f64,
    pub duration_s: Option<f64>,
    pub data: Option<String>,
    pub vars: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire<'a> {
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    point: Cow<'a, str>,
    #[serde(borrow)]
    at: Cow<'a, str>,
    #[serde(borrow)]
    party: Option<Cow<'a, str>>,
    #[serde(borrow)]
    channel: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    outcomes: Outcomes<'a>,
    #[serde(default)]
    value: Value,
    cost: Option<f64>,
    duration_s: Option<f64>,
    #[serde(borrow)]
    data: Option<&'a RawValue>,
    #[serde(borrow)]
    vars: Option<&'a RawValue>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Outcomes<'a> {
    #[serde(borrow)]
    intent: Option<Cow<'a, str>>,
    satisfaction: Option<i64>,
    knowledge: Option<bool>,
    resolved: Option<bool>,
    engaged: Option<bool>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Value {
    company: Option<f64>,
    party: Option<f64>,
}

impl Row {
    /// Parses one line; `None` when it is not an event of the wire format's shape (the floors
    /// skip what touchbase would reject).
    pub fn parse(line: &str) -> Option<Row> {
        let wire: Wire = serde_json::from_str(line).ok()?;
        let at = wire.at.parse::<jiff::Timestamp>().ok()?.as_microsecond();
        // An event without an id is known by a hash of its text (touchbase hashes its
        // canonical JSON: the same cost, near enough).
        let id = match wire.id {
            Some(id) => id.into_owned(),
            None => format!("h-{:016x}", touchbase_core::event::id_key(line)),
        };
        Some(Row {
            day: touchbase_core::period::day_of(at),
            key: touchbase_core::event::id_key(&id),
            id,
            point: wire.point.into_owned(),
            at,
            party: wire.party.map(Cow::into_owned),
            channel: wire.channel.map(Cow::into_owned),
            intent: wire.outcomes.intent.map(Cow::into_owned),
            satisfaction: wire.outcomes.satisfaction,
            knowledge: wire.outcomes.knowledge,
            resolved: wire.outcomes.resolved,
            engaged: wire.outcomes.engaged,
            value_company: wire.value.company.unwrap_or(0.0),
            value_party: wire.value.party.unwrap_or(0.0),
            cost: wire.cost.unwrap_or(0.0),
            duration_s: wire.duration_s,
            data: wire.data.map(|d| d.get().to_owned()),
            vars: wire.vars.map(|v| v.get().to_owned()),
        })
    }
}

/// Reads the events file line by line; calls `each` with every row; the number of lines
/// skipped (blank or not an event).
pub fn for_each_row(
    path: &Path,
    mut each: impl FnMut(Row) -> anyhow::Result<()>,
) -> anyhow::Result<u64> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read `{}`", path.display()))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut line = String::new();
    let mut skipped = 0;
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(skipped);
        }
        match Row::parse(line.trim_end_matches(['\n', '\r'])) {
            Some(row) => each(row)?,
            None => skipped += 1,
        }
    }
}

/// The time now, in microseconds since the epoch (the rows' `received_at`).
pub fn now_us() -> i64 {
    jiff::Timestamp::now().as_microsecond()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(line: &str, expected: Option<Row>) {
        assert_eq!(Row::parse(line), expected, "{line}");
    }

    #[test]
    fn parses_the_columns_of_a_line() {
        check(
            r#"{"id":"g-1-7","point":"web.order","at":"2026-03-01T09:30:00+01:00","party":"h-77",
               "outcomes":{"satisfaction":5,"resolved":true},"value":{"company":6.5},"cost":0.3,
               "data":{"basket": ["chain"]}}"#,
            Some(Row {
                day: 20513,
                key: touchbase_core::event::id_key("g-1-7"),
                id: "g-1-7".into(),
                point: "web.order".into(),
                at: 1_772_353_800_000_000,
                party: Some("h-77".into()),
                channel: None,
                intent: None,
                satisfaction: Some(5),
                knowledge: None,
                resolved: Some(true),
                engaged: None,
                value_company: 6.5,
                value_party: 0.0,
                cost: 0.3,
                duration_s: None,
                data: Some(r#"{"basket": ["chain"]}"#.into()),
                vars: None,
            }),
        );
    }

    #[test]
    fn skips_what_is_not_an_event() {
        check(r#"{"point":"web.order"}"#, None);
        check(r#"{"point":"web.order","at":"yesterday"}"#, None);
        check(
            r#"{"point":"web.order","at":"2026-03-01T09:30:00Z","x":1}"#,
            None,
        );
        check("not json", None);
    }

    #[test]
    fn an_event_without_id_is_known_by_its_text() {
        let line = r#"{"point":"web.order","at":"2026-03-01T09:30:00Z"}"#;
        let row = Row::parse(line).unwrap();
        assert_eq!(row, Row::parse(line).unwrap());
        assert!(row.id.starts_with("h-"));
    }
}
