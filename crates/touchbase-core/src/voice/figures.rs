//! The voice figures of METRICS.md ("Voice of the customer"): what a store counts
//! ([`VoiceTally`], integers only, so every store and every order of adding gives the same
//! numbers) and the figures computed from it ([`Voice`]).

use serde::{Deserialize, Serialize};

use crate::metrics::ratio;

/// The z of a 95 % interval.
const Z: f64 = 1.96;

/// The counts behind the voice figures of one scope (a point or a group) and period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VoiceTally {
    /// Invitations issued for the scope's interactions in the period (`|I|`).
    pub invitations: u64,
    /// Responses about the scope in the period (`|R|`).
    pub responses: u64,
    /// Responses of R that answer an invitation of I.
    pub answered: u64,
    /// Answers to `nps`, by score 0–10.
    pub nps: [u64; 11],
    /// Answers to `csat`, by score 1–5 (index 0 is 1).
    pub csat: [u64; 5],
    /// Answers to `ces`, by score 1–7 (index 0 is 1).
    pub ces: [u64; 7],
}

impl VoiceTally {
    /// Adds another tally's counts (a group, a longer period).
    pub fn merge(&mut self, other: &VoiceTally) {
        self.invitations += other.invitations;
        self.responses += other.responses;
        self.answered += other.answered;
        for (a, b) in self.nps.iter_mut().zip(other.nps) {
            *a += b;
        }
        for (a, b) in self.csat.iter_mut().zip(other.csat) {
            *a += b;
        }
        for (a, b) in self.ces.iter_mut().zip(other.ces) {
            *a += b;
        }
    }

    /// Counts one response with its scores (each absent when not answered; out of range is
    /// ignored: the wire format refuses it before it gets here).
    pub fn add_response(
        &mut self,
        invited: bool,
        nps: Option<u8>,
        csat: Option<u8>,
        ces: Option<u8>,
    ) {
        self.responses += 1;
        self.answered += u64::from(invited);
        if let Some(slot) = nps.and_then(|s| self.nps.get_mut(usize::from(s))) {
            *slot += 1;
        }
        if let Some(slot) = csat
            .and_then(|s| s.checked_sub(1))
            .and_then(|s| self.csat.get_mut(usize::from(s)))
        {
            *slot += 1;
        }
        if let Some(slot) = ces
            .and_then(|s| s.checked_sub(1))
            .and_then(|s| self.ces.get_mut(usize::from(s)))
        {
            *slot += 1;
        }
    }

    /// Answers to `nps`.
    pub fn nps_answers(&self) -> u64 {
        self.nps.iter().sum()
    }
}

/// The figures of METRICS.md's "Voice of the customer" for one scope and period, each `None`
/// (JSON `null`) where its denominator is 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Voice {
    pub invitations: u64,
    pub responses: u64,
    pub response_rate: Option<f64>,
    pub nps: Option<f64>,
    pub nps_margin: Option<f64>,
    pub csat_survey: Option<f64>,
    pub csat_survey_low: Option<f64>,
    pub csat_survey_high: Option<f64>,
    pub ces_agree: Option<f64>,
    pub ces_agree_low: Option<f64>,
    pub ces_agree_high: Option<f64>,
    pub voice: Option<f64>,
}

impl Voice {
    /// The figures of `t`; `voice` is null below `min_responses` responses (the setting
    /// `survey.min_responses`).
    pub fn compute(t: &VoiceTally, min_responses: u64) -> Voice {
        let (nps, nps_margin) = nps(&t.nps);
        let csat_k: u64 = t.csat[3..].iter().sum();
        let csat_m: u64 = t.csat.iter().sum();
        let ces_k: u64 = t.ces[4..].iter().sum();
        let ces_m: u64 = t.ces.iter().sum();
        let csat_survey = ratio(csat_k as f64, csat_m as f64);
        let ces_agree = ratio(ces_k as f64, ces_m as f64);
        let (csat_survey_low, csat_survey_high) = wilson(csat_k, csat_m).unzip();
        let (ces_agree_low, ces_agree_high) = wilson(ces_k, ces_m).unzip();
        let voice = if t.responses < min_responses {
            None
        } else {
            crate::metrics::mean_of_present(&[
                nps.map(|n| (n + 100.0) / 200.0),
                csat_survey,
                ces_agree,
            ])
        };
        Voice {
            invitations: t.invitations,
            responses: t.responses,
            response_rate: ratio(t.answered as f64, t.invitations as f64),
            nps,
            nps_margin,
            csat_survey,
            csat_survey_low,
            csat_survey_high,
            ces_agree,
            ces_agree_low,
            ces_agree_high,
            voice,
        }
    }
}

/// The net promoter score of answers counted by score 0–10, and its 95 % margin:
/// `100 × (p − d)` and `196 × sqrt((p + d − (p − d)²) / m)`; both `None` with no answer.
pub fn nps(by_score: &[u64; 11]) -> (Option<f64>, Option<f64>) {
    let m: u64 = by_score.iter().sum();
    if m == 0 {
        return (None, None);
    }
    let m = m as f64;
    let p = (by_score[9] + by_score[10]) as f64 / m;
    let d = by_score[..7].iter().sum::<u64>() as f64 / m;
    let score = 100.0 * (p - d);
    // p + d − (p − d)² is never negative in exact arithmetic; a rounding below 0 is 0.
    let variance = (p + d - (p - d) * (p - d)).max(0.0);
    (Some(score), Some(196.0 * (variance / m).sqrt()))
}

/// The Wilson 95 % interval of `k` of `m`: `(q + z²/2m ∓ z·sqrt(q(1−q)/m + z²/4m²)) / (1 + z²/m)`;
/// `None` when `m` is 0.
pub fn wilson(k: u64, m: u64) -> Option<(f64, f64)> {
    if m == 0 {
        return None;
    }
    let (k, m) = (k as f64, m as f64);
    let q = k / m;
    let z2 = Z * Z;
    let centre = q + z2 / (2.0 * m);
    let spread = Z * (q * (1.0 - q) / m + z2 / (4.0 * m * m)).sqrt();
    let scale = 1.0 + z2 / m;
    Some(((centre - spread) / scale, (centre + spread) / scale))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: Option<f64>, b: f64) {
        let a = a.expect("a figure");
        assert!((a - b).abs() < 1e-9, "{a} vs {b}");
    }

    #[test]
    fn nps_counts_promoters_less_detractors_with_its_margin() {
        // 10 answers: 9, 10, 10 promoters; 7, 8 passive; 0, 3, 5, 6, 6 detractors.
        let mut t = VoiceTally::default();
        for s in [9, 10, 10, 7, 8, 0, 3, 5, 6, 6] {
            t.add_response(false, Some(s), None, None);
        }
        let v = Voice::compute(&t, 10);
        let (p, d) = (0.3, 0.5);
        close(v.nps, 100.0 * (p - d));
        close(
            v.nps_margin,
            196.0 * ((p + d - (p - d) * (p - d)) / 10.0_f64).sqrt(),
        );
        close(v.voice, (v.nps.unwrap() + 100.0) / 200.0);
        // All promoters: a score of 100 and a margin of 0.
        let all = nps(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0]);
        assert_eq!(all, (Some(100.0), Some(0.0)));
        assert_eq!(nps(&[0; 11]), (None, None));
    }

    #[test]
    fn shares_carry_their_wilson_interval() {
        let mut t = VoiceTally::default();
        for s in [5, 4, 4, 3, 1] {
            t.add_response(true, None, Some(s), None);
        }
        for s in [7, 5, 4] {
            t.add_response(false, None, None, Some(s));
        }
        t.invitations = 10;
        let v = Voice::compute(&t, 1);
        close(v.csat_survey, 0.6);
        close(v.ces_agree, 2.0 / 3.0);
        close(v.response_rate, 0.5);
        assert_eq!(v.responses, 8);
        // Wilson by hand for 3 of 5.
        let (q, m, z) = (0.6, 5.0, 1.96_f64);
        let lo = (q + z * z / (2.0 * m) - z * (q * (1.0 - q) / m + z * z / (4.0 * m * m)).sqrt())
            / (1.0 + z * z / m);
        close(v.csat_survey_low, lo);
        assert!(v.csat_survey_high.unwrap() > 0.6 && v.csat_survey_high.unwrap() < 1.0);
        close(v.voice, (0.6 + 2.0 / 3.0) / 2.0);
        // 0 of m and m of m stay inside [0, 1].
        let (lo, hi) = wilson(0, 4).unwrap();
        assert!(lo.abs() < 1e-12 && hi > 0.0 && hi < 1.0);
        let (lo, hi) = wilson(4, 4).unwrap();
        assert!(lo > 0.0 && (hi - 1.0).abs() < 1e-12);
        assert_eq!(wilson(0, 0), None);
    }

    #[test]
    fn voice_waits_for_enough_responses_and_nulls_stay_null() {
        let mut t = VoiceTally::default();
        t.add_response(false, Some(10), None, None);
        t.add_response(false, None, None, None);
        let v = Voice::compute(&t, 3);
        assert_eq!(v.voice, None);
        assert_eq!(v.response_rate, None, "no invitation: no rate");
        assert_eq!(v.csat_survey, None);
        assert_eq!(v.csat_survey_low, None);
        close(v.nps, 100.0);
        assert_eq!(Voice::compute(&VoiceTally::default(), 0).voice, None);
    }

    #[test]
    fn tallies_merge_to_the_tally_of_all() {
        let mut a = VoiceTally::default();
        let mut b = VoiceTally::default();
        let mut all = VoiceTally::default();
        for (i, s) in [0u8, 4, 9, 10, 6].into_iter().enumerate() {
            let target = if i % 2 == 0 { &mut a } else { &mut b };
            target.add_response(i == 1, Some(s), Some(s % 5 + 1), Some(s % 7 + 1));
            all.add_response(i == 1, Some(s), Some(s % 5 + 1), Some(s % 7 + 1));
        }
        a.merge(&b);
        assert_eq!(a, all);
    }
}
