//! A room's inbox: a bounded queue of boxed [`RoomCmd`]s with many senders (the room's handles)
//! and one receiver (the room). A full inbox refuses [`Inbox::try_send`] at once and makes
//! [`Inbox::send`] wait; a closed one refuses both.
//!
//! Written here rather than taken from tokio because an idle room pays for its inbox for its whole
//! life: tokio's bounded channel allocates a cache-padded core and a first block of slots up
//! front (about 800 bytes), while this is a mutex over a queue that grows only when commands
//! wait, the room's waker and a [`Notify`] for senders waiting for space (about 150 bytes). With
//! one receiver, its waker is kept here rather than in the waiting future, which the room's task
//! holds for its whole life. The lock is held for a push or a pop, never across an `.await`.
//!
//! Must not touch: what the commands mean.

use super::RoomCmd;
use futures_util::task::AtomicWaker;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Poll;
use tokio::sync::Notify;

/// Why a command was not queued; the command comes back with it.
#[derive(Debug)]
pub(crate) enum SendError {
    /// The inbox holds its capacity.
    Full(Box<RoomCmd>),
    /// The room has stopped taking commands.
    Closed(Box<RoomCmd>),
}

struct Queue {
    items: VecDeque<Box<RoomCmd>>,
    closed: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    capacity: usize,
    /// Wakes the room when a command arrives.
    arrived: AtomicWaker,
    /// Wakes senders waiting for space, when a full inbox gives some up or closes.
    space: Notify,
}

/// The sending side, cloned into every handle of the room.
#[derive(Clone)]
pub(crate) struct Inbox {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Inbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Inbox")
    }
}

/// The receiving side, owned by the room.
pub(crate) struct Receiver {
    shared: Arc<Shared>,
}

/// An inbox holding at most `capacity` commands (at least one).
pub(crate) fn inbox(capacity: usize) -> (Inbox, Receiver) {
    let shared = Arc::new(Shared {
        queue: Mutex::new(Queue {
            items: VecDeque::new(),
            closed: false,
        }),
        capacity: capacity.max(1),
        arrived: AtomicWaker::new(),
        space: Notify::new(),
    });
    (
        Inbox {
            shared: shared.clone(),
        },
        Receiver { shared },
    )
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // Nothing panics while holding the lock; a poisoned queue is still a consistent queue.
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Inbox {
    /// Queues `cmd` unless the inbox is full or closed.
    pub fn try_send(&self, cmd: Box<RoomCmd>) -> Result<(), SendError> {
        let mut queue = self.shared.lock();
        if queue.closed {
            return Err(SendError::Closed(cmd));
        }
        if queue.items.len() >= self.shared.capacity {
            return Err(SendError::Full(cmd));
        }
        queue.items.push_back(cmd);
        drop(queue);
        self.shared.arrived.wake();
        Ok(())
    }

    /// Queues `cmd`, waiting for space while the inbox is full; gives it back if the inbox is
    /// closed.
    pub async fn send(&self, mut cmd: Box<RoomCmd>) -> Result<(), Box<RoomCmd>> {
        loop {
            // Registered before looking, so that space made after the look wakes this sender.
            let space = self.shared.space.notified();
            tokio::pin!(space);
            space.as_mut().enable();
            match self.try_send(cmd) {
                Ok(()) => return Ok(()),
                Err(SendError::Closed(c)) => return Err(c),
                Err(SendError::Full(c)) => cmd = c,
            }
            space.await;
        }
    }
}

impl Receiver {
    /// The next command, waiting for one.
    pub async fn recv(&mut self) -> Box<RoomCmd> {
        std::future::poll_fn(|cx| {
            if let Some(cmd) = self.try_recv() {
                return Poll::Ready(cmd);
            }
            self.shared.arrived.register(cx.waker());
            // A command queued between the look above and the registration woke nobody.
            match self.try_recv() {
                Some(cmd) => Poll::Ready(cmd),
                None => Poll::Pending,
            }
        })
        .await
    }

    /// The next command, if one is queued.
    pub fn try_recv(&mut self) -> Option<Box<RoomCmd>> {
        let mut queue = self.shared.lock();
        let was_full = queue.items.len() >= self.shared.capacity;
        let cmd = queue.items.pop_front();
        if queue.items.is_empty() && queue.items.capacity() > 8 {
            // A burst is over: an idle room keeps no large buffer.
            queue.items = VecDeque::new();
        }
        drop(queue);
        if was_full && cmd.is_some() {
            self.shared.space.notify_waiters();
        }
        cmd
    }

    /// Refuses every later command; those already queued can still be taken.
    pub fn close(&mut self) {
        self.shared.lock().closed = true;
        self.shared.space.notify_waiters();
    }
}

impl Drop for Receiver {
    /// A room that stops for any reason, a panic included, refuses later commands and drops the
    /// queued ones (their reply channels tell their senders), rather than leaving senders waiting.
    fn drop(&mut self) {
        self.close();
        let queued = std::mem::take(&mut self.shared.lock().items);
        drop(queued);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::PlayerId;

    fn cmd(conn: u64) -> Box<RoomCmd> {
        Box::new(RoomCmd::Disconnected {
            player: PlayerId::from_wire("p-ann"),
            conn,
        })
    }

    fn conn_of(cmd: &RoomCmd) -> u64 {
        match cmd {
            RoomCmd::Disconnected { conn, .. } => *conn,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_full_inbox_refuses_or_makes_senders_wait_and_a_closed_one_refuses() {
        let (tx, mut rx) = inbox(2);
        tx.try_send(cmd(1)).expect("room");
        tx.try_send(cmd(2)).expect("room");
        assert!(matches!(tx.try_send(cmd(3)), Err(SendError::Full(_))));
        // A reliable sender waits for the room to take a command, then gets in, in order.
        let waiting = tokio::spawn({
            let tx = tx.clone();
            async move { tx.send(cmd(3)).await.is_ok() }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        assert_eq!(conn_of(&*rx.recv().await), 1);
        assert!(waiting.await.expect("joins"), "queued once there was space");
        assert_eq!(conn_of(&*rx.recv().await), 2);
        assert_eq!(conn_of(&*rx.recv().await), 3);
        assert!(rx.try_recv().is_none());
        // The room waits for the next command.
        let later = tokio::spawn({
            let tx = tx.clone();
            async move {
                tokio::task::yield_now().await;
                tx.try_send(cmd(4)).is_ok()
            }
        });
        assert_eq!(conn_of(&*rx.recv().await), 4);
        assert!(later.await.expect("joins"));
        // Closed: queued commands can still be taken, new ones come back to their sender.
        tx.try_send(cmd(5)).expect("room");
        rx.close();
        assert!(matches!(tx.try_send(cmd(6)), Err(SendError::Closed(_))));
        assert!(tx.send(cmd(7)).await.is_err());
        assert_eq!(rx.try_recv().map(|c| conn_of(&c)), Some(5));
        assert!(rx.try_recv().is_none());
    }

    #[tokio::test]
    async fn a_sender_waiting_on_a_full_inbox_is_released_when_it_closes() {
        let (tx, mut rx) = inbox(1);
        tx.try_send(cmd(1)).expect("room");
        let waiting = tokio::spawn(async move { tx.send(cmd(2)).await.is_err() });
        tokio::task::yield_now().await;
        rx.close();
        assert!(waiting.await.expect("joins"), "refused, not left waiting");
    }

    #[tokio::test]
    async fn a_room_that_stops_without_closing_refuses_later_commands() {
        let (tx, rx) = inbox(1);
        tx.try_send(cmd(1)).expect("room");
        let waiting = tokio::spawn({
            let tx = tx.clone();
            async move { tx.send(cmd(2)).await.is_err() }
        });
        tokio::task::yield_now().await;
        drop(rx);
        assert!(waiting.await.expect("joins"), "refused, not left waiting");
        assert!(matches!(tx.try_send(cmd(3)), Err(SendError::Closed(_))));
    }
}
