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
        "INSERT INTO journal SELECT * FROM ({both}) WHERE pos = 3"
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
        "INSERT INTO journal SELECT room, 5, 5, at, data FROM ({both}) WHERE pos = 4"
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
