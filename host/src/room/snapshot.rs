//! What a room saves of itself so that it can be rebuilt after a restart without replaying its
//! whole log: the game (state bytes and what the last step reported), who holds each seat, and
//! the acknowledged request ids. Encoded with postcard; the store keeps the bytes opaque.
//!
//! Owns: [`RoomSnapshot`] and its encoding. Must not touch: connections (a rebuilt room has
//! none: its players reconnect), deadlines (they restart from the moment of recovery).

use crate::ids::PlayerId;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The format, first in every snapshot; a snapshot of another format is ignored (the room is
/// rebuilt from its log instead).
const FORMAT: u8 = 1;

/// A player's acknowledged request ids, with the sequence numbers they were answered with.
pub(crate) type Acks = Vec<(Arc<str>, u64)>;

/// A room's saved self.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct RoomSnapshot {
    pub format: u8,
    pub game: SavedGame,
    pub seats: Vec<SavedSeat>,
    /// Per player, the acknowledged request ids and the sequence numbers they were answered with.
    pub requests: Vec<(PlayerId, Acks)>,
}

/// The game core's state.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct SavedGame {
    pub status: super::RoomStatus,
    pub paused_reason: Option<String>,
    pub seq: u64,
    pub state: Vec<u8>,
    pub phase: Arc<str>,
    pub awaiting: Arc<[u32]>,
    pub wake_at: Option<u64>,
    pub result: Option<Arc<str>>,
    pub started_at: u64,
    pub last_at: u64,
}

/// Who holds a seat.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum SavedSeat {
    Open,
    Bot,
    Human {
        player: PlayerId,
        name: Arc<str>,
        /// They left the running game: the bot plays for good.
        left: bool,
    },
}

impl RoomSnapshot {
    pub fn new(game: SavedGame, seats: Vec<SavedSeat>, requests: Vec<(PlayerId, Acks)>) -> Self {
        RoomSnapshot {
            format: FORMAT,
            game,
            seats,
            requests,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        postcard::to_allocvec(self).unwrap_or_default()
    }

    /// The snapshot in `bytes`, or why it cannot be used.
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        let s: RoomSnapshot = postcard::from_bytes(bytes).map_err(|e| e.to_string())?;
        if s.format != FORMAT {
            return Err(format!(
                "snapshot format {} (this build reads {FORMAT})",
                s.format
            ));
        }
        Ok(s)
    }
}
