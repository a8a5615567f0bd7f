//! The conformance suite on PostgreSQL: every store on its own database, dropped afterwards.
//! Needs `TOUCHBASE_TEST_PG` (see `test_support`).

use std::sync::Arc;

use async_trait::async_trait;
use touchbase_store::Store;
use touchbase_store::conformance::Backend;
use touchbase_store_postgres::PostgresStore;
use touchbase_store_postgres::test_support::TestDatabases;

struct Postgres(TestDatabases);

#[async_trait]
impl Backend for Postgres {
    async fn fresh(&self) -> Arc<dyn Store> {
        Arc::new(PostgresStore::connect(&self.0.fresh().await).await.unwrap())
    }
}

touchbase_store::conformance_suite!(Postgres(TestDatabases::new()));
