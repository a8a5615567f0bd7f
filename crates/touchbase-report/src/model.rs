//! The report's content ([`Report`]), gathered from a store by [`build`]. Every figure comes
//! from `touchbase_store::measure` (and so from `touchbase_core`'s metric, portfolio and
//! journey rules); this module only selects, joins and counts inventory entries. Its JSON is
//! the report's `json` format.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use touchbase_core::event::HeldPoint;
use touchbase_core::governance::{ProposalKind, ProposalStatus};
use touchbase_core::journeys::Summary;
use touchbase_core::metrics::Expectation;
use touchbase_core::period::Period;
use touchbase_core::portfolio::{Assessment, Settings, Verdict};
use touchbase_core::{
    Actor, DataClass, Expected, Inventory, Mode, Permission, Status, StrategicValue, enum_name,
};
use touchbase_store::answers::WhyBuyReport;
use touchbase_store::codebook::Themes;
use touchbase_store::measure::{
    self, Card, Days, GroupBy, JourneyQuery, PointQuality, Scope, is_live,
};
use touchbase_store::{Store, proposals};

use crate::ReportError;

/// The failures listed per point in the data-quality findings.
pub const QUALITY_TOP: usize = 5;

/// What the caller decides: the period, when the report was made, how many journeys to list.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// The period reported on, `[from, to)`.
    pub period: Period,
    /// When the report was made (RFC 3339), printed on it; passed in so the report is a pure
    /// function of the store and the options.
    pub generated_at: String,
    /// The most frequent journey variants to list.
    pub top_journeys: usize,
}

/// The executive report (R17): everything its renderings show, in the order they show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub organization: String,
    pub industry: String,
    /// ISO 4217 code of every value.
    pub currency: String,
    pub generated_at: String,
    pub period: PeriodView,
    /// The thresholds the portfolio verdicts were held to.
    pub settings: Settings,
    pub headline: Headline,
    /// The organization's scorecard over the period.
    pub scorecard: Card,
    /// Each live point, and each point with events in the period: its scorecard and verdict.
    pub points: Vec<PointCard>,
    /// One scorecard per business function.
    pub functions: Vec<Card>,
    /// One scorecard per interface mode: machine, people, hybrid (R12).
    pub modes: Vec<Card>,
    /// The portfolio verdict of every live point, with its reasons (R15).
    pub portfolio: Vec<Assessment>,
    /// Data quality per point with events (R13), least conformant first.
    pub quality: Vec<PointQuality>,
    /// The journeys that start in the period (R16), the top variants listed.
    pub journeys: Summary,
    /// What key customers say (R14): the themes of what they would change and why they buy,
    /// beside the senior team's view. Each point's survey figures are on its card.
    pub voice: VoiceView,
    pub inventory: InventoryGlance,
    /// Interactions held at points the inventory does not know (R8).
    pub undocumented: Vec<Undocumented>,
    /// Proposals waiting for the executives' sign-off (R6), oldest first.
    pub proposals: Vec<PendingProposal>,
}

/// The voice of the customer over the period, the whole organization.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VoiceView {
    pub themes: Themes,
    pub why_buy: WhyBuyReport,
}

/// The period as instants and its length.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeriodView {
    /// RFC 3339, UTC.
    pub from: String,
    /// RFC 3339, UTC; the first instant after the period.
    pub to: String,
    pub days: f64,
}

/// The figures a reader sees first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Headline {
    pub volume: u64,
    pub volume_attainment: Option<f64>,
    pub value_company: f64,
    pub value_party: f64,
    pub cost: f64,
    pub net_value: f64,
    pub effectiveness: Option<f64>,
    /// Live points.
    pub live_points: u64,
    pub invest: u64,
    pub improve: u64,
    pub eliminate: u64,
    pub insufficient_data: u64,
    /// Points whose data meets its contract less than 95 % of the time.
    pub nonconformant_points: u64,
    pub journeys: u64,
    /// Hand-offs between business functions, counted once per passage.
    pub handoffs: u64,
    pub undocumented_points: u64,
    pub proposals_pending: u64,
}

/// A point's scorecard with what the inventory says of it and its verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PointCard {
    /// The point's name; its key when the inventory does not list it.
    pub name: String,
    pub function: Option<String>,
    pub mode: Option<Mode>,
    pub status: Option<Status>,
    pub strategic_value: Option<StrategicValue>,
    /// What the inventory expects of it (empty for a point it does not list).
    pub expected: Expected,
    /// `None` for a point that is not live (it has events from when it was).
    pub verdict: Option<Verdict>,
    #[serde(flatten)]
    pub card: Card,
}

impl Report {
    /// The card of the point `key`.
    pub fn point(&self, key: &str) -> Option<&PointCard> {
        self.points.iter().find(|p| p.key() == key)
    }

    /// The business function of the point `key`, when the inventory lists it.
    pub fn function_of(&self, key: &str) -> Option<String> {
        self.point(key).and_then(|p| p.function.clone())
    }

    /// The verdicts in the order the report tells them (eliminate, improve, invest, too little
    /// data), each with the points that got it and their cards.
    pub fn by_verdict(&self) -> Vec<(Verdict, Vec<(&Assessment, &PointCard)>)> {
        [
            Verdict::Eliminate,
            Verdict::Improve,
            Verdict::Invest,
            Verdict::InsufficientData,
        ]
        .into_iter()
        .map(|v| {
            let chosen = self
                .portfolio
                .iter()
                .filter(|a| a.verdict == v)
                .filter_map(|a| Some((a, self.point(&a.point)?)))
                .collect();
            (v, chosen)
        })
        .collect()
    }
}

impl PointCard {
    /// The point's key.
    pub fn key(&self) -> &str {
        self.card.key.as_deref().unwrap_or_default()
    }
}

/// How many of something there are, by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Count {
    pub name: String,
    pub points: u64,
    /// Of those, live.
    pub live: u64,
}

/// A class of data and where it is passed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DataClassCount {
    pub class: DataClass,
    /// Personal and payment data.
    pub sensitive: bool,
    /// Data elements of the class, over the points counted.
    pub elements: u64,
    /// Points passing at least one.
    pub points: u64,
}

/// The inventory at a glance: its points (retired and rejected ones left out of every count
/// but `by_status`) by function, mode and status, and the data classes they pass.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InventoryGlance {
    /// Points that are neither retired nor rejected.
    pub points: u64,
    pub live: u64,
    pub functions: u64,
    pub processes: u64,
    pub party_types: u64,
    pub by_function: Vec<Count>,
    pub by_mode: Vec<Count>,
    /// Every status, retired and rejected included.
    pub by_status: Vec<Count>,
    pub data_classes: Vec<DataClassCount>,
}

/// A point the inventory does not know, seen in held interactions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Undocumented {
    pub point: String,
    pub volume: u64,
    /// RFC 3339, UTC.
    pub first_seen: String,
    pub last_seen: String,
}

/// A proposal waiting for sign-off.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PendingProposal {
    pub id: u64,
    pub kind: ProposalKind,
    pub point: String,
    /// The point's name as proposed (or as it is).
    pub name: String,
    pub proposer: String,
    pub created_at: String,
    pub rationale: String,
    pub strategic_value: StrategicValue,
    pub volume_per_month: Option<f64>,
    /// Expected `value.company − cost` per interaction.
    pub net_value_per: Option<f64>,
    pub approvals: u64,
    pub approvals_required: u32,
    /// For a change: each material difference.
    pub reasons: Vec<String>,
}

/// Gathers the report over `options.period` from `store`, whose inventory is `inventory`
/// (the actor needs the export permission: the report carries everything).
pub async fn build(
    store: &dyn Store,
    actor: &Actor,
    inventory: &Inventory,
    options: &Options,
) -> Result<Report, ReportError> {
    actor
        .require(Permission::Export)
        .map_err(ReportError::Denied)?;
    let period = options.period;
    let days = Days::read(store, inventory, period).await?;
    let scorecard = measure::cards(inventory, &days, &[Scope::Organization], None)?
        .pop()
        .expect("one card per scope");
    let functions = measure::cards(
        inventory,
        &days,
        &Scope::all(inventory, GroupBy::Function, &days),
        None,
    )?;
    let modes = measure::cards(
        inventory,
        &days,
        &Scope::all(inventory, GroupBy::Mode, &days),
        None,
    )?;
    let portfolio = measure::assess_all(inventory, &days);
    let verdicts: BTreeMap<&str, Verdict> = portfolio
        .iter()
        .map(|a| (a.point.as_str(), a.verdict))
        .collect();
    let points = measure::cards(
        inventory,
        &days,
        &Scope::all(inventory, GroupBy::Point, &days),
        None,
    )?
    .into_iter()
    .map(|card| {
        let key = card.key.clone().unwrap_or_default();
        let point = inventory.point(&key);
        PointCard {
            name: point.map_or_else(|| key.clone(), |p| p.name.clone()),
            function: point.map(|p| p.function.clone()),
            mode: point.map(|p| p.mode),
            status: point.map(|p| p.status),
            strategic_value: point.map(|p| p.strategic_value),
            expected: point.map(|p| p.expected.clone()).unwrap_or_default(),
            verdict: verdicts.get(key.as_str()).copied(),
            card,
        }
    })
    .collect();
    let mut quality = measure::quality(store, &days, QUALITY_TOP).await?;
    quality.sort_by(|a, b| {
        let rate = |q: &PointQuality| q.conformance_rate.unwrap_or(1.0);
        rate(a)
            .total_cmp(&rate(b))
            .then_with(|| a.point.cmp(&b.point))
    });
    let journeys = measure::journeys(
        store,
        inventory,
        &JourneyQuery {
            period,
            party_type: None,
            start: None,
            top: Some(options.top_journeys),
        },
    )
    .await?;
    let voice = VoiceView {
        themes: touchbase_store::codebook::themes_of(store, actor, &Scope::Organization, period)
            .await?,
        why_buy: touchbase_store::answers::why_buy_summary(store, actor, period).await?,
    };
    let undocumented = undocumented(inventory, store.held().await?);
    let proposals = pending(store, actor, inventory).await?;

    let count = |v: Verdict| portfolio.iter().filter(|a| a.verdict == v).count() as u64;
    let headline = Headline {
        volume: scorecard.scorecard.volume,
        volume_attainment: scorecard.scorecard.volume_attainment,
        value_company: scorecard.scorecard.value_company,
        value_party: scorecard.scorecard.value_party,
        cost: scorecard.scorecard.cost,
        net_value: scorecard.scorecard.net_value,
        effectiveness: scorecard.scorecard.effectiveness,
        live_points: inventory
            .points
            .iter()
            .filter(|p| is_live(p.status))
            .count() as u64,
        invest: count(Verdict::Invest),
        improve: count(Verdict::Improve),
        eliminate: count(Verdict::Eliminate),
        insufficient_data: count(Verdict::InsufficientData),
        nonconformant_points: quality
            .iter()
            .filter(|q| {
                q.conformance_rate
                    .is_some_and(|r| r < touchbase_core::portfolio::CONFORMANCE_THRESHOLD)
            })
            .count() as u64,
        journeys: journeys.journeys,
        handoffs: journeys.handoffs.iter().map(|h| h.count).sum(),
        undocumented_points: undocumented.len() as u64,
        proposals_pending: proposals.len() as u64,
    };
    Ok(Report {
        organization: inventory.organization.name.clone(),
        industry: inventory.organization.industry.clone(),
        currency: inventory.organization.currency.clone(),
        generated_at: options.generated_at.clone(),
        period: PeriodView {
            from: scorecard.from.clone(),
            to: scorecard.to.clone(),
            days: period.days(),
        },
        settings: inventory.organization.settings,
        headline,
        scorecard,
        points,
        functions,
        modes,
        portfolio,
        quality,
        journeys,
        voice,
        inventory: glance(inventory),
        undocumented,
        proposals,
    })
}

/// The inventory's points counted by function, mode, status and data class.
pub fn glance(inventory: &Inventory) -> InventoryGlance {
    let counted: Vec<_> = inventory
        .points
        .iter()
        .filter(|p| !matches!(p.status, Status::Retired | Status::Rejected))
        .collect();
    let tally = |names: Vec<String>, of: &dyn Fn(&touchbase_core::Point) -> String| {
        names
            .into_iter()
            .map(|name| {
                let members = counted.iter().filter(|p| of(p) == name);
                let (points, live) = members.fold((0, 0), |(n, l), p| {
                    (n + 1, l + u64::from(is_live(p.status)))
                });
                Count { name, points, live }
            })
            .collect::<Vec<_>>()
    };
    let by_function = tally(inventory.functions.clone(), &|p| p.function.clone());
    let by_mode = tally(
        [Mode::Machine, Mode::People, Mode::Hybrid]
            .iter()
            .map(enum_name)
            .collect(),
        &|p| enum_name(&p.mode),
    );
    let by_status = [
        Status::Live,
        Status::UnderReview,
        Status::Approved,
        Status::Proposed,
        Status::Retired,
        Status::Rejected,
    ]
    .iter()
    .map(|status| {
        let points = inventory
            .points
            .iter()
            .filter(|p| p.status == *status)
            .count() as u64;
        Count {
            name: enum_name(status),
            points,
            live: if is_live(*status) { points } else { 0 },
        }
    })
    .collect();
    let mut classes: BTreeMap<DataClass, (u64, BTreeSet<&str>)> = BTreeMap::new();
    for point in &counted {
        for element in &point.data {
            let entry = classes.entry(element.class).or_default();
            entry.0 += 1;
            entry.1.insert(&point.key);
        }
    }
    InventoryGlance {
        points: counted.len() as u64,
        live: counted.iter().filter(|p| is_live(p.status)).count() as u64,
        functions: inventory.functions.len() as u64,
        processes: inventory.processes.len() as u64,
        party_types: inventory.parties.len() as u64,
        by_function,
        by_mode,
        by_status,
        data_classes: classes
            .into_iter()
            .map(|(class, (elements, points))| DataClassCount {
                class,
                sensitive: class.is_sensitive(),
                elements,
                points: points.len() as u64,
            })
            .collect(),
    }
}

/// The held points the inventory does not list, most interactions first.
fn undocumented(inventory: &Inventory, held: Vec<HeldPoint>) -> Vec<Undocumented> {
    let mut out: Vec<Undocumented> = held
        .into_iter()
        .filter(|h| inventory.point(&h.point).is_none())
        .map(|h| Undocumented {
            point: h.point,
            volume: h.volume,
            first_seen: rfc3339(h.first_at),
            last_seen: rfc3339(h.last_at),
        })
        .collect();
    out.sort_by(|a, b| b.volume.cmp(&a.volume).then_with(|| a.point.cmp(&b.point)));
    out
}

/// The pending proposals, oldest first.
async fn pending(
    store: &dyn Store,
    actor: &Actor,
    inventory: &Inventory,
) -> Result<Vec<PendingProposal>, ReportError> {
    Ok(proposals::list(store, actor)
        .await?
        .into_iter()
        .filter(|p| p.status == ProposalStatus::Pending)
        .map(|p| {
            let case = &p.business_case;
            let name = p
                .proposed
                .as_ref()
                .map(|pt| pt.name.clone())
                .or_else(|| inventory.point(&p.point).map(|pt| pt.name.clone()))
                .or_else(|| {
                    // A baseline's batch: the names of its points.
                    let names: Vec<&str> = p.batch.iter().map(|pt| pt.name.as_str()).collect();
                    (!names.is_empty()).then(|| names.join(", "))
                })
                .unwrap_or_else(|| p.point.clone());
            PendingProposal {
                id: p.id,
                kind: p.kind,
                name,
                proposer: p.proposer.clone(),
                created_at: p.created_at.clone(),
                rationale: case.rationale.clone(),
                strategic_value: case.strategic_value,
                volume_per_month: case.volume_per_month,
                net_value_per: Expectation::of(&Expected {
                    volume_per_month: case.volume_per_month,
                    value_company: case.value_company,
                    value_party: case.value_party,
                    cost: case.cost,
                })
                .net_value_per,
                approvals: p.approvals() as u64,
                approvals_required: p.approvals_required,
                reasons: p.reasons.clone(),
                point: p.point,
            }
        })
        .collect())
}

/// An instant in microseconds as RFC 3339 (UTC).
fn rfc3339(at: i64) -> String {
    jiff::Timestamp::from_microsecond(at).map_or_else(|_| at.to_string(), |t| t.to_string())
}
