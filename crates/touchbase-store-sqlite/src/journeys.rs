//! The journeys cut ahead of time (migration 0017; `touchbase_store::journey_days` says how
//! they are kept): one catch-up step per transaction, the release of held events into the
//! queue, and the read of a range of days.

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use touchbase_store::journey_days::{Changes, JourneyCut, JourneyStep, Keys};
use touchbase_store::{JourneyDay, JourneyRows, PartyTouch, StoreError};

use crate::db;

fn read_meta(conn: &Connection, key: &str) -> rusqlite::Result<i64> {
    conn.query_row("SELECT value FROM meta WHERE key = ?1", params![key], |r| {
        r.get(0)
    })
}

fn write_meta(conn: &Connection, key: &str, value: i64) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE meta SET value = ?2 WHERE key = ?1",
        params![key, value],
    )
    .map(drop)
}

/// One step of a catch-up, in one write transaction (see [`touchbase_store::Store::journeys_step`]).
pub fn step(
    conn: &mut Connection,
    cut: &JourneyCut,
    until: i64,
    copy: usize,
    take: usize,
) -> Result<JourneyStep, StoreError> {
    const CONTEXT: &str = "bringing the journeys up to date";
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(db(CONTEXT))?;
    let step = if read_meta(&tx, "journeys_cut").map_err(db(CONTEXT))? != cut.fingerprint() {
        tx.execute_batch(
            "DELETE FROM journey_rows; DELETE FROM party_touches; DELETE FROM touch_queue;",
        )
        .map_err(db(CONTEXT))?;
        write_meta(&tx, "party_touches_seq", 0).map_err(db(CONTEXT))?;
        write_meta(&tx, "journeys_cut", cut.fingerprint()).map_err(db(CONTEXT))?;
        JourneyStep::Reset
    } else {
        let mark = read_meta(&tx, "party_touches_seq").map_err(db(CONTEXT))?;
        let latest: i64 = tx
            .query_row("SELECT COALESCE(MAX(seq), 0) FROM events", [], |r| r.get(0))
            .map_err(db(CONTEXT))?;
        let end = latest.min(until);
        // `copy` 0: cut what is queued first, copying only when nothing is.
        let queued = if mark < end && copy > 0 {
            None
        } else {
            cut_queue(&tx, cut, take)?
        };
        if let Some(touches) = queued {
            JourneyStep::Cut { touches }
        } else if mark < end {
            // `copy` 0 copies (once nothing is queued) as many as a cut takes.
            let chunk = if copy > 0 { copy } else { take };
            let to = end.min(mark.saturating_add(chunk as i64));
            let outside = serde_json::to_string(&cut.outside).unwrap_or_else(|_| "[]".into());
            let events = tx
                .execute(
                    "INSERT INTO touch_queue (party, at, id, point, value)
                     SELECT party, at, id, point, value_company FROM events
                     WHERE seq > ?1 AND seq <= ?2 AND held = 0 AND party IS NOT NULL
                       AND point NOT IN (SELECT value FROM json_each(?3))",
                    params![mark, to, outside],
                )
                .map_err(db(CONTEXT))?;
            write_meta(&tx, "party_touches_seq", to).map_err(db(CONTEXT))?;
            JourneyStep::Copied {
                events,
                mark: to,
                latest,
            }
        } else {
            JourneyStep::Done
        }
    };
    tx.commit().map_err(db(CONTEXT))?;
    Ok(step)
}

/// Takes about `take` touches of whole parties from the queue (the first parties in byte
/// order), cuts their journeys against what `party_touches` holds of them, writes the rows
/// that change and moves the touches over; `None` when the queue is empty.
fn cut_queue(
    tx: &Transaction<'_>,
    cut: &JourneyCut,
    take: usize,
) -> Result<Option<usize>, StoreError> {
    const CONTEXT: &str = "cutting journeys";
    let bound: Option<String> = tx
        .query_row(
            "SELECT party FROM touch_queue ORDER BY party, at, id LIMIT 1 OFFSET ?1",
            params![take.saturating_sub(1) as i64],
            |r| r.get(0),
        )
        .optional()
        .map_err(db(CONTEXT))?;
    // `bound` none: the queue holds fewer than `take`, all of it is taken. Two statements,
    // not one with `?1 IS NULL OR party <= ?1`: the OR keeps SQLite from reading the index
    // up to the bound only, and every step would read the whole queue (a million touches
    // after a bulk import).
    let (select, delete) = match bound {
        Some(_) => (
            "SELECT party, point, at, id, value FROM touch_queue
             WHERE party <= ?1 ORDER BY party, at, id",
            "DELETE FROM touch_queue WHERE party <= ?1",
        ),
        None => (
            "SELECT party, point, at, id, value FROM touch_queue
             WHERE ?1 IS NULL ORDER BY party, at, id",
            "DELETE FROM touch_queue WHERE ?1 IS NULL",
        ),
    };
    let queued: Vec<PartyTouch> = {
        let mut stmt = tx.prepare_cached(select).map_err(db(CONTEXT))?;
        let rows = stmt.query_map(params![bound], touch).map_err(db(CONTEXT))?;
        rows.collect::<Result<_, _>>().map_err(db(CONTEXT))?
    };
    if queued.is_empty() {
        return Ok(None);
    }
    let new: Vec<PartyTouch> = queued
        .iter()
        .filter(|t| cut.admits(&t.point))
        .cloned()
        .collect();
    let keys = points(tx)?;
    let known = keys.len();
    let mut changes = Changes::new(cut.gap_us, keys);
    {
        let mut old = Vec::new();
        let mut stmt = tx
            .prepare_cached(
                "SELECT party, point, at, id, value FROM party_touches
                 WHERE party = ?1 ORDER BY at, id",
            )
            .map_err(db(CONTEXT))?;
        for party in touchbase_store::journey_days::parties(&new) {
            let rows = stmt.query_map(params![party], touch).map_err(db(CONTEXT))?;
            for row in rows {
                old.push(row.map_err(db(CONTEXT))?);
            }
        }
        changes.parties(&old, &new)?;
    }
    {
        let mut read = tx
            .prepare_cached("SELECT body FROM journey_rows WHERE day = ?1 AND party = ?2")
            .map_err(db(CONTEXT))?;
        let mut put = tx
            .prepare_cached(
                "INSERT OR REPLACE INTO journey_rows (day, party, body) VALUES (?1, ?2, ?3)",
            )
            .map_err(db(CONTEXT))?;
        let mut gone = tx
            .prepare_cached("DELETE FROM journey_rows WHERE day = ?1 AND party = ?2")
            .map_err(db(CONTEXT))?;
        for (day, party) in changes.rows() {
            let stored: Option<Vec<u8>> = read
                .query_row(params![day, party], |r| r.get(0))
                .optional()
                .map_err(db(CONTEXT))?;
            match changes.apply(day, &party, stored.as_deref())? {
                Some(body) => put.execute(params![day, party, body]),
                None => gone.execute(params![day, party]),
            }
            .map_err(db(CONTEXT))?;
        }
        let mut add = tx
            .prepare_cached("INSERT INTO journey_points (n, key) VALUES (?1, ?2)")
            .map_err(db(CONTEXT))?;
        for (n, key) in changes.keys().since(known) {
            add.execute(params![n, key]).map_err(db(CONTEXT))?;
        }
        let mut insert = tx
            .prepare_cached(
                "INSERT INTO party_touches (party, at, id, point, value)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .map_err(db(CONTEXT))?;
        for t in &new {
            insert
                .execute(params![t.party, t.at, t.id, t.point, t.value])
                .map_err(db(CONTEXT))?;
        }
    }
    tx.execute(delete, params![bound]).map_err(db(CONTEXT))?;
    Ok(Some(queued.len()))
}

/// The point keys the bodies number, in number order.
fn points(conn: &Connection) -> Result<Keys, StoreError> {
    const CONTEXT: &str = "reading the journeys' points";
    let mut stmt = conn
        .prepare_cached("SELECT key FROM journey_points ORDER BY n")
        .map_err(db(CONTEXT))?;
    let keys = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .map_err(db(CONTEXT))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(db(CONTEXT))?;
    Ok(Keys::numbered(keys))
}

/// Queues, in the release's transaction, the held events of `point` that the catch-up's mark
/// has passed (it will not copy them again); the others it copies when it gets to them.
pub fn queue_released(tx: &Connection, point: &str) -> rusqlite::Result<usize> {
    tx.execute(
        "INSERT INTO touch_queue (party, at, id, point, value)
         SELECT party, at, id, point, value_company FROM events
         WHERE held = 1 AND point = ?1 AND party IS NOT NULL
           AND seq <= (SELECT value FROM meta WHERE key = 'party_touches_seq')",
        params![point],
    )
}

/// The journeys of days `first..=last`, each day's bodies one after another in party order.
pub fn rows(conn: &Connection, first: i64, last: i64) -> Result<JourneyRows, StoreError> {
    const CONTEXT: &str = "reading the journeys";
    let mut days: Vec<JourneyDay> = Vec::new();
    let mut stmt = conn
        .prepare_cached(
            "SELECT day, body FROM journey_rows WHERE day BETWEEN ?1 AND ?2 ORDER BY day, party",
        )
        .map_err(db(CONTEXT))?;
    let mut rows = stmt.query(params![first, last]).map_err(db(CONTEXT))?;
    while let Some(row) = rows.next().map_err(db(CONTEXT))? {
        let day: i64 = row.get(0).map_err(db(CONTEXT))?;
        let body = row.get_ref(1).map_err(db(CONTEXT))?;
        let body = body.as_blob().map_err(|e| db(CONTEXT)(e.into()))?;
        match days.last_mut() {
            Some(d) if d.day == day => d.body.extend_from_slice(body),
            _ => days.push(JourneyDay {
                day,
                body: body.to_vec(),
            }),
        }
    }
    // After the rows: every number they use is in the table by now.
    let points = points(conn)?;
    Ok(JourneyRows {
        points: (0..points.len() as u32)
            .map(|n| points.key(n).to_owned())
            .collect(),
        days,
    })
}

/// A row of (party, point, at, id, value).
pub fn touch(r: &rusqlite::Row<'_>) -> rusqlite::Result<PartyTouch> {
    Ok(PartyTouch {
        party: r.get(0)?,
        point: r.get(1)?,
        at: r.get(2)?,
        id: r.get(3)?,
        value: r.get(4)?,
    })
}
