//! What others see of a room: its info (published for the lobby and handles) and the notices
//! its members get when it changes.

use super::super::release::Out;
use super::super::{Outbox, Outgoing, RoomInfo, RoomStatus, Shared};
use super::RoomActor;
use tokio::time::{Duration, Instant};

impl RoomActor {
    pub(super) fn info(&self) -> RoomInfo {
        let status = self.game.status();
        RoomInfo {
            id: self.id.clone(),
            game: self.stats.game().clone(),
            version: self.stats.version().clone(),
            active_version: self.active_version.clone(),
            status,
            phase: self.game.phase().clone(),
            seats: self.seats.infos(),
            spectators: self.spectators.len(),
            private: self.private,
            seq: self.game.seq(),
            options: self.options.clone(),
            creator: self.creator.clone(),
            paused_reason: self.game.paused_reason().map(str::to_owned),
            turn_deadline_ms: self.turn_deadline_ms,
            seed: (status == RoomStatus::Finished).then_some(self.game.seed()),
        }
    }

    pub(super) fn publish_info(&self) {
        let info = self.info();
        *self.published.write().unwrap_or_else(|p| p.into_inner()) = info;
        if !self.private {
            self.lobby.changed();
        }
    }

    pub(super) fn member_outboxes(&self) -> impl Iterator<Item = &Outbox> {
        self.seats
            .connected()
            .map(|(_, o)| o)
            .chain(self.spectators.values())
    }

    /// Tells every member of the room's info now, or arms the notice for the end of the
    /// interval if they were told less than an interval ago.
    pub(super) fn tell_members(&mut self) {
        let interval = Duration::from_millis(self.cfg.info_interval_ms);
        if self.deadlines.tell_members(Instant::now(), interval) {
            self.broadcast_info();
        }
    }

    /// Tells every member that the room's seats or status changed.
    pub(super) fn broadcast_info(&mut self) {
        let info = Shared::new(self.info());
        let outboxes: Vec<Outbox> = self.member_outboxes().cloned().collect();
        for outbox in outboxes {
            self.release
                .send(Out::Push(outbox, Outgoing::Room(info.clone())));
        }
    }
}
