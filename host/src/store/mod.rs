//! Ports to what outlives a room: the event log of every game, the session store and the module
//! store, each a trait with an in-memory implementation (tests, throwaway servers) and a SQL one
//! (SQLite by default, PostgreSQL) beside it, all chosen by one URL ([`Storage::open`]).
//!
//! Owns: the record types (a game's [`GameHeader`], its [`Entry`]s, [`Snapshot`]s) and the
//! traits. Must not touch: wasm, sockets, rooms' internals. Everything here is data a room hands
//! over; a snapshot's contents are the room's business, opaque bytes here.

pub mod archive;
mod memory;
mod sql;

pub use archive::{Archive, Retention};
pub use memory::{MemoryArchive, MemoryLog, MemoryModules, MemorySessions};
pub use sql::SqliteClaim;

use crate::ids::{PlayerId, RoomId, Token};
use futures_util::task::AtomicWaker;
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::Poll;

/// Host time, ms since the Unix epoch: what stored times are in.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A boxed future, for the ports' async methods (traits used as objects).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Which module a game runs: name, version and the digest of the component's bytes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The game's sequence number after the input (seat changes leave it as it was).
    pub seq: u64,
    /// Host time, ms.
    pub at: u64,
    /// The input.
    pub input: Input,
    /// A hash of the game's state bytes after the input ([`state_hash`]); `None` for inputs that
    /// leave the state as it was (seat changes). Recovery compares it with its own.
    pub state_hash: Option<u64>,
}

/// The hash recorded with each entry: the first 8 bytes of the SHA-256 of the state bytes. It
/// must not change between builds (a recorded game is checked with it after an upgrade).
pub fn state_hash(state: &[u8]) -> u64 {
    use sha2::Digest;
    let d = sha2::Sha256::digest(state);
    let mut first = [0u8; 8];
    first.copy_from_slice(&d[..8]);
    u64::from_le_bytes(first)
}

/// What reached a game.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
    /// The game moved to another version of its rules: `to`'s `migrate` took over the state
    /// the module with digest `from` left (before the start: nothing to migrate, `state_hash`
    /// is `None`). Every later entry is played under `to`. (Last, so that entries encoded
    /// before it existed decode as they were.)
    Swap {
        /// The digest of the module the game ran under until now.
        from: String,
        /// The module it runs under from now on.
        to: ModuleKey,
    },
    /// The game went back to `to`, the version before its last swap: the state as it stood
    /// before that swap, with every action and timer since applied again under `to`.
    Rollback {
        /// The digest of the module the game ran under until now.
        from: String,
        /// The module it runs under from now on.
        to: ModuleKey,
    },
}

/// A seat's new occupant (in records: `{"human":{"player":..,"name":..}}`, `"bot"`, `"open"`,
/// `"left"`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
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

/// What a room saved so that it can be rebuilt without replaying its whole log: opaque bytes,
/// taken after the entry at `pos`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// The log position it follows (entries after it are replayed on top).
    pub pos: u64,
    /// The game's sequence number then.
    pub seq: u64,
    /// The room's encoding of itself.
    pub data: Vec<u8>,
}

/// A game read back from the log: its header, its latest snapshot (if any) and the entries after
/// it, oldest first, each with its position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GameLog {
    /// The header.
    pub header: GameHeader,
    /// The latest snapshot, when one was taken.
    pub snapshot: Option<Snapshot>,
    /// The durable entries after the snapshot (all of them without one), with their positions.
    pub entries: Vec<(u64, Entry)>,
    /// Why part of its log could not be read back, if so: `entries` then stop before the first
    /// entry that could not, and recovery pauses the game as corrupt there rather than play on
    /// without the rest. (Only this game: the others are read as usual.)
    pub damaged: Option<String>,
}

/// How a game left the server for good (it is not rebuilt after a restart).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ending {
    /// The game finished.
    Finished(Box<Finished>),
    /// The room closed before the game finished (abandoned).
    Abandoned,
}

/// A finished game, as its room saw it at the end: what archives and statistics are made of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finished {
    /// The module's result (JSON text; see the SDK's `Outcome` for the form statistics read).
    pub result: String,
    /// Who held each seat at the end, in seat order.
    pub seats: Vec<SeatHolder>,
    /// Host time of the start, ms.
    pub started_at: u64,
    /// Host time of the last step, ms.
    pub ended_at: u64,
    /// The game's sequence number at the end (steps from the start, the start included).
    pub steps: u64,
}

/// Who held a seat when a game finished.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SeatHolder {
    /// A person (who may have left, the bot finishing for them).
    Human {
        /// Who.
        player: PlayerId,
        /// Their name.
        name: String,
        /// They left the game before its end.
        left: bool,
    },
    /// A bot, from the start.
    Bot,
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
    /// The database URL is not one of `sqlite://PATH`, `postgres://...`, `memory:`.
    #[error("database.url {url:?}: {reason}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The database refused or failed an operation.
    #[error("database: {0}")]
    Database(String),
    /// A stored record does not decode.
    #[error("stored {what} does not decode: {reason}")]
    Corrupt {
        /// Which record.
        what: String,
        /// Why.
        reason: String,
    },
}

/// The event log of every game.
///
/// Appends return at once: a room goes on applying inputs while its entries are written, and
/// holds each input's outputs until [`GameWriter::durable`] reaches the input's entry.
pub trait EventLog: Send + Sync + 'static {
    /// Records a new game's header and returns the writer for its entries.
    fn create(&self, header: GameHeader) -> Result<Box<dyn GameWriter>, StoreError>;
    /// The writer of a game read back by [`EventLog::unfinished`], whose entries up to
    /// `appended` are durable: its next entry is `appended + 1`.
    fn reopen(&self, header: &GameHeader, appended: u64) -> Box<dyn GameWriter>;
    /// Every game that has not ended ([`GameWriter::end`]): what recovery rebuilds.
    fn unfinished(&self) -> BoxFuture<'_, Result<Vec<GameLog>, StoreError>>;
    /// One game whole: every entry from the first, with no snapshot (inspection, repair).
    fn read(&self, room: &RoomId) -> BoxFuture<'_, Result<Option<GameLog>, StoreError>>;
    /// Whether a game was ever logged under `room` (ended games included): a new room's id must
    /// not repeat an old one's, whose log and archive it would collide with.
    fn taken(&self, room: &RoomId) -> BoxFuture<'_, Result<bool, StoreError>> {
        let _ = room;
        Box::pin(std::future::ready(Ok(false)))
    }
    /// Whether rooms may take new inputs: false while the backlog of entries not yet durable is
    /// at its bound (the database is slow or down).
    fn accepting(&self) -> bool;
    /// Resolves once every entry queued so far is durable (at shutdown, after the rooms have
    /// stopped). Waits as long as the database does: give it a time limit.
    fn drained(&self) -> BoxFuture<'_, ()> {
        Box::pin(std::future::ready(()))
    }
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
    /// Queues a snapshot taken after the last appended entry. Never waits.
    fn snapshot(&mut self, seq: u64, data: Vec<u8>);
    /// How far the entries are durable.
    fn durable(&self) -> Arc<Durable>;
    /// Whether the room may take new inputs (see [`EventLog::accepting`]).
    fn accepting(&self) -> bool;
    /// The game left the server for good: it will not be rebuilt after a restart, and nothing
    /// more will be appended. Only the first call counts (a room whose game finished still
    /// ends as abandoned when it closes).
    fn end(&mut self, ending: Ending);
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

/// Where sessions are kept. Durable stores keep a hash of the token, never the token.
pub trait SessionStore: Send + Sync + 'static {
    /// Keeps a new session; resolves once it is durable (its token may then be handed out).
    fn insert(&self, session: StoredSession, now_ms: u64) -> BoxFuture<'_, Result<(), StoreError>>;
    /// The session of `token`.
    fn get<'a>(
        &'a self,
        token: &'a str,
    ) -> BoxFuture<'a, Result<Option<StoredSession>, StoreError>>;
    /// The session was used at `now_ms` (written behind; its lifetime counts from there).
    fn touch(&self, token: &Token, now_ms: u64);
    /// Forgets sessions unused since before `before_ms`; resolves to how many.
    fn expire(&self, before_ms: u64) -> BoxFuture<'_, Result<u64, StoreError>>;
}

/// Where module bytes are kept, by digest: a game is rebuilt under the module that played it,
/// even after the binary's bundled modules have changed.
pub trait ModuleStore: Send + Sync + 'static {
    /// Keeps a module's bytes (nothing happens if its digest is kept already).
    fn keep<'a>(
        &'a self,
        key: &'a ModuleKey,
        bytes: &'a [u8],
    ) -> BoxFuture<'a, Result<(), StoreError>>;
    /// The bytes of the module with `digest`.
    fn load<'a>(&'a self, digest: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>>;
    /// Every module kept, oldest first (the versions this server accepted).
    fn kept(&self) -> BoxFuture<'_, Result<Vec<ModuleKey>, StoreError>>;
    /// Each game's active version as an operator last set it: (game, version).
    fn active_versions(&self) -> BoxFuture<'_, Result<Vec<(String, String)>, StoreError>>;
    /// Records `version` as `game`'s active version (written at once, not through the
    /// group-commit writer: an activation is rare and its operator waits for it).
    fn set_active<'a>(
        &'a self,
        game: &'a str,
        version: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
}

/// The storage ports of one server.
#[derive(Clone)]
pub struct Storage {
    /// Games' event logs.
    pub log: Arc<dyn EventLog>,
    /// Sessions.
    pub sessions: Arc<dyn SessionStore>,
    /// Module bytes.
    pub modules: Arc<dyn ModuleStore>,
    /// Ended games' summaries and statistics.
    pub archive: Arc<dyn Archive>,
}

impl Storage {
    /// The storage at `url`: `memory:` (nothing survives the process), `sqlite://PATH` (the
    /// file and its directories are created) or `postgres://USER@HOST/DB`. A database's schema
    /// is brought up to date and its writer task started (so this must run within a tokio
    /// runtime). Anything else is [`StoreError::BadUrl`].
    pub async fn open(
        url: &str,
        cfg: &crate::config::DatabaseConfig,
        metrics: &crate::metrics::Metrics,
    ) -> Result<Storage, StoreError> {
        if url == "memory:" {
            return Ok(Storage::memory());
        }
        sql::open(url, cfg, metrics).await
    }

    /// Claims the database at `url` for this server, when it is an SQLite file (see
    /// [`SqliteClaim`]): kept for as long as the server runs; `None` for other URLs.
    pub fn claim(url: &str) -> Result<Option<SqliteClaim>, StoreError> {
        sql::claim(url)
    }

    /// Everything in memory: nothing survives the process.
    pub fn memory() -> Storage {
        let log = MemoryLog::default();
        Storage {
            archive: Arc::new(log.archive()),
            log: Arc::new(log),
            sessions: Arc::new(MemorySessions::default()),
            modules: Arc::new(MemoryModules::default()),
        }
    }
}
