//! Rooms closing: abandoned rooms (every human left, or before the start gone past the grace)
//! close on time; running games with absent players go on.

use super::*;

#[tokio::test(start_paused = true)]
async fn an_abandoned_room_closes_after_its_grace_period_and_forgets_its_log() {
    // When every human has left, the room closes once the abandoned grace period is over, its
    // handle answers `Closed`, and the in-memory log drops the game.
    let cfg = RoomConfig {
        abandoned_close_ms: 5_000,
        ..RoomConfig::default()
    };
    let log = Arc::new(MemoryLog::default());
    let mut rooms = Rooms::new(cfg, log.clone());
    let ann = player("p-ann");
    let (a, _a_rx) = rooms.conn();
    let handle = rooms.create(hostile("none"), &ann, a).await;
    let id = handle.id().clone();
    assert!(log.read(&id).await.expect("reads").is_some());
    handle
        .ask(|reply| RoomCmd::Leave {
            player: ann.clone(),
            reply,
        })
        .await
        .expect("left");
    tokio::time::sleep(Duration::from_millis(4_900)).await;
    assert!(rooms.registry.get(id.as_str()).is_ok(), "still open");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(rooms.registry.get(id.as_str()).is_err(), "closed");
    assert_eq!(
        handle.send(act(&ann, "late", &rooms.conn().0)),
        Err(RoomError::Closed)
    );
    assert!(log.read(&id).await.expect("reads").is_none());
}

#[tokio::test(start_paused = true)]
async fn a_waiting_room_whose_humans_are_gone_closes_but_a_running_game_goes_on() {
    // Before the start, a creator whose connection dropped is gone once the reconnect grace is
    // over, and the room closes after the abandoned period; coming back in time keeps it open.
    // A running game whose only human dropped goes on with the bots.
    let cfg = RoomConfig {
        reconnect_grace_ms: 1_000,
        abandoned_close_ms: 2_000,
        bot_think_ms: 100,
        ..RoomConfig::default()
    };
    let mut rooms = Rooms::new(cfg, Arc::new(MemoryLog::default()));
    let ann = player("p-ann");
    let gone = |handle: &RoomHandle, outbox: &Outbox| RoomCmd::Disconnected {
        player: handle.info().creator,
        conn: outbox.conn(),
    };
    let (a, _a_rx) = rooms.conn();
    let waiting = rooms.create(hostile("none"), &ann, a.clone()).await;
    let (b, _b_rx) = rooms.conn();
    let running = rooms
        .create(
            CreateRoom {
                bots: 1,
                ..hostile("none")
            },
            &ann,
            b.clone(),
        )
        .await;
    assert_eq!(running.info().status, RoomStatus::Running);
    waiting.send(gone(&waiting, &a)).expect("sent");
    running.send(gone(&running, &b)).expect("sent");
    tokio::time::sleep(Duration::from_millis(2_900)).await;
    assert!(rooms.registry.get(waiting.id().as_str()).is_ok(), "not yet");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        rooms.registry.get(waiting.id().as_str()).is_err(),
        "closed after grace + abandoned time"
    );
    assert!(rooms.registry.get(running.id().as_str()).is_ok());
    assert!(running.info().seq > 1, "the bots play on");

    // Ann comes back to a waiting room within the abandoned period: it stays.
    let (c, _c_rx) = rooms.conn();
    let kept = rooms.create(hostile("none"), &ann, c.clone()).await;
    kept.send(gone(&kept, &c)).expect("sent");
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    let (d, _d_rx) = rooms.conn();
    join(&kept, &ann, d).await;
    tokio::time::sleep(Duration::from_millis(5_000)).await;
    assert!(
        rooms.registry.get(kept.id().as_str()).is_ok(),
        "she came back"
    );
}
