//! `touchbase survey` and `touchbase responses`: the voice of the customer (R14).

use std::time::Instant;

use touchbase_core::voice::{Question, Survey};
use touchbase_core::{Actor, Permission};
use touchbase_store::Store;
use touchbase_store::ingest::Input;
use touchbase_store::responses::{self, ResponseSummary};
use touchbase_store::surveys;

use touchbase_core::endpoint::Keys;
use touchbase_core::rules::instant;
use touchbase_store::ingest::now_us;
use touchbase_store::invitations::{self, KeyCustomer};

use crate::args::{CodebookCommand, CustomersCommand, ResponsesCommand, SurveyCommand, ThemesArgs};
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
    keys: &Keys,
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
        SurveyCommand::Invite {
            survey,
            period,
            base,
            json,
            csv,
        } => {
            let period = super::measure::requested(&period)?;
            let mut report =
                invitations::invite(store, actor, keys, &survey, period, now_us()).await?;
            let base = base.trim_end_matches('/');
            for issued in &mut report.invited {
                issued.link = format!("{base}{}", issued.link);
            }
            if json {
                return print_json(&report);
            }
            if csv {
                let mut out = csv::Writer::from_writer(std::io::stdout());
                out.write_record(["invitation", "party", "point", "at", "link", "expires"])?;
                for i in &report.invited {
                    out.write_record([
                        i.invitation.id.as_str(),
                        i.invitation.party.as_deref().unwrap_or_default(),
                        i.invitation.point.as_str(),
                        &instant(i.invitation.at),
                        i.link.as_str(),
                        &instant(i.expires_at.saturating_mul(1_000_000)),
                    ])?;
                }
                out.flush()?;
                return Ok(());
            }
            let suppressed: u64 = report.suppressed.values().sum();
            println!(
                "survey {}, {} to {}: {} eligible interactions of key customers, {} invited, {} suppressed, {} decided before",
                report.survey,
                instant(report.from),
                instant(report.to),
                report.eligible,
                report.invited.len(),
                suppressed,
                report.decided_before
            );
            for (reason, n) in &report.suppressed {
                println!("  suppressed {n}: {reason}");
            }
            for i in &report.invited {
                println!(
                    "  {}  {}  {}  {}",
                    i.invitation.party.as_deref().unwrap_or("-"),
                    i.invitation.point,
                    instant(i.invitation.at),
                    i.link
                );
            }
            if let Some(first) = report.invited.first() {
                println!(
                    "(each link opens that one invitation's page until {}; links are shown only now)",
                    instant(first.expires_at.saturating_mul(1_000_000))
                );
            }
        }
        SurveyCommand::Invitations { survey, json } => {
            surveys::get(store, actor, &survey).await?;
            let all = invitations::invitations(store, actor, Some(&survey)).await?;
            if json {
                return print_json(&all);
            }
            let mut t = table(["invitation", "party", "point", "at", "version", "answered"]);
            for i in &all {
                t.add_row([
                    i.id.clone(),
                    i.party.clone().unwrap_or_default(),
                    i.point.clone(),
                    instant(i.at),
                    i.version.to_string(),
                    if i.answered { "yes" } else { "no" }.to_owned(),
                ]);
            }
            println!("{t}");
        }
    }
    Ok(())
}

pub async fn customers(
    store: &dyn Store,
    actor: &Actor,
    command: CustomersCommand,
) -> anyhow::Result<()> {
    match command {
        CustomersCommand::Import { file } => {
            let text = read_input(&file)?;
            let mut rows = csv::Reader::from_reader(text.as_bytes());
            let headers = rows.headers()?.clone();
            let column = |name: &str| {
                headers.iter().position(|h| h.trim() == name).ok_or_else(|| {
                    anyhow::anyhow!(
                        "`{}`: the header has no `{name}` column; the columns are party and segment",
                        file.display()
                    )
                })
            };
            let (party, segment) = (column("party")?, column("segment")?);
            let now = now_us();
            let mut customers = Vec::new();
            for (i, row) in rows.records().enumerate() {
                let row =
                    row.map_err(|e| anyhow::anyhow!("`{}` row {}: {e}", file.display(), i + 2))?;
                customers.push(KeyCustomer {
                    party: row.get(party).unwrap_or_default().trim().to_owned(),
                    segment: row.get(segment).unwrap_or_default().trim().to_owned(),
                    source: "file".to_owned(),
                    added_at: now,
                });
            }
            let total = invitations::put_key_customers(store, actor, &customers).await?;
            println!(
                "{} key customers from {}; {total} on record",
                customers.len(),
                file.display()
            );
        }
        CustomersCommand::Top { n, period, segment } => {
            let period = super::measure::requested(&period)?;
            let chosen =
                invitations::top_customers(store, actor, n, period, &segment, now_us()).await?;
            println!(
                "{} key customers by value from {} to {} (segment {segment}): {}",
                chosen.len(),
                instant(period.from),
                instant(period.to),
                chosen
                    .iter()
                    .map(|c| c.party.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        CustomersCommand::List { json } => {
            let all = invitations::key_customers(store, actor).await?;
            if json {
                return print_json(&all);
            }
            let mut t = table(["party", "segment", "source"]);
            for c in &all {
                t.add_row([c.party.clone(), c.segment.clone(), c.source.clone()]);
            }
            println!("{t}");
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

pub async fn codebook(
    store: &dyn Store,
    actor: &Actor,
    command: CodebookCommand,
) -> anyhow::Result<()> {
    match command {
        CodebookCommand::Import { file } => {
            let text = read_input(&file)?;
            let done = touchbase_store::codebook::import(store, actor, &text, now_us()).await?;
            if done.new {
                println!(
                    "codebook version {} imported: {} codes; every answer is coded by it now",
                    done.version, done.codes
                );
            } else {
                println!(
                    "codebook version {} is on record already: nothing changed",
                    done.version
                );
            }
        }
        CodebookCommand::Export { out } => {
            let Some(doc) = touchbase_store::codebook::export(store, actor).await? else {
                anyhow::bail!("no codebook yet: `touchbase codebook import FILE` imports one");
            };
            match out {
                Some(path) => std::fs::write(&path, doc)
                    .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?,
                None => print!("{doc}"),
            }
        }
    }
    Ok(())
}

pub async fn themes(store: &dyn Store, actor: &Actor, args: ThemesArgs) -> anyhow::Result<()> {
    let period = super::measure::requested(&args.period)?;
    let scope = match &args.point {
        Some(key) => touchbase_store::measure::Scope::Point(key.clone()),
        None => touchbase_store::measure::Scope::Organization,
    };
    let found = touchbase_store::codebook::themes_of(store, actor, &scope, period).await?;
    if args.json {
        return print_json(&found);
    }
    let Some(version) = found.codebook else {
        anyhow::bail!("no codebook yet: `touchbase codebook import FILE` imports one");
    };
    println!(
        "themes of {} from {} to {}: {} responses, {} with a change answer (codebook version {version})",
        args.point.as_deref().unwrap_or("the organization"),
        instant(period.from),
        instant(period.to),
        found.responses,
        found.with_change
    );
    let mut t = table(["code", "mentions", "share", "nps impact", "reliable"]);
    for th in &found.themes {
        t.add_row([
            th.code.clone(),
            th.mentions.to_string(),
            th.share
                .map_or("—".to_owned(), |s| format!("{:.1} %", s * 100.0)),
            th.nps_impact.map_or("—".to_owned(), |n| format!("{n:+.1}")),
            if th.unreliable {
                "no: kappa < 0.6".to_owned()
            } else {
                "yes".to_owned()
            },
        ]);
    }
    println!("{t}");
    if found.verbatims {
        for th in found.themes.iter().filter(|t| !t.verbatims.is_empty()) {
            println!("{}:", th.code);
            for v in &th.verbatims {
                println!("  “{v}”");
            }
        }
    } else if found.with_change > 0 {
        println!("(no verbatims: fewer change answers than the setting survey.min_responses)");
    }
    Ok(())
}
