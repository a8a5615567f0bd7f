//! `touchbase answers`, `touchbase why-buy` and `touchbase party`: people's work on open
//! answers, why customers buy, and erasing a party (R14).

use std::io::BufRead;

use touchbase_core::Actor;
use touchbase_core::rules::instant;
use touchbase_core::voice::{Family, Tag, TaggedBy};
use touchbase_store::Store;
use touchbase_store::answers::{self, Agreement};
use touchbase_store::ingest::now_us;

use crate::args::{AnswersCommand, PartyCommand, WhyBuyCommand};
use crate::output::{print_json, table};

fn tags(tags: &[Tag]) -> String {
    if tags.is_empty() {
        return "—".to_owned();
    }
    tags.iter()
        .map(|t| match t.by {
            TaggedBy::Rule => t.code.clone(),
            TaggedBy::Person => format!("{} (person)", t.code),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn share(s: Option<f64>) -> String {
    s.map_or("—".to_owned(), |s| format!("{:.1} %", s * 100.0))
}

fn print_agreement(a: &Agreement) {
    if a.coders.is_empty() {
        println!(
            "no one has coded a sample of {} answers yet: `touchbase answers code --sample N --coder NAME`",
            a.family.as_str()
        );
        return;
    }
    println!(
        "agreement on {} codes between {} over {} answers both coded:",
        a.family.as_str(),
        a.coders.join(" and "),
        a.sample
    );
    let mut t = table([
        "code",
        &format!("tagged by {}", a.coders[0]),
        &format!("tagged by {}", a.coders[1]),
        "kappa",
        "reliable",
    ]);
    for c in &a.codes {
        t.add_row([
            c.code.clone(),
            c.first_tagged.to_string(),
            c.second_tagged.to_string(),
            c.kappa
                .map_or("— (chance agreement is certain)".to_owned(), |k| {
                    format!("{k:.2}")
                }),
            if c.unreliable { "no" } else { "yes" }.to_owned(),
        ]);
    }
    println!("{t}");
}

pub async fn answers(
    store: &dyn Store,
    actor: &Actor,
    command: AnswersCommand,
) -> anyhow::Result<()> {
    match command {
        AnswersCommand::List {
            family,
            point,
            period,
            json,
        } => {
            let period = super::measure::requested(&period)?;
            let all =
                answers::list(store, actor, family.family(), period, point.as_deref()).await?;
            if json {
                return print_json(&all);
            }
            let mut t = table(["id", "point", "at", "answer", "tags"]);
            for a in &all {
                t.add_row([
                    a.id.clone(),
                    a.point
                        .clone()
                        .unwrap_or_else(|| "(senior team)".to_owned()),
                    instant(a.at),
                    a.text.clone(),
                    tags(&a.tags),
                ]);
            }
            println!("{t}");
            println!("{} answers", all.len());
        }
        AnswersCommand::Tag { id, code } => {
            let a = answers::tag(store, actor, &id, &code, true, now_us()).await?;
            println!("{} is tagged {}", a.id, tags(&a.tags));
        }
        AnswersCommand::Untag { id, code } => {
            let a = answers::tag(store, actor, &id, &code, false, now_us()).await?;
            println!("{} is tagged {}", a.id, tags(&a.tags));
        }
        AnswersCommand::Code {
            sample,
            coder,
            family,
        } => {
            let family = family.family();
            let drawn = answers::sample(store, actor, family, sample, &coder).await?;
            let book = touchbase_store::codebook::current(store)
                .await?
                .ok_or_else(|| {
                    anyhow::anyhow!("no codebook yet: `touchbase codebook import FILE` imports one")
                })?;
            let codes: Vec<String> = book.family(family).map(|c| c.key.clone()).collect();
            let todo: Vec<_> = drawn.iter().filter(|(_, given)| given.is_none()).collect();
            println!(
                "sample of {} {} answers: {} coded by {coder} already, {} to code",
                drawn.len(),
                family.as_str(),
                drawn.len() - todo.len(),
                todo.len()
            );
            println!("codes: {}", codes.join(" "));
            let stdin = std::io::stdin();
            let mut lines = stdin.lock().lines();
            let mut coded = 0;
            'answers: for (i, (a, _)) in todo.iter().enumerate() {
                println!("[{}/{}] {}: {}", i + 1, todo.len(), a.id, a.text);
                loop {
                    let Some(line) = lines.next() else {
                        break 'answers;
                    };
                    let line = line?;
                    let line = line.trim();
                    if line.is_empty() {
                        break 'answers;
                    }
                    let given: Vec<String> = if line == "-" {
                        Vec::new()
                    } else {
                        line.split([',', ' '])
                            .filter(|c| !c.is_empty())
                            .map(str::to_owned)
                            .collect()
                    };
                    if let Some(bad) = given.iter().find(|c| !codes.contains(c)) {
                        println!(
                            "no {} code `{bad}`; the codes are: {} (`-` for none)",
                            family.as_str(),
                            codes.join(" ")
                        );
                        continue;
                    }
                    answers::code(
                        store,
                        actor,
                        family,
                        &coder,
                        &[(a.id.clone(), given)],
                        now_us(),
                    )
                    .await?;
                    coded += 1;
                    break;
                }
            }
            println!("{coded} answers coded by {coder}");
            print_agreement(&answers::agreement(store, actor, family).await?);
        }
        AnswersCommand::Agreement { family, json } => {
            let a = answers::agreement(store, actor, family.family()).await?;
            if json {
                return print_json(&a);
            }
            print_agreement(&a);
        }
    }
    Ok(())
}

pub async fn why_buy(
    store: &dyn Store,
    actor: &Actor,
    command: WhyBuyCommand,
) -> anyhow::Result<()> {
    match command {
        WhyBuyCommand::Add { text } => {
            let s = answers::add_statement(store, actor, &text, now_us()).await?;
            println!("statement {} kept, from {} ({})", s.id, s.actor, s.role);
        }
        WhyBuyCommand::List { period, json } => {
            let period = super::measure::requested(&period)?;
            let mut all = answers::list(store, actor, Family::WhyBuy, period, None).await?;
            all.retain(|a| a.point.is_none());
            if json {
                return print_json(&all);
            }
            let mut t = table(["id", "at", "answer", "codes"]);
            for a in &all {
                t.add_row([a.id.clone(), instant(a.at), a.text.clone(), tags(&a.tags)]);
            }
            println!("{t}");
        }
        WhyBuyCommand::Summary { period, json } => {
            let period = super::measure::requested(&period)?;
            let r = answers::why_buy_summary(store, actor, period).await?;
            if json {
                return print_json(&r);
            }
            let s = &r.summary;
            println!(
                "why customers buy, {} to {} (codebook version {}):",
                instant(period.from),
                instant(period.to),
                r.codebook.map_or("none".to_owned(), |v| v.to_string())
            );
            let mut t = table(["", "answers", "coded", "interaction", "product"]);
            for (name, g) in [("senior team", &s.executives), ("customers", &s.customers)] {
                t.add_row([
                    name.to_owned(),
                    g.answers.to_string(),
                    g.coded.to_string(),
                    share(g.interaction_share),
                    share(g.product_share),
                ]);
            }
            println!("{t}");
            let mut t = table(["code", "senior team", "customers", "gap", "points"]);
            for g in &s.gap {
                let (executives, customers) = touchbase_report::why_buy_shares(s, &g.code);
                t.add_row([
                    g.code.clone(),
                    share(executives),
                    share(customers),
                    g.gap
                        .map_or("—".to_owned(), |g| format!("{:+.1} pts", g * 100.0)),
                    touchbase_report::why_buy_points(s, &g.code).join(", "),
                ]);
            }
            println!("{t}");
        }
    }
    Ok(())
}

pub async fn party(store: &dyn Store, actor: &Actor, command: PartyCommand) -> anyhow::Result<()> {
    match command {
        PartyCommand::Forget { id } => {
            let f = answers::forget(store, actor, &id).await?;
            println!(
                "forgot the party: {} responses kept their scores and lost their identity and texts, {} invitations and {} suppressions lost the party, {} drafts deleted{}",
                f.responses,
                f.invitations,
                f.suppressions,
                f.drafts,
                if f.key_customer {
                    "; no longer a key customer"
                } else {
                    ""
                }
            );
        }
    }
    Ok(())
}
