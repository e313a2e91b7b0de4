//! Rooms: one actor task per room owns its game — state bytes, module version, seats,
//! sessions' outboxes, spectators, timers, sequence number — and applies its inputs one at a time
//! in arrival order. Everything reaches a room as a [`RoomCmd`] through its bounded inbox, so
//! every input is an explicit message that a future event log can record and replay.
//!
//! Must not touch: sockets or axum (rooms push finished frames into connections' [`Outbox`]es
//! and never wait for them), storage.

mod actor;
mod clock;
mod registry;
mod seats;

pub use clock::Clock;
pub use registry::{CreateRoom, Registry};

use crate::api::protocol::{ApiError, ErrorCode};
use crate::ids::{PlayerId, RoomId};
use bytes::Bytes;
use serde::Serialize;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

/// A frame on its way to one connection.
#[derive(Clone, Debug)]
pub enum Outgoing {
    /// A text frame (UTF-8 JSON), shared between recipients of the same payload.
    Text(Bytes),
}

/// The sending side of a connection's bounded outbound queue. Rooms push with `try_send`: a
/// connection whose queue is full is closed as too slow, and the room never waits for it.
/// Cloning is one reference count (every action carries its connection's outbox).
#[derive(Clone, Debug)]
pub struct Outbox(Arc<OutboxInner>);

#[derive(Debug)]
struct OutboxInner {
    conn: u64,
    tx: mpsc::Sender<Outgoing>,
    close: CancellationToken,
    close_code: Arc<AtomicU16>,
}

/// Close code for a client too slow to keep up.
pub const CLOSE_SLOW: u16 = 4009;

impl Outbox {
    /// An outbox for connection `conn`; `close` is cancelled to make the connection close with
    /// the code left in `close_code`.
    pub fn new(
        conn: u64,
        tx: mpsc::Sender<Outgoing>,
        close: CancellationToken,
        close_code: Arc<AtomicU16>,
    ) -> Self {
        Outbox(Arc::new(OutboxInner {
            conn,
            tx,
            close,
            close_code,
        }))
    }

    /// The connection's id.
    pub fn conn(&self) -> u64 {
        self.0.conn
    }

    /// Queues a frame; false when the connection is gone or was just closed as too slow.
    pub fn push(&self, frame: Bytes) -> bool {
        match self.0.tx.try_send(Outgoing::Text(frame)) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.close_with(CLOSE_SLOW);
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    /// Asks the connection to close with `code` (the first code asked for wins).
    pub fn close_with(&self, code: u16) {
        let _ = self
            .0
            .close_code
            .compare_exchange(0, code, Ordering::AcqRel, Ordering::Acquire);
        self.0.close.cancel();
    }
}

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
    pub name: Option<String>,
    /// Whether the human is connected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connected: Option<bool>,
    /// Whether the bot is playing for the human now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bot_playing: Option<bool>,
}

/// A room's lifecycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
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
    pub game: String,
    /// Rules version.
    pub version: String,
    /// Lifecycle.
    pub status: RoomStatus,
    /// The game's phase (`waiting` before the start).
    pub phase: String,
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

/// A seat taken or a room watched.
#[derive(Clone, Debug)]
pub struct Joined {
    /// The room now.
    pub info: RoomInfo,
    /// The seat (None for spectators).
    pub seat: Option<u32>,
}

/// A reply channel.
pub type Reply<T> = oneshot::Sender<Result<T, ApiError>>;

/// Everything a room can be asked. Each is one input applied in arrival order.
#[derive(Debug)]
pub enum RoomCmd {
    /// Take a seat (`seat: None` = first free) or come back to one's seat.
    Join {
        /// Who.
        player: PlayerId,
        /// Their name.
        name: String,
        /// Which seat.
        seat: Option<u32>,
        /// Their connection.
        outbox: Outbox,
        /// Answer.
        reply: Reply<Joined>,
    },
    /// Watch as a spectator.
    Watch {
        /// Who.
        player: PlayerId,
        /// Their connection.
        outbox: Outbox,
        /// Answer.
        reply: Reply<Joined>,
    },
    /// Leave a seat (a bot takes it over if the game runs) or stop watching.
    Leave {
        /// Who.
        player: PlayerId,
        /// Answer.
        reply: Reply<()>,
    },
    /// Seat a bot (creator, before the start).
    AddBot {
        /// Who asks.
        player: PlayerId,
        /// Which seat.
        seat: Option<u32>,
        /// Answer.
        reply: Reply<RoomInfo>,
    },
    /// Remove a bot (creator, before the start).
    RemoveBot {
        /// Who asks.
        player: PlayerId,
        /// Which seat.
        seat: u32,
        /// Answer.
        reply: Reply<RoomInfo>,
    },
    /// Play an action.
    Act {
        /// Who.
        player: PlayerId,
        /// Idempotency key.
        request_id: String,
        /// The action JSON.
        action: String,
        /// Optional expected sequence number.
        expected_seq: Option<u64>,
        /// The requesting connection, which receives the reply: `ack` or `error`.
        outbox: Outbox,
    },
    /// Re-attach after a reconnect and receive what was missed.
    Resume {
        /// Who.
        player: PlayerId,
        /// Last sequence number seen.
        last_seq: u64,
        /// The new connection.
        outbox: Outbox,
        /// Answer.
        reply: Reply<Joined>,
    },
    /// A player's connection went away.
    Disconnected {
        /// Who.
        player: PlayerId,
        /// Which connection (ignored if the player has since reconnected on another).
        conn: u64,
    },
}

/// The way to a room: its inbox and its published summary.
#[derive(Clone, Debug)]
pub struct RoomHandle {
    id: RoomId,
    tx: mpsc::Sender<RoomCmd>,
    info: watch::Receiver<RoomInfo>,
}

impl RoomHandle {
    /// The room's id.
    pub fn id(&self) -> &RoomId {
        &self.id
    }

    /// The room's latest published info.
    pub fn info(&self) -> RoomInfo {
        self.info.borrow().clone()
    }

    /// Sends a command without waiting: a full inbox is `busy`, a closed room `unknown_room`.
    pub fn send(&self, cmd: RoomCmd) -> Result<(), ApiError> {
        self.tx.try_send(cmd).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => {
                ApiError::new(ErrorCode::Busy, "the room is busy; try again")
            }
            mpsc::error::TrySendError::Closed(_) => {
                ApiError::new(ErrorCode::UnknownRoom, "the room has closed")
            }
        })
    }

    /// Sends a command that must not be lost (a disconnect), waiting for inbox space.
    pub async fn send_reliably(&self, cmd: RoomCmd) {
        let _ = self.tx.send(cmd).await;
    }

    /// Sends `make(reply)` and waits for the answer.
    pub async fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> RoomCmd) -> Result<T, ApiError> {
        let (tx, rx) = oneshot::channel();
        self.send(make(tx))?;
        rx.await
            .unwrap_or_else(|_| Err(ApiError::new(ErrorCode::UnknownRoom, "the room has closed")))
    }
}
