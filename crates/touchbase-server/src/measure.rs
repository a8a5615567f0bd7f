//! The measurement routes (R10–R16): scorecards, portfolio verdicts, journeys, data quality and
//! the organization's settings. The figures come from `touchbase_store::measure`; the JSON is
//! the same as the CLI's (`touchbase scorecard --json`, …), with METRICS.md's names.

use axum::body::Bytes;
use axum::extract::{Extension, State};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use touchbase_core::journeys::Summary;
use touchbase_core::period::{self, Granularity, Period, PeriodError};
use touchbase_core::portfolio::{Assessment, SETTING_NAMES, Settings};
use touchbase_core::{Actor, Mode, Permission, Violation, Violations};
use touchbase_store::measure::{
    self, Card, Days, GroupBy, JourneyQuery, PointQuality, Scope, ScopeError, WhatIf,
};
use touchbase_store::{ingest, inventory, settings};

use crate::AppState;
use crate::extract::{Path, Query};
use crate::problem::ApiError;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/scorecards", get(scorecards))
        .route("/api/portfolio", get(portfolio))
        .route("/api/journeys", get(journeys))
        .route("/api/journeys/what-if", get(what_if))
        .route("/api/quality", get(quality))
        .route("/api/settings", get(get_settings))
        .route("/api/settings/{name}", axum::routing::put(put_setting))
}

/// A query parameter that breaks its rule: 400, naming the parameter.
fn bad(parameter: &str, rule: impl std::fmt::Display) -> ApiError {
    ApiError::BadRequest(format!("{parameter}: {rule}"))
}

/// The earliest instant a measurement may reach back to: 1970-01-01 00:00 UTC (no event is
/// older).
pub(crate) const EARLIEST: i64 = 0;

/// How far past now a measurement may reach: 366 days.
pub(crate) const AHEAD_US: i64 = 366 * period::DAY_US;

/// The most scorecards one request may ask for: buckets (`by`) × groups (`all`).
pub(crate) const MAX_CARDS: usize = 10_000;

/// `period` if it lies within [`EARLIEST`] and a year from now, or a 400 naming the bound.
pub(crate) fn within_bounds(period: Period) -> Result<Period, ApiError> {
    let now = ingest::now_us();
    let latest = (period::day_of(now) + 1) * period::DAY_US + AHEAD_US;
    if period.from < EARLIEST {
        return Err(bad(
            "from",
            "must be 1970-01-01 or later: no event is older (the bound of every period)",
        ));
    }
    if period.to > latest {
        let day = jiff::Timestamp::from_microsecond(latest)
            .map(|t| t.strftime("%Y-%m-%d").to_string())
            .unwrap_or_default();
        return Err(bad(
            "to",
            format!("must be {day} or earlier: a period reaches at most a year past today"),
        ));
    }
    Ok(period)
}

/// The period `from`/`to` ask for: each a date (00:00 UTC) or an RFC 3339 instant; by default
/// the 30 days up to tomorrow 00:00 UTC; within [`within_bounds`].
pub(crate) fn requested(from: Option<&str>, to: Option<&str>) -> Result<Period, ApiError> {
    let bound = |name: &str, text: Option<&str>| {
        text.map(|t| period::parse_bound(t).map_err(|e| bad(name, e)))
            .transpose()
    };
    let (from, to) = (bound("from", from)?, bound("to", to)?);
    let period = period::requested(from, to, ingest::now_us()).map_err(|e| match e {
        PeriodError::Reversed { .. } => bad(
            "from",
            "is after `to`: the period runs from `from` up to `to`; give a `from` before `to`",
        ),
        other => bad("from/to", other),
    })?;
    within_bounds(period)
}

/// A 400 when `buckets` × `groups` scorecards is more than [`MAX_CARDS`].
fn check_cards(buckets: usize, groups: usize) -> Result<(), ApiError> {
    let asked = buckets.saturating_mul(groups);
    if asked > MAX_CARDS {
        return Err(bad(
            "by/all",
            format!(
                "ask for at most {MAX_CARDS} scorecards in one request (buckets × groups); this \
                 asks for {asked} ({buckets} buckets × {groups} groups): ask for a shorter period, \
                 a coarser `by`, or one group at a time"
            ),
        ));
    }
    Ok(())
}

/// A scope the inventory does not know: 404, naming the parameter.
fn unknown(e: ScopeError) -> ApiError {
    match e {
        ScopeError::Point(_) => ApiError::NotFound(format!("point: {e}")),
        ScopeError::Function { .. } => ApiError::NotFound(format!("function: {e}")),
        ScopeError::PartyType { .. } => ApiError::NotFound(format!("party_type: {e}")),
        ScopeError::Period(p) => bad("from/to", p),
        ScopeError::Store(s) => s.into(),
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub(crate) struct ScorecardQuery {
    /// The period's first instant: a date (00:00 UTC) or an RFC 3339 instant (default: 30
    /// days before `to`).
    from: Option<String>,
    /// The first instant after the period (default: tomorrow 00:00 UTC).
    to: Option<String>,
    /// One point's scorecard.
    point: Option<String>,
    /// The scorecard of a business function's points.
    function: Option<String>,
    /// The scorecard of an interface mode's points: `machine`, `people` or `hybrid`.
    mode: Option<String>,
    /// The scorecard of the points serving a party type.
    party_type: Option<String>,
    /// Every group of a kind side by side: `point`, `function`, `mode` or `party_type`.
    all: Option<String>,
    /// A series: `day`, `week` (from Monday) or `month`, the first and last cut to the period.
    by: Option<String>,
}

/// `value` as one of `names` (each the value a parameter takes), or a 400 listing them.
fn one_of<T: Copy>(parameter: &str, value: &str, names: &[(&str, T)]) -> Result<T, ApiError> {
    names
        .iter()
        .find(|(name, _)| *name == value)
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            let names: Vec<&str> = names.iter().map(|(n, _)| *n).collect();
            bad(
                parameter,
                format!("must be one of {}, got `{value}`", names.join(", ")),
            )
        })
}

/// What `/api/scorecards` answers (for the document only): one card, or an array of them.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
#[allow(clippy::large_enum_variant)] // never built: it only describes the answer
pub(crate) enum Scorecards {
    One(Box<Card>),
    Many(Vec<Card>),
}

/// Scorecards (R10–R12) with METRICS.md's fields. Without `point`, `function`, `mode`,
/// `party_type` or `all`: the whole organization. One scope without `by` answers one object;
/// a series (`by`) or `all` answers an array (group by group, bucket by bucket), written out
/// as it is serialized. One request asks for at most 10,000 cards (buckets × groups), over a
/// period from 1970-01-01 to a year past today.
#[utoipa::path(get, path = "/api/scorecards", params(ScorecardQuery), responses(
    (status = 200, description = "One card, or an array of cards for `by` or `all`", body = Scorecards),
    (status = 400, description = "A parameter breaks its rule (more than 10,000 cards, a period outside 1970-01-01 to a year past today, …); the detail names it", body = crate::Problem),
    (status = 404, description = "No such point, function or party type", body = crate::Problem),
))]
pub(crate) async fn scorecards(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Query(q): Query<ScorecardQuery>,
) -> Result<axum::response::Response, ApiError> {
    actor.require(Permission::Read)?;
    let period = requested(q.from.as_deref(), q.to.as_deref())?;
    let by =
        q.by.as_deref()
            .map(|b| {
                one_of(
                    "by",
                    b,
                    &[
                        ("day", Granularity::Day),
                        ("week", Granularity::Week),
                        ("month", Granularity::Month),
                    ],
                )
            })
            .transpose()?;
    let all = q
        .all
        .as_deref()
        .map(|a| {
            one_of(
                "all",
                a,
                &[
                    ("point", GroupBy::Point),
                    ("function", GroupBy::Function),
                    ("mode", GroupBy::Mode),
                    ("party_type", GroupBy::PartyType),
                ],
            )
        })
        .transpose()?;
    let mode = q
        .mode
        .as_deref()
        .map(|m| {
            one_of(
                "mode",
                m,
                &[
                    ("machine", Mode::Machine),
                    ("people", Mode::People),
                    ("hybrid", Mode::Hybrid),
                ],
            )
        })
        .transpose()?;
    let given = [
        q.point.is_some(),
        q.function.is_some(),
        mode.is_some(),
        q.party_type.is_some(),
        all.is_some(),
    ];
    if given.iter().filter(|g| **g).count() > 1 {
        return Err(bad(
            "point/function/mode/party_type/all",
            "give at most one of them (none: the whole organization)",
        ));
    }
    let buckets = match by {
        None => 1,
        Some(g) => period.split(g).map_err(|e| bad("from/to", e))?.len(),
    };
    check_cards(buckets, 1)?;
    let inventory = inventory::get(&*state.store).await?.value;
    let days = Days::read(&*state.store, &inventory, period).await?;
    let scopes = if let Some(k) = q.point {
        vec![Scope::Point(k)]
    } else if let Some(f) = q.function {
        vec![Scope::Function(f)]
    } else if let Some(m) = mode {
        vec![Scope::Mode(m)]
    } else if let Some(t) = q.party_type {
        vec![Scope::PartyType(t)]
    } else if let Some(kind) = all {
        Scope::all(&inventory, kind, &days)
    } else {
        vec![Scope::Organization]
    };
    check_cards(buckets, scopes.len())?;
    let mut cards = measure::cards(&inventory, &days, &scopes, by).map_err(unknown)?;
    Ok(match (all, by, cards.len()) {
        (None, None, 1) => Json(cards.remove(0)).into_response(),
        _ => crate::stream::json_array(cards),
    })
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub(crate) struct PeriodQuery {
    /// The period's first instant: a date (00:00 UTC) or an RFC 3339 instant (default: 30
    /// days before `to`).
    from: Option<String>,
    /// The first instant after the period (default: tomorrow 00:00 UTC).
    to: Option<String>,
}

/// The portfolio verdicts (R15) of the live points, in key order, each with its reasons: the
/// figure and the threshold it was held to.
#[utoipa::path(get, path = "/api/portfolio", params(PeriodQuery), responses(
    (status = 200, body = Vec<Assessment>),
    (status = 400, body = crate::Problem),
))]
pub(crate) async fn portfolio(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Query(q): Query<PeriodQuery>,
) -> Result<Json<Vec<Assessment>>, ApiError> {
    actor.require(Permission::Read)?;
    let period = requested(q.from.as_deref(), q.to.as_deref())?;
    let inventory = inventory::get(&*state.store).await?.value;
    Ok(Json(
        measure::portfolio(&*state.store, &inventory, period).await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub(crate) struct JourneysQuery {
    /// Journeys whose first event is at or after this instant (a date or RFC 3339; default:
    /// 30 days before `to`).
    from: Option<String>,
    /// … and before this one (default: tomorrow 00:00 UTC).
    to: Option<String>,
    /// Only journeys of this party type (their first point's).
    party_type: Option<String>,
    /// Only journeys that start at this point.
    start: Option<String>,
    /// How many of the most frequent variants to list (default 10, at most 1,000).
    top: Option<String>,
}

/// Journeys (R16): the directly-follows graph, the hand-offs between business functions and
/// the most frequent variants with their weakest links.
#[utoipa::path(get, path = "/api/journeys", params(JourneysQuery), responses(
    (status = 200, body = Summary),
    (status = 400, body = crate::Problem),
    (status = 404, description = "No such party type or start point", body = crate::Problem),
))]
pub(crate) async fn journeys(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Query(q): Query<JourneysQuery>,
) -> Result<Json<Summary>, ApiError> {
    actor.require(Permission::Read)?;
    let period = requested(q.from.as_deref(), q.to.as_deref())?;
    let top = count("top", q.top.as_deref(), 10)?.min(MAX_TOP);
    let inventory = inventory::get(&*state.store).await?.value;
    let query = JourneyQuery {
        period,
        party_type: q.party_type,
        start: q.start,
        top: Some(top),
    };
    query.check(&inventory).map_err(|e| match e {
        ScopeError::Point(_) => ApiError::NotFound(format!("start: {e}")),
        other => unknown(other),
    })?;
    Ok(Json(
        measure::journeys(&*state.store, &inventory, &query).await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub(crate) struct WhatIfQuery {
    /// The point to imagine cut.
    without: String,
    /// Journeys whose first event is at or after this instant (a date or RFC 3339; default:
    /// 30 days before `to`).
    from: Option<String>,
    /// … and before this one (default: tomorrow 00:00 UTC).
    to: Option<String>,
    /// How many of the most frequent variants through the point to list (default 10, at
    /// most 1,000).
    top: Option<String>,
}

/// What cutting a point would cost through the period's journeys (R15, R16): the journeys,
/// variants and value through it, its removal effect (METRICS.md, "Attribution") with the
/// conversion value at risk, and where the parties went after it.
#[utoipa::path(get, path = "/api/journeys/what-if", params(WhatIfQuery), responses(
    (status = 200, body = WhatIf),
    (status = 400, body = crate::Problem),
    (status = 404, description = "No such point", body = crate::Problem),
))]
pub(crate) async fn what_if(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Query(q): Query<WhatIfQuery>,
) -> Result<Json<WhatIf>, ApiError> {
    actor.require(Permission::Read)?;
    let period = requested(q.from.as_deref(), q.to.as_deref())?;
    let top = count("top", q.top.as_deref(), 10)?.min(MAX_TOP);
    let inventory = inventory::get(&*state.store).await?.value;
    let answer = measure::what_if(&*state.store, &inventory, period, &q.without, top)
        .await
        .map_err(|e| match e {
            ScopeError::Point(_) => ApiError::NotFound(format!("without: {e}")),
            other => unknown(other),
        })?;
    Ok(Json(answer))
}

/// The most journeys, or failures of a point, one answer lists (a larger `top` lists this many).
pub(crate) const MAX_TOP: usize = 1_000;

/// A whole number of 0 or more given as a query parameter, `default` when absent.
fn count(parameter: &str, text: Option<&str>, default: usize) -> Result<usize, ApiError> {
    text.map_or(Ok(default), |t| {
        t.parse().map_err(|_| {
            bad(
                parameter,
                format!("must be a whole number of 0 or more, got `{t}`"),
            )
        })
    })
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub(crate) struct QualityQuery {
    /// The period's first instant: a date (00:00 UTC) or an RFC 3339 instant (default: 30
    /// days before `to`).
    from: Option<String>,
    /// The first instant after the period (default: tomorrow 00:00 UTC).
    to: Option<String>,
    /// How many of each point's most frequent failures to list (default 5, at most 1,000).
    top: Option<String>,
}

/// Data quality (R13): per point with events, the share whose data met its contract and the
/// rules that failed most. The failures quote the data, so this reads like the rejects
/// (analysts and up).
#[utoipa::path(get, path = "/api/quality", params(QualityQuery), responses(
    (status = 200, body = Vec<PointQuality>),
    (status = 400, body = crate::Problem),
    (status = 403, body = crate::Problem),
))]
pub(crate) async fn quality(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Query(q): Query<QualityQuery>,
) -> Result<Json<Vec<PointQuality>>, ApiError> {
    actor.require(Permission::Export)?;
    let period = requested(q.from.as_deref(), q.to.as_deref())?;
    let top = count("top", q.top.as_deref(), 5)?.min(MAX_TOP);
    let days = Days::counts(&*state.store, period).await?;
    Ok(Json(measure::quality(&*state.store, &days, top).await?))
}

/// The settings as a JSON object, name → value.
fn object(settings: &Settings) -> serde_json::Map<String, serde_json::Value> {
    settings
        .named()
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
}

/// The organization's settings for the portfolio and journey rules, name → value
/// (`portfolio.min_volume`, `portfolio.adequacy`, `portfolio.quality_threshold`,
/// `journeys.journey_gap_s`).
#[utoipa::path(get, path = "/api/settings", responses(
    (status = 200, body = std::collections::BTreeMap<String, f64>, description = "name → value"),
))]
pub(crate) async fn get_settings(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
) -> Result<Json<serde_json::Map<String, serde_json::Value>>, ApiError> {
    actor.require(Permission::Read)?;
    Ok(Json(object(&settings::get(&*state.store).await?)))
}

/// Sets one setting (admins), on the audit trail; the body is its value, a JSON number (or
/// `{"value": number}`). Answers the settings after.
#[utoipa::path(put, path = "/api/settings/{name}", params(("name" = String, Path)),
    request_body(content = f64, description = "The value, e.g. 0.7"),
    responses(
        (status = 200, body = std::collections::BTreeMap<String, f64>, description = "The settings after, name → value"),
        (status = 403, body = crate::Problem),
        (status = 422, description = "No such setting, or the value breaks its rule", body = crate::Problem),
    ))]
pub(crate) async fn put_setting(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Json<serde_json::Map<String, serde_json::Value>>, ApiError> {
    actor.require(Permission::Administer)?;
    let value = match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(serde_json::Value::Number(n)) => Some(n),
        Ok(serde_json::Value::Object(mut o)) if o.len() == 1 => match o.remove("value") {
            Some(serde_json::Value::Number(n)) => Some(n),
            _ => None,
        },
        _ => None,
    };
    let Some(value) = value else {
        let rule = if SETTING_NAMES.contains(&name.as_str()) {
            "the body must be the value as a JSON number, e.g. 0.7".to_owned()
        } else {
            format!(
                "no such setting; the settings are {}",
                SETTING_NAMES.join(", ")
            )
        };
        return Err(ApiError::Invalid(Violations(vec![Violation::new(
            "settings", name, rule,
        )])));
    };
    let after = settings::set(&*state.store, &actor, &name, &value.to_string()).await?;
    Ok(Json(object(&after)))
}
