//! Sessions: what a token stands for (kept in a [`SessionStore`], a port), and, for sessions in
//! use, the player's current connection and the rooms they are in.
//!
//! The lock is held only for map operations, never across an `.await`. A token authorises
//! exactly one player; attaching a new connection closes the previous one.
//! Must not touch: the wire protocol, rooms' internals.

use crate::ids::{PlayerId, RoomId, Token};
use crate::room::{CloseReason, Outbox};
use crate::store::{SessionStore, StoredSession};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Why a session could not be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// No session has this token (never had, or it expired).
    #[error("unknown token")]
    UnknownToken,
}

/// A session in use.
struct Live {
    conn: Option<Outbox>,
    /// When the last connection went away (`None` while connected).
    detached_at: Option<tokio::time::Instant>,
    /// A player is in few rooms: a vector costs less than a set.
    rooms: Vec<RoomId>,
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

impl From<StoredSession> for SessionInfo {
    fn from(s: StoredSession) -> Self {
        SessionInfo {
            token: s.token,
            player: s.player,
            name: s.name,
        }
    }
}

/// Every session of this server.
pub struct Sessions {
    store: Arc<dyn SessionStore>,
    live: Mutex<HashMap<Token, Live>>,
}

impl Sessions {
    /// Sessions kept in `store`.
    pub fn new(store: Arc<dyn SessionStore>) -> Self {
        Sessions {
            store,
            live: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Token, Live>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new session for `name`, attached to `conn`.
    pub fn create(&self, name: &str, conn: Outbox) -> SessionInfo {
        let stored = StoredSession {
            token: Token::random(),
            player: PlayerId::random(),
            name: name.to_owned(),
        };
        self.store.insert(stored.clone());
        self.lock().insert(
            stored.token.clone(),
            Live {
                conn: Some(conn),
                detached_at: None,
                rooms: Vec::new(),
            },
        );
        stored.into()
    }

    /// Attaches `conn` to the session of `token`, closing the connection it replaces.
    pub fn resume(&self, token: &str, conn: Outbox) -> Result<SessionInfo, SessionError> {
        let stored = self.store.get(token).ok_or(SessionError::UnknownToken)?;
        let mut live = self.lock();
        let entry = live.entry(stored.token.clone()).or_insert_with(|| Live {
            conn: None,
            detached_at: None,
            rooms: Vec::new(),
        });
        entry.detached_at = None;
        let new_conn = conn.conn();
        if let Some(old) = entry.conn.replace(conn)
            && old.conn() != new_conn
        {
            old.close_with(CloseReason::Replaced);
        }
        Ok(stored.into())
    }

    /// Forgets connection `conn` if it is still the session's; returns the session's rooms.
    pub fn detach(&self, token: &Token, conn: u64) -> Vec<RoomId> {
        let mut live = self.lock();
        match live.get_mut(token) {
            Some(e) => {
                if e.conn.as_ref().is_some_and(|o| o.conn() == conn) {
                    e.conn = None;
                    e.detached_at = Some(tokio::time::Instant::now());
                }
                e.rooms.clone()
            }
            None => Vec::new(),
        }
    }

    /// Remembers that the player is in `room`.
    pub fn enter(&self, token: &Token, room: &RoomId) {
        if let Some(e) = self.lock().get_mut(token)
            && !e.rooms.contains(room)
        {
            // Grow one at a time: most players are in one room or two.
            e.rooms.reserve_exact(1);
            e.rooms.push(room.clone());
        }
    }

    /// Forgets that the player is in `room`.
    pub fn exit(&self, token: &Token, room: &RoomId) {
        if let Some(e) = self.lock().get_mut(token) {
            e.rooms.retain(|r| r != room);
        }
    }

    /// Forgets sessions that have had no connection for `ttl`; returns how many.
    pub fn expire(&self, ttl: std::time::Duration) -> usize {
        let now = tokio::time::Instant::now();
        let mut expired = Vec::new();
        self.lock().retain(|token, e| {
            let keep = e.detached_at.is_none_or(|t| now.duration_since(t) < ttl);
            if !keep {
                expired.push(token.clone());
            }
            keep
        });
        for token in &expired {
            self.store.remove(token);
        }
        expired.len()
    }
}
