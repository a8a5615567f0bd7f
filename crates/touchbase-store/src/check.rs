//! `touchbase check`: the store's invariants verified from what it holds, each difference
//! named. The rollups are added up again from the counted events (as [`crate::rollup`] adds
//! them), the journeys kept ahead are cut again from the counted events themselves (not from
//! the party-ordered copy they are kept from), the counts of held events are compared with the
//! held events, and the audit trail is verified ([`crate::audit::verify`]).
//!
//! Reading is all through the [`Store`] trait, so every store is checked the same way. A
//! check reads every counted event twice (once per (point, day), once per party): it is an
//! operator's command, not something a request does.

use std::collections::BTreeMap;

use serde::Serialize;
use touchbase_core::{Actor, Entity, Permission, Status};

use crate::journey_days::{self, Changes, Journey, JourneyCut, Keys};
use crate::rollup::Tally;
use crate::{DayRollup, OpError, Store};

/// Instants far enough out that every event is between them (microseconds, about ±146,000
/// years), with room for the day arithmetic of the stores' range reads.
const EARLIEST: i64 = -(1 << 62);
const LATEST: i64 = 1 << 62;

/// What [`check`] went over, and what differs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// `sqlite` or `postgres`.
    pub backend: String,
    pub checked: Checked,
    /// Every difference found, in the order checked; empty when the store is intact.
    pub problems: Vec<Problem>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// How much was checked.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Checked {
    /// Counted (accepted) events on record.
    pub counted_events: u64,
    /// Held events on record (R8: at points that are not live).
    pub held_events: u64,
    /// Daily rollup rows compared with their events.
    pub rollup_rows: u64,
    /// Rows of journeys kept ahead compared with a fresh cut.
    pub journey_rows: u64,
    /// Journeys in them.
    pub journeys: u64,
    /// Rejected inputs on record.
    pub rejects: u64,
    /// Records of the audit trail verified.
    pub audit_records: u64,
}

/// One invariant that does not hold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    /// Which invariant: `rollup`, `journeys`, `held`, `rejects` or `audit`.
    pub kind: &'static str,
    /// What it is about (`rollup web.order 2026-03-01`, `journeys 2026-03-01 web.order`).
    pub subject: String,
    /// What differs, and what the store holds against what it should.
    pub detail: String,
}

/// Float sums added in another order (a batch's order, then the next batch's, against one
/// pass in (`at`, `id`) order) agree to within their rounding: relative 1e-9, or 1e-6 near 0.
fn close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1000.0)
}

/// Checks every invariant of `store` (needs the permission to export); never stops at the
/// first difference.
pub async fn check(store: &dyn Store, actor: &Actor) -> Result<Report, OpError> {
    actor.require(Permission::Export)?;
    let mut checked = Checked::default();
    let mut problems = Vec::new();

    // Rollups equal the events.
    let kept = store
        .rollups(crate::rollup::day_of(EARLIEST)..crate::rollup::day_of(LATEST))
        .await?;
    let fresh = store.tally_events(EARLIEST, LATEST).await?;
    checked.rollup_rows = kept.len() as u64;
    compare_rollups(&kept, &fresh, &mut problems);

    // Counts: the counted events are what the rollups count; held events are counted by
    // point, and none is at a live point (going live releases them).
    let (counted, held) = store.event_counts().await?;
    checked.counted_events = counted;
    checked.held_events = held;
    let in_rollups: u64 = kept.iter().map(|r| r.tally.n).sum();
    if in_rollups != counted {
        problems.push(Problem {
            kind: "rollup",
            subject: "rollups".into(),
            detail: format!(
                "the rollups count {in_rollups} events; {counted} counted events are on record"
            ),
        });
    }
    let held_points = store.held().await?;
    let by_point: u64 = held_points.iter().map(|h| h.volume).sum();
    if by_point != held {
        problems.push(Problem {
            kind: "held",
            subject: "held events".into(),
            detail: format!(
                "the held events by point add up to {by_point}; {held} held events are on record"
            ),
        });
    }
    let entities = store.entities().await?.value;
    let live = |key: &str| {
        entities
            .iter()
            .any(|e| matches!(e, Entity::Point(p) if p.key == key && p.status == Status::Live))
    };
    for h in held_points.iter().filter(|h| live(&h.point)) {
        problems.push(Problem {
            kind: "held",
            subject: format!("point {}", h.point),
            detail: format!(
                "{} events are held at a live point: they should count (going live releases them)",
                h.volume
            ),
        });
    }

    // Rejects: each kept with at least one reason.
    let rejects = store.rejects().await?;
    checked.rejects = rejects.len() as u64;
    for r in rejects.iter().filter(|r| r.reasons.is_empty()) {
        problems.push(Problem {
            kind: "rejects",
            subject: format!("reject {}", r.id),
            detail: "kept without a reason".into(),
        });
    }

    // The journeys kept ahead equal a fresh cut of the counted events.
    let inventory = crate::inventory::get(store).await?.value;
    let cut = JourneyCut::of(&inventory);
    journey_days::catch_up(store, &cut).await?;
    let rows = store
        .journey_rows(
            crate::rollup::day_of(EARLIEST),
            crate::rollup::day_of(LATEST),
        )
        .await?;
    let touches: Vec<crate::PartyTouch> = store
        .counted_touches()
        .await?
        .into_iter()
        .filter(|t| cut.admits(&t.point))
        .collect();
    checked.journey_rows = rows.days.len() as u64;
    checked.journeys = compare_journeys(&rows, &touches, cut.gap_us, &mut problems)?;

    // The audit trail.
    let audit = crate::audit::verify(store, actor).await?;
    checked.audit_records = audit.records;
    if let Some(broken) = audit.broken {
        problems.push(Problem {
            kind: "audit",
            subject: "audit trail".into(),
            detail: broken,
        });
    }

    Ok(Report {
        backend: store.backend().to_owned(),
        checked,
        problems,
    })
}

fn day_name(day: i64) -> String {
    jiff::Timestamp::from_second(day * 86_400)
        .map(|t| t.strftime("%Y-%m-%d").to_string())
        .unwrap_or_else(|_| format!("day {day}"))
}

/// Both lists in (point, day) order, point keys compared byte by byte.
fn compare_rollups(kept: &[DayRollup], fresh: &[DayRollup], problems: &mut Vec<Problem>) {
    let key = |r: &DayRollup| (r.point.as_bytes().to_vec(), r.day);
    let kept: BTreeMap<_, &Tally> = kept.iter().map(|r| (key(r), &r.tally)).collect();
    let fresh: BTreeMap<_, &Tally> = fresh.iter().map(|r| (key(r), &r.tally)).collect();
    let subject = |(point, day): &(Vec<u8>, i64)| {
        format!(
            "rollup {} {}",
            String::from_utf8_lossy(point),
            day_name(*day)
        )
    };
    for (k, tally) in &kept {
        match fresh.get(k) {
            None => problems.push(Problem {
                kind: "rollup",
                subject: subject(k),
                detail: format!(
                    "a rollup row counts {} events; no counted event is on that day",
                    tally.n
                ),
            }),
            Some(events) => {
                let differs = differences(tally, events);
                if !differs.is_empty() {
                    problems.push(Problem {
                        kind: "rollup",
                        subject: subject(k),
                        detail: format!("differs from its events: {}", differs.join(", ")),
                    });
                }
            }
        }
    }
    for (k, events) in fresh.iter().filter(|(k, _)| !kept.contains_key(*k)) {
        problems.push(Problem {
            kind: "rollup",
            subject: subject(k),
            detail: format!("{} counted events have no rollup row", events.n),
        });
    }
}

/// Each field of a rollup row that differs from its events' tally, as `field: kept (events: …)`.
fn differences(kept: &Tally, events: &Tally) -> Vec<String> {
    let mut out = Vec::new();
    let counts = [
        ("n", kept.n, events.n),
        ("intent_n", kept.intent_n, events.intent_n),
        ("satisfaction_n", kept.satisfaction_n, events.satisfaction_n),
        (
            "satisfaction_sum",
            kept.satisfaction_sum,
            events.satisfaction_sum,
        ),
        ("csat_n", kept.csat_n, events.csat_n),
        ("knowledge_n", kept.knowledge_n, events.knowledge_n),
        ("resolved_n", kept.resolved_n, events.resolved_n),
        (
            "resolved_true_n",
            kept.resolved_true_n,
            events.resolved_true_n,
        ),
        ("engaged_n", kept.engaged_n, events.engaged_n),
        ("conforms_n", kept.conforms_n, events.conforms_n),
    ];
    for (field, a, b) in counts {
        if a != b {
            out.push(format!("{field} {a} (events: {b})"));
        }
    }
    let sums = [
        ("value_company", kept.value_company, events.value_company),
        ("value_party", kept.value_party, events.value_party),
        ("cost", kept.cost, events.cost),
    ];
    for (field, a, b) in sums {
        if !close(a, b) {
            out.push(format!("{field} {a} (events: {b})"));
        }
    }
    out
}

/// A journey with its points named, comparable across numberings: (first instant, point
/// keys, gaps, the value's bits).
type Named = (i64, Vec<String>, Vec<i64>, u64);

fn named(journeys: Vec<Journey>, keys: &dyn Fn(u32) -> String) -> Vec<Named> {
    let mut out: Vec<Named> = journeys
        .into_iter()
        .map(|j| {
            let points = j.points.iter().map(|&p| keys(p)).collect();
            (j.first_at, points, j.gaps, j.value.to_bits())
        })
        .collect();
    out.sort();
    out
}

/// Compares the days kept with the journeys cut afresh from `touches` (in (party, `at`, `id`)
/// order); returns how many journeys the fresh cut has.
fn compare_journeys(
    rows: &crate::JourneyRows,
    touches: &[crate::PartyTouch],
    gap_us: i64,
    problems: &mut Vec<Problem>,
) -> Result<u64, OpError> {
    let mut changes = Changes::new(gap_us, Keys::default());
    changes.parties(&[], touches)?;
    let mut fresh: BTreeMap<i64, Vec<Journey>> = BTreeMap::new();
    for (day, party) in changes.rows() {
        if let Some(body) = changes.apply(day, &party, None)? {
            let known = changes.keys().len();
            fresh
                .entry(day)
                .or_default()
                .extend(journey_days::decode(day, &body, known)?);
        }
    }
    let fresh_keys = changes.keys().clone();
    let count = fresh.values().map(|j| j.len() as u64).sum();
    let fresh: BTreeMap<i64, Vec<Named>> = fresh
        .into_iter()
        .map(|(day, js)| (day, named(js, &|p| fresh_keys.key(p).to_owned())))
        .collect();
    let mut kept: BTreeMap<i64, Vec<Named>> = BTreeMap::new();
    for row in &rows.days {
        match journey_days::decode(row.day, &row.body, rows.points.len()) {
            Ok(journeys) => {
                kept.insert(
                    row.day,
                    named(journeys, &|p| rows.points[p as usize].clone()),
                );
            }
            Err(e) => problems.push(Problem {
                kind: "journeys",
                subject: format!("journeys {}", day_name(row.day)),
                detail: format!("the day's rows cannot be read: {e}"),
            }),
        }
    }
    let subject = |day: i64| format!("journeys {}", day_name(day));
    for (&day, journeys) in &fresh {
        match kept.get(&day) {
            None => problems.push(Problem {
                kind: "journeys",
                subject: subject(day),
                detail: format!(
                    "{} journeys begin this day; no row keeps them",
                    journeys.len()
                ),
            }),
            Some(row) if row != journeys => {
                let missing = journeys.iter().filter(|j| !row.contains(j)).count();
                let extra = row.iter().filter(|j| !journeys.contains(j)).count();
                problems.push(Problem {
                    kind: "journeys",
                    subject: subject(day),
                    detail: format!(
                        "the rows keep {} journeys, a fresh cut has {}: {missing} missing, {extra} not in the events",
                        row.len(),
                        journeys.len()
                    ),
                });
            }
            Some(_) => {}
        }
    }
    for (&day, row) in kept.iter().filter(|(k, _)| !fresh.contains_key(*k)) {
        problems.push(Problem {
            kind: "journeys",
            subject: subject(day),
            detail: format!(
                "the rows keep {} journeys; the events begin none this day",
                row.len()
            ),
        });
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_in_another_order_are_close_and_a_real_difference_is_not() {
        let values = [0.1, 0.2, 0.3, 1e6, -7.25, 3.3333];
        let forward: f64 = values.iter().sum();
        let backward: f64 = values.iter().rev().sum();
        assert!(close(forward, backward));
        assert!(!close(forward, forward + 0.01));
        assert!(!close(0.0, 1e-3));
    }
}
