//! The game core of a room: the state bytes, the sequence number and the status. Applying a
//! step the module made for an input returns what it produced — the log entry and one update per
//! viewer — and does no I/O and no module call; the actor makes the calls and decides when the
//! outputs leave (after the entry is durable).
//!
//! Owns: [`Game`], [`Produced`], the recent steps kept for reconnecting clients. Must not touch:
//! the module, seats' connections, deadlines, the log, metrics.

use super::snapshot::SavedGame;
use super::{RoomError, RoomId, RoomStatus, Shared, Update};
use crate::rules::{Audience, CallContext, Setup, Step, Viewer};
use crate::store::{Entry, Input};
use std::collections::VecDeque;
use std::sync::Arc;

/// What applying one input produced.
#[derive(Debug)]
pub(crate) struct Produced {
    /// The entry to record.
    pub entry: Entry,
    /// The update for each viewer the call was made for, in the same order.
    pub updates: Vec<(Viewer, Arc<Shared<Update>>)>,
}

/// A view index, the indices of the events chosen, and the update made of them.
type Distinct = (Option<usize>, Vec<usize>, Arc<Shared<Update>>);

/// A step as sent, kept for clients that reconnect.
#[derive(Debug)]
struct StepLog {
    seq: u64,
    phase: Arc<str>,
    status: RoomStatus,
    awaiting: Arc<[u32]>,
    result: Option<Arc<str>>,
    events: Arc<[(Audience, Arc<str>)]>,
}

/// One room's game.
pub(crate) struct Game {
    room: RoomId,
    seed: u64,
    options: String,
    status: RoomStatus,
    paused_reason: Option<String>,
    seq: u64,
    state: Vec<u8>,
    phase: Arc<str>,
    awaiting: Arc<[u32]>,
    wake_at: Option<u64>,
    result: Option<Arc<str>>,
    /// Host time of the start and of the last step, ms.
    started_at: u64,
    last_at: u64,
    history: VecDeque<StepLog>,
    history_cap: usize,
    /// Humans' turn limit, ms, and the seats it applies to (bit N: seat N is played by a
    /// person; seats from 64 on count as people), as the room last said.
    turn_limit: Option<u64>,
    humans: u64,
    /// When the game moves on by itself (host ms): the module's timer or a person's turn
    /// running out, whichever comes first, as of the last step.
    deadline_at: Option<u64>,
}

/// Parameters of a new game.
pub(crate) struct GameParams {
    pub room: RoomId,
    pub seed: u64,
    pub options: String,
    pub history_cap: usize,
}

impl Game {
    /// Back to a game waiting for its seats (a rebuild starts from here).
    pub fn reset(&mut self) {
        let fresh = Game::new(GameParams {
            room: self.room.clone(),
            seed: self.seed,
            options: std::mem::take(&mut self.options),
            history_cap: self.history_cap,
        });
        *self = fresh;
    }

    /// A game waiting for its seats.
    pub fn new(p: GameParams) -> Game {
        Game {
            room: p.room,
            seed: p.seed,
            options: p.options,
            status: RoomStatus::Waiting,
            paused_reason: None,
            seq: 0,
            state: Vec::new(),
            phase: Arc::from("waiting"),
            awaiting: Arc::from([]),
            wake_at: None,
            result: None,
            started_at: 0,
            last_at: 0,
            history: VecDeque::new(),
            history_cap: p.history_cap,
            turn_limit: None,
            humans: 0,
            deadline_at: None,
        }
    }

    /// Tells the game, before a step, how long people have for a turn (if limited) and which
    /// seats people play: each update says when the game moves on by itself.
    pub fn set_turn_limit(&mut self, limit: Option<u64>, humans: u64) {
        self.turn_limit = limit;
        self.humans = humans;
    }

    /// Counts the game's deadline again from `now` (host ms): the turn deadline restarts, as
    /// the room's does when it arms it.
    pub fn rearm_deadline(&mut self, now: u64) {
        self.deadline_at = self.next_deadline(now);
    }

    /// Whether a seat a person plays (as the room last said) is awaited: the turn limit applies.
    pub fn person_awaited(&self) -> bool {
        (self.awaiting.iter()).any(|&s| s >= 64 || self.humans & (1 << s) != 0)
    }

    /// When the game moves on by itself after a step made at `now`.
    fn next_deadline(&self, now: u64) -> Option<u64> {
        if self.status != RoomStatus::Running {
            return None;
        }
        let turn = (self.turn_limit)
            .filter(|_| self.person_awaited())
            .map(|ms| now + ms);
        match (self.wake_at, turn) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn status(&self) -> RoomStatus {
        self.status
    }
    pub fn seq(&self) -> u64 {
        self.seq
    }
    pub fn phase(&self) -> &Arc<str> {
        &self.phase
    }
    pub fn awaiting(&self) -> &[u32] {
        &self.awaiting
    }
    pub fn wake_at(&self) -> Option<u64> {
        self.wake_at
    }
    pub fn seed(&self) -> u64 {
        self.seed
    }
    pub fn result(&self) -> Option<&str> {
        self.result.as_deref()
    }
    /// Host times of the start and of the last step, ms.
    pub fn times(&self) -> (u64, u64) {
        (self.started_at, self.last_at)
    }
    pub fn paused_reason(&self) -> Option<&str> {
        self.paused_reason.as_deref()
    }

    /// The state bytes (lent to module calls).
    pub fn state(&self) -> &[u8] {
        &self.state
    }

    /// How the game starts with `seats` seats.
    pub fn setup(&self, seats: u32) -> Setup {
        Setup {
            seats,
            seed: self.seed,
            options: self.options.clone(),
        }
    }

    /// Makes the module's first step the game's state.
    pub fn started(&mut self, step: Step, ctx: &CallContext) -> Produced {
        self.status = RoomStatus::Running;
        self.started_at = ctx.now;
        self.apply(step, Input::Start, ctx, false)
    }

    /// Whether a player's action may be tried now (the game runs and, if the player said so,
    /// is at `expected_seq`).
    pub fn may_act(&self, expected_seq: Option<u64>) -> Result<(), RoomError> {
        match self.status {
            RoomStatus::Waiting => return Err(RoomError::NotStarted),
            RoomStatus::Paused => {
                return Err(RoomError::Paused {
                    reason: self.paused_reason.clone().unwrap_or_default(),
                });
            }
            RoomStatus::Finished => return Err(RoomError::GameOver),
            RoomStatus::Running => {}
        }
        match expected_seq {
            Some(expected) if expected != self.seq => Err(RoomError::Stale {
                seq: self.seq,
                expected,
            }),
            _ => Ok(()),
        }
    }

    /// Makes the step of `seat`'s action the game's state; `request_id` is `None` when the bot
    /// moved for the seat.
    pub fn acted(
        &mut self,
        step: Step,
        seat: u32,
        action: Box<str>,
        request_id: Option<Arc<str>>,
        ctx: &CallContext,
    ) -> Produced {
        let input = Input::Act {
            seat,
            action,
            request_id,
        };
        self.apply(step, input, ctx, false)
    }

    /// Makes the step of the module's timer the game's state.
    pub fn timer_fired(&mut self, step: Step, ctx: &CallContext) -> Produced {
        self.apply(step, Input::Timer, ctx, false)
    }

    /// Makes the step of another version's `migrate` the game's state (`swap` is the
    /// [`Input::Swap`]): each viewer's update replaces everything it knew (`resync`).
    pub fn swapped(&mut self, step: Step, swap: Input, ctx: &CallContext) -> Produced {
        self.apply(step, swap, ctx, true)
    }

    /// Stops the game after repeated module failures (or at an operator's request).
    pub fn pause(&mut self, reason: String) {
        self.status = RoomStatus::Paused;
        self.paused_reason = Some(reason);
    }

    /// Lets a paused game go on.
    pub fn unpause(&mut self) {
        self.status = RoomStatus::Running;
        self.paused_reason = None;
    }

    /// Makes `step` the game's state and renders its update for each of `ctx.viewers`.
    fn apply(&mut self, mut step: Step, input: Input, ctx: &CallContext, resync: bool) -> Produced {
        self.seq += 1;
        self.last_at = ctx.now;
        if step.result.is_some() {
            self.status = RoomStatus::Finished;
        }
        if *self.phase != *step.phase {
            self.phase = Arc::from(step.phase.as_str());
        }
        if *self.awaiting != *step.awaiting {
            self.awaiting = Arc::from(step.awaiting.as_slice());
        }
        self.result = step.result.as_deref().map(Arc::from);
        self.wake_at = step.wake_at;
        self.deadline_at = self.next_deadline(ctx.now);
        let events: Arc<[(Audience, Arc<str>)]> = step
            .events
            .iter()
            .map(|e| (e.audience, Arc::from(e.payload.as_str())))
            .collect();
        let mut views: Vec<Option<Arc<str>>> = vec![None; step.views.len()];
        // One payload per distinct (view, events) pair, shared by the viewers who get it.
        let mut distinct: Vec<Distinct> = Vec::new();
        let mut updates = Vec::with_capacity(ctx.viewers.len());
        for &viewer in &ctx.viewers {
            let view = step.view_index(viewer);
            let chosen: Vec<usize> = (0..events.len())
                .filter(|&i| events[i].0.includes(viewer))
                .collect();
            let update = match distinct.iter().find(|(v, e, _)| *v == view && *e == chosen) {
                Some((_, _, u)) => u.clone(),
                None => {
                    let text = view.map(|i| {
                        views[i]
                            .get_or_insert_with(|| {
                                Arc::from(std::mem::take(&mut step.views[i].view))
                            })
                            .clone()
                    });
                    let chosen_events = chosen.iter().map(|&i| events[i].1.clone()).collect();
                    let u = Shared::new(self.update(text, chosen_events, resync));
                    distinct.push((view, chosen, u.clone()));
                    u
                }
            };
            updates.push((viewer, update));
        }
        self.state = step.state;
        self.history.push_back(StepLog {
            seq: self.seq,
            phase: self.phase.clone(),
            status: self.status,
            awaiting: self.awaiting.clone(),
            result: self.result.clone(),
            events,
        });
        while self.history.len() > self.history_cap {
            self.history.pop_front();
        }
        Produced {
            entry: Entry {
                seq: self.seq,
                at: ctx.now,
                input,
                state_hash: Some(crate::store::state_hash(&self.state)),
            },
            updates,
        }
    }

    fn update(&self, view: Option<Arc<str>>, events: Vec<Arc<str>>, resync: bool) -> Update {
        Update {
            room: self.room.clone(),
            seq: self.seq,
            phase: self.phase.clone(),
            status: self.status,
            awaiting: self.awaiting.clone(),
            view,
            events,
            result: self.result.clone(),
            resync,
            deadline_at: self.deadline_at,
        }
    }

    /// What a snapshot keeps of the game.
    pub fn saved(&self) -> SavedGame {
        SavedGame {
            status: self.status,
            paused_reason: self.paused_reason.clone(),
            seq: self.seq,
            state: self.state.clone(),
            phase: self.phase.clone(),
            awaiting: self.awaiting.clone(),
            wake_at: self.wake_at,
            result: self.result.clone(),
            started_at: self.started_at,
            last_at: self.last_at,
        }
    }

    /// Takes the game back to what a snapshot saved (the steps kept for reconnecting clients
    /// start again from here).
    pub fn restore(&mut self, saved: SavedGame) {
        self.status = saved.status;
        self.paused_reason = saved.paused_reason;
        self.seq = saved.seq;
        self.state = saved.state;
        self.phase = saved.phase;
        self.awaiting = saved.awaiting;
        self.wake_at = saved.wake_at;
        self.result = saved.result;
        self.started_at = saved.started_at;
        self.last_at = saved.last_at;
        self.history.clear();
    }

    /// Whether the game has a state to show (it has started).
    pub fn has_state(&self) -> bool {
        self.seq > 0
    }

    /// The current state for one recipient, whose `view` the module rendered (everything the
    /// recipient knew is replaced when `resync`).
    pub fn current(&self, view: Arc<str>, resync: bool) -> Update {
        self.update(Some(view), Vec::new(), resync)
    }

    /// What a client that last saw `last_seq` missed: the steps since (their events for
    /// `viewer`) ending with the current `view`, or a resync when the gap is older than the
    /// steps kept.
    pub fn missed(&self, viewer: Viewer, last_seq: u64, view: Arc<str>) -> Vec<Update> {
        let oldest = self.history.front().map_or(self.seq + 1, |s| s.seq);
        if last_seq >= self.seq {
            return vec![self.current(view, false)];
        }
        if last_seq + 1 < oldest {
            return vec![self.current(view, true)];
        }
        let events_for = |log: &StepLog| -> Vec<Arc<str>> {
            log.events
                .iter()
                .filter(|(a, _)| a.includes(viewer))
                .map(|(_, e)| e.clone())
                .collect()
        };
        let mut out: Vec<Update> = self
            .history
            .iter()
            .filter(|s| s.seq > last_seq && s.seq < self.seq)
            .map(|log| Update {
                room: self.room.clone(),
                seq: log.seq,
                phase: log.phase.clone(),
                status: log.status,
                awaiting: log.awaiting.clone(),
                view: None,
                events: events_for(log),
                result: log.result.clone(),
                resync: false,
                deadline_at: None,
            })
            .collect();
        // The last step: its events plus the current view.
        let last = self.history.back().map(events_for).unwrap_or_default();
        out.push(self.update(Some(view), last, false));
        out
    }
}
