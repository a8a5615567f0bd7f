//! The server's side of its connections: how many it holds at once, how long a client may
//! take to send a request, and the open-files limit they draw on.
//!
//! - At most [`Limits::max_connections`] connections are served at once; the next waits in the
//!   listen backlog until one closes. The bound stays below the open-files limit, so the store,
//!   the feed and the log always have descriptors left (the limit is raised to its hard value at
//!   start, [`raise_open_files_limit`]).
//! - A connection that does not send a whole request head within [`Limits::header_timeout`]
//!   is closed: a new connection that sends nothing, a slow client (slowloris) and a keep-alive
//!   connection idle between requests alike (hyper times each wait for a request head).
//! - A request body not received in full within [`Limits::body_timeout`] fails the request and
//!   closes the connection.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// Bounds on the server's connections.
#[derive(Debug, Clone)]
pub struct Limits {
    /// The most connections served at once (capped at start below the open-files limit).
    pub max_connections: usize,
    /// How long a client may take to send a request head, and a connection may sit idle
    /// between requests.
    pub header_timeout: Duration,
    /// How long a client may take to send a request body.
    pub body_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 10_000,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(60),
        }
    }
}

/// Descriptors kept for everything but connections (the store, the feed, the log, …).
const RESERVED_FILES: u64 = 256;

/// Raises the open-files soft limit to the hard limit; returns the soft limit in force after
/// (`None` where it cannot be read).
pub fn raise_open_files_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        use rustix::process::{Resource, getrlimit, setrlimit};
        let mut limit = getrlimit(Resource::Nofile);
        if limit.current < limit.maximum {
            limit.current = limit.maximum;
            if let Err(e) = setrlimit(Resource::Nofile, limit) {
                tracing::warn!(error = %e, "could not raise the open-files limit");
            }
        }
        getrlimit(Resource::Nofile).current
    }
    #[cfg(not(unix))]
    None
}

/// `wanted`, lowered to leave [`RESERVED_FILES`] of the open-files limit `files` free.
pub fn connection_bound(wanted: usize, files: Option<u64>) -> usize {
    match files {
        Some(files) => {
            let room = files.saturating_sub(RESERVED_FILES).max(files / 2).max(1);
            wanted.min(usize::try_from(room).unwrap_or(usize::MAX))
        }
        None => wanted,
    }
    .max(1)
}

/// Serves `app` on `listener` within `limits` until `shutdown` resolves, then finishes the
/// requests in flight.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: &Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let files = raise_open_files_limit();
    let max = connection_bound(limits.max_connections, files);
    tracing::info!(
        max_connections = max,
        open_files = files,
        "serving at most {max} connections at once"
    );
    let permits = Arc::new(Semaphore::new(max));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    // HTTP/1.1 only: hyper-util's automatic version detection first waits for bytes with no
    // timer, so a connection that sends nothing would never be cut.
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let body_timeout = limits.body_timeout;
    let service = app.map_request(move |request: axum::http::Request<Incoming>| {
        request.map(|body| Body::new(Deadline::new(body, body_timeout)))
    });
    // The peer's address reaches the handlers (failed authentications are counted by it).
    let with_peer = |peer: std::net::SocketAddr| {
        service
            .clone()
            .map_request(move |mut request: axum::http::Request<Incoming>| {
                request
                    .extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                request
            })
    };
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&permits).acquire_owned() => {
                permit.expect("the semaphore is never closed")
            }
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors or a connection reset before it was taken: wait a
                    // little rather than spin, and go on.
                    tracing::warn!(error = %e, "accepting a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let connection = builder.serve_connection(
            TokioIo::new(stream),
            TowerToHyperService::new(with_peer(peer)),
        );
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection closed");
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// A request body that fails once its deadline has passed: the whole body, not each piece,
/// must arrive in time.
struct Deadline {
    body: Incoming,
    sleep: Pin<Box<tokio::time::Sleep>>,
    timeout: Duration,
}

impl Deadline {
    fn new(body: Incoming, timeout: Duration) -> Deadline {
        Deadline {
            body,
            sleep: Box::pin(tokio::time::sleep(timeout)),
            timeout,
        }
    }
}

/// The body took longer than the server's body timeout.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {0:?}")]
pub struct BodyTimedOut(Duration);

impl HttpBody for Deadline {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.body).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if self.sleep.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(Box::new(BodyTimedOut(self.timeout)))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_leave_room_under_the_open_files_limit() {
        assert_eq!(connection_bound(10_000, Some(1_048_576)), 10_000);
        assert_eq!(connection_bound(10_000, Some(1_024)), 768);
        assert_eq!(connection_bound(10_000, Some(300)), 150);
        assert_eq!(connection_bound(10_000, None), 10_000);
        assert_eq!(connection_bound(0, Some(1_024)), 1);
    }
}
