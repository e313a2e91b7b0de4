//! The rows of one commit: which snapshots and endings are written, and how many rows each
//! multi-row statement carries (a few fixed shapes, so that statements are prepared once).
//!
//! Owns: the statement shapes. Must not touch: connections, the queue.

use super::queue::SnapshotItem;
use crate::store::Ending;
use crate::store::archive::SeatSummary;
use std::collections::HashSet;
use std::sync::Arc;

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
