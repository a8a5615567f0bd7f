//! `touchbase import`, `rejects`, `undocumented`: interaction events in, what was refused, and
//! what was seen at points that are not live.

use std::io::IsTerminal;
use std::time::Instant;

use anyhow::Context;
use serde::Serialize;
use touchbase_core::event::Checker;
use touchbase_core::{Actor, Permission};
use touchbase_store::ingest::{self, Input, Prepared, Summary};
use touchbase_store::{Store, Versioned};

use crate::args::{ImportArgs, RejectsCommand, UndocumentedArgs};
use crate::output::{print_json, table};
use crate::source::Source;

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
    let source = Source::open(&args.file, args.format)?;
    let name = source.name.clone();
    let progress = progress_bar(source.size, args.json);
    let started = Instant::now();
    let firing = if args.fire_rules {
        touchbase_core::event::Firing::Always
    } else {
        touchbase_core::event::Firing::Live
    };
    let (summary, failed) = ingest_all(
        store,
        source.inputs(&progress)?,
        args.batch,
        firing,
        |summary| {
            progress.set_message(format!("{} events", summary.total()));
        },
    )
    .await?;
    progress.finish_and_clear();
    if let Some(e) = failed {
        // What was read before the error is on record: say so.
        if summary.total() > 0 {
            anyhow::bail!(
                "{e:#}; the {} inputs read before it were taken ({} of them rejected)",
                summary.total(),
                summary.rejected
            );
        }
        return Err(e);
    }
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
/// transaction. The inputs are read and checked on a thread of their own, a batch ahead of the
/// write (the CPU parses while the store writes). `each_batch` hears the running summary after
/// each. A read error stops the reading: it is returned beside the summary of what was read
/// before it, which is on record.
pub async fn ingest_all(
    store: &dyn Store,
    inputs: impl Iterator<Item = anyhow::Result<Input>> + Send + 'static,
    batch: usize,
    firing: touchbase_core::event::Firing,
    mut each_batch: impl FnMut(&Summary),
) -> anyhow::Result<(Summary, Option<anyhow::Error>)> {
    let mut checker = ingest::checker(store).await?;
    checker.value = checker.value.firing(firing);
    // One batch waits while one is written: at most three in memory with the one being read.
    let (send, mut receive) = tokio::sync::mpsc::channel(1);
    std::thread::Builder::new()
        .name("touchbase-reader".into())
        .spawn(move || read_all(inputs, batch.max(1), &checker, &send))
        .context("cannot start the thread that reads the events")?;
    let mut summary = Summary::default();
    loop {
        match receive.recv().await {
            Some(Read::Batch(prepared)) => match ingest::commit(store, prepared).await {
                Ok(written) => {
                    summary.add(&written.value);
                    each_batch(&summary);
                }
                Err(e) => return Err(stopped(e, &summary)),
            },
            Some(Read::End(failed)) => return Ok((summary, failed)),
            None => anyhow::bail!(
                "the reading of the events stopped unexpectedly; the {} inputs read before were \
                 taken",
                summary.total()
            ),
        }
    }
}

/// A write that failed, said with what was stored before it and how to complete the set:
/// nothing of the failed batch was kept (or its commit was not confirmed), and running the same
/// import again skips what is on record as duplicates and takes the rest.
fn stopped(e: touchbase_store::OpError, summary: &Summary) -> anyhow::Error {
    let stored = format!(
        "{} events were stored before it ({} accepted, {} held; {} duplicates already on record, \
         {} rejected)",
        summary.accepted + summary.held,
        summary.accepted,
        summary.held,
        summary.duplicates,
        summary.rejected
    );
    let again = "run the same import again to complete the set: what is on record is skipped \
                 as duplicates and the rest is taken";
    match &e {
        touchbase_store::OpError::Store(s) if s.is_full() => anyhow::anyhow!(
            "the disk is full, the store could not write more ({s}); {stored}; free space, then {again}"
        ),
        touchbase_store::OpError::Store(s) if s.is_unavailable() => anyhow::anyhow!(
            "the store became unavailable ({s}); {stored}; once it is back, {again}"
        ),
        _ => anyhow::anyhow!("{e}; {stored}; {again}"),
    }
}

/// What the reading thread hands to the writer.
enum Read {
    Batch(Prepared),
    /// The end of the inputs, or the error that stopped the reading.
    End(Option<anyhow::Error>),
}

/// Reads and checks the inputs batch by batch, handing each to `send`, then the end; stops
/// when the writer is gone.
fn read_all(
    mut inputs: impl Iterator<Item = anyhow::Result<Input>>,
    size: usize,
    checker: &Versioned<Checker>,
    send: &tokio::sync::mpsc::Sender<Read>,
) {
    let mut failed = None;
    loop {
        let batch = read_batch(&mut inputs, size, checker, &mut failed);
        let last = batch.len() < size || failed.is_some();
        if !batch.is_empty() && send.blocking_send(Read::Batch(batch)).is_err() {
            return;
        }
        if last {
            let _ = send.blocking_send(Read::End(failed));
            return;
        }
    }
}

/// Reads up to `size` inputs and checks them; a read error stops the reading (in `failed`),
/// and what was read before it is still returned.
fn read_batch(
    inputs: &mut impl Iterator<Item = anyhow::Result<Input>>,
    size: usize,
    checker: &Versioned<Checker>,
    failed: &mut Option<anyhow::Error>,
) -> Prepared {
    let mut batch = Vec::with_capacity(size);
    for input in inputs.by_ref() {
        match input {
            Ok(input) => batch.push(input),
            Err(e) => {
                *failed = Some(e);
                break;
            }
        }
        if batch.len() >= size {
            break;
        }
    }
    ingest::prepare_batch(checker, &batch)
}

/// A progress bar on a terminal (bytes read, rate, ETA); hidden otherwise.
pub(crate) fn progress_bar(size: Option<u64>, quiet: bool) -> indicatif::ProgressBar {
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
            let mut t = table(["id", "received", "source", "bytes", "reasons"]);
            for r in &rejects {
                t.add_row([
                    r.id.to_string(),
                    at(r.received_at),
                    r.source.clone(),
                    r.length.to_string(),
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
            println!("SHA-256 {} of {} bytes", reject.sha256, reject.length);
            if reject.truncated {
                println!(
                    "input (its first {} bytes):\n{}",
                    reject.raw.len(),
                    reject.raw
                );
            } else {
                println!("input:\n{}", reject.raw);
            }
        }
        RejectsCommand::Replay { id } => {
            let done = ingest::replay(store, actor, id).await?;
            print!(
                "{} taken, {} still rejected",
                done.taken, done.still_rejected
            );
            if done.not_replayable > 0 {
                print!(
                    ", {} not replayable (their text is not exactly what was received)",
                    done.not_replayable
                );
            }
            println!();
        }
        RejectsCommand::Prune { before } => {
            let at_us = touchbase_core::period::parse_bound(&before)
                .map_err(|e| anyhow::anyhow!("--before: {e}"))?;
            let pruned = ingest::prune_rejects(store, actor, at_us).await?;
            println!("{pruned} rejects received before {} removed", at(at_us));
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
