//! The operators' API: `/admin/*`, behind the bearer token `admin.token`. Without a token in the
//! configuration these routes answer 404 (the API is off); a missing or wrong token gets 401.
//!
//! Owns: these routes and their authentication. Must not touch: rooms' internals (it asks the
//! registry), the database (it goes through the ports).
//!
//! ```text
//! POST /admin/archive              close finished games' rooms now (archived already)
//! POST /admin/purge                purge event logs past archive.retention now
//! GET  /admin/corrupt              games paused as corrupt at recovery, with the reason
//! GET  /admin/games/{room}/record  any game's record, finished or not
//! ...  /admin/modules, /admin/rollouts: game versions and rollouts (see `versions`)
//! ...  /admin/rooms/{room}[/pause|/resume]: one room (see `operator`)
//! ```

use super::AppState;
use super::archive::{HttpError, bearer, is_admin, operator_record};
use axum::Json;
use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::sync::Arc;

/// The admin routes, each behind the token check.
pub fn routes(state: Arc<AppState>) -> Router<Arc<AppState>> {
    Router::new()
        .route("/admin/archive", post(archive))
        .route("/admin/purge", post(purge))
        .route("/admin/corrupt", get(corrupt))
        .route("/admin/games/{room}/record", get(game_record))
        .route(
            "/admin/modules",
            get(super::versions::list)
                .post(super::versions::upload)
                .layer(axum::extract::DefaultBodyLimit::max(
                    super::versions::MAX_MODULE_BYTES,
                )),
        )
        .route(
            "/admin/modules/{game}/activate",
            post(super::versions::activate),
        )
        .route(
            "/admin/modules/{game}/rollback",
            post(super::versions::rollback),
        )
        .route(
            "/admin/modules/{game}/quarantine",
            post(super::versions::quarantine),
        )
        .route("/admin/rooms", get(super::operator::rooms))
        .route("/admin/counters", get(super::operator::counters))
        .route("/admin/rooms/{room}", get(super::operator::inspect))
        .route("/admin/rooms/{room}/pause", post(super::operator::pause))
        .route("/admin/rooms/{room}/resume", post(super::operator::resume))
        .route("/admin/rollouts", get(super::versions::rollouts))
        .route("/admin/rollouts/{id}", get(super::versions::rollout))
        .route_layer(middleware::from_fn_with_state(state, authorize))
}

async fn authorize(
    State(app): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Result<Response, HttpError> {
    if app.config.admin.token.is_none() {
        return Err(HttpError::new(
            StatusCode::NOT_FOUND,
            "admin_off",
            "the admin API is off: set admin.token (TABULA_ADMIN__TOKEN) to turn it on",
        ));
    }
    match bearer(request.headers()) {
        Some(token) if is_admin(&app, token) => Ok(next.run(request).await),
        _ => Err(HttpError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send the admin token: Authorization: Bearer TOKEN",
        )),
    }
}

async fn archive(State(app): State<Arc<AppState>>) -> Response {
    let closed = app.registry.archive_finished().await;
    tracing::info!(closed, "finished rooms archived by an operator");
    Json(serde_json::json!({ "closed": closed })).into_response()
}

async fn purge(State(app): State<Arc<AppState>>) -> Result<Response, HttpError> {
    let retention = app.config.archive.retention;
    let purged = super::purge_now(&app).await?;
    Ok(Json(serde_json::json!({ "purged": purged, "retention": retention })).into_response())
}

async fn corrupt(State(app): State<Arc<AppState>>) -> Response {
    let games: Vec<serde_json::Value> = app
        .registry
        .rooms_where(crate::room::RoomInfo::corrupt)
        .into_iter()
        .map(|i| {
            serde_json::json!({
                "room": i.id,
                "game": i.game,
                "version": i.version,
                "seq": i.seq,
                "reason": i.paused_reason,
            })
        })
        .collect();
    Json(serde_json::json!({ "games": games })).into_response()
}

async fn game_record(
    State(app): State<Arc<AppState>>,
    Path(room): Path<String>,
) -> Result<Response, HttpError> {
    operator_record(&app, &room).await
}
