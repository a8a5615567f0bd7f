//! The embedded store (R20): one SQLite file in WAL mode, nothing to install.
//!
//! This is the only crate in the build that links SQLite (rusqlite with the bundled library).
//! A single connection serves the store; calls run on tokio's blocking pool so the async
//! callers never wait on disk. Migrations in `migrations/` are applied at open, tracked by
//! `PRAGMA user_version`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};
use touchbase_core::audit::{self, Entry, Record};
use touchbase_core::{Change, Entity, Kind};
use touchbase_store::{Store, StoreError, Versioned};

/// Each migration, in order; the n-th brings the schema to `user_version` n.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_inventory.sql"),
    include_str!("../migrations/0002_audit.sql"),
];

#[derive(Debug, Clone)]
pub struct SqliteStore {
    path: PathBuf,
    conn: Arc<Mutex<Connection>>,
}

impl SqliteStore {
    /// Opens the store at `path`, creating the file when absent, and brings its schema up to date.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        let path = path.as_ref().to_path_buf();
        let context = || format!("opening the SQLite store {}", path.display());
        let mut conn = Connection::open(&path).map_err(|e| StoreError::backend(context(), e))?;
        conn.pragma_update(None, "journal_mode", "wal")
            .and_then(|_| conn.pragma_update(None, "synchronous", "full"))
            .and_then(|_| conn.pragma_update(None, "foreign_keys", "on"))
            .and_then(|_| conn.busy_timeout(std::time::Duration::from_secs(5)))
            .map_err(|e| StoreError::backend(context(), e))?;
        migrate(&mut conn)
            .map_err(|e| StoreError::backend(format!("migrating {}", path.display()), e))?;
        Ok(SqliteStore {
            path,
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on the connection on the blocking pool.
    async fn with<T, F>(&self, context: &'static str, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            f(&mut conn)
        })
        .await
        .map_err(|e| StoreError::backend(context, e))?
    }
}

fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let current: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

fn db(context: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |e| StoreError::backend(context, e)
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn entities(&self) -> Result<Versioned<Vec<Entity>>, StoreError> {
        const CONTEXT: &str = "reading the inventory";
        self.with(CONTEXT, |conn| {
            let tx = conn.transaction().map_err(db(CONTEXT))?;
            let version: i64 = tx
                .query_row(
                    "SELECT value FROM meta WHERE key = 'inventory_version'",
                    [],
                    |r| r.get(0),
                )
                .map_err(db(CONTEXT))?;
            let mut stmt = tx
                .prepare("SELECT kind, key, doc FROM inventory")
                .map_err(db(CONTEXT))?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                    ))
                })
                .map_err(db(CONTEXT))?;
            let mut entities = Vec::new();
            for row in rows {
                let (kind, key, doc) = row.map_err(db(CONTEXT))?;
                entities.push(decode(&kind, &key, &doc)?);
            }
            Ok(Versioned {
                version: version as u64,
                value: entities,
            })
        })
        .await
    }

    async fn entity(&self, kind: Kind, key: &str) -> Result<Option<Entity>, StoreError> {
        const CONTEXT: &str = "reading the inventory";
        let key = key.to_owned();
        self.with(CONTEXT, move |conn| {
            let doc: Option<String> = conn
                .prepare_cached("SELECT doc FROM inventory WHERE kind = ?1 AND key = ?2")
                .and_then(|mut stmt| {
                    stmt.query_row(params![kind.as_str(), key], |r| r.get(0))
                        .optional()
                })
                .map_err(db(CONTEXT))?;
            doc.map(|doc| decode(kind.as_str(), &key, &doc)).transpose()
        })
        .await
    }

    async fn audit(&self) -> Result<Vec<Record>, StoreError> {
        const CONTEXT: &str = "reading the audit trail";
        self.with(CONTEXT, |conn| {
            let mut stmt = conn
                .prepare("SELECT seq, at, actor, action, subject, before, after, prev, hash FROM audit ORDER BY seq")
                .map_err(db(CONTEXT))?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, Option<String>>(5)?,
                        r.get::<_, Option<String>>(6)?,
                        r.get::<_, String>(7)?,
                        r.get::<_, String>(8)?,
                    ))
                })
                .map_err(db(CONTEXT))?;
            let mut records = Vec::new();
            for row in rows {
                let (seq, at, actor, action, subject, before, after, prev, hash) = row.map_err(db(CONTEXT))?;
                records.push(Record {
                    seq: seq as u64,
                    at,
                    actor,
                    action,
                    subject,
                    before: parse_doc(before)?,
                    after: parse_doc(after)?,
                    prev,
                    hash,
                });
            }
            Ok(records)
        })
        .await
    }

    async fn apply(
        &self,
        version: u64,
        changes: &[Change],
        entries: &[Entry],
    ) -> Result<u64, StoreError> {
        const CONTEXT: &str = "writing the inventory";
        let rows: Vec<(Kind, String, Option<String>)> = changes
            .iter()
            .map(|c| {
                (
                    c.kind,
                    c.key.clone(),
                    c.after.as_ref().map(|e| e.to_doc().to_string()),
                )
            })
            .collect();
        let entries = entries.to_vec();
        self.with(CONTEXT, move |conn| {
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(db(CONTEXT))?;
            let current: i64 = tx
                .query_row("SELECT value FROM meta WHERE key = 'inventory_version'", [], |r| r.get(0))
                .map_err(db(CONTEXT))?;
            if current as u64 != version {
                return Err(StoreError::Conflict(format!(
                    "the inventory is at version {current}, the write was based on version {version}"
                )));
            }
            {
                let mut put = tx
                    .prepare_cached(
                        "INSERT INTO inventory (kind, key, doc) VALUES (?1, ?2, ?3)
                         ON CONFLICT (kind, key) DO UPDATE SET doc = excluded.doc",
                    )
                    .map_err(db(CONTEXT))?;
                let mut delete =
                    tx.prepare_cached("DELETE FROM inventory WHERE kind = ?1 AND key = ?2").map_err(db(CONTEXT))?;
                for (kind, key, doc) in &rows {
                    match doc {
                        Some(doc) => put.execute(params![kind.as_str(), key, doc]),
                        None => delete.execute(params![kind.as_str(), key]),
                    }
                    .map_err(db(CONTEXT))?;
                }
            }
            {
                let (mut seq, mut prev): (i64, String) = tx
                    .query_row("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", [], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })
                    .optional()
                    .map_err(db(CONTEXT))?
                    .unwrap_or((0, audit::GENESIS.to_owned()));
                let mut append = tx
                    .prepare_cached(
                        "INSERT INTO audit (seq, at, actor, action, subject, before, after, prev, hash)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    )
                    .map_err(db(CONTEXT))?;
                for entry in &entries {
                    seq += 1;
                    let record = audit::seal(seq as u64, &prev, entry);
                    append
                        .execute(params![
                            seq,
                            record.at,
                            record.actor,
                            record.action,
                            record.subject,
                            record.before.as_ref().map(|v| v.to_string()),
                            record.after.as_ref().map(|v| v.to_string()),
                            record.prev,
                            record.hash,
                        ])
                        .map_err(db(CONTEXT))?;
                    prev = record.hash;
                }
            }
            let next = version + 1;
            tx.execute("UPDATE meta SET value = ?1 WHERE key = 'inventory_version'", [next as i64])
                .map_err(db(CONTEXT))?;
            tx.commit().map_err(db(CONTEXT))?;
            Ok(next)
        })
        .await
    }
}

fn decode(kind: &str, key: &str, doc: &str) -> Result<Entity, StoreError> {
    let corrupt = |why: String| StoreError::Corrupt(format!("{kind} `{key}`: {why}"));
    let kind = Kind::parse(kind).ok_or_else(|| corrupt("unknown kind".into()))?;
    let doc = serde_json::from_str(doc).map_err(|e| corrupt(e.to_string()))?;
    Entity::from_doc(kind, key, doc).map_err(|e| corrupt(e.to_string()))
}

fn parse_doc(doc: Option<String>) -> Result<Option<serde_json::Value>, StoreError> {
    doc.map(|d| serde_json::from_str(&d))
        .transpose()
        .map_err(|e| StoreError::Corrupt(format!("an audit record: {e}")))
}
