//! The parties' events kept in party order (migration 0005) and the journeys cut ahead of
//! time from them (migration 0006), brought up to date before journeys are read and when held
//! events are released.

use std::collections::HashMap;

use tokio_postgres::Transaction;
use tokio_postgres::types::ToSql;
use touchbase_store::journey_days::{self, Batches, Changes, Touches};
use touchbase_store::{PartyTouch, StoreError};

use crate::pg;

/// How many rows a streamed read fetches at a time.
const FETCH: i32 = 10_000;

/// The `party_touches` mark (the last `seq` it holds), its row locked for the transaction so
/// that a catch-up and a release never pass each other.
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

/// Brings `party_touches` and `journey_days` up to date in `tx`: the rows started over from
/// `party_touches` when they were cut under another gap than `gap_us`; then the counted events
/// with a party that arrived after the mark, sorted among themselves, their journeys written
/// and the events merged in; the mark moved to the last event.
pub async fn catch_up(tx: &Transaction<'_>, gap_us: i64) -> Result<(), StoreError> {
    const CONTEXT: &str = "bringing the journeys up to date";
    // The mark's row first (as a release does).
    let mark = locked_mark(tx, CONTEXT).await?;
    if read_meta(tx, "journeys_gap_us").await? != gap_us {
        tx.execute("DELETE FROM journey_days", &[])
            .await
            .map_err(pg(CONTEXT))?;
        join_touches(
            tx,
            "SELECT party, point, at, id FROM party_touches ORDER BY party, at, id",
            &[],
            Some(gap_us),
            Touches::Kept,
        )
        .await?;
        write_meta(tx, "journeys_gap_us", gap_us).await?;
    }
    // No event write in flight from here: every event up to the last `seq` read below is
    // committed and visible.
    tx.batch_execute("LOCK TABLE events IN SHARE MODE")
        .await
        .map_err(pg(CONTEXT))?;
    let last: i64 = tx
        .query_one("SELECT COALESCE(MAX(seq), 0) FROM events", &[])
        .await
        .map_err(pg(CONTEXT))?
        .get(0);
    if last > mark {
        join_touches(
            tx,
            r#"SELECT party, point, at, id FROM events
               WHERE seq > $1 AND seq <= $2 AND NOT held AND party IS NOT NULL
               ORDER BY party COLLATE "C", at, id COLLATE "C""#,
            &[&mark, &last],
            Some(gap_us),
            Touches::Joining,
        )
        .await?;
        write_meta(tx, "party_touches_seq", last).await?;
    }
    Ok(())
}

/// Joins to `party_touches` the held events of `point` that its catch-up has passed (they are
/// about to be released, and it will not see them again), with their journeys, holding the
/// mark's row.
pub async fn join_released(tx: &Transaction<'_>, point: &str) -> Result<(), StoreError> {
    const CONTEXT: &str = "releasing held events";
    let mark = locked_mark(tx, CONTEXT).await?;
    let cut_under = read_meta(tx, "journeys_gap_us").await?;
    join_touches(
        tx,
        r#"SELECT party, point, at, id FROM events
           WHERE held AND point = $1 AND party IS NOT NULL AND seq <= $2
           ORDER BY party COLLATE "C", at, id COLLATE "C""#,
        &[&point, &mark],
        (cut_under >= 0).then_some(cut_under),
        Touches::Joining,
    )
    .await
}

/// Takes the touches `query` gives, in (party, `at`, `id`) order, as `touches` says, and
/// writes into `journey_days` the journeys they end and begin, cut under `gap_us` (`None`:
/// the rows are not cut yet, only the touches are copied).
async fn join_touches(
    tx: &Transaction<'_>,
    query: &str,
    params: &[&(dyn ToSql + Sync)],
    gap_us: Option<i64>,
    touches: Touches,
) -> Result<(), StoreError> {
    const CONTEXT: &str = "cutting journeys";
    let mut changes = gap_us.map(Changes::new);
    let statement = tx.prepare(query).await.map_err(pg(CONTEXT))?;
    // A portal: the rows come a fetch at a time, and other statements run in between.
    let portal = tx.bind(&statement, params).await.map_err(pg(CONTEXT))?;
    let mut batches = Batches::default();
    loop {
        let rows = tx.query_portal(&portal, FETCH).await.map_err(pg(CONTEXT))?;
        let fetched = rows.len();
        for row in rows {
            if let Some(batch) = batches.push(touch(&row)) {
                take(tx, changes.as_mut(), &batch, touches).await?;
            }
        }
        if fetched < FETCH as usize {
            break;
        }
    }
    if let Some(batch) = batches.finish() {
        take(tx, changes.as_mut(), &batch, touches).await?;
    }
    match changes {
        Some(mut changes) => write_rows(tx, &mut changes).await,
        None => Ok(()),
    }
}

/// Hands a batch of touches to `changes`: kept ones alone, joining ones with those
/// `party_touches` holds of the same parties, then copied in.
async fn take(
    tx: &Transaction<'_>,
    changes: Option<&mut Changes>,
    new: &[PartyTouch],
    touches: Touches,
) -> Result<(), StoreError> {
    const CONTEXT: &str = "joining the parties' events";
    if touches == Touches::Kept {
        return match changes {
            Some(changes) => changes.parties(&[], new),
            None => Ok(()),
        };
    }
    if let Some(changes) = changes {
        let parties = journey_days::parties(new);
        let old: Vec<PartyTouch> = tx
            .query(
                "SELECT party, point, at, id FROM party_touches
                 WHERE party = ANY($1) ORDER BY party, at, id",
                &[&parties],
            )
            .await
            .map_err(pg(CONTEXT))?
            .iter()
            .map(touch)
            .collect();
        changes.parties(&old, new)?;
    }
    let parties: Vec<&str> = new.iter().map(|t| t.party.as_str()).collect();
    let ats: Vec<i64> = new.iter().map(|t| t.at).collect();
    let ids: Vec<&str> = new.iter().map(|t| t.id.as_str()).collect();
    let points: Vec<&str> = new.iter().map(|t| t.point.as_str()).collect();
    tx.execute(
        "INSERT INTO party_touches (party, at, id, point)
         SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::text[])",
        &[&parties, &ats, &ids, &points],
    )
    .await
    .map_err(pg(CONTEXT))?;
    Ok(())
}

/// Writes the rows `changes` gives, in (day, point) order, in at most three statements.
async fn write_rows(tx: &Transaction<'_>, changes: &mut Changes) -> Result<(), StoreError> {
    const CONTEXT: &str = "writing journeys";
    if changes.is_empty() {
        return Ok(());
    }
    let (days, points): (Vec<i64>, Vec<String>) = changes.rows().into_iter().unzip();
    let mut stored: HashMap<(i64, String), Vec<u8>> = tx
        .query(
            "SELECT j.day, j.point, j.body FROM journey_days j
             JOIN UNNEST($1::bigint[], $2::text[]) AS c (day, point)
               ON j.day = c.day AND j.point = c.point",
            &[&days, &points],
        )
        .await
        .map_err(pg(CONTEXT))?
        .into_iter()
        .map(|r| ((r.get(0), r.get(1)), r.get(2)))
        .collect();
    let (mut put, mut gone) = ((vec![], vec![], vec![]), (vec![], vec![]));
    for (day, point) in days.into_iter().zip(points) {
        let before = stored.remove(&(day, point.clone()));
        match changes.apply(day, &point, before.as_deref())? {
            Some(body) => {
                put.0.push(day);
                put.1.push(point);
                put.2.push(body);
            }
            None => {
                gone.0.push(day);
                gone.1.push(point);
            }
        }
    }
    if !put.0.is_empty() {
        tx.execute(
            "INSERT INTO journey_days (day, point, body)
         SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::bytea[])
         ON CONFLICT (day, point) DO UPDATE SET body = EXCLUDED.body",
            &[&put.0, &put.1, &put.2],
        )
        .await
        .map_err(pg(CONTEXT))?;
    }
    if !gone.0.is_empty() {
        tx.execute(
            "DELETE FROM journey_days
         WHERE (day, point) IN (SELECT * FROM UNNEST($1::bigint[], $2::text[]))",
            &[&gone.0, &gone.1],
        )
        .await
        .map_err(pg(CONTEXT))?;
    }
    Ok(())
}

/// A row of (party, point, at, id).
pub(crate) fn touch(r: &tokio_postgres::Row) -> PartyTouch {
    PartyTouch {
        party: r.get(0),
        point: r.get(1),
        at: r.get(2),
        id: r.get(3),
    }
}
