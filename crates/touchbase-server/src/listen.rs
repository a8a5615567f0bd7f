//! `touchbase listen`: a local webhook receiver for trying the reverse feed. It checks each
//! delivery's Standard Webhooks signature with the endpoint's secret (when given), answers
//! 200, and prints what came.

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use tokio::net::TcpListener;
use touchbase_core::endpoint;

/// What one delivery came to, as printed.
fn describe(secret: Option<&[u8]>, headers: &HeaderMap, body: &str) -> String {
    let get = |h: &str| {
        headers
            .get(h)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let (id, ts, sigs) = (
        get("webhook-id"),
        get("webhook-timestamp"),
        get("webhook-signature"),
    );
    let verdict = match (secret, ts.parse::<i64>()) {
        (None, _) => "signature not checked (give --secret whsec_…)".to_owned(),
        (Some(_), Err(_)) => "NOT VALID: no webhook-timestamp".to_owned(),
        (Some(secret), Ok(t)) => {
            let expected = endpoint::sign(secret, &id, t, body.as_bytes());
            let skew = (jiff::Timestamp::now().as_second() - t).abs();
            if !sigs.split(' ').any(|s| s == expected) {
                "NOT VALID: no signature matches the secret".to_owned()
            } else if skew > 300 {
                format!("NOT VALID: the timestamp is {skew} s away")
            } else {
                "signature valid".to_owned()
            }
        }
    };
    format!("{id}  {verdict}\n  {body}")
}

/// A receiver that takes every POST on `listener` with 200 and says nothing, until
/// `shutdown`: a stand-in for a system that took each delivery (the demo's fulfilment while
/// the demo delivers the year's runs).
pub async fn accept_all(
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/", post(|| async { StatusCode::OK }))
        .route("/{*path}", post(|| async { StatusCode::OK }));
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Serves the receiver on `listener` (any path takes POSTs) until `shutdown`.
pub async fn run(
    listener: TcpListener,
    secret: Option<Vec<u8>>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let secret = Arc::new(secret);
    // What a fulfilment system does with a standing order's run: one order per idempotency
    // key, however often the run is delivered.
    let seen: Arc<std::sync::Mutex<std::collections::HashMap<String, u64>>> = Arc::default();
    let handler = move |headers: HeaderMap, body: String| {
        let secret = Arc::clone(&secret);
        let seen = Arc::clone(&seen);
        async move {
            let mut line = describe(secret.as_deref(), &headers, &body);
            if let Some(key) = headers.get("idempotency-key").and_then(|v| v.to_str().ok()) {
                let times = {
                    let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
                    let n = seen.entry(key.to_owned()).or_default();
                    *n += 1;
                    *n
                };
                line.push_str(&match times {
                    1 => format!("\n  idempotency-key {key}: a new order"),
                    n => format!(
                        "\n  idempotency-key {key}: seen {n} times, the same order again (not a new one)"
                    ),
                });
            }
            println!("{line}");
            StatusCode::OK
        }
    };
    let app = Router::new()
        .route("/", post(handler.clone()))
        .route("/{*path}", post(handler));
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
