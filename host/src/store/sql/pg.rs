//! The writer's connection to PostgreSQL: one batch in one transaction (entries alone: one
//! statement), each kind of row in as few multi-row statements as its count allows (each
//! statement is a round trip).
//!
//! Owns: the PostgreSQL form of a batch's statements, PostgreSQL's move of the journal into
//! its chunks, and which of PostgreSQL's errors are permanent. Must not touch: the queue, the
//! games' durable positions (the writer task does both).

use super::batch::Batch;
use super::int;
use super::journal::{self, Run};
use super::queue::EntryItem;
use super::rows::*;
use super::writer::{Counts, room_taken};
use sqlx::pool::PoolConnection;
use sqlx::postgres::PgConnection;
use sqlx::{Postgres, QueryBuilder};
use std::collections::HashSet;
use std::time::Duration;

/// From this many entries in the journal, the writer moves it (see [`fold`]). Twice SQLite's
/// ([`journal::FOLD_ROWS`]): PostgreSQL's move runs beside the commits, and longer runs are
/// fewer rows to write for the same entries.
pub(super) const FOLD_ROWS: usize = 4096;
/// Rooms whose runs one statement of a move writes.
const ROOMS_PER_STEP: usize = 50;
/// Between two statements of a move under load: a moment in which the commits beside it have
/// the database's CPU and WAL to themselves (`tokio`'s timer ends it at its next millisecond).
/// A move in one go, beside the commits, slowed the commits it overlapped about threefold
/// (p90 0.5 ms alone, 1.5-2.4 ms beside a move: `log_writer` at 300k rows/s, 2 vCPU Intel Xeon);
/// in steps of 50 rooms with this pause, from 4,096 entries, append-to-durable p99 at that
/// rate went from 3.4-4.6 ms to 3.1-3.3 ms (three rounds, interleaved).
pub(super) const STEP_PAUSE: Duration = Duration::from_micros(500);
/// The journal's rows a move read. (Not all of them: a statement in PostgreSQL's default
/// isolation sees rows committed after the move's first read, which it has not moved.)
const DELETE_JOURNAL_UPTO: &str = "DELETE FROM journal WHERE n <= $1";

/// Whether the database would refuse `e`'s statement again however often it is retried: it
/// refused the data, not the moment (an unreachable server, a lock, a timeout).
pub(super) fn is_permanent(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => {
            if let Some(pg) = d.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
                // Classes 22 (data exception), 23 (integrity constraint violation), 54 (program
                // limit exceeded).
                let class = pg.code().get(..2).unwrap_or_default();
                return matches!(class, "22" | "23" | "54");
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

/// Writes `b` in one transaction on PostgreSQL, in dependency order: headers, entries,
/// snapshots, ends (with their archive rows), modules, sessions, touches, expiries, purges; each
/// kind of row in as few multi-row statements as its count allows (a round trip each).
pub(super) async fn write_batch(
    c: &mut PoolConnection<Postgres>,
    b: &Batch,
    full: usize,
) -> Result<Counts, sqlx::Error> {
    if b.nothing_but_entries() {
        // Entries alone (most batches under load) are one statement, which PostgreSQL commits
        // by itself: one round trip instead of three (BEGIN, the insert, COMMIT).
        return Ok(Counts {
            journaled: insert_journal(c, &b.entries).await?,
            ..Counts::default()
        });
    }
    let mut tx = sqlx::Connection::begin(&mut **c).await?;

    // Headers first: a game's first entries may be in this same transaction.
    let mut written: HashSet<String> = HashSet::new();
    for chunk in chunks(&b.headers, 11, full) {
        let mut q = QueryBuilder::new(INSERT_GAMES);
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
        q.push(GAMES_KEEP).push(" RETURNING room");
        let rooms: Vec<(String,)> = q.build_query_as().fetch_all(&mut *tx).await?;
        written.extend(rooms.into_iter().map(|(r,)| r));
    }
    for item in b
        .headers
        .iter()
        .filter(|h| !written.contains(h.header.room.as_str()))
    {
        // The room already has a game: this one, if an earlier attempt committed unknown
        // to us; otherwise an older game (room ids are random, and can repeat).
        let h = &item.header;
        let ours = b.retried && {
            let stored: Option<(i64, i64, String)> = sqlx::query_as(GAME_OF_ROOM)
                .bind(h.room.as_str())
                .fetch_optional(&mut *tx)
                .await?;
            stored == Some((int(h.seed), int(h.created_at), h.creator.as_str().into()))
        };
        if !ours {
            room_taken(item);
        }
    }

    // All of a batch's entries as one row of the journal, moved into chunks later (see
    // `journal`): one insert however many entries. As entry rows, one statement of arrays
    // unnested into rows, PostgreSQL's index and heap inserts took most of a commit's time.
    // Also in a retried attempt (an earlier attempt that committed unknown to us left its row
    // under another number): the move, and readers, keep the first of a position written twice.
    let journaled = insert_journal(&mut tx, &b.entries).await?;

    let snapshots = latest(&b.snapshots);
    for chunk in chunks(&snapshots, 4, full) {
        let mut q = QueryBuilder::new(INSERT_SNAPSHOTS);
        q.push_values(chunk, |mut row, s| {
            row.push_bind(s.game.room.as_str())
                .push_bind(int(s.pos))
                .push_bind(int(s.seq))
                .push_bind(s.data.as_slice());
        });
        q.push(SNAPSHOTS_REPLACE);
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
        if let Some(started) = end.started_at {
            sqlx::query(ADD_TO_TOTALS)
                .bind(e.game.room.as_str())
                .bind(int(e.at))
                .bind(int(started))
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(END_GAME)
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
        let mut q = QueryBuilder::new(INSERT_SEATS);
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
        q.push(SEATS_KEEP);
        q.build().execute(&mut *tx).await?;
    }

    for m in &b.modules {
        sqlx::query(INSERT_MODULE)
            .bind(m.key.digest.as_str())
            .bind(m.key.name.as_str())
            .bind(m.key.version.as_str())
            .bind(m.bytes.as_slice())
            .bind(int(m.at))
            .execute(&mut *tx)
            .await?;
    }

    for chunk in chunks(&b.sessions, 5, full) {
        let mut q = QueryBuilder::new(INSERT_SESSIONS);
        q.push_values(chunk, |mut row, s| {
            row.push_bind(s.token_hash.as_str())
                .push_bind(s.player.as_str())
                .push_bind(s.name.as_str())
                .push_bind(int(s.at))
                .push_bind(int(s.at));
        });
        if b.retried {
            q.push(SESSIONS_KEEP);
        }
        q.build().execute(&mut *tx).await?;
    }

    for (hash, at) in &b.touches {
        sqlx::query(TOUCH_SESSION)
            .bind(int(*at))
            .bind(hash.as_str())
            .execute(&mut *tx)
            .await?;
    }

    let mut expired = Vec::with_capacity(b.expiries.len());
    for x in &b.expiries {
        let done = sqlx::query(EXPIRE_SESSIONS)
            .bind(int(x.before))
            .execute(&mut *tx)
            .await?;
        expired.push(done.rows_affected());
    }

    let mut purged = Vec::with_capacity(b.purges.len());
    let mut folded = false;
    for p in &b.purges {
        // A bounded number of games per commit, oldest first: a purge never holds the
        // writer (and every room's next entries) for long.
        let rooms: Vec<(String,)> = sqlx::query_as(PURGEABLE_GAMES)
            .bind(int(p.before))
            .bind(int(p.limit))
            .fetch_all(&mut *tx)
            .await?;
        purged.push(rooms.len() as u64);
        if rooms.is_empty() {
            continue;
        }
        if !folded {
            // A purged game's last entries may still be in the journal.
            fold(&mut tx, None).await?;
            folded = true;
        }
        for table in ["entries", "entry_chunks", "snapshots"] {
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
    Ok(Counts {
        expired,
        purged,
        folded,
        journaled,
    })
}

/// Inserts the journal row of a commit's `entries` (none if they are all of games given up);
/// returns how many entries it holds.
async fn insert_journal(c: &mut PgConnection, entries: &[EntryItem]) -> Result<usize, sqlx::Error> {
    let mut blob = Vec::new();
    let journaled = journal::put_commit(&mut blob, entries);
    if journaled > 0 {
        sqlx::query(journal::INSERT_JOURNAL)
            .bind(blob)
            .execute(c)
            .await?;
    }
    Ok(journaled)
}

/// Moves the journal into chunks, a few rooms' runs at a time ([`ROOMS_PER_STEP`]), each in a
/// statement of its own (committed by itself, unless `c` is in a transaction: a purge's), with
/// `pause` between them (under load: see [`STEP_PAUSE`]); returns how many entries it held.
/// Commits may add rows meanwhile (the writer moves it beside them): only the rows read are
/// moved and deleted, by the last statement. Until then a room's entries can be in its chunk
/// and in the journal; readers keep one of each position, and a move cut short (a failure, a
/// killed server) is finished by the next, which keeps the longer run.
pub(super) async fn fold(
    c: &mut PgConnection,
    pause: Option<Duration>,
) -> Result<usize, sqlx::Error> {
    let Some((last, runs, held)) = read_runs(c).await? else {
        return Ok(0);
    };
    for (i, step) in runs.chunks(ROOMS_PER_STEP).enumerate() {
        if let Some(pause) = pause.filter(|_| i > 0) {
            tokio::time::sleep(pause).await;
        }
        insert_runs(&mut *c, step).await?;
    }
    sqlx::query(DELETE_JOURNAL_UPTO)
        .bind(last)
        .execute(&mut *c)
        .await?;
    Ok(held)
}

/// Reads the journal and lays out its runs: the last row read, the runs, and how many entries
/// the rows hold; `None` when it is empty.
async fn read_runs(c: &mut PgConnection) -> Result<Option<(i64, Vec<Run>, usize)>, sqlx::Error> {
    let rows: Vec<(i64, Vec<u8>)> = sqlx::query_as(journal::READ_JOURNAL_NUMBERED)
        .fetch_all(&mut *c)
        .await?;
    let Some(&(last, _)) = rows.last() else {
        return Ok(None);
    };
    let (runs, held) = journal::runs(&rows).map_err(|e| sqlx::Error::Decode(e.into()))?;
    Ok(Some((last, runs, held)))
}

/// Writes `runs` as chunks in one statement, one array per column.
async fn insert_runs(c: &mut PgConnection, runs: &[Run]) -> Result<(), sqlx::Error> {
    let rooms: Vec<&str> = runs.iter().map(|r| r.room.as_str()).collect();
    let from: Vec<i64> = runs.iter().map(|r| int(r.from)).collect();
    let to: Vec<i64> = runs.iter().map(|r| int(r.to)).collect();
    let data: Vec<&[u8]> = runs.iter().map(|r| r.data.as_slice()).collect();
    sqlx::query(journal::INSERT_CHUNKS_UNNESTED)
        .bind(rooms)
        .bind(from)
        .bind(to)
        .bind(data)
        .execute(c)
        .await?;
    Ok(())
}
