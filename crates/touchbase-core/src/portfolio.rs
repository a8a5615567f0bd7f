//! The portfolio rule of METRICS.md (R15): each live point, over a period, is to be invested
//! in, improved or eliminated — or there is too little data to say — with the reasons and the
//! figures and thresholds behind them.
//!
//! # Reasons
//! Each [`Reason`] carries the figure it is about (`value`) and what that figure was held to
//! (`threshold`), in the order METRICS.md lists the codes:
//!
//! | code | when | value | threshold |
//! | --- | --- | --- | --- |
//! | `value_below_expectation` | not `financial_ok` | `net_value_per` | `adequacy × expected_net_value_per` when that expectation is > 0, else 0 |
//! | `quality_below_threshold` | not `quality_ok` | `effectiveness` (null when there is none) | `quality_threshold` |
//! | `strategic_override` | `improve` although neither financial_ok nor quality_ok | the point's `strategic_value` | `"medium"` |
//! | `volume_below_expectation` | `volume_attainment < adequacy` | `volume_attainment` | `adequacy` |
//! | `cost_above_expectation` | `cost_per > expected.cost × (1 + cost_tolerance)`, `expected.cost > 0` | `cost_per` | `expected.cost × (1 + cost_tolerance)` |
//! | `data_nonconformant` | `conformance_rate < 0.95` | `conformance_rate` | 0.95 |
//! | `voice_below_threshold` | `voice < quality_threshold` | `voice` | `quality_threshold` |
//! | `carries_journeys` | `improve` or `eliminate`, `removal_effect >= carries_journeys` | `removal_effect` | `carries_journeys` |
//!
//! A comparison with a null figure does not hold, so a null `volume_attainment` (no expected
//! volume) gives no `volume_below_expectation`.
//!
//! `insufficient-data` (fewer than `min_volume` events) judges nothing: it carries none of the
//! first three codes, which are judgements on too few events, but it does carry the last
//! four observations when they hold — they are observations (a point used far less than expected is often
//! why its data is insufficient). How many events there were is the scorecard's `volume`.

use serde::{Deserialize, Serialize};

use crate::inventory::{Expected, StrategicValue};
use crate::metrics::Scorecard;

/// The share of conforming events below which a point's data is flagged.
pub const CONFORMANCE_THRESHOLD: f64 = 0.95;

/// The organization's settings for the portfolio and journey rules, with METRICS.md's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Fewer events than this over the period is `insufficient-data` (default 30).
    pub min_volume: u64,
    /// The share of the expected net value per interaction (and of the expected volume) that
    /// is adequate (default 0.8).
    pub adequacy: f64,
    /// The least effectiveness that is good quality (default 0.6).
    pub quality_threshold: f64,
    /// How far above its expectation a cost per interaction may be before it is flagged,
    /// as a share of the expectation (default 0.05).
    pub cost_tolerance: f64,
    /// The removal effect from which an `improve` or `eliminate` verdict says the point
    /// carries journeys (default 0.1).
    pub carries_journeys: f64,
    /// The longest gap, in seconds, between two events of one journey (default 30 days).
    pub journey_gap_s: u64,
    /// Fewer survey responses than this over the period leaves `voice` null (default 10).
    pub survey_min_responses: u64,
    /// A party is invited to one survey at most once within this many days (default 30).
    pub survey_per_survey_days: u64,
    /// A party is invited to any survey at most once within this many days (default 7).
    pub survey_any_survey_days: u64,
    /// The share of eligible interactions invited, drawn by hash (default 1: all).
    pub survey_sampling: f64,
    /// How long a survey invitation's link lasts, in days (default 14).
    pub survey_link_days: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            min_volume: 30,
            adequacy: 0.8,
            quality_threshold: 0.6,
            cost_tolerance: 0.05,
            carries_journeys: 0.1,
            journey_gap_s: 30 * 86_400,
            survey_min_responses: 10,
            survey_per_survey_days: 30,
            survey_any_survey_days: 7,
            survey_sampling: 1.0,
            survey_link_days: 14,
        }
    }
}

/// A setting's name as the CLI and the API give it, e.g. `portfolio.quality_threshold`.
pub const SETTING_NAMES: [&str; 11] = [
    "portfolio.min_volume",
    "portfolio.adequacy",
    "portfolio.quality_threshold",
    "portfolio.cost_tolerance",
    "portfolio.carries_journeys",
    "journeys.journey_gap_s",
    "survey.min_responses",
    "survey.per_survey_days",
    "survey.any_survey_days",
    "survey.sampling",
    "survey.link_days",
];

/// A setting that cannot be: an unknown name, or a value that breaks the setting's rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name}: {rule}")]
pub struct SettingError {
    pub name: String,
    pub rule: String,
}

impl Settings {
    pub fn is_default(&self) -> bool {
        *self == Settings::default()
    }

    /// Every setting by name ([`SETTING_NAMES`]) with its value.
    pub fn named(&self) -> Vec<(&'static str, serde_json::Value)> {
        SETTING_NAMES
            .iter()
            .map(|name| (*name, self.get(name).unwrap_or(serde_json::Value::Null)))
            .collect()
    }

    /// The value of the setting `name`.
    pub fn get(&self, name: &str) -> Option<serde_json::Value> {
        Some(match name {
            "portfolio.min_volume" => self.min_volume.into(),
            "portfolio.adequacy" => self.adequacy.into(),
            "portfolio.quality_threshold" => self.quality_threshold.into(),
            "portfolio.cost_tolerance" => self.cost_tolerance.into(),
            "portfolio.carries_journeys" => self.carries_journeys.into(),
            "journeys.journey_gap_s" => self.journey_gap_s.into(),
            "survey.min_responses" => self.survey_min_responses.into(),
            "survey.per_survey_days" => self.survey_per_survey_days.into(),
            "survey.any_survey_days" => self.survey_any_survey_days.into(),
            "survey.sampling" => self.survey_sampling.into(),
            "survey.link_days" => self.survey_link_days.into(),
            _ => return None,
        })
    }

    /// Sets `name` to `value` (as typed on a command line), refusing a value that breaks the
    /// setting's rule (see [`Settings::problems`]); nothing changes on an error.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), SettingError> {
        let error = |rule: String| SettingError {
            name: name.to_owned(),
            rule,
        };
        let count = || {
            value.trim().parse::<u64>().map_err(|_| {
                error(format!(
                    "must be a whole number of 0 or more, got `{value}`"
                ))
            })
        };
        let number = || {
            value
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| error(format!("must be a number, got `{value}`")))
        };
        let mut next = *self;
        match name {
            "portfolio.min_volume" => next.min_volume = count()?,
            "portfolio.adequacy" => next.adequacy = number()?,
            "portfolio.quality_threshold" => next.quality_threshold = number()?,
            "portfolio.cost_tolerance" => next.cost_tolerance = number()?,
            "portfolio.carries_journeys" => next.carries_journeys = number()?,
            "journeys.journey_gap_s" => next.journey_gap_s = count()?,
            "survey.min_responses" => next.survey_min_responses = count()?,
            "survey.per_survey_days" => next.survey_per_survey_days = count()?,
            "survey.any_survey_days" => next.survey_any_survey_days = count()?,
            "survey.sampling" => next.survey_sampling = number()?,
            "survey.link_days" => next.survey_link_days = count()?,
            _ => {
                return Err(error(format!(
                    "no such setting; the settings are {}",
                    SETTING_NAMES.join(", ")
                )));
            }
        }
        if let Some(problem) = next.problems().into_iter().find(|p| p.name == name) {
            return Err(problem);
        }
        *self = next;
        Ok(())
    }

    /// The rules the settings break: `adequacy` a number of 0 or more, `quality_threshold`
    /// from 0 to 1 (effectiveness is a share), `journey_gap_s` at least 1 second.
    pub fn problems(&self) -> Vec<SettingError> {
        let mut found = Vec::new();
        let mut rule = |name: &str, holds: bool, rule: String| {
            if !holds {
                found.push(SettingError {
                    name: name.to_owned(),
                    rule,
                });
            }
        };
        rule(
            "portfolio.adequacy",
            self.adequacy.is_finite() && self.adequacy >= 0.0,
            format!("must be a number of 0 or more, got {}", self.adequacy),
        );
        rule(
            "portfolio.quality_threshold",
            (0.0..=1.0).contains(&self.quality_threshold),
            format!(
                "must be from 0 to 1 (effectiveness is a share), got {}",
                self.quality_threshold
            ),
        );
        rule(
            "portfolio.cost_tolerance",
            self.cost_tolerance.is_finite() && self.cost_tolerance >= 0.0,
            format!(
                "must be a number of 0 or more (a share of the expected cost), got {}",
                self.cost_tolerance
            ),
        );
        rule(
            "portfolio.carries_journeys",
            (0.0..=1.0).contains(&self.carries_journeys),
            format!(
                "must be from 0 to 1 (a removal effect is a share of conversions), got {}",
                self.carries_journeys
            ),
        );
        rule(
            "journeys.journey_gap_s",
            self.journey_gap_s >= 1,
            format!("must be at least 1 second, got {}", self.journey_gap_s),
        );
        rule(
            "survey.sampling",
            (0.0..=1.0).contains(&self.survey_sampling),
            format!(
                "must be from 0 to 1 (the share of interactions invited), got {}",
                self.survey_sampling
            ),
        );
        rule(
            "survey.link_days",
            (1..=90).contains(&self.survey_link_days),
            format!("must be from 1 to 90 days, got {}", self.survey_link_days),
        );
        found
    }

    /// The contact rules of survey invitations.
    pub fn contact_rules(&self) -> crate::voice::invite::ContactRules {
        crate::voice::invite::ContactRules {
            per_survey_days: self.survey_per_survey_days,
            any_survey_days: self.survey_any_survey_days,
            sampling: self.survey_sampling,
        }
    }

    /// `journey_gap_s` in microseconds, the unit of event instants.
    pub fn journey_gap_us(&self) -> i64 {
        i64::try_from(self.journey_gap_s)
            .unwrap_or(i64::MAX)
            .saturating_mul(1_000_000)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Invest,
    Improve,
    Eliminate,
    InsufficientData,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReasonCode {
    ValueBelowExpectation,
    QualityBelowThreshold,
    StrategicOverride,
    VolumeBelowExpectation,
    CostAboveExpectation,
    DataNonconformant,
    VoiceBelowThreshold,
    CarriesJourneys,
}

/// A figure a reason is about: a number, or a strategic value (for `strategic_override`).
/// In JSON, a number or the strategic value's name.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum Figure {
    Number(f64),
    Strategic(StrategicValue),
}

/// Why a point got its verdict: the rule's code, the figure and what it was held to.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Reason {
    pub code: ReasonCode,
    /// `None` (JSON `null`) when the figure is (e.g. no effectiveness over the period).
    pub value: Option<Figure>,
    pub threshold: Figure,
}

/// The portfolio verdict of one point over a period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Assessment {
    pub point: String,
    pub verdict: Verdict,
    pub reasons: Vec<Reason>,
}

/// Applies the portfolio rule to one point's scorecard over a period. `expected` is the
/// point's `expected` (its `cost` is what `cost_above_expectation` compares with). The rule
/// applies to live points; choosing them is the caller's part.
pub fn assess(
    point: &str,
    card: &Scorecard,
    strategic_value: StrategicValue,
    expected: &Expected,
    settings: &Settings,
) -> Assessment {
    let mut reasons = Vec::new();
    let verdict = if card.volume < settings.min_volume {
        Verdict::InsufficientData
    } else {
        // 2. financial_ok
        let financial_threshold = match card.expected_net_value_per {
            Some(e) if e > 0.0 => settings.adequacy * e,
            _ => 0.0,
        };
        let financial_ok = card.net_value_per.is_some_and(|v| v >= financial_threshold);
        // 3. quality_ok: effectiveness, and the customers' voice where there is one
        let quality_ok = card
            .effectiveness
            .is_some_and(|e| e >= settings.quality_threshold)
            && card
                .voice
                .voice
                .is_none_or(|v| v >= settings.quality_threshold);
        // 4. strategic
        let strategic = matches!(
            strategic_value,
            StrategicValue::Medium | StrategicValue::High
        );
        // 5. the verdict
        let verdict = if financial_ok && quality_ok {
            Verdict::Invest
        } else if !financial_ok && !quality_ok && !strategic {
            Verdict::Eliminate
        } else {
            Verdict::Improve
        };
        if !financial_ok {
            reasons.push(Reason {
                code: ReasonCode::ValueBelowExpectation,
                value: card.net_value_per.map(Figure::Number),
                threshold: Figure::Number(financial_threshold),
            });
        }
        if !quality_ok {
            reasons.push(Reason {
                code: ReasonCode::QualityBelowThreshold,
                value: card.effectiveness.map(Figure::Number),
                threshold: Figure::Number(settings.quality_threshold),
            });
        }
        if !financial_ok && !quality_ok && strategic {
            reasons.push(Reason {
                code: ReasonCode::StrategicOverride,
                value: Some(Figure::Strategic(strategic_value)),
                threshold: Figure::Strategic(StrategicValue::Medium),
            });
        }
        verdict
    };
    if let Some(attainment) = card.volume_attainment
        && attainment < settings.adequacy
    {
        reasons.push(Reason {
            code: ReasonCode::VolumeBelowExpectation,
            value: Some(Figure::Number(attainment)),
            threshold: Figure::Number(settings.adequacy),
        });
    }
    if let (Some(cost_per), Some(expected_cost)) = (card.cost_per, expected.cost)
        && expected_cost > 0.0
        && cost_per > expected_cost * (1.0 + settings.cost_tolerance)
    {
        reasons.push(Reason {
            code: ReasonCode::CostAboveExpectation,
            value: Some(Figure::Number(cost_per)),
            threshold: Figure::Number(expected_cost * (1.0 + settings.cost_tolerance)),
        });
    }
    if let Some(rate) = card.conformance_rate
        && rate < CONFORMANCE_THRESHOLD
    {
        reasons.push(Reason {
            code: ReasonCode::DataNonconformant,
            value: Some(Figure::Number(rate)),
            threshold: Figure::Number(CONFORMANCE_THRESHOLD),
        });
    }
    if let Some(voice) = card.voice.voice
        && voice < settings.quality_threshold
    {
        reasons.push(Reason {
            code: ReasonCode::VoiceBelowThreshold,
            value: Some(Figure::Number(voice)),
            threshold: Figure::Number(settings.quality_threshold),
        });
    }
    if matches!(verdict, Verdict::Improve | Verdict::Eliminate)
        && let Some(effect) = card.attribution.removal_effect
        && effect >= settings.carries_journeys
    {
        reasons.push(Reason {
            code: ReasonCode::CarriesJourneys,
            value: Some(Figure::Number(effect)),
            threshold: Figure::Number(settings.carries_journeys),
        });
    }
    Assessment {
        point: point.to_owned(),
        verdict,
        reasons,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    /// A healthy point: 40 events (at least 30), net 5 a time against 5 expected (≥ 0.8 × 5),
    /// effectiveness 0.7 (≥ 0.6), volume as expected, cost 1 against 1, all data conforming.
    fn healthy() -> Scorecard {
        Scorecard {
            volume: 40,
            expected_volume: Some(40.0),
            volume_attainment: Some(1.0),
            value_company: 240.0,
            value_party: 40.0,
            cost: 40.0,
            net_value: 200.0,
            value_company_per: Some(6.0),
            value_party_per: Some(1.0),
            cost_per: Some(1.0),
            net_value_per: Some(5.0),
            expected_net_value_per: Some(5.0),
            value_company_attainment: Some(1.0),
            value_party_attainment: Some(1.0),
            intent_rate: Some(0.5),
            satisfaction_avg: Some(4.0),
            csat: Some(0.7),
            knowledge_rate: Some(0.5),
            resolution_rate: Some(0.7),
            engagement_rate: Some(0.7),
            effectiveness: Some(0.7),
            insight: Some(0.5),
            efficiency: Some(7.0),
            conformance_rate: Some(1.0),
            voice: crate::voice::Voice::default(),
            attribution: crate::attribution::Attribution::default(),
        }
    }

    /// `card` with the customers' voice at `voice`.
    fn voiced(card: Scorecard, voice: f64) -> Scorecard {
        Scorecard {
            voice: crate::voice::Voice {
                responses: 12,
                voice: Some(voice),
                ..crate::voice::Voice::default()
            },
            ..card
        }
    }

    #[test]
    fn the_customers_voice_enters_quality() {
        // Effective by behaviour, but customers rate it below the threshold: improve, with
        // both reasons; at the threshold it is fine; a null voice judges nothing.
        check(
            voiced(healthy(), 0.45),
            StrategicValue::None,
            json!([
                "improve",
                [
                    ["quality_below_threshold", 0.7, 0.6],
                    ["voice_below_threshold", 0.45, 0.6]
                ]
            ]),
        );
        check(
            voiced(healthy(), 0.6),
            StrategicValue::None,
            json!(["invest", []]),
        );
        check(healthy(), StrategicValue::None, json!(["invest", []]));
        // Too few events still says what the customers said.
        let few = Scorecard {
            volume: 3,
            ..voiced(healthy(), 0.2)
        };
        check(
            few,
            StrategicValue::None,
            json!(["insufficient-data", [["voice_below_threshold", 0.2, 0.6]]]),
        );
    }

    fn expected_cost(cost: Option<f64>) -> Expected {
        Expected {
            volume_per_month: Some(40.0),
            value_company: Some(6.0),
            value_party: Some(1.0),
            cost,
        }
    }

    /// The assessment of `card` as JSON: `[verdict, [code, value, threshold]…]`.
    fn check(card: Scorecard, strategic: StrategicValue, expected: Value) {
        let a = assess(
            "web.order",
            &card,
            strategic,
            &expected_cost(Some(1.0)),
            &Settings::default(),
        );
        assert_eq!(a.point, "web.order");
        let reasons: Vec<Value> = a
            .reasons
            .iter()
            .map(|r| serde_json::to_value(r).unwrap())
            .map(|r| json!([r["code"], r["value"], r["threshold"]]))
            .collect();
        let got = json!([serde_json::to_value(a.verdict).unwrap(), reasons]);
        assert_eq!(got, expected);
    }

    #[test]
    fn the_defaults_are_metrics_md() {
        let s = Settings::default();
        assert_eq!(
            (
                s.min_volume,
                s.adequacy,
                s.quality_threshold,
                s.journey_gap_s,
                s.survey_min_responses
            ),
            (30, 0.8, 0.6, 2_592_000, 10)
        );
        assert_eq!(s.journey_gap_us(), 2_592_000_000_000);
        let partial: Settings = serde_json::from_value(json!({ "min_volume": 5 })).unwrap();
        assert_eq!(partial, Settings { min_volume: 5, ..s });
    }

    #[test]
    fn invest_when_value_and_quality_are_adequate() {
        check(healthy(), StrategicValue::None, json!(["invest", []]));
        // Exactly at the thresholds is adequate: 4 = 0.8 × 5, effectiveness 0.6.
        let edge = Scorecard {
            net_value_per: Some(4.0),
            effectiveness: Some(0.6),
            ..healthy()
        };
        check(edge, StrategicValue::None, json!(["invest", []]));
    }

    #[test]
    fn improve_when_one_of_value_and_quality_falls_short() {
        let low_value = Scorecard {
            net_value_per: Some(3.0),
            ..healthy()
        };
        check(
            low_value,
            StrategicValue::None,
            json!(["improve", [["value_below_expectation", 3.0, 4.0]]]),
        );
        let low_quality = Scorecard {
            effectiveness: Some(0.5),
            ..healthy()
        };
        check(
            low_quality,
            StrategicValue::Low,
            json!(["improve", [["quality_below_threshold", 0.5, 0.6]]]),
        );
    }

    #[test]
    fn eliminate_when_neither_holds_and_it_is_not_strategic() {
        let poor = Scorecard {
            net_value_per: Some(-1.0),
            effectiveness: None,
            ..healthy()
        };
        check(
            poor,
            StrategicValue::Low,
            json!([
                "eliminate",
                [
                    ["value_below_expectation", -1.0, 4.0],
                    ["quality_below_threshold", null, 0.6],
                ]
            ]),
        );
    }

    #[test]
    fn a_strategic_point_is_improved_rather_than_eliminated() {
        let poor = Scorecard {
            net_value_per: Some(-1.0),
            effectiveness: Some(0.1),
            ..healthy()
        };
        for (strategic, name) in [
            (StrategicValue::Medium, "medium"),
            (StrategicValue::High, "high"),
        ] {
            check(
                poor,
                strategic,
                json!([
                    "improve",
                    [
                        ["value_below_expectation", -1.0, 4.0],
                        ["quality_below_threshold", 0.1, 0.6],
                        ["strategic_override", name, "medium"],
                    ]
                ]),
            );
        }
    }

    #[test]
    fn without_a_positive_net_value_expected_the_threshold_is_zero() {
        for expected in [None, Some(0.0), Some(-2.0)] {
            let break_even = Scorecard {
                net_value_per: Some(0.0),
                expected_net_value_per: expected,
                ..healthy()
            };
            check(break_even, StrategicValue::None, json!(["invest", []]));
            let loss = Scorecard {
                net_value_per: Some(-0.5),
                expected_net_value_per: expected,
                ..healthy()
            };
            check(
                loss,
                StrategicValue::None,
                json!(["improve", [["value_below_expectation", -0.5, 0.0]]]),
            );
        }
    }

    #[test]
    fn too_few_events_is_insufficient_data_with_only_the_observations() {
        // 29 events, 0.29 of the 100 expected, cost 2 a time against 1, 0.5 conforming, and
        // value and quality that would eliminate it: only the observations are listed.
        let few = Scorecard {
            volume: 29,
            expected_volume: Some(100.0),
            volume_attainment: Some(0.29),
            cost_per: Some(2.0),
            net_value_per: Some(-1.0),
            effectiveness: Some(0.1),
            conformance_rate: Some(0.5),
            ..healthy()
        };
        check(
            few,
            StrategicValue::None,
            json!([
                "insufficient-data",
                [
                    ["volume_below_expectation", 0.29, 0.8],
                    ["cost_above_expectation", 2.0, 1.05],
                    ["data_nonconformant", 0.5, 0.95],
                ]
            ]),
        );
        let none = Scorecard::compute(
            &crate::metrics::Tally::default(),
            &crate::metrics::Expectation::default(),
            7.0,
        );
        check(none, StrategicValue::High, json!(["insufficient-data", []]));
    }

    #[test]
    fn the_observations_accompany_any_verdict() {
        let busy_but_costly = Scorecard {
            volume_attainment: Some(0.79),
            cost_per: Some(1.5),
            conformance_rate: Some(0.94),
            ..healthy()
        };
        check(
            busy_but_costly,
            StrategicValue::None,
            json!([
                "invest",
                [
                    ["volume_below_expectation", 0.79, 0.8],
                    ["cost_above_expectation", 1.5, 1.05],
                    ["data_nonconformant", 0.94, 0.95],
                ]
            ]),
        );
        // At the thresholds nothing is flagged, nor without an expectation to compare with.
        let at_the_line = Scorecard {
            volume_attainment: Some(0.8),
            cost_per: Some(1.0),
            conformance_rate: Some(0.95),
            ..healthy()
        };
        check(at_the_line, StrategicValue::None, json!(["invest", []]));
        let no_expected_volume = Scorecard {
            expected_volume: None,
            volume_attainment: None,
            ..healthy()
        };
        check(
            no_expected_volume,
            StrategicValue::None,
            json!(["invest", []]),
        );
        let a = assess(
            "web.order",
            &Scorecard {
                cost_per: Some(5.0),
                ..healthy()
            },
            StrategicValue::None,
            &expected_cost(Some(0.0)),
            &Settings::default(),
        );
        assert_eq!(a.reasons, [], "an expected cost of 0 flags nothing");
        let a = assess(
            "web.order",
            &Scorecard {
                cost_per: Some(5.0),
                ..healthy()
            },
            StrategicValue::None,
            &expected_cost(None),
            &Settings::default(),
        );
        assert_eq!(a.reasons, [], "no expected cost flags nothing");
    }

    #[test]
    fn a_cost_is_above_its_expectation_only_beyond_the_tolerance() {
        // 0.0004 expected: a float sum's last bits above it, and 5 % above it exactly, are
        // within the tolerance; a hair beyond 5 % is not.
        let expected = expected_cost(Some(0.0004));
        let settings = Settings::default();
        let reasons = |cost_per: f64| {
            let card = Scorecard {
                cost_per: Some(cost_per),
                ..healthy()
            };
            assess(
                "web.order",
                &card,
                StrategicValue::None,
                &expected,
                &settings,
            )
            .reasons
        };
        assert_eq!(reasons(0.000_400_000_000_000_1), []);
        assert_eq!(reasons(0.0004 * 1.05), []);
        let beyond = 0.0004 * 1.05 * (1.0 + 1e-12);
        assert_eq!(
            reasons(beyond),
            [Reason {
                code: ReasonCode::CostAboveExpectation,
                value: Some(Figure::Number(beyond)),
                threshold: Figure::Number(0.0004 * 1.05),
            }]
        );
        let strict = Settings {
            cost_tolerance: 0.0,
            ..Settings::default()
        };
        let card = Scorecard {
            cost_per: Some(0.000_400_000_000_000_1),
            ..healthy()
        };
        assert_eq!(
            assess("web.order", &card, StrategicValue::None, &expected, &strict).reasons[0].code,
            ReasonCode::CostAboveExpectation,
            "a tolerance of 0 flags any cost above the expectation"
        );
    }

    #[test]
    fn a_point_that_carries_journeys_says_so_on_improve_and_eliminate_only() {
        let carrying = |effect: f64, card: Scorecard| Scorecard {
            attribution: crate::attribution::Attribution {
                removal_effect: Some(effect),
                ..Default::default()
            },
            ..card
        };
        let poor = Scorecard {
            net_value_per: Some(-1.0),
            effectiveness: Some(0.1),
            ..healthy()
        };
        check(
            carrying(0.1, poor),
            StrategicValue::None,
            json!([
                "eliminate",
                [
                    ["value_below_expectation", -1.0, 4.0],
                    ["quality_below_threshold", 0.1, 0.6],
                    ["carries_journeys", 0.1, 0.1],
                ]
            ]),
        );
        check(
            carrying(0.099, poor),
            StrategicValue::None,
            json!([
                "eliminate",
                [
                    ["value_below_expectation", -1.0, 4.0],
                    ["quality_below_threshold", 0.1, 0.6],
                ]
            ]),
        );
        check(
            carrying(0.4, poor),
            StrategicValue::High,
            json!([
                "improve",
                [
                    ["value_below_expectation", -1.0, 4.0],
                    ["quality_below_threshold", 0.1, 0.6],
                    ["strategic_override", "high", "medium"],
                    ["carries_journeys", 0.4, 0.1],
                ]
            ]),
        );
        check(
            carrying(0.9, healthy()),
            StrategicValue::None,
            json!(["invest", []]),
        );
        let few = Scorecard {
            volume: 3,
            ..healthy()
        };
        check(
            carrying(0.9, few),
            StrategicValue::None,
            json!(["insufficient-data", []]),
        );
    }

    #[test]
    fn an_assessment_in_json() {
        let a = assess(
            "web.order",
            &Scorecard {
                effectiveness: Some(0.5),
                ..healthy()
            },
            StrategicValue::High,
            &expected_cost(Some(1.0)),
            &Settings::default(),
        );
        assert_eq!(
            serde_json::to_value(&a).unwrap(),
            json!({
                "point": "web.order",
                "verdict": "improve",
                "reasons": [
                    { "code": "quality_below_threshold", "value": 0.5, "threshold": 0.6 },
                ],
            })
        );
    }
}
