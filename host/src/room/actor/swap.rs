//! Moving a game to another version of its rules, between two inputs (a swap). The new
//! version's `migrate` takes the state over and reports the step, `check` must accept the
//! result, and every seat and spectators must get a view; only when all of that succeeds does
//! the room switch module, record the swap in its log ([`Input::Swap`], with the state's hash)
//! and send its members the new version and fresh views (`resync`). Otherwise nothing changes and
//! the reason is reported. A swap is an input like any other: actions that arrive meanwhile wait
//! in the inbox and are applied after it, under the new version.
//!
//! Recovery replays a recorded swap the same way ([`RoomActor::replay_swap`]), with the module
//! found by the digest the entry names.

use super::super::calls::Sandboxed;
use super::super::release::Out;
use super::super::{RoomStatus, SwapCmd, SwapOutcome};
use super::RoomActor;
use crate::modules::catalog_key;
use crate::rules::{CallContext, Module, Step, Viewer};
use crate::store::{Entry, Input, ModuleKey};
use std::sync::Arc;

impl RoomActor {
    /// Applies a [`SwapCmd`]; the outcome is sent once the swap's entry is durable.
    pub(super) async fn swap(&mut self, cmd: SwapCmd) {
        let outcome = self.try_swap(cmd.module, cmd.active).await;
        if let SwapOutcome::Pinned { reason } = &outcome {
            tracing::info!(room_id = %self.id, game = %self.stats.game(),
                version = %self.stats.version(), "the game stays on its version: {reason}");
        }
        self.release.send(Out::Swapped(cmd.reply, outcome));
    }

    async fn try_swap(&mut self, module: Module, active: Option<Arc<str>>) -> SwapOutcome {
        let pinned = |reason: String| SwapOutcome::Pinned { reason };
        let old = self.calls.module().clone();
        if old.digest() == module.digest() {
            return SwapOutcome::Unchanged;
        }
        let (from, to) = (old.info(), module.info());
        if from.name != to.name {
            return pinned(format!("{} is not a version of {}", to.name, from.name));
        }
        if !(to.min_seats..=to.max_seats).contains(&self.seats.len()) {
            return pinned(format!(
                "{} plays with {} to {} seats, and the room has {}",
                module.label(),
                to.min_seats,
                to.max_seats,
                self.seats.len()
            ));
        }
        match self.game.status() {
            RoomStatus::Finished => return pinned("the game is over".into()),
            RoomStatus::Paused => {
                let why = self.game.paused_reason().unwrap_or_default();
                return pinned(format!("the room is paused ({why})"));
            }
            RoomStatus::Waiting | RoomStatus::Running => {}
        }
        if !self.release.accepting() {
            return pinned("storage is behind; the swap can be tried again".into());
        }
        let swap = Input::Swap {
            from: old.digest().to_owned(),
            to: catalog_key(&module),
        };
        let now = self.clock.now_ms();
        let pre_swap = Box::new(super::rollback::PreSwap {
            module: old.clone(),
            game: self.game.saved(),
            inputs: Vec::new(),
        });
        if self.game.status() == RoomStatus::Waiting {
            // Nothing to migrate before the start: the game will start under the new version.
            self.pre_swap = Some(pre_swap);
            self.switch_module(module, active);
            self.record(Entry {
                seq: self.game.seq(),
                at: now,
                input: swap,
                state_hash: None,
            });
            self.broadcast_info();
            return SwapOutcome::Swapped {
                seq: self.game.seq(),
            };
        }
        // Every seat's view and the spectators' must render, not only the connected ones':
        // a player who comes back later must find a table to look at.
        let mut viewers: Vec<Viewer> = (0..self.seats.len()).map(Viewer::Seat).collect();
        viewers.push(Viewer::Spectator);
        let ctx = CallContext { now, viewers };
        let step = match self.take_over(&module, from.state_version, &ctx).await {
            Ok(step) => step,
            Err(reason) => return pinned(reason),
        };
        self.pre_swap = Some(pre_swap);
        self.moved(module, active, step, swap, &ctx)
    }

    /// The game runs under `module` from `step` on (a swap or a rollback, `input`): recorded,
    /// and told to the members.
    pub(super) fn moved(
        &mut self,
        module: Module,
        active: Option<Arc<str>>,
        step: Step,
        input: Input,
        ctx: &CallContext,
    ) -> SwapOutcome {
        self.switch_module(module, active);
        let produced = self.game.swapped(step, input, ctx);
        // The members learn the version (a `room` frame) right after the entry and before the
        // fresh views; both wait until it is durable.
        self.record(produced.entry);
        self.broadcast_info();
        self.deliver(produced.updates);
        self.after_step();
        SwapOutcome::Swapped {
            seq: self.game.seq(),
        }
    }

    /// `module`'s `migrate` on the game's state, then its `check`, and a view for every viewer
    /// of `ctx`; the step, or why not.
    async fn take_over(
        &mut self,
        module: &Module,
        from_state_version: u32,
        ctx: &CallContext,
    ) -> Result<Step, String> {
        let calls = Sandboxed::new(
            module.clone(),
            self.cfg.inline_fuel,
            self.stats.call_timers(),
        );
        let label = module.label();
        let step = calls
            .migrate(self.game.state(), from_state_version, ctx)
            .await
            .map_err(|e| {
                self.stats.count_failure(&e);
                format!("{label} cannot take the game over: {e}")
            })?;
        calls.check(&step.state).await.map_err(|e| {
            self.stats.count_failure(&e);
            format!("{label} took the game over, but {e}")
        })?;
        if let Some(viewer) = ctx.viewers.iter().find(|&&v| step.view_for(v).is_none()) {
            return Err(format!(
                "{label} took the game over but gave no view for {viewer:?}"
            ));
        }
        Ok(step)
    }

    /// From now on the room runs `module`, counted under its version.
    pub(super) fn switch_module(&mut self, module: Module, active: Option<Arc<str>>) {
        self.stats.set_version(&module.info().version);
        self.active_version = active.filter(|a| **a != *module.info().version);
        self.calls = Sandboxed::new(module, self.cfg.inline_fuel, self.stats.call_timers());
        self.lobby_dirty = true;
    }

    /// The module named by a snapshot or a recorded swap, when it is not the current one.
    fn module_for(
        &self,
        key: &ModuleKey,
        resolve: &(dyn Fn(&ModuleKey) -> Option<Module> + Send + Sync),
    ) -> Result<Option<Module>, String> {
        if key.digest == self.calls.module().digest() {
            return Ok(None);
        }
        resolve(key).map(Some).ok_or_else(|| {
            format!(
                "the game moved to {}@{} ({}), which is not available",
                key.name, key.version, key.digest
            )
        })
    }

    /// Takes the module a snapshot names (recovery).
    pub(super) fn restore_module(
        &mut self,
        key: &ModuleKey,
        resolve: &(dyn Fn(&ModuleKey) -> Option<Module> + Send + Sync),
    ) -> Result<(), String> {
        if let Some(module) = self.module_for(key, resolve)? {
            let active = self.active_version.clone();
            self.switch_module(module, active);
        }
        Ok(())
    }

    /// Applies a recorded swap again (recovery): the same `migrate`, whose state must hash as
    /// recorded.
    pub(super) async fn replay_swap(
        &mut self,
        pos: u64,
        entry: &Entry,
        resolve: &(dyn Fn(&ModuleKey) -> Option<Module> + Send + Sync),
    ) -> Result<(), String> {
        let Input::Swap { from, to } = &entry.input else {
            return Ok(());
        };
        let current = self.calls.module().clone();
        if *from != current.digest() {
            return Err(format!(
                "entry {pos} swaps from {from}, but the game ran under {}",
                current.digest()
            ));
        }
        let Some(module) = self.module_for(to, resolve)? else {
            return Ok(());
        };
        let active = self.active_version.clone();
        let pre_swap = Box::new(super::rollback::PreSwap {
            module: current.clone(),
            game: self.game.saved(),
            inputs: Vec::new(),
        });
        if entry.state_hash.is_none() {
            self.pre_swap = Some(pre_swap);
            self.switch_module(module, active);
            return Ok(());
        }
        let ctx = CallContext {
            now: entry.at,
            viewers: Vec::new(),
        };
        let calls = Sandboxed::new(
            module.clone(),
            self.cfg.inline_fuel,
            self.stats.call_timers(),
        );
        let step = calls
            .migrate(self.game.state(), current.info().state_version, &ctx)
            .await
            .map_err(|e| format!("entry {pos} fails to replay: {e}"))?;
        if entry.seq != self.game.seq() + 1
            || entry.state_hash != Some(crate::store::state_hash(&step.state))
        {
            return Err(format!(
                "the state after entry {pos} (seq {}) is not the one recorded",
                entry.seq
            ));
        }
        self.pre_swap = Some(pre_swap);
        self.switch_module(module, active);
        self.game.swapped(step, entry.input.clone(), &ctx);
        Ok(())
    }
}
