//! Rooms moved to another version of their game while it is played (swaps and rollouts).

use super::recovery::restart;
use super::*;
use registry::Policy;

/// A turn-room game on the released 1.0.0 (contract 0.1.0) between ann (seat 0) and bob, after
/// ann's first move.
pub(super) async fn on_released_version(
    rooms: &mut Rooms,
) -> (
    RoomHandle,
    mpsc::Receiver<Outgoing>,
    mpsc::Receiver<Outgoing>,
) {
    let (ann, bob) = (player("p-ann"), player("p-bob"));
    let (a, a_rx) = rooms.conn();
    let (b, b_rx) = rooms.conn();
    let req = CreateRoom {
        game: "turn-room".into(),
        version: Some("1.0.0".into()),
        seats: Some(2),
        seed: Some(5),
        ..CreateRoom::default()
    };
    let handle = rooms.create(req, &ann, a.clone()).await;
    join(&handle, &bob, b).await;
    handle.send(add(&ann, "a1", 2, &a)).expect("sent");
    settle().await;
    (handle, a_rx, b_rx)
}

pub(super) fn add(who: &PlayerId, request_id: &str, n: u32, outbox: &Outbox) -> RoomCmd {
    RoomCmd::Act(ActCmd {
        player: who.clone(),
        request_id: request_id.into(),
        action: format!(r#"{{"add":{n}}}"#).into(),
        expected_seq: None,
        outbox: outbox.clone(),
    })
}

/// Waits (on the paused clock) until rollout `id` is done; its status.
pub(super) async fn finished(rooms: &Rooms, id: u64) -> registry::RolloutStatus {
    for _ in 0..100 {
        settle().await;
        let status = rooms.registry.rollout(id).expect("kept");
        if status.state == "done" {
            return status;
        }
    }
    panic!("the rollout did not finish");
}

#[tokio::test(start_paused = true)]
async fn a_running_game_moves_to_the_activated_version_between_two_inputs() {
    // An operator activates turn-room 1.1.0 with the migrate policy while a game runs on 1.0.0:
    // the game moves over (seq + 1), its players are told the new version and get fresh views
    // that replace what they knew, the counter is where it was, and play goes on under 1.1.0;
    // the log records the swap, and a restart rebuilds the game on 1.1.0.
    let log = Arc::new(MemoryLog::default());
    let mut rooms = Rooms::new(RoomConfig::default(), log.clone());
    let (handle, mut a_rx, _b_rx) = on_released_version(&mut rooms).await;
    let before = handle.info();
    assert_eq!(&*before.version, "1.0.0");
    assert_eq!(replies(&mut a_rx), ["ack a1 2"]);

    let started = rooms
        .registry
        .activate("turn-room", "1.1.0", Policy::Migrate)
        .expect("activated");
    assert_eq!(started.rooms, 1);
    let done = finished(&rooms, started.id).await;
    assert_eq!((done.migrated, done.pinned.len(), done.pending), (1, 0, 0));
    let after = handle.info();
    assert_eq!((&*after.version, after.seq), ("1.1.0", 3));
    assert_eq!(after.active_version, None, "it is on the active version");
    let (mut told, mut resync) = (false, None);
    while let Ok(msg) = a_rx.try_recv() {
        match msg {
            Outgoing::Room(i) => told |= &*i.get().version == "1.1.0",
            Outgoing::Update(u) => {
                let u = u.get();
                resync = Some((u.seq, u.resync, u.view.as_deref().unwrap_or("").to_owned()));
            }
            _ => {}
        }
    }
    assert!(told, "ann hears of the new version");
    let (seq, is_resync, view) = resync.expect("a fresh view");
    assert_eq!((seq, is_resync), (3, true));
    assert!(view.contains(r#""counter":2"#), "{view}");

    let (bob, (out, mut rx)) = (player("p-bob"), rooms.conn());
    handle.send(add(&bob, "b1", 3, &out)).expect("sent");
    settle().await;
    assert_eq!(replies(&mut rx), ["ack b1 4"]);
    let logs = log.unfinished().await.expect("reads");
    let swaps: Vec<&Input> = logs[0]
        .entries
        .iter()
        .map(|(_, e)| &e.input)
        .filter(|i| matches!(i, Input::Swap { .. }))
        .collect();
    let released = rooms.catalog.version("turn-room", "1.0.0").expect("kept");
    assert!(
        matches!(swaps.as_slice(), [Input::Swap { from, to }]
            if *from == released.digest() && to.version == "1.1.0"),
        "{swaps:?}"
    );

    // The snapshot (every 4 entries here) came after the swap: the rebuilt room knows its
    // module from it, and plays on under 1.1.0.
    let mut second = restart(&rooms, log.clone(), logs).await;
    let rebuilt = second.registry.get(before.id.as_str()).expect("rebuilt");
    let info = rebuilt.info();
    assert_eq!((&*info.version, info.seq), ("1.1.0", 4));
    let (ann, (out, mut rx)) = (player("p-ann"), second.conn());
    rebuilt.send(add(&ann, "a2", 1, &out)).expect("sent");
    settle().await;
    assert_eq!(replies(&mut rx), ["ack a2 5"]);
}

#[tokio::test(start_paused = true)]
async fn a_game_rebuilt_from_its_whole_log_replays_the_swap() {
    // Without a snapshot after it, recovery replays the recorded swap itself: the same migrate
    // under the module the entry names, checked against the recorded state hash.
    let log = Arc::new(MemoryLog::default());
    let cfg = RoomConfig::default();
    let mut rooms = Rooms::new(cfg, log.clone());
    let (handle, _a_rx, _b_rx) = on_released_version(&mut rooms).await;
    let id = rooms
        .registry
        .activate("turn-room", "1.1.0", Policy::Migrate)
        .expect("activated")
        .id;
    finished(&rooms, id).await;
    let mut logs = log.unfinished().await.expect("reads");
    logs[0].snapshot = None;
    let whole = log.read(handle.id()).await.expect("reads").expect("kept");
    logs[0].entries = whole.entries;
    let second = restart(&rooms, Arc::new(MemoryLog::default()), logs).await;
    let info = second
        .registry
        .get(handle.id().as_str())
        .expect("rebuilt")
        .info();
    assert_eq!(
        (&*info.version, info.seq, info.status),
        ("1.1.0", 3, RoomStatus::Running)
    );
}

#[tokio::test(start_paused = true)]
async fn versions_that_cannot_take_a_game_over_leave_it_where_it_is() {
    // A version built against the 0.1.0 contract cannot be activated with the migrate policy
    // (nothing changes); a room of another version that refuses the game (here: a version whose
    // seat range excludes the room) stays on its version, reported with the reason.
    let log = Arc::new(MemoryLog::default());
    let mut rooms = Rooms::new(RoomConfig::default(), log.clone());
    let (handle, _a_rx, _b_rx) = on_released_version(&mut rooms).await;
    let refused = rooms
        .registry
        .activate("turn-room", "1.0.0", Policy::Migrate)
        .expect_err("0.1.0 cannot take games over");
    assert!(refused.to_string().contains("0.1.0"), "{refused}");

    // New rooms only: the running room stays on 1.0.0 and reports the active version.
    let status = rooms
        .registry
        .activate("turn-room", "1.1.0", Policy::NewRooms)
        .expect("activated");
    assert_eq!((status.rooms, status.state), (0, "done"));
    settle().await;
    let info = handle.info();
    assert_eq!(
        (&*info.version, info.active_version.as_deref()),
        ("1.0.0", Some("1.1.0"))
    );

    // The game is over for nobody, but a finished game is not moved: play it to the end first.
    let (ann, bob) = (player("p-ann"), player("p-bob"));
    let (out, _rx) = rooms.conn();
    let mut n = 0;
    while handle.info().status == RoomStatus::Running && n < 200 {
        let who = if n % 2 == 0 { &bob } else { &ann };
        handle
            .send(add(who, &format!("m{n}"), 1, &out))
            .expect("sent");
        settle().await;
        n += 1;
    }
    assert_eq!(handle.info().status, RoomStatus::Finished);
    let id = rooms
        .registry
        .activate("turn-room", "1.1.0", Policy::Migrate)
        .expect("activated")
        .id;
    let done = finished(&rooms, id).await;
    assert_eq!(done.migrated, 0);
    assert_eq!(done.pinned.len(), 1, "{done:?}");
    assert!(done.pinned[0].reason.contains("over"), "{done:?}");
    assert_eq!(&*handle.info().version, "1.0.0");
}

#[tokio::test(start_paused = true)]
async fn a_version_whose_migrate_fails_leaves_every_room_on_its_own() {
    // hostile 1.1.0 refuses to take over any game: the rollout reports each room pinned with
    // the module's reason, the rooms stay on 1.0.0 and play on.
    let mut rooms = Rooms::new(RoomConfig::default(), Arc::new(MemoryLog::default()));
    let (ann, bob) = (player("p-ann"), player("p-bob"));
    let (a, _a_rx) = rooms.conn();
    let (b, _b_rx) = rooms.conn();
    let handle = rooms.create(hostile("none"), &ann, a.clone()).await;
    join(&handle, &bob, b).await;
    handle.send(act(&ann, "a1", &a)).expect("sent");
    settle().await;
    let id = rooms
        .registry
        .activate("hostile", "1.1.0", Policy::Migrate)
        .expect("activated")
        .id;
    let done = finished(&rooms, id).await;
    assert_eq!((done.migrated, done.pinned.len()), (0, 1), "{done:?}");
    assert!(done.pinned[0].reason.contains("refuses"), "{done:?}");
    assert_eq!(&*handle.info().version, "1.0.0");
    let (out, mut rx) = rooms.conn();
    handle.send(act(&bob, "b1", &out)).expect("sent");
    settle().await;
    assert_eq!(replies(&mut rx), ["ack b1 3"]);
}
