//! The read-only HTTP endpoints on finished games: a game's summary, its record (to its
//! players and operators), a player's statistics and every game version's statistics.
//!
//! Owns: these routes and their JSON errors. Must not touch: rooms (finished games are read
//! from the archive port, records from the event log).
//!
//! ```text
//! GET /api/games/{room}            the summary of a finished game
//! GET /api/games/{room}/record     its record (replay format), Authorization: Bearer TOKEN
//!                                  (a player's session token, or the admin token)
//! GET /api/players/{player}/stats  games, wins, win rate, average score, recent games
//! GET /api/stats/games             per game and version: games, per hour, average duration
//! ```

use super::AppState;
use crate::ids::{PlayerId, RoomId};
use crate::replay::GameRecord;
use crate::store::StoreError;
use crate::store::archive::GameSummary;
use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use std::sync::Arc;

/// Games in a player's history by default, and at most.
const RECENT_DEFAULT: usize = 20;
const RECENT_MAX: usize = 100;

/// The routes on the game port.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/games/{room}", get(summary))
        .route("/api/games/{room}/record", get(player_record))
        .route("/api/players/{player}/stats", get(player_stats))
        .route("/api/stats/games", get(game_stats))
}

/// An HTTP refusal: a status and `{"code": ..., "message": ...}` (codes in docs/http.md).
#[derive(Debug)]
pub struct HttpError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl HttpError {
    /// A refusal with `status`, `code` and `message`.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        HttpError {
            status,
            code,
            message: message.into(),
        }
    }

    fn unknown_game(room: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "unknown_game",
            format!("no finished game in room {room}"),
        )
    }
}

impl From<StoreError> for HttpError {
    fn from(e: StoreError) -> Self {
        tracing::error!("storage failed on an HTTP read: {e}");
        HttpError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "storage is unavailable; try again later",
        )
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "code": self.code, "message": self.message });
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// The bearer token of a request, if it has one.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Whether `token` is the admin token (compared by digest: the time taken says nothing about
/// how much of it matched).
pub fn is_admin(app: &AppState, token: &str) -> bool {
    use sha2::Digest;
    app.config.admin.token.as_deref().is_some_and(|admin| {
        sha2::Sha256::digest(admin.as_bytes()) == sha2::Sha256::digest(token.as_bytes())
    })
}

async fn summary(
    State(app): State<Arc<AppState>>,
    Path(room): Path<String>,
) -> Result<Response, HttpError> {
    let summary = app.archive.summary(&RoomId::from_wire(&room)).await?;
    let summary = summary.ok_or_else(|| HttpError::unknown_game(&room))?;
    Ok(Json(summary).into_response())
}

/// The record of the game in `room`, the way `tabula replay` reads it, for an operator: any
/// game's, even one being played.
pub async fn operator_record(app: &AppState, room: &str) -> Result<Response, HttpError> {
    let summary = app.archive.summary(&RoomId::from_wire(room)).await?;
    record(app, room, summary.as_ref()).await
}

/// The record of the game in `room` whose archived `summary` (if it finished) was read already.
async fn record(
    app: &AppState,
    room: &str,
    summary: Option<&GameSummary>,
) -> Result<Response, HttpError> {
    let id = RoomId::from_wire(room);
    if let Some(s) = summary
        && !s.log_kept
    {
        return Err(HttpError::new(
            StatusCode::GONE,
            "purged",
            format!("the record of {room} was purged (archive.retention); its summary remains"),
        ));
    }
    let log = app.log.read(&id).await?;
    let record = log.as_ref().and_then(GameRecord::from_log);
    let record = record.ok_or_else(|| {
        HttpError::new(
            StatusCode::NOT_FOUND,
            "unknown_game",
            format!("no started game in room {room}"),
        )
    })?;
    let name = format!(
        "attachment; filename=\"{}-{room}.json\"",
        record.module.name
    );
    let mut response = Json(record).into_response();
    if let Ok(v) = HeaderValue::from_str(&name) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

async fn player_record(
    State(app): State<Arc<AppState>>,
    Path(room): Path<String>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let token = bearer(&headers).ok_or_else(|| {
        HttpError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send your session token: Authorization: Bearer TOKEN",
        )
    })?;
    if is_admin(&app, token) {
        return operator_record(&app, &room).await;
    }
    let player = app.sessions.player_of(token).await?.ok_or_else(|| {
        HttpError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "unknown or expired token",
        )
    })?;
    let id = RoomId::from_wire(&room);
    let summary = app.archive.summary(&id).await?;
    let summary = summary.ok_or_else(|| HttpError::unknown_game(&room))?;
    if !summary
        .seats
        .iter()
        .any(|s| s.player.as_ref() == Some(&player))
    {
        return Err(HttpError::new(
            StatusCode::FORBIDDEN,
            "not_a_player",
            format!("only the players of {room} (and operators) may read its record"),
        ));
    }
    record(&app, &room, Some(&summary)).await
}

#[derive(Deserialize)]
struct RecentQuery {
    recent: Option<usize>,
}

async fn player_stats(
    State(app): State<Arc<AppState>>,
    Path(player): Path<String>,
    Query(q): Query<RecentQuery>,
) -> Result<Response, HttpError> {
    let recent = q.recent.unwrap_or(RECENT_DEFAULT).min(RECENT_MAX);
    let stats = app
        .archive
        .player(&PlayerId::from_wire(&player), recent)
        .await?;
    Ok(Json(stats).into_response())
}

async fn game_stats(State(app): State<Arc<AppState>>) -> Result<Response, HttpError> {
    let games = app.archive.games(crate::store::now_ms()).await?;
    Ok(Json(serde_json::json!({ "games": games })).into_response())
}
