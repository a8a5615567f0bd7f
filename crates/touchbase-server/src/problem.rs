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
    /// `If-Match` names another version than the stored one (412).
    #[error("{0}")]
    PreconditionFailed(String),
    /// A write that must say which version it was made against did not (428).
    #[error("{0}")]
    PreconditionRequired(String),
    /// Too many failed authentications from this client address (429, with `Retry-After`).
    #[error("{0}")]
    TooManyRequests(String),
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
            ApiError::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            ApiError::PreconditionRequired(_) => StatusCode::PRECONDITION_REQUIRED,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
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
            ApiError::PreconditionFailed(_) => "precondition-failed",
            ApiError::PreconditionRequired(_) => "precondition-required",
            ApiError::TooManyRequests(_) => "too-many-requests",
            ApiError::Internal { .. } => "internal",
        }
    }

    pub fn problem(&self) -> Problem {
        let status = self.status();
        let detail = match self {
            ApiError::Internal { .. } => {
                "the server failed to complete the request; the cause is in its log".to_owned()
            }
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

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal { context, source } = &self {
            tracing::error!(error = %source, "{context}");
        }
        let problem = self.problem();
        let status = self.status();
        let body = serde_json::to_vec(&problem).expect("a problem always serializes");
        (
            status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body,
        )
            .into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(why) => ApiError::Conflict(why),
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
            CommitError::Failed(e) => ApiError::Internal {
                context: "writing events",
                source: Box::new(e),
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
