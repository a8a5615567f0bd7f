//! The codebook as operations (R14): versions imported and exported as YAML, and the themes of
//! the `change` answers of a scope and period, each answer coded by the latest version
//! ([`touchbase_core::voice::Coder`]) whenever the themes are asked for, so a new version
//! re-codes every answer.

use std::collections::BTreeSet;

use serde::Serialize;
use touchbase_core::period::Period;
use touchbase_core::voice::analysis::ThemeInput;
use touchbase_core::voice::{Codebook, Family, Theme, VoiceTally, themes};
use touchbase_core::{Actor, Permission, Violation, Violations};

use crate::answers::Tagger;
use crate::measure::{Days, Scope};
use crate::{OpError, Store};

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Imported {
    pub version: u32,
    pub codes: usize,
    /// False when this very version was on record already.
    pub new: bool,
}

fn invalid(field: &str, rule: impl Into<String>) -> OpError {
    OpError::Invalid(Violations(vec![Violation::new(
        "codebook",
        field,
        rule.into(),
    )]))
}

/// Imports a codebook version (owners, executives, admins): every rule of the file, the points
/// its codes name known, and a version above the one on record (the same version again with
/// the same codes changes nothing).
pub async fn import(
    store: &dyn Store,
    actor: &Actor,
    text: &str,
    now: i64,
) -> Result<Imported, OpError> {
    actor.require(Permission::Propose)?;
    let book = Codebook::from_yaml(text).map_err(|problems| {
        OpError::Invalid(Violations(
            problems
                .into_iter()
                .map(|p| Violation::new("codebook", p.field, p.rule))
                .collect(),
        ))
    })?;
    let inventory = crate::inventory::get(store).await?.value;
    for (i, code) in book.codes.iter().enumerate() {
        for (j, point) in code.points.iter().enumerate() {
            if inventory.point(point).is_none() {
                return Err(invalid(
                    &format!("codes[{i}].points[{j}]"),
                    format!("unknown point `{point}`"),
                ));
            }
        }
    }
    if let Some((current, doc)) = store.codebook().await? {
        let same = Codebook::from_yaml(&doc).ok().as_ref() == Some(&book);
        if book.version == current && same {
            return Ok(Imported {
                version: current,
                codes: book.codes.len(),
                new: false,
            });
        }
        if book.version <= current {
            return Err(invalid(
                "version",
                format!(
                    "must be above the version on record, {current}: a changed codebook is a new version"
                ),
            ));
        }
    }
    // Kept as written, comments and all: the export gives back the file imported.
    let new = store
        .put_codebook(book.version, text, now, &actor.name)
        .await?;
    crate::audit::note(
        store,
        actor,
        "codebook.import",
        "codebook",
        serde_json::json!({ "version": book.version, "codes": book.codes.len() }),
    )
    .await?;
    Ok(Imported {
        version: book.version,
        codes: book.codes.len(),
        new,
    })
}

/// The latest codebook, as YAML.
pub async fn export(store: &dyn Store, actor: &Actor) -> Result<Option<String>, OpError> {
    actor.require(Permission::Read)?;
    Ok(store.codebook().await?.map(|(_, doc)| doc))
}

/// The latest codebook, read.
pub async fn current(store: &dyn Store) -> Result<Option<Codebook>, OpError> {
    Ok(store
        .codebook()
        .await?
        .and_then(|(_, doc)| Codebook::from_yaml(&doc).ok()))
}

/// The themes of a scope and period.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Themes {
    /// The codebook version that coded the answers (none: no codebook yet).
    pub codebook: Option<u32>,
    /// Responses in the scope and period (`R`).
    pub responses: u64,
    /// Those with a `change` answer (`T`).
    pub with_change: u64,
    /// Whether the themes show verbatims: `with_change` reaches `survey.min_responses`.
    pub verbatims: bool,
    pub themes: Vec<Theme>,
}

/// The most verbatims a theme shows (distinct answers).
pub const VERBATIMS: usize = 3;

/// The `change` themes of `scope` over `period` (METRICS.md): each answer coded by the latest
/// codebook and people's overrides; NPS over all the scope's responses of the period; codes
/// the double-coded sample finds unreliable flagged; a few verbatims per theme where the scope
/// has at least `survey.min_responses` answers.
pub async fn themes_of(
    store: &dyn Store,
    actor: &Actor,
    scope: &Scope,
    period: Period,
) -> Result<Themes, OpError> {
    actor.require(Permission::Read)?;
    let inventory = crate::inventory::get(store).await?.value;
    let tagger = Tagger::load(store).await?;
    let days = Days::counts(store, period).await?;
    let mut tally = VoiceTally::default();
    for row in days.voice_within(scope, period) {
        if scope.contains(&row.point, inventory.point(&row.point)) {
            tally.merge(&row.tally);
        }
    }
    let answers: Vec<_> = store
        .open_answers(period.from, period.to)
        .await?
        .into_iter()
        .filter(|a| a.change.is_some() && scope.contains(&a.point, inventory.point(&a.point)))
        .collect();
    // Every response of R: those with a change answer one by one (their codes), the others by
    // their NPS answers alone.
    let mut inputs = Vec::new();
    let mut rest = tally.nps;
    for a in &answers {
        let Some(text) = &a.change else { continue };
        if let Some(s) = a.nps.filter(|s| *s <= 10) {
            rest[usize::from(s)] = rest[usize::from(s)].saturating_sub(1);
        }
        inputs.push(ThemeInput {
            nps: a.nps,
            change: true,
            codes: tagger.codes(&a.id, Family::Change, text),
        });
    }
    let with_change = inputs.len() as u64;
    for (score, n) in rest.iter().enumerate() {
        for _ in 0..*n {
            inputs.push(ThemeInput {
                nps: u8::try_from(score).ok(),
                change: false,
                codes: BTreeSet::new(),
            });
        }
    }
    let unreliable = crate::answers::unreliable(store, actor, Family::Change).await?;
    let mut found = themes(&inputs, &unreliable);
    let min = inventory.organization.settings.survey_min_responses;
    let verbatims = with_change >= min;
    if verbatims {
        for theme in &mut found {
            // The latest distinct answers: the same words twice say nothing more.
            let mut seen = BTreeSet::new();
            theme.verbatims = answers
                .iter()
                .rev()
                .zip(inputs.iter().take(answers.len()).rev())
                .filter(|(_, input)| input.codes.contains(&theme.code))
                .filter_map(|(a, _)| a.change.clone())
                .filter(|text| seen.insert(text.clone()))
                .take(VERBATIMS)
                .collect();
        }
    }
    Ok(Themes {
        codebook: tagger.book.as_ref().map(|b| b.version),
        responses: tally.responses,
        with_change,
        verbatims,
        themes: found,
    })
}
