//! The demo's standing orders (R19): automatic replenishment over the year just loaded.
//!
//! While the year's interactions went in, every household's first web order was captured as a
//! standing order, offered until the household confirms it. [`replay`] then plays the year
//! again with a moving clock: the scheduler steps once a simulated week (once a day took about
//! 20 s for the default year, a week about 3 s), and between steps the households use their
//! self-service page at those past instants — most confirm within a few days (some never),
//! they change quantities, add an item for the next delivery only, skip a run, change the
//! cadence, pause and resume, and some cancel. Each household's behaviour is drawn from a
//! generator seeded by its order's id, so the same year gives the same story. The runs are
//! delivered for real, to a receiver on the fulfilment endpoint's address for as long as the
//! replay lasts.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::sync::Arc;

use anyhow::Context;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use touchbase_core::Actor;
use touchbase_core::endpoint::{EndpointKind, Keys};
use touchbase_core::standing::{Edit, Order, OrderStatus, Standing};
use touchbase_store::Store;
use touchbase_store::standing::{By, OrderFilter};

use super::FULFILMENT_URL;
use super::rng::Rng;

/// The demo's automated point.
pub const POINT: &str = "replenishment.auto";
/// The endpoint its runs are sent to.
pub const ENDPOINT: &str = "fulfilment";

const DAY: i64 = 86_400_000_000;
const HOUR: i64 = 3_600_000_000;
/// How far the clock moves between two steps of the scheduler. Each run is sent at the first
/// step after it, with its own instant; the scheduler notes how late it was caught up.
const STEP: i64 = 7 * DAY;
const FORTNIGHTLY: &str = "FREQ=WEEKLY;INTERVAL=2";
const MONTHLY: &str = "FREQ=MONTHLY";

/// The share of households that confirm the standing order offered after their first order.
const CONFIRMS: f64 = 0.62;
/// How long households take to confirm, on average (days).
const CONFIRM_DAYS: f64 = 1.5;
/// How often a household opens its page to change something, on average (days).
const VISIT_DAYS: f64 = 240.0;
/// How long a household keeps its standing order before cancelling, on average (days).
const STAY_DAYS: f64 = 480.0;

/// What the replay did.
#[derive(Debug, Default)]
pub struct Replay {
    /// The fulfilment endpoint's secret, shown once.
    pub secret: Option<String>,
    pub orders: usize,
    /// The first and last instants the scheduler stepped at (microseconds).
    pub from: i64,
    pub to: i64,
    pub steps: u64,
    pub sent: u64,
    pub skipped: u64,
    /// The households' changes through their page, and those it refused (none expected).
    pub changes: u64,
    pub refused: u64,
    /// What the scheduler or the page could not do (the first few).
    pub problems: Vec<String>,
    /// Why the runs were not delivered while replaying (the receiver's address was taken).
    pub undelivered: Option<String>,
    /// Deliveries taken by the receiver while replaying.
    pub delivered: u64,
    pub seconds: f64,
}

/// The standing orders as they stand: the orders by status and the runs sent to fulfilment.
#[derive(Debug, Default)]
pub struct Summary {
    pub counts: BTreeMap<String, u64>,
    pub sent: u64,
    pub confirmed: u64,
    pub pending: u64,
    pub failed: u64,
}

impl Summary {
    pub fn count(&self, status: OrderStatus) -> u64 {
        self.counts.get(status.as_str()).copied().unwrap_or(0)
    }

    pub fn orders(&self) -> u64 {
        self.counts.values().sum()
    }
}

/// The standing orders of the store and the runs their endpoint was sent.
pub async fn summary(store: &dyn Store, admin: &Actor) -> anyhow::Result<Summary> {
    let list = touchbase_store::standing::list(store, admin, &OrderFilter::default(), 0).await?;
    let mut summary = Summary {
        counts: list.counts,
        ..Summary::default()
    };
    for c in store.feed_counts().await? {
        if c.rule == touchbase_store::scheduler::RULE {
            summary.sent += c.fired;
            summary.confirmed += c.delivered;
            summary.pending += c.pending;
            summary.failed += c.dead;
        }
    }
    Ok(summary)
}

/// A household whose self-service link the banner shows: an active order with a few changes
/// behind it (the first by id), with its party.
pub async fn showcase(store: &dyn Store) -> anyhow::Result<Option<Order>> {
    let active = store
        .orders(&OrderFilter {
            point: Some(POINT.to_owned()),
            status: Some(OrderStatus::Active),
            ..OrderFilter::default()
        })
        .await?;
    let changed = active
        .iter()
        .find(|o| o.revision >= 3 && o.items.len() >= 3);
    Ok(changed.or(active.first()).cloned())
}

/// What a household does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Act {
    Confirm,
    Visit,
    Resume,
    Cancel,
}

struct Household {
    order: Order,
    rng: Rng,
    cadence_changed: bool,
}

/// The same day at a waking hour in `zone` (7:00 to 22:00), after `after`.
fn daytime(at: i64, after: i64, zone: &TimeZone, rng: &mut Rng) -> i64 {
    let (hour, minute, second) = (7 + rng.below(15), rng.below(60), rng.below(60));
    let Ok(ts) = Timestamp::from_microsecond(at) else {
        return at;
    };
    let local = zone
        .to_datetime(ts)
        .date()
        .at(hour as i8, minute as i8, second as i8, 0);
    let snapped = zone
        .to_ambiguous_timestamp(local)
        .compatible()
        .map(|t| t.as_microsecond())
        .unwrap_or(at);
    if snapped > after {
        snapped
    } else {
        snapped + DAY
    }
}

/// The shelf: every item of the captured first orders, at its price, by SKU.
fn shelf_of(orders: &[Order]) -> Vec<(String, f64)> {
    let mut shelf = BTreeMap::new();
    for item in orders.iter().flat_map(|o| &o.items) {
        shelf.entry(item.sku.clone()).or_insert(item.price);
    }
    shelf.into_iter().collect()
}

/// Another quantity (1 to 6) for one of the order's standing lines, other than `skip`.
fn requantify(order: &Order, rng: &mut Rng, skip: Option<&str>) -> Option<Edit> {
    let lines: Vec<_> = order
        .items
        .iter()
        .filter(|i| i.only.is_none() && Some(i.sku.as_str()) != skip)
        .collect();
    if lines.is_empty() {
        return None;
    }
    let line = lines[rng.below(lines.len())];
    let qty = (line.qty.round() as usize + rng.below(5)) % 6 + 1;
    Some(Edit::Set {
        sku: line.sku.clone(),
        qty: qty as f64,
        price: None,
        only: None,
    })
}

/// What a household does at `at` and when it acts again: the changes it makes on its page
/// (none when there is nothing to do), and its next acts.
fn decide(
    h: &mut Household,
    act: Act,
    at: i64,
    standing: &Standing,
    zone: &TimeZone,
    shelf: &[(String, f64)],
) -> (Vec<Edit>, Vec<(i64, Act)>) {
    use OrderStatus::*;
    let status = h.order.status;
    let rng = &mut h.rng;
    let visit = |rng: &mut Rng, from: i64| {
        let at = from + rng.wait(VISIT_DAYS).max(DAY);
        (daytime(at, from, zone, rng), Act::Visit)
    };
    match act {
        Act::Confirm if status == Offered => {
            let stays = at + rng.wait(STAY_DAYS);
            let next = vec![visit(rng, at), (daytime(stays, at, zone, rng), Act::Cancel)];
            // Half keep the weekly run; the others choose their cadence as they confirm.
            let mut edits = vec![Edit::Confirm];
            let cadence = rng.unit();
            if cadence >= 0.5 {
                h.cadence_changed = true;
                edits.push(Edit::Cadence {
                    schedule: if cadence < 0.85 { FORTNIGHTLY } else { MONTHLY }.to_owned(),
                });
            }
            // And a third change a quantity while they are on the page.
            if rng.chance(0.3) {
                edits.extend(requantify(&h.order, rng, None));
            }
            (edits, next)
        }
        Act::Cancel if status != Cancelled => (vec![Edit::Cancel], Vec::new()),
        Act::Resume if status == Paused => (vec![Edit::Resume], vec![visit(rng, at)]),
        Act::Visit if status == Active => {
            let next = visit(rng, at);
            let reaches = Timestamp::from_microsecond(at)
                .ok()
                .and_then(|now| {
                    touchbase_core::standing::upcoming(&h.order, standing, zone, now).ok()
                })
                .and_then(|u| u.next)
                .map(|(_, date, _)| date);
            let Some(reaches) = reaches else {
                return (Vec::new(), vec![next]);
            };
            let standing_lines: Vec<&touchbase_core::standing::Item> =
                h.order.items.iter().filter(|i| i.only.is_none()).collect();
            let absent: Vec<&(String, f64)> = shelf
                .iter()
                .filter(|(sku, _)| !h.order.items.iter().any(|i| i.sku == *sku))
                .collect();
            let quantity = |rng: &mut Rng, skip: Option<&str>| requantify(&h.order, rng, skip);
            let mut edits = Vec::new();
            match rng.unit() {
                c if c < 0.07 => {
                    // A holiday: paused, and most come back two to eight weeks later.
                    let mut next = Vec::new();
                    if rng.chance(0.8) {
                        let back = at + (14 + rng.below(43) as i64) * DAY;
                        next.push((daytime(back, at, zone, rng), Act::Resume));
                    }
                    return (vec![Edit::Pause], next);
                }
                c if c < 0.12 && !h.cadence_changed => {
                    h.cadence_changed = true;
                    let schedule = match h.order.schedule.as_str() {
                        FORTNIGHTLY => "FREQ=WEEKLY",
                        _ if rng.chance(0.7) => FORTNIGHTLY,
                        _ => MONTHLY,
                    };
                    edits.push(Edit::Cadence {
                        schedule: schedule.to_owned(),
                    });
                }
                c if c < 0.30 => edits.push(Edit::Skip { date: reaches }),
                c if c < 0.52 && !absent.is_empty() => {
                    // Something extra for the next delivery only.
                    let (sku, price) = absent[rng.below(absent.len())];
                    edits.push(Edit::Set {
                        sku: sku.clone(),
                        qty: (1 + rng.below(2)) as f64,
                        price: Some(*price),
                        only: Some(reaches),
                    });
                }
                c if (0.80..0.92).contains(&c) && !absent.is_empty() => {
                    let (sku, price) = absent[rng.below(absent.len())];
                    edits.push(Edit::Set {
                        sku: sku.clone(),
                        qty: (1 + rng.below(2)) as f64,
                        price: Some(*price),
                        only: None,
                    });
                }
                c if c >= 0.92 && standing_lines.len() >= 2 => {
                    let line = standing_lines[rng.below(standing_lines.len())];
                    edits.push(Edit::Remove {
                        sku: line.sku.clone(),
                    });
                    return (edits, vec![next]);
                }
                _ => edits.extend(quantity(rng, None)),
            }
            // A quarter of those changes come with another quantity changed.
            if let Some(Edit::Set { sku, .. }) = edits.first()
                && rng.chance(0.25)
                && let Some(more) = quantity(rng, Some(&sku.clone()))
            {
                edits.push(more);
            }
            (edits, vec![next])
        }
        _ => (Vec::new(), Vec::new()),
    }
}

/// What every household acts under: the automated point's section, its time zone, the shelf.
struct World {
    standing: Standing,
    zone: TimeZone,
    shelf: Vec<(String, f64)>,
}

/// What a household did up to a step: the changes made and refused, and its acts after the
/// step.
struct Lived {
    changes: u64,
    refused: Vec<String>,
    later: Vec<(i64, Act)>,
}

/// A household's acts before `until`, in time order (and those they lead to before it), each
/// change made through its page at the act's instant.
async fn live(
    store: &dyn Store,
    world: &World,
    h: &mut Household,
    acts: Vec<(i64, Act)>,
    until: i64,
) -> Lived {
    let (mut changes, mut refused, mut later) = (0, Vec::new(), Vec::new());
    let mut ahead: BinaryHeap<Reverse<(i64, Act)>> = acts.into_iter().map(Reverse).collect();
    while let Some(Reverse((at, act))) = ahead.pop() {
        let (edits, next) = decide(h, act, at, &world.standing, &world.zone, &world.shelf);
        for (t, a) in next {
            if t < until {
                ahead.push(Reverse((t, a)));
            } else {
                later.push((t, a));
            }
        }
        if edits.is_empty() {
            continue;
        }
        let result =
            touchbase_store::standing::edit(store, By::Party, &h.order.id, &edits, at).await;
        match result {
            Ok(edited) => {
                h.order = edited.order;
                changes += 1;
            }
            Err(e) => refused.push(format!("{}'s change was refused: {e}", h.order.party)),
        }
    }
    Lived {
        changes,
        refused,
        later,
    }
}

/// A receiver on the fulfilment endpoint's address while the replay delivers
/// ([`touchbase_server::listen::accept_all`]: each run taken with 200, as a fulfilment system
/// that took it would answer).
struct Receiver {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Receiver {
    async fn start(address: &str) -> std::io::Result<Receiver> {
        let listener = tokio::net::TcpListener::bind(address).await?;
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(touchbase_server::listen::accept_all(listener, async {
            let _ = stopped.await;
        }));
        Ok(Receiver { stop, task })
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// Adds the `fulfilment` endpoint and replays the year of standing orders up to `now`
/// (microseconds): the scheduler stepped once a week, the households' changes between the
/// steps at their own instants, and the runs delivered to a receiver on the endpoint's address
/// (left pending when the address is taken).
pub async fn replay(
    store: &Arc<dyn Store>,
    admin: &Actor,
    keys: &Keys,
    now: i64,
) -> anyhow::Result<Replay> {
    let started = std::time::Instant::now();
    let shown = touchbase_store::feed::add_endpoint(
        &**store,
        admin,
        keys,
        touchbase_store::feed::NewEndpoint {
            key: ENDPOINT.to_owned(),
            kind: EndpointKind::Webhook,
            target: FULFILMENT_URL.to_owned(),
            allow_private: true,
        },
    )
    .await
    .context("the demo's fulfilment endpoint was not added")?;
    let mut replay = Replay {
        secret: shown.secret,
        ..Replay::default()
    };
    let inventory = touchbase_store::inventory::get(&**store).await?.value;
    let standing = inventory
        .point(POINT)
        .and_then(|p| p.standing.clone())
        .with_context(|| format!("the demo's {POINT} has no standing section"))?;
    let zone =
        touchbase_core::standing::time_zone(&standing, inventory.organization.timezone.as_deref())
            .map_err(anyhow::Error::msg)?;
    let mut orders = store
        .orders(&OrderFilter {
            point: Some(POINT.to_owned()),
            ..OrderFilter::default()
        })
        .await?;
    orders.sort_by(|a, b| (a.first_at, &a.id).cmp(&(b.first_at, &b.id)));
    replay.orders = orders.len();
    let Some(earliest) = orders.first().map(|o| o.first_at) else {
        replay.seconds = started.elapsed().as_secs_f64();
        return Ok(replay);
    };
    let shelf = shelf_of(&orders);
    // Each household's first act: confirming its order a few hours to days later, or never.
    let mut ahead: BinaryHeap<Reverse<(i64, usize, Act)>> = BinaryHeap::new();
    let mut households: Vec<Household> = orders
        .into_iter()
        .enumerate()
        .map(|(i, order)| {
            let mut rng = Rng::seeded(&order.id);
            if rng.chance(CONFIRMS) {
                let at = order.first_at + HOUR + rng.wait(CONFIRM_DAYS);
                let at = if rng.chance(0.5) {
                    daytime(at, order.first_at + HOUR, &zone, &mut rng)
                } else {
                    at
                };
                ahead.push(Reverse((at, i, Act::Confirm)));
            }
            Household {
                order,
                rng,
                cadence_changed: false,
            }
        })
        .collect();

    let address = FULFILMENT_URL
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or_default();
    let receiver = match Receiver::start(address).await {
        Ok(r) => Some(r),
        Err(e) => {
            replay.undelivered = Some(format!("{address} was taken ({e})"));
            None
        }
    };

    let world = World {
        standing,
        zone,
        shelf,
    };
    let mut step_at = (earliest.div_euclid(DAY) + 1) * DAY;
    replay.from = step_at.min(now);
    loop {
        let until = step_at.min(now);
        // The households that act before the step, one after the other (their orders are
        // independent), each one's acts in time order.
        let mut acting: BTreeMap<usize, Vec<(i64, Act)>> = BTreeMap::new();
        while let Some(Reverse((at, i, act))) = ahead.peek().copied()
            && at < until
        {
            ahead.pop();
            acting.entry(i).or_default().push((at, act));
        }
        for (i, acts) in acting {
            let lived = live(&**store, &world, &mut households[i], acts, until).await;
            replay.changes += lived.changes;
            replay.refused += lived.refused.len() as u64;
            for why in lived.refused {
                if replay.problems.len() < 5 {
                    replay.problems.push(why);
                }
            }
            for (t, a) in lived.later {
                if t < now {
                    ahead.push(Reverse((t, i, a)));
                }
            }
        }
        let report = touchbase_store::scheduler::step(&**store, admin, until)
            .await
            .context("the standing orders' scheduler failed")?;
        replay.steps += 1;
        replay.sent += report.sent;
        replay.skipped += report.skipped;
        for problem in report.problems {
            if replay.problems.len() < 5 {
                replay.problems.push(problem);
            }
        }
        replay.to = until;
        if until >= now {
            break;
        }
        step_at += STEP;
    }

    if let Some(receiver) = receiver {
        let dispatcher = touchbase_feed::Dispatcher::new(
            Arc::clone(store),
            keys.clone(),
            touchbase_feed::Config::default(),
        )
        .context("the dispatcher could not start")?;
        let delivered = dispatcher.run_until_idle().await;
        receiver.stop().await;
        replay.delivered = delivered
            .context("the standing orders' runs were not delivered")?
            .delivered;
    }
    replay.seconds = started.elapsed().as_secs_f64();
    Ok(replay)
}
