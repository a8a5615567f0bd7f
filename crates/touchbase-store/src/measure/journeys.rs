//! Journeys (R16) over a store: every party's counted events, in (`at`, `id`) order, cut into
//! journeys and summed up into the directly-follows graph, variants, hand-offs and weakest
//! links of METRICS.md's journey rule.

use std::collections::BTreeMap;

use touchbase_core::inventory::Inventory;
use touchbase_core::journeys::{Filter, Graph, JourneyBuilder, Summary, Variants, facts};
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
    let gap_us = inventory.organization.settings.journey_gap_us();

    let mut graph = Graph::default();
    let mut variants = Variants::default();
    let (sink, mut chunks) = tokio::sync::mpsc::channel::<Vec<PartyTouch>>(4);
    let read = store.party_touches(sink);
    let build = async {
        let mut builder: Option<JourneyBuilder> = None;
        let mut take = |journey: touchbase_core::journeys::Journey| {
            if filter.admits(&journey, &facts) {
                graph.add(&journey);
                variants.add(&journey);
            }
        };
        while let Some(chunk) = chunks.recv().await {
            for touch in chunk {
                if builder.as_ref().is_none_or(|b| b.party() != touch.party) {
                    if let Some(journey) = builder.take().and_then(JourneyBuilder::finish) {
                        take(journey);
                    }
                    builder = Some(JourneyBuilder::new(touch.party.clone(), gap_us));
                }
                let b = builder.as_mut().expect("a builder for the party");
                let closed = b
                    .push(&touch.point, touch.at, &touch.id)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                if let Some(journey) = closed {
                    take(journey);
                }
            }
        }
        if let Some(journey) = builder.and_then(JourneyBuilder::finish) {
            take(journey);
        }
        Ok::<_, StoreError>(())
    };
    let (read, build) = tokio::join!(read, build);
    read?;
    build?;
    Ok(Summary::of(&graph, &variants, &facts, query.top))
}
