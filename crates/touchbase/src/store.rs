//! Opens the store named by `--db`: chosen once, from the URL's scheme.

use std::sync::Arc;

use anyhow::Context;
use touchbase_core::Actor;
use touchbase_core::access::LOCAL_ADMIN;
use touchbase_store::{OpError, Store, access};
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

/// Who the command acts as: the local administrator, unless `--as NAME` names a user of the
/// store, whose name and role the command then takes. `--as local-admin` names the local
/// administrator unless a user of that name exists.
pub async fn actor(store: &dyn Store, name: Option<&str>) -> anyhow::Result<Actor> {
    let Some(name) = name else {
        return Ok(Actor::local_admin());
    };
    match access::actor_named(store, name).await {
        Ok(actor) => Ok(actor),
        Err(OpError::UserNotFound(_)) if name == LOCAL_ADMIN => Ok(Actor::local_admin()),
        Err(OpError::UserNotFound(_)) => Err(anyhow::anyhow!(
            "--as {name}: no user `{name}` in this store; `touchbase user list` shows the users \
             (without --as, touchbase acts as {LOCAL_ADMIN})"
        )),
        Err(e) => Err(e.into()),
    }
}
