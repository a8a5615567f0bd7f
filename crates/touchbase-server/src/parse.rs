//! Parsing request bodies off the async workers. A YAML body is parsed on a blocking thread,
//! at most [`AT_ONCE`] at a time, within [`BUDGET`]: a body costly to parse never holds up the
//! other requests (`/healthz` among them), and a client that waits longer than the budget is
//! answered an error. Bodies are refused by [`touchbase_core::file::nesting`] before that when
//! they nest too deep, so the budget is a second line, not the first.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use axum::body::{Body, Bytes};
use tokio::sync::Semaphore;

use crate::problem::ApiError;

/// How long parsing one body may take before the request is answered an error.
pub const BUDGET: Duration = Duration::from_secs(5);

/// How many bodies are parsed at once; the others wait their turn (within their budget).
pub const AT_ONCE: usize = 2;

static PARSERS: LazyLock<Arc<Semaphore>> = LazyLock::new(|| Arc::new(Semaphore::new(AT_ONCE)));

/// Runs `parse` on a blocking thread within [`BUDGET`] (the wait for a turn included).
pub async fn bounded<T: Send + 'static>(
    what: &'static str,
    parse: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    bounded_within(what, BUDGET, parse).await
}

/// [`bounded`] with another budget.
pub async fn bounded_within<T: Send + 'static>(
    what: &'static str,
    budget: Duration,
    parse: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    let run = async {
        let turn = Arc::clone(&PARSERS)
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        // The turn goes with the parse: a parse over its budget, whose client was answered,
        // still holds it until it ends, so no more than AT_ONCE ever run.
        tokio::task::spawn_blocking(move || {
            let parsed = parse();
            drop(turn);
            parsed
        })
        .await
    };
    match tokio::time::timeout(budget, run).await {
        Ok(Ok(parsed)) => Ok(parsed),
        Ok(Err(e)) => Err(ApiError::Internal {
            context: what,
            source: Box::new(e),
        }),
        Err(_) => Err(ApiError::TooLarge(format!(
            "body: {what} took longer than its budget of {} s; send a smaller or simpler body",
            budget.as_secs_f64()
        ))),
    }
}

/// Reads a request body of at most `limit` bytes (the body limit of [`crate::ServerConfig`]),
/// for handlers that check the caller's role before they read what it sent.
pub async fn read_body(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let e = e.into_inner();
        if e.is::<http_body_util::LengthLimitError>() {
            ApiError::TooLarge(format!(
                "body: larger than the limit of {limit} bytes; split it"
            ))
        } else {
            ApiError::BadRequest(format!("body: could not be read: {e}"))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A parse that runs over its budget is answered an error naming the budget, while it
    /// still runs.
    #[tokio::test]
    async fn a_parse_over_its_budget_is_answered_an_error() {
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let e = bounded_within("the test body", Duration::from_millis(10), move || {
            let _ = wait.recv();
        })
        .await
        .unwrap_err();
        release.send(()).unwrap();
        assert!(matches!(e, ApiError::TooLarge(_)), "{e:?}");
        assert_eq!(
            e.to_string(),
            "body: the test body took longer than its budget of 0.01 s; send a smaller or simpler body"
        );
        let parsed = bounded("the test body", || 7).await.unwrap();
        assert_eq!(parsed, 7);
    }
}
