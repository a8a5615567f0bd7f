//! Opens the store named by `--db`: chosen once, from the URL's scheme.

use std::sync::Arc;

use anyhow::Context;
use touchbase_store::Store;
use touchbase_store_postgres::PostgresStore;
use touchbase_store_sqlite::SqliteStore;

pub const DEFAULT_DB: &str = "touchbase.db";

/// A `postgres://` or `postgresql://` URL opens PostgreSQL; anything else is a SQLite file path.
pub async fn open(db: Option<&str>) -> anyhow::Result<Arc<dyn Store>> {
    let db = db.unwrap_or(DEFAULT_DB);
    if db.starts_with("postgres://") || db.starts_with("postgresql://") {
        let store = PostgresStore::connect(db).await.with_context(|| {
            format!(
                "cannot open the PostgreSQL store {}: check that the server runs and the database exists",
                touchbase_store_postgres::redact(db)
            )
        })?;
        Ok(Arc::new(store))
    } else {
        let store = SqliteStore::open(db).with_context(|| {
            format!("cannot open the SQLite store `{db}`: check the path and its permissions")
        })?;
        Ok(Arc::new(store))
    }
}
