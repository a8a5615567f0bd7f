//! Writing events, rejects and rollups: a batch in a few statements (arrays through `UNNEST`),
//! not a round trip per event.

use std::collections::{BTreeMap, HashMap, HashSet};

use bytes::{BufMut, BytesMut};
use futures_util::SinkExt;
use tokio_postgres::Transaction;
use touchbase_core::event::{Checked, Event, NewReject, Outcomes, Written};
use touchbase_store::StoreError;
use touchbase_store::rollup::{self, Tally};

use crate::pg;

const CONTEXT: &str = "writing events";

/// How a batch's new events go in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Path {
    /// Straight in by binary `COPY`, the keys not looked up: the fastest, for events that are
    /// new (a bulk import). An event whose key is on record makes the `COPY` fail (see
    /// [`raced`]): the batch is then written again on [`Path::Careful`].
    Copy,
    /// The keys looked up first, and the events none of whose keys is on record written by
    /// binary `COPY`: for batches where some events are known. A concurrent writer that
    /// commits one of those keys in between makes the `COPY` fail as above.
    LookUpThenCopy,
    /// `INSERT … ON CONFLICT DO NOTHING`: right whatever other writers do, slower per event.
    Careful,
}

/// A batch written: what became of each event, and whether any of them had its key on
/// record already (the next batch had better look its keys up first).
#[derive(Debug)]
pub(crate) struct Outcome {
    pub written: Vec<Written>,
    pub met_known: bool,
}

/// Why a batch was not written: PostgreSQL's error, or a rollup's sum refused before it was
/// sent (a sum of the rows beyond a float PostgreSQL refuses itself: `value out of range`).
#[derive(Debug)]
pub(crate) enum WriteError {
    Pg(tokio_postgres::Error),
    Sum(rollup::NonFiniteSum),
    /// PostgreSQL refused a rollup row's sum (`value out of range: overflow`).
    Overflow(tokio_postgres::Error),
}

impl From<tokio_postgres::Error> for WriteError {
    fn from(e: tokio_postgres::Error) -> Self {
        WriteError::Pg(e)
    }
}

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WriteError::Pg(e) | WriteError::Overflow(e) => e.fmt(f),
            WriteError::Sum(e) => e.fmt(f),
        }
    }
}

impl WriteError {
    pub(crate) fn into_store(self, context: &str) -> StoreError {
        match self {
            WriteError::Pg(e) => pg(context)(e),
            WriteError::Sum(e) => StoreError::backend(context, e),
            WriteError::Overflow(e) => StoreError::backend(
                context,
                format!(
                    "a rollup's sum would go beyond what a 64-bit float holds (PostgreSQL: {}): \
                     nothing was written. The wire format bounds each value to 10^12, so only \
                     events recorded before that bound can do this: correct or remove them",
                    e.as_db_error().map_or("overflow", |d| d.message())
                ),
            ),
        }
    }
}

/// Writes a batch (see [`touchbase_store::Store::write_events`]).
pub(crate) async fn write(
    tx: &Transaction<'_>,
    events: &[Checked],
    rejects: &[NewReject],
    received_at: i64,
    path: Path,
) -> Result<Outcome, WriteError> {
    let keys: Vec<(i64, i64)> = events
        .iter()
        .map(|c| (rollup::day_of(c.event.at), c.key()))
        .collect();
    // The first of each (day, id) in the batch is a candidate; a later one is a duplicate.
    // Candidates go in one statement, in (day, key) order so that concurrent writers take
    // their locks in one order; a candidate whose key is taken is settled after.
    let mut written = vec![Written::Duplicate; events.len()];
    let mut seen: HashSet<(i64, &str)> = HashSet::new();
    let mut by_key: HashMap<(i64, i64), usize> = HashMap::new();
    let mut bulk = Vec::new();
    let mut settle = Vec::new();
    for (i, c) in events.iter().enumerate() {
        match by_key.entry(keys[i]) {
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(i);
                bulk.push(i);
            }
            // The same id has the same key: a (day, id) seen before is the first of its key's
            // or among those settled after.
            std::collections::hash_map::Entry::Occupied(first) => {
                let id = c.event.id.as_str();
                if events[*first.get()].event.id != id && seen.insert((keys[i].0, id)) {
                    settle.push(i);
                }
            }
        }
    }
    bulk.sort_by_key(|&i| keys[i]);
    let inserted: HashSet<(i64, i64)> = match path {
        Path::Copy => {
            copy_events(tx, events, &keys, &bulk, received_at).await?;
            bulk.iter().map(|&i| keys[i]).collect()
        }
        Path::LookUpThenCopy => {
            let taken = holders(tx, &keys, &bulk).await?;
            let fresh: Vec<usize> = bulk
                .iter()
                .copied()
                .filter(|i| !taken.contains_key(&keys[*i]))
                .collect();
            copy_events(tx, events, &keys, &fresh, received_at).await?;
            fresh.iter().map(|&i| keys[i]).collect()
        }
        Path::Careful => {
            let rows = Rows::of(events, &keys, &bulk, received_at, true);
            tx.query(INSERT_EVENTS, &rows.params())
                .await?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect()
        }
    };
    let mut met_known = false;
    for &i in &bulk {
        if inserted.contains(&keys[i]) {
            written[i] = fresh(&events[i]);
        } else {
            met_known = true;
            settle.push(i);
        }
    }
    settle.sort_by_key(|&i| keys[i]);
    settle_taken(tx, events, &keys, &settle, received_at, &mut written).await?;

    let counted = events
        .iter()
        .zip(&written)
        .filter(|(_, w)| **w == Written::Accepted)
        .map(|(c, _)| (&c.event, c.conformance.conforms));
    add_tallies(tx, rollup::tally(counted).map_err(WriteError::Sum)?).await?;
    insert_rejects(tx, rejects, received_at).await?;
    Ok(Outcome { written, met_known })
}

/// Whether a write by `COPY` failed because a key was on record (or was committed by another
/// writer in the meantime), or because it and another writer waited on each other: nothing of
/// it is kept, and the batch is written again on [`Path::Careful`].
pub(crate) fn raced(e: &WriteError) -> bool {
    use tokio_postgres::error::SqlState;
    let WriteError::Pg(e) = e else {
        return false;
    };
    e.code()
        .is_some_and(|c| *c == SqlState::UNIQUE_VIOLATION || *c == SqlState::T_R_DEADLOCK_DETECTED)
}

/// The ids on record under the (day, key)s of the events at `which`.
async fn holders(
    tx: &Transaction<'_>,
    keys: &[(i64, i64)],
    which: &[usize],
) -> Result<HashMap<(i64, i64), String>, tokio_postgres::Error> {
    if which.is_empty() {
        return Ok(HashMap::new());
    }
    let days: Vec<i64> = which.iter().map(|&i| keys[i].0).collect();
    let ks: Vec<i64> = which.iter().map(|&i| keys[i].1).collect();
    Ok(tx
        .query(
            "SELECT e.day, e.key, e.id FROM events e
             JOIN UNNEST($1::bigint[], $2::bigint[]) AS t(day, key) ON e.day = t.day AND e.key = t.key",
            &[&days, &ks],
        )
        .await?
        .iter()
        .map(|r| ((r.get(0), r.get(1)), r.get(2)))
        .collect())
}

/// What a newly written event became.
fn fresh(checked: &Checked) -> Written {
    if checked.held {
        Written::Held
    } else {
        Written::Accepted
    }
}

/// Settles the candidates whose (day, key) was taken: by the same id (a duplicate), or by
/// another id with the same key (rare: then kept unkeyed, unless already kept so).
async fn settle_taken(
    tx: &Transaction<'_>,
    events: &[Checked],
    keys: &[(i64, i64)],
    settle: &[usize],
    received_at: i64,
    written: &mut [Written],
) -> Result<(), tokio_postgres::Error> {
    if settle.is_empty() {
        return Ok(());
    }
    let holders = holders(tx, keys, settle).await?;
    for &i in settle {
        let holder = holders.get(&keys[i]);
        if holder.is_none_or(|id| *id == events[i].event.id) {
            // Taken by the same id (in the store, or earlier in this batch).
            continue;
        }
        let rows = Rows::of(events, keys, &[i], received_at, false);
        let kept = tx.query(INSERT_EVENTS, &rows.params()).await?;
        if !kept.is_empty() {
            written[i] = fresh(&events[i]);
        }
    }
    Ok(())
}

/// The columns [`copy_events`] writes, in order.
const COPY_EVENTS: &str = "COPY events (day, key, id, point, at, party, channel, intent,
        satisfaction, knowledge, resolved, engaged, value_company, value_party, cost, duration_s,
        data, vars, conforms, failures, held, received_at) FROM STDIN (FORMAT binary)";

/// How many bytes of `COPY` data are sent at a time: few hand-overs to the connection.
const COPY_CHUNK: usize = 256 * 1024;

/// Writes the events at `which` under their keys by binary `COPY`, in the order given. The
/// rows are encoded straight from the events (no copy of their strings, `data` and `vars`
/// serialized into the buffer sent).
async fn copy_events(
    tx: &Transaction<'_>,
    events: &[Checked],
    keys: &[(i64, i64)],
    which: &[usize],
    received_at: i64,
) -> Result<(), tokio_postgres::Error> {
    if which.is_empty() {
        return Ok(());
    }
    let sink = tx.copy_in(COPY_EVENTS).await?;
    let mut sink = std::pin::pin!(sink);
    let mut rows = CopyRows::new();
    for &i in which {
        let c = &events[i];
        let e = &c.event;
        let o = &e.outcomes;
        let r = &mut rows;
        r.row(22);
        r.int(Some(keys[i].0));
        r.int(Some(keys[i].1));
        r.text(Some(&e.id));
        r.text(Some(&e.point));
        r.int(Some(e.at));
        r.text(e.party.as_deref());
        r.text(e.channel.as_deref());
        r.text(o.intent.as_deref());
        r.int(o.satisfaction.map(i64::from));
        r.bool(o.knowledge);
        r.bool(o.resolved);
        r.bool(o.engaged);
        r.float(Some(e.value_company));
        r.float(Some(e.value_party));
        r.float(Some(e.cost));
        r.float(e.duration_s);
        r.text(e.data.as_deref());
        r.text(e.vars.as_deref());
        r.bool(Some(c.conformance.conforms));
        r.json((!c.conformance.failures.is_empty()).then_some(&c.conformance.failures));
        r.bool(Some(c.held));
        r.int(Some(received_at));
        if rows.0.len() >= COPY_CHUNK {
            sink.send(rows.0.split().freeze()).await?;
        }
    }
    rows.end();
    sink.send(rows.0.freeze()).await?;
    sink.as_mut().finish().await?;
    Ok(())
}

/// Rows in PostgreSQL's binary `COPY` format, written field by field.
struct CopyRows(BytesMut);

impl CopyRows {
    /// The format's header.
    fn new() -> CopyRows {
        let mut buf = BytesMut::with_capacity(COPY_CHUNK + 64 * 1024);
        buf.put_slice(b"PGCOPY\n\xff\r\n\0");
        buf.put_i32(0); // flags
        buf.put_i32(0); // header extension
        CopyRows(buf)
    }

    /// A row of `fields` fields follows.
    fn row(&mut self, fields: i16) {
        self.0.put_i16(fields);
    }

    fn null(&mut self) {
        self.0.put_i32(-1);
    }

    fn int(&mut self, v: Option<i64>) {
        match v {
            Some(v) => {
                self.0.put_i32(8);
                self.0.put_i64(v);
            }
            None => self.null(),
        }
    }

    fn float(&mut self, v: Option<f64>) {
        match v {
            Some(v) => {
                self.0.put_i32(8);
                self.0.put_f64(v);
            }
            None => self.null(),
        }
    }

    fn bool(&mut self, v: Option<bool>) {
        match v {
            Some(v) => {
                self.0.put_i32(1);
                self.0.put_u8(u8::from(v));
            }
            None => self.null(),
        }
    }

    fn text(&mut self, v: Option<&str>) {
        match v {
            Some(v) => {
                self.0.put_i32(field_len(v.len()));
                self.0.put_slice(v.as_bytes());
            }
            None => self.null(),
        }
    }

    /// A value's JSON text, serialized in place.
    fn json(&mut self, v: Option<&impl serde::Serialize>) {
        let Some(v) = v else {
            return self.null();
        };
        let at = self.0.len();
        self.0.put_i32(0);
        // Into memory, of a value (a JSON document or strings): cannot fail.
        let _ = serde_json::to_writer((&mut self.0).writer(), v);
        let len = field_len(self.0.len() - at - 4);
        self.0[at..at + 4].copy_from_slice(&len.to_be_bytes());
    }

    /// The format's trailer.
    fn end(&mut self) {
        self.0.put_i16(-1);
    }
}

/// A field's length as the format writes it; PostgreSQL refuses a text over 1 GB anyway.
fn field_len(len: usize) -> i32 {
    i32::try_from(len).unwrap_or(i32::MAX)
}

/// A batch of events as columns, for `UNNEST`.
#[derive(Default)]
struct Rows {
    day: Vec<i64>,
    key: Vec<Option<i64>>,
    id: Vec<String>,
    point: Vec<String>,
    at: Vec<i64>,
    party: Vec<Option<String>>,
    channel: Vec<Option<String>>,
    intent: Vec<Option<String>>,
    satisfaction: Vec<Option<i64>>,
    knowledge: Vec<Option<bool>>,
    resolved: Vec<Option<bool>>,
    engaged: Vec<Option<bool>>,
    value_company: Vec<f64>,
    value_party: Vec<f64>,
    cost: Vec<f64>,
    duration_s: Vec<Option<f64>>,
    data: Vec<Option<String>>,
    vars: Vec<Option<String>>,
    conforms: Vec<bool>,
    failures: Vec<Option<String>>,
    held: Vec<bool>,
    received_at: i64,
}

impl Rows {
    /// The events at `which`, under their keys (`keyed`) or unkeyed.
    fn of(
        events: &[Checked],
        keys: &[(i64, i64)],
        which: &[usize],
        received_at: i64,
        keyed: bool,
    ) -> Rows {
        let mut rows = Rows {
            received_at,
            ..Rows::default()
        };
        for &i in which {
            let c = &events[i];
            let e = &c.event;
            let o = &e.outcomes;
            rows.day.push(keys[i].0);
            rows.key.push(keyed.then_some(keys[i].1));
            rows.id.push(e.id.clone());
            rows.point.push(e.point.clone());
            rows.at.push(e.at);
            rows.party.push(e.party.clone());
            rows.channel.push(e.channel.clone());
            rows.intent.push(o.intent.clone());
            rows.satisfaction.push(o.satisfaction.map(i64::from));
            rows.knowledge.push(o.knowledge);
            rows.resolved.push(o.resolved);
            rows.engaged.push(o.engaged);
            rows.value_company.push(e.value_company);
            rows.value_party.push(e.value_party);
            rows.cost.push(e.cost);
            rows.duration_s.push(e.duration_s);
            rows.data.push(e.data.clone());
            rows.vars.push(e.vars.clone());
            rows.conforms.push(c.conformance.conforms);
            rows.failures.push(
                (!c.conformance.failures.is_empty())
                    .then(|| serde_json::to_string(&c.conformance.failures).unwrap_or_default()),
            );
            rows.held.push(c.held);
        }
        rows
    }

    /// The statement's parameters, in [`INSERT_EVENTS`]'s order.
    fn params(&self) -> [&(dyn tokio_postgres::types::ToSql + Sync); 22] {
        [
            &self.day,
            &self.key,
            &self.id,
            &self.point,
            &self.at,
            &self.party,
            &self.channel,
            &self.intent,
            &self.satisfaction,
            &self.knowledge,
            &self.resolved,
            &self.engaged,
            &self.value_company,
            &self.value_party,
            &self.cost,
            &self.duration_s,
            &self.data,
            &self.vars,
            &self.conforms,
            &self.failures,
            &self.held,
            &self.received_at,
        ]
    }
}

/// Writes events given as arrays, skipping those whose (day, key) or unkeyed (day, id) is
/// taken; returns the (day, key) of those written.
const INSERT_EVENTS: &str = "INSERT INTO events (day, key, id, point, at, party, channel, intent,
        satisfaction, knowledge, resolved, engaged, value_company, value_party, cost, duration_s,
        data, vars, conforms, failures, held, received_at)
    SELECT u.*, $22::bigint FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::text[],
        $5::bigint[], $6::text[], $7::text[], $8::text[], $9::bigint[], $10::boolean[],
        $11::boolean[], $12::boolean[], $13::float8[], $14::float8[], $15::float8[],
        $16::float8[], $17::text[], $18::text[], $19::boolean[], $20::text[], $21::boolean[]) AS u
    ON CONFLICT DO NOTHING
    RETURNING day, key";

/// Adds each (point, day)'s tally to its rollup row, in (point, day) order.
pub(crate) async fn add_to_rollups(
    tx: &Transaction<'_>,
    days: BTreeMap<(String, i64), Tally>,
) -> Result<(), StoreError> {
    add_tallies(tx, days)
        .await
        .map_err(|e| e.into_store(CONTEXT))
}

/// [`add_to_rollups`], with PostgreSQL's error as it is (a row's sum beyond a float apart).
async fn add_tallies(
    tx: &Transaction<'_>,
    days: BTreeMap<(String, i64), Tally>,
) -> Result<(), WriteError> {
    if days.is_empty() {
        return Ok(());
    }
    let count = |v: u64| v as i64;
    let mut point = Vec::new();
    let mut day = Vec::new();
    let mut n = Vec::new();
    let mut value_company = Vec::new();
    let mut value_party = Vec::new();
    let mut cost = Vec::new();
    let mut counts: [Vec<i64>; 9] = Default::default();
    for ((p, d), t) in days {
        point.push(p);
        day.push(d);
        n.push(count(t.n));
        value_company.push(t.value_company);
        value_party.push(t.value_party);
        cost.push(t.cost);
        for (column, v) in counts.iter_mut().zip([
            t.intent_n,
            t.satisfaction_n,
            t.satisfaction_sum,
            t.csat_n,
            t.knowledge_n,
            t.resolved_n,
            t.resolved_true_n,
            t.engaged_n,
            t.conforms_n,
        ]) {
            column.push(count(v));
        }
    }
    let [
        intent,
        satisfaction,
        satisfaction_sum,
        csat,
        knowledge,
        resolved,
        resolved_true,
        engaged,
        conforms,
    ] = &counts;
    tx.execute(
        ROLLUP_ADD,
        &[
            &point,
            &day,
            &n,
            &value_company,
            &value_party,
            &cost,
            intent,
            satisfaction,
            satisfaction_sum,
            csat,
            knowledge,
            resolved,
            resolved_true,
            engaged,
            conforms,
        ],
    )
    .await
    .map_err(|e| {
        if e.code() == Some(&tokio_postgres::error::SqlState::NUMERIC_VALUE_OUT_OF_RANGE) {
            WriteError::Overflow(e)
        } else {
            WriteError::Pg(e)
        }
    })?;
    Ok(())
}

/// Adds tallies given as arrays to their points' days.
const ROLLUP_ADD: &str = "INSERT INTO rollup_daily AS r (point, day, n, value_company, value_party,
        cost, intent_n, satisfaction_n, satisfaction_sum, csat_n, knowledge_n, resolved_n,
        resolved_true_n, engaged_n, conforms_n)
    SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::bigint[], $4::float8[], $5::float8[],
        $6::float8[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[],
        $12::bigint[], $13::bigint[], $14::bigint[], $15::bigint[])
    ON CONFLICT (point, day) DO UPDATE SET
        n = r.n + excluded.n,
        value_company = r.value_company + excluded.value_company,
        value_party = r.value_party + excluded.value_party,
        cost = r.cost + excluded.cost,
        intent_n = r.intent_n + excluded.intent_n,
        satisfaction_n = r.satisfaction_n + excluded.satisfaction_n,
        satisfaction_sum = r.satisfaction_sum + excluded.satisfaction_sum,
        csat_n = r.csat_n + excluded.csat_n,
        knowledge_n = r.knowledge_n + excluded.knowledge_n,
        resolved_n = r.resolved_n + excluded.resolved_n,
        resolved_true_n = r.resolved_true_n + excluded.resolved_true_n,
        engaged_n = r.engaged_n + excluded.engaged_n,
        conforms_n = r.conforms_n + excluded.conforms_n";

/// Keeps rejected inputs; one already on record (by its text) is not kept twice.
pub(crate) async fn insert_rejects(
    tx: &Transaction<'_>,
    rejects: &[NewReject],
    received_at: i64,
) -> Result<(), tokio_postgres::Error> {
    if rejects.is_empty() {
        return Ok(());
    }
    let source: Vec<&str> = rejects.iter().map(|r| r.source.as_str()).collect();
    let raw: Vec<&str> = rejects.iter().map(|r| r.raw.as_str()).collect();
    let digest: Vec<String> = rejects.iter().map(NewReject::digest).collect();
    let reasons: Vec<String> = rejects
        .iter()
        .map(|r| serde_json::to_string(&r.reasons).unwrap_or_default())
        .collect();
    let replayable: Vec<bool> = rejects.iter().map(|r| r.replayable).collect();
    // Kept only for a reject cut to its head; the others' length is raw's.
    let length: Vec<Option<i64>> = rejects
        .iter()
        .map(|r| (r.length > r.raw.len() as u64).then_some(r.length as i64))
        .collect();
    tx.execute(
        "INSERT INTO rejects (received_at, source, raw, digest, reasons, replayable, length)
         SELECT $1::bigint, u.* FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[], $6::boolean[], $7::bigint[]) AS u
         ON CONFLICT (digest) DO NOTHING",
        &[&received_at, &source, &raw, &digest, &reasons, &replayable, &length],
    )
    .await?;
    Ok(())
}

/// Counts a point's held events: in the caller's transaction they stop being held, and their
/// tallies (in (at, id) order) enter the rollups. A concurrent release of the same point
/// waits on the rows, then finds nothing held.
pub(crate) async fn release(tx: &Transaction<'_>, point: &str) -> Result<u64, StoreError> {
    let mut released: Vec<(Event, bool)> = tx
        .query(
            &format!(
                "UPDATE events SET held = false WHERE held AND point = $1 RETURNING {ROLLUP_COLUMNS}"
            ),
            &[&point],
        )
        .await
        .map_err(pg("releasing held events"))?
        .iter()
        .map(counted_event)
        .collect();
    released.sort_by(|a, b| (a.0.at, &a.0.id).cmp(&(b.0.at, &b.0.id)));
    let days = rollup::tally(released.iter().map(|(e, c)| (e, *c)))
        .map_err(|e| StoreError::backend("releasing held events", e))?;
    add_to_rollups(tx, days).await?;
    Ok(released.len() as u64)
}

/// The columns of an event that its rollup needs, as [`counted_event`] reads them.
pub(crate) const ROLLUP_COLUMNS: &str = "id, point, at, intent, satisfaction, knowledge,
    resolved, engaged, value_company, value_party, cost, conforms";

/// An event as far as its rollup needs it (a row of [`ROLLUP_COLUMNS`]), and whether it
/// conforms.
pub(crate) fn counted_event(r: &tokio_postgres::Row) -> (Event, bool) {
    let satisfaction: Option<i64> = r.get(4);
    (
        Event {
            id: r.get(0),
            point: r.get(1),
            at: r.get(2),
            party: None,
            channel: None,
            outcomes: Outcomes {
                intent: r.get(3),
                satisfaction: satisfaction.and_then(|s| u8::try_from(s).ok()),
                knowledge: r.get(5),
                resolved: r.get(6),
                engaged: r.get(7),
            },
            value_company: r.get(8),
            value_party: r.get(9),
            cost: r.get(10),
            duration_s: None,
            data: None,
            vars: None,
        },
        r.get(11),
    )
}
