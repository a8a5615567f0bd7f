//! Journeys (R16) over a store: every party's counted events, in (`at`, `id`) order, cut into
//! journeys and summed up into the directly-follows graph, variants, hand-offs and weakest
//! links of METRICS.md's journey rule.
//!
//! The store hands the events over in (party, `at`, `id`) order from a table it keeps in that
//! order ([`Store::party_touches`]): no request sorts all events. [`Fold`] cuts them into
//! journeys as they stream by and adds up the admitted ones with point keys interned, giving
//! exactly what [`touchbase_core::journeys::summarize`] gives over the same journeys (a test
//! holds the two together).

use std::collections::{BTreeMap, HashMap};

use touchbase_core::inventory::Inventory;
use touchbase_core::journeys::{
    Edge, Filter, Node, PointFacts, Summary, facts, handoffs, median_s, rank,
};
use touchbase_core::period::Period;

use super::{Days, Scope, ScopeError, cards};
use crate::{PartyTouch, Store, StoreError};

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
    let mut fold = Fold::new(
        filter,
        facts,
        inventory.organization.settings.journey_gap_us(),
    );
    let (sink, mut chunks) = tokio::sync::mpsc::channel::<Vec<PartyTouch>>(4);
    let read = store.party_touches(sink);
    let build = async {
        while let Some(chunk) = chunks.recv().await {
            for touch in &chunk {
                fold.push(touch)?;
            }
        }
        Ok::<_, StoreError>(())
    };
    let (read, build) = tokio::join!(read, build);
    read?;
    build?;
    Ok(fold.summary(query.top))
}

/// An interned node: a point's index, or one of the two virtual nodes.
const START: u32 = u32::MAX - 1;
const END: u32 = u32::MAX;

/// Cuts touches given in (party, `at`, `id`) order into journeys (METRICS.md) and adds up
/// those a [`Filter`] admits: edges with their gaps, variants, the number of journeys.
#[derive(Debug)]
pub struct Fold {
    filter: Filter,
    facts: BTreeMap<String, PointFacts>,
    gap_us: i64,
    keys: Vec<String>,
    index: HashMap<String, u32>,
    /// Per interned point: whether a journey starting there meets the filter's start and
    /// party type.
    may_start: Vec<bool>,
    party: Option<String>,
    last: Option<(i64, String)>,
    /// The open journey: (point, at) of each touch.
    open: Vec<(u32, i64)>,
    journeys: u64,
    edges: HashMap<(u32, u32), (u64, Vec<i64>)>,
    variants: HashMap<Vec<u32>, u64>,
}

impl Fold {
    /// A fold for the journeys `filter` admits; `facts` as [`facts`] gives them, `gap_us` the
    /// organization's `journey_gap` in microseconds.
    pub fn new(filter: Filter, facts: BTreeMap<String, PointFacts>, gap_us: i64) -> Fold {
        Fold {
            filter,
            facts,
            gap_us,
            keys: Vec::new(),
            index: HashMap::new(),
            may_start: Vec::new(),
            party: None,
            last: None,
            open: Vec::new(),
            journeys: 0,
            edges: HashMap::new(),
            variants: HashMap::new(),
        }
    }

    fn intern(&mut self, key: &str) -> u32 {
        if let Some(&i) = self.index.get(key) {
            return i;
        }
        let i = self.keys.len() as u32;
        let starts = self.filter.start.as_ref().is_none_or(|s| s == key)
            && self
                .filter
                .party_type
                .as_ref()
                .is_none_or(|t| self.facts.get(key).is_some_and(|p| &p.party == t));
        self.keys.push(key.to_owned());
        self.index.insert(key.to_owned(), i);
        self.may_start.push(starts);
        i
    }

    /// Takes the next touch; touches must come in (party, `at`, `id`) order, each once.
    pub fn push(&mut self, touch: &PartyTouch) -> Result<(), StoreError> {
        let point = self.intern(&touch.point);
        if self.party.as_deref() != Some(touch.party.as_str()) {
            if let Some(party) = &self.party
                && touch.party.as_bytes() < party.as_bytes()
            {
                return Err(StoreError::Corrupt(format!(
                    "the parties' events came out of order: party `{}` after `{party}`",
                    touch.party
                )));
            }
            self.close();
            self.party = Some(touch.party.clone());
            self.last = None;
        }
        if let Some((last_at, last_id)) = &self.last {
            if (touch.at, touch.id.as_str()) <= (*last_at, last_id.as_str()) {
                return Err(StoreError::Corrupt(format!(
                    "event `{}` of party `{}` came after event `{last_id}`, not in (at, id) order",
                    touch.id, touch.party
                )));
            }
            if touch.at.saturating_sub(*last_at) > self.gap_us {
                self.close();
            }
        }
        match &mut self.last {
            Some((at, id)) => {
                *at = touch.at;
                id.clear();
                id.push_str(&touch.id);
            }
            None => self.last = Some((touch.at, touch.id.clone())),
        }
        self.open.push((point, touch.at));
        Ok(())
    }

    /// Closes the open journey, adding it up when the filter admits it.
    fn close(&mut self) {
        let Some(&(first, first_at)) = self.open.first() else {
            return;
        };
        let admitted = self.may_start[first as usize]
            && self.filter.period.is_none_or(|p| p.contains(first_at));
        if admitted {
            self.journeys += 1;
            let edges = &mut self.edges;
            add_edge(edges, START, first, None);
            for pair in self.open.windows(2) {
                add_edge(edges, pair[0].0, pair[1].0, Some(pair[1].1 - pair[0].1));
            }
            add_edge(edges, self.open[self.open.len() - 1].0, END, None);
            let variant: Vec<u32> = self.open.iter().map(|t| t.0).collect();
            *self.variants.entry(variant).or_default() += 1;
        }
        self.open.clear();
    }

    fn node(&self, i: u32) -> Node {
        match i {
            START => Node::Start,
            END => Node::End,
            i => Node::Point(self.keys[i as usize].clone()),
        }
    }

    /// The summary of the admitted journeys (the last one closed first), as
    /// [`Summary::of`] gives it.
    pub fn summary(mut self, top: Option<usize>) -> Summary {
        self.close();
        let mut edges: Vec<Edge> = std::mem::take(&mut self.edges)
            .into_iter()
            .map(|((from, to), (count, mut gaps))| Edge {
                from: self.node(from),
                to: self.node(to),
                count,
                median_gap_s: median_s(&mut gaps),
            })
            .collect();
        edges.sort_by(|a, b| (&a.from, &a.to).cmp(&(&b.from, &b.to)));
        let variants = rank(
            self.variants.iter().map(|(points, count)| {
                let keys = points.iter().map(|&i| self.keys[i as usize].clone());
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

/// Counts one passage of an edge, with its gap.
fn add_edge(
    edges: &mut HashMap<(u32, u32), (u64, Vec<i64>)>,
    from: u32,
    to: u32,
    gap_us: Option<i64>,
) {
    let tally = edges.entry((from, to)).or_default();
    tally.0 += 1;
    tally.1.extend(gap_us);
}
