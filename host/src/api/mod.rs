//! The HTTP/WebSocket edge: the router, health and metrics endpoints, and the WebSocket
//! connections. Reaches rooms only through [`crate::room::RoomHandle`]s from the registry.
//! Everything about the wire lives here: message types ([`protocol`]), error and close codes
//! ([`errors`]), and their mapping from the rooms' and sessions' own error types.

pub mod errors;
pub mod protocol;
mod requests;
mod writer;
mod ws;

use crate::config::Config;
use crate::metrics::Metrics;
use crate::room::Registry;
use crate::session::Sessions;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use tokio_util::sync::CancellationToken;

/// What every request handler shares.
pub struct AppState {
    /// The configuration.
    pub config: Config,
    /// Open rooms.
    pub registry: Arc<Registry>,
    /// Sessions.
    pub sessions: Sessions,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Cancelled when the server shuts down.
    pub shutdown: CancellationToken,
    /// Source of connection ids.
    pub next_conn: AtomicU64,
}

/// The router: `/ws`, `/health/live`, `/health/ready`, `/metrics`.
pub fn app(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/ws", get(ws::upgrade))
        .route("/health/live", get(|| async { "ok" }))
        .route("/health/ready", get(ready))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn ready(State(app): State<Arc<AppState>>) -> impl IntoResponse {
    if app.shutdown.is_cancelled() {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down")
    } else if app.registry.catalog().list().is_empty() {
        (StatusCode::SERVICE_UNAVAILABLE, "no games installed")
    } else {
        (StatusCode::OK, "ready")
    }
}

async fn metrics(State(app): State<Arc<AppState>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        app.metrics.render(),
    )
}
