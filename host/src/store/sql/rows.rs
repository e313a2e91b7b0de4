//! The rows of one commit: the statements that write them (the same SQL for both writers),
//! which snapshots and endings are written, and how many rows each multi-row statement carries
//! (a few fixed shapes, so that statements are prepared once).
//!
//! Owns: the statements' text and shapes. Must not touch: connections, the queue.

use super::queue::SnapshotItem;
use crate::store::Ending;
use crate::store::archive::SeatSummary;
use std::collections::HashSet;
use std::sync::{Arc, LazyLock};

/// The start of the multi-row inserts, up to their `VALUES`.
pub(super) const INSERT_GAMES: &str = "INSERT INTO games (room, module_name, module_version, \
     module_digest, seed, options, seats, creator, private, turn_deadline_ms, created_at) ";
pub(super) const INSERT_SNAPSHOTS: &str = "INSERT INTO snapshots (room, pos, seq, data) ";
pub(super) const INSERT_SEATS: &str = "INSERT INTO game_seats (room, seat, player, name, \
     left_early, won, score, ended_at) ";
pub(super) const INSERT_SESSIONS: &str =
    "INSERT INTO sessions (token_hash, player, name, created_at, last_used) ";
/// What follows a game header insert's values: a room that has a game keeps it.
pub(super) const GAMES_KEEP: &str = " ON CONFLICT (room) DO NOTHING";
/// What follows a snapshots insert's values.
pub(super) const SNAPSHOTS_REPLACE: &str =
    " ON CONFLICT (room, pos) DO UPDATE SET seq = excluded.seq, data = excluded.data";
/// What follows a seats insert's values.
pub(super) const SEATS_KEEP: &str = " ON CONFLICT (room, seat) DO NOTHING";
/// What follows a sessions insert's values on a retry.
pub(super) const SESSIONS_KEEP: &str = " ON CONFLICT (token_hash) DO NOTHING";

/// A room's game as stored, to tell a retried header from an older game's.
pub(super) const GAME_OF_ROOM: &str = "SELECT seed, created_at, creator FROM games WHERE room = $1";
/// A finished game into its version's totals, unless its row is already ended (by an earlier
/// attempt of the same commit): `$1` room, `$2` ended at, `$3` started at.
pub(super) const ADD_TO_TOTALS: &str = "INSERT INTO game_totals (module_name, module_version, \
     games, duration_ms, first_started_at, last_ended_at) \
     SELECT module_name, module_version, 1, $2 - $3, $3, $2 FROM games \
     WHERE room = $1 AND ended_at IS NULL \
     ON CONFLICT (module_name, module_version) DO UPDATE SET \
     games = game_totals.games + 1, \
     duration_ms = game_totals.duration_ms + excluded.duration_ms, \
     first_started_at = CASE WHEN excluded.first_started_at < game_totals.first_started_at \
       THEN excluded.first_started_at ELSE game_totals.first_started_at END, \
     last_ended_at = CASE WHEN excluded.last_ended_at > game_totals.last_ended_at \
       THEN excluded.last_ended_at ELSE game_totals.last_ended_at END";
/// A game's ending and archive columns.
pub(super) const END_GAME: &str = "UPDATE games SET ended_at = $1, ending = $2, result = $3, \
     started_at = $4, steps = $5 WHERE room = $6";
pub(super) const INSERT_MODULE: &str = "INSERT INTO modules (digest, name, version, bytes, \
     added_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (digest) DO NOTHING";
pub(super) const TOUCH_SESSION: &str =
    "UPDATE sessions SET last_used = $1 WHERE token_hash = $2 AND last_used < $1";
pub(super) const EXPIRE_SESSIONS: &str = "DELETE FROM sessions WHERE last_used < $1";
/// The games whose logs a purge drops in one commit, oldest first.
pub(super) const PURGEABLE_GAMES: &str = "SELECT room FROM games WHERE ended_at IS NOT NULL \
     AND log_purged_at IS NULL AND ended_at < $1 ORDER BY ended_at LIMIT $2";

/// The single-row forms of the inserts, for a writer that executes a prepared statement per row
/// (SQLite's), with SQLite's `?N` parameters.
pub(super) struct Sql {
    pub insert_game: String,
    pub upsert_snapshot: String,
    pub insert_seat: String,
    pub insert_session: String,
    pub insert_session_again: String,
}

/// `INSERT ... VALUES (?1, ..., ?n)` followed by `tail`.
fn one_row(insert: &str, n: usize, tail: &str) -> String {
    let marks: Vec<String> = (1..=n).map(|i| format!("?{i}")).collect();
    format!("{insert}VALUES ({}){tail}", marks.join(", "))
}

impl Sql {
    pub fn get() -> &'static Sql {
        static SQL: LazyLock<Sql> = LazyLock::new(|| Sql {
            insert_game: one_row(INSERT_GAMES, 11, GAMES_KEEP),
            upsert_snapshot: one_row(INSERT_SNAPSHOTS, 4, SNAPSHOTS_REPLACE),
            insert_seat: one_row(INSERT_SEATS, 8, SEATS_KEEP),
            insert_session: one_row(INSERT_SESSIONS, 5, ""),
            insert_session_again: one_row(INSERT_SESSIONS, 5, SESSIONS_KEEP),
        });
        &SQL
    }
}

/// Rows per multi-row statement, besides a full batch's: a fixed set of sizes, so that each
/// insert has a few statement shapes whatever the batch size (prepared once per connection and
/// cached, where a shape per row count would churn the statement cache).
const SHAPES: [usize; 5] = [256, 64, 16, 4, 1];
/// Bind parameters one statement may carry: under SQLite's limit (32,766) and PostgreSQL's
/// (65,535).
const MAX_PARAMS: usize = 32_000;
/// The slices of `rows` (of `columns` parameters each) written by one statement each. Under load
/// batches are full, and a full batch is one statement of `full` rows (as many as the
/// parameters allow): one round trip, one cached statement. What is left is cut into the sizes
/// of [`SHAPES`].
pub(super) fn chunks<T>(rows: &[T], columns: usize, full: usize) -> impl Iterator<Item = &[T]> {
    let full = full.min(MAX_PARAMS / columns).max(1);
    let mut rest = rows;
    std::iter::from_fn(move || {
        let n = std::iter::once(full)
            .chain(SHAPES.into_iter().filter(|s| *s < full))
            .find(|s| *s <= rest.len())?;
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        Some(chunk)
    })
}

/// The latest snapshot of each game in `snapshots` (a newer one supersedes the rest, and one
/// statement may not upsert a row twice).
pub(super) fn latest(snapshots: &[SnapshotItem]) -> Vec<&SnapshotItem> {
    let mut seen = HashSet::new();
    let mut out: Vec<&SnapshotItem> = (snapshots.iter().rev())
        .filter(|s| !s.game.is_broken() && seen.insert(Arc::as_ptr(&s.game)))
        .collect();
    out.reverse();
    out
}

/// What an ending writes: the game row's columns and, for a finished game, its seats' rows.
pub(super) struct EndColumns<'a> {
    pub ending: &'static str,
    pub result: Option<&'a str>,
    pub started_at: Option<u64>,
    pub steps: Option<u64>,
    pub seats: Vec<SeatSummary>,
}

impl EndColumns<'_> {
    pub fn of(ending: &Ending) -> EndColumns<'_> {
        match ending {
            Ending::Finished(f) => EndColumns {
                ending: "finished",
                result: Some(&f.result),
                started_at: Some(f.started_at),
                steps: Some(f.steps),
                seats: SeatSummary::of(&f.seats, &f.result),
            },
            Ending::Abandoned => EndColumns {
                ending: "abandoned",
                result: None,
                started_at: None,
                steps: None,
                seats: Vec::new(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_cut_into_few_statement_shapes() {
        // However many rows a commit has, its statements come in a handful of sizes, each as
        // large as the rows left allow.
        let sizes = |n: usize, columns: usize, full: usize| {
            (chunks(&vec![0u8; n], columns, full))
                .map(<[u8]>::len)
                .collect::<Vec<_>>()
        };
        assert_eq!(sizes(0, 5, 1000), Vec::<usize>::new());
        assert_eq!(sizes(3, 5, 1000), vec![1, 1, 1]);
        assert_eq!(
            sizes(1000, 5, 1000),
            vec![1000],
            "a full batch is one statement"
        );
        assert_eq!(sizes(2001, 5, 1000), vec![1000, 1000, 1]);
        assert_eq!(
            sizes(999, 5, 1000),
            vec![256, 256, 256, 64, 64, 64, 16, 16, 4, 1, 1, 1]
        );
        assert_eq!(
            sizes(100, 5, 10),
            vec![10; 10],
            "no shape above a full batch"
        );
        assert_eq!(
            sizes(7000, 5, 10_000),
            vec![6400, 256, 256, 64, 16, 4, 4],
            "parameters bound the rows"
        );
        assert!((0..3000).all(|n| sizes(n, 11, 1000).iter().sum::<usize>() == n));
    }
}
