//! The writer task of one database: every write goes through it, batched (group commit).
//!
//! Owns: the writing connection, the items taken from the queue and not yet committed, the
//! retry of failed commits. Must not touch: reads, rooms (it only advances their [`Durable`]s).
//!
//! The loop: take everything queued — when that is fewer than [`ENOUGH_TO_COMMIT`] entries,
//! wait `database.commit_delay_us` and take what came meanwhile too — (up to `max_batch` entries;
//! the rest waits for the next round), write it in one transaction (PostgreSQL: multi-row
//! statements, see [`pg`]; SQLite: on a blocking thread, see [`lite`]), commit, then advance
//! each game's durable position to its last committed entry and answer the sessions and modules
//! waiting. While a commit is in flight, rooms go on appending; the next round takes all of it
//! at once, so the batch grows with the load and a commit's cost is shared by everything in it.
//! A commit's entries are one row of the journal; the writer moves the journal into per-room
//! chunks after commits once it holds [`FOLD_ROWS`] entries (PostgreSQL: [`pg::FOLD_ROWS`]), and
//! when idle (see [`journal`]).
//!
//! Failures: a commit that fails because the database is unreachable, busy or slow is retried
//! with the same batch, with a growing pause, until it succeeds; meanwhile the queue reports
//! not accepting, so rooms stop taking inputs, and nothing queued is lost. Because a commit
//! whose answer was lost may have gone through, a batch is written again idempotently (`ON
//! CONFLICT DO NOTHING`; snapshots, ends and touches are idempotent anyway). A first attempt
//! inserts entries and sessions plainly: cheaper, and a row already there (a bug, or two servers
//! on one database) is refused rather than ignored. A batch the database refuses for what it
//! contains (a constraint, a value it will not store) would be refused forever: it is split into
//! its games and sessions and written one by one, so only the culprit is given up — its game
//! marked broken (its room stops taking inputs and its outputs are never released), its awaiting
//! caller told.

use super::batch::Batch;
use super::journal::{FOLD_IDLE, FOLD_ROWS};
use super::lite::{self, LiteTarget, Writing};
use super::pg;
use super::queue::{Game, HeaderItem, Item, Queue};
use crate::metrics::StoreMetrics;
use crate::store::StoreError;
use sqlx::Postgres;
use sqlx::pool::PoolConnection;
use sqlx::postgres::PgPool;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The first pause after a failed commit; it doubles up to [`BACKOFF_MAX`].
const BACKOFF_FIRST: Duration = Duration::from_millis(25);
const BACKOFF_MAX: Duration = Duration::from_secs(1);
/// A commit taking longer than this is abandoned (its connection dropped) and retried: a
/// database that stopped answering must not hold the writer forever.
const COMMIT_TIMEOUT: Duration = Duration::from_secs(10);
/// A batch of this many entries is committed without waiting for more (`database.
/// commit_delay_us`): its commit's cost is shared widely enough, and waiting would only add
/// latency. Under load, what arrived during the last commit is a batch like this, and the rest
/// of the pause, however short, lasted to the timer's next millisecond (`log_writer` at half
/// the writer's rate, 2 vCPU Intel Xeon: append-to-durable p50 2.3 → 1.7 ms on PostgreSQL, 1.8
/// → 1.55 ms on SQLite). A server's ordinary load stays below it, and keeps its pauses.
const ENOUGH_TO_COMMIT: usize = 128;
/// During an outage a warning is logged for the first failure and every this many after.
const WARN_EVERY: u64 = 30;
/// What the writer task needs.
pub(super) struct WriterParams {
    /// The queue it drains.
    pub queue: Arc<Queue>,
    /// The database it writes to.
    pub target: Target,
    /// Most entries per commit.
    pub max_batch: usize,
    /// How long a batch that is not full waits for more before its commit.
    pub linger: Duration,
    /// Its metrics.
    pub metrics: StoreMetrics,
}

/// The writer task's state.
pub(super) struct Writer {
    queue: Arc<Queue>,
    target: Target,
    /// The connection it writes on, opened or taken from `target` and kept; dropped after a
    /// failure.
    conn: Option<Conn>,
    /// Taken from the queue, not yet in a batch (beyond `max_batch`).
    carry: VecDeque<Item>,
    /// When the oldest item of `carry` was queued.
    carry_since: Option<Instant>,
    /// Touches taken from the queue, not yet in a batch.
    touches: HashMap<String, u64>,
    max_batch: usize,
    linger: Duration,
    metrics: StoreMetrics,
    /// Failed commits since the last one that went through. (How many entries the journal
    /// holds is the queue's [`Queue::journal`], which the writer keeps.)
    failures: u64,
    /// PostgreSQL: the move of the journal under way beside the commits, if any.
    folding: Option<tokio::task::JoinHandle<()>>,
}

/// Where the writer writes.
pub(super) enum Target {
    /// An SQLite file, written on a connection of the writer's own (see [`lite`]).
    Sqlite(LiteTarget),
    /// A PostgreSQL database, through a pool of one connection.
    Postgres(PgPool),
}

/// The connection the writer keeps.
enum Conn {
    Sqlite(Writing),
    Postgres(PoolConnection<Postgres>),
}

/// Why a commit failed, and whether the database would refuse it again however often it is
/// retried (it refused the data, not the moment: an unreachable server, a lock, a timeout).
#[derive(Debug)]
struct Failure {
    permanent: bool,
    message: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<sqlx::Error> for Failure {
    fn from(e: sqlx::Error) -> Failure {
        Failure {
            permanent: pg::is_permanent(&e),
            message: e.to_string(),
        }
    }
}

impl From<rusqlite::Error> for Failure {
    fn from(e: rusqlite::Error) -> Failure {
        Failure {
            permanent: lite::is_permanent(&e),
            message: e.to_string(),
        }
    }
}

impl Writer {
    pub fn new(p: WriterParams) -> Writer {
        Writer {
            queue: p.queue,
            target: p.target,
            conn: None,
            carry: VecDeque::new(),
            carry_since: None,
            touches: HashMap::new(),
            max_batch: p.max_batch,
            linger: p.linger,
            metrics: p.metrics,
            failures: 0,
            folding: None,
        }
    }

    /// Writes until the queue has closed and everything in it is written.
    pub async fn run(mut self) {
        loop {
            // Read before taking: whatever was queued before the close is taken below.
            let closed = self.queue.is_closed();
            self.gather();
            if self.carry.is_empty() && self.touches.is_empty() {
                if closed {
                    break;
                }
                if self.queue.journal() == 0 {
                    self.queue.wait().await;
                } else if self.queue.fold_asked()
                    || tokio::time::timeout(FOLD_IDLE, self.queue.wait())
                        .await
                        .is_err()
                {
                    // Asked, or idle: a good moment to move the whole journal.
                    self.fold(true).await;
                }
                continue;
            }
            // No commit is in flight here: the entries not yet durable are the ones waiting.
            let waiting = self.queue.depth();
            let waited = self.carry_since.map_or(Duration::ZERO, |t| t.elapsed());
            let enough = self.max_batch.min(ENOUGH_TO_COMMIT);
            if !closed && waiting > 0 && waiting < enough && waited < self.linger {
                // Group commit: let the batch fill for a moment, so that the cost of a commit
                // (its statements, each a hand-off to the driver's thread, and the pages it
                // writes) is shared by more entries. Under load a commit otherwise took the
                // few entries that arrived during the previous one. The moment is counted from
                // the oldest item's arrival: what came during the last commit has waited
                // already, and the writer does not add a pause to every commit under load. It
                // ends early once enough entries wait (at `tokio`'s timer, it would last to
                // the next millisecond).
                tokio::select! {
                    _ = tokio::time::sleep(self.linger - waited) => {}
                    _ = self.queue.filled(enough) => {}
                }
                self.gather();
            }
            let batch = self.next_batch();
            if !batch.is_empty() {
                self.commit(batch).await;
            }
        }
        self.fold_all().await;
        self.queue.notify_committed();
        tracing::debug!("database writer: queue closed and written");
    }

    /// Takes everything queued into `carry` (and the touches, coalesced).
    fn gather(&mut self) {
        let pending = self.queue.take();
        if self.carry.is_empty() {
            self.carry_since = pending.since;
        }
        self.carry.extend(pending.items);
        for (hash, at) in pending.touches {
            let used = self.touches.entry(hash).or_insert(at);
            *used = (*used).max(at);
        }
    }

    /// The items at the front of `carry`, up to `max_batch` entries, and every touch.
    fn next_batch(&mut self) -> Batch {
        let mut batch = Batch::default();
        while let Some(item) = self.carry.pop_front() {
            if matches!(item, Item::Entry(_)) && batch.entries.len() >= self.max_batch {
                self.carry.push_front(item);
                break;
            }
            let game = match &item {
                Item::Header(h) => Some(&h.game),
                Item::Entry(e) => Some(&e.game),
                Item::Snapshot(s) => Some(&s.game),
                Item::End(e) => Some(&e.game),
                Item::Session(_) | Item::Module(_) | Item::Expire(_) | Item::Purge(_) => None,
            };
            if game.is_some_and(|g| g.is_broken()) {
                // The game was given up (its room id clashed, or the database refused it):
                // nothing more of it is written.
                if matches!(item, Item::Entry(_)) {
                    self.queue.settle(1);
                }
                continue;
            }
            batch.push(item);
        }
        batch.touches = self.touches.drain().collect();
        if self.carry.is_empty() {
            self.carry_since = None;
        }
        batch
    }

    /// Writes `batch` (retrying, or splitting it, as its failures require) and reports it.
    async fn commit(&mut self, batch: Batch) {
        if !batch.purges.is_empty() {
            // A purge moves the journal in its own transaction (its games' last entries may be
            // there): not at the same time as a move beside it, whose count would go astray.
            self.folded().await;
        }
        let mut todo = VecDeque::from([batch]);
        let mut pause = BACKOFF_FIRST;
        while let Some(part) = todo.pop_front() {
            let started = Instant::now();
            let (mut part, result) = self.write(part).await;
            match result {
                Ok(counts) => {
                    let m = &self.metrics;
                    m.commit_seconds.observe(started.elapsed().as_secs_f64());
                    m.commit_entries.observe(part.entries.len() as f64);
                    if self.failures > 0 {
                        tracing::info!(
                            failures = self.failures,
                            "database writes go through again"
                        );
                        self.failures = 0;
                    }
                    self.queue.set_failing(false);
                    pause = BACKOFF_FIRST;
                    let (folded, journaled) = (counts.folded, counts.journaled);
                    self.finish(part, counts);
                    self.queue.notify_committed();
                    self.journaled(journaled, folded).await;
                }
                Err(e) if e.permanent => {
                    self.metrics.commits_failed.inc();
                    if part.units() > 1 {
                        tracing::warn!(
                            "the database refused a batch ({e}); writing its games and \
                             sessions one by one"
                        );
                        for p in part.split().into_iter().rev() {
                            todo.push_front(p);
                        }
                    } else {
                        self.refuse(part, &e);
                    }
                }
                Err(e) => {
                    self.metrics.commits_failed.inc();
                    self.failures += 1;
                    if self.failures % WARN_EVERY == 1 {
                        tracing::warn!(
                            failures = self.failures,
                            "database commit failed, retrying: {e}"
                        );
                    }
                    self.queue.set_failing(true);
                    self.drop_connection();
                    part.retried = true;
                    todo.push_front(part);
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(BACKOFF_MAX);
                }
            }
        }
    }

    /// Writes `batch` in one transaction; hands it back with the outcome.
    async fn write(&mut self, batch: Batch) -> (Batch, Result<Counts, Failure>) {
        match &self.target {
            Target::Sqlite(target) => {
                // The batch and the connection cross to a blocking thread once, and back.
                let target = target.clone();
                let conn = self.conn.take();
                let work = tokio::task::spawn_blocking(move || {
                    let mut conn = match conn {
                        Some(Conn::Sqlite(c)) => c,
                        _ => match target.open_writing() {
                            Ok(c) => c,
                            Err(e) => return (batch, None, Err(Failure::from(e))),
                        },
                    };
                    let result = lite::write_batch(&mut conn, &batch).map_err(Failure::from);
                    (batch, Some(conn), result)
                });
                match work.await {
                    Ok((batch, conn, result)) => {
                        self.conn = conn.map(Conn::Sqlite);
                        (batch, result)
                    }
                    // The runtime is shutting down (a test's, when it panicked): it drops this
                    // task with it; nothing to report.
                    Err(e) if e.is_cancelled() => std::future::pending().await,
                    // Only a panic in the writing code (a bug) ends up here, with the batch.
                    Err(e) => panic!("the SQLite writer's thread failed: {e}"),
                }
            }
            Target::Postgres(pool) => {
                let result = async {
                    if self.conn.is_none() {
                        self.conn = Some(Conn::Postgres(pool.acquire().await?));
                    }
                    let Some(Conn::Postgres(conn)) = self.conn.as_mut() else {
                        return Err(sqlx::Error::PoolClosed.into());
                    };
                    let write = pg::write_batch(conn, &batch, self.max_batch);
                    match tokio::time::timeout(COMMIT_TIMEOUT, write).await {
                        Ok(result) => result.map_err(Failure::from),
                        Err(_) => Err(Failure {
                            permanent: false,
                            message: format!("no answer to a commit within {COMMIT_TIMEOUT:?}"),
                        }),
                    }
                }
                .await;
                (batch, result)
            }
        }
    }

    /// A commit put `journaled` more entries in the journal (`folded`: it moved the whole
    /// journal, them with it): moves it once it holds [`FOLD_ROWS`], on SQLite a step at a
    /// time, one after each commit.
    async fn journaled(&mut self, journaled: usize, folded: bool) {
        if folded {
            self.queue.set_journal(0);
        } else {
            self.queue.add_journal(journaled);
        }
        let moving = matches!(&self.conn, Some(Conn::Sqlite(w)) if w.is_moving());
        let from = match &self.target {
            Target::Sqlite(_) => FOLD_ROWS,
            Target::Postgres(_) => pg::FOLD_ROWS,
        };
        if moving || self.queue.journal() >= from {
            self.fold(false).await;
        }
    }

    /// Moves the journal into its chunks. On SQLite, now, holding up commits (SQLite has one
    /// writer at a time): the whole journal, or (not `whole`) the next step of a move in steps
    /// (see [`super::journal::Moving`]). On PostgreSQL, beside the commits, on the writer's second
    /// connection (a commit adds a row after those the move reads, and neither waits for the
    /// other), in steps (see [`pg::fold`]), unless a move is under way. A failure is logged and
    /// left for the next time: the entries are durable in the journal, which readers read too.
    async fn fold(&mut self, whole: bool) {
        if self.queue.journal() == 0 {
            return;
        }
        let target = match &self.target {
            Target::Sqlite(target) => target.clone(),
            Target::Postgres(pool) => {
                if self.folding.as_ref().is_some_and(|f| !f.is_finished()) {
                    return;
                }
                // Under load, with pauses between its steps; when idle or at the end, at once.
                let pause = (!whole).then_some(pg::STEP_PAUSE);
                let move_beside = fold_pg(
                    pool.clone(),
                    self.queue.clone(),
                    self.metrics.clone(),
                    pause,
                );
                self.folding = Some(tokio::spawn(move_beside));
                return;
            }
        };
        let started = Instant::now();
        let conn = self.conn.take();
        let work = tokio::task::spawn_blocking(move || {
            let mut w = match conn {
                Some(Conn::Sqlite(w)) => w,
                _ => target.open_writing()?,
            };
            let moved = if whole {
                Some(w.fold()?)
            } else {
                w.fold_step()?
            };
            Ok::<_, rusqlite::Error>((w, moved))
        });
        match work.await {
            Ok(Ok((w, moved))) => {
                self.conn = Some(Conn::Sqlite(w));
                match moved {
                    // (Nothing was committed meanwhile.)
                    Some(_) if whole => self.queue.set_journal(0),
                    // (The commits between the steps added theirs.)
                    Some(n) => self.queue.sub_journal(n),
                    None => {}
                }
                self.metrics
                    .journal_fold_seconds
                    .observe(started.elapsed().as_secs_f64());
                tracing::trace!(?moved, elapsed = ?started.elapsed(), "journal moved");
            }
            Ok(Err(e)) => {
                tracing::warn!("moving the journal into its chunks failed: {e}");
            }
            Err(e) => panic!("the SQLite writer's thread failed: {e}"),
        }
    }

    /// Waits for the move of the journal under way beside the commits, if any.
    async fn folded(&mut self) {
        if let Some(f) = self.folding.take() {
            let _ = f.await;
        }
    }

    /// Moves what is left in the journal and waits for it (at the end, when nothing is
    /// committed any more).
    async fn fold_all(&mut self) {
        self.folded().await;
        self.fold(true).await;
        self.folded().await;
    }

    /// Forgets the connection (after a failure it may be dead or mid-transaction); the next
    /// write takes a fresh one.
    fn drop_connection(&mut self) {
        if let Some(Conn::Postgres(conn)) = self.conn.as_mut() {
            conn.close_on_drop();
        }
        self.conn = None;
    }

    /// `batch` is committed: advance its games' durable positions, answer its callers.
    fn finish(&self, batch: Batch, counts: Counts) {
        // A game's positions grow along the queue: its last entry here is how far it is durable.
        let mut seen: HashSet<*const Game> = HashSet::new();
        for e in batch.entries.iter().rev() {
            if seen.insert(Arc::as_ptr(&e.game)) && !e.game.is_broken() {
                e.game.durable.advance(e.pos);
            }
        }
        self.queue.settle(batch.entries.len());
        // A caller that stopped waiting is no concern of the writer's.
        for s in batch.sessions {
            let _ = s.done.send(Ok(()));
        }
        for m in batch.modules {
            let _ = m.done.send(Ok(()));
        }
        for (x, n) in batch.expiries.into_iter().zip(counts.expired) {
            let _ = x.done.send(Ok(n));
        }
        for (p, n) in batch.purges.into_iter().zip(counts.purged) {
            let _ = p.done.send(Ok(n));
        }
    }

    /// The database refuses `batch` (a single game, session, module, touch or expiry) for what
    /// it contains: give it up.
    fn refuse(&self, batch: Batch, e: &Failure) {
        for game in batch.games() {
            tracing::error!(
                room_id = %game.room,
                "the database refuses this game's log ({e}); the room takes no more inputs"
            );
            game.set_broken();
        }
        self.queue.settle(batch.entries.len());
        let refused = || StoreError::Database(format!("refused: {e}"));
        for s in batch.sessions {
            let _ = s.done.send(Err(refused()));
        }
        for m in batch.modules {
            let _ = m.done.send(Err(refused()));
        }
        for x in batch.expiries {
            let _ = x.done.send(Err(refused()));
        }
        for p in batch.purges {
            let _ = p.done.send(Err(refused()));
        }
        if !batch.touches.is_empty() {
            tracing::warn!("the database refuses a session's last use ({e}); not recorded");
        }
    }
}

/// What a commit's deletions removed, in the order of the batch's items.
#[derive(Default)]
pub(super) struct Counts {
    /// Sessions, per expiry.
    pub expired: Vec<u64>,
    /// Games' logs, per purge.
    pub purged: Vec<u64>,
    /// The journal was moved into its chunks in the same commit.
    pub folded: bool,
    /// How many entries went into the journal.
    pub journaled: usize,
}

/// Moves PostgreSQL's journal into its chunks on a connection of `pool` (the writer's second),
/// in steps with `pause` between them (see [`pg::fold`]), then takes what it moved off the
/// journal's count and tells whoever waits for commits (a shutdown waits for the journal to
/// empty).
async fn fold_pg(pool: PgPool, queue: Arc<Queue>, metrics: StoreMetrics, pause: Option<Duration>) {
    let started = Instant::now();
    let moved = async {
        let mut conn = pool.acquire().await?;
        let moved = match tokio::time::timeout(COMMIT_TIMEOUT, pg::fold(&mut conn, pause)).await {
            Ok(moved) => moved,
            Err(_) => Err(sqlx::Error::PoolTimedOut),
        };
        if moved.is_err() {
            conn.close_on_drop();
        }
        moved
    }
    .await;
    match moved {
        Ok(n) => {
            queue.sub_journal(n);
            metrics
                .journal_fold_seconds
                .observe(started.elapsed().as_secs_f64());
            tracing::trace!(entries = n, elapsed = ?started.elapsed(), "journal moved");
        }
        Err(e) => tracing::warn!("moving the journal into its chunks failed: {e}"),
    }
    queue.notify_committed();
}

/// A new game's room id belongs to an older game in the database: the game cannot be logged.
pub(super) fn room_taken(item: &HeaderItem) {
    tracing::error!(
        room_id = %item.header.room,
        "the room id belongs to an older game in the database: this game cannot be logged, \
         its room takes no inputs"
    );
    item.game.set_broken();
}
