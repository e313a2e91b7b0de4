//! The operators' routes for one room (under `/admin`, behind the admin token):
//!
//! ```text
//! GET  /admin/rooms/{room}          its info, module digest, state (hex and hash), every
//!                                   viewer's view now, and its log as a record
//! POST /admin/rooms/{room}/pause    {"reason"}: no moves, timers or bots until resumed
//! POST /admin/rooms/{room}/resume   the game goes on
//! GET  /admin/rooms?game=&version=&status=&phase=&limit=&after=
//!                                   open rooms (private ones too), a page in id order
//! GET  /admin/counters              totals since the start: moves (every game's steps),
//!                                   connections, rooms, module
//!                                   calls and failures, the event log's backlog
//! ```
//!
//! Must not touch: the room's internals (it sends the room an `OperatorCmd`).

use super::AppState;
use super::archive::HttpError;
use crate::ids::RoomId;
use crate::replay::GameRecord;
use crate::room::{OperatorCmd, RoomCmd, RoomError};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::sync::Arc;

fn refused(e: RoomError) -> HttpError {
    match e {
        RoomError::UnknownRoom { .. } | RoomError::Closed => HttpError::new(
            StatusCode::NOT_FOUND,
            "unknown_room",
            "no such room is open".to_owned(),
        ),
        e => HttpError::new(StatusCode::CONFLICT, e.kind(), e.to_string()),
    }
}

/// Asks the open room `room` an operator's command.
async fn ask<T>(
    app: &AppState,
    room: &str,
    make: impl FnOnce(crate::room::Reply<T>) -> OperatorCmd,
) -> Result<T, HttpError> {
    let handle = app.registry.get(room).map_err(refused)?;
    handle
        .ask(|reply| RoomCmd::Operator(make(reply)))
        .await
        .map_err(refused)
}

pub(super) async fn inspect(
    State(app): State<Arc<AppState>>,
    Path(room): Path<String>,
) -> Result<Response, HttpError> {
    let state = ask(&app, &room, OperatorCmd::Inspect).await?;
    let log = app.log.read(&RoomId::from_wire(&room)).await?;
    let record = log.as_ref().and_then(GameRecord::from_log);
    let mut body = serde_json::to_value(&state).unwrap_or_default();
    body["log"] = serde_json::to_value(&record).unwrap_or_default();
    Ok(Json(body).into_response())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct Pause {
    #[serde(default)]
    reason: Option<String>,
}

pub(super) async fn pause(
    State(app): State<Arc<AppState>>,
    Path(room): Path<String>,
    body: Option<Json<Pause>>,
) -> Result<Response, HttpError> {
    let reason = body
        .and_then(|Json(p)| p.reason)
        .unwrap_or_else(|| "no reason given".into());
    let reason = format!("paused by an operator: {reason}");
    let info = ask(&app, &room, |reply| OperatorCmd::Pause { reason, reply }).await?;
    Ok(Json(info).into_response())
}

pub(super) async fn resume(
    State(app): State<Arc<AppState>>,
    Path(room): Path<String>,
) -> Result<Response, HttpError> {
    let info = ask(&app, &room, OperatorCmd::Resume).await?;
    Ok(Json(info).into_response())
}

/// What `GET /admin/rooms` looks for.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RoomFilter {
    game: Option<String>,
    version: Option<String>,
    status: Option<String>,
    phase: Option<String>,
    limit: Option<usize>,
    after: Option<String>,
}

/// Rooms per page of `GET /admin/rooms`, unless asked (at most [`MAX_ROOMS`]).
const ROOMS: usize = 50;
const MAX_ROOMS: usize = 500;

pub(super) async fn rooms(
    State(app): State<Arc<AppState>>,
    Query(f): Query<RoomFilter>,
) -> Result<Response, HttpError> {
    let limit = f.limit.unwrap_or(ROOMS);
    if !(1..=MAX_ROOMS).contains(&limit) {
        return Err(HttpError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("limit must be 1 to {MAX_ROOMS}"),
        ));
    }
    let is = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
    let mut found = app.registry.rooms_where(|i| {
        is(&f.game, &i.game)
            && is(&f.version, &i.version)
            && is(&f.status, i.status.as_str())
            && is(&f.phase, &i.phase)
            && f.after.as_deref().is_none_or(|a| i.id.as_str() > a)
    });
    let next = (found.len() > limit).then(|| found[limit - 1].id.clone());
    found.truncate(limit);
    Ok(Json(serde_json::json!({ "rooms": found, "next": next })).into_response())
}

pub(super) async fn counters(State(app): State<Arc<AppState>>) -> Response {
    let catalog = app.registry.catalog();
    let (mut calls, mut failures) = (0u64, 0u64);
    for game in catalog.list() {
        for v in &game.versions {
            if let Some(m) = catalog.version(&game.name, v) {
                let usage = m.usage();
                calls += usage.calls;
                failures += usage.failures;
            }
        }
    }
    Json(serde_json::json!({
        "at": crate::store::now_ms(),
        "moves": app.metrics.steps.get(),
        "connections": app.metrics.connections.get(),
        "rooms": app.registry.open_rooms(),
        "module_calls": calls,
        "module_failures": failures,
        "log_backlog": app.metrics.store.queue_entries.get(),
    }))
    .into_response()
}
