//! Standing orders on every store: a capture writes revision 1 once (a second capture of the
//! same party's order finds it there), each change lands only over the revision it read (of
//! two at once exactly one wins), and the history of revisions is kept.

use std::sync::Arc;

use touchbase_core::rules::Span;
use touchbase_core::standing::{self, Consent, Item, OrderStatus, Standing};

use super::Backend;
use crate::standing::{OrderFilter, OrderRevision};

fn section() -> Standing {
    Standing {
        from: "web.order".to_owned(),
        items: "data.items".to_owned(),
        schedule: "FREQ=WEEKLY".to_owned(),
        timezone: None,
        cutoff: Span::parse("24h").unwrap(),
        consent: Consent::Explicit,
        endpoint: "fulfilment".to_owned(),
        edit_point: "auto.edit".to_owned(),
    }
}

fn item(sku: &str, qty: f64) -> Item {
    Item {
        sku: sku.to_owned(),
        qty,
        price: 2.0,
        only: None,
    }
}

fn revision(order: &standing::Order, n: u32, actor: &str, note: &str) -> OrderRevision {
    OrderRevision {
        revision: n,
        at: 1_800_000_000_000_000 + i64::from(n),
        actor: actor.to_owned(),
        note: note.to_owned(),
        order: standing::Order {
            revision: n,
            ..order.clone()
        },
    }
}

pub async fn orders_are_captured_once_and_revised_only_over_the_revision_read(
    backend: &dyn Backend,
) {
    let store: Arc<dyn crate::Store> = backend.fresh().await;
    let first = standing::capture(
        &section(),
        "auto.order",
        "hh-1",
        "e-1",
        1_790_000_000_000_000,
        vec![item("milk", 2.0)],
    );
    assert!(
        store
            .put_order(&revision(&first, 1, "capture", "first order e-1"))
            .await
            .unwrap()
    );
    // The same first order again (a retry, a backfill): the order is there already.
    let again = standing::capture(&section(), "auto.order", "hh-1", "e-9", 0, vec![]);
    assert!(
        !store
            .put_order(&revision(&again, 1, "capture", "again"))
            .await
            .unwrap()
    );
    assert_eq!(store.order(&first.id).await.unwrap(), Some(first.clone()));

    // The party confirms; then two edits read revision 2 and race: one lands.
    let mut confirmed = first.clone();
    confirmed.status = OrderStatus::Active;
    assert!(
        store
            .put_order(&revision(&confirmed, 2, "party:hh-1", "confirmed"))
            .await
            .unwrap()
    );
    let mut more = confirmed.clone();
    more.items.push(item("bread", 1.0));
    let mut less = confirmed.clone();
    less.items[0].qty = 1.0;
    let (a, b) = tokio::join!(
        {
            let (s, r) = (
                store.clone(),
                revision(&more, 3, "party:hh-1", "adds bread"),
            );
            async move { s.put_order(&r).await.unwrap() }
        },
        {
            let (s, r) = (store.clone(), revision(&less, 3, "ada", "one milk"));
            async move { s.put_order(&r).await.unwrap() }
        }
    );
    assert!(
        a ^ b,
        "exactly one of two edits over revision 2 lands: {a} {b}"
    );
    // Skipping a revision is refused too.
    assert!(
        !store
            .put_order(&revision(&confirmed, 5, "ada", "too far"))
            .await
            .unwrap()
    );

    let stored = store.order(&first.id).await.unwrap().unwrap();
    assert_eq!(stored.revision, 3);
    assert_eq!(stored.items.len(), if a { 2 } else { 1 });
    let history = store.order_revisions(&first.id).await.unwrap();
    let numbers: Vec<u32> = history.iter().map(|r| r.revision).collect();
    assert_eq!(numbers, [1, 2, 3]);
    assert_eq!(history[0].order, first);
    assert_eq!(history[1].actor, "party:hh-1");
    assert_eq!(history[2].order, stored);

    // Lists narrow by party, point and status.
    let other = standing::capture(
        &section(),
        "auto.order",
        "hh-2",
        "e-2",
        0,
        vec![item("eggs", 6.0)],
    );
    assert!(
        store
            .put_order(&revision(&other, 1, "capture", "first order e-2"))
            .await
            .unwrap()
    );
    let ids = |orders: Vec<standing::Order>| -> Vec<String> {
        orders.into_iter().map(|o| o.party).collect()
    };
    assert_eq!(
        ids(store.orders(&OrderFilter::default()).await.unwrap()).len(),
        2
    );
    let by_party = OrderFilter {
        party: Some("hh-2".to_owned()),
        ..OrderFilter::default()
    };
    assert_eq!(ids(store.orders(&by_party).await.unwrap()), ["hh-2"]);
    let active = OrderFilter {
        status: Some(OrderStatus::Active),
        ..OrderFilter::default()
    };
    assert_eq!(ids(store.orders(&active).await.unwrap()), ["hh-1"]);
    let elsewhere = OrderFilter {
        point: Some("other.point".to_owned()),
        ..OrderFilter::default()
    };
    assert!(store.orders(&elsewhere).await.unwrap().is_empty());
    assert!(store.order("so_none").await.unwrap().is_none());
}

/// SMALL with an automated point repeating each rider's first web order weekly, in London,
/// and the self-service page's point, both live; the `fulfilment` webhook they send to.
async fn automated_store(backend: &dyn Backend) -> Arc<dyn crate::Store> {
    let text = super::small_automated();
    let store = backend.fresh().await;
    super::baseline(&*store, &super::parse(&text)).await;
    crate::feed::add_endpoint(
        &*store,
        &super::admin(),
        &touchbase_core::endpoint::Keys::from_bytes([1; 32]),
        crate::feed::NewEndpoint {
            key: "fulfilment".to_owned(),
            kind: touchbase_core::endpoint::EndpointKind::Webhook,
            target: "http://127.0.0.1:9/fulfilment".to_owned(),
            allow_private: true,
        },
    )
    .await
    .unwrap();
    store
}

fn at(text: &str) -> i64 {
    text.parse::<jiff::Timestamp>().unwrap().as_microsecond()
}

fn web_order(id: &str, party: &str, when: &str, basket: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "id": id, "point": "web.order", "at": when, "party": party,
        "data": { "basket": basket, "email": "r@example.org" }
    })
}

async fn step(store: &dyn crate::Store, when: &str) -> crate::scheduler::StepReport {
    crate::scheduler::step(store, &super::admin(), at(when))
        .await
        .unwrap()
}

async fn fulfilment(store: &dyn crate::Store) -> Vec<serde_json::Value> {
    let filter = crate::outbox::DeliveryFilter {
        endpoint: Some("fulfilment".to_owned()),
        ..Default::default()
    };
    let mut bodies: Vec<serde_json::Value> = store
        .deliveries(&filter)
        .await
        .unwrap()
        .into_iter()
        .map(|d| serde_json::from_str(&d.body).unwrap())
        .collect();
    bodies.sort_by(|a, b| a["run_date"].as_str().cmp(&b["run_date"].as_str()));
    bodies
}

/// A rider's first order captured (offered), confirmed through the page, locked at the
/// cut-off, changed after it (the change reaches the run after), sent with its idempotency
/// key and recorded as an event, skipped, paused, caught up after the scheduler was down,
/// stepped twice at once, and cancelled — with the clock moved by hand.
pub async fn the_life_of_a_standing_order(backend: &dyn Backend) {
    use crate::standing::{By, edit};
    use touchbase_core::standing::{Edit, RunState};
    let store = automated_store(backend).await;
    let basket = serde_json::json!([
        { "sku": "chain-lube", "qty": 1, "price": 6.5 },
        { "sku": "tube-700c", "qty": 2, "price": 4.0 } ]);
    // Monday 2 March 2026, 10:00 in London (GMT).
    let outcomes = super::ingest(
        &*store,
        super::inputs(&[
            web_order("o-1", "r-1", "2026-03-02T10:00:00Z", basket.clone()),
            // A later order of the same rider: the first one wins.
            web_order(
                "o-2",
                "r-1",
                "2026-03-03T10:00:00Z",
                serde_json::json!([{ "sku": "x", "qty": 1, "price": 1 }]),
            ),
            // Items that do not read: the event is fine, nothing is captured.
            web_order(
                "o-3",
                "r-2",
                "2026-03-02T11:00:00Z",
                serde_json::json!([{ "sku": "x" }]),
            ),
        ]),
    )
    .await;
    assert!(
        outcomes
            .iter()
            .all(|o| o.status == crate::ingest::Status::Accepted),
        "{outcomes:?}"
    );
    let orders = store.orders(&OrderFilter::default()).await.unwrap();
    assert_eq!(orders.len(), 1, "{orders:?}");
    let order = orders[0].clone();
    assert_eq!(
        (
            order.party.as_str(),
            order.first_event.as_str(),
            order.status
        ),
        ("r-1", "o-1", OrderStatus::Offered)
    );
    assert_eq!(order.first_at, at("2026-03-02T10:00:00Z"));
    assert_eq!(order.items.len(), 2);
    // The same first order sent again captures nothing more.
    super::ingest(
        &*store,
        super::inputs(&[web_order(
            "o-1",
            "r-1",
            "2026-03-02T10:00:00Z",
            basket.clone(),
        )]),
    )
    .await;
    assert_eq!(store.order_revisions(&order.id).await.unwrap().len(), 1);

    // Offered: nothing runs, however late.
    let r = step(&*store, "2026-03-10T12:00:00Z").await;
    assert_eq!(
        (r.orders, r.sent, r.locked, r.skipped),
        (1, 0, 0, 0),
        "{r:?}"
    );
    // Confirmed on the 10th: the run of the 9th (before it) is no run; the 16th's is the first.
    let confirmed = edit(
        &*store,
        By::Party,
        &order.id,
        &[Edit::Confirm],
        at("2026-03-10T12:00:00Z"),
    )
    .await
    .unwrap();
    assert_eq!(confirmed.order.status, OrderStatus::Active);
    assert_eq!(confirmed.reaches.as_deref(), Some("2026-03-16"));
    assert!(
        confirmed.event.is_some(),
        "the party's change is an interaction at auto.edit"
    );
    // A day before the run (the cut-off): locked at revision 2.
    let r = step(&*store, "2026-03-15T10:30:00Z").await;
    assert_eq!((r.sent, r.locked), (0, 1), "{r:?}");
    assert_eq!(r.runs[0].date, "2026-03-16");
    assert_eq!(r.runs[0].revision, 2);
    // Bread added after the cut-off: it reaches the run after.
    let late = edit(
        &*store,
        By::Party,
        &order.id,
        &[Edit::Set {
            sku: "bar-tape".to_owned(),
            qty: 1.0,
            price: Some(12.0),
            only: None,
        }],
        at("2026-03-15T11:00:00Z"),
    )
    .await
    .unwrap();
    assert_eq!(
        (late.locked.as_deref(), late.reaches.as_deref()),
        (Some("2026-03-16"), Some("2026-03-23"))
    );
    // The run goes out at 10:00 London time, as revision 2 had it.
    let r = step(&*store, "2026-03-16T10:00:05Z").await;
    assert_eq!(r.sent, 1, "{r:?}");
    let sent = fulfilment(&*store).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0]["idempotency_key"],
        format!("{}:2026-03-16", order.id)
    );
    assert_eq!(sent[0]["revision"], 2);
    assert_eq!(sent[0]["items"].as_array().unwrap().len(), 2, "{}", sent[0]);
    assert_eq!(sent[0]["value"], 14.5);
    // The same step again, and two at once: nothing more is written.
    let r = step(&*store, "2026-03-16T10:00:05Z").await;
    assert_eq!(r.sent + r.locked + r.skipped, 0, "{r:?}");
    // Skip the 30th ahead of its cut-off; the scheduler is down until 6 April.
    edit(
        &*store,
        By::User(&super::admin()),
        &order.id,
        &[Edit::Skip {
            date: "2026-03-30".to_owned(),
        }],
        at("2026-03-20T09:00:00Z"),
    )
    .await
    .unwrap();
    let admin = super::admin();
    let (a, b) = tokio::join!(
        crate::scheduler::step(&*store, &admin, at("2026-04-06T12:00:00Z")),
        crate::scheduler::step(&*store, &admin, at("2026-04-06T12:00:00Z")),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(a.caught_up + b.caught_up >= 1, "{a:?} {b:?}");
    let sent = fulfilment(&*store).await;
    let dates: Vec<&str> = sent
        .iter()
        .map(|b| b["run_date"].as_str().unwrap())
        .collect();
    // Daylight saving began on 29 March: the runs keep 10:00 London time (09:00 UTC).
    assert_eq!(
        dates,
        ["2026-03-16", "2026-03-23", "2026-04-06"],
        "each run once, the 30th skipped"
    );
    assert_eq!(sent[2]["run_at"], "2026-04-06T09:00:00Z");
    assert_eq!(
        sent[1]["items"].as_array().unwrap().len(),
        3,
        "bar tape from the 23rd"
    );
    let runs = store.runs(Some(&order.id), 100).await.unwrap();
    let states: Vec<(&str, RunState)> = runs.iter().map(|r| (r.date.as_str(), r.state)).collect();
    assert_eq!(
        states,
        [
            ("2026-04-06", RunState::Sent),
            ("2026-03-30", RunState::Skipped),
            ("2026-03-23", RunState::Sent),
            ("2026-03-16", RunState::Sent),
        ]
    );
    // Each sent run is an accepted interaction at the automated point, valued by its items.
    let day = crate::rollup::day_of(at("2026-03-23T10:00:00Z"));
    let events = store.events_of_day(day).await.unwrap();
    let run = events
        .iter()
        .find(|e| e.point == "auto.order")
        .expect("the run's event");
    assert_eq!(run.id, format!("run:{}:2026-03-23", order.id));
    assert_eq!(
        (run.party.as_deref(), run.value_company, run.cost),
        (Some("r-1"), 26.5, 0.4)
    );
    // Paused: the run falls skipped. Cancelled: none after.
    edit(
        &*store,
        By::Party,
        &order.id,
        &[Edit::Pause],
        at("2026-04-07T09:00:00Z"),
    )
    .await
    .unwrap();
    let r = step(&*store, "2026-04-13T12:00:00Z").await;
    assert_eq!((r.sent, r.skipped), (0, 1), "{r:?}");
    assert!(
        edit(
            &*store,
            By::Party,
            &order.id,
            &[Edit::Pause],
            at("2026-04-14T09:00:00Z")
        )
        .await
        .is_err(),
        "paused already"
    );
    edit(
        &*store,
        By::Party,
        &order.id,
        &[Edit::Cancel],
        at("2026-04-14T09:00:00Z"),
    )
    .await
    .unwrap();
    let r = step(&*store, "2026-06-01T12:00:00Z").await;
    assert_eq!(r.sent + r.skipped + r.locked, 0, "{r:?}");
    assert_eq!(fulfilment(&*store).await.len(), 3);
    let view = crate::standing::view(&*store, &order.id, 50, at("2026-06-01T12:00:00Z"))
        .await
        .unwrap();
    assert_eq!(view.order.status, OrderStatus::Cancelled);
    let notes: Vec<&str> = view.revisions.iter().map(|r| r.note.as_str()).collect();
    assert_eq!(
        notes,
        [
            "first order o-1",
            "confirmed",
            "bar-tape × 1",
            "skip 2026-03-30",
            "paused",
            "cancelled"
        ]
    );
    // The page's changes are interactions at the edit point, one per change.
    let edits = store
        .events_of_day(crate::rollup::day_of(at("2026-04-14T09:00:00Z")))
        .await
        .unwrap();
    assert_eq!(edits.iter().filter(|e| e.point == "auto.edit").count(), 1);
}
