//! Activations and rollouts: an operator makes a version of a game the one new rooms get and,
//! with the `migrate` policy, moves the game's running rooms to it. A rollout is a background
//! job of the registry, not of the request that started it (a dropped HTTP request does not
//! stop it halfway); each room swaps between two of its own inputs ([`RoomCmd::Swap`]) and
//! answers how it went, and the job keeps the tally, queryable while it runs and after.
//!
//! The job sends swaps in waves of at most one tenth of a second's worth of rooms
//! (`room.rollout_rooms_per_second`), waits for their answers, and paces itself to that rate,
//! so that a rollout over many rooms never takes the runtime from the rooms being played.
//!
//! Must not touch: a room's game (rooms swap themselves), the wire.

use super::{Registry, RoomHandle};
use crate::modules::CatalogError;
use crate::room::{RoomCmd, SwapCmd, SwapOutcome};
use crate::rules::Module;
use serde::Serialize;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;
use tokio::time::{Duration, Instant};

/// Rollouts kept for their status, newest last; older ones are forgotten.
const KEPT: usize = 64;

/// What an activation does to the game's rooms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Policy {
    /// New rooms get the version; running rooms finish on theirs.
    NewRooms,
    /// New rooms get the version, and every running room moves to it.
    Migrate,
}

impl Policy {
    /// The policy named `name` (`new-rooms`, `migrate`).
    pub fn parse(name: &str) -> Option<Policy> {
        match name {
            "new-rooms" => Some(Policy::NewRooms),
            "migrate" => Some(Policy::Migrate),
            _ => None,
        }
    }
}

/// Why an activation was refused (nothing changed).
#[derive(Debug, thiserror::Error)]
pub enum ActivateError {
    /// No such game or version.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
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
    /// The policy.
    pub policy: Policy,
    /// `running`, `done`, or `stopped` (the server shut down first).
    pub state: &'static str,
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
        let module =
            self.catalog
                .version(game, version)
                .ok_or_else(|| CatalogError::UnknownVersion {
                    game: game.into(),
                    version: version.into(),
                })?;
        if policy == Policy::Migrate && !module.contract().can_take_over() {
            return Err(ActivateError::CannotMigrate {
                module: module.label().into(),
                reason: format!(
                    "it implements tabula:rules@{}, whose migrate returns no step",
                    module.contract()
                ),
            });
        }
        self.catalog.set_active(game, version)?;
        let rooms: Vec<RoomHandle> = match policy {
            Policy::NewRooms => Vec::new(),
            Policy::Migrate => self
                .read()
                .values()
                .filter(|h| h.with_info(|i| *i.game == *game))
                .cloned()
                .collect(),
        };
        let status = Arc::new(Mutex::new(RolloutStatus {
            id: self
                .rollouts
                .next_id
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                + 1,
            game: game.into(),
            version: version.into(),
            digest: module.digest().into(),
            policy,
            state: if rooms.is_empty() { "done" } else { "running" },
            rooms: rooms.len(),
            migrated: 0,
            unchanged: 0,
            pinned: Vec::new(),
            gone: 0,
            pending: rooms.len(),
            started_at: crate::store::now_ms(),
            finished_at: rooms.is_empty().then(crate::store::now_ms),
        }));
        {
            let mut jobs = lock(&self.rollouts.jobs);
            jobs.push(status.clone());
            let excess = jobs.len().saturating_sub(KEPT);
            jobs.drain(..excess);
        }
        let first = lock(&status).clone();
        tracing::info!(game, version, policy = ?policy, rooms = rooms.len(), "version activated");
        if !rooms.is_empty() {
            let registry = self.clone();
            self.spawner
                .spawn(async move { registry.roll_out(module, rooms, status).await });
        }
        Ok(first)
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

    async fn roll_out(
        &self,
        module: Module,
        rooms: Vec<RoomHandle>,
        status: Arc<Mutex<RolloutStatus>>,
    ) {
        let rate = f64::from(self.cfg.rollout_rooms_per_second.max(1));
        let wave = (rate / 10.0).ceil().max(1.0) as usize;
        let started = Instant::now();
        let mut asked = 0usize;
        for chunk in rooms.chunks(wave) {
            if self.shutdown.is_cancelled() {
                lock(&status).state = "stopped";
                return;
            }
            let mut answers = Vec::with_capacity(chunk.len());
            for room in chunk {
                let (reply, answer) = oneshot::channel();
                let active = self.catalog.active(&module.info().name);
                let cmd = RoomCmd::Swap(SwapCmd {
                    module: module.clone(),
                    active: active.map(|m| Arc::from(m.info().version.as_str())),
                    reply,
                });
                // Waits for inbox space rather than skip a busy room.
                room.send_reliably(cmd).await;
                answers.push((room.id().to_string(), answer));
            }
            for (room, answer) in answers {
                let outcome = answer.await;
                let mut s = lock(&status);
                s.pending -= 1;
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
        let mut s = lock(&status);
        s.state = "done";
        s.finished_at = Some(crate::store::now_ms());
        tracing::info!(game = %s.game, version = %s.version, migrated = s.migrated,
            pinned = s.pinned.len(), unchanged = s.unchanged, gone = s.gone, "rollout done");
    }
}
