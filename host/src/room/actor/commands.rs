//! The room's commands: seats, spectators, actions and reconnections. Each handler applies one
//! [`RoomCmd`], records what changed the game or its seats, and sends its outputs through
//! [`Release`](super::Release), so that they leave only once durable.

use super::super::release::Out;
use super::super::requests::RequestWindow;
use super::super::seats::{Human, Occupant, Presence};
use super::super::{
    Ack, ActCmd, Entering, JoinCmd, Joined, Outbox, Outgoing, Refusal, RoomCmd, RoomError,
};
use super::RoomActor;
use crate::ids::PlayerId;
use crate::room::RoomStatus;
use crate::rules::Viewer;
use crate::store::SeatChange;
use std::sync::Arc;

impl RoomActor {
    pub(super) async fn handle(&mut self, cmd: RoomCmd) {
        match cmd {
            RoomCmd::Join(join) => self.join(join).await,
            RoomCmd::Watch { player, to } => self.watch(player, to).await,
            RoomCmd::Leave { player, reply } => {
                let r = self.leave(&player);
                self.release.send(Out::Done(reply, r));
            }
            RoomCmd::Bot {
                player,
                seat,
                add,
                reply,
            } => {
                let r = if self.release.accepting() {
                    self.change_bot(&player, seat, add)
                } else {
                    Err(RoomError::Unavailable)
                };
                if r.is_ok() {
                    self.start_if_full().await;
                }
                let r = r.map(|()| self.info());
                if r == Err(RoomError::Unavailable) {
                    self.release.send_now(Out::Info(reply, r));
                } else {
                    self.release.send(Out::Info(reply, r));
                }
            }
            RoomCmd::Act(act) => self.act(act).await,
            RoomCmd::Resume {
                player,
                last_seq,
                to,
            } => self.resume(&player, last_seq, to).await,
            RoomCmd::Disconnected { player, conn } => self.disconnected(&player, conn),
            RoomCmd::ActiveVersion(version) => {
                if self.active_version != version {
                    self.active_version = version;
                    self.lobby_dirty = true;
                }
            }
            RoomCmd::Swap(cmd) => self.swap(cmd).await,
            RoomCmd::Rollback(cmd) => self.rollback(cmd).await,
            RoomCmd::Operator(cmd) => self.operator(cmd).await,
            // The loop takes these before handing commands over.
            RoomCmd::Shutdown | RoomCmd::Archive(_) => {}
        }
    }

    /// Answers a request that put `to`'s connection into the room (in `seat`, or as a
    /// spectator): the reply frame goes into the connection's queue first, so whatever the
    /// room sends it afterwards (updates, missed steps) follows the reply.
    fn answer(&mut self, to: Entering, r: Result<Option<u32>, RoomError>) {
        let Entering {
            outbox,
            request_id,
            reply,
        } = to;
        if r == Err(RoomError::Unavailable) {
            return self
                .release
                .send_now(Out::Done(reply, Err(RoomError::Unavailable)));
        }
        let r = r.map(|seat| {
            let joined = Joined {
                request_id,
                info: self.info(),
                seat,
            };
            self.release
                .send(Out::Push(outbox, Outgoing::Joined(Box::new(joined))));
        });
        self.release.send(Out::Done(reply, r));
    }

    /// The module's view of the current state for `viewer`, if the game has started and the
    /// module renders it.
    async fn render(&self, viewer: Viewer) -> Option<Arc<str>> {
        if !self.game.has_state() {
            return None;
        }
        let seat = match viewer {
            Viewer::Seat(s) => Some(s),
            Viewer::Spectator => None,
        };
        match self.calls.view(self.game.state(), seat).await {
            Ok(view) => Some(Arc::from(view)),
            Err(e) => {
                self.stats.count_failure(&e);
                tracing::warn!(room_id = %self.id, "view failed: {e}");
                None
            }
        }
    }

    /// Sends one recipient the current state (the whole of it: a resync when `resync`).
    async fn send_current(&mut self, outbox: &Outbox, viewer: Viewer, resync: bool) {
        if let Some(view) = self.render(viewer).await {
            let update = self.game.current(view, resync);
            self.release.send(Out::Push(
                outbox.clone(),
                Outgoing::Update(super::Shared::new(update)),
            ));
        }
    }

    async fn join(&mut self, cmd: JoinCmd) {
        let JoinCmd {
            player,
            name,
            seat,
            to,
        } = cmd;
        if let Some(mine) = self.seats.seat_of(&player) {
            // Coming back to one's own seat (a second join, or a join after a reconnect).
            return self.come_back(mine, to).await;
        }
        if !self.release.accepting() {
            return self.answer(to, Err(RoomError::Unavailable));
        }
        match self.take_seat(player, name, seat, to.outbox.clone()) {
            Ok(seat) => {
                // The reply goes before the start's first update.
                self.answer(to, Ok(Some(seat)));
                self.start_if_full().await;
            }
            Err(e) => self.answer(to, Err(e)),
        }
    }

    fn take_seat(
        &mut self,
        player: PlayerId,
        name: String,
        seat: Option<u32>,
        outbox: Outbox,
    ) -> Result<u32, RoomError> {
        if self.game.status() != RoomStatus::Waiting {
            return Err(RoomError::AlreadyStarted);
        }
        let index = match seat {
            Some(s) => {
                let occupant = self.seats.get(s).ok_or_else(|| RoomError::BadRequest {
                    reason: format!(
                        "seat {s} does not exist; seats are 0 to {}",
                        self.seats.len() - 1
                    ),
                })?;
                if !matches!(occupant, Occupant::Open) {
                    return Err(RoomError::SeatTaken {
                        seat: s,
                        state: "taken",
                    });
                }
                s
            }
            None => self.seats.first_open().ok_or(RoomError::RoomFull)?,
        };
        self.spectators.remove(&player);
        self.record_seat(
            index,
            SeatChange::Human {
                player: player.clone(),
                name: name.clone(),
            },
        );
        self.seats.set(
            index,
            Occupant::Human(Box::new(Human {
                player,
                name: name.into(),
                presence: Presence::Connected(outbox),
            })),
        );
        Ok(index)
    }

    /// A seated player comes back to their seat on `to`'s connection and gets the current state.
    async fn come_back(&mut self, seat: u32, to: Entering) {
        let outbox = to.outbox.clone();
        self.attach(seat, outbox.clone());
        self.answer(to, Ok(Some(seat)));
        self.send_current(&outbox, Viewer::Seat(seat), true).await;
    }

    async fn watch(&mut self, player: PlayerId, to: Entering) {
        if let Some(mine) = self.seats.seat_of(&player) {
            // A seated player's watch comes back to the seat: one stream of updates, not two.
            return self.come_back(mine, to).await;
        }
        let outbox = to.outbox.clone();
        if let Err(e) = self.spectate(player, outbox.clone()) {
            return self.answer(to, Err(e));
        }
        self.answer(to, Ok(None));
        self.send_current(&outbox, Viewer::Spectator, true).await;
    }

    /// Makes `player` a spectator on `outbox`, or moves them to it if they already watch; a
    /// newcomer is refused once the room has as many spectators as it takes.
    fn spectate(&mut self, player: PlayerId, outbox: Outbox) -> Result<(), RoomError> {
        let max = self.cfg.max_spectators;
        if self.spectators.len() >= max && !self.spectators.contains_key(&player) {
            return Err(RoomError::TooManySpectators { max });
        }
        if self.spectators.insert(player, outbox).is_none() {
            self.lobby_dirty = true;
        }
        Ok(())
    }

    fn attach(&mut self, seat: u32, outbox: Outbox) {
        if self.seats.connect(seat, outbox) {
            self.schedule_moves();
        }
        self.schedule_grace();
        self.lobby_dirty = true;
    }

    fn leave(&mut self, player: &PlayerId) -> Result<(), RoomError> {
        if let Some(seat) = self.seats.seat_of(player) {
            if self.game.status() == RoomStatus::Waiting {
                self.record_seat(seat, SeatChange::Open);
                self.seats.set(seat, Occupant::Open);
            } else {
                self.record_seat(seat, SeatChange::Left);
                self.seats.leave(seat);
            }
            self.schedule_moves();
            self.schedule_grace();
            return Ok(());
        }
        if self.spectators.remove(player).is_some() {
            self.lobby_dirty = true;
            return Ok(());
        }
        Err(RoomError::NotInRoom { seated_only: false })
    }

    fn change_bot(
        &mut self,
        player: &PlayerId,
        seat: Option<u32>,
        add: bool,
    ) -> Result<(), RoomError> {
        if player != &self.creator {
            return Err(RoomError::NotCreator);
        }
        if self.game.status() != RoomStatus::Waiting {
            return Err(RoomError::AlreadyStarted);
        }
        // A creator who left the waiting room (and so gave up their seat) no longer manages
        // it; taking a seat again gives the right back.
        if self.seats.seat_of(player).is_none() {
            return Err(RoomError::NotInRoom { seated_only: true });
        }
        let index = match seat {
            Some(s) => s,
            None => self.seats.first_open().ok_or(RoomError::RoomFull)?,
        };
        let (occupant, change) = match (self.seats.get(index), add) {
            (Some(Occupant::Open), true) => (Occupant::Bot, SeatChange::Bot),
            (Some(Occupant::Bot), false) => (Occupant::Open, SeatChange::Open),
            (Some(_), _) => {
                return Err(RoomError::SeatTaken {
                    seat: index,
                    state: if add { "not open" } else { "not a bot" },
                });
            }
            (None, _) => {
                return Err(RoomError::BadRequest {
                    reason: format!("seat {index} does not exist"),
                });
            }
        };
        self.record_seat(index, change);
        self.seats.set(index, occupant);
        Ok(())
    }

    async fn act(&mut self, cmd: ActCmd) {
        let ActCmd {
            player,
            request_id,
            action,
            expected_seq,
            outbox,
        } = cmd;
        let result = self
            .try_act(&player, &request_id, action, expected_seq)
            .await;
        let code = match &result {
            Ok(_) => "ok",
            Err(e) => e.kind(),
        };
        tracing::debug!(room_id = %self.id, game = %self.stats.game(),
            version = %self.stats.version(), player = %player, request_id = %request_id,
            seq = self.game.seq(), result = code, "action");
        self.stats.count_action(code);
        match result {
            Ok(seq) => self.release.send(Out::Push(
                outbox,
                Outgoing::Ack(Box::new(Ack {
                    request_id,
                    room: self.id.clone(),
                    seq,
                })),
            )),
            Err(error) => self.refuse(&outbox, request_id, error),
        }
    }

    /// Sends a refusal of the action `request_id` to its connection.
    pub(super) fn refuse(&mut self, outbox: &Outbox, request_id: Arc<str>, error: RoomError) {
        let unavailable = error == RoomError::Unavailable;
        let out = Out::Push(
            outbox.clone(),
            Outgoing::Refused(Box::new(Refusal { request_id, error })),
        );
        if unavailable {
            self.release.send_now(out);
        } else {
            self.release.send(out);
        }
    }

    /// Applies an action once per request id: a retried id gets its first reply again.
    async fn try_act(
        &mut self,
        player: &PlayerId,
        request_id: &Arc<str>,
        action: Box<str>,
        expected_seq: Option<u64>,
    ) -> Result<u64, RoomError> {
        let Some(seat) = self.seats.seat_of(player) else {
            return Err(RoomError::NotInRoom { seated_only: true });
        };
        if let Some(previous) = self.requests.get(player).and_then(|w| w.get(request_id)) {
            return previous;
        }
        // Refused before it is tried, and not remembered: the same request may pass later.
        if !self.release.accepting() {
            return Err(RoomError::Unavailable);
        }
        let result = match self.game.may_act(expected_seq) {
            Ok(()) => self.apply_act(seat, action, request_id).await,
            Err(e) => Err(e),
        };
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

    /// Plays `seat`'s action through the module.
    async fn apply_act(
        &mut self,
        seat: u32,
        action: Box<str>,
        request_id: &Arc<str>,
    ) -> Result<u64, RoomError> {
        let ctx = self.call_ctx();
        match self.calls.act(self.game.state(), seat, &action, &ctx).await {
            Ok(step) => {
                // The action's text and id move into the log entry: no copies.
                let request_id = Some(request_id.clone());
                let produced = self.game.acted(step, seat, action, request_id, &ctx);
                self.publish(produced);
                Ok(self.game.seq())
            }
            Err(e) => {
                if e.is_module_fault() {
                    self.stats.count_failure(&e);
                    tracing::warn!(room_id = %self.id, game = %self.stats.game(),
                        version = %self.stats.version(), "module failed on an action: {e}");
                }
                Err(RoomError::from_rules(&e, "on this action"))
            }
        }
    }

    async fn resume(&mut self, player: &PlayerId, last_seq: u64, to: Entering) {
        let outbox = to.outbox.clone();
        let seat = self.seats.seat_of(player);
        match seat {
            Some(seat) => self.attach(seat, outbox.clone()),
            // A spectator's place goes with their connection, so a player without a seat who
            // comes back watches again: the same as `watch`, plus what they missed.
            None => {
                if let Err(e) = self.spectate(player.clone(), outbox.clone()) {
                    return self.answer(to, Err(e));
                }
            }
        }
        let viewer = seat.map_or(Viewer::Spectator, Viewer::Seat);
        self.answer(to, Ok(seat));
        if let Some(view) = self.render(viewer).await {
            for update in self.game.missed(viewer, last_seq, view) {
                self.release.send(Out::Push(
                    outbox.clone(),
                    Outgoing::Update(super::Shared::new(update)),
                ));
            }
        }
    }

    fn disconnected(&mut self, player: &PlayerId, conn: u64) {
        if self
            .seats
            .disconnect(player, conn, tokio::time::Instant::now())
        {
            self.schedule_grace();
            self.lobby_dirty = true;
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
}
