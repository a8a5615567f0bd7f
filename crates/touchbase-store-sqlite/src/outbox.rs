//! The reverse feed's outbox in SQLite: deliveries, their attempts, and the day's events a
//! rule's dry run reads. Claims take a lease (`lease_until`) inside the store's one write
//! lock, so two dispatchers on one file never hold the same delivery.

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use touchbase_core::event::{Event, Outcomes};
use touchbase_core::rules::Firing;
use touchbase_store::StoreError;
use touchbase_store::outbox::{
    Attempt, Delivery, DeliveryFilter, DeliveryState, FeedCount, Finished, Next,
};

/// Writes firings as pending deliveries due at once; those already on record are left alone.
/// Returns how many were new.
pub(crate) fn insert<'a>(
    tx: &Transaction<'_>,
    firings: impl Iterator<Item = &'a Firing>,
    now: i64,
) -> rusqlite::Result<u64> {
    let mut firings = firings.peekable();
    if firings.peek().is_none() {
        return Ok(0);
    }
    let mut stmt = tx.prepare_cached(
        "INSERT INTO deliveries (id, rule, endpoint, fired_at, body, state, attempts, tries, due_at)
         VALUES (?1, ?2, ?3, ?4, ?5, 'pending', 0, 0, ?6)
         ON CONFLICT (id) DO NOTHING",
    )?;
    let mut n = 0;
    for f in firings {
        n += stmt.execute(params![f.id, f.rule, f.endpoint, f.fired_at, f.body, now])? as u64;
    }
    Ok(n)
}

const COLUMNS: &str =
    "id, rule, endpoint, fired_at, body, state, attempts, tries, due_at, delivered_at, last_error";

/// A delivery row as read, its state still text.
pub(crate) struct Row {
    delivery: Delivery,
    state: String,
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok(Row {
        delivery: Delivery {
            id: r.get(0)?,
            rule: r.get(1)?,
            endpoint: r.get(2)?,
            fired_at: r.get(3)?,
            body: r.get(4)?,
            state: DeliveryState::Pending,
            attempts: r.get(6)?,
            tries: r.get(7)?,
            due_at: r.get(8)?,
            delivered_at: r.get(9)?,
            last_error: r.get(10)?,
        },
        state: r.get(5)?,
    })
}

pub(crate) fn to_delivery(row: Row) -> Result<Delivery, StoreError> {
    let state = DeliveryState::parse(&row.state).ok_or_else(|| {
        StoreError::Corrupt(format!(
            "delivery `{}` has an unknown state `{}`",
            row.delivery.id, row.state
        ))
    })?;
    Ok(Delivery {
        state,
        ..row.delivery
    })
}

pub(crate) fn claim(
    conn: &mut Connection,
    endpoints: &str,
    now: i64,
    lease_us: i64,
    limit: u32,
) -> Result<Vec<Delivery>, StoreError> {
    let context = "claiming deliveries";
    let e = |e| crate::classify(context, e);
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(e)?;
    let rows = {
        let mut stmt = tx
            .prepare_cached(&format!(
                "UPDATE deliveries SET lease_until = ?3
                 WHERE seq IN (
                     SELECT seq FROM deliveries
                     WHERE state = 'pending' AND due_at <= ?1
                       AND (lease_until IS NULL OR lease_until <= ?1)
                       AND endpoint IN (SELECT value FROM json_each(?2))
                     ORDER BY due_at, seq LIMIT ?4)
                 RETURNING {COLUMNS}"
            ))
            .map_err(e)?;
        let rows = stmt
            .query_map(params![now, endpoints, now + lease_us, limit], row)
            .map_err(e)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(e)?
    };
    tx.commit().map_err(e)?;
    let mut out: Vec<Delivery> = rows
        .into_iter()
        .map(to_delivery)
        .collect::<Result<_, _>>()?;
    out.sort_by(|a, b| a.due_at.cmp(&b.due_at).then_with(|| a.id.cmp(&b.id)));
    Ok(out)
}

pub(crate) fn finish(conn: &mut Connection, finished: &[Finished]) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    {
        let mut attempt = tx.prepare_cached(
            "INSERT INTO delivery_attempts (delivery, n, endpoint, at, status, latency_us, outcome, detail)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (delivery, n) DO NOTHING",
        )?;
        let mut update = tx.prepare_cached(
            "UPDATE deliveries SET attempts = attempts + 1, tries = tries + 1, lease_until = NULL,
                 state = ?2, due_at = ?3, delivered_at = COALESCE(?4, delivered_at),
                 last_error = ?5
             WHERE id = ?1",
        )?;
        for f in finished {
            let a = &f.attempt;
            attempt.execute(params![
                f.id,
                a.n,
                f.endpoint,
                a.at,
                a.status,
                a.latency_us,
                a.outcome,
                a.detail
            ])?;
            let (state, due, delivered, error) = match f.next {
                Next::Delivered => ("delivered", a.at, Some(a.at), None),
                Next::Retry(due) => ("pending", due, None, Some(&a.detail)),
                Next::Dead => ("dead", a.at, None, Some(&a.detail)),
            };
            update.execute(params![f.id, state, due, delivered, error])?;
        }
    }
    tx.commit()
}

pub(crate) fn next_due(conn: &Connection, endpoints: &str) -> rusqlite::Result<Option<i64>> {
    // One index probe per endpoint (a lease is not looked at: the dispatcher waits a little
    // at least before it claims again).
    let keys: Vec<String> = serde_json::from_str(endpoints).unwrap_or_default();
    let mut stmt = conn.prepare_cached(
        "SELECT MIN(due_at) FROM deliveries WHERE state = 'pending' AND endpoint = ?1",
    )?;
    let mut next: Option<i64> = None;
    for key in &keys {
        let due: Option<i64> = stmt.query_row(params![key], |r| r.get(0))?;
        next = match (next, due) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    Ok(next)
}

/// The WHERE clause of a filter, its parameters numbered from 1.
fn filter_sql(f: &DeliveryFilter) -> (String, Vec<rusqlite::types::Value>) {
    use rusqlite::types::Value;
    let mut clauses = Vec::new();
    let mut args: Vec<Value> = Vec::new();
    if let Some(s) = f.state {
        args.push(Value::Text(s.as_str().to_owned()));
        clauses.push(format!("state = ?{}", args.len()));
    }
    if let Some(r) = &f.rule {
        args.push(Value::Text(r.clone()));
        clauses.push(format!("rule = ?{}", args.len()));
    }
    if let Some(e) = &f.endpoint {
        args.push(Value::Text(e.clone()));
        clauses.push(format!("endpoint = ?{}", args.len()));
    }
    if let Some(t) = f.since {
        args.push(Value::Integer(t));
        clauses.push(format!("fired_at >= ?{}", args.len()));
    }
    let sql = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    (sql, args)
}

pub(crate) fn list(conn: &Connection, f: &DeliveryFilter) -> rusqlite::Result<Vec<Row>> {
    let (clause, args) = filter_sql(f);
    let limit = f.limit.map_or(String::new(), |n| format!(" LIMIT {n}"));
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM deliveries {clause} ORDER BY fired_at DESC, seq DESC{limit}"
    ))?;
    let rows = stmt.query_map(rusqlite::params_from_iter(args), row)?;
    rows.collect()
}

pub(crate) fn one(conn: &Connection, id: &str) -> rusqlite::Result<Option<(Row, Vec<Attempt>)>> {
    let Some(found) = conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM deliveries WHERE id = ?1"))?
        .query_row(params![id], row)
        .optional()?
    else {
        return Ok(None);
    };
    let mut stmt = conn.prepare_cached(
        "SELECT n, at, status, latency_us, outcome, detail FROM delivery_attempts
         WHERE delivery = ?1 ORDER BY n",
    )?;
    let attempts = stmt
        .query_map(params![id], |r| {
            Ok(Attempt {
                n: r.get(0)?,
                at: r.get(1)?,
                status: r.get(2)?,
                latency_us: r.get(3)?,
                outcome: r.get(4)?,
                detail: r.get(5)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(Some((found, attempts)))
}

pub(crate) fn replay(
    conn: &mut Connection,
    ids: &[String],
    f: &DeliveryFilter,
    now: i64,
) -> rusqlite::Result<u64> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let n = if ids.is_empty() {
        let (clause, mut args) = filter_sql(f);
        args.push(rusqlite::types::Value::Integer(now));
        let at = args.len();
        tx.execute(
            &format!(
                "UPDATE deliveries SET state = 'pending', tries = 0, due_at = ?{at}, lease_until = NULL {clause}"
            ),
            rusqlite::params_from_iter(args),
        )?
    } else {
        let mut stmt = tx.prepare_cached(
            "UPDATE deliveries SET state = 'pending', tries = 0, due_at = ?2, lease_until = NULL
             WHERE id = ?1",
        )?;
        let mut n = 0;
        for id in ids {
            n += stmt.execute(params![id, now])?;
        }
        n
    };
    tx.commit()?;
    Ok(n as u64)
}

pub(crate) fn failing_since(conn: &Connection, endpoint: &str) -> rusqlite::Result<Option<i64>> {
    // Every attempt after the last delivered one failed: the first of them, by index probes.
    let last: Option<i64> = conn
        .prepare_cached(
            "SELECT MAX(at) FROM delivery_attempts WHERE endpoint = ?1 AND outcome = 'delivered'",
        )?
        .query_row(params![endpoint], |r| r.get(0))?;
    conn.prepare_cached("SELECT MIN(at) FROM delivery_attempts WHERE endpoint = ?1 AND at > ?2")?
        .query_row(params![endpoint, last.unwrap_or(i64::MIN)], |r| r.get(0))
}

pub(crate) fn counts(conn: &Connection) -> rusqlite::Result<Vec<FeedCount>> {
    let mut stmt = conn.prepare(
        "SELECT d.rule, d.endpoint, COUNT(*),
                SUM(d.state = 'delivered'), SUM(d.state = 'pending'), SUM(d.state = 'dead'),
                COALESCE(SUM((SELECT COUNT(*) FROM delivery_attempts a
                              WHERE a.delivery = d.id AND a.outcome = 'retry')), 0)
         FROM deliveries d GROUP BY d.rule, d.endpoint ORDER BY d.rule, d.endpoint",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(FeedCount {
            rule: r.get(0)?,
            endpoint: r.get(1)?,
            fired: r.get::<_, i64>(2)? as u64,
            delivered: r.get::<_, i64>(3)? as u64,
            pending: r.get::<_, i64>(4)? as u64,
            dead: r.get::<_, i64>(5)? as u64,
            retried: r.get::<_, i64>(6)? as u64,
        })
    })?;
    rows.collect()
}

pub(crate) fn events_of_day(conn: &Connection, day: i64) -> rusqlite::Result<Vec<Event>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, point, at, party, channel, intent, satisfaction, knowledge, resolved, engaged,
                value_company, value_party, cost, duration_s, data, vars
         FROM events WHERE day = ?1 AND held = 0",
    )?;
    let rows = stmt.query_map(params![day], |r| {
        Ok(Event {
            id: r.get(0)?,
            point: r.get(1)?,
            at: r.get(2)?,
            party: r.get(3)?,
            channel: r.get(4)?,
            outcomes: Outcomes {
                intent: r.get(5)?,
                satisfaction: r.get(6)?,
                knowledge: r.get(7)?,
                resolved: r.get(8)?,
                engaged: r.get(9)?,
            },
            value_company: r.get(10)?,
            value_party: r.get(11)?,
            cost: r.get(12)?,
            duration_s: r.get(13)?,
            data: r.get(14)?,
            vars: r.get(15)?,
        })
    })?;
    let mut events: Vec<Event> = rows.collect::<Result<_, _>>()?;
    events.sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
    Ok(events)
}
