//! Journeys (R16) cut ahead of time and kept by the UTC day of their first event and their
//! first point, so that a journeys request reads the period's days and adds them up instead
//! of cutting every party's history again.
//!
//! A store keeps one row per (day, first point): a body of the journeys that start there, each
//! with its first instant, its points and the gap before each point after the first (the
//! median gap of an edge needs every gap). The bodies always hold exactly the journeys of
//! the store's party-ordered events (`party_touches`) under one `journey_gap`: whenever touches
//! join that table, the store hands each concerned party's touches before and the joining
//! ones to [`Changes::party`], which works out the journeys that end and begin (a late touch
//! may extend, join or split journeys), and writes the bodies [`Changes::apply`] gives back in
//! the same transaction. When the organization's `journey_gap` changes, the store starts over
//! from all of `party_touches`.
//!
//! This module holds the cutting, the difference and the body format, once for every store.

use std::collections::{BTreeMap, HashMap};

use touchbase_core::period::{DAY_US, day_of};

use crate::{PartyTouch, StoreError};

/// The body format's version, its first byte.
const VERSION: u8 = 1;

/// One journey, its points interned in a [`Keys`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Journey {
    /// Microseconds since the epoch, UTC, of its first event.
    pub first_at: i64,
    pub points: Vec<u32>,
    /// The gap in microseconds before each point after the first.
    pub gaps: Vec<i64>,
}

/// Point keys, each given a number once.
#[derive(Debug, Default)]
pub struct Keys {
    keys: Vec<String>,
    index: HashMap<String, u32>,
}

impl Keys {
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
}

/// Cuts one party's touches, given in (`at`, `id`) order as (at, point), into journeys
/// (METRICS.md): a new journey wherever the gap exceeds `gap_us`.
pub fn cut(touches: &[(i64, u32)], gap_us: i64) -> Vec<Journey> {
    let mut journeys: Vec<Journey> = Vec::new();
    let mut last: Option<i64> = None;
    for &(at, point) in touches {
        match (last, journeys.last_mut()) {
            (Some(before), Some(open)) if at.saturating_sub(before) <= gap_us => {
                open.points.push(point);
                open.gaps.push(at - before);
            }
            _ => journeys.push(Journey {
                first_at: at,
                points: vec![point],
                gaps: Vec::new(),
            }),
        }
        last = Some(at);
    }
    journeys
}

/// The journeys that leave and join one (day, first point) row.
#[derive(Debug, Default)]
struct DayChange {
    removed: Vec<Journey>,
    added: Vec<Journey>,
}

/// What touches joining `party_touches` change in the journey rows, party by party.
#[derive(Debug)]
pub struct Changes {
    gap_us: i64,
    keys: Keys,
    days: BTreeMap<(i64, u32), DayChange>,
}

impl Changes {
    /// Changes under the organization's `journey_gap`, in microseconds.
    pub fn new(gap_us: i64) -> Changes {
        Changes {
            gap_us,
            keys: Keys::default(),
            days: BTreeMap::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.days.is_empty()
    }

    /// Takes touches of many parties: `old`, those `party_touches` holds, and `new`, those
    /// joining it, each sorted by (party, `at`, `id`) with keys compared byte by byte. Every
    /// party of `new` must have all its held touches in `old`; parties of `old` with nothing
    /// new change nothing.
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
            self.party(held, fresh)?;
        }
        Ok(())
    }

    /// One party's touches before and joining, each in (`at`, `id`) order: the journeys cut
    /// from the old ones that the new ones end, and those they begin.
    fn party(&mut self, old: &[PartyTouch], new: &[PartyTouch]) -> Result<(), StoreError> {
        in_order(old)?;
        in_order(new)?;
        let before: Vec<(i64, u32)> = old
            .iter()
            .map(|t| (t.at, self.keys.intern(&t.point)))
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
                after.push((new[j].at, self.keys.intern(&new[j].point)));
                j += 1;
            }
        }
        let mut gone = cut(&before, self.gap_us).into_iter().peekable();
        for journey in cut(&after, self.gap_us) {
            // Both lists run by first instant, which is unique within a party.
            while gone.peek().is_some_and(|g| g.first_at < journey.first_at) {
                self.remove(gone.next().expect("peeked"));
            }
            if gone.peek() == Some(&journey) {
                gone.next();
                continue;
            }
            self.add(journey);
        }
        gone.for_each(|g| self.remove(g));
        Ok(())
    }

    fn row(&mut self, journey: &Journey) -> &mut DayChange {
        self.days
            .entry((day_of(journey.first_at), journey.points[0]))
            .or_default()
    }

    fn add(&mut self, journey: Journey) {
        self.row(&journey).added.push(journey);
    }

    fn remove(&mut self, journey: Journey) {
        self.row(&journey).removed.push(journey);
    }

    /// The rows that change, as (day, first point), in that order (the order in which a store
    /// writes them, so that concurrent writers take their locks in one order).
    pub fn rows(&self) -> Vec<(i64, String)> {
        let mut rows: Vec<(i64, String)> = self
            .days
            .keys()
            .map(|&(day, point)| (day, self.keys.key(point).to_owned()))
            .collect();
        rows.sort();
        rows
    }

    /// The body of row (`day`, `point`) after the changes, from the one stored (`None`: no
    /// row); `None` when no journey is left (the row goes).
    pub fn apply(
        &mut self,
        day: i64,
        point: &str,
        stored: Option<&[u8]>,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let first = self.keys.intern(point);
        let change = self.days.remove(&(day, first)).unwrap_or_default();
        let mut journeys = match stored {
            Some(body) => decode(day, body, &mut self.keys)?,
            None => Vec::new(),
        };
        for gone in change.removed {
            let Some(at) = journeys.iter().position(|j| *j == gone) else {
                return Err(StoreError::Corrupt(format!(
                    "the journeys of {point} on day {day} lack one that the parties' events \
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
        Ok(Some(encode(day, &journeys, &self.keys)))
    }
}

/// Where touches a store streams through [`Changes`] stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Touches {
    /// Already kept in `party_touches`: the journey rows are being cut again from it.
    Kept,
    /// Joining `party_touches`: their journeys are worked out against the touches it holds of
    /// the same parties, and they are copied in.
    Joining,
}

/// Gathers touches streamed in (party, `at`, `id`) order into batches of whole parties, so
/// that a store can look up the touches it holds of a batch's parties and hand both to
/// [`Changes::parties`] without holding all touches at once.
#[derive(Debug, Default)]
pub struct Batches {
    pending: Vec<PartyTouch>,
}

/// About how many touches a batch holds.
pub const BATCH: usize = 50_000;

impl Batches {
    /// Takes the next touch; gives back a batch when one is full, at a party's first touch.
    pub fn push(&mut self, touch: PartyTouch) -> Option<Vec<PartyTouch>> {
        let full = self.pending.len() >= BATCH
            && self
                .pending
                .last()
                .is_some_and(|last| last.party != touch.party);
        let batch = full.then(|| std::mem::take(&mut self.pending));
        self.pending.push(touch);
        batch
    }

    /// The last batch, when anything is left.
    pub fn finish(self) -> Option<Vec<PartyTouch>> {
        (!self.pending.is_empty()).then_some(self.pending)
    }
}

/// The parties of touches sorted by party, each once.
pub fn parties(touches: &[PartyTouch]) -> Vec<&str> {
    runs(touches).map(|run| run[0].party.as_str()).collect()
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

/// A row's body: the version; the points it names (count, then each as length and UTF-8);
/// the journeys (count, then each as its first instant's offset into the day, its length,
/// its points by number, its gaps), every number an unsigned LEB128 varint.
pub fn encode(day: i64, journeys: &[Journey], keys: &Keys) -> Vec<u8> {
    let mut local: Vec<u32> = Vec::new();
    let mut numbers: HashMap<u32, u64> = HashMap::new();
    for j in journeys {
        for &p in &j.points {
            numbers.entry(p).or_insert_with(|| {
                local.push(p);
                local.len() as u64 - 1
            });
        }
    }
    let mut out = vec![VERSION];
    put(&mut out, local.len() as u64);
    for &p in &local {
        let key = keys.key(p).as_bytes();
        put(&mut out, key.len() as u64);
        out.extend_from_slice(key);
    }
    put(&mut out, journeys.len() as u64);
    let start = day * DAY_US;
    for j in journeys {
        put(&mut out, (j.first_at - start) as u64);
        put(&mut out, j.points.len() as u64);
        for p in &j.points {
            put(&mut out, numbers[p]);
        }
        for &gap in &j.gaps {
            put(&mut out, gap as u64);
        }
    }
    out
}

/// The journeys of a row's body, their points interned in `keys`.
pub fn decode(day: i64, body: &[u8], keys: &mut Keys) -> Result<Vec<Journey>, StoreError> {
    let mut body = Body::parse(day, body)?;
    let numbers: Vec<u32> = body.names.iter().map(|k| keys.intern(k)).collect();
    let mut journeys = Vec::new();
    while let Some(j) = body.next_journey()? {
        journeys.push(Journey {
            first_at: j.first_at,
            points: j.points.iter().map(|&p| numbers[p as usize]).collect(),
            gaps: j.gaps.to_vec(),
        });
    }
    Ok(journeys)
}

/// A row's body being read, one journey at a time, without copying it.
#[derive(Debug)]
pub struct Body<'a> {
    day: i64,
    /// The point keys the body names; journeys refer to them by position.
    pub names: Vec<&'a str>,
    reader: Reader<'a>,
    left: u64,
    points: Vec<u32>,
    gaps: Vec<i64>,
}

/// One journey of a [`Body`]: its points by their position in [`Body::names`].
#[derive(Debug)]
pub struct Lent<'b> {
    pub first_at: i64,
    pub points: &'b [u32],
    pub gaps: &'b [i64],
}

impl<'a> Body<'a> {
    pub fn parse(day: i64, body: &'a [u8]) -> Result<Body<'a>, StoreError> {
        let mut reader = Reader { body, at: 0 };
        if reader.byte() != Some(VERSION) {
            return Err(unreadable(day));
        }
        let n = reader.number().ok_or_else(|| unreadable(day))?;
        let mut names = Vec::new();
        for _ in 0..n {
            let len = reader.number().ok_or_else(|| unreadable(day))? as usize;
            let bytes = reader.take(len).ok_or_else(|| unreadable(day))?;
            names.push(std::str::from_utf8(bytes).map_err(|_| unreadable(day))?);
        }
        let left = reader.number().ok_or_else(|| unreadable(day))?;
        Ok(Body {
            day,
            names,
            reader,
            left,
            points: Vec::new(),
            gaps: Vec::new(),
        })
    }

    /// The next journey; `None` after the last.
    pub fn next_journey(&mut self) -> Result<Option<Lent<'_>>, StoreError> {
        let day = self.day;
        if self.left == 0 {
            if self.reader.at != self.reader.body.len() {
                return Err(unreadable(day));
            }
            return Ok(None);
        }
        self.left -= 1;
        let r = &mut self.reader;
        let offset = r.number().ok_or_else(|| unreadable(day))?;
        let len = r.number().ok_or_else(|| unreadable(day))? as usize;
        if len == 0 {
            return Err(unreadable(day));
        }
        self.points.clear();
        self.gaps.clear();
        for _ in 0..len {
            let local = r.number().ok_or_else(|| unreadable(day))?;
            if local >= self.names.len() as u64 {
                return Err(unreadable(day));
            }
            self.points.push(local as u32);
        }
        for _ in 1..len {
            self.gaps
                .push(r.number().ok_or_else(|| unreadable(day))? as i64);
        }
        Ok(Some(Lent {
            first_at: day * DAY_US + offset as i64,
            points: &self.points,
            gaps: &self.gaps,
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
        }
    }

    /// Every journey of the rows after applying `changes` to `rows`, as (day, first point,
    /// first instant, point keys, gaps), sorted.
    type Plain = (i64, String, i64, Vec<String>, Vec<i64>);

    fn apply_all(changes: &mut Changes, rows: &mut BTreeMap<(i64, String), Vec<u8>>) {
        for (day, point) in changes.rows() {
            let before = rows.remove(&(day, point.clone()));
            if let Some(body) = changes.apply(day, &point, before.as_deref()).unwrap() {
                rows.insert((day, point), body);
            }
        }
    }

    fn plain(rows: &BTreeMap<(i64, String), Vec<u8>>) -> Vec<Plain> {
        let mut keys = Keys::default();
        let mut all = Vec::new();
        for ((day, point), body) in rows {
            for j in decode(*day, body, &mut keys).unwrap() {
                assert_eq!(keys.key(j.points[0]), point);
                assert_eq!(day_of(j.first_at), *day);
                let names = j.points.iter().map(|&p| keys.key(p).to_owned()).collect();
                all.push((*day, point.clone(), j.first_at, names, j.gaps));
            }
        }
        all.sort();
        all
    }

    #[test]
    fn a_gap_equal_to_the_journey_gap_keeps_the_journey() {
        let touches = [(0, 0), (10, 1), (20, 0), (31, 1)];
        let journeys = cut(&touches, 10);
        assert_eq!(
            journeys,
            vec![
                Journey {
                    first_at: 0,
                    points: vec![0, 1, 0],
                    gaps: vec![10, 10]
                },
                Journey {
                    first_at: 31,
                    points: vec![1],
                    gaps: vec![]
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
        let mut changes = Changes::new(gap);
        changes.parties(&[], &old).unwrap();
        apply_all(&mut changes, &mut rows);
        // Two journeys, the second starting the next day.
        assert_eq!(
            plain(&rows),
            vec![
                (day, "web".into(), t0, vec!["web".into()], vec![]),
                (
                    day + 1,
                    "shop".into(),
                    t0 + 5 * HOUR,
                    vec!["shop".into()],
                    vec![]
                ),
            ]
        );
        // A touch between them, arriving late, makes them one.
        let late = [touch("p", "app", t0 + 2 * HOUR, "c")];
        let mut changes = Changes::new(gap);
        changes.parties(&old, &late).unwrap();
        apply_all(&mut changes, &mut rows);
        assert_eq!(
            plain(&rows),
            vec![(
                day,
                "web".into(),
                t0,
                vec!["web".into(), "app".into(), "shop".into()],
                vec![2 * HOUR, 3 * HOUR]
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
        let mut changes = Changes::new(HOUR);
        changes.parties(&[], &old).unwrap();
        apply_all(&mut changes, &mut rows);
        let mut changes = Changes::new(HOUR);
        changes.parties(&old, &new).unwrap();
        apply_all(&mut changes, &mut rows);
        // `a` unchanged, `b` new, `c`'s one-touch journey replaced by a longer one.
        assert_eq!(
            plain(&rows),
            vec![
                (0, "web".into(), 0, vec!["web".into()], vec![]),
                (
                    0,
                    "web".into(),
                    0,
                    vec!["web".into(), "shop".into()],
                    vec![10]
                ),
                (0, "web".into(), 10, vec!["web".into()], vec![]),
            ]
        );
    }

    #[test]
    fn touches_out_of_order_or_a_missing_journey_are_refused() {
        let mut changes = Changes::new(HOUR);
        let err = changes
            .parties(&[], &[touch("p", "web", 5, "b"), touch("p", "web", 5, "a")])
            .unwrap_err();
        assert!(err.to_string().contains("not in (at, id) order"), "{err}");
        // Removing a journey the row does not hold.
        let mut changes = Changes::new(HOUR);
        changes
            .parties(&[touch("p", "web", 0, "a")], &[touch("p", "web", 5, "b")])
            .unwrap();
        let err = changes.apply(0, "web", None).unwrap_err();
        assert!(err.to_string().contains("lack one"), "{err}");
    }

    #[test]
    fn batches_hold_whole_parties_and_lose_nothing() {
        // Parties of 1 to 2,000 touches, about BATCH * 3 touches in all.
        let mut all = Vec::new();
        let mut party = 0;
        while all.len() < BATCH * 3 {
            let n = 1 + (party * 7_919) % 2_000;
            for i in 0..n {
                all.push(touch(
                    &format!("p{party:06}"),
                    "web",
                    i as i64,
                    &format!("{i}"),
                ));
            }
            party += 1;
        }
        let mut batches = Batches::default();
        let mut got: Vec<Vec<PartyTouch>> = Vec::new();
        for t in all.iter().cloned() {
            got.extend(batches.push(t));
        }
        got.extend(batches.finish());
        assert!(got.len() >= 3, "{} batches", got.len());
        for pair in got.windows(2) {
            assert!(pair[0].len() >= BATCH);
            assert_ne!(
                pair[0].last().unwrap().party,
                pair[1][0].party,
                "a party split"
            );
        }
        assert_eq!(got.concat(), all);
        assert!(Batches::default().finish().is_none());
    }

    #[test]
    fn bodies_read_back_and_broken_ones_are_refused() {
        let mut keys = Keys::default();
        let (web, shop) = (keys.intern("web"), keys.intern("shop"));
        let journeys = vec![
            Journey {
                first_at: 7 * DAY_US + 1,
                points: vec![shop, web, shop],
                gaps: vec![300_000_000_000, 1],
            },
            Journey {
                first_at: 8 * DAY_US - 1,
                points: vec![shop],
                gaps: vec![],
            },
        ];
        let body = encode(7, &journeys, &keys);
        let mut other = Keys::default();
        other.intern("elsewhere");
        let back = decode(7, &body, &mut other).unwrap();
        let named = |js: &[Journey], k: &Keys| -> Vec<(i64, Vec<String>, Vec<i64>)> {
            js.iter()
                .map(|j| {
                    let names = j.points.iter().map(|&p| k.key(p).to_owned()).collect();
                    (j.first_at, names, j.gaps.clone())
                })
                .collect()
        };
        assert_eq!(named(&back, &other), named(&journeys, &keys));
        for cut_at in 0..body.len() {
            assert!(
                decode(7, &body[..cut_at], &mut other).is_err(),
                "cut at {cut_at}"
            );
        }
        let mut longer = body.clone();
        longer.push(0);
        assert!(decode(7, &longer, &mut other).is_err());
    }
}
