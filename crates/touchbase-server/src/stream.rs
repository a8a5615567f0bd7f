//! Large JSON answers written out as they are serialized: the body is a stream of chunks of a
//! few dozen items each, made when the connection asks for the next, so no whole answer is
//! ever held as one string (or as a tree of JSON values) beside the items it is made from.

use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// How many items one chunk of the body holds.
const CHUNK: usize = 64;

/// `items` as a JSON array, serialized chunk by chunk while the body is sent.
pub fn json_array<T: Serialize + Send + 'static>(items: Vec<T>) -> Response {
    let mut items = items.into_iter().peekable();
    let mut opened = false;
    let mut closed = false;
    let chunks = std::iter::from_fn(move || {
        if closed {
            return None;
        }
        let mut out = Vec::with_capacity(CHUNK * 256);
        if !opened {
            out.push(b'[');
        }
        for _ in 0..CHUNK {
            let Some(item) = items.next() else { break };
            if opened {
                out.push(b',');
            }
            opened = true;
            if let Err(e) = serde_json::to_writer(&mut out, &item) {
                closed = true;
                tracing::error!(error = %e, "serializing an answer");
                return Some(Err(std::io::Error::other(e)));
            }
        }
        opened = true;
        if items.peek().is_none() {
            out.push(b']');
            closed = true;
        }
        Some(Ok(Bytes::from(out)))
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(futures_util::stream::iter(chunks)),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    async fn text(items: Vec<u32>) -> String {
        let body = json_array(items).into_body().collect().await.unwrap();
        String::from_utf8(body.to_bytes().to_vec()).unwrap()
    }

    #[tokio::test]
    async fn arrays_of_any_length_are_json() {
        assert_eq!(text(vec![]).await, "[]");
        assert_eq!(text(vec![1]).await, "[1]");
        let many: Vec<u32> = (0..1_000).collect();
        let parsed: Vec<u32> = serde_json::from_str(&text(many.clone()).await).unwrap();
        assert_eq!(parsed, many);
        let exact: Vec<u32> = (0..CHUNK as u32 * 2).collect();
        let parsed: Vec<u32> = serde_json::from_str(&text(exact.clone()).await).unwrap();
        assert_eq!(parsed, exact);
    }
}
