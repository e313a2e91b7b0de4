//! What the writer does with rows it cannot, or must not, write as given: a room id an older
//! game holds, a position logged already, a row the database refuses.

use super::*;

on_both!(
    a_room_id_is_logged_once,
    a_stale_writer_does_not_overwrite_a_logged_position,
    a_refused_row_does_not_hold_up_the_rest_of_its_commit,
);

async fn a_room_id_is_logged_once(db: TestDb) {
    // Two open games cannot share a room id; and a new game whose random id belongs to an old
    // game in the database is refused by the writer without disturbing anyone else: its room
    // stops taking inputs, the old game's record is untouched.
    let s = db.open().await;
    let room = RoomId::from_wire("r-twice");
    let mut first = s.log.create(header(room.as_str(), 1)).expect("create");
    assert!(matches!(
        s.log.create(header(room.as_str(), 2)),
        Err(StoreError::Duplicate { .. })
    ));
    first.append(entry(1));
    first.end(Ending::Abandoned);
    flush(&s).await;

    let mut second = s.log.create(header(room.as_str(), 2)).expect("create");
    second.append(entry(1));
    let mut other = s.log.create(header("r-other", 3)).expect("create");
    other.append(entry(1));
    until_durable(&*other, 1).await;
    flush(&s).await;
    assert!(!second.accepting(), "the clashing room is told to stop");
    assert_eq!(second.durable().get(), 0);
    assert!(other.accepting() && s.log.accepting());
    let old = s.log.read(&room).await.expect("read").expect("game");
    assert_eq!(old.header.seed, 1);
    assert_eq!(old.entries, vec![(1, entry(1))]);
}

async fn a_stale_writer_does_not_overwrite_a_logged_position(db: TestDb) {
    // A stale writer re-appends a position already logged (as a second server on the same game
    // would): the journal has no key, so its row is not refused, but the log reads as first
    // written (readers and the journal's move keep the first of a position), and the other
    // games and the session in the same commit go through.
    let s = db.open().await;
    let room = RoomId::from_wire("r-first");
    let mut first = s.log.create(header(room.as_str(), 1)).expect("create");
    first.append(entry(1));
    until_durable(&*first, 1).await;

    let mut stale = s.log.reopen(&header(room.as_str(), 1), 0);
    stale.append(entry(9));
    let mut other = s.log.create(header("r-fine", 2)).expect("create");
    other.append(entry(1));
    // Queued when first polled, behind the two appends: one batch.
    s.sessions
        .insert(session("t-fine"), 5)
        .await
        .expect("the session goes through");
    until_durable(&*other, 1).await;
    flush(&s).await;
    assert!(other.accepting() && s.log.accepting());
    let logged = s.log.read(&room).await.expect("read").expect("game");
    assert_eq!(logged.entries, vec![(1, entry(1))]);
    assert!(s.sessions.get("t-fine").await.expect("get").is_some());
    s.log.drained().await;
    let logged = s.log.read(&room).await.expect("read").expect("game");
    assert_eq!(
        logged.entries,
        vec![(1, entry(1))],
        "after the journal's move"
    );
}

async fn a_refused_row_does_not_hold_up_the_rest_of_its_commit(db: TestDb) {
    // The database refuses a row for what it holds (here a second session under a token it
    // has): the commit is split and only that session is refused; a game's entries and the
    // other session in the same commit go through, and the writer goes on.
    let s = db.open().await;
    let mut w = s.log.create(header("r-along", 3)).expect("create");
    w.append(entry(1));
    // Queued together (the writer runs on this test's one thread, once it waits): one batch.
    let (first, again, other) = tokio::join!(
        s.sessions.insert(session("t-twice"), 5),
        s.sessions.insert(session("t-twice"), 6),
        s.sessions.insert(session("t-other"), 7),
    );
    assert!(first.is_ok() && other.is_ok(), "{first:?} {other:?}");
    assert!(
        matches!(&again, Err(StoreError::Database(m)) if m.starts_with("refused")),
        "{again:?}"
    );
    until_durable(&*w, 1).await;
    assert!(w.accepting() && s.log.accepting());
    w.append(entry(2));
    until_durable(&*w, 2).await;
    assert!(s.sessions.get("t-other").await.expect("get").is_some());
}
