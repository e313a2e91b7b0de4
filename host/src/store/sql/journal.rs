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

/// From this many entries in the journal, the writer moves it after a commit.
pub(super) const FOLD_ROWS: usize = 2048;
/// While no commit is to be made for this long, the writer moves the journal.
pub(super) const FOLD_IDLE: Duration = Duration::from_millis(25);

const READ_JOURNAL: &str = "SELECT data FROM journal ORDER BY n";
/// A commit's row (numbered by the database in commit order: the journal is read in that order).
pub(super) const INSERT_JOURNAL: &str = "INSERT INTO journal (data) VALUES ($1)";
/// A run's row. Of two runs starting at the same position, the first written is kept, as the
/// entries table keeps the first row of a position (written twice only by a retried commit).
const INSERT_CHUNK: &str = "INSERT INTO entry_chunks (room, pos_from, pos_to, data) \
     VALUES (?1, ?2, ?3, ?4) ON CONFLICT (room, pos_from) DO NOTHING";
/// PostgreSQL's form of [`INSERT_CHUNK`]: every run in one statement, one array per column.
pub(super) const INSERT_CHUNKS_UNNESTED: &str = "INSERT INTO entry_chunks \
     (room, pos_from, pos_to, data) \
     SELECT * FROM unnest($1::text[], $2::int8[], $3::int8[], $4::bytea[]) \
     ON CONFLICT (room, pos_from) DO NOTHING";
/// Without a `WHERE`, SQLite drops the table's pages at once rather than row by row. (SQLite's
/// move holds its one writer's lock: nothing is added meanwhile.)
const EMPTY_JOURNAL: &str = "DELETE FROM journal";

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
fn put_chunked(blob: &mut Vec<u8>, pos: u64, data: &[u8]) {
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
pub(super) struct Run<'a> {
    pub room: &'a str,
    /// Its first and last position.
    pub from: u64,
    pub to: u64,
    /// Its records (see the module's header).
    pub data: Vec<u8>,
}

/// The journal's rows (`blobs`, in their order) as runs, one per room, in the chunks' key order;
/// and how many entries the rows hold. Of a position written twice (a retried commit), the
/// first is kept.
pub(super) fn runs(blobs: &[Vec<u8>]) -> Result<(Vec<Run<'_>>, usize), Malformed> {
    let mut all = Vec::new();
    for blob in blobs {
        all.extend(journaled(blob)?);
    }
    let held = all.len();
    // Stable: of a position written twice, the first written stays first, and is kept. (A
    // sort of one vector: nested maps cost a third of a move's time, 2 vCPU AMD EPYC.)
    all.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    all.dedup_by(|later, kept| (later.0, later.1) == (kept.0, kept.1));
    let mut out: Vec<Run<'_>> = Vec::new();
    for (room, pos, bytes) in all {
        if out.last().is_none_or(|run| run.room != room) {
            out.push(Run {
                room,
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
    let blobs: Vec<Vec<u8>> = conn
        .prepare_cached(READ_JOURNAL)?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let (runs, held) = runs(&blobs)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, Type::Blob, e.into()))?;
    let mut insert = conn.prepare_cached(INSERT_CHUNK)?;
    for run in &runs {
        insert.execute(rusqlite::params![
            run.room,
            super::int(run.from),
            super::int(run.to),
            run.data.as_slice()
        ])?;
    }
    conn.prepare_cached(EMPTY_JOURNAL)?.execute([])?;
    Ok(held)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let blobs = [first, second];
        let (runs, held) = runs(&blobs).expect("reads");
        assert_eq!(held, 6);
        let laid: Vec<_> = runs
            .iter()
            .map(|r| (r.room, r.from, r.to, chunked(&r.data).expect("reads")))
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
