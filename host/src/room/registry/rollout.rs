//! Activations and rollouts: an operator makes a version of a game the one new rooms get and,
//! with the `migrate` policy, moves the game's running rooms to it. A rollout is a background
//! job of the registry, not of the request that started it (a dropped HTTP request does not
//! stop it halfway); each room swaps between two of its own inputs ([`RoomCmd::Swap`]) and
//! answers how it went, and the job keeps the tally, queryable while it runs and after.
//!
//! The job sends swaps in waves of at most one hundredth of a second's worth of rooms
//! (`room.rollout_rooms_per_second`), waits for their answers, and paces itself to that rate,
//! so that a rollout over many rooms never takes the runtime from the rooms being played.
//!
//! Must not touch: a room's game (rooms swap themselves), the wire.

use super::{Registry, RoomHandle};
use crate::modules::CatalogError;
use crate::room::{RoomCmd, SwapCmd, SwapOutcome};
use crate::rules::Module;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;
use tokio::time::{Duration, Instant};

/// Rollouts kept for their status, newest last; older ones are forgotten.
const KEPT: usize = 64;

/// What an activation does to the game's rooms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// New rooms get the version; running rooms finish on theirs.
    NewRooms,
    /// New rooms get the version, and every running room moves to it.
    Migrate,
    /// `percent` of the running rooms (and of new rooms) move to the version while its failure
    /// rate is watched for `room.canary_window_ms`; then every room moves, or the moved ones go
    /// back and the version is not activated.
    Canary {
        /// The share of rooms, 1 to 100.
        percent: u8,
    },
}

impl Policy {
    /// The policy named `name` (`new-rooms`, `migrate`, `canary:PERCENT`; `canary` is 10%).
    pub fn parse(name: &str) -> Option<Policy> {
        match name {
            "new-rooms" => Some(Policy::NewRooms),
            "migrate" => Some(Policy::Migrate),
            "canary" => Some(Policy::Canary { percent: 10 }),
            _ => {
                let percent: u8 = name
                    .strip_prefix("canary:")?
                    .trim_end_matches('%')
                    .parse()
                    .ok()?;
                (1..=100)
                    .contains(&percent)
                    .then_some(Policy::Canary { percent })
            }
        }
    }

    fn name(self) -> String {
        match self {
            Policy::NewRooms => "new-rooms".into(),
            Policy::Migrate => "migrate".into(),
            Policy::Canary { percent } => format!("canary:{percent}"),
        }
    }
}

/// Why an activation was refused (nothing changed).
#[derive(Debug, thiserror::Error)]
pub enum ActivateError {
    /// No such game or version.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// Nothing to roll back to: the game was not activated since the server started.
    #[error("{game} has no earlier active version to go back to (since the server started)")]
    NoPrevious {
        /// The game.
        game: String,
    },
    /// The version cannot take running games over (its contract is older than 0.2.0).
    #[error("{module} cannot take running games over: {reason}")]
    CannotMigrate {
        /// name@version.
        module: String,
        /// Why.
        reason: String,
    },
}

/// A room that stays on its version, and why.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct PinnedRoom {
    /// The room.
    pub room: String,
    /// Why it stays.
    pub reason: String,
}

/// A rollout's progress.
#[derive(Clone, Debug, Serialize)]
pub struct RolloutStatus {
    /// Its id.
    pub id: u64,
    /// The game.
    pub game: String,
    /// The version activated.
    pub version: String,
    /// Its digest.
    pub digest: String,
    /// The policy: `new-rooms`, `migrate`, `canary:PERCENT` or `rollback`.
    pub policy: String,
    /// `running`, `watching` (a canary's window), `done`, `rolled_back` (a canary that failed:
    /// the rooms it moved went back), or `stopped` (the server shut down first).
    pub state: &'static str,
    /// Why a canary rolled back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Whether rooms moved only after their game replayed under the new version.
    pub shadow: bool,
    /// Rooms of the game when it started.
    pub rooms: usize,
    /// Rooms moved to the version.
    pub migrated: usize,
    /// Rooms that were on it already.
    pub unchanged: usize,
    /// Rooms that stay on their version, with the reasons.
    pub pinned: Vec<PinnedRoom>,
    /// Rooms that closed before their turn came.
    pub gone: usize,
    /// Rooms not yet asked or answered.
    pub pending: usize,
    /// Host time of the start, ms.
    pub started_at: u64,
    /// Host time of the end, ms.
    pub finished_at: Option<u64>,
}

/// The rollouts of a registry.
#[derive(Default)]
pub(super) struct Rollouts {
    jobs: Mutex<Vec<Arc<Mutex<RolloutStatus>>>>,
    next_id: std::sync::atomic::AtomicU64,
    /// Per game, the version active before the last activation (what a rollback returns to).
    previous: Mutex<HashMap<String, String>>,
    /// Per game, a canary under way: its version and the share of new rooms that get it.
    canaries: Mutex<HashMap<String, (Module, u8)>>,
}

impl Rollouts {
    /// The version of `game` that was active before its last activation.
    pub(super) fn previous_of(&self, game: &str) -> Option<String> {
        lock(&self.previous).get(game).cloned()
    }

    /// The canary version a new room of `game` gets, if one is under way and the room is
    /// among its share.
    pub(super) fn canary_for(&self, game: &str) -> Option<Module> {
        let canaries = lock(&self.canaries);
        let (module, percent) = canaries.get(game)?;
        (crate::ids::random_u64() % 100 < u64::from(*percent)).then(|| module.clone())
    }
}

/// Whether room `id` is among the first `percent` of rooms (a stable choice by its id).
fn in_share(id: &str, percent: u8) -> bool {
    let h = id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    h % 100 < u64::from(percent)
}

/// What a rollout sends each room.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Move {
    /// A swap; with `shadow`, only after the room's recorded game replays under the new
    /// version without diverging.
    Swap {
        shadow: bool,
    },
    Rollback,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Registry {
    /// Makes `version` of `game` the version new rooms get and applies `policy` to its running
    /// rooms; with `migrate`, the rollout runs in the background and its first status is
    /// returned (see [`Registry::rollout`]).
    pub fn activate(
        self: &Arc<Self>,
        game: &str,
        version: &str,
        policy: Policy,
    ) -> Result<RolloutStatus, ActivateError> {
        self.activate_gated(game, version, policy, false)
    }

    /// [`Registry::activate`], with the shadow replay gate when `shadow`: before a room moves,
    /// its recorded game is replayed from the start under the new version, and a room whose
    /// game diverges stays, reported with the input where it did (see [`crate::replay::shadow`]).
    pub fn activate_gated(
        self: &Arc<Self>,
        game: &str,
        version: &str,
        policy: Policy,
        shadow: bool,
    ) -> Result<RolloutStatus, ActivateError> {
        let module = self.installed(game, version)?;
        if policy != Policy::NewRooms && !module.contract().can_take_over() {
            return Err(ActivateError::CannotMigrate {
                module: module.label().into(),
                reason: format!(
                    "it implements tabula:rules@{}, whose migrate returns no step",
                    module.contract()
                ),
            });
        }
        let before = self.catalog.active(game).map(|m| m.info().version.clone());
        let rooms: Vec<RoomHandle> = match policy {
            Policy::NewRooms => Vec::new(),
            Policy::Migrate => self.rooms_of(game),
            Policy::Canary { percent } => self
                .rooms_of(game)
                .into_iter()
                .filter(|h| in_share(h.id().as_str(), percent))
                .collect(),
        };
        match policy {
            Policy::Canary { percent } => {
                lock(&self.rollouts.canaries).insert(game.into(), (module.clone(), percent));
            }
            _ => {
                lock(&self.rollouts.canaries).remove(game);
                self.catalog.set_active(game, version)?;
            }
        }
        if let Some(before) = before.filter(|b| b != version) {
            lock(&self.rollouts.previous).insert(game.into(), before);
        }
        let canary = matches!(policy, Policy::Canary { .. });
        let status = self.new_rollout(game, &module, policy.name(), rooms.len(), canary);
        lock(&status).shadow = shadow;
        let first = lock(&status).clone();
        tracing::info!(game, version, policy = %policy.name(), rooms = rooms.len(),
            "version activated");
        if !rooms.is_empty() || canary {
            // Failures count from before the first swap: a room may fail at once.
            let baseline = module.usage();
            let registry = self.clone();
            self.spawner.spawn(async move {
                let kind = Move::Swap { shadow };
                if !registry.roll_out(&module, rooms, kind, &status).await {
                    return;
                }
                if canary {
                    registry.watch_canary(module, baseline, status).await;
                } else {
                    finish(&status, "done");
                }
            });
        }
        Ok(first)
    }

    /// Takes `game` back to the version that was active before its last activation: new rooms
    /// get it again, and every room that was moved from it goes back when it can (the others
    /// are reported).
    pub fn rollback(self: &Arc<Self>, game: &str) -> Result<RolloutStatus, ActivateError> {
        let previous = lock(&self.rollouts.previous).get(game).cloned();
        let Some(version) = previous else {
            return Err(ActivateError::NoPrevious { game: game.into() });
        };
        let module = self.installed(game, &version)?;
        lock(&self.rollouts.canaries).remove(game);
        self.catalog.set_active(game, &version)?;
        lock(&self.rollouts.previous).remove(game);
        let rooms = self.rooms_of(game);
        let status = self.new_rollout(game, &module, "rollback".into(), rooms.len(), false);
        let first = lock(&status).clone();
        tracing::info!(game, version, rooms = rooms.len(), "rolling back");
        let registry = self.clone();
        self.spawner.spawn(async move {
            if registry
                .roll_out(&module, rooms, Move::Rollback, &status)
                .await
            {
                finish(&status, "done");
            }
        });
        Ok(first)
    }

    /// `game` at `version`, installed.
    pub(super) fn installed(&self, game: &str, version: &str) -> Result<Module, CatalogError> {
        self.catalog
            .version(game, version)
            .ok_or_else(|| CatalogError::UnknownVersion {
                game: game.into(),
                version: version.into(),
            })
    }

    pub(super) fn rooms_of(&self, game: &str) -> Vec<RoomHandle> {
        self.read()
            .values()
            .filter(|h| h.with_info(|i| *i.game == *game))
            .cloned()
            .collect()
    }

    pub(super) fn new_rollout(
        &self,
        game: &str,
        module: &Module,
        policy: String,
        rooms: usize,
        canary: bool,
    ) -> Arc<Mutex<RolloutStatus>> {
        let now = crate::store::now_ms();
        let status = Arc::new(Mutex::new(RolloutStatus {
            id: self
                .rollouts
                .next_id
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                + 1,
            game: game.into(),
            version: module.info().version.clone(),
            digest: module.digest().into(),
            policy,
            state: if rooms == 0 && !canary {
                "done"
            } else {
                "running"
            },
            reason: None,
            shadow: false,
            rooms,
            migrated: 0,
            unchanged: 0,
            pinned: Vec::new(),
            gone: 0,
            pending: rooms,
            started_at: now,
            finished_at: (rooms == 0 && !canary).then_some(now),
        }));
        let mut jobs = lock(&self.rollouts.jobs);
        jobs.push(status.clone());
        let excess = jobs.len().saturating_sub(KEPT);
        jobs.drain(..excess);
        status
    }

    /// The status of rollout `id`, while it runs and for a while after.
    pub fn rollout(&self, id: u64) -> Option<RolloutStatus> {
        let jobs = lock(&self.rollouts.jobs);
        let job = jobs.iter().find(|j| lock(j).id == id)?;
        Some(lock(job).clone())
    }

    /// Every rollout kept, oldest first.
    pub fn rollouts(&self) -> Vec<RolloutStatus> {
        let jobs = lock(&self.rollouts.jobs);
        jobs.iter().map(|j| lock(j).clone()).collect()
    }

    /// Sends every room of `rooms` a swap to (or a rollback to) `module`, paced, and keeps the
    /// tally in `status`. False when a shutdown stopped it (`status` says so); the caller says
    /// when the rollout is done.
    async fn roll_out(
        &self,
        module: &Module,
        rooms: Vec<RoomHandle>,
        kind: Move,
        status: &Mutex<RolloutStatus>,
    ) -> bool {
        let rate = f64::from(self.cfg.rollout_rooms_per_second.max(1));
        let wave = (rate / 100.0).ceil().max(1.0) as usize;
        let started = Instant::now();
        let mut asked = 0usize;
        for chunk in rooms.chunks(wave) {
            if self.shutdown.is_cancelled() {
                lock(status).state = "stopped";
                return false;
            }
            let mut answers = Vec::with_capacity(chunk.len());
            // What the rooms report as the game's active version (read once per wave).
            let active: Option<Arc<str>> = self
                .catalog
                .active(&module.info().name)
                .map(|m| Arc::from(m.info().version.as_str()));
            for room in chunk {
                if kind == (Move::Swap { shadow: true })
                    && let Some(diverged) = self.diverges(room, module).await
                {
                    let mut s = lock(status);
                    s.pending = s.pending.saturating_sub(1);
                    s.pinned.push(PinnedRoom {
                        room: room.id().to_string(),
                        reason: diverged,
                    });
                    continue;
                }
                let (reply, answer) = oneshot::channel();
                let cmd = SwapCmd {
                    module: module.clone(),
                    active: active.clone(),
                    reply,
                };
                let cmd = match kind {
                    Move::Swap { .. } => RoomCmd::Swap(cmd),
                    Move::Rollback => RoomCmd::Rollback(cmd),
                };
                // Waits for inbox space rather than skip a busy room.
                room.send_reliably(cmd).await;
                answers.push((room.id().to_string(), answer));
            }
            for (room, answer) in answers {
                let outcome = answer.await;
                let mut s = lock(status);
                s.pending = s.pending.saturating_sub(1);
                match outcome {
                    Ok(SwapOutcome::Swapped { .. }) => s.migrated += 1,
                    Ok(SwapOutcome::Unchanged) => s.unchanged += 1,
                    Ok(SwapOutcome::Pinned { reason }) => {
                        s.pinned.push(PinnedRoom { room, reason })
                    }
                    Err(_) => s.gone += 1,
                }
            }
            asked += chunk.len();
            // Paced to the rate: the next wave waits until its time.
            let due = started + Duration::from_secs_f64(asked as f64 / rate);
            tokio::select! {
                _ = tokio::time::sleep_until(due) => {}
                _ = self.shutdown.cancelled() => {}
            }
        }
        let s = lock(status);
        tracing::info!(game = %s.game, version = %s.version, migrated = s.migrated,
            pinned = s.pinned.len(), unchanged = s.unchanged, gone = s.gone, "rollout wave done");
        true
    }

    /// A canary's window: the new version's failures per call are watched; past the threshold
    /// the rooms moved go back and the canary ends, else at the window's end the version is
    /// activated and every other room moves.
    async fn watch_canary(
        self: &Arc<Self>,
        module: Module,
        start: crate::rules::Usage,
        status: Arc<Mutex<RolloutStatus>>,
    ) {
        let game = module.info().name.clone();
        lock(&status).state = "watching";
        let window = Duration::from_millis(self.cfg.canary_window_ms);
        let per_mille = u64::from(self.cfg.canary_max_failures_per_mille);
        let end = Instant::now() + window;
        let mut failing = None;
        while Instant::now() < end {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(100).min(window)) => {}
                _ = self.shutdown.cancelled() => {
                    lock(&status).state = "stopped";
                    return;
                }
            }
            let now = module.usage();
            let (calls, failures) = (now.calls - start.calls, now.failures - start.failures);
            if failures > 0 && failures * 1000 > per_mille * calls {
                failing = Some(format!(
                    "{} failed {failures} of {calls} calls in its canary (more than {per_mille} \
                     per 1000)",
                    module.label()
                ));
                break;
            }
        }
        lock(&self.rollouts.canaries).remove(&game);
        match failing {
            Some(reason) => {
                tracing::warn!(game, version = %module.info().version, "canary rolled back: {reason}");
                let rooms = self.rooms_of(&game);
                let back = self
                    .catalog
                    .active(&game)
                    .filter(|m| m.digest() != module.digest());
                if let Some(back) = back {
                    let tally =
                        self.new_rollout(&game, &back, "rollback".into(), rooms.len(), false);
                    if self.roll_out(&back, rooms, Move::Rollback, &tally).await {
                        finish(&tally, "done");
                    }
                }
                let mut s = lock(&status);
                s.reason = Some(reason);
                s.state = "rolled_back";
                s.finished_at = Some(crate::store::now_ms());
            }
            None => {
                let version = module.info().version.clone();
                let previous = self.catalog.active(&game).map(|m| m.info().version.clone());
                if let Err(e) = self.catalog.set_active(&game, &version) {
                    finish(&status, "stopped");
                    tracing::error!(game, "the canary's version is gone: {e}");
                    return;
                }
                if let Some(previous) = previous.filter(|p| *p != version) {
                    lock(&self.rollouts.previous).insert(game.clone(), previous);
                }
                self.activated(&game, &version).await;
                let rest: Vec<RoomHandle> = self
                    .rooms_of(&game)
                    .into_iter()
                    .filter(|h| h.with_info(|i| *i.version != *version))
                    .collect();
                {
                    let mut s = lock(&status);
                    s.rooms += rest.len();
                    s.pending += rest.len();
                    s.state = "running";
                }
                let shadow = lock(&status).shadow;
                if self
                    .roll_out(&module, rest, Move::Swap { shadow }, &status)
                    .await
                {
                    finish(&status, "done");
                }
            }
        }
    }
}

impl Registry {
    /// Why `room`'s recorded game diverges under `module`, if it does (the shadow gate); a
    /// game whose log cannot be read is not moved either.
    async fn diverges(&self, room: &RoomHandle, module: &Module) -> Option<String> {
        let log = match self.log.read(room.id()).await {
            Ok(Some(log)) => log,
            Ok(None) => return None,
            Err(e) => return Some(format!("its log cannot be read for the shadow replay: {e}")),
        };
        let record = crate::replay::GameRecord::from_log(&log)?;
        let module = module.isolated();
        let replayed =
            tokio::task::spawn_blocking(move || crate::replay::shadow(&record, &module, None))
                .await
                .unwrap_or_else(|e| {
                    Some(crate::replay::Divergence {
                        index: 0,
                        input: None,
                        reason: format!("the shadow replay failed to run: {e}"),
                    })
                })?;
        Some(format!(
            "its game diverges under the new version at input {}: {}",
            replayed.index, replayed.reason
        ))
    }

    /// Stores `version` as `game`'s active version (after a canary's success).
    pub(super) async fn activated(&self, game: &str, version: &str) {
        if let Some(store) = &self.modules
            && let Err(e) = store.set_active(game, version).await
        {
            tracing::error!(game, version, "the activation is not saved: {e}");
        }
    }
}

fn finish(status: &Mutex<RolloutStatus>, state: &'static str) {
    let mut s = lock(status);
    s.state = state;
    s.finished_at = Some(crate::store::now_ms());
}
