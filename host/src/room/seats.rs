//! Seats and the idempotency window: the bookkeeping half of a room, kept apart from the actor
//! loop so that the loop reads as the sequence of what happens.

use super::{Outbox, SeatInfo, SeatKind};
use crate::api::protocol::ApiError;
use crate::ids::PlayerId;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use tokio::time::Instant;

/// A person in a seat.
#[derive(Debug)]
pub(crate) struct Human {
    pub player: PlayerId,
    pub name: String,
    /// The connection updates go to; `None` while disconnected.
    pub outbox: Option<Outbox>,
    /// When the connection went away, for the reconnect grace period.
    pub disconnected_at: Option<Instant>,
    /// Left for good: the bot plays this seat for the rest of the game.
    pub left: bool,
    /// The bot plays for the human until they come back.
    pub bot_playing: bool,
}

/// Who sits in a seat.
#[derive(Debug)]
pub(crate) enum Occupant {
    Open,
    Bot,
    Human(Human),
}

impl Occupant {
    /// Whether the computer moves for this seat.
    pub fn bot_controlled(&self) -> bool {
        match self {
            Occupant::Open => false,
            Occupant::Bot => true,
            Occupant::Human(h) => h.left || h.bot_playing,
        }
    }

    /// The human, if this seat is theirs and they have not left.
    pub fn human_of(&self, player: &PlayerId) -> Option<&Human> {
        match self {
            Occupant::Human(h) if &h.player == player && !h.left => Some(h),
            _ => None,
        }
    }

    /// The connected outbox, if any.
    pub fn outbox(&self) -> Option<&Outbox> {
        match self {
            Occupant::Human(h) => h.outbox.as_ref(),
            _ => None,
        }
    }

    /// As clients see it.
    pub fn info(&self, seat: u32) -> SeatInfo {
        let mut info = SeatInfo {
            seat,
            kind: SeatKind::Open,
            player: None,
            name: None,
            connected: None,
            bot_playing: None,
        };
        match self {
            Occupant::Open => {}
            Occupant::Bot => info.kind = SeatKind::Bot,
            Occupant::Human(h) => {
                info.kind = SeatKind::Human;
                info.player = Some(h.player.clone());
                info.name = Some(h.name.clone());
                info.connected = Some(h.outbox.is_some());
                info.bot_playing = Some(h.left || h.bot_playing);
            }
        }
        info
    }
}

/// The last replies per player, so that a retried request id gets its original reply. Looked
/// up on every action: one allocation per request id, and foldhash rather than SipHash (the
/// window is bounded, so colliding ids cost at most a longer probe, never unbounded work).
#[derive(Debug, Default)]
pub(crate) struct RequestWindow {
    order: VecDeque<Arc<str>>,
    /// Refusals are boxed: most replies are acks, and a slot stays 16 bytes.
    replies: HashMap<Arc<str>, Result<u64, Box<ApiError>>, foldhash::fast::RandomState>,
}

impl RequestWindow {
    pub fn get(&self, request_id: &str) -> Option<Result<u64, ApiError>> {
        self.replies
            .get(request_id)
            .map(|r| r.clone().map_err(|e| *e))
    }

    pub fn remember(&mut self, request_id: &str, reply: &Result<u64, ApiError>, capacity: usize) {
        while self.order.len() >= capacity {
            if let Some(old) = self.order.pop_front() {
                self.replies.remove(&old);
            }
        }
        let id: Arc<str> = Arc::from(request_id);
        self.order.push_back(id.clone());
        let reply = reply.as_ref().copied().map_err(|e| Box::new(e.clone()));
        self.replies.insert(id, reply);
    }
}
