//! The archive of finished games: summaries, statistics and the purge of old logs, on both
//! databases and in memory.

use super::*;
use crate::store::archive::{GameStats, SeatSummary};
use crate::store::{Finished, SeatHolder};

on_both!(
    finished_games_are_archived_with_each_seats_outcome,
    game_totals_are_filled_from_games_finished_before_them,
    purge_drops_old_logs_and_keeps_summaries,
    a_room_id_stays_taken_after_its_game_ended,
);

async fn a_room_id_stays_taken_after_its_game_ended(db: TestDb) {
    // A room id that any game ever had, open or ended (and read by another process), is
    // reported taken, so that no new room reuses it; others are free.
    let s = db.open().await;
    finish(
        &s,
        "r-done",
        vec![SeatHolder::Bot, SeatHolder::Bot],
        "null",
        T0,
        1,
    );
    let _open = s.log.create(header("r-open", 2)).expect("create");
    flush(&s).await;
    let again = db.open().await;
    for store in [&s, &again] {
        for (room, taken) in [("r-done", true), ("r-open", true), ("r-free", false)] {
            let found = store
                .log
                .taken(&RoomId::from_wire(room))
                .await
                .expect("taken");
            assert_eq!(found, taken, "{room}");
        }
    }
}

#[tokio::test]
async fn the_memory_archive_counts_the_same() {
    // A server without a database (`memory:`) gives the same summaries and statistics.
    archived_and_counted(&Storage::memory()).await;
    purged(&Storage::memory(), None).await;
    let s = Storage::memory();
    finish(
        &s,
        "r-done",
        vec![SeatHolder::Bot, SeatHolder::Bot],
        "null",
        T0,
        1,
    );
    assert!(
        s.log
            .taken(&RoomId::from_wire("r-done"))
            .await
            .expect("taken")
    );
    assert!(
        !s.log
            .taken(&RoomId::from_wire("r-free"))
            .await
            .expect("taken")
    );
}

const T0: u64 = 1_700_000_000_000;

fn human(player: &str, name: &str) -> SeatHolder {
    SeatHolder::Human {
        player: PlayerId::from_wire(player),
        name: name.into(),
        left: false,
    }
}

/// Ends game `room` (two seats) as finished with `result`, played from `start` for `ms`.
fn finish(s: &Storage, room: &str, seats: Vec<SeatHolder>, result: &str, start: u64, ms: u64) {
    let mut w = s.log.create(header(room, 7)).expect("create");
    w.append(entry(1));
    w.append(entry(2));
    w.end(Ending::Finished(Box::new(Finished {
        result: result.into(),
        seats,
        started_at: start,
        ended_at: start + ms,
        steps: 2,
    })));
}

/// The archived summary of the game in `room`.
async fn summary(s: &Storage, room: &str) -> Option<crate::store::archive::GameSummary> {
    s.archive
        .summary(&RoomId::from_wire(room))
        .await
        .expect("read")
}

/// The statistics of `player`, with up to `recent` games.
async fn stats(s: &Storage, player: &str, recent: usize) -> crate::store::archive::PlayerStats {
    let stats = s.archive.player(&PlayerId::from_wire(player), recent).await;
    stats.expect("statistics")
}

async fn finished_games_are_archived_with_each_seats_outcome(db: TestDb) {
    archived_and_counted(&db.open().await).await;
}

async fn game_totals_are_filled_from_games_finished_before_them(db: TestDb) {
    // A database whose games finished before the running totals existed (an older server's)
    // gets them counted when the migration that adds the totals runs.
    let s = db.open().await;
    archived_and_counted(&s).await;
    let counted = s.archive.games(T0 + 400_000).await.expect("games");
    s.log.drained().await;
    drop(s);
    let raw = db.raw().await;
    for undo in [
        "DROP TABLE game_totals",
        "DELETE FROM _sqlx_migrations WHERE description = 'game totals'",
    ] {
        each_db!(&raw, Db, pool => sqlx::query(undo).execute(pool).await.map(drop)).expect("undo");
    }
    let again = db.open().await;
    assert_eq!(
        again.archive.games(T0 + 400_000).await.expect("games"),
        counted
    );
}

async fn archived_and_counted(s: &Storage) {
    // When a game finishes its result, seats and outcome are archived: a player's statistics
    // count games, wins (only from results in the outcome form), scores and recent games, and
    // each game version has its count and average duration.
    let ann = || human("p-ann", "Ann");
    let bob = || human("p-bob", "Bob");
    finish(
        s,
        "r-1",
        vec![ann(), bob()],
        r#"{"winners":[0],"scores":[10,4],"rounds":3}"#,
        T0,
        60_000,
    );
    finish(
        s,
        "r-2",
        vec![bob(), ann()],
        r#"{"winners":[0],"scores":[7,-3]}"#,
        T0 + 100_000,
        120_000,
    );
    // Not the outcome form: played only.
    finish(
        s,
        "r-3",
        vec![ann(), SeatHolder::Bot],
        r#"{"winner":"X"}"#,
        T0 + 300_000,
        30_000,
    );
    let mut gone = s.log.create(header("r-gone", 1)).expect("create");
    gone.append(seat_entry(0));
    gone.end(Ending::Abandoned);
    flush(s).await;

    let one = summary(s, "r-1").await;
    let one = one.expect("archived");
    assert_eq!(one.game, "turn-room");
    assert_eq!(
        one.result,
        serde_json::json!({"winners":[0],"scores":[10,4],"rounds":3})
    );
    assert_eq!(
        (one.started_at, one.ended_at, one.duration_ms, one.steps),
        (T0, T0 + 60_000, 60_000, 2)
    );
    assert_eq!(one.rounds, Some(3));
    assert!(one.log_kept);
    let seat = |seat, player: &str, name: &str, won, score| SeatSummary {
        seat,
        player: Some(PlayerId::from_wire(player)),
        name: Some(name.into()),
        left: false,
        won: Some(won),
        score: Some(score),
    };
    assert_eq!(
        one.seats,
        vec![
            seat(0, "p-ann", "Ann", true, 10),
            seat(1, "p-bob", "Bob", false, 4)
        ]
    );
    let three = summary(s, "r-3").await.expect("r-3");
    assert_eq!(three.seats[1].player, None, "a bot's seat");
    assert_eq!(three.seats[0].won, None, "not in the outcome form");
    assert!(
        summary(s, "r-gone").await.is_none(),
        "an abandoned game is not archived as finished"
    );

    let ann_stats = stats(s, "p-ann", 2).await;
    assert_eq!(
        (ann_stats.games, ann_stats.rated, ann_stats.wins),
        (3, 2, 1)
    );
    assert_eq!(ann_stats.win_rate, Some(0.5));
    assert_eq!(ann_stats.average_score, Some(3.5), "(10 - 3) / 2");
    let recent: Vec<&str> = ann_stats.recent.iter().map(|g| g.room.as_str()).collect();
    assert_eq!(recent, vec!["r-3", "r-2"], "newest first, as many as asked");
    assert_eq!(ann_stats.recent[1].seat, 1);
    assert_eq!(ann_stats.recent[1].won, Some(false));
    let bob_stats = stats(s, "p-bob", 10).await;
    assert_eq!(
        (bob_stats.games, bob_stats.wins, bob_stats.win_rate),
        (2, 1, Some(0.5))
    );
    let nobody = stats(s, "p-new", 10).await;
    assert_eq!(
        (nobody.games, nobody.win_rate, nobody.recent.len()),
        (0, None, 0)
    );

    let games = s.archive.games(T0 + 330_000 + 1_000).await.expect("games");
    assert_eq!(
        games,
        vec![GameStats {
            game: "turn-room".into(),
            version: "1.0.0".into(),
            games: 3,
            games_last_hour: 3,
            // Three games between the first start and the last end (5.5 minutes): counted
            // over an hour at least.
            games_per_hour: 3.0,
            average_duration_ms: 70_000.0,
        }]
    );
    let later = s.archive.games(T0 + 2 * 3_600_000).await.expect("games");
    assert_eq!(later[0].games_last_hour, 0);
}

async fn purge_drops_old_logs_and_keeps_summaries(db: TestDb) {
    let s = db.open().await;
    purged(&s, Some(&db.raw().await)).await;
}

async fn purged(s: &Storage, raw: Option<&Db>) {
    // Retention purges the logs of games that ended before the cutoff: their records can no
    // longer be read but their summaries (and statistics) stay; later games and unfinished ones
    // keep their logs, and a second purge finds nothing more.
    let ann = || vec![human("p-ann", "Ann"), SeatHolder::Bot];
    finish(s, "r-old", ann(), r#"{"winners":[0]}"#, T0, 1_000);
    finish(s, "r-new", ann(), r#"{"winners":[1]}"#, T0 + 10_000, 1_000);
    let mut live = s.log.create(header("r-live", 3)).expect("create");
    live.append(entry(1));
    flush(s).await;

    assert_eq!(s.archive.purge(T0 + 5_000).await.expect("purge"), 1);
    assert_eq!(s.archive.purge(T0 + 5_000).await.expect("again"), 0);
    let old = summary(s, "r-old").await.expect("old");
    assert!(!old.log_kept);
    let new = summary(s, "r-new").await.expect("new");
    assert!(new.log_kept);
    let entries = |room: &'static str| async move {
        let log = s.log.read(&RoomId::from_wire(room)).await.expect("read");
        log.map_or(0, |l| l.entries.len())
    };
    assert_eq!(entries("r-old").await, 0);
    assert_eq!(entries("r-new").await, 2);
    assert_eq!(entries("r-live").await, 1);
    let stats = stats(s, "p-ann", 10).await;
    assert_eq!(
        (stats.games, stats.wins),
        (2, 1),
        "statistics outlive the logs"
    );
    if let Some(raw) = raw {
        let left = count(raw, "SELECT COUNT(*) FROM entries WHERE room = 'r-old'").await;
        assert_eq!(left, 0);
        if let Db::Sqlite(_) = raw {
            let sql = "SELECT COUNT(*) FROM entry_chunks WHERE room = 'r-old'";
            assert_eq!(count(raw, sql).await, 0);
        }
    }
}
