//! The way from rooms and sessions to one connection: a bounded queue of typed messages and a
//! close request with its reason.
//!
//! Owns: [`Outbox`], [`Outgoing`], [`CloseReason`], [`Shared`]. Must not touch: sockets or the
//! wire encoding. The connection edge turns each [`Outgoing`] into a frame; a payload shared by
//! several recipients ([`Shared`]) is encoded once, by the first writer that needs its bytes.

use super::{Joined, RoomError, RoomId, RoomInfo, Update};
use bytes::Bytes;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

/// Why a connection is closed. The edge maps each reason to its close code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum CloseReason {
    /// The server is shutting down.
    Shutdown = 1,
    /// No sign of life from the client for too long.
    Idle,
    /// Another connection presented the same token.
    Replaced,
    /// A frame larger than the transport accepts.
    TooBig,
    /// Too many messages, too long.
    Flood,
    /// The client did not read its updates fast enough, or a write to it did not complete.
    TooSlow,
    /// No `hello` within the time allowed after the WebSocket opened.
    NoHello,
    /// A text frame that is not UTF-8.
    BadUtf8,
    /// A frame that breaks the WebSocket protocol (unmasked, reserved opcode or bits).
    Protocol,
}

impl CloseReason {
    /// Every reason, for tests and documentation.
    pub const ALL: [CloseReason; 9] = [
        CloseReason::Shutdown,
        CloseReason::Idle,
        CloseReason::Replaced,
        CloseReason::TooBig,
        CloseReason::Flood,
        CloseReason::TooSlow,
        CloseReason::NoHello,
        CloseReason::BadUtf8,
        CloseReason::Protocol,
    ];

    fn from_u8(n: u8) -> Option<CloseReason> {
        Self::ALL.into_iter().find(|r| *r as u8 == n)
    }
}

/// A payload sent to several connections, with the bytes of its encoding once some writer has
/// made them (so each distinct payload is serialised once, whoever receives it).
#[derive(Debug)]
pub struct Shared<T> {
    value: T,
    encoded: OnceLock<Bytes>,
}

impl<T> Shared<T> {
    /// Wraps a payload.
    pub fn new(value: T) -> Arc<Self> {
        Arc::new(Shared {
            value,
            encoded: OnceLock::new(),
        })
    }

    /// The payload.
    pub fn get(&self) -> &T {
        &self.value
    }

    /// Its encoding, made by `encode` the first time it is asked for.
    pub fn encoded(&self, encode: impl FnOnce(&T) -> Bytes) -> Bytes {
        self.encoded.get_or_init(|| encode(&self.value)).clone()
    }
}

/// A message on its way to one connection. Kept to 24 bytes: a connection's queue allocates
/// its first 32 slots up front, so this size is part of what every idle connection costs.
#[derive(Debug)]
pub enum Outgoing {
    /// A frame the edge encoded itself (its replies to requests).
    Frame(Box<[u8]>),
    /// A game update.
    Update(Arc<Shared<Update>>),
    /// An accepted action.
    Ack(Box<Ack>),
    /// A refused action (boxed: most messages are updates and acks).
    Refused(Box<Refusal>),
    /// The reply to a request that put this connection into a room.
    Joined(Box<Joined>),
    /// The room's seats or status changed.
    Room(Arc<Shared<RoomInfo>>),
    /// The room has closed.
    RoomClosed(RoomId),
}

/// An accepted action: the room is now at `seq`.
#[derive(Debug)]
pub struct Ack {
    /// The action's request id.
    pub request_id: Arc<str>,
    /// The room.
    pub room: RoomId,
    /// The room's sequence number after the action.
    pub seq: u64,
}

/// An action the room refused, and why.
#[derive(Debug)]
pub struct Refusal {
    /// The action's request id.
    pub request_id: Arc<str>,
    /// Why.
    pub error: RoomError,
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
    capacity: usize,
    close: CancellationToken,
    reason: AtomicU8,
    /// Bytes of the connection's own replies ([`Outgoing::Frame`]) queued and not yet taken.
    reply_bytes: AtomicUsize,
    /// Whether the connection's reader waits for its replies to drain.
    reader_waits: AtomicBool,
    drained: Notify,
}

impl Outbox {
    /// An outbox for connection `conn`, with the receiving side of its queue. `close` is
    /// cancelled when someone asks the connection to close.
    pub fn new(
        conn: u64,
        capacity: usize,
        close: CancellationToken,
    ) -> (Self, mpsc::Receiver<Outgoing>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let outbox = Outbox(Arc::new(OutboxInner {
            conn,
            tx,
            capacity: capacity.max(1),
            close,
            reason: AtomicU8::new(0),
            reply_bytes: AtomicUsize::new(0),
            reader_waits: AtomicBool::new(false),
            drained: Notify::new(),
        }));
        (outbox, rx)
    }

    /// The connection's id.
    pub fn conn(&self) -> u64 {
        self.0.conn
    }

    /// Queues a message; false when the connection is gone or was just closed as too slow.
    pub fn push(&self, msg: Outgoing) -> bool {
        match self.0.tx.try_send(msg) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.close_with(CloseReason::TooSlow);
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    /// Queues one of the connection's own replies, counting its bytes until the writer takes it.
    /// The connection does not read further while replies wait (see [`Outbox::room_to_read`]),
    /// so replies alone never fill the queue.
    pub fn push_reply(&self, frame: Box<[u8]>) -> bool {
        self.0.reply_bytes.fetch_add(frame.len(), Ordering::Relaxed);
        self.push(Outgoing::Frame(frame))
    }

    /// The writer took `msg` from the queue.
    pub fn taken(&self, msg: &Outgoing) {
        if let Outgoing::Frame(frame) = msg {
            self.0.reply_bytes.fetch_sub(frame.len(), Ordering::Relaxed);
        }
    }

    /// The writer has written what it took; wakes a reader waiting for room.
    pub fn written(&self) {
        if self.0.reader_waits.load(Ordering::Acquire) {
            self.0.drained.notify_one();
        }
    }

    /// Waits until the queue is at most half full and at most `max_reply_bytes` of replies wait,
    /// so that the connection reads its next request only once earlier replies are on their way.
    /// Room pushes may still use the other half.
    pub async fn room_to_read(&self, max_reply_bytes: usize) {
        let has_room = || {
            self.0.tx.capacity() * 2 >= self.0.capacity
                && self.0.reply_bytes.load(Ordering::Relaxed) <= max_reply_bytes
        };
        if has_room() {
            return;
        }
        self.0.reader_waits.store(true, Ordering::Release);
        loop {
            let drained = self.0.drained.notified();
            tokio::pin!(drained);
            drained.as_mut().enable();
            if has_room() || self.0.close.is_cancelled() {
                break;
            }
            tokio::select! {
                _ = drained => {}
                _ = self.0.close.cancelled() => break,
            }
        }
        self.0.reader_waits.store(false, Ordering::Release);
    }

    /// Asks the connection to close for `reason` (the first reason given wins).
    pub fn close_with(&self, reason: CloseReason) {
        let _ =
            self.0
                .reason
                .compare_exchange(0, reason as u8, Ordering::AcqRel, Ordering::Acquire);
        self.0.close.cancel();
    }

    /// Why the connection was asked to close, if it was.
    pub fn close_reason(&self) -> Option<CloseReason> {
        CloseReason::from_u8(self.0.reason.load(Ordering::Acquire))
    }

    /// Cancelled once the connection is asked to close.
    pub fn closing(&self) -> &CancellationToken {
        &self.0.close
    }
}
