//! `touchbase survey` and `touchbase responses`: the voice of the customer (R14).

use std::time::Instant;

use touchbase_core::voice::{Question, Survey};
use touchbase_core::{Actor, Permission};
use touchbase_store::Store;
use touchbase_store::ingest::Input;
use touchbase_store::responses::{self, ResponseSummary};
use touchbase_store::surveys;

use crate::args::{ResponsesCommand, SurveyCommand};
use crate::output::{print_json, read_input, table};
use crate::source::Source;

/// Responses written per transaction.
const BATCH: usize = 10_000;

fn questions(s: &Survey) -> String {
    s.questions
        .iter()
        .map(Question::key)
        .collect::<Vec<_>>()
        .join(", ")
}

pub async fn survey(
    store: &dyn Store,
    actor: &Actor,
    command: SurveyCommand,
) -> anyhow::Result<()> {
    match command {
        SurveyCommand::Add { file } => {
            let text = read_input(&file)?;
            let survey = touchbase_core::file::parse_survey(&text)
                .map_err(|e| anyhow::anyhow!("`{}`: {e}", file.display()))?;
            let stored = surveys::put(store, actor, &survey).await?;
            println!(
                "survey {} stored (version {}): asks {} about {}.",
                stored.key,
                stored.version,
                questions(&stored),
                stored.points.join(", ")
            );
        }
        SurveyCommand::List { json } => {
            let all = surveys::list(store, actor).await?;
            if json {
                return print_json(&all);
            }
            if all.is_empty() {
                println!("no surveys; `touchbase survey add --file FILE` adds one");
                return Ok(());
            }
            let mut t = table(["key", "name", "points", "questions", "identity", "version"]);
            for s in &all {
                t.add_row([
                    s.key.clone(),
                    s.name.clone(),
                    s.points.join(", "),
                    questions(s),
                    serde_json::to_value(s.identity)?
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    s.version.to_string(),
                ]);
            }
            println!("{t}");
        }
        SurveyCommand::Show { key, json } => {
            let s = surveys::get(store, actor, &key).await?;
            if json {
                return print_json(&s);
            }
            print!("{}", serde_yaml_ng::to_string(&s)?);
        }
    }
    Ok(())
}

/// What `responses import --json` prints.
#[derive(serde::Serialize)]
struct ImportReport {
    accepted: u64,
    duplicates: u64,
    rejected: u64,
    responses_per_s: f64,
}

pub async fn responses(
    store: &dyn Store,
    actor: &Actor,
    command: ResponsesCommand,
) -> anyhow::Result<()> {
    let ResponsesCommand::Import { file, format, json } = command;
    actor.require(Permission::Ingest)?;
    let source = Source::open(&file, format)?;
    let name = source.name.clone();
    let progress = super::events::progress_bar(source.size, json);
    let started = Instant::now();
    let mut summary = ResponseSummary::default();
    let mut batch: Vec<Input> = Vec::with_capacity(BATCH);
    let mut inputs = source.inputs(&progress)?;
    loop {
        let next = inputs.next();
        let end = next.is_none();
        match next {
            Some(Ok(input)) => batch.push(input),
            Some(Err(e)) => {
                progress.finish_and_clear();
                let taken = summary.accepted + summary.duplicates + summary.rejected;
                anyhow::bail!("{e:#}; the {taken} responses read before it were taken");
            }
            None => {}
        }
        if batch.len() >= BATCH || (end && !batch.is_empty()) {
            let now = touchbase_store::ingest::now_us();
            let outcomes = responses::take(store, actor, &batch, now).await?;
            summary.add(&outcomes);
            progress.set_message(format!(
                "{} responses",
                summary.accepted + summary.duplicates + summary.rejected
            ));
            batch.clear();
        }
        if end {
            break;
        }
    }
    progress.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    let total = summary.accepted + summary.duplicates + summary.rejected;
    let rate = if seconds > 0.0 {
        total as f64 / seconds
    } else {
        0.0
    };
    if json {
        return print_json(&ImportReport {
            accepted: summary.accepted,
            duplicates: summary.duplicates,
            rejected: summary.rejected,
            responses_per_s: (rate * 10.0).round() / 10.0,
        });
    }
    println!(
        "{name}: {} accepted, {} duplicates, {} rejected in {seconds:.1} s ({rate:.0} responses/s)",
        summary.accepted, summary.duplicates, summary.rejected
    );
    if summary.rejected > 0 {
        println!(
            "rejected: kept with their reasons; `touchbase rejects list`, then `touchbase rejects replay` once fixed"
        );
    }
    Ok(())
}
