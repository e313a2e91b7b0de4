//! What a room leaves behind for a restart — its snapshots and, once finished, its ending —
//! and rebuilding it after one: from its latest snapshot, then every later log entry
//! replayed through the module that played it, each step's state hash compared with the
//! recorded one. When the snapshot cannot be used or the replay on top of it does not match,
//! the room is rebuilt again from the first entry (repair); when that does not match either,
//! the room is paused as corrupt at the last step that did.
//!
//! A rebuilt room has no connections: its players are away since the moment of recovery (their
//! reconnect grace starts again, so the bots do not play everyone's turn before they can come
//! back), turn deadlines restart, and a module timer that came due while the server was down
//! fires at once (module time is host time).

use super::RoomActor;
use crate::room::seats::Seats;
use crate::room::snapshot::RoomSnapshot;
use crate::room::{RoomStatus, requests::RequestWindow};
use crate::rules::{CallContext, Module};
use crate::store::{Entry, GameLog, Input, ModuleKey, SeatChange};
use std::sync::Arc;
use tokio::time::Instant;

/// How a rebuild went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Recovered {
    /// The snapshot and the entries after it replayed exactly.
    Exact,
    /// Rebuilt from the first entry after the shorter way failed (why).
    Repaired(String),
    /// Paused: the log does not replay (why).
    Corrupt(String),
}

impl Recovered {
    /// The metrics label.
    pub fn label(&self) -> &'static str {
        match self {
            Recovered::Exact => "ok",
            Recovered::Repaired(_) => "repaired",
            Recovered::Corrupt(_) => "corrupt",
        }
    }
}

impl RoomActor {
    /// The room as a snapshot keeps it.
    pub(super) fn snapshot(&self) -> RoomSnapshot {
        let requests = self
            .requests
            .iter()
            .map(|(player, window)| {
                let acks = window.acks().map(|(id, seq)| (id.clone(), seq)).collect();
                (player.clone(), acks)
            })
            .collect();
        RoomSnapshot::new(
            self.game.saved(),
            self.seats.saved(),
            requests,
            Some(crate::modules::catalog_key(self.calls.module())),
        )
    }

    /// How the finished game ended, for its archive.
    pub(super) fn finished(&self) -> crate::store::Ending {
        let (started_at, ended_at) = self.game.times();
        crate::store::Ending::Finished(Box::new(crate::store::Finished {
            result: self.game.result().unwrap_or("null").to_owned(),
            seats: self.seats.holders(),
            started_at,
            ended_at,
            steps: self.game.seq(),
        }))
    }

    /// Rebuilds the room from `log` (its latest snapshot and the entries after it); `whole`
    /// reads the game's entire log, for a repair; `resolve` finds the modules the game moved to
    /// by swaps. The room then runs as if it had never stopped, but for the connections.
    pub(crate) async fn recover(
        &mut self,
        log: GameLog,
        whole: impl AsyncFnOnce() -> Option<GameLog>,
        resolve: &(dyn Fn(&ModuleKey) -> Option<Module> + Send + Sync),
    ) -> Recovered {
        // A log that could not be read whole replays as far as it was read, and no further.
        let short = match (self.rebuild(&log, true, resolve).await, &log.damaged) {
            (Ok(()), Some(why)) => Err(format!("its log could not be read whole: {why}")),
            (result, _) => result,
        };
        let outcome = match short {
            Ok(()) => Recovered::Exact,
            Err(first) => {
                // The whole log must replay to at least where the short way had to reach.
                let reach = log
                    .entries
                    .last()
                    .map(|(_, e)| e.seq)
                    .or(log.snapshot.as_ref().map(|s| s.seq))
                    .unwrap_or(0);
                let repaired = match whole().await {
                    Some(all) => match self.rebuild(&all, false, resolve).await {
                        Ok(()) if self.game.seq() >= reach => Ok(()),
                        Ok(()) => Err(format!(
                            "{first}; its whole log ends at seq {} before seq {reach}",
                            self.game.seq()
                        )),
                        Err(why) => Err(format!("{first}; from its first entry: {why}")),
                    },
                    None => Err(first.clone()),
                };
                match repaired {
                    Ok(()) => Recovered::Repaired(first),
                    Err(why) => {
                        // Kept as far as the short way matched.
                        let _ = self.rebuild(&log, true, resolve).await;
                        Recovered::Corrupt(why)
                    }
                }
            }
        };
        match &outcome {
            Recovered::Exact => {}
            Recovered::Repaired(why) => {
                tracing::warn!(room_id = %self.id, "rebuilt from the start of its log: {why}");
            }
            Recovered::Corrupt(why) => {
                tracing::error!(room_id = %self.id, game = %self.stats.game(),
                    version = %self.stats.version(), "the game's log does not replay: {why}");
                self.pause(format!("{}{why}", super::super::CORRUPT));
            }
        }
        self.resume_after_rebuild();
        outcome
    }

    /// Resets the room to its start, then applies the snapshot (if `use_snapshot`) and the
    /// entries. Stops at the first entry that does not replay exactly, leaving the room as the
    /// last one that did.
    async fn rebuild(
        &mut self,
        log: &GameLog,
        use_snapshot: bool,
        resolve: &(dyn Fn(&ModuleKey) -> Option<Module> + Send + Sync),
    ) -> Result<(), String> {
        self.game.reset();
        self.seats = Seats::new(self.seats.len(), 0);
        self.requests.clear();
        self.pre_swap = None;
        // (An earlier attempt may have moved to a module a swap named.)
        self.restore_module(&log.header.module, resolve)?;
        if use_snapshot && let Some(snapshot) = &log.snapshot {
            let saved = RoomSnapshot::decode(&snapshot.data)
                .map_err(|e| format!("its snapshot at entry {} is unusable: {e}", snapshot.pos))?;
            if let Some(module) = &saved.module {
                self.restore_module(module, resolve)?;
            }
            self.restore(saved);
        }
        for (pos, entry) in &log.entries {
            match entry.input {
                Input::Swap { .. } => self.replay_swap(*pos, entry, resolve).await?,
                Input::Rollback { .. } => self.replay_rollback(*pos, entry, resolve).await?,
                _ => {
                    self.replay(*pos, entry).await?;
                    self.keep_for_rollback(entry);
                }
            }
        }
        Ok(())
    }

    fn restore(&mut self, saved: RoomSnapshot) {
        let now = Instant::now();
        self.game.restore(saved.game);
        for (seat, occupant) in saved.seats.into_iter().enumerate() {
            self.seats.set(seat as u32, Seats::rebuilt(occupant, now));
        }
        let capacity = self.cfg.request_window;
        for (player, acks) in saved.requests {
            let mut window = RequestWindow::default();
            for (id, seq) in acks {
                window.remember(&id, &Ok(seq), capacity);
            }
            self.requests.insert(player, window);
        }
    }

    /// Applies one recorded entry again.
    async fn replay(&mut self, pos: u64, entry: &Entry) -> Result<(), String> {
        let ctx = CallContext {
            now: entry.at,
            viewers: Vec::new(),
        };
        let failed = |e: crate::rules::RulesError| format!("entry {pos} fails to replay: {e}");
        let step = match &entry.input {
            Input::Seat { seat, change } => {
                self.replay_seat(*seat, change);
                return Ok(());
            }
            Input::Start => {
                let setup = self.game.setup(self.seats.len());
                self.calls.start(&setup, &ctx).await
            }
            Input::Act { seat, action, .. } => {
                self.calls.act(self.game.state(), *seat, action, &ctx).await
            }
            Input::Timer => self.calls.timer(self.game.state(), &ctx).await,
            // (Swaps and rollbacks are replayed by `replay_swap` and `replay_rollback`.)
            Input::Swap { .. } | Input::Rollback { .. } => return Ok(()),
        }
        .map_err(failed)?;
        // Checked before the step is applied: a room that stops here is as of the last step
        // that matched.
        if entry.seq != self.game.seq() + 1
            || entry.state_hash != Some(crate::store::state_hash(&step.state))
        {
            return Err(format!(
                "the state after entry {pos} (seq {}) is not the one recorded",
                entry.seq
            ));
        }
        match &entry.input {
            Input::Start => {
                self.game.started(step, &ctx);
            }
            Input::Act {
                seat,
                action,
                request_id,
            } => {
                self.game
                    .acted(step, *seat, action.clone(), request_id.clone(), &ctx);
                if let Some(id) = request_id
                    && let Some(player) = self.seats.player_in(*seat)
                {
                    let capacity = self.cfg.request_window;
                    self.requests
                        .entry(player)
                        .or_default()
                        .remember(id, &Ok(entry.seq), capacity);
                }
            }
            // (Seat changes and swaps were applied above.)
            Input::Timer | Input::Seat { .. } | Input::Swap { .. } | Input::Rollback { .. } => {
                self.game.timer_fired(step, &ctx);
            }
        }
        Ok(())
    }

    fn replay_seat(&mut self, seat: u32, change: &SeatChange) {
        use crate::room::snapshot::SavedSeat;
        let occupant = match change {
            SeatChange::Human { player, name } => SavedSeat::Human {
                player: player.clone(),
                name: Arc::from(name.as_str()),
                left: false,
            },
            SeatChange::Bot => SavedSeat::Bot,
            SeatChange::Open => SavedSeat::Open,
            SeatChange::Left => {
                self.seats.leave(seat);
                return;
            }
        };
        self.seats
            .set(seat, Seats::rebuilt(occupant, Instant::now()));
    }

    /// After a rebuild: the room's bookkeeping follows its game, and its deadlines restart now.
    fn resume_after_rebuild(&mut self) {
        self.stats.set_phase(&self.game.phase().clone());
        if self.game.status() == RoomStatus::Paused {
            self.stats.set_phase(&Arc::from("paused"));
        }
        if matches!(
            self.game.status(),
            RoomStatus::Finished | RoomStatus::Paused
        ) {
            self.claim.open = None;
        }
        if self.game.status() == RoomStatus::Finished {
            // Finished just before the stop, and perhaps not yet marked so.
            let finished = self.finished();
            self.release.end(finished);
        }
        self.schedule_moves();
        self.schedule_grace();
        self.lobby_dirty = true;
        self.publish_info();
    }
}
