//! The reverse feed's outbox in PostgreSQL: deliveries, their attempts, and the day's events a
//! rule's dry run reads. Claims take a lease (`lease_until`) on rows locked with
//! `FOR UPDATE SKIP LOCKED`, so that dispatchers on several servers never hold the same
//! delivery at once.

use std::collections::{HashMap, HashSet};

use deadpool_postgres::GenericClient;
use tokio_postgres::Transaction;
use tokio_postgres::types::ToSql;
use touchbase_core::event::{Event, Outcomes};
use touchbase_core::rules::Firing;
use touchbase_store::StoreError;
use touchbase_store::outbox::{
    Attempt, Delivery, DeliveryFilter, DeliveryState, FeedCount, Finished, Next,
};

/// Writes firings as pending deliveries due at `now`, in the order given; those already on
/// record (or earlier in the same batch) are left alone. Returns how many were new.
pub(crate) async fn insert<'a>(
    tx: &Transaction<'_>,
    firings: impl Iterator<Item = &'a Firing>,
    now: i64,
) -> Result<u64, tokio_postgres::Error> {
    let mut id = Vec::new();
    let mut rule = Vec::new();
    let mut endpoint = Vec::new();
    let mut fired_at = Vec::new();
    let mut body = Vec::new();
    for f in firings {
        id.push(f.id.as_str());
        rule.push(f.rule.as_str());
        endpoint.push(f.endpoint.as_str());
        fired_at.push(f.fired_at);
        body.push(f.body.as_str());
    }
    if id.is_empty() {
        return Ok(0);
    }
    tx.execute(
        "INSERT INTO deliveries (id, rule, endpoint, fired_at, body, state, attempts, tries, due_at)
         SELECT u.id, u.rule, u.endpoint, u.fired_at, u.body, 'pending', 0, 0, $6::bigint
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[])
             WITH ORDINALITY AS u(id, rule, endpoint, fired_at, body, ord)
         ORDER BY u.ord
         ON CONFLICT (id) DO NOTHING",
        &[&id, &rule, &endpoint, &fired_at, &body, &now],
    )
    .await
}

const COLUMNS: &str =
    "id, rule, endpoint, fired_at, body, state, attempts, tries, due_at, delivered_at, last_error";

/// A count kept as INTEGER, as the types have it.
fn count(r: &tokio_postgres::Row, i: usize) -> u32 {
    u32::try_from(r.get::<_, i32>(i)).unwrap_or(0)
}

/// A delivery from a row of [`COLUMNS`].
fn delivery(r: &tokio_postgres::Row) -> Result<Delivery, StoreError> {
    let id: String = r.get(0);
    let state: &str = r.get(5);
    let state = DeliveryState::parse(state).ok_or_else(|| {
        StoreError::Corrupt(format!("delivery `{id}` has an unknown state `{state}`"))
    })?;
    Ok(Delivery {
        id,
        rule: r.get(1),
        endpoint: r.get(2),
        fired_at: r.get(3),
        body: r.get(4),
        state,
        attempts: count(r, 6),
        tries: count(r, 7),
        due_at: r.get(8),
        delivered_at: r.get(9),
        last_error: r.get(10),
    })
}

/// See [`touchbase_store::Store::claim_deliveries`].
pub(crate) async fn claim(
    tx: &Transaction<'_>,
    endpoints: &[String],
    now: i64,
    lease_us: i64,
    limit: u32,
    context: &'static str,
) -> Result<Vec<Delivery>, StoreError> {
    let rows = tx
        .query(
            &format!(
                "UPDATE deliveries SET lease_until = $3
                 WHERE seq IN (
                     SELECT seq FROM deliveries
                     WHERE state = 'pending' AND due_at <= $1
                       AND (lease_until IS NULL OR lease_until <= $1)
                       AND endpoint = ANY($2)
                     ORDER BY due_at, seq LIMIT $4
                     FOR UPDATE SKIP LOCKED)
                 RETURNING {COLUMNS}"
            ),
            &[&now, &endpoints, &(now + lease_us), &i64::from(limit)],
        )
        .await
        .map_err(crate::pg(context))?;
    let mut out: Vec<Delivery> = rows.iter().map(delivery).collect::<Result<_, _>>()?;
    out.sort_by(|a, b| a.due_at.cmp(&b.due_at).then_with(|| a.id.cmp(&b.id)));
    Ok(out)
}

/// Records the attempts and moves their deliveries on, in the caller's transaction.
pub(crate) async fn finish(
    tx: &Transaction<'_>,
    finished: &[Finished],
) -> Result<(), tokio_postgres::Error> {
    if finished.is_empty() {
        return Ok(());
    }
    let mut delivery = Vec::new();
    let mut n = Vec::new();
    let mut endpoint = Vec::new();
    let mut at = Vec::new();
    let mut status = Vec::new();
    let mut latency = Vec::new();
    let mut outcome = Vec::new();
    let mut detail = Vec::new();
    for f in finished {
        let a = &f.attempt;
        delivery.push(f.id.as_str());
        n.push(i32::try_from(a.n).unwrap_or(i32::MAX));
        endpoint.push(f.endpoint.as_str());
        at.push(a.at);
        status.push(a.status.map(i32::from));
        latency.push(a.latency_us);
        outcome.push(a.outcome.as_str());
        detail.push(a.detail.as_str());
    }
    tx.execute(
        "INSERT INTO delivery_attempts (delivery, n, endpoint, at, status, latency_us, outcome, detail)
         SELECT * FROM UNNEST($1::text[], $2::int4[], $3::text[], $4::bigint[], $5::int4[],
             $6::bigint[], $7::text[], $8::text[])
         ON CONFLICT (delivery, n) DO NOTHING",
        &[
            &delivery, &n, &endpoint, &at, &status, &latency, &outcome, &detail,
        ],
    )
    .await?;

    // One statement per round, each delivery at most once in a round: a delivery finished
    // twice in the batch moves on twice, in order.
    let mut rounds: Vec<Vec<&Finished>> = Vec::new();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for f in finished {
        let round = seen.entry(f.id.as_str()).or_insert(0);
        if rounds.len() <= *round {
            rounds.push(Vec::new());
        }
        rounds[*round].push(f);
        *round += 1;
    }
    for round in rounds {
        let mut id = Vec::new();
        let mut state = Vec::new();
        let mut due_at = Vec::new();
        let mut delivered_at = Vec::new();
        let mut error = Vec::new();
        for f in round {
            let a = &f.attempt;
            let (s, due, delivered, e) = match f.next {
                Next::Delivered => ("delivered", a.at, Some(a.at), None),
                Next::Retry(due) => ("pending", due, None, Some(a.detail.as_str())),
                Next::Dead => ("dead", a.at, None, Some(a.detail.as_str())),
            };
            id.push(f.id.as_str());
            state.push(s);
            due_at.push(due);
            delivered_at.push(delivered);
            error.push(e);
        }
        tx.execute(
            "UPDATE deliveries d SET attempts = d.attempts + 1, tries = d.tries + 1,
                 lease_until = NULL, state = u.state, due_at = u.due_at,
                 delivered_at = COALESCE(u.delivered_at, d.delivered_at), last_error = u.error
             FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::text[])
                 AS u(id, state, due_at, delivered_at, error)
             WHERE d.id = u.id",
            &[&id, &state, &due_at, &delivered_at, &error],
        )
        .await?;
    }
    Ok(())
}

/// See [`touchbase_store::Store::next_due`].
pub(crate) async fn next_due(
    client: &impl GenericClient,
    endpoints: &[String],
) -> Result<Option<i64>, tokio_postgres::Error> {
    Ok(client
        .query_one(
            // The least due per endpoint, each an index probe (a lease is not looked at: the
            // dispatcher waits a little at least before it claims again).
            "SELECT MIN(d.due_at) FROM UNNEST($1::text[]) AS e(key),
                 LATERAL (SELECT MIN(due_at) AS due_at FROM deliveries
                          WHERE state = 'pending' AND endpoint = e.key) AS d",
            &[&endpoints],
        )
        .await?
        .get(0))
}

/// A filter's parameters, owned.
struct Filter {
    state: Option<String>,
    rule: Option<String>,
    endpoint: Option<String>,
    since: Option<i64>,
}

impl Filter {
    fn of(f: &DeliveryFilter) -> Filter {
        Filter {
            state: f.state.map(|s| s.as_str().to_owned()),
            rule: f.rule.clone(),
            endpoint: f.endpoint.clone(),
            since: f.since,
        }
    }

    /// The WHERE clause (empty when nothing is filtered) and its parameters, numbered from
    /// `first`.
    fn sql(&self, first: usize) -> (String, Vec<&(dyn ToSql + Sync)>) {
        let mut clauses = Vec::new();
        let mut args: Vec<&(dyn ToSql + Sync)> = Vec::new();
        if let Some(s) = &self.state {
            args.push(s);
            clauses.push(format!("state = ${}", first + args.len() - 1));
        }
        if let Some(r) = &self.rule {
            args.push(r);
            clauses.push(format!("rule = ${}", first + args.len() - 1));
        }
        if let Some(e) = &self.endpoint {
            args.push(e);
            clauses.push(format!("endpoint = ${}", first + args.len() - 1));
        }
        if let Some(t) = &self.since {
            args.push(t);
            clauses.push(format!("fired_at >= ${}", first + args.len() - 1));
        }
        let sql = if clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", clauses.join(" AND "))
        };
        (sql, args)
    }
}

/// See [`touchbase_store::Store::deliveries`].
pub(crate) async fn list(
    client: &impl GenericClient,
    f: &DeliveryFilter,
    context: &'static str,
) -> Result<Vec<Delivery>, StoreError> {
    let filter = Filter::of(f);
    let (clause, args) = filter.sql(1);
    let limit = f.limit.map_or(String::new(), |n| format!(" LIMIT {n}"));
    let rows = client
        .query(
            &format!(
                "SELECT {COLUMNS} FROM deliveries {clause} ORDER BY fired_at DESC, seq DESC{limit}"
            ),
            &args,
        )
        .await
        .map_err(crate::pg(context))?;
    rows.iter().map(delivery).collect()
}

/// See [`touchbase_store::Store::delivery`].
pub(crate) async fn one(
    client: &impl GenericClient,
    id: &str,
    context: &'static str,
) -> Result<Option<(Delivery, Vec<Attempt>)>, StoreError> {
    let Some(found) = client
        .query_opt(
            &format!("SELECT {COLUMNS} FROM deliveries WHERE id = $1"),
            &[&id],
        )
        .await
        .map_err(crate::pg(context))?
    else {
        return Ok(None);
    };
    let found = delivery(&found)?;
    let attempts = client
        .query(
            "SELECT n, at, status, latency_us, outcome, detail FROM delivery_attempts
             WHERE delivery = $1 ORDER BY n",
            &[&id],
        )
        .await
        .map_err(crate::pg(context))?
        .iter()
        .map(|r| {
            let status: Option<i32> = r.get(2);
            Attempt {
                n: count(r, 0),
                at: r.get(1),
                status: status.and_then(|s| u16::try_from(s).ok()),
                latency_us: r.get(3),
                outcome: r.get(4),
                detail: r.get(5),
            }
        })
        .collect();
    Ok(Some((found, attempts)))
}

/// See [`touchbase_store::Store::replay_deliveries`]: one statement, atomic.
pub(crate) async fn replay(
    client: &impl GenericClient,
    ids: &[String],
    f: &DeliveryFilter,
    now: i64,
) -> Result<u64, tokio_postgres::Error> {
    if ids.is_empty() {
        let filter = Filter::of(f);
        let (clause, mut args) = filter.sql(2);
        args.insert(0, &now);
        client
            .execute(
                &format!(
                    "UPDATE deliveries SET state = 'pending', tries = 0, due_at = $1,
                         lease_until = NULL {clause}"
                ),
                &args,
            )
            .await
    } else {
        let replayed: HashSet<String> = client
            .query(
                "UPDATE deliveries SET state = 'pending', tries = 0, due_at = $2,
                     lease_until = NULL
                 WHERE id = ANY($1) RETURNING id",
                &[&ids, &now],
            )
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        // Each id named counts, as one statement per id would.
        Ok(ids.iter().filter(|id| replayed.contains(*id)).count() as u64)
    }
}

/// See [`touchbase_store::Store::failing_since`].
pub(crate) async fn failing_since(
    client: &impl GenericClient,
    endpoint: &str,
) -> Result<Option<i64>, tokio_postgres::Error> {
    Ok(client
        .query_one(
            // Every attempt after the last delivered one failed: the first of them, by index
            // probes.
            "SELECT MIN(at) FROM delivery_attempts
             WHERE endpoint = $1
               AND at > COALESCE((SELECT MAX(at) FROM delivery_attempts
                                  WHERE endpoint = $1 AND outcome = 'delivered'),
                                 -9223372036854775808)",
            &[&endpoint],
        )
        .await?
        .get(0))
}

/// See [`touchbase_store::Store::feed_counts`].
pub(crate) async fn counts(
    client: &impl GenericClient,
) -> Result<Vec<FeedCount>, tokio_postgres::Error> {
    // Byte order (the "C" collation), as SQLite compares text, whatever the database's.
    let rows = client
        .query(
            r#"SELECT d.rule, d.endpoint, COUNT(*),
                   COUNT(*) FILTER (WHERE d.state = 'delivered'),
                   COUNT(*) FILTER (WHERE d.state = 'pending'),
                   COUNT(*) FILTER (WHERE d.state = 'dead'),
                   COALESCE(SUM(r.n), 0)::bigint
               FROM deliveries d
               LEFT JOIN (SELECT delivery, COUNT(*) AS n FROM delivery_attempts
                          WHERE outcome = 'retry' GROUP BY delivery) r ON r.delivery = d.id
               GROUP BY d.rule, d.endpoint
               ORDER BY d.rule COLLATE "C", d.endpoint COLLATE "C""#,
            &[],
        )
        .await?;
    let n = |r: &tokio_postgres::Row, i: usize| r.get::<_, i64>(i) as u64;
    Ok(rows
        .iter()
        .map(|r| FeedCount {
            rule: r.get(0),
            endpoint: r.get(1),
            fired: n(r, 2),
            delivered: n(r, 3),
            pending: n(r, 4),
            dead: n(r, 5),
            retried: n(r, 6),
        })
        .collect())
}

/// See [`touchbase_store::Store::events_of_day`].
pub(crate) async fn events_of_day(
    client: &impl GenericClient,
    day: i64,
) -> Result<Vec<Event>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT id, point, at, party, channel, intent, satisfaction, knowledge, resolved,
                    engaged, value_company, value_party, cost, duration_s, data, vars
             FROM events WHERE day = $1 AND NOT held",
            &[&day],
        )
        .await?;
    let mut events: Vec<Event> = rows
        .iter()
        .map(|r| {
            let satisfaction: Option<i64> = r.get(6);
            Event {
                id: r.get(0),
                point: r.get(1),
                at: r.get(2),
                party: r.get(3),
                channel: r.get(4),
                outcomes: Outcomes {
                    intent: r.get(5),
                    satisfaction: satisfaction.and_then(|s| u8::try_from(s).ok()),
                    knowledge: r.get(7),
                    resolved: r.get(8),
                    engaged: r.get(9),
                },
                value_company: r.get(10),
                value_party: r.get(11),
                cost: r.get(12),
                duration_s: r.get(13),
                data: r.get(14),
                vars: r.get(15),
            }
        })
        .collect();
    events.sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
    Ok(events)
}
