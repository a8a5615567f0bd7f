//! Journeys (R16) over a store: every party's counted events, in (`at`, `id`) order, cut into
//! journeys and summed up into the directly-follows graph, variants, hand-offs and weakest
//! links of METRICS.md's journey rule.
//!
//! The store keeps the journeys cut ahead of time, by the day of their first event and their
//! first point ([`crate::journey_days`], [`Store::journey_days`]): a request reads the
//! period's rows and [`Fold`] adds up the journeys the filter admits, with point keys
//! interned, giving exactly what [`touchbase_core::journeys::summarize`] gives over the same
//! journeys (a conformance test holds the two together).

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;

use touchbase_core::inventory::Inventory;
use touchbase_core::journeys::{
    Edge, Filter, Node, PointFacts, Summary, facts, handoffs, median_s, rank,
};
use touchbase_core::period::{Period, day_of};

use super::{Days, Scope, ScopeError, cards};
use crate::journey_days::{self, Keys};
use crate::{JourneyDay, Store, StoreError};

/// Which journeys to sum up, and how many variants to list.
#[derive(Debug, Clone, PartialEq)]
pub struct JourneyQuery {
    /// Journeys whose first event is in it.
    pub period: Period,
    /// Journeys whose first point meets this party type.
    pub party_type: Option<String>,
    /// Journeys that start at this point.
    pub start: Option<String>,
    /// The most frequent variants to list; all when `None`.
    pub top: Option<usize>,
}

impl JourneyQuery {
    /// Refuses a party type or a start point the inventory does not know (they would only
    /// ever admit no journey).
    pub fn check(&self, inventory: &Inventory) -> Result<(), ScopeError> {
        if let Some(t) = &self.party_type
            && inventory.party(t).is_none()
        {
            let known: Vec<&str> = inventory.parties.iter().map(|p| p.key.as_str()).collect();
            return Err(ScopeError::PartyType {
                got: t.clone(),
                known: if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                },
            });
        }
        if let Some(k) = &self.start
            && inventory.point(k).is_none()
        {
            return Err(ScopeError::Point(k.clone()));
        }
        Ok(())
    }
}

/// The journey rule over every party's whole history (a journey is cut from all of a party's
/// events, not only the period's), for the journeys `query` admits; weakest links by each
/// point's effectiveness over the period.
pub async fn journeys(
    store: &dyn Store,
    inventory: &Inventory,
    query: &JourneyQuery,
) -> Result<Summary, StoreError> {
    let days = Days::read(store, query.period).await?;
    let points: Vec<Scope> = inventory
        .points
        .iter()
        .map(|p| Scope::Point(p.key.clone()))
        .collect();
    let effectiveness: BTreeMap<String, Option<f64>> = cards(inventory, &days, &points, None)
        .map_err(|e| StoreError::Corrupt(e.to_string()))?
        .into_iter()
        .filter_map(|c| Some((c.key?, c.scorecard.effectiveness)))
        .collect();
    let facts = facts(inventory, &effectiveness);
    let filter = Filter {
        period: Some(query.period),
        party_type: query.party_type.clone(),
        start: query.start.clone(),
    };
    let gap_us = inventory.organization.settings.journey_gap_us();
    let period = query.period;
    let rows = store
        .journey_days(gap_us, day_of(period.from), day_of(period.to - 1))
        .await?;
    let mut fold = Fold::new(filter, facts);
    for row in &rows {
        fold.add(row)?;
    }
    Ok(fold.summary(query.top))
}

/// Brings the journeys the store keeps cut ahead of time up to date with the events that
/// arrived since, under the organization's `journey_gap`, reading no row (an empty range of
/// days), so that the next request finds nothing to catch up on.
pub async fn keep_journeys_current(
    store: &dyn Store,
    inventory: &Inventory,
) -> Result<(), StoreError> {
    let gap_us = inventory.organization.settings.journey_gap_us();
    store.journey_days(gap_us, 1, 0).await.map(drop)
}

/// An interned node: a point's index, or one of the two virtual nodes.
const START: u32 = u32::MAX - 1;
const END: u32 = u32::MAX;

/// Adds up the journeys of rows cut ahead of time ([`crate::journey_days`]) that a [`Filter`]
/// admits: edges with their gaps, variants, the number of journeys.
#[derive(Debug)]
pub struct Fold {
    filter: Filter,
    facts: BTreeMap<String, PointFacts>,
    keys: Keys,
    /// Per interned point: whether a journey starting there meets the filter's start and
    /// party type.
    may_start: Vec<bool>,
    journeys: u64,
    /// Each edge's slot in `tallies`.
    slots: FxHashMap<(u32, u32), usize>,
    tallies: Vec<EdgeTally>,
    variants: FxHashMap<Vec<u32>, u64>,
}

#[derive(Debug)]
struct EdgeTally {
    from: u32,
    to: u32,
    count: u64,
    gaps: Vec<i64>,
}

impl Fold {
    /// A fold for the journeys `filter` admits; `facts` as [`facts`] gives them.
    pub fn new(filter: Filter, facts: BTreeMap<String, PointFacts>) -> Fold {
        Fold {
            filter,
            facts,
            keys: Keys::default(),
            may_start: Vec::new(),
            journeys: 0,
            slots: FxHashMap::default(),
            tallies: Vec::new(),
            variants: FxHashMap::default(),
        }
    }

    fn intern(&mut self, key: &str) -> u32 {
        let i = self.keys.intern(key);
        if i as usize == self.may_start.len() {
            let starts = self.filter.start.as_ref().is_none_or(|s| s == key)
                && self
                    .filter
                    .party_type
                    .as_ref()
                    .is_none_or(|t| self.facts.get(key).is_some_and(|p| &p.party == t));
            self.may_start.push(starts);
        }
        i
    }

    fn slot(&mut self, from: u32, to: u32) -> usize {
        let tallies = &mut self.tallies;
        *self.slots.entry((from, to)).or_insert_with(|| {
            tallies.push(EdgeTally {
                from,
                to,
                count: 0,
                gaps: Vec::new(),
            });
            tallies.len() - 1
        })
    }

    /// Adds up the journeys of one row that the filter admits.
    pub fn add(&mut self, row: &JourneyDay) -> Result<(), StoreError> {
        let first = self.intern(&row.point);
        if !self.may_start[first as usize] {
            return Ok(());
        }
        let mut body = journey_days::Body::parse(row.day, &row.body)?;
        let numbers: Vec<u32> = body.names.iter().map(|k| self.intern(k)).collect();
        // Each (from, to) pair of the body's positions gets its slot once per row; the last
        // two positions stand for `start` and `end`.
        let width = numbers.len() + 2;
        let (start, end) = (width - 2, width - 1);
        let mut local_slots = vec![usize::MAX; width * width];
        let mut variant = Vec::new();
        while let Some(j) = body.next_journey()? {
            if self.filter.period.is_some_and(|p| !p.contains(j.first_at)) {
                continue;
            }
            self.journeys += 1;
            let last = j.points.len() - 1;
            let passes = std::iter::once((start, j.points[0] as usize, None))
                .chain(
                    j.points
                        .windows(2)
                        .zip(j.gaps)
                        .map(|(pair, &gap)| (pair[0] as usize, pair[1] as usize, Some(gap))),
                )
                .chain(std::iter::once((j.points[last] as usize, end, None)));
            for (from, to, gap) in passes {
                let cell = &mut local_slots[from * width + to];
                if *cell == usize::MAX {
                    let node = |l: usize| match l {
                        l if l == start => START,
                        l if l == end => END,
                        l => numbers[l],
                    };
                    *cell = self.slot(node(from), node(to));
                }
                let tally = &mut self.tallies[*cell];
                tally.count += 1;
                tally.gaps.extend(gap);
            }
            variant.clear();
            variant.extend(j.points.iter().map(|&l| numbers[l as usize]));
            match self.variants.get_mut(variant.as_slice()) {
                Some(count) => *count += 1,
                None => {
                    self.variants.insert(variant.clone(), 1);
                }
            }
        }
        Ok(())
    }

    fn node(&self, i: u32) -> Node {
        match i {
            START => Node::Start,
            END => Node::End,
            i => Node::Point(self.keys.key(i).to_owned()),
        }
    }

    /// The summary of the admitted journeys, as [`Summary::of`] gives it.
    pub fn summary(mut self, top: Option<usize>) -> Summary {
        let mut edges: Vec<Edge> = std::mem::take(&mut self.tallies)
            .into_iter()
            .map(|mut t| Edge {
                from: self.node(t.from),
                to: self.node(t.to),
                count: t.count,
                median_gap_s: median_s(&mut t.gaps),
            })
            .collect();
        edges.sort_by(|a, b| (&a.from, &a.to).cmp(&(&b.from, &b.to)));
        // Only variants counted at least as often as the `top`-th most frequent one can be
        // among the first `top` (ties are ranked by text, so all of them go to `rank`).
        let least = match top {
            Some(0) => u64::MAX,
            Some(n) if n < self.variants.len() => {
                let mut counts: Vec<u64> = self.variants.values().copied().collect();
                *counts.select_nth_unstable_by(n - 1, |a, b| b.cmp(a)).1
            }
            _ => 0,
        };
        let variants = rank(
            self.variants
                .iter()
                .filter(|(_, count)| **count >= least)
                .map(|(points, count)| {
                    let keys = points.iter().map(|&i| self.keys.key(i).to_owned());
                    (keys.collect(), *count)
                }),
            &self.facts,
            top,
        );
        Summary {
            journeys: self.journeys,
            distinct_variants: self.variants.len() as u64,
            handoffs: handoffs(&edges, &self.facts),
            edges,
            variants,
        }
    }
}
