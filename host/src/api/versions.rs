//! The operators' routes for game versions (under `/admin`, behind the admin token):
//!
//! ```text
//! GET  /admin/modules                   games, their versions, rooms and failures per version
//! POST /admin/modules/{game}/activate   {"version", "policy"}: make a version active, and with
//!                                       "migrate" move the running rooms to it (a rollout)
//! GET  /admin/rollouts                  rollouts kept, oldest first
//! GET  /admin/rollouts/{id}             one rollout's progress
//! ```
//!
//! Must not touch: rooms (the registry runs rollouts), modules' internals.

use super::AppState;
use super::archive::HttpError;
use crate::room::registry::{ActivateError, Policy};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;

/// One version of a game, as operators see it.
#[derive(Serialize)]
struct VersionListing {
    version: String,
    digest: String,
    /// The contract version the module was built against.
    contract: &'static str,
    active: bool,
    /// Open rooms on this version (by phase: `waiting`, `playing`, ...).
    rooms: usize,
    /// Module calls made and failed (traps, fuel, memory, deadlines, failed checks) since the
    /// server started.
    calls: u64,
    failures: u64,
}

#[derive(Serialize)]
struct GameVersions {
    name: String,
    active: String,
    versions: Vec<VersionListing>,
}

pub(super) async fn list(State(app): State<Arc<AppState>>) -> Response {
    let catalog = app.registry.catalog();
    let mut rooms: HashMap<(Arc<str>, Arc<str>), usize> = HashMap::new();
    for info in app.registry.rooms_where(|_| true) {
        *rooms.entry((info.game, info.version)).or_default() += 1;
    }
    let games: Vec<GameVersions> = catalog
        .list()
        .into_iter()
        .map(|g| GameVersions {
            versions: g
                .versions
                .iter()
                .filter_map(|v| catalog.version(&g.name, v))
                .map(|m| {
                    let usage = m.usage();
                    let version = m.info().version.clone();
                    VersionListing {
                        rooms: rooms
                            .get(&(Arc::from(g.name.as_str()), Arc::from(version.as_str())))
                            .copied()
                            .unwrap_or(0),
                        active: version == g.active,
                        version,
                        digest: m.digest().into(),
                        contract: m.contract().as_str(),
                        calls: usage.calls,
                        failures: usage.failures,
                    }
                })
                .collect(),
            name: g.name,
            active: g.active,
        })
        .collect();
    Json(serde_json::json!({ "games": games })).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Activate {
    version: String,
    /// `new-rooms` (the default) or `migrate`.
    #[serde(default)]
    policy: Option<String>,
}

pub(super) async fn activate(
    State(app): State<Arc<AppState>>,
    Path(game): Path<String>,
    body: Result<Json<Activate>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, HttpError> {
    let Json(body) = body.map_err(|e| {
        HttpError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!(
                "send {{\"version\": \"X.Y.Z\", \"policy\": \"new-rooms\" | \"migrate\"}}: {e}"
            ),
        )
    })?;
    let name = body.policy.as_deref().unwrap_or("new-rooms");
    let policy = Policy::parse(name).ok_or_else(|| {
        HttpError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("unknown policy {name:?}: use new-rooms or migrate"),
        )
    })?;
    let status = app
        .registry
        .activate(&game, &body.version, policy)
        .map_err(|e| match e {
            ActivateError::Catalog(e) => {
                HttpError::new(StatusCode::NOT_FOUND, "unknown_version", e.to_string())
            }
            e @ ActivateError::CannotMigrate { .. } => {
                HttpError::new(StatusCode::CONFLICT, "cannot_migrate", e.to_string())
            }
        })?;
    let code = if status.state == "running" {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((code, Json(status)).into_response())
}

pub(super) async fn rollouts(State(app): State<Arc<AppState>>) -> Response {
    Json(serde_json::json!({ "rollouts": app.registry.rollouts() })).into_response()
}

pub(super) async fn rollout(
    State(app): State<Arc<AppState>>,
    Path(id): Path<u64>,
) -> Result<Response, HttpError> {
    app.registry
        .rollout(id)
        .map(|s| Json(s).into_response())
        .ok_or_else(|| {
            HttpError::new(
                StatusCode::NOT_FOUND,
                "unknown_rollout",
                format!("no rollout {id} (the last 64 are kept)"),
            )
        })
}
