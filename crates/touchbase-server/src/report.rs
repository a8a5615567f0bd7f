//! The executive report (R17) over HTTP: the same page, Markdown or JSON as `touchbase report`.

use axum::Router;
use axum::extract::{Extension, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use touchbase_core::Actor;
use touchbase_report::{Format, Options, ReportError};
use touchbase_store::inventory;

use crate::AppState;
use crate::extract::Query;
use crate::problem::ApiError;

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/report", get(report))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub(crate) struct ReportQuery {
    /// The period's first instant: a date (00:00 UTC) or an RFC 3339 instant (default: the
    /// first day of the month before `to`).
    from: Option<String>,
    /// The first instant after the period (default: the first day of this month, or now when
    /// only `from` is given).
    to: Option<String>,
    /// `html` (default: one self-contained page), `md` or `json`.
    format: Option<String>,
    /// How many of the most frequent journeys to show (default 10, at most 1,000).
    journeys: Option<usize>,
}

/// The executive report (R17): the inventory at a glance, the portfolio, achieved vs expected,
/// outcomes, modes, journeys, data quality, undocumented points and proposals. Analysts and
/// up (it carries undocumented points).
#[utoipa::path(get, path = "/api/report", params(ReportQuery), responses(
    (status = 200, description = "the report, as `format` asks", content(
        (String = "text/html"),
        (String = "text/markdown"),
        (serde_json::Value = "application/json"),
    )),
    (status = 400, body = crate::Problem),
    (status = 403, body = crate::Problem),
))]
pub(crate) async fn report(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Query(q): Query<ReportQuery>,
) -> Result<Response, ApiError> {
    let (format, content_type) = match q.format.as_deref().unwrap_or("html") {
        "html" => (Format::Html, "text/html; charset=utf-8"),
        "md" => (Format::Markdown, "text/markdown; charset=utf-8"),
        "json" => (Format::Json, "application/json"),
        other => {
            return Err(ApiError::BadRequest(format!(
                "format: must be html, md or json, got `{other}`"
            )));
        }
    };
    let now = jiff::Timestamp::now();
    let period =
        touchbase_report::default_period(q.from.as_deref(), q.to.as_deref(), now.as_microsecond())
            .map_err(|e| ApiError::BadRequest(format!("from/to: {e}")))?;
    let period = crate::measure::within_bounds(period)?;
    let inventory = inventory::get(&*state.store).await?.value;
    let options = Options {
        period,
        generated_at: now.round(jiff::Unit::Second).unwrap_or(now).to_string(),
        top_journeys: q.journeys.unwrap_or(10).min(crate::measure::MAX_TOP),
    };
    let report = touchbase_report::build(&*state.store, &actor, &inventory, &options)
        .await
        .map_err(refused)?;
    let text = touchbase_report::render(&report, format).map_err(refused)?;
    // An HTML page may use its own inline stylesheet, nothing else.
    let policy = match format {
        Format::Html => crate::headers::page_policy(&text),
        _ => crate::headers::API_POLICY.to_owned(),
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (header::CONTENT_SECURITY_POLICY, policy),
        ],
        text,
    )
        .into_response())
}

fn refused(e: ReportError) -> ApiError {
    match e {
        ReportError::Denied(d) => d.into(),
        ReportError::Store(s) => s.into(),
        ReportError::Operation(o) => o.into(),
        other => ApiError::Internal {
            context: "making the report",
            source: Box::new(other),
        },
    }
}
