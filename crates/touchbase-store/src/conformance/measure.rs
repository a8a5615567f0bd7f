//! Measurement against METRICS.md, on every store: inventories and events written by hand, the
//! expected scorecards, verdicts, journeys and data-quality findings computed here by plain
//! code written from METRICS.md's text (never by `touchbase_core`'s metrics, portfolio or
//! journeys), compared with what [`crate::measure`] gives after the events went in through
//! [`crate::ingest`].
//!
//! # Exact or close
//! Floating-point sums depend on the order of the additions. Where that order is fixed — the
//! note at the top of `touchbase_core::metrics`: each (point, UTC day)'s events in the order
//! they were written (in (`at`, `id`) order for a first or last day the period cuts), those
//! tallies added up by point key, then day — the expected figure is computed in that order
//! and compared exactly, and so is everything computed from it by one formula of METRICS.md.
//! A group's expectations (sums and volume-weighted means over members, in an order METRICS.md
//! does not fix) and sums over the buckets of a series are compared within [`TOLERANCE`].

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};
use touchbase_core::Inventory;
use touchbase_core::inventory::Mode;
use touchbase_core::period::{DAY_US, Granularity, Period, parse_bound};

use super::{Backend, add_users, admin, baseline, ingest, inputs, parse, user};
use crate::Store;
use crate::measure::{self, Days, JourneyQuery, Scope};

/// The relative tolerance of figures whose order of additions METRICS.md does not fix.
const TOLERANCE: f64 = 1e-12;

const S: i64 = 1_000_000;
const H: i64 = 3_600 * S;

/// METRICS.md's scorecard fields, in its order.
const FIELDS: [&str; 24] = [
    "volume",
    "expected_volume",
    "volume_attainment",
    "value_company",
    "value_party",
    "cost",
    "net_value",
    "value_company_per",
    "value_party_per",
    "cost_per",
    "net_value_per",
    "expected_net_value_per",
    "value_company_attainment",
    "value_party_attainment",
    "intent_rate",
    "satisfaction_avg",
    "csat",
    "knowledge_rate",
    "resolution_rate",
    "engagement_rate",
    "effectiveness",
    "insight",
    "efficiency",
    "conformance_rate",
];

/// The fields of a group that rest on its members' expectations (see the module's note).
const GROUP_EXPECTED: [&str; 5] = [
    "expected_volume",
    "volume_attainment",
    "expected_net_value_per",
    "value_company_attainment",
    "value_party_attainment",
];

fn at(text: &str) -> i64 {
    parse_bound(text).unwrap()
}

fn iso(at: i64) -> String {
    jiff::Timestamp::from_microsecond(at).unwrap().to_string()
}

fn period(from: &str, to: &str) -> Period {
    Period::new(at(from), at(to)).unwrap()
}

// ---------------------------------------------------------------------------------------------
// The inventory, as a table the expectations are computed from.

/// A point of a test inventory.
#[derive(Debug, Clone, Copy)]
struct Pt {
    key: &'static str,
    function: &'static str,
    mode: &'static str,
    party: &'static str,
    /// `volume_per_month`, `value_company`, `value_party`, `cost`.
    expected: [Option<f64>; 4],
    strategic: &'static str,
    status: &'static str,
    /// Its data has one element, `sku`, a required string; otherwise it declares no data.
    sku: bool,
}

impl Pt {
    const fn new(
        key: &'static str,
        function: &'static str,
        mode: &'static str,
        party: &'static str,
    ) -> Pt {
        Pt {
            key,
            function,
            mode,
            party,
            expected: [None; 4],
            strategic: "low",
            status: "live",
            sku: false,
        }
    }

    const fn expects(mut self, expected: [Option<f64>; 4]) -> Pt {
        self.expected = expected;
        self
    }

    const fn strategic(mut self, strategic: &'static str) -> Pt {
        self.strategic = strategic;
        self
    }

    const fn status(mut self, status: &'static str) -> Pt {
        self.status = status;
        self
    }

    const fn sku(mut self) -> Pt {
        self.sku = true;
        self
    }

    /// Whether `data` meets the point's contract, by its definition (PRODUCT.md): an object
    /// with exactly the declared elements, the required ones present, of their type.
    fn conforms(&self, data: Option<&Value>) -> bool {
        let empty = json!({});
        let Some(object) = data.unwrap_or(&empty).as_object() else {
            return false;
        };
        if self.sku {
            object.len() == 1 && object.get("sku").is_some_and(Value::is_string)
        } else {
            object.is_empty()
        }
    }
}

/// The inventory file of `points`: the five default functions, household and business parties.
fn inventory_yaml(points: &[Pt]) -> String {
    let mut text = String::from(
        "organization:\n  name: Measure Co\n  currency: EUR\n\
         functions: [marketing, sales, fulfillment, finance, service]\n\
         parties:\n  - { key: household, kind: individual }\n  - { key: business, kind: organization }\n\
         points:\n",
    );
    let names = ["volume_per_month", "value_company", "value_party", "cost"];
    for p in points {
        text += &format!(
            "  - key: {0}\n    name: {0}\n    party: {1}\n    function: {2}\n    channel: web\n    mode: {3}\n",
            p.key, p.party, p.function, p.mode
        );
        if p.mode == "hybrid" {
            text += "    automation: 0.5\n";
        }
        if p.sku {
            text += "    data:\n      - { name: sku, direction: in, class: transactional, type: string, required: true }\n";
        }
        let expected: Vec<String> = names
            .iter()
            .zip(p.expected)
            .filter_map(|(name, v)| Some(format!("{name}: {:?}", v?)))
            .collect();
        if !expected.is_empty() {
            text += &format!("    expected: {{ {} }}\n", expected.join(", "));
        }
        text += &format!(
            "    strategic_value: {}\n    rationale: by hand\n    owner: ecommerce\n    status: {}\n",
            p.strategic, p.status
        );
    }
    text
}

// ---------------------------------------------------------------------------------------------
// Events.

/// An event as written by hand.
#[derive(Debug, Clone, Default)]
struct Ev {
    id: String,
    point: &'static str,
    at: i64,
    party: Option<String>,
    value_company: Option<f64>,
    value_party: Option<f64>,
    cost: Option<f64>,
    intent: Option<&'static str>,
    satisfaction: Option<u64>,
    knowledge: Option<bool>,
    resolved: Option<bool>,
    engaged: Option<bool>,
    data: Option<Value>,
}

impl Ev {
    fn new(id: impl Into<String>, point: &'static str, at: i64) -> Ev {
        Ev {
            id: id.into(),
            point,
            at,
            ..Ev::default()
        }
    }

    fn party(mut self, party: &str) -> Ev {
        self.party = Some(party.to_owned());
        self
    }

    fn value(mut self, company: f64, cost: f64) -> Ev {
        self.value_company = Some(company);
        self.cost = Some(cost);
        self
    }

    fn satisfaction(mut self, s: u64) -> Ev {
        self.satisfaction = Some(s);
        self
    }

    fn resolved(mut self, r: bool) -> Ev {
        self.resolved = Some(r);
        self
    }

    fn engaged(mut self, e: bool) -> Ev {
        self.engaged = Some(e);
        self
    }

    fn data(mut self, data: Value) -> Ev {
        self.data = Some(data);
        self
    }

    /// The event on the wire; absent fields are left out.
    fn json(&self) -> Value {
        let mut e = json!({ "id": self.id, "point": self.point, "at": iso(self.at) });
        if let Some(party) = &self.party {
            e["party"] = json!(party);
        }
        let mut value = Map::new();
        if let Some(v) = self.value_company {
            value.insert("company".into(), json!(v));
        }
        if let Some(v) = self.value_party {
            value.insert("party".into(), json!(v));
        }
        if !value.is_empty() {
            e["value"] = Value::Object(value);
        }
        if let Some(cost) = self.cost {
            e["cost"] = json!(cost);
        }
        let mut outcomes = Map::new();
        if let Some(v) = self.intent {
            outcomes.insert("intent".into(), json!(v));
        }
        if let Some(v) = self.satisfaction {
            outcomes.insert("satisfaction".into(), json!(v));
        }
        if let Some(v) = self.knowledge {
            outcomes.insert("knowledge".into(), json!(v));
        }
        if let Some(v) = self.resolved {
            outcomes.insert("resolved".into(), json!(v));
        }
        if let Some(v) = self.engaged {
            outcomes.insert("engaged".into(), json!(v));
        }
        if !outcomes.is_empty() {
            e["outcomes"] = Value::Object(outcomes);
        }
        if let Some(data) = &self.data {
            e["data"] = data.clone();
        }
        e
    }
}

/// A fresh store with `points` as its inventory (imported as a baseline) and `events` written
/// through ingest in one batch, in the order given; every event must be accepted (held when
/// its point is not live).
async fn store_with(
    backend: &dyn Backend,
    points: &[Pt],
    events: &[Ev],
) -> std::sync::Arc<dyn Store> {
    let store = backend.fresh().await;
    baseline(&*store, &parse(&inventory_yaml(points))).await;
    let lines: Vec<Value> = events.iter().map(Ev::json).collect();
    let outcomes = ingest(&*store, inputs(&lines)).await;
    for (outcome, event) in outcomes.iter().zip(events) {
        let live = points
            .iter()
            .any(|p| p.key == event.point && p.status == "live");
        assert_eq!(
            outcome.status,
            if live {
                crate::ingest::Status::Accepted
            } else {
                crate::ingest::Status::Held
            },
            "{}: {:?}",
            event.id,
            outcome.reasons
        );
    }
    store
}

async fn inventory_of(store: &dyn Store) -> Inventory {
    crate::inventory::get(store).await.unwrap().value
}

/// A small deterministic generator (an LCG), so the events are the same on every run.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }
}

// ---------------------------------------------------------------------------------------------
// The scorecard, by hand.

/// What a scorecard is about, by hand.
#[derive(Debug, Clone, Copy)]
enum Of {
    Organization,
    Point(&'static str),
    Function(&'static str),
    Mode(&'static str),
    Party(&'static str),
}

impl Of {
    fn scope(self) -> Scope {
        match self {
            Of::Organization => Scope::Organization,
            Of::Point(k) => Scope::Point(k.into()),
            Of::Function(f) => Scope::Function(f.into()),
            Of::Mode(m) => Scope::Mode(match m {
                "machine" => Mode::Machine,
                "people" => Mode::People,
                _ => Mode::Hybrid,
            }),
            Of::Party(t) => Scope::PartyType(t.into()),
        }
    }

    fn holds(self, p: &Pt) -> bool {
        match self {
            Of::Organization => true,
            Of::Point(k) => p.key == k,
            Of::Function(f) => p.function == f,
            Of::Mode(m) => p.mode == m,
            Of::Party(t) => p.party == t,
        }
    }

    fn is_group(self) -> bool {
        !matches!(self, Of::Point(_))
    }
}

/// `a / b`, null when `b` is 0.
fn div(a: f64, b: f64) -> Option<f64> {
    (b != 0.0).then(|| a / b)
}

/// A point's expected net value per interaction: `value_company − cost`, a missing one of the
/// two counting as 0; null when neither is given.
fn net_expected(p: &Pt) -> Option<f64> {
    let [_, company, _, cost] = p.expected;
    (company.is_some() || cost.is_some()).then(|| company.unwrap_or(0.0) - cost.unwrap_or(0.0))
}

/// The expectation of a scope: `[volume_per_month, value_company, value_party, cost,
/// net_value_per]`. A point's own; a group's: the sum of its members' volumes, and each
/// per-interaction figure weighted by the members' expected volumes (members without an
/// expected volume, or without the figure, weigh nothing in it).
fn expectation(of: Of, points: &[Pt]) -> [Option<f64>; 5] {
    let members: Vec<&Pt> = points
        .iter()
        .filter(|p| of.holds(p) && p.status == "live")
        .collect();
    if !of.is_group() {
        let p = members[0];
        let [v, c, party, cost] = p.expected;
        return [v, c, party, cost, net_expected(p)];
    }
    let volumes: Vec<f64> = members.iter().filter_map(|p| p.expected[0]).collect();
    let volume = (!volumes.is_empty()).then(|| volumes.iter().sum());
    let weighted = |figure: &dyn Fn(&Pt) -> Option<f64>| {
        let (mut sum, mut weight) = (0.0, 0.0);
        for p in &members {
            if let (Some(w), Some(f)) = (p.expected[0], figure(p))
                && w > 0.0
            {
                sum += w * f;
                weight += w;
            }
        }
        div(sum, weight)
    };
    [
        volume,
        weighted(&|p| p.expected[1]),
        weighted(&|p| p.expected[2]),
        weighted(&|p| p.expected[3]),
        weighted(&net_expected),
    ]
}

/// The scorecard of `of` over `bucket`, by METRICS.md, from the events (in the order they were
/// written) of a store read over `read` (the period whose first and last days, when cut, are
/// added up in (`at`, `id`) order).
fn card_by_hand(
    events: &[Ev],
    points: &[Pt],
    of: Of,
    read: Period,
    bucket: Period,
) -> BTreeMap<&'static str, Option<f64>> {
    let point = |key: &str| points.iter().find(|p| p.key == key).unwrap();
    // E, grouped by (point key, day) in that order; within a day as written, or by (at, id)
    // on a day the read period cuts.
    let mut days: BTreeMap<(&[u8], i64), Vec<&Ev>> = BTreeMap::new();
    for e in events {
        let p = point(e.point);
        if p.status == "live" && of.holds(p) && bucket.from <= e.at && e.at < bucket.to {
            days.entry((e.point.as_bytes(), e.at.div_euclid(DAY_US)))
                .or_default()
                .push(e);
        }
    }
    let cut = |day: i64| {
        (read.from.rem_euclid(DAY_US) != 0 && day == read.from.div_euclid(DAY_US))
            || (read.to.rem_euclid(DAY_US) != 0 && day == read.to.div_euclid(DAY_US))
    };
    let (mut company, mut party, mut cost) = (0.0, 0.0, 0.0);
    let (mut n, mut intent, mut sat_n, mut sat_sum, mut csat_n) = (0u64, 0u64, 0u64, 0u64, 0u64);
    let (mut knowledge, mut resolved_n, mut resolved_true, mut engaged, mut conforming) =
        (0u64, 0u64, 0u64, 0u64, 0u64);
    for ((_, day), mut day_events) in days {
        if cut(day) {
            day_events.sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
        }
        let (mut c, mut pa, mut co) = (0.0, 0.0, 0.0);
        for e in day_events {
            c += e.value_company.unwrap_or(0.0);
            pa += e.value_party.unwrap_or(0.0);
            co += e.cost.unwrap_or(0.0);
            n += 1;
            intent += u64::from(e.intent.is_some());
            if let Some(s) = e.satisfaction {
                sat_n += 1;
                sat_sum += s;
                csat_n += u64::from(s >= 4);
            }
            knowledge += u64::from(e.knowledge == Some(true));
            resolved_n += u64::from(e.resolved.is_some());
            resolved_true += u64::from(e.resolved == Some(true));
            engaged += u64::from(e.engaged == Some(true));
            conforming += u64::from(point(e.point).conforms(e.data.as_ref()));
        }
        company += c;
        party += pa;
        cost += co;
    }
    let nf = n as f64;
    let days_long = (bucket.to - bucket.from) as f64 / 86_400_000_000.0;
    let [volume_pm, exp_company, exp_party, _, exp_net] = expectation(of, points);
    let expected_volume = volume_pm.map(|v| v * days_long / 30.4375);
    let net_value = company - cost;
    let company_per = div(company, nf);
    let party_per = div(party, nf);
    let intent_rate = div(intent as f64, nf);
    let knowledge_rate = div(knowledge as f64, nf);
    let csat = div(csat_n as f64, sat_n as f64);
    let resolution_rate = div(resolved_true as f64, resolved_n as f64);
    let engagement_rate = div(engaged as f64, nf);
    let present: Vec<f64> = [csat, resolution_rate, engagement_rate]
        .into_iter()
        .flatten()
        .collect();
    let mut sum = 0.0;
    for f in &present {
        sum += f;
    }
    let effectiveness = div(sum, present.len() as f64);
    let attainment = |per: Option<f64>, expected: Option<f64>| match (per, expected) {
        (Some(per), Some(e)) if e != 0.0 => Some(per / e),
        _ => None,
    };
    BTreeMap::from([
        ("volume", Some(nf)),
        ("expected_volume", expected_volume),
        (
            "volume_attainment",
            expected_volume.and_then(|e| div(nf, e)),
        ),
        ("value_company", Some(company)),
        ("value_party", Some(party)),
        ("cost", Some(cost)),
        ("net_value", Some(net_value)),
        ("value_company_per", company_per),
        ("value_party_per", party_per),
        ("cost_per", div(cost, nf)),
        ("net_value_per", div(net_value, nf)),
        ("expected_net_value_per", exp_net),
        (
            "value_company_attainment",
            attainment(company_per, exp_company),
        ),
        ("value_party_attainment", attainment(party_per, exp_party)),
        ("intent_rate", intent_rate),
        ("satisfaction_avg", div(sat_sum as f64, sat_n as f64)),
        ("csat", csat),
        ("knowledge_rate", knowledge_rate),
        ("resolution_rate", resolution_rate),
        ("engagement_rate", engagement_rate),
        ("effectiveness", effectiveness),
        (
            "insight",
            (n > 0).then(|| (intent_rate.unwrap() + knowledge_rate.unwrap()) / 2.0),
        ),
        ("efficiency", div(company + party, cost)),
        ("conformance_rate", div(conforming as f64, nf)),
    ])
}

/// The voice of the customer's fields of a scorecard (see the voice suite).
const VOICE_FIELDS: [&str; 12] = [
    "invitations",
    "responses",
    "response_rate",
    "nps",
    "nps_margin",
    "csat_survey",
    "csat_survey_low",
    "csat_survey_high",
    "ces_agree",
    "ces_agree_low",
    "ces_agree_high",
    "voice",
];

fn close(got: f64, want: f64) -> bool {
    (got - want).abs() <= TOLERANCE * want.abs().max(1.0)
}

/// The attribution fields of a scorecard (see the attribution suite).
pub(super) const ATTRIBUTION_FIELDS: [&str; 5] = [
    "journeys_through",
    "value_through",
    "attributed_value_linear",
    "removal_effect",
    "attributed_value_markov",
];

/// Compares a card with the scorecard by hand: every one of the 24 fields, exactly, except a
/// group's expectation-based figures (within [`TOLERANCE`]).
fn assert_card(what: &str, card: &measure::Card, want: &BTreeMap<&str, Option<f64>>, of: Of) {
    let got = serde_json::to_value(card.scorecard).unwrap();
    let got = got.as_object().unwrap();
    let names: BTreeSet<&str> = got
        .keys()
        .map(String::as_str)
        .filter(|k| !VOICE_FIELDS.contains(k) && !ATTRIBUTION_FIELDS.contains(k))
        .collect();
    assert_eq!(names, BTreeSet::from(FIELDS), "{what}: the fields");
    // No survey responses here (the voice suite has them): every voice figure there, null.
    for name in VOICE_FIELDS {
        let none = matches!(name, "invitations" | "responses");
        assert!(
            if none {
                got[name] == 0
            } else {
                got[name].is_null()
            },
            "{what}: {name} is {}",
            got[name]
        );
    }
    for name in FIELDS {
        let (g, w) = (got[name].as_f64(), want[name]);
        assert!(
            got[name].is_null() || got[name].is_number(),
            "{what}: {name} is {}",
            got[name]
        );
        if of.is_group() && GROUP_EXPECTED.contains(&name) {
            let same = match (g, w) {
                (Some(g), Some(w)) => close(g, w),
                (g, w) => g == w,
            };
            assert!(
                same,
                "{what}: {name}: got {g:?}, expected {w:?} (within {TOLERANCE})"
            );
        } else {
            assert_eq!(g, w, "{what}: {name} (exact)");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Scorecards.

const CARD_POINTS: [Pt; 6] = [
    Pt::new("a.web", "sales", "machine", "household")
        .expects([Some(60.875), Some(4.1), Some(1.3), Some(0.35)])
        .strategic("high")
        .sku(),
    Pt::new("b.call", "service", "people", "household").expects([
        Some(30.0),
        Some(2.0),
        None,
        Some(1.5),
    ]),
    // No expectations at all.
    Pt::new("c.shop", "fulfillment", "hybrid", "business").strategic("medium"),
    // Only a volume and a value to the party: no expected net value.
    Pt::new("d.mail", "marketing", "machine", "household").expects([
        Some(45.5),
        None,
        Some(0.2),
        None,
    ]),
    // Expects no value to the company: its attainment is null.
    Pt::new("e.desk", "sales", "people", "business").expects([
        Some(12.0),
        Some(0.0),
        None,
        Some(0.5),
    ]),
    // Not live: its events are held, counted nowhere.
    Pt::new("z.held", "sales", "machine", "household")
        .expects([Some(50.0), Some(9.0), Some(9.0), Some(9.0)])
        .status("proposed"),
];

/// Every kind of scope: each point, a function of two points, one of one, one of none, each
/// mode, each party type and the organization.
fn card_scopes() -> Vec<Of> {
    let mut scopes: Vec<Of> = CARD_POINTS
        .iter()
        .filter(|p| p.status == "live")
        .map(|p| Of::Point(p.key))
        .collect();
    scopes.extend([
        Of::Function("sales"),
        Of::Function("service"),
        Of::Function("finance"),
        Of::Mode("machine"),
        Of::Mode("people"),
        Of::Mode("hybrid"),
        Of::Party("household"),
        Of::Party("business"),
        Of::Organization,
    ]);
    scopes
}

/// The period most checks read: it starts and ends mid-day.
fn mid_period() -> Period {
    period("2026-03-01T06:30:00Z", "2026-03-31T18:15:00Z")
}

/// 300 generated events from 2026-02-27 to 2026-04-03 at half seconds, with every kind of
/// outcome, values that are not exact in binary, events without a party, conforming and
/// nonconforming data; and events at whole seconds exactly on the bounds of the periods read.
fn card_events() -> Vec<Ev> {
    let mut rng = Lcg(7);
    let start = at("2026-02-27");
    let span_s = 36 * 86_400;
    let mut events = Vec::new();
    for i in 0..300 {
        let p = CARD_POINTS[rng.next(5) as usize];
        let mut e = Ev::new(
            format!("s-{i:03}"),
            p.key,
            start + rng.next(span_s) as i64 * S + S / 2,
        );
        if rng.next(4) != 0 {
            e.party = Some(format!("h{}", rng.next(7)));
        }
        e.value_company = (rng.next(5) != 0).then(|| rng.next(40) as f64 * 0.1);
        e.value_party = (rng.next(3) != 0).then(|| rng.next(17) as f64 * 0.05);
        e.cost = (rng.next(6) != 0).then(|| rng.next(9) as f64 * 0.35);
        e.intent = (rng.next(3) == 0).then_some("buy");
        e.satisfaction = match rng.next(6) {
            0 => None,
            s => Some(s),
        };
        let maybe = |rng: &mut Lcg| match rng.next(3) {
            0 => None,
            1 => Some(true),
            _ => Some(false),
        };
        e.knowledge = maybe(&mut rng);
        e.resolved = maybe(&mut rng);
        e.engaged = maybe(&mut rng);
        e.data = if p.sku {
            match rng.next(6) {
                0 => None,
                1 => Some(json!({ "sku": 5 })),
                2 => Some(json!({ "sku": "k", "extra": 1 })),
                _ => Some(json!({ "sku": "k" })),
            }
        } else {
            (rng.next(7) == 0).then(|| json!({ "note": "x" }))
        };
        events.push(e);
    }
    let mid = mid_period();
    events.extend([
        Ev::new("edge-from", "a.web", mid.from)
            .value(1.5, 0.25)
            .satisfaction(5)
            .data(json!({ "sku": "k" })),
        Ev::new("edge-to", "a.web", mid.to).value(7.0, 0.5),
        Ev::new("edge-before", "b.call", mid.from - 1).value(3.0, 0.0),
        Ev::new("whole-from", "c.shop", at("2026-03-02")).value(0.7, 0.1),
        Ev::new("whole-last", "c.shop", at("2026-03-30") - 1).value(0.3, 0.1),
        Ev::new("whole-to", "c.shop", at("2026-03-30")).value(9.0, 0.1),
        Ev::new("day-from", "d.mail", at("2026-03-05T10:00:00Z")).engaged(true),
        Ev::new("day-to", "d.mail", at("2026-03-05T14:00:00Z")).engaged(false),
        // Held, on a partial day and on a whole one: in no figure.
        Ev::new("held-1", "z.held", mid.from + H)
            .value(100.0, 1.0)
            .party("h1")
            .data(json!({ "bad": 1 })),
        Ev::new("held-2", "z.held", at("2026-03-10T12:00:00Z"))
            .value(100.0, 1.0)
            .satisfaction(5),
    ]);
    events
}

/// Every scope's scorecard over `p` as the store gives it and as computed by hand.
async fn check_cards(store: &dyn Store, inventory: &Inventory, events: &[Ev], p: Period) {
    let scopes = card_scopes();
    let wanted: Vec<Scope> = scopes.iter().map(|s| s.scope()).collect();
    let cards = measure::scorecards(store, inventory, p, &wanted, None)
        .await
        .unwrap();
    assert_eq!(cards.len(), scopes.len());
    for (card, of) in cards.iter().zip(&scopes) {
        assert_eq!(
            (card.from.clone(), card.to.clone()),
            (iso(p.from), iso(p.to))
        );
        let want = card_by_hand(events, &CARD_POINTS, *of, p, p);
        assert_card(&format!("{of:?} over {p:?}"), card, &want, *of);
    }
}

/// The volume of `of` over `p` as the store gives it.
async fn volume(store: &dyn Store, inventory: &Inventory, of: Of, p: Period) -> u64 {
    let cards = measure::scorecards(store, inventory, p, &[of.scope()], None)
        .await
        .unwrap();
    cards[0].scorecard.volume
}

/// Every scorecard field of every kind of scope, over periods that start and end mid-day, on
/// whole days, within one day, with no events and of no length.
pub async fn scorecards_are_metrics_by_hand(backend: &dyn Backend) {
    let events = card_events();
    let store = store_with(backend, &CARD_POINTS, &events).await;
    let store = &*store;
    let inventory = inventory_of(store).await;
    let mid = mid_period();
    let whole = period("2026-03-02", "2026-03-30");
    let one_day = period("2026-03-05T10:00:00Z", "2026-03-05T14:00:00Z");
    let empty = period("2026-05-01", "2026-05-08");
    let instant = Period::new(mid.from, mid.from).unwrap();
    let head_cut = Period::new(mid.from, at("2026-03-31")).unwrap();
    let tail_cut = Period::new(at("2026-03-02"), mid.to).unwrap();
    let over_midnight = period("2026-03-04T20:00:00Z", "2026-03-05T04:00:00Z");
    for p in [
        mid,
        whole,
        head_cut,
        tail_cut,
        one_day,
        over_midnight,
        empty,
        instant,
    ] {
        check_cards(store, &inventory, &events, p).await;
    }

    // The bounds, one at a time: an event exactly at `from` is in, one exactly at `to` is out.
    let org = Of::Organization;
    let tick = |from: i64| Period::new(from, from + 1).unwrap();
    assert_eq!(volume(store, &inventory, org, tick(mid.from)).await, 1);
    assert_eq!(volume(store, &inventory, org, tick(mid.from - 1)).await, 1);
    assert_eq!(volume(store, &inventory, org, tick(mid.to)).await, 1);
    let just_before = Period::new(mid.from, mid.to).unwrap();
    let just_after = Period::new(mid.from, mid.to + 1).unwrap();
    assert_eq!(
        volume(store, &inventory, Of::Point("a.web"), just_after).await,
        volume(store, &inventory, Of::Point("a.web"), just_before).await + 1,
        "the event at `to` counts once `to` is after it"
    );
    let shop = Of::Point("c.shop");
    let whole_in = card_by_hand(&events, &CARD_POINTS, shop, whole, whole)["volume"];
    assert_eq!(
        Some(volume(store, &inventory, shop, whole).await as f64),
        whole_in
    );
    assert_eq!(
        volume(
            store,
            &inventory,
            shop,
            Period::new(whole.from, whole.to + 1).unwrap()
        )
        .await,
        volume(store, &inventory, shop, whole).await + 1
    );

    // An empty period: counts and sums are 0, the expected volume a number (so the attainment
    // is 0), every other ratio null.
    let cards = measure::scorecards(
        store,
        &inventory,
        empty,
        &[Scope::Point("a.web".into())],
        None,
    )
    .await
    .unwrap();
    let card = serde_json::to_value(cards[0].scorecard).unwrap();
    for name in FIELDS {
        let want = match name {
            "volume" => json!(0),
            // 0 of a positive expected volume.
            "volume_attainment" => json!(0.0),
            "value_company" | "value_party" | "cost" | "net_value" => json!(0.0),
            "expected_volume" => json!(60.875 * 7.0 / 30.4375),
            "expected_net_value_per" => json!(4.1 - 0.35),
            _ => Value::Null,
        };
        assert_eq!(card[name], want, "{name} over an empty period");
    }
    // Of no length: nothing is expected, so nothing is attained.
    let cards = measure::scorecards(
        store,
        &inventory,
        instant,
        &[Scope::Point("a.web".into())],
        None,
    )
    .await
    .unwrap();
    assert_eq!(cards[0].scorecard.expected_volume, Some(0.0));
    assert_eq!(cards[0].scorecard.volume_attainment, None);
}

/// The bucket bounds of a series by hand: the period's own ends and every boundary between
/// them (midnights, Monday midnights or the first of a month).
fn buckets_by_hand(p: Period, granularity: Granularity) -> Vec<Period> {
    let boundaries: Vec<i64> = match granularity {
        Granularity::Day => (0..60).map(|d| at("2026-02-20") + d * DAY_US).collect(),
        // 2026-02-16 is a Monday.
        Granularity::Week => (0..9).map(|w| at("2026-02-16") + w * 7 * DAY_US).collect(),
        Granularity::Month => ["2026-02-01", "2026-03-01", "2026-04-01", "2026-05-01"]
            .iter()
            .map(|d| at(d))
            .collect(),
    };
    let mut cuts: Vec<i64> = vec![p.from];
    cuts.extend(boundaries.into_iter().filter(|b| p.from < *b && *b < p.to));
    cuts.push(p.to);
    cuts.windows(2)
        .map(|w| Period::new(w[0], w[1]).unwrap())
        .collect()
}

/// A series by day, week and month: each bucket is the scorecard of its part of the period
/// (the first and last cut to it), and the buckets add up to the whole.
pub async fn series_are_metrics_by_hand_and_add_up(backend: &dyn Backend) {
    let events = card_events();
    let store = store_with(backend, &CARD_POINTS, &events).await;
    let store = &*store;
    let inventory = inventory_of(store).await;
    let mid = mid_period();
    let scopes = card_scopes();
    let wanted: Vec<Scope> = scopes.iter().map(|s| s.scope()).collect();
    let whole = measure::scorecards(store, &inventory, mid, &wanted, None)
        .await
        .unwrap();
    for granularity in [Granularity::Day, Granularity::Week, Granularity::Month] {
        let buckets = buckets_by_hand(mid, granularity);
        let cards = measure::scorecards(store, &inventory, mid, &wanted, Some(granularity))
            .await
            .unwrap();
        assert_eq!(cards.len(), scopes.len() * buckets.len(), "{granularity:?}");
        let mut empty_buckets = 0;
        for (i, of) in scopes.iter().enumerate() {
            let series = &cards[i * buckets.len()..(i + 1) * buckets.len()];
            for (card, bucket) in series.iter().zip(&buckets) {
                assert_eq!(
                    (card.from.clone(), card.to.clone()),
                    (iso(bucket.from), iso(bucket.to))
                );
                let want = card_by_hand(&events, &CARD_POINTS, *of, mid, *bucket);
                assert_card(
                    &format!("{of:?} {granularity:?} {bucket:?}"),
                    card,
                    &want,
                    *of,
                );
                empty_buckets += usize::from(card.scorecard.volume == 0);
            }
            // The buckets add up to the whole: counts exactly, sums and expected volumes
            // (added in another order) within the tolerance.
            let total = &whole[i].scorecard;
            let volume: u64 = series.iter().map(|c| c.scorecard.volume).sum();
            assert_eq!(volume, total.volume, "{of:?} {granularity:?}");
            for (name, part, all) in [
                (
                    "value_company",
                    series
                        .iter()
                        .map(|c| c.scorecard.value_company)
                        .sum::<f64>(),
                    total.value_company,
                ),
                (
                    "cost",
                    series.iter().map(|c| c.scorecard.cost).sum::<f64>(),
                    total.cost,
                ),
            ] {
                assert!(
                    close(part, all),
                    "{of:?} {granularity:?} {name}: {part} vs {all}"
                );
            }
            if let Some(all) = total.expected_volume {
                let part: f64 = series
                    .iter()
                    .map(|c| c.scorecard.expected_volume.unwrap())
                    .sum();
                assert!(close(part, all), "{of:?} {granularity:?}: {part} vs {all}");
            }
        }
        if granularity == Granularity::Day {
            assert!(empty_buckets > 0, "some days of some scopes have no events");
        }
    }
}

/// Held events count from the moment their point goes live, through sign-off: a released day
/// is added up in (`at`, `id`) order (not the order the events were written), and measured
/// like any other.
pub async fn released_events_are_measured_by_hand(backend: &dyn Backend) {
    let mut points = [
        Pt::new("r.live", "sales", "machine", "household").expects([
            Some(20.0),
            Some(1.1),
            Some(0.3),
            Some(0.7),
        ]),
        Pt::new("r.new", "service", "people", "household")
            .expects([Some(10.0), Some(2.3), Some(0.4), Some(0.9)])
            .status("proposed"),
    ];
    // Written newest first, with values that are not exact in binary, on whole and cut days.
    let mut rng = Lcg(11);
    let events: Vec<Ev> = (0..80)
        .rev()
        .map(|i| {
            let key = if i % 3 == 0 { "r.live" } else { "r.new" };
            let mut e = Ev::new(
                format!("r-{i:02}"),
                key,
                at("2026-03-01") + i * 7 * H + rng.next(3_600) as i64 * S,
            )
            .value(rng.next(30) as f64 * 0.1, rng.next(11) as f64 * 0.07);
            e.value_party = Some(rng.next(13) as f64 * 0.3);
            e.satisfaction = Some(1 + rng.next(5));
            e.engaged = Some(i % 2 == 0);
            e
        })
        .collect();
    let store = store_with(backend, &points, &events).await;
    let store = &*store;
    add_users(store).await;
    let scopes: Vec<Of> = vec![
        Of::Point("r.live"),
        Of::Function("service"),
        Of::Organization,
    ];
    let wanted: Vec<Scope> = scopes.iter().map(|s| s.scope()).collect();
    let periods = [
        period("2026-03-01", "2026-03-25"),
        period("2026-03-02T13:00:00Z", "2026-03-21T05:00:00Z"),
    ];
    let check = async |points: &[Pt], by_hand: &[Ev]| {
        let inventory = inventory_of(store).await;
        for p in periods {
            let cards = measure::scorecards(store, &inventory, p, &wanted, None)
                .await
                .unwrap();
            for (card, of) in cards.iter().zip(&scopes) {
                let want = card_by_hand(by_hand, points, *of, p, p);
                assert_card(&format!("{of:?} over {p:?}"), card, &want, *of);
            }
        }
    };
    // Held: r.new counts nowhere.
    check(&points, &events).await;

    let id = crate::proposals::list(store, &admin())
        .await
        .unwrap()
        .last()
        .unwrap()
        .id;
    for exec in ["erin", "ed"] {
        let exec = user(exec, touchbase_core::Role::Executive, &[]);
        crate::proposals::decide(store, &exec, id, true, "yes")
            .await
            .unwrap();
    }
    let olga = user("olga", touchbase_core::Role::Owner, &["ecommerce"]);
    crate::inventory::go_live(store, &olga, "r.new")
        .await
        .unwrap();
    points[1].status = "live";
    // Released: r.new's days were added up in (at, id) order.
    let mut by_hand: Vec<Ev> = events
        .iter()
        .filter(|e| e.point == "r.live")
        .cloned()
        .collect();
    let mut released: Vec<Ev> = events
        .iter()
        .filter(|e| e.point == "r.new")
        .cloned()
        .collect();
    released.sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
    by_hand.extend(released);
    check(&points, &by_hand).await;
    let inventory = inventory_of(store).await;
    let p = periods[0];
    let cards = measure::scorecards(store, &inventory, p, &[Of::Point("r.new").scope()], None)
        .await
        .unwrap();
    let want = card_by_hand(&by_hand, &points, Of::Point("r.new"), p, p);
    assert_card("r.new, released", &cards[0], &want, Of::Point("r.new"));
    assert!(cards[0].scorecard.volume > 40);
}

// ---------------------------------------------------------------------------------------------
// Data quality.

/// The contract check's wording of each way the test data breaks a contract.
fn failure_of(p: &Pt, data: Option<&Value>) -> Option<&'static str> {
    if p.conforms(data) {
        return None;
    }
    Some(match data {
        None => r#""sku" is a required property"#,
        Some(d) if d.get("note").is_some() => {
            "Additional properties are not allowed ('note' was unexpected)"
        }
        Some(d) if d.get("extra").is_some() => {
            "Additional properties are not allowed ('extra' was unexpected)"
        }
        Some(_) => r#"/sku: 5 is not of type "string""#,
    })
}

/// Data quality per point: the conformance rate and the most frequent failures, ties by text.
pub async fn quality_is_metrics_by_hand(backend: &dyn Backend) {
    let events = card_events();
    let store = store_with(backend, &CARD_POINTS, &events).await;
    let store = &*store;
    let mid = mid_period();
    let days = Days::counts(store, mid).await.unwrap();
    for top in [1, 2, 10] {
        let got = measure::quality(store, &days, top).await.unwrap();
        let mut want = Vec::new();
        for p in &CARD_POINTS {
            let of = events
                .iter()
                .filter(|e| e.point == p.key && p.status == "live" && mid.contains(e.at));
            let (mut volume, mut conforming) = (0u64, 0u64);
            let mut failures: BTreeMap<&str, u64> = BTreeMap::new();
            for e in of {
                volume += 1;
                match failure_of(p, e.data.as_ref()) {
                    None => conforming += 1,
                    Some(f) => *failures.entry(f).or_default() += 1,
                }
            }
            if volume == 0 {
                continue;
            }
            let mut failing: Vec<(&str, u64)> = failures.into_iter().collect();
            failing.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
            failing.truncate(top);
            want.push(json!({
                "point": p.key,
                "volume": volume,
                "conforming": conforming,
                "conformance_rate": conforming as f64 / volume as f64,
                "failing": failing.iter().map(|(f, n)| json!({ "failure": f, "events": n })).collect::<Vec<_>>(),
            }));
        }
        assert_eq!(
            serde_json::to_value(&got).unwrap(),
            Value::Array(want),
            "top {top}"
        );
    }
    // The failures of a.web, which breaks its contract three ways, are all there with 10.
    let got = measure::quality(store, &days, 10).await.unwrap();
    assert_eq!(got[0].point, "a.web");
    assert_eq!(got[0].failing.len(), 3);
}

// ---------------------------------------------------------------------------------------------
// The portfolio rule.

const PORTFOLIO_POINTS: [Pt; 9] = [
    // Net 4.75 a time against 5 expected (≥ 0.8 × 5), effectiveness 1, but dearer than
    // expected: invest, with cost_above_expectation.
    Pt::new("p.invest", "sales", "machine", "household").expects([
        Some(40.0),
        Some(6.0),
        None,
        Some(1.0),
    ]),
    // Net as expected, effectiveness 1/6, used far less than expected, a quarter of its data
    // nonconforming: improve.
    Pt::new("p.improve", "service", "people", "household").expects([
        Some(100.0),
        Some(3.0),
        None,
        Some(1.0),
    ]),
    // Net −0.5 a time against 1 expected, effectiveness 0, of low strategic value: eliminate.
    Pt::new("p.elim", "marketing", "machine", "household").expects([
        Some(30.0),
        Some(2.0),
        None,
        Some(1.0),
    ]),
    // Neither, but of high strategic value; an expected net value below 0 (the threshold is 0).
    Pt::new("p.strategic", "sales", "hybrid", "business")
        .expects([Some(30.0), Some(1.0), None, Some(2.0)])
        .strategic("high"),
    // No expectation: financially fine at a net of 0; effectiveness 0.5.
    Pt::new("p.medium", "fulfillment", "machine", "household").strategic("medium"),
    // Ten events: insufficient data, still flagged for volume, cost and data.
    Pt::new("p.few", "finance", "people", "household")
        .expects([Some(300.0), None, None, Some(0.5)])
        .sku(),
    // Live without any event.
    Pt::new("p.none", "finance", "people", "household").expects([Some(10.0), None, None, None]),
    // Not live: not judged.
    Pt::new("p.proposed", "sales", "machine", "household")
        .expects([Some(10.0), Some(1.0), Some(1.0), Some(1.0)])
        .status("proposed"),
    Pt::new("p.retired", "sales", "machine", "household").status("retired"),
];

fn portfolio_events() -> Vec<Ev> {
    let day = |i: i64| at("2026-03-01T09:00:00Z") + (i % 28) * DAY_US + i * 60 * S;
    let mut events = Vec::new();
    for i in 0..40 {
        events.push(
            Ev::new(format!("inv-{i}"), "p.invest", day(i))
                .value(6.0, 1.25)
                .satisfaction(5)
                .resolved(true)
                .engaged(true),
        );
        let improve = Ev::new(format!("imp-{i}"), "p.improve", day(i))
            .value(3.0, 1.0)
            .satisfaction(3)
            .resolved(i % 2 == 0);
        events.push(if i % 4 == 0 {
            improve.data(json!({ "x": 1 }))
        } else {
            improve
        });
    }
    for i in 0..30 {
        events.push(Ev::new(format!("elim-{i}"), "p.elim", day(i)).value(0.5, 1.0));
        events.push(
            Ev::new(format!("med-{i}"), "p.medium", day(i))
                .value(1.0, 1.0)
                .satisfaction(5)
                .engaged(false),
        );
    }
    for i in 0..35 {
        events.push(
            Ev::new(format!("str-{i}"), "p.strategic", day(i))
                .value(1.0, 2.5)
                .satisfaction(2),
        );
    }
    for i in 0..10 {
        let few = Ev::new(format!("few-{i}"), "p.few", day(i)).value(0.0, 1.0);
        events.push(if i < 8 {
            few.data(json!({ "sku": "k" }))
        } else {
            few
        });
    }
    // Outside the period: not counted.
    events.push(Ev::new("late", "p.elim", at("2026-03-31")).value(100.0, 0.0));
    events
}

/// METRICS.md's portfolio settings: `min_volume`, `adequacy`, `quality_threshold`.
#[derive(Debug, Clone, Copy)]
struct Rule {
    min_volume: u64,
    adequacy: f64,
    quality_threshold: f64,
    cost_tolerance: f64,
}

/// The verdict of a live point by METRICS.md's portfolio rule, from its scorecard by hand, as
/// `{point, verdict, reasons: [{code, value, threshold}]}`.
fn verdict_by_hand(p: &Pt, card: &BTreeMap<&str, Option<f64>>, rule: Rule) -> Value {
    let figure = |name: &str| card[name];
    let n = figure("volume").unwrap() as u64;
    let mut reasons = Vec::new();
    let verdict = if n < rule.min_volume {
        "insufficient-data"
    } else {
        let threshold = match figure("expected_net_value_per") {
            Some(e) if e > 0.0 => rule.adequacy * e,
            _ => 0.0,
        };
        let financial_ok = figure("net_value_per").is_some_and(|v| v >= threshold);
        let quality_ok = figure("effectiveness").is_some_and(|e| e >= rule.quality_threshold);
        let strategic = matches!(p.strategic, "medium" | "high");
        if !financial_ok {
            reasons.push(json!({ "code": "value_below_expectation",
                "value": figure("net_value_per"), "threshold": threshold }));
        }
        if !quality_ok {
            reasons.push(json!({ "code": "quality_below_threshold",
                "value": figure("effectiveness"), "threshold": rule.quality_threshold }));
        }
        if financial_ok && quality_ok {
            "invest"
        } else if !financial_ok && !quality_ok && !strategic {
            "eliminate"
        } else {
            if !financial_ok && !quality_ok {
                reasons.push(json!({ "code": "strategic_override",
                    "value": p.strategic, "threshold": "medium" }));
            }
            "improve"
        }
    };
    if let Some(a) = figure("volume_attainment")
        && a < rule.adequacy
    {
        reasons.push(
            json!({ "code": "volume_below_expectation", "value": a, "threshold": rule.adequacy }),
        );
    }
    if let (Some(c), Some(e)) = (figure("cost_per"), p.expected[3])
        && c > e * (1.0 + rule.cost_tolerance)
        && e > 0.0
    {
        let threshold = e * (1.0 + rule.cost_tolerance);
        reasons
            .push(json!({ "code": "cost_above_expectation", "value": c, "threshold": threshold }));
    }
    if let Some(r) = figure("conformance_rate")
        && r < 0.95
    {
        reasons.push(json!({ "code": "data_nonconformant", "value": r, "threshold": 0.95 }));
    }
    json!({ "point": p.key, "verdict": verdict, "reasons": reasons })
}

fn portfolio_by_hand(events: &[Ev], p: Period, rule: Rule) -> Value {
    let mut live: Vec<&Pt> = PORTFOLIO_POINTS
        .iter()
        .filter(|p| p.status == "live")
        .collect();
    live.sort_by_key(|p| p.key);
    Value::Array(
        live.into_iter()
            .map(|point| {
                let card = card_by_hand(events, &PORTFOLIO_POINTS, Of::Point(point.key), p, p);
                verdict_by_hand(point, &card, rule)
            })
            .collect(),
    )
}

fn verdicts(got: &Value) -> Vec<(String, String)> {
    got.as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["point"].as_str().unwrap().to_owned(),
                a["verdict"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Every verdict and every reason code with its figure and threshold (compared exactly: they
/// are computed from one point's sums by one formula each), before and after a change of the
/// settings flips some.
pub async fn portfolio_is_metrics_by_hand(backend: &dyn Backend) {
    let events = portfolio_events();
    let store = store_with(backend, &PORTFOLIO_POINTS, &events).await;
    let store = &*store;
    let march = period("2026-03-01", "2026-03-31");
    let mut rule = Rule {
        min_volume: 30,
        adequacy: 0.8,
        quality_threshold: 0.6,
        cost_tolerance: 0.05,
    };
    let got = measure::portfolio(store, &inventory_of(store).await, march)
        .await
        .unwrap();
    let got = serde_json::to_value(&got).unwrap();
    assert_eq!(got, portfolio_by_hand(&events, march, rule));

    // p.invest costs 1.25 against 1 expected: at a tolerance of exactly 25 % it is not above
    // its expectation, a hair under 25 % it is.
    let invest_cost_flagged = |got: &Value| {
        got.as_array().unwrap().iter().any(|a| {
            a["point"] == "p.invest"
                && a["reasons"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|r| r["code"] == "cost_above_expectation")
        })
    };
    for (tolerance, flagged) in [("0.25", false), ("0.2499", true), ("0.05", true)] {
        crate::settings::set(store, &admin(), "portfolio.cost_tolerance", tolerance)
            .await
            .unwrap();
        rule.cost_tolerance = tolerance.parse().unwrap();
        let got = measure::portfolio(store, &inventory_of(store).await, march)
            .await
            .unwrap();
        let got = serde_json::to_value(&got).unwrap();
        assert_eq!(
            got,
            portfolio_by_hand(&events, march, rule),
            "tolerance {tolerance}"
        );
        assert_eq!(invest_cost_flagged(&got), flagged, "tolerance {tolerance}");
    }
    let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
        list.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    assert_eq!(
        verdicts(&got),
        pairs(&[
            ("p.elim", "eliminate"),
            ("p.few", "insufficient-data"),
            ("p.improve", "improve"),
            ("p.invest", "invest"),
            ("p.medium", "improve"),
            ("p.none", "insufficient-data"),
            ("p.strategic", "improve"),
        ])
    );
    let codes: BTreeSet<&str> = got
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|a| a["reasons"].as_array().unwrap())
        .map(|r| r["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        BTreeSet::from([
            "value_below_expectation",
            "quality_below_threshold",
            "strategic_override",
            "volume_below_expectation",
            "cost_above_expectation",
            "data_nonconformant",
        ]),
        "every reason code is exercised"
    );

    // A lower quality threshold makes p.improve an investment; a higher minimum volume leaves
    // too little data on the points with 30 events.
    crate::settings::set(store, &admin(), "portfolio.quality_threshold", "0.15")
        .await
        .unwrap();
    crate::settings::set(store, &admin(), "portfolio.min_volume", "31")
        .await
        .unwrap();
    rule.quality_threshold = 0.15;
    rule.min_volume = 31;
    let got = measure::portfolio(store, &inventory_of(store).await, march)
        .await
        .unwrap();
    let got = serde_json::to_value(&got).unwrap();
    assert_eq!(got, portfolio_by_hand(&events, march, rule));
    assert_eq!(
        verdicts(&got),
        pairs(&[
            ("p.elim", "insufficient-data"),
            ("p.few", "insufficient-data"),
            ("p.improve", "invest"),
            ("p.invest", "invest"),
            ("p.medium", "insufficient-data"),
            ("p.none", "insufficient-data"),
            ("p.strategic", "improve"),
        ])
    );
}

// ---------------------------------------------------------------------------------------------
// Journeys.

const JOURNEY_POINTS: [Pt; 8] = [
    Pt::new("j.ad", "marketing", "machine", "household"),
    Pt::new("j.web", "sales", "machine", "household"),
    Pt::new("j.web2", "sales", "machine", "household"),
    Pt::new("j.pay", "finance", "machine", "household"),
    Pt::new("j.call", "service", "people", "household"),
    // Used only after the period: no effectiveness over it.
    Pt::new("j.late", "service", "people", "household"),
    Pt::new("j.biz", "sales", "machine", "business"),
    // Not live: its events are held, in no journey.
    Pt::new("j.held", "sales", "machine", "household")
        .expects([Some(1.0), Some(1.0), Some(1.0), Some(1.0)])
        .status("proposed"),
];

/// The journey gap the test sets: one day.
const GAP_S: i64 = 86_400;

fn journey_events() -> Vec<Ev> {
    let t = at("2026-03-10T08:00:00Z");
    let g = GAP_S * S;
    // Each point's outcomes make its effectiveness: j.ad 1, j.web 0.5 (csat 0, engaged),
    // j.web2 0.5 (csat 1, not engaged), j.pay 0.5 (resolved, not engaged), j.call 0,
    // j.biz 1 — ties at 0.5 for the weakest link.
    let ev = |id: &str, point: &'static str, when: i64, party: Option<&str>| {
        let e = Ev::new(id, point, when);
        let e = match point {
            "j.ad" | "j.biz" => e.engaged(true),
            "j.web" => e.satisfaction(3).engaged(true),
            "j.web2" => e.satisfaction(5),
            "j.pay" => e.resolved(true).engaged(false),
            _ => e.satisfaction(1),
        };
        match party {
            Some(party) => e.party(party),
            None => e,
        }
    };
    let h = |id: &str, point: &'static str, when: &str| ev(id, point, at(when), Some(&id[..2]));
    vec![
        // A gap of exactly the journey gap keeps the journey going.
        ev("h1-1", "j.ad", t, Some("h1")),
        ev("h1-2", "j.web", t + 2 * H, Some("h1")),
        ev("h1-3", "j.pay", t + 2 * H + g, Some("h1")),
        // One microsecond more cuts it in two.
        ev("h2-1", "j.ad", t + H, Some("h2")),
        ev("h2-2", "j.web", t + H + g + 1, Some("h2")),
        // A journey that starts before the period (not in it), then one in it.
        h("h3-1", "j.ad", "2026-03-09T20:00:00Z"),
        h("h3-2", "j.web", "2026-03-10T10:00:00Z"),
        h("h3-3", "j.call", "2026-03-15T10:00:00Z"),
        // One that starts in it and runs past its end: in it whole.
        h("h4-1", "j.web", "2026-03-19T20:00:00Z"),
        h("h4-2", "j.pay", "2026-03-20T10:00:00Z"),
        h("h4-3", "j.late", "2026-03-20T12:00:00Z"),
        h("h5-1", "j.ad", "2026-03-12T09:00:00Z"),
        h("h5-2", "j.web", "2026-03-12T09:30:00Z"),
        h("h5-3", "j.pay", "2026-03-12T10:30:00Z"),
        // Within one function, and back.
        h("h6-1", "j.web", "2026-03-13T09:00:00Z"),
        h("h6-2", "j.web2", "2026-03-13T09:10:00Z"),
        h("h6-3", "j.web", "2026-03-13T09:20:00Z"),
        h("h6-4", "j.pay", "2026-03-13T11:20:00Z"),
        // At the same instant: ordered by id, so j.web (h7-a) comes first.
        h("h7-b", "j.pay", "2026-03-14T09:00:00Z"),
        h("h7-a", "j.web", "2026-03-14T09:00:00Z"),
        h("h8-1", "j.web", "2026-03-16T12:00:00Z"),
        h("h8-h", "j.held", "2026-03-16T12:05:00Z"),
        h("h8-2", "j.pay", "2026-03-16T12:10:00Z"),
        // A business's journey.
        h("b1-1", "j.biz", "2026-03-11T09:00:00Z"),
        h("b1-2", "j.call", "2026-03-11T15:00:00Z"),
        // Without a party: in no journey.
        ev("anon-1", "j.web", at("2026-03-11T09:00:00Z"), None),
        ev("anon-2", "j.ad", at("2026-03-11T09:05:00Z"), None),
    ]
}

/// Every journey of the events, by METRICS.md: each party's accepted events in (`at`, `id`)
/// order, cut where a gap exceeds the journey gap.
fn journeys_by_hand(events: &[Ev], gap_us: i64) -> Vec<Vec<&Ev>> {
    let mut by_party: BTreeMap<&str, Vec<&Ev>> = BTreeMap::new();
    let live = |key: &str| {
        JOURNEY_POINTS
            .iter()
            .any(|p| p.key == key && p.status == "live")
    };
    for e in events {
        if let Some(party) = &e.party
            && live(e.point)
        {
            by_party.entry(party).or_default().push(e);
        }
    }
    let mut journeys: Vec<Vec<&Ev>> = Vec::new();
    for (_, mut list) in by_party {
        list.sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
        let mut current: Vec<&Ev> = Vec::new();
        for e in list {
            if let Some(last) = current.last()
                && e.at - last.at > gap_us
            {
                journeys.push(std::mem::take(&mut current));
            }
            current.push(e);
        }
        journeys.push(current);
    }
    journeys
}

fn median_s(gaps_us: &[i64]) -> Option<f64> {
    let mut g = gaps_us.to_vec();
    g.sort();
    let n = g.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(g[n / 2] as f64 / 1e6),
        _ => Some((g[n / 2 - 1] as f64 + g[n / 2] as f64) / 2.0 / 1e6),
    }
}

/// The journey summary by hand, as JSON: edges and hand-offs sorted by (from, to) (METRICS.md
/// gives them no order), variants ranked by count then text, at most `top`.
fn summary_by_hand(events: &[Ev], query: &JourneyQuery) -> Value {
    let point = |key: &str| JOURNEY_POINTS.iter().find(|p| p.key == key).unwrap();
    let admitted: Vec<Vec<&Ev>> = journeys_by_hand(events, GAP_S * S)
        .into_iter()
        .filter(|j| query.period.contains(j[0].at))
        .filter(|j| query.start.as_deref().is_none_or(|s| s == j[0].point))
        .filter(|j| {
            query
                .party_type
                .as_deref()
                .is_none_or(|t| point(j[0].point).party == t)
        })
        .collect();
    let mut edges: BTreeMap<(String, String), (u64, Vec<i64>)> = BTreeMap::new();
    let mut variants: BTreeMap<Vec<&str>, u64> = BTreeMap::new();
    for j in &admitted {
        let mut nodes = vec![("start", None)];
        nodes.extend(j.iter().map(|e| (e.point, Some(e.at))));
        nodes.push(("end", None));
        for w in nodes.windows(2) {
            let edge = edges
                .entry((w[0].0.to_owned(), w[1].0.to_owned()))
                .or_default();
            edge.0 += 1;
            if let (Some(a), Some(b)) = (w[0].1, w[1].1) {
                edge.1.push(b - a);
            }
        }
        *variants
            .entry(j.iter().map(|e| e.point).collect())
            .or_default() += 1;
    }
    let edge_list: Vec<Value> = edges
        .iter()
        .map(|((from, to), (count, gaps))| {
            json!({ "from": from, "to": to, "count": count, "median_gap_s": median_s(gaps) })
        })
        .collect();
    let handoffs: Vec<Value> = edges
        .iter()
        .filter(|((from, to), _)| from != "start" && to != "end")
        .filter(|((from, to), _)| point(from).function != point(to).function)
        .map(|((from, to), (count, gaps))| {
            json!({ "from": from, "to": to, "from_function": point(from).function,
                "to_function": point(to).function, "count": count, "median_gap_s": median_s(gaps) })
        })
        .collect();
    // Each point's effectiveness over the period, from its scorecard by hand.
    let effectiveness = |key: &'static str| {
        card_by_hand(
            events,
            &JOURNEY_POINTS,
            Of::Point(key),
            query.period,
            query.period,
        )["effectiveness"]
    };
    let mut ranked: Vec<(String, &Vec<&str>, u64)> = variants
        .iter()
        .map(|(points, count)| (points.join(" → "), points, *count))
        .collect();
    ranked.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)));
    ranked.truncate(query.top.unwrap_or(usize::MAX));
    let variant_list: Vec<Value> = ranked
        .into_iter()
        .map(|(text, points, count)| {
            let mut weakest: Option<(f64, &str)> = None;
            for key in points {
                let key = point(key).key;
                if let Some(e) = effectiveness(key)
                    && weakest.is_none_or(|(w, k)| e < w || (e == w && key < k))
                {
                    weakest = Some((e, key));
                }
            }
            json!({ "points": points, "text": text, "count": count,
                "weakest_link": weakest.map(|(e, k)| json!({ "point": k, "effectiveness": e })) })
        })
        .collect();
    json!({
        "journeys": admitted.len(),
        "distinct_variants": variants.len(),
        "edges": edge_list,
        "handoffs": handoffs,
        "variants": variant_list,
    })
}

/// The summary as the store gives it, as JSON, its edges and hand-offs sorted by (from, to).
fn sorted(summary: &touchbase_core::journeys::Summary) -> Value {
    let mut v = serde_json::to_value(summary).unwrap();
    for list in ["edges", "handoffs"] {
        v[list].as_array_mut().unwrap().sort_by_key(|e| {
            (
                e["from"].as_str().map(str::to_owned),
                e["to"].as_str().map(str::to_owned),
            )
        });
    }
    v
}

/// Journeys, graph, hand-offs and variants with their weakest links, under every filter.
pub async fn journeys_are_metrics_by_hand(backend: &dyn Backend) {
    let events = journey_events();
    let store = store_with(backend, &JOURNEY_POINTS, &events).await;
    let store = &*store;
    crate::settings::set(
        store,
        &admin(),
        "journeys.journey_gap_s",
        &GAP_S.to_string(),
    )
    .await
    .unwrap();
    let inventory = inventory_of(store).await;
    let in_period = period("2026-03-10", "2026-03-20");
    let query = |party_type: Option<&str>, start: Option<&str>, top: Option<usize>, p: Period| {
        JourneyQuery {
            period: p,
            party_type: party_type.map(str::to_owned),
            start: start.map(str::to_owned),
            top,
        }
    };
    let queries = [
        query(None, None, None, in_period),
        query(None, None, Some(3), in_period),
        query(Some("business"), None, None, in_period),
        query(Some("household"), Some("j.web"), None, in_period),
        query(None, Some("j.biz"), None, in_period),
        // Events in it, but no journey starts in it.
        query(None, None, None, period("2026-03-20", "2026-03-25")),
    ];
    for q in &queries {
        let got = measure::journeys(store, &inventory, q).await.unwrap();
        assert_eq!(sorted(&got), summary_by_hand(&events, q), "{q:?}");
    }

    // What the journeys of the whole period are, spelt out.
    let all = measure::journeys(store, &inventory, &queries[0])
        .await
        .unwrap();
    let variants: Vec<(&str, u64)> = all
        .variants
        .iter()
        .map(|v| (v.text.as_str(), v.count))
        .collect();
    assert_eq!(
        variants,
        [
            ("j.ad → j.web → j.pay", 2),
            ("j.web → j.pay", 2),
            ("j.ad", 1),
            ("j.biz → j.call", 1),
            ("j.call", 1),
            ("j.web", 1),
            ("j.web → j.pay → j.late", 1),
            ("j.web → j.web2 → j.web → j.pay", 1),
        ]
    );
    // Ties in effectiveness (0.5) go to the smallest key; a point with none is passed over.
    let weakest: Vec<Option<&str>> = all
        .variants
        .iter()
        .map(|v| v.weakest_link.as_ref().map(|w| w.point.as_str()))
        .collect();
    assert_eq!(
        weakest,
        [
            Some("j.pay"),
            Some("j.pay"),
            Some("j.ad"),
            Some("j.call"),
            Some("j.call"),
            Some("j.web"),
            Some("j.pay"),
            Some("j.pay"),
        ]
    );
    let web_pay = all
        .edges
        .iter()
        .find(|e| e.from.as_str() == "j.web" && e.to.as_str() == "j.pay")
        .unwrap();
    // Gaps 86 400 (exactly the journey gap), 50 400, 3 600, 7 200, 0 and 600 s: the mean of
    // 3 600 and 7 200.
    assert_eq!((web_pay.count, web_pay.median_gap_s), (6, Some(5_400.0)));
    assert_eq!(all.journeys, 10);
    let handoffs: Vec<(&str, &str)> = all
        .handoffs
        .iter()
        .map(|h| (h.from.as_str(), h.to.as_str()))
        .collect();
    assert!(handoffs.contains(&("j.ad", "j.web")) && handoffs.contains(&("j.biz", "j.call")));
    assert!(
        !handoffs.contains(&("j.web", "j.web2")),
        "within one function"
    );
}

// ---------------------------------------------------------------------------------------------
// Attribution through journeys.

const ATTRIBUTION_POINTS: [Pt; 4] = [
    Pt::new("a.x", "sales", "machine", "household"),
    Pt::new("a.y", "marketing", "machine", "household"),
    // On no journey: its events have no party.
    Pt::new("a.z", "service", "people", "household"),
    // Telemetry outside journeys (set after the import): its readings bridge no gap.
    Pt::new("a.sensor", "fulfillment", "machine", "household"),
];

/// March: p1 `x(2) y(0) x(8)` (a loop, V = 10), p2 `x(0) x(0)` (a repeat, V = 0), p3
/// `y(1) x(5)` (V = 6), a sensor reading of p1 between its touches, and `z` events without a
/// party. May: p4 `x(−1)` and p5 `y(0)`: no journey converts.
fn attribution_events() -> Vec<Ev> {
    let t = at("2026-03-10T08:00:00Z");
    let h = 3_600 * S;
    let mut events = vec![
        Ev::new("p1-1", "a.x", t).party("p1").value(2.0, 0.5),
        Ev::new("p1-s", "a.sensor", t + h)
            .party("p1")
            .value(0.0, 0.0),
        Ev::new("p1-2", "a.y", t + 2 * h)
            .party("p1")
            .value(0.0, 0.5),
        Ev::new("p1-3", "a.x", t + 3 * h)
            .party("p1")
            .value(8.0, 0.5),
        Ev::new("p2-1", "a.x", t).party("p2").value(0.0, 0.5),
        Ev::new("p2-2", "a.x", t + h).party("p2").value(0.0, 0.5),
        Ev::new("p3-1", "a.y", t + 5 * h)
            .party("p3")
            .value(1.0, 0.5),
        Ev::new("p3-2", "a.x", t + 6 * h)
            .party("p3")
            .value(5.0, 0.5),
        Ev::new("z-1", "a.z", t).value(3.0, 0.5),
        Ev::new("z-2", "a.z", t + h).value(3.0, 0.5),
    ];
    let may = at("2026-05-10T08:00:00Z");
    events.push(Ev::new("p4-1", "a.x", may).party("p4").value(-1.0, 0.0));
    events.push(Ev::new("p5-1", "a.y", may).party("p5").value(0.0, 0.0));
    events
}

/// Each attribution field of a point's card against its value by hand.
fn assert_attribution(what: &str, card: &measure::Card, want: [Option<f64>; 5]) {
    let got = serde_json::to_value(card.scorecard).unwrap();
    for (name, want) in ATTRIBUTION_FIELDS.into_iter().zip(want) {
        let g = got[name].as_f64();
        let ok = match (g, want) {
            (Some(g), Some(w)) => close(g, w),
            (None, None) => got[name].is_null(),
            _ => false,
        };
        assert!(ok, "{what}: {name} is {}, by hand {want:?}", got[name]);
    }
}

/// METRICS.md's attribution, worked out by hand with exact fractions on journeys with a
/// loop, a repeat, a point on every journey (removal effect 1), a point on none, telemetry
/// outside journeys and a period where nothing converts; and the portfolio's
/// `carries_journeys` at its threshold.
pub async fn attribution_is_metrics_by_hand(backend: &dyn Backend) {
    let events = attribution_events();
    let store = store_with(backend, &ATTRIBUTION_POINTS, &events).await;
    let store = &*store;
    add_users(store).await;
    let mut sensor = inventory_of(store).await.point("a.sensor").unwrap().clone();
    sensor.journeys = false;
    crate::inventory::put_point(store, &admin(), sensor)
        .await
        .unwrap();
    let inventory = inventory_of(store).await;
    assert!(!inventory.point("a.sensor").unwrap().journeys);
    let points: Vec<Scope> = ["a.sensor", "a.x", "a.y", "a.z"]
        .map(|k| Scope::Point(k.to_owned()))
        .to_vec();
    let march = period("2026-03-01", "2026-04-01");
    let cards = measure::scorecards(store, &inventory, march, &points, None)
        .await
        .unwrap();
    // Transitions: start→x 2, start→y 1; x→y 1, x→x 1, x→conversion 2, x→null 1; y→x 2.
    // c_y = c_x = ⅕ c_y + ⅕ c_x + ⅖, so c_x = ⅔ and C = ⅔. Without x (every journey passes
    // it) C = 0: effect 1. Without y: c_x = ⅕ c_x + ⅖ = ½, C = ⅔ · ½ = ⅓: effect ½.
    // Converting value 16, shared 1 : ½ by the Markov chain; linearly, J1's 10 over its three
    // events (x twice) and J3's 6 over two.
    let third = 1.0 / 3.0;
    assert_attribution("sensor", &cards[0], [None; 5]);
    assert_attribution(
        "x",
        &cards[1],
        [
            Some(3.0),
            Some(16.0),
            Some(20.0 * third + 3.0),
            Some(1.0),
            Some(16.0 / 1.5),
        ],
    );
    assert_attribution(
        "y",
        &cards[2],
        [
            Some(2.0),
            Some(16.0),
            Some(10.0 * third + 3.0),
            Some(0.5),
            Some(8.0 / 1.5),
        ],
    );
    assert_attribution("z, on no journey", &cards[3], [None; 5]);
    let org = measure::scorecards(store, &inventory, march, &[Scope::Organization], None)
        .await
        .unwrap();
    assert_attribution("the organization", &org[0], [None; 5]);

    // May: nothing converts, C = 0.
    let may = period("2026-05-01", "2026-06-01");
    let cards = measure::scorecards(store, &inventory, may, &points, None)
        .await
        .unwrap();
    assert_attribution(
        "x in May",
        &cards[1],
        [Some(1.0), Some(-1.0), Some(0.0), None, None],
    );
    assert_attribution(
        "y in May",
        &cards[2],
        [Some(1.0), Some(0.0), Some(0.0), None, None],
    );

    // A series: each month's journeys alone.
    let spring = period("2026-03-01", "2026-06-01");
    let series = measure::scorecards(
        store,
        &inventory,
        spring,
        &[Scope::Point("a.x".into())],
        Some(Granularity::Month),
    )
    .await
    .unwrap();
    assert_eq!(series.len(), 3);
    assert_eq!(series[0].scorecard.attribution.removal_effect, Some(1.0));
    assert_attribution("x in April", &series[1], [None; 5]);
    assert_eq!(series[2].scorecard.attribution.journeys_through, Some(1));

    // What cutting y would cost: J1 and J3 pass it (16 in value), C from ⅔ to ⅓, half the
    // converting 16 at risk; both went on to x. Cutting x: every journey; after x, J1 went to
    // y and ended, J2 repeated x and ended, J3 ended.
    let y = measure::what_if(store, &inventory, march, "a.y", 10)
        .await
        .unwrap();
    assert_eq!(
        (
            y.journeys,
            y.journeys_through,
            y.variants_through,
            y.converting_through
        ),
        (3, 2, 2, 2)
    );
    assert!(close(y.value_through, 16.0) && close(y.converting_value, 16.0));
    assert!(close(y.conversion.unwrap(), 2.0 / 3.0));
    assert!(close(y.conversion_without.unwrap(), 1.0 / 3.0));
    assert!(close(y.removal_effect.unwrap(), 0.5));
    assert!(close(y.value_at_risk.unwrap(), 8.0));
    let next: Vec<(&str, u64)> = y.next.iter().map(|n| (n.to.as_str(), n.count)).collect();
    assert_eq!(next, [("a.x", 2)]);
    let texts: Vec<&str> = y.variants.iter().map(|v| v.text.as_str()).collect();
    assert_eq!(texts, ["a.x → a.y → a.x", "a.y → a.x"]);
    let x = measure::what_if(store, &inventory, march, "a.x", 1)
        .await
        .unwrap();
    assert_eq!(
        (x.journeys_through, x.variants_through, x.variants.len()),
        (3, 3, 1)
    );
    assert_eq!(x.removal_effect, Some(1.0));
    let next: Vec<(&str, u64)> = x.next.iter().map(|n| (n.to.as_str(), n.count)).collect();
    assert_eq!(next, [("end", 3), ("a.x", 1), ("a.y", 1)]);
    assert!(close(x.next[0].share, 0.6));
    let z = measure::what_if(store, &inventory, march, "a.z", 10)
        .await
        .unwrap();
    assert_eq!(
        (z.journeys, z.journeys_through, z.removal_effect),
        (3, 0, None)
    );
    assert!(z.next.is_empty() && z.variants.is_empty());
    let may_x = measure::what_if(store, &inventory, may, "a.x", 10)
        .await
        .unwrap();
    assert_eq!((may_x.journeys_through, may_x.conversion), (1, None));
    assert!(
        measure::what_if(store, &inventory, march, "no.such", 10)
            .await
            .is_err()
    );

    // carries_journeys: on improve and eliminate, from the removal effect at the setting.
    crate::settings::set(store, &admin(), "portfolio.min_volume", "1")
        .await
        .unwrap();
    let carries = |verdicts: &[touchbase_core::portfolio::Assessment], key: &str| {
        let a = verdicts.iter().find(|a| a.point == key).unwrap();
        let reason = a
            .reasons
            .iter()
            .find(|r| r.code == touchbase_core::portfolio::ReasonCode::CarriesJourneys);
        (a.verdict, reason.map(|r| (r.value, r.threshold)))
    };
    use touchbase_core::portfolio::{Figure, Verdict};
    let verdicts = measure::portfolio(store, &inventory_of(store).await, march)
        .await
        .unwrap();
    // No effectiveness recorded: quality is never ok, so neither is invest.
    let (x, x_reason) = carries(&verdicts, "a.x");
    let (y, y_reason) = carries(&verdicts, "a.y");
    assert!(matches!(x, Verdict::Improve | Verdict::Eliminate), "{x:?}");
    assert!(matches!(y, Verdict::Improve | Verdict::Eliminate), "{y:?}");
    assert_eq!(
        x_reason,
        Some((Some(Figure::Number(1.0)), Figure::Number(0.1)))
    );
    let y_effect = y_reason.and_then(|r| r.0);
    assert!(
        matches!(y_effect, Some(Figure::Number(e)) if close(e, 0.5)),
        "{y_reason:?}"
    );
    // At a threshold of exactly ½ y still carries journeys (>=); above it, not.
    crate::settings::set(store, &admin(), "portfolio.carries_journeys", "0.5")
        .await
        .unwrap();
    let verdicts = measure::portfolio(store, &inventory_of(store).await, march)
        .await
        .unwrap();
    let y_at = carries(&verdicts, "a.y").1;
    crate::settings::set(store, &admin(), "portfolio.carries_journeys", "0.51")
        .await
        .unwrap();
    let verdicts = measure::portfolio(store, &inventory_of(store).await, march)
        .await
        .unwrap();
    assert_eq!(carries(&verdicts, "a.y").1, None);
    assert!(carries(&verdicts, "a.x").1.is_some());
    // ½ computed in floats may land a hair either side of the setting's 0.5.
    let y_effect_f = match y_effect {
        Some(Figure::Number(e)) => e,
        _ => unreachable!(),
    };
    assert_eq!(y_at.is_some(), y_effect_f >= 0.5, "{y_at:?}");
    assert!(carries(&verdicts, "a.z").1.is_none(), "z is on no journey");
}
