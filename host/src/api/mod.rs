//! The HTTP/WebSocket edge: the router, health and metrics endpoints, and the WebSocket
//! connections. Reaches rooms only through [`crate::room::RoomHandle`]s from the registry.
//! Everything about the wire lives here: message types ([`protocol`]), error and close codes
//! ([`errors`]), and their mapping from the rooms' and sessions' own error types.

pub mod accept;
mod admin;
mod archive;
pub mod errors;
pub mod guesses;
mod lobby;
mod operator;
pub mod protocol;
mod requests;
mod versions;
pub mod web;
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
use tokio_util::task::TaskTracker;

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
    /// Tracks connection tasks and rooms, so that shutdown waits for them.
    pub tracker: TaskTracker,
    /// Failed room lookups per address and player.
    pub guesses: guesses::Guesses,
    /// Source of connection ids.
    pub next_conn: AtomicU64,
    /// The event log (readiness asks whether it keeps up; records are read from it).
    pub log: Arc<dyn crate::store::EventLog>,
    /// Finished games' summaries and statistics.
    pub archive: Arc<dyn crate::store::Archive>,
    /// Module bytes, the versions accepted and the active versions.
    pub modules: Arc<dyn crate::store::ModuleStore>,
    /// Compiles uploaded modules (`None`: uploads are refused).
    pub runtime: Option<Arc<crate::rules::Runtime>>,
    /// Digests whose smoke run passed.
    pub smoke_runs: Arc<crate::modules::accept::SmokeRuns>,
    /// True until every unfinished game has been rebuilt.
    pub recovering: std::sync::atomic::AtomicBool,
}

/// The game port's router: `/ws`, the read-only `/api/*` on finished games and the player page.
pub fn game(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/ws", get(ws::upgrade))
        .merge(archive::routes())
        .merge(web::player_routes())
        .with_state(state)
}

/// The operators' router: `/health/live`, `/health/ready`, `/metrics`, `/admin/*` and the
/// console (on the
/// game port too unless `admin_listen` gives them their own).
pub fn admin(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/health/live", get(|| async { "ok" }))
        .route("/health/ready", get(ready))
        .route("/metrics", get(metrics))
        .merge(admin::routes(state.clone()))
        .merge(web::console_routes())
        .with_state(state)
}

/// Purges the event logs of games past `archive.retention` now; how many games' logs went.
pub async fn purge_now(app: &AppState) -> Result<u64, crate::store::StoreError> {
    match app.config.archive.retention.cutoff(crate::store::now_ms()) {
        Some(before) => app.archive.purge(before).await,
        None => Ok(0),
    }
}

async fn ready(State(app): State<Arc<AppState>>) -> impl IntoResponse {
    if app.shutdown.is_cancelled() {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down")
    } else if app.registry.catalog().list().is_empty() {
        (StatusCode::SERVICE_UNAVAILABLE, "no games installed")
    } else if app.recovering.load(std::sync::atomic::Ordering::Acquire) {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "rebuilding unfinished games",
        )
    } else if !app.log.accepting() {
        (StatusCode::SERVICE_UNAVAILABLE, "storage is behind")
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
