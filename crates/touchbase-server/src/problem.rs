//! Errors as RFC 9457 problem details (`application/problem+json`). Server faults are logged
//! with their cause and answered with a generic detail: nothing internal leaks to the client.

use axum::http::{StatusCode, header};
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
    #[error("{0}")]
    Invalid(Violations),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    TooLarge(String),
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
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Storage { full: true, .. } => StatusCode::INSUFFICIENT_STORAGE,
            ApiError::Storage { full: false, .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn slug(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad-request",
            ApiError::Invalid(_) => "invalid",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not-found",
            ApiError::Conflict(_) => "conflict",
            ApiError::TooLarge(_) => "too-large",
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
        let mut response = (
            status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body,
        )
            .into_response();
        if let Some(seconds) = self.retry_after() {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, seconds.into());
        }
        response
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
            FileError::Invalid(v) => ApiError::Invalid(v),
        }
    }
}
