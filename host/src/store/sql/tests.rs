//! Tests of the SQL store against real databases: each test body runs on SQLite (a file of its
//! own) and on PostgreSQL (a schema of its own on `DATABASE_URL`; see [`super::testing`]).

use super::Db;
use super::testing::TestDb;
use crate::config::DatabaseConfig;
use crate::ids::{PlayerId, RoomId, Token};
use crate::metrics::Metrics;
use crate::store::{
    Ending, Entry, GameHeader, GameWriter, Input, ModuleKey, SeatChange, Snapshot, Storage,
    StoreError, StoredSession,
};
use std::time::Duration;

mod outage;

/// Runs each named test body (an `async fn(TestDb)`) once on SQLite and once on PostgreSQL, as
/// `<name>::sqlite` and `<name>::postgres`.
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$name(super::TestDb::sqlite()).await;
            }

            #[tokio::test]
            async fn postgres() {
                let test = concat!(module_path!(), "::postgres");
                if let Some(db) = super::TestDb::postgres(test).await {
                    super::$name(db).await;
                }
            }
        }
    )*};
}

on_both!(
    drained_waits_for_every_queued_entry,
    migrations_run_at_open_and_again_on_reopen,
    games_survive_a_new_process,
    durable_follows_the_commit,
    ended_games_are_not_recovered,
    read_returns_every_entry,
    many_games_recover_together,
    an_entry_that_does_not_decode_damages_its_own_game_only,
);

mod archive;
mod journal;
mod refusals;
mod sessions;

use sessions::session;

fn header(room: &str, seed: u64) -> GameHeader {
    GameHeader {
        room: RoomId::from_wire(room),
        module: ModuleKey {
            name: "turn-room".into(),
            version: "1.0.0".into(),
            digest: "ab".repeat(32),
        },
        seed,
        options: r#"{"rounds":3}"#.into(),
        seats: 2,
        creator: PlayerId::from_wire("p-ann"),
        private: true,
        turn_deadline_ms: Some(30_000),
        created_at: 1_700_000_000_000,
    }
}

fn entry(seq: u64) -> Entry {
    Entry {
        seq,
        at: 1_700_000_000_000 + seq,
        input: Input::Act {
            seat: (seq % 2) as u32,
            action: format!(r#"{{"add":{seq}}}"#).into(),
            request_id: Some(format!("q{seq}").into()),
        },
        state_hash: Some(seq.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
    }
}

fn seat_entry(seq: u64) -> Entry {
    Entry {
        seq,
        at: 1_700_000_000_000,
        input: Input::Seat {
            seat: 1,
            change: SeatChange::Human {
                player: PlayerId::from_wire("p-bob"),
                name: "Bob".into(),
            },
        },
        state_hash: None,
    }
}

/// Waits (at most 30 s) until `w`'s entries are durable up to `pos`.
async fn until_durable(w: &dyn GameWriter, pos: u64) {
    let durable = w.durable();
    let waited = tokio::time::timeout(Duration::from_secs(30), async {
        while durable.get() < pos {
            durable.moved().await;
        }
    })
    .await;
    assert!(
        waited.is_ok(),
        "durable stayed at {} (waiting for {pos})",
        durable.get()
    );
}

/// Resolves once everything queued before it is committed: an expiry (which removes nothing)
/// goes through the same queue, behind it.
async fn flush(s: &Storage) {
    s.sessions.expire(0).await.expect("flush");
}

async fn count(db: &Db, sql: &str) -> i64 {
    each_db!(db, Db, pool => sqlx::query_scalar::<_, i64>(sql).fetch_one(pool).await)
        .expect("count")
}

async fn migrations_run_at_open_and_again_on_reopen(db: TestDb) {
    // A new database gets the schema when the server opens it, and reopening it (a restart)
    // neither fails nor applies a migration twice.
    let s = db.open().await;
    let raw = db.raw().await;
    // SQLite has two more: its first journal and the journal's buckets, before the journal
    // and its chunks (PostgreSQL's fifth).
    let migrations = if raw.is_postgres() { 5 } else { 7 };
    assert_eq!(
        count(&raw, "SELECT COUNT(*) FROM _sqlx_migrations").await,
        migrations
    );
    for table in [
        "games",
        "entries",
        "snapshots",
        "sessions",
        "modules",
        "game_seats",
        "active_versions",
    ] {
        assert_eq!(
            count(&raw, &format!("SELECT COUNT(*) FROM {table}")).await,
            0
        );
    }
    drop(s);
    let _again = db.open().await;
    assert_eq!(
        count(&raw, "SELECT COUNT(*) FROM _sqlx_migrations").await,
        migrations
    );
    if let Db::Sqlite(pool) = &raw {
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(pool)
            .await
            .expect("journal mode");
        assert_eq!(mode, "wal");
    }
}

async fn games_survive_a_new_process(db: TestDb) {
    // What a room appended and saw durable is recovered by the next server on the same
    // database: the header as given, the latest snapshot, and the entries after it.
    let s = db.open().await;
    // A seed past i64::MAX checks the bit-pattern storage.
    let a_header = header("r-alpha", u64::MAX - 3);
    let mut a = s.log.create(a_header.clone()).expect("create");
    a.append(seat_entry(0));
    a.append(entry(1));
    a.snapshot(1, b"after 2".to_vec());
    a.append(entry(2));
    a.snapshot(2, b"after 3".to_vec());
    a.append(entry(3));
    assert_eq!(a.append(entry(4)), 5);
    let mut b_header = header("r-beta", 7);
    b_header.private = false;
    b_header.turn_deadline_ms = None;
    let mut b = s.log.create(b_header.clone()).expect("create");
    b.append(entry(1));
    b.append(entry(2));
    until_durable(&*a, 5).await;
    until_durable(&*b, 2).await;
    drop((a, b));
    drop(s);

    let s = db.open().await;
    let mut logs = s.log.unfinished().await.expect("unfinished");
    logs.sort_by(|x, y| x.header.room.cmp(&y.header.room));
    assert_eq!(logs.len(), 2);
    let (la, lb) = (&logs[0], &logs[1]);
    assert_eq!(la.header, a_header);
    assert_eq!(
        la.snapshot,
        Some(Snapshot {
            pos: 3,
            seq: 2,
            data: b"after 3".to_vec()
        })
    );
    assert_eq!(la.entries, vec![(4, entry(3)), (5, entry(4))]);
    assert_eq!(lb.header, b_header);
    assert_eq!(lb.snapshot, None);
    assert_eq!(lb.entries, vec![(1, entry(1)), (2, entry(2))]);
    let raw = db.raw().await;
    assert_eq!(
        count(
            &raw,
            "SELECT COUNT(*) FROM snapshots WHERE room = 'r-alpha'"
        )
        .await,
        1,
        "older snapshots are deleted"
    );

    // The recovered room goes on where it stopped.
    let mut a = s.log.reopen(&la.header, 5);
    assert_eq!(a.durable().get(), 5);
    assert_eq!(a.append(entry(5)), 6);
    until_durable(&*a, 6).await;
    let whole = s.log.read(&a_header.room).await.expect("read");
    assert_eq!(whole.map(|g| g.entries.len()), Some(6));
}

async fn durable_follows_the_commit(db: TestDb) {
    // A room hears its entry is durable only once the database has committed it: while the
    // database holds the writer back, the position does not move.
    let s = db.open().await;
    let room = RoomId::from_wire("r-held");
    let mut w = s.log.create(header(room.as_str(), 1)).expect("create");
    w.append(entry(1));
    assert_eq!(w.durable().get(), 0, "appending returns before the commit");
    until_durable(&*w, 1).await;

    // Another connection takes the lock the writer needs.
    let raw = db.raw().await;
    let lock = match &raw {
        Db::Sqlite(pool) => {
            let mut c = pool.acquire().await.expect("connection");
            sqlx::query("BEGIN IMMEDIATE")
                .execute(&mut *c)
                .await
                .expect("lock");
            Locked::Sqlite(c)
        }
        Db::Postgres(pool) => {
            let mut c = pool.acquire().await.expect("connection");
            sqlx::query("BEGIN").execute(&mut *c).await.expect("begin");
            sqlx::query("LOCK TABLE journal IN EXCLUSIVE MODE")
                .execute(&mut *c)
                .await
                .expect("lock");
            Locked::Postgres(c)
        }
    };
    w.append(entry(2));
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(w.durable().get(), 1, "not durable while the commit waits");
    let read = s.log.read(&room).await.expect("read").expect("game");
    assert_eq!(read.entries.len(), 1);

    match lock {
        Locked::Sqlite(mut c) => {
            sqlx::query("ROLLBACK")
                .execute(&mut *c)
                .await
                .expect("unlock");
        }
        Locked::Postgres(mut c) => {
            sqlx::query("ROLLBACK")
                .execute(&mut *c)
                .await
                .expect("unlock");
        }
    }
    until_durable(&*w, 2).await;
    let read = s.log.read(&room).await.expect("read").expect("game");
    assert_eq!(read.entries, vec![(1, entry(1)), (2, entry(2))]);
}

enum Locked {
    Sqlite(sqlx::pool::PoolConnection<sqlx::Sqlite>),
    Postgres(sqlx::pool::PoolConnection<sqlx::Postgres>),
}

async fn ended_games_are_not_recovered(db: TestDb) {
    // A game that finished or was abandoned is not rebuilt after a restart, and its record says
    // how it ended; it can still be read whole.
    let s = db.open().await;
    let mut done = s.log.create(header("r-done", 1)).expect("create");
    done.append(entry(1));
    done.end(Ending::Finished(Box::new(crate::store::Finished {
        result: r#"{"winner":0}"#.into(),
        seats: vec![crate::store::SeatHolder::Bot],
        started_at: 1,
        ended_at: 2,
        steps: 1,
    })));
    let mut gone = s.log.create(header("r-gone", 2)).expect("create");
    gone.end(Ending::Abandoned);
    let mut live = s.log.create(header("r-live", 3)).expect("create");
    live.append(entry(1));
    flush(&s).await;

    let logs = s.log.unfinished().await.expect("unfinished");
    let rooms: Vec<&str> = logs.iter().map(|l| l.header.room.as_str()).collect();
    assert_eq!(rooms, vec!["r-live"]);

    let raw = db.raw().await;
    let endings: Vec<(String, String, Option<String>, bool)> = each_db!(&raw, Db, pool => {
        sqlx::query_as(
            "SELECT room, ending, result, ended_at IS NOT NULL FROM games \
             WHERE ending IS NOT NULL ORDER BY room",
        )
        .fetch_all(pool)
        .await
    })
    .expect("endings");
    assert_eq!(
        endings,
        vec![
            (
                "r-done".into(),
                "finished".into(),
                Some(r#"{"winner":0}"#.into()),
                true
            ),
            ("r-gone".into(), "abandoned".into(), None, true),
        ]
    );
    let whole = s
        .log
        .read(&RoomId::from_wire("r-done"))
        .await
        .expect("read");
    assert_eq!(whole.map(|g| g.entries), Some(vec![(1, entry(1))]));
}

async fn drained_waits_for_every_queued_entry(db: TestDb) {
    // At shutdown the server waits for `drained`: once it resolves, everything the rooms
    // appended is in the database, without anyone having waited on a room's durable position.
    let s = db.open().await;
    let mut writers = Vec::new();
    for n in 0..20u64 {
        let mut w = s
            .log
            .create(header(&format!("r-drain{n}"), n))
            .expect("create");
        for seq in 1..=50 {
            w.append(entry(seq));
        }
        writers.push(w);
    }
    tokio::time::timeout(Duration::from_secs(30), s.log.drained())
        .await
        .expect("drained in time");
    for w in &writers {
        assert_eq!(w.durable().get(), 50);
    }
    for n in 0..20u64 {
        let room = RoomId::from_wire(&format!("r-drain{n}"));
        let log = s.log.read(&room).await.expect("read").expect("game");
        assert_eq!(log.entries.len(), 50);
    }
}

async fn read_returns_every_entry(db: TestDb) {
    // Inspecting a game reads every entry from the first, whatever snapshots were taken.
    let s = db.open().await;
    let room = RoomId::from_wire("r-read");
    let mut w = s.log.create(header(room.as_str(), 1)).expect("create");
    for seq in 1..=10 {
        w.append(entry(seq));
        if seq == 5 {
            w.snapshot(seq, b"half".to_vec());
        }
    }
    until_durable(&*w, 10).await;
    let log = s.log.read(&room).await.expect("read").expect("game");
    assert_eq!(log.header, header(room.as_str(), 1));
    assert_eq!(log.snapshot, None);
    let expected: Vec<(u64, Entry)> = (1..=10).map(|seq| (seq, entry(seq))).collect();
    assert_eq!(log.entries, expected);
    let unknown = s.log.read(&RoomId::from_wire("r-nope")).await;
    assert_eq!(unknown.expect("read").map(|g| g.header), None);
}

async fn many_games_recover_together(db: TestDb) {
    // Recovery rebuilds every unfinished game at once, each with its own snapshot and entries.
    let s = db.open().await;
    let mut writers = Vec::new();
    for g in 0..200u64 {
        let mut w = s
            .log
            .create(header(&format!("r-{g:04}"), g))
            .expect("create");
        for seq in 1..=(g % 7) {
            w.append(entry(seq));
            if seq == 3 {
                w.snapshot(seq, format!("snap {g}").into_bytes());
            }
        }
        writers.push(w);
    }
    flush(&s).await;
    let logs = s.log.unfinished().await.expect("unfinished");
    assert_eq!(logs.len(), 200);
    for log in logs {
        let g: u64 = log.header.room.as_str()[2..].parse().expect("number");
        assert_eq!(log.header.seed, g);
        let n = g % 7;
        let from = if n >= 3 {
            let snap = log.snapshot.as_ref().expect("snapshot");
            assert_eq!(
                (snap.pos, &snap.data),
                (3, &format!("snap {g}").into_bytes())
            );
            4
        } else {
            assert_eq!(log.snapshot, None);
            1
        };
        let expected: Vec<(u64, Entry)> = (from..=n).map(|seq| (seq, entry(seq))).collect();
        assert_eq!(log.entries, expected, "game {g}");
    }
}

async fn an_entry_that_does_not_decode_damages_its_own_game_only(db: TestDb) {
    // Stored bytes that no longer decode (a disk's or a hand's damage) cost their own game:
    // recovery reads it as far as the damage, saying why, and reads every other game whole.
    let s = db.open().await;
    let raw = db.raw().await;
    let (bad, good) = (RoomId::from_wire("r-bad"), RoomId::from_wire("r-good"));
    let mut b = s.log.create(header(bad.as_str(), 1)).expect("create");
    let mut g = s.log.create(header(good.as_str(), 2)).expect("create");
    for seq in 1..=2 {
        b.append(entry(seq));
    }
    // (Two runs: entries 1-2 and 3-5 of the bad game are chunks of their own.)
    s.log.drained().await;
    for seq in 3..=5 {
        b.append(entry(seq));
    }
    for seq in 1..=5 {
        g.append(entry(seq));
    }
    s.log.drained().await;
    drop(s);
    // A chunk cut short (PostgreSQL's bytea and SQLite's blob alike).
    let damage = "UPDATE entry_chunks SET data = substr(data, 1, 5) \
                  WHERE room = 'r-bad' AND pos_from = 3";
    each_db!(&raw, Db, pool => {
        let done = sqlx::query(damage).execute(pool).await.expect("damage");
        assert_eq!(done.rows_affected(), 1);
    });
    let again = db.open().await;
    let logs = again
        .log
        .unfinished()
        .await
        .expect("the other games are read");
    let of = |room: &RoomId| {
        logs.iter()
            .find(|l| &l.header.room == room)
            .expect("read back")
    };
    let expected = |n| (1..=n).map(|seq| (seq, entry(seq))).collect::<Vec<_>>();
    assert_eq!(of(&bad).entries, expected(2), "up to the damage");
    let why = of(&bad).damaged.clone().unwrap_or_default();
    assert!(why.contains("r-bad"), "{why}");
    assert_eq!(
        (&of(&good).entries, &of(&good).damaged),
        (&expected(5), &None)
    );
    assert!(matches!(
        again.log.read(&bad).await,
        Err(StoreError::Corrupt { .. })
    ));
}

#[tokio::test]
async fn urls_choose_the_storage() {
    // The database URL picks memory, SQLite or PostgreSQL; anything else is refused with the
    // reason, before anything is created.
    let cfg = DatabaseConfig::default();
    let m = Metrics::new();
    assert!(Storage::open("memory:", &cfg, &m).await.is_ok());
    for (url, says) in [
        ("mysql://u@127.0.0.1/db", "expected sqlite://PATH"),
        ("sqlite://", "no file path"),
        ("sqlite::memory:", "expected sqlite://PATH"),
        ("sqlite://:memory:", "use memory:"),
        ("tabula.db", "expected sqlite://PATH"),
    ] {
        match Storage::open(url, &cfg, &m).await {
            Err(StoreError::BadUrl { reason, .. }) => {
                assert!(reason.contains(says), "{url}: {reason}")
            }
            Err(e) => panic!("{url}: {e}"),
            Ok(_) => panic!("{url} was accepted"),
        }
    }
}

#[test]
fn urls_in_messages_hide_passwords() {
    // An error about the database URL never prints its password.
    assert_eq!(
        super::redacted("postgres://tabula:hunter2@db.local:5432/tabula"),
        "postgres://tabula:***@db.local:5432/tabula"
    );
    assert_eq!(
        super::redacted("postgres://postgres@127.0.0.1/test"),
        "postgres://postgres@127.0.0.1/test"
    );
}
