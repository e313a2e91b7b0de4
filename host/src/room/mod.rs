//! Rooms: one actor task per room is the single owner of its game — the game core (module,
//! state bytes, sequence number, status), seats and presence, spectators, deadlines and the
//! idempotency window — and applies its inputs one at a time in arrival order. Every input is a
//! [`RoomCmd`] through a bounded inbox or a deadline the room set itself, and every input that
//! changes the game is an entry in the event log ([`crate::store`]); nothing an input produced
//! reaches a client before that entry is durable.
//!
//! ```text
//!   RoomHandle ──RoomCmd──► RoomActor ─┬─► Game (pure: input → entry, updates, reply)
//!                                      ├─► Seats / Deadlines / RequestWindow (bookkeeping)
//!                                      └─► Release: append entry, hold outputs until durable,
//!                                          then push typed messages into Outboxes
//! ```
//!
//! Must not touch: sockets, axum or the wire format (rooms push typed [`Outgoing`] messages and
//! never wait for a connection), storage beyond the [`crate::store`] ports.

mod actor;
mod calls;
mod clock;
mod deadlines;
mod error;
mod game;
mod inbox;
mod lobby;
mod outbox;
mod quota;
pub mod registry;
mod release;
mod requests;
mod seats;
mod snapshot;
mod stats;

pub use clock::Clock;
pub use error::RoomError;
pub use lobby::LobbyFeed;
pub use outbox::{Ack, CloseReason, Outbox, Outgoing, Refusal, Shared};
pub use registry::{CreateRoom, Creator, Registry, RoomSpawner};

use crate::ids::{PlayerId, RoomId};
use crate::rules::Module;
use serde::Serialize;
use std::sync::Arc;
use tokio::sync::oneshot;

/// What kind of occupant a seat has.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SeatKind {
    /// Free.
    Open,
    /// A person.
    Human,
    /// The computer.
    Bot,
}

/// A seat as clients see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SeatInfo {
    /// Index.
    pub seat: u32,
    /// Occupant.
    pub kind: SeatKind,
    /// The human's player id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub player: Option<PlayerId>,
    /// The human's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<Arc<str>>,
    /// Whether the human is connected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connected: Option<bool>,
    /// Whether the bot is playing for the human now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bot_playing: Option<bool>,
}

/// A room's lifecycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoomStatus {
    /// Waiting for seats to fill.
    Waiting,
    /// Being played.
    Running,
    /// Stopped after repeated module failures.
    Paused,
    /// Over.
    Finished,
}

impl RoomStatus {
    /// Every status, for tests and documentation.
    pub const ALL: [RoomStatus; 4] = [
        RoomStatus::Waiting,
        RoomStatus::Running,
        RoomStatus::Paused,
        RoomStatus::Finished,
    ];

    /// The status as on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            RoomStatus::Waiting => "waiting",
            RoomStatus::Running => "running",
            RoomStatus::Paused => "paused",
            RoomStatus::Finished => "finished",
        }
    }
}

/// What anyone may know about a room (never the seed while it runs).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RoomInfo {
    /// Id.
    pub id: RoomId,
    /// Game name.
    pub game: Arc<str>,
    /// Rules version: the room is pinned to it.
    pub version: Arc<str>,
    /// The version the catalog gives new rooms of this game, when it is not this room's (the
    /// room goes on with its own until it is migrated).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active_version: Option<Arc<str>>,
    /// Lifecycle.
    pub status: RoomStatus,
    /// The game's phase (`waiting` before the start).
    pub phase: Arc<str>,
    /// Seats.
    pub seats: Vec<SeatInfo>,
    /// Number of spectators.
    pub spectators: usize,
    /// Unlisted.
    pub private: bool,
    /// Sequence number.
    pub seq: u64,
    /// Game options.
    pub options: serde_json::Value,
    /// The creator.
    pub creator: PlayerId,
    /// Why the room is paused.
    pub paused_reason: Option<String>,
    /// Turn deadline for humans, ms.
    pub turn_deadline_ms: Option<u64>,
    /// The seed, revealed once the game is finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

/// How the pause reason of a game whose log did not replay at recovery begins.
pub const CORRUPT: &str = "corrupt: ";

impl RoomInfo {
    /// Whether the game was paused at recovery because its log does not replay.
    pub fn corrupt(&self) -> bool {
        (self.paused_reason.as_deref()).is_some_and(|r| r.starts_with(CORRUPT))
    }
}

/// A game update for one or more recipients: the state after step `seq`, the recipient's view
/// and the events addressed to it (JSON texts from the module).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Update {
    /// The room.
    pub room: RoomId,
    /// Sequence number after the step.
    pub seq: u64,
    /// Phase after the step.
    pub phase: Arc<str>,
    /// The room's status after the step.
    pub status: RoomStatus,
    /// Seats awaited.
    pub awaiting: Arc<[u32]>,
    /// The recipient's view; `None` for the missed steps replayed on resume.
    pub view: Option<Arc<str>>,
    /// Events for the recipient.
    pub events: Vec<Arc<str>>,
    /// The game's result once finished.
    pub result: Option<Arc<str>>,
    /// True when the update replaces everything the client knew.
    pub resync: bool,
    /// When the game moves on by itself (host ms since the epoch): the module's timer, or a
    /// person's turn running out (the bot then plays for them).
    pub deadline_at: Option<u64>,
}

/// The reply to a request that put a connection into a room (create, join, watch, resume). The
/// room pushes it into the connection's queue itself, so that it arrives before the updates that
/// follow it.
#[derive(Debug)]
pub struct Joined {
    /// The request it answers.
    pub request_id: Option<Arc<str>>,
    /// The room now.
    pub info: RoomInfo,
    /// The seat (None for spectators).
    pub seat: Option<u32>,
}

/// Where the answers to a request that puts a connection into a room go: the [`Joined`] reply,
/// then the updates, into the connection's queue, in that order; success or the refusal to the
/// requester (who sends a refusal on, and records a success in the session).
#[derive(Debug)]
pub struct Entering {
    /// The connection entering.
    pub outbox: Outbox,
    /// The request's id, echoed by the reply.
    pub request_id: Option<Arc<str>>,
    /// Done, or why not.
    pub reply: Reply<()>,
}

/// The module a room's snapshot says its game runs under (`None` when the snapshot does not
/// say, or does not decode): recovery needs it loaded before the room is rebuilt.
pub fn snapshot_module(data: &[u8]) -> Option<crate::store::ModuleKey> {
    snapshot::RoomSnapshot::decode(data).ok()?.module
}

/// A reply channel.
pub type Reply<T> = oneshot::Sender<Result<T, RoomError>>;

/// Everything a room can be asked. Each is one input applied in arrival order. Commands travel
/// boxed, so that an inbox's slots are one pointer each (an idle room's inbox is part of what it
/// costs).
#[derive(Debug)]
pub enum RoomCmd {
    /// Take a seat (`seat: None` = first free) or come back to one's seat.
    Join(JoinCmd),
    /// Watch as a spectator (a seated player's watch comes back to their seat).
    Watch {
        /// Who.
        player: PlayerId,
        /// Their connection and the answer.
        to: Entering,
    },
    /// Leave a seat (a bot takes it over if the game runs) or stop watching.
    Leave {
        /// Who.
        player: PlayerId,
        /// Answer.
        reply: Reply<()>,
    },
    /// Seat a bot (`add`) or remove one (creator, before the start).
    Bot {
        /// Who asks.
        player: PlayerId,
        /// Which seat (`None`: the first free, when adding).
        seat: Option<u32>,
        /// Add or remove.
        add: bool,
        /// Answer.
        reply: Reply<RoomInfo>,
    },
    /// Play an action; the reply (`ack` or refusal) goes to the requesting connection.
    Act(ActCmd),
    /// Re-attach after a reconnect and receive what was missed.
    Resume {
        /// Who.
        player: PlayerId,
        /// Last sequence number seen.
        last_seq: u64,
        /// The new connection and the answer.
        to: Entering,
    },
    /// The server is shutting down: the room releases what is durable and stops.
    Shutdown,
    /// An operator archives finished games now: a room whose game has finished (and whose
    /// last outputs are released) closes at once, its members told; answers whether it did.
    Archive(Reply<bool>),
    /// The catalog changed which version of this room's game new rooms get: `None` when it is
    /// the room's own version again. The room reports it in its info and keeps its version.
    ActiveVersion(Option<Arc<str>>),
    /// Move the game to another version of its rules, between two inputs (see
    /// [`SwapOutcome`]).
    Swap(SwapCmd),
    /// Take the game back to the version before its last swap (`module`), when that version
    /// can continue it.
    Rollback(SwapCmd),
    /// An operator pauses, resumes or looks into the room.
    Operator(OperatorCmd),
    /// A player's connection went away.
    Disconnected {
        /// Who.
        player: PlayerId,
        /// Which connection (ignored if the player has since reconnected on another).
        conn: u64,
    },
}

/// [`RoomCmd::Swap`].
#[derive(Debug)]
pub struct SwapCmd {
    /// The version to move to.
    pub module: Module,
    /// The game's active version now (what the room reports beside its own).
    pub active: Option<Arc<str>>,
    /// How it went; sent once the swap's entry is durable.
    pub reply: oneshot::Sender<SwapOutcome>,
}

/// [`RoomCmd::Operator`].
#[derive(Debug)]
pub enum OperatorCmd {
    /// Stop the game (no moves, timers or bots) with `reason`, until resumed.
    Pause {
        /// Why; shown in the room's info.
        reason: String,
        /// The room's info after it.
        reply: Reply<RoomInfo>,
    },
    /// Let a paused game go on (a game paused as corrupt stays).
    Resume(Reply<RoomInfo>),
    /// What the room holds: its state bytes and every viewer's view.
    Inspect(Reply<RoomState>),
}

/// What an operator sees inside a room.
#[derive(Clone, Debug, Serialize)]
pub struct RoomState {
    /// The room's info.
    pub info: RoomInfo,
    /// The module's content digest.
    pub digest: String,
    /// The state bytes, hex.
    pub state: String,
    /// The hash recorded with entries ([`crate::store::state_hash`]), 16 hex digits.
    pub state_hash: String,
    /// Each seat's view and the spectators' (`"spectator"`), as the module renders them now.
    pub views: serde_json::Map<String, serde_json::Value>,
}

/// How a swap went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SwapOutcome {
    /// The game runs under the new version from `seq` on (its members were sent the new
    /// version and fresh views).
    Swapped {
        /// The game's sequence number after the swap.
        seq: u64,
    },
    /// The room was on that version already.
    Unchanged,
    /// The room stays on its version.
    Pinned {
        /// Why.
        reason: String,
    },
}

/// [`RoomCmd::Join`].
#[derive(Debug)]
pub struct JoinCmd {
    /// Who.
    pub player: PlayerId,
    /// Their name.
    pub name: String,
    /// Which seat.
    pub seat: Option<u32>,
    /// Their connection and the answer.
    pub to: Entering,
}

/// [`RoomCmd::Act`].
#[derive(Debug)]
pub struct ActCmd {
    /// Who.
    pub player: PlayerId,
    /// Idempotency key (shared with the ack, the log entry and the request window).
    pub request_id: Arc<str>,
    /// The action's JSON text, as the client wrote it.
    pub action: Box<str>,
    /// Refuse unless the room is at this sequence number.
    pub expected_seq: Option<u64>,
    /// The requesting connection, which receives the reply.
    pub outbox: Outbox,
}

/// The way to a room: its inbox and its published summary.
#[derive(Clone, Debug)]
pub struct RoomHandle {
    id: RoomId,
    tx: inbox::Inbox,
    info: Published,
}

/// A room's latest info, written by its actor and read by anyone with its handle. (A watch
/// channel would do, at several times the memory per room; nobody waits for changes.)
pub(crate) type Published = Arc<std::sync::RwLock<RoomInfo>>;

impl RoomHandle {
    /// The room's id.
    pub fn id(&self) -> &RoomId {
        &self.id
    }

    /// The room's latest published info.
    pub fn info(&self) -> RoomInfo {
        self.with_info(RoomInfo::clone)
    }

    /// Reads the room's latest published info without copying it.
    pub fn with_info<T>(&self, read: impl FnOnce(&RoomInfo) -> T) -> T {
        read(&self.info.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Sends a command without waiting: a full inbox is [`RoomError::Busy`], a closed room
    /// [`RoomError::Closed`].
    pub fn send(&self, cmd: RoomCmd) -> Result<(), RoomError> {
        self.tx.try_send(Box::new(cmd)).map_err(|e| match e {
            inbox::SendError::Full(_) => RoomError::Busy,
            inbox::SendError::Closed(_) => RoomError::Closed,
        })
    }

    /// Sends a command that must not be lost (a disconnect), waiting for inbox space.
    pub async fn send_reliably(&self, cmd: RoomCmd) {
        let _ = self.tx.send(Box::new(cmd)).await;
    }

    /// Sends `make(reply)` and waits for the answer.
    pub async fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> RoomCmd) -> Result<T, RoomError> {
        let (tx, rx) = oneshot::channel();
        self.send(make(tx))?;
        rx.await.unwrap_or(Err(RoomError::Closed))
    }
}

#[cfg(test)]
mod tests;
