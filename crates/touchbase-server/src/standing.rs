//! The standing orders' routes (R19): orders and their runs, the changes staff make, a party's
//! self-service link, and the scheduler's step. The same operations as `touchbase standing`
//! (`touchbase_store::standing`, `touchbase_store::scheduler`).

use axum::body::Bytes;
use axum::extract::{Extension, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use touchbase_core::Actor;
use touchbase_core::standing::{Edit, OrderStatus, Run};
use touchbase_store::scheduler::{self, StepReport};
use touchbase_store::standing::{self, By, Edited, OrderFilter, OrderList, OrderView};

use crate::AppState;
use crate::extract::{Path, Query};
use crate::problem::ApiError;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/standing", get(list_orders))
        .route("/api/standing/run", post(run_step))
        .route("/api/standing/runs", get(list_runs))
        .route("/api/standing/{id}", get(get_order))
        .route("/api/standing/{id}/link", post(new_link))
        .route("/api/standing/{id}/{action}", post(change_order))
}

fn bad(parameter: &str, rule: impl std::fmt::Display) -> ApiError {
    ApiError::BadRequest(format!("{parameter}: {rule}"))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct OrdersQuery {
    point: Option<String>,
    party: Option<String>,
    /// offered, active, paused or cancelled.
    status: Option<String>,
    /// At most this many, by id (default 500, at most 10,000).
    limit: Option<usize>,
}

/// Standing orders, with the count of every order by status.
#[utoipa::path(get, path = "/api/standing", params(OrdersQuery), responses((status = 200, body = OrderList)))]
async fn list_orders(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Query(q): Query<OrdersQuery>,
) -> Result<Json<OrderList>, ApiError> {
    let status = q
        .status
        .as_deref()
        .map(|s| {
            OrderStatus::parse(s).ok_or_else(|| {
                bad(
                    "status",
                    format!("must be offered, active, paused or cancelled, got `{s}`"),
                )
            })
        })
        .transpose()?;
    let filter = OrderFilter {
        point: q.point,
        party: q.party,
        status,
    };
    let limit = q.limit.unwrap_or(500).min(10_000);
    Ok(Json(
        standing::list(&*state.store, &actor, &filter, limit).await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct RunsQuery {
    /// At most this many, newest first (default 100, at most 10,000).
    limit: Option<u32>,
}

/// The latest runs of every order, newest first.
#[utoipa::path(get, path = "/api/standing/runs", params(RunsQuery), responses((status = 200, body = Vec<Run>)))]
async fn list_runs(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Query(q): Query<RunsQuery>,
) -> Result<Json<Vec<Run>>, ApiError> {
    let limit = q.limit.unwrap_or(100).min(10_000);
    Ok(Json(
        standing::recent_runs(&*state.store, &actor, limit).await?,
    ))
}

/// One order: its next run and cut-off, every revision, its latest runs (a sent run confirmed
/// or failed as its delivery is).
#[utoipa::path(get, path = "/api/standing/{id}", params(("id" = String, Path)), responses((status = 200, body = OrderView), (status = 404, body = crate::Problem)))]
async fn get_order(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
) -> Result<Json<OrderView>, ApiError> {
    let now = touchbase_store::ingest::now_us();
    Ok(Json(
        standing::show(&*state.store, &actor, &id, 100, now).await?,
    ))
}

/// Pauses, resumes or cancels an order (`action`: pause, resume, cancel).
#[utoipa::path(post, path = "/api/standing/{id}/{action}", params(("id" = String, Path), ("action" = String, Path, description = "pause, resume or cancel")), responses(
    (status = 200, body = Edited),
    (status = 404, body = crate::Problem),
    (status = 422, description = "The order cannot make that change (e.g. resume an active order)", body = crate::Problem),
))]
async fn change_order(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path((id, action)): Path<(String, String)>,
) -> Result<Json<Edited>, ApiError> {
    let edit = match action.as_str() {
        "pause" => Edit::Pause,
        "resume" => Edit::Resume,
        "cancel" => Edit::Cancel,
        other => {
            return Err(ApiError::NotFound(format!(
                "no action `{other}` on a standing order: pause, resume, cancel or link"
            )));
        }
    };
    let now = touchbase_store::ingest::now_us();
    Ok(Json(
        standing::edit(&*state.store, By::User(&actor), &id, &[edit], now).await?,
    ))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct LinkBody {
    /// How long the link opens the page, in seconds (default a week; 60 s to 90 days).
    ttl_s: Option<i64>,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
struct NewLink {
    order: String,
    /// The page's path on this server (`/s/TOKEN`); the token is shown only now.
    path: String,
    /// RFC 3339.
    expires_at: String,
}

/// A new self-service link for the order's party; earlier links to the order stop working.
#[utoipa::path(post, path = "/api/standing/{id}/link", params(("id" = String, Path)), request_body(content = LinkBody, description = "optional"), responses(
    (status = 200, body = NewLink),
    (status = 404, body = crate::Problem),
    (status = 409, description = "The server was started without the organization's key", body = crate::Problem),
    (status = 422, description = "The order is cancelled, or `ttl_s` is outside 60 s to 90 days", body = crate::Problem),
))]
async fn new_link(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<NewLink>, ApiError> {
    let b: LinkBody = if body.iter().all(u8::is_ascii_whitespace) {
        LinkBody::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| bad("body", format!("not the JSON expected: {e}")))?
    };
    let keys = state.keys.as_deref().ok_or_else(|| {
        ApiError::Conflict(
            "this server was started without the organization's key: links cannot be signed here"
                .to_owned(),
        )
    })?;
    let now = touchbase_store::ingest::now_us();
    let issued = standing::link(
        &*state.store,
        &actor,
        keys,
        &id,
        b.ttl_s.unwrap_or(standing::LINK_TTL_S),
        now,
    )
    .await?;
    Ok(Json(NewLink {
        order: id,
        path: format!("/s/{}", issued.token),
        expires_at: touchbase_core::rules::instant(issued.expires_at * 1_000_000),
    }))
}

/// Executes what is due now (the server does this every minute): locks, sends and skips runs.
#[utoipa::path(post, path = "/api/standing/run", responses((status = 200, body = StepReport)))]
async fn run_step(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
) -> Result<Json<StepReport>, ApiError> {
    let report = scheduler::step(&*state.store, &actor, touchbase_store::ingest::now_us()).await?;
    if report.sent > 0 {
        state.written.notify_one();
    }
    Ok(Json(report))
}

/// The scheduler's loop in a server: a step every `every` (at once on start, catching up what
/// was missed while the server was down) until `shutdown`; a step that sent runs wakes the
/// dispatcher. A failed step (the database away) is logged and tried again at the next tick.
pub async fn run_scheduler(
    store: std::sync::Arc<dyn touchbase_store::Store>,
    written: std::sync::Arc<tokio::sync::Notify>,
    every: std::time::Duration,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let actor = Actor::server();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tick.tick() => {}
        }
        match scheduler::step(&*store, &actor, touchbase_store::ingest::now_us()).await {
            Ok(report) => {
                if report.sent > 0 {
                    written.notify_one();
                }
                if report.sent + report.locked + report.skipped > 0 {
                    tracing::info!(
                        "standing orders: {} sent, {} locked, {} skipped ({} caught up)",
                        report.sent,
                        report.locked,
                        report.skipped,
                        report.caught_up
                    );
                }
                for problem in &report.problems {
                    tracing::warn!("standing orders: {problem}");
                }
            }
            Err(touchbase_store::OpError::NotInitialized) => {}
            Err(e) => {
                tracing::warn!("the standing orders' step failed, tried again in {every:?}: {e}")
            }
        }
    }
}
