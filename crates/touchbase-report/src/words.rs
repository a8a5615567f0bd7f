//! The report's figures and verdicts in words, shared by the HTML and Markdown renderings:
//! numbers formatted for reading, and each portfolio reason as a sentence that names the
//! figure and the bar it was held to.

use touchbase_core::StrategicValue;
use touchbase_core::enum_name;
use touchbase_core::portfolio::{Figure, Reason, ReasonCode, Settings, Verdict};

use touchbase_store::measure::Card;

use crate::model::PointCard;

/// Numbers as the report prints them, in the organization's currency.
#[derive(Debug, Clone)]
pub struct Words {
    symbol: String,
}

impl Words {
    pub fn new(currency: &str) -> Words {
        let symbol = match currency {
            "USD" => "$".to_owned(),
            "EUR" => "€".to_owned(),
            "GBP" => "£".to_owned(),
            "JPY" => "¥".to_owned(),
            other => format!("{other}\u{a0}"),
        };
        Words { symbol }
    }

    /// A sum of money, shortened when large: `$1.24M`, `$38.2k`, `$912`, `−$45`.
    pub fn money(&self, v: f64) -> String {
        let sign = if v < 0.0 { "−" } else { "" };
        let a = v.abs();
        let body = if a >= 1e9 {
            format!("{:.2}B", a / 1e9)
        } else if a >= 1e6 {
            format!("{:.2}M", a / 1e6)
        } else if a >= 1e4 {
            format!("{:.1}k", a / 1e3)
        } else if a >= 100.0 {
            count(a.round() as u64)
        } else {
            format!("{a:.2}")
        };
        format!("{sign}{}{body}", self.symbol)
    }

    /// A sum per interaction, to the cent: `$4.10`, `−$0.12`.
    pub fn per(&self, v: f64) -> String {
        let sign = if v < 0.0 { "−" } else { "" };
        format!("{sign}{}{:.2}", self.symbol, v.abs())
    }

    /// Two sums per interaction to as many decimals (2 to 4) as it takes to tell them apart.
    pub fn per_pair(&self, a: f64, b: f64) -> (String, String) {
        let show = |v: f64, d: usize| {
            let sign = if v < 0.0 { "−" } else { "" };
            format!("{sign}{}{:.*}", self.symbol, d, v.abs())
        };
        let decimals = (2..=4).find(|d| show(a, *d) != show(b, *d)).unwrap_or(4);
        (show(a, decimals), show(b, decimals))
    }

    /// [`Words::per`], or a dash.
    pub fn per_or(&self, v: Option<f64>) -> String {
        v.map_or_else(dash, |v| self.per(v))
    }
}

/// What stands for a figure that is not there.
pub fn dash() -> String {
    "—".to_owned()
}

/// A share as a percentage: `72%`; a dash for none.
pub fn pct(v: Option<f64>) -> String {
    v.map_or_else(dash, |v| format!("{:.0}%", v * 100.0))
}

/// A whole number with thousands separators: `1,234,567`.
/// What a surveyed point's voice says beside its behaviour: rated below the quality threshold
/// although it looks effective (a finding), below it, or nothing to say.
pub fn voice_finding(
    voice: Option<f64>,
    effectiveness: Option<f64>,
    threshold: f64,
) -> &'static str {
    match (voice, effectiveness) {
        (Some(q), Some(e)) if q < threshold && e >= threshold => {
            "rated below the threshold although it looks effective"
        }
        (Some(q), _) if q < threshold => "rated below the threshold",
        _ => "",
    }
}

/// An NPS, signed, whole (−100 to +100), or a dash.
pub fn nps(v: Option<f64>) -> String {
    match v {
        None => dash(),
        Some(v) if v.round() > 0.0 => format!("+{v:.0}"),
        Some(v) if v.round() < 0.0 => format!("−{:.0}", v.abs()),
        Some(_) => "0".to_owned(),
    }
}

/// A why-buy code's share among the senior team's and the customers' coded answers (0 where a
/// group coded answers without it; none where it coded none).
pub fn why_buy_shares(
    w: &touchbase_core::voice::WhyBuySummary,
    code: &str,
) -> (Option<f64>, Option<f64>) {
    let of = |g: &touchbase_core::voice::analysis::WhyBuyGroup| {
        (g.coded > 0).then(|| {
            g.codes
                .iter()
                .find(|c| c.code == code)
                .and_then(|c| c.share)
                .unwrap_or(0.0)
        })
    };
    (of(&w.executives), of(&w.customers))
}

/// The points a why-buy code names.
pub fn why_buy_points(w: &touchbase_core::voice::WhyBuySummary, code: &str) -> Vec<String> {
    w.executives
        .codes
        .iter()
        .chain(&w.customers.codes)
        .find(|c| c.code == code)
        .map(|c| c.points.clone())
        .unwrap_or_default()
}

pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A number of interactions that may be fractional (an expected volume), rounded.
pub fn approx(v: Option<f64>) -> String {
    v.map_or_else(dash, |v| count(v.max(0.0).round() as u64))
}

/// A duration in seconds as a person says it: `40 s`, `12 min`, `3.5 h`, `6 days`.
pub fn duration(s: Option<f64>) -> String {
    match s {
        None => dash(),
        Some(s) if s < 90.0 => format!("{s:.0} s"),
        Some(s) if s < 5_400.0 => format!("{:.0} min", s / 60.0),
        Some(s) if s < 172_800.0 => format!("{:.1} h", s / 3_600.0),
        Some(s) => format!("{:.1} days", s / 86_400.0),
    }
}

/// The verdict as an action.
pub fn verdict(v: Verdict) -> &'static str {
    match v {
        Verdict::Invest => "Invest",
        Verdict::Improve => "Improve",
        Verdict::Eliminate => "Eliminate",
        Verdict::InsufficientData => "Too little data",
    }
}

/// What each verdict asks of the reader, in one line.
pub fn verdict_meaning(v: Verdict) -> &'static str {
    match v {
        Verdict::Invest => "Meets its value and quality bars: grow it.",
        Verdict::Improve => "Misses a bar but is worth keeping: fix what the reasons name.",
        Verdict::Eliminate => {
            "Misses its value and quality bars and is not strategic: plan its retirement."
        }
        Verdict::InsufficientData => "Too few interactions in the period to judge.",
    }
}

fn number(f: Option<Figure>) -> Option<f64> {
    match f? {
        Figure::Number(v) => Some(v),
        Figure::Strategic(_) => None,
    }
}

fn strategic(f: Option<Figure>) -> String {
    match f {
        Some(Figure::Strategic(s)) => strategic_value(s),
        _ => dash(),
    }
}

/// A strategic value in words.
pub fn strategic_value(s: StrategicValue) -> String {
    enum_name(&s)
}

impl Words {
    /// One reason as a sentence: the figure, the bar, and what it means.
    pub fn reason(&self, reason: &Reason, card: &PointCard, settings: &Settings) -> String {
        let value = number(reason.value);
        let threshold = number(Some(reason.threshold));
        match reason.code {
            ReasonCode::ValueBelowExpectation => {
                match (value, card.card.scorecard.expected_net_value_per) {
                    (Some(v), Some(e)) if e > 0.0 => {
                        let (v, bar) = self.per_pair(v, threshold.unwrap_or(0.0));
                        let expected = format!(
                            "({} of the {} expected)",
                            pct(Some(settings.adequacy)),
                            self.per(e)
                        );
                        match v.strip_prefix('−') {
                            Some(loss) => format!(
                                "Loses {loss} per interaction where it should earn at least {bar} net {expected}."
                            ),
                            None => format!(
                                "Earns {v} net per interaction, below the {bar} bar {expected}."
                            ),
                        }
                    }
                    (Some(v), _) => format!(
                        "Loses {} per interaction: its net value is below break-even.",
                        self.per(-v)
                    ),
                    (None, _) => "No net value per interaction to judge.".to_owned(),
                }
            }
            ReasonCode::QualityBelowThreshold => match value {
                Some(v) => format!(
                    "Effectiveness is {} (satisfaction, resolution and engagement together), under the {} bar.",
                    pct(Some(v)),
                    pct(threshold)
                ),
                None => format!(
                    "No effectiveness measured (no satisfaction, resolution or engagement recorded); the bar is {}.",
                    pct(threshold)
                ),
            },
            ReasonCode::StrategicOverride => format!(
                "Kept rather than eliminated only because its strategic value is {} (at least {} keeps a point).",
                strategic(reason.value),
                strategic(Some(reason.threshold))
            ),
            ReasonCode::VolumeBelowExpectation => format!(
                "Used at {} of the volume expected of it (the bar is {}).",
                pct(value),
                pct(threshold)
            ),
            ReasonCode::CostAboveExpectation => {
                let expected = threshold.unwrap_or(0.0) / (1.0 + settings.cost_tolerance);
                let (cost, expected) = self.per_pair(value.unwrap_or(0.0), expected);
                format!(
                    "Costs {cost} per interaction, more than {} above the {expected} expected.",
                    pct(Some(settings.cost_tolerance))
                )
            }
            ReasonCode::DataNonconformant => format!(
                "Only {} of its interactions pass data that meets its contract ({} required).",
                pct(value),
                pct(threshold)
            ),
            ReasonCode::VoiceBelowThreshold => format!(
                "Its customers rate it {} in surveys (NPS, satisfaction and ease together), under the {} bar.",
                pct(value),
                pct(threshold)
            ),
            ReasonCode::CarriesJourneys => {
                let a = &card.card.scorecard.attribution;
                format!(
                    "Cutting it would lose {} of the journeys' conversions (removal effect; {} or more says it carries journeys): {} journeys worth {} pass through it.",
                    pct(value),
                    pct(threshold),
                    a.journeys_through.unwrap_or(0),
                    self.money(a.value_through.unwrap_or(0.0)),
                )
            }
        }
    }

    /// What cutting an `improve` or `eliminate` point would cost through journeys (METRICS.md,
    /// "Attribution"), unless a `carries_journeys` reason says it already; `None` otherwise.
    pub fn cutting(
        &self,
        verdict: Verdict,
        reasons: &[Reason],
        card: &PointCard,
    ) -> Option<String> {
        if !matches!(verdict, Verdict::Improve | Verdict::Eliminate)
            || reasons
                .iter()
                .any(|r| r.code == ReasonCode::CarriesJourneys)
        {
            return None;
        }
        let a = &card.card.scorecard.attribution;
        Some(match (a.journeys_through, a.removal_effect) {
            (None, _) => {
                "Cutting it would cost no journey: none passes through it in the period.".to_owned()
            }
            (Some(n), None) => format!(
                "Cutting it: {n} {} worth {} pass through it, none of which converts.",
                if n == 1 { "journey" } else { "journeys" },
                self.money(a.value_through.unwrap_or(0.0)),
            ),
            (Some(n), Some(effect)) => format!(
                "Cutting it: {n} {} worth {} pass through it, and {} of the journeys' conversions would be lost (about {} attributed to it).",
                if n == 1 { "journey" } else { "journeys" },
                self.money(a.value_through.unwrap_or(0.0)),
                pct(Some(effect)),
                self.money(a.attributed_value_markov.unwrap_or(0.0)),
            ),
        })
    }

    /// Why an invested-in point is: the two bars it clears.
    pub fn clears(&self, card: &PointCard, settings: &Settings) -> String {
        let s = &card.card.scorecard;
        let bar = match s.expected_net_value_per {
            Some(e) if e > 0.0 => self.per(settings.adequacy * e),
            _ => self.per(0.0),
        };
        format!(
            "Earns {} net per interaction (bar {}) with effectiveness {} (bar {}).",
            self.per_or(s.net_value_per),
            bar,
            pct(s.effectiveness),
            pct(Some(settings.quality_threshold)),
        )
    }
}

/// The columns of a group's scorecard table (a mode's, a business function's) after the
/// group's own, as both renderings title them.
pub const GROUP_COLUMNS: [&str; 10] = [
    "interactions",
    "net value",
    "net / interaction",
    "cost / interaction",
    "value / cost",
    "effectiveness",
    "CSAT",
    "resolved",
    "engaged",
    "data conformant",
];

/// A group's row under its name and [`GROUP_COLUMNS`]: `name` writes the group's key as the
/// rendering quotes text, and `against` a rate held to a bar (effectiveness to the quality
/// threshold, data conformance to the conformance threshold).
pub fn group_row(
    card: &Card,
    w: &Words,
    quality_threshold: f64,
    name: impl Fn(&str) -> String,
    against: impl Fn(Option<f64>, f64) -> String,
) -> Vec<String> {
    let s = &card.scorecard;
    vec![
        name(card.key.as_deref().unwrap_or_default()),
        count(s.volume),
        w.money(s.net_value),
        w.per_or(s.net_value_per),
        w.per_or(s.cost_per),
        s.efficiency.map_or_else(dash, |e| format!("{e:.1}×")),
        against(s.effectiveness, quality_threshold),
        pct(s.csat),
        pct(s.resolution_rate),
        pct(s.engagement_rate),
        against(
            s.conformance_rate,
            touchbase_core::portfolio::CONFORMANCE_THRESHOLD,
        ),
    ]
}

/// The sections of the report, in order, as both renderings title them.
pub const SECTIONS: [&str; 12] = [
    "Summary",
    "The inventory at a glance",
    "Portfolio: invest, improve, eliminate",
    "Achieved vs expected",
    "Outcomes",
    "Machine, people and hybrid",
    "Business functions",
    "Journeys",
    "Voice of the customer",
    "Data quality",
    "Undocumented points",
    "Proposals awaiting sign-off",
];

/// The headline's findings, one sentence each, most important first.
pub fn findings(report: &crate::Report) -> Vec<String> {
    let w = Words::new(&report.currency);
    let h = &report.headline;
    let mut out = Vec::new();
    let attainment = match h.volume_attainment {
        Some(a) => format!(", {} of the volume expected", pct(Some(a))),
        None => String::new(),
    };
    out.push(format!(
        "{} interactions at {} live points{attainment}.",
        count(h.volume),
        count(h.live_points)
    ));
    out.push(format!(
        "Net value {} to the organization ({} earned, {} spent), and {} of value to customers and partners.",
        w.money(h.net_value),
        w.money(h.value_company),
        w.money(h.cost),
        w.money(h.value_party),
    ));
    if let Some(e) = h.effectiveness {
        out.push(format!(
            "Effectiveness {} (satisfaction, resolution and engagement together; the bar is {}).",
            pct(Some(e)),
            pct(Some(report.settings.quality_threshold))
        ));
    }
    let names = |v: Verdict| {
        report
            .points
            .iter()
            .filter(|p| p.verdict == Some(v))
            .map(|p| p.name.clone())
            .collect::<Vec<_>>()
    };
    out.push(format!(
        "Portfolio: invest in {}, improve {}, eliminate {}{}.",
        h.invest,
        h.improve,
        h.eliminate,
        if h.insufficient_data > 0 {
            format!(", too little data on {}", h.insufficient_data)
        } else {
            String::new()
        }
    ));
    let eliminate = names(Verdict::Eliminate);
    if !eliminate.is_empty() {
        out.push(format!("To eliminate: {}.", eliminate.join(", ")));
    }
    if h.handoffs > 0 {
        out.push(format!(
            "{} journeys began in the period; they crossed between business functions {} times.",
            count(h.journeys),
            count(h.handoffs)
        ));
    }
    let mut attention = Vec::new();
    if h.nonconformant_points > 0 {
        attention.push(format!(
            "{} {} pass data that breaks {} contract",
            h.nonconformant_points,
            plural(h.nonconformant_points, "point", "points"),
            plural(h.nonconformant_points, "its", "their")
        ));
    }
    if h.undocumented_points > 0 {
        attention.push(format!(
            "{} undocumented {} seen",
            h.undocumented_points,
            plural(h.undocumented_points, "point", "points")
        ));
    }
    if h.proposals_pending > 0 {
        attention.push(format!(
            "{} {} sign-off",
            h.proposals_pending,
            plural(h.proposals_pending, "proposal awaits", "proposals await")
        ));
    }
    if !attention.is_empty() {
        let mut text = attention.join("; ");
        text.push('.');
        let mut chars = text.chars();
        if let Some(first) = chars.next() {
            text = first.to_uppercase().chain(chars).collect();
        }
        out.push(text);
    }
    out
}

/// `one` or `many` by `n`.
pub fn plural(n: u64, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 { one } else { many }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(count(0), "0");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(count(100), "100");
        let w = Words::new("USD");
        assert_eq!(w.money(1_240_000.0), "$1.24M");
        assert_eq!(w.money(-45.0), "−$45.00");
        assert_eq!(w.money(8_560.4), "$8,560");
        assert_eq!(
            w.per_pair(0.401, 0.4),
            ("$0.401".to_owned(), "$0.400".to_owned())
        );
        assert_eq!(
            w.per_pair(1.5, 0.4),
            ("$1.50".to_owned(), "$0.40".to_owned())
        );
        assert_eq!(w.money(38_200.0), "$38.2k");
        assert_eq!(w.per(-0.123), "−$0.12");
        assert_eq!(Words::new("CHF").per(2.0), "CHF\u{a0}2.00");
        assert_eq!(pct(Some(0.724)), "72%");
        assert_eq!(pct(None), "—");
        assert_eq!(duration(Some(7_200.0)), "2.0 h");
        assert_eq!(duration(Some(3.0 * 86_400.0)), "3.0 days");
    }
}
