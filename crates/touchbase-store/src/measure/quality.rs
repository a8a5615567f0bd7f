//! Data-quality findings (R13): per point, how many of its counted events met its contract and
//! which rules of it fail most.

use std::collections::BTreeMap;

use serde::Serialize;
use touchbase_core::metrics::ratio;

use super::Days;
use crate::{Store, StoreError};

/// How often one rule of a point's contract failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ElementFailures {
    /// The element and the rule it broke, as the contract check words it
    /// (`/amount: "x" is not of type "number"`).
    pub failure: String,
    /// Events that failed it.
    pub events: u64,
}

/// One point's data quality over a period.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PointQuality {
    pub point: String,
    /// Counted events.
    pub volume: u64,
    /// Those whose data met the contract.
    pub conforming: u64,
    /// `conforming / volume` (METRICS.md's `conformance_rate`); `null` without events.
    pub conformance_rate: Option<f64>,
    /// The failures, most frequent first (ties by text), at most `top` of them.
    pub failing: Vec<ElementFailures>,
}

/// The data quality of every point with counted events in `days`, in key order, each with its
/// `top` most frequent failures.
pub async fn quality(
    store: &dyn Store,
    days: &Days,
    top: usize,
) -> Result<Vec<PointQuality>, StoreError> {
    let mut points: BTreeMap<&str, PointQuality> = BTreeMap::new();
    for row in &days.rows {
        let q = points
            .entry(row.point.as_str())
            .or_insert_with(|| PointQuality {
                point: row.point.clone(),
                volume: 0,
                conforming: 0,
                conformance_rate: None,
                failing: Vec::new(),
            });
        q.volume += row.tally.n;
        q.conforming += row.tally.conforms_n;
    }
    let mut failures: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    if days.period.from < days.period.to {
        for event in store
            .nonconforming(days.period.from, days.period.to)
            .await?
        {
            let counts = failures.entry(event.point).or_default();
            for failure in event.failures {
                *counts.entry(failure).or_default() += 1;
            }
        }
    }
    Ok(points
        .into_values()
        .map(|mut q| {
            q.conformance_rate = ratio(q.conforming as f64, q.volume as f64);
            let mut failing: Vec<ElementFailures> = failures
                .remove(&q.point)
                .unwrap_or_default()
                .into_iter()
                .map(|(failure, events)| ElementFailures { failure, events })
                .collect();
            failing.sort_by(|a, b| {
                b.events
                    .cmp(&a.events)
                    .then_with(|| a.failure.cmp(&b.failure))
            });
            failing.truncate(top);
            q.failing = failing;
            q
        })
        .collect())
}
