//! `touchbase gen`: synthetic interactions for the demo organization, as NDJSON.

use std::io::{BufWriter, IsTerminal, Write};
use std::time::Instant;

use anyhow::Context;
use touchbase_core::{Inventory, file};
use touchbase_synth::{Generator, Options, Period};

use crate::args::GenArgs;
use crate::demo;
use crate::output::thousands;

/// The demo organization's inventory.
pub fn demo_inventory() -> anyhow::Result<Inventory> {
    file::parse_inventory(demo::INVENTORY).context("the demo inventory is broken")
}

/// The period of `--from` and `--days`: by default the days before 2026-11-01. A period that
/// ends after now is refused: its events would be in the future.
fn period(args: &GenArgs) -> anyhow::Result<Period> {
    let period = match args.from {
        Some(from) => Period::new(from, args.days),
        None => Period::ending(Period::DEFAULT_END, args.days),
    }
    .context("invalid --from/--days")?;
    anyhow::ensure!(
        period.end_instant() <= jiff::Timestamp::now(),
        "the period {} to {} ends after now: its events would be in the future; choose an earlier --from or fewer --days",
        period.from(),
        period.end()
    );
    Ok(period)
}

pub fn run(args: GenArgs) -> anyhow::Result<()> {
    let inventory = demo_inventory()?;
    let options = Options {
        events: args.events,
        seed: args.seed,
        period: period(&args)?,
    };
    let generator = Generator::new(&inventory, options)?;
    let (out, name): (Box<dyn Write>, String) = match &args.out {
        Some(path) => (
            Box::new(
                std::fs::File::create(path)
                    .with_context(|| format!("cannot write `{}`", path.display()))?,
            ),
            path.display().to_string(),
        ),
        None => (Box::new(std::io::stdout().lock()), "standard output".into()),
    };
    let mut out = BufWriter::with_capacity(1 << 16, out);
    let progress = progress_bar(generator.total());
    let started = Instant::now();
    let mut written = 0u64;
    for event in generator {
        serde_json::to_writer(&mut out, &event)
            .map_err(std::io::Error::from)
            .and_then(|()| out.write_all(b"\n"))
            .with_context(|| format!("cannot write to {name}"))?;
        written += 1;
        if written.is_multiple_of(8192) {
            progress.set_position(written);
        }
    }
    out.flush()
        .with_context(|| format!("cannot write to {name}"))?;
    progress.finish_and_clear();
    if args.out.is_some() {
        let seconds = started.elapsed().as_secs_f64();
        eprintln!(
            "wrote {} interactions to {name} in {seconds:.1} s ({:.0} events/s)",
            thousands(written),
            written as f64 / seconds.max(1e-9)
        );
    }
    Ok(())
}

/// A progress bar on a terminal; hidden otherwise.
pub fn progress_bar(total: u64) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total);
    let style = indicatif::ProgressStyle::with_template(
        "{bar:30} {human_pos}/{human_len} events {per_sec} eta {eta}",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    bar
}
