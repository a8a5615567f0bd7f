//! Standing orders, their revisions and their runs in SQLite (migration 0013).

use rusqlite::{Connection, params};
use touchbase_core::standing::{Order, Run, RunState};
use touchbase_store::standing::{self, OrderRevision};

/// Writes `revision` of its order if the stored order is at the revision before it (none, for
/// a capture); the caller holds the transaction. False when another write got there first.
pub(crate) fn write_revision(
    conn: &Connection,
    revision: &OrderRevision,
) -> rusqlite::Result<bool> {
    let order = &revision.order;
    let doc = standing::doc_of(order);
    let written = if revision.revision == 1 {
        conn.prepare_cached(
            "INSERT INTO standing_orders (id, point, party, status, revision, doc)
             VALUES (?1, ?2, ?3, ?4, 1, ?5) ON CONFLICT (id) DO NOTHING",
        )?
        .execute(params![
            order.id,
            order.point,
            order.party,
            order.status.as_str(),
            doc
        ])?
    } else {
        conn.prepare_cached(
            "UPDATE standing_orders SET status = ?2, revision = ?3, doc = ?4
             WHERE id = ?1 AND revision = ?3 - 1",
        )?
        .execute(params![
            order.id,
            order.status.as_str(),
            revision.revision,
            doc
        ])?
    };
    if written != 1 {
        return Ok(false);
    }
    conn.prepare_cached(
        "INSERT INTO standing_revisions (order_id, revision, at, actor, note, doc)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        order.id,
        revision.revision,
        revision.at,
        revision.actor,
        revision.note,
        doc
    ])?;
    Ok(true)
}

/// Writes runs, each only over a run at an earlier stage, and moves the orders' progress with
/// them; returns how many runs changed.
pub(crate) fn put_runs(conn: &Connection, runs: &[Run]) -> rusqlite::Result<u64> {
    let mut put = conn.prepare_cached(
        "INSERT INTO standing_runs
             (order_id, run_date, at, state, stage, revision, note, delivery, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (order_id, run_date) DO UPDATE SET at = excluded.at,
             state = excluded.state, stage = excluded.stage, revision = excluded.revision,
             note = excluded.note, delivery = excluded.delivery, updated_at = excluded.updated_at
         WHERE excluded.stage > standing_runs.stage",
    )?;
    let mut handled = conn.prepare_cached(
        "UPDATE standing_orders SET handled_at = MAX(COALESCE(handled_at, ?2), ?2) WHERE id = ?1",
    )?;
    let mut locked = conn.prepare_cached(
        "UPDATE standing_orders SET locked_at = MAX(COALESCE(locked_at, ?2), ?2) WHERE id = ?1",
    )?;
    let mut changed = 0;
    for run in runs {
        changed += put.execute(params![
            run.order,
            run.date,
            run.at,
            run.state.as_str(),
            run.state.rank(),
            run.revision,
            run.note,
            run.delivery,
            run.updated_at
        ])? as u64;
        match run.state {
            RunState::Locked => locked.execute(params![run.order, run.at])?,
            _ => handled.execute(params![run.order, run.at])?,
        };
    }
    Ok(changed)
}

/// The runs of one order, or of all, newest first, at most `limit`.
pub(crate) fn runs(
    conn: &Connection,
    order: Option<&str>,
    limit: u32,
) -> rusqlite::Result<Vec<Run>> {
    let mut stmt = conn.prepare_cached(
        "SELECT order_id, run_date, at, state, revision, note, delivery, updated_at
         FROM standing_runs WHERE ?1 IS NULL OR order_id = ?1
         ORDER BY at DESC, order_id LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![order, limit], |r| {
        let state: String = r.get(3)?;
        Ok(Run {
            order: r.get(0)?,
            date: r.get(1)?,
            at: r.get(2)?,
            state: RunState::parse(&state).unwrap_or(RunState::Scheduled),
            revision: r.get(4)?,
            note: r.get(5)?,
            delivery: r.get(6)?,
            updated_at: r.get(7)?,
        })
    })?;
    rows.collect()
}

/// An order's id, document, and the instants of its last run handled and last run locked.
pub(crate) type ProgressRow = (String, String, Option<i64>, Option<i64>);

/// Every order's id, document and progress, by id.
pub(crate) fn progress(conn: &Connection) -> rusqlite::Result<Vec<ProgressRow>> {
    let mut stmt = conn
        .prepare_cached("SELECT id, doc, handled_at, locked_at FROM standing_orders ORDER BY id")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
    rows.collect()
}

/// The orders captured by newly written events: each written unless the party has one there.
pub(crate) fn capture<'a>(
    conn: &Connection,
    orders: impl Iterator<Item = &'a Order>,
) -> rusqlite::Result<()> {
    for order in orders {
        write_revision(conn, &standing::captured(order))?;
    }
    Ok(())
}
