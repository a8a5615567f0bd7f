//! The voice of the customer's routes (R14): surveys, and responses collected elsewhere. The
//! same operations as `touchbase survey` and `touchbase responses import`
//! (`touchbase_store::surveys`, `touchbase_store::responses`).

use axum::body::Bytes;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, header};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use touchbase_core::event::NewReject;
use touchbase_core::voice::Survey;
use touchbase_core::{Actor, Permission};
use touchbase_store::ingest::{self, Outcome};
use touchbase_store::responses::{self, ResponseSummary};
use touchbase_store::surveys;

use crate::AppState;
use crate::extract::Path;
use crate::problem::ApiError;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/surveys", get(list_surveys).post(put_survey))
        .route("/api/surveys/{key}", get(get_survey))
        .route("/api/responses", post(post_responses))
        .route("/api/codebook", get(get_codebook).post(put_codebook))
        .route("/api/themes", get(themes))
}

/// The latest codebook, as it was imported (YAML).
#[utoipa::path(get, path = "/api/codebook", responses(
    (status = 200, content_type = "application/yaml", body = touchbase_core::voice::Codebook, description = "The codebook file: the latest version as imported, YAML"),
    (status = 404, description = "No codebook yet", body = crate::Problem),
))]
pub(crate) async fn get_codebook(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    match touchbase_store::codebook::export(&*state.store, &actor).await? {
        Some(doc) => Ok(([(header::CONTENT_TYPE, "application/yaml")], doc).into_response()),
        None => Err(ApiError::NotFound(
            "no codebook yet: POST /api/codebook (or `touchbase codebook import FILE`) imports one"
                .to_owned(),
        )),
    }
}

/// Imports a codebook version (YAML; owners, executives, admins): its version must be above
/// the one on record; every answer is coded by the latest.
#[utoipa::path(post, path = "/api/codebook", request_body(description = "A codebook file (YAML)", content(
    (String = "application/yaml"),
)), responses(
    (status = 200, body = touchbase_store::codebook::Imported),
    (status = 400, description = "The body is not UTF-8", body = crate::Problem),
    (status = 422, description = "The codebook breaks a rule", body = crate::Problem),
))]
pub(crate) async fn put_codebook(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    body: Bytes,
) -> Result<Json<touchbase_store::codebook::Imported>, ApiError> {
    actor.require(Permission::Propose)?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::BadRequest("body: must be UTF-8 text".to_owned()))?
        .to_owned();
    Ok(Json(
        touchbase_store::codebook::import(&*state.store, &actor, &text, ingest::now_us()).await?,
    ))
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
pub(crate) struct ThemesQuery {
    /// The themes of one point (default: the whole organization).
    point: Option<String>,
    /// The period's first instant: a date (00:00 UTC) or an RFC 3339 instant (default: 30
    /// days before `to`).
    from: Option<String>,
    /// The first instant after the period (default: tomorrow 00:00 UTC).
    to: Option<String>,
}

/// The themes of the `change` answers of a point (or the organization) over a period, coded by
/// the latest codebook: each code's mentions, share and NPS impact.
#[utoipa::path(get, path = "/api/themes", params(ThemesQuery), responses(
    (status = 200, body = touchbase_store::codebook::Themes),
    (status = 400, body = crate::Problem),
    (status = 404, description = "An unknown point", body = crate::Problem),
))]
pub(crate) async fn themes(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    crate::extract::Query(q): crate::extract::Query<ThemesQuery>,
) -> Result<Json<touchbase_store::codebook::Themes>, ApiError> {
    actor.require(Permission::Read)?;
    let period = crate::measure::requested(q.from.as_deref(), q.to.as_deref())?;
    let scope = match q.point {
        Some(key) => {
            let inventory = touchbase_store::inventory::get(&*state.store).await?.value;
            if inventory.point(&key).is_none() {
                return Err(ApiError::NotFound(format!(
                    "point `{key}`: not in the inventory; GET /api/points lists them"
                )));
            }
            touchbase_store::measure::Scope::Point(key)
        }
        None => touchbase_store::measure::Scope::Organization,
    };
    Ok(Json(
        touchbase_store::codebook::themes_of(&*state.store, &actor, &scope, period).await?,
    ))
}

/// Every survey, by key.
#[utoipa::path(get, path = "/api/surveys", responses((status = 200, body = Vec<Survey>)))]
pub(crate) async fn list_surveys(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
) -> Result<Json<Vec<Survey>>, ApiError> {
    Ok(Json(surveys::list(&*state.store, &actor).await?))
}

/// One survey.
#[utoipa::path(get, path = "/api/surveys/{key}", params(("key" = String, Path)), responses(
    (status = 200, body = Survey),
    (status = 404, body = crate::Problem),
))]
pub(crate) async fn get_survey(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(key): Path<String>,
) -> Result<Json<Survey>, ApiError> {
    Ok(Json(surveys::get(&*state.store, &actor, &key).await?))
}

/// Adds a survey, or replaces the survey with its key (owners, executives, admins): YAML or
/// JSON. New questions make a new version; the answer is the survey as stored.
#[utoipa::path(post, path = "/api/surveys", request_body(description = "A survey, YAML or JSON", content(
    (Survey = "application/yaml"),
    (Survey = "application/json"),
)), responses(
    (status = 200, body = Survey),
    (status = 400, description = "The body is not a survey", body = crate::Problem),
    (status = 422, description = "The survey breaks a rule (its points must exist)", body = crate::Problem),
))]
pub(crate) async fn put_survey(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    body: Bytes,
) -> Result<Json<Survey>, ApiError> {
    // The role before the body is parsed.
    actor.require(Permission::Propose)?;
    let survey = crate::parse::bounded("the survey", move || {
        let text = std::str::from_utf8(&body)
            .map_err(|_| ApiError::BadRequest("body: must be UTF-8 text".to_owned()))?;
        touchbase_core::file::parse_survey(text).map_err(ApiError::from)
    })
    .await??;
    Ok(Json(surveys::put(&*state.store, &actor, &survey).await?))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ResponsesReply {
    summary: ResponseSummary,
    /// What became of each response, in the order sent.
    results: Vec<Outcome>,
}

/// Takes survey responses collected elsewhere (the responses wire format v1): a JSON array (or
/// one response), or NDJSON (by content type). Each is accepted, a duplicate (its id is on
/// record) or rejected (kept with its reasons, replayable); the answer comes once they are
/// durable.
#[utoipa::path(post, path = "/api/responses",
    request_body(description = "A JSON array of responses (or one response), or NDJSON: one response per line", content(
        (serde_json::Value = "application/json"),
        (String = "application/x-ndjson"),
    )),
    responses(
        (status = 200, body = ResponsesReply),
        (status = 400, description = "The body could not be split into responses; it was kept in the rejects", body = crate::Problem),
        (status = 413, description = "More responses than the batch limit", body = crate::Problem),
    ))]
pub(crate) async fn post_responses(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Extension(config): Extension<crate::ServerConfig>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<ResponsesReply>, ApiError> {
    actor.require(Permission::Ingest)?;
    let split = std::str::from_utf8(&body)
        .map_err(|e| {
            format!(
                "the body is not UTF-8 (invalid byte at offset {})",
                e.valid_up_to()
            )
        })
        .and_then(|text| {
            let ndjson = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|t| t.contains("ndjson") || t.contains("jsonlines"));
            crate::api::split_inputs(text, ndjson, "responses", "response")
        });
    let inputs = match split {
        Ok(inputs) => inputs,
        Err(why) => {
            // Nothing sent is dropped: the body is kept in the rejects, as a response's.
            let source = format!("{}http", responses::SOURCE_PREFIX);
            let reject = NewReject::new(&source, &body, vec![why.clone()]);
            state
                .store
                .write_responses(Vec::new(), vec![reject], ingest::now_us())
                .await?;
            return Err(ApiError::BadRequest(format!(
                "{why}; the body was kept in the rejects (`touchbase rejects list`)"
            )));
        }
    };
    if inputs.len() > config.max_batch {
        return Err(ApiError::TooLarge(format!(
            "{} responses in one request; the limit is {}: split the batch",
            inputs.len(),
            config.max_batch
        )));
    }
    let results = responses::take(&*state.store, &actor, &inputs, ingest::now_us()).await?;
    let mut summary = ResponseSummary::default();
    summary.add(&results);
    Ok(Json(ResponsesReply { summary, results }))
}
