//! `touchbase endpoint`, `rule`, `deliveries`, `deliver` and `listen`: the reverse feed (R18).

use std::sync::Arc;

use anyhow::Context;
use touchbase_core::Actor;
use touchbase_core::endpoint::{EndpointKind, Keys};
use touchbase_core::rules::{self, Rule};
use touchbase_feed::Dispatcher;
use touchbase_store::Store;
use touchbase_store::feed::{self, NewEndpoint};
use touchbase_store::outbox::DeliveryFilter;

use crate::args::{DeliverArgs, DeliveriesCommand, EndpointCommand, FeedArgs, RuleCommand};
use crate::output::{count, print_json, read_input, table};

/// An instant to the second, UTC.
fn at(us: i64) -> String {
    let t = rules::instant(us);
    match t.split_once('.') {
        Some((whole, _)) => format!("{whole}Z"),
        None => t,
    }
}

pub async fn endpoint(
    store: &dyn Store,
    actor: &Actor,
    keys: &Keys,
    command: EndpointCommand,
) -> anyhow::Result<()> {
    match command {
        EndpointCommand::Add {
            key,
            url,
            nats,
            mqtt,
            allow_private,
            json,
        } => {
            let (kind, target) = match (url, nats, mqtt) {
                (Some(u), _, _) => (EndpointKind::Webhook, u),
                (_, Some(s), _) => (EndpointKind::Nats, s),
                (_, _, Some(t)) => (EndpointKind::Mqtt, t),
                _ => unreachable!("clap requires one target"),
            };
            let shown = feed::add_endpoint(
                store,
                actor,
                keys,
                NewEndpoint {
                    key,
                    kind,
                    target,
                    allow_private,
                },
            )
            .await?;
            if json {
                return print_json(&shown);
            }
            println!(
                "added endpoint {} ({} {}).",
                shown.key,
                shown.kind.as_str(),
                shown.target
            );
            if let Some(secret) = &shown.secret {
                println!(
                    "its signing secret (shown only now; receivers verify the webhook-signature header with it):\n  {secret}"
                );
            }
        }
        EndpointCommand::List { json } => {
            let endpoints = feed::endpoints(store, actor).await?;
            if json {
                return print_json(&endpoints);
            }
            let mut t = table(["key", "kind", "target", "state", "secret generations"]);
            for e in &endpoints {
                let state = match &e.disabled {
                    None => "enabled".to_owned(),
                    Some(d) => format!("disabled {}: {}", crate::output::when(&d.at), d.reason),
                };
                let gens: Vec<String> = e
                    .secrets
                    .iter()
                    .map(|g| match &g.retire_at {
                        None => format!("{}", g.n),
                        Some(r) => format!("{} (until {})", g.n, crate::output::when(r)),
                    })
                    .collect();
                t.add_row([
                    e.key.clone(),
                    e.kind.as_str().to_owned(),
                    e.target.clone(),
                    state,
                    gens.join(", "),
                ]);
            }
            if endpoints.is_empty() {
                println!(
                    "no endpoints yet: `touchbase endpoint add KEY --url URL | --nats SUBJECT | --mqtt TOPIC`"
                );
            } else {
                println!("{t}\n{}", count(endpoints.len(), "endpoint", "endpoints"));
            }
        }
        EndpointCommand::Rotate { key, overlap, json } => {
            let shown = feed::rotate_endpoint(store, actor, keys, &key, overlap.micros()).await?;
            if json {
                return print_json(&shown);
            }
            println!(
                "endpoint {key} has a new secret; the previous one signs beside it for {overlap}, then stops:\n  {}",
                shown.secret.unwrap_or_default()
            );
        }
        EndpointCommand::Disable { key, reason } => {
            feed::set_endpoint_disabled(store, actor, &key, Some(&reason)).await?;
            println!(
                "endpoint {key} disabled: its deliveries wait until `touchbase endpoint enable {key}`."
            );
        }
        EndpointCommand::Enable { key } => {
            feed::set_endpoint_disabled(store, actor, &key, None).await?;
            println!("endpoint {key} enabled.");
        }
    }
    Ok(())
}

fn read_rules(path: &std::path::Path) -> anyhow::Result<Vec<Rule>> {
    let text = read_input(path)?;
    rules::parse_rules(&text).map_err(|e| anyhow::anyhow!("`{}`: {e}", path.display()))
}

pub async fn rule(store: &dyn Store, actor: &Actor, command: RuleCommand) -> anyhow::Result<()> {
    match command {
        RuleCommand::Add { file } => {
            let rules = read_rules(&file)?;
            feed::put_rules(store, actor, &rules).await?;
            let keys: Vec<&str> = rules.iter().map(|r| r.key.as_str()).collect();
            println!(
                "{} stored: {}.",
                count(rules.len(), "rule", "rules"),
                keys.join(", ")
            );
        }
        RuleCommand::List { json } => {
            let rules = feed::rules(store, actor).await?;
            if json {
                return print_json(&rules);
            }
            let mut t = table(["key", "kind", "fires on", "to", "state"]);
            for r in &rules {
                let on = match (&r.when.event, &r.when.metric, &r.when.lifecycle) {
                    (Some(c), _, _) => serde_json::to_string(c).unwrap_or_default(),
                    (_, Some(m), _) => format!(
                        "{} of {} over {}",
                        m.figure,
                        m.point.as_deref().unwrap_or("the organization"),
                        m.window
                    ),
                    (_, _, Some(l)) => l.as_str().to_owned(),
                    _ => String::new(),
                };
                let to: Vec<&str> = r.actions.iter().map(|a| a.endpoint.as_str()).collect();
                let state = if r.disabled { "disabled" } else { "enabled" };
                t.add_row([
                    r.key.clone(),
                    r.kind_name().to_owned(),
                    on,
                    to.join(", "),
                    state.to_owned(),
                ]);
            }
            if rules.is_empty() {
                println!("no rules yet: `touchbase rule add --file RULES.yaml`");
            } else {
                println!("{t}\n{}", count(rules.len(), "rule", "rules"));
            }
        }
        RuleCommand::Show { key, json } => {
            let rule = feed::rule(store, actor, &key).await?;
            if json {
                return print_json(&rule);
            }
            print!("{}", serde_yaml_ng::to_string(&rule)?);
        }
        RuleCommand::Disable { key } => {
            feed::set_rule_disabled(store, actor, &key, true).await?;
            println!("rule {key} disabled.");
        }
        RuleCommand::Enable { key } => {
            feed::set_rule_disabled(store, actor, &key, false).await?;
            println!("rule {key} enabled.");
        }
        RuleCommand::Remove { key } => {
            feed::remove_rule(store, actor, &key).await?;
            println!("rule {key} removed (its deliveries stay on record).");
        }
        RuleCommand::Test {
            key,
            file,
            period,
            samples,
            json,
        } => {
            let rule = match (key, file) {
                (_, Some(f)) => read_rules(&f)?.remove(0),
                (Some(k), None) => feed::rule(store, actor, &k).await?,
                (None, None) => unreachable!("clap requires one"),
            };
            let (from, to) = crate::commands::measure::period_of(&period)?;
            let run = feed::test_rule(store, actor, &rule, from, to, samples).await?;
            if json {
                return print_json(&run);
            }
            println!(
                "rule {} over {} to {}: {} events read, it would have fired {} times (nothing was sent).",
                run.rule,
                at(run.from),
                at(run.to),
                crate::output::thousands(run.events_read),
                crate::output::thousands(run.firings),
            );
            for s in &run.samples {
                println!("\n{} → {} ({}):\n  {}", s.at, s.endpoint, s.id, s.body);
            }
        }
    }
    Ok(())
}

pub async fn deliveries(
    store: &dyn Store,
    actor: &Actor,
    command: DeliveriesCommand,
) -> anyhow::Result<()> {
    match command {
        DeliveriesCommand::List {
            state,
            rule,
            endpoint,
            since,
            limit,
            json,
        } => {
            let filter = DeliveryFilter {
                state: state.map(Into::into),
                rule,
                endpoint,
                since,
                limit: Some(limit),
            };
            let list = feed::deliveries(store, actor, &filter).await?;
            if json {
                return print_json(&list);
            }
            let mut t = table([
                "id",
                "rule",
                "endpoint",
                "fired",
                "state",
                "attempts",
                "last error",
            ]);
            for d in &list {
                let mut err = d.last_error.clone().unwrap_or_default();
                err.truncate(60);
                t.add_row([
                    d.id.clone(),
                    d.rule.clone(),
                    d.endpoint.clone(),
                    at(d.fired_at),
                    d.state.as_str().to_owned(),
                    d.attempts.to_string(),
                    err,
                ]);
            }
            if list.is_empty() {
                println!(
                    "no deliveries{}",
                    if filter
                        == (DeliveryFilter {
                            limit: Some(limit),
                            ..Default::default()
                        })
                    {
                        " yet: a rule fires them (`touchbase rule list`)"
                    } else {
                        " match"
                    }
                );
            } else {
                println!("{t}\n{}", count(list.len(), "delivery", "deliveries"));
            }
        }
        DeliveriesCommand::Show { id, json } => {
            let (d, attempts) = feed::delivery(store, actor, &id).await?;
            if json {
                return print_json(&serde_json::json!({ "delivery": d, "attempts": attempts }));
            }
            println!(
                "delivery {}\n  rule      {}\n  endpoint  {}\n  fired     {}\n  state     {}\n  attempts  {}\n  body      {}",
                d.id,
                d.rule,
                d.endpoint,
                at(d.fired_at),
                d.state.as_str(),
                d.attempts,
                d.body
            );
            if d.state == touchbase_store::outbox::DeliveryState::Pending && d.attempts > 0 {
                println!("  next      {}", at(d.due_at));
            }
            let mut t = table(["#", "at", "status", "latency", "outcome", "answer"]);
            for a in &attempts {
                t.add_row([
                    a.n.to_string(),
                    at(a.at),
                    a.status
                        .map(|s| s.to_string())
                        .unwrap_or_else(|| "-".to_owned()),
                    format!("{:.1} ms", a.latency_us as f64 / 1000.0),
                    a.outcome.clone(),
                    a.detail.chars().take(120).collect(),
                ]);
            }
            if !attempts.is_empty() {
                println!("{t}");
            }
        }
        DeliveriesCommand::Replay {
            id,
            since,
            rule,
            state,
        } => {
            let ids: Vec<String> = id.into_iter().collect();
            let filter = DeliveryFilter {
                state: state.map(Into::into),
                rule,
                since,
                ..Default::default()
            };
            let n = feed::replay(store, actor, &ids, &filter).await?;
            println!(
                "{} due again now; `touchbase serve` or `touchbase deliver` sends them.",
                count(n as usize, "delivery", "deliveries")
            );
        }
    }
    Ok(())
}

/// The dispatcher's configuration from the command line.
pub fn config(args: &FeedArgs, ingest_mqtt: Option<&str>) -> touchbase_feed::Config {
    touchbase_feed::Config {
        nats_url: args.feed_nats.clone(),
        mqtt_url: args
            .feed_mqtt
            .clone()
            .or_else(|| ingest_mqtt.map(str::to_owned))
            .unwrap_or_else(|| "mqtt://127.0.0.1:1883".to_owned()),
        lease: std::time::Duration::from_micros(args.feed_lease.micros() as u64),
        public_url: args
            .public_url
            .clone()
            .unwrap_or_else(|| touchbase_feed::Config::default().public_url),
        ..touchbase_feed::Config::default()
    }
}

pub async fn deliver(store: Arc<dyn Store>, keys: Keys, args: DeliverArgs) -> anyhow::Result<()> {
    let dispatcher = Dispatcher::new(store, keys, config(&args.feed, None))
        .context("the dispatcher could not start")?;
    if args.until_idle {
        let total = dispatcher.run_until_idle().await?;
        println!(
            "{} claimed: {} delivered, {} to be tried again, {} dead.",
            count(total.claimed as usize, "delivery", "deliveries"),
            total.delivered,
            total.failed,
            total.dead
        );
        return Ok(());
    }
    eprintln!("touchbase delivering the reverse feed (ctrl-c stops)");
    dispatcher.run(touchbase_server::shutdown_signal()).await;
    Ok(())
}
