//! Opens the store named by `--db`: chosen once, from the URL's scheme, sealing its audit
//! trail with the organization's keys and keeping its head file (see `keys`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use touchbase_core::Actor;
use touchbase_core::access::LOCAL_ADMIN;
use touchbase_store::audit::Sealing;
use touchbase_store::{OpError, Store, access};
use touchbase_store_postgres::PostgresStore;
use touchbase_store_sqlite::SqliteStore;

pub const DEFAULT_DB: &str = "touchbase.db";

/// What a store is opened with besides its name: where the organization key and the audit
/// trail's head file are (`--key-file`, `--audit-head`).
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub key_file: Option<PathBuf>,
    pub audit_head: Option<PathBuf>,
}

/// A `postgres://` or `postgresql://` URL opens PostgreSQL; anything else is a SQLite file path.
pub async fn open(db: Option<&str>, options: &Options) -> anyhow::Result<Arc<dyn Store>> {
    let db = db.unwrap_or(DEFAULT_DB);
    let sealing = sealing(db, options)?;
    if crate::keys::is_postgres(db) {
        let store = PostgresStore::connect(db).await.with_context(|| {
            format!(
                "cannot open the PostgreSQL store {}: check that the server runs and the database exists",
                touchbase_store_postgres::redact(db)
            )
        })?;
        Ok(Arc::new(store.with_sealing(sealing)))
    } else {
        let store = SqliteStore::open(db).with_context(|| {
            format!("cannot open the SQLite store `{db}`: check the path and its permissions")
        })?;
        Ok(Arc::new(store.with_sealing(sealing)))
    }
}

/// The store's keys (a SQLite store's made beside it on first use; a PostgreSQL store given
/// none writes an unsealed trail) and its head file (by default the SQLite file's path with
/// `.head` added; for PostgreSQL only where the operator says).
fn sealing(db: &str, options: &Options) -> anyhow::Result<Sealing> {
    let ring = crate::keys::load_optional(db, options.key_file.as_deref())?.map(|k| k.ring());
    let head = options
        .audit_head
        .clone()
        .or_else(|| (!crate::keys::is_postgres(db)).then(|| head_beside(Path::new(db))));
    Ok(Sealing::new(ring, head))
}

fn head_beside(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".head");
    PathBuf::from(name)
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
