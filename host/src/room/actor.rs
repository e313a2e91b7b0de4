//! The room actor: one task per room, the single owner of its game. The loop is a `select!` over
//! the log reporting entries durable, the bounded inbox (shutdown included) and the next deadline; every
//! wake-up applies one input (a command, or what is due), records it, and hands its outputs to
//! [`Release`]. Nothing here polls, and nothing waits for a connection.
//!
//! Module calls go through [`Sandboxed`]: inline within a fuel slice, on the blocking pool
//! beyond it, so a slow module never holds a connection worker for long.

mod commands;
mod info;
mod operator;
mod recover;
mod rollback;
mod swap;

use super::calls::Sandboxed;
use super::deadlines::{Deadlines, Work};
use super::game::{Game, GameParams, Produced};
use super::inbox::Receiver;
use super::quota::Claim;
use super::release::{Out, Release};
use super::requests::RequestWindow;
use super::seats::Seats;
use super::stats::RoomStats;
use super::{Clock, Outbox, Outgoing, RoomCmd, RoomInfo, RoomStatus, Shared};
use crate::config::RoomConfig;
use crate::ids::{PlayerId, RoomId};
use crate::metrics::Metrics;
use crate::rules::{CallContext, Module, RulesError, Viewer};
use crate::store::{Entry, GameWriter, Input, SeatChange};
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use tokio::time::{Duration, Instant, Sleep};

/// How long timers and bots wait while storage is behind, ms.
const STORAGE_RETRY_MS: u64 = 100;

/// What a room needs to start.
pub(crate) struct RoomParams {
    pub id: RoomId,
    pub module: Module,
    pub cfg: Arc<RoomConfig>,
    pub options: serde_json::Value,
    pub seats: u32,
    pub bots: u32,
    pub seed: u64,
    pub private: bool,
    pub creator: PlayerId,
    pub turn_deadline_ms: Option<u64>,
    pub active_version: Option<Arc<str>>,
    pub metrics: Arc<Metrics>,
    pub clock: Clock,
    pub log: Box<dyn GameWriter>,
    /// The room's place among live rooms and its creator's open room (see `quota`).
    pub claim: Claim,
    /// A snapshot every this many log entries.
    pub snapshot_every: u64,
    /// Told when a listed room's info changes.
    pub lobby: super::LobbyFeed,
}

pub(crate) struct RoomActor {
    id: RoomId,
    game: Game,
    calls: Sandboxed,
    seats: Seats,
    spectators: HashMap<PlayerId, Outbox>,
    requests: HashMap<PlayerId, RequestWindow, foldhash::fast::RandomState>,
    deadlines: Deadlines,
    release: Release,
    cfg: Arc<RoomConfig>,
    clock: Clock,
    options: serde_json::Value,
    private: bool,
    creator: PlayerId,
    turn_deadline_ms: Option<u64>,
    /// The game's active version in the catalog, when it is not this room's.
    active_version: Option<Arc<str>>,
    entropy: u64,
    failures: u32,
    published: super::Published,
    lobby_dirty: bool,
    /// Told when this room's info changes (unless it is private).
    lobby: super::LobbyFeed,
    stats: RoomStats,
    /// Given back in parts: the creator's open room when the game finishes, the rest when the
    /// actor drops (the room closed).
    claim: Claim,
    snapshot_every: u64,
    /// Entries appended since the last snapshot.
    since_snapshot: u64,
    /// Since the game's last swap: what a rollback to the version before needs.
    pre_swap: Option<Box<rollback::PreSwap>>,
}

impl RoomActor {
    /// A room with `bots` bots in its last seats; returns it with its info channel.
    pub fn new(p: RoomParams) -> (Self, super::Published) {
        let bots = p.bots;
        let seats = p.seats;
        let (mut actor, published) = Self::build(p);
        let bots: Vec<u32> = (0..seats).rev().take(bots as usize).collect();
        for seat in bots.into_iter().rev() {
            actor.record_seat(seat, SeatChange::Bot);
        }
        actor.publish_info();
        (actor, published)
    }

    /// A room to be rebuilt from its log ([`RoomActor::recover`]): open seats, nothing recorded.
    pub fn rebuilt(p: RoomParams) -> (Self, super::Published) {
        Self::build(p)
    }

    /// The room with its seats as `p` says, recording nothing.
    fn build(p: RoomParams) -> (Self, super::Published) {
        let info = p.module.info();
        let stats = RoomStats::new(p.metrics, &info.name, &info.version);
        let game = Game::new(GameParams {
            room: p.id.clone(),
            seed: p.seed,
            options: p.options.to_string(),
            history_cap: p.cfg.missed_steps_buffer,
        });
        let calls = Sandboxed::new(p.module, p.cfg.inline_fuel, stats.call_timers());
        let published = Arc::new(std::sync::RwLock::new(RoomInfo {
            id: p.id.clone(),
            game: stats.game().clone(),
            version: stats.version().clone(),
            active_version: None,
            status: RoomStatus::Waiting,
            phase: "waiting".into(),
            seats: Vec::new(),
            spectators: 0,
            private: p.private,
            seq: 0,
            options: serde_json::Value::Null,
            creator: p.creator.clone(),
            paused_reason: None,
            turn_deadline_ms: p.turn_deadline_ms,
            seed: None,
        }));
        let actor = RoomActor {
            id: p.id,
            game,
            calls,
            seats: Seats::new(p.seats, p.bots),
            spectators: HashMap::new(),
            requests: HashMap::default(),
            deadlines: Deadlines::default(),
            release: Release::new(p.log),
            cfg: p.cfg,
            clock: p.clock,
            options: p.options,
            entropy: p.seed ^ crate::ids::random_u64(),
            private: p.private,
            creator: p.creator,
            turn_deadline_ms: p.turn_deadline_ms,
            active_version: p.active_version,
            failures: 0,
            published: published.clone(),
            lobby_dirty: true,
            stats,
            claim: p.claim,
            snapshot_every: p.snapshot_every,
            since_snapshot: 0,
            pre_swap: None,
            lobby: p.lobby,
        };
        (actor, published)
    }

    /// The actor loop. Returns when the room closes or the server shuts down (a
    /// [`RoomCmd::Shutdown`] in the inbox: cheaper than polling a shared cancellation token on
    /// every wake-up of every room). The registry holds a handle for as long as the room runs.
    pub async fn run(mut self: Box<Self>, mut inbox: Receiver) {
        let mut closing = false;
        // Made on the first deadline and reset after: kept out of the task's future, whose size
        // every idle room pays, and not allocated again for every deadline.
        let mut timer: Option<Pin<Box<Sleep>>> = None;
        loop {
            let deadline = self.deadlines.next_due();
            let holding = self.release.holding();
            tokio::select! {
                biased;
                _ = self.release.durable_changed(), if holding => {}
                cmd = inbox.recv() => match *cmd {
                    RoomCmd::Shutdown => break,
                    RoomCmd::Archive(reply) => {
                        closing = self.game.status() == RoomStatus::Finished
                            && !self.release.holding();
                        let _ = reply.send(Ok(closing));
                    }
                    // Boxed: the handlers' state is large and needed only while one runs, not
                    // for the whole life of an idle room.
                    cmd => Box::pin(self.handle(cmd)).await,
                },
                _ = sleep_until(&mut timer, deadline) => closing = Box::pin(self.on_deadline()).await,
            }
            self.release.release();
            if closing {
                break;
            }
            self.update_close_timer();
            if std::mem::take(&mut self.lobby_dirty) {
                // The lobby sees every change at once; members are told at most once per
                // interval (a crowd of spectators would otherwise cost each member a frame per
                // spectator who comes or goes).
                self.publish_info();
                self.tell_members();
            }
        }
        // Commands still queued get their one reply: actions through their connection, the
        // others when their reply channel drops (`Closed`).
        inbox.close();
        while let Some(cmd) = inbox.try_recv() {
            if let RoomCmd::Act(act) = *cmd {
                self.refuse(&act.outbox, act.request_id, super::RoomError::Closed);
            }
        }
        self.release.release();
        // A shutdown does not end the game (it comes back after a restart): only a room that
        // really closes says so.
        if closing {
            for outbox in self.member_outboxes() {
                outbox.push(Outgoing::RoomClosed(self.id.clone()));
            }
            // (A finished game has ended already.)
            self.release.end(crate::store::Ending::Abandoned);
        }
        self.stats.closed();
        tracing::debug!(room_id = %self.id, "room closed");
    }

    // ----- the game -------------------------------------------------------------------------

    /// Who the next call renders views for: connected seats, and spectators if any.
    fn call_ctx(&mut self) -> CallContext {
        self.tell_turn_limit();
        let mut viewers: Vec<Viewer> = self
            .seats
            .connected()
            .map(|(seat, _)| Viewer::Seat(seat))
            .collect();
        if !self.spectators.is_empty() {
            viewers.push(Viewer::Spectator);
        }
        CallContext {
            now: self.clock.now_ms(),
            viewers,
        }
    }

    async fn start_if_full(&mut self) {
        if self.game.status() != RoomStatus::Waiting || !self.seats.is_full() {
            return;
        }
        let ctx = self.call_ctx();
        let setup = self.game.setup(self.seats.len());
        match self.calls.start(&setup, &ctx).await {
            Ok(step) => {
                let produced = self.game.started(step, &ctx);
                self.publish(produced);
            }
            Err(e) => {
                self.stats.count_failure(&e);
                self.pause(format!("the game could not start: {e}"));
            }
        }
    }

    /// Records what a step produced and hands its updates to their recipients.
    fn publish(&mut self, produced: Produced) {
        self.stats.count_step();
        self.record(produced.entry);
        self.deliver(produced.updates);
        self.after_step();
    }

    /// Hands a step's updates to their recipients (after its entry is recorded).
    fn deliver(&mut self, updates: Vec<(Viewer, Arc<Shared<super::Update>>)>) {
        for (viewer, update) in updates {
            match viewer {
                Viewer::Seat(seat) => {
                    if let Some(outbox) = self.seats.get(seat).and_then(|o| o.outbox()) {
                        self.release
                            .send(Out::Push(outbox.clone(), Outgoing::Update(update)));
                    }
                }
                Viewer::Spectator => {
                    for outbox in self.spectators.values() {
                        self.release
                            .send(Out::Push(outbox.clone(), Outgoing::Update(update.clone())));
                    }
                }
            }
        }
    }

    /// The room's bookkeeping after a step: a finished game, the phase, what is awaited next.
    fn after_step(&mut self) {
        self.failures = 0;
        let status = self.game.status();
        if status == RoomStatus::Finished {
            self.lobby_dirty = true;
            // A finished game no longer counts among its creator's open rooms.
            self.claim.open = None;
            // Nor among the games rebuilt after a restart.
            let finished = self.finished();
            let (started_at, ended_at) = self.game.times();
            self.stats.finished(ended_at.saturating_sub(started_at));
            self.release.end(finished);
        }
        if self.stats.set_phase(self.game.phase()) {
            self.lobby_dirty = true;
        }
        self.schedule_moves();
    }

    /// Records a seat change (it does not change the game's sequence number).
    fn record_seat(&mut self, seat: u32, change: SeatChange) {
        self.record(Entry {
            seq: self.game.seq(),
            at: self.clock.now_ms(),
            input: Input::Seat { seat, change },
            state_hash: None,
        });
        self.lobby_dirty = true;
    }

    /// Appends an entry to the log, and a snapshot after it every `snapshot_every` entries.
    fn record(&mut self, entry: Entry) {
        self.keep_for_rollback(&entry);
        self.release.record(entry);
        self.since_snapshot += 1;
        if self.since_snapshot >= self.snapshot_every {
            self.since_snapshot = 0;
            let snapshot = self.snapshot();
            self.release.snapshot(self.game.seq(), snapshot.encode());
        }
    }

    // ----- time -----------------------------------------------------------------------------

    /// Tells the game the turn limit and which seats people play now (its updates say when it
    /// moves on by itself).
    fn tell_turn_limit(&mut self) {
        let humans = (self.seats.iter())
            .filter(|(_, o)| matches!(o, super::seats::Occupant::Human(_)) && !o.bot_controlled())
            .fold(0u64, |mask, (seat, _)| {
                mask | 1u64.checked_shl(seat).unwrap_or(0)
            });
        self.game.set_turn_limit(self.turn_deadline_ms, humans);
    }

    /// Arms the timer, bot and turn deadlines for what the game awaits now.
    fn schedule_moves(&mut self) {
        // The deadline updates show from now on is the one armed here (a recovered game's
        // turns count from the recovery, a seat the bot took over has none).
        self.tell_turn_limit();
        let now_ms = self.clock.now_ms();
        self.game.rearm_deadline(now_ms);
        let d = &mut self.deadlines;
        d.bot = None;
        d.turn = None;
        d.timer = None;
        if self.game.status() != RoomStatus::Running {
            d.stop_work();
            return;
        }
        d.timer = self.game.wake_at().map(|ms| self.clock.instant_at(ms));
        let now = Instant::now();
        let awaited = || {
            self.game
                .awaiting()
                .iter()
                .filter_map(|&s| self.seats.get(s))
        };
        if awaited().any(|o| o.bot_controlled()) {
            d.bot = Some(now + Duration::from_millis(self.cfg.bot_think_ms));
        }
        // The game says whether a person is awaited (it shows the same deadline in updates).
        if let Some(ms) = self.turn_deadline_ms
            && self.game.person_awaited()
        {
            d.turn = Some(now + Duration::from_millis(ms));
        }
    }

    /// Re-arms the end of the earliest reconnect grace period (while the game waits or runs:
    /// a waiting room whose humans are all gone past it is abandoned).
    fn schedule_grace(&mut self) {
        let status = self.game.status();
        self.deadlines.grace = matches!(status, RoomStatus::Waiting | RoomStatus::Running)
            .then(|| {
                self.seats
                    .next_grace_end(Duration::from_millis(self.cfg.reconnect_grace_ms))
            })
            .flatten();
    }

    /// Does what is due. Returns true when the room should close.
    async fn on_deadline(&mut self) -> bool {
        let now = Instant::now();
        let due = self.deadlines.take_due(now);
        if due.close {
            return true;
        }
        if due.info {
            self.tell_members();
        }
        if due.grace {
            // In a waiting room too: a seat whose player is gone past the grace is played by
            // the bot if the game starts, and a room whose humans are all gone is abandoned.
            let status = self.game.status();
            if matches!(status, RoomStatus::Waiting | RoomStatus::Running)
                && self
                    .seats
                    .end_grace(Duration::from_millis(self.cfg.reconnect_grace_ms), now)
            {
                self.lobby_dirty = true;
                self.schedule_moves();
            }
            self.schedule_grace();
        }
        if self.game.status() != RoomStatus::Running {
            return false;
        }
        if let Some(work) = due.work
            && !self.release.accepting()
        {
            // Storage is behind: timers and bots wait too (a game of bots would otherwise
            // fill memory with entries the database cannot take).
            self.retry_later(work, STORAGE_RETRY_MS);
            return false;
        }
        match due.work {
            Some(Work::Timer) => {
                let ctx = self.call_ctx();
                match self.calls.timer(self.game.state(), &ctx).await {
                    Ok(step) => {
                        let produced = self.game.timer_fired(step, &ctx);
                        self.publish(produced);
                    }
                    Err(e) => self.module_trouble(Work::Timer, e),
                }
            }
            Some(work @ Work::Bot) => self.bot_move(work, true).await,
            Some(work @ Work::Turn) => self.bot_move(work, false).await,
            None => {}
        }
        false
    }

    /// Lets the bot move for the first awaited seat it controls (`for_bots`) or, when a human's
    /// turn deadline passed, for the first awaited human.
    async fn bot_move(&mut self, work: Work, for_bots: bool) {
        let seat = self.game.awaiting().iter().copied().find(|&s| {
            self.seats
                .get(s)
                .is_some_and(|o| o.bot_controlled() == for_bots)
        });
        let Some(seat) = seat else {
            self.schedule_moves();
            return;
        };
        let entropy = crate::ids::splitmix64(&mut self.entropy);
        let action = match self.calls.bot(self.game.state(), seat, entropy).await {
            Ok(action) => action,
            Err(e) => return self.module_trouble(work, e),
        };
        let ctx = self.call_ctx();
        match self.calls.act(self.game.state(), seat, &action, &ctx).await {
            Ok(step) => {
                let produced = self.game.acted(step, seat, action.into(), None, &ctx);
                self.publish(produced);
            }
            Err(e) => self.module_trouble(work, e),
        }
    }

    /// A timer or bot call failed: retry with backoff, and pause after too many failures.
    fn module_trouble(&mut self, work: Work, e: RulesError) {
        let what = match work {
            Work::Timer => "timer",
            Work::Bot | Work::Turn => "bot move",
        };
        self.stats.count_failure(&e);
        self.failures += 1;
        tracing::warn!(room_id = %self.id, game = %self.stats.game(),
            version = %self.stats.version(), failures = self.failures, "{what} failed: {e}");
        if self.failures >= self.cfg.max_module_failures {
            self.pause(format!(
                "the {what} failed {} times in a row: {e}",
                self.failures
            ));
        } else {
            let backoff = self
                .cfg
                .retry_base_ms
                .saturating_mul(1 << (self.failures - 1).min(16));
            self.retry_later(work, backoff);
        }
    }

    /// Keeps `work` due, to be done again in `ms`.
    fn retry_later(&mut self, work: Work, ms: u64) {
        let now = Instant::now();
        let slot = match work {
            Work::Timer => &mut self.deadlines.timer,
            Work::Bot => &mut self.deadlines.bot,
            Work::Turn => &mut self.deadlines.turn,
        };
        *slot = Some(now);
        self.deadlines.retry = Some(now + Duration::from_millis(ms));
    }

    fn pause(&mut self, reason: String) {
        self.game.pause(reason);
        self.deadlines.stop_work();
        self.stats.set_phase(&Arc::from("paused"));
        self.lobby_dirty = true;
    }

    /// Starts or cancels the closing countdown: abandoned rooms (nobody watches, and every
    /// human has left — or, before the start, left or been gone past the reconnect grace) close,
    /// and so do finished games once their players have gone. A running game whose players are
    /// merely disconnected goes on: the bots play for them.
    fn update_close_timer(&mut self) {
        let status = self.game.status();
        let finished = status == RoomStatus::Finished;
        let nobody_watches = self.spectators.is_empty();
        let abandoned = if status == RoomStatus::Waiting {
            self.seats.all_gone()
        } else {
            self.seats.all_left()
        };
        let wait = if nobody_watches && !finished && abandoned {
            Some(self.cfg.abandoned_close_ms)
        } else if nobody_watches && finished && self.seats.none_connected() {
            Some(self.cfg.finished_close_ms)
        } else {
            None
        };
        match (wait, self.deadlines.close) {
            (Some(ms), None) => {
                self.deadlines.close = Some(Instant::now() + Duration::from_millis(ms));
            }
            (None, Some(_)) => self.deadlines.close = None,
            _ => {}
        }
    }
}

async fn sleep_until(timer: &mut Option<Pin<Box<Sleep>>>, deadline: Option<Instant>) {
    let Some(t) = deadline else {
        return std::future::pending().await;
    };
    let timer = timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(t)));
    if timer.deadline() != t {
        timer.as_mut().reset(t);
    }
    timer.await
}

/// The size of a room's task future (what an idle room keeps besides its actor).
#[cfg(test)]
pub(crate) fn run_future_size() -> usize {
    fn of<A, F: std::future::Future>(_: fn(A, Receiver) -> F) -> usize {
        std::mem::size_of::<F>()
    }
    of(RoomActor::run)
}
