//! Journeys (METRICS.md, R16): the runs of one party's events, the directly-follows graph over
//! them, their variants and weakest links, and the hand-offs between business functions.
//!
//! # The pieces, and how a store keeps them up to date
//! - [`JourneyBuilder`] takes one party's accepted events in (`at`, `id`) order and hands back
//!   each journey as it closes (an event more than `journey_gap` after the last one).
//!   The last journey stays open — a later event may still extend it — until
//!   [`JourneyBuilder::finish`]. [`split`] runs a builder over a whole history;
//!   [`of_events`] does it for a set of events of many parties, skipping events without a
//!   party (they belong to no journey).
//! - [`Graph`] (edges, counts and gaps) and [`Variants`] (sequences and counts) are
//!   accumulators: [`Graph::add`] / [`Variants::add`] one journey, `merge` another
//!   accumulator. Merging is exact — counts add up and the gaps are kept, the median is taken
//!   only when the edges are read — so a store may keep one accumulator per (day of the first
//!   event, party type, first point) and merge those a [`Filter`] admits.
//! - [`summarize`] does all of it at once over finished journeys.
//!
//! A journey must be cut from the party's whole history: one that starts before a period and
//! goes on into it is not in the period, and one that starts in it is in it whole, including
//! its events after the period's end.
//!
//! # Choices where METRICS.md is silent
//! - **Nodes.** The virtual nodes serialize as `"start"` and `"end"`, points as their key.
//!   Edges are listed `start` first, then points by key, then `end` (by `from`, then `to`).
//! - **A variant's text** is its point keys joined by `" → "` (space, U+2192, space). Because
//!   the space sorts before every character a key may have, ordering by that text is ordering
//!   the key lists element by element (`a` before `a → b` before `a.b`). Variants are ranked
//!   by count, most first, then by text.
//! - **Weakest link.** Among the variant's points with an effectiveness over the period (a
//!   point with none, or unknown to the inventory, is passed over), the lowest; ties go to
//!   the smallest key. A variant none of whose points has an effectiveness has none.
//! - **Hand-off.** An edge between two points whose business functions are both known and
//!   differ; `start`/`end` edges and edges from a point to itself never are.
//! - **Party type of a journey** (for `--party-type`): the `party` of its first point in the
//!   inventory; a journey whose first point is unknown has none and is left out by that filter.
//! - **Median gap** in seconds, from microsecond gaps: the middle one, or the mean of the two
//!   middle ones for an even count; present on every point-to-point edge.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Serialize, Serializer};

use crate::event::Event;
use crate::inventory::Inventory;
use crate::period::Period;

/// One event of a journey: its point and instant (microseconds since the epoch).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Touch {
    pub point: String,
    pub at: i64,
    /// The event's `value.company` (a journey's value is their sum, see [`Journey::value`]).
    pub value: f64,
}

/// A maximal run of one party's events, each within `journey_gap` of the one before.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Journey {
    pub party: String,
    /// In (`at`, `id`) order; never empty.
    pub touches: Vec<Touch>,
}

impl Journey {
    /// The instant of its first event, which decides the period it is in.
    pub fn first_at(&self) -> i64 {
        self.touches.first().map_or(0, |t| t.at)
    }

    /// Its first point.
    pub fn first_point(&self) -> &str {
        self.touches.first().map_or("", |t| t.point.as_str())
    }

    /// Its value (METRICS.md, "Attribution"): the sum of its events' `value.company`, added
    /// in (`at`, `id`) order.
    pub fn value(&self) -> f64 {
        self.touches.iter().map(|t| t.value).sum()
    }

    /// Its variant: the sequence of point keys.
    pub fn points(&self) -> Vec<String> {
        self.touches.iter().map(|t| t.point.clone()).collect()
    }
}

/// A variant's text: its keys joined by `" → "`.
pub fn variant_text(points: &[String]) -> String {
    points.join(" → ")
}

/// An event given before one already taken: a party's events must come in (`at`, `id`) order,
/// each once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "event `{id}` at {at} of party `{party}` is not after the event `{last_id}` at {last_at} \
     taken before it; a party's events must come in (at, id) order, each once"
)]
pub struct OutOfOrder {
    pub party: String,
    pub id: String,
    pub at: i64,
    pub last_id: String,
    pub last_at: i64,
}

/// Cuts one party's events, given in (`at`, `id`) order, into journeys.
#[derive(Debug, Clone)]
pub struct JourneyBuilder {
    party: String,
    gap_us: i64,
    last: Option<(i64, String)>,
    open: Option<Journey>,
}

impl JourneyBuilder {
    /// A builder for `party`'s events; `gap_us` is `journey_gap` in microseconds (see
    /// [`crate::portfolio::Settings::journey_gap_us`]).
    pub fn new(party: impl Into<String>, gap_us: i64) -> JourneyBuilder {
        JourneyBuilder {
            party: party.into(),
            gap_us,
            last: None,
            open: None,
        }
    }

    /// The party whose events it takes.
    pub fn party(&self) -> &str {
        &self.party
    }

    /// Takes the next event. When it is more than `journey_gap` after the last one, the
    /// journey that was open closes and is returned; the event starts a new one. A gap of
    /// exactly `journey_gap` keeps the journey open ("at most").
    pub fn push(&mut self, point: &str, at: i64, id: &str) -> Result<Option<Journey>, OutOfOrder> {
        self.push_valued(point, at, id, 0.0)
    }

    /// [`JourneyBuilder::push`] of an event whose `value.company` is `value`.
    pub fn push_valued(
        &mut self,
        point: &str,
        at: i64,
        id: &str,
        value: f64,
    ) -> Result<Option<Journey>, OutOfOrder> {
        if let Some((last_at, last_id)) = &self.last
            && (at, id) <= (*last_at, last_id.as_str())
        {
            return Err(OutOfOrder {
                party: self.party.clone(),
                id: id.to_owned(),
                at,
                last_id: last_id.clone(),
                last_at: *last_at,
            });
        }
        let continues = self
            .last
            .as_ref()
            .is_some_and(|(last_at, _)| at.saturating_sub(*last_at) <= self.gap_us);
        let touch = Touch {
            point: point.to_owned(),
            at,
            value,
        };
        let closed = match &mut self.open {
            Some(open) if continues => {
                open.touches.push(touch);
                None
            }
            _ => self.open.replace(Journey {
                party: self.party.clone(),
                touches: vec![touch],
            }),
        };
        self.last = Some((at, id.to_owned()));
        Ok(closed)
    }

    /// The journey still open (the last event's), which a later event may extend.
    pub fn open(&self) -> Option<&Journey> {
        self.open.as_ref()
    }

    /// Closes the open journey and returns it.
    pub fn finish(self) -> Option<Journey> {
        self.open
    }
}

/// One party's journeys, from its events given as (point key, `at`, id) in (`at`, `id`) order.
pub fn split<P: AsRef<str>, I: AsRef<str>>(
    party: &str,
    events: impl IntoIterator<Item = (P, i64, I)>,
    gap_us: i64,
) -> Result<Vec<Journey>, OutOfOrder> {
    let mut builder = JourneyBuilder::new(party, gap_us);
    let mut journeys = Vec::new();
    for (point, at, id) in events {
        journeys.extend(builder.push(point.as_ref(), at, id.as_ref())?);
    }
    journeys.extend(builder.finish());
    Ok(journeys)
}

/// The journeys of a set of accepted events of any parties, in any order: events without a
/// party are skipped, and so are events at a point `excluded` holds (declared
/// `journeys: false`, see [`Inventory::outside_journeys`]); each party's are put in (`at`,
/// `id`) order (an id given twice counts once). Journeys come by party, then in time.
pub fn of_events<'a>(
    events: impl IntoIterator<Item = &'a Event>,
    gap_us: i64,
    excluded: &BTreeSet<String>,
) -> Vec<Journey> {
    let mut by_party: BTreeMap<&str, Vec<&Event>> = BTreeMap::new();
    for e in events {
        if let Some(party) = &e.party
            && !excluded.contains(&e.point)
        {
            by_party.entry(party).or_default().push(e);
        }
    }
    let mut journeys = Vec::new();
    for (party, mut events) in by_party {
        events.sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
        events.dedup_by(|a, b| (a.at, &a.id) == (b.at, &b.id));
        let mut builder = JourneyBuilder::new(party, gap_us);
        for e in events {
            // Sorted and without duplicates, so never out of order.
            if let Ok(closed) = builder.push_valued(&e.point, e.at, &e.id, e.value_company) {
                journeys.extend(closed);
            }
        }
        journeys.extend(builder.finish());
    }
    journeys
}

/// A node of the directly-follows graph. Ordered `Start`, points by key, `End`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Node {
    Start,
    Point(String),
    End,
}

impl Node {
    /// `"start"`, the point's key, or `"end"`.
    pub fn as_str(&self) -> &str {
        match self {
            Node::Start => "start",
            Node::Point(key) => key,
            Node::End => "end",
        }
    }
}

impl Serialize for Node {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// An edge of the directly-follows graph.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Edge {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub from: Node,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub to: Node,
    /// Journeys that took it (once per passage).
    pub count: u64,
    /// The median gap between its two events, in seconds; `None` for `start`/`end` edges.
    pub median_gap_s: Option<f64>,
}

/// An edge between two points of different business functions: a silo crossing.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Handoff {
    pub from: String,
    pub to: String,
    pub from_function: String,
    pub to_function: String,
    pub count: u64,
    pub median_gap_s: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq)]
struct EdgeTally {
    count: u64,
    /// Every gap, in microseconds (none for `start`/`end` edges).
    gaps_us: Vec<i64>,
}

/// The directly-follows graph, accumulated journey by journey.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Graph {
    journeys: u64,
    edges: BTreeMap<(Node, Node), EdgeTally>,
}

impl Graph {
    /// Adds one journey: `start → p1`, each `pi → pi+1` with its gap, `pk → end`.
    pub fn add(&mut self, journey: &Journey) {
        let (Some(first), Some(last)) = (journey.touches.first(), journey.touches.last()) else {
            return;
        };
        self.journeys += 1;
        self.edge(Node::Start, Node::Point(first.point.clone()), None);
        for pair in journey.touches.windows(2) {
            self.edge(
                Node::Point(pair[0].point.clone()),
                Node::Point(pair[1].point.clone()),
                Some(pair[1].at - pair[0].at),
            );
        }
        self.edge(Node::Point(last.point.clone()), Node::End, None);
    }

    fn edge(&mut self, from: Node, to: Node, gap_us: Option<i64>) {
        let tally = self.edges.entry((from, to)).or_default();
        tally.count += 1;
        tally.gaps_us.extend(gap_us);
    }

    /// Adds another graph's journeys.
    pub fn merge(&mut self, other: &Graph) {
        self.journeys += other.journeys;
        for (key, tally) in &other.edges {
            let mine = self.edges.entry(key.clone()).or_default();
            mine.count += tally.count;
            mine.gaps_us.extend_from_slice(&tally.gaps_us);
        }
    }

    /// How many journeys it holds.
    pub fn journeys(&self) -> u64 {
        self.journeys
    }

    /// Its edges, by `from` then `to` (`start` first, `end` last).
    pub fn edges(&self) -> Vec<Edge> {
        self.edges
            .iter()
            .map(|((from, to), tally)| Edge {
                from: from.clone(),
                to: to.clone(),
                count: tally.count,
                median_gap_s: median_s(&mut tally.gaps_us.clone()),
            })
            .collect()
    }

    /// Its hand-offs (see the module's choices), in the order of [`Graph::edges`].
    pub fn handoffs(&self, points: &BTreeMap<String, PointFacts>) -> Vec<Handoff> {
        handoffs(&self.edges(), points)
    }
}

/// The hand-offs among `edges` (see the module's choices), in their order.
pub fn handoffs(edges: &[Edge], points: &BTreeMap<String, PointFacts>) -> Vec<Handoff> {
    let function = |node: &Node| match node {
        Node::Point(key) => points.get(key).map(|p| p.function.as_str()),
        Node::Start | Node::End => None,
    };
    edges
        .iter()
        .filter_map(|edge| {
            let (from_function, to_function) = (function(&edge.from)?, function(&edge.to)?);
            (from_function != to_function).then(|| Handoff {
                from: edge.from.as_str().to_owned(),
                to: edge.to.as_str().to_owned(),
                from_function: from_function.to_owned(),
                to_function: to_function.to_owned(),
                count: edge.count,
                median_gap_s: edge.median_gap_s,
            })
        })
        .collect()
}

/// The median of microsecond gaps, in seconds (the middle one, or the mean of the two middle
/// ones for an even count); `None` without gaps. Reorders `gaps_us` (selection, not a sort).
pub fn median_s(gaps_us: &mut [i64]) -> Option<f64> {
    let n = gaps_us.len();
    if n == 0 {
        return None;
    }
    let (below, &mut middle, _) = gaps_us.select_nth_unstable(n / 2);
    let median_us = if n % 2 == 1 {
        middle as f64
    } else {
        let lower = below.iter().copied().max().unwrap_or(middle);
        (lower as f64 + middle as f64) / 2.0
    };
    Some(median_us / 1_000_000.0)
}

/// What the journey rule needs to know of a point: its business function, its party type and
/// its effectiveness over the period (`None` when it has none).
#[derive(Debug, Clone, PartialEq)]
pub struct PointFacts {
    pub function: String,
    pub party: String,
    pub effectiveness: Option<f64>,
}

/// The facts of every point of `inventory`, with the effectiveness each has in
/// `effectiveness` (a point missing from it has none).
pub fn facts(
    inventory: &Inventory,
    effectiveness: &BTreeMap<String, Option<f64>>,
) -> BTreeMap<String, PointFacts> {
    inventory
        .points
        .iter()
        .map(|p| {
            (
                p.key.clone(),
                PointFacts {
                    function: p.function.clone(),
                    party: p.party.clone(),
                    effectiveness: effectiveness.get(&p.key).copied().flatten(),
                },
            )
        })
        .collect()
}

/// The point of a variant with the lowest effectiveness.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WeakestLink {
    pub point: String,
    pub effectiveness: f64,
}

/// A journey's sequence of points, how many journeys followed it, and its weakest link.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Variant {
    pub points: Vec<String>,
    /// The keys joined by `" → "`: what ties in count are ordered by.
    pub text: String,
    pub count: u64,
    pub weakest_link: Option<WeakestLink>,
}

/// Variants and their counts, accumulated journey by journey.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Variants {
    counts: BTreeMap<Vec<String>, u64>,
}

impl Variants {
    pub fn add(&mut self, journey: &Journey) {
        if !journey.touches.is_empty() {
            *self.counts.entry(journey.points()).or_default() += 1;
        }
    }

    pub fn merge(&mut self, other: &Variants) {
        for (points, count) in &other.counts {
            *self.counts.entry(points.clone()).or_default() += count;
        }
    }

    /// How many different variants there are.
    pub fn distinct(&self) -> usize {
        self.counts.len()
    }

    /// The variants ranked by count, most first, then by text; the first `top` of them
    /// (all with `None`), each with its weakest link.
    pub fn ranked(
        &self,
        points: &BTreeMap<String, PointFacts>,
        top: Option<usize>,
    ) -> Vec<Variant> {
        rank(
            self.counts
                .iter()
                .map(|(keys, count)| (keys.clone(), *count)),
            points,
            top,
        )
    }
}

/// Variants ranked by count, most first, then by text; the first `top` of them (all with
/// `None`), each with its weakest link.
pub fn rank(
    counts: impl IntoIterator<Item = (Vec<String>, u64)>,
    points: &BTreeMap<String, PointFacts>,
    top: Option<usize>,
) -> Vec<Variant> {
    let mut ranked: Vec<(String, Vec<String>, u64)> = counts
        .into_iter()
        .map(|(keys, count)| (variant_text(&keys), keys, count))
        .collect();
    ranked.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
    ranked.truncate(top.unwrap_or(usize::MAX));
    ranked
        .into_iter()
        .map(|(text, keys, count)| Variant {
            weakest_link: weakest_link(&keys, points),
            points: keys,
            text,
            count,
        })
        .collect()
}

/// The point of `keys` with the lowest effectiveness, ties to the smallest key; points without
/// one are passed over.
pub fn weakest_link(keys: &[String], points: &BTreeMap<String, PointFacts>) -> Option<WeakestLink> {
    keys.iter()
        .filter_map(|key| Some((key, points.get(key)?.effectiveness?)))
        .min_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(b.0)))
        .map(|(key, effectiveness)| WeakestLink {
            point: key.clone(),
            effectiveness,
        })
}

/// Which journeys count: those whose first event is in `period`, whose party type (its first
/// point's `party`) is `party_type`, and whose first point is `start` — each when given.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    pub period: Option<Period>,
    pub party_type: Option<String>,
    pub start: Option<String>,
}

impl Filter {
    pub fn admits(&self, journey: &Journey, points: &BTreeMap<String, PointFacts>) -> bool {
        let first = journey.first_point();
        self.period.is_none_or(|p| p.contains(journey.first_at()))
            && self.start.as_ref().is_none_or(|s| s == first)
            && self
                .party_type
                .as_ref()
                .is_none_or(|t| points.get(first).is_some_and(|p| &p.party == t))
    }
}

/// The journey rule over a set of journeys. (`JourneySummary` in the API's document, beside
/// the ingest summary.)
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = JourneySummary))]
pub struct Summary {
    /// Journeys the filter admitted.
    pub journeys: u64,
    /// Different variants among them.
    pub distinct_variants: u64,
    pub edges: Vec<Edge>,
    pub handoffs: Vec<Handoff>,
    /// Ranked; the first `top` when given.
    pub variants: Vec<Variant>,
}

/// The graph, hand-offs and ranked variants of the journeys `filter` admits.
pub fn summarize<'a>(
    journeys: impl IntoIterator<Item = &'a Journey>,
    filter: &Filter,
    points: &BTreeMap<String, PointFacts>,
    top: Option<usize>,
) -> Summary {
    let mut graph = Graph::default();
    let mut variants = Variants::default();
    for journey in journeys {
        if filter.admits(journey, points) {
            graph.add(journey);
            variants.add(journey);
        }
    }
    Summary::of(&graph, &variants, points, top)
}

impl Summary {
    /// The summary of accumulated journeys: the graph's edges and hand-offs, the variants
    /// ranked (the first `top` when given).
    pub fn of(
        graph: &Graph,
        variants: &Variants,
        points: &BTreeMap<String, PointFacts>,
        top: Option<usize>,
    ) -> Summary {
        Summary {
            journeys: graph.journeys(),
            distinct_variants: variants.distinct() as u64,
            edges: graph.edges(),
            handoffs: graph.handoffs(points),
            variants: variants.ranked(points, top),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::event::Outcomes;

    const S: i64 = 1_000_000;
    const H: i64 = 3_600 * S;
    const DAY: i64 = 24 * H;

    /// web.browse (marketing, 0.9), web.order (sales, 0.5), store.pickup (fulfillment, 0.5),
    /// call.help (service, no effectiveness), all for households; b2b.quote (sales, 0.2) for
    /// businesses.
    fn points() -> BTreeMap<String, PointFacts> {
        [
            ("web.browse", "marketing", "household", Some(0.9)),
            ("web.order", "sales", "household", Some(0.5)),
            ("store.pickup", "fulfillment", "household", Some(0.5)),
            ("call.help", "service", "household", None),
            ("b2b.quote", "sales", "business", Some(0.2)),
        ]
        .into_iter()
        .map(|(key, function, party, effectiveness)| {
            (
                key.to_owned(),
                PointFacts {
                    function: function.to_owned(),
                    party: party.to_owned(),
                    effectiveness,
                },
            )
        })
        .collect()
    }

    /// A journey of `party` through `(point, at)`.
    fn journey(party: &str, touches: &[(&str, i64)]) -> Journey {
        Journey {
            party: party.to_owned(),
            touches: touches
                .iter()
                .map(|(point, at)| Touch {
                    point: (*point).to_owned(),
                    at: *at,
                    value: 0.0,
                })
                .collect(),
        }
    }

    fn keys(journeys: &[Journey]) -> Vec<Vec<String>> {
        journeys.iter().map(Journey::points).collect()
    }

    #[test]
    fn a_gap_of_exactly_journey_gap_stays_in_the_journey() {
        let events = [
            ("web.browse", 0, "a"),
            ("web.order", DAY, "b"), // exactly one day later: same journey
            ("store.pickup", 2 * DAY + 1, "c"), // one day and 1 µs later: a new one
            ("call.help", 2 * DAY + 1, "d"), // same instant, next id
        ];
        let journeys = split("p1", events, DAY).unwrap();
        assert_eq!(
            journeys,
            [
                journey("p1", &[("web.browse", 0), ("web.order", DAY)]),
                journey(
                    "p1",
                    &[("store.pickup", 2 * DAY + 1), ("call.help", 2 * DAY + 1)]
                ),
            ]
        );
        assert_eq!(journeys[1].first_at(), 2 * DAY + 1);
    }

    #[test]
    fn the_builder_hands_back_each_journey_as_it_closes() {
        let mut b = JourneyBuilder::new("p1", DAY);
        assert_eq!(b.push("web.browse", 0, "a").unwrap(), None);
        assert_eq!(b.push("web.order", H, "b").unwrap(), None);
        assert_eq!(
            b.open().map(Journey::points).unwrap(),
            ["web.browse", "web.order"]
        );
        let closed = b.push("call.help", 3 * DAY, "c").unwrap();
        assert_eq!(
            closed,
            Some(journey("p1", &[("web.browse", 0), ("web.order", H)]))
        );
        assert_eq!(b.finish(), Some(journey("p1", &[("call.help", 3 * DAY)])));
        assert_eq!(JourneyBuilder::new("p2", DAY).finish(), None);
    }

    #[test]
    fn events_out_of_order_are_refused() {
        let mut b = JourneyBuilder::new("p1", DAY);
        b.push("web.browse", 10, "m").unwrap();
        let earlier = b.push("web.order", 5, "z").unwrap_err();
        assert_eq!((earlier.at, earlier.last_at), (5, 10));
        assert!(
            b.push("web.order", 10, "a").is_err(),
            "same instant, smaller id"
        );
        assert!(
            b.push("web.order", 10, "m").is_err(),
            "the same event twice"
        );
        assert!(
            b.push("web.order", 10, "n").is_ok(),
            "same instant, larger id"
        );
        assert!(
            split("p1", [("a", 2, "x"), ("b", 1, "y")], DAY)
                .unwrap_err()
                .to_string()
                .contains("must come in (at, id) order")
        );
    }

    fn event(id: &str, point: &str, at: i64, party: Option<&str>) -> Event {
        Event {
            id: id.to_owned(),
            point: point.to_owned(),
            at,
            party: party.map(str::to_owned),
            channel: None,
            outcomes: Outcomes::default(),
            value_company: 0.0,
            value_party: 0.0,
            cost: 0.0,
            duration_s: None,
            data: None,
            vars: None,
        }
    }

    #[test]
    fn events_without_a_party_belong_to_no_journey() {
        let events = [
            event("3", "store.pickup", 2 * H, Some("p1")),
            event("x", "call.help", H, None),
            event("b", "web.order", H, Some("p1")),
            event("a", "web.browse", H, Some("p1")), // same instant as "b", smaller id
            event("y", "web.order", 0, Some("p2")),
            event("z", "call.help", 0, None),
        ];
        let journeys = of_events(&events, DAY, &BTreeSet::new());
        assert_eq!(
            keys(&journeys),
            [
                vec!["web.browse", "web.order", "store.pickup"],
                vec!["web.order"],
            ]
        );
        assert_eq!(journeys[0].party, "p1");
        assert_eq!(journeys[1].party, "p2");
        assert_eq!(of_events(&events[1..2], DAY, &BTreeSet::new()), []);
    }

    #[test]
    fn events_at_a_point_outside_journeys_neither_join_nor_bridge_them() {
        // A sensor reading a day after the browse and a day before the order would hold the
        // two in one journey under a gap of one day; outside journeys, it does not.
        let mut events = vec![
            event("a", "web.browse", 0, Some("p1")),
            event("s", "call.help", DAY, Some("p1")),
            event("b", "web.order", 2 * DAY, Some("p1")),
        ];
        events[0].value_company = 1.5;
        events[2].value_company = 4.0;
        assert_eq!(
            keys(&of_events(&events, DAY, &BTreeSet::new())),
            [vec!["web.browse", "call.help", "web.order"]]
        );
        let outside = BTreeSet::from(["call.help".to_owned()]);
        let journeys = of_events(&events, DAY, &outside);
        assert_eq!(keys(&journeys), [vec!["web.browse"], vec!["web.order"]]);
        assert_eq!((journeys[0].value(), journeys[1].value()), (1.5, 4.0));
    }

    /// Four journeys through browse → order (gaps 60, 120, 90 and 30 s), two of which go on to
    /// pickup (gaps 3600 and 1800 s).
    fn four() -> Vec<Journey> {
        vec![
            journey(
                "p1",
                &[
                    ("web.browse", 0),
                    ("web.order", 60 * S),
                    ("store.pickup", 3_660 * S),
                ],
            ),
            journey("p2", &[("web.browse", 0), ("web.order", 120 * S)]),
            journey(
                "p3",
                &[
                    ("web.browse", 0),
                    ("web.order", 90 * S),
                    ("store.pickup", 1_890 * S),
                ],
            ),
            journey("p4", &[("web.browse", 0), ("web.order", 30 * S)]),
        ]
    }

    fn edges(graph: &Graph) -> Vec<(String, String, u64, Option<f64>)> {
        graph
            .edges()
            .into_iter()
            .map(|e| {
                (
                    e.from.as_str().to_owned(),
                    e.to.as_str().to_owned(),
                    e.count,
                    e.median_gap_s,
                )
            })
            .collect()
    }

    fn e(
        from: &str,
        to: &str,
        count: u64,
        median: Option<f64>,
    ) -> (String, String, u64, Option<f64>) {
        (from.to_owned(), to.to_owned(), count, median)
    }

    #[test]
    fn the_directly_follows_graph_with_even_and_odd_medians() {
        let mut graph = Graph::default();
        for j in &four() {
            graph.add(j);
        }
        assert_eq!(graph.journeys(), 4);
        assert_eq!(
            edges(&graph),
            [
                e("start", "web.browse", 4, None),
                e("store.pickup", "end", 2, None),
                // 30, 60, 90, 120: the mean of 60 and 90
                e("web.browse", "web.order", 4, Some(75.0)),
                // 1800, 3600: the mean of the two
                e("web.order", "store.pickup", 2, Some(2_700.0)),
                e("web.order", "end", 2, None),
            ]
        );
        // A fifth journey, merged from another graph: 30, 45, 60, 90, 120 has 60 in the middle.
        let mut other = Graph::default();
        other.add(&journey("p5", &[("web.browse", 0), ("web.order", 45 * S)]));
        graph.merge(&other);
        assert_eq!(graph.journeys(), 5);
        assert_eq!(
            edges(&graph),
            [
                e("start", "web.browse", 5, None),
                e("store.pickup", "end", 2, None),
                e("web.browse", "web.order", 5, Some(60.0)),
                e("web.order", "store.pickup", 2, Some(2_700.0)),
                e("web.order", "end", 3, None),
            ]
        );
        // Merging is the same as adding every journey to one graph.
        let mut all = Graph::default();
        for j in four()
            .iter()
            .chain([&journey("p5", &[("web.browse", 0), ("web.order", 45 * S)])])
        {
            all.add(j);
        }
        assert_eq!(edges(&all), edges(&graph));
    }

    #[test]
    fn a_hand_off_crosses_business_functions() {
        let mut graph = Graph::default();
        for j in &four() {
            graph.add(j);
        }
        // web.order and b2b.quote are both sales; kiosk.scan is not in the inventory.
        graph.add(&journey(
            "p6",
            &[
                ("web.order", 0),
                ("b2b.quote", 10 * S),
                ("kiosk.scan", 20 * S),
                ("kiosk.scan", 30 * S),
            ],
        ));
        let handoffs: Vec<(String, String, String, String, u64)> = graph
            .handoffs(&points())
            .into_iter()
            .map(|h| (h.from, h.to, h.from_function, h.to_function, h.count))
            .collect();
        let h = |a: &str, b: &str, fa: &str, fb: &str, n| {
            (a.to_owned(), b.to_owned(), fa.to_owned(), fb.to_owned(), n)
        };
        assert_eq!(
            handoffs,
            [
                h("web.browse", "web.order", "marketing", "sales", 4),
                h("web.order", "store.pickup", "sales", "fulfillment", 2),
            ]
        );
    }

    #[test]
    fn variants_rank_by_count_then_text_with_their_weakest_links() {
        let mut variants = Variants::default();
        let browse_order = journey("p", &[("web.browse", 0), ("web.order", 1)]);
        let browse_order_pickup = journey(
            "p",
            &[("web.browse", 0), ("web.order", 1), ("store.pickup", 2)],
        );
        for j in [
            &browse_order_pickup,
            &browse_order,
            &browse_order_pickup,
            &browse_order,
            &journey("p", &[("web.browse.x", 0)]),
            &journey("p", &[("web.browse", 0), ("call.help", 1)]),
            &journey("p", &[("web.browse", 0)]),
            &journey("p", &[("call.help", 0)]),
        ] {
            variants.add(j);
        }
        assert_eq!(variants.distinct(), 6);
        type Ranked = (String, u64, Option<(String, f64)>);
        let ranked: Vec<Ranked> = variants
            .ranked(&points(), None)
            .into_iter()
            .map(|v| {
                assert_eq!(v.text, v.points.join(" → "));
                (
                    v.text,
                    v.count,
                    v.weakest_link.map(|w| (w.point, w.effectiveness)),
                )
            })
            .collect();
        let v = |text: &str, count, weakest: Option<(&str, f64)>| {
            (
                text.to_owned(),
                count,
                weakest.map(|(p, e)| (p.to_owned(), e)),
            )
        };
        assert_eq!(
            ranked,
            [
                // count 2: a prefix comes first
                v("web.browse → web.order", 2, Some(("web.order", 0.5))),
                // web.order and store.pickup tie at 0.5: the smaller key
                v(
                    "web.browse → web.order → store.pickup",
                    2,
                    Some(("store.pickup", 0.5))
                ),
                // count 1, by text; call.help has no effectiveness, web.browse.x is unknown
                v("call.help", 1, None),
                v("web.browse", 1, Some(("web.browse", 0.9))),
                v("web.browse → call.help", 1, Some(("web.browse", 0.9))),
                v("web.browse.x", 1, None),
            ]
        );
        let top: Vec<String> = variants
            .ranked(&points(), Some(3))
            .into_iter()
            .map(|v| v.text)
            .collect();
        assert_eq!(
            top,
            [
                "web.browse → web.order",
                "web.browse → web.order → store.pickup",
                "call.help",
            ]
        );
        let mut half = Variants::default();
        half.add(&browse_order);
        let mut other = Variants::default();
        other.add(&browse_order);
        other.add(&journey("p", &[("call.help", 0)]));
        half.merge(&other);
        let merged: Vec<(String, u64)> = half
            .ranked(&points(), None)
            .into_iter()
            .map(|v| (v.text, v.count))
            .collect();
        assert_eq!(
            merged,
            [
                ("web.browse → web.order".to_owned(), 2),
                ("call.help".to_owned(), 1)
            ]
        );
    }

    #[test]
    fn a_journey_is_in_the_period_of_its_first_event() {
        let journeys = [
            // Starts the day before and goes on into the day: not in it.
            journey("p1", &[("web.browse", -H), ("web.order", H)]),
            // Starts in the day and goes on after it: in it, whole.
            journey("p2", &[("web.browse", 22 * H), ("store.pickup", 27 * H)]),
            // A business's journey in the day.
            journey("p3", &[("b2b.quote", 10 * H)]),
            // Starts at the period's end: not in it (half-open).
            journey("p4", &[("web.order", DAY)]),
        ];
        let day = Period::new(0, DAY).unwrap();
        let admitted = |filter: Filter| -> Vec<String> {
            journeys
                .iter()
                .filter(|j| filter.admits(j, &points()))
                .map(|j| j.party.clone())
                .collect()
        };
        assert_eq!(admitted(Filter::default()), ["p1", "p2", "p3", "p4"]);
        let in_the_day = Filter {
            period: Some(day),
            ..Filter::default()
        };
        assert_eq!(admitted(in_the_day.clone()), ["p2", "p3"]);
        let households = Filter {
            party_type: Some("household".into()),
            ..Filter::default()
        };
        assert_eq!(admitted(households), ["p1", "p2", "p4"]);
        let households_in_the_day = Filter {
            party_type: Some("household".into()),
            ..in_the_day.clone()
        };
        assert_eq!(admitted(households_in_the_day), ["p2"]);
        let from_order = Filter {
            start: Some("web.order".into()),
            ..Filter::default()
        };
        assert_eq!(admitted(from_order), ["p4"]);

        let summary = summarize(&journeys, &in_the_day, &points(), Some(1));
        assert_eq!(
            serde_json::to_value(&summary).unwrap(),
            json!({
                "journeys": 2,
                "distinct_variants": 2,
                "edges": [
                    { "from": "start", "to": "b2b.quote", "count": 1, "median_gap_s": null },
                    { "from": "start", "to": "web.browse", "count": 1, "median_gap_s": null },
                    { "from": "b2b.quote", "to": "end", "count": 1, "median_gap_s": null },
                    { "from": "store.pickup", "to": "end", "count": 1, "median_gap_s": null },
                    // five hours
                    { "from": "web.browse", "to": "store.pickup", "count": 1, "median_gap_s": 18_000.0 },
                ],
                "handoffs": [
                    {
                        "from": "web.browse", "to": "store.pickup",
                        "from_function": "marketing", "to_function": "fulfillment",
                        "count": 1, "median_gap_s": 18_000.0,
                    },
                ],
                // Both once: "b2b.quote" sorts before "web.browse → store.pickup".
                "variants": [
                    {
                        "points": ["b2b.quote"], "text": "b2b.quote", "count": 1,
                        "weakest_link": { "point": "b2b.quote", "effectiveness": 0.2 },
                    },
                ],
            })
        );
    }
}
