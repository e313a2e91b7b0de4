//! The operators' routes for game versions (under `/admin`, behind the admin token):
//!
//! ```text
//! GET  /admin/modules                   games, their versions, rooms and failures per version
//! POST /admin/modules[?activate=POLICY] a module's bytes (a component, or the core module cargo
//!                                       builds): accepted after a smoke run, installed, kept
//! POST /admin/modules/{game}/activate   {"version", "policy"}: make a version active, and with
//!                                       "migrate" move the running rooms to it (a rollout), or
//!                                       with "canary:PERCENT" a share of them first
//! POST /admin/modules/{game}/rollback   back to the version active before the last activation
//! POST /admin/modules/{game}/quarantine {"version", "reason"}: no new rooms, its rooms moved away
//! GET  /admin/rollouts                  rollouts kept, oldest first
//! GET  /admin/rollouts/{id}             one rollout's progress
//! ```
//!
//! Must not touch: rooms (the registry runs rollouts), modules' internals.

use super::AppState;
use super::archive::HttpError;
use crate::modules::accept::{AcceptError, accept};
use crate::modules::{CatalogError, catalog_key};
use crate::room::registry::{ActivateError, Policy};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
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
    /// Why the version is quarantined (absent when it is not).
    #[serde(skip_serializing_if = "Option::is_none")]
    quarantined: Option<String>,
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
                        quarantined: catalog.quarantined(&g.name, &m.info().version),
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
    /// `new-rooms` (the default), `migrate` or `canary:PERCENT`.
    #[serde(default)]
    policy: Option<String>,
    /// The shadow replay gate: a room moves only if its recorded game replays under the new
    /// version without diverging.
    #[serde(default)]
    shadow: bool,
}

/// The largest module an upload may send.
pub(super) const MAX_MODULE_BYTES: usize = 32 << 20;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UploadQuery {
    /// Activate the module at once with this policy.
    activate: Option<String>,
}

pub(super) async fn upload(
    State(app): State<Arc<AppState>>,
    Query(query): Query<UploadQuery>,
    bytes: Bytes,
) -> Result<Response, HttpError> {
    let refused = |status, code, message: String| HttpError::new(status, code, message);
    let Some(runtime) = app.runtime.clone() else {
        return Err(refused(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "this server takes no uploads (it has no sandbox runtime)".into(),
        ));
    };
    let policy = query.activate.as_deref().map(parse_policy).transpose()?;
    let worker = app.clone();
    let accepted =
        tokio::task::spawn_blocking(move || accept(&runtime, &bytes, &worker.smoke_runs))
            .await
            .map_err(|e| {
                refused(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    format!("the check failed to run: {e}"),
                )
            })?
            .map_err(|e| {
                let code = match e {
                    AcceptError::SmokeRun { .. } => "smoke_run_failed",
                    _ => "invalid_module",
                };
                refused(StatusCode::UNPROCESSABLE_ENTITY, code, e.to_string())
            })?;
    let module = accepted.module;
    let key = catalog_key(&module);
    // Kept by digest first, so that whatever rooms run it can be rebuilt under it after a
    // restart (a refused module kept is refused again then).
    app.modules.keep(&key, module.bytes()).await.map_err(|e| {
        refused(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            e.to_string(),
        )
    })?;
    let installed = match app
        .registry
        .catalog()
        .install(module.clone(), app.config.dev)
    {
        Ok(installed) => installed,
        Err(e @ CatalogError::VersionTaken { .. }) => {
            return Err(refused(
                StatusCode::CONFLICT,
                "version_taken",
                e.to_string(),
            ));
        }
        Err(e) => {
            return Err(refused(
                StatusCode::BAD_REQUEST,
                "invalid_module",
                e.to_string(),
            ));
        }
    };
    tracing::info!(game = %key.name, version = %key.version, digest = %key.digest,
        installed, converted = accepted.converted, "module uploaded");
    let rollout = match policy {
        Some(policy) => {
            Some(activate_and_keep(&app, &key.name, &key.version, policy, false).await?)
        }
        None => None,
    };
    let status = if installed {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let body = serde_json::json!({
        "name": key.name,
        "version": key.version,
        "digest": key.digest,
        "contract": module.contract().as_str(),
        "converted": accepted.converted,
        "installed": installed,
        "smoke_run": accepted.smoke,
        "rollout": rollout,
    });
    Ok((status, Json(body)).into_response())
}

fn parse_policy(name: &str) -> Result<Policy, HttpError> {
    Policy::parse(name).ok_or_else(|| {
        HttpError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("unknown policy {name:?}: use new-rooms, migrate or canary:PERCENT"),
        )
    })
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
    let policy = parse_policy(body.policy.as_deref().unwrap_or("new-rooms"))?;
    let status = activate_and_keep(&app, &game, &body.version, policy, body.shadow).await?;
    let code = if status.state == "running" {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((code, Json(status)).into_response())
}

/// What an activation error is on the wire.
fn activate_error(e: ActivateError) -> HttpError {
    let code = match e {
        ActivateError::Catalog(_) => (StatusCode::NOT_FOUND, "unknown_version"),
        ActivateError::CannotMigrate { .. } => (StatusCode::CONFLICT, "cannot_migrate"),
        ActivateError::NoPrevious { .. } => (StatusCode::CONFLICT, "nothing_to_roll_back"),
    };
    HttpError::new(code.0, code.1, e.to_string())
}

/// Activates `version` of `game` with `policy` and stores the activation (a canary's is
/// stored by its rollout when it succeeds).
async fn activate_and_keep(
    app: &AppState,
    game: &str,
    version: &str,
    policy: Policy,
    shadow: bool,
) -> Result<crate::room::registry::RolloutStatus, HttpError> {
    let status = app
        .registry
        .activate_gated(game, version, policy, shadow)
        .map_err(activate_error)?;
    if !matches!(policy, Policy::Canary { .. }) {
        keep_active(app, game, version).await?;
    }
    Ok(status)
}

/// Stores `version` as `game`'s active version, so that a restart keeps it.
async fn keep_active(app: &AppState, game: &str, version: &str) -> Result<(), HttpError> {
    if let Err(e) = app.modules.set_active(game, version).await {
        tracing::error!(game, version, "the activation is not saved: {e}");
        return Err(HttpError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            format!(
                "{game}@{version} is active, but the database did not record it ({e}): \
                 activate it again before a restart"
            ),
        ));
    }
    Ok(())
}

pub(super) async fn rollback(
    State(app): State<Arc<AppState>>,
    Path(game): Path<String>,
) -> Result<Response, HttpError> {
    let status = app.registry.rollback(&game).map_err(activate_error)?;
    keep_active(&app, &game, &status.version).await?;
    Ok((StatusCode::ACCEPTED, Json(status)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Quarantine {
    version: String,
    #[serde(default)]
    reason: Option<String>,
}

pub(super) async fn quarantine(
    State(app): State<Arc<AppState>>,
    Path(game): Path<String>,
    body: Result<Json<Quarantine>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, HttpError> {
    let Json(body) = body.map_err(|e| {
        HttpError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("send {{\"version\": \"X.Y.Z\", \"reason\": \"...\"}}: {e}"),
        )
    })?;
    let reason = format!(
        "quarantined by an operator: {}",
        body.reason.as_deref().unwrap_or("no reason given")
    );
    let status = app
        .registry
        .quarantine(&game, &body.version, &reason)
        .await
        .map_err(|e| HttpError::new(StatusCode::NOT_FOUND, "unknown_version", e.to_string()))?;
    // An active version that was quarantined was replaced: remember which is active now.
    if let Some(active) = app.registry.catalog().active(&game) {
        keep_active(&app, &game, &active.info().version).await?;
    }
    Ok(Json(status).into_response())
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
