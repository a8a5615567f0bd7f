//! Journeys (R16) cut ahead of time and kept by the UTC day of their first event and their
//! party, so that a journeys request reads the period's days and adds them up instead of
//! cutting every party's history again, and an update rewrites only the journeys it touches.
//!
//! A store keeps:
//! - `party_touches`: the counted events that have a party, at points that take part in
//!   journeys, in (party, `at`, `id`) order, each with its `value.company`;
//! - `touch_queue`: events copied from the events table that have not joined `party_touches`
//!   yet, in the same order (the resumable part of a catch-up);
//! - `journey_rows`: one row per (day of a journey's first event, party), its body the
//!   party's journeys that begin that day (one, nearly always), each with its first instant,
//!   its points (numbers of `journey_points`, the point keys each named once), the gap before
//!   each point after the first, and its value `V`;
//! - the marks in `meta`: `party_touches_seq` (the last event `seq` copied to the queue) and
//!   `journeys_cut` (the [`JourneyCut::fingerprint`] the rows were cut under).
//!
//! [`catch_up`] brings them up to date in short transactions, each one [`Store::journeys_step`]:
//! events after the mark are copied to the queue a chunk at a time; then the queue is cut a
//! chunk of touches at a time, in (party, `at`, `id`) order: for each party, the store reads
//! the held touches around the joining ones, as far as the first gap over `journey_gap` each
//! way ([`Edge`], not the party's whole history), [`Changes::party`] works out from them the
//! journeys that end and begin (a late touch may extend, join or split journeys), and the
//! store writes the rows [`Changes::apply`] gives back, moves the touches from the queue to
//! `party_touches` and commits. A step's work so follows the touches it takes and the
//! journeys they touch, whatever a party's history holds. Ingest commits in between. When the
//! organization's `journey_gap` or its points outside journeys change, the fingerprint
//! differs and the store starts over: everything emptied, the mark at 0.
//!
//! This module holds the cutting, the difference, the body format and the catch-up loop, once
//! for every store.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use touchbase_core::inventory::Inventory;
use touchbase_core::period::{DAY_US, day_of};

use crate::{PartyTouch, Store, StoreError};

/// The body format's version, the first byte of each row's body.
const VERSION: u8 = 2;

/// How journeys are cut: the organization's `journey_gap` and the points declared
/// `journeys: false`, whose events take part in none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JourneyCut {
    /// `journey_gap` in microseconds.
    pub gap_us: i64,
    pub outside: BTreeSet<String>,
}

impl JourneyCut {
    /// The inventory's cut.
    pub fn of(inventory: &Inventory) -> JourneyCut {
        JourneyCut {
            gap_us: inventory.organization.settings.journey_gap_us(),
            outside: inventory.outside_journeys(),
        }
    }

    /// Whether events at `point` take part in journeys.
    pub fn admits(&self, point: &str) -> bool {
        !self.outside.contains(point)
    }

    /// A number that differs when the cut does (the first 60 bits of a SHA-256 of the gap
    /// and the points outside journeys); never negative, so never the mark of a store not cut
    /// yet (-1).
    pub fn fingerprint(&self) -> i64 {
        let mut text = self.gap_us.to_string();
        for p in &self.outside {
            text.push('\n');
            text.push_str(p);
        }
        let hex = touchbase_core::access::sha256_hex(text.as_bytes());
        i64::from_str_radix(&hex[..15], 16).unwrap_or(0)
    }
}

/// One journey, its points by number.
#[derive(Debug, Clone, PartialEq)]
pub struct Journey {
    /// Microseconds since the epoch, UTC, of its first event.
    pub first_at: i64,
    pub points: Vec<u32>,
    /// The gap in microseconds before each point after the first.
    pub gaps: Vec<i64>,
    /// `V`: its events' `value.company` summed in (`at`, `id`) order.
    pub value: f64,
}

/// Point keys, each given a number once: a store's `journey_points`, and those added since.
#[derive(Debug, Default, Clone)]
pub struct Keys {
    keys: Vec<String>,
    index: HashMap<String, u32>,
}

impl Keys {
    /// The keys numbered 0, 1, … in this order (a store's `journey_points`).
    pub fn numbered(keys: Vec<String>) -> Keys {
        let index = keys
            .iter()
            .enumerate()
            .map(|(i, k)| (k.clone(), i as u32))
            .collect();
        Keys { keys, index }
    }

    pub fn intern(&mut self, key: &str) -> u32 {
        if let Some(&i) = self.index.get(key) {
            return i;
        }
        let i = self.keys.len() as u32;
        self.keys.push(key.to_owned());
        self.index.insert(key.to_owned(), i);
        i
    }

    pub fn key(&self, i: u32) -> &str {
        &self.keys[i as usize]
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The keys numbered from `n` on, with their numbers: those a store must add.
    pub fn since(&self, n: usize) -> impl Iterator<Item = (u32, &str)> {
        self.keys
            .iter()
            .enumerate()
            .skip(n)
            .map(|(i, k)| (i as u32, k.as_str()))
    }
}

/// Cuts one party's touches, given in (`at`, `id`) order as (at, point, value), into journeys
/// (METRICS.md): a new journey wherever the gap exceeds `gap_us`.
pub fn cut(touches: &[(i64, u32, f64)], gap_us: i64) -> Vec<Journey> {
    cut_onto(Vec::new(), touches, gap_us)
}

/// [`cut`], the touches following `journeys` (the party's journeys before them, in order):
/// the first touch extends the last of them when within `gap_us` of its end. `V` stays the
/// sum in (`at`, `id`) order, since the touches come after every one summed before.
fn cut_onto(mut journeys: Vec<Journey>, touches: &[(i64, u32, f64)], gap_us: i64) -> Vec<Journey> {
    let mut last: Option<i64> = journeys.last().map(Journey::last_at);
    for &(at, point, value) in touches {
        match (last, journeys.last_mut()) {
            (Some(before), Some(open)) if at.saturating_sub(before) <= gap_us => {
                open.points.push(point);
                open.gaps.push(at - before);
                open.value += value;
            }
            _ => journeys.push(Journey {
                first_at: at,
                points: vec![point],
                gaps: Vec::new(),
                value,
            }),
        }
        last = Some(at);
    }
    journeys
}

impl Journey {
    /// The instant of its last event.
    pub fn last_at(&self) -> i64 {
        self.first_at + self.gaps.iter().sum::<i64>()
    }
}

/// What a store read of one party's held touches for its new ones: what [`Changes::party`]
/// cuts them against.
#[derive(Debug, Clone, PartialEq)]
pub enum Held {
    /// The held touches of the new ones' window ([`Edge`]), or all the party holds.
    Touches(Vec<PartyTouch>),
    /// Every new touch comes after every held one, and the first within `journey_gap` of the
    /// last held one: the party's last journey, as its row holds it, which they extend. A
    /// party in steady use (a partner's dispatch system, all year in one journey of 80,000
    /// touches) then costs a step its new touches, not that journey's touches read again.
    Last(Journey),
}

/// One end of the held touches a party's new ones may change (its *window*).
///
/// New touches change only the journeys they fall in or next to, and a journey ends at a gap
/// over `journey_gap`. So a store reads, of a party's held touches: going back from the first
/// new one, those the edge [`takes`](Edge::takes); every one between the first and the last
/// new one; and going on from the last new one, those the edge takes. The window so read
/// starts and ends at gaps over `journey_gap` both before and after the new touches join, so
/// the journeys cut from it are whole, and [`Changes::party`] compares them alone, instead
/// of the party's whole history (a busy party's year of touches for one new one).
#[derive(Debug, Clone, Copy)]
pub struct Edge {
    gap_us: i64,
    last: i64,
}

impl Edge {
    /// The edge at the new touch at `at` (the first new one going back, the last going on).
    pub fn at(gap_us: i64, at: i64) -> Edge {
        Edge { gap_us, last: at }
    }

    /// Whether the next held touch going away from the new ones, at `at`, is in the window:
    /// within `journey_gap` of the one before it. Once one is not, none further is.
    pub fn takes(&mut self, at: i64) -> bool {
        let within = at.abs_diff(self.last) <= self.gap_us.max(0) as u64;
        if within {
            self.last = at;
        }
        within
    }
}

/// What a store must read of a party's held touches for its new ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Nothing: it holds none, or the new ones begin over `journey_gap` after its last.
    Nothing,
    /// The journey its last row ends with ([`Held::Last`]), which ends at this instant.
    Last(i64),
    /// Its window ([`Edge`]).
    Window,
}

impl Need {
    /// From the party's last held touch (`at`, `id`), if any, and its first new one.
    pub fn of(gap_us: i64, latest: Option<(i64, &str)>, first: &PartyTouch) -> Need {
        match latest {
            None => Need::Nothing,
            Some((at, id)) if (at, id.as_bytes()) < (first.at, first.id.as_bytes()) => {
                if Edge::at(gap_us, first.at).takes(at) {
                    Need::Last(at)
                } else {
                    Need::Nothing
                }
            }
            Some(_) => Need::Window,
        }
    }
}

/// The journey a party's last row (`day`, `body`) ends with, which must end at `latest_at`,
/// the party's last held touch ([`Held::Last`]).
pub fn last_journey(
    day: i64,
    body: &[u8],
    known: usize,
    latest_at: i64,
) -> Result<Journey, StoreError> {
    match decode(day, body, known)?
        .into_iter()
        .max_by_key(|j| j.first_at)
    {
        Some(last) if last.last_at() == latest_at => Ok(last),
        _ => Err(StoreError::Corrupt(format!(
            "the journeys of a party on day {day} do not end at its last event; rebuild them \
             by changing journeys.journey_gap_s and back"
        ))),
    }
}

/// The journeys that leave and join one (day, party) row.
#[derive(Debug, Default)]
struct RowChange {
    removed: Vec<Journey>,
    added: Vec<Journey>,
}

/// What touches joining `party_touches` change in the journey rows, party by party.
#[derive(Debug)]
pub struct Changes {
    gap_us: i64,
    keys: Keys,
    rows: BTreeMap<(i64, String), RowChange>,
}

impl Changes {
    /// Changes under `journey_gap` = `gap_us` microseconds, with the store's point numbers.
    pub fn new(gap_us: i64, keys: Keys) -> Changes {
        Changes {
            gap_us,
            keys,
            rows: BTreeMap::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The point numbers, with those the touches added.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// Takes touches of many parties: `old`, those `party_touches` holds, and `new`, those
    /// joining it, each sorted by (party, `at`, `id`) with keys compared byte by byte. Every
    /// party of `new` must have in `old` the held touches of its window ([`Edge`]) or all its
    /// held touches; parties of `old` with nothing new change nothing.
    pub fn parties(&mut self, old: &[PartyTouch], new: &[PartyTouch]) -> Result<(), StoreError> {
        let mut old_runs = runs(old).peekable();
        for fresh in runs(new) {
            let party = fresh[0].party.as_bytes();
            while old_runs
                .peek()
                .is_some_and(|run| run[0].party.as_bytes() < party)
            {
                old_runs.next();
            }
            let held = match old_runs.peek() {
                Some(run) if run[0].party.as_bytes() == party => old_runs.next().unwrap_or(&[]),
                _ => &[],
            };
            self.against_touches(held, fresh)?;
        }
        Ok(())
    }

    /// One party's new touches (in (`at`, `id`) order, of one party) against what the store
    /// read of its held ones.
    pub fn party(&mut self, held: &Held, new: &[PartyTouch]) -> Result<(), StoreError> {
        match held {
            Held::Touches(old) => self.against_touches(old, new),
            Held::Last(last) => self.onto_last(last, new),
        }
    }

    /// New touches after every held one, extending the party's last journey `last`.
    fn onto_last(&mut self, last: &Journey, new: &[PartyTouch]) -> Result<(), StoreError> {
        in_order(new)?;
        let party = &new[0].party;
        if new[0].at < last.last_at() {
            return Err(StoreError::Corrupt(format!(
                "event `{}` of party `{}` comes before the end of the party's last journey, \
                 yet was taken as coming after it",
                new[0].id, party
            )));
        }
        let touches: Vec<(i64, u32, f64)> = new
            .iter()
            .map(|t| (t.at, self.keys.intern(&t.point), t.value))
            .collect();
        let mut journeys = cut_onto(vec![last.clone()], &touches, self.gap_us).into_iter();
        let extended = journeys.next().expect("cut onto a journey keeps it first");
        if extended != *last {
            self.row(party, last).removed.push(last.clone());
            self.row(party, &extended).added.push(extended);
        }
        for journey in journeys {
            self.row(party, &journey).added.push(journey);
        }
        Ok(())
    }

    /// One party's touches before and joining, each in (`at`, `id`) order: the journeys cut
    /// from the old ones that the new ones end, and those they begin.
    fn against_touches(
        &mut self,
        old: &[PartyTouch],
        new: &[PartyTouch],
    ) -> Result<(), StoreError> {
        in_order(old)?;
        in_order(new)?;
        let party = &new[0].party;
        let before: Vec<(i64, u32, f64)> = old
            .iter()
            .map(|t| (t.at, self.keys.intern(&t.point), t.value))
            .collect();
        let mut after = Vec::with_capacity(old.len() + new.len());
        let (mut i, mut j) = (0, 0);
        while i < old.len() || j < new.len() {
            let take_old = j == new.len()
                || (i < old.len()
                    && (old[i].at, old[i].id.as_bytes()) < (new[j].at, new[j].id.as_bytes()));
            if take_old {
                after.push(before[i]);
                i += 1;
            } else {
                after.push((new[j].at, self.keys.intern(&new[j].point), new[j].value));
                j += 1;
            }
        }
        let mut gone = cut(&before, self.gap_us).into_iter().peekable();
        for journey in cut(&after, self.gap_us) {
            // Both lists run by first instant, which is unique within a party.
            while gone.peek().is_some_and(|g| g.first_at < journey.first_at) {
                let g = gone.next().expect("peeked");
                self.row(party, &g).removed.push(g);
            }
            if gone.peek() == Some(&journey) {
                gone.next();
                continue;
            }
            self.row(party, &journey).added.push(journey);
        }
        for g in gone {
            self.row(party, &g).removed.push(g);
        }
        Ok(())
    }

    fn row(&mut self, party: &str, journey: &Journey) -> &mut RowChange {
        self.rows
            .entry((day_of(journey.first_at), party.to_owned()))
            .or_default()
    }

    /// The rows that change, as (day, party), in that order (the order in which a store
    /// writes them, so that concurrent writers take their locks in one order).
    pub fn rows(&self) -> Vec<(i64, String)> {
        self.rows.keys().cloned().collect()
    }

    /// The body of row (`day`, `party`) after the changes, from the one stored (`None`: no
    /// row); `None` when no journey is left (the row goes).
    pub fn apply(
        &mut self,
        day: i64,
        party: &str,
        stored: Option<&[u8]>,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let change = self
            .rows
            .remove(&(day, party.to_owned()))
            .unwrap_or_default();
        let mut journeys = match stored {
            Some(body) => decode(day, body, self.keys.len())?,
            None => Vec::new(),
        };
        for gone in change.removed {
            let Some(at) = journeys.iter().position(|j| *j == gone) else {
                return Err(StoreError::Corrupt(format!(
                    "the journeys of a party on day {day} lack one that the party's events \
                     had; rebuild them by changing journeys.journey_gap_s and back"
                )));
            };
            journeys.swap_remove(at);
        }
        journeys.extend(change.added);
        if journeys.is_empty() {
            return Ok(None);
        }
        journeys.sort_by_key(|j| j.first_at);
        Ok(Some(encode(day, &journeys)))
    }
}

/// Consecutive touches of one party each.
fn runs(touches: &[PartyTouch]) -> impl Iterator<Item = &[PartyTouch]> {
    touches.chunk_by(|a, b| a.party == b.party)
}

fn in_order(touches: &[PartyTouch]) -> Result<(), StoreError> {
    for pair in touches.windows(2) {
        if (pair[0].at, pair[0].id.as_bytes()) >= (pair[1].at, pair[1].id.as_bytes()) {
            return Err(StoreError::Corrupt(format!(
                "event `{}` of party `{}` came after event `{}`, not in (at, id) order",
                pair[1].id, pair[1].party, pair[0].id
            )));
        }
    }
    Ok(())
}

/// A row's body: the version; the count of journeys; then each journey as its first instant's
/// offset into the day, its length, its points by number, its gaps (each an unsigned LEB128
/// varint) and its value (8 bytes, IEEE 754, little-endian). A read gives the bodies of a
/// day's rows one after another ([`Body`] reads them so).
pub fn encode(day: i64, journeys: &[Journey]) -> Vec<u8> {
    let mut out = vec![VERSION];
    put(&mut out, journeys.len() as u64);
    let start = day * DAY_US;
    for j in journeys {
        put(&mut out, (j.first_at - start) as u64);
        put(&mut out, j.points.len() as u64);
        for &p in &j.points {
            put(&mut out, u64::from(p));
        }
        for &gap in &j.gaps {
            put(&mut out, gap as u64);
        }
        out.extend_from_slice(&j.value.to_le_bytes());
    }
    out
}

/// The journeys of a row's body (or of a day's bodies one after another), each point's
/// number below `points`.
pub fn decode(day: i64, body: &[u8], points: usize) -> Result<Vec<Journey>, StoreError> {
    let mut body = Body::new(day, body, points);
    let mut journeys = Vec::new();
    while let Some(j) = body.next_journey()? {
        journeys.push(Journey {
            first_at: j.first_at,
            points: j.points.to_vec(),
            gaps: j.gaps.to_vec(),
            value: j.value,
        });
    }
    Ok(journeys)
}

/// The bodies of one day's rows being read, one journey at a time, without copying them.
#[derive(Debug)]
pub struct Body<'a> {
    day: i64,
    /// How many point numbers there are: a number at or above it is unreadable.
    known: usize,
    reader: Reader<'a>,
    left: u64,
    points: Vec<u32>,
    gaps: Vec<i64>,
}

/// One journey of a [`Body`]: its points by number.
#[derive(Debug)]
pub struct Lent<'b> {
    pub first_at: i64,
    pub points: &'b [u32],
    pub gaps: &'b [i64],
    pub value: f64,
}

impl<'a> Body<'a> {
    /// The bodies of `day`'s rows, one after another, with `known` point numbers.
    pub fn new(day: i64, body: &'a [u8], known: usize) -> Body<'a> {
        Body {
            day,
            known,
            reader: Reader { body, at: 0 },
            left: 0,
            points: Vec::new(),
            gaps: Vec::new(),
        }
    }

    /// The next journey; `None` after the last.
    pub fn next_journey(&mut self) -> Result<Option<Lent<'_>>, StoreError> {
        let day = self.day;
        while self.left == 0 {
            if self.reader.at == self.reader.body.len() {
                return Ok(None);
            }
            if self.reader.byte() != Some(VERSION) {
                return Err(unreadable(day));
            }
            self.left = self.reader.number().ok_or_else(|| unreadable(day))?;
            if self.left == 0 {
                return Err(unreadable(day));
            }
        }
        self.left -= 1;
        let r = &mut self.reader;
        let offset = r.number().ok_or_else(|| unreadable(day))?;
        let len = r.number().ok_or_else(|| unreadable(day))? as usize;
        if len == 0 || offset >= DAY_US as u64 {
            return Err(unreadable(day));
        }
        self.points.clear();
        self.gaps.clear();
        for _ in 0..len {
            let p = r.number().ok_or_else(|| unreadable(day))?;
            if p >= self.known as u64 {
                return Err(unreadable(day));
            }
            self.points.push(p as u32);
        }
        for _ in 1..len {
            self.gaps
                .push(r.number().ok_or_else(|| unreadable(day))? as i64);
        }
        let bytes = r.take(8).ok_or_else(|| unreadable(day))?;
        let value = f64::from_le_bytes(bytes.try_into().map_err(|_| unreadable(day))?);
        Ok(Some(Lent {
            first_at: day * DAY_US + offset as i64,
            points: &self.points,
            gaps: &self.gaps,
            value,
        }))
    }
}

fn unreadable(day: i64) -> StoreError {
    StoreError::Corrupt(format!(
        "the journeys cut ahead of time for day {day} are unreadable; rebuild them by changing \
         journeys.journey_gap_s and back"
    ))
}

fn put(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push(n as u8 | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

#[derive(Debug)]
struct Reader<'a> {
    body: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.body.get(self.at)?;
        self.at += 1;
        Some(b)
    }

    fn take(&mut self, len: usize) -> Option<&'a [u8]> {
        let body: &'a [u8] = self.body;
        let bytes = body.get(self.at..self.at.checked_add(len)?)?;
        self.at += len;
        Some(bytes)
    }

    fn number(&mut self) -> Option<u64> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            n |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Some(n);
            }
        }
        None
    }
}

/// What one [`Store::journeys_step`] did, in one transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JourneyStep {
    /// The rows were cut under another [`JourneyCut`]: everything emptied, the mark at 0.
    Reset,
    /// `events` events, up to `seq` `mark`, copied to the queue (those at points outside
    /// journeys left out); `latest` is the last `seq` on record.
    Copied {
        events: usize,
        mark: i64,
        latest: i64,
    },
    /// That many touches taken from the queue and cut.
    Cut { touches: usize },
    /// Nothing left up to the `seq` asked for.
    Done,
}

/// How long one step should hold the store's write lock: ingest waits at most about that.
pub const STEP_BUDGET: Duration = Duration::from_millis(20);

/// The least and most events or touches a step takes, and where it starts.
const CHUNK_MIN: usize = 50;
const CHUNK_MAX: usize = 100_000;
const CHUNK_START: usize = 2_000;

/// How many touches may wait in the queue before a catch-up cuts them, rather than copy more
/// (bounding the queue's size on disk during the first catch-up after a bulk import).
pub const QUEUE_MAX: u64 = 1_000_000;

/// What a catch-up did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CatchUp {
    /// Transactions run.
    pub steps: u64,
    /// Events copied to the queue.
    pub copied: u64,
    /// Touches cut from the queue.
    pub cut: u64,
    /// Whether it started over under another cut.
    pub reset: bool,
    /// The longest step.
    pub longest: Duration,
}

/// A chunk size that follows the time its steps take: scaled by the budget over the time the
/// last step took, but at most doubled and at least quartered at once (one slow step, a
/// checkpoint's fsync, say, should not throw the size away).
#[derive(Debug, Clone, Copy)]
struct Chunk(usize);

impl Chunk {
    fn after(self, took: Duration) -> Chunk {
        let ratio = STEP_BUDGET.as_secs_f64() / took.as_secs_f64().max(1e-6);
        let next = (self.0 as f64 * ratio.clamp(0.25, 2.0)) as usize;
        Chunk(next.clamp(CHUNK_MIN, CHUNK_MAX))
    }
}

/// Brings the journeys `store` keeps up to date under `cut` with every event on record when
/// it starts, one short transaction ([`Store::journeys_step`]) at a time, each sized to take
/// about [`STEP_BUDGET`]; events written meanwhile wait for one step at most, and those after
/// the start are left to the next catch-up.
pub async fn catch_up(store: &dyn Store, cut: &JourneyCut) -> Result<CatchUp, StoreError> {
    let mut done = CatchUp::default();
    let mut until = i64::MAX;
    let (mut copy, mut take) = (Chunk(CHUNK_START), Chunk(CHUNK_START));
    loop {
        store.journeys_turn().await;
        let started = Instant::now();
        let queued = done.copied.saturating_sub(done.cut);
        let copy_now = if queued >= QUEUE_MAX { 0 } else { copy.0 };
        let step = store.journeys_step(cut, until, copy_now, take.0).await?;
        let took = started.elapsed();
        if took > STEP_BUDGET * 5 {
            tracing::debug!(
                ?step,
                took_ms = took.as_millis() as u64,
                copy = copy_now,
                take = take.0,
                "a slow journeys step"
            );
        }
        done.steps += 1;
        done.longest = done.longest.max(took);
        match step {
            JourneyStep::Reset => {
                done.reset = true;
                until = i64::MAX;
            }
            JourneyStep::Copied { events, latest, .. } => {
                if until == i64::MAX {
                    until = latest;
                }
                done.copied += events as u64;
                copy = copy.after(took);
            }
            JourneyStep::Cut { touches } => {
                done.cut += touches as u64;
                // From what it took: a store may stop a step short of `take` (SQLite, at its
                // time limit), and reading more than a step cuts is wasted.
                take = Chunk(touches.clamp(CHUNK_MIN, take.0)).after(took);
            }
            JourneyStep::Done => return Ok(done),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000_000;

    fn touch(party: &str, point: &str, at: i64, id: &str) -> PartyTouch {
        PartyTouch {
            party: party.into(),
            point: point.into(),
            at,
            id: id.into(),
            value: 1.0,
        }
    }

    /// Every journey of the rows after applying `changes` to `rows`, as (day, party, first
    /// instant, point keys, gaps, value), sorted.
    type Plain = (i64, String, i64, Vec<String>, Vec<i64>, u64);

    type Rows = BTreeMap<(i64, String), Vec<u8>>;

    fn apply_all(changes: &mut Changes, rows: &mut Rows) -> Keys {
        for (day, party) in changes.rows() {
            let before = rows.remove(&(day, party.clone()));
            if let Some(body) = changes.apply(day, &party, before.as_deref()).unwrap() {
                rows.insert((day, party), body);
            }
        }
        changes.keys().clone()
    }

    fn plain(rows: &Rows, keys: &Keys) -> Vec<Plain> {
        let mut all = Vec::new();
        for ((day, party), body) in rows {
            for j in decode(*day, body, keys.len()).unwrap() {
                assert_eq!(day_of(j.first_at), *day);
                let names = j.points.iter().map(|&p| keys.key(p).to_owned()).collect();
                all.push((
                    *day,
                    party.clone(),
                    j.first_at,
                    names,
                    j.gaps,
                    j.value as u64,
                ));
            }
        }
        all.sort();
        all
    }

    /// The held touches of `new`'s window, read as a store reads them (one party's, both in
    /// (`at`, `id`) order).
    fn window(gap: i64, held: &[PartyTouch], new: &[PartyTouch]) -> Vec<PartyTouch> {
        let key = |t: &PartyTouch| (t.at, t.id.clone());
        let (first, last) = (key(&new[0]), key(&new[new.len() - 1]));
        let mut edge = Edge::at(gap, first.0);
        let mut out: Vec<PartyTouch> = held
            .iter()
            .rev()
            .filter(|t| key(t) < first)
            .take_while(|t| edge.takes(t.at))
            .cloned()
            .collect();
        out.reverse();
        out.extend(
            held.iter()
                .filter(|t| key(t) > first && key(t) < last)
                .cloned(),
        );
        let mut edge = Edge::at(gap, last.0);
        out.extend(
            held.iter()
                .filter(|t| key(t) > last)
                .take_while(|t| edge.takes(t.at))
                .cloned(),
        );
        out
    }

    /// A small random number generator (a 64-bit LCG), so that the test needs no crate.
    struct Lcg(u64);

    impl Lcg {
        fn below(&mut self, n: u64) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 33) % n
        }
    }

    #[test]
    fn the_window_changes_the_rows_as_the_whole_history_does() {
        let gap = 10;
        let mut rng = Lcg(7);
        for case in 0..2_000 {
            // Touches of one party at instants with gaps around the journey gap, some equal
            // to it; a random share of them held, the rest joining.
            let count = 1 + rng.below(14) as usize;
            let mut at = 0;
            let mut all = Vec::new();
            for i in 0..count {
                at += [0, 3, 10, 11, 25][rng.below(5) as usize];
                all.push(touch(
                    "p",
                    ["web", "shop", "app"][rng.below(3) as usize],
                    at,
                    &format!("{i:02}"),
                ));
            }
            // Every third case, the new touches all after the held ones (a catch-up in `seq`
            // order), which a store may cut onto the party's last journey.
            let (mut held, mut new) = (Vec::new(), Vec::new());
            let appended = case % 3 == 0;
            let split = rng.below(count as u64) as usize;
            for (i, t) in all.iter().cloned().enumerate() {
                let joins = if appended {
                    i >= split
                } else {
                    rng.below(3) == 0
                };
                if joins { new.push(t) } else { held.push(t) }
            }
            if new.is_empty() {
                continue;
            }
            let mut start = BTreeMap::new();
            let mut changes = Changes::new(gap, Keys::default());
            if !held.is_empty() {
                changes.parties(&[], &held).unwrap();
            }
            let keys = apply_all(&mut changes, &mut start);
            let through = |old: &Held| {
                let mut rows = start.clone();
                let mut changes = Changes::new(gap, keys.clone());
                changes.party(old, &new).unwrap();
                let keys = apply_all(&mut changes, &mut rows);
                plain(&rows, &keys)
            };
            let mut fresh = BTreeMap::new();
            let mut changes = Changes::new(gap, Keys::default());
            changes.parties(&[], &all).unwrap();
            let fresh_keys = apply_all(&mut changes, &mut fresh);
            let expected = plain(&fresh, &fresh_keys);
            let whole = Held::Touches(held.clone());
            assert_eq!(through(&whole), expected, "case {case}: the whole history");
            let window = Held::Touches(window(gap, &held, &new));
            assert_eq!(
                through(&window),
                expected,
                "case {case}: the window {window:?}"
            );
            if appended && let Some(latest) = held.last() {
                let ((day, _), body) = start.iter().next_back().expect("a row per journey");
                let last = last_journey(*day, body, keys.len(), latest.at).unwrap();
                assert_eq!(
                    through(&Held::Last(last)),
                    expected,
                    "case {case}: onto the last journey"
                );
            }
        }
    }

    #[test]
    fn a_last_journey_must_end_at_the_last_touch_and_new_ones_come_after_it() {
        let journey = Journey {
            first_at: 0,
            points: vec![0, 0],
            gaps: vec![5],
            value: 2.0,
        };
        let body = encode(0, std::slice::from_ref(&journey));
        assert_eq!(last_journey(0, &body, 1, 5).unwrap(), journey);
        let err = last_journey(0, &body, 1, 6).unwrap_err();
        assert!(
            err.to_string().contains("do not end at its last event"),
            "{err}"
        );
        let mut changes = Changes::new(10, Keys::numbered(vec!["web".into()]));
        let err = changes
            .party(&Held::Last(journey), &[touch("p", "web", 4, "z")])
            .unwrap_err();
        assert!(err.to_string().contains("before the end"), "{err}");
    }

    #[test]
    fn the_window_stops_at_the_first_gap_over_the_journey_gap() {
        let held = [
            touch("p", "web", 0, "a"),
            touch("p", "web", 20, "b"),
            touch("p", "web", 30, "c"),
            touch("p", "web", 60, "e"),
            touch("p", "web", 70, "f"),
            touch("p", "web", 81, "g"),
        ];
        let new = [touch("p", "shop", 40, "d"), touch("p", "shop", 50, "d2")];
        let ids: Vec<String> = window(10, &held, &new).into_iter().map(|t| t.id).collect();
        assert_eq!(
            ids,
            ["b", "c", "e", "f"],
            "20→0 and 81→70 are over the gap of 10"
        );
    }

    #[test]
    fn a_gap_equal_to_the_journey_gap_keeps_the_journey() {
        let touches = [(0, 0, 1.0), (10, 1, 2.5), (20, 0, 0.0), (31, 1, -1.0)];
        let journeys = cut(&touches, 10);
        assert_eq!(
            journeys,
            vec![
                Journey {
                    first_at: 0,
                    points: vec![0, 1, 0],
                    gaps: vec![10, 10],
                    value: 3.5,
                },
                Journey {
                    first_at: 31,
                    points: vec![1],
                    gaps: vec![],
                    value: -1.0,
                },
            ]
        );
    }

    #[test]
    fn a_late_touch_joins_two_journeys_and_moves_their_row() {
        let day = 20_000;
        let t0 = day * DAY_US + 22 * HOUR;
        let gap = 3 * HOUR;
        let old = [
            touch("p", "web", t0, "a"),
            touch("p", "shop", t0 + 5 * HOUR, "b"),
        ];
        let mut rows = BTreeMap::new();
        let mut changes = Changes::new(gap, Keys::default());
        changes.parties(&[], &old).unwrap();
        let keys = apply_all(&mut changes, &mut rows);
        // Two journeys, the second starting the next day.
        assert_eq!(
            plain(&rows, &keys),
            vec![
                (day, "p".into(), t0, vec!["web".into()], vec![], 1),
                (
                    day + 1,
                    "p".into(),
                    t0 + 5 * HOUR,
                    vec!["shop".into()],
                    vec![],
                    1
                ),
            ]
        );
        // A touch between them, arriving late, makes them one.
        let late = [touch("p", "app", t0 + 2 * HOUR, "c")];
        let mut changes = Changes::new(gap, keys);
        changes.parties(&old, &late).unwrap();
        let keys = apply_all(&mut changes, &mut rows);
        assert_eq!(
            plain(&rows, &keys),
            vec![(
                day,
                "p".into(),
                t0,
                vec!["web".into(), "app".into(), "shop".into()],
                vec![2 * HOUR, 3 * HOUR],
                3
            )]
        );
        assert_eq!(
            rows.len(),
            1,
            "the next day's row goes when it holds nothing"
        );
    }

    #[test]
    fn parties_are_matched_with_their_own_touches_only() {
        let old = [touch("a", "web", 0, "1"), touch("c", "web", 0, "3")];
        let new = [touch("b", "web", 10, "2"), touch("c", "shop", 10, "4")];
        let mut rows = BTreeMap::new();
        let mut changes = Changes::new(HOUR, Keys::default());
        changes.parties(&[], &old).unwrap();
        let keys = apply_all(&mut changes, &mut rows);
        let mut changes = Changes::new(HOUR, keys);
        changes.parties(&old, &new).unwrap();
        assert_eq!(
            changes.rows(),
            [(0, "b".to_owned()), (0, "c".to_owned())],
            "only the rows of the parties with new touches change"
        );
        let keys = apply_all(&mut changes, &mut rows);
        // `a` unchanged, `b` new, `c`'s one-touch journey replaced by a longer one.
        assert_eq!(
            plain(&rows, &keys),
            vec![
                (0, "a".into(), 0, vec!["web".into()], vec![], 1),
                (0, "b".into(), 10, vec!["web".into()], vec![], 1),
                (
                    0,
                    "c".into(),
                    0,
                    vec!["web".into(), "shop".into()],
                    vec![10],
                    2
                ),
            ]
        );
    }

    #[test]
    fn touches_out_of_order_or_a_missing_journey_are_refused() {
        let mut changes = Changes::new(HOUR, Keys::default());
        let err = changes
            .parties(&[], &[touch("p", "web", 5, "b"), touch("p", "web", 5, "a")])
            .unwrap_err();
        assert!(err.to_string().contains("not in (at, id) order"), "{err}");
        // Removing a journey the row does not hold.
        let mut changes = Changes::new(HOUR, Keys::default());
        changes
            .parties(&[touch("p", "web", 0, "a")], &[touch("p", "web", 5, "b")])
            .unwrap();
        let err = changes.apply(0, "p", None).unwrap_err();
        assert!(err.to_string().contains("lack one"), "{err}");
    }

    #[test]
    fn a_cut_differs_by_gap_and_by_the_points_outside_journeys() {
        let cut = JourneyCut {
            gap_us: HOUR,
            outside: BTreeSet::new(),
        };
        let other_gap = JourneyCut {
            gap_us: 2 * HOUR,
            ..cut.clone()
        };
        let sensors = JourneyCut {
            outside: BTreeSet::from(["iot.sensor".to_owned()]),
            ..cut.clone()
        };
        let fingerprints = [&cut, &other_gap, &sensors].map(JourneyCut::fingerprint);
        assert!(fingerprints.iter().all(|&f| f >= 0));
        assert_ne!(fingerprints[0], fingerprints[1]);
        assert_ne!(fingerprints[0], fingerprints[2]);
        assert_eq!(cut.fingerprint(), cut.clone().fingerprint());
        assert!(!sensors.admits("iot.sensor") && sensors.admits("web"));
    }

    #[test]
    fn bodies_read_back_one_after_another_and_broken_ones_are_refused() {
        let mut keys = Keys::default();
        let (web, shop) = (keys.intern("web"), keys.intern("shop"));
        let first = vec![
            Journey {
                first_at: 7 * DAY_US + 1,
                points: vec![shop, web, shop],
                gaps: vec![300_000_000_000, 1],
                value: 12.5,
            },
            Journey {
                first_at: 8 * DAY_US - 1,
                points: vec![shop],
                gaps: vec![],
                value: -0.25,
            },
        ];
        let second = vec![Journey {
            first_at: 7 * DAY_US,
            points: vec![web],
            gaps: vec![],
            value: 0.0,
        }];
        let mut day = encode(7, &first);
        day.extend(encode(7, &second));
        let back = decode(7, &day, keys.len()).unwrap();
        assert_eq!(back, [first.clone(), second].concat());
        let one = encode(7, &first);
        for cut_at in 1..one.len() {
            assert!(
                decode(7, &one[..cut_at], keys.len()).is_err(),
                "cut at {cut_at}"
            );
        }
        let mut longer = one.clone();
        longer.push(0);
        assert!(decode(7, &longer, keys.len()).is_err());
        assert!(
            decode(7, &one, 1).is_err(),
            "a point number the store does not know"
        );
    }
}
