//! The journal: entries are committed to it and moved into chunks later.

use super::*;
use crate::store::sql::journal::INSERT_JOURNAL;

/// A journal row (one commit's) holding `entries` of `room`, as (position, entry).
fn journal_row(room: &RoomId, entries: &[(u64, Entry)]) -> Vec<u8> {
    let mut blob = Vec::new();
    for (pos, e) in entries {
        let data = postcard::to_allocvec(e).expect("encode");
        crate::store::sql::journal::put_journaled(&mut blob, room.as_str(), *pos, &data);
    }
    blob
}

on_both!(entries_go_through_the_journal_and_end_up_in_chunks);

async fn entries_go_through_the_journal_and_end_up_in_chunks(db: TestDb) {
    // A commit's entries are one row of the journal, moved later into one row per room (a
    // chunk); a log reads the same before and after the move, the move keeps the first of a
    // position written twice (a retried commit), and what a killed server left in the journal
    // is moved when the next one opens the database.
    let s = db.open().await;
    let raw = db.raw().await;
    let room = RoomId::from_wire("r-journal");
    let mut w = s.log.create(header(room.as_str(), 7)).expect("create");
    for seq in 1..=3 {
        w.append(entry(seq));
    }
    until_durable(&*w, 3).await;
    let mut want: Vec<(u64, Entry)> = (1..=3).map(|seq| (seq, entry(seq))).collect();
    let logged = || async {
        s.log
            .read(&room)
            .await
            .expect("read")
            .expect("game")
            .entries
    };
    assert_eq!(logged().await, want);
    s.log.drained().await;
    assert_eq!(count(&raw, "SELECT COUNT(*) FROM journal").await, 0);
    assert_eq!(
        count(
            &raw,
            "SELECT COUNT(*) FROM entry_chunks WHERE pos_from = 1 AND pos_to = 3"
        )
        .await,
        1,
        "one chunk"
    );
    assert_eq!(count(&raw, "SELECT COUNT(*) FROM entries").await, 0);
    assert_eq!(logged().await, want);

    // Position 4 twice, as a retried commit would write it (the second copy different, to
    // tell them apart), and 5, left in the journal by a server that was killed: the first
    // copy is read, and kept when the next server opens the file and moves the journal.
    for (pos, e) in [(4, entry(4)), (4, entry(99)), (5, entry(5))] {
        let row = journal_row(&room, &[(pos, e)]);
        each_db!(&raw, Db, pool => {
            let insert = sqlx::query(INSERT_JOURNAL).bind(&row);
            insert.execute(pool).await.expect("a journal row");
        });
    }
    want.push((4, entry(4)));
    want.push((5, entry(5)));
    assert_eq!(logged().await, want);
    let again = db.open().await;
    assert_eq!(count(&raw, "SELECT COUNT(*) FROM journal").await, 0);
    assert_eq!(
        count(
            &raw,
            "SELECT COUNT(*) FROM entry_chunks WHERE pos_from = 4 AND pos_to = 5"
        )
        .await,
        1
    );
    let logs = again.log.unfinished().await.expect("unfinished");
    assert_eq!(logs[0].entries, want);
    assert_eq!(logged().await, want);

    // A malformed row is a corrupt log, not a panic or a silent gap.
    let cut = "UPDATE entry_chunks SET data = substr(data, 1, 5) WHERE pos_from = 4";
    each_db!(&raw, Db, pool => {
        sqlx::query(cut).execute(pool).await.expect("cut a chunk");
    });
    assert!(matches!(
        s.log.read(&room).await,
        Err(StoreError::Corrupt { .. })
    ));
}

on_both!(every_rooms_log_reads_whole_while_the_journal_is_moved);

async fn every_rooms_log_reads_whole_while_the_journal_is_moved(db: TestDb) {
    // Enough rooms and entries for the writer to move the journal after commits (on SQLite in
    // steps, a few rooms each, between commits): every log reads whole at every moment, and
    // ends up in chunks, each entry once.
    let s = db.open().await;
    let raw = db.raw().await;
    let (rooms, waves, per_wave) = (64u64, 10u64, 4u64);
    let mut writers: Vec<_> = (0..rooms)
        .map(|i| {
            let room = format!("r-moved-{i:02}");
            s.log.create(header(&room, i)).expect("create")
        })
        .collect();
    for wave in 0..waves {
        let last = (wave + 1) * per_wave;
        for seq in wave * per_wave + 1..=last {
            for w in &mut writers {
                w.append(entry(seq));
            }
        }
        for w in &writers {
            until_durable(&**w, last).await;
        }
        for i in [0, rooms / 2, rooms - 1] {
            let room = RoomId::from_wire(&format!("r-moved-{i:02}"));
            let log = s.log.read(&room).await.expect("read").expect("game");
            let positions: Vec<u64> = log.entries.iter().map(|(p, _)| *p).collect();
            assert_eq!(
                positions,
                (1..=last).collect::<Vec<_>>(),
                "after wave {wave}"
            );
        }
    }
    let all = (1..=waves * per_wave).collect::<Vec<_>>();
    for log in s.log.unfinished().await.expect("unfinished") {
        let positions: Vec<u64> = log.entries.iter().map(|(p, _)| *p).collect();
        assert_eq!(positions, all, "{}", log.header.room);
    }
    s.log.drained().await;
    assert_eq!(count(&raw, "SELECT COUNT(*) FROM journal").await, 0);
    let held = "SELECT CAST(COALESCE(SUM(pos_to - pos_from + 1), 0) AS BIGINT) FROM entry_chunks";
    assert_eq!(count(&raw, held).await, (rooms * waves * per_wave) as i64);
}

on_both!(a_move_cut_short_is_finished_by_the_next_with_every_entry);

async fn a_move_cut_short_is_finished_by_the_next_with_every_entry(db: TestDb) {
    // A server killed in the middle of a move in steps left a room's run in its chunk
    // (positions 1-2) while the journal still holds it, and a later entry (3) that the move had
    // not read: the next server's move writes the longer run over the shorter, so the log
    // reads whole from its chunk alone once the journal is gone.
    let room = RoomId::from_wire("r-cut-move");
    {
        let s = db.open().await;
        s.log.create(header(room.as_str(), 5)).expect("create");
        s.log.drained().await;
    }
    let raw = db.raw().await;
    let read = journal_row(&room, &[(1, entry(1)), (2, entry(2))]);
    let later = journal_row(&room, &[(3, entry(3))]);
    let mut written = Vec::new();
    for pos in [1, 2] {
        let data = postcard::to_allocvec(&entry(pos)).expect("encode");
        crate::store::sql::journal::put_chunked(&mut written, pos, &data);
    }
    each_db!(&raw, Db, pool => {
        for row in [&read, &later] {
            let insert = sqlx::query(INSERT_JOURNAL).bind(row);
            insert.execute(pool).await.expect("a journal row");
        }
        sqlx::query(
            "INSERT INTO entry_chunks (room, pos_from, pos_to, data) VALUES ($1, 1, 2, $2)",
        )
        .bind(room.as_str())
        .bind(&written)
        .execute(pool)
        .await
        .expect("the step's chunk");
    });

    let s = db.open().await;
    assert_eq!(count(&raw, "SELECT COUNT(*) FROM journal").await, 0);
    let runs = "SELECT COUNT(*) FROM entry_chunks WHERE pos_from = 1 AND pos_to = 3";
    assert_eq!(count(&raw, runs).await, 1, "the longer run kept");
    let want: Vec<(u64, Entry)> = (1..=3).map(|seq| (seq, entry(seq))).collect();
    let logged = s.log.read(&room).await.expect("read").expect("game");
    assert_eq!(logged.entries, want);
    let logs = s.log.unfinished().await.expect("unfinished");
    assert_eq!(logs[0].entries, want);
}

#[tokio::test]
async fn sqlite_a_commit_held_up_by_another_connections_lock_goes_through_once_it_is_released() {
    // Another connection holds SQLite's write lock longer than the writer's busy timeout (5 s):
    // the writer's commit fails and is retried with the same batch (written idempotently), and
    // the entries become durable, once each, when the lock is released.
    let db = TestDb::sqlite();
    let s = db.open().await;
    let raw = db.raw().await;
    let Db::Sqlite(pool) = &raw else {
        unreachable!("an SQLite test")
    };
    let room = RoomId::from_wire("r-locked");
    let mut w = s.log.create(header(room.as_str(), 3)).expect("create");
    w.append(entry(1));
    until_durable(&*w, 1).await;

    let mut holder = pool.acquire().await.expect("a connection");
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut *holder)
        .await
        .expect("the write lock");
    w.append(entry(2));
    w.append(entry(3));
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(w.durable().get(), 1, "not durable while the lock is held");
    sqlx::query("ROLLBACK")
        .execute(&mut *holder)
        .await
        .expect("the lock released");
    drop(holder);
    until_durable(&*w, 3).await;
    assert!(w.accepting() && s.log.accepting());
    let logged = s.log.read(&room).await.expect("read").expect("game");
    let want: Vec<(u64, Entry)> = (1..=3).map(|seq| (seq, entry(seq))).collect();
    assert_eq!(logged.entries, want);
    s.log.drained().await;
    let held = "SELECT COALESCE(SUM(pos_to - pos_from + 1), 0) FROM entry_chunks";
    assert_eq!(count(&raw, held).await, 3);
}

#[tokio::test]
async fn sqlite_a_file_of_an_earlier_schema_keeps_what_its_journal_held() {
    // A file written by an earlier version of the server (entries a row each, in the entries
    // table and in a journal without buckets), which was killed with entries still in its
    // journal, one of them written twice: the next server moves them into the entries table
    // as it upgrades the schema, the game recovers whole, and its next entries go to chunks.
    let db = TestDb::sqlite();
    let room = RoomId::from_wire("r-upgrade");
    {
        let s = db.open().await;
        s.log.create(header(room.as_str(), 11)).expect("create");
        s.log.drained().await;
    }
    let raw = db.raw().await;
    let Db::Sqlite(pool) = &raw else {
        unreachable!("an SQLite test")
    };
    for step in [
        "DROP TABLE journal",
        "DROP TABLE entry_chunks",
        "CREATE TABLE journal (room TEXT NOT NULL, pos INTEGER NOT NULL, \
         seq INTEGER NOT NULL, at INTEGER NOT NULL, data BLOB NOT NULL)",
        "DELETE FROM _sqlx_migrations WHERE version >= 6",
    ] {
        sqlx::query(step).execute(pool).await.expect(step);
    }
    for (table, seq) in [
        ("entries", 1),
        ("journal", 2),
        ("journal", 3),
        ("journal", 3),
    ] {
        sqlx::query(&format!(
            "INSERT INTO {table} (room, pos, seq, at, data) VALUES ($1, $2, $2, $3, $4)"
        ))
        .bind(room.as_str())
        .bind(seq as i64)
        .bind(entry(seq).at as i64)
        .bind(postcard::to_allocvec(&entry(seq)).expect("encode"))
        .execute(pool)
        .await
        .expect("an old row");
    }

    let s = db.open().await;
    assert_eq!(count(&raw, "SELECT COUNT(*) FROM journal").await, 0);
    assert_eq!(count(&raw, "SELECT COUNT(*) FROM entries").await, 3);
    let logs = s.log.unfinished().await.expect("unfinished");
    let want: Vec<(u64, Entry)> = (1..=3).map(|seq| (seq, entry(seq))).collect();
    assert_eq!(logs[0].entries, want);
    // And the new journal takes the game's next entries, read after the old rows.
    let mut w = s.log.reopen(&logs[0].header, 3);
    w.append(entry(4));
    until_durable(&*w, 4).await;
    let logged = s.log.read(&room).await.expect("read").expect("game");
    assert_eq!(logged.entries.len(), 4);
    s.log.drained().await;
    assert_eq!(count(&raw, "SELECT COUNT(*) FROM entry_chunks").await, 1);
    let logs = s.log.unfinished().await.expect("unfinished");
    assert_eq!(logs[0].entries.len(), 4);
}
