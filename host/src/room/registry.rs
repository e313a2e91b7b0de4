//! The registry of open rooms (room id -> handle), and room creation. It is touched on create,
//! lookup, listing and close only; its lock is never held across an `.await`.
//!
//! It also relays the module catalog's changes to the rooms: when a game's active version
//! changes, each of its rooms gets one [`RoomCmd::ActiveVersion`] (an explicit input like any
//! other, rather than a watch receiver in every room) and reports it in its info.
//!
//! Creation is bounded: live rooms on the server, and rooms open per creator and per address
//! (created and not yet finished), through the claims of [`super::quota`].
//!
//! Rooms are spawned through a [`RoomSpawner`] (a runtime handle and the task tracker that waits
//! for them at shutdown), so that tests can run them on a paused clock.

use super::actor::{RoomActor, RoomParams};
use super::quota::{Caps, Quotas};
use super::{
    Clock, Entering, JoinCmd, Outbox, RoomCmd, RoomError, RoomHandle, RoomInfo, RoomStatus,
};
use crate::config::RoomConfig;
use crate::ids::{PlayerId, RoomId};
use crate::metrics::Metrics;
use crate::modules::ModuleCatalog;
use crate::modules::catalog_key;
use crate::rules::{CallContext, RulesError, Setup};
use crate::store::{EventLog, GameHeader};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::net::IpAddr;
use std::ops::Bound;
use std::sync::{Arc, RwLock};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

mod quarantine;
mod recover;
mod rollout;

pub use recover::{ModuleOf, Recovery};
pub use rollout::{ActivateError, PinnedRoom, Policy, RolloutStatus};

/// A request to create a room.
#[derive(Clone, Debug, Default)]
pub struct CreateRoom {
    /// Game name.
    pub game: String,
    /// Rules version (default: the game's active version).
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

/// Who creates a room, and where the reply goes: they take seat 0.
#[derive(Debug)]
pub struct Creator {
    /// The player.
    pub player: PlayerId,
    /// Their name.
    pub name: String,
    /// Their IP address (rooms open per address are capped).
    pub addr: IpAddr,
    /// Their connection, which receives the reply and then the room's updates.
    pub outbox: Outbox,
    /// The request's id, echoed by the reply.
    pub request_id: Option<Arc<str>>,
}

/// Where room tasks run, and the tracker that waits for them at shutdown.
#[derive(Clone, Debug)]
pub struct RoomSpawner {
    runtime: tokio::runtime::Handle,
    tracker: TaskTracker,
}

impl RoomSpawner {
    /// Spawns rooms on `runtime`, tracked by `tracker`.
    pub fn new(runtime: tokio::runtime::Handle, tracker: TaskTracker) -> Self {
        RoomSpawner { runtime, tracker }
    }

    /// Spawns rooms on the runtime this is called from.
    pub fn current(tracker: TaskTracker) -> Self {
        Self::new(tokio::runtime::Handle::current(), tracker)
    }

    fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        self.tracker.spawn_on(task, &self.runtime);
    }
}

/// What a registry needs.
pub struct RegistryParams {
    /// The installed games.
    pub catalog: Arc<dyn ModuleCatalog>,
    /// Where games are logged.
    pub log: Arc<dyn EventLog>,
    /// Rooms' settings.
    pub cfg: RoomConfig,
    /// Whether clients may choose seeds.
    pub allow_client_seed: bool,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Cancelled at shutdown.
    pub shutdown: CancellationToken,
    /// Where rooms run.
    pub spawner: RoomSpawner,
    /// Rooms save a snapshot every this many log entries.
    pub snapshot_every: u64,
    /// Where a canary's activation is stored when it succeeds (`None`: not stored).
    pub modules: Option<Arc<dyn crate::store::ModuleStore>>,
}

type Rooms = HashMap<RoomId, RoomHandle, foldhash::fast::RandomState>;

/// One page of listed rooms.
#[derive(Debug)]
pub struct RoomPage {
    /// The rooms, by id.
    pub rooms: Vec<RoomInfo>,
    /// Where the next page starts (`None`: this was the last).
    pub next: Option<RoomId>,
}

/// What [`Registry::list`] looks for.
#[derive(Debug, Default)]
pub struct ListQuery<'a> {
    /// Only rooms of this game.
    pub game: Option<&'a str>,
    /// Only rooms with this status.
    pub status: Option<&'a str>,
    /// Rooms after this id (the previous page's `next`).
    pub after: Option<&'a str>,
    /// At most this many rooms.
    pub limit: usize,
}

/// Room ids drawn for a new room before giving up (each is taken with odds of one in a million
/// after a million public rooms).
const ID_DRAWS: usize = 8;

/// Rooms looked at per room returned, at most: a page with a narrow filter stops early (with a
/// `next` to go on from) rather than read every room.
const SCAN_PER_ROOM: usize = 20;

/// Open rooms and what is needed to make new ones.
pub struct Registry {
    /// Looked up on every action: a fast keyed hash rather than SipHash.
    rooms: RwLock<Rooms>,
    /// The rooms `list_rooms` shows (not private), in id order, so that a page costs its size.
    listed: RwLock<BTreeMap<RoomId, RoomHandle>>,
    catalog: Arc<dyn ModuleCatalog>,
    log: Arc<dyn EventLog>,
    cfg: Arc<RoomConfig>,
    allow_client_seed: bool,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
    spawner: RoomSpawner,
    /// Live rooms, and open rooms per creator and address, with their caps.
    quotas: Quotas,
    snapshot_every: u64,
    rollouts: rollout::Rollouts,
    modules: Option<Arc<dyn crate::store::ModuleStore>>,
    /// Moved on whenever a listed room opens, closes or changes.
    lobby: super::LobbyFeed,
}

impl Registry {
    /// An empty registry. When `p.shutdown` is cancelled, every room is told to stop.
    pub fn new(p: RegistryParams) -> Arc<Self> {
        let quotas = Quotas::new(Caps {
            rooms: p.cfg.max_rooms,
            per_player: p.cfg.max_open_rooms_per_player,
            per_address: p.cfg.max_open_rooms_per_address,
        });
        let registry = Arc::new(Registry {
            quotas,
            rooms: RwLock::new(HashMap::default()),
            listed: RwLock::default(),
            catalog: p.catalog,
            log: p.log,
            cfg: Arc::new(p.cfg),
            allow_client_seed: p.allow_client_seed,
            metrics: p.metrics,
            shutdown: p.shutdown,
            spawner: p.spawner,
            snapshot_every: p.snapshot_every,
            rollouts: rollout::Rollouts::default(),
            modules: p.modules,
            lobby: super::LobbyFeed::new(),
        });
        let weak = Arc::downgrade(&registry);
        let shutdown = registry.shutdown.clone();
        registry.spawner.spawn(async move {
            shutdown.cancelled().await;
            let Some(registry) = weak.upgrade() else {
                return;
            };
            let rooms: Vec<RoomHandle> = registry.read().values().cloned().collect();
            drop(registry);
            // A full inbox makes this wait, never drops the command.
            for room in rooms {
                room.send_reliably(RoomCmd::Shutdown).await;
            }
        });
        registry
            .spawner
            .spawn(Registry::watch_failures(Arc::downgrade(&registry)));
        let weak = Arc::downgrade(&registry);
        let shutdown = registry.shutdown.clone();
        let mut changes = registry.catalog.changes();
        registry.spawner.spawn(async move {
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    changed = changes.changed() => if changed.is_err() { return },
                }
                let Some(registry) = weak.upgrade() else {
                    return;
                };
                registry.announce_active_versions().await;
            }
        });
        registry
    }

    /// What a room of `game` at `version` reports as its game's active version: the catalog's,
    /// when it is another.
    fn active_besides(&self, game: &str, version: &str) -> Option<Arc<str>> {
        self.catalog
            .active(game)
            .map(|m| m.info().version.clone())
            .filter(|active| active != version)
            .map(Arc::from)
    }

    /// Tells every room whose game's active version changed.
    async fn announce_active_versions(&self) {
        let rooms: Vec<RoomHandle> = self.read().values().cloned().collect();
        let mut active: HashMap<Arc<str>, Option<Arc<str>>> = HashMap::new();
        for room in rooms {
            let (game, version, known) =
                room.with_info(|i| (i.game.clone(), i.version.clone(), i.active_version.clone()));
            let now = active
                .entry(game.clone())
                .or_insert_with(|| {
                    self.catalog
                        .active(&game)
                        .map(|m| m.info().version.as_str().into())
                })
                .clone()
                .filter(|a| *a != version);
            if now != known {
                // Waits for inbox space rather than losing the change.
                room.send_reliably(RoomCmd::ActiveVersion(now)).await;
            }
        }
    }

    /// Makes a room reachable (and listed unless `private`) and runs it until it closes, after
    /// its rebuild when `rebuild` is given.
    fn launch(
        self: &Arc<Self>,
        handle: &RoomHandle,
        private: bool,
        mut actor: Box<RoomActor>,
        rx: super::inbox::Receiver,
        rebuild: Option<recover::Rebuild>,
    ) {
        let id = handle.id().clone();
        self.write().insert(id.clone(), handle.clone());
        if !private {
            self.listed
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .insert(id.clone(), handle.clone());
            self.lobby.changed();
        }
        let registry = Arc::downgrade(self);
        self.spawner.spawn(async move {
            if let Some(rebuild) = rebuild {
                rebuild.run(&mut actor).await;
            }
            actor.run(rx).await;
            if let Some(r) = registry.upgrade() {
                r.write().remove(&id);
                let was_listed = r
                    .listed
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&id)
                    .is_some();
                if was_listed {
                    r.lobby.changed();
                }
            }
        });
    }

    /// The installed games.
    pub fn catalog(&self) -> &dyn ModuleCatalog {
        &*self.catalog
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Rooms> {
        self.rooms.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Rooms> {
        self.rooms.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The room with this id.
    pub fn get(&self, id: &str) -> Result<RoomHandle, RoomError> {
        self.read()
            .get(id)
            .cloned()
            .ok_or_else(|| RoomError::UnknownRoom { room: id.into() })
    }

    /// How many rooms are open (private ones too).
    pub fn open_rooms(&self) -> usize {
        self.read().len()
    }

    /// Every open room (private ones too) whose info passes `wanted`, in id order.
    pub fn rooms_where(&self, wanted: impl Fn(&RoomInfo) -> bool) -> Vec<RoomInfo> {
        let rooms: Vec<RoomHandle> = self.read().values().cloned().collect();
        let mut found: Vec<RoomInfo> = (rooms.iter())
            .filter(|r| r.with_info(&wanted))
            .map(RoomHandle::info)
            .collect();
        found.sort_by(|a, b| a.id.cmp(&b.id));
        found
    }

    /// Closes every room whose game has finished (archived already) rather than waiting for
    /// its players to go: what operators' "archive now" does. Returns how many closed; a room
    /// whose last outputs are not yet durable stays and is counted in the next call.
    pub async fn archive_finished(&self) -> usize {
        let rooms: Vec<RoomHandle> = (self.read().values())
            .filter(|r| r.with_info(|i| i.status == RoomStatus::Finished))
            .cloned()
            .collect();
        let mut closed = 0;
        for room in rooms {
            if let Ok(true) = room.ask(RoomCmd::Archive).await {
                closed += 1;
            }
        }
        closed
    }

    /// The lobby's change feed (see [`super::LobbyFeed`]).
    pub fn lobby(&self) -> &super::LobbyFeed {
        &self.lobby
    }

    /// The open rooms in which `player` holds a seat, with the seat (a page that reloads
    /// offers them back). Looks at every open room: asked once per `hello`.
    pub fn seats_of(&self, player: &PlayerId) -> Vec<(RoomInfo, u32)> {
        let seat_in = |i: &RoomInfo| {
            (i.seats.iter())
                .find(|s| s.player.as_ref() == Some(player))
                .map(|s| s.seat)
        };
        self.rooms_where(|i| seat_in(i).is_some())
            .into_iter()
            .filter_map(|i| Some((seat_in(&i)?, i)))
            .map(|(seat, i)| (i, seat))
            .collect()
    }

    /// A page of listed rooms in id order, filtered by game and status.
    pub fn list(&self, q: &ListQuery<'_>) -> RoomPage {
        let listed = self.listed.read().unwrap_or_else(|p| p.into_inner());
        let from = q.after.map_or(Bound::Unbounded, Bound::Excluded);
        let mut rooms = Vec::new();
        let mut scanned = 0;
        let budget = q.limit.max(1).saturating_mul(SCAN_PER_ROOM);
        let mut range = listed.range::<str, _>((from, Bound::Unbounded));
        for (id, handle) in range.by_ref() {
            let wanted = handle.with_info(|r| {
                q.game.is_none_or(|g| *r.game == *g)
                    && q.status.is_none_or(|s| r.status.as_str() == s)
            });
            if wanted {
                rooms.push(handle.info());
            }
            scanned += 1;
            if rooms.len() >= q.limit || scanned >= budget {
                let next = range.next().is_some().then(|| id.clone());
                return RoomPage { rooms, next };
            }
        }
        RoomPage { rooms, next: None }
    }

    /// A fresh room id (public, or secret when `private`) and the log of its game: an id that
    /// an earlier game had, ended or not, is drawn again (public ids are short enough to
    /// repeat over millions of games).
    async fn new_log(
        &self,
        private: bool,
        header: impl Fn(RoomId) -> GameHeader,
    ) -> Result<(RoomId, Box<dyn crate::store::GameWriter>), RoomError> {
        for _ in 0..ID_DRAWS {
            let id = if private {
                RoomId::secret()
            } else {
                RoomId::random()
            };
            match self.log.taken(&id).await {
                Ok(false) => {}
                Ok(true) => continue,
                Err(e) => {
                    tracing::warn!("cannot check a new room id: {e}");
                    return Err(RoomError::Unavailable);
                }
            }
            match self.log.create(header(id.clone())) {
                Ok(log) => return Ok((id, log)),
                // Taken meanwhile by another new room.
                Err(crate::store::StoreError::Duplicate { .. }) => continue,
                Err(e) => {
                    tracing::error!(room_id = %id, "cannot log the new room: {e}");
                    return Err(RoomError::Closed);
                }
            }
        }
        tracing::error!("{ID_DRAWS} room ids in a row were taken");
        Err(RoomError::Closed)
    }

    /// Creates a room and seats its creator in seat 0; the room sends the creator's connection
    /// the reply (then its updates). Returns the new room's id.
    pub async fn create(
        self: &Arc<Self>,
        req: CreateRoom,
        creator: Creator,
    ) -> Result<RoomId, RoomError> {
        if self.shutdown.is_cancelled() {
            return Err(RoomError::Closed);
        }
        if !self.log.accepting() {
            return Err(RoomError::Unavailable);
        }
        // Claimed before any work: a refusal costs nothing, and a request refused further on
        // gives the claim back as it drops.
        let claim = self.quotas.claim(&creator.player, creator.addr)?;
        let module = match &req.version {
            Some(v) => self.catalog.version(&req.game, v),
            // While a canary runs, its share of new rooms get its version.
            None => {
                (self.rollouts.canary_for(&req.game)).or_else(|| self.catalog.active(&req.game))
            }
        }
        .ok_or_else(|| RoomError::UnknownGame {
            game: req.game.clone(),
            version: req.version.clone(),
        })?;
        if let Some(reason) = self.catalog.quarantined(&req.game, &module.info().version) {
            return Err(RoomError::VersionQuarantined {
                game: req.game.clone(),
                version: module.info().version.clone(),
                reason,
            });
        }
        let info = module.info();
        let seats = req.seats.unwrap_or(info.max_seats);
        if seats < info.min_seats || seats > info.max_seats {
            return Err(RoomError::BadRequest {
                reason: format!(
                    "{} is played by {} to {} seats",
                    info.name, info.min_seats, info.max_seats
                ),
            });
        }
        if req.bots >= seats {
            return Err(RoomError::BadRequest {
                reason: format!(
                    "at most {} of {seats} seats can be bots: the creator takes one",
                    seats - 1
                ),
            });
        }
        let seed = match req.seed {
            Some(_) if !self.allow_client_seed => return Err(RoomError::SeedNotAllowed),
            Some(s) => s,
            None => crate::ids::random_u64(),
        };
        let options = req.options.unwrap_or(serde_json::Value::Null);
        if !options.is_object() && !options.is_null() {
            return Err(RoomError::BadOptions {
                reason: "options must be a JSON object".into(),
            });
        }
        // `start` is pure: calling it now refuses bad options at creation, not at the start.
        let probe = Setup {
            seats,
            seed,
            options: options.to_string(),
        };
        match module.start(&probe, &CallContext::default()) {
            Ok(_) => {}
            Err(RulesError::Rejected(refusal)) => {
                return Err(RoomError::BadOptions {
                    reason: match refusal {
                        crate::rules::RuleError::BadOptions(reason) => reason,
                        other => other.to_string(),
                    },
                });
            }
            Err(fault) => return Err(RoomError::from_rules(&fault, "to start")),
        }
        let clock = Clock::new();
        let turn_deadline_ms = req.turn_deadline_ms.or(self.cfg.turn_deadline_ms);
        let header = |room: RoomId| GameHeader {
            room,
            module: catalog_key(&module),
            seed,
            options: probe.options.clone(),
            seats,
            creator: creator.player.clone(),
            private: req.private,
            turn_deadline_ms,
            created_at: clock.now_ms(),
        };
        let (id, log) = self.new_log(req.private, header).await?;
        let (game, pinned) = (info.name.clone(), info.version.clone());
        let active_version = self.active_besides(&game, &pinned);
        let (tx, rx) = super::inbox::inbox(self.cfg.inbox_capacity);
        let (actor, info_rx) = RoomActor::new(RoomParams {
            id: id.clone(),
            module,
            cfg: self.cfg.clone(),
            options,
            seats,
            bots: req.bots,
            seed,
            private: req.private,
            creator: creator.player.clone(),
            turn_deadline_ms,
            active_version: active_version.clone(),
            metrics: self.metrics.clone(),
            clock,
            log,
            claim,
            snapshot_every: self.snapshot_every,
            lobby: self.lobby.clone(),
        });
        let handle = RoomHandle {
            id: id.clone(),
            tx,
            info: info_rx,
        };
        // Boxed before the task captures it: a task keeps its captures for its whole life, beside
        // the state of the loop.
        self.launch(&handle, req.private, Box::new(actor), rx, None);
        // The catalog may have changed between the look-up above and the room's insertion, where
        // the relay of changes could not see it.
        let active_now = self.active_besides(&game, &pinned);
        if active_now != active_version {
            let _ = handle.send(RoomCmd::ActiveVersion(active_now));
        }
        if self.shutdown.is_cancelled() {
            // Shutdown began while this room was made: the rooms it told to stop may not
            // include this one. Its inbox is empty, so the command fits.
            let _ = handle.send(RoomCmd::Shutdown);
        }
        tracing::info!(room_id = %id, game = %req.game, seats, bots = req.bots, "room created");
        handle
            .ask(|reply| {
                RoomCmd::Join(JoinCmd {
                    player: creator.player,
                    name: creator.name,
                    seat: Some(0),
                    to: Entering {
                        outbox: creator.outbox,
                        request_id: creator.request_id,
                        reply,
                    },
                })
            })
            .await?;
        Ok(id)
    }
}
