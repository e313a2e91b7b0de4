//! The writer task of one database: every write goes through it, batched (group commit).
//!
//! Owns: the writing connection, the items taken from the queue and not yet committed, the
//! retry of failed commits. Must not touch: reads, rooms (it only advances their [`Durable`]s).
//!
//! The loop: take everything queued — when that is less than a full batch, wait
//! `database.commit_delay_us` and take what came meanwhile too — (up to `max_batch` entries;
//! the rest waits for the next round), write it in one transaction with multi-row inserts, commit, then advance each game's
//! durable position to its last committed entry and answer the sessions and modules waiting.
//! While a commit is in flight, rooms go on appending; the next round takes all of it at once,
//! so the batch grows with the load and a commit's cost is shared by everything in it.
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
use super::queue::{EntryItem, Game, Item, Queue};
use super::rows::{EndColumns, chunks, latest};
use super::{Db, int};
use crate::metrics::StoreMetrics;
use crate::store::StoreError;
use sqlx::pool::PoolConnection;
use sqlx::{Postgres, QueryBuilder, Sqlite};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The first pause after a failed commit; it doubles up to [`BACKOFF_MAX`].
const BACKOFF_FIRST: Duration = Duration::from_millis(25);
const BACKOFF_MAX: Duration = Duration::from_secs(1);
/// A commit taking longer than this is abandoned (its connection dropped) and retried: a
/// database that stopped answering must not hold the writer forever.
const COMMIT_TIMEOUT: Duration = Duration::from_secs(10);
/// During an outage a warning is logged for the first failure and every this many after.
const WARN_EVERY: u64 = 30;

/// What the writer task needs.
pub(super) struct WriterParams {
    /// The queue it drains.
    pub queue: Arc<Queue>,
    /// The writing pool (one connection, which the writer keeps).
    pub db: Db,
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
    db: Db,
    /// The connection it writes on, taken from `db` and kept; dropped after a failure.
    conn: Option<Conn>,
    /// Taken from the queue, not yet in a batch (beyond `max_batch`).
    carry: VecDeque<Item>,
    /// Touches taken from the queue, not yet in a batch.
    touches: HashMap<String, u64>,
    max_batch: usize,
    linger: Duration,
    metrics: StoreMetrics,
    /// Failed commits since the last one that went through.
    failures: u64,
}

/// The connection the writer keeps.
enum Conn {
    Sqlite(PoolConnection<Sqlite>),
    Postgres(PoolConnection<Postgres>),
}

impl Writer {
    pub fn new(p: WriterParams) -> Writer {
        Writer {
            queue: p.queue,
            db: p.db,
            conn: None,
            carry: VecDeque::new(),
            touches: HashMap::new(),
            max_batch: p.max_batch,
            linger: p.linger,
            metrics: p.metrics,
            failures: 0,
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
                self.queue.wait().await;
                continue;
            }
            // No commit is in flight here: the entries not yet durable are the ones waiting.
            let waiting = self.queue.depth();
            if !closed && waiting > 0 && waiting < self.max_batch && !self.linger.is_zero() {
                // Group commit: let the batch fill for a moment, so that the cost of a commit
                // (its statements, each a hand-off to the driver's thread, and the pages it
                // writes) is shared by more entries. Under load a commit otherwise took the
                // few entries that arrived during the previous one.
                tokio::time::sleep(self.linger).await;
                self.gather();
            }
            let batch = self.next_batch();
            if !batch.is_empty() {
                self.commit(batch).await;
            }
        }
        self.queue.notify_committed();
        tracing::debug!("database writer: queue closed and written");
    }

    /// Takes everything queued into `carry` (and the touches, coalesced).
    fn gather(&mut self) {
        let pending = self.queue.take();
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
        batch
    }

    /// Writes `batch` (retrying, or splitting it, as its failures require) and reports it.
    async fn commit(&mut self, batch: Batch) {
        let mut todo = VecDeque::from([batch]);
        let mut pause = BACKOFF_FIRST;
        while let Some(mut part) = todo.pop_front() {
            let started = Instant::now();
            match self.write(&part).await {
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
                    self.finish(part, counts);
                    self.queue.notify_committed();
                }
                Err(e) if is_permanent(&e) => {
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

    /// Writes `batch` in one transaction.
    async fn write(&mut self, batch: &Batch) -> Result<Counts, sqlx::Error> {
        if self.conn.is_none() {
            self.conn = Some(match &self.db {
                Db::Sqlite(pool) => Conn::Sqlite(pool.acquire().await?),
                Db::Postgres(pool) => Conn::Postgres(pool.acquire().await?),
            });
        }
        let conn = self.conn.as_mut().ok_or(sqlx::Error::PoolClosed)?;
        let write = write_batch(conn, batch, self.max_batch);
        match tokio::time::timeout(COMMIT_TIMEOUT, write).await {
            Ok(result) => result,
            Err(_) => Err(sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer to a commit within {COMMIT_TIMEOUT:?}"),
            ))),
        }
    }

    /// Forgets the connection (after a failure it may be dead or mid-transaction); the next
    /// write takes a fresh one.
    fn drop_connection(&mut self) {
        if let Some(conn) = self.conn.as_mut() {
            each_db!(conn, Conn, c => c.close_on_drop());
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
    fn refuse(&self, batch: Batch, e: &sqlx::Error) {
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

/// Whether the database would refuse `e`'s statement again however often it is retried: it
/// refused the data, not the moment (an unreachable server, a lock, a timeout).
fn is_permanent(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => {
            if let Some(pg) = d.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
                // Classes 22 (data exception), 23 (integrity constraint violation), 54 (program
                // limit exceeded).
                let class = pg.code().get(..2).unwrap_or_default();
                return matches!(class, "22" | "23" | "54");
            }
            if d.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                // The primary result code is the low byte of the extended one: SQLITE_TOOBIG,
                // SQLITE_CONSTRAINT, SQLITE_MISMATCH, SQLITE_RANGE.
                let code = d.code().and_then(|c| c.parse::<i32>().ok()).unwrap_or(0);
                return matches!(code & 0xff, 18 | 19 | 20 | 25);
            }
            false
        }
        sqlx::Error::Encode(_)
        | sqlx::Error::Decode(_)
        | sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::TypeNotFound { .. } => true,
        _ => false,
    }
}

/// What a commit's deletions removed, in the order of the batch's items.
#[derive(Default)]
struct Counts {
    /// Sessions, per expiry.
    expired: Vec<u64>,
    /// Games' logs, per purge.
    purged: Vec<u64>,
}

/// Writes `b` in one transaction on `conn`, in dependency order: headers, entries, snapshots,
/// ends (with their archive rows), modules, sessions, touches, expiries, purges.
async fn write_batch(conn: &mut Conn, b: &Batch, full: usize) -> Result<Counts, sqlx::Error> {
    each_db!(conn, Conn, c => {
        let mut tx = sqlx::Connection::begin(&mut **c).await?;

        // Headers first: a game's first entries may be in this same transaction.
        let mut written: HashSet<String> = HashSet::new();
        for chunk in chunks(&b.headers, 11, full) {
            let mut q = QueryBuilder::new(
                "INSERT INTO games (room, module_name, module_version, module_digest, seed, \
                 options, seats, creator, private, turn_deadline_ms, created_at) ",
            );
            q.push_values(chunk, |mut row, item| {
                let h = &item.header;
                row.push_bind(h.room.as_str())
                    .push_bind(h.module.name.as_str())
                    .push_bind(h.module.version.as_str())
                    .push_bind(h.module.digest.as_str())
                    .push_bind(int(h.seed))
                    .push_bind(h.options.as_str())
                    .push_bind(i64::from(h.seats))
                    .push_bind(h.creator.as_str())
                    .push_bind(h.private)
                    .push_bind(h.turn_deadline_ms.map(int))
                    .push_bind(int(h.created_at));
            });
            q.push(" ON CONFLICT (room) DO NOTHING RETURNING room");
            let rooms: Vec<(String,)> = q.build_query_as().fetch_all(&mut *tx).await?;
            written.extend(rooms.into_iter().map(|(r,)| r));
        }
        for item in b.headers.iter().filter(|h| !written.contains(h.header.room.as_str())) {
            // The room already has a game: this one, if an earlier attempt committed unknown
            // to us; otherwise an older game (room ids are random, and can repeat).
            let h = &item.header;
            let ours = b.retried && {
                let stored: Option<(i64, i64, String)> = sqlx::query_as(
                    "SELECT seed, created_at, creator FROM games WHERE room = $1",
                )
                .bind(h.room.as_str())
                .fetch_optional(&mut *tx)
                .await?;
                stored == Some((int(h.seed), int(h.created_at), h.creator.as_str().into()))
            };
            if !ours {
                tracing::error!(
                    room_id = %h.room,
                    "the room id belongs to an older game in the database: this game cannot \
                     be logged, its room takes no inputs"
                );
                item.game.set_broken();
            }
        }

        let entries: Vec<&EntryItem> = b.entries.iter().filter(|e| !e.game.is_broken()).collect();
        for chunk in chunks(&entries, 5, full) {
            let mut q = QueryBuilder::new("INSERT INTO entries (room, pos, seq, at, data) ");
            q.push_values(chunk, |mut row, e| {
                row.push_bind(e.game.room.as_str())
                    .push_bind(int(e.pos))
                    .push_bind(int(e.seq))
                    .push_bind(int(e.at))
                    .push_bind(e.data.as_slice());
            });
            if b.retried {
                // An earlier attempt may have committed these rows. A first attempt has no
                // such clause: it costs PostgreSQL a speculative insertion per row (a third of
                // the throughput), and a row already there would be a bug worth refusing.
                q.push(" ON CONFLICT (room, pos) DO NOTHING");
            }
            q.build().execute(&mut *tx).await?;
        }

        let snapshots = latest(&b.snapshots);
        for chunk in chunks(&snapshots, 4, full) {
            let mut q = QueryBuilder::new("INSERT INTO snapshots (room, pos, seq, data) ");
            q.push_values(chunk, |mut row, s| {
                row.push_bind(s.game.room.as_str())
                    .push_bind(int(s.pos))
                    .push_bind(int(s.seq))
                    .push_bind(s.data.as_slice());
            });
            q.push(" ON CONFLICT (room, pos) DO UPDATE SET seq = excluded.seq, data = excluded.data");
            q.build().execute(&mut *tx).await?;
            // Only the latest snapshot is ever read.
            let mut q = QueryBuilder::new("DELETE FROM snapshots WHERE ");
            let mut each = q.separated(" OR ");
            for s in chunk {
                each.push("(room = ")
                    .push_bind_unseparated(s.game.room.as_str())
                    .push_unseparated(" AND pos < ")
                    .push_bind_unseparated(int(s.pos))
                    .push_unseparated(")");
            }
            q.build().execute(&mut *tx).await?;
        }

        for e in b.ends.iter().filter(|e| !e.game.is_broken()) {
            let end = EndColumns::of(&e.ending);
            sqlx::query(
                "UPDATE games SET ended_at = $1, ending = $2, result = $3, started_at = $4, \
                 steps = $5 WHERE room = $6",
            )
            .bind(int(e.at))
            .bind(end.ending)
            .bind(end.result)
            .bind(end.started_at.map(int))
            .bind(end.steps.map(int))
            .bind(e.game.room.as_str())
            .execute(&mut *tx)
            .await?;
            if end.seats.is_empty() {
                continue;
            }
            // The seats' outcomes, which player statistics read.
            let mut q = QueryBuilder::new(
                "INSERT INTO game_seats (room, seat, player, name, left_early, won, score, \
                 ended_at) ",
            );
            q.push_values(&end.seats, |mut row, s| {
                row.push_bind(e.game.room.as_str())
                    .push_bind(i64::from(s.seat))
                    .push_bind(s.player.as_ref().map(|p| p.as_str()))
                    .push_bind(s.name.as_deref())
                    .push_bind(s.left)
                    .push_bind(s.won)
                    .push_bind(s.score)
                    .push_bind(int(e.at));
            });
            q.push(" ON CONFLICT (room, seat) DO NOTHING");
            q.build().execute(&mut *tx).await?;
        }

        for m in &b.modules {
            sqlx::query(
                "INSERT INTO modules (digest, name, version, bytes, added_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (digest) DO NOTHING",
            )
            .bind(m.key.digest.as_str())
            .bind(m.key.name.as_str())
            .bind(m.key.version.as_str())
            .bind(m.bytes.as_slice())
            .bind(int(m.at))
            .execute(&mut *tx)
            .await?;
        }

        for chunk in chunks(&b.sessions, 5, full) {
            let mut q = QueryBuilder::new(
                "INSERT INTO sessions (token_hash, player, name, created_at, last_used) ",
            );
            q.push_values(chunk, |mut row, s| {
                row.push_bind(s.token_hash.as_str())
                    .push_bind(s.player.as_str())
                    .push_bind(s.name.as_str())
                    .push_bind(int(s.at))
                    .push_bind(int(s.at));
            });
            if b.retried {
                q.push(" ON CONFLICT (token_hash) DO NOTHING");
            }
            q.build().execute(&mut *tx).await?;
        }

        for (hash, at) in &b.touches {
            sqlx::query(
                "UPDATE sessions SET last_used = $1 WHERE token_hash = $2 AND last_used < $1",
            )
            .bind(int(*at))
            .bind(hash.as_str())
            .execute(&mut *tx)
            .await?;
        }

        let mut expired = Vec::with_capacity(b.expiries.len());
        for x in &b.expiries {
            let done = sqlx::query("DELETE FROM sessions WHERE last_used < $1")
                .bind(int(x.before))
                .execute(&mut *tx)
                .await?;
            expired.push(done.rows_affected());
        }

        let mut purged = Vec::with_capacity(b.purges.len());
        for p in &b.purges {
            // A bounded number of games per commit, oldest first: a purge never holds the
            // writer (and every room's next entries) for long.
            let rooms: Vec<(String,)> = sqlx::query_as(
                "SELECT room FROM games WHERE ended_at IS NOT NULL AND log_purged_at IS NULL \
                 AND ended_at < $1 ORDER BY ended_at LIMIT $2",
            )
            .bind(int(p.before))
            .bind(int(p.limit))
            .fetch_all(&mut *tx)
            .await?;
            purged.push(rooms.len() as u64);
            if rooms.is_empty() {
                continue;
            }
            for table in ["entries", "snapshots"] {
                let mut q = QueryBuilder::new(format!("DELETE FROM {table} WHERE room IN ("));
                let mut each = q.separated(", ");
                for (room,) in &rooms {
                    each.push_bind(room.as_str());
                }
                q.push(")");
                q.build().execute(&mut *tx).await?;
            }
            let mut q = QueryBuilder::new("UPDATE games SET log_purged_at = ");
            q.push_bind(int(p.at)).push(" WHERE room IN (");
            let mut each = q.separated(", ");
            for (room,) in &rooms {
                each.push_bind(room.as_str());
            }
            q.push(")");
            q.build().execute(&mut *tx).await?;
        }

        tx.commit().await?;
        Ok(Counts { expired, purged })
    })
}
