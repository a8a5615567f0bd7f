//! The journeys cut ahead of time (migration 0017; `touchbase_store::journey_days` says how
//! they are kept): one catch-up step per transaction, the release of held events into the
//! queue, and the read of a range of days.

use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use touchbase_store::journey_days::{
    Changes, Edge, Held, JourneyCut, JourneyStep, Keys, Need, STEP_BUDGET, last_journey,
};
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

/// One step of a catch-up, in one write transaction (see [`touchbase_store::Store::journeys_step`]),
/// the connection held since `held`: what it was held for before counts against the step's
/// budget (fewer events copied, the cut stopped sooner).
pub fn step(
    conn: &mut Connection,
    cut: &JourneyCut,
    until: i64,
    copy: usize,
    take: usize,
    held: Instant,
) -> Result<JourneyStep, StoreError> {
    let spent = held.elapsed().min(STEP_BUDGET);
    let left = (STEP_BUDGET - spent).as_secs_f64() / STEP_BUDGET.as_secs_f64();
    let copy = if copy == 0 {
        0
    } else {
        ((copy as f64 * left) as usize).max(1)
    };
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
            cut_queue(&tx, cut, take, held)?
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

/// How long a cut step goes on taking parties: SQLite has one connection, and every call
/// (a single event's write) waits for the step that holds it. The step stops after the party
/// that crosses this, leaving the rest of the budget to the commit (which writes the pages
/// the step changed to the log), so that a step's length does not hang on how many parties
/// and rows its touches happen to fall on (a chunk of one partner's touches rewrites one row,
/// the same chunk of households' a thousand).
const CUT_FOR: Duration = Duration::from_millis(STEP_BUDGET.as_millis() as u64 * 3 / 5);

/// Takes up to `take` touches from the queue (the first in (party, `at`, `id`) order) party by
/// party until [`CUT_FOR`] has passed since `started`, cuts their journeys against the held touches around
/// them ([`held`]), writes the rows that change and moves the touches over; how many it took,
/// `None` when the queue is empty.
fn cut_queue(
    tx: &Transaction<'_>,
    cut: &JourneyCut,
    take: usize,
    started: Instant,
) -> Result<Option<usize>, StoreError> {
    const CONTEXT: &str = "cutting journeys";
    let bound: Option<(String, i64, String)> = tx
        .query_row(
            "SELECT party, at, id FROM touch_queue ORDER BY party, at, id LIMIT 1 OFFSET ?1",
            params![take.saturating_sub(1) as i64],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()
        .map_err(db(CONTEXT))?;
    // `bound` none: the queue holds fewer than `take`, all of it is read. Two statements, not
    // one with `?1 IS NULL OR …`: the OR keeps SQLite from reading the index up to the bound
    // only, and every step would read the whole queue (a million touches after a bulk import).
    let select = match bound {
        Some(_) => {
            "SELECT party, point, at, id, value FROM touch_queue
             WHERE (party, at, id) <= (?1, ?2, ?3) ORDER BY party, at, id"
        }
        None => {
            "SELECT party, point, at, id, value FROM touch_queue
             WHERE ?1 IS NULL AND ?2 IS NULL AND ?3 IS NULL ORDER BY party, at, id"
        }
    };
    let (party, at, id) = match &bound {
        Some((party, at, id)) => (Some(party.as_str()), Some(*at), Some(id.as_str())),
        None => (None, None, None),
    };
    let queued: Vec<PartyTouch> = {
        let mut stmt = tx.prepare_cached(select).map_err(db(CONTEXT))?;
        let rows = stmt
            .query_map(params![party, at, id], touch)
            .map_err(db(CONTEXT))?;
        rows.collect::<Result<_, _>>().map_err(db(CONTEXT))?
    };
    if queued.is_empty() {
        return Ok(None);
    }
    let keys = points(tx)?;
    let known = keys.len();
    let mut changes = Changes::new(cut.gap_us, keys);
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
    let mut insert = tx
        .prepare_cached(
            "INSERT INTO party_touches (party, at, id, point, value) VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .map_err(db(CONTEXT))?;
    let mut taken = 0;
    for run in queued.chunk_by(|a, b| a.party == b.party) {
        if taken > 0 && started.elapsed() >= CUT_FOR {
            break;
        }
        let new: Vec<PartyTouch> = run
            .iter()
            .filter(|t| cut.admits(&t.point))
            .cloned()
            .collect();
        taken += run.len();
        if new.is_empty() {
            continue;
        }
        changes.party(&held(tx, cut.gap_us, known, &new)?, &new)?;
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
        for t in &new {
            insert
                .execute(params![t.party, t.at, t.id, t.point, t.value])
                .map_err(db(CONTEXT))?;
        }
    }
    let mut add = tx
        .prepare_cached("INSERT INTO journey_points (n, key) VALUES (?1, ?2)")
        .map_err(db(CONTEXT))?;
    for (n, key) in changes.keys().since(known) {
        add.execute(params![n, key]).map_err(db(CONTEXT))?;
    }
    let last = &queued[taken - 1];
    tx.execute(
        "DELETE FROM touch_queue WHERE (party, at, id) <= (?1, ?2, ?3)",
        params![last.party, last.at, last.id],
    )
    .map_err(db(CONTEXT))?;
    Ok(Some(taken))
}

/// What `party_touches` and the rows hold of the party of `run` (its new touches, in `at`, `id`
/// order) that they may change ([`Held`]): its last journey when they all come after its
/// held touches and the first within `journey_gap` of the last; else its window ([`Edge`]),
/// read going back from its first new touch and on from its last, each as far as the edge
/// takes, not its whole history.
fn held(
    tx: &Transaction<'_>,
    gap_us: i64,
    known: usize,
    run: &[PartyTouch],
) -> Result<Held, StoreError> {
    const CONTEXT: &str = "reading the touches around new ones";
    let (first, last) = (&run[0], &run[run.len() - 1]);
    let latest: Option<(i64, String)> = tx
        .prepare_cached(
            "SELECT at, id FROM party_touches WHERE party = ?1 ORDER BY at DESC, id DESC LIMIT 1",
        )
        .map_err(db(CONTEXT))?
        .query_row(params![first.party], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
        .map_err(db(CONTEXT))?;
    match Need::of(
        gap_us,
        latest.as_ref().map(|(at, id)| (*at, id.as_str())),
        first,
    ) {
        Need::Nothing => return Ok(Held::Touches(Vec::new())),
        Need::Last(at) => {
            let (day, body): (i64, Vec<u8>) = tx
                .prepare_cached(
                    "SELECT day, body FROM journey_rows WHERE party = ?1 ORDER BY day DESC LIMIT 1",
                )
                .map_err(db(CONTEXT))?
                .query_row(params![first.party], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(db(CONTEXT))?;
            return Ok(Held::Last(last_journey(day, &body, known, at)?));
        }
        Need::Window => {}
    }
    let mut edge = Edge::at(gap_us, first.at);
    let mut window = read_while(
        tx,
        "SELECT party, point, at, id, value FROM party_touches
         WHERE party = ?1 AND (at, id) < (?2, ?3) ORDER BY at DESC, id DESC",
        first,
        |t| edge.takes(t.at),
    )?;
    window.reverse();
    let mut edge = Edge::at(gap_us, last.at);
    let past_last = |t: &PartyTouch| (t.at, t.id.as_bytes()) > (last.at, last.id.as_bytes());
    window.extend(read_while(
        tx,
        "SELECT party, point, at, id, value FROM party_touches
         WHERE party = ?1 AND (at, id) > (?2, ?3) ORDER BY at, id",
        first,
        |t| !past_last(t) || edge.takes(t.at),
    )?);
    Ok(Held::Touches(window))
}

/// The touches `sql` reads from `from`'s party, instant and id, one at a time while `keep`
/// says so.
fn read_while(
    tx: &Transaction<'_>,
    sql: &str,
    from: &PartyTouch,
    mut keep: impl FnMut(&PartyTouch) -> bool,
) -> Result<Vec<PartyTouch>, StoreError> {
    const CONTEXT: &str = "reading the touches around new ones";
    let mut stmt = tx.prepare_cached(sql).map_err(db(CONTEXT))?;
    let mut rows = stmt
        .query(params![from.party, from.at, from.id])
        .map_err(db(CONTEXT))?;
    let mut kept = Vec::new();
    while let Some(row) = rows.next().map_err(db(CONTEXT))? {
        let t = touch(row).map_err(db(CONTEXT))?;
        if !keep(&t) {
            break;
        }
        kept.push(t);
    }
    Ok(kept)
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
