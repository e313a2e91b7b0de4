//! Sessions: what a token stands for (kept in a [`SessionStore`], a port), and, for sessions in
//! use, the player's current connection and the rooms they are in.
//!
//! The lock is held only for map operations, never across an `.await`. A token authorises
//! exactly one player; attaching a new connection closes the previous one.
//! Must not touch: the wire protocol, rooms' internals.

use crate::ids::{PlayerId, RoomId, Token};
use crate::room::{CloseReason, Outbox};
use crate::store::{SessionStore, StoreError, StoredSession, now_ms};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

/// Why a session could not be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// No session has this token (never had, or it expired).
    #[error("unknown token")]
    UnknownToken,
    /// The address has opened too many sessions, or opens them too fast.
    #[error("too many new sessions from your address; use the token you have")]
    TooMany,
    /// The session store cannot be reached or written now.
    #[error("sessions cannot be opened or resumed right now; try again shortly")]
    Unavailable,
}

fn unavailable(e: crate::store::StoreError) -> SessionError {
    tracing::warn!("session store: {e}");
    SessionError::Unavailable
}

/// How many sessions one IP address may open.
#[derive(Clone, Copy, Debug)]
pub struct SessionLimits {
    /// Sessions from one address that have not expired.
    pub per_address: usize,
    /// New sessions per minute from one address (also the burst).
    pub per_minute: u32,
}

/// A session in use.
struct Live {
    conn: Option<Outbox>,
    /// When the last connection went away (`None` while connected).
    detached_at: Option<tokio::time::Instant>,
    /// A player is in few rooms: a vector costs less than a set.
    rooms: Vec<RoomId>,
    /// The address that opened the session here (counted against its cap until it expires).
    opened_from: Option<IpAddr>,
}

#[derive(Default)]
struct Table {
    live: HashMap<Token, Live>,
    by_address: HashMap<IpAddr, usize>,
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
    table: Mutex<Table>,
    limits: SessionLimits,
    new_per_address: DefaultKeyedRateLimiter<IpAddr>,
}

impl Sessions {
    /// Sessions kept in `store`, opened within `limits`.
    pub fn new(store: Arc<dyn SessionStore>, limits: SessionLimits) -> Self {
        let per_minute = NonZeroU32::new(limits.per_minute).unwrap_or(NonZeroU32::MIN);
        Sessions {
            store,
            table: Mutex::default(),
            limits,
            new_per_address: RateLimiter::keyed(Quota::per_minute(per_minute)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new session for `name`, attached to `conn`, opened from `addr` (within its limits).
    /// Resolves once the session is durable: its token works after a restart.
    pub async fn create(
        &self,
        name: &str,
        conn: Outbox,
        addr: IpAddr,
    ) -> Result<SessionInfo, SessionError> {
        {
            let mut table = self.lock();
            let opened = table.by_address.get(&addr).copied().unwrap_or(0);
            if opened >= self.limits.per_address || self.new_per_address.check_key(&addr).is_err() {
                return Err(SessionError::TooMany);
            }
            // Counted before the write, so that concurrent hellos cannot pass the cap together.
            *table.by_address.entry(addr).or_default() += 1;
        }
        let stored = StoredSession {
            token: Token::random(),
            player: PlayerId::random(),
            name: name.to_owned(),
        };
        if let Err(e) = self.store.insert(stored.clone(), now_ms()).await {
            crate::counts::lower(&mut self.lock().by_address, &addr);
            return Err(unavailable(e));
        }
        self.lock().live.insert(
            stored.token.clone(),
            Live {
                conn: Some(conn),
                detached_at: None,
                rooms: Vec::new(),
                opened_from: Some(addr),
            },
        );
        Ok(stored.into())
    }

    /// The player whose session `token` is (for HTTP requests, which hold no session).
    pub async fn player_of(&self, token: &str) -> Result<Option<PlayerId>, StoreError> {
        Ok(self.store.get(token).await?.map(|s| s.player))
    }

    /// Attaches `conn` to the session of `token`, closing the connection it replaces.
    pub async fn resume(&self, token: &str, conn: Outbox) -> Result<SessionInfo, SessionError> {
        let stored = self
            .store
            .get(token)
            .await
            .map_err(unavailable)?
            .ok_or(SessionError::UnknownToken)?;
        self.store.touch(&stored.token, now_ms());
        let mut table = self.lock();
        let entry = table
            .live
            .entry(stored.token.clone())
            .or_insert_with(|| Live {
                conn: None,
                detached_at: None,
                rooms: Vec::new(),
                opened_from: None,
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
        let mut table = self.lock();
        match table.live.get_mut(token) {
            Some(e) => {
                if e.conn.as_ref().is_some_and(|o| o.conn() == conn) {
                    e.conn = None;
                    e.detached_at = Some(tokio::time::Instant::now());
                    // Its lifetime counts from its last use.
                    self.store.touch(token, now_ms());
                }
                e.rooms.clone()
            }
            None => Vec::new(),
        }
    }

    /// Remembers that the player is in `room`.
    pub fn enter(&self, token: &Token, room: &RoomId) {
        if let Some(e) = self.lock().live.get_mut(token)
            && !e.rooms.contains(room)
        {
            // Grow one at a time: most players are in one room or two.
            e.rooms.reserve_exact(1);
            e.rooms.push(room.clone());
        }
    }

    /// Forgets that the player is in `room`.
    pub fn exit(&self, token: &Token, room: &RoomId) {
        if let Some(e) = self.lock().live.get_mut(token) {
            e.rooms.retain(|r| r != room);
        }
    }

    /// Forgets sessions unused for `ttl` in the store, and lets sessions without a connection
    /// for `ttl` (at most an hour: the store keeps them) leave memory, where they stop counting
    /// against their address. Returns how many left memory.
    pub async fn expire(&self, ttl: std::time::Duration) -> usize {
        let now = tokio::time::Instant::now();
        let kept_here = ttl.min(std::time::Duration::from_secs(3600));
        let mut expired = Vec::new();
        {
            let mut table = self.lock();
            let Table { live, by_address } = &mut *table;
            live.retain(|token, e| {
                let keep = e
                    .detached_at
                    .is_none_or(|t| now.duration_since(t) < kept_here);
                if !keep {
                    expired.push(token.clone());
                    if let Some(addr) = &e.opened_from {
                        crate::counts::lower(by_address, addr);
                    }
                }
                keep
            });
        }
        self.new_per_address.retain_recent();
        let before = now_ms().saturating_sub(ttl.as_millis() as u64);
        if let Err(e) = self.store.expire(before).await {
            tracing::warn!("expiring stored sessions: {e}");
        }
        expired.len()
    }
}
