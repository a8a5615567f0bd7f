//! A standing order and its runs, as pure values: what a party's first order captures, the key
//! that makes a run the same on every retry, and what is due at an instant. The stores keep the
//! orders, their revisions and their runs; the scheduler asks [`due`] what to do.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{Consent, Schedule, Standing, cutoff_of, items_field};

/// One line of a standing order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Item {
    pub sku: String,
    pub qty: f64,
    /// The unit price, in the organization's currency.
    pub price: f64,
    /// For the run on this local date only (`YYYY-MM-DD`), then dropped: "next delivery only".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub only: Option<String>,
}

/// The most lines an order may have.
pub const ITEMS_MAX: usize = 200;

/// Where a standing order stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum OrderStatus {
    /// Captured with explicit consent: waits for the party to confirm; nothing runs.
    Offered,
    Active,
    /// Runs falling while paused are skipped.
    Paused,
    /// Ended for good.
    Cancelled,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Offered => "offered",
            OrderStatus::Active => "active",
            OrderStatus::Paused => "paused",
            OrderStatus::Cancelled => "cancelled",
        }
    }
}

/// Where one run stands: `scheduled` → `locked` at the cut-off (the revision in force frozen)
/// → `sent` (a delivery written) → `confirmed` | `failed`; or `skipped`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    Scheduled,
    Locked,
    Sent,
    Confirmed,
    Failed,
    Skipped,
}

impl RunState {
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Scheduled => "scheduled",
            RunState::Locked => "locked",
            RunState::Sent => "sent",
            RunState::Confirmed => "confirmed",
            RunState::Failed => "failed",
            RunState::Skipped => "skipped",
        }
    }
}

/// A party's standing order at one automated point, as of its latest revision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Order {
    /// [`order_id`] of the point and the party.
    pub id: String,
    /// The automated point.
    pub point: String,
    pub party: String,
    /// The first order's event (at the `from` point) and its instant, which starts the
    /// schedule (microseconds since the epoch).
    pub first_event: String,
    pub first_at: i64,
    pub status: OrderStatus,
    pub items: Vec<Item>,
    /// The RRULE in force (the point's, unless the party changed the cadence).
    pub schedule: String,
    /// The local date (`YYYY-MM-DD`) of a run the party asked to skip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip: Option<String>,
    /// 1 for the captured order; each change adds one.
    pub revision: u32,
    /// When this revision took effect (microseconds since the epoch): the first order's
    /// instant for the captured order, the instant of the change for the others. The run whose
    /// cut-off falls before it still goes out as the revision before had it.
    #[serde(default)]
    pub changed_at: i64,
}

/// The id of `party`'s standing order at `point`: one order per party and automated point, so
/// capturing the same first order twice finds the order already there.
pub fn order_id(point: &str, party: &str) -> String {
    let digest = Sha256::digest(format!("{point}\u{0}{party}").as_bytes());
    format!("so_{}", &crate::access::hex(&digest)[..24])
}

/// The items of an event's `data` under `standing.items`: an array of `{sku, qty, price}`,
/// each with a non-empty sku, a quantity above 0 and a price of 0 or more, at most
/// [`ITEMS_MAX`]. The error says which and why.
pub fn items_of(standing: &Standing, data: Option<&Value>) -> Result<Vec<Item>, String> {
    let field = items_field(&standing.items).ok_or("the section's `items` is not data.NAME")?;
    let list = data
        .and_then(|d| d.get(field))
        .ok_or_else(|| format!("the event has no data.{field}"))?
        .as_array()
        .ok_or_else(|| format!("data.{field} is not an array"))?;
    if list.is_empty() || list.len() > ITEMS_MAX {
        return Err(format!(
            "data.{field} must hold 1 to {ITEMS_MAX} items, got {}",
            list.len()
        ));
    }
    list.iter()
        .enumerate()
        .map(|(i, v)| {
            let item: Item = serde_json::from_value(v.clone())
                .map_err(|e| format!("data.{field}[{i}] is not {{sku, qty, price}}: {e}"))?;
            if item.sku.trim().is_empty() {
                return Err(format!("data.{field}[{i}].sku must not be empty"));
            }
            if !(item.qty.is_finite() && item.qty > 0.0 && item.qty <= 1e6) {
                return Err(format!(
                    "data.{field}[{i}].qty must be above 0 and at most 10⁶"
                ));
            }
            if !(item.price.is_finite() && (0.0..=1e9).contains(&item.price)) {
                return Err(format!("data.{field}[{i}].price must be 0 to 10⁹"));
            }
            Ok(Item { only: None, ..item })
        })
        .collect()
}

/// The order a party's first order captures: `first_event` at `first_at` (microseconds)
/// with its items, offered or active as the section's consent says.
pub fn capture(
    standing: &Standing,
    point: &str,
    party: &str,
    first_event: &str,
    first_at: i64,
    items: Vec<Item>,
) -> Order {
    Order {
        id: order_id(point, party),
        point: point.to_owned(),
        party: party.to_owned(),
        first_event: first_event.to_owned(),
        first_at,
        status: match standing.consent {
            Consent::Explicit => OrderStatus::Offered,
            Consent::Implied => OrderStatus::Active,
        },
        items,
        schedule: standing.schedule.clone(),
        skip: None,
        revision: 1,
        changed_at: first_at,
    }
}

/// The local date of a run in the order's zone: the run's name in its key and on the page.
pub fn run_date(at: Timestamp, zone: &TimeZone) -> String {
    zone.to_datetime(at).date().to_string()
}

/// A run's idempotency key: the order and the run's local date, the same on every retry (the
/// `Idempotency-Key` header and the body's `idempotency_key`).
pub fn idempotency_key(order: &str, date: &str) -> String {
    format!("{order}:{date}")
}

/// The items a run on `date` carries: every standing line, and the lines for that date only.
pub fn items_for(items: &[Item], date: &str) -> Vec<Item> {
    items
        .iter()
        .filter(|i| i.only.as_deref().is_none_or(|d| d == date))
        .cloned()
        .collect()
}

/// What a run's items are worth to the company: the sum of quantity × price.
pub fn value_of(items: &[Item]) -> f64 {
    items.iter().map(|i| i.qty * i.price).sum()
}

/// What the scheduler does with one run at an instant. Each carries the order as it was in
/// force at the run's cut-off: a change made after it reaches the run after.
#[derive(Debug, Clone, PartialEq)]
pub enum Due {
    /// The cut-off has passed: freeze the revision in force for this run.
    Lock {
        at: Timestamp,
        date: String,
        order: Order,
    },
    /// The run's instant has passed: send it (after locking it, if that was missed too).
    /// `late` is how long after its instant it is sent (a scheduler that was down).
    Send {
        at: Timestamp,
        date: String,
        late: jiff::SignedDuration,
        order: Order,
    },
    /// The run falls while the order is paused, or the party asked to skip it.
    Skip {
        at: Timestamp,
        date: String,
        why: &'static str,
        order: Order,
    },
}

impl Due {
    /// The run's instant and local date.
    pub fn run(&self) -> (Timestamp, &str) {
        match self {
            Due::Lock { at, date, .. }
            | Due::Send { at, date, .. }
            | Due::Skip { at, date, .. } => (*at, date),
        }
    }

    /// The order in force for the run.
    pub fn order(&self) -> &Order {
        match self {
            Due::Lock { order, .. } | Due::Send { order, .. } | Due::Skip { order, .. } => order,
        }
    }
}

/// The revision of an order in force at `instant` (microseconds): the latest that took effect
/// by then, of `current` and its earlier revisions `history` (any order); the first revision
/// when none had (a run whose cut-off comes before the first order itself).
pub fn in_force<'a>(current: &'a Order, history: &'a [Order], instant: i64) -> &'a Order {
    if current.changed_at <= instant {
        return current;
    }
    history
        .iter()
        .filter(|o| o.changed_at <= instant && o.revision < current.revision)
        .max_by_key(|o| o.revision)
        .or_else(|| history.iter().min_by_key(|o| o.revision))
        .unwrap_or(current)
}

/// Whether [`due`] needs the order's earlier revisions: its latest took effect after the
/// cut-off of the first run not handled yet.
pub fn needs_history(
    current: &Order,
    standing: &Standing,
    zone: &TimeZone,
    handled: Option<Timestamp>,
) -> Result<bool, String> {
    if current.revision <= 1 {
        return Ok(false);
    }
    let first = Timestamp::from_microsecond(current.first_at).map_err(|e| e.to_string())?;
    let schedule = Schedule::new(&current.schedule, zone, first)?;
    Ok(schedule.next(handled.unwrap_or(first)).is_some_and(|next| {
        cutoff_of(next, &standing.cutoff).as_microsecond() < current.changed_at
    }))
}

/// What is due for `current` (with its earlier revisions `history`, needed only when
/// [`needs_history`] says so) at `now`, given the instant of the last run already handled
/// (sent or skipped; `None` before the first) and of the last run locked. Every run from the
/// last handled one up to `now` is listed once, oldest first — a scheduler that was down
/// catches up each run it missed — then the next run if its cut-off has passed. Each run is
/// decided by the revision in force at its cut-off: not yet confirmed (offered), no run;
/// cancelled, no run from there on; paused, skipped; active, sent unless its date was skipped.
pub fn due(
    current: &Order,
    history: &[Order],
    standing: &Standing,
    zone: &TimeZone,
    handled: Option<Timestamp>,
    locked: Option<Timestamp>,
    now: Timestamp,
) -> Result<Vec<Due>, String> {
    if current.status == OrderStatus::Offered {
        return Ok(Vec::new());
    }
    let first = Timestamp::from_microsecond(current.first_at).map_err(|e| e.to_string())?;
    let schedule = Schedule::new(&current.schedule, zone, first)?;
    let after = handled.unwrap_or(first);
    let of = |at: Timestamp| {
        in_force(
            current,
            history,
            cutoff_of(at, &standing.cutoff).as_microsecond(),
        )
    };
    let mut out = Vec::new();
    for at in schedule.runs(after, now) {
        let date = run_date(at, zone);
        let order = of(at);
        let due = match order.status {
            OrderStatus::Offered => continue,
            OrderStatus::Cancelled => return Ok(out),
            OrderStatus::Paused => Due::Skip {
                at,
                date,
                why: "paused",
                order: order.clone(),
            },
            OrderStatus::Active if order.skip.as_deref() == Some(date.as_str()) => Due::Skip {
                at,
                date,
                why: "skipped by the party",
                order: order.clone(),
            },
            OrderStatus::Active => Due::Send {
                at,
                date,
                late: now.duration_since(at),
                order: order.clone(),
            },
        };
        out.push(due);
    }
    if let Some(next) = schedule.next(now)
        && now >= cutoff_of(next, &standing.cutoff)
        && locked != Some(next)
    {
        let order = of(next);
        let date = run_date(next, zone);
        if order.status == OrderStatus::Active && order.skip.as_deref() != Some(date.as_str()) {
            out.push(Due::Lock {
                at: next,
                date,
                order: order.clone(),
            });
        }
    }
    Ok(out)
}

/// One run of a standing order as a store keeps it: its state and the revision it went out
/// with (or was frozen at). A run that was sent is confirmed or failed as its delivery is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Run {
    pub order: String,
    /// The run's local date, which names it (`YYYY-MM-DD`).
    pub date: String,
    /// The run's instant (microseconds since the epoch).
    pub at: i64,
    pub state: RunState,
    pub revision: u32,
    /// Why it was skipped, or how late it was sent.
    #[serde(default)]
    pub note: String,
    /// The delivery to the endpoint (sent runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<String>,
    /// When the scheduler wrote this state (microseconds since the epoch).
    pub updated_at: i64,
}

impl RunState {
    /// A run moves forward only: scheduled → locked → sent | skipped (confirmed and failed are
    /// read from the delivery). The rank says which state a run may move to.
    pub fn rank(self) -> u8 {
        match self {
            RunState::Scheduled => 0,
            RunState::Locked => 1,
            RunState::Sent | RunState::Skipped => 2,
            RunState::Confirmed | RunState::Failed => 3,
        }
    }

    pub fn parse(text: &str) -> Option<RunState> {
        [
            RunState::Scheduled,
            RunState::Locked,
            RunState::Sent,
            RunState::Confirmed,
            RunState::Failed,
            RunState::Skipped,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

impl OrderStatus {
    pub fn parse(text: &str) -> Option<OrderStatus> {
        [
            OrderStatus::Offered,
            OrderStatus::Active,
            OrderStatus::Paused,
            OrderStatus::Cancelled,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// The id of a run's accepted event at the automated point.
pub fn run_event_id(order: &str, date: &str) -> String {
    format!("run:{}", idempotency_key(order, date))
}

/// One change to a standing order, by the party through its link or by staff.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Edit {
    /// An offered order accepted by the party (explicit consent): it runs from now on.
    Confirm,
    Pause,
    Resume,
    /// Ended for good; a run already locked still goes out.
    Cancel,
    /// No run on this local date.
    Skip {
        date: String,
    },
    /// The skip taken back.
    Unskip,
    /// A line set to `qty` (added when the order does not have it, at `price`), for every run
    /// or for the run on `only` alone ("next delivery only").
    Set {
        sku: String,
        qty: f64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        price: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        only: Option<String>,
    },
    /// A line taken out.
    Remove {
        sku: String,
    },
    /// Another cadence: an RRULE (at most daily), from the first order's instant.
    Cadence {
        schedule: String,
    },
}

impl Edit {
    /// The change in a few words, for the revision's note and the edit's event.
    pub fn summary(&self) -> String {
        match self {
            Edit::Confirm => "confirmed".to_owned(),
            Edit::Pause => "paused".to_owned(),
            Edit::Resume => "resumed".to_owned(),
            Edit::Cancel => "cancelled".to_owned(),
            Edit::Skip { date } => format!("skip {date}"),
            Edit::Unskip => "skip taken back".to_owned(),
            Edit::Set {
                sku,
                qty,
                only: Some(date),
                ..
            } => format!("{sku} × {qty} on {date} only"),
            Edit::Set { sku, qty, .. } => format!("{sku} × {qty}"),
            Edit::Remove { sku } => format!("{sku} removed"),
            Edit::Cadence { schedule } => format!("cadence {schedule}"),
        }
    }
}

/// The order after `edit`, or the rule the edit breaks. Status changes follow the order's
/// life: offered → active (confirm), active ⇄ paused, anything but cancelled → cancelled.
pub fn apply(order: &Order, edit: &Edit) -> Result<Order, String> {
    use OrderStatus::*;
    let mut next = order.clone();
    let status = |from: &[OrderStatus], to: OrderStatus, what: &str| {
        if from.contains(&order.status) {
            Ok(to)
        } else {
            Err(format!(
                "cannot {what} an order that is {}",
                order.status.as_str()
            ))
        }
    };
    match edit {
        Edit::Confirm => next.status = status(&[Offered], Active, "confirm")?,
        Edit::Pause => next.status = status(&[Active], Paused, "pause")?,
        Edit::Resume => next.status = status(&[Paused], Active, "resume")?,
        Edit::Cancel => next.status = status(&[Offered, Active, Paused], Cancelled, "cancel")?,
        _ if order.status == Cancelled => {
            return Err("the order is cancelled: nothing of it can change".to_owned());
        }
        Edit::Skip { date } => {
            jiff::civil::Date::strptime("%Y-%m-%d", date)
                .map_err(|_| format!("skip: `{date}` is not a date YYYY-MM-DD"))?;
            next.skip = Some(date.clone());
        }
        Edit::Unskip => next.skip = None,
        Edit::Set {
            sku,
            qty,
            price,
            only,
        } => {
            if sku.trim().is_empty() || sku.len() > 128 {
                return Err("sku must be 1 to 128 characters".to_owned());
            }
            if !(qty.is_finite() && *qty > 0.0 && *qty <= 1e6) {
                return Err(format!("qty of {sku} must be above 0 and at most 10⁶"));
            }
            let known = order.items.iter().find(|i| i.sku == *sku).map(|i| i.price);
            let price = match price.or(known) {
                Some(p) if p.is_finite() && (0.0..=1e9).contains(&p) => p,
                Some(_) => return Err(format!("price of {sku} must be 0 to 10⁹")),
                None => return Err(format!("{sku} is not in the order: give its price")),
            };
            next.items.retain(|i| !(i.sku == *sku && i.only == *only));
            next.items.push(Item {
                sku: sku.clone(),
                qty: *qty,
                price,
                only: only.clone(),
            });
            if next.items.len() > ITEMS_MAX {
                return Err(format!("an order holds at most {ITEMS_MAX} lines"));
            }
        }
        Edit::Remove { sku } => {
            let before = next.items.len();
            next.items.retain(|i| i.sku != *sku);
            if next.items.len() == before {
                return Err(format!("{sku} is not in the order"));
            }
            if next.items.iter().all(|i| i.only.is_some()) {
                return Err(
                    "an order needs at least one standing line: pause or cancel it instead"
                        .to_owned(),
                );
            }
        }
        Edit::Cadence { schedule } => {
            super::check_schedule(schedule).map_err(|why| format!("cadence: {why}"))?;
            next.schedule = schedule.trim().to_owned();
        }
    }
    Ok(next)
}

/// The runs ahead of `now`: the next one already locked (its cut-off passed), if any, and the
/// first one a change made now still reaches, with its cut-off.
#[derive(Debug, Clone, PartialEq)]
pub struct Upcoming {
    pub locked: Option<(Timestamp, String)>,
    pub next: Option<(Timestamp, String, Timestamp)>,
}

/// What is ahead of an order at `now`.
pub fn upcoming(
    order: &Order,
    standing: &Standing,
    zone: &TimeZone,
    now: Timestamp,
) -> Result<Upcoming, String> {
    let first = Timestamp::from_microsecond(order.first_at).map_err(|e| e.to_string())?;
    let schedule = Schedule::new(&order.schedule, zone, first)?;
    let mut locked = None;
    let mut after = now;
    for _ in 0..RUNS_AHEAD {
        let Some(at) = schedule.next(after) else {
            return Ok(Upcoming { locked, next: None });
        };
        let cutoff = cutoff_of(at, &standing.cutoff);
        if cutoff > now {
            return Ok(Upcoming {
                locked,
                next: Some((at, run_date(at, zone), cutoff)),
            });
        }
        locked.get_or_insert((at, run_date(at, zone)));
        after = at;
    }
    Ok(Upcoming { locked, next: None })
}

/// How many runs ahead [`upcoming`] looks for one still open to changes.
const RUNS_AHEAD: usize = 400;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Span;

    fn standing(consent: Consent) -> Standing {
        Standing {
            from: "web.order".to_owned(),
            items: "data.items".to_owned(),
            schedule: "FREQ=WEEKLY".to_owned(),
            timezone: Some("Europe/London".to_owned()),
            cutoff: Span::parse("24h").unwrap(),
            consent,
            endpoint: "fulfilment".to_owned(),
            edit_point: "replenishment.edit".to_owned(),
        }
    }

    fn ts(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn basket() -> Vec<Item> {
        let data = serde_json::json!({ "items": [
            { "sku": "milk-2l", "qty": 2, "price": 1.5 },
            { "sku": "bread", "qty": 1, "price": 2.25 } ] });
        items_of(&standing(Consent::Implied), Some(&data)).unwrap()
    }

    fn london() -> TimeZone {
        TimeZone::get("Europe/London").unwrap()
    }

    #[test]
    fn a_first_order_captures_its_items_and_consent() {
        let items = basket();
        assert_eq!(value_of(&items), 5.25);
        let s = standing(Consent::Explicit);
        let first = ts("2026-01-06T18:30:00Z").as_microsecond();
        let order = capture(
            &s,
            "replenishment.auto",
            "hh-1",
            "e-1",
            first,
            items.clone(),
        );
        assert_eq!(order.status, OrderStatus::Offered);
        assert_eq!(order.id, order_id("replenishment.auto", "hh-1"));
        assert_ne!(order.id, order_id("replenishment.auto", "hh-2"));
        assert_ne!(order.id, order_id("other.auto", "hh-1"));
        let implied = capture(
            &standing(Consent::Implied),
            "p",
            "hh-1",
            "e-1",
            first,
            items,
        );
        assert_eq!(implied.status, OrderStatus::Active);
    }

    #[test]
    fn broken_items_are_named() {
        let s = standing(Consent::Implied);
        let err = |data: Value| items_of(&s, Some(&data)).unwrap_err();
        assert!(err(serde_json::json!({})).contains("no data.items"));
        assert!(err(serde_json::json!({ "items": {} })).contains("not an array"));
        assert!(err(serde_json::json!({ "items": [] })).contains("1 to 200"));
        assert!(
            err(serde_json::json!({ "items": [{ "sku": "a", "qty": 0, "price": 1 }] }))
                .contains("items[0].qty")
        );
        assert!(
            err(serde_json::json!({ "items": [{ "sku": " ", "qty": 1, "price": 1 }] }))
                .contains("items[0].sku")
        );
        assert!(
            err(serde_json::json!({ "items": [{ "sku": "a", "qty": 1 }] }))
                .contains("items[0] is not {sku, qty, price}")
        );
        assert!(items_of(&s, None).is_err());
    }

    #[test]
    fn a_run_is_keyed_by_its_order_and_local_date() {
        // 23:30 UTC on 30 June is 1 July in London (summer time): the local date names it.
        let date = run_date(ts("2026-06-30T23:30:00Z"), &london());
        assert_eq!(date, "2026-07-01");
        assert_eq!(idempotency_key("so_1", &date), "so_1:2026-07-01");
    }

    #[test]
    fn what_is_due_moves_with_the_clock() {
        let s = standing(Consent::Implied);
        let first = ts("2026-01-06T18:30:00Z");
        let mut order = capture(&s, "p", "hh-1", "e-1", first.as_microsecond(), basket());
        let zone = london();
        // Before the first run's cut-off: nothing.
        assert_eq!(
            due(
                &order,
                &[],
                &s,
                &zone,
                None,
                None,
                ts("2026-01-12T18:00:00Z")
            ),
            Ok(vec![])
        );
        // After it: the run is locked.
        let run1 = ts("2026-01-13T18:30:00Z");
        let lock = Due::Lock {
            at: run1,
            date: "2026-01-13".to_owned(),
            order: order.clone(),
        };
        assert_eq!(
            due(
                &order,
                &[],
                &s,
                &zone,
                None,
                None,
                ts("2026-01-12T19:00:00Z")
            ),
            Ok(vec![lock.clone()])
        );
        // Locked already: nothing more until it falls due.
        assert_eq!(
            due(
                &order,
                &[],
                &s,
                &zone,
                None,
                Some(run1),
                ts("2026-01-12T19:00:00Z")
            ),
            Ok(vec![])
        );
        // Three weeks down: each missed run once, oldest first, then the next one's lock.
        let now = ts("2026-01-27T20:00:00Z");
        let got = due(&order, &[], &s, &zone, None, Some(run1), now).unwrap();
        let sent: Vec<(String, i64)> = got
            .iter()
            .filter_map(|d| match d {
                Due::Send { date, late, .. } => Some((date.clone(), late.as_hours())),
                _ => None,
            })
            .collect();
        assert_eq!(
            sent,
            [
                ("2026-01-13".to_owned(), 337),
                ("2026-01-20".to_owned(), 169),
                ("2026-01-27".to_owned(), 1)
            ]
        );
        assert_eq!(
            got.len(),
            3,
            "the next run's cut-off (2 February) has not passed"
        );
        // Handled up to the 27th, a day before the next run: only its lock.
        let handled = Some(ts("2026-01-27T18:30:00Z"));
        assert_eq!(due(&order, &[], &s, &zone, handled, None, now), Ok(vec![]));
        let got = due(
            &order,
            &[],
            &s,
            &zone,
            handled,
            None,
            ts("2026-02-02T19:00:00Z"),
        )
        .unwrap();
        assert!(
            matches!(got.as_slice(), [Due::Lock { date, .. }] if date == "2026-02-03"),
            "{got:?}"
        );
        // A skipped date and a pause.
        order.skip = Some("2026-02-03".to_owned());
        let got = due(
            &order,
            &[],
            &s,
            &zone,
            Some(ts("2026-01-27T18:30:00Z")),
            None,
            ts("2026-02-04T00:00:00Z"),
        )
        .unwrap();
        assert!(matches!(
            &got[0],
            Due::Skip {
                why: "skipped by the party",
                ..
            }
        ));
        order.status = OrderStatus::Paused;
        let got = due(
            &order,
            &[],
            &s,
            &zone,
            Some(ts("2026-02-03T18:30:00Z")),
            None,
            ts("2026-02-11T00:00:00Z"),
        )
        .unwrap();
        assert_eq!(got.len(), 1);
        assert!(matches!(&got[0], Due::Skip { why: "paused", .. }));
        // Offered or cancelled: nothing runs.
        for status in [OrderStatus::Offered, OrderStatus::Cancelled] {
            order.status = status;
            assert_eq!(due(&order, &[], &s, &zone, None, None, now), Ok(vec![]));
        }
    }

    #[test]
    fn a_change_after_the_cut_off_reaches_the_run_after() {
        let s = standing(Consent::Implied);
        let first = ts("2026-01-06T18:30:00Z");
        let captured = capture(&s, "p", "hh-1", "e-1", first.as_microsecond(), basket());
        let zone = london();
        // Paused and the bread dropped at 20:00 on the 12th: after the cut-off (18:30) of the
        // run on the 13th, before the one of the 20th.
        let mut changed = captured.clone();
        changed.revision = 2;
        changed.changed_at = ts("2026-01-12T20:00:00Z").as_microsecond();
        changed.items.pop();
        changed.status = OrderStatus::Paused;
        let handled = None;
        assert_eq!(needs_history(&changed, &s, &zone, handled), Ok(true));
        assert_eq!(
            needs_history(&changed, &s, &zone, Some(ts("2026-01-13T18:30:00Z"))),
            Ok(false)
        );
        let history = [captured.clone()];
        let got = due(
            &changed,
            &history,
            &s,
            &zone,
            handled,
            None,
            ts("2026-01-20T19:00:00Z"),
        )
        .unwrap();
        assert!(
            matches!(&got[0], Due::Send { date, order, .. } if date == "2026-01-13" && order.revision == 1 && order.items.len() == 2),
            "{got:?}"
        );
        assert!(
            matches!(&got[1], Due::Skip { date, why: "paused", order, .. } if date == "2026-01-20" && order.revision == 2),
            "{got:?}"
        );
        // Cancelled after the cut-off of the 13th: that run still goes, none after it.
        changed.status = OrderStatus::Cancelled;
        let got = due(
            &changed,
            &history,
            &s,
            &zone,
            handled,
            None,
            ts("2026-02-20T19:00:00Z"),
        )
        .unwrap();
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(matches!(&got[0], Due::Send { order, .. } if order.revision == 1));
        // Confirmed late (explicit consent): the runs before the confirmation are no runs.
        let mut offered = captured.clone();
        offered.status = OrderStatus::Offered;
        let mut confirmed = offered.clone();
        confirmed.revision = 2;
        confirmed.status = OrderStatus::Active;
        confirmed.changed_at = ts("2026-01-15T09:00:00Z").as_microsecond();
        let got = due(
            &confirmed,
            &[offered],
            &s,
            &zone,
            None,
            None,
            ts("2026-01-20T19:00:00Z"),
        )
        .unwrap();
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].run().1, "2026-01-20");
    }

    #[test]
    fn an_item_for_the_next_run_only_rides_once() {
        let mut items = basket();
        items.push(Item {
            sku: "cake".to_owned(),
            qty: 1.0,
            price: 9.0,
            only: Some("2026-01-13".to_owned()),
        });
        assert_eq!(items_for(&items, "2026-01-13").len(), 3);
        assert_eq!(items_for(&items, "2026-01-20").len(), 2);
    }
}
