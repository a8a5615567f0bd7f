//! The scorecard of METRICS.md (R10–R13): what a store adds up ([`Tally`]), what the inventory
//! expects ([`Expectation`]), and the figures computed from the two ([`Scorecard`]).
//!
//! Stores supply sums; everything that divides, weights or averages is here, so that every
//! store gives the same numbers for the same events.
//!
//! # Same numbers on every store
//! Floating-point addition is not associative, so the order of the sums is part of the
//! contract:
//! - an event enters a [`Tally`] with [`Tally::add_event`]; the events of one (point, UTC
//!   day) are added in the order the store counted them (the daily rollup's order);
//! - tallies are combined with [`Tally::merge`] into [`Tally::default`] in ascending
//!   (point key, day) order — all the days of one point, then the next point. A partial first
//!   or last day of a period (see [`crate::period::Period::whole_days`]) is tallied from its
//!   events in (`at`, `id`) order and merged at its (point, day) place.
//!
//! # Groups
//! A group of points (a business function, a mode, the organization) has the sum of its
//! members' tallies and the [`Expectation::group`] of their `expected`.

use serde::{Deserialize, Serialize};

use crate::event::Event;
use crate::inventory::Expected;

/// The days of a month in `expected.volume_per_month`: 365.25 / 12.
pub const DAYS_PER_MONTH: f64 = 30.4375;

/// The sums and counts behind a scorecard: exactly the columns of a daily rollup, over the
/// accepted events of one point (or a group) in a period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Tally {
    /// Events.
    pub n: u64,
    /// Σ `value.company` (missing counts as 0).
    pub value_company: f64,
    /// Σ `value.party` (missing counts as 0).
    pub value_party: f64,
    /// Σ `cost` (missing counts as 0).
    pub cost: f64,
    /// Events with `outcomes.intent`.
    pub intent_n: u64,
    /// Events with `outcomes.satisfaction`.
    pub satisfaction_n: u64,
    /// Σ `outcomes.satisfaction` over the events that have it.
    pub satisfaction_sum: u64,
    /// Events with `outcomes.satisfaction` ≥ 4.
    pub csat_n: u64,
    /// Events with `outcomes.knowledge = true`.
    pub knowledge_n: u64,
    /// Events with `outcomes.resolved` (true or false).
    pub resolved_n: u64,
    /// Events with `outcomes.resolved = true`.
    pub resolved_true_n: u64,
    /// Events with `outcomes.engaged = true`.
    pub engaged_n: u64,
    /// Events whose `data` meets the point's contract.
    pub conforms_n: u64,
}

impl Tally {
    /// The tally of one event; `conforms` is whether its data meets its point's contract.
    pub fn of(event: &Event, conforms: bool) -> Tally {
        let o = &event.outcomes;
        Tally {
            n: 1,
            value_company: event.value_company,
            value_party: event.value_party,
            cost: event.cost,
            intent_n: u64::from(o.intent.is_some()),
            satisfaction_n: u64::from(o.satisfaction.is_some()),
            satisfaction_sum: u64::from(o.satisfaction.unwrap_or(0)),
            csat_n: u64::from(o.satisfaction.is_some_and(|s| s >= 4)),
            knowledge_n: u64::from(o.knowledge == Some(true)),
            resolved_n: u64::from(o.resolved.is_some()),
            resolved_true_n: u64::from(o.resolved == Some(true)),
            engaged_n: u64::from(o.engaged == Some(true)),
            conforms_n: u64::from(conforms),
        }
    }

    /// Adds one event (see the module's note on order).
    pub fn add_event(&mut self, event: &Event, conforms: bool) {
        self.merge(&Tally::of(event, conforms));
    }

    /// Adds another tally, field by field (see the module's note on order).
    pub fn merge(&mut self, other: &Tally) {
        self.n += other.n;
        self.value_company += other.value_company;
        self.value_party += other.value_party;
        self.cost += other.cost;
        self.intent_n += other.intent_n;
        self.satisfaction_n += other.satisfaction_n;
        self.satisfaction_sum += other.satisfaction_sum;
        self.csat_n += other.csat_n;
        self.knowledge_n += other.knowledge_n;
        self.resolved_n += other.resolved_n;
        self.resolved_true_n += other.resolved_true_n;
        self.engaged_n += other.engaged_n;
        self.conforms_n += other.conforms_n;
    }
}

/// What is expected of a point or a group of points: the monthly volume and, per interaction,
/// the value to each side, the cost and the net value. `None` where nothing is expected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Expectation {
    pub volume_per_month: Option<f64>,
    pub value_company: Option<f64>,
    pub value_party: Option<f64>,
    pub cost: Option<f64>,
    /// `value_company − cost` per interaction.
    pub net_value_per: Option<f64>,
}

impl Expectation {
    /// A point's expectation, as its `expected` states it. `net_value_per` is
    /// `value_company − cost`, where a missing one of the two counts as 0 (as a missing
    /// `value.company` or `cost` does on an event); it is `None` only when neither is given.
    pub fn of(expected: &Expected) -> Expectation {
        let net_value_per = (expected.value_company.is_some() || expected.cost.is_some())
            .then(|| expected.value_company.unwrap_or(0.0) - expected.cost.unwrap_or(0.0));
        Expectation {
            volume_per_month: expected.volume_per_month,
            value_company: expected.value_company,
            value_party: expected.value_party,
            cost: expected.cost,
            net_value_per,
        }
    }

    /// A group's expectation (METRICS.md: sums for the volume, volume-weighted means for the
    /// rest). Members are added in the order given; pass them in point-key order.
    ///
    /// - `volume_per_month` is the sum over the members that state one; `None` when none does.
    /// - Each per-interaction figure (`value_company`, `value_party`, `cost`,
    ///   `net_value_per`, each member's as [`Expectation::of`] gives it) is
    ///   `Σ wᵢ·fᵢ / Σ wᵢ` over the members that have both the figure and an expected volume
    ///   `wᵢ > 0`. A member without an expected volume, or with 0, has no weight and is left
    ///   out of every mean (its events still count in the group's tally); a member without
    ///   the figure is left out of that figure's mean. When no member is left the figure is
    ///   `None`.
    ///
    /// So a group of one point with an expected volume expects what the point does; a group
    /// of one point without an expected volume expects no value, cost or net value.
    pub fn group<'a>(members: impl IntoIterator<Item = &'a Expected>) -> Expectation {
        let mut volume: Option<f64> = None;
        // (Σ w·f, Σ w) for value_company, value_party, cost, net_value_per.
        let mut weighted = [(0.0, 0.0); 4];
        for expected in members {
            let member = Expectation::of(expected);
            if let Some(v) = member.volume_per_month {
                volume = Some(volume.unwrap_or(0.0) + v);
            }
            let Some(w) = member.volume_per_month.filter(|w| *w > 0.0) else {
                continue;
            };
            let figures = [
                member.value_company,
                member.value_party,
                member.cost,
                member.net_value_per,
            ];
            for (sum, figure) in weighted.iter_mut().zip(figures) {
                if let Some(f) = figure {
                    sum.0 += w * f;
                    sum.1 += w;
                }
            }
        }
        let [value_company, value_party, cost, net_value_per] =
            weighted.map(|(sum, weight)| ratio(sum, weight));
        Expectation {
            volume_per_month: volume,
            value_company,
            value_party,
            cost,
            net_value_per,
        }
    }
}

/// The scorecard of METRICS.md: every name and definition as written there. A ratio whose
/// denominator is 0 (or whose expectation is absent) is `None` (JSON `null`), never 0 or NaN.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Scorecard {
    pub volume: u64,
    pub expected_volume: Option<f64>,
    pub volume_attainment: Option<f64>,
    pub value_company: f64,
    pub value_party: f64,
    pub cost: f64,
    pub net_value: f64,
    pub value_company_per: Option<f64>,
    pub value_party_per: Option<f64>,
    pub cost_per: Option<f64>,
    pub net_value_per: Option<f64>,
    pub expected_net_value_per: Option<f64>,
    pub value_company_attainment: Option<f64>,
    pub value_party_attainment: Option<f64>,
    pub intent_rate: Option<f64>,
    pub satisfaction_avg: Option<f64>,
    pub csat: Option<f64>,
    pub knowledge_rate: Option<f64>,
    pub resolution_rate: Option<f64>,
    pub engagement_rate: Option<f64>,
    pub effectiveness: Option<f64>,
    pub insight: Option<f64>,
    pub efficiency: Option<f64>,
    pub conformance_rate: Option<f64>,
    /// The voice of the customer (METRICS.md, "Voice of the customer"): all null (and no
    /// responses) until [`Scorecard::with_voice`] adds the scope's survey responses.
    #[serde(flatten)]
    pub voice: crate::voice::Voice,
    /// What the point contributes through journeys (METRICS.md, "Attribution"): all null
    /// until the measurement adds the period's journeys, and for a group of points.
    #[serde(flatten)]
    pub attribution: crate::attribution::Attribution,
}

impl Scorecard {
    /// The scorecard of `tally` against `expectation` over a period of `days` days.
    pub fn compute(tally: &Tally, expectation: &Expectation, days: f64) -> Scorecard {
        let t = tally;
        let n = t.n as f64;
        let expected_volume = expectation
            .volume_per_month
            .map(|v| v * days / DAYS_PER_MONTH);
        let net_value = t.value_company - t.cost;
        let value_company_per = ratio(t.value_company, n);
        let value_party_per = ratio(t.value_party, n);
        let intent_rate = ratio(t.intent_n as f64, n);
        let knowledge_rate = ratio(t.knowledge_n as f64, n);
        let csat = ratio(t.csat_n as f64, t.satisfaction_n as f64);
        let resolution_rate = ratio(t.resolved_true_n as f64, t.resolved_n as f64);
        let engagement_rate = ratio(t.engaged_n as f64, n);
        Scorecard {
            volume: t.n,
            expected_volume,
            volume_attainment: expected_volume.and_then(|e| ratio(n, e)),
            value_company: t.value_company,
            value_party: t.value_party,
            cost: t.cost,
            net_value,
            value_company_per,
            value_party_per,
            cost_per: ratio(t.cost, n),
            net_value_per: ratio(net_value, n),
            expected_net_value_per: expectation.net_value_per,
            value_company_attainment: attainment(value_company_per, expectation.value_company),
            value_party_attainment: attainment(value_party_per, expectation.value_party),
            intent_rate,
            satisfaction_avg: ratio(t.satisfaction_sum as f64, t.satisfaction_n as f64),
            csat,
            knowledge_rate,
            resolution_rate,
            engagement_rate,
            effectiveness: mean_of_present(&[csat, resolution_rate, engagement_rate]),
            insight: if t.n == 0 {
                None
            } else {
                mean_of_present(&[intent_rate, knowledge_rate])
            },
            efficiency: ratio(t.value_company + t.value_party, t.cost),
            conformance_rate: ratio(t.conforms_n as f64, n),
            voice: crate::voice::Voice::default(),
            attribution: crate::attribution::Attribution::default(),
        }
    }

    /// The scorecard with the voice figures of `tally`, `voice` null below `min_responses`.
    pub fn with_voice(mut self, tally: &crate::voice::VoiceTally, min_responses: u64) -> Scorecard {
        self.voice = crate::voice::Voice::compute(tally, min_responses);
        self
    }
}

/// `a / b`, `None` when `b` is 0 (or the quotient is not a finite number).
pub fn ratio(a: f64, b: f64) -> Option<f64> {
    if b == 0.0 {
        return None;
    }
    Some(a / b).filter(|r| r.is_finite())
}

/// Achieved per interaction over expected per interaction; `None` when either is missing or the
/// expectation is 0.
fn attainment(achieved: Option<f64>, expected: Option<f64>) -> Option<f64> {
    ratio(achieved?, expected?)
}

/// The mean of the figures that are present, added in the order given; `None` when none is.
pub(crate) fn mean_of_present(figures: &[Option<f64>]) -> Option<f64> {
    let present: Vec<f64> = figures.iter().flatten().copied().collect();
    ratio(present.iter().sum(), present.len() as f64)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::event::Outcomes;

    fn event(value_company: f64, value_party: f64, cost: f64, outcomes: Outcomes) -> Event {
        Event {
            id: "e".into(),
            point: "web.order".into(),
            at: 0,
            party: None,
            channel: None,
            outcomes,
            value_company,
            value_party,
            cost,
            duration_s: None,
            data: None,
            vars: None,
        }
    }

    fn expected(
        volume: Option<f64>,
        company: Option<f64>,
        party: Option<f64>,
        cost: Option<f64>,
    ) -> Expected {
        Expected {
            volume_per_month: volume,
            value_company: company,
            value_party: party,
            cost,
        }
    }

    /// Four events:
    /// 1. value 10 / 2, cost 1, intent, satisfaction 5, knowledge, resolved, engaged, conforms;
    /// 2. value 6 / 0, cost 1, satisfaction 3, resolved = false, conforms;
    /// 3. value 0 / 2, cost 2, satisfaction 4, knowledge = false;
    /// 4. nothing but cost 0, intent, engaged, conforms.
    fn four() -> Tally {
        let mut tally = Tally::default();
        let events = [
            (
                event(
                    10.0,
                    2.0,
                    1.0,
                    Outcomes {
                        intent: Some("buy".into()),
                        satisfaction: Some(5),
                        knowledge: Some(true),
                        resolved: Some(true),
                        engaged: Some(true),
                    },
                ),
                true,
            ),
            (
                event(
                    6.0,
                    0.0,
                    1.0,
                    Outcomes {
                        satisfaction: Some(3),
                        resolved: Some(false),
                        ..Outcomes::default()
                    },
                ),
                true,
            ),
            (
                event(
                    0.0,
                    2.0,
                    2.0,
                    Outcomes {
                        satisfaction: Some(4),
                        knowledge: Some(false),
                        ..Outcomes::default()
                    },
                ),
                false,
            ),
            (
                event(
                    0.0,
                    0.0,
                    0.0,
                    Outcomes {
                        intent: Some("ask".into()),
                        engaged: Some(true),
                        ..Outcomes::default()
                    },
                ),
                true,
            ),
        ];
        for (e, conforms) in &events {
            tally.add_event(e, *conforms);
        }
        tally
    }

    #[test]
    fn a_tally_counts_what_the_rollup_counts() {
        assert_eq!(
            four(),
            Tally {
                n: 4,
                value_company: 16.0,
                value_party: 4.0,
                cost: 4.0,
                intent_n: 2,
                satisfaction_n: 3,
                satisfaction_sum: 12,
                csat_n: 2,
                knowledge_n: 1,
                resolved_n: 2,
                resolved_true_n: 1,
                engaged_n: 2,
                conforms_n: 3,
            }
        );
        let mut merged = four();
        merged.merge(&four());
        assert_eq!(merged.n, 8);
        assert_eq!(merged.satisfaction_sum, 24);
        assert_eq!(merged.value_company, 32.0);
    }

    #[test]
    fn every_figure_of_a_scorecard() {
        // Expected: 60.875 a month (2 a day), 5 to the company, 2 to the party, cost 1.
        let expectation = Expectation::of(&expected(Some(60.875), Some(5.0), Some(2.0), Some(1.0)));
        let card = Scorecard::compute(&four(), &expectation, 1.0);
        assert_eq!(
            serde_json::to_value(card).unwrap(),
            json!({
                "volume": 4,
                "expected_volume": 2.0,             // 60.875 × 1 / 30.4375
                "volume_attainment": 2.0,           // 4 / 2
                "value_company": 16.0,
                "value_party": 4.0,
                "cost": 4.0,
                "net_value": 12.0,                  // 16 − 4
                "value_company_per": 4.0,           // 16 / 4
                "value_party_per": 1.0,             // 4 / 4
                "cost_per": 1.0,                    // 4 / 4
                "net_value_per": 3.0,               // 12 / 4
                "expected_net_value_per": 4.0,      // 5 − 1
                "value_company_attainment": 0.8,    // 4 / 5
                "value_party_attainment": 0.5,      // 1 / 2
                "intent_rate": 0.5,                 // 2 / 4
                "satisfaction_avg": 4.0,            // (5 + 3 + 4) / 3
                "csat": 2.0 / 3.0,                  // 5 and 4 of 5, 3, 4
                "knowledge_rate": 0.25,             // 1 / 4
                "resolution_rate": 0.5,             // 1 of the 2 that say
                "engagement_rate": 0.5,             // 2 / 4
                "effectiveness": (2.0 / 3.0 + 0.5 + 0.5) / 3.0,
                "insight": 0.375,                   // (0.5 + 0.25) / 2
                "efficiency": 5.0,                  // (16 + 4) / 4
                "conformance_rate": 0.75,           // 3 / 4
                // No survey response added: every voice figure null, none counted.
                "invitations": 0, "responses": 0, "response_rate": null, "nps": null,
                "nps_margin": null, "csat_survey": null, "csat_survey_low": null,
                "csat_survey_high": null, "ces_agree": null, "ces_agree_low": null,
                "ces_agree_high": null, "voice": null,
                // No journey added: every attribution figure null.
                "journeys_through": null, "value_through": null,
                "attributed_value_linear": null, "removal_effect": null,
                "attributed_value_markov": null,
            })
        );
    }

    #[test]
    fn an_empty_period_gives_nulls_not_zeros() {
        let expectation =
            Expectation::of(&expected(Some(30.4375), Some(5.0), Some(2.0), Some(1.0)));
        let card = Scorecard::compute(&Tally::default(), &expectation, 0.0);
        assert_eq!(
            serde_json::to_value(card).unwrap(),
            json!({
                "volume": 0,
                "expected_volume": 0.0,
                "volume_attainment": null,
                "value_company": 0.0,
                "value_party": 0.0,
                "cost": 0.0,
                "net_value": 0.0,
                "value_company_per": null,
                "value_party_per": null,
                "cost_per": null,
                "net_value_per": null,
                "expected_net_value_per": 4.0,
                "value_company_attainment": null,
                "value_party_attainment": null,
                "intent_rate": null,
                "satisfaction_avg": null,
                "csat": null,
                "knowledge_rate": null,
                "resolution_rate": null,
                "engagement_rate": null,
                "effectiveness": null,
                "insight": null,
                "efficiency": null,
                "conformance_rate": null,
                "invitations": 0, "responses": 0, "response_rate": null, "nps": null,
                "nps_margin": null, "csat_survey": null, "csat_survey_low": null,
                "csat_survey_high": null, "ces_agree": null, "ces_agree_low": null,
                "ces_agree_high": null, "voice": null,
                // No journey added: every attribution figure null.
                "journeys_through": null, "value_through": null,
                "attributed_value_linear": null, "removal_effect": null,
                "attributed_value_markov": null,
            })
        );
    }

    #[test]
    fn a_point_without_expectations_has_no_expected_figures_nor_attainments() {
        let card = Scorecard::compute(&four(), &Expectation::of(&Expected::default()), 7.0);
        assert_eq!(card.expected_volume, None);
        assert_eq!(card.volume_attainment, None);
        assert_eq!(card.expected_net_value_per, None);
        assert_eq!(card.value_company_attainment, None);
        assert_eq!(card.value_party_attainment, None);
        assert_eq!(card.net_value_per, Some(3.0));
    }

    #[test]
    fn an_expectation_of_zero_gives_no_attainment() {
        let expectation = Expectation::of(&expected(Some(0.0), Some(0.0), Some(0.0), None));
        let card = Scorecard::compute(&four(), &expectation, 30.0);
        assert_eq!(card.expected_volume, Some(0.0));
        assert_eq!(card.volume_attainment, None);
        assert_eq!(card.value_company_attainment, None);
        assert_eq!(card.value_party_attainment, None);
        assert_eq!(
            card.expected_net_value_per,
            Some(0.0),
            "0 − missing cost (0)"
        );
    }

    #[test]
    fn the_net_value_expected_counts_a_missing_side_as_zero() {
        let only_value = Expectation::of(&expected(None, Some(5.0), None, None));
        assert_eq!(only_value.net_value_per, Some(5.0));
        let only_cost = Expectation::of(&expected(None, None, None, Some(2.0)));
        assert_eq!(only_cost.net_value_per, Some(-2.0));
    }

    #[test]
    fn rates_whose_outcome_nobody_reports_are_null_or_zero_as_written() {
        // One event with no outcomes and no cost: csat and resolution have no denominator,
        // engagement is 0 of 1, so effectiveness is the engagement rate alone.
        let tally = Tally::of(&event(1.0, 0.0, 0.0, Outcomes::default()), true);
        let card = Scorecard::compute(&tally, &Expectation::default(), 1.0);
        assert_eq!(card.csat, None);
        assert_eq!(card.resolution_rate, None);
        assert_eq!(card.satisfaction_avg, None);
        assert_eq!(card.engagement_rate, Some(0.0));
        assert_eq!(card.effectiveness, Some(0.0));
        assert_eq!(card.insight, Some(0.0));
        assert_eq!(card.efficiency, None, "no cost");
    }

    #[test]
    fn a_group_sums_volumes_and_weights_the_rest_by_expected_volume() {
        let members = [
            // weight 100: value 4, party 1, cost 1 → net 3
            expected(Some(100.0), Some(4.0), Some(1.0), Some(1.0)),
            // weight 300: value 8, no party value, cost 2 → net 6
            expected(Some(300.0), Some(8.0), None, Some(2.0)),
            // no volume: no weight, left out of every mean
            expected(None, Some(1000.0), Some(1000.0), Some(1000.0)),
            // volume 0: adds 0 to the volume, no weight
            expected(Some(0.0), Some(500.0), None, None),
        ];
        let group = Expectation::group(&members);
        assert_eq!(
            group,
            Expectation {
                volume_per_month: Some(400.0), // 100 + 300 + 0
                value_company: Some(7.0),      // (100·4 + 300·8) / 400
                value_party: Some(1.0),        // 100·1 / 100
                cost: Some(1.75),              // (100·1 + 300·2) / 400
                net_value_per: Some(5.25),     // (100·3 + 300·6) / 400
            }
        );
        // Over 30.4375 days the group expects 400 interactions.
        let card = Scorecard::compute(&Tally::default(), &group, DAYS_PER_MONTH);
        assert_eq!(card.expected_volume, Some(400.0));
    }

    #[test]
    fn a_group_without_expected_volumes_expects_nothing_per_interaction() {
        let members = [
            expected(None, Some(4.0), Some(1.0), Some(1.0)),
            expected(None, None, None, None),
        ];
        assert_eq!(Expectation::group(&members), Expectation::default());
        assert_eq!(
            Expectation::group(std::iter::empty()),
            Expectation::default()
        );
        // A group of one point with an expected volume expects what the point does.
        let one = [expected(Some(10.0), Some(4.0), None, Some(1.0))];
        assert_eq!(Expectation::group(&one), Expectation::of(&one[0]));
    }
}
