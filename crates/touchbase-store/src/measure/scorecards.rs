//! Scorecards (R10–R12) of points and groups of points, alone or as a series, and the portfolio
//! verdicts (R15) that judge the live points' scorecards.

use std::collections::BTreeSet;

use serde::Serialize;
use touchbase_core::inventory::{Inventory, Mode, Point, enum_name};
use touchbase_core::metrics::{Expectation, Scorecard, Tally};
use touchbase_core::period::{Granularity, Period, PeriodError};
use touchbase_core::portfolio::{Assessment, assess};

use super::{Days, is_live};
use crate::{Store, StoreError};

/// What a scorecard is about: one point, the points of a business function, of an interface
/// mode or of a party type, or the whole organization.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    Organization,
    Point(String),
    Function(String),
    Mode(Mode),
    PartyType(String),
}

/// A kind of group to list every scorecard of, side by side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    Point,
    Function,
    Mode,
    PartyType,
}

/// A scope the inventory does not know.
#[derive(Debug, thiserror::Error)]
pub enum ScopeError {
    #[error(
        "no point `{0}` in the inventory and no events of it on record; `touchbase point list` lists the points"
    )]
    Point(String),
    #[error("no business function `{got}` in the inventory; the functions are {known}")]
    Function { got: String, known: String },
    #[error("no party type `{got}` in the inventory; the party types are {known}")]
    PartyType { got: String, known: String },
    #[error(transparent)]
    Period(#[from] PeriodError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Scope {
    /// `organization`, `point`, `function`, `mode` or `party_type`.
    pub fn kind(&self) -> &'static str {
        match self {
            Scope::Organization => "organization",
            Scope::Point(_) => "point",
            Scope::Function(_) => "function",
            Scope::Mode(_) => "mode",
            Scope::PartyType(_) => "party_type",
        }
    }

    /// The point key, function, mode or party type; `None` for the organization.
    pub fn key(&self) -> Option<String> {
        match self {
            Scope::Organization => None,
            Scope::Point(k) | Scope::Function(k) | Scope::PartyType(k) => Some(k.clone()),
            Scope::Mode(m) => Some(enum_name(m)),
        }
    }

    /// Whether a point's events count in this scope. A point unknown to the inventory counts
    /// only in its own scope and the organization's.
    pub fn contains(&self, key: &str, point: Option<&Point>) -> bool {
        match self {
            Scope::Organization => true,
            Scope::Point(k) => k == key,
            Scope::Function(f) => point.is_some_and(|p| &p.function == f),
            Scope::Mode(m) => point.is_some_and(|p| p.mode == *m),
            Scope::PartyType(t) => point.is_some_and(|p| &p.party == t),
        }
    }

    /// Refuses a scope the inventory does not know (a point with counted events in `days` is
    /// known even when the inventory no longer lists it).
    fn check(&self, inventory: &Inventory, days: &Days) -> Result<(), ScopeError> {
        let list = |items: Vec<&str>| {
            if items.is_empty() {
                "none".to_owned()
            } else {
                items.join(", ")
            }
        };
        match self {
            Scope::Point(k)
                if inventory.point(k).is_none() && !days.points().contains(k.as_str()) =>
            {
                Err(ScopeError::Point(k.clone()))
            }
            Scope::Function(f) if !inventory.functions.contains(f) => Err(ScopeError::Function {
                got: f.clone(),
                known: list(inventory.functions.iter().map(String::as_str).collect()),
            }),
            Scope::PartyType(t) if inventory.party(t).is_none() => Err(ScopeError::PartyType {
                got: t.clone(),
                known: list(inventory.parties.iter().map(|p| p.key.as_str()).collect()),
            }),
            _ => Ok(()),
        }
    }

    /// Every scope of a kind, in key order: the inventory's functions, the three modes, its
    /// party types, or its points that are live or have events in `days` (and points with
    /// events that the inventory does not list).
    pub fn all(inventory: &Inventory, by: GroupBy, days: &Days) -> Vec<Scope> {
        let mut scopes: Vec<Scope> = match by {
            GroupBy::Function => inventory
                .functions
                .iter()
                .cloned()
                .map(Scope::Function)
                .collect(),
            GroupBy::Mode => [Mode::Machine, Mode::People, Mode::Hybrid]
                .into_iter()
                .map(Scope::Mode)
                .collect(),
            GroupBy::PartyType => inventory
                .parties
                .iter()
                .map(|p| Scope::PartyType(p.key.clone()))
                .collect(),
            GroupBy::Point => {
                let with_events = days.points();
                let keys: BTreeSet<&str> = inventory
                    .points
                    .iter()
                    .filter(|p| is_live(p.status))
                    .map(|p| p.key.as_str())
                    .chain(with_events)
                    .collect();
                keys.into_iter()
                    .map(|k| Scope::Point(k.to_owned()))
                    .collect()
            }
        };
        scopes.sort();
        scopes
    }

    /// What the scope expects. A point expects what its `expected` says; a group expects what
    /// [`Expectation::group`] makes of its members that are live or have events in the
    /// period, in key order.
    fn expectation(&self, inventory: &Inventory, days: &Days) -> Expectation {
        if let Scope::Point(k) = self {
            return inventory
                .point(k)
                .map(|p| Expectation::of(&p.expected))
                .unwrap_or_default();
        }
        let with_events = days.points();
        let mut members: Vec<&Point> = inventory
            .points
            .iter()
            .filter(|p| self.contains(&p.key, Some(p)))
            .filter(|p| is_live(p.status) || with_events.contains(p.key.as_str()))
            .collect();
        members.sort_by(|a, b| a.key.as_bytes().cmp(b.key.as_bytes()));
        Expectation::group(members.into_iter().map(|p| &p.expected))
    }
}

/// A scorecard with what it is about and its period: METRICS.md's fields, plus `scope`
/// (`organization`, `point`, …), `key` (the point, function, mode or party type; absent for
/// the organization), and `from` and `to` as RFC 3339 instants.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Card {
    pub scope: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub from: String,
    pub to: String,
    #[serde(flatten)]
    pub scorecard: Scorecard,
}

/// An instant as RFC 3339 (UTC, `Z`).
pub(crate) fn rfc3339(at: i64) -> String {
    jiff::Timestamp::from_microsecond(at).map_or_else(|_| at.to_string(), |t| t.to_string())
}

/// The scorecards of `scopes` over `days` (one each), or as a series by `granularity` (one per
/// bucket, scope by scope). The tallies of a scope are merged in (point, day) order. A point's
/// card carries its attribution from the whole organization's journeys of the bucket.
pub fn cards(
    inventory: &Inventory,
    days: &Days,
    scopes: &[Scope],
    granularity: Option<Granularity>,
) -> Result<Vec<Card>, ScopeError> {
    let buckets = match granularity {
        None => vec![days.period],
        Some(g) => days.period.split(g)?,
    };
    let mut out = Vec::with_capacity(scopes.len() * buckets.len());
    let attributed = if scopes.iter().any(|s| matches!(s, Scope::Point(_))) {
        super::attribution(&days.journeys, &buckets)?
    } else {
        Vec::new()
    };
    for scope in scopes {
        scope.check(inventory, days)?;
        let expectation = scope.expectation(inventory, days);
        for (b, bucket) in buckets.iter().enumerate() {
            let mut tally = Tally::default();
            let mut member = (String::new(), false);
            for row in days.within(scope, *bucket) {
                if member.0 != row.point {
                    member = (
                        row.point.clone(),
                        scope.contains(&row.point, inventory.point(&row.point)),
                    );
                }
                if member.1 {
                    tally.merge(&row.tally);
                }
            }
            let mut voice = touchbase_core::voice::VoiceTally::default();
            for row in days.voice_within(scope, *bucket) {
                if scope.contains(&row.point, inventory.point(&row.point)) {
                    voice.merge(&row.tally);
                }
            }
            let min_responses = inventory.organization.settings.survey_min_responses;
            let mut scorecard = Scorecard::compute(&tally, &expectation, bucket.days())
                .with_voice(&voice, min_responses);
            if let Scope::Point(key) = scope
                && let Some(a) = attributed.get(b).and_then(|a| a.get(key))
            {
                scorecard.attribution = *a;
            }
            out.push(Card {
                scope: scope.kind(),
                key: scope.key(),
                from: rfc3339(bucket.from),
                to: rfc3339(bucket.to),
                scorecard,
            });
        }
    }
    Ok(out)
}

/// Reads `period` and computes the scorecards of `scopes` (see [`cards`]).
pub async fn scorecards(
    store: &dyn Store,
    inventory: &Inventory,
    period: Period,
    scopes: &[Scope],
    granularity: Option<Granularity>,
) -> Result<Vec<Card>, ScopeError> {
    let days = Days::read(store, inventory, period).await?;
    cards(inventory, &days, scopes, granularity)
}

/// The portfolio rule (R15) over `days` for every live point of the inventory, in key order,
/// held to the organization's settings.
pub fn assess_all(inventory: &Inventory, days: &Days) -> Vec<Assessment> {
    let settings = inventory.organization.settings;
    let mut live: Vec<&Point> = inventory
        .points
        .iter()
        .filter(|p| is_live(p.status))
        .collect();
    live.sort_by(|a, b| a.key.as_bytes().cmp(b.key.as_bytes()));
    let scopes: Vec<Scope> = live.iter().map(|p| Scope::Point(p.key.clone())).collect();
    // One read of the journeys for every point's attribution; a point whose card cannot be
    // computed (none can fail but for an unknown scope) is judged on no events.
    let mut cards: std::collections::BTreeMap<String, Scorecard> =
        cards(inventory, days, &scopes, None)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|c| Some((c.key?, c.scorecard)))
            .collect();
    live.into_iter()
        .map(|point| {
            let card = cards.remove(&point.key).unwrap_or_else(|| {
                Scorecard::compute(
                    &Tally::default(),
                    &Expectation::of(&point.expected),
                    days.period.days(),
                )
            });
            assess(
                &point.key,
                &card,
                point.strategic_value,
                &point.expected,
                &settings,
            )
        })
        .collect()
}

/// Reads `period` and judges every live point (see [`assess_all`]).
pub async fn portfolio(
    store: &dyn Store,
    inventory: &Inventory,
    period: Period,
) -> Result<Vec<Assessment>, StoreError> {
    let days = Days::read(store, inventory, period).await?;
    Ok(assess_all(inventory, &days))
}
