//! The queue between the ports (rooms' writers, sessions, modules) and the writer task: what is
//! waiting to be written, in the order it was handed over, and the backlog count that tells
//! rooms whether to take new inputs.
//!
//! Owns: the pending items, the count of entries not yet durable, whether the last commit
//! failed. Must not touch: the database (the writer task does), rooms.
//!
//! Producers lock the queue only to push one item (no I/O, no `.await` under the lock); the
//! writer locks it only to swap the whole pending vector out.
//!
//! The bound: the queue is not a channel a player can fill. Entries are queued only by rooms,
//! after [`Queue::accepting`] said yes for the input behind them, so the entries pending are at
//! most `max_backlog` plus the few that each room's last accepted input produced. Headers come
//! from room creation, which checks the same; snapshots come one per `snapshot_every` entries and
//! ends one per game; session inserts, module bytes and expiries are refused while the queue is
//! not accepting, and each has a caller awaiting it; touches are coalesced by session.

use crate::ids::RoomId;
use crate::metrics::StoreMetrics;
use crate::store::{Durable, Ending, GameHeader, ModuleKey, StoreError};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;
use tokio::sync::{Notify, oneshot};

/// One game as the queue and the writer know it: its room, how far it is durable, and whether
/// it can no longer be written.
#[derive(Debug)]
pub(super) struct Game {
    /// The room.
    pub room: RoomId,
    /// Advanced by the writer after each commit.
    pub durable: Arc<Durable>,
    /// The game cannot be written (its room id belongs to an older game in the database, or the
    /// database refuses its rows): its entries are dropped, never reported durable, and its room
    /// is told not to take inputs. Set once, never cleared.
    broken: AtomicBool,
}

impl Game {
    pub fn new(room: RoomId, durable: u64) -> Game {
        let d = Durable::default();
        d.advance(durable);
        Game {
            room,
            durable: Arc::new(d),
            broken: AtomicBool::new(false),
        }
    }

    pub fn is_broken(&self) -> bool {
        self.broken.load(Ordering::Acquire)
    }

    pub fn set_broken(&self) {
        self.broken.store(true, Ordering::Release);
    }
}

/// A new game's header.
#[derive(Debug)]
pub(super) struct HeaderItem {
    pub game: Arc<Game>,
    pub header: GameHeader,
}

/// One log entry, encoded by the room that appended it.
#[derive(Debug)]
pub(super) struct EntryItem {
    pub game: Arc<Game>,
    pub pos: u64,
    /// The entry, postcard-encoded (its sequence number and time are inside).
    pub data: Vec<u8>,
}

/// A snapshot taken after the entry at `pos`.
#[derive(Debug)]
pub(super) struct SnapshotItem {
    pub game: Arc<Game>,
    pub pos: u64,
    pub seq: u64,
    pub data: Vec<u8>,
}

/// The game ended at `at`.
#[derive(Debug)]
pub(super) struct EndItem {
    pub game: Arc<Game>,
    pub ending: Ending,
    pub at: u64,
}

/// A new session; `done` hears once it is durable.
#[derive(Debug)]
pub(super) struct SessionItem {
    pub token_hash: String,
    pub player: String,
    pub name: String,
    pub at: u64,
    pub done: oneshot::Sender<Result<(), StoreError>>,
}

/// Module bytes to keep; `done` hears once they are durable.
#[derive(Debug)]
pub(super) struct ModuleItem {
    pub key: ModuleKey,
    pub bytes: Vec<u8>,
    pub at: u64,
    pub done: oneshot::Sender<Result<(), StoreError>>,
}

/// Forget sessions unused since before `before`; `done` hears how many.
#[derive(Debug)]
pub(super) struct ExpireItem {
    pub before: u64,
    pub done: oneshot::Sender<Result<u64, StoreError>>,
}

/// Purge the logs of (at most `limit`) games that ended before `before`; `done` hears how many.
#[derive(Debug)]
pub(super) struct PurgeItem {
    pub before: u64,
    pub limit: u64,
    pub at: u64,
    pub done: oneshot::Sender<Result<u64, StoreError>>,
}

/// Something to write. Headers and sessions are boxed: entries, by far the most frequent, keep
/// the vector's slots small.
#[derive(Debug)]
pub(super) enum Item {
    Header(Box<HeaderItem>),
    Entry(EntryItem),
    Snapshot(SnapshotItem),
    End(EndItem),
    Session(Box<SessionItem>),
    Module(Box<ModuleItem>),
    Expire(ExpireItem),
    Purge(PurgeItem),
}

/// What is waiting for the writer.
#[derive(Debug, Default)]
pub(super) struct Pending {
    /// In the order handed over (a game's header before its entries).
    pub items: Vec<Item>,
    /// Last use by token hash, coalesced: only the latest matters.
    pub touches: HashMap<String, u64>,
    /// When the first of `items` was queued.
    pub since: Option<Instant>,
}

impl Pending {
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.items.is_empty() && self.touches.is_empty()
    }
}

/// The queue of one database.
#[derive(Debug)]
pub(super) struct Queue {
    pending: Mutex<Pending>,
    /// The writer waits on it when there is nothing to write.
    wake: Notify,
    /// The writer signals it after each commit (SQLite's checkpointer waits on it).
    committed: Notify,
    /// While the writer pauses for a batch to fill: the depth that ends the pause (0: none).
    filled_at: AtomicUsize,
    /// Signalled when the depth reaches `filled_at`.
    filled: Notify,
    /// Entries queued and not yet durable (nor dropped): what `max_backlog` bounds.
    depth: AtomicUsize,
    /// The last commit failed (the database is down or refusing): rooms take no new inputs.
    failing: AtomicBool,
    /// Entries committed to the journal and not yet moved into its chunks.
    journal: AtomicUsize,
    /// Someone waits for the journal to be moved (a shutdown): the writer does it when idle.
    fold_asked: AtomicBool,
    /// Every producer is gone: the writer writes what is left and ends.
    closed: AtomicBool,
    max_backlog: usize,
    metrics: StoreMetrics,
}

impl Queue {
    pub fn new(max_backlog: usize, metrics: StoreMetrics) -> Queue {
        Queue {
            pending: Mutex::default(),
            wake: Notify::new(),
            committed: Notify::new(),
            filled_at: AtomicUsize::new(0),
            filled: Notify::new(),
            depth: AtomicUsize::new(0),
            failing: AtomicBool::new(false),
            journal: AtomicUsize::new(0),
            fold_asked: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            max_backlog,
            metrics,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `item` behind everything queued before it. Never waits on I/O.
    pub fn push(&self, item: Item) {
        let depth = if matches!(item, Item::Entry(_)) {
            self.metrics.queue_entries.inc();
            self.depth.fetch_add(1, Ordering::SeqCst) + 1
        } else {
            0
        };
        let mut pending = self.lock();
        if pending.items.is_empty() {
            pending.since = Some(Instant::now());
        }
        pending.items.push(item);
        drop(pending);
        self.wake.notify_one();
        // (SeqCst here and in `filled`: of the two sides, one sees the other's store.)
        let at = self.filled_at.load(Ordering::SeqCst);
        if at != 0 && depth >= at {
            self.filled_at.store(0, Ordering::SeqCst);
            self.filled.notify_one();
        }
    }

    /// Resolves once `entries` entries wait (the writer's side, pausing for a batch to fill:
    /// it is woken once, not by every entry). Cancel safe.
    pub async fn filled(&self, entries: usize) {
        loop {
            let signal = self.filled.notified();
            self.filled_at.store(entries, Ordering::SeqCst);
            if self.depth.load(Ordering::SeqCst) >= entries {
                break;
            }
            // (A wake-up left over from a pause that its timer ended is checked and ignored.)
            signal.await;
        }
        self.filled_at.store(0, Ordering::SeqCst);
    }

    /// The session with `token_hash` was used at `at` (the latest use wins).
    pub fn touch(&self, token_hash: String, at: u64) {
        let mut pending = self.lock();
        let used = pending.touches.entry(token_hash).or_insert(at);
        *used = (*used).max(at);
        drop(pending);
        self.wake.notify_one();
    }

    /// Everything queued, in order (the writer's side).
    pub fn take(&self) -> Pending {
        std::mem::take(&mut *self.lock())
    }

    /// Resolves once something has been queued since the last [`Queue::take`] found nothing
    /// (or the queue closed). Cancel safe.
    pub async fn wait(&self) {
        self.wake.notified().await;
    }

    /// A commit went through, or the writer has ended (the writer's side).
    pub fn notify_committed(&self) {
        self.committed.notify_one();
    }

    /// Resolves after a commit since the last time this resolved (or the writer's end).
    pub async fn committed(&self) {
        self.committed.notified().await;
    }

    /// `entries` queued entries are durable, or were dropped (the writer's side).
    pub fn settle(&self, entries: usize) {
        if entries > 0 {
            self.depth.fetch_sub(entries, Ordering::AcqRel);
            self.metrics.queue_entries.dec_by(entries as i64);
        }
    }

    /// Entries queued and not yet durable.
    pub fn depth(&self) -> usize {
        self.depth.load(Ordering::Acquire)
    }

    /// Entries in the journal, not yet moved into its chunks (the writer's side).
    pub fn set_journal(&self, entries: usize) {
        self.journal.store(entries, Ordering::Release);
    }

    /// `entries` more in the journal (a commit's).
    pub fn add_journal(&self, entries: usize) {
        self.journal.fetch_add(entries, Ordering::AcqRel);
    }

    /// `entries` moved out of the journal (by a move beside the commits, on PostgreSQL).
    pub fn sub_journal(&self, entries: usize) {
        let _ = (self.journal).fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            Some(n.saturating_sub(entries))
        });
    }

    /// Entries in the journal.
    pub fn journal(&self) -> usize {
        self.journal.load(Ordering::Acquire)
    }

    /// Asks the writer to move the journal into its chunks as soon as it is idle.
    pub fn ask_fold(&self) {
        self.fold_asked.store(true, Ordering::Release);
        self.wake.notify_one();
    }

    /// Whether a move of the journal was asked since the last call (the writer's side).
    pub fn fold_asked(&self) -> bool {
        self.fold_asked.swap(false, Ordering::AcqRel)
    }

    /// Whether the last commit failed (the writer's side).
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::Release);
    }

    /// Whether rooms may take new inputs: the backlog is under its bound and the last commit
    /// went through.
    pub fn accepting(&self) -> bool {
        !self.failing.load(Ordering::Acquire)
            && self.depth.load(Ordering::Acquire) < self.max_backlog
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.wake.notify_one();
    }
}

/// The producers' hold on a queue (every port keeps one): when the last is dropped the queue
/// closes, and the writer task ends once it has written what was queued.
#[derive(Debug)]
pub(super) struct Inlet {
    queue: Arc<Queue>,
}

impl Inlet {
    pub fn new(queue: Arc<Queue>) -> Inlet {
        Inlet { queue }
    }
}

impl std::ops::Deref for Inlet {
    type Target = Queue;

    fn deref(&self) -> &Queue {
        &self.queue
    }
}

impl Drop for Inlet {
    fn drop(&mut self) {
        self.queue.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn entry(game: &Arc<Game>, pos: u64) -> Item {
        Item::Entry(EntryItem {
            game: game.clone(),
            pos,
            data: Vec::new(),
        })
    }

    #[test]
    fn accepting_follows_the_backlog_and_the_last_commit() {
        // Rooms are told to stop taking inputs once max_backlog entries wait, or while commits
        // fail, and to go on once the backlog drains and a commit succeeds.
        let q = Queue::new(3, crate::metrics::Metrics::new().store);
        let game = Arc::new(Game::new(RoomId::from_wire("r-q"), 0));
        q.push(entry(&game, 1));
        q.push(entry(&game, 2));
        assert!(q.accepting());
        q.push(entry(&game, 3));
        assert!(!q.accepting(), "3 entries waiting reach the bound of 3");
        assert_eq!(q.take().items.len(), 3);
        assert!(!q.accepting(), "taken is not durable");
        q.settle(3);
        assert!(q.accepting());
        q.set_failing(true);
        assert!(!q.accepting());
        q.set_failing(false);
        assert!(q.accepting());
    }

    #[tokio::test]
    async fn a_pause_for_a_batch_ends_when_enough_entries_wait() {
        // The writer's group-commit pause waits for 3 entries: 2 do not end it, the 3rd does,
        // and a wake-up left over from a pause that its timer ended does not end the next.
        let q = Arc::new(Queue::new(100, crate::metrics::Metrics::new().store));
        let game = Arc::new(Game::new(RoomId::from_wire("r-q"), 0));
        let short = Duration::from_millis(50);
        q.push(entry(&game, 1));
        assert!(tokio::time::timeout(short, q.filled(3)).await.is_err());
        q.push(entry(&game, 2));
        let waiting = tokio::spawn({
            let q = q.clone();
            async move { q.filled(3).await }
        });
        tokio::time::sleep(short).await;
        assert!(!waiting.is_finished(), "2 entries wait");
        q.push(entry(&game, 3));
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("the 3rd entry ends the pause")
            .expect("the task");

        q.settle(3);
        q.take();
        q.push(entry(&game, 4));
        assert!(tokio::time::timeout(short, q.filled(2)).await.is_err());
        q.push(entry(&game, 5)); // reaches the depth the pause above left behind
        assert!(tokio::time::timeout(short, q.filled(3)).await.is_err());
    }

    #[test]
    fn touches_coalesce_by_session() {
        // Many uses of one session between two commits are one write, of the latest use.
        let q = Queue::new(10, crate::metrics::Metrics::new().store);
        q.touch("h".into(), 5);
        q.touch("h".into(), 9);
        q.touch("h".into(), 7);
        let p = q.take();
        assert_eq!(p.touches.len(), 1);
        assert_eq!(p.touches.get("h"), Some(&9));
        assert!(q.take().is_empty());
    }
}
