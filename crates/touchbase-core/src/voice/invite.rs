//! Who is invited to a survey (R14): one invitation per eligible interaction — a key customer's
//! accepted event at one of the survey's points — after the contact rules, every suppression
//! kept with its reason. Pure: the store supplies the interactions and the invitations already
//! issued; [`plan`] decides.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

const DAY_US: i64 = 86_400_000_000;

/// The contact rules, from the organization's settings (`survey.*`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ContactRules {
    /// At most one invitation per party and survey within this many days.
    pub per_survey_days: u64,
    /// At most one invitation per party, whatever the survey, within this many days.
    pub any_survey_days: u64,
    /// The share of eligible interactions invited (0 to 1), drawn by hash: the same
    /// interaction is always in or always out.
    pub sampling: f64,
}

/// An interaction that may be invited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub event_id: String,
    pub point: String,
    pub party: String,
    /// Microseconds since the epoch.
    pub at: i64,
}

/// An invitation on record, as the contact rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub survey: String,
    pub party: String,
    pub at: i64,
}

/// Why an eligible interaction was not invited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Suppressed {
    /// Outside the sampling rate.
    Sampled,
    /// The party was invited to this survey within `per_survey_days`.
    SurveyedRecently,
    /// The party was invited to a survey within `any_survey_days`.
    ContactedRecently,
}

impl Suppressed {
    pub fn as_str(self) -> &'static str {
        match self {
            Suppressed::Sampled => "sampled",
            Suppressed::SurveyedRecently => "surveyed_recently",
            Suppressed::ContactedRecently => "contacted_recently",
        }
    }

    pub fn parse(s: &str) -> Option<Suppressed> {
        [
            Suppressed::Sampled,
            Suppressed::SurveyedRecently,
            Suppressed::ContactedRecently,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

/// What [`plan`] decided for one interaction.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Invite(Candidate),
    Suppress(Candidate, Suppressed),
}

/// The id of the invitation of `survey` for the interaction `event_id`: the same whenever it
/// is planned again.
pub fn invitation_id(survey: &str, event_id: &str) -> String {
    let digest = Sha256::digest(format!("{survey}\u{0}{event_id}").as_bytes());
    format!("inv_{}", &crate::access::hex(&digest)[..32])
}

/// Whether the interaction falls within the sampling rate: the first 64 bits of the SHA-256 of
/// survey and event id, as a share of 2⁶⁴, below `rate`.
pub fn sampled_in(survey: &str, event_id: &str, rate: f64) -> bool {
    if rate >= 1.0 {
        return true;
    }
    let digest = Sha256::digest(format!("sample\u{0}{survey}\u{0}{event_id}").as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(first) as f64) < rate * 2f64.powi(64)
}

/// Decides each candidate of `survey`, in (`at`, `event_id`) order: sampled, then the survey's
/// own contact rule, then the rule across surveys, each against the invitations on record
/// (`contacts`) and those this plan makes. Days are counted between interaction instants, so
/// planning a past period gives what planning it as it happened would have.
pub fn plan(
    survey: &str,
    mut candidates: Vec<Candidate>,
    contacts: &[Contact],
    rules: &ContactRules,
) -> Vec<Decision> {
    candidates.sort_by(|a, b| (a.at, &a.event_id).cmp(&(b.at, &b.event_id)));
    let per_survey = i64::try_from(rules.per_survey_days)
        .unwrap_or(i64::MAX / DAY_US)
        .saturating_mul(DAY_US);
    let any_survey = i64::try_from(rules.any_survey_days)
        .unwrap_or(i64::MAX / DAY_US)
        .saturating_mul(DAY_US);
    // Each party's contacts, by survey.
    let mut by_party: BTreeMap<String, Vec<(bool, i64)>> = BTreeMap::new();
    for c in contacts {
        by_party
            .entry(c.party.clone())
            .or_default()
            .push((c.survey == survey, c.at));
    }
    let within = |a: i64, b: i64, span: i64| (a - b).abs() < span;
    let mut out = Vec::with_capacity(candidates.len());
    for c in candidates {
        if !sampled_in(survey, &c.event_id, rules.sampling) {
            out.push(Decision::Suppress(c, Suppressed::Sampled));
            continue;
        }
        let past = by_party.entry(c.party.clone()).or_default();
        let reason = if past
            .iter()
            .any(|(same, at)| *same && within(c.at, *at, per_survey))
        {
            Some(Suppressed::SurveyedRecently)
        } else if past.iter().any(|(_, at)| within(c.at, *at, any_survey)) {
            Some(Suppressed::ContactedRecently)
        } else {
            None
        };
        match reason {
            Some(r) => out.push(Decision::Suppress(c, r)),
            None => {
                past.push((true, c.at));
                out.push(Decision::Invite(c));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at_day(d: i64) -> i64 {
        1_772_409_600_000_000 + d * DAY_US
    }

    fn candidate(id: &str, party: &str, day: i64) -> Candidate {
        Candidate {
            event_id: id.to_owned(),
            point: "web.order".to_owned(),
            party: party.to_owned(),
            at: at_day(day),
        }
    }

    fn reasons(decisions: &[Decision]) -> Vec<(String, Option<Suppressed>)> {
        decisions
            .iter()
            .map(|d| match d {
                Decision::Invite(c) => (c.event_id.clone(), None),
                Decision::Suppress(c, r) => (c.event_id.clone(), Some(*r)),
            })
            .collect()
    }

    #[test]
    fn contact_rules_keep_parties_from_being_asked_too_often() {
        let rules = ContactRules {
            per_survey_days: 30,
            any_survey_days: 7,
            sampling: 1.0,
        };
        let contacts = [Contact {
            survey: "other".into(),
            party: "p2".into(),
            at: at_day(-3),
        }];
        let decisions = plan(
            "s",
            vec![
                candidate("e3", "p1", 29),
                candidate("e1", "p1", 0),
                candidate("e2", "p1", 10),
                candidate("e4", "p1", 30),
                candidate("e5", "p2", 0),
                candidate("e6", "p2", 8),
            ],
            &contacts,
            &rules,
        );
        use Suppressed::*;
        assert_eq!(
            reasons(&decisions),
            [
                ("e1".into(), None),
                ("e5".into(), Some(ContactedRecently)),
                ("e6".into(), None),
                ("e2".into(), Some(SurveyedRecently)),
                ("e3".into(), Some(SurveyedRecently)),
                ("e4".into(), None),
            ]
        );
    }

    #[test]
    fn sampling_is_by_hash_and_near_its_rate() {
        let ids: Vec<String> = (0..10_000).map(|i| format!("e{i}")).collect();
        let kept = ids.iter().filter(|id| sampled_in("s", id, 0.25)).count();
        assert!((2_300..2_700).contains(&kept), "{kept}");
        // The same interaction always decides the same; another survey draws afresh.
        assert!(
            ids.iter()
                .all(|id| sampled_in("s", id, 0.25) == sampled_in("s", id, 0.25))
        );
        let other = ids
            .iter()
            .filter(|id| sampled_in("s", id, 0.25) != sampled_in("t", id, 0.25))
            .count();
        assert!(other > 1_000, "{other}");
        assert!(ids.iter().all(|id| !sampled_in("s", id, 0.0)));
        assert_eq!(invitation_id("s", "e1"), invitation_id("s", "e1"));
        assert_ne!(invitation_id("s", "e1"), invitation_id("t", "e1"));
    }
}
