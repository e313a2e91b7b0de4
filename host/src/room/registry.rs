//! The registry of open rooms (room id -> handle). It is touched on create, lookup, listing and
//! close only; its lock is never held across an `.await`.

use super::actor::{RoomActor, RoomParams};
use super::{Clock, Joined, Outbox, RoomCmd, RoomHandle, RoomInfo};
use crate::api::protocol::{ApiError, ErrorCode};
use crate::config::RoomConfig;
use crate::ids::{PlayerId, RoomId};
use crate::metrics::Metrics;
use crate::modules::Catalog;
use crate::rules::{CallContext, RuleError, RulesError, Setup};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A request to create a room.
#[derive(Clone, Debug, Default)]
pub struct CreateRoom {
    /// Game name.
    pub game: String,
    /// Rules version (default: newest).
    pub version: Option<String>,
    /// Options (JSON object).
    pub options: Option<serde_json::Value>,
    /// Seats (default: the game's maximum).
    pub seats: Option<u32>,
    /// Bots in the last seats.
    pub bots: u32,
    /// Unlisted.
    pub private: bool,
    /// Client-chosen seed.
    pub seed: Option<u64>,
    /// Turn deadline for humans, ms.
    pub turn_deadline_ms: Option<u64>,
}

/// Open rooms and what is needed to make new ones.
pub struct Registry {
    rooms: RwLock<HashMap<RoomId, RoomHandle>>,
    catalog: Arc<Catalog>,
    cfg: RoomConfig,
    allow_client_seed: bool,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

impl Registry {
    /// An empty registry. Room tasks are spawned on `tracker` and stop on `shutdown`.
    pub fn new(
        catalog: Arc<Catalog>,
        cfg: RoomConfig,
        allow_client_seed: bool,
        metrics: Arc<Metrics>,
        shutdown: CancellationToken,
        tracker: TaskTracker,
    ) -> Arc<Self> {
        Arc::new(Registry {
            rooms: RwLock::new(HashMap::new()),
            catalog,
            cfg,
            allow_client_seed,
            metrics,
            shutdown,
            tracker,
        })
    }

    /// The installed games.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<RoomId, RoomHandle>> {
        self.rooms.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<RoomId, RoomHandle>> {
        self.rooms.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The room with this id.
    pub fn get(&self, id: &str) -> Result<RoomHandle, ApiError> {
        self.read()
            .get(id)
            .cloned()
            .ok_or_else(|| ApiError::new(ErrorCode::UnknownRoom, format!("no room {id}")))
    }

    /// Listed rooms, optionally filtered by game and status.
    pub fn list(&self, game: Option<&str>, status: Option<&str>) -> Vec<RoomInfo> {
        let handles: Vec<RoomHandle> = self.read().values().cloned().collect();
        let mut rooms: Vec<RoomInfo> = handles
            .iter()
            .map(RoomHandle::info)
            .filter(|r| !r.private)
            .filter(|r| game.is_none_or(|g| r.game == g))
            .filter(|r| status.is_none_or(|s| r.status.as_str() == s))
            .collect();
        rooms.sort_by(|a, b| a.id.cmp(&b.id));
        rooms
    }

    /// Creates a room, seats its creator in seat 0 and returns what the creator sees.
    pub async fn create(
        self: &Arc<Self>,
        req: CreateRoom,
        creator: PlayerId,
        name: String,
        outbox: Outbox,
    ) -> Result<Joined, ApiError> {
        let module = self
            .catalog
            .get(&req.game, req.version.as_deref())
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::UnknownGame,
                    match &req.version {
                        Some(v) => format!("no game {} at version {v}", req.game),
                        None => format!("no game {}", req.game),
                    },
                )
            })?
            .clone();
        let info = module.info();
        let seats = req.seats.unwrap_or(info.max_seats);
        if seats < info.min_seats || seats > info.max_seats {
            return Err(ApiError::new(
                ErrorCode::BadMessage,
                format!(
                    "{} is played by {} to {} seats",
                    info.name, info.min_seats, info.max_seats
                ),
            ));
        }
        if req.bots >= seats {
            return Err(ApiError::new(
                ErrorCode::BadMessage,
                format!(
                    "at most {} of {seats} seats can be bots: the creator takes one",
                    seats - 1
                ),
            ));
        }
        let seed = match req.seed {
            Some(_) if !self.allow_client_seed => {
                return Err(ApiError::new(
                    ErrorCode::SeedNotAllowed,
                    "this server does not accept client seeds",
                ));
            }
            Some(s) => s,
            None => crate::ids::random_u64(),
        };
        let options = req.options.unwrap_or(serde_json::Value::Null);
        if !options.is_object() && !options.is_null() {
            return Err(ApiError::new(
                ErrorCode::BadOptions,
                "options must be a JSON object",
            ));
        }
        // `start` is pure: calling it now refuses bad options at creation, not at the start.
        let probe = Setup {
            seats,
            seed,
            options: options.to_string(),
        };
        match module.start(&probe, &CallContext::default()) {
            Ok(_) => {}
            Err(RulesError::Rejected(RuleError::BadOptions(reason))) => {
                return Err(ApiError::new(ErrorCode::BadOptions, reason));
            }
            Err(RulesError::Rejected(other)) => {
                return Err(ApiError::new(ErrorCode::BadOptions, other.to_string()));
            }
            Err(e) => {
                return Err(ApiError::new(
                    ErrorCode::ModuleError,
                    format!("the game's rules failed to start ({})", e.kind()),
                ));
            }
        }
        let id = RoomId::random();
        let (tx, rx) = mpsc::channel(self.cfg.inbox_capacity);
        let (actor, info_rx) = RoomActor::new(RoomParams {
            id: id.clone(),
            module,
            cfg: self.cfg.clone(),
            options,
            seats,
            bots: req.bots,
            seed,
            private: req.private,
            creator: creator.clone(),
            turn_deadline_ms: req.turn_deadline_ms.or(self.cfg.turn_deadline_ms),
            metrics: self.metrics.clone(),
            shutdown: self.shutdown.clone(),
            clock: Clock::new(),
        });
        let handle = RoomHandle {
            id: id.clone(),
            tx,
            info: info_rx,
        };
        self.write().insert(id.clone(), handle.clone());
        let registry = Arc::downgrade(self);
        let room_id = id.clone();
        self.tracker.spawn(async move {
            actor.run(rx).await;
            if let Some(r) = registry.upgrade() {
                r.write().remove(&room_id);
            }
        });
        tracing::info!(room_id = %id, game = %req.game, seats, bots = req.bots, "room created");
        handle
            .ask(|reply| RoomCmd::Join {
                player: creator,
                name,
                seat: Some(0),
                outbox,
                reply,
            })
            .await
    }
}
