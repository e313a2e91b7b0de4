//! The event log on SQL: [`EventLog`] and each room's [`GameWriter`].
//!
//! Owns: the set of games open in this process (to refuse a second log for a room), each
//! writer's next position. Must not touch: the database directly — writes are queued for the
//! writer task, reads go through [`super::read`].
//!
//! A writer's `append` encodes the entry (on the room's task, so the cost is spread over the
//! rooms rather than piled on the one writer task), queues it and returns its position: it
//! never waits on the database. The room learns when it is durable from its [`Durable`].

use super::queue::{EndItem, EntryItem, Game, HeaderItem, Inlet, Item, SnapshotItem};
use super::{Db, now_ms, read};
use crate::ids::RoomId;
use crate::store::{
    BoxFuture, Durable, Ending, Entry, EventLog, GameHeader, GameLog, GameWriter, StoreError,
};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

/// Rooms with a writer in this process.
type Open = Arc<Mutex<HashSet<RoomId>>>;

fn lock(open: &Open) -> std::sync::MutexGuard<'_, HashSet<RoomId>> {
    open.lock().unwrap_or_else(|p| p.into_inner())
}

/// The event log of every game, in the database.
pub(super) struct SqlLog {
    inlet: Arc<Inlet>,
    reads: Db,
    open: Open,
}

impl SqlLog {
    pub fn new(inlet: Arc<Inlet>, reads: Db) -> SqlLog {
        SqlLog {
            inlet,
            reads,
            open: Open::default(),
        }
    }

    fn writer(&self, room: RoomId, appended: u64) -> (Arc<Game>, Box<dyn GameWriter>) {
        let game = Arc::new(Game::new(room, appended));
        let writer = SqlGameWriter {
            inlet: self.inlet.clone(),
            game: game.clone(),
            appended,
            open: self.open.clone(),
            ended: false,
        };
        (game, Box::new(writer))
    }
}

impl EventLog for SqlLog {
    fn create(&self, header: GameHeader) -> Result<Box<dyn GameWriter>, StoreError> {
        let room = header.room.clone();
        if !lock(&self.open).insert(room.clone()) {
            return Err(StoreError::Duplicate { room });
        }
        let (game, writer) = self.writer(room, 0);
        // Queued before anything the writer can queue: the header is written no later than the
        // game's first entries (in the same transaction or an earlier one).
        self.inlet
            .push(Item::Header(Box::new(HeaderItem { game, header })));
        Ok(writer)
    }

    fn reopen(&self, header: &GameHeader, appended: u64) -> Box<dyn GameWriter> {
        lock(&self.open).insert(header.room.clone());
        self.writer(header.room.clone(), appended).1
    }

    fn unfinished(&self) -> BoxFuture<'_, Result<Vec<GameLog>, StoreError>> {
        Box::pin(read::unfinished(&self.reads))
    }

    fn read(&self, room: &RoomId) -> BoxFuture<'_, Result<Option<GameLog>, StoreError>> {
        let room = room.clone();
        Box::pin(async move { read::game(&self.reads, &room).await })
    }

    fn taken(&self, room: &RoomId) -> BoxFuture<'_, Result<bool, StoreError>> {
        let room = room.clone();
        Box::pin(async move {
            if lock(&self.open).contains(&room) {
                return Ok(true);
            }
            let sql = "SELECT COUNT(*) FROM games WHERE room = $1";
            let n: i64 = each_db!(&self.reads, Db, pool => {
                sqlx::query_scalar(sql).bind(room.as_str()).fetch_one(pool).await
            })
            .map_err(super::db_error)?;
            Ok(n > 0)
        })
    }

    fn accepting(&self) -> bool {
        self.inlet.accepting()
    }

    fn drained(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            // Polled: the commit notification has one waiter already (SQLite's checkpointer),
            // and a shutdown can spare a few milliseconds. The journal is moved into its chunks
            // too, so that a stopped server leaves it empty.
            while (self.inlet.depth() > 0 || self.inlet.journal() > 0) && !self.inlet.is_closed() {
                if self.inlet.depth() == 0 {
                    self.inlet.ask_fold();
                }
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        })
    }
}

/// One room's writer.
struct SqlGameWriter {
    inlet: Arc<Inlet>,
    game: Arc<Game>,
    /// The position of the last entry appended.
    appended: u64,
    open: Open,
    ended: bool,
}

impl GameWriter for SqlGameWriter {
    fn append(&mut self, entry: Entry) -> u64 {
        if self.ended {
            tracing::error!(room_id = %self.game.room, "an entry appended after the game ended");
            return self.appended;
        }
        let data = match postcard::to_allocvec(&entry) {
            Ok(data) => data,
            Err(e) => {
                // Not expected for these types; if it happens the game cannot be logged, and
                // its room must not go on as though it were.
                tracing::error!(room_id = %self.game.room, "cannot encode an entry: {e}");
                self.game.set_broken();
                return self.appended;
            }
        };
        self.appended += 1;
        self.inlet.push(Item::Entry(EntryItem {
            game: self.game.clone(),
            pos: self.appended,
            data,
        }));
        self.appended
    }

    fn snapshot(&mut self, seq: u64, data: Vec<u8>) {
        if self.ended {
            return;
        }
        self.inlet.push(Item::Snapshot(SnapshotItem {
            game: self.game.clone(),
            pos: self.appended,
            seq,
            data,
        }));
    }

    fn durable(&self) -> Arc<Durable> {
        self.game.durable.clone()
    }

    fn accepting(&self) -> bool {
        self.inlet.accepting() && !self.game.is_broken()
    }

    fn end(&mut self, ending: Ending) {
        if std::mem::replace(&mut self.ended, true) {
            return;
        }
        // A finished game ended at its last step; an abandoned one now.
        let at = match &ending {
            Ending::Finished(f) => f.ended_at,
            Ending::Abandoned => now_ms(),
        };
        self.inlet.push(Item::End(EndItem {
            game: self.game.clone(),
            ending,
            at,
        }));
        lock(&self.open).remove(&self.game.room);
    }
}

impl Drop for SqlGameWriter {
    fn drop(&mut self) {
        if !self.ended {
            lock(&self.open).remove(&self.game.room);
        }
    }
}
