//! Reading games back: every unfinished game for recovery, one game whole for inspection.
//!
//! Owns: the read queries and the decoding of rows into the ports' records. Must not touch:
//! writes.
//!
//! Recovery reads every unfinished game in three queries (headers, latest snapshots, the
//! entries after them), not three per game, inside one read transaction, so that the three agree
//! even if the writer commits meanwhile.

use super::journal::{self, Malformed};
use super::{Db, db_error, uint};
use crate::ids::{PlayerId, RoomId};
use crate::store::{Entry, GameHeader, GameLog, ModuleKey, Snapshot, StoreError};
use futures_util::TryStreamExt;
use sqlx::Row;
use std::collections::HashMap;

/// Makes a PostgreSQL read transaction see one snapshot of the database for all its queries
/// (SQLite's read transaction is one already).
const READ_SNAPSHOT: &str = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY";

const HEADER_COLUMNS: &str = "room, module_name, module_version, module_digest, seed, options, \
                              seats, creator, private, turn_deadline_ms, created_at";

/// A row of `games`.
#[derive(sqlx::FromRow)]
struct HeaderRow {
    room: String,
    module_name: String,
    module_version: String,
    module_digest: String,
    seed: i64,
    options: String,
    seats: i64,
    creator: String,
    private: bool,
    turn_deadline_ms: Option<i64>,
    created_at: i64,
}

impl HeaderRow {
    fn decode(self) -> Result<GameHeader, StoreError> {
        let seats = u32::try_from(self.seats).map_err(|_| StoreError::Corrupt {
            what: format!("header of {}", self.room),
            reason: format!("{} seats", self.seats),
        })?;
        Ok(GameHeader {
            room: RoomId::from_wire(&self.room),
            module: ModuleKey {
                name: self.module_name,
                version: self.module_version,
                digest: self.module_digest,
            },
            seed: uint(self.seed),
            options: self.options,
            seats,
            creator: PlayerId::from_wire(&self.creator),
            private: self.private,
            turn_deadline_ms: self.turn_deadline_ms.map(uint),
            created_at: uint(self.created_at),
        })
    }
}

/// A row of `snapshots`.
#[derive(sqlx::FromRow)]
struct SnapshotRow {
    room: String,
    pos: i64,
    seq: i64,
    data: Vec<u8>,
}

/// A row of `entries` (`seq` and `at` are in `data`).
#[derive(sqlx::FromRow)]
struct EntryRow {
    room: String,
    pos: i64,
    data: Vec<u8>,
}

impl EntryRow {
    fn decode(&self) -> Result<(u64, Entry), StoreError> {
        decode_entry(&self.room, uint(self.pos), &self.data)
    }
}

/// Where each unfinished game's replay starts (after its latest snapshot), once per game.
const AFTER: &str = "WITH after AS MATERIALIZED ( \
       SELECT g.room, COALESCE((SELECT MAX(s.pos) FROM snapshots s WHERE s.room = g.room), 0) \
         AS pos \
       FROM games g WHERE g.ended_at IS NULL) ";
/// The chunks and the journal (see `journal`), read after the entries table (where the
/// entries of databases written by earlier versions stay): of a position in more than one
/// place, the first read is kept.
const JOURNAL: &str = "SELECT data FROM journal ORDER BY n";
const CHUNKS_OF_GAME: &str = "SELECT data FROM entry_chunks WHERE room = $1 ORDER BY pos_from";

/// A chunk or journal row of `room` (the journal's rows: of any room) that cannot be read.
fn malformed(room: &str) -> impl Fn(Malformed) -> StoreError + '_ {
    move |e| StoreError::Corrupt {
        what: format!("the log of {room}"),
        reason: e.to_string(),
    }
}

/// The entry at `pos` of `room`, from its stored bytes.
fn decode_entry(room: &str, pos: u64, data: &[u8]) -> Result<(u64, Entry), StoreError> {
    let entry = postcard::from_bytes(data).map_err(|e| StoreError::Corrupt {
        what: format!("entry {pos} of {room}"),
        reason: e.to_string(),
    })?;
    Ok((pos, entry))
}

/// Every game that has not ended: its header, latest snapshot and the entries after it, oldest
/// games first.
pub(super) async fn unfinished(db: &Db) -> Result<Vec<GameLog>, StoreError> {
    let headers_sql = format!(
        "SELECT {HEADER_COLUMNS} FROM games WHERE ended_at IS NULL ORDER BY created_at, room"
    );
    let snapshots_sql = "SELECT s.room, s.pos, s.seq, s.data FROM games g \
         JOIN snapshots s ON s.room = g.room \
         WHERE g.ended_at IS NULL \
         AND s.pos = (SELECT MAX(t.pos) FROM snapshots t WHERE t.room = g.room)";
    // A range of the entries' key per game, after where its replay starts. In no particular
    // order: sorting 200,000 rows in the database cost more than sorting each game's few in
    // memory.
    let entries_sql = format!(
        "{AFTER} SELECT e.room, e.pos, e.data FROM after a \
         JOIN entries e ON e.room = a.room AND e.pos > a.pos"
    );
    // The runs that reach past where the replay starts (and the journal: empty at start, when
    // recovery reads, since the store moves it first; read all the same).
    let chunks_sql = format!(
        "{AFTER} SELECT c.room, c.pos_from, c.data FROM after a \
         JOIN entry_chunks c ON c.room = a.room AND c.pos_to > a.pos"
    );
    let postgres = db.is_postgres();
    let mut logs = Vec::new();
    // A game whose stored entries do not decode is damaged, not the whole read: recovery pauses
    // that game and rebuilds the rest.
    let mut damage = Damage::default();
    each_db!(db, Db, pool => {
        let mut tx = pool.begin().await.map_err(db_error)?;
        if postgres {
            // One snapshot of the database for the three queries (SQLite's read transaction
            // is one already).
            sqlx::query(READ_SNAPSHOT)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
            // Unfinished games are a sliver of every game ever logged: walk the entries' key
            // for each of them. The planner, judging by statistics, would rather hash the whole
            // table, which makes recovery as slow as the history is long.
            for off in ["SET LOCAL enable_hashjoin = off", "SET LOCAL enable_mergejoin = off"] {
                sqlx::query(off).execute(&mut *tx).await.map_err(db_error)?;
            }
        }
        let headers: Vec<HeaderRow> = sqlx::query_as(&headers_sql)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_error)?;
        let mut index: HashMap<String, usize> = HashMap::with_capacity(headers.len());
        logs.reserve(headers.len());
        for row in headers {
            index.insert(row.room.clone(), logs.len());
            logs.push(GameLog {
                header: row.decode()?,
                snapshot: None,
                entries: Vec::new(),
                damaged: None,
            });
        }
        let snapshots: Vec<SnapshotRow> = sqlx::query_as(snapshots_sql)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_error)?;
        for s in snapshots {
            if let Some(&i) = index.get(&s.room) {
                logs[i].snapshot = Some(Snapshot {
                    pos: uint(s.pos),
                    seq: uint(s.seq),
                    data: s.data,
                });
            }
        }
        // Streamed and decoded as they come: no row is kept past its entry.
        let mut rows = sqlx::query(&entries_sql).fetch(&mut *tx);
        while let Some(row) = rows.try_next().await.map_err(db_error)? {
            let room: &str = row.try_get(0).map_err(db_error)?;
            let pos = uint(row.try_get(1).map_err(db_error)?);
            let data: &[u8] = row.try_get(2).map_err(db_error)?;
            if let Some(&i) = index.get(room) {
                damage.push_after(&mut logs[i], i, pos, data);
            }
        }
        drop(rows);
        let mut rows = sqlx::query(&chunks_sql).fetch(&mut *tx);
        while let Some(row) = rows.try_next().await.map_err(db_error)? {
            let room: &str = row.try_get(0).map_err(db_error)?;
            let from = uint(row.try_get(1).map_err(db_error)?);
            let data: &[u8] = row.try_get(2).map_err(db_error)?;
            if let Some(&i) = index.get(room) {
                match journal::chunked(data) {
                    Ok(chunk) => {
                        for (pos, entry) in chunk {
                            damage.push_after(&mut logs[i], i, pos, entry);
                        }
                    }
                    Err(e) => damage.mark(i, from, malformed(room)(e)),
                }
            }
        }
        drop(rows);
        let mut rows = sqlx::query(JOURNAL).fetch(&mut *tx);
        while let Some(row) = rows.try_next().await.map_err(db_error)? {
            let data: &[u8] = row.try_get(0).map_err(db_error)?;
            // (A journal row holds entries of many games: one that is cut short cannot be told
            // apart by game. The store moves the journal at open, so a cut row stops the store
            // from opening before it gets here.)
            for (room, pos, entry) in journal::journaled(data).map_err(malformed("a game"))? {
                if let Some(&i) = index.get(room) {
                    damage.push_after(&mut logs[i], i, pos, entry);
                }
            }
        }
        drop(rows);
        tx.rollback().await.map_err(db_error)?;
    });
    for log in &mut logs {
        log.entries.sort_by_key(|(pos, _)| *pos);
        log.entries.dedup_by_key(|(pos, _)| *pos);
    }
    damage.apply(&mut logs);
    Ok(logs)
}

/// The games of a recovery read whose logs could not be read whole: per game (its index), the
/// first position that could not, and why.
#[derive(Default)]
struct Damage(HashMap<usize, (u64, StoreError)>);

impl Damage {
    /// Game `i` cannot be read from `pos` on (`pos` and everything after it).
    fn mark(&mut self, i: usize, pos: u64, why: StoreError) {
        tracing::error!("reading the unfinished games: {why}");
        if self.0.get(&i).is_none_or(|(first, _)| pos < *first) {
            self.0.insert(i, (pos, why));
        }
    }

    /// Adds the entry at `pos` to game `i`'s `log` if its replay needs it (it comes after the
    /// snapshot); one that does not decode marks the game.
    fn push_after(&mut self, log: &mut GameLog, i: usize, pos: u64, data: &[u8]) {
        if pos > log.snapshot.as_ref().map_or(0, |s| s.pos) {
            match decode_entry(log.header.room.as_str(), pos, data) {
                Ok(entry) => log.entries.push(entry),
                Err(e) => self.mark(i, pos, e),
            }
        }
    }

    /// Cuts each damaged game's entries before where it could not be read, and says why.
    fn apply(self, logs: &mut [GameLog]) {
        for (i, (pos, why)) in self.0 {
            let log = &mut logs[i];
            log.entries.retain(|(p, _)| *p < pos);
            log.damaged = Some(why.to_string());
        }
    }
}

/// One game whole (ended or not): its header and every entry from the first, no snapshot.
pub(super) async fn game(db: &Db, room: &RoomId) -> Result<Option<GameLog>, StoreError> {
    let header_sql = format!("SELECT {HEADER_COLUMNS} FROM games WHERE room = $1");
    let postgres = db.is_postgres();
    let entries_sql = "SELECT room, pos, data FROM entries WHERE room = $1 ORDER BY pos";
    let (header, entries, chunks, journaled) = each_db!(db, Db, pool => {
        let mut tx = pool.begin().await.map_err(db_error)?;
        if postgres {
            sqlx::query(READ_SNAPSHOT)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
        }
        let header: Option<HeaderRow> = sqlx::query_as(&header_sql)
            .bind(room.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_error)?;
        let entries: Vec<EntryRow> = sqlx::query_as(entries_sql)
            .bind(room.as_str())
            .fetch_all(&mut *tx)
            .await
            .map_err(db_error)?;
        let chunks: Vec<Vec<u8>> = sqlx::query_scalar(CHUNKS_OF_GAME)
            .bind(room.as_str())
            .fetch_all(&mut *tx)
            .await
            .map_err(db_error)?;
        let journaled: Vec<Vec<u8>> = sqlx::query_scalar(JOURNAL)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_error)?;
        tx.rollback().await.map_err(db_error)?;
        (header, entries, chunks, journaled)
    });
    let Some(header) = header else {
        return Ok(None);
    };
    let mut entries: Vec<(u64, Entry)> = entries
        .iter()
        .map(EntryRow::decode)
        .collect::<Result<_, _>>()?;
    let name = room.as_str();
    for chunk in &chunks {
        for (pos, data) in journal::chunked(chunk).map_err(malformed(name))? {
            entries.push(decode_entry(name, pos, data)?);
        }
    }
    for row in &journaled {
        for (of, pos, data) in journal::journaled(row).map_err(malformed(name))? {
            if of == name {
                entries.push(decode_entry(name, pos, data)?);
            }
        }
    }
    // Stable: of a position in more than one place, the first read stays first.
    entries.sort_by_key(|(pos, _)| *pos);
    entries.dedup_by_key(|(pos, _)| *pos);
    Ok(Some(GameLog {
        header: header.decode()?,
        snapshot: None,
        entries,
        damaged: None,
    }))
}
