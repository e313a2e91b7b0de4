//! Sessions: token -> player, the player's current connection and the rooms they are in.
//!
//! The lock is held only for map operations, never across an `.await`. A token authorises
//! exactly one player; attaching a new connection closes the previous one.

use crate::api::protocol::{ApiError, ErrorCode};
use crate::ids::{PlayerId, RoomId, Token};
use crate::room::Outbox;
use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

/// Close code sent to a connection replaced by a newer one with the same token.
pub const CLOSE_REPLACED: u16 = 4001;

struct Entry {
    player: PlayerId,
    name: String,
    conn: Option<Outbox>,
    /// When the last connection went away (`None` while connected).
    detached_at: Option<tokio::time::Instant>,
    rooms: BTreeSet<RoomId>,
}

/// A player as a connection knows it after `hello`.
#[derive(Clone, Debug)]
pub struct SessionInfo {
    /// The secret.
    pub token: Token,
    /// The player.
    pub player: PlayerId,
    /// Display name.
    pub name: String,
}

/// Every session of this server.
#[derive(Default)]
pub struct Sessions {
    inner: Mutex<HashMap<Token, Entry>>,
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Token, Entry>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new session for `name`, attached to `conn`.
    pub fn create(&self, name: &str, conn: Outbox) -> SessionInfo {
        let info = SessionInfo {
            token: Token::random(),
            player: PlayerId::random(),
            name: name.to_owned(),
        };
        self.lock().insert(
            info.token.clone(),
            Entry {
                player: info.player.clone(),
                name: info.name.clone(),
                conn: Some(conn),
                detached_at: None,
                rooms: BTreeSet::new(),
            },
        );
        info
    }

    /// Attaches `conn` to the session of `token`, closing the connection it replaces.
    pub fn resume(&self, token: &str, conn: Outbox) -> Result<SessionInfo, ApiError> {
        let token = Token::from_wire(token);
        let mut map = self.lock();
        let entry = map
            .get_mut(&token)
            .ok_or_else(|| ApiError::new(ErrorCode::BadToken, "unknown token"))?;
        entry.detached_at = None;
        if let Some(old) = entry.conn.replace(conn)
            && old.conn() != entry.conn.as_ref().map_or(0, Outbox::conn)
        {
            old.close_with(CLOSE_REPLACED);
        }
        Ok(SessionInfo {
            token,
            player: entry.player.clone(),
            name: entry.name.clone(),
        })
    }

    /// Forgets connection `conn` if it is still the session's; returns the session's rooms.
    pub fn detach(&self, token: &Token, conn: u64) -> Vec<RoomId> {
        let mut map = self.lock();
        match map.get_mut(token) {
            Some(e) => {
                if e.conn.as_ref().is_some_and(|o| o.conn() == conn) {
                    e.conn = None;
                    e.detached_at = Some(tokio::time::Instant::now());
                }
                e.rooms.iter().cloned().collect()
            }
            None => Vec::new(),
        }
    }

    /// Remembers that the player is in `room`.
    pub fn enter(&self, token: &Token, room: &RoomId) {
        if let Some(e) = self.lock().get_mut(token) {
            e.rooms.insert(room.clone());
        }
    }

    /// Forgets that the player is in `room`.
    pub fn exit(&self, token: &Token, room: &RoomId) {
        if let Some(e) = self.lock().get_mut(token) {
            e.rooms.remove(room);
        }
    }

    /// Forgets sessions that have had no connection for `ttl`; returns how many.
    pub fn expire(&self, ttl: std::time::Duration) -> usize {
        let now = tokio::time::Instant::now();
        let mut map = self.lock();
        let before = map.len();
        map.retain(|_, e| e.detached_at.is_none_or(|t| now.duration_since(t) < ttl));
        before - map.len()
    }
}
