//! Rooms rebuilt from the event log after a restart.

use super::*;

/// A two-seat game between ann and bob, played for `moves` moves (ann's request ids `a1`,
/// `a2`, ...; bob's `b1`, ...). Returns the room's info, with the sequence number of the last
/// acknowledgement (a room publishes its info on changes of seats and phase, not every move).
async fn played(rooms: &mut Rooms, moves: u32) -> RoomInfo {
    let (ann, bob) = (player("p-ann"), player("p-bob"));
    let (a, _a_rx) = rooms.conn();
    let (b, _b_rx) = rooms.conn();
    let handle = rooms.create(hostile("none"), &ann, a).await;
    join(&handle, &bob, b).await;
    let (out, mut rx) = rooms.conn();
    for n in 0..moves {
        let (who, id) = if n % 2 == 0 {
            (&ann, format!("a{}", n / 2 + 1))
        } else {
            (&bob, format!("b{}", n / 2 + 1))
        };
        handle.send(act(who, &id, &out)).expect("sent");
        settle().await;
    }
    let got = replies(&mut rx);
    assert_eq!(got.len() as u32, moves);
    assert!(got.iter().all(|r| r.starts_with("ack")), "{got:?}");
    let mut info = handle.info();
    info.seq = u64::from(moves) + 1;
    assert!(
        got.last()
            .is_some_and(|r| r.ends_with(&format!(" {}", info.seq)))
    );
    info.status = RoomStatus::Running;
    info
}

/// A second server's rooms over the same log: the first one's rooms stop as at a crash (they
/// never end their games), then the second rebuilds what the log holds.
pub(super) async fn restart(first: &Rooms, log: Arc<dyn EventLog>, logs: Vec<GameLog>) -> Rooms {
    first.shutdown.cancel();
    settle().await;
    let rooms = Rooms::new(RoomConfig::default(), log);
    let catalog = rooms.catalog.clone();
    rooms
        .registry
        .recover(logs, Arc::new(move |key| catalog.by_digest(&key.digest)))
        .done()
        .await;
    rooms
}

#[tokio::test(start_paused = true)]
async fn a_game_rebuilt_from_its_log_goes_on_where_it_stopped() {
    // After a restart the game is where it was: same sequence number and state, its players
    // away (not replaced by bots at once), a retried action answered with its first reply and
    // not applied again, and the next action plays on.
    let log = Arc::new(MemoryLog::default());
    let mut first = Rooms::new(RoomConfig::default(), log.clone());
    let before = played(&mut first, 7).await;
    assert_eq!(before.seq, 8, "the start and seven moves");
    let logs = log.unfinished().await.expect("reads");
    assert_eq!(logs.len(), 1);
    assert!(logs[0].snapshot.is_some(), "snapshots every 4 entries");
    assert!(
        logs[0].entries.len() < 4,
        "recovery replays only what follows the snapshot"
    );
    let mut second = restart(&first, log.clone(), logs).await;
    let handle = second.registry.get(before.id.as_str()).expect("rebuilt");
    let after = handle.info();
    assert_eq!(
        (after.seq, after.status, &after.phase, after.seats.len()),
        (before.seq, before.status, &before.phase, 2)
    );
    assert!(
        after
            .seats
            .iter()
            .all(|s| s.connected == Some(false) && s.bot_playing == Some(false)),
        "{:?}",
        after.seats
    );
    let (ann, bob) = (player("p-ann"), player("p-bob"));
    let (out, mut rx) = second.conn();
    // Move 7 was ann's 4th; the game now awaits bob.
    handle.send(act(&ann, "a4", &out)).expect("sent");
    handle.send(act(&bob, "b4", &out)).expect("sent");
    settle().await;
    assert_eq!(replies(&mut rx), ["ack a4 8", "ack b4 9"]);
}

#[tokio::test(start_paused = true)]
async fn an_unusable_snapshot_is_repaired_from_the_whole_log() {
    // A snapshot that does not decode costs only time: the room is rebuilt from its first entry.
    let log = Arc::new(MemoryLog::default());
    let mut first = Rooms::new(RoomConfig::default(), log.clone());
    let before = played(&mut first, 6).await;
    let mut logs = log.unfinished().await.expect("reads");
    if let Some(s) = logs[0].snapshot.as_mut() {
        s.data = vec![0xff; 3];
    }
    let second = restart(&first, log.clone(), logs).await;
    let after = second
        .registry
        .get(before.id.as_str())
        .expect("rebuilt")
        .info();
    assert_eq!((after.seq, after.status), (before.seq, RoomStatus::Running));
}

#[tokio::test(start_paused = true)]
async fn a_log_that_does_not_replay_pauses_its_room_as_corrupt_and_spares_the_others() {
    // A recorded state hash that the replay does not reach marks the game corrupt: its room is
    // paused with the reason, at the last step that matched; another game rebuilds normally.
    let log = Arc::new(MemoryLog::default());
    let mut first = Rooms::new(RoomConfig::default(), log.clone());
    let bad = played(&mut first, 3).await;
    let good = played(&mut first, 3).await;
    let mut logs = log.unfinished().await.expect("reads");
    let game = logs
        .iter_mut()
        .find(|g| g.header.room == bad.id)
        .expect("logged");
    let (_, last) = game
        .entries
        .iter_mut()
        .rev()
        .find(|(_, e)| e.state_hash.is_some())
        .expect("a move after the snapshot");
    last.state_hash = last.state_hash.map(|h| h ^ 1);
    // The second server's log does not have the whole game either (no repair possible).
    let rooms = restart(&first, Arc::new(MemoryLog::default()), logs).await;
    paused_and_spared(&rooms, &bad, &good, "");
}

/// After a restart, `bad`'s room is paused as corrupt (its reason holding `why`) at the step
/// before its last, and `good`'s is rebuilt and running.
fn paused_and_spared(rooms: &Rooms, bad: &RoomInfo, good: &RoomInfo, why: &str) {
    let info = rooms.registry.get(bad.id.as_str()).expect("kept").info();
    assert_eq!(info.status, RoomStatus::Paused);
    let reason = info.paused_reason.unwrap_or_default();
    assert!(
        reason.starts_with("corrupt:") && reason.contains(why),
        "{reason}"
    );
    assert_eq!(info.seq, bad.seq - 1, "the last step read and matched");
    let other = rooms
        .registry
        .get(good.id.as_str())
        .expect("rebuilt")
        .info();
    assert_eq!((other.seq, other.status), (good.seq, RoomStatus::Running));
}

#[tokio::test(start_paused = true)]
async fn a_log_read_back_damaged_pauses_its_room_where_the_reading_stopped() {
    // A game whose stored entries could not all be read back (the store cut its entries before
    // the first it could not decode) replays as far as they go and is paused as corrupt there,
    // unless its whole log reads and replays (repair); the other games are rebuilt as usual.
    let log = Arc::new(MemoryLog::default());
    let mut first = Rooms::new(RoomConfig::default(), log.clone());
    let bad = played(&mut first, 3).await;
    let good = played(&mut first, 3).await;
    let damaged = |mut logs: Vec<GameLog>| {
        let game = logs
            .iter_mut()
            .find(|g| g.header.room == bad.id)
            .expect("logged");
        game.entries.pop();
        game.damaged = Some("stored entry 5 of the room does not decode".into());
        logs
    };
    let logs = damaged(log.unfinished().await.expect("reads"));
    // Nothing more to read: no repair.
    let rooms = restart(&first, Arc::new(MemoryLog::default()), logs).await;
    paused_and_spared(&rooms, &bad, &good, "does not decode");

    // The whole log reads (the damage was in the short read only): repaired, running.
    let logs = damaged(log.unfinished().await.expect("reads"));
    let again = restart(&rooms, log.clone(), logs).await;
    let info = again.registry.get(bad.id.as_str()).expect("kept").info();
    assert_eq!((info.seq, info.status), (bad.seq, RoomStatus::Running));
}
