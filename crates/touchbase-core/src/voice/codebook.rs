//! The codebook (PRODUCT.md, "Codebook file"): versioned codes that tag open answers by
//! deterministic rules, and the coder that applies them.
//!
//! A pattern is a word or a phrase of words, its last word may end in `*` (any ending). It
//! occurs where its words stand in a row in the answer, compared case- and accent-insensitively
//! (`Café` is `cafe`), whole words only; a word is a run of letters, digits and apostrophes
//! (`'` or `’`). An occurrence with `no`, `not`, `never` or a word ending in `n't` among the
//! three words before it does not count. A code tags an answer when some `any` pattern occurs
//! (or `any` is empty), every `all` pattern occurs, and no `none` pattern occurs.

use rustc_hash::FxHashMap as HashMap;

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// How many words before an occurrence a negation reaches.
const NEGATION_REACH: usize = 3;

/// The family of a code: what customers would change, or why they buy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Family {
    Change,
    WhyBuy,
}

impl Family {
    pub const ALL: [Family; 2] = [Family::Change, Family::WhyBuy];

    /// The family's name in files, the store and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Change => "change",
            Family::WhyBuy => "why_buy",
        }
    }

    pub fn parse(s: &str) -> Option<Family> {
        Family::ALL.into_iter().find(|f| f.as_str() == s)
    }
}

/// What a `why_buy` code is about: the product (features, quality, price, range) or how the
/// organization deals with its customers (ease, trust, responsiveness, expertise, delivery).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CodeKind {
    Product,
    Interaction,
}

/// One code of the codebook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Code {
    pub key: String,
    pub family: Family,
    /// For `why_buy` codes: product or interaction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<CodeKind>,
    /// The points of interaction the code names (interaction codes link to them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub points: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub any: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub all: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub none: Vec<String>,
}

/// The codebook file: a version and its codes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Codebook {
    pub version: u32,
    pub codes: Vec<Code>,
}

/// Who made a tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TaggedBy {
    Rule,
    Person,
}

/// A code on an answer, with the span of its first occurrence in characters (`start`
/// inclusive, `end` exclusive; none for a code with no `any` or `all` pattern, or one a person
/// set).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Tag {
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span: Option<(usize, usize)>,
    pub by: TaggedBy,
}

/// A broken rule of a codebook, with where it is (`codes[2].any[0]`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {rule}")]
pub struct CodebookProblem {
    pub field: String,
    pub rule: String,
}

impl Codebook {
    /// Reads a codebook file (YAML), every broken rule named by field.
    pub fn from_yaml(text: &str) -> Result<Codebook, Vec<CodebookProblem>> {
        let book: Codebook = serde_yaml_ng::from_str(text).map_err(|e| {
            vec![CodebookProblem {
                field: String::new(),
                rule: format!("not a codebook file: {e}"),
            }]
        })?;
        let problems = book.problems();
        if problems.is_empty() {
            Ok(book)
        } else {
            Err(problems)
        }
    }

    /// Every broken rule: keys unique and of the key pattern, a kind on `why_buy` codes and
    /// none on `change` codes, patterns of words with `*` only at the end of the last word.
    pub fn problems(&self) -> Vec<CodebookProblem> {
        let mut out = Vec::new();
        let mut say = |field: String, rule: &str| {
            out.push(CodebookProblem {
                field,
                rule: rule.to_owned(),
            })
        };
        if self.version == 0 {
            say("version".into(), "must be 1 or more");
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, code) in self.codes.iter().enumerate() {
            let at = |f: &str| format!("codes[{i}].{f}");
            if !crate::validate::is_key(&code.key) {
                say(at("key"), crate::validate::KEY_RULE);
            } else if !seen.insert(code.key.as_str()) {
                say(at("key"), "must be unique in the codebook");
            }
            match (code.family, code.kind) {
                (Family::WhyBuy, None) => say(
                    at("kind"),
                    "a why_buy code needs a kind: product or interaction",
                ),
                (Family::Change, Some(_)) => say(at("kind"), "only why_buy codes have a kind"),
                _ => {}
            }
            if code.any.is_empty() && code.all.is_empty() {
                say(
                    at("any"),
                    "a code needs at least one `any` or `all` pattern, or it would tag every answer",
                );
            }
            for (list, patterns) in [("any", &code.any), ("all", &code.all), ("none", &code.none)] {
                for (j, p) in patterns.iter().enumerate() {
                    if let Err(rule) = Pattern::parse(p) {
                        say(at(&format!("{list}[{j}]")), &rule);
                    }
                }
            }
        }
        out
    }

    /// The codes of one family.
    pub fn family(&self, family: Family) -> impl Iterator<Item = &Code> {
        self.codes.iter().filter(move |c| c.family == family)
    }

    /// The code named `key`.
    pub fn code(&self, key: &str) -> Option<&Code> {
        self.codes.iter().find(|c| c.key == key)
    }
}

/// A pattern, read: its words normalized, and whether the last one takes any ending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    words: Vec<String>,
    prefix: bool,
}

impl Pattern {
    /// Reads a pattern; the rule it breaks otherwise.
    pub fn parse(text: &str) -> Result<Pattern, String> {
        let trimmed = text.trim();
        let (body, prefix) = match trimmed.strip_suffix('*') {
            Some(body) => (body, true),
            None => (trimmed, false),
        };
        if body.contains('*') {
            return Err(format!(
                "`*` may end only the last word of a pattern, got {text:?}"
            ));
        }
        let found: Vec<Word> = words(body).collect();
        if found.is_empty() {
            return Err(format!("a pattern needs at least one word, got {text:?}"));
        }
        // Nothing but words and the spaces between them.
        let mut rest = body;
        for w in &found {
            let before = &body[body.len() - rest.len()..w.bytes.0];
            if !before.chars().all(char::is_whitespace) {
                return Err(format!(
                    "a pattern is words (letters, digits, apostrophes) separated by spaces, got {text:?}"
                ));
            }
            rest = &body[w.bytes.1..];
        }
        if !rest.is_empty() && (prefix || !rest.chars().all(char::is_whitespace)) {
            return Err(format!(
                "a pattern is words (letters, digits, apostrophes) separated by spaces, got {text:?}"
            ));
        }
        let words: Vec<String> = found.into_iter().map(|w| w.text).collect();
        Ok(Pattern { words, prefix })
    }

    /// Whether the pattern's words stand at word `i` of `answer` (negation aside).
    fn fits_at(&self, answer: &[Word], i: usize) -> bool {
        let n = self.words.len();
        i + n <= answer.len()
            && self.words.iter().enumerate().all(|(j, w)| {
                let word = &answer[i + j].text;
                if self.prefix && j == n - 1 {
                    word.starts_with(w.as_str())
                } else {
                    word == w
                }
            })
    }
}

/// Whether a negation stands among the three words before word `i`.
fn negated(answer: &[Word], i: usize) -> bool {
    answer[i.saturating_sub(NEGATION_REACH)..i]
        .iter()
        .any(|w| matches!(w.text.as_str(), "no" | "not" | "never") || w.text.ends_with("n't"))
}

/// A word of a text: normalized (lowercase, accents removed, `’` as `'`), with its span in
/// characters and in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Word {
    text: String,
    chars: (usize, usize),
    bytes: (usize, usize),
}

/// Letters, digits and apostrophes; a combining mark (the accent of a decomposed `é`) belongs
/// to the letter before it.
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '\'' || c == '\u{2019}' || is_combining_mark(c)
}

/// The words of `text`, in order.
fn words(text: &str) -> impl Iterator<Item = Word> + '_ {
    let mut chars = text.char_indices().enumerate().peekable();
    std::iter::from_fn(move || {
        // Skip to the next word character.
        while let Some(&(_, (_, c))) = chars.peek() {
            if is_word_char(c) {
                break;
            }
            chars.next();
        }
        let &(first_char, (first_byte, _)) = chars.peek()?;
        let (mut end_char, mut end_byte) = (first_char, first_byte);
        while let Some(&(ci, (bi, c))) = chars.peek() {
            if !is_word_char(c) {
                break;
            }
            end_char = ci + 1;
            end_byte = bi + c.len_utf8();
            chars.next();
        }
        Some(Word {
            text: normalize(&text[first_byte..end_byte]),
            chars: (first_char, end_char),
            bytes: (first_byte, end_byte),
        })
    })
}

/// A word as patterns compare it: lowercase, without accents, `’` as `'`.
fn normalize(word: &str) -> String {
    // Most words are ASCII: lowercase is all they need.
    if word.is_ascii() {
        return word.to_ascii_lowercase();
    }
    word.nfd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .map(|c| if c == '\u{2019}' { '\'' } else { c })
        .collect()
}

/// A codebook ready to code answers: every pattern read once, and indexed by its first word
/// (or, for a one-word pattern that takes any ending, by that word's beginning), so coding an
/// answer costs a few lookups per word of the answer, however many codes the codebook has.
#[derive(Debug, Clone)]
pub struct Coder {
    version: u32,
    codes: Vec<CompiledCode>,
    patterns: Vec<Pattern>,
    /// First word → the patterns that start with it.
    exact: HashMap<String, Vec<usize>>,
    /// A beginning → the one-word patterns that take any ending after it.
    prefix: HashMap<String, Vec<usize>>,
    /// The lengths (in bytes) of those beginnings, so a word is looked up only at them.
    prefix_lengths: Vec<usize>,
}

/// A code with its patterns as indices into [`Coder::patterns`].
#[derive(Debug, Clone)]
struct CompiledCode {
    key: String,
    family: Family,
    any: Vec<usize>,
    all: Vec<usize>,
    none: Vec<usize>,
}

impl Coder {
    /// The coder of a checked codebook (a pattern that does not read matches nothing).
    pub fn new(book: &Codebook) -> Coder {
        let mut patterns: Vec<Pattern> = Vec::new();
        let mut read = |ps: &[String]| -> Vec<usize> {
            ps.iter()
                .filter_map(|p| Pattern::parse(p).ok())
                .map(|p| {
                    patterns.push(p);
                    patterns.len() - 1
                })
                .collect()
        };
        let codes = book
            .codes
            .iter()
            .map(|c| CompiledCode {
                key: c.key.clone(),
                family: c.family,
                any: read(&c.any),
                all: read(&c.all),
                none: read(&c.none),
            })
            .collect();
        let (mut exact, mut prefix): (HashMap<String, Vec<usize>>, HashMap<String, Vec<usize>>) =
            Default::default();
        for (id, p) in patterns.iter().enumerate() {
            let index = if p.prefix && p.words.len() == 1 {
                &mut prefix
            } else {
                &mut exact
            };
            index.entry(p.words[0].clone()).or_default().push(id);
        }
        let mut prefix_lengths: Vec<usize> = prefix.keys().map(String::len).collect();
        prefix_lengths.sort_unstable();
        prefix_lengths.dedup();
        Coder {
            version: book.version,
            codes,
            patterns,
            exact,
            prefix,
            prefix_lengths,
        }
    }

    /// Each pattern's first counted occurrence in `words` (not negated): the index of its
    /// first word.
    fn first_occurrences(&self, words: &[Word]) -> Vec<Option<usize>> {
        let mut first = vec![None; self.patterns.len()];
        for (i, w) in words.iter().enumerate() {
            let text = w.text.as_str();
            let starts = self
                .prefix_lengths
                .iter()
                .take_while(|n| **n <= text.len())
                .filter_map(|n| text.get(..*n))
                .filter_map(|start| self.prefix.get(start));
            for id in self.exact.get(text).into_iter().chain(starts).flatten() {
                if first[*id].is_none()
                    && self.patterns[*id].fits_at(words, i)
                    && !negated(words, i)
                {
                    first[*id] = Some(i);
                }
            }
        }
        first
    }

    /// The codebook version it codes by.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The rules' tags of `answer` among the codes of `family`, in the codebook's order.
    pub fn code(&self, family: Family, answer: &str) -> Vec<Tag> {
        let words: Vec<Word> = words(answer).collect();
        let found = self.first_occurrences(&words);
        // Each pattern's first occurrence, with its length in words.
        let first = |id: &usize| found[*id].map(|i| (i, self.patterns[*id].words.len()));
        let mut tags = Vec::new();
        for code in self.codes.iter().filter(|c| c.family == family) {
            let any: Vec<(usize, usize)> = code.any.iter().filter_map(first).collect();
            if !code.any.is_empty() && any.is_empty() {
                continue;
            }
            let all: Option<Vec<(usize, usize)>> = code.all.iter().map(first).collect();
            let Some(all) = all else { continue };
            if code.none.iter().any(|p| first(p).is_some()) {
                continue;
            }
            // The span of the earliest occurrence among the patterns that made the tag.
            let span = any
                .into_iter()
                .chain(all)
                .min()
                .map(|(i, n)| (words[i].chars.0, words[i + n - 1].chars.1));
            tags.push(Tag {
                code: code.key.clone(),
                span,
                by: TaggedBy::Rule,
            });
        }
        tags
    }
}

/// A person's decision on one answer and code: tagged or untagged. It overrides the rules for
/// that answer and code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Override {
    pub code: String,
    pub tagged: bool,
}

/// The tags of an answer: the rules' tags with a person's overrides applied (an untag removes
/// the rule's tag, a tag adds one made by a person unless the rule made it already, in which
/// case it is marked as the person's).
pub fn with_overrides(rules: Vec<Tag>, overrides: &[Override]) -> Vec<Tag> {
    let mut tags: Vec<Tag> = rules
        .into_iter()
        .filter(|t| !overrides.iter().any(|o| o.code == t.code && !o.tagged))
        .collect();
    for o in overrides.iter().filter(|o| o.tagged) {
        match tags.iter_mut().find(|t| t.code == o.code) {
            Some(t) => t.by = TaggedBy::Person,
            None => tags.push(Tag {
                code: o.code.clone(),
                span: None,
                by: TaggedBy::Person,
            }),
        }
    }
    tags
}

#[cfg(test)]
mod tests {
    use super::*;

    fn book(yaml: &str) -> Codebook {
        Codebook::from_yaml(yaml).unwrap_or_else(|e| panic!("{e:?}"))
    }

    fn coded(
        book: &Codebook,
        family: Family,
        answer: &str,
    ) -> Vec<(String, Option<(usize, usize)>)> {
        Coder::new(book)
            .code(family, answer)
            .into_iter()
            .map(|t| (t.code, t.span))
            .collect()
    }

    const EXAMPLE: &str = r#"
version: 3
codes:
  - { key: wait-time, family: change, any: [wait*, queue*, "on hold"], none: ["worth the wait"] }
  - { key: ease, family: why_buy, kind: interaction, any: [easy, simple, "hassle free"] }
  - { key: price, family: why_buy, kind: product, any: [price*, cheap*, rate*] }
  - { key: staff-delivery, family: change, all: [staff, deliver*] }
"#;

    #[test]
    fn patterns_match_whole_words_with_endings_and_phrases() {
        let b = book(EXAMPLE);
        let s = "I was put ON HOLD for ages";
        assert_eq!(
            coded(&b, Family::Change, s),
            [("wait-time".into(), Some((10, 17)))]
        );
        assert_eq!(
            coded(&b, Family::Change, "Waiting, waiting."),
            [("wait-time".into(), Some((0, 7)))]
        );
        // Whole words only: "await" is not "wait*", "hold" alone is not "on hold".
        assert!(coded(&b, Family::Change, "We await your hold music").is_empty());
        // Families apart.
        assert!(coded(&b, Family::WhyBuy, "on hold").is_empty());
        assert_eq!(
            coded(&b, Family::WhyBuy, "Cheaper and easy"),
            [
                ("ease".into(), Some((12, 16))),
                ("price".into(), Some((0, 7)))
            ]
        );
    }

    #[test]
    fn none_all_and_negations_decide() {
        let b = book(EXAMPLE);
        assert!(coded(&b, Family::Change, "The queue was worth the wait").is_empty());
        // A negated `none` does not count, so it does not block.
        assert_eq!(
            coded(&b, Family::Change, "The queue was not worth the wait").len(),
            1
        );
        // Negation within the three words before, and not beyond.
        assert!(coded(&b, Family::WhyBuy, "it is not easy").is_empty());
        assert!(coded(&b, Family::WhyBuy, "it isn't really that easy").is_empty());
        assert!(
            coded(&b, Family::WhyBuy, "It isn’t very easy").is_empty(),
            "typographic apostrophe"
        );
        assert!(coded(&b, Family::WhyBuy, "never so simple").is_empty());
        assert_eq!(
            coded(&b, Family::WhyBuy, "never was it so simple").len(),
            1,
            "four words before: out of reach"
        );
        // `all`: every pattern must occur; the span is the earliest.
        assert!(coded(&b, Family::Change, "the staff were kind").is_empty());
        assert_eq!(
            coded(&b, Family::Change, "Deliveries late, staff rude"),
            [("staff-delivery".into(), Some((0, 10)))]
        );
    }

    #[test]
    fn accents_and_case_do_not_matter_and_spans_count_characters() {
        let b = book(
            "version: 1\ncodes:\n  - { key: cafe, family: change, any: [\"café crème\", naïve*] }\n",
        );
        // "Très" has a multi-byte character before the match: the span counts characters.
        assert_eq!(
            coded(&b, Family::Change, "Très bon CAFE CREME"),
            [("cafe".into(), Some((9, 19)))]
        );
        assert_eq!(coded(&b, Family::Change, "NAIVETY").len(), 1);
        // Decomposed accents (e and a combining acute) are the same words.
        assert_eq!(
            coded(&b, Family::Change, "cafe\u{301} cre\u{300}me").len(),
            1
        );
        assert!(coded(&b, Family::Change, "cafes creme").is_empty());
    }

    #[test]
    fn a_bad_codebook_names_the_field_and_the_rule() {
        let problems = Codebook::from_yaml(
            r#"
version: 0
codes:
  - { key: A, family: change, any: [x] }
  - { key: b, family: why_buy, any: ["de*ep"] }
  - { key: b, family: change, kind: product, any: ["a, b"] }
  - { key: c, family: change }
"#,
        )
        .unwrap_err();
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "version",
                "codes[0].key",
                "codes[1].kind",
                "codes[1].any[0]",
                "codes[2].key",
                "codes[2].kind",
                "codes[2].any[0]",
                "codes[3].any"
            ],
            "{problems:?}"
        );
        assert!(problems[2].rule.contains("product or interaction"));
        assert!(Codebook::from_yaml("version: 1\ncodes: []\nextra: 1\n").is_err());
    }

    #[test]
    fn a_person_overrides_the_rules() {
        let b = book(EXAMPLE);
        let rules = Coder::new(&b).code(Family::WhyBuy, "easy and cheap");
        let tags = with_overrides(
            rules,
            &[
                Override {
                    code: "price".into(),
                    tagged: false,
                },
                Override {
                    code: "ease".into(),
                    tagged: true,
                },
                Override {
                    code: "trust".into(),
                    tagged: true,
                },
            ],
        );
        let got: Vec<(&str, TaggedBy)> = tags.iter().map(|t| (t.code.as_str(), t.by)).collect();
        assert_eq!(
            got,
            [("ease", TaggedBy::Person), ("trust", TaggedBy::Person)]
        );
    }
}
