//! What cutting a point would cost through journeys (R15, R16): over a period's journeys,
//! those that pass through the point, their variants and value, the removal effect of
//! METRICS.md's attribution (the Markov chain with every transition into the point sent to
//! `null`), and where the parties went next after the point.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;
use serde::Serialize;
use touchbase_core::attribution::Attributor;
use touchbase_core::inventory::Inventory;
use touchbase_core::journeys::{Variant, facts, rank};
use touchbase_core::period::Period;

use super::scorecards::rfc3339;
use super::{Days, ScopeError};
use crate::journey_days::Body;
use crate::{Store, StoreError};

/// What the period's journeys would lose without `point`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WhatIf {
    pub point: String,
    pub from: String,
    pub to: String,
    /// Every journey of the period (whose first event is in it).
    pub journeys: u64,
    /// Those with at least one event at the point.
    pub journeys_through: u64,
    /// Their different variants.
    pub variants_through: u64,
    /// Those of them that convert (value above 0).
    pub converting_through: u64,
    /// Their values summed.
    pub value_through: f64,
    /// The converting journeys' value, all of them.
    pub converting_value: f64,
    /// `C`: the probability of conversion from `start` in the Markov chain of the journeys;
    /// null when none converts.
    pub conversion: Option<f64>,
    /// `C−x`: the same with every transition into the point sent to `null`.
    pub conversion_without: Option<f64>,
    /// `1 − C−x / C`.
    pub removal_effect: Option<f64>,
    /// `removal_effect × converting_value`: the conversions' value the chain says would go.
    pub value_at_risk: Option<f64>,
    /// Where the parties went after each visit to the point: the next point, or `end` when
    /// the journey ended there; by count, then by name.
    pub next: Vec<NextStep>,
    /// The most frequent variants through the point (the first `top`).
    pub variants: Vec<Variant>,
}

/// One place the parties went after the point.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NextStep {
    /// A point key, or `end`.
    pub to: String,
    pub count: u64,
    /// Of all visits to the point.
    pub share: f64,
}

/// [`WhatIf`] of `point` over `period`, with the `top` variants through it.
pub async fn what_if(
    store: &dyn Store,
    inventory: &Inventory,
    period: Period,
    point: &str,
    top: usize,
) -> Result<WhatIf, ScopeError> {
    let days = Days::read(store, inventory, period).await?;
    if inventory.point(point).is_none() && !days.journeys.points.iter().any(|p| p == point) {
        return Err(ScopeError::Point(point.to_owned()));
    }
    Ok(what_if_of(inventory, &days, point, top)?)
}

/// [`what_if`] over what [`Days::read`] read.
pub fn what_if_of(
    inventory: &Inventory,
    days: &Days,
    point: &str,
    top: usize,
) -> Result<WhatIf, StoreError> {
    let rows = &days.journeys;
    let period = days.period;
    let target = rows
        .points
        .iter()
        .position(|p| p == point)
        .map(|n| n as u32);
    let mut attributor = Attributor::default();
    let mut out = WhatIf {
        point: point.to_owned(),
        from: rfc3339(period.from),
        to: rfc3339(period.to),
        journeys: 0,
        journeys_through: 0,
        variants_through: 0,
        converting_through: 0,
        value_through: 0.0,
        converting_value: 0.0,
        conversion: None,
        conversion_without: None,
        removal_effect: None,
        value_at_risk: None,
        next: Vec::new(),
        variants: Vec::new(),
    };
    let mut variants: FxHashMap<Vec<u32>, u64> = FxHashMap::default();
    // Per next point number (or u32::MAX for `end`): how often.
    let mut next: BTreeMap<u32, u64> = BTreeMap::new();
    for day in &rows.days {
        let mut body = Body::new(day.day, &day.body, rows.points.len());
        while let Some(j) = body.next_journey()? {
            if !period.contains(j.first_at) {
                continue;
            }
            out.journeys += 1;
            attributor.add(j.points, j.value);
            if j.value > 0.0 {
                out.converting_value += j.value;
            }
            let Some(x) = target.filter(|x| j.points.contains(x)) else {
                continue;
            };
            out.journeys_through += 1;
            out.value_through += j.value;
            if j.value > 0.0 {
                out.converting_through += 1;
            }
            *variants.entry(j.points.to_vec()).or_default() += 1;
            for (i, _) in j.points.iter().enumerate().filter(|(_, p)| **p == x) {
                let after = j.points.get(i + 1).copied().unwrap_or(u32::MAX);
                *next.entry(after).or_default() += 1;
            }
        }
    }
    let chain = attributor.absorption();
    out.conversion = chain.as_ref().map(|c| c.conversion);
    if let (Some(x), Some(chain)) = (target, &chain) {
        out.conversion_without = chain.without.get(x as usize).copied().flatten();
        out.removal_effect = chain.removal_effect(x);
        out.value_at_risk = out.removal_effect.map(|e| e * out.converting_value);
    }
    let visits: u64 = next.values().sum();
    let name = |n: u32| match n {
        u32::MAX => "end".to_owned(),
        n => rows.points[n as usize].clone(),
    };
    out.next = next
        .into_iter()
        .map(|(to, count)| NextStep {
            to: name(to),
            count,
            share: count as f64 / visits as f64,
        })
        .collect();
    out.next
        .sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.to.cmp(&b.to)));
    out.variants_through = variants.len() as u64;
    let effectiveness = super::journeys::effectiveness(inventory, days)?;
    let facts = facts(inventory, &effectiveness);
    out.variants = rank(
        variants.into_iter().map(|(points, count)| {
            let keys = points.iter().map(|&p| name(p)).collect();
            (keys, count)
        }),
        &facts,
        Some(top),
    );
    Ok(out)
}
