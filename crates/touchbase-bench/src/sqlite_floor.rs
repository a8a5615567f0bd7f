//! The SQLite floor: the fastest plain way to put the same rows in SQLite on this machine.
//! The same columns as the store's events table, no index but the rowid, multi-row INSERTs
//! prepared once, large transactions, and the store's durability (WAL, `synchronous=full`).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use rusqlite::types::Value;

use crate::data::{self, Row};

/// Rows per INSERT statement.
const ROWS_PER_INSERT: usize = 100;
/// Rows per transaction.
const ROWS_PER_TRANSACTION: u64 = 500_000;

/// The events table of `touchbase-store-sqlite`'s migrations, without its indexes.
const TABLE: &str = "CREATE TABLE events (
    seq           INTEGER PRIMARY KEY,
    day           INTEGER NOT NULL,
    key           INTEGER,
    id            TEXT NOT NULL,
    point         TEXT NOT NULL,
    at            INTEGER NOT NULL,
    party         TEXT,
    channel       TEXT,
    intent        TEXT,
    satisfaction  INTEGER,
    knowledge     INTEGER,
    resolved      INTEGER,
    engaged       INTEGER,
    value_company REAL NOT NULL,
    value_party   REAL NOT NULL,
    cost          REAL NOT NULL,
    duration_s    REAL,
    data          TEXT,
    vars          TEXT,
    conforms      INTEGER NOT NULL,
    failures      TEXT,
    held          INTEGER NOT NULL,
    received_at   INTEGER NOT NULL
) STRICT";

const COLUMNS: usize = 22;

/// What the floor did.
#[derive(Debug)]
pub struct Floor {
    pub rows: u64,
    pub skipped: u64,
    pub wall: Duration,
    pub size: u64,
}

/// Writes the rows of `events` into a fresh SQLite file at `db`.
pub fn run(events: &Path, db: &Path) -> anyhow::Result<Floor> {
    remove_db(db);
    let started = Instant::now();
    let conn = rusqlite::Connection::open(db)
        .with_context(|| format!("cannot open `{}`", db.display()))?;
    conn.pragma_update(None, "journal_mode", "wal")?;
    conn.pragma_update(None, "synchronous", "full")?;
    conn.execute(TABLE, [])?;
    let received_at = data::now_us();
    let mut pending: Vec<Row> = Vec::with_capacity(ROWS_PER_INSERT);
    let mut rows = 0u64;
    conn.execute_batch("BEGIN")?;
    let skipped = data::for_each_row(events, |row| {
        pending.push(row);
        if pending.len() == ROWS_PER_INSERT {
            rows += insert(&conn, &mut pending, received_at)?;
            if rows.is_multiple_of(ROWS_PER_TRANSACTION) {
                conn.execute_batch("COMMIT; BEGIN")?;
            }
        }
        Ok(())
    })?;
    rows += insert(&conn, &mut pending, received_at)?;
    conn.execute_batch("COMMIT")?;
    let wall = started.elapsed();
    drop(conn);
    Ok(Floor {
        rows,
        skipped,
        wall,
        size: data::file_size(db) + data::file_size(&db.with_extension("db-wal")),
    })
}

/// Deletes a SQLite file and its WAL.
pub fn remove_db(db: &Path) {
    for extension in ["db", "db-wal", "db-shm"] {
        let _ = std::fs::remove_file(db.with_extension(extension));
    }
}

/// Inserts (and takes) `rows` with one prepared (and cached) statement of as many rows; how
/// many.
fn insert(
    conn: &rusqlite::Connection,
    rows: &mut Vec<Row>,
    received_at: i64,
) -> anyhow::Result<u64> {
    let n = rows.len();
    if n == 0 {
        return Ok(0);
    }
    let mut statement = conn.prepare_cached(&insert_sql(n))?;
    let mut values: Vec<Value> = Vec::with_capacity(rows.len() * COLUMNS);
    for row in rows.drain(..) {
        values.extend([
            Value::Integer(row.day),
            Value::Integer(row.key),
            Value::Text(row.id),
            Value::Text(row.point),
            Value::Integer(row.at),
            text(row.party),
            text(row.channel),
            text(row.intent),
            row.satisfaction.map_or(Value::Null, Value::Integer),
            flag(row.knowledge),
            flag(row.resolved),
            flag(row.engaged),
            Value::Real(row.value_company),
            Value::Real(row.value_party),
            Value::Real(row.cost),
            row.duration_s.map_or(Value::Null, Value::Real),
            text(row.data),
            text(row.vars),
            Value::Integer(1),
            Value::Null,
            Value::Integer(0),
            Value::Integer(received_at),
        ]);
    }
    statement.execute(rusqlite::params_from_iter(values))?;
    Ok(n as u64)
}

fn text(value: Option<String>) -> Value {
    value.map_or(Value::Null, Value::Text)
}

fn flag(value: Option<bool>) -> Value {
    value.map_or(Value::Null, |b| Value::Integer(b.into()))
}

fn insert_sql(rows: usize) -> String {
    let one = format!("({})", vec!["?"; COLUMNS].join(", "));
    format!(
        "INSERT INTO events (day, key, id, point, at, party, channel, intent, satisfaction, \
         knowledge, resolved, engaged, value_company, value_party, cost, duration_s, data, vars, \
         conforms, failures, held, received_at) VALUES {}",
        vec![one; rows].join(", ")
    )
}
