//! People's work on the voice of the customer through the API (R14): open answers with their
//! tags, tagging, the double-coded sample and its agreement, why customers buy, key customers,
//! invitations, and erasing a party. The same operations as `touchbase answers`, `why-buy`,
//! `customers list`, `survey invitations` and `party forget` (`touchbase_store::answers`,
//! `touchbase_store::invitations`).

use axum::body::Bytes;
use axum::extract::{Extension, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use touchbase_core::Actor;
use touchbase_core::voice::Family;
use touchbase_store::answers::{self, Agreement, CodedAnswer, Forgotten, Statement, WhyBuyReport};
use touchbase_store::ingest;
use touchbase_store::invitations::{self, Invitation, KeyCustomer};

use crate::AppState;
use crate::extract::{Path, Query, json_body};
use crate::problem::ApiError;

/// The most answers a sample request draws.
const MAX_SAMPLE: usize = 10_000;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/answers", get(list_answers))
        .route("/api/answers/{id}/tags", post(tag_answer))
        .route("/api/answers/sample", get(sample))
        .route("/api/codings", post(post_codings))
        .route("/api/agreement", get(agreement))
        .route("/api/why-buy", get(why_buy).post(add_statement))
        .route("/api/customers", get(key_customers))
        .route("/api/surveys/{key}/invitations", get(survey_invitations))
        .route("/api/parties/{id}/forget", post(forget))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub(crate) struct AnswersQuery {
    /// Which answers: `change` (what customers would change, the default) or `why_buy`.
    family: Option<Family>,
    /// The answers about one point (the senior team's statements are about none).
    point: Option<String>,
    /// The period's first instant: a date (00:00 UTC) or an RFC 3339 instant (default: 30
    /// days before `to`).
    from: Option<String>,
    /// The first instant after the period (default: tomorrow 00:00 UTC).
    to: Option<String>,
}

/// The open answers of a period with their tags, by (`at`, id) (analysts and above: the
/// coders' worklist, texts whole).
#[utoipa::path(get, path = "/api/answers", params(AnswersQuery), responses(
    (status = 200, body = Vec<CodedAnswer>),
    (status = 400, body = crate::Problem),
))]
pub(crate) async fn list_answers(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Query(q): Query<AnswersQuery>,
) -> Result<Json<Vec<CodedAnswer>>, ApiError> {
    let period = crate::measure::requested(q.from.as_deref(), q.to.as_deref())?;
    Ok(Json(
        answers::list(
            &*state.store,
            &actor,
            q.family.unwrap_or(Family::Change),
            period,
            q.point.as_deref(),
        )
        .await?,
    ))
}

/// A person's decision on one answer and code.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TagRequest {
    /// A code of the latest codebook; its family says which answer of the response it is about.
    code: String,
    /// True tags the answer with the code, false takes the code off, whatever the rules say.
    tagged: bool,
}

/// Tags or untags an answer (analysts and above), overriding the codebook's rules for that
/// answer and code; the answer comes back with its tags.
#[utoipa::path(post, path = "/api/answers/{id}/tags", params(("id" = String, Path, description = "The response's id, or a why-buy statement's `wb_…`")),
    request_body = TagRequest,
    responses(
        (status = 200, body = CodedAnswer),
        (status = 404, description = "No such answer", body = crate::Problem),
        (status = 422, description = "An unknown code, or no codebook", body = crate::Problem),
    ))]
pub(crate) async fn tag_answer(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<CodedAnswer>, ApiError> {
    let body: TagRequest = json_body(&body)?;
    Ok(Json(
        answers::tag(
            &*state.store,
            &actor,
            &id,
            &body.code,
            body.tagged,
            ingest::now_us(),
        )
        .await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub(crate) struct SampleQuery {
    /// Which answers: `change` (the default) or `why_buy`.
    family: Option<Family>,
    /// How many answers the sample holds (at most 10,000).
    n: usize,
    /// The coder whose codes so far come with each answer.
    coder: String,
}

/// One answer of the double-coded sample.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct SampleItem {
    answer: CodedAnswer,
    /// The codes this coder gave it (null: not coded by them yet).
    given: Option<Vec<String>>,
}

/// The double-coded sample: the same `n` answers for every coder (ranked by a hash of their
/// ids), each with what `coder` gave it so far (analysts and above).
#[utoipa::path(get, path = "/api/answers/sample", params(SampleQuery), responses(
    (status = 200, body = Vec<SampleItem>),
    (status = 400, body = crate::Problem),
))]
pub(crate) async fn sample(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Query(q): Query<SampleQuery>,
) -> Result<Json<Vec<SampleItem>>, ApiError> {
    if q.n > MAX_SAMPLE {
        return Err(ApiError::BadRequest(format!(
            "n: at most {MAX_SAMPLE} answers in a sample"
        )));
    }
    let drawn = answers::sample(
        &*state.store,
        &actor,
        q.family.unwrap_or(Family::Change),
        q.n,
        &q.coder,
    )
    .await?;
    Ok(Json(
        drawn
            .into_iter()
            .map(|(answer, given)| SampleItem { answer, given })
            .collect(),
    ))
}

/// One answer's codes, as a coder gave them.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct GivenCodes {
    answer: String,
    codes: Vec<String>,
}

/// A coder's codes of answers of the sample.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CodingsRequest {
    family: Family,
    /// Who coded (not `codebook`, the name the rules go by).
    coder: String,
    codings: Vec<GivenCodes>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct CodingsReply {
    coded: usize,
    agreement: Agreement,
}

/// Keeps a coder's codes of answers (analysts and above), each replacing that coder's
/// earlier codes of the answer; the answer carries the agreement after them.
#[utoipa::path(post, path = "/api/codings", request_body = CodingsRequest, responses(
    (status = 200, body = CodingsReply),
    (status = 404, description = "No such answer", body = crate::Problem),
    (status = 422, description = "An unknown code or coder", body = crate::Problem),
))]
pub(crate) async fn post_codings(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    body: Bytes,
) -> Result<Json<CodingsReply>, ApiError> {
    let body: CodingsRequest = json_body(&body)?;
    if body.codings.len() > MAX_SAMPLE {
        return Err(ApiError::TooLarge(format!(
            "{} codings in one request; the limit is {MAX_SAMPLE}",
            body.codings.len()
        )));
    }
    let given: Vec<(String, Vec<String>)> = body
        .codings
        .into_iter()
        .map(|g| (g.answer, g.codes))
        .collect();
    let coded = answers::code(
        &*state.store,
        &actor,
        body.family,
        &body.coder,
        &given,
        ingest::now_us(),
    )
    .await?;
    let agreement = answers::agreement(&*state.store, &actor, body.family).await?;
    Ok(Json(CodingsReply { coded, agreement }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub(crate) struct FamilyQuery {
    /// Which codes: `change` (the default) or `why_buy`.
    family: Option<Family>,
}

/// Each code's Cohen's kappa over the double-coded sample; below 0.6 a code is unreliable.
#[utoipa::path(get, path = "/api/agreement", params(FamilyQuery), responses(
    (status = 200, body = Agreement),
    (status = 400, body = crate::Problem),
))]
pub(crate) async fn agreement(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Query(q): Query<FamilyQuery>,
) -> Result<Json<Agreement>, ApiError> {
    Ok(Json(
        answers::agreement(&*state.store, &actor, q.family.unwrap_or(Family::Change)).await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub(crate) struct PeriodQuery {
    /// The period's first instant: a date (00:00 UTC) or an RFC 3339 instant (default: 30
    /// days before `to`).
    from: Option<String>,
    /// The first instant after the period (default: tomorrow 00:00 UTC).
    to: Option<String>,
}

/// Why customers buy over a period: the senior team's answers beside the customers', each
/// group's product and interaction shares and codes (with the points they name), and the gap.
#[utoipa::path(get, path = "/api/why-buy", params(PeriodQuery), responses(
    (status = 200, body = WhyBuyReport),
    (status = 400, body = crate::Problem),
))]
pub(crate) async fn why_buy(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Query(q): Query<PeriodQuery>,
) -> Result<Json<WhyBuyReport>, ApiError> {
    let period = crate::measure::requested(q.from.as_deref(), q.to.as_deref())?;
    Ok(Json(
        answers::why_buy_summary(&*state.store, &actor, period).await?,
    ))
}

/// A senior team member's answer to "why do customers buy from us rather than from
/// competitors?".
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct StatementRequest {
    /// At most 4,000 characters.
    text: String,
}

/// Keeps the caller's answer to why customers buy (executives and owners: it is theirs).
#[utoipa::path(post, path = "/api/why-buy", request_body = StatementRequest, responses(
    (status = 200, body = Statement),
    (status = 422, description = "An empty or too long answer", body = crate::Problem),
))]
pub(crate) async fn add_statement(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    body: Bytes,
) -> Result<Json<Statement>, ApiError> {
    let body: StatementRequest = json_body(&body)?;
    Ok(Json(
        answers::add_statement(&*state.store, &actor, &body.text, ingest::now_us()).await?,
    ))
}

/// The key customers, the only parties surveys invite (analysts and above).
#[utoipa::path(get, path = "/api/customers", responses((status = 200, body = Vec<KeyCustomer>)))]
pub(crate) async fn key_customers(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
) -> Result<Json<Vec<KeyCustomer>>, ApiError> {
    Ok(Json(
        invitations::key_customers(&*state.store, &actor).await?,
    ))
}

/// The invitations issued for a survey, by (`at`, id), and whether each was answered (never
/// their links: only the links' hashes are kept). Analysts and above.
#[utoipa::path(get, path = "/api/surveys/{key}/invitations", params(("key" = String, Path)), responses(
    (status = 200, body = Vec<Invitation>),
    (status = 404, body = crate::Problem),
))]
pub(crate) async fn survey_invitations(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(key): Path<String>,
) -> Result<Json<Vec<Invitation>>, ApiError> {
    touchbase_store::surveys::get(&*state.store, &actor, &key).await?;
    Ok(Json(
        invitations::invitations(&*state.store, &actor, Some(&key)).await?,
    ))
}

/// Erases a party from the voice of the customer (admins): their responses keep their scores
/// and lose their identity and texts, their invitations and suppressions lose the party,
/// their drafts go, and they are no longer a key customer. Their interactions stay.
#[utoipa::path(post, path = "/api/parties/{id}/forget", params(("id" = String, Path)), responses(
    (status = 200, body = Forgotten),
))]
pub(crate) async fn forget(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
) -> Result<Json<Forgotten>, ApiError> {
    Ok(Json(answers::forget(&*state.store, &actor, &id).await?))
}
