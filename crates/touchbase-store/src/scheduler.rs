//! The standing orders' scheduler (R19): one step, which the server's loop and
//! `touchbase standing run` both call, executes what is due at an instant. Each run sent is
//! written as an accepted event at the automated point (`run:ORDER:DATE`) with its delivery
//! to the section's endpoint in the event's own transaction, so the delivery exists exactly
//! when the event does: a step that crashed, or two steps at once, write each run once, and
//! the receiver is sent one idempotency key per run however often the delivery is retried.

use std::collections::{BTreeMap, HashMap};

use jiff::Timestamp;
use serde::Serialize;
use touchbase_core::rules::{Firing, firing_id};
use touchbase_core::standing::{self, Due, Order, Run, RunState, Standing};
use touchbase_core::{Actor, Inventory, Permission, Point, Status};

use crate::ingest::{self, Input};
use crate::{OpError, Store};

/// How many runs a step writes per transaction.
pub const BATCH: usize = 2_000;

/// The `rule` of a run's delivery (no rule of the inventory fires it; this names its source
/// in the deliveries list).
pub const RULE: &str = "standing-order";

/// One run the step wrote.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Done {
    pub order: String,
    pub party: String,
    pub point: String,
    pub date: String,
    /// RFC 3339.
    pub at: String,
    pub state: RunState,
    pub revision: u32,
    /// Seconds after the run's instant it was sent (a scheduler that was down catches up).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub late_s: Option<i64>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub note: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery: Option<String>,
}

/// What one step did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StepReport {
    /// The instant the step ran as (RFC 3339).
    pub now: String,
    /// Orders looked at (every order of a live automated point).
    pub orders: u64,
    pub locked: u64,
    pub sent: u64,
    pub skipped: u64,
    /// Runs sent more than an hour after their instant: caught up after the scheduler was
    /// down (each once).
    pub caught_up: u64,
    /// The latest of those, in seconds.
    pub latest_s: i64,
    /// Orders waiting because their automated point is not live, by point.
    pub waiting: BTreeMap<String, u64>,
    /// What could not be done, each naming the order and why.
    pub problems: Vec<String>,
    /// Each run written, in order (`--json`; at most [`DONE_MAX`] of them).
    pub runs: Vec<Done>,
}

/// The most runs a report lists one by one.
pub const DONE_MAX: usize = 1_000;

/// An automated point's standing section and the time zone its orders run in.
struct Automated<'a> {
    point: &'a Point,
    standing: &'a Standing,
    zone: jiff::tz::TimeZone,
}

/// The live automated points of the inventory, by key; the others (with their reason) apart.
fn automated(inventory: &Inventory) -> (HashMap<&str, Automated<'_>>, HashMap<&str, String>) {
    let mut live = HashMap::new();
    let mut not = HashMap::new();
    for point in &inventory.points {
        let Some(standing) = &point.standing else {
            continue;
        };
        if point.status != Status::Live {
            not.insert(
                point.key.as_str(),
                format!("{:?}", point.status).to_lowercase(),
            );
            continue;
        }
        match standing::time_zone(standing, inventory.organization.timezone.as_deref()) {
            Ok(zone) => {
                live.insert(
                    point.key.as_str(),
                    Automated {
                        point,
                        standing,
                        zone,
                    },
                );
            }
            Err(why) => {
                not.insert(point.key.as_str(), why);
            }
        }
    }
    (live, not)
}

/// The accepted event a run is recorded as, at the automated point: the party, the items'
/// value to the company, the point's expected cost per interaction.
fn run_event(
    order: &Order,
    point: &Point,
    date: &str,
    at: Timestamp,
    items: &[standing::Item],
) -> String {
    let key = standing::idempotency_key(&order.id, date);
    serde_json::json!({
        "id": standing::run_event_id(&order.id, date),
        "point": point.key,
        "at": at.to_string(),
        "party": order.party,
        "channel": point.channel,
        "value": { "company": standing::value_of(items) },
        "cost": point.expected.cost.unwrap_or(0.0),
        "outcomes": { "engaged": true },
        "data": {
            "standing_order_id": order.id,
            "run_date": date,
            "idempotency_key": key,
            "revision": order.revision,
            "schedule": order.schedule,
            "items": items,
        }
    })
    .to_string()
}

/// The delivery of a run to the section's endpoint: its id and body the same on every retry.
fn run_delivery(
    order: &Order,
    automated: &Automated<'_>,
    currency: &str,
    date: &str,
    at: Timestamp,
    items: &[standing::Item],
    now: i64,
) -> Firing {
    let key = standing::idempotency_key(&order.id, date);
    let body = serde_json::json!({
        "type": "standing_order.run",
        "idempotency_key": key,
        "order": order.id,
        "point": automated.point.key,
        "party": order.party,
        "run_date": date,
        "run_at": at.to_string(),
        "revision": order.revision,
        "items": items,
        "value": standing::value_of(items),
        "currency": currency,
    });
    Firing {
        id: firing_id(RULE, &key, at.as_microsecond(), 0),
        rule: RULE.to_owned(),
        endpoint: automated.standing.endpoint.clone(),
        fired_at: now,
        body: body.to_string(),
    }
}

/// Executes what is due at `now` (microseconds) for every standing order of a live automated
/// point: locks the runs whose cut-off has passed, sends (as an event and a delivery) or skips
/// the runs whose instant has passed — every run missed while no step ran, once each — and
/// reports what it did.
pub async fn step(store: &dyn Store, actor: &Actor, now: i64) -> Result<StepReport, OpError> {
    actor.require(Permission::Ingest)?;
    let now_at = Timestamp::from_microsecond(now)
        .map_err(|e| OpError::invalid("the step", "now", format!("is out of range: {e}")))?;
    let inventory = crate::inventory::get(store).await?.value;
    let (live, not_live) = automated(&inventory);
    let mut report = StepReport {
        now: now_at.to_string(),
        ..StepReport::default()
    };
    let mut checker = ingest::checker(store).await?;
    let mut runs: Vec<Run> = Vec::new();
    let mut inputs: Vec<Input> = Vec::new();
    let mut firings: HashMap<String, Vec<Firing>> = HashMap::new();
    let mut done: Vec<Done> = Vec::new();
    for progress in store.order_progress().await? {
        let order = &progress.order;
        let Some(automated) = live.get(order.point.as_str()) else {
            if not_live.contains_key(order.point.as_str()) {
                *report.waiting.entry(order.point.clone()).or_default() += 1;
            }
            continue;
        };
        report.orders += 1;
        let at = |us: Option<i64>| us.and_then(|us| Timestamp::from_microsecond(us).ok());
        let (handled, locked) = (at(progress.handled_at), at(progress.locked_at));
        let history =
            match standing::needs_history(order, automated.standing, &automated.zone, handled) {
                Ok(false) => Vec::new(),
                Ok(true) => store
                    .order_revisions(&order.id)
                    .await?
                    .into_iter()
                    .map(|r| r.order)
                    .collect(),
                Err(why) => {
                    report.problems.push(format!("{}: {why}", order.id));
                    continue;
                }
            };
        let dues = match standing::due(
            order,
            &history,
            automated.standing,
            &automated.zone,
            handled,
            locked,
            now_at,
        ) {
            Ok(dues) => dues,
            Err(why) => {
                report.problems.push(format!("{}: {why}", order.id));
                continue;
            }
        };
        for due in dues {
            let (run_at, date) = due.run();
            let date = date.to_owned();
            let in_force = due.order();
            let mut line = Done {
                order: order.id.clone(),
                party: order.party.clone(),
                point: order.point.clone(),
                date: date.clone(),
                at: run_at.to_string(),
                state: RunState::Scheduled,
                revision: in_force.revision,
                late_s: None,
                note: String::new(),
                delivery: None,
            };
            match &due {
                Due::Lock { .. } => {
                    line.state = RunState::Locked;
                    report.locked += 1;
                }
                Due::Skip { why, .. } => {
                    line.state = RunState::Skipped;
                    line.note = (*why).to_owned();
                    report.skipped += 1;
                }
                Due::Send { late, .. } => {
                    let items = standing::items_for(&in_force.items, &date);
                    let delivery = run_delivery(
                        in_force,
                        automated,
                        &inventory.organization.currency,
                        &date,
                        run_at,
                        &items,
                        now,
                    );
                    let event = run_event(in_force, automated.point, &date, run_at, &items);
                    let id = standing::run_event_id(&order.id, &date);
                    line.state = RunState::Sent;
                    line.delivery = Some(delivery.id.clone());
                    let late_s = late.as_secs();
                    line.late_s = Some(late_s);
                    if late_s > 3_600 {
                        report.caught_up += 1;
                        report.latest_s = report.latest_s.max(late_s);
                        line.note = format!("caught up {} late", crate::scheduler::span(late_s));
                    }
                    report.sent += 1;
                    firings.entry(id).or_default().push(delivery);
                    inputs.push(Input::new(event, format!("standing:{}", order.id)));
                }
            }
            runs.push(Run {
                order: order.id.clone(),
                date,
                at: run_at.as_microsecond(),
                state: line.state,
                revision: line.revision,
                note: line.note.clone(),
                delivery: line.delivery.clone(),
                updated_at: now,
            });
            done.push(line);
        }
        if runs.len() >= BATCH {
            flush(
                store,
                &mut checker,
                &mut inputs,
                &mut firings,
                &mut runs,
                &mut done,
                &mut report,
                now,
            )
            .await?;
        }
    }
    flush(
        store,
        &mut checker,
        &mut inputs,
        &mut firings,
        &mut runs,
        &mut done,
        &mut report,
        now,
    )
    .await?;
    Ok(report)
}

/// Writes a batch: the sent runs' events with their deliveries (one transaction), then every
/// run's row. A run whose event was refused is not marked sent; the refusal is reported.
#[allow(clippy::too_many_arguments)]
async fn flush(
    store: &dyn Store,
    checker: &mut crate::Versioned<touchbase_core::event::Checker>,
    inputs: &mut Vec<Input>,
    firings: &mut HashMap<String, Vec<Firing>>,
    runs: &mut Vec<Run>,
    done: &mut Vec<Done>,
    report: &mut StepReport,
    now: i64,
) -> Result<(), OpError> {
    if runs.is_empty() {
        return Ok(());
    }
    if !inputs.is_empty() {
        let mut prepared = ingest::prepare_batch_at(checker, inputs, now);
        let refused = prepared.add_firings(std::mem::take(firings));
        let written = ingest::commit(store, prepared).await?;
        if written.version != checker.version {
            *checker = ingest::checker(store).await?;
        }
        for outcome in written.value.iter().filter(|o| !o.reasons.is_empty()) {
            report.problems.push(format!(
                "a run's event was refused: {}",
                outcome.reasons.join("; ")
            ));
        }
        let refused: std::collections::HashSet<String> = refused.into_iter().collect();
        if !refused.is_empty() {
            runs.retain(|r| {
                !(r.state == RunState::Sent
                    && refused.contains(&standing::run_event_id(&r.order, &r.date)))
            });
            report.sent -= refused.len() as u64;
        }
        inputs.clear();
    }
    store.put_runs(runs).await?;
    runs.clear();
    let room = DONE_MAX.saturating_sub(report.runs.len());
    report.runs.extend(done.drain(..).take(room));
    Ok(())
}

/// A duration in seconds as people read it: `3 d 4 h`, `5 h 10 min`, `12 min`.
pub fn span(seconds: i64) -> String {
    let (d, h, m) = (
        seconds / 86_400,
        seconds % 86_400 / 3_600,
        seconds % 3_600 / 60,
    );
    match (d, h) {
        (0, 0) => format!("{m} min"),
        (0, _) => format!("{h} h {m} min"),
        _ => format!("{d} d {h} h"),
    }
}
