use std::fmt::Debug;
use std::ops::Range;

use async_trait::async_trait;
use touchbase_core::audit::{Entry, Record};
use touchbase_core::event::{Checked, Event, HeldPoint, NewReject, Reject, Written};
use touchbase_core::rules::Firing;
use touchbase_core::voice::Family;
use touchbase_core::{Change, Entity, Kind};

use crate::StoreError;
use crate::answers::{AnswerTag, Coding, Forgotten, Statement};
use crate::invitations::{Invitation, KeyCustomer, Suppression};
use crate::journey_days::{JourneyCut, JourneyStep};
use crate::links::LinkRecord;
use crate::outbox::{Attempt, Delivery, DeliveryFilter, FeedCount, Finished};
use crate::responses::{NewResponse, OpenAnswer, ResponseWritten, VoiceDay};
use crate::rollup::Tally;
use crate::standing::{OrderFilter, OrderRevision};
use touchbase_core::standing::Order;

/// One point's counted events on one UTC day, added up.
#[derive(Debug, Clone, PartialEq)]
pub struct DayRollup {
    pub point: String,
    /// Days since the epoch, UTC.
    pub day: i64,
    pub tally: Tally,
}

/// One counted event of a party, as the journey rule and attribution (METRICS.md) need it.
#[derive(Debug, Clone, PartialEq)]
pub struct PartyTouch {
    pub party: String,
    pub point: String,
    /// Microseconds since the epoch, UTC.
    pub at: i64,
    pub id: String,
    /// The event's `value.company`.
    pub value: f64,
}

/// A counted event whose `data` broke its point's contract (R13): the point and each rule it
/// broke, as the contract check worded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nonconforming {
    pub point: String,
    pub failures: Vec<String>,
}

impl Nonconforming {
    /// From a stored row: the point and its `failures` column (a JSON array of strings).
    pub fn decode(point: String, failures: Option<&str>) -> Result<Nonconforming, StoreError> {
        let failures = match failures {
            None => Vec::new(),
            Some(text) => serde_json::from_str(text).map_err(|e| {
                StoreError::Corrupt(format!(
                    "an event of point `{point}` has unreadable contract failures: {e}"
                ))
            })?,
        };
        Ok(Nonconforming { point, failures })
    }
}

/// The journeys cut ahead of time whose first event is on `day`: the bodies of that day's
/// rows one after another, in party order (the format is [`crate::journey_days`]'s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JourneyDay {
    /// Days since the epoch, UTC.
    pub day: i64,
    pub body: Vec<u8>,
}

/// The journeys of a range of days, and the point keys their bodies number (`points[n]` is
/// point number `n`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JourneyRows {
    pub points: Vec<String>,
    /// In day order.
    pub days: Vec<JourneyDay>,
}

/// A value with the version of the store it was read at; writes name the version they were
/// computed from, so a write based on a stale read is refused as a conflict.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned<T> {
    pub version: u64,
    pub value: T,
}

/// A place touchbase keeps its records. Implementations: SQLite (embedded) and PostgreSQL.
///
/// A store keeps each entity (inventory, proposals, users, tokens) as a document under
/// (kind, key), a version number that every successful write increments, and the audit
/// trail. It does not validate: the rules live in `touchbase-core`, and the operations of this
/// crate check before they write.
#[async_trait]
pub trait Store: Send + Sync + Debug {
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;

    /// Every entity and the version they were read at. An empty list (at version 0) means the
    /// store was never initialized.
    async fn entities(&self) -> Result<Versioned<Vec<Entity>>, StoreError>;

    /// The store's version: it changes with every write to the entities (not with events).
    async fn version(&self) -> Result<u64, StoreError>;

    /// One entity by kind and key.
    async fn entity(&self, kind: Kind, key: &str) -> Result<Option<Entity>, StoreError>;

    /// How this store seals its audit trail: the organization's keys and the head file it was
    /// opened with ([`crate::audit::Sealing`]); none by default.
    fn sealing(&self) -> &crate::audit::Sealing {
        &crate::audit::UNSEALED
    }

    /// Applies the changes and appends the audit entries (numbered and sealed by
    /// [`crate::audit::Sealing::seal`] after the last record; the head file written after the
    /// commit by [`crate::audit::Sealing::committed`]) in one transaction, with the
    /// deliveries the changes fired (lifecycle rules; a firing already on record is not written
    /// again), if the store is still at `version`; returns the new version. A store at another
    /// version refuses with [`StoreError::Conflict`] and changes nothing.
    async fn apply(
        &self,
        version: u64,
        changes: &[Change],
        audit: &[Entry],
        outbox: &[Firing],
    ) -> Result<u64, StoreError>;

    /// The whole audit trail, in order.
    async fn audit(&self) -> Result<Vec<Record>, StoreError>;

    /// Writes checked events and rejected inputs in one durable transaction: each event once by
    /// its id (a known id is a duplicate and adds nothing), the daily rollups of the counted
    /// (not held) ones updated with them, and the deliveries each new event fired
    /// ([`Checked::firings`]; a duplicate fires nothing, a firing already on record is not
    /// written again). Returns what became of each event, in order, at the
    /// store's version as the write read it: the inventory the events met. An inventory change
    /// waits for a write that read its version, or the write reads the new one, so a point that
    /// went live after the write either was seen by it or sees its held events. When this
    /// returns, the write has reached the disk.
    async fn write_events(
        &self,
        events: Vec<Checked>,
        rejects: Vec<NewReject>,
        received_at: i64,
    ) -> Result<Versioned<Vec<Written>>, StoreError>;

    /// The points with held events (R8), by point key.
    async fn held(&self) -> Result<Vec<HeldPoint>, StoreError>;

    /// Counts the held events of `point` from now on (it went live): in one transaction they
    /// stop being held and enter the rollups. Returns how many were released.
    async fn release_held(&self, point: &str) -> Result<u64, StoreError>;

    /// Every rejected input, oldest first.
    async fn rejects(&self) -> Result<Vec<Reject>, StoreError>;

    /// At most `limit` rejected inputs with ids after `after`, oldest first: a page of them.
    async fn rejects_after(&self, after: i64, limit: u32) -> Result<Vec<Reject>, StoreError>;

    /// Removes the rejects received before `before` (microseconds since the epoch), replayed
    /// or not; returns how many.
    async fn prune_rejects(&self, before: i64) -> Result<u64, StoreError>;

    /// Marks rejects as replayed (their events were taken).
    async fn mark_replayed(&self, ids: &[i64], at: i64) -> Result<(), StoreError>;

    /// The daily rollups of the days in `days` (days since the epoch, UTC), in (point, day)
    /// order, point keys compared byte by byte.
    async fn rollups(&self, days: Range<i64>) -> Result<Vec<DayRollup>, StoreError>;

    /// The counted events with `from <= at < to`, added up from the events themselves (for the
    /// partial first and last days of a period): per (point, day) in (point, day) order, point
    /// keys compared byte by byte, each day's events added in (`at`, `id`) order.
    async fn tally_events(&self, from: i64, to: i64) -> Result<Vec<DayRollup>, StoreError>;

    /// Writes survey responses and rejected inputs in one durable transaction: each response
    /// once by its id (a known id is a duplicate and adds nothing), each invitation answered
    /// once (the store's constraint: a second response to it is kept in the rejects,
    /// [`ResponseWritten::Answered`]), and the daily voice counts of the new ones. Returns
    /// what became of each response, in order.
    async fn write_responses(
        &self,
        responses: Vec<NewResponse>,
        rejects: Vec<NewReject>,
        received_at: i64,
    ) -> Result<Vec<ResponseWritten>, StoreError>;

    /// The daily voice counts of the days in `days` (days since the epoch, UTC), in (point,
    /// day) order, point keys compared byte by byte.
    async fn voice_rollups(&self, days: Range<i64>) -> Result<Vec<VoiceDay>, StoreError>;

    /// The voice counts of the responses and invitations with `from <= at < to`, counted from
    /// the rows themselves (the partial first and last days of a period), in (point, day)
    /// order.
    async fn tally_voice(&self, from: i64, to: i64) -> Result<Vec<VoiceDay>, StoreError>;

    /// Adds key customers, or replaces those with the same party.
    async fn put_key_customers(&self, customers: &[KeyCustomer]) -> Result<(), StoreError>;

    /// The key customers, by party.
    async fn key_customers(&self) -> Result<Vec<KeyCustomer>, StoreError>;

    /// Writes invitations with their links' records, and suppressions, in one transaction:
    /// each invitation once per (survey, interaction) — its link recorded only when it is new —
    /// counted in the daily voice counts by its interaction's day; each suppression once.
    /// Returns, for each invitation, whether it was new.
    async fn put_invitations(
        &self,
        invitations: &[(Invitation, LinkRecord)],
        suppressions: &[Suppression],
    ) -> Result<Vec<bool>, StoreError>;

    /// The invitations of `survey` (every survey's without one), by (`at`, id).
    async fn invitations(&self, survey: Option<&str>) -> Result<Vec<Invitation>, StoreError>;

    /// One invitation.
    async fn invitation(&self, id: &str) -> Result<Option<Invitation>, StoreError>;

    /// Keeps the answers given so far to an invitation (JSON), replacing those kept before; a
    /// response written for the invitation removes them.
    async fn put_draft(&self, invitation: &str, answers: &str, now: i64) -> Result<(), StoreError>;

    /// The answers kept for an invitation not answered yet.
    async fn draft(&self, invitation: &str) -> Result<Option<String>, StoreError>;

    /// Keeps a codebook version (its YAML) unless that version is on record; false if it was.
    async fn put_codebook(
        &self,
        version: u32,
        doc: &str,
        at: i64,
        actor: &str,
    ) -> Result<bool, StoreError>;

    /// The latest codebook version and its YAML.
    async fn codebook(&self) -> Result<Option<(u32, String)>, StoreError>;

    /// The responses with `from <= at < to` that answered `change` or `why_buy`, by (`at`, id).
    async fn open_answers(&self, from: i64, to: i64) -> Result<Vec<OpenAnswer>, StoreError>;

    /// One response's open answers.
    async fn open_answer(&self, id: &str) -> Result<Option<OpenAnswer>, StoreError>;

    /// Keeps a person's tag or untag of an answer and code, replacing the decision on record
    /// for that answer and code.
    async fn put_answer_tag(&self, tag: &AnswerTag) -> Result<(), StoreError>;

    /// Every person's decision on answers, by (answer, family, code).
    async fn answer_tags(&self) -> Result<Vec<AnswerTag>, StoreError>;

    /// Keeps codings of the double-coded sample, each replacing its coder's earlier coding of
    /// the same answer.
    async fn put_codings(&self, codings: &[Coding]) -> Result<(), StoreError>;

    /// The codings of `family`'s answers, by (answer, coder).
    async fn codings(&self, family: Family) -> Result<Vec<Coding>, StoreError>;

    /// Keeps a statement of the senior team (once by its id).
    async fn put_statement(&self, statement: &Statement) -> Result<(), StoreError>;

    /// One statement of the senior team.
    async fn statement(&self, id: &str) -> Result<Option<Statement>, StoreError>;

    /// The senior team's statements with `from <= at < to`, by (`at`, id).
    async fn statements(&self, from: i64, to: i64) -> Result<Vec<Statement>, StoreError>;

    /// Erases `party` from the voice data in one transaction: responses lose their party and
    /// their texts (`change`, `why_buy`, own answers) and keep their scores; invitations and
    /// suppressions lose the party; drafts of the party's invitations, people's tags and
    /// codings of their responses, and the party's key-customer row go.
    async fn forget_party(&self, party: &str) -> Result<Forgotten, StoreError>;

    /// The suppressions of `survey`, by (`at`, event id).
    async fn suppressions(&self, survey: &str) -> Result<Vec<Suppression>, StoreError>;

    /// The counted events with `from <= at < to` whose data broke their point's contract, in
    /// (point, `at`, `id`) order.
    async fn nonconforming(&self, from: i64, to: i64) -> Result<Vec<Nonconforming>, StoreError>;

    /// One transaction of a catch-up of the journeys cut ahead of time
    /// ([`crate::journey_days`], which says what each step does): start over when the rows
    /// were cut under another `cut`; else copy up to `copy` events after the mark (none after
    /// `seq` `until`) to the queue; else cut the first `take` touches of the queue (against
    /// the held touches around them, [`crate::journey_days::Edge`]); else [`JourneyStep::Done`]. With `copy` 0, the queue is cut first and events
    /// are copied (up to `take`) only when it is empty.
    async fn journeys_step(
        &self,
        cut: &JourneyCut,
        until: i64,
        copy: usize,
        take: usize,
    ) -> Result<JourneyStep, StoreError>;

    /// Waits until the next [`Store::journeys_step`] may run without making calls that
    /// someone waits on (ingest, a request) wait behind it: a store whose calls share one
    /// connection lets them go first. By default, at once.
    async fn journeys_turn(&self) {}

    /// The journeys cut ahead of time whose first event's day (days since the epoch, UTC) is
    /// in `first_day..=last_day`, as the last catch-up left them
    /// ([`crate::journey_days::catch_up`] first for the events on record).
    async fn journey_rows(&self, first_day: i64, last_day: i64) -> Result<JourneyRows, StoreError>;

    /// Every counted event that has a party, as a touch, in (party, `at`, `id`) order with keys
    /// compared byte by byte, read from the events themselves (not from the party-ordered
    /// copy the journeys are kept from): what `touchbase check` cuts the journeys from afresh.
    async fn counted_touches(&self) -> Result<Vec<PartyTouch>, StoreError>;

    /// How many events are on record: (counted, held).
    async fn event_counts(&self) -> Result<(u64, u64), StoreError>;

    /// The accepted (counted) events of one UTC day (days since the epoch), in (`at`, `id`)
    /// order: the history a rule's dry run goes over.
    async fn events_of_day(&self, day: i64) -> Result<Vec<Event>, StoreError>;

    /// Writes deliveries outside any other write (a metric rule's firing, a replay of a test);
    /// a firing already on record is not written again. Returns how many were new.
    async fn enqueue(&self, firings: &[Firing], now: i64) -> Result<u64, StoreError>;

    /// Claims up to `limit` pending deliveries due at `now` to one of `endpoints`, oldest due
    /// first, leasing them until `now + lease_us`: no other claim takes them meanwhile (several
    /// dispatchers may run). A lease that runs out (its dispatcher died) frees the delivery.
    async fn claim_deliveries(
        &self,
        endpoints: &[String],
        now: i64,
        lease_us: i64,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError>;

    /// Records attempts and moves each delivery on (delivered, due again, dead), ending its
    /// lease, in one durable transaction.
    async fn finish_attempts(&self, finished: &[Finished]) -> Result<(), StoreError>;

    /// When the next pending delivery to one of `endpoints` is due, if any (leases are not
    /// looked at: one may hold it a while longer).
    async fn next_due(&self, endpoints: &[String]) -> Result<Option<i64>, StoreError>;

    /// Deliveries by the filter, newest fired first.
    async fn deliveries(&self, filter: &DeliveryFilter) -> Result<Vec<Delivery>, StoreError>;

    /// One delivery and its attempts, oldest first.
    async fn delivery(&self, id: &str) -> Result<Option<(Delivery, Vec<Attempt>)>, StoreError>;

    /// Sends deliveries again: those named by `ids`, or else those the filter selects (its
    /// state, rule, endpoint and `since`), whatever their state: due at `now`, their place in
    /// the retry schedule started over. Returns how many.
    async fn replay_deliveries(
        &self,
        ids: &[String],
        filter: &DeliveryFilter,
        now: i64,
    ) -> Result<u64, StoreError>;

    /// Since when an endpoint has failed every attempt: its first failed attempt after its last
    /// delivered one (`None` when its last attempt was delivered, or it has none).
    async fn failing_since(&self, endpoint: &str) -> Result<Option<i64>, StoreError>;

    /// The feed's counters, by rule and endpoint.
    async fn feed_counts(&self) -> Result<Vec<FeedCount>, StoreError>;

    /// Every metric rule's state document, by rule key.
    async fn rule_states(&self) -> Result<Vec<(String, String)>, StoreError>;

    /// Sets a metric rule's state to `doc` and writes the deliveries the change fires, in one
    /// durable transaction, if its state is still `expected` (`None`: it has none). Returns
    /// false, changing nothing, when another evaluation got in first.
    async fn put_rule_state(
        &self,
        rule: &str,
        expected: Option<&str>,
        doc: &str,
        firings: &[Firing],
        now: i64,
    ) -> Result<bool, StoreError>;

    /// Records a signed link just issued (its hash, never its token).
    async fn put_link(&self, link: &LinkRecord) -> Result<(), StoreError>;

    /// The record of the link whose token hashes to `hash`.
    async fn link(&self, hash: &str) -> Result<Option<LinkRecord>, StoreError>;

    /// Revokes every link of `purpose` to `subject` not revoked yet (`now` in microseconds);
    /// returns how many it revoked.
    async fn revoke_links(&self, purpose: &str, subject: &str, now: i64)
    -> Result<u64, StoreError>;

    /// Marks a single-use link used if it was not: true when this call used it (of two calls at
    /// once, exactly one gets true).
    async fn use_link(&self, hash: &str, now: i64) -> Result<bool, StoreError>;

    /// Writes `revision` of its order if the stored order is at the revision before it (none,
    /// for revision 1: a capture): the order's document and a revision row, in one durable
    /// transaction. False, changing nothing, when another write got there first.
    async fn put_order(&self, revision: &OrderRevision) -> Result<bool, StoreError>;

    /// One standing order as of its latest revision.
    async fn order(&self, id: &str) -> Result<Option<Order>, StoreError>;

    /// The standing orders `filter` admits, by id.
    async fn orders(&self, filter: &OrderFilter) -> Result<Vec<Order>, StoreError>;

    /// Every revision of an order, oldest first.
    async fn order_revisions(&self, id: &str) -> Result<Vec<OrderRevision>, StoreError>;

    /// Every standing order with where its scheduler stands, by id.
    async fn order_progress(&self) -> Result<Vec<crate::standing::Progress>, StoreError>;

    /// Writes runs in one durable transaction, each only over a run at an earlier stage
    /// ([`touchbase_core::standing::RunState::rank`]: a run never moves back), and the orders'
    /// progress with them. Returns how many runs changed.
    async fn put_runs(&self, runs: &[touchbase_core::standing::Run]) -> Result<u64, StoreError>;

    /// The runs of one order (or of every order), newest first, at most `limit`.
    async fn runs(
        &self,
        order: Option<&str>,
        limit: u32,
    ) -> Result<Vec<touchbase_core::standing::Run>, StoreError>;
}
