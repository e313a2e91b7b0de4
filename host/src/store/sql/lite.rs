//! The writer's connection to an SQLite file: a plain synchronous SQLite connection (rusqlite),
//! used by the writer task one whole batch at a time on a blocking thread.
//!
//! Owns: opening the writing connection (with the same settings as the readers': WAL, the
//! configured `synchronous`, a busy timeout), writing one batch in one transaction, and the
//! transaction that moves the journal into its chunks (the move itself: `journal`). Must not
//! touch: the queue, the games' durable positions (the writer task does both).
//!
//! A commit's entries are one row of the `journal` table, appended at its end, and moved into
//! `entry_chunks` (a row per room, keyed by room and position) in bulk by [`Writing::fold`]: a
//! commit then writes a few pages at the journal's end instead of one page of the entries per
//! room it holds, and a move writes each room's pages once for all the entries it gathered.
//! The layout, and when: see `journal`. Readers of a log read the entries table (older files),
//! the chunks and the journal (see `read`).
//!
//! Why not sqlx here, as for the reads: sqlx runs each SQLite statement on its connection's own
//! thread and hands every statement and its answer across threads. A commit is a dozen
//! statements, so under load the hand-offs (futex waits and wakes, channel traffic) cost the
//! server about as much CPU as the writes themselves. Here a batch crosses to the blocking
//! thread once and back once, and each row is one execution of a statement prepared once per
//! connection. SQLite's statements do not need multi-row inserts to be cheap, so a row is a row.

use super::batch::Batch;
use super::journal;
use super::rows::{
    ADD_TO_TOTALS, END_GAME, EXPIRE_SESSIONS, EndColumns, GAME_OF_ROOM, INSERT_MODULE,
    PURGEABLE_GAMES, Sql, TOUCH_SESSION, latest,
};
use super::writer::Counts;
use super::{SyncMode, int};
use rusqlite::{CachedStatement, Connection, ErrorCode, OptionalExtension, params};
use std::path::PathBuf;
use std::time::Duration;

/// A game's snapshots older than its latest.
const OLDER_SNAPSHOTS: &str = "DELETE FROM snapshots WHERE room = $1 AND pos < $2";
/// A purged game's log.
const PURGE_ENTRIES: &str = "DELETE FROM entries WHERE room = $1";
const PURGE_CHUNKS: &str = "DELETE FROM entry_chunks WHERE room = $1";
const PURGE_SNAPSHOTS: &str = "DELETE FROM snapshots WHERE room = $1";
const MARK_PURGED: &str = "UPDATE games SET log_purged_at = $1 WHERE room = $2";

/// Past this many pages in the WAL (4 KiB each), the writer checkpoints (see [`LiteTarget::open`]).
const WAL_PAGES: i64 = 32_768;

/// Where the writer's SQLite connection goes, and how it is set up.
#[derive(Clone, Debug)]
pub(super) struct LiteTarget {
    /// The database file.
    pub path: PathBuf,
    /// `database.sync`.
    pub sync: SyncMode,
    /// How long a statement waits for another connection's lock.
    pub busy_timeout: Duration,
}

impl LiteTarget {
    /// Opens the writing connection. Blocking.
    pub fn open(&self) -> rusqlite::Result<Connection> {
        let conn = Connection::open(&self.path)?;
        conn.busy_timeout(self.busy_timeout)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // In WAL mode a commit is on disk once the OS has it with NORMAL: it survives the
        // process being killed, not a power loss (FULL).
        let sync = match self.sync {
            SyncMode::Normal => "NORMAL",
            SyncMode::Full => "FULL",
        };
        conn.pragma_update(None, "synchronous", sync)?;
        // Checkpoints are made beside the writer (see `checkpoints` in the parent module). A
        // checkpoint restarts the WAL (writes go to its start again) only if it finds the WAL
        // all copied, which under a load without pause it never does: commits come faster than
        // a checkpoint's fsyncs. So the writer checkpoints itself past this many WAL pages
        // (128 MB): it then holds up commits while it copies and syncs what the checkpointer
        // has not copied yet (little: that one goes on without pausing while the WAL is long),
        // and its next commit restarts the WAL. The larger, the rarer these pauses (every few
        // seconds at the benchmark's load; at 10,000 pages, they made the p99 of
        // append-to-durable 6 ms instead of 4).
        conn.pragma_update(None, "wal_autocheckpoint", WAL_PAGES)?;
        conn.set_prepared_statement_cache_capacity(32);
        Ok(conn)
    }

    /// Opens the writer's connection. Blocking.
    pub fn open_writing(&self) -> rusqlite::Result<Writing> {
        Ok(Writing {
            conn: self.open()?,
            blob: Vec::new(),
            moving: None,
        })
    }
}

/// The writer's connection, the buffer its commits' journal rows are laid out in, and its move
/// of the journal in steps, if one is under way.
pub(super) struct Writing {
    conn: Connection,
    blob: Vec<u8>,
    moving: Option<journal::Moving>,
}

impl Writing {
    /// Moves the whole journal into the chunks (at open, when idle, before a shutdown), in one
    /// transaction, overtaking a move in steps; returns how many entries.
    pub fn fold(&mut self) -> rusqlite::Result<usize> {
        let tx = Tx::begin(&self.conn)?;
        let n = journal::fold(&tx)?;
        tx.commit()?;
        self.moving = None;
        Ok(n)
    }

    /// Whether a move of the journal in steps is under way.
    pub fn is_moving(&self) -> bool {
        self.moving.is_some()
    }

    /// The next step of a move of the journal in steps (between commits), starting one if none
    /// is under way, in a transaction of its own; `Some(entries moved)` once the move is done.
    pub fn fold_step(&mut self) -> rusqlite::Result<Option<usize>> {
        let tx = Tx::begin(&self.conn)?;
        if self.moving.is_none() {
            self.moving = journal::Moving::start(&tx)?;
        }
        let Some(moving) = self.moving.as_mut() else {
            return Ok(Some(0));
        };
        let next = moving.step(&tx)?;
        tx.commit()?;
        let moved = moving.wrote(next);
        if moved.is_some() {
            self.moving = None;
        }
        Ok(moved)
    }
}

/// A write transaction on the writer's connection. IMMEDIATE: the write lock is taken at the
/// start, so no statement has to upgrade a read lock midway (which can fail with a busy error
/// instead of waiting). Its BEGIN and COMMIT are prepared once per connection: rusqlite's
/// `Transaction` prepares both anew each time, which took about a tenth of the writer's CPU
/// under load. Rolled back when dropped uncommitted.
struct Tx<'c> {
    conn: &'c Connection,
    committed: bool,
}

impl<'c> Tx<'c> {
    fn begin(conn: &'c Connection) -> rusqlite::Result<Tx<'c>> {
        conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
        Ok(Tx {
            conn,
            committed: false,
        })
    }

    fn commit(mut self) -> rusqlite::Result<()> {
        self.conn.prepare_cached("COMMIT")?.execute([])?;
        self.committed = true;
        Ok(())
    }
}

impl std::ops::Deref for Tx<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.conn
    }
}

impl Drop for Tx<'_> {
    fn drop(&mut self) {
        // A failed COMMIT (a busy lock, an I/O error) leaves the transaction open.
        if !self.committed && !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

/// The prepared statement for `sql`, cached on the connection. The statements are shared with
/// PostgreSQL, whose `$N` parameters SQLite numbers in order of first appearance; `?N` is the
/// N-th parameter wherever it appears, as `$N` is on PostgreSQL.
/// (The single-row inserts of [`Sql`] are written with `?N` already.)
fn statement<'c>(conn: &'c Connection, sql: &str) -> rusqlite::Result<CachedStatement<'c>> {
    if sql.contains('$') {
        conn.prepare_cached(&sql.replace('$', "?"))
    } else {
        conn.prepare_cached(sql)
    }
}

/// Whether SQLite would refuse `e`'s statement again however often it is retried: it refused
/// the data (a constraint, a value too big or of the wrong type), not the moment (a lock, a full
/// disk, an I/O error).
pub(super) fn is_permanent(e: &rusqlite::Error) -> bool {
    match e {
        rusqlite::Error::SqliteFailure(f, _) => matches!(
            f.code,
            ErrorCode::ConstraintViolation
                | ErrorCode::TooBig
                | ErrorCode::TypeMismatch
                | ErrorCode::ParameterOutOfRange
        ),
        rusqlite::Error::ToSqlConversionFailure(_)
        | rusqlite::Error::InvalidParameterCount(..)
        | rusqlite::Error::InvalidParameterName(_) => true,
        _ => false,
    }
}

/// Writes `b` in one transaction on `conn`, in dependency order: headers, entries, snapshots,
/// ends (with their archive rows), modules, sessions, touches, expiries, purges — the same rows
/// as the PostgreSQL writer's, one statement execution per row.
pub(super) fn write_batch(w: &mut Writing, b: &Batch) -> rusqlite::Result<Counts> {
    let sql = Sql::get();
    let tx = Tx::begin(&w.conn)?;

    {
        let mut insert = statement(&tx, &sql.insert_game)?;
        let mut stored = statement(&tx, GAME_OF_ROOM)?;
        for item in &b.headers {
            let h = &item.header;
            let written = insert.execute(params![
                h.room.as_str(),
                h.module.name.as_str(),
                h.module.version.as_str(),
                h.module.digest.as_str(),
                int(h.seed),
                h.options.as_str(),
                i64::from(h.seats),
                h.creator.as_str(),
                h.private,
                h.turn_deadline_ms.map(int),
                int(h.created_at),
            ])?;
            if written == 1 {
                continue;
            }
            // The room already has a game: this one, if an earlier attempt committed unknown to
            // us; otherwise an older game (room ids are random, and can repeat).
            let ours = b.retried && {
                let row: Option<(i64, i64, String)> = stored
                    .query_row([h.room.as_str()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                    .optional()?;
                row == Some((int(h.seed), int(h.created_at), h.creator.as_str().into()))
            };
            if !ours {
                super::writer::room_taken(item);
            }
        }
    }

    // One row, also in a retried attempt (an earlier attempt that committed unknown to us left
    // its row under another number): the journal's move, and its readers, keep the first of a
    // position written twice.
    let journaled = journal::put_commit(&mut w.blob, &b.entries);
    if journaled > 0 {
        tx.prepare_cached(journal::INSERT_JOURNAL)?
            .execute([w.blob.as_slice()])?;
    }

    {
        let mut upsert = statement(&tx, &sql.upsert_snapshot)?;
        let mut older = statement(&tx, OLDER_SNAPSHOTS)?;
        for s in latest(&b.snapshots) {
            let room = s.game.room.as_str();
            upsert.execute(params![room, int(s.pos), int(s.seq), s.data.as_slice()])?;
            // Only the latest snapshot is ever read.
            older.execute(params![room, int(s.pos)])?;
        }
    }

    {
        let mut end_game = statement(&tx, END_GAME)?;
        let mut seat = statement(&tx, &sql.insert_seat)?;
        for e in b.ends.iter().filter(|e| !e.game.is_broken()) {
            let end = EndColumns::of(&e.ending);
            let room = e.game.room.as_str();
            if let Some(started) = end.started_at {
                statement(&tx, ADD_TO_TOTALS)?.execute(params![room, int(e.at), int(started)])?;
            }
            end_game.execute(params![
                int(e.at),
                end.ending,
                end.result,
                end.started_at.map(int),
                end.steps.map(int),
                room,
            ])?;
            // The seats' outcomes, which player statistics read.
            for s in &end.seats {
                seat.execute(params![
                    room,
                    i64::from(s.seat),
                    s.player.as_ref().map(|p| p.as_str()),
                    s.name.as_deref(),
                    s.left,
                    s.won,
                    s.score,
                    int(e.at),
                ])?;
            }
        }
    }

    for m in &b.modules {
        statement(&tx, INSERT_MODULE)?.execute(params![
            m.key.digest.as_str(),
            m.key.name.as_str(),
            m.key.version.as_str(),
            m.bytes.as_slice(),
            int(m.at),
        ])?;
    }

    if !b.sessions.is_empty() {
        let text = if b.retried {
            &sql.insert_session_again
        } else {
            &sql.insert_session
        };
        let mut insert = statement(&tx, text)?;
        for s in &b.sessions {
            let at = int(s.at);
            insert.execute(params![
                s.token_hash.as_str(),
                s.player.as_str(),
                s.name.as_str(),
                at,
                at
            ])?;
        }
    }

    if !b.touches.is_empty() {
        let mut touch = statement(&tx, TOUCH_SESSION)?;
        for (hash, at) in &b.touches {
            touch.execute(params![int(*at), hash.as_str()])?;
        }
    }

    let mut expired = Vec::with_capacity(b.expiries.len());
    for x in &b.expiries {
        let n = tx
            .prepare_cached(EXPIRE_SESSIONS)?
            .execute([int(x.before)])?;
        expired.push(n as u64);
    }

    let mut purged = Vec::with_capacity(b.purges.len());
    let folded = !b.purges.is_empty();
    if folded {
        // A purged game's last entries may still be in the journal.
        journal::fold(&tx)?;
    }
    for p in &b.purges {
        // A bounded number of games per commit, oldest first: a purge never holds the writer
        // (and every room's next entries) for long.
        let rooms: Vec<String> = tx
            .prepare_cached(PURGEABLE_GAMES)?
            .query_map([int(p.before), int(p.limit)], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        purged.push(rooms.len() as u64);
        let mut entries = statement(&tx, PURGE_ENTRIES)?;
        let mut chunks = statement(&tx, PURGE_CHUNKS)?;
        let mut snapshots = statement(&tx, PURGE_SNAPSHOTS)?;
        let mut mark = statement(&tx, MARK_PURGED)?;
        for room in &rooms {
            entries.execute([room])?;
            chunks.execute([room])?;
            snapshots.execute([room])?;
            mark.execute(params![int(p.at), room])?;
        }
    }

    tx.commit()?;
    if folded {
        // (The whole journal was moved: what a move in steps had left to write is in chunks.)
        w.moving = None;
    }
    Ok(Counts {
        expired,
        purged,
        folded,
        journaled,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_writing_connection_has_the_configured_durability() {
        // The writer's own connection, not the readers', decides what a commit survives: WAL,
        // and `synchronous` as `database.sync` says (NORMAL: a kill; FULL: a power loss).
        let dir = tempfile::tempdir().expect("temporary directory");
        for (sync, level) in [(SyncMode::Normal, 1), (SyncMode::Full, 2)] {
            let target = LiteTarget {
                path: dir.path().join("w.db"),
                sync,
                busy_timeout: Duration::from_secs(1),
            };
            let conn = target.open().expect("open");
            let pragma = |name: &str| -> String {
                conn.query_row(&format!("PRAGMA {name}"), [], |r| {
                    r.get::<_, rusqlite::types::Value>(0)
                })
                .map(|v| match v {
                    rusqlite::types::Value::Integer(i) => i.to_string(),
                    rusqlite::types::Value::Text(t) => t,
                    other => format!("{other:?}"),
                })
                .expect("pragma")
            };
            assert_eq!(pragma("journal_mode"), "wal");
            assert_eq!(pragma("synchronous"), level.to_string(), "{sync:?}");
            assert_eq!(pragma("wal_autocheckpoint"), WAL_PAGES.to_string());
            assert_eq!(pragma("busy_timeout"), "1000");
        }
    }
}
