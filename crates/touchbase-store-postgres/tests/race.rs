//! Writers side by side. New events are written by binary COPY; a writer that commits one of
//! their keys while the COPY runs makes it fail, and the batch is written again the careful
//! way. A write of events and an inventory change meet at the store's version. Needs
//! `TOUCHBASE_TEST_PG` (see `test_support`).

use std::time::Duration;

use touchbase_core::event::{self, Checked, Conformance, Written};
use touchbase_store::Store;
use touchbase_store::rollup::day_of;
use touchbase_store_postgres::PostgresStore;
use touchbase_store_postgres::test_support::TestDatabases;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_committed_by_another_writer_during_the_copy_is_a_duplicate() {
    let databases = TestDatabases::new();
    let url = databases.fresh().await;
    let store = PostgresStore::connect(&url).await.unwrap();
    let raw = serde_json::json!({"id": "e-1", "point": "web.order", "at": "2026-03-01T09:30:00Z"});
    let event = event::decode(&raw, touchbase_store::ingest::now_us())
        .unwrap()
        .event;
    let (day, key) = (day_of(event.at), event::id_key(&event.id));

    // Another writer holds the same event, not yet committed.
    let other = connect(&url).await;
    other
        .batch_execute(&format!(
            "BEGIN; INSERT INTO events (day, key, id, point, at, value_company, value_party, cost,
                 conforms, held, received_at)
             VALUES ({day}, {key}, 'e-1', 'web.order', {}, 0, 0, 0, true, false, 0)",
            event.at
        ))
        .await
        .unwrap();

    let checked = Checked::new(
        event,
        false,
        Conformance {
            conforms: true,
            failures: Vec::new(),
        },
    );
    let writing = {
        let store = store.clone();
        tokio::spawn(async move { store.write_events(vec![checked], Vec::new(), 1).await })
    };
    // The COPY waits for the other writer's transaction
    // (seen from a third connection: one in a transaction reads the activity once).
    let watcher = connect(&url).await;
    let mut waited = 0;
    while !copy_waits(&watcher).await {
        waited += 1;
        assert!(waited < 1000, "the write never waited for the other writer");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    other.batch_execute("COMMIT").await.unwrap();

    let written = writing.await.unwrap().unwrap();
    assert_eq!(written.value, [Written::Duplicate]);
    assert_eq!(store.event_counts().await.unwrap(), (1, 0));
    // The other writer added no rollup, and the duplicate added none either.
    assert!(store.rollups(day..day + 1).await.unwrap().is_empty());
}

/// A write of events reads the store's version in its transaction: an inventory change not yet
/// committed makes it wait, and it then reads the new version (so its events held at a point
/// that change took live are re-examined).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_of_events_waits_for_an_inventory_change_and_reads_its_version() {
    let databases = TestDatabases::new();
    let url = databases.fresh().await;
    let store = PostgresStore::connect(&url).await.unwrap();
    let before = store.version().await.unwrap();
    let raw = serde_json::json!({"id": "e-2", "point": "web.order", "at": "2026-03-01T09:30:00Z"});
    let event = event::decode(&raw, touchbase_store::ingest::now_us())
        .unwrap()
        .event;
    let checked = Checked::new(
        event,
        true,
        Conformance {
            conforms: true,
            failures: Vec::new(),
        },
    );

    // An inventory change, not yet committed, holds the version's row as a change does.
    let other = connect(&url).await;
    other
        .batch_execute(
            "BEGIN; SELECT value FROM meta WHERE key = 'inventory_version' FOR UPDATE;
             UPDATE meta SET value = value + 1 WHERE key = 'inventory_version'",
        )
        .await
        .unwrap();
    let writing = {
        let store = store.clone();
        tokio::spawn(async move { store.write_events(vec![checked], Vec::new(), 1).await })
    };
    let watcher = connect(&url).await;
    let mut waited = 0;
    while !waits_on(&watcher, "SELECT value FROM meta%").await {
        waited += 1;
        assert!(
            waited < 1000,
            "the write never waited for the inventory change"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!writing.is_finished());
    other.batch_execute("COMMIT").await.unwrap();

    let written = writing.await.unwrap().unwrap();
    assert_eq!(written.value, [Written::Held]);
    assert_eq!(written.version, before + 1);
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

/// Whether a COPY into `events` waits on a lock.
async fn copy_waits(client: &tokio_postgres::Client) -> bool {
    waits_on(client, "COPY events%").await
}

/// Whether a statement like `pattern` (SQL `LIKE`) waits on a lock.
async fn waits_on(client: &tokio_postgres::Client, pattern: &str) -> bool {
    let row = client
        .query_one(
            "SELECT COUNT(*) FROM pg_stat_activity
             WHERE datname = current_database() AND wait_event_type = 'Lock'
               AND query LIKE $1",
            &[&pattern],
        )
        .await
        .unwrap();
    row.get::<_, i64>(0) > 0
}
