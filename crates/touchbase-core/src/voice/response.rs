//! A survey response from its text (PRODUCT.md, "Survey responses wire format v1"): every
//! broken rule named by field and rule, as for events ([`crate::event::Problem`]); then
//! checked against its survey ([`check`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::survey::{Builtin, QuestionType, Survey, TEXT_MAX};
use crate::event::{
    Problem, canonical_id, instant, kind_of, optional_string, problem, shown, text_ok,
};
use crate::validate::{KEY_RULE, is_key};

const TOP_LEVEL: [&str; 7] = [
    "id",
    "survey",
    "point",
    "at",
    "invitation",
    "party",
    "answers",
];

/// The answers of a response: the built-in ones and the survey's own (by question key).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Answers {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nps: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csat: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ces: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why_buy: Option<String>,
    /// The survey's own questions: a string (choice, text) or a list of strings (multi).
    #[serde(flatten)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub own: BTreeMap<String, Value>,
}

impl Answers {
    /// The score given to a built-in scale question.
    pub fn score(&self, b: Builtin) -> Option<u8> {
        match b {
            Builtin::Nps => self.nps,
            Builtin::Csat => self.csat,
            Builtin::Ces => self.ces,
            Builtin::Change | Builtin::WhyBuy => None,
        }
    }

    /// The open text given to a built-in text question.
    pub fn text(&self, b: Builtin) -> Option<&str> {
        match b {
            Builtin::Change => self.change.as_deref(),
            Builtin::WhyBuy => self.why_buy.as_deref(),
            _ => None,
        }
    }

    /// Whether nothing is answered.
    pub fn is_empty(&self) -> bool {
        self.nps.is_none()
            && self.csat.is_none()
            && self.ces.is_none()
            && self.change.is_none()
            && self.why_buy.is_none()
            && self.own.is_empty()
    }
}

/// A response as the wire format gives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Response {
    pub id: String,
    pub survey: String,
    pub point: String,
    /// The instant of the interaction it is about, in microseconds since the epoch.
    pub at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invitation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub party: Option<String>,
    pub answers: Answers,
}

/// Reads one response from its text; `now_us` as for events (an `at` more than 24 h ahead is
/// refused). Every broken rule of the wire format is reported; what the survey asks is
/// [`check`]'s.
pub fn read(text: &str, now_us: i64) -> Result<Response, Vec<Problem>> {
    let raw: Value =
        serde_json::from_str(text).map_err(|e| vec![problem("", format!("not JSON: {e}"))])?;
    decode(&raw, now_us)
}

/// [`read`] from a parsed value.
pub fn decode(raw: &Value, now_us: i64) -> Result<Response, Vec<Problem>> {
    let Some(object) = raw.as_object() else {
        return Err(vec![problem(
            "",
            format!("a response must be a JSON object, got {}", kind_of(raw)),
        )]);
    };
    let mut problems = Vec::new();
    for key in object.keys() {
        if !TOP_LEVEL.contains(&key.as_str()) {
            problems.push(problem(
                key,
                "unknown field; the fields are id, survey, point, at, invitation, party, answers",
            ));
        }
    }
    let id = match object.get("id") {
        None | Some(Value::Null) => canonical_id(raw),
        Some(Value::String(s))
            if !s.is_empty() && s.chars().count() <= 128 && !s.contains('\0') =>
        {
            s.clone()
        }
        Some(other) => {
            problems.push(problem(
                "id",
                format!(
                    "must be a string of 1 to 128 characters, got {}",
                    shown(other)
                ),
            ));
            String::new()
        }
    };
    let mut key = |field: &str, what: &str| match object.get(field) {
        Some(Value::String(s)) if is_key(s) => s.clone(),
        None | Some(Value::Null) => {
            problems.push(problem(field, format!("is required: {what}")));
            String::new()
        }
        Some(other) => {
            problems.push(problem(field, format!("{KEY_RULE}, got {}", shown(other))));
            String::new()
        }
    };
    let survey = key("survey", "the key of the survey it answers");
    let point = key("point", "the key of the point of interaction it is about");
    let at = match object.get("at") {
        Some(Value::String(s)) => instant(s, now_us).unwrap_or_else(|why| {
            problems.push(problem("at", why));
            0
        }),
        None | Some(Value::Null) => {
            problems.push(problem(
                "at",
                "is required: the RFC 3339 instant of the interaction, e.g. 2026-03-01T09:30:00Z",
            ));
            0
        }
        Some(other) => {
            problems.push(problem(
                "at",
                format!("must be an RFC 3339 string, got {}", shown(other)),
            ));
            0
        }
    };
    let invitation = optional_string(object, "invitation", 128, &mut problems);
    let party = optional_string(object, "party", 128, &mut problems);
    let answers = match object.get("answers") {
        None | Some(Value::Null) => Answers::default(),
        Some(Value::Object(a)) => answers(a, &mut problems),
        Some(other) => {
            problems.push(problem(
                "answers",
                format!("must be an object, got {}", shown(other)),
            ));
            Answers::default()
        }
    };
    if problems.is_empty() {
        Ok(Response {
            id,
            survey,
            point,
            at,
            invitation,
            party,
            answers,
        })
    } else {
        Err(problems)
    }
}

fn answers(a: &Map<String, Value>, problems: &mut Vec<Problem>) -> Answers {
    let mut out = Answers::default();
    for (key, value) in a {
        let field = format!("answers.{key}");
        if value.is_null() {
            continue;
        }
        match Builtin::parse(key) {
            Some(b) => match b.scale() {
                Some((lo, hi)) => match value.as_u64() {
                    Some(v) if (u64::from(lo)..=u64::from(hi)).contains(&v) => {
                        let v = Some(v as u8);
                        match b {
                            Builtin::Nps => out.nps = v,
                            Builtin::Csat => out.csat = v,
                            _ => out.ces = v,
                        }
                    }
                    _ => problems.push(problem(
                        &field,
                        format!("must be an integer from {lo} to {hi}, got {}", shown(value)),
                    )),
                },
                None => match value.as_str().filter(|s| text_ok(s, TEXT_MAX)) {
                    Some(s) if b == Builtin::Change => out.change = Some(s.to_owned()),
                    Some(s) => out.why_buy = Some(s.to_owned()),
                    None => problems.push(problem(
                        &field,
                        format!(
                            "must be a string of at most {TEXT_MAX} characters, got {}",
                            shown(value)
                        ),
                    )),
                },
            },
            None if !is_key(key) || key.contains('.') => problems.push(problem(
                &field,
                "is not a question key: lowercase letters, digits, '-' or '_'",
            )),
            None => match value {
                Value::String(s) if s.chars().count() <= TEXT_MAX && !s.contains('\0') => {
                    out.own.insert(key.clone(), value.clone());
                }
                Value::Array(items)
                    if items.iter().all(|i| i.as_str().is_some_and(|s| s.chars().count() <= 200)) =>
                {
                    out.own.insert(key.clone(), value.clone());
                }
                _ => problems.push(problem(
                    &field,
                    format!(
                        "must be a string (a choice or text question) or a list of strings (a multiple choice), got {}",
                        shown(value)
                    ),
                )),
            },
        }
    }
    out
}

/// Every rule `response` breaks against its survey: the survey covers its point, and each
/// answer is to a question the survey asks, by that question's rule (one of the options of a
/// choice, options of a multiple choice each once).
pub fn check(response: &Response, survey: &Survey) -> Vec<Problem> {
    let mut out = Vec::new();
    if !survey.covers(&response.point) {
        out.push(problem(
            "point",
            format!(
                "the survey {} does not ask about {}; it asks about {}",
                survey.key,
                response.point,
                survey.points.join(", ")
            ),
        ));
    }
    let a = &response.answers;
    let builtins = [
        (Builtin::Nps, a.nps.is_some()),
        (Builtin::Csat, a.csat.is_some()),
        (Builtin::Ces, a.ces.is_some()),
        (Builtin::Change, a.change.is_some()),
        (Builtin::WhyBuy, a.why_buy.is_some()),
    ];
    for (b, given) in builtins {
        if given && !survey.asks(b) {
            out.push(problem(
                &format!("answers.{}", b.key()),
                format!("the survey {} does not ask this question", survey.key),
            ));
        }
    }
    for (key, value) in &a.own {
        let field = format!("answers.{key}");
        let Some(q) = survey.own(key) else {
            out.push(problem(
                &field,
                format!("the survey {} asks no question {key}", survey.key),
            ));
            continue;
        };
        let option = |s: &str| q.options.iter().any(|o| o == s);
        let rule = match (q.kind, value) {
            (QuestionType::Text, Value::String(_)) => None,
            (QuestionType::Choice, Value::String(s)) if option(s) => None,
            (QuestionType::Multi, Value::Array(items)) => {
                let picked: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
                let twice = picked
                    .iter()
                    .enumerate()
                    .any(|(i, p)| picked[..i].contains(p));
                (!picked.iter().all(|p| option(p)) || twice)
                    .then_some(())
                    .map(|_| format!("must list some of {} each once", q.options.join(", ")))
            }
            (QuestionType::Text, _) => Some("must be a string".to_owned()),
            (QuestionType::Choice, _) => Some(format!("must be one of {}", q.options.join(", "))),
            (QuestionType::Multi, _) => Some(format!(
                "must be a list of some of {}",
                q.options.join(", ")
            )),
        };
        if let Some(rule) = rule {
            out.push(problem(&field, format!("{rule}, got {}", shown(value))));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000_000;

    fn survey() -> Survey {
        serde_yaml_ng::from_str(
            r#"
key: after-contact
name: After your contact with us
points: [phone.care, web.chat]
questions:
  - nps
  - csat
  - change
  - { key: channel_pref, type: choice, text: "How would you rather reach us?", options: [phone, chat, email] }
  - { key: topics, type: multi, text: "What was it about?", options: [billing, delivery] }
"#,
        )
        .unwrap()
    }

    fn fields(problems: &[Problem]) -> Vec<&str> {
        problems.iter().map(|p| p.field.as_str()).collect()
    }

    #[test]
    fn a_good_response_reads_and_fits_its_survey() {
        let text = r#"{"survey":"after-contact","point":"phone.care","at":"2026-03-03T10:00:00Z","party":"c-1",
            "answers":{"nps":9,"csat":4,"change":"Shorter queues","channel_pref":"chat","topics":["billing"]}}"#;
        let r = read(text, NOW).unwrap();
        assert!(
            r.id.starts_with("h:"),
            "no id: the hash of the canonical JSON"
        );
        assert_eq!(r.answers.nps, Some(9));
        assert_eq!(r.answers.own["channel_pref"], "chat");
        assert!(check(&r, &survey()).is_empty());
        // The same response read again has the same id.
        assert_eq!(read(text, NOW).unwrap().id, r.id);
    }

    #[test]
    fn every_broken_rule_is_named() {
        let r = read(
            r#"{"survey":"A","at":"yesterday","extra":1,"invitation":7,
                "answers":{"nps":11,"csat":0,"ces":"7","change":5,"Bad Key":"x","n":{"a":1}}}"#,
            NOW,
        )
        .unwrap_err();
        assert_eq!(
            fields(&r),
            [
                "extra",
                "survey",
                "point",
                "at",
                "invitation",
                "answers.Bad Key",
                "answers.ces",
                "answers.change",
                "answers.csat",
                "answers.n",
                "answers.nps"
            ],
            "{r:?}"
        );
        assert!(r.iter().any(|p| p.rule.contains("from 0 to 10")));
        assert_eq!(fields(&read("[1]", NOW).unwrap_err()), [""]);
        assert_eq!(fields(&read("{", NOW).unwrap_err()), [""]);
    }

    #[test]
    fn answers_must_fit_the_survey_asked() {
        let r = read(
            r#"{"survey":"after-contact","point":"web.order","at":"2026-03-03T10:00:00Z",
                "answers":{"ces":3,"channel_pref":"fax","topics":["billing","billing"],"other":"x"}}"#,
            NOW,
        )
        .unwrap();
        let problems = check(&r, &survey());
        assert_eq!(
            fields(&problems),
            [
                "point",
                "answers.ces",
                "answers.channel_pref",
                "answers.other",
                "answers.topics"
            ]
        );
        assert!(
            problems[2].rule.contains("phone, chat, email"),
            "{problems:?}"
        );
    }
}
