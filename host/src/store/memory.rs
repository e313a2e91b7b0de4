//! In-memory implementations of the storage ports: what a server without a database uses, and
//! what tests use. The log reports every entry durable as soon as it is appended, and forgets a
//! game when its room closes.

use super::{
    Durable, Entry, EventLog, GameHeader, GameLog, GameWriter, SessionStore, StoreError,
    StoredSession,
};
use crate::ids::{RoomId, Token};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// One game's log; its writer appends without going through the map of games.
type Shared = Arc<Mutex<GameLog>>;
type Games = Arc<Mutex<HashMap<RoomId, Shared>>>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Every open game's log, in memory.
#[derive(Default)]
pub struct MemoryLog {
    games: Games,
}

impl EventLog for MemoryLog {
    fn create(&self, header: GameHeader) -> Result<Box<dyn GameWriter>, StoreError> {
        let room = header.room.clone();
        let mut games = lock(&self.games);
        if games.contains_key(&room) {
            return Err(StoreError::Duplicate { room });
        }
        let game = Arc::new(Mutex::new(GameLog {
            header,
            entries: Vec::new(),
        }));
        games.insert(room.clone(), game.clone());
        Ok(Box::new(MemoryWriter {
            games: self.games.clone(),
            game,
            room,
            appended: 0,
            durable: Arc::default(),
        }))
    }

    fn read(&self, room: &RoomId) -> Option<GameLog> {
        let game = lock(&self.games).get(room).cloned()?;
        let log = lock(&game).clone();
        Some(log)
    }
}

struct MemoryWriter {
    games: Games,
    game: Shared,
    room: RoomId,
    appended: u64,
    durable: Arc<Durable>,
}

impl GameWriter for MemoryWriter {
    fn append(&mut self, entry: Entry) -> u64 {
        let mut game = lock(&self.game);
        if game.entries.capacity() == 0 {
            // Most rooms never start: one seat entry is all many of them log.
            game.entries.reserve_exact(1);
        }
        game.entries.push(entry);
        self.appended += 1;
        self.durable.advance(self.appended);
        self.appended
    }

    fn durable(&self) -> Arc<Durable> {
        self.durable.clone()
    }

    fn close(&mut self) {
        lock(&self.games).remove(&self.room);
    }
}

/// Sessions in memory.
#[derive(Default)]
pub struct MemorySessions {
    sessions: Mutex<HashMap<Token, StoredSession>>,
}

impl SessionStore for MemorySessions {
    fn insert(&self, session: StoredSession) {
        lock(&self.sessions).insert(session.token.clone(), session);
    }

    fn get(&self, token: &str) -> Option<StoredSession> {
        lock(&self.sessions).get(token).cloned()
    }

    fn remove(&self, token: &Token) {
        lock(&self.sessions).remove(token);
    }
}
