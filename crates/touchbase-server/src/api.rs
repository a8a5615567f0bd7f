//! The routes of the JSON API and the dashboard. Each handler carries its OpenAPI description.

use axum::body::Bytes;
use axum::extract::{Extension, Request, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::response::{Html, IntoResponse};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use touchbase_core::audit::Record;
use touchbase_core::change::ImportSummary;
use touchbase_core::event::{HeldPoint, NewReject, Reject};
use touchbase_core::governance::Proposal;
use touchbase_core::journeys::Summary as JourneySummary;
use touchbase_core::portfolio::Assessment;
use touchbase_core::{Actor, Permission};
use touchbase_core::{
    Change, Inventory, Mode, Organization, Party, Point, Process, Status, Violation, Violations,
    file,
};
use touchbase_store::ingest::{self, Input, Outcome, Replayed, Summary};
use touchbase_store::inventory::{self as ops, ImportMode};
use touchbase_store::measure::{Card, PointQuality};
use touchbase_store::{audit, proposals};
use utoipa::OpenApi;

use crate::AppState;
use crate::document::Shared;
use crate::extract::{Path, Query};
use crate::page::{Paged, Paging};
use crate::problem::{ApiError, Problem};

#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "touchbase",
        description = "The system of record for an organization's points of interaction.",
    ),
    paths(
        healthz,
        openapi,
        me,
        get_inventory,
        export_inventory,
        import_inventory,
        get_organization,
        list_processes,
        list_parties,
        list_points,
        add_point,
        get_point,
        put_point,
        retire_point,
        go_live,
        list_proposals,
        get_proposal,
        approve_proposal,
        reject_proposal,
        audit_log,
        audit_verify,
        list_tokens,
        post_events,
        undocumented,
        list_rejects,
        replay_rejects,
        crate::measure::scorecards,
        crate::measure::portfolio,
        crate::measure::journeys,
        crate::measure::what_if,
        crate::measure::quality,
        crate::measure::get_settings,
        crate::measure::put_setting,
        crate::report::report,
        crate::feed::list_endpoints,
        crate::feed::add_endpoint,
        crate::feed::rotate_endpoint,
        crate::feed::disable_endpoint,
        crate::feed::enable_endpoint,
        crate::feed::list_rules,
        crate::feed::put_rules,
        crate::feed::get_rule,
        crate::feed::remove_rule,
        crate::feed::disable_rule,
        crate::feed::enable_rule,
        crate::feed::test_rule,
        crate::feed::list_deliveries,
        crate::feed::get_delivery,
        crate::feed::replay,
        crate::feed::metrics,
        crate::standing::list_orders,
        crate::standing::list_runs,
        crate::standing::get_order,
        crate::standing::change_order,
        crate::standing::new_link,
        crate::standing::run_step,
        crate::voice::list_surveys,
        crate::voice::put_survey,
        crate::voice::get_survey,
        crate::voice::post_responses,
        crate::voice::get_codebook,
        crate::voice::put_codebook,
        crate::voice::themes,
        crate::answers::list_answers,
        crate::answers::tag_answer,
        crate::answers::sample,
        crate::answers::post_codings,
        crate::answers::agreement,
        crate::answers::why_buy,
        crate::answers::add_statement,
        crate::answers::key_customers,
        crate::answers::survey_invitations,
        crate::answers::forget,
    ),
    components(schemas(Problem, Inventory, Point, Change, ImportSummary, Proposal, Record, EventsReply, HeldPoint, Reject, Card, Assessment, JourneySummary, PointQuality, touchbase_store::measure::WhatIf)),
    modifiers(&Shared),
    security(("bearer" = []))
)]
pub struct ApiDoc;

pub fn routes(state: AppState) -> Router<AppState> {
    let api = Router::new()
        .route("/api/me", get(me))
        .route("/api/inventory", get(get_inventory))
        .route("/api/inventory/export", get(export_inventory))
        .route("/api/inventory/import", post(import_inventory))
        .route("/api/organization", get(get_organization))
        .route("/api/processes", get(list_processes))
        .route("/api/parties", get(list_parties))
        .route("/api/points", get(list_points).post(add_point))
        .route("/api/points/{key}", get(get_point).put(put_point))
        .route("/api/points/{key}/retire", post(retire_point))
        .route("/api/points/{key}/go-live", post(go_live))
        .route("/api/proposals", get(list_proposals))
        .route("/api/proposals/{id}", get(get_proposal))
        .route("/api/proposals/{id}/approve", post(approve_proposal))
        .route("/api/proposals/{id}/reject", post(reject_proposal))
        .route("/api/audit", get(audit_log))
        .route("/api/audit/verify", get(audit_verify))
        .route("/api/tokens", get(list_tokens))
        .route("/api/events", post(post_events))
        .route("/api/undocumented", get(undocumented))
        .route("/api/rejects", get(list_rejects))
        .route("/api/rejects/replay", post(replay_rejects))
        .merge(crate::measure::routes())
        .merge(crate::report::routes())
        .merge(crate::feed::routes())
        .merge(crate::standing::routes())
        .merge(crate::voice::routes())
        .merge(crate::answers::routes())
        .route_layer(middleware::from_fn_with_state(state, authenticate));
    Router::new()
        .route("/", get(dashboard))
        .route("/healthz", get(healthz))
        .route("/api/openapi.json", get(openapi))
        .merge(crate::self_service::routes())
        .merge(crate::survey_page::routes())
        .merge(api)
        .fallback(not_found)
}

/// The token of an `Authorization` header's `Bearer` credentials; the scheme's name is
/// case-insensitive (RFC 9110 §11.1).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim_start().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Every API call but `/healthz` and the OpenAPI document carries `Authorization: Bearer TOKEN`;
/// the token's user becomes the call's [`Actor`]. A client address with too many failed
/// authentications (calls with a token that is unknown or revoked) waits
/// ([`crate::tokens::Throttle`]): 429 with `Retry-After` meanwhile.
async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, Response> {
    // The peer's address as the listener gives it (or as a test's `MockConnectInfo` does).
    let extensions = request.extensions();
    let peer = extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip())
        .or_else(|| {
            extensions
                .get::<axum::extract::connect_info::MockConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.ip())
        });
    let too_many = |wait: std::time::Duration| {
        let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
        (
            [(header::RETRY_AFTER, secs.to_string())],
            ApiError::TooManyRequests(format!(
                "too many failed authentications from this address: try again in {secs} s with a valid token"
            )),
        )
            .into_response()
    };
    let secret = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer);
    // Only a call that presents a token is held back: a call without one guesses nothing and
    // costs nothing to refuse, so it neither counts nor waits.
    if secret.is_some()
        && let Some(ip) = peer
        && let Err(wait) = state.throttle.check(ip, std::time::Instant::now())
    {
        return Err(too_many(wait));
    }
    let outcome = match secret {
        Some(secret) => state
            .tokens
            .actor(&*state.store, secret)
            .await
            .map_err(ApiError::from),
        None => Err(ApiError::Unauthorized(
            "send `Authorization: Bearer TOKEN`; an admin issues tokens with `touchbase user add` or `touchbase token issue`"
                .to_owned(),
        )),
    };
    match outcome {
        Ok(actor) => {
            request.extensions_mut().insert(actor);
            Ok(next.run(request).await)
        }
        Err(e) => {
            // A failed authentication counts against the address; a call with a token that
            // failed for another reason (the store) does not.
            if let (Some(ip), Some(_), ApiError::Unauthorized(_)) = (peer, secret, &e) {
                let wait = state.throttle.failed(ip, std::time::Instant::now());
                if !wait.is_zero() {
                    return Err(too_many(wait));
                }
            }
            Err(e.into_response())
        }
    }
}

async fn dashboard() -> impl IntoResponse {
    (
        [(
            header::CONTENT_SECURITY_POLICY,
            crate::headers::DASHBOARD_POLICY.as_str(),
        )],
        Html(crate::headers::DASHBOARD),
    )
}

/// This document: the API in OpenAPI 3.1.
#[utoipa::path(get, path = "/api/openapi.json", responses(
    (status = 200, description = "The OpenAPI 3.1 document", body = Object),
))]
async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

async fn not_found(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(format!(
        "no such route: {method} {}; /api/openapi.json lists the API",
        uri.path()
    ))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Health {
    status: &'static str,
    store: &'static str,
}

/// Who the token is: its user's name, role and teams, and what the role may do.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Me {
    name: String,
    role: touchbase_core::Role,
    teams: Vec<String>,
    /// `read`, `export`, `propose`, `ingest`, `decide`, `administer`: what the role allows.
    may: Vec<&'static str>,
}

/// The caller: who its token stands for and what it may do (the dashboard shows only the
/// actions the caller may take).
#[utoipa::path(get, path = "/api/me", responses((status = 200, body = Me)))]
async fn me(Extension(actor): Extension<Actor>) -> Json<Me> {
    use Permission::*;
    let may = [
        (Read, "read"),
        (Export, "export"),
        (Propose, "propose"),
        (Ingest, "ingest"),
        (Decide, "decide"),
        (Administer, "administer"),
    ]
    .into_iter()
    .filter(|(p, _)| actor.role.allows(*p))
    .map(|(_, name)| name)
    .collect();
    Json(Me {
        name: actor.name,
        role: actor.role,
        teams: actor.teams,
        may,
    })
}

/// Liveness: answers as long as the server runs.
#[utoipa::path(get, path = "/healthz", responses((status = 200, body = Health)))]
async fn healthz(State(state): State<AppState>) -> Json<Health> {
    Json(Health {
        status: "ok",
        store: state.store.backend(),
    })
}

/// The whole inventory.
#[utoipa::path(get, path = "/api/inventory", responses(
    (status = 200, body = Inventory),
    (status = 409, description = "The store holds no inventory yet", body = Problem),
))]
async fn get_inventory(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
) -> Result<Json<Inventory>, ApiError> {
    actor.require(Permission::Read)?;
    Ok(Json(ops::get(&*state.store).await?.value))
}

/// The inventory as a YAML file: the same bytes as `touchbase inventory export`.
#[utoipa::path(get, path = "/api/inventory/export", responses(
    (status = 200, content_type = "application/yaml", body = Inventory, description = "The inventory file: the inventory as YAML"),
    (status = 409, description = "The store holds no inventory yet", body = Problem),
))]
async fn export_inventory(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
) -> Result<impl IntoResponse, ApiError> {
    actor.require(Permission::Export)?;
    let inventory = ops::get(&*state.store).await?.value;
    Ok((
        [(header::CONTENT_TYPE, "application/yaml")],
        file::render_inventory(&inventory),
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct ImportQuery {
    /// Only say what the import would change.
    #[serde(default)]
    dry_run: bool,
    /// Record the file's points, never seen before, as they are (the first inventory).
    #[serde(default)]
    baseline: bool,
}

/// Applies an inventory file (YAML or JSON): the stored inventory becomes the file's. The
/// caller's role is checked before the body is read; a file nested deeper than 64 levels is
/// refused before it is parsed, and parsing has a budget of 5 s.
#[utoipa::path(post, path = "/api/inventory/import", params(ImportQuery),
    request_body(description = "An inventory file: YAML, or JSON", content(
        (Inventory = "application/yaml"),
        (Inventory = "application/json"),
    )),
    responses(
        (status = 200, body = ImportSummary),
        (status = 400, description = "Not YAML, or nested deeper than 64 levels", body = Problem),
        (status = 403, description = "The role may not import", body = Problem),
        (status = 413, description = "Larger than the body limit, or longer to parse than its budget", body = Problem),
        (status = 422, description = "A rule is broken", body = Problem),
    ))]
async fn import_inventory(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Extension(config): Extension<crate::ServerConfig>,
    Query(query): Query<ImportQuery>,
    body: axum::body::Body,
) -> Result<Json<ImportSummary>, ApiError> {
    // The role first: a caller who may not import never gets the body read or parsed.
    actor.require(Permission::Administer)?;
    let body = crate::parse::read_body(body, config.body_limit).await?;
    let mode = if query.baseline {
        ImportMode::Baseline
    } else {
        ImportMode::Normal
    };
    let text = String::from_utf8(body.to_vec())
        .map_err(|_| ApiError::BadRequest("the body must be UTF-8 text".to_owned()))?;
    let inventory =
        crate::parse::bounded("the inventory", move || file::parse_inventory(&text)).await??;
    let changes = if query.dry_run {
        ops::plan_import(&*state.store, &actor, &inventory, mode).await?
    } else {
        ops::import(&*state.store, &actor, &inventory, mode).await?
    };
    Ok(Json(ImportSummary::new(query.dry_run, changes)))
}

/// The organization: name, industry, currency, industry variables.
#[utoipa::path(get, path = "/api/organization", responses((status = 200, body = Organization)))]
async fn get_organization(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
) -> Result<Json<Organization>, ApiError> {
    actor.require(Permission::Read)?;
    Ok(Json(ops::get(&*state.store).await?.value.organization))
}

/// The business processes and their steps.
#[utoipa::path(get, path = "/api/processes", responses((status = 200, body = Vec<Process>)))]
async fn list_processes(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
) -> Result<Json<Vec<Process>>, ApiError> {
    actor.require(Permission::Read)?;
    Ok(Json(ops::get(&*state.store).await?.value.processes))
}

/// The party types.
#[utoipa::path(get, path = "/api/parties", responses((status = 200, body = Vec<Party>)))]
async fn list_parties(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
) -> Result<Json<Vec<Party>>, ApiError> {
    actor.require(Permission::Read)?;
    Ok(Json(ops::get(&*state.store).await?.value.parties))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct PointFilter {
    /// Only points with this status.
    status: Option<Status>,
    /// Only points of this business function.
    function: Option<String>,
    /// Only points with this interface mode.
    mode: Option<Mode>,
}

/// The points of interaction, ordered by key; paged (`limit`: default 1,000, at most 10,000).
#[utoipa::path(get, path = "/api/points", params(PointFilter, Paging), responses(
    (status = 200, body = Vec<Point>, headers(("Link" = String, description = "The next page: `<…&cursor=…>; rel=\"next\"`, absent on the last"))),
    (status = 400, description = "`limit` or `cursor` breaks its rule", body = Problem),
))]
async fn list_points(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Query(filter): Query<PointFilter>,
    Query(paging): Query<Paging>,
    uri: Uri,
) -> Result<Paged<Point>, ApiError> {
    actor.require(Permission::Read)?;
    let page = paging.page(1_000, 10_000, |k| Some(k.to_owned()))?;
    let points = ops::get(&*state.store).await?.value.points;
    let points = points
        .into_iter()
        .filter(|p| filter.status.is_none_or(|s| p.status == s))
        .filter(|p| filter.function.as_ref().is_none_or(|f| &p.function == f))
        .filter(|p| filter.mode.is_none_or(|m| p.mode == m))
        .collect();
    Ok(Paged::of(points, |p| p.key.clone(), page, uri))
}

fn decode_point(body: &[u8]) -> Result<Point, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("the body is not JSON: {e}")))?;
    Ok(file::decode_value(value)?)
}

async fn stored_point(state: &AppState, key: &str) -> Result<Point, ApiError> {
    let inventory = ops::get(&*state.store).await?.value;
    inventory
        .point(key)
        .cloned()
        .ok_or_else(|| touchbase_store::OpError::PointNotFound(key.to_owned()).into())
}

/// Adds a point of interaction.
#[utoipa::path(post, path = "/api/points", request_body = Point, responses(
    (status = 201, body = Point),
    (status = 409, description = "A point with this key exists", body = Problem),
    (status = 422, description = "A rule is broken", body = Problem),
))]
async fn add_point(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    body: Bytes,
) -> Result<(StatusCode, Json<Point>), ApiError> {
    let point = decode_point(&body)?;
    let key = point.key.clone();
    ops::add_point(&*state.store, &actor, point).await?;
    Ok((StatusCode::CREATED, Json(stored_point(&state, &key).await?)))
}

/// A point with its version in an `ETag` header.
fn tagged(point: Point) -> impl IntoResponse {
    ([(header::ETAG, point.etag())], Json(point))
}

/// One point of interaction, with its version in `ETag`: send it back as `If-Match` to
/// change the point.
#[utoipa::path(get, path = "/api/points/{key}", params(("key" = String, Path)), responses(
    (status = 200, body = Point, headers(
        ("ETag" = String, description = "The point's version: `If-Match` of a `PUT` names it"),
    )),
    (status = 404, body = Problem),
))]
async fn get_point(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(key): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    actor.require(Permission::Read)?;
    Ok(tagged(stored_point(&state, &key).await?))
}

/// The entity tags of an `If-Match` header (RFC 9110 §13.1.1): `None` for `*` (any version);
/// weak tags never match (strong comparison).
fn if_match(headers: &HeaderMap) -> Result<Option<Vec<String>>, ApiError> {
    let required = || {
        ApiError::PreconditionRequired(
            "changing a point needs `If-Match` with the `ETag` of `GET /api/points/{key}`, so that an edit made meanwhile is not overwritten".to_owned(),
        )
    };
    let mut tags = Vec::new();
    let mut any = false;
    for value in headers.get_all(header::IF_MATCH) {
        let value = value.to_str().map_err(|_| {
            ApiError::BadRequest("If-Match: must be entity tags such as \"3f2a…\"".to_owned())
        })?;
        for tag in value.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            if tag == "*" {
                any = true;
            } else if tag.starts_with('"') && tag.ends_with('"') && tag.len() >= 2 {
                tags.push(tag.to_owned());
            } else if !tag.starts_with("W/") {
                return Err(ApiError::BadRequest(format!(
                    "If-Match: `{tag}` is not an entity tag; send the `ETag` of `GET /api/points/{{key}}` as it came, quotes included"
                )));
            }
        }
    }
    match (any, tags.is_empty()) {
        (true, _) => Ok(None),
        (false, false) => Ok(Some(tags)),
        (false, true) if headers.contains_key(header::IF_MATCH) => Ok(Some(tags)),
        (false, true) => Err(required()),
    }
}

/// Replaces a point's definition, only over the version read: `If-Match` carries the `ETag`
/// of `GET /api/points/{key}` (or `*` for any version).
#[utoipa::path(put, path = "/api/points/{key}",
    params(
        ("key" = String, Path),
        ("If-Match" = String, Header, description = "The `ETag` of the point as read (or `*`)"),
    ),
    request_body = Point,
    responses(
        (status = 200, body = Point, headers(("ETag" = String, description = "The point's new version"))),
        (status = 404, body = Problem),
        (status = 412, description = "The point changed since it was read: read it again", body = Problem),
        (status = 422, body = Problem),
        (status = 428, description = "No `If-Match`", body = Problem),
    ))]
async fn put_point(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    actor.require(Permission::Propose)?;
    let expected = if_match(&headers)?;
    let point = decode_point(&body)?;
    if point.key != key {
        return Err(ApiError::Invalid(Violations(vec![Violation::new(
            format!("point `{key}`"),
            "key",
            format!(
                "must be the key in the URL (`{key}`), got `{}`; a key cannot change",
                point.key
            ),
        )])));
    }
    match expected {
        None => ops::put_point(&*state.store, &actor, point).await?,
        Some(tags) => {
            let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
            ops::put_point_if(&*state.store, &actor, point, &tags).await?
        }
    };
    Ok(tagged(stored_point(&state, &key).await?))
}

/// Retires a point: it stays in the inventory but is no longer live.
#[utoipa::path(post, path = "/api/points/{key}/retire", params(("key" = String, Path)), responses(
    (status = 200, body = Point),
    (status = 404, body = Problem),
    (status = 422, description = "The inventory after would break a rule", body = Problem),
))]
async fn retire_point(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(key): Path<String>,
) -> Result<Json<Point>, ApiError> {
    ops::retire_point(&*state.store, &actor, &key).await?;
    Ok(Json(stored_point(&state, &key).await?))
}

/// Takes an approved point live (its owner, after sign-off).
#[utoipa::path(post, path = "/api/points/{key}/go-live", params(("key" = String, Path)), responses(
    (status = 200, body = Point),
    (status = 403, body = Problem),
    (status = 422, description = "The point is not approved", body = Problem),
))]
async fn go_live(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(key): Path<String>,
) -> Result<Json<Point>, ApiError> {
    ops::go_live(&*state.store, &actor, &key).await?;
    Ok(Json(stored_point(&state, &key).await?))
}

/// Every proposal, oldest first; paged (`limit`: default 1,000, at most 10,000).
#[utoipa::path(get, path = "/api/proposals", params(Paging), responses(
    (status = 200, body = Vec<Proposal>, headers(("Link" = String, description = "The next page: `<…&cursor=…>; rel=\"next\"`, absent on the last"))),
    (status = 400, description = "`limit` or `cursor` breaks its rule", body = Problem),
))]
async fn list_proposals(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Query(paging): Query<Paging>,
    uri: Uri,
) -> Result<Paged<Proposal>, ApiError> {
    let page = paging.page(1_000, 10_000, |k| k.parse::<u64>().ok())?;
    let proposals = proposals::list(&*state.store, &actor).await?;
    Ok(Paged::of(proposals, |p| p.id, page, uri))
}

/// One proposal with its business case and decisions.
#[utoipa::path(get, path = "/api/proposals/{id}", params(("id" = u64, Path)), responses(
    (status = 200, body = Proposal),
    (status = 404, body = Problem),
))]
async fn get_proposal(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<u64>,
) -> Result<Json<Proposal>, ApiError> {
    Ok(Json(proposals::get(&*state.store, &actor, id).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct DecisionBody {
    /// Why: every decision carries one.
    comment: String,
}

async fn decide(
    state: &AppState,
    actor: &Actor,
    id: u64,
    approve: bool,
    body: &[u8],
) -> Result<Json<Proposal>, ApiError> {
    let body: DecisionBody = serde_json::from_slice(body).map_err(|e| {
        ApiError::BadRequest(format!("the body must be {{\"comment\": \"…\"}}: {e}"))
    })?;
    Ok(Json(
        proposals::decide(&*state.store, actor, id, approve, &body.comment).await?,
    ))
}

/// Approves a proposal (executives); with enough approvals it is carried out.
#[utoipa::path(post, path = "/api/proposals/{id}/approve", params(("id" = u64, Path)),
    request_body = DecisionBody,
    responses((status = 200, body = Proposal), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn approve_proposal(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<u64>,
    body: Bytes,
) -> Result<Json<Proposal>, ApiError> {
    decide(&state, &actor, id, true, &body).await
}

/// Rejects a proposal (executives); one rejection rejects.
#[utoipa::path(post, path = "/api/proposals/{id}/reject", params(("id" = u64, Path)),
    request_body = DecisionBody,
    responses((status = 200, body = Proposal), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn reject_proposal(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<u64>,
    body: Bytes,
) -> Result<Json<Proposal>, ApiError> {
    decide(&state, &actor, id, false, &body).await
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct AuditQuery {
    /// Only records about this point (its own and its proposals').
    point: Option<String>,
    /// Only records by this actor.
    actor: Option<String>,
    /// Only records at or after this instant (RFC 3339).
    since: Option<String>,
}

/// The audit trail (R7), oldest first; paged (`limit`: default 1,000, at most 10,000).
#[utoipa::path(get, path = "/api/audit", params(AuditQuery, Paging), responses(
    (status = 200, body = Vec<Record>, headers(("Link" = String, description = "The next page: `<…&cursor=…>; rel=\"next\"`, absent on the last"))),
    (status = 400, description = "A parameter breaks its rule", body = Problem),
    (status = 403, body = Problem),
))]
async fn audit_log(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Query(query): Query<AuditQuery>,
    Query(paging): Query<Paging>,
    uri: Uri,
) -> Result<Paged<Record>, ApiError> {
    let page = paging.page(1_000, 10_000, |k| k.parse::<u64>().ok())?;
    let since = query
        .since
        .map(|s| s.parse::<jiff::Timestamp>())
        .transpose()
        .map_err(|e| {
            ApiError::BadRequest(format!(
                "since: must be an RFC 3339 instant such as 2026-01-31T00:00:00Z: {e}"
            ))
        })?;
    let filter = audit::Filter {
        point: query.point,
        actor: query.actor,
        since,
    };
    let records = audit::log(&*state.store, &actor, &filter).await?;
    Ok(Paged::of(records, |r| r.seq, page, uri))
}

/// Checks the audit trail — its hash chain, its seals against the organization key, its head
/// file, and the stored entities replayed against it — as `touchbase audit verify --json`
/// does: 200 whatever it finds (`intact`, `problem`).
#[utoipa::path(get, path = "/api/audit/verify", responses(
    (status = 200, body = audit::Verification),
    (status = 403, body = Problem),
))]
async fn audit_verify(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
) -> Result<Json<audit::Verification>, ApiError> {
    Ok(Json(audit::verify(&*state.store, &actor).await?))
}

/// Every API token (never its secret) with its user, when it was issued, revoked and last
/// used (recorded to the minute); admins only.
#[utoipa::path(get, path = "/api/tokens", responses(
    (status = 200, body = Vec<touchbase_core::access::Token>),
    (status = 403, body = Problem),
))]
async fn list_tokens(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
) -> Result<Json<Vec<touchbase_core::access::Token>>, ApiError> {
    Ok(Json(
        touchbase_store::access::list(&*state.store, &actor)
            .await?
            .1,
    ))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct EventsReply {
    summary: Summary,
    /// What became of each event, in the order sent.
    results: Vec<Outcome>,
}

/// Splits a body into one input per event: a JSON array (or one object) for
/// `application/json`, one line per event for NDJSON (`application/x-ndjson`).
fn split_events(body: &str, ndjson: bool) -> Result<Vec<Input>, String> {
    split_inputs(body, ndjson, "events", "event")
}

/// A body split into one input per item (`what`: `events`, `responses`): NDJSON lines, a JSON
/// array's elements, or the one object.
pub(crate) fn split_inputs(
    body: &str,
    ndjson: bool,
    what: &str,
    one: &str,
) -> Result<Vec<Input>, String> {
    let input = |raw: &str| Input::new(raw, "http");
    if ndjson {
        return Ok(body
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(input)
            .collect());
    }
    let trimmed = body.trim_start();
    if trimmed.starts_with('{') {
        return Ok(vec![input(body)]);
    }
    let items: Vec<&serde_json::value::RawValue> = serde_json::from_str(body)
        .map_err(|e| format!("the body is neither a JSON array of {what} nor one {one}: {e}"))?;
    Ok(items.into_iter().map(|raw| input(raw.get())).collect())
}

/// Sends interaction events in (R9): a JSON array or NDJSON (by content type). Each event is
/// accepted, a duplicate (its id is on record), held (its point is not live, R8) or rejected
/// (kept with its reasons, replayable). The answer comes once the batch is durable.
#[utoipa::path(post, path = "/api/events",
    request_body(description = "A JSON array of events (or one event), or NDJSON: one event per line", content(
        (serde_json::Value = "application/json"),
        (String = "application/x-ndjson"),
    )),
    responses(
        (status = 200, body = EventsReply),
        (status = 400, description = "The body could not be split into events; it was kept in the rejects", body = Problem),
        (status = 413, description = "More events than the batch limit", body = Problem),
    ))]
async fn post_events(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Extension(config): Extension<crate::ServerConfig>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Result<Json<EventsReply>, ApiError> {
    actor.require(Permission::Ingest)?;
    let text = match std::str::from_utf8(&body) {
        Ok(text) => text,
        Err(e) => {
            let why = format!(
                "the body is not UTF-8 (invalid byte at offset {})",
                e.valid_up_to()
            );
            return Err(keep_body(&state, &body, why).await);
        }
    };
    let ndjson = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.contains("ndjson") || t.contains("jsonlines"));
    let inputs = match split_events(text, ndjson) {
        Ok(inputs) => inputs,
        Err(why) => return Err(keep_body(&state, &body, why).await),
    };
    if inputs.len() > config.max_batch {
        return Err(ApiError::TooLarge(format!(
            "{} events in one request; the limit is {}: split the batch",
            inputs.len(),
            config.max_batch
        )));
    }
    let results = state.committer.ingest(&actor, inputs).await?;
    let mut summary = Summary::default();
    summary.add(&results);
    Ok(Json(EventsReply { summary, results }))
}

/// A body that could not be split into events: nothing sent is dropped, so it is kept in the
/// rejects, and the client is told why.
async fn keep_body(state: &AppState, body: &[u8], why: String) -> ApiError {
    let reject = NewReject::new("http", body, vec![why.clone()]);
    match state
        .store
        .write_events(Vec::new(), vec![reject], ingest::now_us())
        .await
    {
        Ok(_) => ApiError::BadRequest(format!(
            "{why}; the body was kept in the rejects (`touchbase rejects list`)"
        )),
        Err(e) => e.into(),
    }
}

/// Undocumented points of interaction (R8): interactions seen at points that are not live,
/// held and not counted, with their volumes, by point key; paged (`limit`: default 1,000, at
/// most 10,000).
#[utoipa::path(get, path = "/api/undocumented", params(Paging), responses(
    (status = 200, body = Vec<HeldPoint>, headers(("Link" = String, description = "The next page: `<…&cursor=…>; rel=\"next\"`, absent on the last"))),
    (status = 400, description = "`limit` or `cursor` breaks its rule", body = Problem),
))]
async fn undocumented(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Query(paging): Query<Paging>,
    uri: Uri,
) -> Result<Paged<HeldPoint>, ApiError> {
    actor.require(Permission::Export)?;
    let page = paging.page(1_000, 10_000, |k| Some(k.to_owned()))?;
    Ok(Paged::of(
        state.store.held().await?,
        |h| h.point.clone(),
        page,
        uri,
    ))
}

/// Rejected inputs with their reasons, oldest first; paged (`limit`: default 100, at most
/// 1,000). A reject keeps at most the first 65,536 bytes of its input (`truncated`), with
/// the input's `length` and `sha256`.
#[utoipa::path(get, path = "/api/rejects", params(Paging), responses(
    (status = 200, body = Vec<Reject>, headers(("Link" = String, description = "The next page: `<…&cursor=…>; rel=\"next\"`, absent on the last"))),
    (status = 400, description = "`limit` or `cursor` breaks its rule", body = Problem),
))]
async fn list_rejects(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Query(paging): Query<Paging>,
    uri: Uri,
) -> Result<Paged<Reject>, ApiError> {
    actor.require(Permission::Export)?;
    let page = paging.page(100, 1_000, |k| k.parse::<i64>().ok())?;
    let after = page.after.unwrap_or(i64::MIN);
    let limit = u32::try_from(page.limit + 1).unwrap_or(u32::MAX);
    let rejects = state.store.rejects_after(after, limit).await?;
    Ok(Paged::read(rejects, page.limit, |r| r.id, uri))
}

/// Runs the rejects through the checks again (after the cause was fixed).
#[utoipa::path(post, path = "/api/rejects/replay", responses((status = 200, body = Replayed)))]
async fn replay_rejects(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
) -> Result<Json<Replayed>, ApiError> {
    Ok(Json(ingest::replay(&*state.store, &actor, None).await?))
}
