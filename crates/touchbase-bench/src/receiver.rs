//! A webhook receiver in this process for the reverse feed's steps: HTTP/1.1 with keep-alive on
//! 127.0.0.1 only, answering every request 200 at once, and recording each arrival's wall-clock
//! instant beside the `webhook-id` and `Idempotency-Key` headers and the body's `fired_at`.

use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::sync::watch;

/// One request received.
#[derive(Debug, Clone)]
pub struct Arrival {
    /// When its body was in, microseconds since the epoch (the clock `fired_at` is read on).
    pub at_us: i64,
    /// Its `webhook-id` header (the delivery's id), empty when it had none.
    pub id: String,
    /// The body's `fired_at`, microseconds since the epoch, when it had one.
    pub fired_at_us: Option<i64>,
    /// Its `Idempotency-Key` header (a standing order's run), when it had one.
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Default)]
struct Seen {
    arrivals: Vec<Arrival>,
    ids: HashSet<String>,
}

#[derive(Debug)]
struct Shared {
    seen: Mutex<Seen>,
    /// The number of distinct ids received so far.
    distinct: watch::Sender<u64>,
}

/// A receiver listening on `127.0.0.1:PORT`; it stops when dropped.
#[derive(Debug)]
pub struct Receiver {
    /// `http://127.0.0.1:PORT/hook`.
    pub url: String,
    shared: Arc<Shared>,
    accept: tokio::task::JoinHandle<()>,
}

impl Receiver {
    pub async fn start() -> anyhow::Result<Receiver> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("the receiver cannot listen on 127.0.0.1")?;
        let url = format!("http://{}/hook", listener.local_addr()?);
        let shared = Arc::new(Shared {
            seen: Mutex::new(Seen::default()),
            distinct: watch::Sender::new(0),
        });
        let accept = {
            let shared = Arc::clone(&shared);
            tokio::spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    let _ = stream.set_nodelay(true);
                    let shared = Arc::clone(&shared);
                    tokio::spawn(async move {
                        let service = service_fn(move |r| answer(Arc::clone(&shared), r));
                        let _ = http1::Builder::new()
                            .keep_alive(true)
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            })
        };
        Ok(Receiver {
            url,
            shared,
            accept,
        })
    }

    /// Distinct delivery ids received so far.
    pub fn distinct(&self) -> u64 {
        *self.shared.distinct.borrow()
    }

    /// Waits until `n` distinct ids have come, or until none came for `quiet`; whether all did.
    pub async fn wait_for(&self, n: u64, quiet: Duration) -> bool {
        let mut seen = self.shared.distinct.subscribe();
        loop {
            if *seen.borrow_and_update() >= n {
                return true;
            }
            match tokio::time::timeout(quiet, seen.changed()).await {
                Ok(Ok(())) => {}
                _ => return *seen.borrow() >= n,
            }
        }
    }

    /// Every request received so far, in order of arrival.
    pub fn arrivals(&self) -> Vec<Arrival> {
        self.shared
            .seen
            .lock()
            .map(|s| s.arrivals.clone())
            .unwrap_or_default()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

#[derive(Deserialize)]
struct Fired<'a> {
    #[serde(borrow)]
    fired_at: Option<&'a str>,
}

async fn answer(
    shared: Arc<Shared>,
    request: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let id = request
        .headers()
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let idempotency_key = request
        .headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = request.into_body().collect().await.map(|b| b.to_bytes());
    let at_us = jiff::Timestamp::now().as_microsecond();
    let fired_at_us = body.ok().and_then(|b| {
        let fired: Fired = serde_json::from_slice(&b).ok()?;
        let at: jiff::Timestamp = fired.fired_at?.parse().ok()?;
        Some(at.as_microsecond())
    });
    if let Ok(mut seen) = shared.seen.lock() {
        seen.arrivals.push(Arrival {
            at_us,
            id: id.clone(),
            fired_at_us,
            idempotency_key,
        });
        if seen.ids.insert(id) {
            let n = seen.ids.len() as u64;
            shared.distinct.send_replace(n);
        }
    }
    Ok(Response::new(Full::new(Bytes::new())))
}
