//! Reading games back: every unfinished game for recovery, one game whole for inspection.
//!
//! Owns: the read queries and the decoding of rows into the ports' records. Must not touch:
//! writes.
//!
//! Recovery reads every unfinished game in three queries (headers, latest snapshots, the
//! entries after them), not three per game, inside one read transaction, so that the three agree
//! even if the writer commits meanwhile.

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
        decode_entry(&self.room, self.pos, &self.data)
    }
}

/// The entry at `pos` of `room`, from its stored bytes.
fn decode_entry(room: &str, pos: i64, data: &[u8]) -> Result<(u64, Entry), StoreError> {
    let entry = postcard::from_bytes(data).map_err(|e| StoreError::Corrupt {
        what: format!("entry {pos} of {room}"),
        reason: e.to_string(),
    })?;
    Ok((uint(pos), entry))
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
    // Where each unfinished game's replay starts, once per game (materialized, so that it is
    // not computed again for each entry), then a range of the entries' key per game. In no
    // particular order: sorting 200,000 rows in the database cost more than sorting each
    // game's few in memory.
    let mut entries_sql = "WITH after AS MATERIALIZED ( \
           SELECT g.room, COALESCE((SELECT MAX(s.pos) FROM snapshots s WHERE s.room = g.room), 0) \
             AS pos \
           FROM games g WHERE g.ended_at IS NULL) \
         SELECT e.room, e.pos, e.data FROM after a \
         JOIN entries e ON e.room = a.room AND e.pos > a.pos"
        .to_string();
    let postgres = db.is_postgres();
    if !postgres {
        // SQLite's last entries may be in its journal: empty at start, when recovery reads
        // (the store moves it first), so a position in both (a retried commit) is not expected
        // here; one of each is kept below all the same.
        entries_sql.push_str(
            " UNION ALL SELECT j.room, j.pos, j.data FROM after a \
             JOIN journal j ON j.room = a.room AND j.pos > a.pos",
        );
    }
    let mut logs = Vec::new();
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
            let pos: i64 = row.try_get(1).map_err(db_error)?;
            let data: &[u8] = row.try_get(2).map_err(db_error)?;
            if let Some(&i) = index.get(room) {
                logs[i].entries.push(decode_entry(room, pos, data)?);
            }
        }
        drop(rows);
        tx.rollback().await.map_err(db_error)?;
    });
    for log in &mut logs {
        log.entries.sort_by_key(|(pos, _)| *pos);
        log.entries.dedup_by_key(|(pos, _)| *pos);
    }
    Ok(logs)
}

/// One game whole (ended or not): its header and every entry from the first, no snapshot.
pub(super) async fn game(db: &Db, room: &RoomId) -> Result<Option<GameLog>, StoreError> {
    let header_sql = format!("SELECT {HEADER_COLUMNS} FROM games WHERE room = $1");
    let postgres = db.is_postgres();
    let entries_sql = if postgres {
        "SELECT room, pos, data FROM entries WHERE room = $1 ORDER BY pos"
    } else {
        // The journal too (see `unfinished`), after the entries table and in the order it was
        // written, so that of a position written twice the one kept below is the one the
        // journal's move keeps.
        "SELECT room, pos, data, 0 AS part, 0 AS written FROM entries WHERE room = $1 \
         UNION ALL SELECT room, pos, data, 1, n FROM journal WHERE room = $1 \
         ORDER BY pos, part, written"
    };
    let (header, entries) = each_db!(db, Db, pool => {
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
        tx.rollback().await.map_err(db_error)?;
        (header, entries)
    });
    let Some(header) = header else {
        return Ok(None);
    };
    let mut entries: Vec<(u64, Entry)> = entries
        .iter()
        .map(EntryRow::decode)
        .collect::<Result<_, _>>()?;
    entries.dedup_by_key(|(pos, _)| *pos);
    Ok(Some(GameLog {
        header: header.decode()?,
        snapshot: None,
        entries,
    }))
}
