//! The request extractors the handlers use for query strings and path segments: axum's own
//! answer a bad value in `text/plain` without naming the parameter; these refuse it with a
//! problem document (400) that names the parameter, the rule it breaks and the value sent.

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::problem::ApiError;

/// The query string deserialized into `T`; a parameter that does not fit is a 400 naming it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        parse_query(query).map(Query)
    }
}

/// `query` (the part of a URI after `?`) as `T`, or the parameter that breaks its rule.
pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let pairs = form_urlencoded::parse(query.as_bytes());
    let deserializer = serde_urlencoded::Deserializer::new(pairs);
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let path = e.path().to_string();
        let rule = e.inner().to_string();
        // Serde names a missing or repeated field in its message, not in the path.
        let parameter = if path.is_empty() || path == "." || path == "?" {
            backticked(&rule).unwrap_or("query").to_owned()
        } else {
            path
        };
        let sent: Vec<String> = form_urlencoded::parse(query.as_bytes())
            .filter(|(k, _)| *k == parameter)
            .map(|(_, v)| v.into_owned())
            .collect();
        let rule = match sent.as_slice() {
            [one] => format!("{rule} (got `{one}`)"),
            _ => rule,
        };
        ApiError::BadParameter {
            place: "query",
            name: parameter,
            rule,
        }
    })
}

/// The first name in backticks in a serde message (``missing field `top` ``).
fn backticked(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(&message[start..start + len])
}

/// The route's path parameters deserialized into `T`; a segment that does not fit is a 400
/// naming the parameter.
#[derive(Debug, Clone, Copy, Default)]
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        use axum::extract::path::ErrorKind;
        use axum::extract::rejection::PathRejection;
        let e = match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => return Ok(Path(value)),
            Err(PathRejection::FailedToDeserializePathParams(e)) => e.into_kind(),
            Err(other) => {
                return Err(ApiError::Internal {
                    context: "reading the path parameters",
                    source: Box::new(other),
                });
            }
        };
        // A single parameter is deserialized without its name: the route knows it.
        let single = match RawPathParams::from_request_parts(parts, state).await {
            Ok(raw) => {
                let mut names = raw.iter().map(|(k, _)| k.to_owned());
                match (names.next(), names.next()) {
                    (Some(name), None) => name,
                    _ => "path".to_owned(),
                }
            }
            Err(_) => "path".to_owned(),
        };
        let (name, rule) = match e {
            ErrorKind::ParseErrorAtKey {
                key,
                value,
                expected_type,
            } => (key, expected(expected_type, &value)),
            ErrorKind::ParseError {
                value,
                expected_type,
            } => (single, expected(expected_type, &value)),
            ErrorKind::DeserializeError {
                key,
                value,
                message,
            } => (key, format!("{message} (got `{value}`)")),
            ErrorKind::InvalidUtf8InPathParam { key } => {
                (key, "must be UTF-8 text once percent-decoded".to_owned())
            }
            other => {
                return Err(ApiError::Internal {
                    context: "reading the path parameters",
                    source: other.to_string().into(),
                });
            }
        };
        Err(ApiError::BadParameter {
            place: "path",
            name,
            rule,
        })
    }
}

/// The rule a segment of Rust type `expected_type` follows, for messages.
fn expected(expected_type: &str, value: &str) -> String {
    let what = match expected_type {
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => "a whole number of 0 or more",
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "a whole number",
        "f32" | "f64" => "a number",
        "bool" => "`true` or `false`",
        other => other,
    };
    format!("must be {what}, got `{value}`")
}

/// A JSON body read into `T`, or a 400 that says what was wrong with it.
pub(crate) fn json_body<T: serde::de::DeserializeOwned>(
    body: &[u8],
) -> Result<T, crate::problem::ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        crate::problem::ApiError::BadRequest(format!("body: not the JSON expected: {e}"))
    })
}
