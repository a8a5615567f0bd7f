//! Taking interaction events in (R9): decode → check → write, the same for every path (HTTP,
//! files, MQTT). A broken input is never dropped: it goes to the rejects with its reasons and
//! can be replayed once the cause is fixed. Events at points that are not live are held (R8).

use serde::Serialize;
use touchbase_core::event::{self, Checked, Checker, Disposition, NewReject, Written};
use touchbase_core::{Actor, Inventory, Permission};

use crate::{OpError, Store, StoreError, Versioned};

/// One input: the text of one event (a line of NDJSON, an element of a JSON array, a row of
/// CSV as JSON).
#[derive(Debug, Clone)]
pub struct Input {
    pub raw: String,
    /// Where it came from, for the rejects: `http`, `file:events.ndjson:12`, …
    pub source: String,
    /// Why the source could not read it as the text of an event, when it already knows (a line
    /// that is not UTF-8, a CSV row with the wrong number of cells): the input is rejected with
    /// this reason, not decoded.
    pub unreadable: Option<String>,
}

impl Input {
    pub fn new(raw: impl Into<String>, source: impl Into<String>) -> Input {
        Input {
            raw: raw.into(),
            source: source.into(),
            unreadable: None,
        }
    }

    /// An input the source could not read: `raw` is what it has of it (e.g. the text with
    /// invalid bytes replaced), `reason` why it is rejected.
    pub fn unreadable(
        raw: impl Into<String>,
        source: impl Into<String>,
        reason: impl Into<String>,
    ) -> Input {
        Input {
            raw: raw.into(),
            source: source.into(),
            unreadable: Some(reason.into()),
        }
    }
}

/// What became of one input.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Outcome {
    pub status: Status,
    /// The event's id (absent when it could not be read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Why it was rejected, each with its field and rule.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = EventStatus))]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Accepted,
    Duplicate,
    Held,
    Rejected,
}

/// Counts of a batch or a whole import.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Summary {
    pub accepted: u64,
    pub duplicates: u64,
    pub held: u64,
    pub rejected: u64,
}

impl Summary {
    pub fn add(&mut self, outcomes: &[Outcome]) {
        for o in outcomes {
            match o.status {
                Status::Accepted => self.accepted += 1,
                Status::Duplicate => self.duplicates += 1,
                Status::Held => self.held += 1,
                Status::Rejected => self.rejected += 1,
            }
        }
    }

    pub fn total(&self) -> u64 {
        self.accepted + self.duplicates + self.held + self.rejected
    }
}

/// The current instant in microseconds since the epoch.
pub fn now_us() -> i64 {
    jiff::Timestamp::now().as_microsecond()
}

/// The inventory's rules for events, compiled once for many batches, at the store's version
/// they were read at.
pub async fn checker(store: &dyn Store) -> Result<Versioned<Checker>, OpError> {
    let Versioned { version, value } = crate::load(store).await?;
    let inventory = value
        .inventory
        .unwrap_or_else(|| Inventory::new(touchbase_core::Organization::named("-")));
    Ok(Versioned {
        version,
        value: Checker::new(&inventory),
    })
}

/// The inputs that became events, each with its index among the inputs.
type Good = Vec<(usize, Checked)>;
/// The inputs that broke a rule, each with its index and its reasons.
type Bad = Vec<(usize, Vec<String>)>;

/// Decodes and checks inputs: the events to write and, for the others, their reasons.
fn prepare(checker: &Checker, inputs: &[Input], now: i64) -> (Good, Bad) {
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        if let Some(reason) = &input.unreadable {
            bad.push((i, vec![reason.clone()]));
            continue;
        }
        let decoded = match event::read(&input.raw, now) {
            Ok(d) => d,
            Err(problems) => {
                bad.push((i, problems.iter().map(ToString::to_string).collect()));
                continue;
            }
        };
        match checker.check(&decoded) {
            (Disposition::Rejected(problems), _) => {
                bad.push((i, problems.iter().map(ToString::to_string).collect()));
            }
            (disposition, conformance) => {
                let held = disposition == Disposition::Held;
                let firings = checker.fire(&decoded.event, held, now);
                let captures = checker.captures(&decoded, held);
                let mut checked = Checked::new(decoded.event, held, conformance);
                checked.firings = firings;
                checked.captures = captures;
                good.push((i, checked));
            }
        }
    }
    (good, bad)
}

/// A batch decoded and checked, ready to be written by [`commit`].
#[derive(Debug)]
pub struct Prepared {
    now: i64,
    /// The store's version the checker was read at.
    version: u64,
    len: usize,
    /// The events, each with the index of its input.
    events: Vec<Checked>,
    positions: Vec<usize>,
    rejects: Vec<NewReject>,
    bad: Bad,
}

impl Prepared {
    /// Adds deliveries to the events of this batch, by event id: written in the event's own
    /// transaction if it is new, like the deliveries its rules fire. Returns the ids of the
    /// events not in the batch (rejected).
    pub fn add_firings(
        &mut self,
        mut firings: std::collections::HashMap<String, Vec<touchbase_core::rules::Firing>>,
    ) -> Vec<String> {
        for checked in &mut self.events {
            if let Some(more) = firings.remove(&checked.event.id) {
                checked.firings.extend(more);
            }
        }
        firings.into_keys().collect()
    }

    /// How many inputs the batch holds.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds the inputs of `other` (prepared with the same checker) after this batch's, to be
    /// written in the same transaction.
    pub fn join(&mut self, other: Prepared) {
        debug_assert_eq!(self.version, other.version, "batches of two checkers");
        let offset = self.len;
        self.len += other.len;
        self.events.extend(other.events);
        self.positions
            .extend(other.positions.into_iter().map(|i| i + offset));
        self.rejects.extend(other.rejects);
        self.bad.extend(
            other
                .bad
                .into_iter()
                .map(|(i, reasons)| (i + offset, reasons)),
        );
    }
}

/// Decodes and checks a batch (CPU only: no IO), so that a caller can prepare the next batch
/// while the previous one is being written.
pub fn prepare_batch(checker: &Versioned<Checker>, inputs: &[Input]) -> Prepared {
    prepare_batch_at(checker, inputs, now_us())
}

/// [`prepare_batch`] as if the clock read `now` (microseconds): what a scheduler stepping a
/// moved clock writes (an event is "in the future" against that instant, not the machine's).
pub fn prepare_batch_at(checker: &Versioned<Checker>, inputs: &[Input], now: i64) -> Prepared {
    let (good, bad) = prepare(&checker.value, inputs, now);
    let rejects = bad
        .iter()
        .map(|(i, reasons)| new_reject(&inputs[*i], reasons.clone()))
        .collect();
    let (positions, events) = good.into_iter().unzip();
    Prepared {
        now,
        version: checker.version,
        len: inputs.len(),
        events,
        positions,
        rejects,
        bad,
    }
}

/// Writes a prepared batch, the good events and the rejects in one durable transaction, and
/// says what became of each input, in order, at the store's version the write read.
pub async fn commit(
    store: &dyn Store,
    prepared: Prepared,
) -> Result<Versioned<Vec<Outcome>>, OpError> {
    let Prepared {
        now,
        version,
        len,
        events,
        positions,
        rejects,
        bad,
    } = prepared;
    let ids: Vec<String> = events.iter().map(|c| c.event.id.clone()).collect();
    let written = write_events(store, version, events, rejects, now).await?;
    let mut outcomes = vec![
        Outcome {
            status: Status::Rejected,
            id: None,
            reasons: Vec::new()
        };
        len
    ];
    for ((i, id), w) in positions.into_iter().zip(ids).zip(written.value) {
        outcomes[i] = Outcome {
            status: match w {
                Written::Accepted => Status::Accepted,
                Written::Held => Status::Held,
                Written::Duplicate => Status::Duplicate,
            },
            id: Some(id),
            reasons: Vec::new(),
        };
    }
    for (i, reasons) in bad {
        outcomes[i].reasons = reasons;
    }
    Ok(Versioned {
        version: written.version,
        value: outcomes,
    })
}

/// Takes a batch of inputs: [`prepare_batch`], then [`commit`].
pub async fn ingest(
    store: &dyn Store,
    actor: &Actor,
    checker: &Versioned<Checker>,
    inputs: &[Input],
) -> Result<Vec<Outcome>, OpError> {
    actor.require(Permission::Ingest)?;
    Ok(commit(store, prepare_batch(checker, inputs)).await?.value)
}

/// A reject of `input`, with its reasons.
fn new_reject(input: &Input, reasons: Vec<String>) -> NewReject {
    let mut reject = NewReject::new(&input.source, input.raw.as_bytes(), reasons);
    // What the source could not read (text with invalid bytes replaced, a CSV row of the wrong
    // shape) is not an event's text as received: kept to be read, never replayed.
    reject.replayable &= input.unreadable.is_none();
    reject
}

/// Writes checked events (by a checker made at `version`) and rejects; events the checker held
/// at a point that went live meanwhile are released at once.
async fn write_events(
    store: &dyn Store,
    version: u64,
    events: Vec<Checked>,
    rejects: Vec<NewReject>,
    now: i64,
) -> Result<Versioned<Vec<Written>>, StoreError> {
    let mut held_points: Vec<String> = events
        .iter()
        .filter(|c| c.held)
        .map(|c| c.event.point.clone())
        .collect();
    let written = store.write_events(events, rejects, now).await?;
    held_points.sort_unstable();
    held_points.dedup();
    // The checker is exact when the write met the inventory it was made from.
    if written.version != version && written.value.contains(&Written::Held) {
        release_if_live_now(store, &held_points).await?;
    }
    Ok(written)
}

/// The checker is a snapshot: a point may have gone live since it was made (the write met
/// another version of the store). Events just held at such a point are released into the
/// counts at once rather than waiting for the next inventory change.
async fn release_if_live_now(store: &dyn Store, held: &[String]) -> Result<(), StoreError> {
    // One point's document each, not the whole inventory.
    for key in held {
        let live = matches!(
            store.entity(touchbase_core::Kind::Point, key).await?,
            Some(touchbase_core::Entity::Point(p)) if counts(p.status)
        );
        if live {
            store.release_held(key).await?;
        }
    }
    Ok(())
}

/// Whether events at a point with this status are counted.
fn counts(status: touchbase_core::Status) -> bool {
    matches!(
        status,
        touchbase_core::Status::Live | touchbase_core::Status::UnderReview
    )
}

/// What a replay did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Replayed {
    /// Rejects whose events were taken now (accepted, held or already on record).
    pub taken: u64,
    /// Rejects that still break a rule; they stay in the rejects.
    pub still_rejected: u64,
    /// Rejects whose text is not exactly what was received (not UTF-8, or NUL characters);
    /// they are kept to be read, never replayed.
    pub not_replayable: u64,
}

/// Runs every reject not yet replayed through the checks again; those that pass are written
/// and marked replayed, the others stay as they are (no new rejects are recorded).
pub async fn replay(
    store: &dyn Store,
    actor: &Actor,
    only: Option<i64>,
) -> Result<Replayed, OpError> {
    actor.require(Permission::Ingest)?;
    let (pending, altered): (Vec<_>, Vec<_>) = store
        .rejects()
        .await?
        .into_iter()
        .filter(|r| r.replayed_at.is_none() && only.is_none_or(|id| r.id == id))
        .partition(|r| r.replayable);
    // Survey responses go back the responses' way.
    let (responses, pending): (Vec<_>, Vec<_>) = pending
        .into_iter()
        .partition(|r| r.source.starts_with(crate::responses::SOURCE_PREFIX));
    let (responses_taken, responses_refused) =
        crate::responses::replay(store, &responses, now_us()).await?;
    let checker = checker(store).await?;
    let inputs: Vec<Input> = pending
        .iter()
        .map(|r| Input::new(r.raw.clone(), format!("replay of reject {}", r.id)))
        .collect();
    let now = now_us();
    let (good, bad) = prepare(&checker.value, &inputs, now);
    let ids: Vec<i64> = good.iter().map(|(i, _)| pending[*i].id).collect();
    let events: Vec<Checked> = good.into_iter().map(|(_, c)| c).collect();
    write_events(store, checker.version, events, Vec::new(), now).await?;
    store.mark_replayed(&ids, now).await?;
    Ok(Replayed {
        taken: (ids.len() + responses_taken) as u64,
        still_rejected: (bad.len() + responses_refused) as u64,
        not_replayable: altered.len() as u64,
    })
}

/// Removes the rejects received before `before` (microseconds since the epoch), replayed or
/// not (administrators): what a reject holds is the sender's to send again, so nothing counted
/// is lost. Returns how many were removed.
pub async fn prune_rejects(store: &dyn Store, actor: &Actor, before: i64) -> Result<u64, OpError> {
    actor.require(Permission::Administer)?;
    Ok(store.prune_rejects(before).await?)
}

/// Counts the held events of every live point (after an inventory change that took points
/// live); returns how many were released.
pub async fn release_live(store: &dyn Store) -> Result<u64, StoreError> {
    let Some(inventory) = crate::inventory::load(store).await? else {
        return Ok(0);
    };
    let mut released = 0;
    for held in store.held().await? {
        let live = inventory
            .value
            .point(&held.point)
            .is_some_and(|p| counts(p.status));
        if live {
            released += store.release_held(&held.point).await?;
        }
    }
    Ok(released)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two batches joined are one batch of their inputs in order: each input keeps its
    /// outcome's place.
    #[test]
    fn joined_batches_keep_each_input_in_its_place() {
        let checker = Versioned {
            version: 1,
            value: Checker::new(&Inventory::new(touchbase_core::Organization::named("-"))),
        };
        let good = |id: &str| {
            Input::new(
                format!(r#"{{"id":"{id}","point":"web.order","at":"2026-03-01T09:30:00Z"}}"#),
                "test",
            )
        };
        let bad = Input::new("{", "test");
        let mut joined = prepare_batch(&checker, &[good("a"), bad.clone()]);
        joined.join(prepare_batch(&checker, &[bad, good("b")]));
        assert_eq!(joined.len(), 4);
        assert_eq!(joined.positions, [0, 3]);
        let ids: Vec<&str> = joined.events.iter().map(|c| c.event.id.as_str()).collect();
        assert_eq!(ids, ["a", "b"]);
        let bad_at: Vec<usize> = joined.bad.iter().map(|(i, _)| *i).collect();
        assert_eq!(bad_at, [1, 2]);
        assert_eq!(joined.rejects.len(), 2);
    }

    /// An input its source could not read is rejected with the source's reason, even when
    /// what is left of it would decode.
    #[test]
    fn unreadable_inputs_are_rejected_with_their_reason() {
        let checker = Checker::new(&Inventory::new(touchbase_core::Organization::named("-")));
        let event = r#"{"point":"web.order","at":"2026-03-01T09:30:00Z"}"#;
        let inputs = [
            Input::unreadable(
                event,
                "file:e.ndjson:1",
                "not UTF-8: invalid byte at offset 3",
            ),
            Input::new(event, "file:e.ndjson:2"),
        ];
        let (good, bad) = prepare(&checker, &inputs, now_us());
        assert_eq!(good.len(), 1);
        assert_eq!(good[0].0, 1);
        assert_eq!(
            bad,
            [(0, vec!["not UTF-8: invalid byte at offset 3".to_owned()])]
        );
    }
}
