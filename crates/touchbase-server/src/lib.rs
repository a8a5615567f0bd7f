//! The HTTP face of touchbase (R21): the JSON API, its OpenAPI 3.1 document (generated from
//! the handlers below, never written by hand) and the web dashboard.
//!
//! Only this crate knows HTTP. [`router`] builds the whole application from its state, so
//! tests drive it without a socket; [`serve`] runs it on a listener until `shutdown` resolves.

mod answers;
mod api;
pub mod committer;
pub mod connections;
mod customer_page;
mod document;
mod extract;
mod feed;
mod headers;
pub mod journeys_keeper;
pub mod listen;
mod measure;
pub mod mqtt;
mod page;
mod parse;
mod problem;
mod report;
mod self_service;
pub mod standing;
mod stream;
mod survey_page;
pub mod tokens;
pub mod voice;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use tokio::net::TcpListener;
use touchbase_store::Store;

pub use committer::Committer;

pub use api::ApiDoc;
pub use problem::{ApiError, Problem};

/// Settings of the HTTP server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The largest request body accepted, in bytes.
    pub body_limit: usize,
    /// The most events one `POST /api/events` may carry.
    pub max_batch: usize,
    /// How long ingest must pause before the journeys are brought up to date in the
    /// background (see [`journeys_keeper`]).
    pub journeys_idle: std::time::Duration,
    /// Bounds on connections: how many at once, how long a request may take to arrive.
    pub connections: connections::Limits,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            body_limit: 8 * 1024 * 1024,
            max_batch: 10_000,
            journeys_idle: std::time::Duration::from_secs(10),
            connections: connections::Limits::default(),
        }
    }
}

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    /// Where event batches go to be written (group commit).
    pub committer: Committer,
    /// The bearer tokens already checked.
    pub tokens: Arc<tokens::Tokens>,
    /// Failed authentications per client address.
    pub throttle: Arc<tokens::Throttle>,
    /// Notified after each group of events is written: the reverse feed's dispatcher wakes on
    /// it, so what the events fired goes out at once.
    pub written: Arc<tokio::sync::Notify>,
    /// The organization's key, for the endpoints' secrets (absent: endpoints cannot be added
    /// or rotated through the API).
    pub keys: Option<Arc<touchbase_core::endpoint::Keys>>,
}

impl AppState {
    /// The state over `store`; starts the committer's task and the journeys' keeper
    /// ([`journeys_keeper`], after `config.journeys_idle` without writes) on the current tokio
    /// runtime.
    pub fn new(store: Arc<dyn Store>, config: &ServerConfig) -> AppState {
        let activity = Arc::new(journeys_keeper::Activity::default());
        journeys_keeper::start(
            Arc::clone(&store),
            Arc::clone(&activity),
            config.journeys_idle,
        );
        let written = Arc::new(tokio::sync::Notify::new());
        AppState {
            committer: Committer::start(Arc::clone(&store), activity, Arc::clone(&written)),
            written,
            keys: None,
            tokens: tokens::Tokens::start(Arc::clone(&store)),
            throttle: Arc::default(),
            store,
        }
    }
}

impl AppState {
    /// The same state, making endpoints' secrets from `keys`.
    pub fn with_keys(mut self, keys: touchbase_core::endpoint::Keys) -> AppState {
        self.keys = Some(Arc::new(keys));
        self
    }
}

/// The whole application: API, OpenAPI document, dashboard; every response with the security
/// headers of [`headers`].
pub fn router(state: AppState, config: &ServerConfig) -> Router {
    api::routes(state.clone())
        .with_state(state)
        .layer(axum::Extension(config.clone()))
        .layer(DefaultBodyLimit::max(config.body_limit))
        .layer(axum::middleware::from_fn_with_state(
            config.body_limit,
            problem::every_error_a_problem,
        ))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .layer(axum::middleware::from_fn(headers::security_headers))
}

/// Serves the application on `listener` until `shutdown` resolves, then finishes the requests
/// in flight; within `config.connections` ([`connections`]: how many at once, how long each
/// request may take to arrive).
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    config: &ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    connections::serve(
        listener,
        router(state, config),
        &config.connections,
        shutdown,
    )
    .await
}

/// Resolves on ctrl-c or SIGTERM: the usual `shutdown` for [`serve`].
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing the requests in flight");
}
