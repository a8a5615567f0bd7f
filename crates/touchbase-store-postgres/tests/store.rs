//! The conformance suite on PostgreSQL: every store on its own database, dropped afterwards.
//! Needs `TOUCHBASE_TEST_PG` (see `test_support`).

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use touchbase_store::Store;
use touchbase_store::conformance::{Backend, Tamper};
use touchbase_store_postgres::PostgresStore;
use touchbase_store_postgres::test_support::TestDatabases;

struct Postgres {
    databases: TestDatabases,
    urls: Mutex<Vec<String>>,
}

fn postgres() -> Postgres {
    Postgres {
        databases: TestDatabases::new(),
        urls: Mutex::default(),
    }
}

#[async_trait]
impl Backend for Postgres {
    async fn fresh(&self) -> Arc<dyn Store> {
        let url = self.databases.fresh().await;
        self.urls.lock().unwrap().push(url.clone());
        Arc::new(PostgresStore::connect(&url).await.unwrap())
    }

    async fn tamper(&self, n: usize, how: Tamper) {
        let url = self.urls.lock().unwrap()[n].clone();
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        let sql = match how {
            Tamper::Alter { seq } => {
                format!("UPDATE audit SET actor = 'mallory' WHERE seq = {seq}")
            }
            Tamper::Remove { seq } => format!("DELETE FROM audit WHERE seq = {seq}"),
        };
        let refused = client.batch_execute(&sql).await.unwrap_err();
        let refused = refused
            .as_db_error()
            .map(|e| e.message().to_owned())
            .unwrap_or_default();
        assert!(refused.contains("append-only"), "{refused}");
        client
            .batch_execute(&format!(
                "ALTER TABLE audit DISABLE TRIGGER audit_append_only; {sql}"
            ))
            .await
            .unwrap();
    }

    async fn reopen(&self, n: usize) -> Option<Arc<dyn Store>> {
        let url = self.urls.lock().unwrap()[n].clone();
        Some(Arc::new(PostgresStore::connect(&url).await.unwrap()))
    }

    async fn break_rollup(&self, n: usize, point: &str, day: i64) {
        let url = self.urls.lock().unwrap()[n].clone();
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        let changed = client
            .execute(
                "UPDATE rollup_daily SET n = n + 1 WHERE point = $1 AND day = $2",
                &[&point, &day],
            )
            .await
            .unwrap();
        assert_eq!(changed, 1, "no rollup row of {point} on day {day}");
    }
}

touchbase_store::conformance_suite!(postgres());
