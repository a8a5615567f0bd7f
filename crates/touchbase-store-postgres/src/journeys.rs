//! The journeys cut ahead of time (migration 0017; `touchbase_store::journey_days` says how
//! they are kept): one catch-up step per transaction, the release of held events into the
//! queue, and the read of a range of days.
//!
//! Every step takes the mark's row `FOR UPDATE` first (as a release does), so that steps and
//! releases never pass each other. A copy step then takes `LOCK TABLE events IN SHARE MODE`,
//! which waits for the event writes in flight: no event with a `seq` below the new mark can
//! commit after it. Writers wait for that step only, which is short.

use std::collections::HashMap;

use tokio_postgres::Transaction;
use touchbase_store::journey_days::{
    Changes, Edge, Held, JourneyCut, JourneyStep, Keys, Need, last_journey,
};
use touchbase_store::{JourneyDay, JourneyRows, PartyTouch, StoreError};

use crate::pg;

/// The `party_touches` mark (the last `seq` copied to the queue), its row locked for the
/// transaction.
async fn locked_mark(tx: &Transaction<'_>, context: &'static str) -> Result<i64, StoreError> {
    Ok(tx
        .query_one(
            "SELECT value FROM meta WHERE key = 'party_touches_seq' FOR UPDATE",
            &[],
        )
        .await
        .map_err(pg(context))?
        .get(0))
}

async fn read_meta(tx: &Transaction<'_>, key: &str) -> Result<i64, StoreError> {
    Ok(tx
        .query_one("SELECT value FROM meta WHERE key = $1", &[&key])
        .await
        .map_err(pg("reading the journeys' marks"))?
        .get(0))
}

async fn write_meta(tx: &Transaction<'_>, key: &str, value: i64) -> Result<(), StoreError> {
    tx.execute("UPDATE meta SET value = $2 WHERE key = $1", &[&key, &value])
        .await
        .map_err(pg("moving the journeys' marks"))?;
    Ok(())
}

/// One step of a catch-up in `tx` (see [`touchbase_store::Store::journeys_step`]).
pub async fn step(
    tx: &Transaction<'_>,
    cut: &JourneyCut,
    until: i64,
    copy: usize,
    take: usize,
) -> Result<JourneyStep, StoreError> {
    const CONTEXT: &str = "bringing the journeys up to date";
    let mark = locked_mark(tx, CONTEXT).await?;
    if read_meta(tx, "journeys_cut").await? != cut.fingerprint() {
        tx.batch_execute("TRUNCATE journey_rows, party_touches, touch_queue")
            .await
            .map_err(pg(CONTEXT))?;
        write_meta(tx, "party_touches_seq", 0).await?;
        write_meta(tx, "journeys_cut", cut.fingerprint()).await?;
        return Ok(JourneyStep::Reset);
    }
    let latest: i64 = tx
        .query_one("SELECT COALESCE(MAX(seq), 0) FROM events", &[])
        .await
        .map_err(pg(CONTEXT))?
        .get(0);
    let end = latest.min(until);
    // `copy` 0: cut what is queued first, copying only when nothing is.
    if !(mark < end && copy > 0)
        && let Some(touches) = cut_queue(tx, cut, take).await?
    {
        return Ok(JourneyStep::Cut { touches });
    }
    if mark < end {
        // No event write in flight from here: every event up to `end` is committed and
        // visible.
        tx.batch_execute("LOCK TABLE events IN SHARE MODE")
            .await
            .map_err(pg(CONTEXT))?;
        // `copy` 0 copies (once nothing is queued) as many as a cut takes.
        let chunk = if copy > 0 { copy } else { take };
        let to = end.min(mark.saturating_add(chunk as i64));
        let outside: Vec<&str> = cut.outside.iter().map(String::as_str).collect();
        let events = tx
            .execute(
                "INSERT INTO touch_queue (party, at, id, point, value)
                 SELECT party, at, id, point, value_company FROM events
                 WHERE seq > $1 AND seq <= $2 AND NOT held AND party IS NOT NULL
                   AND point <> ALL($3::text[])",
                &[&mark, &to, &outside],
            )
            .await
            .map_err(pg(CONTEXT))?;
        write_meta(tx, "party_touches_seq", to).await?;
        return Ok(JourneyStep::Copied {
            events: events as usize,
            mark: to,
            latest,
        });
    }
    Ok(JourneyStep::Done)
}

/// Takes `take` touches from the queue (the first in (party, `at`, `id`) order, so the last
/// party's only in part), cuts their journeys against the held touches around them, writes
/// the rows that change and moves the touches over; `None` when the queue is empty.
async fn cut_queue(
    tx: &Transaction<'_>,
    cut: &JourneyCut,
    take: usize,
) -> Result<Option<usize>, StoreError> {
    const CONTEXT: &str = "cutting journeys";
    let bound: Option<(String, i64, String)> = tx
        .query_opt(
            "SELECT party, at, id FROM touch_queue ORDER BY party, at, id LIMIT 1 OFFSET $1",
            &[&(take.saturating_sub(1) as i64)],
        )
        .await
        .map_err(pg(CONTEXT))?
        .map(|r| (r.get(0), r.get(1), r.get(2)));
    // A bound, or the whole queue (it holds fewer than `take`): two statements each, not one
    // with `$1 IS NULL OR …`, whose generic plan could not read the index up to the bound.
    let (select, delete) = match bound {
        Some(_) => (
            "SELECT party, point, at, id, value FROM touch_queue
             WHERE (party, at, id) <= ($1, $2, $3) ORDER BY party, at, id",
            "DELETE FROM touch_queue WHERE (party, at, id) <= ($1, $2, $3)",
        ),
        None => (
            "SELECT party, point, at, id, value FROM touch_queue
             WHERE $1::text IS NULL AND $2::bigint IS NULL AND $3::text IS NULL
             ORDER BY party, at, id",
            "DELETE FROM touch_queue
             WHERE $1::text IS NULL AND $2::bigint IS NULL AND $3::text IS NULL",
        ),
    };
    let (party, at, id) = match &bound {
        Some((party, at, id)) => (Some(party.as_str()), Some(*at), Some(id.as_str())),
        None => (None, None, None),
    };
    let queued: Vec<PartyTouch> = tx
        .query(select, &[&party, &at, &id])
        .await
        .map_err(pg(CONTEXT))?
        .iter()
        .map(touch)
        .collect();
    if queued.is_empty() {
        return Ok(None);
    }
    let new: Vec<PartyTouch> = queued
        .iter()
        .filter(|t| cut.admits(&t.point))
        .cloned()
        .collect();
    let keys = points(tx).await?;
    let known = keys.len();
    let mut changes = Changes::new(cut.gap_us, keys);
    let runs: Vec<&[PartyTouch]> = new.chunk_by(|a, b| a.party == b.party).collect();
    let helds = helds(tx, cut.gap_us, known, &runs).await?;
    for (held, run) in helds.iter().zip(&runs) {
        changes.party(held, run)?;
    }
    write_rows(tx, &mut changes).await?;
    let (ns, added): (Vec<i32>, Vec<&str>) = changes
        .keys()
        .since(known)
        .map(|(n, k)| (n as i32, k))
        .unzip();
    if !ns.is_empty() {
        tx.execute(
            "INSERT INTO journey_points (n, key) SELECT * FROM UNNEST($1::int[], $2::text[])",
            &[&ns, &added],
        )
        .await
        .map_err(pg(CONTEXT))?;
    }
    let parties: Vec<&str> = new.iter().map(|t| t.party.as_str()).collect();
    let ats: Vec<i64> = new.iter().map(|t| t.at).collect();
    let ids: Vec<&str> = new.iter().map(|t| t.id.as_str()).collect();
    let points: Vec<&str> = new.iter().map(|t| t.point.as_str()).collect();
    let values: Vec<f64> = new.iter().map(|t| t.value).collect();
    tx.execute(
        "INSERT INTO party_touches (party, at, id, point, value)
         SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::text[], $5::float8[])",
        &[&parties, &ats, &ids, &points, &values],
    )
    .await
    .map_err(pg(CONTEXT))?;
    tx.execute(delete, &[&party, &at, &id])
        .await
        .map_err(pg(CONTEXT))?;
    Ok(Some(queued.len()))
}

/// What `party_touches` and the rows hold of the party of each run of `runs` (its new touches,
/// in `at`, `id` order) that they may change ([`Held`]): its last journey when they all come
/// after its held touches and the first within `journey_gap` of the last; else its window
/// ([`window`]). The parties' last touches come in one statement and their last rows in
/// another (a catch-up in `seq` order needs nothing else); the windows' reads go out together
/// (the client pipelines them).
async fn helds(
    tx: &Transaction<'_>,
    gap_us: i64,
    known: usize,
    runs: &[&[PartyTouch]],
) -> Result<Vec<Held>, StoreError> {
    const CONTEXT: &str = "reading the touches around new ones";
    let parties: Vec<&str> = runs.iter().map(|run| run[0].party.as_str()).collect();
    let latest: HashMap<String, (i64, String)> = tx
        .query(
            "SELECT p.party, t.at, t.id FROM unnest($1::text[]) AS p(party)
             CROSS JOIN LATERAL (
                 SELECT at, id FROM party_touches WHERE party = p.party COLLATE \"C\"
                 ORDER BY at DESC, id DESC LIMIT 1
             ) t",
            &[&parties],
        )
        .await
        .map_err(pg(CONTEXT))?
        .iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2))))
        .collect();
    let needs: Vec<Need> = runs
        .iter()
        .map(|run| {
            let latest = latest.get(&run[0].party);
            Need::of(gap_us, latest.map(|(at, id)| (*at, id.as_str())), &run[0])
        })
        .collect();
    let extended: Vec<&str> = runs
        .iter()
        .zip(&needs)
        .filter(|(_, need)| matches!(need, Need::Last(_)))
        .map(|(run, _)| run[0].party.as_str())
        .collect();
    let mut last_rows: HashMap<String, (i64, Vec<u8>)> = HashMap::new();
    if !extended.is_empty() {
        for r in tx
            .query(
                "SELECT p.party, r.day, r.body FROM unnest($1::text[]) AS p(party)
                 CROSS JOIN LATERAL (
                     SELECT day, body FROM journey_rows WHERE party = p.party COLLATE \"C\"
                     ORDER BY day DESC LIMIT 1
                 ) r",
                &[&extended],
            )
            .await
            .map_err(pg(CONTEXT))?
        {
            last_rows.insert(r.get(0), (r.get(1), r.get(2)));
        }
    }
    let windows = runs
        .iter()
        .zip(&needs)
        .filter(|(_, need)| matches!(need, Need::Window))
        .map(|(run, _)| window(tx, gap_us, run));
    let mut windows = futures_util::future::try_join_all(windows)
        .await?
        .into_iter();
    let mut helds = Vec::with_capacity(runs.len());
    for (run, need) in runs.iter().zip(needs) {
        helds.push(match need {
            Need::Nothing => Held::Touches(Vec::new()),
            Need::Last(at) => {
                let Some((day, body)) = last_rows.get(&run[0].party) else {
                    return Err(StoreError::Corrupt(format!(
                        "party `{}` has events in journeys but no row of journeys; rebuild \
                         them by changing journeys.journey_gap_s and back",
                        run[0].party
                    )));
                };
                Held::Last(last_journey(*day, body, known, at)?)
            }
            Need::Window => {
                Held::Touches(windows.next().expect("a window per party that needs one"))
            }
        });
    }
    Ok(helds)
}

/// The held touches of one party's new ones `run` (in `at`, `id` order) that they may change
/// (its window, [`Edge`]), in that order: read a page at a time going back from its first new
/// touch and on from it past its last, each as far as the edge takes.
async fn window(
    tx: &Transaction<'_>,
    gap_us: i64,
    run: &[PartyTouch],
) -> Result<Vec<PartyTouch>, StoreError> {
    let (first, last) = (&run[0], &run[run.len() - 1]);
    let mut edge = Edge::at(gap_us, first.at);
    let mut window = read_while(tx, first, Direction::Back, |t| edge.takes(t.at)).await?;
    window.reverse();
    let mut edge = Edge::at(gap_us, last.at);
    let past_last = |t: &PartyTouch| (t.at, t.id.as_bytes()) > (last.at, last.id.as_bytes());
    let on = read_while(tx, first, Direction::On, |t| {
        !past_last(t) || edge.takes(t.at)
    })
    .await?;
    window.extend(on);
    Ok(window)
}

/// Which way [`read_while`] reads a party's touches.
#[derive(Clone, Copy)]
enum Direction {
    Back,
    On,
}

/// The held touches of `from`'s party before it (latest first) or after it, while `keep` says
/// so, read a page at a time (32 touches, then twice as many each time).
async fn read_while(
    tx: &Transaction<'_>,
    from: &PartyTouch,
    direction: Direction,
    mut keep: impl FnMut(&PartyTouch) -> bool,
) -> Result<Vec<PartyTouch>, StoreError> {
    const CONTEXT: &str = "reading the touches around new ones";
    let sql = match direction {
        Direction::Back => {
            "SELECT party, point, at, id, value FROM party_touches
             WHERE party = $1 AND (at, id) < ($2, $3) ORDER BY at DESC, id DESC LIMIT $4"
        }
        Direction::On => {
            "SELECT party, point, at, id, value FROM party_touches
             WHERE party = $1 AND (at, id) > ($2, $3) ORDER BY at, id LIMIT $4"
        }
    };
    let (mut at, mut id) = (from.at, from.id.clone());
    let mut page: i64 = 32;
    let mut kept = Vec::new();
    loop {
        let rows = tx
            .query(sql, &[&from.party, &at, &id, &page])
            .await
            .map_err(pg(CONTEXT))?;
        let full = rows.len() as i64 == page;
        for row in &rows {
            let t = touch(row);
            if !keep(&t) {
                return Ok(kept);
            }
            (at, id) = (t.at, t.id.clone());
            kept.push(t);
        }
        if !full {
            return Ok(kept);
        }
        page = page.saturating_mul(2);
    }
}

/// Writes the rows `changes` gives, in (day, party) order, in at most three statements.
async fn write_rows(tx: &Transaction<'_>, changes: &mut Changes) -> Result<(), StoreError> {
    const CONTEXT: &str = "writing journeys";
    if changes.is_empty() {
        return Ok(());
    }
    let (days, parties): (Vec<i64>, Vec<String>) = changes.rows().into_iter().unzip();
    let mut stored: HashMap<(i64, String), Vec<u8>> = tx
        .query(
            "SELECT j.day, j.party, j.body FROM journey_rows j
             JOIN UNNEST($1::bigint[], $2::text[]) AS c (day, party)
               ON j.day = c.day AND j.party = c.party",
            &[&days, &parties],
        )
        .await
        .map_err(pg(CONTEXT))?
        .into_iter()
        .map(|r| ((r.get(0), r.get(1)), r.get(2)))
        .collect();
    let (mut put, mut gone) = ((vec![], vec![], vec![]), (vec![], vec![]));
    for (day, party) in days.into_iter().zip(parties) {
        let before = stored.remove(&(day, party.clone()));
        match changes.apply(day, &party, before.as_deref())? {
            Some(body) => {
                put.0.push(day);
                put.1.push(party);
                put.2.push(body);
            }
            None => {
                gone.0.push(day);
                gone.1.push(party);
            }
        }
    }
    if !put.0.is_empty() {
        tx.execute(
            "INSERT INTO journey_rows (day, party, body)
             SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::bytea[])
             ON CONFLICT (day, party) DO UPDATE SET body = EXCLUDED.body",
            &[&put.0, &put.1, &put.2],
        )
        .await
        .map_err(pg(CONTEXT))?;
    }
    if !gone.0.is_empty() {
        tx.execute(
            "DELETE FROM journey_rows
             WHERE (day, party) IN (SELECT * FROM UNNEST($1::bigint[], $2::text[]))",
            &[&gone.0, &gone.1],
        )
        .await
        .map_err(pg(CONTEXT))?;
    }
    Ok(())
}

/// The point keys the bodies number, in number order.
async fn points(tx: &Transaction<'_>) -> Result<Keys, StoreError> {
    let keys = tx
        .query("SELECT key FROM journey_points ORDER BY n", &[])
        .await
        .map_err(pg("reading the journeys' points"))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    Ok(Keys::numbered(keys))
}

/// Queues, holding the mark's row, the held events of `point` that the catch-up's mark has
/// passed (it will not copy them again); the others it copies when it gets to them.
pub async fn queue_released(tx: &Transaction<'_>, point: &str) -> Result<(), StoreError> {
    const CONTEXT: &str = "releasing held events";
    let mark = locked_mark(tx, CONTEXT).await?;
    tx.execute(
        "INSERT INTO touch_queue (party, at, id, point, value)
         SELECT party, at, id, point, value_company FROM events
         WHERE held AND point = $1 AND party IS NOT NULL AND seq <= $2",
        &[&point, &mark],
    )
    .await
    .map_err(pg(CONTEXT))?;
    Ok(())
}

/// The journeys of days `first..=last`, each day's bodies one after another in party order,
/// read in one snapshot.
pub async fn rows(tx: &Transaction<'_>, first: i64, last: i64) -> Result<JourneyRows, StoreError> {
    const CONTEXT: &str = "reading the journeys";
    let days = tx
        .query(
            "SELECT day, string_agg(body, ''::bytea ORDER BY party) FROM journey_rows
             WHERE day BETWEEN $1 AND $2 GROUP BY day ORDER BY day",
            &[&first, &last],
        )
        .await
        .map_err(pg(CONTEXT))?
        .into_iter()
        .map(|r| JourneyDay {
            day: r.get(0),
            body: r.get(1),
        })
        .collect();
    let points = points(tx).await?;
    Ok(JourneyRows {
        points: (0..points.len() as u32)
            .map(|n| points.key(n).to_owned())
            .collect(),
        days,
    })
}

/// A row of (party, point, at, id, value).
pub(crate) fn touch(r: &tokio_postgres::Row) -> PartyTouch {
    PartyTouch {
        party: r.get(0),
        point: r.get(1),
        at: r.get(2),
        id: r.get(3),
        value: r.get(4),
    }
}
