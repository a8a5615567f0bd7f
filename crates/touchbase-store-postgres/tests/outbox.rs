//! The reverse feed's outbox on PostgreSQL: deliveries written with what fired them, claimed
//! by one dispatcher at a time, moved on by their attempts. Needs `TOUCHBASE_TEST_PG` (see
//! `test_support`).

use std::collections::HashSet;

use touchbase_core::event::{self, Checked, Conformance, Written};
use touchbase_core::rules::Firing;
use touchbase_store::Store;
use touchbase_store::outbox::{Attempt, DeliveryFilter, DeliveryState, Finished, Next};
use touchbase_store::rollup::day_of;
use touchbase_store_postgres::PostgresStore;
use touchbase_store_postgres::test_support::TestDatabases;

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
    let raw = serde_json::json!({"id": id, "point": "web.order", "at": at, "party": "p-1",
        "data": {"sku": "x"}, "outcomes": {"satisfaction": 4, "resolved": true},
        "value": {"company": 1.5}, "duration_s": 12.5});
    let decoded = event::decode(&raw, touchbase_store::ingest::now_us()).unwrap();
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

async fn store(databases: &TestDatabases) -> PostgresStore {
    PostgresStore::connect(&databases.fresh().await)
        .await
        .unwrap()
}

#[tokio::test]
async fn deliveries_are_written_once_claimed_and_moved_on() {
    let databases = TestDatabases::new();
    let store = store(&databases).await;
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
    assert_eq!(
        store.next_due(std::slice::from_ref(&a)).await.unwrap(),
        Some(150)
    );
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dispatchers_side_by_side_never_claim_the_same_delivery() {
    let databases = TestDatabases::new();
    let url = databases.fresh().await;
    let store = PostgresStore::connect(&url).await.unwrap();
    let endpoint = "https://a.example/hook".to_owned();
    let firings: Vec<Firing> = (0..400)
        .map(|i| firing(&format!("d-{i:03}"), "r", &endpoint, i))
        .collect();
    assert_eq!(store.enqueue(&firings, 0).await.unwrap(), 400);

    let mut claimers = Vec::new();
    for _ in 0..8 {
        // Each its own pool, as dispatchers on several servers.
        let store = PostgresStore::connect(&url).await.unwrap();
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

#[tokio::test]
async fn new_events_and_changes_write_their_firings() {
    let databases = TestDatabases::new();
    let store = store(&databases).await;
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
