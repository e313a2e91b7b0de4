//! Ports to what outlives a room: the event log of every game and the session store, each a
//! trait with an in-memory implementation (used today; durable ones come beside them).
//!
//! Owns: the record types (a game's [`GameHeader`], its [`Entry`]s) and the traits. Must not
//! touch: wasm, sockets, rooms' internals. Everything here is data a room hands over.

mod memory;

pub use memory::{MemoryLog, MemorySessions};

use crate::ids::{PlayerId, RoomId, Token};
use futures_util::task::AtomicWaker;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::Poll;

/// Which module a game runs: name, version and the digest of the component's bytes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ModuleKey {
    /// Game name, e.g. `liap-tui`.
    pub name: String,
    /// Rules version, e.g. `1.0.0`.
    pub version: String,
    /// SHA-256 of the component, hex.
    pub digest: String,
}

/// What determined a game before its first entry, recorded once when its room opens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GameHeader {
    /// The room.
    pub room: RoomId,
    /// The module the room was created with.
    pub module: ModuleKey,
    /// The game's seed.
    pub seed: u64,
    /// Options as JSON text (as the module received them).
    pub options: String,
    /// Number of seats.
    pub seats: u32,
    /// Who created the room.
    pub creator: PlayerId,
    /// Unlisted.
    pub private: bool,
    /// Turn deadline for humans, ms.
    pub turn_deadline_ms: Option<u64>,
    /// Host time of creation, ms.
    pub created_at: u64,
}

/// One input to a game, in the order the room applied it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The game's sequence number after the input (seat changes leave it as it was).
    pub seq: u64,
    /// Host time, ms.
    pub at: u64,
    /// The input.
    pub input: Input,
}

/// What reached a game. A module swap will be one more kind, naming the new digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// The seats were full: the module's `start` ran.
    Start,
    /// A seat's action, exactly as the module received it.
    Act {
        /// The seat.
        seat: u32,
        /// The action's JSON text.
        action: Box<str>,
        /// The player's request id; `None` when the bot moved for the seat.
        request_id: Option<Arc<str>>,
    },
    /// The timer the module asked for fired.
    Timer,
    /// Who sits in a seat changed.
    Seat {
        /// The seat.
        seat: u32,
        /// Its new occupant.
        change: SeatChange,
    },
}

/// A seat's new occupant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SeatChange {
    /// A person took the seat.
    Human {
        /// Who.
        player: PlayerId,
        /// Their name.
        name: String,
    },
    /// A bot took the seat (before the start).
    Bot,
    /// The seat became free (before the start).
    Open,
    /// The person left a running game: the bot plays the seat from now on.
    Left,
}

/// A game read back from the log: its header and its entries, oldest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GameLog {
    /// The header.
    pub header: GameHeader,
    /// Every durable entry.
    pub entries: Vec<Entry>,
}

/// Why storage failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A game with this room id is already logged.
    #[error("room {room} already has a log")]
    Duplicate {
        /// The room.
        room: RoomId,
    },
}

/// The event log of every game.
///
/// Appends return at once: a room goes on applying inputs while its entries are written, and
/// holds each input's outputs until [`GameWriter::durable`] reaches the input's entry.
pub trait EventLog: Send + Sync + 'static {
    /// Records a new game's header and returns the writer for its entries.
    fn create(&self, header: GameHeader) -> Result<Box<dyn GameWriter>, StoreError>;
    /// A game's header and durable entries.
    fn read(&self, room: &RoomId) -> Option<GameLog>;
}

/// How far a game's log is durable: the writer advances it, the room reads it and waits for it
/// to move. One waiter (the room), so its waker is kept here rather than in the waiting future,
/// which every idle room would hold. (A watch channel would do, at several times the memory.)
#[derive(Debug, Default)]
pub struct Durable {
    upto: AtomicU64,
    moved: AtomicBool,
    waiter: AtomicWaker,
}

impl Durable {
    /// The position up to which entries are durable.
    pub fn get(&self) -> u64 {
        self.upto.load(Ordering::Acquire)
    }

    /// Entries up to `position` are durable (it never goes back).
    pub fn advance(&self, position: u64) {
        if self.upto.fetch_max(position, Ordering::AcqRel) < position {
            // Kept until the waiter looks, if it is not waiting yet.
            self.moved.store(true, Ordering::Release);
            self.waiter.wake();
        }
    }

    /// Resolves after the position has moved (possibly before this was called, and not since
    /// the last time this resolved). One caller at a time.
    pub async fn moved(&self) {
        std::future::poll_fn(|cx| {
            if self.moved.swap(false, Ordering::AcqRel) {
                return Poll::Ready(());
            }
            self.waiter.register(cx.waker());
            // A move between the look above and the registration woke nobody: look again.
            if self.moved.swap(false, Ordering::AcqRel) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await
    }
}

/// The writing end of one game's log, owned by its room.
pub trait GameWriter: Send + Sync + 'static {
    /// Queues an entry and returns its position (1 for the first). Never waits.
    fn append(&mut self, entry: Entry) -> u64;
    /// How far the entries are durable.
    fn durable(&self) -> Arc<Durable>;
    /// The room has closed; nothing more will be appended.
    fn close(&mut self);
}

/// A session as stored: what a token stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredSession {
    /// The secret.
    pub token: Token,
    /// The player.
    pub player: PlayerId,
    /// Display name.
    pub name: String,
}

/// Where sessions are kept.
pub trait SessionStore: Send + Sync + 'static {
    /// Keeps a new session.
    fn insert(&self, session: StoredSession);
    /// The session of `token`.
    fn get(&self, token: &str) -> Option<StoredSession>;
    /// Forgets a session.
    fn remove(&self, token: &Token);
}
