//! The journal and its chunks: the form a game's entries take in the database (both of them;
//! the entries table holds what earlier versions wrote).
//!
//! Owns: the journal's and the chunks' bytes (how a commit's entries, and a room's run of
//! entries, are laid out in one blob), SQLite's move of the journal into chunks (PostgreSQL's
//! is in `pg`), and reading both back. Must not touch: the commits themselves (see `lite`,
//! `pg`), the queue, the entries table's rows (see `read`).
//!
//! A commit writes its entries, whatever their rooms, as one row of the journal: one blob, a
//! few pages at the journal's end, one insert. Every so often the writer moves the whole
//! journal into `entry_chunks`: per room, one row holding the run of entries the journal
//! gathered for it, keyed by the room and the run's first position, so that a room's log is a
//! few rows next to each other. Storing one row per entry in both places cost SQLite two
//! b-tree inserts and a delete per entry, and a page of the journal's end per bucket per
//! commit: most of what the SQLite log cost the server per move (profiled: 2 vCPU AMD EPYC,
//! `tabula-load` with 100 rooms). On PostgreSQL a row per entry cost an index and a heap insert
//! each, most of a commit's time.
//!
//! Layout of both blobs: records one after the other, little-endian. A journal record is
//! `u32 room length, room, u64 position, u32 data length, data`; a chunk record is the same
//! without the room. `data` is the entry as the entries table holds it (postcard).

use super::queue::EntryItem;
use rusqlite::Connection;
use rusqlite::types::Type;
use std::time::Duration;

/// From this many entries in the journal, the writer moves it after a commit (on SQLite;
/// PostgreSQL's is `pg::FOLD_ROWS`).
pub(super) const FOLD_ROWS: usize = 2048;
/// While no commit is to be made for this long, the writer moves the journal.
pub(super) const FOLD_IDLE: Duration = Duration::from_millis(25);

/// A commit's row (numbered by the database in commit order: the journal is read in that order).
pub(super) const INSERT_JOURNAL: &str = "INSERT INTO journal (data) VALUES ($1)";
/// A run's row, on SQLite. Of two runs starting at the same position, the longer is kept: a
/// move in steps (see [`Moving`]; PostgreSQL's goes in steps too) may have written a room's
/// run before a whole move, or one after a restart, read the same journal rows and more. Both
/// hold the same entries up to the shorter's end (of a position written twice, by a retried
/// commit, each keeps the first).
const INSERT_CHUNK: &str = "INSERT INTO entry_chunks (room, pos_from, pos_to, data) \
     VALUES (?1, ?2, ?3, ?4) ON CONFLICT (room, pos_from) DO UPDATE \
     SET pos_to = excluded.pos_to, data = excluded.data \
     WHERE excluded.pos_to > entry_chunks.pos_to";
/// PostgreSQL's form of [`INSERT_CHUNK`]: many runs in one statement, one array per column.
/// (PostgreSQL's move goes in steps too, each committed by itself.)
pub(super) const INSERT_CHUNKS_UNNESTED: &str = "INSERT INTO entry_chunks \
     (room, pos_from, pos_to, data) \
     SELECT * FROM unnest($1::text[], $2::int8[], $3::int8[], $4::bytea[]) \
     ON CONFLICT (room, pos_from) DO UPDATE \
     SET pos_to = excluded.pos_to, data = excluded.data \
     WHERE excluded.pos_to > entry_chunks.pos_to";
/// Without a `WHERE`, SQLite drops the table's pages at once rather than row by row. (SQLite's
/// move holds its one writer's lock: nothing is added meanwhile.)
const EMPTY_JOURNAL: &str = "DELETE FROM journal";
/// The journal's rows, with their numbers, in order (on both databases).
pub(super) const READ_JOURNAL_NUMBERED: &str = "SELECT n, data FROM journal ORDER BY n";
const DELETE_JOURNAL_UPTO: &str = "DELETE FROM journal WHERE n <= ?1";
/// Rooms whose runs a step of SQLite's move writes (see [`Moving`]). Of 16, 24, 48 and all
/// (a move in one step), 16 made the writer's rate highest and its p99 lowest (`log_writer`,
/// SQLite, 2 vCPU AMD EPYC: 0.96-1.05M rows/s against 0.86M at 48; append-to-durable p99 at
/// 380k rows/s 2.3-3.2 ms, against 3.3-3.8 at 48 and 3.5-4.4 in one step).
const ROOMS_PER_STEP: usize = 16;

/// Lays out the journal row of a commit's `entries` in `blob` (which it clears), leaving out
/// those of games given up; returns how many it holds.
pub(super) fn put_commit(blob: &mut Vec<u8>, entries: &[EntryItem]) -> usize {
    blob.clear();
    let mut n = 0;
    for e in entries.iter().filter(|e| !e.game.is_broken()) {
        put_journaled(blob, e.game.room.as_str(), e.pos, &e.data);
        n += 1;
    }
    n
}

/// Appends one record of a commit's journal row.
pub(super) fn put_journaled(blob: &mut Vec<u8>, room: &str, pos: u64, data: &[u8]) {
    put_bytes(blob, room.as_bytes());
    put_chunked(blob, pos, data);
}

/// Appends one record of a chunk.
pub(super) fn put_chunked(blob: &mut Vec<u8>, pos: u64, data: &[u8]) {
    blob.extend_from_slice(&pos.to_le_bytes());
    put_bytes(blob, data);
}

fn put_bytes(blob: &mut Vec<u8>, bytes: &[u8]) {
    // Entries and room ids are far below 4 GiB: the log refuses larger entries long before.
    blob.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    blob.extend_from_slice(bytes);
}

/// The blob could not be read: cut short, or a room id that is not UTF-8.
#[derive(Debug)]
pub(super) struct Malformed;

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a malformed journal or chunk row")
    }
}

impl std::error::Error for Malformed {}

/// Reads records off a blob.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Malformed> {
        if self.0.len() < n {
            return Err(Malformed);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u64(&mut self) -> Result<u64, Malformed> {
        let b = self.take(8)?;
        Ok(u64::from_le_bytes(b.try_into().map_err(|_| Malformed)?))
    }

    fn bytes(&mut self) -> Result<&'a [u8], Malformed> {
        let b = self.take(4)?;
        let n = u32::from_le_bytes(b.try_into().map_err(|_| Malformed)?);
        self.take(n as usize)
    }
}

/// An entry as a journal row holds it: (room, position, data).
pub(super) type Journaled<'a> = (&'a str, u64, &'a [u8]);

/// The entries of a commit's journal row, in the commit's order.
pub(super) fn journaled(blob: &[u8]) -> Result<Vec<Journaled<'_>>, Malformed> {
    let mut r = Reader(blob);
    let mut out = Vec::new();
    while !r.0.is_empty() {
        let room = std::str::from_utf8(r.bytes()?).map_err(|_| Malformed)?;
        let pos = r.u64()?;
        out.push((room, pos, r.bytes()?));
    }
    Ok(out)
}

/// The entries of a chunk: (position, data), in order.
pub(super) fn chunked(blob: &[u8]) -> Result<Vec<(u64, &[u8])>, Malformed> {
    let mut r = Reader(blob);
    let mut out = Vec::new();
    while !r.0.is_empty() {
        let pos = r.u64()?;
        out.push((pos, r.bytes()?));
    }
    Ok(out)
}

/// A room's run of entries from the journal, as its chunk row holds it.
pub(super) struct Run {
    pub room: String,
    /// Its first and last position.
    pub from: u64,
    pub to: u64,
    /// Its records (see the module's header).
    pub data: Vec<u8>,
}

/// The journal's rows (number and blob, in their order) as runs, one per room, in the chunks'
/// key order; and how many entries the rows hold. Of a position written twice (a retried
/// commit), the first is kept.
pub(super) fn runs(rows: &[(i64, Vec<u8>)]) -> Result<(Vec<Run>, usize), Malformed> {
    let mut all = Vec::new();
    for (_, blob) in rows {
        all.extend(journaled(blob)?);
    }
    let held = all.len();
    // Stable: of a position written twice, the first written stays first, and is kept. (A
    // sort of one vector: nested maps cost a third of a move's time, 2 vCPU AMD EPYC.)
    all.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    all.dedup_by(|later, kept| (later.0, later.1) == (kept.0, kept.1));
    let mut out: Vec<Run> = Vec::new();
    for (room, pos, bytes) in all {
        if out.last().is_none_or(|run| run.room != room) {
            out.push(Run {
                room: room.to_owned(),
                from: pos,
                to: pos,
                data: Vec::new(),
            });
        }
        if let Some(run) = out.last_mut() {
            run.to = pos;
            put_chunked(&mut run.data, pos, bytes);
        }
    }
    Ok((out, held))
}

/// Moves the whole journal into chunks, one per room, within the caller's transaction on
/// SQLite; returns how many entries it held. (PostgreSQL's: `pg::fold`.)
pub(super) fn fold(conn: &Connection) -> rusqlite::Result<usize> {
    let Some(moving) = Moving::start(conn)? else {
        return Ok(0);
    };
    insert_runs(conn, &moving.runs)?;
    conn.prepare_cached(EMPTY_JOURNAL)?.execute([])?;
    Ok(moving.held)
}

fn insert_runs(conn: &Connection, runs: &[Run]) -> rusqlite::Result<()> {
    let mut insert = conn.prepare_cached(INSERT_CHUNK)?;
    for run in runs {
        insert.execute(rusqlite::params![
            run.room,
            super::int(run.from),
            super::int(run.to),
            run.data.as_slice()
        ])?;
    }
    Ok(())
}

fn malformed(e: Malformed) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(0, Type::Blob, e.into())
}

/// SQLite's move of the journal in steps, between commits: each step writes the runs of a few
/// rooms ([`ROOMS_PER_STEP`]), the last also deletes the journal rows the move read. SQLite has
/// one writer at a time, so a move holds up every room's commits while it runs: moving 2,048
/// entries of 200 rooms at once took ~2 ms (most of it writing the chunks' index pages, about
/// one per room), the longest wait of an entry under load. Until the last step, the rooms
/// already written are in their chunks and in the journal too; readers keep one of each
/// position, and a whole move over the same rows keeps the longer run.
pub(super) struct Moving {
    /// The last journal row it moves.
    last: i64,
    /// How many entries those rows hold.
    held: usize,
    runs: Vec<Run>,
    /// The first run not yet written.
    next: usize,
}

impl Moving {
    /// Reads the journal and lays out its runs (within the caller's transaction); `None` when
    /// the journal is empty.
    pub fn start(conn: &Connection) -> rusqlite::Result<Option<Moving>> {
        let rows: Vec<(i64, Vec<u8>)> = conn
            .prepare_cached(READ_JOURNAL_NUMBERED)?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let Some(&(last, _)) = rows.last() else {
            return Ok(None);
        };
        let (runs, held) = runs(&rows).map_err(malformed)?;
        Ok(Some(Moving {
            last,
            held,
            runs,
            next: 0,
        }))
    }

    /// Writes the next step within the caller's transaction; returns where the step after it
    /// starts, to be passed to [`Moving::wrote`] once the transaction has committed.
    pub fn step(&self, conn: &Connection) -> rusqlite::Result<usize> {
        let end = (self.next + ROOMS_PER_STEP).min(self.runs.len());
        insert_runs(conn, &self.runs[self.next..end])?;
        if end == self.runs.len() {
            conn.prepare_cached(DELETE_JOURNAL_UPTO)?
                .execute([self.last])?;
        }
        Ok(end)
    }

    /// The step ending at `next` has committed: `Some(entries moved)` if it was the last.
    pub fn wrote(&mut self, next: usize) -> Option<usize> {
        self.next = next;
        (next == self.runs.len()).then_some(self.held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn records_read_back_as_written_and_a_cut_blob_is_malformed() {
        let mut blob = Vec::new();
        put_journaled(&mut blob, "r-1", 7, b"seven");
        put_journaled(&mut blob, "r-22", 1, b"");
        let read = journaled(&blob).expect("reads");
        assert_eq!(read, vec![("r-1", 7, &b"seven"[..]), ("r-22", 1, &b""[..])]);
        assert!(journaled(&blob[..blob.len() - 1]).is_err());

        let mut chunk = Vec::new();
        put_chunked(&mut chunk, 3, b"three");
        put_chunked(&mut chunk, 4, b"four");
        assert_eq!(
            chunked(&chunk).expect("reads"),
            vec![(3, &b"three"[..]), (4, &b"four"[..])]
        );
        assert!(chunked(&chunk[..5]).is_err());
    }

    /// The rooms' positions in the chunks, per room, in order.
    fn chunked_positions(conn: &Connection) -> BTreeMap<String, Vec<u64>> {
        let mut out: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        let mut read = conn
            .prepare("SELECT room, data FROM entry_chunks ORDER BY room, pos_from")
            .expect("prepare");
        let rows = read
            .query_map([], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
            })
            .expect("query");
        for row in rows {
            let (room, data) = row.expect("row");
            let positions = chunked(&data).expect("reads").into_iter().map(|(p, _)| p);
            out.entry(room).or_default().extend(positions);
        }
        out
    }

    #[test]
    fn a_move_in_steps_overtaken_by_a_whole_move_loses_nothing() {
        let conn = Connection::open_in_memory().expect("open");
        conn.execute_batch(
            "CREATE TABLE journal (n INTEGER PRIMARY KEY, data BLOB NOT NULL);
             CREATE TABLE entry_chunks (room TEXT NOT NULL, pos_from INTEGER NOT NULL,
                 pos_to INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (room, pos_from));",
        )
        .expect("schema");
        let journal_count = || -> i64 {
            conn.query_row("SELECT COUNT(*) FROM journal", [], |r| r.get(0))
                .expect("count")
        };
        let commit = |rooms: &[String], pos: u64| {
            let mut blob = Vec::new();
            for room in rooms {
                put_journaled(&mut blob, room, pos, b"entry");
            }
            conn.execute("INSERT INTO journal (data) VALUES (?1)", [&blob])
                .expect("commit");
        };
        // More rooms than one step writes, two commits each.
        let rooms: Vec<String> = (0..ROOMS_PER_STEP + 12)
            .map(|i| format!("r-{i:03}"))
            .collect();
        commit(&rooms, 1);
        commit(&rooms, 2);

        let mut moving = Moving::start(&conn).expect("start").expect("a journal");
        let next = moving.step(&conn).expect("step");
        assert_eq!(moving.wrote(next), None, "one step does not end the move");
        let written = chunked_positions(&conn);
        assert_eq!(written.len(), ROOMS_PER_STEP);
        assert!(written.values().all(|p| p == &[1, 2]));
        assert_eq!(journal_count(), 2, "the journal is deleted only at the end");

        // A commit between the steps; then a whole move (a shutdown's, a purge's) overtakes the
        // move in steps: the rooms written already get their longer run.
        commit(&rooms[..2], 3);
        assert_eq!(fold(&conn).expect("fold"), 2 * rooms.len() + 2);
        let written = chunked_positions(&conn);
        assert_eq!(written.len(), rooms.len());
        assert_eq!(written[&rooms[0]], [1, 2, 3]);
        assert_eq!(written[&rooms[2]], [1, 2]);
        assert_eq!(journal_count(), 0);

        // A move in steps to its end deletes the rows it read, not a commit's made meanwhile.
        commit(&rooms, 4);
        let mut moving = Moving::start(&conn).expect("start").expect("a journal");
        commit(&rooms[..1], 5);
        let moved = loop {
            let next = moving.step(&conn).expect("step");
            if let Some(moved) = moving.wrote(next) {
                break moved;
            }
        };
        assert_eq!(moved, rooms.len());
        assert_eq!(journal_count(), 1);
        let written = chunked_positions(&conn);
        assert_eq!(
            written[&rooms[0]],
            [1, 2, 3, 4],
            "5 is still in the journal"
        );
        assert_eq!(written[&rooms[2]], [1, 2, 4]);
    }

    #[test]
    fn runs_gather_each_rooms_entries_in_order_keeping_the_first_of_a_position() {
        let mut first = Vec::new();
        put_journaled(&mut first, "r-b", 1, b"b1");
        put_journaled(&mut first, "r-a", 5, b"a5");
        put_journaled(&mut first, "r-b", 2, b"b2");
        let mut second = Vec::new();
        // A retried commit wrote r-b's position 2 again, then each room went on.
        put_journaled(&mut second, "r-b", 2, b"b2 again");
        put_journaled(&mut second, "r-a", 6, b"a6");
        put_journaled(&mut second, "r-b", 3, b"b3");
        let rows = [(1, first), (2, second)];
        let (runs, held) = runs(&rows).expect("reads");
        assert_eq!(held, 6);
        let laid: Vec<_> = runs
            .iter()
            .map(|r| {
                (
                    r.room.as_str(),
                    r.from,
                    r.to,
                    chunked(&r.data).expect("reads"),
                )
            })
            .collect();
        assert_eq!(
            laid,
            vec![
                ("r-a", 5, 6, vec![(5, &b"a5"[..]), (6, &b"a6"[..])]),
                (
                    "r-b",
                    1,
                    3,
                    vec![(1, &b"b1"[..]), (2, &b"b2"[..]), (3, &b"b3"[..])]
                ),
            ]
        );
    }
}
