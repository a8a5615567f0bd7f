//! The embedded store (R20): one SQLite file in WAL mode, nothing to install.
//!
//! This is the only crate in the build that links SQLite (rusqlite with the bundled library).
//! A single connection serves the store; calls run on tokio's blocking pool so the async
//! callers never wait on disk. Migrations in `migrations/` are applied at open, tracked by
//! `PRAGMA user_version`.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};
use touchbase_core::audit::{self, Entry, Record};
use touchbase_core::event::{Checked, Event, HeldPoint, NewReject, Outcomes, Reject, Written};
use touchbase_core::rules::Firing;
use touchbase_core::{Change, Entity, Kind};
use touchbase_store::audit::Sealing;
use touchbase_store::outbox::{Attempt, Delivery, DeliveryFilter, FeedCount, Finished};

mod answers;
mod checkpoints;
mod journeys;
mod orders;
mod outbox;
mod turns;
mod voice;
use touchbase_core::standing::Order;
use touchbase_core::voice::Family;
use touchbase_store::answers::{AnswerTag, Coding, Forgotten, Statement};
use touchbase_store::invitations::{Invitation, KeyCustomer, Suppression};
use touchbase_store::journey_days::{JourneyCut, JourneyStep};
use touchbase_store::links::LinkRecord;
use touchbase_store::responses::{NewResponse, OpenAnswer, ResponseWritten, VoiceDay};
use touchbase_store::rollup::{self, Tally, add_in_order, day_of};
use touchbase_store::standing::{self, OrderFilter, OrderRevision};
use touchbase_store::{
    DayRollup, JourneyRows, Nonconforming, PartyTouch, Store, StoreError, Versioned,
};

/// Each migration, in order; the n-th brings the schema to `user_version` n.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_inventory.sql"),
    include_str!("../migrations/0002_audit.sql"),
    include_str!("../migrations/0003_events.sql"),
    include_str!("../migrations/0004_quality.sql"),
    include_str!("../migrations/0005_party_touches.sql"),
    include_str!("../migrations/0006_journey_days.sql"),
    include_str!("../migrations/0007_no_point_at_index.sql"),
    include_str!("../migrations/0008_deliveries.sql"),
    include_str!("../migrations/0009_rule_states.sql"),
    include_str!("../migrations/0010_audit_seal.sql"),
    include_str!("../migrations/0011_reject_length.sql"),
    include_str!("../migrations/0012_links.sql"),
    include_str!("../migrations/0013_standing_orders.sql"),
    include_str!("../migrations/0014_voice.sql"),
    include_str!("../migrations/0015_answers.sql"),
    include_str!("../migrations/0016_response_indexes.sql"),
    include_str!("../migrations/0017_journey_rows.sql"),
    include_str!("../migrations/0018_journey_rows_by_party.sql"),
];

/// A call that waits for the connection and holds it longer is logged (at debug).
const SLOW_CALL: std::time::Duration = std::time::Duration::from_millis(50);

#[derive(Debug, Clone)]
pub struct SqliteStore {
    path: PathBuf,
    conn: Arc<Mutex<Connection>>,
    turns: Arc<turns::Turns>,
    /// Shared with the checkpoint thread: when the next call makes the log start over.
    restart: Arc<checkpoints::Restart>,
    _checkpoints: Arc<checkpoints::Checkpointer>,
    sealing: Arc<Sealing>,
}

impl SqliteStore {
    /// Opens the store at `path`, creating the file when absent, and brings its schema up to date.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        let path = path.as_ref().to_path_buf();
        let context = || format!("opening the SQLite store {}", path.display());
        let mut conn = Connection::open(&path).map_err(|e| classify(context(), e))?;
        conn.pragma_update(None, "journal_mode", "wal")
            .and_then(|_| conn.pragma_update(None, "synchronous", "full"))
            .and_then(|_| conn.pragma_update(None, "foreign_keys", "on"))
            // 64 MiB of page cache (the default is 2 MiB): the indexes' recent pages stay in
            // memory while events stream in.
            .and_then(|_| conn.pragma_update(None, "cache_size", -65_536))
            // The log is copied back by a thread of its own (`checkpoints`), not inside a write.
            .and_then(|_| conn.pragma_update(None, "wal_autocheckpoint", 0))
            .and_then(|_| conn.pragma_update(None, "journal_size_limit", checkpoints::LOG_LIMIT))
            .and_then(|_| conn.busy_timeout(std::time::Duration::from_secs(5)))
            .map_err(|e| classify(context(), e))?;
        migrate(&mut conn).map_err(|e| classify(format!("migrating {}", path.display()), e))?;
        let conn = Arc::new(Mutex::new(conn));
        let turns = Arc::new(turns::Turns::default());
        let restart = Arc::new(checkpoints::Restart::default());
        let checkpoints = checkpoints::start(&path, Arc::clone(&restart))?;
        Ok(SqliteStore {
            path,
            conn,
            turns,
            restart,
            _checkpoints: Arc::new(checkpoints),
            sealing: Arc::new(Sealing::new(None, None)),
        })
    }

    /// The same store, sealing its audit trail as `sealing` says (the organization's keys,
    /// the head file: by convention the store's path with `.head` added).
    pub fn with_sealing(mut self, sealing: Sealing) -> SqliteStore {
        self.sealing = Arc::new(sealing);
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on the connection on the blocking pool, seen by [`turns`] (a catch-up step
    /// lets it go first).
    async fn with<T, F>(&self, context: &'static str, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.run(context, true, f).await
    }

    /// Runs `f` as [`SqliteStore::with`] does, but unseen by [`turns`]: for the catch-up's
    /// steps, which wait for their turn ([`Store::journeys_turn`]) before.
    async fn in_background<T, F>(&self, context: &'static str, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.run(context, false, f).await
    }

    /// Runs `f` holding the connection, then the restart of the log the checkpoint thread asked for;
    /// `seen`: told to [`turns`], and logged (at debug) when slow.
    async fn run<T, F>(&self, context: &'static str, seen: bool, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (conn, turns) = (Arc::clone(&self.conn), Arc::clone(&self.turns));
        let restart = Arc::clone(&self.restart);
        if seen {
            turns.waits();
        }
        let asked = std::time::Instant::now();
        let done = tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let held = std::time::Instant::now();
            if seen {
                turns.holds();
            }
            let done = f(&mut conn);
            checkpoints::restart_if_asked(&conn, &restart);
            if seen {
                turns.done();
                let (waited, held) = (held - asked, held.elapsed());
                if waited + held > SLOW_CALL {
                    tracing::debug!(
                        context,
                        waited_ms = waited.as_millis() as u64,
                        held_ms = held.as_millis() as u64,
                        "a slow call of the store"
                    );
                }
            }
            done
        })
        .await;
        done.map_err(|e| StoreError::backend(context, e))?
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

fn now_us() -> i64 {
    jiff::Timestamp::now().as_microsecond()
}

fn db(context: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |e| classify(context, e)
}

/// A SQLite error as a [`StoreError`]: a full disk (`SQLITE_FULL`: SQLite's word for ENOSPC)
/// is [`StoreError::Full`]; a lock held by another process past the busy timeout
/// (`SQLITE_BUSY`, `SQLITE_LOCKED`) is [`StoreError::Unavailable`]. In both cases SQLite has
/// rolled the transaction back, and the connection serves the next one.
pub(crate) fn classify(context: impl Into<String>, e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode;
    match e.sqlite_error_code() {
        Some(ErrorCode::DiskFull) => StoreError::full(context, e),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            StoreError::unavailable(context, e)
        }
        _ => StoreError::backend(context, e),
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn sealing(&self) -> &Sealing {
        &self.sealing
    }

    async fn entities(&self) -> Result<Versioned<Vec<Entity>>, StoreError> {
        const CONTEXT: &str = "reading the inventory";
        self.with(CONTEXT, |conn| {
            let tx = conn.transaction().map_err(db(CONTEXT))?;
            let version = inventory_version(&tx).map_err(db(CONTEXT))?;
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

    async fn version(&self) -> Result<u64, StoreError> {
        const CONTEXT: &str = "reading the store's version";
        self.with(CONTEXT, |conn| inventory_version(conn).map_err(db(CONTEXT)))
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
                .prepare("SELECT seq, at, actor, action, subject, before, after, prev, hash, key, seal FROM audit ORDER BY seq")
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
                        r.get::<_, Option<String>>(9)?,
                        r.get::<_, Option<String>>(10)?,
                    ))
                })
                .map_err(db(CONTEXT))?;
            let mut records = Vec::new();
            for row in rows {
                let (seq, at, actor, action, subject, before, after, prev, hash, key, seal) = row.map_err(db(CONTEXT))?;
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
                    key,
                    seal,
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
        firings: &[Firing],
    ) -> Result<u64, StoreError> {
        const CONTEXT: &str = "writing the inventory";
        let firings = firings.to_vec();
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
        let sealing = Arc::clone(&self.sealing);
        self.with(CONTEXT, move |conn| {
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(db(CONTEXT))?;
            let mut last = None;
            let current = inventory_version(&tx).map_err(db(CONTEXT))?;
            if current != version {
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
                let (mut seq, mut prev, mut last_key): (i64, String, Option<String>) = tx
                    .query_row("SELECT seq, hash, key FROM audit ORDER BY seq DESC LIMIT 1", [], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                    })
                    .optional()
                    .map_err(db(CONTEXT))?
                    .unwrap_or((0, audit::GENESIS.to_owned(), None));
                let mut append = tx
                    .prepare_cached(
                        "INSERT INTO audit (seq, at, actor, action, subject, before, after, prev, hash, key, seal)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                    )
                    .map_err(db(CONTEXT))?;
                for entry in &entries {
                    seq += 1;
                    let record = sealing.seal(seq as u64, &prev, entry, last_key.as_deref())?;
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
                            record.key,
                            record.seal,
                        ])
                        .map_err(db(CONTEXT))?;
                    prev = record.hash.clone();
                    last_key = record.key.clone();
                    last = Some(record);
                }
            }
            outbox::insert(&tx, firings.iter(), now_us()).map_err(db(CONTEXT))?;
            let next = version + 1;
            tx.execute("UPDATE meta SET value = ?1 WHERE key = 'inventory_version'", [next as i64])
                .map_err(db(CONTEXT))?;
            tx.commit().map_err(db(CONTEXT))?;
            // Still under the connection's lock: heads are written in the order of the commits.
            if let Some(last) = &last {
                sealing.committed(last);
            }
            Ok(next)
        })
        .await
    }

    async fn write_events(
        &self,
        events: Vec<Checked>,
        rejects: Vec<NewReject>,
        received_at: i64,
    ) -> Result<Versioned<Vec<Written>>, StoreError> {
        const CONTEXT: &str = "writing events";
        self.with(CONTEXT, move |conn| {
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(db(CONTEXT))?;
            let mut written = Vec::with_capacity(events.len());
            {
                let mut insert = tx.prepare_cached(INSERT_EVENT).map_err(db(CONTEXT))?;
                let mut keyed = tx
                    .prepare_cached("SELECT id FROM events WHERE day = ?1 AND key = ?2")
                    .map_err(db(CONTEXT))?;
                let mut unkeyed = tx
                    .prepare_cached(
                        "SELECT 1 FROM events WHERE day = ?1 AND key IS NULL AND id = ?2",
                    )
                    .map_err(db(CONTEXT))?;
                for checked in &events {
                    let e = &checked.event;
                    let day = rollup::day_of(e.at);
                    let key = checked.key();
                    let mut write = |key: Option<i64>| {
                        insert_event(&mut insert, checked, day, key, received_at)
                            .map_err(db(CONTEXT))
                    };
                    let inserted = match write(Some(key))? {
                        true => true,
                        // Another event holds this key on this day: the same id, or (rarely)
                        // another id with the same key, kept unkeyed.
                        false => {
                            let holder: String = keyed
                                .query_row(params![day, key], |r| r.get(0))
                                .map_err(db(CONTEXT))?;
                            holder != e.id
                                && !unkeyed.exists(params![day, e.id]).map_err(db(CONTEXT))?
                                && write(None)?
                        }
                    };
                    written.push(match (inserted, checked.held) {
                        (false, _) => Written::Duplicate,
                        (true, true) => Written::Held,
                        (true, false) => Written::Accepted,
                    });
                }
                let counted = events
                    .iter()
                    .zip(&written)
                    .filter(|(_, w)| **w == Written::Accepted)
                    .map(|(c, _)| (&c.event, c.conformance.conforms));
                add_to_rollups(&tx, CONTEXT, rollup::tally(counted))?;
                insert_rejects(&tx, &rejects, received_at).map_err(db(CONTEXT))?;
                let fired = events
                    .iter()
                    .zip(&written)
                    .filter(|(_, w)| **w != Written::Duplicate)
                    .flat_map(|(c, _)| &c.firings);
                outbox::insert(&tx, fired, received_at).map_err(db(CONTEXT))?;
                let captured = events
                    .iter()
                    .zip(&written)
                    .filter(|(_, w)| **w == Written::Accepted)
                    .flat_map(|(c, _)| &c.captures);
                orders::capture(&tx, captured).map_err(db(CONTEXT))?;
            }
            // The write holds the store's one write lock: no inventory change can come between.
            let version = inventory_version(&tx).map_err(db(CONTEXT))?;
            tx.commit().map_err(db(CONTEXT))?;
            Ok(Versioned {
                version,
                value: written,
            })
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
            let mut held = {
                let mut stmt = tx
                    .prepare_cached(&format!(
                        "SELECT {ROLLUP_COLUMNS} FROM events WHERE held = 1 AND point = ?1"
                    ))
                    .map_err(db(CONTEXT))?;
                let rows = stmt
                    .query_map(params![point], counted_event)
                    .map_err(db(CONTEXT))?;
                rows.collect::<Result<Vec<_>, _>>().map_err(db(CONTEXT))?
            };
            held.sort_by(|a, b| (a.0.at, &a.0.id).cmp(&(b.0.at, &b.0.id)));
            // Those the journeys' catch-up has passed by already will not be seen by it again.
            journeys::queue_released(&tx, &point).map_err(db(CONTEXT))?;
            add_to_rollups(
                &tx,
                CONTEXT,
                rollup::tally(held.iter().map(|(e, c)| (e, *c))),
            )?;
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
        self.rejects_after(i64::MIN, u32::MAX).await
    }

    async fn rejects_after(&self, after: i64, limit: u32) -> Result<Vec<Reject>, StoreError> {
        const CONTEXT: &str = "reading rejects";
        self.with(CONTEXT, move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT id, received_at, source, raw, reasons, replayed_at, replayable, digest,
                        COALESCE(length, length(CAST(raw AS BLOB)))
                     FROM rejects WHERE id > ?1 ORDER BY id LIMIT ?2",
                )
                .map_err(db(CONTEXT))?;
            let rows = stmt
                .query_map(params![after, i64::from(limit)], |r| {
                    Ok((
                        (
                            r.get::<_, i64>(0)?,
                            r.get::<_, i64>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, String>(3)?,
                            r.get::<_, String>(4)?,
                        ),
                        (
                            r.get::<_, Option<i64>>(5)?,
                            r.get::<_, bool>(6)?,
                            r.get::<_, String>(7)?,
                            r.get::<_, i64>(8)?,
                        ),
                    ))
                })
                .map_err(db(CONTEXT))?;
            let mut rejects = Vec::new();
            for row in rows {
                let (
                    (id, received_at, source, raw, reasons),
                    (replayed_at, replayable, sha256, length),
                ) = row.map_err(db(CONTEXT))?;
                let reasons = serde_json::from_str(&reasons)
                    .map_err(|e| StoreError::Corrupt(format!("reject {id}: {e}")))?;
                let length = length.max(0) as u64;
                let truncated = length > raw.len() as u64;
                rejects.push(Reject {
                    id,
                    received_at,
                    source,
                    raw,
                    reasons,
                    replayed_at,
                    replayable,
                    length,
                    sha256,
                    truncated,
                });
            }
            Ok(rejects)
        })
        .await
    }

    async fn prune_rejects(&self, before: i64) -> Result<u64, StoreError> {
        const CONTEXT: &str = "pruning rejects";
        self.with(CONTEXT, move |conn| {
            let pruned = conn
                .execute(
                    "DELETE FROM rejects WHERE received_at < ?1",
                    params![before],
                )
                .map_err(db(CONTEXT))?;
            Ok(pruned as u64)
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

    async fn rollups(&self, days: Range<i64>) -> Result<Vec<DayRollup>, StoreError> {
        const CONTEXT: &str = "reading rollups";
        self.with(CONTEXT, move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT point, day, n, value_company, value_party, cost, intent_n, satisfaction_n,
                         satisfaction_sum, csat_n, knowledge_n, resolved_n, resolved_true_n, engaged_n,
                         conforms_n
                     FROM rollup_daily WHERE day >= ?1 AND day < ?2 ORDER BY point, day",
                )
                .map_err(db(CONTEXT))?;
            let count = |r: &rusqlite::Row<'_>, i: usize| r.get::<_, i64>(i).map(|v| v as u64);
            let rows = stmt
                .query_map(params![days.start, days.end], |r| {
                    Ok(DayRollup {
                        point: r.get(0)?,
                        day: r.get(1)?,
                        tally: Tally {
                            n: count(r, 2)?,
                            value_company: r.get(3)?,
                            value_party: r.get(4)?,
                            cost: r.get(5)?,
                            intent_n: count(r, 6)?,
                            satisfaction_n: count(r, 7)?,
                            satisfaction_sum: count(r, 8)?,
                            csat_n: count(r, 9)?,
                            knowledge_n: count(r, 10)?,
                            resolved_n: count(r, 11)?,
                            resolved_true_n: count(r, 12)?,
                            engaged_n: count(r, 13)?,
                            conforms_n: count(r, 14)?,
                        },
                    })
                })
                .map_err(db(CONTEXT))?;
            rows.collect::<Result<Vec<_>, _>>().map_err(db(CONTEXT))
        })
        .await
    }

    async fn write_responses(
        &self,
        responses: Vec<NewResponse>,
        rejects: Vec<NewReject>,
        received_at: i64,
    ) -> Result<Vec<ResponseWritten>, StoreError> {
        const CONTEXT: &str = "writing responses";
        self.with(CONTEXT, move |conn| {
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(db(CONTEXT))?;
            let (written, answered) =
                voice::write_responses(&tx, &responses, received_at).map_err(db(CONTEXT))?;
            insert_rejects(&tx, &rejects, received_at).map_err(db(CONTEXT))?;
            insert_rejects(&tx, &answered, received_at).map_err(db(CONTEXT))?;
            tx.commit().map_err(db(CONTEXT))?;
            Ok(written)
        })
        .await
    }

    async fn voice_rollups(&self, days: Range<i64>) -> Result<Vec<VoiceDay>, StoreError> {
        const CONTEXT: &str = "reading voice counts";
        self.with(CONTEXT, move |conn| {
            voice::voice_rollups(conn, days.start, days.end).map_err(db(CONTEXT))
        })
        .await
    }

    async fn tally_voice(&self, from: i64, to: i64) -> Result<Vec<VoiceDay>, StoreError> {
        const CONTEXT: &str = "adding up responses";
        self.with(CONTEXT, move |conn| {
            voice::tally_voice(conn, from, to).map_err(db(CONTEXT))
        })
        .await
    }

    async fn put_key_customers(&self, customers: &[KeyCustomer]) -> Result<(), StoreError> {
        const CONTEXT: &str = "writing key customers";
        let customers = customers.to_vec();
        self.with(CONTEXT, move |conn| {
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(db(CONTEXT))?;
            voice::put_key_customers(&tx, &customers).map_err(db(CONTEXT))?;
            tx.commit().map_err(db(CONTEXT))
        })
        .await
    }

    async fn key_customers(&self) -> Result<Vec<KeyCustomer>, StoreError> {
        const CONTEXT: &str = "reading key customers";
        self.with(CONTEXT, move |conn| {
            voice::key_customers(conn).map_err(db(CONTEXT))
        })
        .await
    }

    async fn put_invitations(
        &self,
        invitations: &[(Invitation, LinkRecord)],
        suppressions: &[Suppression],
    ) -> Result<Vec<bool>, StoreError> {
        const CONTEXT: &str = "writing invitations";
        let (invitations, suppressions) = (invitations.to_vec(), suppressions.to_vec());
        self.with(CONTEXT, move |conn| {
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(db(CONTEXT))?;
            let written =
                voice::put_invitations(&tx, &invitations, &suppressions).map_err(db(CONTEXT))?;
            tx.commit().map_err(db(CONTEXT))?;
            Ok(written)
        })
        .await
    }

    async fn invitations(&self, survey: Option<&str>) -> Result<Vec<Invitation>, StoreError> {
        const CONTEXT: &str = "reading invitations";
        let survey = survey.map(str::to_owned);
        self.with(CONTEXT, move |conn| {
            voice::invitations(conn, survey.as_deref()).map_err(db(CONTEXT))
        })
        .await
    }

    async fn invitation(&self, id: &str) -> Result<Option<Invitation>, StoreError> {
        const CONTEXT: &str = "reading an invitation";
        let id = id.to_owned();
        self.with(CONTEXT, move |conn| {
            voice::invitation(conn, &id).map_err(db(CONTEXT))
        })
        .await
    }

    async fn put_draft(&self, invitation: &str, answers: &str, now: i64) -> Result<(), StoreError> {
        const CONTEXT: &str = "keeping a draft";
        let (invitation, answers) = (invitation.to_owned(), answers.to_owned());
        self.with(CONTEXT, move |conn| {
            conn.execute(
                "INSERT INTO response_drafts (invitation, answers, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (invitation) DO UPDATE SET answers = excluded.answers,
                     updated_at = excluded.updated_at",
                params![invitation, answers, now],
            )
            .map_err(db(CONTEXT))?;
            Ok(())
        })
        .await
    }

    async fn draft(&self, invitation: &str) -> Result<Option<String>, StoreError> {
        const CONTEXT: &str = "reading a draft";
        let invitation = invitation.to_owned();
        self.with(CONTEXT, move |conn| {
            use rusqlite::OptionalExtension;
            conn.query_row(
                "SELECT answers FROM response_drafts WHERE invitation = ?1",
                params![invitation],
                |r| r.get(0),
            )
            .optional()
            .map_err(db(CONTEXT))
        })
        .await
    }

    async fn put_codebook(
        &self,
        version: u32,
        doc: &str,
        at: i64,
        actor: &str,
    ) -> Result<bool, StoreError> {
        const CONTEXT: &str = "keeping a codebook";
        let (doc, actor) = (doc.to_owned(), actor.to_owned());
        self.with(CONTEXT, move |conn| {
            let n = conn
                .execute(
                    "INSERT INTO codebooks (version, doc, imported_at, actor) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (version) DO NOTHING",
                    params![version, doc, at, actor],
                )
                .map_err(db(CONTEXT))?;
            Ok(n == 1)
        })
        .await
    }

    async fn codebook(&self) -> Result<Option<(u32, String)>, StoreError> {
        const CONTEXT: &str = "reading the codebook";
        self.with(CONTEXT, move |conn| {
            use rusqlite::OptionalExtension;
            conn.query_row(
                "SELECT version, doc FROM codebooks ORDER BY version DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(db(CONTEXT))
        })
        .await
    }

    async fn open_answers(&self, from: i64, to: i64) -> Result<Vec<OpenAnswer>, StoreError> {
        const CONTEXT: &str = "reading open answers";
        self.with(CONTEXT, move |conn| {
            answers::open_answers(conn, from, to).map_err(db(CONTEXT))
        })
        .await
    }

    async fn open_answer(&self, id: &str) -> Result<Option<OpenAnswer>, StoreError> {
        const CONTEXT: &str = "reading an open answer";
        let id = id.to_owned();
        self.with(CONTEXT, move |conn| {
            answers::open_answer(conn, &id).map_err(db(CONTEXT))
        })
        .await
    }

    async fn put_answer_tag(&self, tag: &AnswerTag) -> Result<(), StoreError> {
        const CONTEXT: &str = "keeping a tag";
        let tag = tag.clone();
        self.with(CONTEXT, move |conn| {
            answers::put_answer_tag(conn, &tag).map_err(db(CONTEXT))
        })
        .await
    }

    async fn answer_tags(&self) -> Result<Vec<AnswerTag>, StoreError> {
        const CONTEXT: &str = "reading tags";
        self.with(CONTEXT, move |conn| {
            answers::answer_tags(conn).map_err(db(CONTEXT))
        })
        .await
    }

    async fn put_codings(&self, codings: &[Coding]) -> Result<(), StoreError> {
        const CONTEXT: &str = "keeping codings";
        let codings = codings.to_vec();
        self.with(CONTEXT, move |conn| {
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(db(CONTEXT))?;
            answers::put_codings(&tx, &codings).map_err(db(CONTEXT))?;
            tx.commit().map_err(db(CONTEXT))
        })
        .await
    }

    async fn codings(&self, family: Family) -> Result<Vec<Coding>, StoreError> {
        const CONTEXT: &str = "reading codings";
        self.with(CONTEXT, move |conn| {
            answers::codings(conn, family).map_err(db(CONTEXT))
        })
        .await
    }

    async fn put_statement(&self, statement: &Statement) -> Result<(), StoreError> {
        const CONTEXT: &str = "keeping a statement";
        let statement = statement.clone();
        self.with(CONTEXT, move |conn| {
            answers::put_statement(conn, &statement).map_err(db(CONTEXT))
        })
        .await
    }

    async fn statement(&self, id: &str) -> Result<Option<Statement>, StoreError> {
        const CONTEXT: &str = "reading a statement";
        let id = id.to_owned();
        self.with(CONTEXT, move |conn| {
            answers::statement(conn, &id).map_err(db(CONTEXT))
        })
        .await
    }

    async fn statements(&self, from: i64, to: i64) -> Result<Vec<Statement>, StoreError> {
        const CONTEXT: &str = "reading statements";
        self.with(CONTEXT, move |conn| {
            answers::statements(conn, from, to).map_err(db(CONTEXT))
        })
        .await
    }

    async fn forget_party(&self, party: &str) -> Result<Forgotten, StoreError> {
        const CONTEXT: &str = "erasing a party";
        let party = party.to_owned();
        self.with(CONTEXT, move |conn| {
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(db(CONTEXT))?;
            let forgotten = answers::forget_party(&tx, &party).map_err(db(CONTEXT))?;
            tx.commit().map_err(db(CONTEXT))?;
            Ok(forgotten)
        })
        .await
    }

    async fn suppressions(&self, survey: &str) -> Result<Vec<Suppression>, StoreError> {
        const CONTEXT: &str = "reading suppressions";
        let survey = survey.to_owned();
        self.with(CONTEXT, move |conn| {
            voice::suppressions(conn, &survey).map_err(db(CONTEXT))
        })
        .await
    }

    async fn tally_events(&self, from: i64, to: i64) -> Result<Vec<DayRollup>, StoreError> {
        const CONTEXT: &str = "adding up events";
        self.with(CONTEXT, move |conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {ROLLUP_COLUMNS} FROM events
                     WHERE day >= ?1 AND day <= ?2 AND at >= ?3 AND at < ?4 AND held = 0
                     ORDER BY point, at, id"
                ))
                .map_err(db(CONTEXT))?;
            let rows = stmt
                .query_map(
                    params![day_of(from), day_of(to - 1), from, to],
                    counted_event,
                )
                .map_err(db(CONTEXT))?;
            let mut days = Vec::new();
            for row in rows {
                let (event, conforms) = row.map_err(db(CONTEXT))?;
                add_in_order(&mut days, &event, conforms);
            }
            Ok(days)
        })
        .await
    }

    async fn nonconforming(&self, from: i64, to: i64) -> Result<Vec<Nonconforming>, StoreError> {
        const CONTEXT: &str = "reading nonconforming events";
        self.with(CONTEXT, move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT point, failures FROM events INDEXED BY events_nonconforming
                     WHERE day >= ?1 AND day <= ?2 AND at >= ?3 AND at < ?4
                       AND conforms = 0 AND held = 0
                     ORDER BY point, at, id",
                )
                .map_err(db(CONTEXT))?;
            let rows = stmt
                .query_map(params![day_of(from), day_of(to - 1), from, to], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
                })
                .map_err(db(CONTEXT))?;
            let mut out = Vec::new();
            for row in rows {
                let (point, failures) = row.map_err(db(CONTEXT))?;
                out.push(Nonconforming::decode(point, failures.as_deref())?);
            }
            Ok(out)
        })
        .await
    }

    async fn journeys_turn(&self) {
        self.turns.step_turn().await;
    }

    async fn journeys_step(
        &self,
        cut: &JourneyCut,
        until: i64,
        copy: usize,
        take: usize,
    ) -> Result<JourneyStep, StoreError> {
        let cut = cut.clone();
        let restart = Arc::clone(&self.restart);
        self.in_background("bringing the journeys up to date", move |conn| {
            // A restart of the log asked for goes first, inside the step's time: the step
            // then does that much less, so the two do not hold the connection end to end.
            let held = std::time::Instant::now();
            checkpoints::restart_if_asked(conn, &restart);
            journeys::step(conn, &cut, until, copy, take, held)
        })
        .await
    }

    async fn journey_rows(&self, first_day: i64, last_day: i64) -> Result<JourneyRows, StoreError> {
        self.with("reading the journeys", move |conn| {
            journeys::rows(conn, first_day, last_day)
        })
        .await
    }

    async fn counted_touches(&self) -> Result<Vec<PartyTouch>, StoreError> {
        const CONTEXT: &str = "reading the parties' events";
        self.with(CONTEXT, |conn| {
            let mut stmt = conn
                .prepare(
                    "SELECT party, point, at, id, value_company FROM events
                     WHERE held = 0 AND party IS NOT NULL ORDER BY party, at, id",
                )
                .map_err(db(CONTEXT))?;
            let rows = stmt.query_map([], journeys::touch).map_err(db(CONTEXT))?;
            rows.collect::<Result<Vec<_>, _>>().map_err(db(CONTEXT))
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

    async fn events_of_day(&self, day: i64) -> Result<Vec<Event>, StoreError> {
        const CONTEXT: &str = "reading a day's events";
        self.with(CONTEXT, move |conn| {
            outbox::events_of_day(conn, day).map_err(db(CONTEXT))
        })
        .await
    }

    async fn enqueue(&self, firings: &[Firing], now: i64) -> Result<u64, StoreError> {
        const CONTEXT: &str = "writing deliveries";
        let firings = firings.to_vec();
        self.with(CONTEXT, move |conn| {
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(db(CONTEXT))?;
            let n = outbox::insert(&tx, firings.iter(), now).map_err(db(CONTEXT))?;
            tx.commit().map_err(db(CONTEXT))?;
            Ok(n)
        })
        .await
    }

    async fn claim_deliveries(
        &self,
        endpoints: &[String],
        now: i64,
        lease_us: i64,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError> {
        const CONTEXT: &str = "claiming deliveries";
        let endpoints = serde_json::to_string(endpoints).expect("strings serialize");
        self.with(CONTEXT, move |conn| {
            outbox::claim(conn, &endpoints, now, lease_us, limit)
        })
        .await
    }

    async fn finish_attempts(&self, finished: &[Finished]) -> Result<(), StoreError> {
        const CONTEXT: &str = "recording delivery attempts";
        let finished = finished.to_vec();
        self.with(CONTEXT, move |conn| {
            outbox::finish(conn, &finished).map_err(db(CONTEXT))
        })
        .await
    }

    async fn next_due(&self, endpoints: &[String]) -> Result<Option<i64>, StoreError> {
        const CONTEXT: &str = "reading the next delivery due";
        let endpoints = serde_json::to_string(endpoints).expect("strings serialize");
        self.with(CONTEXT, move |conn| {
            outbox::next_due(conn, &endpoints).map_err(db(CONTEXT))
        })
        .await
    }

    async fn deliveries(&self, filter: &DeliveryFilter) -> Result<Vec<Delivery>, StoreError> {
        const CONTEXT: &str = "reading deliveries";
        let filter = filter.clone();
        self.with(CONTEXT, move |conn| {
            outbox::list(conn, &filter)
                .map_err(db(CONTEXT))?
                .into_iter()
                .map(outbox::to_delivery)
                .collect()
        })
        .await
    }

    async fn delivery(&self, id: &str) -> Result<Option<(Delivery, Vec<Attempt>)>, StoreError> {
        const CONTEXT: &str = "reading a delivery";
        let id = id.to_owned();
        self.with(CONTEXT, move |conn| {
            outbox::one(conn, &id)
                .map_err(db(CONTEXT))?
                .map(|(row, attempts)| Ok((outbox::to_delivery(row)?, attempts)))
                .transpose()
        })
        .await
    }

    async fn replay_deliveries(
        &self,
        ids: &[String],
        filter: &DeliveryFilter,
        now: i64,
    ) -> Result<u64, StoreError> {
        const CONTEXT: &str = "replaying deliveries";
        let ids = ids.to_vec();
        let filter = filter.clone();
        self.with(CONTEXT, move |conn| {
            outbox::replay(conn, &ids, &filter, now).map_err(db(CONTEXT))
        })
        .await
    }

    async fn failing_since(&self, endpoint: &str) -> Result<Option<i64>, StoreError> {
        const CONTEXT: &str = "reading an endpoint's attempts";
        let endpoint = endpoint.to_owned();
        self.with(CONTEXT, move |conn| {
            outbox::failing_since(conn, &endpoint).map_err(db(CONTEXT))
        })
        .await
    }

    async fn feed_counts(&self) -> Result<Vec<FeedCount>, StoreError> {
        const CONTEXT: &str = "counting deliveries";
        self.with(CONTEXT, |conn| outbox::counts(conn).map_err(db(CONTEXT)))
            .await
    }
    async fn rule_states(&self) -> Result<Vec<(String, String)>, StoreError> {
        const CONTEXT: &str = "reading the metric rules' states";
        self.with(CONTEXT, |conn| {
            let mut stmt = conn
                .prepare("SELECT rule, doc FROM rule_states ORDER BY rule")
                .map_err(db(CONTEXT))?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(db(CONTEXT))?;
            rows.collect::<Result<Vec<_>, _>>().map_err(db(CONTEXT))
        })
        .await
    }

    async fn put_rule_state(
        &self,
        rule: &str,
        expected: Option<&str>,
        doc: &str,
        firings: &[Firing],
        now: i64,
    ) -> Result<bool, StoreError> {
        const CONTEXT: &str = "writing a metric rule's state";
        let (rule, expected, doc, firings) = (
            rule.to_owned(),
            expected.map(str::to_owned),
            doc.to_owned(),
            firings.to_vec(),
        );
        self.with(CONTEXT, move |conn| {
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(db(CONTEXT))?;
            let current: Option<String> = tx
                .query_row(
                    "SELECT doc FROM rule_states WHERE rule = ?1",
                    [&rule],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db(CONTEXT))?;
            if current != expected {
                return Ok(false);
            }
            tx.execute(
                "INSERT INTO rule_states (rule, doc) VALUES (?1, ?2)
                 ON CONFLICT (rule) DO UPDATE SET doc = excluded.doc",
                params![rule, doc],
            )
            .map_err(db(CONTEXT))?;
            outbox::insert(&tx, firings.iter(), now).map_err(db(CONTEXT))?;
            tx.commit().map_err(db(CONTEXT))?;
            Ok(true)
        })
        .await
    }

    async fn put_link(&self, link: &LinkRecord) -> Result<(), StoreError> {
        const CONTEXT: &str = "recording a signed link";
        let link = link.clone();
        self.with(CONTEXT, move |conn| {
            conn.execute(
                "INSERT INTO links (hash, purpose, subject, expires_at, created_at, revoked_at, used_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    link.hash,
                    link.purpose,
                    link.subject,
                    link.expires_at,
                    link.created_at,
                    link.revoked_at,
                    link.used_at
                ],
            )
            .map_err(db(CONTEXT))?;
            Ok(())
        })
        .await
    }

    async fn link(&self, hash: &str) -> Result<Option<LinkRecord>, StoreError> {
        const CONTEXT: &str = "reading a signed link";
        let hash = hash.to_owned();
        self.with(CONTEXT, move |conn| {
            conn.query_row(
                "SELECT hash, purpose, subject, expires_at, created_at, revoked_at, used_at
                 FROM links WHERE hash = ?1",
                [&hash],
                |r| {
                    Ok(LinkRecord {
                        hash: r.get(0)?,
                        purpose: r.get(1)?,
                        subject: r.get(2)?,
                        expires_at: r.get(3)?,
                        created_at: r.get(4)?,
                        revoked_at: r.get(5)?,
                        used_at: r.get(6)?,
                    })
                },
            )
            .optional()
            .map_err(db(CONTEXT))
        })
        .await
    }

    async fn revoke_links(
        &self,
        purpose: &str,
        subject: &str,
        now: i64,
    ) -> Result<u64, StoreError> {
        const CONTEXT: &str = "revoking signed links";
        let (purpose, subject) = (purpose.to_owned(), subject.to_owned());
        self.with(CONTEXT, move |conn| {
            conn.execute(
                "UPDATE links SET revoked_at = ?3
                 WHERE purpose = ?1 AND subject = ?2 AND revoked_at IS NULL",
                params![purpose, subject, now],
            )
            .map(|n| n as u64)
            .map_err(db(CONTEXT))
        })
        .await
    }

    async fn use_link(&self, hash: &str, now: i64) -> Result<bool, StoreError> {
        const CONTEXT: &str = "using a signed link";
        let hash = hash.to_owned();
        self.with(CONTEXT, move |conn| {
            conn.execute(
                "UPDATE links SET used_at = ?2 WHERE hash = ?1 AND used_at IS NULL",
                params![hash, now],
            )
            .map(|n| n == 1)
            .map_err(db(CONTEXT))
        })
        .await
    }

    async fn put_order(&self, revision: &OrderRevision) -> Result<bool, StoreError> {
        const CONTEXT: &str = "writing a standing order";
        let revision = revision.clone();
        self.with(CONTEXT, move |conn| {
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(db(CONTEXT))?;
            if !orders::write_revision(&tx, &revision).map_err(db(CONTEXT))? {
                return Ok(false);
            }
            tx.commit().map_err(db(CONTEXT))?;
            Ok(true)
        })
        .await
    }

    async fn order(&self, id: &str) -> Result<Option<Order>, StoreError> {
        const CONTEXT: &str = "reading a standing order";
        let id = id.to_owned();
        let doc: Option<String> = self
            .with(CONTEXT, {
                let id = id.clone();
                move |conn| {
                    conn.query_row(
                        "SELECT doc FROM standing_orders WHERE id = ?1",
                        [&id],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(db(CONTEXT))
                }
            })
            .await?;
        doc.map(|d| standing::order_of(&id, &d)).transpose()
    }

    async fn orders(&self, filter: &OrderFilter) -> Result<Vec<Order>, StoreError> {
        const CONTEXT: &str = "listing standing orders";
        let party = filter.party.clone();
        let rows: Vec<(String, String)> = self
            .with(CONTEXT, move |conn| {
                let mut stmt = conn
                    .prepare(
                        "SELECT id, doc FROM standing_orders
                         WHERE ?1 IS NULL OR party = ?1 ORDER BY id",
                    )
                    .map_err(db(CONTEXT))?;
                let rows = stmt
                    .query_map([party], |r| Ok((r.get(0)?, r.get(1)?)))
                    .map_err(db(CONTEXT))?;
                rows.collect::<Result<Vec<_>, _>>().map_err(db(CONTEXT))
            })
            .await?;
        let mut orders = Vec::new();
        for (id, doc) in rows {
            let order = standing::order_of(&id, &doc)?;
            if filter.admits(&order) {
                orders.push(order);
            }
        }
        Ok(orders)
    }

    async fn order_revisions(&self, id: &str) -> Result<Vec<OrderRevision>, StoreError> {
        const CONTEXT: &str = "reading a standing order's revisions";
        let id = id.to_owned();
        let rows: Vec<(u32, i64, String, String, String)> = self
            .with(CONTEXT, {
                let id = id.clone();
                move |conn| {
                    let mut stmt = conn
                        .prepare(
                            "SELECT revision, at, actor, note, doc FROM standing_revisions
                             WHERE order_id = ?1 ORDER BY revision",
                        )
                        .map_err(db(CONTEXT))?;
                    let rows = stmt
                        .query_map([&id], |r| {
                            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                        })
                        .map_err(db(CONTEXT))?;
                    rows.collect::<Result<Vec<_>, _>>().map_err(db(CONTEXT))
                }
            })
            .await?;
        rows.into_iter()
            .map(|(revision, at, actor, note, doc)| {
                Ok(OrderRevision {
                    revision,
                    at,
                    actor,
                    note,
                    order: standing::order_of(&id, &doc)?,
                })
            })
            .collect()
    }

    async fn order_progress(&self) -> Result<Vec<standing::Progress>, StoreError> {
        const CONTEXT: &str = "reading the standing orders' progress";
        let rows = self
            .with(CONTEXT, |conn| orders::progress(conn).map_err(db(CONTEXT)))
            .await?;
        rows.into_iter()
            .map(|(id, doc, handled_at, locked_at)| {
                Ok(standing::Progress {
                    order: standing::order_of(&id, &doc)?,
                    handled_at,
                    locked_at,
                })
            })
            .collect()
    }

    async fn put_runs(&self, runs: &[touchbase_core::standing::Run]) -> Result<u64, StoreError> {
        const CONTEXT: &str = "writing standing-order runs";
        let runs = runs.to_vec();
        self.with(CONTEXT, move |conn| {
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(db(CONTEXT))?;
            let n = orders::put_runs(&tx, &runs).map_err(db(CONTEXT))?;
            tx.commit().map_err(db(CONTEXT))?;
            Ok(n)
        })
        .await
    }

    async fn runs(
        &self,
        order: Option<&str>,
        limit: u32,
    ) -> Result<Vec<touchbase_core::standing::Run>, StoreError> {
        const CONTEXT: &str = "reading standing-order runs";
        let order = order.map(str::to_owned);
        self.with(CONTEXT, move |conn| {
            orders::runs(conn, order.as_deref(), limit).map_err(db(CONTEXT))
        })
        .await
    }
}

/// The store's version (of the entities, not of the events).
fn inventory_version(conn: &Connection) -> rusqlite::Result<u64> {
    conn.prepare_cached("SELECT value FROM meta WHERE key = 'inventory_version'")?
        .query_row([], |r| r.get::<_, i64>(0))
        .map(|v| v as u64)
}

/// Writes one event under `key` (none: unkeyed); false when its (day, key) is taken.
fn insert_event(
    insert: &mut rusqlite::CachedStatement<'_>,
    checked: &Checked,
    day: i64,
    key: Option<i64>,
    received_at: i64,
) -> rusqlite::Result<bool> {
    let e = &checked.event;
    let o = &e.outcomes;
    let failures = (!checked.conformance.failures.is_empty())
        .then(|| serde_json::to_string(&checked.conformance.failures).unwrap_or_default());
    let inserted = insert.execute(params![
        day,
        key,
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
        e.data,
        e.vars,
        checked.conformance.conforms,
        failures,
        checked.held,
        received_at,
    ])?;
    Ok(inserted == 1)
}

/// Adds each (point, day)'s tally to its rollup row. A tally, or a row's sum after adding,
/// beyond the range of a 64-bit float is refused (SQLite would store an infinity): the caller's
/// transaction, not committed, then leaves nothing written.
fn add_to_rollups(
    tx: &rusqlite::Transaction<'_>,
    context: &'static str,
    days: Result<BTreeMap<(String, i64), Tally>, rollup::NonFiniteSum>,
) -> Result<(), StoreError> {
    let refused = |e: rollup::NonFiniteSum| StoreError::backend(context, e);
    let mut add = tx.prepare_cached(ROLLUP_ADD).map_err(db(context))?;
    for ((point, day), t) in days.map_err(refused)? {
        let sums: [f64; 3] = add
            .query_row(
                params![
                    point,
                    day,
                    t.n as i64,
                    t.value_company,
                    t.value_party,
                    t.cost,
                    t.intent_n as i64,
                    t.satisfaction_n as i64,
                    t.satisfaction_sum as i64,
                    t.csat_n as i64,
                    t.knowledge_n as i64,
                    t.resolved_n as i64,
                    t.resolved_true_n as i64,
                    t.engaged_n as i64,
                    t.conforms_n as i64,
                ],
                // SQLite keeps an infinity, and a NaN as NULL.
                |r| {
                    let sum = |i: usize| -> rusqlite::Result<f64> {
                        Ok(r.get::<_, Option<f64>>(i)?.unwrap_or(f64::NAN))
                    };
                    Ok([sum(0)?, sum(1)?, sum(2)?])
                },
            )
            .map_err(db(context))?;
        rollup::finite_sums(&point, day, sums).map_err(refused)?;
    }
    Ok(())
}

/// Keeps rejected inputs; one already on record (by its text) is not kept twice.
fn insert_rejects(
    tx: &rusqlite::Transaction<'_>,
    rejects: &[NewReject],
    received_at: i64,
) -> rusqlite::Result<()> {
    let mut insert = tx.prepare_cached(
        "INSERT INTO rejects (received_at, source, raw, digest, reasons, replayable, length)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (digest) DO NOTHING",
    )?;
    for r in rejects {
        let reasons = serde_json::to_string(&r.reasons).unwrap_or_default();
        insert.execute(params![
            received_at,
            r.source,
            r.raw,
            r.digest(),
            reasons,
            r.replayable,
            // Kept only for a reject cut to its head; the others' length is raw's.
            (r.length > r.raw.len() as u64).then_some(r.length as i64)
        ])?;
    }
    Ok(())
}

/// The columns of an event that its rollup needs, as [`counted_event`] reads them.
const ROLLUP_COLUMNS: &str = "id, point, at, intent, satisfaction, knowledge, resolved, engaged,
    value_company, value_party, cost, conforms";

/// An event as far as its rollup needs it, and whether it conforms.
fn counted_event(r: &rusqlite::Row<'_>) -> rusqlite::Result<(Event, bool)> {
    Ok((
        Event {
            id: r.get(0)?,
            point: r.get(1)?,
            at: r.get(2)?,
            party: None,
            channel: None,
            outcomes: Outcomes {
                intent: r.get(3)?,
                satisfaction: r.get(4)?,
                knowledge: r.get(5)?,
                resolved: r.get(6)?,
                engaged: r.get(7)?,
            },
            value_company: r.get(8)?,
            value_party: r.get(9)?,
            cost: r.get(10)?,
            duration_s: None,
            data: None,
            vars: None,
        },
        r.get(11)?,
    ))
}

/// Writes one event, unless its (day, key) is taken.
const INSERT_EVENT: &str = "INSERT INTO events (day, key, id, point, at, party, channel, intent,
        satisfaction, knowledge, resolved, engaged, value_company, value_party, cost, duration_s,
        data, vars, conforms, failures, held, received_at)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19,
        ?20, ?21, ?22)
    ON CONFLICT (day, key) DO NOTHING";

/// Adds a tally to its point's day.
const ROLLUP_ADD: &str = "INSERT INTO rollup_daily (point, day, n, value_company, value_party, cost, intent_n,
        satisfaction_n, satisfaction_sum, csat_n, knowledge_n, resolved_n, resolved_true_n, engaged_n, conforms_n)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)
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
        conforms_n = conforms_n + excluded.conforms_n
    RETURNING value_company, value_party, cost";

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
