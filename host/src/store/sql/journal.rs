//! SQLite's journal, in buckets: where a commit's entries go first, and which part of it the
//! writer moves into the entries table next.
//!
//! Owns: a room's bucket, the count of entries in each bucket (the writer's side), the choice
//! of the buckets to move, and the statements that move them. Must not touch: the commits
//! themselves (see `lite`), the queue.
//!
//! A commit appends its entries to the journal (a few pages, wherever the rooms are), and the
//! entries table gets them later, in bulk, so that each room's page there is written once for
//! many entries. Moving the whole journal at once held the writer — and every room's next
//! entries — for as long as it took to move thousands of entries (20 ms and more under load).
//! So the journal is keyed by (bucket, n), a room's entries all in the bucket its id hashes to,
//! and the writer moves one bucket at a time: after a commit, the fullest one once the journal
//! holds [`FOLD_ROWS`] entries (more than one only when the journal keeps growing past
//! [`FOLD_AHEAD`]), and one every [`FOLD_IDLE`] while nothing comes. A move still writes each
//! room's page once for all the entries the journal gathered for it, and holds the writer for a
//! fraction of the time.
//!
//! How many buckets: each commit writes a page at the end of every bucket it has entries for,
//! so more buckets cost more pages per commit (CPU: each page is two writes to the WAL), and
//! fewer make each move longer. Measured (`log_writer` bench and `tools/loadgen/storage.sh`,
//! 2 vCPU Xeon): 16 buckets of a 4,096-entry journal gave a p99 append-to-durable of 4.3–5.7 ms
//! at half the writer's rate and 1.37× the in-memory log's CPU per move (median of 3); 8 of
//! 2,048, 4.7 ms and 1.32–1.36×; 4 of 2,048, 4.8–5.8 ms and 1.24–1.35× (median of 3: 1.30);
//! 4 of 4,096, 6.0 ms; 2 of 1,024, 5.5 ms.

use rusqlite::Connection;
use std::time::Duration;

/// How many buckets the journal has.
pub(super) const BUCKETS: usize = 4;
/// From this many entries in the journal, a bucket is moved after each commit.
const FOLD_ROWS: usize = 2048;
/// Past this many, more than one: the journal stays bounded however fast entries come.
const FOLD_AHEAD: usize = 4 * FOLD_ROWS;
/// While no commit is to be made for this long, the writer moves a bucket.
pub(super) const FOLD_IDLE: Duration = Duration::from_millis(25);

/// A bucket's entries into the entries table, in key order (each room's pages written once),
/// keeping one row of each (room, pos): the first written. (`WHERE` tells SQLite's parser that
/// the `ON CONFLICT` belongs to the insert, not to a join.)
const FOLD_BUCKET: &str = "INSERT INTO entries (room, pos, seq, at, data) \
     SELECT room, pos, seq, at, data FROM journal WHERE bucket = ?1 ORDER BY room, pos, n \
     ON CONFLICT (room, pos) DO NOTHING";
const EMPTY_BUCKET: &str = "DELETE FROM journal WHERE bucket = ?1";
/// The whole journal, the same way.
const FOLD_ALL: &str = "INSERT INTO entries (room, pos, seq, at, data) \
     SELECT room, pos, seq, at, data FROM journal WHERE true ORDER BY room, pos, n \
     ON CONFLICT (room, pos) DO NOTHING";
/// Without a `WHERE`, SQLite drops the table's pages at once rather than row by row.
const EMPTY_ALL: &str = "DELETE FROM journal";
/// The number after the last entry in the journal.
const NEXT_N: &str = "SELECT COALESCE(MAX(n), 0) + 1 FROM journal";

/// The bucket of a room's entries (FNV-1a of its id): any fixed spread of rooms over buckets
/// would do, since the journal is emptied whenever a server opens the file.
pub(super) fn bucket_of(room: &str) -> usize {
    let mut h: u32 = 0x811c_9dc5;
    for b in room.bytes() {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    h as usize % BUCKETS
}

/// The number a connection gives the first entry it writes to the journal (each next one gets
/// the next number): after every entry there. Only the writer writes the journal.
pub(super) fn next_n(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row(NEXT_N, [], |r| r.get(0))
}

/// Moves the given buckets into the entries table, within the caller's transaction; returns
/// how many entries.
pub(super) fn fold_buckets(conn: &Connection, buckets: &[usize]) -> rusqlite::Result<usize> {
    let mut moved = 0;
    for &b in buckets {
        let b = b as i64;
        conn.prepare_cached(FOLD_BUCKET)?.execute([b])?;
        moved += conn.prepare_cached(EMPTY_BUCKET)?.execute([b])?;
    }
    Ok(moved)
}

/// Moves the whole journal, within the caller's transaction; returns how many entries.
pub(super) fn fold_all(conn: &Connection) -> rusqlite::Result<usize> {
    conn.prepare_cached(FOLD_ALL)?.execute([])?;
    conn.prepare_cached(EMPTY_ALL)?.execute([])
}

/// How many entries each bucket holds, as the writer counts them (committed and not moved).
#[derive(Debug, Default)]
pub(super) struct Journal {
    rows: [usize; BUCKETS],
}

impl Journal {
    /// Entries in the journal.
    pub fn total(&self) -> usize {
        self.rows.iter().sum()
    }

    /// A commit put `rows[b]` more entries in each bucket `b`.
    pub fn add(&mut self, rows: &[usize; BUCKETS]) {
        for (have, more) in self.rows.iter_mut().zip(rows) {
            *have += more;
        }
    }

    /// The buckets were moved.
    pub fn moved(&mut self, buckets: &[usize]) {
        for &b in buckets {
            self.rows[b] = 0;
        }
    }

    /// The whole journal was moved.
    pub fn clear(&mut self) {
        self.rows = [0; BUCKETS];
    }

    /// The buckets to move after a commit, fullest first: none below [`FOLD_ROWS`] entries; one
    /// up to [`FOLD_AHEAD`]; beyond it as many as bring the journal back under [`FOLD_AHEAD`].
    pub fn due(&self) -> Vec<usize> {
        let mut left = self.total();
        if left < FOLD_ROWS {
            return Vec::new();
        }
        let mut order: Vec<usize> = (0..BUCKETS).filter(|&b| self.rows[b] > 0).collect();
        order.sort_by_key(|&b| std::cmp::Reverse(self.rows[b]));
        let mut due = Vec::new();
        for b in order {
            due.push(b);
            left -= self.rows[b];
            if left < FOLD_AHEAD {
                break;
            }
        }
        due
    }

    /// The fullest bucket, unless the journal is empty.
    pub fn fullest(&self) -> Option<usize> {
        (0..BUCKETS)
            .filter(|&b| self.rows[b] > 0)
            .max_by_key(|&b| self.rows[b])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_room_has_one_bucket_and_rooms_spread_over_all_of_them() {
        assert_eq!(bucket_of("r-0001"), bucket_of("r-0001"));
        let rooms = 400 * BUCKETS;
        let mut used = [0usize; BUCKETS];
        for r in 0..rooms {
            used[bucket_of(&format!("r-{r:016x}"))] += 1;
        }
        // 400 rooms per bucket on average; none takes under half or over twice its share.
        assert!(used.iter().all(|&n| (200..800).contains(&n)), "{used:?}");
    }

    #[test]
    fn one_bucket_is_due_at_a_time_unless_the_journal_runs_ahead() {
        let (a, b, c) = (0, 1, BUCKETS - 1);
        let mut j = Journal::default();
        let mut rows = [0; BUCKETS];
        rows[a] = 100;
        rows[b] = 300;
        j.add(&rows);
        assert_eq!(
            j.due(),
            Vec::<usize>::new(),
            "below FOLD_ROWS nothing is due"
        );
        assert_eq!(j.fullest(), Some(b));

        let mut rows = [FOLD_ROWS / BUCKETS; BUCKETS];
        rows[c] += 1;
        j.add(&rows);
        assert_eq!(j.due(), vec![b], "the fullest bucket, alone");
        j.moved(&[b]);
        assert_eq!(j.rows[b], 0);
        assert_eq!(j.total(), FOLD_ROWS + 400 + 1 - 300 - FOLD_ROWS / BUCKETS);

        // Far past FOLD_AHEAD: as many as bring it back under, fullest first.
        j.add(&[2 * FOLD_AHEAD / BUCKETS; BUCKETS]);
        let due = j.due();
        assert!(due.len() > 1 && due[0] == a, "{due:?}");
        let left = j.total() - due.iter().map(|&b| j.rows[b]).sum::<usize>();
        assert!(left < FOLD_AHEAD);
        j.clear();
        assert_eq!((j.total(), j.fullest()), (0, None));
    }
}
