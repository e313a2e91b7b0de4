//! The room actor: one task per room, the single owner of its game. Commands arrive through the
//! bounded inbox and are applied one at a time; the loop otherwise sleeps until the next
//! deadline (module wake-up, bot move, turn deadline, reconnect grace, retry, closing). Nothing
//! here polls, and nothing waits for a connection.
//!
//! Wasm calls are short and synchronous (microseconds, bounded by fuel and the deadline), so
//! they run inline on the room's task rather than hopping to a blocking pool.

mod output;

use super::seats::{Human, Occupant, RequestWindow};
use super::{Clock, Joined, Outbox, RoomCmd, RoomInfo, RoomStatus};
use crate::api::protocol::{AckFrame, ApiError, ErrorCode};
use crate::config::RoomConfig;
use crate::ids::{PlayerId, RoomId};
use crate::metrics::{ActionLabels, CallLabels, Metrics, RoomLabels};
use crate::replay::{GameRecord, RecordedInput};
use crate::rules::{CallContext, Event, Module, RuleError, RulesError, Setup, Step, Viewer};
use bytes::Bytes;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::Histogram;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use tokio::sync::{mpsc, watch};
use tokio::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// What a room needs to start.
pub(crate) struct RoomParams {
    pub id: RoomId,
    pub module: Module,
    pub cfg: RoomConfig,
    pub options: serde_json::Value,
    pub seats: u32,
    pub bots: u32,
    pub seed: u64,
    pub private: bool,
    pub creator: PlayerId,
    pub turn_deadline_ms: Option<u64>,
    pub metrics: Arc<Metrics>,
    pub shutdown: CancellationToken,
    pub clock: Clock,
}

/// The game once started.
struct GameNow {
    state: Vec<u8>,
    phase: String,
    awaiting: Vec<u32>,
    wake_at: Option<u64>,
    result: Option<String>,
}

/// What a step sent, kept briefly for clients that reconnect.
struct StepLog {
    seq: u64,
    phase: String,
    status: RoomStatus,
    awaiting: Vec<u32>,
    result: Option<String>,
    events: Vec<Event>,
}

pub(crate) struct RoomActor {
    id: RoomId,
    module: Module,
    cfg: RoomConfig,
    clock: Clock,
    options: serde_json::Value,
    seed: u64,
    private: bool,
    creator: PlayerId,
    turn_deadline_ms: Option<u64>,
    seats: Vec<Occupant>,
    spectators: HashMap<PlayerId, Outbox>,
    status: RoomStatus,
    paused_reason: Option<String>,
    seq: u64,
    game: Option<GameNow>,
    record: Option<GameRecord>,
    history: VecDeque<StepLog>,
    requests: HashMap<PlayerId, RequestWindow, foldhash::fast::RandomState>,
    entropy: u64,
    bot_due: Option<Instant>,
    human_due: Option<Instant>,
    failures: u32,
    retry_at: Option<Instant>,
    close_at: Option<Instant>,
    info_tx: watch::Sender<RoomInfo>,
    lobby_dirty: bool,
    metrics: Arc<Metrics>,
    gauge: RoomLabels,
    call_metrics: Vec<(&'static str, Histogram)>,
    action_metrics: Vec<(&'static str, Counter)>,
    shutdown: CancellationToken,
}

impl RoomActor {
    /// A room with `bots` bots in its last seats; returns it with its info channel.
    pub fn new(p: RoomParams) -> (Self, watch::Receiver<RoomInfo>) {
        let mut seats: Vec<Occupant> = (0..p.seats).map(|_| Occupant::Open).collect();
        for seat in seats.iter_mut().rev().take(p.bots as usize) {
            *seat = Occupant::Bot;
        }
        let gauge = RoomLabels {
            game: p.module.info().name.clone(),
            version: p.module.info().version.clone(),
            phase: "waiting".into(),
        };
        p.metrics.rooms.get_or_create(&gauge).inc();
        let placeholder = RoomInfo {
            id: p.id.clone(),
            game: gauge.game.clone(),
            version: gauge.version.clone(),
            status: RoomStatus::Waiting,
            phase: "waiting".into(),
            seats: Vec::new(),
            spectators: 0,
            private: p.private,
            seq: 0,
            options: p.options.clone(),
            creator: p.creator.clone(),
            paused_reason: None,
            turn_deadline_ms: p.turn_deadline_ms,
            seed: None,
        };
        let (info_tx, info_rx) = watch::channel(placeholder);
        let call_metrics = ["start", "act", "timer", "bot"]
            .into_iter()
            .map(|call| {
                let h = p
                    .metrics
                    .module_calls
                    .get_or_create(&call_labels(&gauge, call));
                (call, h.clone())
            })
            .collect();
        let actor = RoomActor {
            id: p.id,
            module: p.module,
            cfg: p.cfg,
            clock: p.clock,
            options: p.options,
            entropy: p.seed ^ crate::ids::random_u64(),
            seed: p.seed,
            private: p.private,
            creator: p.creator,
            turn_deadline_ms: p.turn_deadline_ms,
            seats,
            spectators: HashMap::new(),
            status: RoomStatus::Waiting,
            paused_reason: None,
            seq: 0,
            game: None,
            record: None,
            history: VecDeque::new(),
            requests: HashMap::default(),
            bot_due: None,
            human_due: None,
            failures: 0,
            retry_at: None,
            close_at: None,
            info_tx,
            lobby_dirty: true,
            metrics: p.metrics,
            call_metrics,
            gauge,
            action_metrics: Vec::new(),
            shutdown: p.shutdown,
        };
        actor.publish_info();
        (actor, info_rx)
    }

    /// The actor loop. Returns when the room closes or the server shuts down.
    pub async fn run(mut self, mut inbox: mpsc::Receiver<RoomCmd>) {
        let shutdown = self.shutdown.clone();
        let stopping = shutdown.cancelled();
        tokio::pin!(stopping);
        loop {
            let deadline = self.next_deadline();
            tokio::select! {
                biased;
                _ = &mut stopping => break,
                cmd = inbox.recv() => match cmd {
                    Some(cmd) => self.handle(cmd),
                    None => break,
                },
                _ = sleep_until(deadline) => self.on_deadline(),
            }
            if self.close_at.is_some_and(|t| t <= Instant::now()) {
                break;
            }
            self.update_close_timer();
            if std::mem::take(&mut self.lobby_dirty) {
                self.publish_info();
                self.broadcast_info();
            }
        }
        // Commands still queued get their one reply: actions through their connection, the
        // others when their reply channel drops (`unknown_room`).
        inbox.close();
        while let Ok(cmd) = inbox.try_recv() {
            if let RoomCmd::Act {
                request_id, outbox, ..
            } = cmd
            {
                let e = ApiError::new(ErrorCode::UnknownRoom, "the room has closed");
                outbox.push(e.frame(Some(&request_id)).into());
            }
        }
        let closed =
            Bytes::from(serde_json::json!({"type": "room_closed", "room": self.id}).to_string());
        for outbox in self.member_outboxes() {
            outbox.push(closed.clone());
        }
        self.metrics.rooms.get_or_create(&self.gauge).dec();
        tracing::debug!(room_id = %self.id, "room closed");
    }

    // ----- commands -------------------------------------------------------------------------

    fn handle(&mut self, cmd: RoomCmd) {
        match cmd {
            RoomCmd::Join {
                player,
                name,
                seat,
                outbox,
                reply,
            } => {
                let r = self.join(player, name, seat, outbox);
                self.start_if_full();
                let _ = reply.send(r.map(|j| self.joined(j.seat)));
            }
            RoomCmd::Watch {
                player,
                outbox,
                reply,
            } => {
                self.spectators.insert(player, outbox.clone());
                self.lobby_dirty = true;
                let _ = reply.send(Ok(self.joined(None)));
                self.send_current(&outbox, Viewer::Spectator, true);
            }
            RoomCmd::Leave { player, reply } => {
                let r = self.leave(&player);
                let _ = reply.send(r);
            }
            RoomCmd::AddBot {
                player,
                seat,
                reply,
            } => {
                let r = self.change_bot(&player, seat, true);
                self.start_if_full();
                let _ = reply.send(r.map(|_| self.info()));
            }
            RoomCmd::RemoveBot {
                player,
                seat,
                reply,
            } => {
                let r = self.change_bot(&player, Some(seat), false);
                let _ = reply.send(r);
            }
            RoomCmd::Act {
                player,
                request_id,
                action,
                expected_seq,
                outbox,
            } => {
                let r = self.act(&player, &request_id, action, expected_seq);
                let frame = match &r {
                    Ok(seq) => serde_json::to_string(&AckFrame {
                        kind: "ack",
                        request_id: &request_id,
                        room: self.id.as_str(),
                        seq: *seq,
                    })
                    .unwrap_or_default(),
                    Err(e) => e.frame(Some(&request_id)),
                };
                outbox.push(frame.into());
                let result = match &r {
                    Ok(_) => "ok",
                    Err(e) => e.code.as_str(),
                };
                tracing::debug!(room_id = %self.id, game = %self.gauge.game,
                    version = %self.gauge.version, player = %player, request_id = %request_id,
                    seq = self.seq, result, "action");
                self.count_action(result);
            }
            RoomCmd::Resume {
                player,
                last_seq,
                outbox,
                reply,
            } => {
                let r = self.resume(&player, last_seq, outbox);
                let _ = reply.send(r);
            }
            RoomCmd::Disconnected { player, conn } => self.disconnected(&player, conn),
        }
    }

    fn joined(&self, seat: Option<u32>) -> Joined {
        Joined {
            info: self.info(),
            seat,
        }
    }

    fn seat_of(&self, player: &PlayerId) -> Option<u32> {
        self.seats
            .iter()
            .position(|s| s.human_of(player).is_some())
            .map(|i| i as u32)
    }

    fn join(
        &mut self,
        player: PlayerId,
        name: String,
        seat: Option<u32>,
        outbox: Outbox,
    ) -> Result<Joined, ApiError> {
        if let Some(mine) = self.seat_of(&player) {
            // Coming back to one's own seat (a second join, or a join after a reconnect).
            self.attach(mine, outbox.clone());
            let joined = self.joined(Some(mine));
            self.send_current(&outbox, Viewer::Seat(mine), true);
            return Ok(joined);
        }
        if self.status != RoomStatus::Waiting {
            return Err(ApiError::new(
                ErrorCode::AlreadyStarted,
                "the game has already started",
            ));
        }
        let index = match seat {
            Some(s) => {
                let occupant = self.seats.get(s as usize).ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::BadMessage,
                        format!(
                            "seat {s} does not exist; seats are 0 to {}",
                            self.seats.len() - 1
                        ),
                    )
                })?;
                if !matches!(occupant, Occupant::Open) {
                    return Err(ApiError::new(
                        ErrorCode::SeatTaken,
                        format!("seat {s} is taken"),
                    ));
                }
                s as usize
            }
            None => self
                .seats
                .iter()
                .position(|o| matches!(o, Occupant::Open))
                .ok_or_else(|| ApiError::new(ErrorCode::RoomFull, "every seat is taken"))?,
        };
        self.spectators.remove(&player);
        self.seats[index] = Occupant::Human(Human {
            player,
            name,
            outbox: Some(outbox),
            disconnected_at: None,
            left: false,
            bot_playing: false,
        });
        self.lobby_dirty = true;
        Ok(self.joined(Some(index as u32)))
    }

    fn attach(&mut self, seat: u32, outbox: Outbox) {
        if let Some(Occupant::Human(h)) = self.seats.get_mut(seat as usize) {
            h.outbox = Some(outbox);
            h.disconnected_at = None;
            if h.bot_playing {
                h.bot_playing = false;
                self.schedule_moves();
            }
            self.lobby_dirty = true;
        }
    }

    fn leave(&mut self, player: &PlayerId) -> Result<(), ApiError> {
        if let Some(seat) = self.seat_of(player) {
            let waiting = self.status == RoomStatus::Waiting;
            let occupant = &mut self.seats[seat as usize];
            if waiting {
                *occupant = Occupant::Open;
            } else if let Occupant::Human(h) = occupant {
                h.left = true;
                h.outbox = None;
            }
            self.lobby_dirty = true;
            self.schedule_moves();
            return Ok(());
        }
        if self.spectators.remove(player).is_some() {
            self.lobby_dirty = true;
            return Ok(());
        }
        Err(ApiError::new(
            ErrorCode::NotInRoom,
            "you are not in this room",
        ))
    }

    fn change_bot(
        &mut self,
        player: &PlayerId,
        seat: Option<u32>,
        add: bool,
    ) -> Result<RoomInfo, ApiError> {
        if player != &self.creator {
            return Err(ApiError::new(
                ErrorCode::NotCreator,
                "only the room's creator may change bots",
            ));
        }
        if self.status != RoomStatus::Waiting {
            return Err(ApiError::new(
                ErrorCode::AlreadyStarted,
                "the game has already started",
            ));
        }
        let want = if add { "open" } else { "a bot" };
        let index = match seat {
            Some(s) => s as usize,
            None => self
                .seats
                .iter()
                .position(|o| matches!(o, Occupant::Open))
                .ok_or_else(|| ApiError::new(ErrorCode::RoomFull, "every seat is taken"))?,
        };
        match (self.seats.get(index), add) {
            (Some(Occupant::Open), true) => self.seats[index] = Occupant::Bot,
            (Some(Occupant::Bot), false) => self.seats[index] = Occupant::Open,
            (Some(_), _) => {
                return Err(ApiError::new(
                    ErrorCode::SeatTaken,
                    format!("seat {index} is not {want}"),
                ));
            }
            (None, _) => {
                return Err(ApiError::new(
                    ErrorCode::BadMessage,
                    format!("seat {index} does not exist"),
                ));
            }
        }
        self.lobby_dirty = true;
        Ok(self.info())
    }

    fn act(
        &mut self,
        player: &PlayerId,
        request_id: &str,
        action: String,
        expected_seq: Option<u64>,
    ) -> Result<u64, ApiError> {
        let Some(seat) = self.seat_of(player) else {
            return Err(ApiError::new(
                ErrorCode::NotInRoom,
                "you have no seat in this room",
            ));
        };
        if let Some(previous) = self.requests.get(player).and_then(|w| w.get(request_id)) {
            return previous;
        }
        let result = self.try_act(seat, action, expected_seq);
        let capacity = self.cfg.request_window;
        match self.requests.get_mut(player) {
            Some(window) => window.remember(request_id, &result, capacity),
            // The player id is cloned only for a player's first request, not on every action.
            None => {
                let mut window = RequestWindow::default();
                window.remember(request_id, &result, capacity);
                self.requests.insert(player.clone(), window);
            }
        }
        result
    }

    fn try_act(
        &mut self,
        seat: u32,
        action: String,
        expected_seq: Option<u64>,
    ) -> Result<u64, ApiError> {
        match self.status {
            RoomStatus::Waiting => {
                return Err(ApiError::new(
                    ErrorCode::NotStarted,
                    "the game has not started yet",
                ));
            }
            RoomStatus::Paused => {
                return Err(ApiError::new(
                    ErrorCode::RoomPaused,
                    format!(
                        "the room is paused: {}",
                        self.paused_reason.as_deref().unwrap_or("")
                    ),
                ));
            }
            RoomStatus::Finished => {
                return Err(ApiError::new(ErrorCode::GameOver, "the game is over"));
            }
            RoomStatus::Running => {}
        }
        if let Some(expected) = expected_seq
            && expected != self.seq
        {
            return Err(ApiError::new(
                ErrorCode::Stale,
                format!(
                    "the room is at seq {}, not {expected}; refresh your view",
                    self.seq
                ),
            ));
        }
        let now = self.clock.now_ms();
        let Some(game) = &self.game else {
            return Err(ApiError::new(ErrorCode::Internal, "the game has no state"));
        };
        match self.timed_act(&game.state, seat, &action, now) {
            Ok(step) => {
                self.apply_action(step, seat, action, now);
                Ok(self.seq)
            }
            Err(e) => Err(self.action_error(e)),
        }
    }

    fn action_error(&self, e: RulesError) -> ApiError {
        match e {
            RulesError::Rejected(RuleError::NotYourTurn) => {
                ApiError::new(ErrorCode::NotYourTurn, "it is not your turn")
            }
            RulesError::Rejected(RuleError::GameOver) => {
                ApiError::new(ErrorCode::GameOver, "the game is over")
            }
            RulesError::Rejected(RuleError::Illegal(r)) => ApiError::new(ErrorCode::Illegal, r),
            RulesError::Rejected(RuleError::Malformed(r)) => {
                ApiError::new(ErrorCode::MalformedAction, r)
            }
            other => {
                self.count_failure(&other);
                tracing::warn!(room_id = %self.id, game = %self.gauge.game, version = %self.gauge.version,
                    "module failed on an action: {other}");
                ApiError::new(
                    ErrorCode::ModuleError,
                    format!(
                        "the game's rules failed on this action ({}); nothing changed",
                        other.kind()
                    ),
                )
            }
        }
    }

    fn resume(
        &mut self,
        player: &PlayerId,
        last_seq: u64,
        outbox: Outbox,
    ) -> Result<Joined, ApiError> {
        if let Some(seat) = self.seat_of(player) {
            self.attach(seat, outbox.clone());
            let joined = self.joined(Some(seat));
            self.send_missed(&outbox, Viewer::Seat(seat), last_seq);
            return Ok(joined);
        }
        if self.spectators.contains_key(player) {
            self.spectators.insert(player.clone(), outbox.clone());
            let joined = self.joined(None);
            self.send_missed(&outbox, Viewer::Spectator, last_seq);
            return Ok(joined);
        }
        Err(ApiError::new(
            ErrorCode::NotInRoom,
            "you are not in this room",
        ))
    }

    fn disconnected(&mut self, player: &PlayerId, conn: u64) {
        let now = Instant::now();
        for occupant in &mut self.seats {
            if let Occupant::Human(h) = occupant
                && &h.player == player
                && h.outbox.as_ref().is_some_and(|o| o.conn() == conn)
            {
                h.outbox = None;
                h.disconnected_at = Some(now);
                self.lobby_dirty = true;
            }
        }
        if self
            .spectators
            .get(player)
            .is_some_and(|o| o.conn() == conn)
        {
            self.spectators.remove(player);
            self.lobby_dirty = true;
        }
    }

    // ----- the game -------------------------------------------------------------------------

    fn start_if_full(&mut self) {
        if self.status != RoomStatus::Waiting
            || self.seats.iter().any(|s| matches!(s, Occupant::Open))
        {
            return;
        }
        let now = self.clock.now_ms();
        let setup = Setup {
            seats: self.seats.len() as u32,
            seed: self.seed,
            options: self.options.to_string(),
        };
        match self.timed("start", |m| m.start(&setup, &self.call_ctx(now))) {
            Ok(step) => {
                self.record = Some(GameRecord::new(&self.module, &setup, now));
                self.status = RoomStatus::Running;
                self.apply(step, None);
            }
            Err(e) => {
                self.count_failure(&e);
                self.pause(format!("the game could not start: {e}"));
            }
        }
    }

    /// Makes `step` the room's state: one sequence number, one record entry, one round of
    /// updates, and the next deadlines.
    fn apply(&mut self, step: Step, input: Option<RecordedInput>) {
        self.seq += 1;
        self.failures = 0;
        if let (Some(record), Some(input)) = (&mut self.record, input) {
            record.inputs.push(input);
        }
        if step.result.is_some() {
            self.status = RoomStatus::Finished;
            self.lobby_dirty = true;
        }
        if self.gauge.phase != step.phase {
            self.set_gauge_phase(step.phase.clone());
        }
        self.distribute(&step);
        self.history.push_back(StepLog {
            seq: self.seq,
            phase: step.phase.clone(),
            status: self.status,
            awaiting: step.awaiting.clone(),
            result: step.result.clone(),
            events: step.events,
        });
        while self.history.len() > self.cfg.missed_steps_buffer {
            self.history.pop_front();
        }
        self.game = Some(GameNow {
            state: step.state,
            phase: step.phase,
            awaiting: step.awaiting,
            wake_at: step.wake_at,
            result: step.result,
        });
        self.schedule_moves();
    }

    /// [`RoomActor::apply`] for an accepted action, recorded as the seat's input.
    fn apply_action(&mut self, step: Step, seat: u32, action: String, now: u64) {
        self.apply(
            step,
            Some(RecordedInput::Act {
                seat,
                action,
                at: now,
            }),
        );
    }

    fn call_ctx(&self, now: u64) -> CallContext {
        let mut viewers: Vec<Viewer> = self
            .seats
            .iter()
            .enumerate()
            .filter(|(_, o)| o.outbox().is_some())
            .map(|(i, _)| Viewer::Seat(i as u32))
            .collect();
        if !self.spectators.is_empty() {
            viewers.push(Viewer::Spectator);
        }
        CallContext { now, viewers }
    }

    // ----- time -----------------------------------------------------------------------------

    /// Sets the bot and turn deadlines for whoever the game awaits now.
    fn schedule_moves(&mut self) {
        self.bot_due = None;
        self.human_due = None;
        if self.status != RoomStatus::Running {
            return;
        }
        let Some(game) = &self.game else { return };
        let now = Instant::now();
        let awaits_bot = game.awaiting.iter().any(|&s| {
            self.seats
                .get(s as usize)
                .is_some_and(Occupant::bot_controlled)
        });
        if awaits_bot {
            self.bot_due = Some(now + Duration::from_millis(self.cfg.bot_think_ms));
        }
        if let Some(ms) = self.turn_deadline_ms
            && game.awaiting.iter().any(|&s| {
                self.seats
                    .get(s as usize)
                    .is_some_and(|o| !o.bot_controlled())
            })
        {
            self.human_due = Some(now + Duration::from_millis(ms));
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        let mut next: Option<Instant> = self.close_at;
        let mut consider = |t: Option<Instant>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        };
        if self.status == RoomStatus::Running {
            if self.retry_at.is_some() {
                consider(self.retry_at);
            } else {
                consider(
                    self.game
                        .as_ref()
                        .and_then(|g| g.wake_at)
                        .map(|ms| self.clock.instant_at(ms)),
                );
                consider(self.bot_due);
            }
            consider(self.human_due);
            let grace = Duration::from_millis(self.cfg.reconnect_grace_ms);
            for occupant in &self.seats {
                if let Occupant::Human(h) = occupant
                    && !h.bot_playing
                    && !h.left
                {
                    consider(h.disconnected_at.map(|t| t + grace));
                }
            }
        }
        next
    }

    fn on_deadline(&mut self) {
        let now = Instant::now();
        if self.status != RoomStatus::Running {
            return;
        }
        let grace = Duration::from_millis(self.cfg.reconnect_grace_ms);
        let mut handed_over = false;
        for occupant in &mut self.seats {
            if let Occupant::Human(h) = occupant
                && !h.bot_playing
                && h.disconnected_at.is_some_and(|t| t + grace <= now)
            {
                h.bot_playing = true;
                handed_over = true;
            }
        }
        if handed_over {
            self.lobby_dirty = true;
            self.schedule_moves();
        }
        if let Some(retry) = self.retry_at {
            if retry > now {
                return;
            }
            self.retry_at = None;
        }
        let timer_due = self
            .game
            .as_ref()
            .and_then(|g| g.wake_at)
            .is_some_and(|ms| self.clock.instant_at(ms) <= now);
        if timer_due {
            self.fire_timer();
        } else if self.bot_due.is_some_and(|t| t <= now) {
            self.bot_move(true);
        } else if self.human_due.is_some_and(|t| t <= now) {
            self.bot_move(false);
        }
    }

    fn fire_timer(&mut self) {
        let now = self.clock.now_ms();
        let Some(game) = &self.game else { return };
        match self.timed("timer", |m| m.timer(&game.state, &self.call_ctx(now))) {
            Ok(step) => self.apply(step, Some(RecordedInput::Timer { at: now })),
            Err(e) => self.module_trouble("timer", e),
        }
    }

    /// Lets the bot move for the first awaited seat it controls (`for_bots`) or, when a human's
    /// turn deadline passed, for the first awaited human.
    fn bot_move(&mut self, for_bots: bool) {
        let Some(game) = &self.game else { return };
        let seat = game.awaiting.iter().copied().find(|&s| {
            self.seats
                .get(s as usize)
                .is_some_and(|o| o.bot_controlled() == for_bots)
        });
        let Some(seat) = seat else {
            self.schedule_moves();
            return;
        };
        let entropy = crate::ids::splitmix64(&mut self.entropy);
        let action = match self.timed("bot", |m| m.bot(&game.state, seat, entropy)) {
            Ok(a) => a,
            Err(e) => return self.module_trouble("bot", e),
        };
        let now = self.clock.now_ms();
        match self.timed_act(&game.state, seat, &action, now) {
            Ok(step) => self.apply_action(step, seat, action, now),
            Err(e) => self.module_trouble("bot move", e),
        }
    }

    /// A timer or bot call failed: retry with backoff, and pause after too many failures.
    fn module_trouble(&mut self, what: &str, e: RulesError) {
        self.count_failure(&e);
        self.failures += 1;
        tracing::warn!(room_id = %self.id, game = %self.gauge.game, version = %self.gauge.version,
            failures = self.failures, "{what} failed: {e}");
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
            self.retry_at = Some(Instant::now() + Duration::from_millis(backoff));
        }
    }

    fn pause(&mut self, reason: String) {
        self.status = RoomStatus::Paused;
        self.paused_reason = Some(reason);
        self.retry_at = None;
        self.bot_due = None;
        self.human_due = None;
        self.set_gauge_phase("paused".into());
        self.lobby_dirty = true;
    }

    /// Starts or cancels the closing countdown: rooms every human has left (and nobody
    /// watches) close, and so do finished games once their players have gone.
    fn update_close_timer(&mut self) {
        let humans = self.seats.iter().filter_map(|o| match o {
            Occupant::Human(h) => Some(h),
            _ => None,
        });
        let abandoned = self.spectators.is_empty()
            && humans.clone().all(|h| h.left)
            && !matches!(self.status, RoomStatus::Finished);
        let finished_and_gone = self.status == RoomStatus::Finished
            && self.spectators.is_empty()
            && humans.clone().all(|h| h.left || h.outbox.is_none());
        let wait = if abandoned {
            Some(self.cfg.abandoned_close_ms)
        } else if finished_and_gone {
            Some(self.cfg.finished_close_ms)
        } else {
            None
        };
        match (wait, self.close_at) {
            (Some(ms), None) => self.close_at = Some(Instant::now() + Duration::from_millis(ms)),
            (None, Some(_)) => self.close_at = None,
            _ => {}
        }
    }

    // ----- bookkeeping ----------------------------------------------------------------------

    /// The module's `act`, a human's or a bot's, timed.
    fn timed_act(
        &self,
        state: &[u8],
        seat: u32,
        action: &str,
        now: u64,
    ) -> Result<Step, RulesError> {
        self.timed("act", |m| m.act(state, seat, action, &self.call_ctx(now)))
    }

    /// Runs one module call and records how long it took under `call`.
    fn timed<R>(&self, call: &'static str, f: impl FnOnce(&Module) -> R) -> R {
        let started = std::time::Instant::now();
        let outcome = f(&self.module);
        let seconds = started.elapsed().as_secs_f64();
        // Handles are looked up once per room: finding a labelled metric allocates its labels.
        match self.call_metrics.iter().find(|(c, _)| *c == call) {
            Some((_, h)) => h.observe(seconds),
            None => self
                .metrics
                .module_calls
                .get_or_create(&call_labels(&self.gauge, call))
                .observe(seconds),
        }
        outcome
    }

    fn count_action(&mut self, result: &'static str) {
        if let Some((_, c)) = self.action_metrics.iter().find(|(r, _)| *r == result) {
            c.inc();
            return;
        }
        let c = self
            .metrics
            .actions
            .get_or_create(&ActionLabels {
                game: self.gauge.game.clone(),
                result: result.into(),
            })
            .clone();
        c.inc();
        self.action_metrics.push((result, c));
    }

    fn count_failure(&self, e: &RulesError) {
        if e.is_module_fault() {
            self.metrics
                .module_failures
                .get_or_create(&CallLabels {
                    game: self.gauge.game.clone(),
                    version: self.gauge.version.clone(),
                    call: e.kind().into(),
                })
                .inc();
        }
    }

    fn set_gauge_phase(&mut self, phase: String) {
        self.metrics.rooms.get_or_create(&self.gauge).dec();
        self.gauge.phase = phase;
        self.metrics.rooms.get_or_create(&self.gauge).inc();
        self.lobby_dirty = true;
    }

    fn info(&self) -> RoomInfo {
        RoomInfo {
            id: self.id.clone(),
            game: self.gauge.game.clone(),
            version: self.gauge.version.clone(),
            status: self.status,
            phase: self
                .game
                .as_ref()
                .map_or_else(|| "waiting".into(), |g| g.phase.clone()),
            seats: self
                .seats
                .iter()
                .enumerate()
                .map(|(i, o)| o.info(i as u32))
                .collect(),
            spectators: self.spectators.len(),
            private: self.private,
            seq: self.seq,
            options: self.options.clone(),
            creator: self.creator.clone(),
            paused_reason: self.paused_reason.clone(),
            turn_deadline_ms: self.turn_deadline_ms,
            seed: (self.status == RoomStatus::Finished).then_some(self.seed),
        }
    }

    fn publish_info(&self) {
        let _ = self.info_tx.send(self.info());
    }

    fn member_outboxes(&self) -> impl Iterator<Item = &Outbox> {
        self.seats
            .iter()
            .filter_map(Occupant::outbox)
            .chain(self.spectators.values())
    }

    /// Tells every member that the room's seats or status changed.
    fn broadcast_info(&self) {
        let frame: Bytes = serde_json::json!({"type": "room", "room": self.info()})
            .to_string()
            .into();
        for outbox in self.member_outboxes() {
            outbox.push(frame.clone());
        }
    }
}

fn call_labels(room: &RoomLabels, call: &str) -> CallLabels {
    CallLabels {
        game: room.game.clone(),
        version: room.version.clone(),
        call: call.into(),
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}
