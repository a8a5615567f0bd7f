//! Surveys (PRODUCT.md, "Survey responses wire format v1"): which points a survey asks about,
//! its questions (the built-in ones and its own), and what it keeps of the respondent.

use serde::{Deserialize, Serialize};

/// A question every survey may ask, with its answer's rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Builtin {
    /// "How likely are you to recommend us?" 0–10.
    Nps,
    /// "How satisfied were you with this interaction?" 1–5.
    Csat,
    /// "The organization made it easy for me": 1 (strongly disagree) to 7 (strongly agree).
    Ces,
    /// "What would you change about this interaction?" Open text.
    Change,
    /// "Why do you buy from us rather than from a competitor?" Open text.
    WhyBuy,
}

pub const BUILTINS: [Builtin; 5] = [
    Builtin::Nps,
    Builtin::Csat,
    Builtin::Ces,
    Builtin::Change,
    Builtin::WhyBuy,
];

/// The longest open answer, in characters.
pub const TEXT_MAX: usize = 4000;

impl Builtin {
    pub fn key(self) -> &'static str {
        match self {
            Builtin::Nps => "nps",
            Builtin::Csat => "csat",
            Builtin::Ces => "ces",
            Builtin::Change => "change",
            Builtin::WhyBuy => "why_buy",
        }
    }

    pub fn parse(key: &str) -> Option<Builtin> {
        BUILTINS.into_iter().find(|b| b.key() == key)
    }

    /// The lowest and highest score of a scale question; `None` for open text.
    pub fn scale(self) -> Option<(u8, u8)> {
        match self {
            Builtin::Nps => Some((0, 10)),
            Builtin::Csat => Some((1, 5)),
            Builtin::Ces => Some((1, 7)),
            Builtin::Change | Builtin::WhyBuy => None,
        }
    }
}

/// The type of a survey's own question.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum QuestionType {
    /// One of the options.
    Choice,
    /// Any of the options (a list).
    Multi,
    /// Open text, at most 4000 characters.
    Text,
}

/// A survey's own question.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct OwnQuestion {
    pub key: String,
    #[serde(rename = "type")]
    pub kind: QuestionType,
    pub text: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

/// A question: a built-in one by its key, or the survey's own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum Question {
    Builtin(Builtin),
    Own(OwnQuestion),
}

impl Question {
    pub fn key(&self) -> &str {
        match self {
            Question::Builtin(b) => b.key(),
            Question::Own(q) => &q.key,
        }
    }
}

/// What a survey keeps of its respondent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Identity {
    /// The party is kept with the response.
    #[default]
    Identified,
    /// The party is kept as the pseudonymous id the invitation or the import gave.
    Pseudonymous,
    /// The party is dropped when the response is recorded; only the point and the day of the
    /// interaction are kept.
    Anonymous,
}

/// A survey of the inventory (`surveys:`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Survey {
    pub key: String,
    pub name: String,
    /// The points it asks about.
    pub points: Vec<String>,
    pub questions: Vec<Question>,
    #[serde(default)]
    pub identity: Identity,
    /// The version of its questions: raised by every write that changes them, so that an
    /// invitation and its response name the questions they were asked.
    #[serde(default = "first_version")]
    pub version: u32,
}

fn first_version() -> u32 {
    1
}

impl Survey {
    /// Whether the survey asks the built-in question `b`.
    pub fn asks(&self, b: Builtin) -> bool {
        self.questions.contains(&Question::Builtin(b))
    }

    /// The survey's own question named `key`.
    pub fn own(&self, key: &str) -> Option<&OwnQuestion> {
        self.questions.iter().find_map(|q| match q {
            Question::Own(o) if o.key == key => Some(o),
            _ => None,
        })
    }

    /// Whether it asks about the point `key`.
    pub fn covers(&self, point: &str) -> bool {
        self.points.iter().any(|p| p == point)
    }

    /// Every broken rule of the survey alone, each `(field, rule)` within it (`points[1]`);
    /// that its points exist is the inventory's check.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut say = |field: String, rule: String| out.push((field, rule));
        if self.name.trim().is_empty() {
            say("name".into(), "must not be empty".into());
        }
        if self.points.is_empty() {
            say(
                "points".into(),
                "must name at least one point of interaction".into(),
            );
        }
        for (i, p) in self.points.iter().enumerate() {
            if self.points[..i].contains(p) {
                say(format!("points[{i}]"), format!("names {p} twice"));
            }
        }
        if self.questions.is_empty() {
            say("questions".into(), "must ask at least one question".into());
        }
        if self.version == 0 {
            say("version".into(), "must be 1 or more".into());
        }
        for (i, q) in self.questions.iter().enumerate() {
            let at = |f: &str| {
                if f.is_empty() {
                    format!("questions[{i}]")
                } else {
                    format!("questions[{i}].{f}")
                }
            };
            if self.questions[..i].iter().any(|o| o.key() == q.key()) {
                say(at(""), format!("asks {} twice", q.key()));
            }
            let Question::Own(own) = q else { continue };
            if !crate::validate::is_key(&own.key) || own.key.contains('.') {
                say(
                    at("key"),
                    "must be lowercase letters, digits, '-' or '_', starting with a letter or digit"
                        .into(),
                );
            } else if Builtin::parse(&own.key).is_some() {
                say(
                    at("key"),
                    format!(
                        "{} is a built-in question: list it by its key alone",
                        own.key
                    ),
                );
            }
            if own.text.trim().is_empty() {
                say(at("text"), "must not be empty".into());
            }
            match own.kind {
                QuestionType::Text if !own.options.is_empty() => {
                    say(at("options"), "a text question has no options".into())
                }
                QuestionType::Choice | QuestionType::Multi if own.options.len() < 2 => say(
                    at("options"),
                    "a choice question needs at least two options".into(),
                ),
                _ => {}
            }
            for (j, o) in own.options.iter().enumerate() {
                if o.trim().is_empty() || o.chars().count() > 200 {
                    say(
                        at(&format!("options[{j}]")),
                        "must be 1 to 200 characters".into(),
                    );
                } else if own.options[..j].contains(o) {
                    say(at(&format!("options[{j}]")), format!("lists {o:?} twice"));
                }
            }
        }
        out
    }
}

/// Raises the version of each survey of `after` whose questions differ from the same survey's
/// in `before` (to one more than the stored version, unless the new one is higher already), so
/// that an invitation and its response always name the questions they were asked.
pub fn bump_versions(before: &[Survey], after: &mut [Survey]) {
    for survey in after.iter_mut() {
        if let Some(old) = before.iter().find(|s| s.key == survey.key) {
            if old.questions != survey.questions && survey.version <= old.version {
                survey.version = old.version + 1;
            } else if old.questions == survey.questions {
                // The version follows the questions only: it is not edited by hand.
                survey.version = old.version;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AFTER_CONTACT: &str = r#"
key: after-contact
name: After your contact with us
points: [phone.care, web.chat]
questions:
  - nps
  - csat
  - ces
  - change
  - { key: channel_pref, type: choice, text: "How would you rather reach us?", options: [phone, chat, email] }
identity: pseudonymous
"#;

    #[test]
    fn a_survey_reads_from_its_file_and_asks_what_it_lists() {
        let s: Survey = serde_yaml_ng::from_str(AFTER_CONTACT).unwrap();
        assert!(s.problems().is_empty(), "{:?}", s.problems());
        assert_eq!(s.version, 1);
        assert_eq!(s.identity, Identity::Pseudonymous);
        assert!(s.asks(Builtin::Nps) && !s.asks(Builtin::WhyBuy));
        assert_eq!(s.own("channel_pref").unwrap().options.len(), 3);
        assert!(s.covers("web.chat") && !s.covers("web.order"));
        // It writes back as it reads.
        let again: Survey =
            serde_yaml_ng::from_str(&serde_yaml_ng::to_string(&s).unwrap()).unwrap();
        assert_eq!(again, s);
    }

    #[test]
    fn changed_questions_make_a_new_version() {
        let old: Survey = serde_yaml_ng::from_str(AFTER_CONTACT).unwrap();
        let mut same = vec![Survey {
            version: 1,
            name: "Renamed".into(),
            ..old.clone()
        }];
        bump_versions(std::slice::from_ref(&old), &mut same);
        assert_eq!(same[0].version, 1, "a new name is not new questions");
        let mut asked = vec![Survey {
            questions: vec![Question::Builtin(Builtin::Nps)],
            ..old.clone()
        }];
        bump_versions(std::slice::from_ref(&old), &mut asked);
        assert_eq!(asked[0].version, 2);
        let mut new = vec![Survey {
            key: "other".into(),
            ..old.clone()
        }];
        bump_versions(std::slice::from_ref(&old), &mut new);
        assert_eq!(new[0].version, 1);
    }

    #[test]
    fn a_bad_survey_names_each_field() {
        let s: Survey = serde_yaml_ng::from_str(
            r#"
key: s
name: " "
points: [a, a]
questions:
  - nps
  - nps
  - { key: csat, type: text, text: x }
  - { key: pick, type: choice, text: "", options: [one] }
  - { key: free, type: text, text: x, options: [a] }
"#,
        )
        .unwrap();
        let fields: Vec<String> = s.problems().into_iter().map(|(f, _)| f).collect();
        assert_eq!(
            fields,
            [
                "name",
                "points[1]",
                "questions[1]",
                "questions[2].key",
                "questions[3].text",
                "questions[3].options",
                "questions[4].options"
            ]
        );
        assert!(
            serde_yaml_ng::from_str::<Survey>("key: s\nname: n\npoints: [a]\nquestions: [nope]\n")
                .is_err()
        );
    }
}
