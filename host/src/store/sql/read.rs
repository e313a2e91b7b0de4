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
use std::collections::HashMap;

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
        let entry = postcard::from_bytes(&self.data).map_err(|e| StoreError::Corrupt {
            what: format!("entry {} of {}", self.pos, self.room),
            reason: e.to_string(),
        })?;
        Ok((uint(self.pos), entry))
    }
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
    let entries_sql = "SELECT e.room, e.pos, e.data FROM games g \
         JOIN entries e ON e.room = g.room \
         WHERE g.ended_at IS NULL \
         AND e.pos > COALESCE((SELECT MAX(s.pos) FROM snapshots s WHERE s.room = g.room), 0) \
         ORDER BY e.room, e.pos";
    let postgres = db.is_postgres();
    let (headers, snapshots, entries) = each_db!(db, Db, pool => {
        let mut tx = pool.begin().await.map_err(db_error)?;
        if postgres {
            // One snapshot of the database for the three queries (SQLite's read transaction
            // is one already).
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
        }
        let headers: Vec<HeaderRow> = sqlx::query_as(&headers_sql)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_error)?;
        let snapshots: Vec<SnapshotRow> = sqlx::query_as(snapshots_sql)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_error)?;
        let entries: Vec<EntryRow> = sqlx::query_as(entries_sql)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_error)?;
        tx.rollback().await.map_err(db_error)?;
        (headers, snapshots, entries)
    });

    let mut logs = Vec::with_capacity(headers.len());
    let mut index: HashMap<String, usize> = HashMap::with_capacity(headers.len());
    for row in headers {
        index.insert(row.room.clone(), logs.len());
        logs.push(GameLog {
            header: row.decode()?,
            snapshot: None,
            entries: Vec::new(),
        });
    }
    for s in snapshots {
        if let Some(&i) = index.get(&s.room) {
            logs[i].snapshot = Some(Snapshot {
                pos: uint(s.pos),
                seq: uint(s.seq),
                data: s.data,
            });
        }
    }
    for e in &entries {
        if let Some(&i) = index.get(&e.room) {
            logs[i].entries.push(e.decode()?);
        }
    }
    Ok(logs)
}

/// One game whole (ended or not): its header and every entry from the first, no snapshot.
pub(super) async fn game(db: &Db, room: &RoomId) -> Result<Option<GameLog>, StoreError> {
    let header_sql = format!("SELECT {HEADER_COLUMNS} FROM games WHERE room = $1");
    let entries_sql = "SELECT room, pos, data FROM entries WHERE room = $1 ORDER BY pos";
    let postgres = db.is_postgres();
    let (header, entries) = each_db!(db, Db, pool => {
        let mut tx = pool.begin().await.map_err(db_error)?;
        if postgres {
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
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
    Ok(Some(GameLog {
        header: header.decode()?,
        snapshot: None,
        entries: entries
            .iter()
            .map(EntryRow::decode)
            .collect::<Result<_, _>>()?,
    }))
}
