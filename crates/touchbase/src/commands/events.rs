//! `touchbase import`, `rejects`, `undocumented`: interaction events in, what was refused, and
//! what was seen at points that are not live.

use std::io::{BufRead, BufReader, IsTerminal, Read};
use std::time::Instant;

use anyhow::Context;
use serde::Serialize;
use touchbase_core::{Actor, Permission};
use touchbase_store::Store;
use touchbase_store::ingest::{self, Input, Summary};

use crate::args::{ImportArgs, RejectsCommand, UndocumentedArgs};
use crate::output::{print_json, table};

/// The summary `import --json` prints.
#[derive(Debug, Serialize)]
struct ImportReport {
    accepted: u64,
    duplicates: u64,
    held: u64,
    rejected: u64,
    events_per_s: f64,
}

pub async fn import(store: &dyn Store, actor: &Actor, args: ImportArgs) -> anyhow::Result<()> {
    actor.require(Permission::Ingest)?;
    let name = args.file.display().to_string();
    let (reader, size): (Box<dyn Read>, Option<u64>) = if name == "-" {
        (Box::new(std::io::stdin()), None)
    } else {
        let file =
            std::fs::File::open(&args.file).with_context(|| format!("cannot read `{name}`"))?;
        let size = file.metadata().ok().map(|m| m.len());
        (Box::new(file), size)
    };
    anyhow::ensure!(
        !name.ends_with(".gz") && !name.ends_with(".csv"),
        "`{name}`: only NDJSON (one JSON event per line) is read for now; gzip and CSV are coming"
    );
    let progress = progress_bar(size, args.json);
    let started = Instant::now();
    let mut lines = BufReader::new(reader);
    let mut line_no = 0u64;
    let inputs = std::iter::from_fn(|| {
        loop {
            let mut line = String::new();
            match lines.read_line(&mut line) {
                Ok(0) => return None,
                Ok(read) => {
                    line_no += 1;
                    progress.inc(read as u64);
                    let text = line.trim_end_matches(['\n', '\r']);
                    if !text.trim().is_empty() {
                        return Some(Ok(Input {
                            raw: text.to_owned(),
                            source: format!("file:{name}:{line_no}"),
                        }));
                    }
                }
                Err(e) => {
                    return Some(Err(
                        anyhow::Error::new(e).context(format!("cannot read `{name}`"))
                    ));
                }
            }
        }
    });
    let summary = ingest_all(store, actor, inputs, args.batch, |summary| {
        progress.set_message(format!("{} events", summary.total()));
    })
    .await?;
    progress.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    let rate = if seconds > 0.0 {
        summary.total() as f64 / seconds
    } else {
        0.0
    };
    if args.json {
        return print_json(&ImportReport {
            accepted: summary.accepted,
            duplicates: summary.duplicates,
            held: summary.held,
            rejected: summary.rejected,
            events_per_s: (rate * 10.0).round() / 10.0,
        });
    }
    println!(
        "{name}: {} accepted, {} duplicates, {} held, {} rejected in {seconds:.1} s ({rate:.0} events/s)",
        summary.accepted, summary.duplicates, summary.held, summary.rejected
    );
    if summary.held > 0 {
        println!(
            "held: interactions at points that are not live; `touchbase undocumented` lists them"
        );
    }
    if summary.rejected > 0 {
        println!(
            "rejected: kept with their reasons; `touchbase rejects list`, then `touchbase rejects replay` once fixed"
        );
    }
    Ok(())
}

/// Takes inputs in through the one ingest path (decode → check → write), `batch` per
/// transaction; `each_batch` hears the running summary after each. Returns the summary.
pub async fn ingest_all(
    store: &dyn Store,
    actor: &Actor,
    inputs: impl Iterator<Item = anyhow::Result<Input>>,
    batch: usize,
    mut each_batch: impl FnMut(&Summary),
) -> anyhow::Result<Summary> {
    let checker = ingest::checker(store).await?;
    let mut summary = Summary::default();
    let mut pending = Vec::with_capacity(batch.max(1));
    let mut inputs = inputs.peekable();
    while let Some(input) = inputs.next() {
        pending.push(input?);
        if pending.len() >= batch.max(1) || inputs.peek().is_none() {
            let outcomes = ingest::ingest(store, actor, &checker, &pending).await?;
            summary.add(&outcomes);
            pending.clear();
            each_batch(&summary);
        }
    }
    Ok(summary)
}

/// A progress bar on a terminal (bytes read, rate, ETA); hidden otherwise.
fn progress_bar(size: Option<u64>, quiet: bool) -> indicatif::ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = match size {
        Some(size) => indicatif::ProgressBar::new(size),
        None => indicatif::ProgressBar::new_spinner(),
    };
    let style = indicatif::ProgressStyle::with_template(
        "{bar:30} {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta} {msg}",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    bar
}

fn at(us: i64) -> String {
    jiff::Timestamp::from_microsecond(us)
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%SZ").to_string())
        .unwrap_or_default()
}

pub async fn rejects(
    store: &dyn Store,
    actor: &Actor,
    command: RejectsCommand,
) -> anyhow::Result<()> {
    match command {
        RejectsCommand::List { all, json } => {
            actor.require(Permission::Export)?;
            let rejects: Vec<_> = store
                .rejects()
                .await?
                .into_iter()
                .filter(|r| all || r.replayed_at.is_none())
                .collect();
            if json {
                return print_json(&rejects);
            }
            let mut t = table(["id", "received", "source", "reasons"]);
            for r in &rejects {
                t.add_row([
                    r.id.to_string(),
                    at(r.received_at),
                    r.source.clone(),
                    r.reasons.join("; "),
                ]);
            }
            println!("{t}\n{} rejects", rejects.len());
        }
        RejectsCommand::Show { id } => {
            actor.require(Permission::Export)?;
            let reject = store
                .rejects()
                .await?
                .into_iter()
                .find(|r| r.id == id)
                .ok_or_else(|| {
                    anyhow::anyhow!("no reject {id}: `touchbase rejects list` shows them")
                })?;
            println!(
                "reject {} from {}, received {}",
                reject.id,
                reject.source,
                at(reject.received_at)
            );
            if let Some(when) = reject.replayed_at {
                println!("replayed {}", at(when));
            }
            for reason in &reject.reasons {
                println!("  - {reason}");
            }
            println!("input:\n{}", reject.raw);
        }
        RejectsCommand::Replay { id } => {
            let done = ingest::replay(store, actor, id).await?;
            println!(
                "{} taken, {} still rejected",
                done.taken, done.still_rejected
            );
        }
    }
    Ok(())
}

pub async fn undocumented(
    store: &dyn Store,
    actor: &Actor,
    args: UndocumentedArgs,
) -> anyhow::Result<()> {
    actor.require(Permission::Export)?;
    let held = store.held().await?;
    if let Some(key) = args.draft {
        let point = held.iter().find(|h| h.point == key).ok_or_else(|| {
            anyhow::anyhow!(
                "no interactions are held for `{key}`: `touchbase undocumented` lists the keys"
            )
        })?;
        let days = ((point.last_at - point.first_at) as f64 / 86_400_000_000.0).max(1.0);
        let per_month = (point.volume as f64 * 30.4375 / days).round();
        print!(
            "# Draft proposal for the undocumented point {key}: {volume} interactions seen from {first} to {last}.\n\
             # Complete the fields marked TODO, then: touchbase point add --file THIS_FILE\n\
             key: {key}\nname: TODO\ndescription: TODO what is interchanged here\nparty: TODO\nfunction: TODO\n\
             channel: TODO\nmode: TODO  # machine | people | hybrid\nowner: TODO\nstatus: proposed\n\
             rationale: TODO why the organization should keep this point\n\
             expected:\n  volume_per_month: {per_month}  # observed\n  value_company: 0  # TODO\n  value_party: 0  # TODO\n  cost: 0  # TODO\n",
            volume = point.volume,
            first = at(point.first_at),
            last = at(point.last_at),
        );
        return Ok(());
    }
    if args.json {
        return print_json(&held);
    }
    let mut t = table(["point", "volume", "first seen", "last seen", "sample event"]);
    for h in &held {
        t.add_row([
            h.point.clone(),
            h.volume.to_string(),
            at(h.first_at),
            at(h.last_at),
            h.sample_id.clone(),
        ]);
    }
    println!(
        "{t}\n{} undocumented points: propose one with `touchbase undocumented --draft KEY`",
        held.len()
    );
    Ok(())
}
