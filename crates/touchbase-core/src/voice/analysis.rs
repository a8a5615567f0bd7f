//! What the coded open answers say (METRICS.md, "Voice of the customer"): the themes of the
//! `change` answers with their NPS impact, why customers buy as the senior team and the
//! customers see it, and how far two coders agree (Cohen's kappa).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use sha2::{Digest, Sha256};

use super::codebook::{CodeKind, Family};
use super::figures::nps;
use crate::metrics::ratio;

/// Below this kappa a code is unreliable, and so are its themes.
pub const RELIABLE_KAPPA: f64 = 0.6;

/// One response as the themes see it: its NPS answer, whether it answered `change`, and the
/// `change` codes its answer is tagged with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ThemeInput {
    pub nps: Option<u8>,
    pub change: bool,
    pub codes: BTreeSet<String>,
}

/// A theme: a `change` code and how often it is mentioned, with what its answers do to NPS.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Theme {
    pub code: String,
    /// Answers tagged with the code.
    pub mentions: u64,
    /// `mentions / T`, T the responses with a `change` answer.
    pub share: Option<f64>,
    /// `nps(R) − nps(R without the responses tagged with it)`.
    pub nps_impact: Option<f64>,
    /// The code's kappa is below 0.6 in a double-coded sample.
    pub unreliable: bool,
    /// A few of its answers, the latest first; none where the scope has fewer answers than
    /// `survey.min_responses`.
    #[serde(default)]
    pub verbatims: Vec<String>,
}

/// The themes of the responses `r` (all of R: those without a `change` answer count in NPS),
/// by mentions, ties by code key; codes with no mention are not listed.
pub fn themes(r: &[ThemeInput], unreliable: &BTreeSet<String>) -> Vec<Theme> {
    let t = r.iter().filter(|x| x.change).count() as f64;
    let mut scores = [0u64; 11];
    for x in r {
        if let Some(s) = x.nps.filter(|s| *s <= 10) {
            scores[usize::from(s)] += 1;
        }
    }
    let all = nps(&scores).0;
    // For each code: its mentions and the NPS answers of the responses tagged with it.
    let mut by_code: BTreeMap<&str, (u64, [u64; 11])> = BTreeMap::new();
    for x in r.iter().filter(|x| x.change) {
        for code in &x.codes {
            let entry = by_code.entry(code.as_str()).or_default();
            entry.0 += 1;
            if let Some(s) = x.nps.filter(|s| *s <= 10) {
                entry.1[usize::from(s)] += 1;
            }
        }
    }
    let mut out: Vec<Theme> = by_code
        .into_iter()
        .map(|(code, (mentions, tagged))| {
            let mut rest = scores;
            for (a, b) in rest.iter_mut().zip(tagged) {
                *a -= b;
            }
            let without = nps(&rest).0;
            Theme {
                code: code.to_owned(),
                mentions,
                share: ratio(mentions as f64, t),
                nps_impact: all.zip(without).map(|(a, w)| a - w),
                unreliable: unreliable.contains(code),
                verbatims: Vec::new(),
            }
        })
        .collect();
    out.sort_by(|a, b| {
        b.mentions
            .cmp(&a.mentions)
            .then_with(|| a.code.cmp(&b.code))
    });
    out
}

/// One answer to "why do customers buy from us?": its `why_buy` codes with their kinds.
pub type WhyBuyAnswer = Vec<(String, CodeKind)>;

/// A code's share of a group's coded answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CodeShare {
    pub code: String,
    pub share: Option<f64>,
    /// The points of interaction the code names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub points: Vec<String>,
}

/// What one group (executives, or customers) says about why customers buy.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WhyBuyGroup {
    /// Answers given.
    pub answers: u64,
    /// Answers with at least one `why_buy` tag.
    pub coded: u64,
    /// Coded answers with at least one `interaction` code / coded.
    pub interaction_share: Option<f64>,
    /// Coded answers with at least one `product` code / coded.
    pub product_share: Option<f64>,
    /// Each code's share of the coded answers, by share, ties by code key.
    pub codes: Vec<CodeShare>,
}

/// A code's executives' share less its customers' share.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Gap {
    pub code: String,
    pub gap: Option<f64>,
}

/// Why customers buy, both groups and the gap between them.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WhyBuySummary {
    pub executives: WhyBuyGroup,
    pub customers: WhyBuyGroup,
    /// Every code either group used, by the size of its gap (largest first, either way), ties
    /// by code key.
    pub gap: Vec<Gap>,
}

/// The summary of one group's answers.
pub fn why_buy_group(answers: &[WhyBuyAnswer]) -> WhyBuyGroup {
    let coded: Vec<&WhyBuyAnswer> = answers.iter().filter(|a| !a.is_empty()).collect();
    let n = coded.len() as f64;
    let with = |kind: CodeKind| {
        coded
            .iter()
            .filter(|a| a.iter().any(|(_, k)| *k == kind))
            .count()
    };
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    for a in &coded {
        // An answer counts once per code.
        let codes: BTreeSet<&str> = a.iter().map(|(c, _)| c.as_str()).collect();
        for c in codes {
            *counts.entry(c).or_default() += 1;
        }
    }
    let mut codes: Vec<(u64, CodeShare)> = counts
        .into_iter()
        .map(|(code, k)| {
            (
                k,
                CodeShare {
                    code: code.to_owned(),
                    share: ratio(k as f64, n),
                    points: Vec::new(),
                },
            )
        })
        .collect();
    codes.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.code.cmp(&b.1.code)));
    WhyBuyGroup {
        answers: answers.len() as u64,
        coded: coded.len() as u64,
        interaction_share: ratio(with(CodeKind::Interaction) as f64, n),
        product_share: ratio(with(CodeKind::Product) as f64, n),
        codes: codes.into_iter().map(|(_, s)| s).collect(),
    }
}

/// Why customers buy: the executives' (and owners') answers beside the customers'.
pub fn why_buy(executives: &[WhyBuyAnswer], customers: &[WhyBuyAnswer]) -> WhyBuySummary {
    let executives = why_buy_group(executives);
    let customers = why_buy_group(customers);
    let share = |g: &WhyBuyGroup, code: &str| -> Option<f64> {
        if g.coded == 0 {
            return None;
        }
        Some(
            g.codes
                .iter()
                .find(|c| c.code == code)
                .and_then(|c| c.share)
                .unwrap_or(0.0),
        )
    };
    let all: BTreeSet<&str> = executives
        .codes
        .iter()
        .chain(&customers.codes)
        .map(|c| c.code.as_str())
        .collect();
    let mut gap: Vec<Gap> = all
        .into_iter()
        .map(|code| Gap {
            code: code.to_owned(),
            gap: share(&executives, code)
                .zip(share(&customers, code))
                .map(|(e, c)| e - c),
        })
        .collect();
    gap.sort_by(|a, b| {
        let size = |g: &Gap| g.gap.map_or(-1.0, f64::abs);
        size(b)
            .total_cmp(&size(a))
            .then_with(|| a.code.cmp(&b.code))
    });
    WhyBuySummary {
        executives,
        customers,
        gap,
    }
}

/// Where an answer falls in the double-coded sample: the answers of a family ranked by this
/// key (the SHA-256 of family and answer id) make the same sample for every coder and every
/// run, and a sample of N+1 holds the sample of N.
pub fn sample_key(family: Family, answer: &str) -> [u8; 32] {
    Sha256::digest(format!("code-sample\u{0}{}\u{0}{answer}", family.as_str()).as_bytes()).into()
}

/// The id of a why-buy statement of the senior team: from who gave it, when and what.
pub fn statement_id(actor: &str, at: i64, text: &str) -> String {
    let digest = Sha256::digest(format!("why-buy\u{0}{actor}\u{0}{at}\u{0}{text}").as_bytes());
    format!("wb_{}", &crate::access::hex(&digest)[..24])
}

/// Cohen's kappa of one code over a double-coded sample, each pair whether the first and the
/// second coder tagged the answer: `(Po − Pe) / (1 − Pe)`, `None` when `Pe = 1` or the sample
/// is empty.
pub fn kappa(pairs: &[(bool, bool)]) -> Option<f64> {
    if pairs.is_empty() {
        return None;
    }
    let n = pairs.len() as f64;
    let agree = pairs.iter().filter(|(a, b)| a == b).count() as f64;
    let p1 = pairs.iter().filter(|(a, _)| *a).count() as f64 / n;
    let p2 = pairs.iter().filter(|(_, b)| *b).count() as f64 / n;
    let po = agree / n;
    let pe = p1 * p2 + (1.0 - p1) * (1.0 - p2);
    if pe == 1.0 {
        return None;
    }
    Some((po - pe) / (1.0 - pe))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(nps: Option<u8>, change: bool, codes: &[&str]) -> ThemeInput {
        ThemeInput {
            nps,
            change,
            codes: codes.iter().map(|c| (*c).to_owned()).collect(),
        }
    }

    #[test]
    fn themes_count_mentions_and_what_they_cost_in_nps() {
        let r = [
            input(Some(2), true, &["wait-time", "price"]),
            input(Some(4), true, &["wait-time"]),
            input(Some(10), true, &["price"]),
            input(Some(9), true, &[]),
            input(None, true, &["staff"]),
            input(Some(10), false, &[]),
        ];
        let unreliable: BTreeSet<String> = ["staff".to_owned()].into();
        let t = themes(&r, &unreliable);
        let got: Vec<(&str, u64)> = t.iter().map(|t| (t.code.as_str(), t.mentions)).collect();
        // Ties by key: price before wait-time.
        assert_eq!(got, [("price", 2), ("wait-time", 2), ("staff", 1)]);
        assert_eq!(t[0].share, Some(2.0 / 5.0));
        // nps(R): 5 answers, 3 promoters, 2 detractors: 20. Without wait-time's two
        // detractors: 3 promoters of 3: 100.
        assert_eq!(t[1].nps_impact, Some(20.0 - 100.0));
        // Without price's (2 and 10): 9, 4, 10 → 2 promoters, 1 detractor of 3.
        assert!((t[0].nps_impact.unwrap() - (20.0 - 100.0 / 3.0)).abs() < 1e-9);
        // staff's answer had no nps: R without it has the same NPS.
        assert_eq!(t[2].nps_impact, Some(0.0));
        assert!(t[2].unreliable && !t[0].unreliable);
        assert!(themes(&[], &BTreeSet::new()).is_empty());
        // No NPS at all: no impact.
        let t = themes(&[input(None, true, &["price"])], &BTreeSet::new());
        assert_eq!(t[0].nps_impact, None);
    }

    #[test]
    fn why_buy_splits_product_from_interaction_and_finds_the_gap() {
        use CodeKind::*;
        let a = |codes: &[(&str, CodeKind)]| -> WhyBuyAnswer {
            codes.iter().map(|(c, k)| ((*c).to_owned(), *k)).collect()
        };
        let executives = [
            a(&[("price", Product)]),
            a(&[("price", Product), ("range", Product)]),
            a(&[("ease", Interaction)]),
            a(&[]),
        ];
        let customers = [
            a(&[("ease", Interaction)]),
            a(&[("ease", Interaction), ("price", Product)]),
        ];
        let s = why_buy(&executives, &customers);
        assert_eq!((s.executives.answers, s.executives.coded), (4, 3));
        assert_eq!(s.executives.product_share, Some(2.0 / 3.0));
        assert_eq!(s.executives.interaction_share, Some(1.0 / 3.0));
        assert_eq!(s.customers.interaction_share, Some(1.0));
        assert_eq!(s.customers.product_share, Some(0.5));
        assert_eq!(s.executives.codes[0].code, "price");
        let gap: Vec<(&str, f64)> = s
            .gap
            .iter()
            .map(|g| (g.code.as_str(), g.gap.unwrap()))
            .collect();
        // ease: 1/3 − 1 = −2/3; price: 2/3 − 1/2 = 1/6; range: 1/3 − 0.
        assert_eq!(gap[0].0, "ease");
        assert!((gap[0].1 + 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(gap[1].0, "range");
        assert_eq!(gap[2].0, "price");
        // A group with nothing coded: shares and gaps are null.
        let s = why_buy(&executives, &[a(&[])]);
        assert_eq!(s.customers.coded, 0);
        assert_eq!(s.customers.product_share, None);
        assert!(s.gap.iter().all(|g| g.gap.is_none()));
    }

    #[test]
    fn kappa_is_cohens_and_null_when_chance_agreement_is_certain() {
        // Both tag 2 of 4, agreeing on 3: Po = 0.75, Pe = 0.5, kappa = 0.5.
        let k = kappa(&[(true, true), (true, false), (false, false), (false, false)]);
        assert_eq!(k, Some(0.5));
        assert!(k.unwrap() < RELIABLE_KAPPA);
        assert_eq!(kappa(&[(true, true), (false, false)]), Some(1.0));
        // Neither coder ever tags (or both always do): Pe = 1.
        assert_eq!(kappa(&[(false, false), (false, false)]), None);
        assert_eq!(kappa(&[(true, true)]), None);
        assert_eq!(kappa(&[]), None);
        // Complete disagreement with balanced shares: −1.
        assert_eq!(kappa(&[(true, false), (false, true)]), Some(-1.0));
    }
}
