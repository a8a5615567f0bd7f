//! The PostgreSQL store (R20), for shared and large deployments.
//!
//! tokio-postgres behind a deadpool pool; its binary COPY is what bulk event writes will use.
//! Migrations in `migrations/` are applied at connect, tracked in `touchbase_migrations`, under
//! an advisory lock so that several nodes starting at once migrate once.

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use serde_json::Value;
use tokio_postgres::NoTls;
use touchbase_core::{Change, Entity, Kind};
use touchbase_store::{Store, StoreError, Versioned};

#[cfg(feature = "test-support")]
pub mod test_support;

/// Each migration, in order, with its number.
const MIGRATIONS: &[(i64, &str)] = &[(1, include_str!("../migrations/0001_inventory.sql"))];

/// Key of the advisory lock held while migrating.
const MIGRATION_LOCK: i64 = 0x746f_7563_6862_6173; // "touchbas"

#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
    url: String,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("url", &redact(&self.url))
            .finish()
    }
}

/// The URL with its password replaced, for logs and messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme + 3],
                    &userinfo[..colon],
                    &url[at..]
                ),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

fn pg(context: impl Into<String>) -> impl FnOnce(tokio_postgres::Error) -> StoreError {
    let context = context.into();
    move |e| StoreError::backend(context, e)
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user:pass@host:port/db`) and brings its
    /// schema up to date.
    pub async fn connect(url: &str) -> Result<PostgresStore, StoreError> {
        let shown = redact(url);
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(pg(format!("reading the PostgreSQL URL {shown}")))?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(16)
            .build()
            .map_err(|e| StoreError::backend("building the PostgreSQL pool", e))?;
        let store = PostgresStore {
            pool,
            url: url.to_owned(),
        };
        store.migrate().await?;
        Ok(store)
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(|e| {
            StoreError::backend(
                format!("connecting to PostgreSQL at {}", redact(&self.url)),
                e,
            )
        })
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg("migrating"))?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(pg("migrating"))?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS touchbase_migrations (
                 version BIGINT PRIMARY KEY,
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
        )
        .await
        .map_err(pg("migrating"))?;
        let row = tx
            .query_one(
                "SELECT COALESCE(MAX(version), 0) FROM touchbase_migrations",
                &[],
            )
            .await
            .map_err(pg("migrating"))?;
        let current: i64 = row.get(0);
        for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
            let context = format!("applying migration {version}");
            tx.batch_execute(sql).await.map_err(pg(context.clone()))?;
            tx.execute(
                "INSERT INTO touchbase_migrations (version) VALUES ($1)",
                &[version],
            )
            .await
            .map_err(pg(context))?;
        }
        tx.commit().await.map_err(pg("migrating"))
    }
}

#[async_trait]
impl Store for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn entities(&self) -> Result<Versioned<Vec<Entity>>, StoreError> {
        const CONTEXT: &str = "reading the inventory";
        let mut client = self.client().await?;
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(pg(CONTEXT))?;
        let version: i64 = tx
            .query_one(
                "SELECT value FROM meta WHERE key = 'inventory_version'",
                &[],
            )
            .await
            .map_err(pg(CONTEXT))?
            .get(0);
        let rows = tx
            .query("SELECT kind, key, doc FROM inventory", &[])
            .await
            .map_err(pg(CONTEXT))?;
        let mut entities = Vec::with_capacity(rows.len());
        for row in rows {
            let (kind, key, doc): (String, String, Value) = (row.get(0), row.get(1), row.get(2));
            entities.push(decode(&kind, &key, doc)?);
        }
        tx.commit().await.map_err(pg(CONTEXT))?;
        Ok(Versioned {
            version: version as u64,
            value: entities,
        })
    }

    async fn apply(&self, version: u64, changes: &[Change]) -> Result<u64, StoreError> {
        const CONTEXT: &str = "writing the inventory";
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg(CONTEXT))?;
        let current: i64 = tx
            .query_one(
                "SELECT value FROM meta WHERE key = 'inventory_version' FOR UPDATE",
                &[],
            )
            .await
            .map_err(pg(CONTEXT))?
            .get(0);
        if current as u64 != version {
            return Err(StoreError::Conflict(format!(
                "the inventory is at version {current}, the write was based on version {version}"
            )));
        }
        let put = tx
            .prepare(
                "INSERT INTO inventory (kind, key, doc) VALUES ($1, $2, $3)
                 ON CONFLICT (kind, key) DO UPDATE SET doc = excluded.doc",
            )
            .await
            .map_err(pg(CONTEXT))?;
        let delete = tx
            .prepare("DELETE FROM inventory WHERE kind = $1 AND key = $2")
            .await
            .map_err(pg(CONTEXT))?;
        for change in changes {
            let kind = change.kind.as_str();
            match &change.after {
                Some(entity) => {
                    tx.execute(&put, &[&kind, &change.key, &entity.to_doc()])
                        .await
                }
                None => tx.execute(&delete, &[&kind, &change.key]).await,
            }
            .map_err(pg(CONTEXT))?;
        }
        let next = version as i64 + 1;
        tx.execute(
            "UPDATE meta SET value = $1 WHERE key = 'inventory_version'",
            &[&next],
        )
        .await
        .map_err(pg(CONTEXT))?;
        tx.commit().await.map_err(pg(CONTEXT))?;
        Ok(next as u64)
    }
}

fn decode(kind: &str, key: &str, doc: Value) -> Result<Entity, StoreError> {
    let corrupt = |why: String| StoreError::Corrupt(format!("{kind} `{key}`: {why}"));
    let kind = Kind::parse(kind).ok_or_else(|| corrupt("unknown kind".into()))?;
    Entity::from_doc(kind, doc).map_err(|e| corrupt(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn redact_hides_the_password_only() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("postgres://h/db"), "postgres://h/db");
    }
}
