//! The reverse feed's routes (R18): endpoints (admins), rules, deliveries and their replay, a
//! rule's dry run over the stored history, and the feed's counters in the Prometheus text
//! format at `/metrics`. The same operations as the CLI's (`touchbase_store::feed`).

use axum::body::Bytes;
use axum::extract::{Extension, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use touchbase_core::Actor;
use touchbase_core::endpoint::{Endpoint, EndpointKind};
use touchbase_core::period;
use touchbase_core::rules::{self, Rule, Span};
use touchbase_store::feed::{self, NewEndpoint, Shown, TestRun};
use touchbase_store::outbox::{Attempt, Delivery, DeliveryFilter, DeliveryState, FeedCount};

use crate::AppState;
use crate::extract::json_body;
use crate::extract::{Path, Query};
use crate::problem::ApiError;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/endpoints", get(list_endpoints).post(add_endpoint))
        .route("/api/endpoints/{key}/rotate", post(rotate_endpoint))
        .route("/api/endpoints/{key}/disable", post(disable_endpoint))
        .route("/api/endpoints/{key}/enable", post(enable_endpoint))
        .route("/api/rules", get(list_rules).post(put_rules))
        .route("/api/rules/test", post(test_rule))
        .route("/api/rules/{key}", get(get_rule).delete(remove_rule))
        .route("/api/rules/{key}/disable", post(disable_rule))
        .route("/api/rules/{key}/enable", post(enable_rule))
        .route("/api/deliveries", get(list_deliveries))
        .route("/api/deliveries/replay", post(replay))
        .route("/api/deliveries/{id}", get(get_delivery))
        .route("/metrics", get(metrics))
}

fn bad(parameter: &str, rule: impl std::fmt::Display) -> ApiError {
    ApiError::BadRequest(format!("{parameter}: {rule}"))
}

fn keys(state: &AppState) -> Result<&touchbase_core::endpoint::Keys, ApiError> {
    state.keys.as_deref().ok_or_else(|| {
        ApiError::Conflict(
            "this server was started without the organization's key: endpoints' secrets cannot be made here"
                .to_owned(),
        )
    })
}

/// The endpoints (never their secrets).
#[utoipa::path(get, path = "/api/endpoints", responses((status = 200, body = Vec<Endpoint>)))]
async fn list_endpoints(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
) -> Result<Json<Vec<Endpoint>>, ApiError> {
    Ok(Json(feed::endpoints(&*state.store, &actor).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct EndpointBody {
    key: String,
    kind: EndpointKind,
    /// The URL, NATS subject or MQTT topic.
    target: String,
    #[serde(default)]
    allow_private: bool,
}

/// Declares an endpoint (admins); the answer holds its signing secret, shown only this once.
#[utoipa::path(post, path = "/api/endpoints", request_body = EndpointBody, responses(
    (status = 201, body = Shown),
    (status = 409, description = "The server was started without the organization's key", body = crate::Problem),
    (status = 422, body = crate::Problem),
))]
async fn add_endpoint(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let b: EndpointBody = json_body(&body)?;
    let shown = feed::add_endpoint(
        &*state.store,
        &actor,
        keys(&state)?,
        NewEndpoint {
            key: b.key,
            kind: b.kind,
            target: b.target,
            allow_private: b.allow_private,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(shown)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct RotateQuery {
    /// How long the previous secret keeps signing beside the new one (default 24h).
    overlap: Option<String>,
}

/// A new signing secret (admins); the previous one signs beside it for `overlap`.
#[utoipa::path(post, path = "/api/endpoints/{key}/rotate", params(("key" = String, Path), RotateQuery), responses(
    (status = 200, body = Shown),
    (status = 409, description = "The server was started without the organization's key", body = crate::Problem),
))]
async fn rotate_endpoint(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(key): Path<String>,
    Query(q): Query<RotateQuery>,
) -> Result<Json<Shown>, ApiError> {
    let overlap =
        Span::parse(q.overlap.as_deref().unwrap_or("24h")).map_err(|e| bad("overlap", e))?;
    Ok(Json(
        feed::rotate_endpoint(&*state.store, &actor, keys(&state)?, &key, overlap.micros()).await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct DisableQuery {
    reason: Option<String>,
}

/// Sends nothing to an endpoint until it is enabled (admins); its deliveries wait.
#[utoipa::path(post, path = "/api/endpoints/{key}/disable", params(("key" = String, Path), DisableQuery), responses((status = 204)))]
async fn disable_endpoint(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(key): Path<String>,
    Query(q): Query<DisableQuery>,
) -> Result<StatusCode, ApiError> {
    let reason = q
        .reason
        .unwrap_or_else(|| format!("disabled by {}", actor.name));
    feed::set_endpoint_disabled(&*state.store, &actor, &key, Some(&reason)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/endpoints/{key}/enable", params(("key" = String, Path)), responses((status = 204)))]
async fn enable_endpoint(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(key): Path<String>,
) -> Result<StatusCode, ApiError> {
    feed::set_endpoint_disabled(&*state.store, &actor, &key, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/rules", responses((status = 200, body = Vec<Rule>)))]
async fn list_rules(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
) -> Result<Json<Vec<Rule>>, ApiError> {
    Ok(Json(feed::rules(&*state.store, &actor).await?))
}

/// Adds rules or replaces those with the same keys (admins): a YAML text, one rule per
/// document, or a JSON rule or array of rules.
#[utoipa::path(post, path = "/api/rules", request_body(description = "Rules: YAML, one rule per document, or JSON, a rule or an array of rules", content(
    (Rule = "application/yaml"),
    (Vec<Rule> = "application/json"),
)), responses(
    (status = 200, body = Vec<Rule>),
    (status = 422, body = crate::Problem),
))]
async fn put_rules(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    body: Bytes,
) -> Result<Json<Vec<Rule>>, ApiError> {
    // The role before the body is parsed.
    actor.require(touchbase_core::Permission::Administer)?;
    let rules = parse_body(body).await?;
    feed::put_rules(&*state.store, &actor, &rules).await?;
    Ok(Json(rules))
}

/// The rules of a body, parsed off the async workers within a budget ([`crate::parse`]).
async fn parse_body(body: Bytes) -> Result<Vec<Rule>, ApiError> {
    crate::parse::bounded("the rules", move || {
        let text = std::str::from_utf8(&body).map_err(|_| bad("body", "must be UTF-8 text"))?;
        if let Ok(many) = serde_json::from_str::<Vec<Rule>>(text) {
            return Ok(many);
        }
        rules::parse_rules(text).map_err(|e| bad("body", e))
    })
    .await?
}

#[utoipa::path(get, path = "/api/rules/{key}", params(("key" = String, Path)), responses((status = 200, body = Rule), (status = 404, body = crate::Problem)))]
async fn get_rule(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(key): Path<String>,
) -> Result<Json<Rule>, ApiError> {
    Ok(Json(feed::rule(&*state.store, &actor, &key).await?))
}

#[utoipa::path(delete, path = "/api/rules/{key}", params(("key" = String, Path)), responses((status = 204)))]
async fn remove_rule(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(key): Path<String>,
) -> Result<StatusCode, ApiError> {
    feed::remove_rule(&*state.store, &actor, &key).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/rules/{key}/disable", params(("key" = String, Path)), responses((status = 204)))]
async fn disable_rule(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(key): Path<String>,
) -> Result<StatusCode, ApiError> {
    feed::set_rule_disabled(&*state.store, &actor, &key, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/rules/{key}/enable", params(("key" = String, Path)), responses((status = 204)))]
async fn enable_rule(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(key): Path<String>,
) -> Result<StatusCode, ApiError> {
    feed::set_rule_disabled(&*state.store, &actor, &key, false).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct TestQuery {
    /// A saved rule's key; without it, the body holds the rule (YAML or JSON).
    key: Option<String>,
    from: Option<String>,
    to: Option<String>,
    /// How many firings to return with their bodies (default 5, at most 1,000).
    samples: Option<usize>,
}

/// Runs a rule over the stored history as if each event had just arrived, sending nothing:
/// every time it would have fired, and the bodies of the first.
#[utoipa::path(post, path = "/api/rules/test", params(TestQuery), request_body(description = "The rule (YAML or JSON), when `key` is not given", content(
    (Rule = "application/yaml"),
    (Rule = "application/json"),
)), responses(
    (status = 200, body = TestRun),
    (status = 404, description = "No saved rule has that `key`", body = crate::Problem),
    (status = 422, description = "The rule breaks a rule of the feed", body = crate::Problem),
))]
async fn test_rule(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Query(q): Query<TestQuery>,
    body: Bytes,
) -> Result<Json<TestRun>, ApiError> {
    actor.require(touchbase_core::Permission::Export)?;
    let rule = match &q.key {
        Some(key) => feed::rule(&*state.store, &actor, key).await?,
        None => parse_body(body)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| bad("body", "holds no rule"))?,
    };
    let bound = |name: &str, text: Option<&str>| {
        text.map(|t| period::parse_bound(t).map_err(|e| bad(name, e)))
            .transpose()
    };
    let p = period::requested(
        bound("from", q.from.as_deref())?,
        bound("to", q.to.as_deref())?,
        touchbase_store::ingest::now_us(),
    )
    .map_err(|e| bad("from/to", e))?;
    let p = crate::measure::within_bounds(p)?;
    let samples = q.samples.unwrap_or(5).min(1_000);
    Ok(Json(
        feed::test_rule(&*state.store, &actor, &rule, p.from, p.to, samples).await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct DeliveriesQuery {
    /// pending, delivered or dead.
    state: Option<String>,
    rule: Option<String>,
    endpoint: Option<String>,
    /// Fired at or after: a date or an RFC 3339 instant.
    since: Option<String>,
    /// At most this many, newest first (default 100, at most 10,000).
    limit: Option<u32>,
}

fn filter_of(q: &DeliveriesQuery) -> Result<DeliveryFilter, ApiError> {
    let state = q
        .state
        .as_deref()
        .map(|s| {
            DeliveryState::parse(s).ok_or_else(|| {
                bad(
                    "state",
                    format!("must be pending, delivered or dead, got `{s}`"),
                )
            })
        })
        .transpose()?;
    let since = q
        .since
        .as_deref()
        .map(|t| period::parse_bound(t).map_err(|e| bad("since", e)))
        .transpose()?;
    Ok(DeliveryFilter {
        state,
        rule: q.rule.clone(),
        endpoint: q.endpoint.clone(),
        since,
        limit: Some(q.limit.unwrap_or(100).min(10_000)),
    })
}

#[utoipa::path(get, path = "/api/deliveries", params(DeliveriesQuery), responses((status = 200, body = Vec<Delivery>)))]
async fn list_deliveries(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Query(q): Query<DeliveriesQuery>,
) -> Result<Json<Vec<Delivery>>, ApiError> {
    Ok(Json(
        feed::deliveries(&*state.store, &actor, &filter_of(&q)?).await?,
    ))
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
struct DeliveryWithAttempts {
    delivery: Delivery,
    attempts: Vec<Attempt>,
}

#[utoipa::path(get, path = "/api/deliveries/{id}", params(("id" = String, Path)), responses((status = 200, body = DeliveryWithAttempts), (status = 404, body = crate::Problem)))]
async fn get_delivery(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
) -> Result<Json<DeliveryWithAttempts>, ApiError> {
    let (delivery, attempts) = feed::delivery(&*state.store, &actor, &id).await?;
    Ok(Json(DeliveryWithAttempts { delivery, attempts }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ReplayBody {
    /// These deliveries; or else every one the other fields select.
    #[serde(default)]
    ids: Vec<String>,
    since: Option<String>,
    rule: Option<String>,
    state: Option<String>,
}

/// How many deliveries a replay sent again (named apart from the rejects' `Replayed`).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[schema(as = DeliveriesReplayed)]
struct Replayed {
    replayed: u64,
}

/// Sends deliveries again (admins): by id, or those fired since `since` (of a rule, in a state).
#[utoipa::path(post, path = "/api/deliveries/replay", request_body = ReplayBody, responses(
    (status = 200, body = Replayed),
    (status = 422, description = "An id names no delivery", body = crate::Problem),
))]
async fn replay(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    body: Bytes,
) -> Result<Json<Replayed>, ApiError> {
    let b: ReplayBody = json_body(&body)?;
    if b.ids.is_empty() && b.since.is_none() {
        return Err(bad(
            "body",
            "name the deliveries: `ids`, or `since` (with `rule`, `state`)",
        ));
    }
    let filter = filter_of(&DeliveriesQuery {
        state: b.state,
        rule: b.rule,
        endpoint: None,
        since: b.since,
        limit: None,
    })?;
    let filter = DeliveryFilter {
        limit: None,
        ..filter
    };
    let replayed = feed::replay(&*state.store, &actor, &b.ids, &filter).await?;
    state.written.notify_one();
    Ok(Json(Replayed { replayed }))
}

/// The reverse feed's counters in the Prometheus text format: deliveries fired, delivered,
/// pending and dead, and attempts retried, by rule and endpoint.
#[utoipa::path(get, path = "/metrics", responses((status = 200, content_type = "text/plain", body = String)))]
async fn metrics(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
) -> Result<impl IntoResponse, ApiError> {
    actor.require(touchbase_core::Permission::Read)?;
    let counts = state.store.feed_counts().await?;
    let mut out = String::new();
    type Series = (
        &'static str,
        &'static str,
        &'static str,
        fn(&FeedCount) -> u64,
    );
    let series: [Series; 5] = [
        (
            "touchbase_feed_fired_total",
            "counter",
            "Deliveries written by rule firings.",
            |c| c.fired,
        ),
        (
            "touchbase_feed_delivered_total",
            "counter",
            "Deliveries the target acknowledged.",
            |c| c.delivered,
        ),
        (
            "touchbase_feed_retried_total",
            "counter",
            "Failed attempts that were tried again.",
            |c| c.retried,
        ),
        (
            "touchbase_feed_dead_total",
            "counter",
            "Deliveries whose retry schedule is spent.",
            |c| c.dead,
        ),
        (
            "touchbase_feed_pending",
            "gauge",
            "Deliveries waiting for an attempt.",
            |c| c.pending,
        ),
    ];
    for (name, kind, help, value) in series {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
        for c in &counts {
            out.push_str(&format!(
                "{name}{{rule=\"{}\",endpoint=\"{}\"}} {}\n",
                c.rule,
                c.endpoint,
                value(c)
            ));
        }
    }
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out))
}
