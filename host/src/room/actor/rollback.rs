//! Taking a game back to the version it ran before its last swap. The room keeps, from the swap
//! on, the game as it stood before it and every action and timer applied since
//! ([`PreSwap`]); a rollback replays those inputs from that state under the old version. When
//! every one replays, the room switches back, records [`Input::Rollback`] with the state's hash
//! (seq + 1) and sends its members the version and fresh views, as a swap does; when one does
//! not (the old version refuses a move the new one took), the game stays where it is and the
//! reason is reported. Recovery replays a recorded rollback the same way.
//!
//! What is kept is bounded ([`KEPT_INPUTS`]): a game that went on longer since its swap can no
//! longer go back. After a restart it is kept again only when recovery replays the swap itself.

use super::super::calls::Sandboxed;
use super::super::release::Out;
use super::super::snapshot::SavedGame;
use super::super::{RoomStatus, SwapCmd, SwapOutcome};
use super::RoomActor;
use crate::modules::catalog_key;
use crate::rules::{CallContext, Module, Step, Viewer};
use crate::store::{Entry, Input};

/// Inputs kept since a swap, at most.
const KEPT_INPUTS: usize = 4096;

/// What a rollback needs: the version before the swap, the game as it stood then, and every
/// input applied since.
pub(crate) struct PreSwap {
    pub module: Module,
    pub game: SavedGame,
    pub inputs: Vec<Entry>,
}

impl RoomActor {
    /// Keeps `entry` for a rollback, if the game swapped and it changes the state.
    pub(super) fn keep_for_rollback(&mut self, entry: &Entry) {
        let Some(pre) = self.pre_swap.as_mut() else {
            return;
        };
        if !matches!(entry.input, Input::Start | Input::Act { .. } | Input::Timer) {
            return;
        }
        if pre.inputs.len() >= KEPT_INPUTS {
            tracing::debug!(room_id = %self.id, "too long since the swap to go back");
            self.pre_swap = None;
            return;
        }
        pre.inputs.push(entry.clone());
    }

    /// Applies a [`RoomCmd::Rollback`](super::super::RoomCmd::Rollback).
    pub(super) async fn rollback(&mut self, cmd: SwapCmd) {
        let outcome = self.try_rollback(cmd.module, cmd.active).await;
        if let SwapOutcome::Pinned { reason } = &outcome {
            tracing::info!(room_id = %self.id, game = %self.stats.game(),
                version = %self.stats.version(), "the game does not go back: {reason}");
        }
        self.release.send(Out::Swapped(cmd.reply, outcome));
    }

    async fn try_rollback(
        &mut self,
        to: Module,
        active: Option<std::sync::Arc<str>>,
    ) -> SwapOutcome {
        let pinned = |reason: String| SwapOutcome::Pinned { reason };
        if self.calls.module().digest() == to.digest() {
            return SwapOutcome::Unchanged;
        }
        let Some(pre) = self.pre_swap.as_ref() else {
            return pinned(format!(
                "the game did not come from {} by a swap (or not since the server started)",
                to.label()
            ));
        };
        if pre.module.digest() != to.digest() {
            return pinned(format!(
                "the game came from {}, not {}",
                pre.module.label(),
                to.label()
            ));
        }
        if matches!(
            self.game.status(),
            RoomStatus::Finished | RoomStatus::Paused
        ) {
            return pinned("the game is over or paused".into());
        }
        if !self.release.accepting() {
            return pinned("storage is behind; the rollback can be tried again".into());
        }
        let mut viewers: Vec<Viewer> = (0..self.seats.len()).map(Viewer::Seat).collect();
        viewers.push(Viewer::Spectator);
        let ctx = CallContext {
            now: self.clock.now_ms(),
            viewers,
        };
        let step = match self.replayed_before_swap(&ctx).await {
            Ok(step) => step,
            Err(reason) => return pinned(reason),
        };
        let input = Input::Rollback {
            from: self.calls.module().digest().to_owned(),
            to: catalog_key(&to),
        };
        self.pre_swap = None;
        self.moved(to, active, step, input, &ctx)
    }

    /// The game as the version before the swap makes it: its state then, with every input
    /// since applied again, and a view for each of `ctx.viewers`.
    async fn replayed_before_swap(&self, ctx: &CallContext) -> Result<Step, String> {
        let Some(pre) = self.pre_swap.as_ref() else {
            return Err("nothing is kept of the game before its swap".into());
        };
        let old = Sandboxed::new(
            pre.module.clone(),
            self.cfg.inline_fuel,
            self.stats.call_timers(),
        );
        let label = pre.module.label();
        let mut step = saved_step(&pre.game);
        for (i, entry) in pre.inputs.iter().enumerate() {
            let at = CallContext {
                now: entry.at,
                viewers: Vec::new(),
            };
            let next = match &entry.input {
                Input::Start => old.start(&self.game.setup(self.seats.len()), &at).await,
                Input::Act { seat, action, .. } => old.act(&step.state, *seat, action, &at).await,
                Input::Timer => old.timer(&step.state, &at).await,
                _ => continue,
            };
            step = next.map_err(|e| {
                format!(
                    "{label} cannot continue the game: the input {} of {} since the swap fails \
                     under it: {e}",
                    i + 1,
                    pre.inputs.len()
                )
            })?;
        }
        step.events.clear();
        step.views.clear();
        if !ctx.viewers.is_empty() {
            for &viewer in &ctx.viewers {
                let seat = match viewer {
                    Viewer::Seat(s) => Some(s),
                    Viewer::Spectator => None,
                };
                let view = old
                    .view(&step.state, seat)
                    .await
                    .map_err(|e| format!("{label} gives no view of the game: {e}"))?;
                step.views.push(crate::rules::AddressedView {
                    audience: match viewer {
                        Viewer::Seat(s) => crate::rules::Audience::Seat(s),
                        Viewer::Spectator => crate::rules::Audience::Spectators,
                    },
                    view,
                });
            }
        }
        Ok(step)
    }

    /// Applies a recorded rollback again (recovery): the same replay, whose state must hash as
    /// recorded.
    pub(super) async fn replay_rollback(
        &mut self,
        pos: u64,
        entry: &Entry,
        resolve: &(dyn Fn(&crate::store::ModuleKey) -> Option<Module> + Send + Sync),
    ) -> Result<(), String> {
        let Input::Rollback { to, .. } = &entry.input else {
            return Ok(());
        };
        let kept = self
            .pre_swap
            .as_ref()
            .is_some_and(|pre| pre.module.digest() == to.digest);
        if !kept {
            return Err(format!(
                "entry {pos} takes the game back before a swap this replay did not see"
            ));
        }
        let ctx = CallContext {
            now: entry.at,
            viewers: Vec::new(),
        };
        let step = self.replayed_before_swap(&ctx).await?;
        if entry.seq != self.game.seq() + 1
            || entry.state_hash != Some(crate::store::state_hash(&step.state))
        {
            return Err(format!(
                "the state after entry {pos} (seq {}) is not the one recorded",
                entry.seq
            ));
        }
        let module = match resolve(to) {
            Some(m) => m,
            None => {
                return Err(format!(
                    "entry {pos}: {}@{} is not available",
                    to.name, to.version
                ));
            }
        };
        let active = self.active_version.clone();
        self.pre_swap = None;
        self.switch_module(module, active);
        self.game.swapped(step, entry.input.clone(), &ctx);
        Ok(())
    }
}

/// The step a saved game stands at (without views or events).
fn saved_step(game: &SavedGame) -> Step {
    Step {
        state: game.state.clone(),
        phase: game.phase.to_string(),
        result: game.result.as_deref().map(str::to_owned),
        awaiting: game.awaiting.to_vec(),
        wake_at: game.wake_at,
        events: Vec::new(),
        views: Vec::new(),
    }
}
