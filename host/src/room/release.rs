//! Nothing leaves before it would be durable. The room appends each input's entry to its log
//! (which returns at once) and hands everything the input produced — updates, acks, refusals,
//! replies to requests — to [`Release`], which holds it, in order, until the log reports the
//! entries before it durable, then delivers it. With a log that is durable at once (the
//! in-memory one) nothing is ever held.
//!
//! Owns: the room's log writer and the held outputs. Must not touch: the game or seats.

use super::{Outbox, Outgoing, Reply, RoomError, RoomInfo, SwapOutcome};
use crate::store::{Durable, Entry, GameWriter};
use std::collections::VecDeque;
use std::sync::Arc;

/// One output of an input.
#[derive(Debug)]
pub(crate) enum Out {
    /// A message to one connection.
    Push(Outbox, Outgoing),
    /// The answer to a bot change.
    Info(Reply<RoomInfo>, Result<RoomInfo, RoomError>),
    /// The answer to a leave, or to a join, watch or resume (whose reply frame went before).
    Done(Reply<()>, Result<(), RoomError>),
    /// How a swap went (once the swap's entry is durable).
    Swapped(tokio::sync::oneshot::Sender<SwapOutcome>, SwapOutcome),
}

impl Out {
    fn deliver(self) {
        match self {
            Out::Push(outbox, msg) => {
                outbox.push(msg);
            }
            Out::Info(reply, r) => {
                let _ = reply.send(r);
            }
            Out::Done(reply, r) => {
                let _ = reply.send(r);
            }
            Out::Swapped(reply, outcome) => {
                let _ = reply.send(outcome);
            }
        }
    }
}

/// A room's log writer and the outputs waiting for it.
pub(crate) struct Release {
    log: Box<dyn GameWriter>,
    durable: Arc<Durable>,
    appended: u64,
    held: VecDeque<(u64, Out)>,
}

impl Release {
    pub fn new(log: Box<dyn GameWriter>) -> Release {
        let durable = log.durable();
        Release {
            log,
            durable,
            appended: 0,
            held: VecDeque::new(),
        }
    }

    /// Appends an entry; outputs sent after this wait until it is durable.
    pub fn record(&mut self, entry: Entry) {
        self.appended = self.log.append(entry);
    }

    /// Saves a snapshot taken after the last recorded entry.
    pub fn snapshot(&mut self, seq: u64, data: Vec<u8>) {
        self.log.snapshot(seq, data);
    }

    /// Delivers `out` once every entry appended so far is durable (at once if they are and
    /// nothing older is held).
    pub fn send(&mut self, out: Out) {
        if self.held.is_empty() && self.durable.get() >= self.appended {
            out.deliver();
        } else {
            self.held.push_back((self.appended, out));
        }
    }

    /// Delivers `out` at once, ahead of anything held: only for an answer that depends on no
    /// entry and tells nothing of the game (that storage is behind), which would otherwise wait
    /// for the very storage it reports on.
    pub fn send_now(&mut self, out: Out) {
        out.deliver();
    }

    /// Delivers, in order, every held output whose entries are now durable.
    pub fn release(&mut self) {
        if self.held.is_empty() {
            return;
        }
        let durable = self.durable.get();
        while self
            .held
            .front()
            .is_some_and(|(needs, _)| *needs <= durable)
        {
            if let Some((_, out)) = self.held.pop_front() {
                out.deliver();
            }
        }
    }

    /// Whether outputs are waiting for the log.
    pub fn holding(&self) -> bool {
        !self.held.is_empty()
    }

    /// Resolves when the log reports more entries durable.
    pub async fn durable_changed(&self) {
        self.durable.moved().await;
    }

    /// The game is over for good (finished, or its room closed unfinished): it is not rebuilt
    /// after a restart. Only the first call counts (see [`crate::store::GameWriter::end`]).
    pub fn end(&mut self, ending: crate::store::Ending) {
        self.log.end(ending);
    }

    /// Whether the log takes new inputs now (see [`crate::store::EventLog::accepting`]).
    pub fn accepting(&self) -> bool {
        self.log.accepting()
    }
}
