//! The game core of a room: the module handle, the state bytes, the sequence number and the
//! status. Applying an input returns what it produced — the log entry, one update per viewer,
//! the reply — and does no I/O; the actor decides when those leave (after the entry is durable).
//!
//! Owns: [`Game`], [`Produced`], the recent steps kept for reconnecting clients. Must not touch:
//! seats' connections, deadlines, the log, metrics registries (it is handed its call timers).

use super::{RoomError, RoomId, RoomStatus, Shared, Update};
use crate::rules::{Audience, CallContext, Module, RulesError, Setup, Step, Viewer};
use crate::store::{Entry, Input};
use prometheus_client::metrics::histogram::Histogram;
use std::collections::VecDeque;
use std::sync::Arc;

/// Latency histograms of the module calls a game makes.
#[derive(Clone, Debug)]
pub(crate) struct CallTimers {
    pub start: Histogram,
    pub act: Histogram,
    pub timer: Histogram,
    pub bot: Histogram,
}

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

/// A refused input: why, and the module fault behind it if there was one.
#[derive(Debug)]
pub(crate) struct Refused {
    pub error: RoomError,
    pub fault: Option<RulesError>,
}

impl From<RoomError> for Refused {
    fn from(error: RoomError) -> Self {
        Refused { error, fault: None }
    }
}

/// One room's game.
pub(crate) struct Game {
    room: RoomId,
    module: Module,
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
    history: VecDeque<StepLog>,
    history_cap: usize,
    timers: CallTimers,
}

/// Parameters of a new game.
pub(crate) struct GameParams {
    pub room: RoomId,
    pub module: Module,
    pub seed: u64,
    pub options: String,
    pub history_cap: usize,
    pub timers: CallTimers,
}

fn timed<R>(h: &Histogram, f: impl FnOnce() -> R) -> R {
    let started = std::time::Instant::now();
    let r = f();
    h.observe(started.elapsed().as_secs_f64());
    r
}

impl Game {
    /// A game waiting for its seats.
    pub fn new(p: GameParams) -> Game {
        Game {
            room: p.room,
            module: p.module,
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
            history: VecDeque::new(),
            history_cap: p.history_cap,
            timers: p.timers,
        }
    }

    pub fn status(&self) -> RoomStatus {
        self.status
    }
    pub fn seq(&self) -> u64 {
        self.seq
    }
    pub fn phase(&self) -> &str {
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
    pub fn paused_reason(&self) -> Option<&str> {
        self.paused_reason.as_deref()
    }

    /// Starts the game with `seats` seats.
    pub fn start(&mut self, seats: u32, ctx: &CallContext) -> Result<Produced, RulesError> {
        let setup = Setup {
            seats,
            seed: self.seed,
            options: self.options.clone(),
        };
        let step = timed(&self.timers.start, || self.module.start(&setup, ctx))?;
        self.status = RoomStatus::Running;
        Ok(self.apply(step, Input::Start, ctx))
    }

    /// A player's action for `seat`, refused unless the game runs and (if given) is at
    /// `expected_seq`.
    pub fn act(
        &mut self,
        seat: u32,
        action: &str,
        request_id: &str,
        expected_seq: Option<u64>,
        ctx: &CallContext,
    ) -> Result<Produced, Refused> {
        match self.status {
            RoomStatus::Waiting => return Err(RoomError::NotStarted.into()),
            RoomStatus::Paused => {
                return Err(RoomError::Paused {
                    reason: self.paused_reason.clone().unwrap_or_default(),
                }
                .into());
            }
            RoomStatus::Finished => return Err(RoomError::GameOver.into()),
            RoomStatus::Running => {}
        }
        if let Some(expected) = expected_seq
            && expected != self.seq
        {
            return Err(RoomError::Stale {
                seq: self.seq,
                expected,
            }
            .into());
        }
        match timed(&self.timers.act, || {
            self.module.act(&self.state, seat, action, ctx)
        }) {
            Ok(step) => {
                let input = Input::Act {
                    seat,
                    action: action.into(),
                    request_id: Some(request_id.into()),
                };
                Ok(self.apply(step, input, ctx))
            }
            Err(e) => Err(Refused {
                error: RoomError::from_rules(&e, "on this action"),
                fault: e.is_module_fault().then_some(e),
            }),
        }
    }

    /// Fires the module's timer.
    pub fn timer(&mut self, ctx: &CallContext) -> Result<Produced, RulesError> {
        let step = timed(&self.timers.timer, || self.module.timer(&self.state, ctx))?;
        Ok(self.apply(step, Input::Timer, ctx))
    }

    /// Lets the bot choose and play `seat`'s move; recorded as the seat's action.
    pub fn bot_move(
        &mut self,
        seat: u32,
        entropy: u64,
        ctx: &CallContext,
    ) -> Result<Produced, RulesError> {
        let action = timed(&self.timers.bot, || {
            self.module.bot(&self.state, seat, entropy)
        })?;
        let step = timed(&self.timers.act, || {
            self.module.act(&self.state, seat, &action, ctx)
        })?;
        let input = Input::Act {
            seat,
            action: action.into(),
            request_id: None,
        };
        Ok(self.apply(step, input, ctx))
    }

    /// Stops the game after repeated module failures.
    pub fn pause(&mut self, reason: String) {
        self.status = RoomStatus::Paused;
        self.paused_reason = Some(reason);
    }

    /// Makes `step` the game's state and renders its update for each of `ctx.viewers`.
    fn apply(&mut self, mut step: Step, input: Input, ctx: &CallContext) -> Produced {
        self.seq += 1;
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
                    let u = Shared::new(Update {
                        room: self.room.clone(),
                        seq: self.seq,
                        phase: self.phase.clone(),
                        status: self.status,
                        awaiting: self.awaiting.clone(),
                        view: text,
                        events: chosen.iter().map(|&i| events[i].1.clone()).collect(),
                        result: self.result.clone(),
                        resync: false,
                    });
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
        }
    }

    fn render(&self, viewer: Viewer) -> Result<Arc<str>, RulesError> {
        let seat = match viewer {
            Viewer::Seat(s) => Some(s),
            Viewer::Spectator => None,
        };
        self.module.view(&self.state, seat).map(Arc::from)
    }

    /// The current state for one recipient (everything it knew is replaced when `resync`).
    /// Nothing before the start.
    pub fn current(&self, viewer: Viewer, resync: bool) -> Result<Option<Update>, RulesError> {
        if self.status == RoomStatus::Waiting && self.seq == 0 {
            return Ok(None);
        }
        let view = self.render(viewer)?;
        Ok(Some(self.update(Some(view), Vec::new(), resync)))
    }

    /// What a client that last saw `last_seq` missed: the steps since (their events for
    /// `viewer`) ending with the current view, or a resync when the gap is older than the
    /// steps kept.
    pub fn missed(&self, viewer: Viewer, last_seq: u64) -> Result<Vec<Update>, RulesError> {
        let oldest = self.history.front().map_or(self.seq + 1, |s| s.seq);
        if last_seq >= self.seq {
            return Ok(self.current(viewer, false)?.into_iter().collect());
        }
        if last_seq + 1 < oldest {
            return Ok(self.current(viewer, true)?.into_iter().collect());
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
            })
            .collect();
        // The last step: its events plus the current view.
        let view = self.render(viewer)?;
        let last = self.history.back().map(events_for).unwrap_or_default();
        out.push(self.update(Some(view), last, false));
        Ok(out)
    }
}
