//! The reverse feed's outbox, on every store: deliveries written with what fired them (new
//! events, inventory changes), claimed by one dispatcher at a time, moved on by their attempts;
//! and the feed's operations end to end — endpoints, rules, ingest firing them, a rule's dry
//! run, lifecycle rules, rotation and replay — each change on the audit trail.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::{Value, json};
use touchbase_core::endpoint::{EndpointKind, Keys};
use touchbase_core::event::{self, Checked, Conformance, Written};
use touchbase_core::rules::{Firing, parse_rules};

use super::{
    Backend, SMALL, add_users, admin, baseline, ingest, inputs, parse, point_of,
    propose_and_approve, user,
};
use crate::feed::{self, NewEndpoint};
use crate::ingest::{Status, now_us};
use crate::inventory;
use crate::outbox::{Attempt, Delivery, DeliveryFilter, DeliveryState, Finished, Next};
use crate::rollup::day_of;
use crate::{OpError, Store};

const DAY: i64 = 86_400_000_000;

fn firing(id: &str, rule: &str, endpoint: &str, fired_at: i64) -> Firing {
    Firing {
        id: id.to_owned(),
        rule: rule.to_owned(),
        endpoint: endpoint.to_owned(),
        fired_at,
        body: format!("{{\"id\":\"{id}\"}}"),
    }
}

fn attempt(n: u32, at: i64, status: Option<u16>, outcome: &str) -> Attempt {
    Attempt {
        n,
        at,
        status,
        latency_us: 1_000,
        outcome: outcome.to_owned(),
        detail: format!("{outcome} at {at}"),
    }
}

fn finished(id: &str, endpoint: &str, attempt: Attempt, next: Next) -> Finished {
    Finished {
        id: id.to_owned(),
        endpoint: endpoint.to_owned(),
        attempt,
        next,
    }
}

fn checked(id: &str, at: &str, held: bool, firings: Vec<Firing>) -> Checked {
    let raw = json!({"id": id, "point": "web.order", "at": at, "party": "p-1",
        "data": {"sku": "x"}, "outcomes": {"satisfaction": 4, "resolved": true},
        "value": {"company": 1.5}, "duration_s": 12.5});
    let decoded = event::decode(&raw, now_us()).unwrap();
    let mut c = Checked::new(
        decoded.event,
        held,
        Conformance {
            conforms: true,
            failures: Vec::new(),
        },
    );
    c.firings = firings;
    c
}

pub async fn deliveries_are_written_once_claimed_and_moved_on(backend: &dyn Backend) {
    let store = backend.fresh().await;
    let a = "https://a.example/hook".to_owned();
    let b = "https://b.example/hook".to_owned();

    let new = store
        .enqueue(
            &[
                firing("d-1", "r-1", &a, 10),
                firing("d-2", "r-1", &b, 10),
                firing("d-3", "r-2", &a, 20),
                firing("d-1", "r-1", &a, 10),
            ],
            100,
        )
        .await
        .unwrap();
    assert_eq!(new, 3);
    assert_eq!(
        store
            .enqueue(&[firing("d-1", "r-1", &a, 10)], 100)
            .await
            .unwrap(),
        0
    );

    // Newest fired first, the later written first among equals.
    let all = store.deliveries(&DeliveryFilter::default()).await.unwrap();
    let ids: Vec<&str> = all.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, ["d-3", "d-2", "d-1"]);
    assert!(all.iter().all(|d| d.state == DeliveryState::Pending
        && d.due_at == 100
        && d.attempts == 0
        && d.tries == 0));
    let limited = store
        .deliveries(&DeliveryFilter {
            endpoint: Some(a.clone()),
            limit: Some(1),
            ..DeliveryFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(limited.len(), 1);
    assert_eq!(limited[0].id, "d-3");
    let since = store
        .deliveries(&DeliveryFilter {
            since: Some(15),
            rule: Some("r-2".into()),
            state: Some(DeliveryState::Pending),
            ..DeliveryFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(since.len(), 1);

    assert_eq!(
        store.next_due(std::slice::from_ref(&a)).await.unwrap(),
        Some(100)
    );
    assert_eq!(store.next_due(&["nowhere".into()]).await.unwrap(), None);

    // Not due yet; then claimed, and not again while leased.
    assert!(
        store
            .claim_deliveries(std::slice::from_ref(&a), 99, 50, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let claimed = store
        .claim_deliveries(std::slice::from_ref(&a), 100, 50, 10)
        .await
        .unwrap();
    let ids: Vec<&str> = claimed.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, ["d-1", "d-3"]);
    assert!(
        store
            .claim_deliveries(std::slice::from_ref(&a), 120, 50, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // Leases are not looked at: the leased deliveries are due already (the dispatcher waits
    // a little at least before it claims again).
    let next = store.next_due(std::slice::from_ref(&a)).await.unwrap();
    assert!(matches!(next, Some(due) if due <= 100), "{next:?}");
    // The lease ran out: claimed again.
    assert_eq!(
        store
            .claim_deliveries(std::slice::from_ref(&a), 150, 50, 1)
            .await
            .unwrap()
            .len(),
        1
    );

    store
        .finish_attempts(&[
            finished(
                "d-1",
                &a,
                attempt(1, 160, Some(500), "retry"),
                Next::Retry(300),
            ),
            finished(
                "d-3",
                &a,
                attempt(1, 160, Some(200), "delivered"),
                Next::Delivered,
            ),
            finished("d-2", &b, attempt(1, 160, None, "dead"), Next::Dead),
        ])
        .await
        .unwrap();
    let (d1, attempts) = store.delivery("d-1").await.unwrap().unwrap();
    assert_eq!(d1.state, DeliveryState::Pending);
    assert_eq!((d1.attempts, d1.tries, d1.due_at), (1, 1, 300));
    assert_eq!(d1.last_error.as_deref(), Some("retry at 160"));
    assert_eq!(attempts, [attempt(1, 160, Some(500), "retry")]);
    let (d3, _) = store.delivery("d-3").await.unwrap().unwrap();
    assert_eq!(d3.state, DeliveryState::Delivered);
    assert_eq!(d3.delivered_at, Some(160));
    assert_eq!(d3.last_error, None);
    let (d2, attempts) = store.delivery("d-2").await.unwrap().unwrap();
    assert_eq!(d2.state, DeliveryState::Dead);
    assert_eq!(attempts[0].status, None);
    assert!(store.delivery("nope").await.unwrap().is_none());

    assert_eq!(store.failing_since(&a).await.unwrap(), None);
    assert_eq!(store.failing_since(&b).await.unwrap(), Some(160));
    assert_eq!(store.failing_since("nowhere").await.unwrap(), None);

    // Twice in one batch: moved on twice, in order.
    store
        .finish_attempts(&[
            finished(
                "d-1",
                &a,
                attempt(2, 300, Some(500), "retry"),
                Next::Retry(400),
            ),
            finished("d-1", &a, attempt(3, 400, Some(500), "dead"), Next::Dead),
        ])
        .await
        .unwrap();
    let (d1, attempts) = store.delivery("d-1").await.unwrap().unwrap();
    assert_eq!(d1.state, DeliveryState::Dead);
    assert_eq!((d1.attempts, d1.tries), (3, 3));
    assert_eq!(attempts.iter().map(|a| a.n).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(store.failing_since(&a).await.unwrap(), Some(300));

    let counts = store.feed_counts().await.unwrap();
    let row = |rule: &str, endpoint: &str| {
        counts
            .iter()
            .find(|c| c.rule == rule && c.endpoint == endpoint)
            .unwrap()
            .clone()
    };
    assert_eq!(counts.len(), 3);
    let r1a = row("r-1", &a);
    assert_eq!((r1a.fired, r1a.dead, r1a.retried), (1, 1, 2));
    let r2a = row("r-2", &a);
    assert_eq!((r2a.fired, r2a.delivered, r2a.retried), (1, 1, 0));
    assert_eq!(row("r-1", &b).dead, 1);

    // Replays: by id (each named counts), or by filter.
    assert_eq!(
        store
            .replay_deliveries(
                &["d-1".into(), "d-1".into(), "nope".into()],
                &DeliveryFilter::default(),
                500
            )
            .await
            .unwrap(),
        2
    );
    let (d1, _) = store.delivery("d-1").await.unwrap().unwrap();
    assert_eq!(d1.state, DeliveryState::Pending);
    assert_eq!((d1.attempts, d1.tries, d1.due_at), (3, 0, 500));
    let dead = DeliveryFilter {
        state: Some(DeliveryState::Dead),
        ..DeliveryFilter::default()
    };
    assert_eq!(store.replay_deliveries(&[], &dead, 600).await.unwrap(), 1);
    assert_eq!(
        store
            .replay_deliveries(&[], &DeliveryFilter::default(), 700)
            .await
            .unwrap(),
        3
    );
    assert!(
        store
            .deliveries(&DeliveryFilter::default())
            .await
            .unwrap()
            .iter()
            .all(|d| d.state == DeliveryState::Pending && d.due_at == 700 && d.tries == 0)
    );
}

/// Eight dispatchers claim from one store at once, each on its own handle where the backend
/// can open one (a pool of its own, as on several servers; a connection of its own, as in
/// several processes), else sharing the one handle: none gets a delivery another holds.
pub async fn dispatchers_side_by_side_never_claim_the_same_delivery(backend: &dyn Backend) {
    let store = backend.fresh().await;
    let endpoint = "https://a.example/hook".to_owned();
    let firings: Vec<Firing> = (0..400)
        .map(|i| firing(&format!("d-{i:03}"), "r", &endpoint, i))
        .collect();
    assert_eq!(store.enqueue(&firings, 0).await.unwrap(), 400);

    let mut claimers = Vec::new();
    for _ in 0..8 {
        let store = backend
            .reopen(0)
            .await
            .unwrap_or_else(|| Arc::clone(&store));
        let endpoints = vec![endpoint.clone()];
        claimers.push(tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                let claimed = store
                    .claim_deliveries(&endpoints, 10, 1_000_000, 7)
                    .await
                    .unwrap();
                if claimed.is_empty() {
                    break got;
                }
                got.extend(claimed.into_iter().map(|d| d.id));
            }
        }));
    }
    let mut seen = HashSet::new();
    for claimer in claimers {
        for id in claimer.await.unwrap() {
            assert!(seen.insert(id.clone()), "{id} was claimed twice");
        }
    }
    assert_eq!(seen.len(), 400);
}

pub async fn new_events_and_changes_write_their_firings(backend: &dyn Backend) {
    let store = backend.fresh().await;
    let e = "https://a.example/hook";

    let version = store.version().await.unwrap();
    let next = store
        .apply(version, &[], &[], &[firing("life-1", "lifecycle", e, 5)])
        .await
        .unwrap();
    assert_eq!(next, version + 1);
    assert!(store.delivery("life-1").await.unwrap().is_some());

    let batch = vec![
        checked(
            "e-1",
            "2026-03-01T09:30:00Z",
            false,
            vec![firing("f-1", "r", e, 1)],
        ),
        checked(
            "e-2",
            "2026-03-01T08:00:00Z",
            true,
            vec![firing("f-2", "r", e, 2)],
        ),
        checked(
            "e-1",
            "2026-03-01T09:30:00Z",
            false,
            vec![firing("f-3", "r", e, 3)],
        ),
    ];
    let at = batch[0].event.at;
    let written = store
        .write_events(batch, Vec::new(), 42)
        .await
        .unwrap()
        .value;
    assert_eq!(
        written,
        [Written::Accepted, Written::Held, Written::Duplicate]
    );
    let (f1, _) = store.delivery("f-1").await.unwrap().unwrap();
    assert_eq!(f1.due_at, 42);
    assert!(store.delivery("f-2").await.unwrap().is_some());
    assert!(store.delivery("f-3").await.unwrap().is_none());

    // Again: duplicates, firing nothing.
    let again = vec![checked(
        "e-1",
        "2026-03-01T09:30:00Z",
        false,
        vec![firing("f-4", "r", e, 4)],
    )];
    let written = store
        .write_events(again, Vec::new(), 43)
        .await
        .unwrap()
        .value;
    assert_eq!(written, [Written::Duplicate]);
    assert!(store.delivery("f-4").await.unwrap().is_none());

    // The accepted events of the day, every field.
    let more = vec![
        checked("e-0", "2026-03-01T09:30:00Z", false, Vec::new()),
        checked("e-9", "2026-03-01T01:00:00Z", false, Vec::new()),
        checked("e-8", "2026-03-02T01:00:00Z", false, Vec::new()),
    ];
    let expected = [more[1].event.clone(), more[0].event.clone()];
    store.write_events(more, Vec::new(), 44).await.unwrap();
    let day = store.events_of_day(day_of(at)).await.unwrap();
    let ids: Vec<&str> = day.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["e-9", "e-0", "e-1"]);
    assert_eq!(day[..2], expected);
    assert_eq!(day[2].party.as_deref(), Some("p-1"));
    assert!(day[2].data.is_some());
    assert_eq!(day[2].outcomes.satisfaction, Some(4));
}

fn keys() -> Keys {
    Keys::from_bytes([1; 32])
}

fn crm(allow_private: bool) -> NewEndpoint {
    NewEndpoint {
        key: "crm".into(),
        kind: EndpointKind::Webhook,
        target: "http://127.0.0.1:9/x".into(),
        allow_private,
    }
}

/// Declares the webhook `crm` (on a loopback address, allowed).
async fn add_crm(store: &dyn Store) {
    feed::add_endpoint(store, &admin(), &keys(), crm(true))
        .await
        .unwrap();
}

async fn put_rules(store: &dyn Store, yaml: &str) -> Result<(), OpError> {
    let rules = parse_rules(yaml).unwrap_or_else(|e| panic!("test rules do not parse: {e}"));
    feed::put_rules(store, &admin(), &rules).await
}

async fn all_deliveries(store: &dyn Store) -> Vec<Delivery> {
    store.deliveries(&DeliveryFilter::default()).await.unwrap()
}

fn body(d: &Delivery) -> Value {
    serde_json::from_str(&d.body).unwrap_or_else(|e| panic!("{} is not JSON: {e}", d.body))
}

/// An instant `ago` microseconds before now, as the wire format writes it.
fn ago(ago: i64) -> String {
    touchbase_core::rules::instant(now_us() - ago)
}

const LOW: &str = "key: low\nwhen:\n  event: { point: web.order, \"outcomes.satisfaction\": { lte: 2 } }\ndo: [ { endpoint: crm } ]\n";

/// Ingest fires an event rule once per new event that meets it: not on one that does not, not
/// again on a duplicate; a rule or an endpoint that breaks a rule is refused, naming the field.
pub async fn event_rules_fire_once_per_new_event_through_ingest(backend: &dyn Backend) {
    let store = backend.fresh().await;
    let store = &*store;
    baseline(store, &parse(SMALL)).await;

    let err = feed::add_endpoint(store, &admin(), &keys(), crm(false))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("endpoint `crm`: target: "), "{err}");
    assert!(
        feed::endpoints(store, &admin()).await.unwrap().is_empty(),
        "a refused endpoint is not written"
    );
    let shown = feed::add_endpoint(store, &admin(), &keys(), crm(true))
        .await
        .unwrap();
    assert_eq!(shown.secret, Some(keys().endpoint_whsec("crm", 1)));

    let err = put_rules(
        store,
        "key: bad\nwhen:\n  event: { point: web.order }\ndo: [ { endpoint: nowhere } ]\n",
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("rule `bad`: do[0].endpoint: unknown endpoint `nowhere`; declared: crm"),
        "{err}"
    );
    put_rules(store, LOW).await.unwrap();
    assert_eq!(
        feed::rules(store, &admin())
            .await
            .unwrap()
            .iter()
            .map(|r| r.key.as_str())
            .collect::<Vec<_>>(),
        ["low"]
    );
    assert!(all_deliveries(store).await.is_empty());

    let unhappy = json!({ "id": "o-1", "point": "web.order", "at": "2026-03-01T09:30:00Z",
        "outcomes": { "satisfaction": 1 } });
    let happy = json!({ "id": "o-2", "point": "web.order", "at": "2026-03-01T09:31:00Z",
        "outcomes": { "satisfaction": 5 } });
    let outcomes = ingest(store, inputs(std::slice::from_ref(&unhappy))).await;
    assert_eq!(outcomes[0].status, Status::Accepted);
    let fired = all_deliveries(store).await;
    assert_eq!(fired.len(), 1, "{fired:?}");
    let outcomes = ingest(store, inputs(&[happy])).await;
    assert_eq!(outcomes[0].status, Status::Accepted);
    assert_eq!(all_deliveries(store).await.len(), 1, "satisfaction 5 fires");
    let outcomes = ingest(store, inputs(&[unhappy])).await;
    assert_eq!(outcomes[0].status, Status::Duplicate);
    assert_eq!(all_deliveries(store).await, fired, "a duplicate fires");

    let d = &fired[0];
    assert_eq!((d.rule.as_str(), d.endpoint.as_str()), ("low", "crm"));
    assert_eq!((d.state, d.attempts), (DeliveryState::Pending, 0));
    let body = body(d);
    assert_eq!(body["type"], "event");
    assert_eq!(body["rule"], "low");
    assert_eq!(body["event"]["id"], "o-1");
    assert_eq!(body["event"]["point"], "web.order");
    assert_eq!(body["event"]["outcomes"]["satisfaction"], 1);

    // A disabled rule fires on nothing; enabled again, it fires.
    let unhappy = |id: &str| {
        json!({ "id": id, "point": "web.order", "at": "2026-03-01T10:00:00Z",
            "outcomes": { "satisfaction": 2 } })
    };
    feed::set_rule_disabled(store, &admin(), "low", true)
        .await
        .unwrap();
    ingest(store, inputs(&[unhappy("o-3")])).await;
    assert_eq!(
        all_deliveries(store).await.len(),
        1,
        "a disabled rule fired"
    );
    feed::set_rule_disabled(store, &admin(), "low", false)
        .await
        .unwrap();
    ingest(store, inputs(&[unhappy("o-4")])).await;
    assert_eq!(all_deliveries(store).await.len(), 2);
}

/// An event older than a rule's `max_age` when it arrives (a backfill) fires nothing, unless
/// the checker fires every matching event (`import --fire-rules`).
pub async fn max_age_holds_back_backfills_unless_firing_always(backend: &dyn Backend) {
    use touchbase_core::event::Firing;
    let store = backend.fresh().await;
    let store = &*store;
    baseline(store, &parse(SMALL)).await;
    add_crm(store).await;
    put_rules(store, &format!("{LOW}max_age: 1d\n"))
        .await
        .unwrap();
    let unhappy = |id: &str, at: String| json!({ "id": id, "point": "web.order", "at": at, "outcomes": { "satisfaction": 2 } });

    let outcomes = ingest(store, inputs(&[unhappy("old", ago(3 * DAY))])).await;
    assert_eq!(outcomes[0].status, Status::Accepted);
    assert!(all_deliveries(store).await.is_empty(), "a backfill fired");
    // A recent one fires as it arrives.
    ingest(store, inputs(&[unhappy("recent", ago(DAY / 24))])).await;
    assert_eq!(all_deliveries(store).await.len(), 1);

    let mut checker = crate::ingest::checker(store).await.unwrap();
    checker.value = checker.value.firing(Firing::Always);
    let old = inputs(&[unhappy("older", ago(3 * DAY))]);
    let outcomes = crate::ingest::ingest(store, &admin(), &checker, &old)
        .await
        .unwrap();
    assert_eq!(outcomes[0].status, Status::Accepted);
    let fired = all_deliveries(store).await;
    assert_eq!(fired.len(), 2, "{fired:?}");
    let events: Vec<Value> = fired
        .iter()
        .map(|d| body(d)["event"]["id"].clone())
        .collect();
    assert!(events.contains(&json!("older")), "{events:?}");
}

/// A rule's dry run over the stored history says it would have fired exactly where the live
/// rule fired as the events arrived, with the same ids.
pub async fn a_rules_dry_run_agrees_with_its_live_firings(backend: &dyn Backend) {
    let store = backend.fresh().await;
    let store = &*store;
    baseline(store, &parse(SMALL)).await;
    add_crm(store).await;
    let yaml = "key: low-value\nwhen:\n  event: { point: web.order, \"outcomes.satisfaction\": { lte: 2 }, value.company: { gte: 3 } }\ndo: [ { endpoint: crm } ]\n";
    put_rules(store, yaml).await.unwrap();

    let start = event::parse_instant("2026-03-01T00:00:00Z").unwrap();
    let minute = 60_000_000;
    let mut events = Vec::new();
    let mut expected = 0;
    for i in 0..50i64 {
        let satisfaction = i % 6;
        let value = (i % 7) as f64;
        let mut e = json!({ "id": format!("w-{i:02}"), "point": "web.order",
            "at": touchbase_core::rules::instant(start + i * 97 * minute),
            "party": format!("p-{}", i % 4), "value": { "company": value } });
        if satisfaction > 0 {
            e["outcomes"] = json!({ "satisfaction": satisfaction });
        }
        if (1..=2).contains(&satisfaction) && value >= 3.0 {
            expected += 1;
        }
        events.push(e);
    }
    // Events elsewhere meet the other conditions, and fire nothing: another point, a held one,
    // a duplicate.
    for (id, point) in [("b-1", "workshop.booking"), ("s-1", "phone.support")] {
        events.push(
            json!({ "id": id, "point": point, "at": "2026-03-02T10:00:00Z",
            "outcomes": { "satisfaction": 1 }, "value": { "company": 9 } }),
        );
    }
    events.push(events[3].clone());
    let outcomes = ingest(store, inputs(&events)).await;
    let statuses: Vec<Status> = outcomes.iter().map(|o| o.status).collect();
    assert_eq!(statuses[..50], [Status::Accepted; 50]);
    assert_eq!(
        statuses[50..],
        [Status::Accepted, Status::Held, Status::Duplicate]
    );

    let fired = all_deliveries(store).await;
    assert_eq!(fired.len(), expected, "{fired:?}");
    assert!(expected > 0 && expected < 50);
    let rule = feed::rule(store, &admin(), "low-value").await.unwrap();
    let end = event::parse_instant("2026-03-05T00:00:00Z").unwrap();
    let run = feed::test_rule(store, &admin(), &rule, start, end, 5)
        .await
        .unwrap();
    assert_eq!(run.events_read, 51, "the counted events of the period");
    assert_eq!(run.firings, fired.len() as u64);
    assert_eq!(run.samples.len(), 5);
    let ids: HashSet<&str> = fired.iter().map(|d| d.id.as_str()).collect();
    for sample in &run.samples {
        assert!(ids.contains(sample.id.as_str()), "{sample:?}");
        assert_eq!(sample.endpoint, "crm");
        assert_eq!(sample.body["rule"], "low-value");
    }
    // The first samples are the first events that fired, in order.
    let first = fired
        .iter()
        .filter_map(|d| body(d)["event"]["at"].as_str().map(str::to_owned))
        .min();
    assert_eq!(
        first.as_deref(),
        run.samples[0].body["event"]["at"].as_str()
    );
    // A period that covers none of them.
    let none = feed::test_rule(store, &admin(), &rule, end, end + DAY, 5)
        .await
        .unwrap();
    assert_eq!((none.events_read, none.firings), (0, 0));
}

/// Lifecycle rules fire on the normal operations: a proposal opened when a point is proposed,
/// a point gone live when its owner takes it live after sign-off; other writes fire nothing.
pub async fn lifecycle_rules_fire_on_proposals_opened_and_points_gone_live(backend: &dyn Backend) {
    let store = backend.fresh().await;
    let store = &*store;
    baseline(store, &parse(SMALL)).await;
    add_users(store).await;
    add_crm(store).await;
    put_rules(
        store,
        "key: opened\nwhen: { lifecycle: proposal_opened }\ndo: [ { endpoint: crm } ]\n---\nkey: live\nwhen: { lifecycle: point_live }\ndo: [ { endpoint: crm } ]\n",
    )
    .await
    .unwrap();
    assert!(all_deliveries(store).await.is_empty());
    let of_rule = |rule: &str| DeliveryFilter {
        rule: Some(rule.into()),
        ..DeliveryFilter::default()
    };

    // An unrelated write: a live point renamed.
    let olga = user("olga", touchbase_core::Role::Owner, &["ecommerce"]);
    let mut renamed = point_of(&inventory::get(store).await.unwrap().value, "web.order");
    renamed.name = "Web shop order".into();
    inventory::put_point(store, &olga, renamed).await.unwrap();
    assert!(all_deliveries(store).await.is_empty(), "a rename fired");

    // Proposed, then approved (not live yet): the proposal opened, once.
    propose_and_approve(store, "app.order").await;
    let opened = store.deliveries(&of_rule("opened")).await.unwrap();
    assert_eq!(opened.len(), 1, "{opened:?}");
    let sent = body(&opened[0]);
    assert_eq!(sent["type"], "lifecycle.proposal_opened");
    assert_eq!(sent["subject"]["kind"], "proposal_opened");
    assert_eq!(sent["subject"]["entity"]["point"], "app.order");
    assert!(
        store.deliveries(&of_rule("live")).await.unwrap().is_empty(),
        "an approved point is not live"
    );

    inventory::go_live(store, &olga, "app.order").await.unwrap();
    let live = store.deliveries(&of_rule("live")).await.unwrap();
    assert_eq!(live.len(), 1, "{live:?}");
    let sent = body(&live[0]);
    assert_eq!(sent["type"], "lifecycle.point_live");
    assert_eq!(sent["rule"], "live");
    assert_eq!(sent["subject"]["entity"]["key"], "app.order");
    assert_eq!(sent["subject"]["entity"]["status"], "live");
    assert_eq!(all_deliveries(store).await.len(), 2);

    // A live point's non-material edit fires nothing more.
    let mut again = point_of(&inventory::get(store).await.unwrap().value, "app.order");
    again.description = "Parts ordered in the app".into();
    inventory::put_point(store, &olga, again).await.unwrap();
    assert_eq!(all_deliveries(store).await.len(), 2);

    // Each rule's dry run over the audit trail finds what it fired live, with the same ids,
    // and what it would have fired had it been there before: the baseline's proposal, and
    // the baseline's two live points.
    let now = crate::ingest::now_us();
    let day = 86_400_000_000;
    for (key, fired) in [("opened", &opened), ("live", &live)] {
        let rule = crate::feed::rule(store, &admin(), key).await.unwrap();
        let run = crate::feed::test_rule(store, &admin(), &rule, now - day, now + day, 10)
            .await
            .unwrap();
        let ids: Vec<&str> = run.samples.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids.last(), Some(&fired[0].id.as_str()), "{key}: {ids:?}");
        let before = if key == "opened" { 1 } else { 2 };
        assert_eq!(run.firings, 1 + before, "{key}: {ids:?}");
    }
}

/// `undocumented_seen` fires for the first held event at a point the inventory does not list,
/// once per point; not for a point it lists that is not live.
pub async fn undocumented_points_fire_once_each(backend: &dyn Backend) {
    let store = backend.fresh().await;
    let store = &*store;
    baseline(store, &parse(SMALL)).await;
    add_crm(store).await;
    put_rules(
        store,
        "key: unknown\nwhen: { lifecycle: undocumented_seen }\ndo: [ { endpoint: crm } ]\n",
    )
    .await
    .unwrap();
    let at =
        |point: &str, id: &str| json!({ "id": id, "point": point, "at": "2026-03-01T09:30:00Z" });

    let outcomes = ingest(store, inputs(&[at("kiosk.order", "k-1")])).await;
    assert_eq!(outcomes[0].status, Status::Held);
    let fired = all_deliveries(store).await;
    assert_eq!(fired.len(), 1, "{fired:?}");
    let first = body(&fired[0]);
    assert_eq!(first["type"], "lifecycle.undocumented_seen");
    assert_eq!(first["rule"], "unknown");
    assert_eq!(first["subject"]["point"], "kiosk.order");
    assert_eq!(first["subject"]["first_event"]["id"], "k-1");

    // Again at that point, in another batch and in the same one: nothing more.
    let outcomes = ingest(store, inputs(&[at("kiosk.order", "k-2")])).await;
    assert_eq!(outcomes[0].status, Status::Held);
    assert_eq!(all_deliveries(store).await, fired);
    let outcomes = ingest(
        store,
        inputs(&[
            at("phone.support", "p-1"),
            at("fax.order", "f-1"),
            at("fax.order", "f-2"),
            at("kiosk.order", "k-3"),
        ]),
    )
    .await;
    assert!(outcomes.iter().all(|o| o.status == Status::Held));
    let fired = all_deliveries(store).await;
    let points: Vec<Value> = fired
        .iter()
        .map(|d| body(d)["subject"]["point"].clone())
        .collect();
    assert_eq!(points, [json!("fax.order"), json!("kiosk.order")]);
    assert_eq!(body(&fired[0])["subject"]["first_event"]["id"], "f-1");
}

/// A rotation starts a new secret generation and keeps the previous one signing for the
/// overlap; endpoint and rule changes are on the audit trail.
pub async fn rotation_keeps_the_previous_secret_signing_for_the_overlap(backend: &dyn Backend) {
    let store = backend.fresh().await;
    let store = &*store;
    baseline(store, &parse(SMALL)).await;
    let keys = keys();
    add_crm(store).await;
    put_rules(store, LOW).await.unwrap();

    let crm = move || async move {
        feed::endpoints(store, &admin())
            .await
            .unwrap()
            .into_iter()
            .find(|e| e.key == "crm")
            .unwrap()
    };
    let now = jiff::Timestamp::now;
    assert_eq!(crm().await.signing(now()), [1]);
    let shown = feed::rotate_endpoint(store, &admin(), &keys, "crm", DAY)
        .await
        .unwrap();
    assert_eq!(shown.secret, Some(keys.endpoint_whsec("crm", 2)));
    assert_ne!(shown.secret, Some(keys.endpoint_whsec("crm", 1)));
    let endpoint = crm().await;
    assert_eq!(endpoint.signing(now()), [2, 1]);
    assert_eq!(endpoint.current(), 2);
    let later = now() + jiff::SignedDuration::from_hours(48);
    assert_eq!(endpoint.signing(later), [2], "the overlap ended");

    // Rotated again within the overlap: the oldest stops now, the previous one overlaps.
    let shown = feed::rotate_endpoint(store, &admin(), &keys, "crm", DAY)
        .await
        .unwrap();
    assert_eq!(shown.secret, Some(keys.endpoint_whsec("crm", 3)));
    assert_eq!(crm().await.signing(now()), [3, 2]);

    let err = feed::rotate_endpoint(store, &admin(), &keys, "nope", DAY)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("endpoint `nope`"), "{err}");
    let vic = user("vic", touchbase_core::Role::Viewer, &[]);
    assert!(
        feed::rotate_endpoint(store, &vic, &keys, "crm", DAY)
            .await
            .is_err()
    );

    let audit = store.audit().await.unwrap();
    let actions: Vec<(&str, &str)> = audit
        .iter()
        .filter(|r| r.action.starts_with("endpoint.") || r.action.starts_with("rule."))
        .map(|r| (r.action.as_str(), r.subject.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("endpoint.add", "endpoint crm"),
            ("rule.put", "rule low"),
            ("endpoint.rotate", "endpoint crm"),
            ("endpoint.rotate", "endpoint crm"),
        ]
    );
    let rotated = audit
        .iter()
        .find(|r| r.action == "endpoint.rotate")
        .unwrap();
    assert_eq!(rotated.after.as_ref().unwrap()["secrets"][1]["n"], 2);
    assert!(
        !format!("{audit:?}").contains(&keys.endpoint_whsec("crm", 2)),
        "a secret is never on record"
    );
}

/// A replay of a delivered delivery makes it pending and due again at the start of the retry
/// schedule, keeping its attempts, and is on the audit trail.
pub async fn a_replayed_delivery_is_due_again_and_audited(backend: &dyn Backend) {
    let store = backend.fresh().await;
    let store = &*store;
    baseline(store, &parse(SMALL)).await;
    add_crm(store).await;
    put_rules(store, LOW).await.unwrap();
    ingest(
        store,
        inputs(&[
            json!({ "id": "o-1", "point": "web.order", "at": "2026-03-01T09:30:00Z",
            "outcomes": { "satisfaction": 1 } }),
        ]),
    )
    .await;
    let endpoints = ["crm".to_owned()];
    let claimed = store
        .claim_deliveries(&endpoints, now_us(), 60_000_000, 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    let id = claimed[0].id.clone();
    let sent = now_us();
    store
        .finish_attempts(&[finished(
            &id,
            "crm",
            attempt(1, sent, Some(200), "delivered"),
            Next::Delivered,
        )])
        .await
        .unwrap();
    let (delivered, _) = store.delivery(&id).await.unwrap().unwrap();
    assert_eq!(
        (delivered.state, delivered.tries),
        (DeliveryState::Delivered, 1)
    );
    assert!(
        store
            .claim_deliveries(&endpoints, now_us(), 60_000_000, 10)
            .await
            .unwrap()
            .is_empty()
    );

    let err = feed::replay(
        store,
        &admin(),
        &["nope".into()],
        &DeliveryFilter::default(),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("delivery `nope`"), "{err}");
    let before = now_us();
    let n = feed::replay(
        store,
        &admin(),
        std::slice::from_ref(&id),
        &DeliveryFilter::default(),
    )
    .await
    .unwrap();
    assert_eq!(n, 1);
    let (replayed, attempts) = store.delivery(&id).await.unwrap().unwrap();
    assert_eq!(replayed.state, DeliveryState::Pending);
    assert_eq!((replayed.tries, replayed.attempts), (0, 1));
    assert!(
        replayed.due_at >= before && replayed.due_at <= now_us(),
        "due {} not between {before} and now",
        replayed.due_at
    );
    assert_eq!(attempts, [attempt(1, sent, Some(200), "delivered")]);
    let again = store
        .claim_deliveries(&endpoints, now_us(), 60_000_000, 10)
        .await
        .unwrap();
    assert_eq!(
        again.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
        [id.as_str()]
    );

    let audit = store.audit().await.unwrap();
    let record = audit
        .iter()
        .find(|r| r.action == "delivery.replay")
        .expect("the replay is on the audit trail");
    assert_eq!(record.actor, admin().name);
    let detail = record.after.as_ref().unwrap();
    assert_eq!(detail["ids"], json!([id]));
    assert_eq!(detail["replayed"], 1);

    // Delivered again, then replayed by a filter: the record says what the filter selected.
    store
        .finish_attempts(&[finished(
            &id,
            "crm",
            attempt(2, now_us(), Some(200), "delivered"),
            Next::Delivered,
        )])
        .await
        .unwrap();
    let delivered_to_crm = DeliveryFilter {
        state: Some(DeliveryState::Delivered),
        endpoint: Some("crm".into()),
        ..DeliveryFilter::default()
    };
    let elsewhere = DeliveryFilter {
        endpoint: Some("elsewhere".into()),
        ..delivered_to_crm.clone()
    };
    assert_eq!(
        feed::replay(store, &admin(), &[], &elsewhere)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store.delivery(&id).await.unwrap().unwrap().0.state,
        DeliveryState::Delivered
    );
    assert_eq!(
        feed::replay(store, &admin(), &[], &delivered_to_crm)
            .await
            .unwrap(),
        1
    );
    let (replayed, _) = store.delivery(&id).await.unwrap().unwrap();
    assert_eq!(
        (replayed.state, replayed.tries, replayed.attempts),
        (DeliveryState::Pending, 0, 2)
    );
    let audit = store.audit().await.unwrap();
    let details: Vec<&Value> = audit
        .iter()
        .filter(|r| r.action == "delivery.replay")
        .filter_map(|r| r.after.as_ref())
        .collect();
    assert_eq!(details.len(), 3);
    for (detail, endpoint, replayed) in [(details[1], "elsewhere", 0), (details[2], "crm", 1)] {
        assert_eq!(detail["state"], "delivered");
        assert_eq!(detail["endpoint"], endpoint, "{detail}");
        assert_eq!(detail["replayed"], replayed);
    }
    let verified = crate::audit::verify(store, &admin()).await.unwrap();
    assert!(verified.intact, "{verified:?}");
    assert_eq!(verified.records, audit.len() as u64);
}

/// A metric rule's state moves only from the state its evaluation read, with its firings in
/// the same write: of two evaluations from one state, one lands and fires.
pub async fn rule_states_change_only_from_the_state_read(backend: &dyn Backend) {
    let store = backend.fresh().await;
    let store = &*store;
    assert!(store.rule_states().await.unwrap().is_empty());
    let fire = [firing("msg_breach", "chat", "ops", 10)];
    assert!(
        store
            .put_rule_state("chat", None, "{\"state\":\"ok\"}", &[], 1)
            .await
            .unwrap()
    );
    // A second first write, and a write from a state no longer there: refused, nothing fired.
    assert!(
        !store
            .put_rule_state("chat", None, "{\"state\":\"x\"}", &fire, 2)
            .await
            .unwrap()
    );
    assert!(
        !store
            .put_rule_state(
                "chat",
                Some("{\"state\":\"pending\"}"),
                "{\"state\":\"x\"}",
                &fire,
                2
            )
            .await
            .unwrap()
    );
    assert!(all_deliveries(store).await.is_empty());
    assert!(
        store
            .put_rule_state(
                "chat",
                Some("{\"state\":\"ok\"}"),
                "{\"state\":\"breached\"}",
                &fire,
                3
            )
            .await
            .unwrap()
    );
    assert_eq!(
        store.rule_states().await.unwrap(),
        [("chat".to_owned(), "{\"state\":\"breached\"}".to_owned())]
    );
    let written = all_deliveries(store).await;
    assert_eq!(written.len(), 1);
    assert_eq!(
        (written[0].id.as_str(), written[0].due_at),
        ("msg_breach", 3)
    );
}
