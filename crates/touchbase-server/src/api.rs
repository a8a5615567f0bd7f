//! The routes of the JSON API and the dashboard. Each handler carries its OpenAPI description.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use touchbase_core::change::ImportSummary;
use touchbase_core::{
    Change, Inventory, Mode, Organization, Party, Point, Process, Status, Violation, Violations,
    file,
};
use touchbase_store::inventory as ops;
use utoipa::OpenApi;

use crate::AppState;
use crate::problem::{ApiError, Problem};

#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "touchbase",
        description = "The system of record for an organization's points of interaction.",
    ),
    paths(
        healthz,
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
    ),
    components(schemas(Problem, Inventory, Point, Change, ImportSummary))
)]
pub struct ApiDoc;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(dashboard))
        .route("/healthz", get(healthz))
        .route("/api/openapi.json", get(openapi))
        .route("/api/inventory", get(get_inventory))
        .route("/api/inventory/export", get(export_inventory))
        .route("/api/inventory/import", post(import_inventory))
        .route("/api/organization", get(get_organization))
        .route("/api/processes", get(list_processes))
        .route("/api/parties", get(list_parties))
        .route("/api/points", get(list_points).post(add_point))
        .route("/api/points/{key}", get(get_point).put(put_point))
        .route("/api/points/{key}/retire", post(retire_point))
        .fallback(not_found)
}

async fn dashboard() -> Html<&'static str> {
    Html(include_str!("dashboard.html"))
}

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such route: /api/openapi.json lists the API".to_owned())
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Health {
    status: &'static str,
    store: &'static str,
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
async fn get_inventory(State(state): State<AppState>) -> Result<Json<Inventory>, ApiError> {
    Ok(Json(ops::get(&*state.store).await?.value))
}

/// The inventory as a YAML file: the same bytes as `touchbase inventory export`.
#[utoipa::path(get, path = "/api/inventory/export", responses(
    (status = 200, content_type = "application/yaml", body = String),
    (status = 409, body = Problem),
))]
async fn export_inventory(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
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
}

/// Applies an inventory file (YAML or JSON): the stored inventory becomes the file's.
#[utoipa::path(post, path = "/api/inventory/import", params(ImportQuery),
    request_body(content = String, content_type = "application/yaml"),
    responses(
        (status = 200, body = ImportSummary),
        (status = 400, description = "Not YAML", body = Problem),
        (status = 422, description = "A rule is broken", body = Problem),
    ))]
async fn import_inventory(
    State(state): State<AppState>,
    Query(query): Query<ImportQuery>,
    body: Bytes,
) -> Result<Json<ImportSummary>, ApiError> {
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::BadRequest("the body must be UTF-8 text".to_owned()))?;
    let inventory = file::parse_inventory(text)?;
    let changes = if query.dry_run {
        ops::plan_import(&*state.store, &inventory).await?
    } else {
        ops::import(&*state.store, &inventory).await?
    };
    Ok(Json(ImportSummary::new(query.dry_run, changes)))
}

/// The organization: name, industry, currency, industry variables.
#[utoipa::path(get, path = "/api/organization", responses((status = 200, body = Organization)))]
async fn get_organization(State(state): State<AppState>) -> Result<Json<Organization>, ApiError> {
    Ok(Json(ops::get(&*state.store).await?.value.organization))
}

/// The business processes and their steps.
#[utoipa::path(get, path = "/api/processes", responses((status = 200, body = Vec<Process>)))]
async fn list_processes(State(state): State<AppState>) -> Result<Json<Vec<Process>>, ApiError> {
    Ok(Json(ops::get(&*state.store).await?.value.processes))
}

/// The party types.
#[utoipa::path(get, path = "/api/parties", responses((status = 200, body = Vec<Party>)))]
async fn list_parties(State(state): State<AppState>) -> Result<Json<Vec<Party>>, ApiError> {
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

/// The points of interaction, ordered by key.
#[utoipa::path(get, path = "/api/points", params(PointFilter), responses((status = 200, body = Vec<Point>)))]
async fn list_points(
    State(state): State<AppState>,
    Query(filter): Query<PointFilter>,
) -> Result<Json<Vec<Point>>, ApiError> {
    let points = ops::get(&*state.store).await?.value.points;
    Ok(Json(
        points
            .into_iter()
            .filter(|p| filter.status.is_none_or(|s| p.status == s))
            .filter(|p| filter.function.as_ref().is_none_or(|f| &p.function == f))
            .filter(|p| filter.mode.is_none_or(|m| p.mode == m))
            .collect(),
    ))
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
        .ok_or_else(|| ops::InventoryError::PointNotFound(key.to_owned()).into())
}

/// Adds a point of interaction.
#[utoipa::path(post, path = "/api/points", request_body = Point, responses(
    (status = 201, body = Point),
    (status = 409, description = "A point with this key exists", body = Problem),
    (status = 422, description = "A rule is broken", body = Problem),
))]
async fn add_point(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<(StatusCode, Json<Point>), ApiError> {
    let point = decode_point(&body)?;
    let key = point.key.clone();
    ops::add_point(&*state.store, point).await?;
    Ok((StatusCode::CREATED, Json(stored_point(&state, &key).await?)))
}

/// One point of interaction.
#[utoipa::path(get, path = "/api/points/{key}", params(("key" = String, Path)), responses(
    (status = 200, body = Point),
    (status = 404, body = Problem),
))]
async fn get_point(
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<Json<Point>, ApiError> {
    Ok(Json(stored_point(&state, &key).await?))
}

/// Replaces a point's definition.
#[utoipa::path(put, path = "/api/points/{key}", params(("key" = String, Path)), request_body = Point,
    responses(
        (status = 200, body = Point),
        (status = 404, body = Problem),
        (status = 422, body = Problem),
    ))]
async fn put_point(
    State(state): State<AppState>,
    Path(key): Path<String>,
    body: Bytes,
) -> Result<Json<Point>, ApiError> {
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
    ops::put_point(&*state.store, point).await?;
    Ok(Json(stored_point(&state, &key).await?))
}

/// Retires a point: it stays in the inventory but is no longer live.
#[utoipa::path(post, path = "/api/points/{key}/retire", params(("key" = String, Path)), responses(
    (status = 200, body = Point),
    (status = 404, body = Problem),
))]
async fn retire_point(
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<Json<Point>, ApiError> {
    ops::retire_point(&*state.store, &key).await?;
    Ok(Json(stored_point(&state, &key).await?))
}
