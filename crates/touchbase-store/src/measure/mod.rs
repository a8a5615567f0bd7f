//! Measurement over any [`Store`] (R10–R17, METRICS.md): scorecards of points and groups, the
//! portfolio verdicts, data-quality findings and journeys. The figures themselves are computed
//! by `touchbase_core` (`metrics`, `portfolio`, `journeys`); this module fetches what they need
//! from a store, in the order that makes every store give the same numbers.
//!
//! # From rollups to a period
//! [`Days::read`] gives exactly a period's counted events, added up per (point, UTC day): the
//! daily rollups for its whole days and, for a first or last day the period only partly
//! covers, the events of that part ([`Store::tally_events`]). Any bucket of a series by day,
//! week or month is a run of those days (bucket bounds fall on midnights, so only the period's
//! own ends can cut a day), so one read serves a whole series. It also catches up the
//! journeys cut ahead of time and reads those that begin in the period's days, for the
//! journey rule and each point's attribution.

mod journeys;
mod quality;
mod scorecards;
mod what_if;

use std::collections::BTreeSet;

use touchbase_core::Status;
use touchbase_core::period::{DAY_US, Period};

use touchbase_core::inventory::Inventory;

use crate::journey_days::{JourneyCut, catch_up};
use crate::{DayRollup, JourneyRows, Store, StoreError};

pub use journeys::{Fold, JourneyQuery, attribution, journeys, keep_journeys_current, summary_of};
pub use quality::{ElementFailures, PointQuality, quality};
pub use scorecards::{Card, GroupBy, Scope, ScopeError, assess_all, cards, portfolio, scorecards};
pub use what_if::{NextStep, WhatIf, what_if, what_if_of};

/// Whether a point of this status is live for the portfolio rule (a live point with a change
/// under review still is).
pub fn is_live(status: Status) -> bool {
    matches!(status, Status::Live | Status::UnderReview)
}

/// A period's counted events added up per (point, UTC day), in (point, day) order, point keys
/// compared byte by byte.
#[derive(Debug, Clone, PartialEq)]
pub struct Days {
    pub period: Period,
    pub rows: Vec<DayRollup>,
    /// The period's survey responses and invitations counted per (point, UTC day), in the
    /// same order and read the same way.
    pub voice: Vec<crate::responses::VoiceDay>,
    /// The journeys whose first event is on one of the period's days (some of a first or
    /// last day may begin outside the period), caught up with the events on record.
    pub journeys: JourneyRows,
}

impl Days {
    /// Reads `period` from `store`: rollups for its whole days, the events themselves for a
    /// partial first or last day; and the journeys of its days, cut as `inventory` says.
    pub async fn read(
        store: &dyn Store,
        inventory: &Inventory,
        period: Period,
    ) -> Result<Days, StoreError> {
        let mut days = Days::counts(store, period).await?;
        if let Some((first, last)) = period.day_range() {
            catch_up(store, &JourneyCut::of(inventory)).await?;
            days.journeys = store.journey_rows(first, last).await?;
        }
        Ok(days)
    }

    /// [`Days::read`] without the journeys (none: no attribution on the cards), for what
    /// needs only the counts.
    pub async fn counts(store: &dyn Store, period: Period) -> Result<Days, StoreError> {
        let Some((first, last)) = period.day_range() else {
            return Ok(Days {
                period,
                rows: Vec::new(),
                voice: Vec::new(),
                journeys: JourneyRows::default(),
            });
        };
        let head_cut = period.from != first * DAY_US;
        let tail_cut = period.to != (last + 1) * DAY_US;
        let mut rows = Vec::new();
        let mut voice = Vec::new();
        if head_cut {
            let to = period.to.min((first + 1) * DAY_US);
            rows.extend(store.tally_events(period.from, to).await?);
            voice.extend(store.tally_voice(period.from, to).await?);
        }
        if tail_cut && (last != first || !head_cut) {
            rows.extend(store.tally_events(last * DAY_US, period.to).await?);
            voice.extend(store.tally_voice(last * DAY_US, period.to).await?);
        }
        let whole = (first + i64::from(head_cut))..(last + 1 - i64::from(tail_cut));
        if whole.start < whole.end {
            rows.extend(store.rollups(whole.clone()).await?);
            voice.extend(store.voice_rollups(whole).await?);
        }
        rows.sort_by(|a, b| {
            a.point
                .as_bytes()
                .cmp(b.point.as_bytes())
                .then(a.day.cmp(&b.day))
        });
        voice.sort_by(|a, b| {
            a.point
                .as_bytes()
                .cmp(b.point.as_bytes())
                .then(a.day.cmp(&b.day))
        });
        Ok(Days {
            period,
            rows,
            voice,
            journeys: JourneyRows::default(),
        })
    }

    /// The rows of the days `bucket` covers (a bucket of a split of this period) that may
    /// belong to `scope`: for a point only its own rows (found by binary search, the rows being
    /// in point order), for a group all of them.
    pub fn within(&self, scope: &Scope, bucket: Period) -> impl Iterator<Item = &DayRollup> {
        let days = bucket
            .day_range()
            .map_or(0..0, |(first, last)| first..last + 1);
        let rows = match scope {
            Scope::Point(key) => {
                let key = key.as_bytes();
                let start = self.rows.partition_point(|r| r.point.as_bytes() < key);
                let end = start + self.rows[start..].partition_point(|r| r.point.as_bytes() == key);
                &self.rows[start..end]
            }
            _ => &self.rows[..],
        };
        rows.iter().filter(move |r| days.contains(&r.day))
    }

    /// The voice counts of the days `bucket` covers that may belong to `scope` (see
    /// [`Days::within`]).
    pub fn voice_within(
        &self,
        scope: &Scope,
        bucket: Period,
    ) -> impl Iterator<Item = &crate::responses::VoiceDay> {
        let days = bucket
            .day_range()
            .map_or(0..0, |(first, last)| first..last + 1);
        let rows = match scope {
            Scope::Point(key) => {
                let key = key.as_bytes();
                let start = self.voice.partition_point(|r| r.point.as_bytes() < key);
                let end =
                    start + self.voice[start..].partition_point(|r| r.point.as_bytes() == key);
                &self.voice[start..end]
            }
            _ => &self.voice[..],
        };
        rows.iter().filter(move |r| days.contains(&r.day))
    }

    /// The points with counted events in the period.
    pub fn points(&self) -> BTreeSet<&str> {
        self.rows.iter().map(|r| r.point.as_str()).collect()
    }
}
