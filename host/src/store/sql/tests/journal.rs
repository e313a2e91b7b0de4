//! SQLite's journal: entries are committed to it and moved into the entries table later.

use super::*;

#[tokio::test]
async fn sqlite_entries_go_through_the_journal_and_end_up_in_entries() {
    // On SQLite an entry is committed to the journal and moved into the entries table later;
    // a log reads the same before and after the move, the move keeps one row of a position
    // written twice (a retried commit), and what a killed server left in the journal is moved
    // when the next one opens the file.
    let db = TestDb::sqlite();
    let s = db.open().await;
    let raw = db.raw().await;
    let room = RoomId::from_wire("r-journal");
    let mut w = s.log.create(header(room.as_str(), 7)).expect("create");
    for seq in 1..=3 {
        w.append(entry(seq));
    }
    until_durable(&*w, 3).await;
    let want: Vec<(u64, Entry)> = (1..=3).map(|seq| (seq, entry(seq))).collect();
    let logged = || async {
        s.log
            .read(&room)
            .await
            .expect("read")
            .expect("game")
            .entries
    };
    assert_eq!(logged().await, want);
    // (Moved after a quarter of a second without writes: a slow machine may have done it.)
    assert_eq!(
        count(
            &raw,
            "SELECT (SELECT COUNT(*) FROM journal) + (SELECT COUNT(*) FROM entries)"
        )
        .await,
        3
    );

    // Position 3 again, as a retried commit would write it, then the move.
    let Db::Sqlite(pool) = &raw else {
        unreachable!("an SQLite test")
    };
    let both = "SELECT room, pos, seq, at, data FROM entries \
                UNION ALL SELECT room, pos, seq, at, data FROM journal";
    sqlx::query(&format!(
        "INSERT INTO journal SELECT 0, 1000000, room, pos, seq, at, data FROM ({both}) \
         WHERE pos = 3"
    ))
    .execute(pool)
    .await
    .expect("a second row");
    s.log.drained().await;
    assert_eq!(count(&raw, "SELECT COUNT(*) FROM journal").await, 0);
    assert_eq!(count(&raw, "SELECT COUNT(*) FROM entries").await, 3);
    assert_eq!(logged().await, want);

    // Left in the journal by a server that was killed: moved at the next open, and recovered.
    w.append(entry(4));
    until_durable(&*w, 4).await;
    sqlx::query(&format!(
        "INSERT INTO journal SELECT 1, 1000001, room, 5, 5, at, data FROM ({both}) \
         WHERE pos = 4"
    ))
    .execute(pool)
    .await
    .expect("an entry as if appended before a kill");
    let again = db.open().await;
    assert_eq!(count(&raw, "SELECT COUNT(*) FROM journal").await, 0);
    let logs = again.log.unfinished().await.expect("unfinished");
    let positions: Vec<u64> = logs[0].entries.iter().map(|(pos, _)| *pos).collect();
    assert_eq!(positions, vec![1, 2, 3, 4, 5]);
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
    assert_eq!(count(&raw, "SELECT COUNT(*) FROM entries").await, 3);
}

#[tokio::test]
async fn sqlite_a_file_of_the_previous_schema_keeps_what_its_journal_held() {
    // A file written by the previous version of the server (one journal without buckets), which
    // was killed with entries still in its journal, one of them written twice: the next server
    // moves them into the entries table as it upgrades the schema, and the game recovers whole.
    let db = TestDb::sqlite();
    let room = RoomId::from_wire("r-upgrade");
    {
        let s = db.open().await;
        let mut w = s.log.create(header(room.as_str(), 11)).expect("create");
        for seq in 1..=3 {
            w.append(entry(seq));
        }
        until_durable(&*w, 3).await;
        s.log.drained().await;
    }
    let raw = db.raw().await;
    let Db::Sqlite(pool) = &raw else {
        unreachable!("an SQLite test")
    };
    for step in [
        "DROP TABLE journal",
        "CREATE TABLE journal (room TEXT NOT NULL, pos INTEGER NOT NULL, \
         seq INTEGER NOT NULL, at INTEGER NOT NULL, data BLOB NOT NULL)",
        "DELETE FROM _sqlx_migrations WHERE version = 6",
        "INSERT INTO journal SELECT room, pos, seq, at, data FROM entries WHERE pos >= 2",
        "INSERT INTO journal SELECT room, pos, seq, at, data FROM entries WHERE pos = 3",
        "DELETE FROM entries WHERE pos >= 2",
    ] {
        sqlx::query(step).execute(pool).await.expect(step);
    }

    let s = db.open().await;
    assert_eq!(count(&raw, "SELECT COUNT(*) FROM journal").await, 0);
    assert_eq!(count(&raw, "SELECT COUNT(*) FROM entries").await, 3);
    let logs = s.log.unfinished().await.expect("unfinished");
    let want: Vec<(u64, Entry)> = (1..=3).map(|seq| (seq, entry(seq))).collect();
    assert_eq!(logs[0].entries, want);
    // And the new journal takes the game's next entries.
    let mut w = s.log.reopen(&logs[0].header, 3);
    w.append(entry(4));
    until_durable(&*w, 4).await;
    let logged = s.log.read(&room).await.expect("read").expect("game");
    assert_eq!(logged.entries.len(), 4);
}
