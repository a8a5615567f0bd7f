//! Open answers as people work them (R14): each answer's tags (the latest codebook's rules with
//! people's overrides), tagging and untagging, the double-coded sample and the coders'
//! agreement, the senior team's why-buy statements, and why customers buy.
//!
//! An answer is a response's `change` or `why_buy` text, known by the response's id and the
//! family, or a statement of the senior team (family `why_buy`, id `wb_…`).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;
use touchbase_core::period::Period;
use touchbase_core::voice::analysis::{
    RELIABLE_KAPPA, WhyBuyAnswer, kappa, sample_key, statement_id,
};
use touchbase_core::voice::codebook::{Override, with_overrides};
use touchbase_core::voice::{CodeKind, Codebook, Coder, Family, Tag, WhyBuySummary, why_buy};
use touchbase_core::{Actor, Permission, Role};

use crate::{OpError, Store};

/// The longest statement, as for the customers' answers (PRODUCT.md).
pub const STATEMENT_MAX_CHARS: usize = 4000;

/// The coder name the codebook's rules go by when only one person coded the sample.
pub const RULES_CODER: &str = "codebook";

/// A person's decision on one answer and code (table `answer_tags`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AnswerTag {
    pub answer: String,
    pub family: Family,
    pub code: String,
    /// True: tagged; false: untagged.
    pub tagged: bool,
    pub actor: String,
    pub at: i64,
}

/// The codes one coder gave one answer of the double-coded sample (table `answer_codings`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Coding {
    pub answer: String,
    pub family: Family,
    pub coder: String,
    pub codes: Vec<String>,
    pub at: i64,
}

/// An answer of the senior team to "why do customers buy from us rather than from
/// competitors?" (table `why_buy_statements`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Statement {
    pub id: String,
    pub text: String,
    pub actor: String,
    pub role: String,
    pub at: i64,
}

/// What erasing a party changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Forgotten {
    /// Responses whose party and texts were removed (their scores stay counted).
    pub responses: u64,
    /// Invitations whose party was removed.
    pub invitations: u64,
    /// Suppressions whose party was removed.
    pub suppressions: u64,
    /// Half-answered surveys deleted.
    pub drafts: u64,
    /// Whether the party was a key customer (it is no longer).
    pub key_customer: bool,
}

/// One open answer with its tags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CodedAnswer {
    pub id: String,
    pub family: Family,
    /// The point the response is about (none for a statement of the senior team).
    pub point: Option<String>,
    /// Microseconds since the epoch.
    pub at: i64,
    pub text: String,
    pub tags: Vec<Tag>,
}

/// The codebook's rules and people's overrides, ready to tag answers.
#[derive(Debug)]
pub struct Tagger {
    pub book: Option<Codebook>,
    coder: Option<Coder>,
    overrides: HashMap<(String, Family), Vec<Override>>,
}

impl Tagger {
    /// The latest codebook and every override on record.
    pub async fn load(store: &dyn Store) -> Result<Tagger, OpError> {
        let book = crate::codebook::current(store).await?;
        let mut overrides: HashMap<(String, Family), Vec<Override>> = HashMap::new();
        for t in store.answer_tags().await? {
            overrides
                .entry((t.answer, t.family))
                .or_default()
                .push(Override {
                    code: t.code,
                    tagged: t.tagged,
                });
        }
        Ok(Tagger {
            coder: book.as_ref().map(Coder::new),
            book,
            overrides,
        })
    }

    /// A person's decision just kept, replacing theirs or anyone's on that answer and code.
    fn set(&mut self, tag: AnswerTag) {
        let decisions = self.overrides.entry((tag.answer, tag.family)).or_default();
        decisions.retain(|o| o.code != tag.code);
        decisions.push(Override {
            code: tag.code,
            tagged: tag.tagged,
        });
    }

    /// The codebook's rules alone.
    pub fn rules(&self, family: Family, text: &str) -> Vec<Tag> {
        self.coder
            .as_ref()
            .map(|c| c.code(family, text))
            .unwrap_or_default()
    }

    /// The tags of an answer: the rules', with people's overrides applied.
    pub fn tags(&self, id: &str, family: Family, text: &str) -> Vec<Tag> {
        let rules = self.rules(family, text);
        match self.overrides.get(&(id.to_owned(), family)) {
            Some(o) => with_overrides(rules, o),
            None => rules,
        }
    }

    /// The codes of an answer, as a set.
    pub fn codes(&self, id: &str, family: Family, text: &str) -> BTreeSet<String> {
        self.tags(id, family, text)
            .into_iter()
            .map(|t| t.code)
            .collect()
    }

    /// The kind of a `why_buy` code (none for an unknown code).
    pub fn kind(&self, code: &str) -> Option<CodeKind> {
        self.book.as_ref()?.code(code)?.kind
    }

    /// The points a code names.
    pub fn points(&self, code: &str) -> Vec<String> {
        self.book
            .as_ref()
            .and_then(|b| b.code(code))
            .map(|c| c.points.clone())
            .unwrap_or_default()
    }

    /// The code `key` of `family`, or why it cannot be used.
    fn check_code(&self, family: Option<Family>, key: &str) -> Result<Family, OpError> {
        let Some(book) = &self.book else {
            return Err(OpError::invalid(
                "answer",
                "code",
                "no codebook yet: `touchbase codebook import FILE` brings one",
            ));
        };
        match book.code(key) {
            Some(c) if family.is_none_or(|f| f == c.family) => Ok(c.family),
            Some(c) => Err(OpError::invalid(
                "answer",
                "code",
                format!(
                    "`{key}` is a {} code, not a {} one",
                    c.family.as_str(),
                    family.map_or("", Family::as_str)
                ),
            )),
            None => Err(OpError::invalid(
                "answer",
                "code",
                format!(
                    "no code `{key}` in codebook version {}: `touchbase codebook export` shows its codes",
                    book.version
                ),
            )),
        }
    }
}

/// Answer `id` of `family` — a response's text of that family, or a statement of the senior
/// team (`why_buy` only) — with no tags yet; none if there is no such answer.
async fn find(store: &dyn Store, id: &str, family: Family) -> Result<Option<CodedAnswer>, OpError> {
    let found = if id.starts_with("wb_") {
        match family {
            Family::WhyBuy => store.statement(id).await?.map(|s| (None, s.at, s.text)),
            Family::Change => None,
        }
    } else {
        store.open_answer(id).await?.and_then(|a| {
            let text = match family {
                Family::Change => a.change,
                Family::WhyBuy => a.why_buy,
            };
            text.map(|t| (Some(a.point), a.at, t))
        })
    };
    Ok(found.map(|(point, at, text)| CodedAnswer {
        id: id.to_owned(),
        family,
        point,
        at,
        text,
        tags: Vec::new(),
    }))
}

/// Tags (or, with `tagged` false, untags) answer `id` with `code`, overriding the rules for
/// that answer and code from now on (analysts and above). The code's family says which of the
/// response's answers it is about.
pub async fn tag(
    store: &dyn Store,
    actor: &Actor,
    id: &str,
    code: &str,
    tagged: bool,
    now: i64,
) -> Result<CodedAnswer, OpError> {
    actor.require(Permission::Export)?;
    let mut tagger = Tagger::load(store).await?;
    let family = tagger.check_code(None, code)?;
    let Some(mut answer) = find(store, id, family).await? else {
        return Err(OpError::NotFound(format!(
            "no {} answer `{id}`: `touchbase answers list` shows the answers and their ids",
            family.as_str()
        )));
    };
    let tag = AnswerTag {
        answer: id.to_owned(),
        family,
        code: code.to_owned(),
        tagged,
        actor: actor.name.clone(),
        at: now,
    };
    store.put_answer_tag(&tag).await?;
    crate::audit::note(
        store,
        actor,
        if tagged { "answer.tag" } else { "answer.untag" },
        id,
        serde_json::json!({ "family": family.as_str(), "code": code }),
    )
    .await?;
    tagger.set(tag);
    answer.tags = tagger.tags(id, family, &answer.text);
    Ok(answer)
}

/// Every open answer of `family` over `period` with its tags, by (`at`, id): the responses'
/// (of the points `point` keeps) and, for `why_buy`, the senior team's statements (analysts and
/// above: this is the coders' worklist, texts whole).
pub async fn list(
    store: &dyn Store,
    actor: &Actor,
    family: Family,
    period: Period,
    point: Option<&str>,
) -> Result<Vec<CodedAnswer>, OpError> {
    actor.require(Permission::Export)?;
    let tagger = Tagger::load(store).await?;
    gather(store, &tagger, family, (period.from, period.to), point).await
}

async fn gather(
    store: &dyn Store,
    tagger: &Tagger,
    family: Family,
    (from, to): (i64, i64),
    point: Option<&str>,
) -> Result<Vec<CodedAnswer>, OpError> {
    let mut out = Vec::new();
    for a in store.open_answers(from, to).await? {
        if point.is_some_and(|p| p != a.point) {
            continue;
        }
        let text = match family {
            Family::Change => a.change,
            Family::WhyBuy => a.why_buy,
        };
        if let Some(text) = text {
            out.push(CodedAnswer {
                tags: tagger.tags(&a.id, family, &text),
                id: a.id,
                family,
                point: Some(a.point),
                at: a.at,
                text,
            });
        }
    }
    if family == Family::WhyBuy && point.is_none() {
        for s in store.statements(from, to).await? {
            out.push(CodedAnswer {
                tags: tagger.tags(&s.id, family, &s.text),
                id: s.id,
                family,
                point: None,
                at: s.at,
                text: s.text,
            });
        }
    }
    out.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.id.cmp(&b.id)));
    Ok(out)
}

/// The double-coded sample of `family`: its first `n` answers (of all time) by
/// [`sample_key`], each with what `coder` gave it so far.
pub async fn sample(
    store: &dyn Store,
    actor: &Actor,
    family: Family,
    n: usize,
    coder: &str,
) -> Result<Vec<(CodedAnswer, Option<Vec<String>>)>, OpError> {
    actor.require(Permission::Export)?;
    let tagger = Tagger::load(store).await?;
    let mut all = gather(store, &tagger, family, (i64::MIN, i64::MAX), None).await?;
    all.sort_by_cached_key(|a| sample_key(family, &a.id));
    all.truncate(n);
    let given: HashMap<String, Vec<String>> = store
        .codings(family)
        .await?
        .into_iter()
        .filter(|c| c.coder == coder)
        .map(|c| (c.answer, c.codes))
        .collect();
    Ok(all
        .into_iter()
        .map(|a| {
            let codes = given.get(&a.id).cloned();
            (a, codes)
        })
        .collect())
}

/// Keeps `coder`'s codes of answers of the sample (analysts and above), every code checked
/// against the latest codebook's `family`.
pub async fn code(
    store: &dyn Store,
    actor: &Actor,
    family: Family,
    coder: &str,
    given: &[(String, Vec<String>)],
    now: i64,
) -> Result<usize, OpError> {
    actor.require(Permission::Export)?;
    if coder.trim().is_empty() || coder == RULES_CODER {
        return Err(OpError::invalid(
            "coding",
            "coder",
            format!("must name the person coding (not empty, not `{RULES_CODER}`)"),
        ));
    }
    let tagger = Tagger::load(store).await?;
    let mut codings = Vec::with_capacity(given.len());
    for (id, codes) in given {
        for c in codes {
            tagger.check_code(Some(family), c)?;
        }
        if find(store, id, family).await?.is_none() {
            return Err(OpError::NotFound(format!(
                "no {} answer `{id}`",
                family.as_str()
            )));
        }
        let codes: BTreeSet<String> = codes.iter().cloned().collect();
        codings.push(Coding {
            answer: id.clone(),
            family,
            coder: coder.to_owned(),
            codes: codes.into_iter().collect(),
            at: now,
        });
    }
    store.put_codings(&codings).await?;
    if !codings.is_empty() {
        crate::audit::note(
            store,
            actor,
            "answer.code",
            family.as_str(),
            serde_json::json!({ "coder": coder, "answers": codings.len() }),
        )
        .await?;
    }
    Ok(codings.len())
}

/// One code's agreement over the double-coded sample.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CodeAgreement {
    pub code: String,
    /// Answers of the sample each coder tagged with it.
    pub first_tagged: u64,
    pub second_tagged: u64,
    /// Cohen's kappa (null when chance agreement is certain, `Pe = 1`).
    pub kappa: Option<f64>,
    /// kappa < 0.6.
    pub unreliable: bool,
}

/// How far two coders agree on a family's codes.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Agreement {
    pub family: Family,
    /// The two coders compared: the two people who coded the most answers (ties by name), or
    /// one person and the codebook's rules (`codebook`) when only one has coded.
    pub coders: Vec<String>,
    /// Answers both coded.
    pub sample: u64,
    /// Every code of the family in the latest codebook, and any other code a coder gave.
    pub codes: Vec<CodeAgreement>,
}

/// The agreement on `family`'s codes (METRICS.md, "Agreement").
pub async fn agreement(
    store: &dyn Store,
    actor: &Actor,
    family: Family,
) -> Result<Agreement, OpError> {
    actor.require(Permission::Read)?;
    let tagger = Tagger::load(store).await?;
    let codings = store.codings(family).await?;
    let mut by_coder: BTreeMap<&str, HashMap<&str, BTreeSet<&str>>> = BTreeMap::new();
    for c in &codings {
        by_coder.entry(c.coder.as_str()).or_default().insert(
            c.answer.as_str(),
            c.codes.iter().map(String::as_str).collect(),
        );
    }
    let mut ranked: Vec<(&str, usize)> = by_coder.iter().map(|(k, v)| (*k, v.len())).collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let mut codes: BTreeSet<String> = tagger
        .book
        .iter()
        .flat_map(|b| b.family(family))
        .map(|c| c.key.clone())
        .collect();
    codes.extend(codings.iter().flat_map(|c| c.codes.iter().cloned()));
    // Each answer both coded: the first coder's codes and the second's.
    let mut pairs: Vec<(BTreeSet<String>, BTreeSet<String>)> = Vec::new();
    let coders: Vec<String> = match ranked.as_slice() {
        [] => Vec::new(),
        [(only, _)] => {
            for (id, given) in &by_coder[only] {
                if let Some(CodedAnswer { text, .. }) = find(store, id, family).await? {
                    let rules: BTreeSet<String> = tagger
                        .rules(family, &text)
                        .into_iter()
                        .map(|t| t.code)
                        .collect();
                    pairs.push((given.iter().map(|c| (*c).to_owned()).collect(), rules));
                }
            }
            vec![(*only).to_owned(), RULES_CODER.to_owned()]
        }
        [(a, _), (b, _), ..] => {
            let second = &by_coder[b];
            let mut both: Vec<(&&str, &BTreeSet<&str>)> = by_coder[a]
                .iter()
                .filter(|(id, _)| second.contains_key(**id))
                .collect();
            both.sort_by_key(|(id, _)| **id);
            for (id, first) in both {
                let own = |s: &BTreeSet<&str>| s.iter().map(|c| (*c).to_owned()).collect();
                pairs.push((own(first), own(&second[*id])));
            }
            vec![(*a).to_owned(), (*b).to_owned()]
        }
    };
    let codes = codes
        .into_iter()
        .map(|code| {
            let tagged: Vec<(bool, bool)> = pairs
                .iter()
                .map(|(a, b)| (a.contains(&code), b.contains(&code)))
                .collect();
            let k = kappa(&tagged);
            CodeAgreement {
                first_tagged: tagged.iter().filter(|(a, _)| *a).count() as u64,
                second_tagged: tagged.iter().filter(|(_, b)| *b).count() as u64,
                unreliable: k.is_some_and(|k| k < RELIABLE_KAPPA),
                kappa: k,
                code,
            }
        })
        .collect();
    Ok(Agreement {
        family,
        coders,
        sample: pairs.len() as u64,
        codes,
    })
}

/// The codes of `family` flagged unreliable by the sample.
pub async fn unreliable(
    store: &dyn Store,
    actor: &Actor,
    family: Family,
) -> Result<BTreeSet<String>, OpError> {
    Ok(agreement(store, actor, family)
        .await?
        .codes
        .into_iter()
        .filter(|c| c.unreliable)
        .map(|c| c.code)
        .collect())
}

/// Keeps a statement of the senior team (executives and owners; the statement is theirs).
pub async fn add_statement(
    store: &dyn Store,
    actor: &Actor,
    text: &str,
    now: i64,
) -> Result<Statement, OpError> {
    if !matches!(actor.role, Role::Executive | Role::Owner) {
        return Err(OpError::Denied(touchbase_core::access::Denied(format!(
            "why-buy statements come from the senior team: `{}` is {}, and only executives and owners give them",
            actor.name, actor.role
        ))));
    }
    let text = text.trim();
    if text.is_empty() {
        return Err(OpError::invalid(
            "statement",
            "text",
            "must say why customers buy from us: it is empty",
        ));
    }
    let chars = text.chars().count();
    if chars > STATEMENT_MAX_CHARS {
        return Err(OpError::invalid(
            "statement",
            "text",
            format!("at most {STATEMENT_MAX_CHARS} characters; this one has {chars}"),
        ));
    }
    let statement = Statement {
        id: statement_id(&actor.name, now, text),
        text: text.to_owned(),
        actor: actor.name.clone(),
        role: actor.role.as_str().to_owned(),
        at: now,
    };
    store.put_statement(&statement).await?;
    crate::audit::note(
        store,
        actor,
        "why_buy.add",
        &statement.id,
        serde_json::json!({ "chars": chars }),
    )
    .await?;
    Ok(statement)
}

/// Why customers buy over `period`, as the senior team says and as the customers do, each code
/// with the points it names.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WhyBuyReport {
    /// The codebook version that coded the answers (none: no codebook yet).
    pub codebook: Option<u32>,
    #[serde(flatten)]
    pub summary: WhyBuySummary,
}

/// Why customers buy over `period` (METRICS.md, "Why customers buy").
pub async fn why_buy_summary(
    store: &dyn Store,
    actor: &Actor,
    period: Period,
) -> Result<WhyBuyReport, OpError> {
    actor.require(Permission::Read)?;
    let tagger = Tagger::load(store).await?;
    let coded = |id: &str, text: &str| -> WhyBuyAnswer {
        tagger
            .codes(id, Family::WhyBuy, text)
            .into_iter()
            .filter_map(|c| tagger.kind(&c).map(|k| (c, k)))
            .collect()
    };
    let executives: Vec<WhyBuyAnswer> = store
        .statements(period.from, period.to)
        .await?
        .iter()
        .map(|s| coded(&s.id, &s.text))
        .collect();
    let customers: Vec<WhyBuyAnswer> = store
        .open_answers(period.from, period.to)
        .await?
        .iter()
        .filter_map(|a| a.why_buy.as_deref().map(|t| coded(&a.id, t)))
        .collect();
    let mut summary = why_buy(&executives, &customers);
    for group in [&mut summary.executives, &mut summary.customers] {
        for c in &mut group.codes {
            c.points = tagger.points(&c.code);
        }
    }
    Ok(WhyBuyReport {
        codebook: tagger.book.as_ref().map(|b| b.version),
        summary,
    })
}

/// Erases a party from the voice of the customer (administrators): their responses keep their
/// scores, point and instant, so every count stays, and lose their party and texts; their
/// invitations and suppressions lose the party, their drafts go, and they are no longer a key
/// customer. The audit trail keeps the erasure with a hash of the party, not the party.
pub async fn forget(store: &dyn Store, actor: &Actor, party: &str) -> Result<Forgotten, OpError> {
    actor.require(Permission::Administer)?;
    if party.is_empty() {
        return Err(OpError::invalid(
            "party",
            "id",
            "must name the party to forget",
        ));
    }
    let forgotten = store.forget_party(party).await?;
    let digest = touchbase_core::access::sha256_hex(party.as_bytes());
    crate::audit::note(
        store,
        actor,
        "party.forget",
        "party",
        serde_json::json!({ "party_sha256": digest, "forgotten": forgotten }),
    )
    .await?;
    Ok(forgotten)
}
