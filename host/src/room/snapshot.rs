//! What a room saves of itself so that it can be rebuilt after a restart without replaying its
//! whole log: the game (state bytes and what the last step reported), who holds each seat, the
//! acknowledged request ids and, once the game has moved to another version of its rules, the
//! module it runs under. Encoded with postcard; the store keeps the bytes opaque.
//!
//! Owns: [`RoomSnapshot`] and its encoding. Must not touch: connections (a rebuilt room has
//! none: its players reconnect), deadlines (they restart from the moment of recovery).

use crate::ids::PlayerId;
use crate::store::ModuleKey;
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
    /// The module the game runs under, when a swap moved it off the one its header names.
    /// Encoded after the rest (and only when set), so that snapshots written before swaps
    /// existed read as they are.
    #[serde(skip)]
    pub module: Option<ModuleKey>,
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
    pub fn new(
        game: SavedGame,
        seats: Vec<SavedSeat>,
        requests: Vec<(PlayerId, Acks)>,
        module: Option<ModuleKey>,
    ) -> Self {
        RoomSnapshot {
            format: FORMAT,
            game,
            seats,
            requests,
            module,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = postcard::to_allocvec(self).unwrap_or_default();
        if let Some(module) = &self.module {
            bytes.extend(postcard::to_allocvec(module).unwrap_or_default());
        }
        bytes
    }

    /// The snapshot in `bytes`, or why it cannot be used.
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        let (mut s, rest): (RoomSnapshot, &[u8]) =
            postcard::take_from_bytes(bytes).map_err(|e| e.to_string())?;
        if s.format != FORMAT {
            return Err(format!(
                "snapshot format {} (this build reads {FORMAT})",
                s.format
            ));
        }
        if !rest.is_empty() {
            let module = postcard::from_bytes(rest)
                .map_err(|e| format!("the module after the snapshot: {e}"))?;
            s.module = Some(module);
        }
        Ok(s)
    }
}
