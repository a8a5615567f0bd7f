//! Journeys (R16) over a store: every party's counted events, in (`at`, `id`) order, cut into
//! journeys and summed up into the directly-follows graph, variants, hand-offs and weakest
//! links of METRICS.md's journey rule.
//!
//! The store keeps the journeys cut ahead of time, by the day of their first event and their
//! party ([`crate::journey_days`], [`Store::journey_rows`]): a request catches them up, reads
//! the period's days and [`Fold`] adds up the journeys the filter admits, with points by the
//! store's numbers, giving exactly what [`touchbase_core::journeys::summarize`] gives over
//! the same journeys (a conformance test holds the two together); [`attribution`] gives each
//! point's attribution from the same journeys.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;

use touchbase_core::attribution::{Attribution, Attributor};
use touchbase_core::inventory::Inventory;
use touchbase_core::journeys::{
    Edge, Filter, Node, PointFacts, Summary, facts, handoffs, median_s, rank,
};
use touchbase_core::period::{DAY_US, Period};

use super::{Days, Scope, ScopeError, cards};
use crate::journey_days::{Body, CatchUp, JourneyCut, catch_up};
use crate::{JourneyDay, JourneyRows, Store, StoreError};

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
    let days = Days::read(store, inventory, query.period).await?;
    summary_of(inventory, &days, query)
}

/// [`journeys`] over what [`Days::read`] read.
pub fn summary_of(
    inventory: &Inventory,
    days: &Days,
    query: &JourneyQuery,
) -> Result<Summary, StoreError> {
    let facts = facts(inventory, &effectiveness(inventory, days)?);
    let filter = Filter {
        period: Some(query.period),
        party_type: query.party_type.clone(),
        start: query.start.clone(),
    };
    let mut fold = Fold::new(filter, facts, &days.journeys.points);
    for day in &days.journeys.days {
        fold.add(day)?;
    }
    Ok(fold.summary(query.top))
}

/// Each point's effectiveness over the period, by key (what weakest links compare).
pub(super) fn effectiveness(
    inventory: &Inventory,
    days: &Days,
) -> Result<BTreeMap<String, Option<f64>>, StoreError> {
    let points: Vec<Scope> = inventory
        .points
        .iter()
        .map(|p| Scope::Point(p.key.clone()))
        .collect();
    Ok(cards(inventory, days, &points, None)
        .map_err(|e| StoreError::Corrupt(e.to_string()))?
        .into_iter()
        .filter_map(|c| Some((c.key?, c.scorecard.effectiveness)))
        .collect())
}

/// Brings the journeys the store keeps cut ahead of time up to date with the events on
/// record, under the inventory's cut (its `journey_gap` and points outside journeys), so
/// that the next request finds nothing to catch up on.
pub async fn keep_journeys_current(
    store: &dyn Store,
    inventory: &Inventory,
) -> Result<CatchUp, StoreError> {
    catch_up(store, &JourneyCut::of(inventory)).await
}

/// Each bucket's attribution (METRICS.md, "Attribution") from the whole organization's
/// journeys whose first event is in it, by point key; `buckets` in time order, each
/// adjoining the next (a period's split).
pub fn attribution(
    rows: &JourneyRows,
    buckets: &[Period],
) -> Result<Vec<BTreeMap<String, Attribution>>, StoreError> {
    let mut attributors = vec![Attributor::default(); buckets.len()];
    let (Some(first), Some(last)) = (buckets.first(), buckets.last()) else {
        return Ok(Vec::new());
    };
    let (from, to) = (first.from, last.to);
    for day in &rows.days {
        if (day.day + 1) * DAY_US <= from || day.day * DAY_US >= to {
            continue;
        }
        let mut body = Body::new(day.day, &day.body, rows.points.len());
        while let Some(j) = body.next_journey()? {
            if j.first_at < from || j.first_at >= to {
                continue;
            }
            let b = buckets.partition_point(|p| p.to <= j.first_at);
            attributors[b].add(j.points, j.value);
        }
    }
    Ok(attributors
        .iter()
        .map(|a| {
            a.finish()
                .into_iter()
                .enumerate()
                .filter(|(_, a)| a.journeys_through.is_some())
                .map(|(n, a)| (rows.points[n].clone(), a))
                .collect()
        })
        .collect())
}

/// Adds up the journeys of rows cut ahead of time ([`crate::journey_days`]) that a [`Filter`]
/// admits: edges with their gaps, variants, the number of journeys.
#[derive(Debug)]
pub struct Fold {
    filter: Filter,
    facts: BTreeMap<String, PointFacts>,
    points: Vec<String>,
    /// Per point number: whether a journey starting there meets the filter's start and party
    /// type.
    may_start: Vec<bool>,
    journeys: u64,
    /// Each (from, to) node pair's slot in `tallies`, `usize::MAX` for none; the nodes are
    /// the point numbers, then `start`, then `end`.
    slots: Vec<usize>,
    tallies: Vec<EdgeTally>,
    variants: FxHashMap<Vec<u32>, u64>,
}

#[derive(Debug)]
struct EdgeTally {
    from: usize,
    to: usize,
    count: u64,
    gaps: Vec<i64>,
}

impl Fold {
    /// A fold for the journeys `filter` admits among rows numbering their points by `points`;
    /// `facts` as [`facts`] gives them.
    pub fn new(filter: Filter, facts: BTreeMap<String, PointFacts>, points: &[String]) -> Fold {
        let may_start = points
            .iter()
            .map(|key| {
                filter.start.as_ref().is_none_or(|s| s == key)
                    && filter
                        .party_type
                        .as_ref()
                        .is_none_or(|t| facts.get(key).is_some_and(|p| &p.party == t))
            })
            .collect();
        let width = points.len() + 2;
        Fold {
            filter,
            facts,
            points: points.to_vec(),
            may_start,
            journeys: 0,
            slots: vec![usize::MAX; width * width],
            tallies: Vec::new(),
            variants: FxHashMap::default(),
        }
    }

    /// Adds up the journeys of one day that the filter admits.
    pub fn add(&mut self, day: &JourneyDay) -> Result<(), StoreError> {
        let n = self.points.len();
        let (start, end, width) = (n, n + 1, n + 2);
        let mut body = Body::new(day.day, &day.body, n);
        while let Some(j) = body.next_journey()? {
            if !self.may_start[j.points[0] as usize]
                || self.filter.period.is_some_and(|p| !p.contains(j.first_at))
            {
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
                let cell = &mut self.slots[from * width + to];
                if *cell == usize::MAX {
                    *cell = self.tallies.len();
                    self.tallies.push(EdgeTally {
                        from,
                        to,
                        count: 0,
                        gaps: Vec::new(),
                    });
                }
                let tally = &mut self.tallies[*cell];
                tally.count += 1;
                tally.gaps.extend(gap);
            }
            match self.variants.get_mut(j.points) {
                Some(count) => *count += 1,
                None => {
                    self.variants.insert(j.points.to_vec(), 1);
                }
            }
        }
        Ok(())
    }

    fn node(&self, i: usize) -> Node {
        match i {
            i if i == self.points.len() => Node::Start,
            i if i == self.points.len() + 1 => Node::End,
            i => Node::Point(self.points[i].clone()),
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
                    let keys = points.iter().map(|&i| self.points[i as usize].clone());
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
