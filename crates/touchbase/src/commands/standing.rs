//! `touchbase standing`: the standing orders (R19) — the scheduler's step, the orders and
//! their runs, the changes staff make, and the party's self-service link.

use touchbase_core::Actor;
use touchbase_core::endpoint::Keys;
use touchbase_core::rules::instant;
use touchbase_core::standing::{Edit, Order, Run};
use touchbase_store::scheduler::{self, StepReport};
use touchbase_store::standing::{self, By, OrderFilter};
use touchbase_store::{Store, ingest::now_us};

use crate::args::StandingCommand;
use crate::output::{count, print_json, table, thousands};

/// An instant to the minute, UTC.
fn when(us: i64) -> String {
    let t = instant(us);
    t.get(..16).map_or(t.clone(), |m| format!("{m}Z"))
}

fn items(order: &Order) -> String {
    let mut lines: Vec<String> = order
        .items
        .iter()
        .map(|i| match &i.only {
            Some(date) => format!("{} × {} ({date} only)", i.sku, i.qty),
            None => format!("{} × {}", i.sku, i.qty),
        })
        .collect();
    if lines.len() > 4 {
        let more = lines.len() - 3;
        lines.truncate(3);
        lines.push(format!("+{more} more"));
    }
    lines.join(", ")
}

pub async fn run(
    store: &dyn Store,
    actor: &Actor,
    keys: &Keys,
    command: StandingCommand,
) -> anyhow::Result<()> {
    match command {
        StandingCommand::Run { now, json } => {
            let report = scheduler::step(store, actor, now.unwrap_or_else(now_us)).await?;
            if json {
                return print_json(&report);
            }
            print_step(&report);
            Ok(())
        }
        StandingCommand::List {
            party,
            point,
            status,
            limit,
            json,
        } => {
            let filter = OrderFilter {
                point,
                party,
                status: status.map(Into::into),
            };
            let list = standing::list(store, actor, &filter, limit).await?;
            if json {
                return print_json(&list);
            }
            let mut t = table([
                "id", "party", "point", "status", "items", "value", "schedule", "since",
            ]);
            for o in &list.orders {
                t.add_row([
                    o.id.clone(),
                    o.party.clone(),
                    o.point.clone(),
                    o.status.as_str().to_owned(),
                    items(o),
                    format!("{:.2}", touchbase_core::standing::value_of(&o.items)),
                    o.schedule.clone(),
                    when(o.first_at),
                ]);
            }
            let counts: Vec<String> = ["offered", "active", "paused", "cancelled"]
                .iter()
                .filter_map(|status| {
                    let n = list.counts.get(*status).copied().unwrap_or(0);
                    (n > 0).then(|| format!("{n} {status}"))
                })
                .collect();
            if list.orders.is_empty() {
                println!(
                    "no standing orders{}",
                    if filter == OrderFilter::default() {
                        " yet: a party's first order at the `from` point of a live automated point makes one"
                    } else {
                        " match"
                    }
                );
            } else {
                println!("{t}");
            }
            println!(
                "{} in all: {}",
                count(
                    list.counts.values().sum::<u64>() as usize,
                    "order",
                    "orders"
                ),
                counts.join(", ")
            );
            Ok(())
        }
        StandingCommand::Show { id, runs, json } => {
            let view = standing::show(store, actor, &id, runs, now_us()).await?;
            if json {
                return print_json(&view);
            }
            let o = &view.order;
            println!(
                "{id}  {status}  party {party} at {point} (revision {rev})\n  schedule {schedule} in {tz}, cut-off {cutoff} before each run; first order {first} at {at}",
                status = o.status.as_str(),
                party = o.party,
                point = o.point,
                rev = o.revision,
                schedule = o.schedule,
                tz = view.timezone,
                cutoff = view.cutoff,
                first = o.first_event,
                at = when(o.first_at),
            );
            println!(
                "  sent to endpoint {}, the party's changes recorded at {}",
                view.endpoint, view.edit_point
            );
            if let Some(date) = &view.locked {
                println!("  the run on {date} is locked: it goes out as it stands");
            }
            if let Some(next) = &view.next {
                println!(
                    "  next run {date} at {at} (changes until {cutoff}): {n}, worth {value:.2}",
                    date = next.date,
                    at = next.at,
                    cutoff = next.cutoff,
                    n = count(next.items.len(), "line", "lines"),
                    value = next.value,
                );
            }
            let mut t = table(["sku", "qty", "price", "only on"]);
            for i in &o.items {
                t.add_row([
                    i.sku.clone(),
                    i.qty.to_string(),
                    format!("{:.2}", i.price),
                    i.only.clone().unwrap_or_default(),
                ]);
            }
            println!("{t}");
            let mut t = table(["revision", "at", "by", "change"]);
            for r in &view.revisions {
                t.add_row([
                    r.revision.to_string(),
                    when(r.at),
                    r.actor.clone(),
                    r.note.clone(),
                ]);
            }
            println!("Revisions:\n{t}");
            print_runs(&view.runs);
            Ok(())
        }
        StandingCommand::Pause { id } => change(store, actor, &id, Edit::Pause).await,
        StandingCommand::Resume { id } => change(store, actor, &id, Edit::Resume).await,
        StandingCommand::Cancel { id } => change(store, actor, &id, Edit::Cancel).await,
        StandingCommand::Link {
            id,
            ttl,
            base,
            json,
        } => {
            let issued = standing::link(store, actor, keys, &id, ttl, now_us()).await?;
            let url = format!("{}/s/{}", base.trim_end_matches('/'), issued.token);
            if json {
                return print_json(&serde_json::json!({
                    "order": id,
                    "link": url,
                    "expires_at": instant(issued.expires_at * 1_000_000),
                }));
            }
            println!(
                "{url}\n  the self-service page of {id} until {} (earlier links to it no longer work; only the link's hash is kept)",
                when(issued.expires_at * 1_000_000)
            );
            Ok(())
        }
    }
}

async fn change(store: &dyn Store, actor: &Actor, id: &str, edit: Edit) -> anyhow::Result<()> {
    let edited = standing::edit(store, By::User(actor), id, &[edit], now_us()).await?;
    let reaches = match (&edited.reaches, &edited.locked) {
        (Some(next), Some(locked)) => format!(
            "; it reaches the run on {next} (the run on {locked} is locked and goes out as it was)"
        ),
        (Some(next), None) => format!("; it reaches the run on {next}"),
        _ => String::new(),
    };
    println!(
        "{id} is {} now (revision {}){reaches}",
        edited.order.status.as_str(),
        edited.order.revision
    );
    Ok(())
}

fn print_runs(runs: &[Run]) {
    if runs.is_empty() {
        println!("No runs yet.");
        return;
    }
    let mut t = table(["date", "at", "state", "revision", "delivery", "note"]);
    for r in runs {
        t.add_row([
            r.date.clone(),
            when(r.at),
            r.state.as_str().to_owned(),
            r.revision.to_string(),
            r.delivery.clone().unwrap_or_default(),
            r.note.clone(),
        ]);
    }
    println!("Runs, newest first:\n{t}");
}

fn print_step(r: &StepReport) {
    println!(
        "standing orders at {now}: {orders} looked at; {sent} sent, {locked} locked at their cut-off, {skipped} skipped",
        now = r.now,
        orders = thousands(r.orders),
        sent = thousands(r.sent),
        locked = thousands(r.locked),
        skipped = thousands(r.skipped),
    );
    if r.caught_up > 0 {
        println!(
            "  caught up {} missed while no step ran (the latest {} late), each once",
            count(r.caught_up as usize, "run", "runs"),
            scheduler::span(r.latest_s)
        );
    }
    for (point, n) in &r.waiting {
        println!(
            "  {} at {point} wait: the point is not live",
            count(*n as usize, "order", "orders")
        );
    }
    for p in &r.problems {
        println!("  problem: {p}");
    }
    if r.sent > 0 {
        println!(
            "  the runs' deliveries go out with `touchbase deliver --until-idle` (or `touchbase serve`)"
        );
    }
}
