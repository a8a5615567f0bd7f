//! Synthetic interactions for an inventory: a period of plausible events in the wire format v1
//! (PRODUCT.md), the same bytes for the same seed.
//!
//! The [`Generator`] walks the period hour by hour. Each point gets its share of the events
//! (its expected volume, bent by how the point performs) spread over the hours by its rhythm
//! (daily and weekly seasonality, months, growth); within an hour the events come out in time
//! order. A party at a point often comes from a recent interaction at an earlier point of its
//! journey (an order is paid, texted, delivered, sometimes complained about), so parties recur
//! across business functions. Outcomes, value and cost are drawn around each point's
//! `expected` figures, with spreads that depend on the interface mode; a few percent of events
//! carry data that breaks the point's contract, a few per thousand name points the inventory
//! does not know, and points that are not live get events too (they are held, R8). The points
//! of standing orders get none: their scheduler records the runs, their page the changes.
//!
//! The generator never holds its whole output: only one hour of pending events and a
//! fixed-size ring of recent parties per point (10 million events run in about 16 MB).
//!
//! ```
//! use touchbase_synth::{Generator, Options, Period};
//! # let inventory: touchbase_core::Inventory = touchbase_core::file::parse_inventory(
//! #     "organization: { name: Shop }\nparties: [{ key: household, kind: individual }]\n\
//! #      points:\n  - { key: web.order, name: Order, party: household, function: sales,\n\
//! #      channel: web, mode: machine, owner: shop, status: live }\n").unwrap();
//! let options = Options { events: 1_000, seed: 7, period: Period::default() };
//! let mut out = Vec::new();
//! let written = Generator::new(&inventory, options)?.write_ndjson(&mut out)?;
//! assert_eq!(written, 1_000);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod data;
mod model;
mod time;

use std::io::Write;

use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64Mcg;
use serde::Serialize;
use serde_json::{Map, Value};
use touchbase_core::{DataClass, Direction, Inventory, Mode, PartyKind};

pub use time::Instant;

use crate::data::Plan;
use crate::model::{LinkSpec, Profile, Rhythm};

/// What the generator cannot do.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SynthError {
    #[error("the inventory has no points of interaction to generate events for")]
    NoPoints,
    #[error("the period must last at least one day")]
    EmptyPeriod,
    #[error("the period must end by 9999-12-31")]
    OutOfRange,
}

/// A period of whole days, `[from, from + days)` in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    from: jiff::civil::Date,
    days: u32,
}

impl Default for Period {
    /// The 365 days ending 2026-11-01 (exclusive): a fixed year, so that the output never
    /// depends on the clock.
    fn default() -> Period {
        Period::ending(Period::DEFAULT_END, 365).expect("a valid default period")
    }
}

impl Period {
    /// The day the default period ends (exclusive).
    pub const DEFAULT_END: jiff::civil::Date = jiff::civil::date(2026, 11, 1);

    /// `days` days from `from` (inclusive).
    pub fn new(from: jiff::civil::Date, days: u32) -> Result<Period, SynthError> {
        if days == 0 {
            return Err(SynthError::EmptyPeriod);
        }
        from.checked_add(jiff::Span::new().days(i64::from(days)))
            .map_err(|_| SynthError::OutOfRange)?;
        Ok(Period { from, days })
    }

    /// The `days` days before `end` (exclusive).
    pub fn ending(end: jiff::civil::Date, days: u32) -> Result<Period, SynthError> {
        if days == 0 {
            return Err(SynthError::EmptyPeriod);
        }
        let from = end
            .checked_sub(jiff::Span::new().days(i64::from(days)))
            .map_err(|_| SynthError::OutOfRange)?;
        Period::new(from, days)
    }

    pub fn from(&self) -> jiff::civil::Date {
        self.from
    }

    pub fn days(&self) -> u32 {
        self.days
    }

    /// The first day after the period.
    pub fn end(&self) -> jiff::civil::Date {
        self.from
            .checked_add(jiff::Span::new().days(i64::from(self.days)))
            .expect("checked when the period was made")
    }

    /// The instant the period ends (exclusive), 00:00 UTC of [`Period::end`].
    pub fn end_instant(&self) -> jiff::Timestamp {
        jiff::Timestamp::from_second(self.first_day() * 86_400 + i64::from(self.days) * 86_400)
            .expect("checked when the period was made")
    }

    fn first_day(&self) -> i64 {
        time::days_from_civil(
            i64::from(self.from.year()),
            self.from.month() as u32,
            self.from.day() as u32,
        )
    }
}

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// How many events, exactly.
    pub events: u64,
    /// The same seed (and inventory, period and count) gives the same events.
    pub seed: u64,
    pub period: Period,
}

/// One synthetic interaction, in the wire format v1 (fields in the order of PRODUCT.md).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Interaction {
    /// `g-<seed>-<n>`, n counting from 0 in the order the events come out.
    pub id: String,
    pub point: String,
    pub at: Instant,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub party: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    #[serde(skip_serializing_if = "Outcomes::is_empty")]
    pub outcomes: Outcomes,
    #[serde(skip_serializing_if = "Values::is_zero")]
    pub value: Values,
    #[serde(skip_serializing_if = "is_zero")]
    pub cost: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Data>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vars: Option<Map<String, Value>>,
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

impl Interaction {
    /// The event as a JSON value.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("an interaction is always valid JSON")
    }
}

/// The data passed at an interaction: its elements in the order of the point's contract.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Data(pub Vec<(std::sync::Arc<str>, Value)>);

impl Data {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The element called `name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.iter().find(|(n, _)| &**n == name).map(|(_, v)| v)
    }

    /// The data as a JSON object.
    pub fn to_map(&self) -> Map<String, Value> {
        self.0
            .iter()
            .map(|(n, v)| (n.to_string(), v.clone()))
            .collect()
    }
}

impl Serialize for Data {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, value) in &self.0 {
            map.serialize_entry(&**name, value)?;
        }
        map.end()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Outcomes {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intent: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub satisfaction: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub knowledge: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engaged: Option<bool>,
}

impl Outcomes {
    fn is_empty(&self) -> bool {
        self == &Outcomes::default()
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Values {
    pub company: f64,
    pub party: f64,
}

impl Values {
    fn is_zero(&self) -> bool {
        self.company == 0.0 && self.party == 0.0
    }
}

/// How many recent parties each point remembers for the points that follow it.
const RING: usize = 16_384;

/// The recent parties of a point, oldest first, by absolute index.
#[derive(Debug)]
struct Ring {
    at: Vec<i64>,
    party: Vec<u64>,
    next: u64,
}

impl Ring {
    fn new() -> Ring {
        Ring {
            at: vec![0; RING],
            party: vec![0; RING],
            next: 0,
        }
    }

    fn push(&mut self, at: i64, party: u64) {
        let i = (self.next % RING as u64) as usize;
        self.at[i] = at;
        self.party[i] = party;
        self.next += 1;
    }

    fn oldest(&self) -> u64 {
        self.next.saturating_sub(RING as u64)
    }

    fn at(&self, i: u64) -> i64 {
        self.at[(i % RING as u64) as usize]
    }

    fn party(&self, i: u64) -> u64 {
        self.party[(i % RING as u64) as usize]
    }

    /// The first index in `[oldest, next)` whose instant is at least `t`.
    fn first_at_or_after(&self, t: i64) -> u64 {
        let (mut lo, mut hi) = (self.oldest(), self.next);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.at(mid) < t {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }
}

#[derive(Debug)]
struct Link {
    from: usize,
    spec: LinkSpec,
    cursor: u64,
}

/// A set of parties with pseudonymous ids: `hh-000123`.
#[derive(Debug)]
struct Pool {
    prefix: String,
    width: usize,
    size: u32,
}

/// Everything fixed about one point (or one undocumented key) while generating.
#[derive(Debug)]
struct Source {
    key: String,
    channel: String,
    mode: Mode,
    rhythm: Rhythm,
    profile: Profile,
    pool: Option<usize>,
    expected: (f64, f64, f64),
    plan: Plan,
    links: Vec<Link>,
    resolves: bool,
    satisfaction_share: f64,
    intent_share: f64,
    knowledge_share: f64,
    intents: &'static [&'static str],
    duration: Option<f64>,
    vars: Option<Map<String, Value>>,
    /// Events this source gives in all, the weight of the whole period, and progress.
    total: u64,
    weight: f64,
    cumulative: f64,
    emitted: u64,
}

/// The generator: an iterator over the interactions of the period, in time order.
#[derive(Debug)]
pub struct Generator {
    id_prefix: String,
    total: u64,
    rng: Pcg64Mcg,
    sources: Vec<Source>,
    rings: Vec<Option<Ring>>,
    pools: Vec<Pool>,
    first_day: i64,
    hours: u64,
    hour: u64,
    pending: Vec<(i64, u32)>,
    position: usize,
    produced: u64,
}

fn intents(function: &str) -> &'static [&'static str] {
    match function {
        "marketing" => &["save-money", "browse-offers", "recipes", "join-loyalty"],
        "sales" => &["weekly-shop", "top-up", "party-food", "office-supplies"],
        "fulfillment" => &["receive-order", "reschedule", "track-order"],
        "finance" => &["pay-order", "pay-invoice", "settle", "dispute"],
        "service" => &[
            "missing-item",
            "damaged-goods",
            "refund",
            "late-delivery",
            "account",
        ],
        "procurement" => &["replenish", "confirm-order", "deliver"],
        _ => &["enquiry"],
    }
}

/// A typical duration in seconds by channel; `None` where it does not apply.
fn duration(channel: &str) -> Option<f64> {
    Some(match channel {
        "phone" => 360.0,
        "store" => 150.0,
        "web" | "app" => 200.0,
        "social" => 900.0,
        "email" => 25.0,
        "van" => 140.0,
        "dock" => 1500.0,
        "api" => 0.4,
        "edi" => 1.5,
        "sms" | "mail" | "iot" => return None,
        _ => 60.0,
    })
}

const RESOLVING_STEPS: [&str; 9] = [
    "support", "resolve", "triage", "report", "refund", "collect", "return", "handover", "receive",
];

impl Generator {
    /// A generator of `options.events` interactions at the points of `inventory`.
    pub fn new(inventory: &Inventory, options: Options) -> Result<Generator, SynthError> {
        if inventory.points.is_empty() {
            return Err(SynthError::NoPoints);
        }
        let events = options.events;
        let pools: Vec<Pool> = inventory
            .parties
            .iter()
            .map(|p| {
                let (prefix, width) = model::party_prefix(&p.key, p.kind);
                Pool {
                    prefix,
                    width,
                    size: model::pool_size(&p.key, p.kind, events).max(1),
                }
            })
            .collect();
        let pool_of = |key: &str| inventory.parties.iter().position(|p| p.key == key);
        let households = inventory
            .parties
            .iter()
            .position(|p| p.kind == PartyKind::Individual);

        // The points of standing orders (R19) get no synthetic interactions: the scheduler
        // records each run at the automated point, the self-service page each change at its
        // edit point.
        let made_elsewhere: Vec<&str> = inventory
            .points
            .iter()
            .filter_map(|p| p.standing.as_ref().map(|s| (p, s)))
            .flat_map(|(p, s)| [p.key.as_str(), s.edit_point.as_str()])
            .collect();
        let mut sources: Vec<Source> = Vec::new();
        for point in &inventory.points {
            let party = inventory.party(&point.party);
            let kind = party.map(|p| p.kind);
            let (rhythm, profile) = model::story(&point.key)
                .unwrap_or_else(|| (Rhythm::for_point(point, kind), Profile::for_point(point)));
            let organization = kind == Some(PartyKind::Organization);
            let satisfaction_share = match (organization, point.mode) {
                (true, Mode::Machine) => 0.0,
                (true, _) => 0.15,
                (false, Mode::People) => 0.35,
                (false, Mode::Hybrid) => 0.25,
                (false, Mode::Machine) => 0.12,
            };
            let intent_share = match (organization, point.mode) {
                (true, _) => 0.15,
                (false, Mode::Machine) => 0.35,
                (false, Mode::Hybrid) => 0.5,
                (false, Mode::People) => 0.7,
            };
            let learns = point.data.iter().any(|d| {
                d.direction == Direction::In
                    && matches!(d.class, DataClass::Personal | DataClass::Behavioural)
            });
            let e = &point.expected;
            sources.push(Source {
                key: point.key.clone(),
                channel: point.channel.clone(),
                mode: point.mode,
                rhythm,
                profile,
                pool: pool_of(&point.party),
                expected: (
                    e.value_company.unwrap_or(0.0) * profile.value,
                    e.value_party.unwrap_or(0.0) * profile.party_value,
                    e.cost.unwrap_or(0.0) * profile.cost,
                ),
                plan: Plan::compile(&touchbase_core::contract::schema(point)),
                links: Vec::new(),
                resolves: point.function == "service"
                    || point
                        .step
                        .as_deref()
                        .is_some_and(|s| RESOLVING_STEPS.contains(&s)),
                satisfaction_share,
                intent_share,
                knowledge_share: if learns { 0.45 } else { 0.05 },
                intents: intents(&point.function),
                duration: duration(&point.channel),
                vars: (!point.vars.is_empty()).then(|| {
                    point
                        .vars
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect()
                }),
                total: 0,
                weight: if made_elsewhere.contains(&point.key.as_str()) {
                    0.0
                } else {
                    e.volume_per_month.filter(|v| *v > 0.0).unwrap_or(100.0) * profile.volume
                },
                cumulative: 0.0,
                emitted: 0,
            });
        }
        // Links: the story's, else the previous step of the point's process.
        let index = |key: &str| sources.iter().position(|s| s.key == key);
        let mut links: Vec<Vec<Link>> = Vec::with_capacity(sources.len());
        for point in &inventory.points {
            let mut these = Vec::new();
            if let Some(specs) = model::story_links(&point.key) {
                for spec in specs {
                    if let Some(from) = index(spec.from) {
                        these.push(Link {
                            from,
                            spec: *spec,
                            cursor: 0,
                        });
                    }
                }
            } else if let (Some(process), Some(step)) = (&point.process, &point.step)
                && let Some(steps) = inventory.process(process).map(|p| &p.steps)
                && let Some(at) = steps.iter().position(|s| s == step)
                && at > 0
            {
                let (p, min_s, max_s) = model::STEP_LINK;
                for (from, other) in inventory.points.iter().enumerate() {
                    if other.party == point.party
                        && other.process.as_ref() == Some(process)
                        && other.step.as_deref() == Some(steps[at - 1].as_str())
                    {
                        these.push(Link {
                            from,
                            spec: LinkSpec {
                                from: "",
                                p,
                                min_s,
                                max_s,
                                fifo: false,
                            },
                            cursor: 0,
                        });
                    }
                }
            }
            links.push(these);
        }
        for (source, these) in sources.iter_mut().zip(links) {
            source.links = these;
        }
        // Points the inventory does not know (R8).
        for (key, weight) in model::UNDOCUMENTED {
            if inventory.point(key).is_some() {
                continue;
            }
            sources.push(Source {
                key: key.to_owned(),
                channel: "app".to_owned(),
                mode: Mode::Machine,
                rhythm: Rhythm::Online,
                profile: Profile {
                    volume: 1.0,
                    value: 1.0,
                    party_value: 1.0,
                    cost: 1.0,
                    quality: 0.6,
                    nonconformant: 0.0,
                    growth: 1.5,
                    anonymous: 0.2,
                    pool_share: 1.0,
                },
                pool: households,
                expected: (0.8, 0.5, 0.3),
                plan: Plan::free_form(),
                links: Vec::new(),
                resolves: false,
                satisfaction_share: 0.1,
                intent_share: 0.3,
                knowledge_share: 0.05,
                intents: intents("sales"),
                duration: duration("app"),
                vars: None,
                total: 0,
                weight,
                cumulative: 0.0,
                emitted: 0,
            });
        }
        let mut rings: Vec<Option<Ring>> = sources.iter().map(|_| None).collect();
        for source in &sources {
            for link in &source.links {
                if rings[link.from].is_none() {
                    rings[link.from] = Some(Ring::new());
                }
            }
        }

        let first_day = options.period.first_day();
        let hours = u64::from(options.period.days) * 24;
        let mut generator = Generator {
            id_prefix: format!("g-{}-", options.seed),
            total: events,
            rng: Pcg64Mcg::seed_from_u64(options.seed),
            sources,
            rings,
            pools,
            first_day,
            hours,
            hour: 0,
            pending: Vec::new(),
            position: 0,
            produced: 0,
        };
        generator.allocate(events, inventory.points.len());
        Ok(generator)
    }

    /// How many events the generator gives in all.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Writes every event as one line of JSON (NDJSON); returns how many.
    pub fn write_ndjson<W: Write>(self, mut out: W) -> std::io::Result<u64> {
        let mut written = 0;
        for event in self {
            serde_json::to_writer(&mut out, &event)?;
            out.write_all(b"\n")?;
            written += 1;
        }
        out.flush()?;
        Ok(written)
    }

    /// The weight of source `s` in hour `h` of the period.
    fn hour_weight(&self, s: usize, h: u64) -> f64 {
        let day = self.first_day + (h / 24) as i64;
        let (_, month, mday) = time::civil_from_days(day);
        let source = &self.sources[s];
        let base = source
            .rhythm
            .weight(time::weekday(day), (h % 24) as u32, mday, month);
        let progress = h as f64 / self.hours as f64 - 0.5;
        base * (1.0 + source.profile.growth * progress).max(0.05)
    }

    /// Shares the events among the sources: the undocumented keys get their small share; each
    /// point its expected volume (as bent by its profile), with a floor so that at small counts
    /// the quiet points still have enough interactions to be measured.
    fn allocate(&mut self, events: u64, points: usize) {
        for s in 0..self.sources.len() {
            let weight: f64 = (0..self.hours).map(|h| self.hour_weight(s, h)).sum();
            self.sources[s].weight = if weight > 0.0 {
                self.sources[s].weight
            } else {
                0.0
            };
            self.sources[s].cumulative = weight;
        }
        let has_undocumented =
            self.sources.len() > points && self.sources[points..].iter().any(|s| s.weight > 0.0);
        let undocumented = if has_undocumented {
            (events as f64 * model::UNDOCUMENTED_SHARE).round() as u64
        } else {
            0
        };
        let point_sum: f64 = self.sources[..points].iter().map(|s| s.weight).sum();
        let floor = point_sum * 0.0025;
        let shares: Vec<f64> = self
            .sources
            .iter()
            .enumerate()
            .map(|(i, s)| match (i < points, s.weight > 0.0) {
                (_, false) => 0.0,
                (true, true) => s.weight.max(floor),
                (false, true) => s.weight,
            })
            .collect();
        split(
            &mut self.sources[..points],
            &shares[..points],
            events - undocumented,
        );
        split(&mut self.sources[points..], &shares[points..], undocumented);
        for s in &mut self.sources {
            s.weight = s.cumulative;
            s.cumulative = 0.0;
        }
    }

    /// Fills `pending` with the next hour's events; false when the period is over.
    fn fill(&mut self) -> bool {
        self.pending.clear();
        self.position = 0;
        while self.pending.is_empty() {
            if self.hour >= self.hours {
                return false;
            }
            let h = self.hour;
            let last = h + 1 == self.hours;
            let start = (self.first_day + (h / 24) as i64) * 86_400 + (h % 24) as i64 * 3600;
            for s in 0..self.sources.len() {
                if self.sources[s].total == 0 {
                    continue;
                }
                let w = self.hour_weight(s, h);
                let source = &mut self.sources[s];
                source.cumulative += w;
                let target = if last {
                    source.total
                } else {
                    ((source.total as f64 * source.cumulative / source.weight).round() as u64)
                        .min(source.total)
                };
                let count = target.saturating_sub(source.emitted);
                source.emitted += count;
                let spread = if source.rhythm == Rhythm::DailyBatch {
                    600
                } else {
                    3600
                };
                for _ in 0..count {
                    let at = start + self.rng.random_range(0..spread);
                    self.pending.push((at, s as u32));
                }
            }
            self.pending.sort_unstable();
            self.hour += 1;
        }
        true
    }

    fn party_id(&self, party: u64) -> String {
        let pool = &self.pools[(party >> 32) as usize];
        let mut id = String::with_capacity(pool.prefix.len() + 1 + pool.width.max(10));
        id.push_str(&pool.prefix);
        id.push('-');
        push_number(&mut id, party & 0xffff_ffff, pool.width);
        id
    }

    /// The party of an event at source `s` at instant `at`: from a recent interaction at an
    /// earlier point of its journey, else from the pool, or none.
    fn party(&mut self, s: usize, at: i64) -> Option<u64> {
        let rng = &mut self.rng;
        let source = &mut self.sources[s];
        if source.profile.anonymous > 0.0 && rng.random_bool(source.profile.anonymous.min(1.0)) {
            return None;
        }
        for link in &mut source.links {
            if !rng.random_bool(link.spec.p) {
                continue;
            }
            let Some(ring) = &self.rings[link.from] else {
                continue;
            };
            let (earliest, latest) = (at - link.spec.max_s, at - link.spec.min_s);
            if link.spec.fifo {
                let mut c = link.cursor.max(ring.oldest());
                while c < ring.next && ring.at(c) < earliest {
                    c += 1;
                }
                link.cursor = c;
                if c < ring.next && ring.at(c) <= latest {
                    link.cursor = c + 1;
                    return Some(ring.party(c));
                }
            } else {
                let lo = ring.first_at_or_after(earliest);
                let hi = ring.first_at_or_after(latest + 1);
                if hi > lo {
                    return Some(ring.party(rng.random_range(lo..hi)));
                }
            }
        }
        let pool = source.pool?;
        let size = (f64::from(self.pools[pool].size) * source.profile.pool_share).max(1.0);
        let u: f64 = rng.random();
        Some(((pool as u64) << 32) | ((size * u * u) as u64))
    }

    fn make(&mut self, at: i64, s: usize) -> Interaction {
        let party = self.party(s, at);
        if let (Some(ring), Some(p)) = (&mut self.rings[s], party) {
            ring.push(at, p);
        }
        let party = party.map(|p| self.party_id(p));
        let mut id = String::with_capacity(self.id_prefix.len() + 10);
        id.push_str(&self.id_prefix);
        push_number(&mut id, self.produced, 1);
        self.produced += 1;
        let rng = &mut self.rng;
        let source = &self.sources[s];
        let q = source.profile.quality;
        let mut outcomes = Outcomes::default();
        if rng.random_bool(source.intent_share) {
            outcomes.intent = Some(source.intents[rng.random_range(0..source.intents.len())]);
        }
        if source.satisfaction_share > 0.0 && rng.random_bool(source.satisfaction_share) {
            outcomes.satisfaction = Some(if rng.random_bool(q) {
                if rng.random_bool(0.55) { 5 } else { 4 }
            } else {
                match rng.random_range(0..20u32) {
                    0..5 => 1,
                    5..12 => 2,
                    _ => 3,
                }
            });
        }
        if rng.random_bool(source.knowledge_share) {
            outcomes.knowledge = Some(true);
        }
        if source.resolves && rng.random_bool(0.9) {
            outcomes.resolved = Some(rng.random_bool(q));
        }
        outcomes.engaged = if rng.random_bool(q) {
            Some(true)
        } else if rng.random_bool(0.5) {
            Some(false)
        } else {
            None
        };
        let (company, party_value, cost) = source.expected;
        let (value_sigma, cost_sigma) = match source.mode {
            Mode::Machine => (0.0, 0.0),
            Mode::Hybrid => (0.45, 0.3),
            Mode::People => (0.8, 0.55),
        };
        let value = Values {
            company: round4(spread(rng, company, value_sigma, 0.12)),
            party: round4(spread(rng, party_value, value_sigma, 0.12)),
        };
        let cost = round4(spread(rng, cost, cost_sigma, 0.04).max(0.0));
        let duration_s = source.duration.map(|typical| {
            let sigma = match source.mode {
                Mode::Machine => 0.35,
                Mode::Hybrid => 0.6,
                Mode::People => 0.75,
            };
            let d = typical * lognormal(rng, sigma);
            if d < 10.0 {
                (d * 1000.0).round() / 1000.0
            } else {
                d.round()
            }
        });
        let broken = source.profile.nonconformant > 0.0
            && rng.random_bool(source.profile.nonconformant.min(1.0));
        let data = source
            .plan
            .make(rng, broken, party.as_deref(), at.div_euclid(86_400));
        let vars = match &source.vars {
            Some(v) if rng.random_bool(0.05) => Some(v.clone()),
            _ => None,
        };
        let channel = (source.channel == "web" && rng.random_bool(0.3)).then(|| "app".to_owned());
        Interaction {
            id,
            point: source.key.clone(),
            at: Instant(at),
            party,
            channel,
            outcomes,
            value,
            cost,
            duration_s,
            data: (!data.is_empty()).then_some(data),
            vars,
        }
    }
}

/// Splits `count` among `sources` in proportion to `shares`, exactly (largest remainders).
fn split(sources: &mut [Source], shares: &[f64], count: u64) {
    let sum: f64 = shares.iter().sum();
    if sum <= 0.0 {
        return;
    }
    let exact: Vec<f64> = shares.iter().map(|s| count as f64 * s / sum).collect();
    let mut given = 0;
    for (source, x) in sources.iter_mut().zip(&exact) {
        source.total = x.floor() as u64;
        given += source.total;
    }
    let mut order: Vec<usize> = (0..sources.len()).filter(|i| shares[*i] > 0.0).collect();
    order.sort_by(|a, b| {
        let (ra, rb) = (exact[*a] - exact[*a].floor(), exact[*b] - exact[*b].floor());
        rb.total_cmp(&ra).then(a.cmp(b))
    });
    for i in order.into_iter().cycle().take((count - given) as usize) {
        sources[i].total += 1;
    }
}

/// Appends `n` in decimal, zero-padded to `width` digits.
fn push_number(out: &mut String, mut n: u64, width: usize) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for _ in (digits.len() - i)..width {
        out.push('0');
    }
    for d in &digits[i..] {
        out.push(char::from(*d));
    }
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// A standard normal draw (Box–Muller).
fn normal(rng: &mut Pcg64Mcg) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A log-normal factor with mean 1.
fn lognormal(rng: &mut Pcg64Mcg, sigma: f64) -> f64 {
    (sigma * normal(rng) - sigma * sigma / 2.0).exp()
}

/// A draw around `mean`: log-normal with `sigma` (people and hybrid points vary a lot), or
/// normal with the coefficient of variation `cv` when `sigma` is 0 (machines vary little).
fn spread(rng: &mut Pcg64Mcg, mean: f64, sigma: f64, cv: f64) -> f64 {
    if mean == 0.0 {
        return 0.0;
    }
    if sigma > 0.0 {
        mean * lognormal(rng, sigma)
    } else {
        (mean * (1.0 + cv * normal(rng))).max(0.0)
    }
}

impl Iterator for Generator {
    type Item = Interaction;

    fn next(&mut self) -> Option<Interaction> {
        if self.position >= self.pending.len() && !self.fill() {
            return None;
        }
        let (at, s) = self.pending[self.position];
        self.position += 1;
        Some(self.make(at, s as usize))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = (self.total - self.produced) as usize;
        (left, Some(left))
    }
}

impl ExactSizeIterator for Generator {}
