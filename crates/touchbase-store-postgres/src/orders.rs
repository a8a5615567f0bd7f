//! Standing orders, their revisions and their runs in PostgreSQL (migration 0013).

use std::collections::BTreeMap;

use tokio_postgres::Transaction;
use touchbase_core::standing::{Order, Run, RunState};
use touchbase_store::standing::{self, OrderRevision};

/// Writes `revision` of its order if the stored order is at the revision before it (none, for
/// a capture), in the caller's transaction. False when another write got there first.
pub(crate) async fn write_revision(
    tx: &Transaction<'_>,
    revision: &OrderRevision,
) -> Result<bool, tokio_postgres::Error> {
    let order = &revision.order;
    let doc = standing::doc_of(order);
    let number = i64::from(revision.revision);
    let written = if revision.revision == 1 {
        tx.execute(
            "INSERT INTO standing_orders (id, point, party, status, revision, doc)
             VALUES ($1, $2, $3, $4, 1, $5) ON CONFLICT (id) DO NOTHING",
            &[
                &order.id,
                &order.point,
                &order.party,
                &order.status.as_str(),
                &doc,
            ],
        )
        .await?
    } else {
        tx.execute(
            "UPDATE standing_orders SET status = $2, revision = $3::bigint, doc = $4
             WHERE id = $1 AND revision = $3::bigint - 1",
            &[&order.id, &order.status.as_str(), &number, &doc],
        )
        .await?
    };
    if written != 1 {
        return Ok(false);
    }
    tx.execute(
        "INSERT INTO standing_revisions (order_id, revision, at, actor, note, doc)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &order.id,
            &number,
            &revision.at,
            &revision.actor,
            &revision.note,
            &doc,
        ],
    )
    .await?;
    Ok(true)
}

/// The orders captured by newly written events: each written unless the party has one there.
pub(crate) async fn capture<'a>(
    tx: &Transaction<'_>,
    orders: impl Iterator<Item = &'a Order>,
) -> Result<(), tokio_postgres::Error> {
    for order in orders {
        write_revision(tx, &standing::captured(order)).await?;
    }
    Ok(())
}

/// Writes runs, each only over a run at an earlier stage (a batch naming a run twice keeps its
/// furthest state), and moves the orders' progress with them; returns how many runs changed.
pub(crate) async fn put_runs(
    tx: &Transaction<'_>,
    runs: &[Run],
) -> Result<u64, tokio_postgres::Error> {
    let mut furthest: BTreeMap<(&str, &str), &Run> = BTreeMap::new();
    for run in runs {
        let slot = furthest.entry((&run.order, &run.date)).or_insert(run);
        if run.state.rank() > slot.state.rank() {
            *slot = run;
        }
    }
    let runs: Vec<&Run> = furthest.into_values().collect();
    if runs.is_empty() {
        return Ok(0);
    }
    let column = |f: fn(&Run) -> String| runs.iter().map(|r| f(r)).collect::<Vec<String>>();
    let order = column(|r| r.order.clone());
    let date = column(|r| r.date.clone());
    let state = column(|r| r.state.as_str().to_owned());
    let note = column(|r| r.note.clone());
    let delivery: Vec<Option<&str>> = runs.iter().map(|r| r.delivery.as_deref()).collect();
    let at: Vec<i64> = runs.iter().map(|r| r.at).collect();
    let stage: Vec<i64> = runs.iter().map(|r| i64::from(r.state.rank())).collect();
    let revision: Vec<i64> = runs.iter().map(|r| i64::from(r.revision)).collect();
    let updated: Vec<i64> = runs.iter().map(|r| r.updated_at).collect();
    let changed = tx
        .execute(
            "INSERT INTO standing_runs
                 (order_id, run_date, at, state, stage, revision, note, delivery, updated_at)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[],
                 $5::bigint[], $6::bigint[], $7::text[], $8::text[], $9::bigint[])
             ON CONFLICT (order_id, run_date) DO UPDATE SET at = excluded.at,
                 state = excluded.state, stage = excluded.stage, revision = excluded.revision,
                 note = excluded.note, delivery = excluded.delivery,
                 updated_at = excluded.updated_at
             WHERE excluded.stage > standing_runs.stage",
            &[
                &order, &date, &at, &state, &stage, &revision, &note, &delivery, &updated,
            ],
        )
        .await?;
    for (column, locked) in [("handled_at", false), ("locked_at", true)] {
        let (ids, ats): (Vec<&str>, Vec<i64>) = runs
            .iter()
            .filter(|r| (r.state == RunState::Locked) == locked)
            .map(|r| (r.order.as_str(), r.at))
            .unzip();
        if ids.is_empty() {
            continue;
        }
        tx.execute(
            &format!(
                "UPDATE standing_orders o SET {column} = GREATEST(COALESCE(o.{column}, u.at), u.at)
                 FROM (SELECT id, MAX(at) AS at FROM UNNEST($1::text[], $2::bigint[]) AS t(id, at)
                       GROUP BY id) u
                 WHERE o.id = u.id"
            ),
            &[&ids, &ats],
        )
        .await?;
    }
    Ok(changed)
}

/// A stored run.
pub(crate) fn run_of(r: &tokio_postgres::Row) -> Run {
    let state: String = r.get(3);
    Run {
        order: r.get(0),
        date: r.get(1),
        at: r.get(2),
        state: RunState::parse(&state).unwrap_or(RunState::Scheduled),
        revision: r.get::<_, i64>(4) as u32,
        note: r.get(5),
        delivery: r.get(6),
        updated_at: r.get(7),
    }
}
