//! `touchbase report`: the executive report (R17) written to a file.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use touchbase_core::Actor;
use touchbase_report::{Format, Options};
use touchbase_store::{Store, inventory};

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The first day (or RFC 3339 instant) reported on. [default: one calendar month before
    /// --to; with --to also left out, the first of last month]
    #[arg(long, value_name = "DATE")]
    pub from: Option<String>,
    /// The first day (or instant) after the period. [default: the first of this month (UTC);
    /// with --from given, now]
    #[arg(long, value_name = "DATE")]
    pub to: Option<String>,
    /// html (one self-contained page with charts), md or json. [default: from --out's
    /// extension]
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,
    /// The most frequent journeys to show.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub journeys: usize,
    /// The file to write (`-` for standard output).
    #[arg(long, short)]
    pub out: PathBuf,
}

/// A report format on the command line.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum FormatArg {
    Html,
    Md,
    Json,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Format {
        match f {
            FormatArg::Html => Format::Html,
            FormatArg::Md => Format::Markdown,
            FormatArg::Json => Format::Json,
        }
    }
}

pub async fn run(store: &dyn Store, actor: &Actor, args: ReportArgs) -> anyhow::Result<()> {
    let format = match (args.format, Format::from_path(&args.out)) {
        (Some(f), _) => Format::from(f),
        (None, Some(f)) => f,
        (None, None) => bail!(
            "--format: cannot tell the format from `{}`; name the file .html, .md or .json, or give --format html|md|json",
            args.out.display()
        ),
    };
    let now = jiff::Timestamp::now();
    let period = touchbase_report::default_period(
        args.from.as_deref(),
        args.to.as_deref(),
        now.as_microsecond(),
    )
    .context("--from/--to")?;
    let inventory = inventory::get(store).await?.value;
    let options = Options {
        period,
        generated_at: now.round(jiff::Unit::Second).unwrap_or(now).to_string(),
        top_journeys: args.journeys,
    };
    let report = touchbase_report::build(store, actor, &inventory, &options).await?;
    let text = touchbase_report::render(&report, format)?;
    if args.out.as_os_str() == "-" {
        print!("{text}");
        return Ok(());
    }
    std::fs::write(&args.out, &text)
        .with_context(|| format!("--out: cannot write {}", args.out.display()))?;
    eprintln!(
        "wrote {} ({} interactions from {} to {}; {} invest, {} improve, {} eliminate)",
        args.out.display(),
        report.headline.volume,
        report.period.from,
        report.period.to,
        report.headline.invest,
        report.headline.improve,
        report.headline.eliminate,
    );
    Ok(())
}
