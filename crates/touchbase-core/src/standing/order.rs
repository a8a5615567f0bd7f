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

/// What the scheduler does with one run at an instant.
#[derive(Debug, Clone, PartialEq)]
pub enum Due {
    /// The cut-off has passed: freeze the revision in force for this run.
    Lock { at: Timestamp, date: String },
    /// The run's instant has passed: send it (after locking it, if that was missed too).
    /// `late` is how long after its instant it is sent (a scheduler that was down).
    Send {
        at: Timestamp,
        date: String,
        late: jiff::SignedDuration,
    },
    /// The run falls while the order is paused, or the party asked to skip it.
    Skip {
        at: Timestamp,
        date: String,
        why: &'static str,
    },
}

/// What is due for `order` at `now`, given the instant of the last run already handled (sent
/// or skipped; `None` before the first), and whether that last one is only locked. Every run
/// from the last handled one up to `now` is listed once, oldest first — a scheduler that was
/// down catches up each run it missed — then the next run if its cut-off has passed.
pub fn due(
    order: &Order,
    standing: &Standing,
    zone: &TimeZone,
    handled: Option<Timestamp>,
    locked: Option<Timestamp>,
    now: Timestamp,
) -> Result<Vec<Due>, String> {
    if matches!(order.status, OrderStatus::Offered | OrderStatus::Cancelled) {
        return Ok(Vec::new());
    }
    let first = Timestamp::from_microsecond(order.first_at).map_err(|e| e.to_string())?;
    let schedule = Schedule::new(&order.schedule, zone, first)?;
    let after = handled.unwrap_or(first);
    let mut out = Vec::new();
    for at in schedule.runs(after, now) {
        let date = run_date(at, zone);
        if order.status == OrderStatus::Paused {
            out.push(Due::Skip {
                at,
                date,
                why: "paused",
            });
        } else if order.skip.as_deref() == Some(date.as_str()) {
            out.push(Due::Skip {
                at,
                date,
                why: "skipped by the party",
            });
        } else {
            out.push(Due::Send {
                at,
                date,
                late: now.duration_since(at),
            });
        }
    }
    if let Some(next) = schedule.next(now)
        && now >= cutoff_of(next, &standing.cutoff)
        && locked != Some(next)
        && order.status == OrderStatus::Active
    {
        out.push(Due::Lock {
            at: next,
            date: run_date(next, zone),
        });
    }
    Ok(out)
}

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
            due(&order, &s, &zone, None, None, ts("2026-01-12T18:00:00Z")),
            Ok(vec![])
        );
        // After it: the run is locked.
        let run1 = ts("2026-01-13T18:30:00Z");
        let lock = Due::Lock {
            at: run1,
            date: "2026-01-13".to_owned(),
        };
        assert_eq!(
            due(&order, &s, &zone, None, None, ts("2026-01-12T19:00:00Z")),
            Ok(vec![lock.clone()])
        );
        // Locked already: nothing more until it falls due.
        assert_eq!(
            due(
                &order,
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
        let got = due(&order, &s, &zone, None, Some(run1), now).unwrap();
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
        assert_eq!(due(&order, &s, &zone, handled, None, now), Ok(vec![]));
        let got = due(&order, &s, &zone, handled, None, ts("2026-02-02T19:00:00Z")).unwrap();
        assert!(
            matches!(got.as_slice(), [Due::Lock { date, .. }] if date == "2026-02-03"),
            "{got:?}"
        );
        // A skipped date and a pause.
        order.skip = Some("2026-02-03".to_owned());
        let got = due(
            &order,
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
            assert_eq!(due(&order, &s, &zone, None, None, now), Ok(vec![]));
        }
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
