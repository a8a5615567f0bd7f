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
use touchbase_core::event::{Checked, HeldPoint, NewReject, Reject, Written};
use touchbase_core::{Change, Entity, Kind};
use touchbase_store::{Store, StoreError, Versioned};

/// Each migration, in order; the n-th brings the schema to `user_version` n.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_inventory.sql"),
    include_str!("../migrations/0002_audit.sql"),
    include_str!("../migrations/0003_events.sql"),
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

/// Brings the schema up to date in one write transaction, reading the version inside it, so that
/// two processes opening a new file at once migrate it once.
fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let current: i64 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
    }
    tx.commit()
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

    async fn write_events(
        &self,
        events: &[Checked],
        rejects: &[NewReject],
        received_at: i64,
    ) -> Result<Vec<Written>, StoreError> {
        const CONTEXT: &str = "writing events";
        let events = events.to_vec();
        let rejects = rejects.to_vec();
        self.with(CONTEXT, move |conn| {
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(db(CONTEXT))?;
            let mut written = Vec::with_capacity(events.len());
            {
                let mut insert = tx
                    .prepare_cached(
                        "INSERT INTO events (id, point, at, party, channel, intent, satisfaction, knowledge,
                             resolved, engaged, value_company, value_party, cost, duration_s, data, vars,
                             conforms, failures, held, received_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)
                         ON CONFLICT (id) DO NOTHING",
                    )
                    .map_err(db(CONTEXT))?;
                let mut rollup = tx.prepare_cached(ROLLUP_ADD).map_err(db(CONTEXT))?;
                for checked in &events {
                    let e = &checked.event;
                    let o = &e.outcomes;
                    let failures = (!checked.conformance.failures.is_empty())
                        .then(|| serde_json::to_string(&checked.conformance.failures).unwrap_or_default());
                    let inserted = insert
                        .execute(params![
                            e.id,
                            e.point,
                            e.at,
                            e.party,
                            e.channel,
                            o.intent,
                            o.satisfaction,
                            o.knowledge,
                            o.resolved,
                            o.engaged,
                            e.value_company,
                            e.value_party,
                            e.cost,
                            e.duration_s,
                            e.data.as_ref().map(|d| d.to_string()),
                            e.vars.as_ref().map(|v| serde_json::Value::Object(v.clone()).to_string()),
                            checked.conformance.conforms,
                            failures,
                            checked.held,
                            received_at,
                        ])
                        .map_err(db(CONTEXT))?;
                    if inserted == 0 {
                        written.push(Written::Duplicate);
                    } else if checked.held {
                        written.push(Written::Held);
                    } else {
                        rollup
                            .execute(params![
                                e.point,
                                e.at.div_euclid(DAY_US),
                                e.value_company,
                                e.value_party,
                                e.cost,
                                o.intent.is_some(),
                                o.satisfaction.is_some(),
                                o.satisfaction.unwrap_or(0),
                                o.satisfaction.is_some_and(|s| s >= 4),
                                o.knowledge == Some(true),
                                o.resolved.is_some(),
                                o.resolved == Some(true),
                                o.engaged == Some(true),
                                checked.conformance.conforms,
                            ])
                            .map_err(db(CONTEXT))?;
                        written.push(Written::Accepted);
                    }
                }
                let mut reject = tx
                    .prepare_cached("INSERT INTO rejects (received_at, source, raw, reasons) VALUES (?1, ?2, ?3, ?4)")
                    .map_err(db(CONTEXT))?;
                for r in &rejects {
                    let reasons = serde_json::to_string(&r.reasons).unwrap_or_default();
                    reject.execute(params![received_at, r.source, r.raw, reasons]).map_err(db(CONTEXT))?;
                }
            }
            tx.commit().map_err(db(CONTEXT))?;
            Ok(written)
        })
        .await
    }

    async fn held(&self) -> Result<Vec<HeldPoint>, StoreError> {
        const CONTEXT: &str = "reading held events";
        self.with(CONTEXT, |conn| {
            let mut stmt = conn
                .prepare(
                    "SELECT point, COUNT(*), MIN(at), MAX(at), MIN(id) FROM events WHERE held = 1
                     GROUP BY point ORDER BY point",
                )
                .map_err(db(CONTEXT))?;
            let rows = stmt
                .query_map([], |r| {
                    Ok(HeldPoint {
                        point: r.get(0)?,
                        volume: r.get::<_, i64>(1)? as u64,
                        first_at: r.get(2)?,
                        last_at: r.get(3)?,
                        sample_id: r.get(4)?,
                    })
                })
                .map_err(db(CONTEXT))?;
            rows.collect::<Result<Vec<_>, _>>().map_err(db(CONTEXT))
        })
        .await
    }

    async fn release_held(&self, point: &str) -> Result<u64, StoreError> {
        const CONTEXT: &str = "releasing held events";
        let point = point.to_owned();
        self.with(CONTEXT, move |conn| {
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(db(CONTEXT))?;
            tx.execute(ROLLUP_RELEASE, params![point])
                .map_err(db(CONTEXT))?;
            let released = tx
                .execute(
                    "UPDATE events SET held = 0 WHERE held = 1 AND point = ?1",
                    params![point],
                )
                .map_err(db(CONTEXT))?;
            tx.commit().map_err(db(CONTEXT))?;
            Ok(released as u64)
        })
        .await
    }

    async fn rejects(&self) -> Result<Vec<Reject>, StoreError> {
        const CONTEXT: &str = "reading rejects";
        self.with(CONTEXT, |conn| {
            let mut stmt = conn
                .prepare("SELECT id, received_at, source, raw, reasons, replayed_at FROM rejects ORDER BY id")
                .map_err(db(CONTEXT))?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, Option<i64>>(5)?,
                    ))
                })
                .map_err(db(CONTEXT))?;
            let mut rejects = Vec::new();
            for row in rows {
                let (id, received_at, source, raw, reasons, replayed_at) = row.map_err(db(CONTEXT))?;
                let reasons = serde_json::from_str(&reasons)
                    .map_err(|e| StoreError::Corrupt(format!("reject {id}: {e}")))?;
                rejects.push(Reject { id, received_at, source, raw, reasons, replayed_at });
            }
            Ok(rejects)
        })
        .await
    }

    async fn mark_replayed(&self, ids: &[i64], at: i64) -> Result<(), StoreError> {
        const CONTEXT: &str = "marking rejects replayed";
        let ids = ids.to_vec();
        self.with(CONTEXT, move |conn| {
            let tx = conn.transaction().map_err(db(CONTEXT))?;
            {
                let mut mark = tx
                    .prepare_cached("UPDATE rejects SET replayed_at = ?1 WHERE id = ?2")
                    .map_err(db(CONTEXT))?;
                for id in &ids {
                    mark.execute(params![at, id]).map_err(db(CONTEXT))?;
                }
            }
            tx.commit().map_err(db(CONTEXT))
        })
        .await
    }

    async fn event_counts(&self) -> Result<(u64, u64), StoreError> {
        const CONTEXT: &str = "counting events";
        self.with(CONTEXT, |conn| {
            conn.query_row(
                "SELECT COALESCE(SUM(held = 0), 0), COALESCE(SUM(held = 1), 0) FROM events",
                [],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
            )
            .map_err(db(CONTEXT))
        })
        .await
    }
}

/// Microseconds in a day.
const DAY_US: i64 = 86_400_000_000;

/// Adds one counted event to its point's day.
const ROLLUP_ADD: &str = "INSERT INTO rollup_daily (point, day, n, value_company, value_party, cost, intent_n,
        satisfaction_n, satisfaction_sum, csat_n, knowledge_n, resolved_n, resolved_true_n, engaged_n, conforms_n)
    VALUES (?1, ?2, 1, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
    ON CONFLICT (point, day) DO UPDATE SET
        n = n + 1,
        value_company = value_company + excluded.value_company,
        value_party = value_party + excluded.value_party,
        cost = cost + excluded.cost,
        intent_n = intent_n + excluded.intent_n,
        satisfaction_n = satisfaction_n + excluded.satisfaction_n,
        satisfaction_sum = satisfaction_sum + excluded.satisfaction_sum,
        csat_n = csat_n + excluded.csat_n,
        knowledge_n = knowledge_n + excluded.knowledge_n,
        resolved_n = resolved_n + excluded.resolved_n,
        resolved_true_n = resolved_true_n + excluded.resolved_true_n,
        engaged_n = engaged_n + excluded.engaged_n,
        conforms_n = conforms_n + excluded.conforms_n";

/// Adds a point's held events to its rollups, day by day.
const ROLLUP_RELEASE: &str = "INSERT INTO rollup_daily (point, day, n, value_company, value_party, cost, intent_n,
        satisfaction_n, satisfaction_sum, csat_n, knowledge_n, resolved_n, resolved_true_n, engaged_n, conforms_n)
    SELECT point, at / 86400000000 - (at % 86400000000 < 0), COUNT(*), SUM(value_company), SUM(value_party), SUM(cost),
        COUNT(intent), COUNT(satisfaction), COALESCE(SUM(satisfaction), 0), COUNT(CASE WHEN satisfaction >= 4 THEN 1 END),
        SUM(knowledge IS 1), COUNT(resolved), SUM(resolved IS 1), SUM(engaged IS 1), SUM(conforms)
    FROM events WHERE held = 1 AND point = ?1 GROUP BY 1, 2
    ON CONFLICT (point, day) DO UPDATE SET
        n = n + excluded.n,
        value_company = value_company + excluded.value_company,
        value_party = value_party + excluded.value_party,
        cost = cost + excluded.cost,
        intent_n = intent_n + excluded.intent_n,
        satisfaction_n = satisfaction_n + excluded.satisfaction_n,
        satisfaction_sum = satisfaction_sum + excluded.satisfaction_sum,
        csat_n = csat_n + excluded.csat_n,
        knowledge_n = knowledge_n + excluded.knowledge_n,
        resolved_n = resolved_n + excluded.resolved_n,
        resolved_true_n = resolved_true_n + excluded.resolved_true_n,
        engaged_n = engaged_n + excluded.engaged_n,
        conforms_n = conforms_n + excluded.conforms_n";

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
