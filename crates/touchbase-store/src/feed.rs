//! The reverse feed's operations (R18), written once over the [`Store`] trait: endpoints
//! (admins declare them; their secrets are derived, never stored), rules (part of the
//! inventory), deliveries (list, show, replay) and a rule's dry run over the stored history.
//! Every change to endpoints and rules goes through [`update`]: checked, audited, at the
//! version read.

use serde::Serialize;
use touchbase_core::endpoint::{self, Disabled, Endpoint, EndpointKind, Generation, Keys};
use touchbase_core::rules::{EventRules, Rule, RuleKind};
use touchbase_core::{Actor, Permission, Violation, Violations};

use crate::outbox::{Attempt, Delivery, DeliveryFilter};
use crate::{OpError, Store, update};

/// The actor the dispatcher records its own changes under (an endpoint it disables).
pub const DISPATCHER: &str = "touchbase-dispatcher";

/// Nothing of kind `what` is named `key` (HTTP 404).
fn not_found(what: &str, key: &str, hint: &str) -> OpError {
    OpError::NotFound(format!("{what} `{key}`: does not exist; {hint}"))
}

/// An endpoint as shown, with its secret when it was just made or rotated.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Shown {
    pub key: String,
    pub kind: EndpointKind,
    pub target: String,
    /// The webhook secret (`whsec_…`), shown only when it is made or rotated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// What [`add_endpoint`] declares.
#[derive(Debug, Clone)]
pub struct NewEndpoint {
    pub key: String,
    pub kind: EndpointKind,
    pub target: String,
    pub allow_private: bool,
}

/// Declares an endpoint (admins). A webhook whose host is written as a private, loopback or
/// link-local address, or is `localhost`, needs `allow_private`; names are checked again at
/// each send, against the addresses they resolve to.
pub async fn add_endpoint(
    store: &dyn Store,
    actor: &Actor,
    keys: &Keys,
    new: NewEndpoint,
) -> Result<Shown, OpError> {
    actor.require(Permission::Administer)?;
    if new.kind == EndpointKind::Webhook
        && !new.allow_private
        && endpoint::check_url(&new.target).is_ok()
        && endpoint::literal_private_host(&new.target)
    {
        return Err(OpError::invalid(
            format!("endpoint `{}`", new.key),
            "target",
            "names a private, loopback or link-local address: add --allow-private (allow_private) if that is meant",
        ));
    }
    update(store, actor, "endpoint.add", |state, now| {
        if state.endpoint(&new.key).is_some() {
            return Err(OpError::invalid(
                format!("endpoint `{}`", new.key),
                "key",
                "exists already: rotate, disable or enable it instead",
            ));
        }
        state.endpoints.push(Endpoint {
            key: new.key.clone(),
            kind: new.kind,
            target: new.target.clone(),
            allow_private: new.allow_private,
            disabled: None,
            secrets: vec![Generation {
                n: 1,
                created_at: now.to_owned(),
                retire_at: None,
            }],
            created_at: now.to_owned(),
        });
        Ok(())
    })
    .await?;
    Ok(Shown {
        secret: (new.kind != EndpointKind::Mqtt).then(|| keys.endpoint_whsec(&new.key, 1)),
        key: new.key,
        kind: new.kind,
        target: new.target,
    })
}

/// Starts a new secret generation; the previous one keeps signing for `overlap` (microseconds),
/// then stops. Returns the new secret.
pub async fn rotate_endpoint(
    store: &dyn Store,
    actor: &Actor,
    keys: &Keys,
    key: &str,
    overlap_us: i64,
) -> Result<Shown, OpError> {
    actor.require(Permission::Administer)?;
    let mut shown = None;
    update(store, actor, "endpoint.rotate", |state, now| {
        let e = state
            .endpoints
            .iter_mut()
            .find(|e| e.key == key)
            .ok_or_else(|| not_found("endpoint", key, "`touchbase endpoint list` shows them"))?;
        let at: jiff::Timestamp = now.parse().expect("now is RFC 3339");
        let retire = at
            .checked_add(jiff::SignedDuration::from_micros(overlap_us))
            .unwrap_or(at)
            .to_string();
        // The newest generation in force keeps signing for the overlap; older ones stop now.
        let signing = e.signing(at);
        for g in &mut e.secrets {
            let ends = if Some(&g.n) == signing.first() {
                retire.as_str()
            } else {
                now
            };
            let sooner = g
                .retire_at
                .as_deref()
                .and_then(|r| r.parse::<jiff::Timestamp>().ok())
                .is_some_and(|r| Some(r) <= ends.parse().ok());
            if !sooner {
                g.retire_at = Some(ends.to_owned());
            }
        }
        e.secrets.retain(|g| signing.contains(&g.n));
        let n = e.current() + 1;
        e.secrets.push(Generation {
            n,
            created_at: now.to_owned(),
            retire_at: None,
        });
        shown = Some(Shown {
            key: e.key.clone(),
            kind: e.kind,
            target: e.target.clone(),
            secret: Some(keys.endpoint_whsec(&e.key, n)),
        });
        Ok(())
    })
    .await?;
    Ok(shown.expect("the edit ran"))
}

/// Disables an endpoint (`Some(reason)`: nothing is sent to it; its deliveries wait) or
/// enables it again (`None`). `actor` may be the dispatcher itself.
pub async fn set_endpoint_disabled(
    store: &dyn Store,
    actor: &Actor,
    key: &str,
    reason: Option<&str>,
) -> Result<(), OpError> {
    actor.require(Permission::Administer)?;
    let action = if reason.is_some() {
        "endpoint.disable"
    } else {
        "endpoint.enable"
    };
    update(store, actor, action, |state, now| {
        let e = state
            .endpoints
            .iter_mut()
            .find(|e| e.key == key)
            .ok_or_else(|| not_found("endpoint", key, "`touchbase endpoint list` shows them"))?;
        match reason {
            Some(reason) if e.disabled.is_none() => {
                e.disabled = Some(Disabled {
                    at: now.to_owned(),
                    reason: reason.to_owned(),
                })
            }
            Some(_) => {}
            None => e.disabled = None,
        }
        Ok(())
    })
    .await?;
    Ok(())
}

pub async fn endpoints(store: &dyn Store, actor: &Actor) -> Result<Vec<Endpoint>, OpError> {
    actor.require(Permission::Export)?;
    Ok(crate::load(store).await?.value.endpoints)
}

/// Adds rules, or replaces those with the same keys (admins). Every rule is checked against
/// the inventory's points and the endpoints declared.
pub async fn put_rules(store: &dyn Store, actor: &Actor, rules: &[Rule]) -> Result<(), OpError> {
    actor.require(Permission::Administer)?;
    update(store, actor, "rule.put", |state, _| {
        let inventory = state.inventory.as_mut().ok_or(OpError::NotInitialized)?;
        for rule in rules {
            inventory.rules.retain(|r| r.key != rule.key);
            inventory.rules.push(rule.clone());
        }
        Ok(())
    })
    .await?;
    Ok(())
}

/// Disables or enables a rule (admins).
pub async fn set_rule_disabled(
    store: &dyn Store,
    actor: &Actor,
    key: &str,
    disabled: bool,
) -> Result<(), OpError> {
    actor.require(Permission::Administer)?;
    let action = if disabled {
        "rule.disable"
    } else {
        "rule.enable"
    };
    update(store, actor, action, |state, _| {
        let inventory = state.inventory.as_mut().ok_or(OpError::NotInitialized)?;
        let rule = inventory
            .rules
            .iter_mut()
            .find(|r| r.key == key)
            .ok_or_else(|| not_found("rule", key, "`touchbase rule list` shows them"))?;
        rule.disabled = disabled;
        Ok(())
    })
    .await?;
    Ok(())
}

/// Removes a rule (admins); its deliveries stay on record.
pub async fn remove_rule(store: &dyn Store, actor: &Actor, key: &str) -> Result<(), OpError> {
    actor.require(Permission::Administer)?;
    update(store, actor, "rule.remove", |state, _| {
        let inventory = state.inventory.as_mut().ok_or(OpError::NotInitialized)?;
        let before = inventory.rules.len();
        inventory.rules.retain(|r| r.key != key);
        if inventory.rules.len() == before {
            return Err(not_found("rule", key, "`touchbase rule list` shows them"));
        }
        Ok(())
    })
    .await?;
    Ok(())
}

pub async fn rules(store: &dyn Store, actor: &Actor) -> Result<Vec<Rule>, OpError> {
    actor.require(Permission::Export)?;
    Ok(crate::load(store).await?.value.rules().to_vec())
}

pub async fn rule(store: &dyn Store, actor: &Actor, key: &str) -> Result<Rule, OpError> {
    rules(store, actor)
        .await?
        .into_iter()
        .find(|r| r.key == key)
        .ok_or_else(|| not_found("rule", key, "`touchbase rule list` shows them"))
}

/// The deliveries a filter selects (analysts and up).
pub async fn deliveries(
    store: &dyn Store,
    actor: &Actor,
    filter: &DeliveryFilter,
) -> Result<Vec<Delivery>, OpError> {
    actor.require(Permission::Export)?;
    Ok(store.deliveries(filter).await?)
}

/// One delivery with every attempt.
pub async fn delivery(
    store: &dyn Store,
    actor: &Actor,
    id: &str,
) -> Result<(Delivery, Vec<Attempt>), OpError> {
    actor.require(Permission::Export)?;
    store
        .delivery(id)
        .await?
        .ok_or_else(|| not_found("delivery", id, "`touchbase deliveries list` shows them"))
}

/// Sends deliveries again (admins): `ids`, or those the filter selects. The replay is on the
/// audit trail. Returns how many.
pub async fn replay(
    store: &dyn Store,
    actor: &Actor,
    ids: &[String],
    filter: &DeliveryFilter,
) -> Result<u64, OpError> {
    actor.require(Permission::Administer)?;
    for id in ids {
        if store.delivery(id).await?.is_none() {
            // A body naming what does not exist breaks its rule (422), as in `put_rules`.
            return Err(OpError::invalid(
                format!("delivery `{id}`"),
                "",
                "does not exist; `touchbase deliveries list` shows them",
            ));
        }
    }
    let n = store
        .replay_deliveries(ids, filter, crate::ingest::now_us())
        .await?;
    crate::audit::note(
        store,
        actor,
        "delivery.replay",
        "deliveries",
        serde_json::json!({ "ids": ids, "state": filter.state.map(|s| s.as_str()), "rule": filter.rule, "endpoint": filter.endpoint, "since": filter.since, "replayed": n }),
    )
    .await?;
    Ok(n)
}

/// What a rule would have done over a stretch of history.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TestRun {
    pub rule: String,
    /// Microseconds since the epoch.
    pub from: i64,
    pub to: i64,
    pub events_read: u64,
    /// How many times it would have fired (each firing delivered to each of its endpoints).
    pub firings: u64,
    /// The first firings, with the body each would have sent.
    pub samples: Vec<Sample>,
    /// How the run went over the history, where it is not event by event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Sample {
    pub id: String,
    pub endpoint: String,
    /// The instant of what it fired on.
    pub at: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub body: serde_json::Value,
}

/// Runs a rule over the stored history of `[from, to)` and says every time it would have
/// fired and the body it would have sent, sending nothing. An event rule goes over the
/// accepted events, each as if it had just arrived (so `max_age` holds none back), and its
/// firings' ids are those the live rule gives; a lifecycle rule over the audit trail's changes;
/// a metric rule is evaluated every `every` across the period (at most 2,000 times: a longer
/// period widens the step), each time over the window ending then.
pub async fn test_rule(
    store: &dyn Store,
    actor: &Actor,
    rule: &Rule,
    from: i64,
    to: i64,
    samples: usize,
) -> Result<TestRun, OpError> {
    actor.require(Permission::Export)?;
    let state = crate::load(store).await?.value;
    let mut state_with = state.clone();
    if let Some(inventory) = state_with.inventory.as_mut() {
        inventory.rules.retain(|r| r.key != rule.key);
        inventory.rules.push(rule.clone());
    }
    let broken: Vec<Violation> = state_with
        .feed_violations()
        .into_iter()
        .filter(|v| v.subject == format!("rule `{}`", rule.key))
        .collect();
    if !broken.is_empty() {
        return Err(Violations(broken).into());
    }
    let mut live = rule.clone();
    live.disabled = false;
    let mut run = TestRun {
        rule: rule.key.clone(),
        from,
        to,
        events_read: 0,
        firings: 0,
        samples: Vec::new(),
        note: None,
    };
    let keep = |f: touchbase_core::rules::Firing, at: i64, run: &mut TestRun| {
        run.firings += 1;
        if run.samples.len() < samples {
            run.samples.push(Sample {
                id: f.id,
                endpoint: f.endpoint,
                at: touchbase_core::rules::instant(at),
                body: serde_json::from_str(&f.body).unwrap_or_default(),
            });
        }
    };
    match rule.kind() {
        Some(RuleKind::Event) => {
            let rules = EventRules::new([&live]);
            let (first, last) = (crate::rollup::day_of(from), crate::rollup::day_of(to - 1));
            for day in first..=last {
                for event in store.events_of_day(day).await? {
                    if event.at < from || event.at >= to {
                        continue;
                    }
                    run.events_read += 1;
                    for f in rules.fire(&event, event.at, false) {
                        keep(f, event.at, &mut run);
                    }
                }
            }
        }
        Some(RuleKind::Lifecycle) => {
            // The audit trail holds every change, with the entity before and after.
            let mut with_rule = state_with.clone();
            if let Some(inventory) = with_rule.inventory.as_mut() {
                inventory.rules = vec![live.clone()];
            }
            for record in store.audit().await? {
                let Ok(at) = record.at.parse::<jiff::Timestamp>() else {
                    continue;
                };
                let at = at.as_microsecond();
                if at < from || at >= to {
                    continue;
                }
                for f in lifecycle_of(&record, &with_rule, at) {
                    keep(f, at, &mut run);
                }
            }
            run.note = Some("replayed over the audit trail's changes".to_owned());
        }
        Some(RuleKind::Metric) => {
            let inventory = state.inventory.clone().ok_or(OpError::NotInitialized)?;
            let every = live
                .every
                .as_ref()
                .map_or(touchbase_core::rules::DEFAULT_EVERY_US, |s| s.micros());
            let step = every.max((to - from) / MAX_METRIC_STEPS);
            let m = live.when.metric.clone().expect("a metric rule");
            let mut prev: Option<touchbase_core::rules::MetricState> = None;
            let mut t = from;
            while t < to {
                let (value, volume) = metric_figure(store, &inventory, &m, t).await;
                let next =
                    touchbase_core::rules::metric_step(&live, prev.as_ref(), value, volume, t);
                for f in next.firings {
                    keep(f, t, &mut run);
                }
                prev = Some(next.state);
                t += step;
            }
            run.note = Some(format!(
                "evaluated every {} s over the period{}",
                step / 1_000_000,
                if step > every {
                    " (the rule's `every`, widened to keep the run short)"
                } else {
                    ""
                }
            ));
        }
        None => unreachable!("checked above"),
    }
    Ok(run)
}

/// A metric rule's figure over the window that ends at `at`, and the interactions in it:
/// the scorecard of its point (or of the organization), as the scorecards compute it. No
/// figure when the scorecard has none (or its point is unknown).
pub async fn metric_figure(
    store: &dyn Store,
    inventory: &touchbase_core::Inventory,
    m: &touchbase_core::rules::MetricWhen,
    at: i64,
) -> (Option<f64>, u64) {
    let period = touchbase_core::period::Period {
        from: at - m.window.micros(),
        to: at,
    };
    let scope = m.point.clone().map_or(
        crate::measure::Scope::Organization,
        crate::measure::Scope::Point,
    );
    let card = crate::measure::scorecards(store, inventory, period, &[scope], None)
        .await
        .ok()
        .and_then(|c| c.into_iter().next())
        .and_then(|c| serde_json::to_value(c).ok());
    let field = |name: &str| card.as_ref().and_then(|c| c.get(name).cloned());
    let value = field(&m.figure).and_then(|v| v.as_f64());
    let volume = field("volume").and_then(|v| v.as_u64()).unwrap_or(0);
    (value, volume)
}

/// A metric rule's dry run evaluates it at most this many times.
const MAX_METRIC_STEPS: i64 = 2_000;

/// The lifecycle firings one audit record stands for, by the rules of `state`.
fn lifecycle_of(
    record: &touchbase_core::audit::Record,
    state: &touchbase_core::change::State,
    at: i64,
) -> Vec<touchbase_core::rules::Firing> {
    use touchbase_core::change::{Change, Entity, Kind, State};
    let Some((kind, key)) = record.subject.split_once(' ') else {
        return Vec::new();
    };
    let Some(kind) = Kind::parse(kind) else {
        return Vec::new();
    };
    if !matches!(kind, Kind::Proposal | Kind::Point | Kind::Endpoint) {
        return Vec::new();
    }
    let entity = |doc: &Option<serde_json::Value>| {
        doc.clone()
            .and_then(|d| Entity::from_doc(kind, key, d).ok())
    };
    let (Some(after), before) = (entity(&record.after), entity(&record.before)) else {
        return Vec::new();
    };
    let place = |e: Option<Entity>, with_rules: bool| {
        let mut s = State {
            inventory: state.inventory.clone().map(|mut i| {
                i.points.clear();
                if !with_rules {
                    i.rules.clear();
                }
                i
            }),
            ..State::default()
        };
        match e {
            Some(Entity::Proposal(p)) => s.proposals.push(p),
            Some(Entity::Point(p)) => {
                if let Some(i) = s.inventory.as_mut() {
                    i.points.push(p);
                }
            }
            Some(Entity::Endpoint(e)) => s.endpoints.push(e),
            _ => {}
        }
        s
    };
    let change = Change::put(after.clone(), before.as_ref());
    touchbase_core::rules::lifecycle_firings(
        &place(before, false),
        &place(Some(after), true),
        &[change],
        at,
    )
}
