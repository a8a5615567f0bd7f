//! Errors as RFC 9457 problem details (`application/problem+json`). Server faults are logged
//! with their cause and answered with a generic detail: nothing internal leaks to the client.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use touchbase_core::access::Denied;
use touchbase_core::{FileError, Violation, Violations};
use touchbase_store::OpError;
use touchbase_store::StoreError;

use crate::committer::CommitError;

/// One broken rule: the entity, the field and the rule.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProblemViolation {
    pub subject: String,
    pub field: String,
    pub rule: String,
}

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// For invalid input: every broken rule.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<ProblemViolation>,
}

/// An error answered to the client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    /// A query parameter or path segment that breaks its rule.
    #[error("{place} parameter `{name}`: {rule}")]
    BadParameter {
        /// `query` or `path`.
        place: &'static str,
        name: String,
        rule: String,
    },
    #[error("{0}")]
    Invalid(Violations),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    TooLarge(String),
    /// `If-Match` names another version than the stored one (412).
    #[error("{0}")]
    PreconditionFailed(String),
    /// A write that must say which version it was made against did not (428).
    #[error("{0}")]
    PreconditionRequired(String),
    /// Too many failed authentications from this client address (429, with `Retry-After`).
    #[error("{0}")]
    TooManyRequests(String),
    /// The store could not make the request durable for now: 507 when its storage is full,
    /// 503 when the database is unavailable; both with `Retry-After`. Nothing of the request
    /// was kept (or its commit was not confirmed): sending it again is safe.
    #[error("{source}")]
    Storage {
        full: bool,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("{context}: {source}")]
    Internal {
        context: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) | ApiError::BadParameter { .. } => StatusCode::BAD_REQUEST,
            ApiError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            ApiError::PreconditionRequired(_) => StatusCode::PRECONDITION_REQUIRED,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Storage { full: true, .. } => StatusCode::INSUFFICIENT_STORAGE,
            ApiError::Storage { full: false, .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn slug(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) | ApiError::BadParameter { .. } => "bad-request",
            ApiError::Invalid(_) => "invalid",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not-found",
            ApiError::MethodNotAllowed(_) => "method-not-allowed",
            ApiError::Conflict(_) => "conflict",
            ApiError::TooLarge(_) => "too-large",
            ApiError::PreconditionFailed(_) => "precondition-failed",
            ApiError::PreconditionRequired(_) => "precondition-required",
            ApiError::TooManyRequests(_) => "too-many-requests",
            ApiError::Storage { full: true, .. } => "storage-full",
            ApiError::Storage { full: false, .. } => "unavailable",
            ApiError::Internal { .. } => "internal",
        }
    }

    pub fn problem(&self) -> Problem {
        let status = self.status();
        let detail = match self {
            ApiError::Internal { .. } => {
                "the server failed to complete the request; the cause is in its log".to_owned()
            }
            ApiError::Storage { full: true, .. } => format!(
                "the store's disk is full: nothing of this request was kept; send it again \
                 after {} s (an event sent twice is kept once)",
                self.retry_after().unwrap_or_default()
            ),
            ApiError::Storage { full: false, .. } => format!(
                "the database is unavailable for now: this request was not kept; send it again \
                 after {} s (an event sent twice is kept once)",
                self.retry_after().unwrap_or_default()
            ),
            other => other.to_string(),
        };
        let violations = match self {
            ApiError::Invalid(v) => {
                v.0.iter()
                    .map(|v| ProblemViolation {
                        subject: v.subject.clone(),
                        field: v.field.clone(),
                        rule: v.rule.clone(),
                    })
                    .collect()
            }
            ApiError::BadParameter { place, name, rule } => vec![ProblemViolation {
                subject: format!("{place} parameters"),
                field: name.clone(),
                rule: rule.clone(),
            }],
            _ => Vec::new(),
        };
        Problem {
            kind: format!("urn:touchbase:problem:{}", self.slug()),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail,
            violations,
        }
    }
}

/// The media type of every error answer.
pub const PROBLEM_JSON: &str = "application/problem+json";

impl ApiError {
    /// Seconds a client should wait before sending again (`Retry-After`), for answers that
    /// ask it to.
    pub fn retry_after(&self) -> Option<u32> {
        match self {
            ApiError::Storage { full: true, .. } => Some(30),
            ApiError::Storage { full: false, .. } => Some(5),
            _ => None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            ApiError::Internal { context, source } => tracing::error!(error = %source, "{context}"),
            ApiError::Storage { source, .. } => tracing::warn!(error = %source, "store"),
            _ => {}
        }
        let problem = self.problem();
        let status = self.status();
        let body = serde_json::to_vec(&problem).expect("a problem always serializes");
        let mut response = (status, [(header::CONTENT_TYPE, PROBLEM_JSON)], body).into_response();
        if let Some(seconds) = self.retry_after() {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

/// The most of an error answer's own text kept as the problem's detail.
const DETAIL_LIMIT: usize = 4096;

/// Makes every error answer a problem document: those the handlers give already are; this
/// turns the others — a body over the limit (`state`: the limit in bytes), a method the route
/// does not have (405, its `Allow` header kept), any rejection of axum's own — into one with
/// the same status and headers.
pub async fn every_error_a_problem(
    State(body_limit): State<usize>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    // A page for people (the self-service page) answers its refusals as pages of its own.
    let is_page = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"text/html"));
    if is_problem || is_page || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, DETAIL_LIMIT)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let problem = match status {
        StatusCode::METHOD_NOT_ALLOWED => {
            let allowed = parts
                .headers
                .get(header::ALLOW)
                .and_then(|a| a.to_str().ok())
                .unwrap_or("none");
            ApiError::MethodNotAllowed(format!(
                "{method} is not allowed on {path}; it allows {allowed} (/api/openapi.json lists the API)"
            ))
            .problem()
        }
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge(format!(
            "the body is over the limit of {body_limit} bytes: send less (`touchbase serve --body-limit BYTES` sets the limit)"
        ))
        .problem(),
        status if status.is_server_error() => {
            tracing::error!(%status, detail = %text, "{method} {path}");
            ApiError::Internal {
                context: "",
                source: text.into(),
            }
            .problem()
            .with_status(status)
        }
        status => ApiError::BadRequest(if text.is_empty() {
            status.canonical_reason().unwrap_or("refused").to_owned()
        } else {
            text
        })
        .problem()
        .with_status(status),
    };
    let body = serde_json::to_vec(&problem).expect("a problem always serializes");
    parts.headers.remove(header::CONTENT_LENGTH);
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    Response::from_parts(parts, Body::from(body))
}

impl Problem {
    /// The same problem with another status (for answers the handlers did not make).
    fn with_status(mut self, status: StatusCode) -> Problem {
        if self.status != status.as_u16() {
            self.status = status.as_u16();
            self.title = status.canonical_reason().unwrap_or("Error").to_owned();
            self.kind = format!("urn:touchbase:problem:http-{}", status.as_u16());
        }
        self
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(why) => ApiError::Conflict(why),
            e @ (StoreError::Full { .. } | StoreError::Unavailable { .. }) => ApiError::Storage {
                full: e.is_full(),
                source: Box::new(e),
            },
            other => ApiError::Internal {
                context: "store",
                source: Box::new(other),
            },
        }
    }
}

impl From<OpError> for ApiError {
    fn from(e: OpError) -> Self {
        match e {
            OpError::Invalid(v) => ApiError::Invalid(v),
            OpError::Setting(s) => ApiError::Invalid(Violations(vec![Violation::new(
                "settings",
                s.name.clone(),
                s.rule.clone(),
            )])),
            OpError::Unauthenticated(why) => ApiError::Unauthorized(why),
            OpError::Denied(d) => ApiError::Forbidden(d.to_string()),
            OpError::PointNotFound(_)
            | OpError::ProposalNotFound(_)
            | OpError::UserNotFound(_)
            | OpError::TokenNotFound(_)
            | OpError::NotFound(_) => ApiError::NotFound(e.to_string()),
            OpError::NotInitialized
            | OpError::AlreadyInitialized(_)
            | OpError::PointExists(_)
            | OpError::UserExists(_) => ApiError::Conflict(e.to_string()),
            OpError::PointChanged { .. } => ApiError::PreconditionFailed(e.to_string()),
            OpError::Store(e) => e.into(),
        }
    }
}

impl From<CommitError> for ApiError {
    fn from(e: CommitError) -> Self {
        match e {
            CommitError::Refused(e) => e.into(),
            // The group's write failed for every batch in it: each is answered the same.
            CommitError::Failed(e) => match &*e {
                OpError::Store(s) if s.is_full() || s.is_unavailable() => ApiError::Storage {
                    full: s.is_full(),
                    source: Box::new(e),
                },
                _ => ApiError::Internal {
                    context: "writing events",
                    source: Box::new(e),
                },
            },
            CommitError::Closed => ApiError::Internal {
                context: "writing events",
                source: Box::new(CommitError::Closed),
            },
        }
    }
}

impl From<Denied> for ApiError {
    fn from(d: Denied) -> Self {
        ApiError::Forbidden(d.to_string())
    }
}

impl From<FileError> for ApiError {
    fn from(e: FileError) -> Self {
        match e {
            FileError::Syntax(why) => ApiError::BadRequest(format!("the body is not valid: {why}")),
            FileError::TooDeep(deep) => ApiError::BadRequest(format!("body: {deep}")),
            FileError::Invalid(v) => ApiError::Invalid(v),
        }
    }
}
