//! Quarantine: a version that keeps failing — within one `room.quarantine_interval_ms` at least
//! `room.quarantine_min_failures` failed calls (traps, fuel, memory, deadlines, failed checks)
//! and more than `room.quarantine_failures_per_mille` of its calls — or that an operator
//! quarantines, takes no new rooms (when it is the active version, the version active before it,
//! or else the newest other version, becomes active), and its rooms are moved away: back to the
//! version they came from when they can, else to the active version, else paused with the
//! reason.
//!
//! Must not touch: a room's game (rooms move or pause themselves).

use super::rollout::{PinnedRoom, RolloutStatus};
use super::{Registry, RoomHandle};
use crate::modules::CatalogError;
use crate::room::{OperatorCmd, RoomCmd, SwapCmd, SwapOutcome};
use crate::rules::{Module, Usage};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::oneshot;
use tokio::time::Duration;

impl Registry {
    /// Watches every installed version's failure counters, one interval at a time, and
    /// quarantines those that keep failing. Runs until the server shuts down (or the registry
    /// is gone).
    pub(super) async fn watch_failures(registry: std::sync::Weak<Registry>) {
        let Some((interval, shutdown)) = registry
            .upgrade()
            .map(|r| (r.cfg.quarantine_interval_ms, r.shutdown.clone()))
        else {
            return;
        };
        if interval == 0 {
            return;
        }
        let mut before: HashMap<String, Usage> = HashMap::new();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(interval)) => {}
                _ = shutdown.cancelled() => return,
            }
            let Some(this) = registry.upgrade() else {
                return;
            };
            this.check_failures(interval, &mut before).await;
        }
    }

    /// One interval's look at the failure counters (`before`: each module's at the last one).
    async fn check_failures(self: &Arc<Self>, interval: u64, before: &mut HashMap<String, Usage>) {
        for game in self.catalog.list() {
            for version in &game.versions {
                let Some(module) = self.catalog.version(&game.name, version) else {
                    continue;
                };
                let now = module.usage();
                let was = before
                    .insert(module.digest().to_owned(), now)
                    .unwrap_or_default();
                let calls = now.calls.saturating_sub(was.calls);
                let failures = now.failures.saturating_sub(was.failures);
                let failing = failures >= self.cfg.quarantine_min_failures.max(1)
                    && failures * 1000 > self.cfg.quarantine_failures_per_mille * calls;
                if failing && self.catalog.quarantined(&game.name, version).is_none() {
                    let reason = format!(
                        "{} failed {failures} of {calls} calls within {interval} ms",
                        module.label()
                    );
                    self.quarantine(&game.name, version, &reason).await.ok();
                }
            }
        }
    }

    /// Quarantines `version` of `game` for `reason` and moves its rooms away (see the module
    /// docs); the status of the rooms' moves.
    pub async fn quarantine(
        self: &Arc<Self>,
        game: &str,
        version: &str,
        reason: &str,
    ) -> Result<RolloutStatus, CatalogError> {
        let module = self.installed(game, version)?;
        tracing::warn!(game, version, "quarantined: {reason}");
        self.catalog.quarantine(game, version, reason);
        let active = self.catalog.active(game);
        if active
            .as_ref()
            .is_some_and(|a| a.digest() == module.digest())
            && let Some(instead) = self.fallback(game, &module)
        {
            let instead = instead.info().version.clone();
            self.catalog.set_active(game, &instead)?;
            self.activated(game, &instead).await;
        }
        let target = self
            .catalog
            .active(game)
            .filter(|a| a.digest() != module.digest());
        let rooms: Vec<RoomHandle> = self
            .rooms_of(game)
            .into_iter()
            .filter(|h| h.with_info(|i| *i.version == *version))
            .collect();
        let status = self.new_rollout(game, &module, "quarantine".into(), rooms.len(), false);
        for room in rooms {
            let outcome = self
                .move_away(&room, &module, target.as_ref(), reason)
                .await;
            let mut s = status.lock().unwrap_or_else(|p| p.into_inner());
            s.pending = s.pending.saturating_sub(1);
            match outcome {
                Some(SwapOutcome::Swapped { .. }) => s.migrated += 1,
                Some(SwapOutcome::Unchanged) => s.unchanged += 1,
                Some(SwapOutcome::Pinned { reason }) => s.pinned.push(PinnedRoom {
                    room: room.id().to_string(),
                    reason,
                }),
                None => s.gone += 1,
            }
        }
        let mut s = status.lock().unwrap_or_else(|p| p.into_inner());
        s.state = "done";
        s.reason = Some(reason.to_owned());
        s.finished_at = Some(crate::store::now_ms());
        Ok(s.clone())
    }

    /// The version new rooms get instead of a quarantined `module`: the one active before it,
    /// else the newest other version not quarantined.
    pub(super) fn fallback(&self, game: &str, module: &Module) -> Option<Module> {
        let usable = |m: &Module| {
            m.digest() != module.digest()
                && self.catalog.quarantined(game, &m.info().version).is_none()
        };
        let previous = self.rollouts.previous_of(game);
        if let Some(m) = previous.and_then(|v| self.catalog.version(game, &v))
            && usable(&m)
        {
            return Some(m);
        }
        let listing = self.catalog.list().into_iter().find(|g| g.name == game)?;
        listing
            .versions
            .iter()
            .rev()
            .filter_map(|v| self.catalog.version(game, v))
            .find(usable)
    }

    /// Moves one room off a quarantined version: back where it came from, else to `target`,
    /// else it is paused. `None`: the room closed.
    async fn move_away(
        &self,
        room: &RoomHandle,
        module: &Module,
        target: Option<&Module>,
        reason: &str,
    ) -> Option<SwapOutcome> {
        let active = target.map(|t| Arc::from(t.info().version.as_str()));
        let mut why = Vec::new();
        let previous = self
            .rollouts
            .previous_of(&module.info().name)
            .and_then(|v| self.catalog.version(&module.info().name, &v));
        for (back, m) in [(true, previous.as_ref()), (false, target)] {
            let Some(m) = m else { continue };
            let (reply, answer) = oneshot::channel();
            let cmd = SwapCmd {
                module: m.clone(),
                active: active.clone(),
                reply,
            };
            room.send_reliably(if back {
                RoomCmd::Rollback(cmd)
            } else {
                RoomCmd::Swap(cmd)
            })
            .await;
            match answer.await.ok()? {
                SwapOutcome::Pinned { reason } => why.push(reason),
                done => return Some(done),
            }
        }
        let paused = format!("{} is quarantined ({reason})", module.label());
        let _ = room
            .ask(|reply| {
                RoomCmd::Operator(OperatorCmd::Pause {
                    reason: paused.clone(),
                    reply,
                })
            })
            .await;
        why.push(format!("paused: {paused}"));
        Some(SwapOutcome::Pinned {
            reason: why.join("; "),
        })
    }
}
