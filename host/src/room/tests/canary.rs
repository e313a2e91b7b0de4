//! Canaries, rollbacks and the shadow gate: a share of rooms moves first and goes back by itself
//! when the new version fails; an operator takes a game back to its previous version; a room
//! whose game would diverge under the new version stays.

use super::swap::{add, finished, on_released_version};
use super::*;
use registry::Policy;

/// Waits (on the paused clock) until rollout `id` leaves `running` and `watching`.
async fn settled(rooms: &Rooms, id: u64) -> registry::RolloutStatus {
    for _ in 0..10_000 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let status = rooms.registry.rollout(id).expect("kept");
        if !matches!(status.state, "running" | "watching") {
            return status;
        }
    }
    panic!("the rollout never settled");
}

#[tokio::test(start_paused = true)]
async fn a_canary_that_traps_rolls_back_by_itself_and_the_games_go_on() {
    // hostile 1.2.0 takes games over and traps in them: the canary moves the rooms, the next
    // move fails (the player is told, the room stays), the failure rate crosses the threshold,
    // and the rooms go back to 1.0.0 by themselves; the version is not activated; play goes on.
    let cfg = RoomConfig {
        canary_window_ms: 60_000,
        ..RoomConfig::default()
    };
    let mut rooms = Rooms::new(cfg, Arc::new(MemoryLog::default()));
    let (ann, bob) = (player("p-ann"), player("p-bob"));
    let (a, _a_rx) = rooms.conn();
    let (b, _b_rx) = rooms.conn();
    let handle = rooms.create(hostile("none"), &ann, a.clone()).await;
    join(&handle, &bob, b).await;
    let (out, mut rx) = rooms.conn();
    handle.send(act(&ann, "a1", &out)).expect("sent");
    settle().await;
    assert_eq!(replies(&mut rx), ["ack a1 2"]);

    let started = rooms
        .registry
        .activate("hostile", "1.2.0", Policy::Canary { percent: 100 })
        .expect("a canary");
    assert_eq!(started.policy, "canary:100");
    settle().await;
    assert_eq!(&*handle.info().version, "1.2.0", "moved by the canary");
    assert_eq!(
        rooms
            .catalog
            .active("hostile")
            .map(|m| m.info().version.clone()),
        Some("1.0.0".into()),
        "not active while the canary runs"
    );
    handle.send(act(&bob, "b1", &out)).expect("sent");
    settle().await;
    let refused = replies(&mut rx);
    assert!(refused[0].starts_with("refused b1"), "{refused:?}");

    let status = settled(&rooms, started.id).await;
    assert_eq!(status.state, "rolled_back", "{status:?}");
    assert!(
        status
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("failed")),
        "{status:?}"
    );
    assert_eq!(&*handle.info().version, "1.0.0", "back where it was");
    handle.send(act(&bob, "b2", &out)).expect("sent");
    settle().await;
    assert_eq!(
        replies(&mut rx),
        ["ack b2 5"],
        "seq 3 was the swap, 4 the way back"
    );
}

#[tokio::test(start_paused = true)]
async fn a_quiet_canary_activates_its_version_and_a_rollback_takes_the_games_back() {
    // A canary whose version does not fail for its whole window becomes the active version;
    // then the operator rolls the game back: the room returns to 1.0.0 with the move made under
    // 1.1.0 replayed under 1.0.0, and plays on.
    let cfg = RoomConfig {
        canary_window_ms: 2_000,
        ..RoomConfig::default()
    };
    let mut rooms = Rooms::new(cfg, Arc::new(MemoryLog::default()));
    rooms
        .catalog
        .set_active("turn-room", "1.0.0")
        .expect("installed");
    let (handle, _a_rx, mut b_rx) = on_released_version(&mut rooms).await;
    let started = rooms
        .registry
        .activate("turn-room", "1.1.0", Policy::Canary { percent: 100 })
        .expect("a canary");
    let status = settled(&rooms, started.id).await;
    assert_eq!((status.state, status.migrated), ("done", 1), "{status:?}");
    assert_eq!(
        rooms
            .catalog
            .active("turn-room")
            .map(|m| m.info().version.clone()),
        Some("1.1.0".into())
    );
    let bob = player("p-bob");
    let (out, mut rx) = rooms.conn();
    handle.send(add(&bob, "b1", 3, &out)).expect("sent");
    settle().await;
    assert_eq!(replies(&mut rx), ["ack b1 4"]);
    while b_rx.try_recv().is_ok() {}

    let back = rooms
        .registry
        .rollback("turn-room")
        .expect("a previous version");
    let done = finished(&rooms, back.id).await;
    assert_eq!((done.migrated, done.pinned.len()), (1, 0), "{done:?}");
    assert_eq!(&*handle.info().version, "1.0.0");
    let mut view = None;
    while let Ok(msg) = b_rx.try_recv() {
        if let Outgoing::Update(u) = msg {
            let u = u.get();
            view = Some((u.seq, u.resync, u.view.as_deref().unwrap_or("").to_owned()));
        }
    }
    let (seq, resync, view) = view.expect("a fresh view");
    assert_eq!((seq, resync), (5, true));
    assert!(
        view.contains(r#""counter":5"#),
        "ann's 2 and bob's 3 replayed: {view}"
    );
    let ann = player("p-ann");
    handle.send(add(&ann, "a2", 1, &out)).expect("sent");
    settle().await;
    assert_eq!(replies(&mut rx), ["ack a2 6"]);
    assert!(
        rooms.registry.rollback("turn-room").is_err(),
        "nothing further back"
    );
}

#[tokio::test(start_paused = true)]
async fn the_shadow_gate_keeps_a_game_that_would_diverge_and_moves_one_that_would_not() {
    // With the shadow gate, a room moves only if its game replays from the start under the new
    // version: a Liap Tui 1.0.0 game already past round 20 would have ended under 2.0.0's round
    // limit, so it stays on 1.0.0, reported with the input where it diverges; a turn-room game
    // moves.
    let cfg = RoomConfig {
        bot_think_ms: 1,
        ..RoomConfig::default()
    };
    let mut rooms = Rooms::new(cfg, Arc::new(MemoryLog::default()));
    let ann = player("p-ann");
    let (a, _a_rx) = rooms.conn();
    let req = CreateRoom {
        game: "liap-tui".into(),
        version: Some("1.0.0".into()),
        bots: 3,
        seed: Some(3),
        options: Some(serde_json::json!({"pace": "instant", "win_score": 1000})),
        ..CreateRoom::default()
    };
    let long = rooms.create(req, &ann, a).await;
    long.ask(|reply| RoomCmd::Leave {
        player: ann.clone(),
        reply,
    })
    .await
    .expect("left: the bots play on");
    let mut waited = 0;
    while long.info().seq < 1_400 && waited < 600 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += 1;
    }
    assert!(long.info().seq >= 1_400, "{:?}", long.info());
    let status = rooms
        .registry
        .activate_gated("liap-tui", "2.0.0", Policy::Migrate, true)
        .expect("activated");
    assert!(status.shadow);
    let done = finished(&rooms, status.id).await;
    assert_eq!((done.migrated, done.pinned.len()), (0, 1), "{done:?}");
    assert!(done.pinned[0].reason.contains("diverges"), "{done:?}");
    assert_eq!(&*long.info().version, "1.0.0");

    let (handle, _a_rx, _b_rx) = on_released_version(&mut rooms).await;
    let status = rooms
        .registry
        .activate_gated("turn-room", "1.1.0", Policy::Migrate, true)
        .expect("activated");
    let done = finished(&rooms, status.id).await;
    assert_eq!((done.migrated, done.pinned.len()), (1, 0), "{done:?}");
    assert_eq!(&*handle.info().version, "1.1.0");
}

#[tokio::test(start_paused = true)]
async fn a_version_that_keeps_failing_is_quarantined_and_its_rooms_move_away_or_pause() {
    // hostile 1.2.0 traps in the games it took over: within one interval it fails past the
    // thresholds and is quarantined. The version before it is active again; the room it took
    // over goes back to 1.0.0 and plays on; a room that started on 1.2.0 cannot go back nor be
    // taken over by 1.0.0, so it is paused with the reason; 1.2.0 takes no new room.
    let cfg = RoomConfig {
        quarantine_interval_ms: 1_000,
        quarantine_min_failures: 1,
        quarantine_failures_per_mille: 100,
        ..RoomConfig::default()
    };
    let mut rooms = Rooms::new(cfg, Arc::new(MemoryLog::default()));
    // Failure counters of its own: the tests' modules are shared by tests running at once, some
    // of which make hostile 1.0.0 fail on purpose.
    for version in ["1.0.0", "1.1.0", "1.2.0"] {
        let own = rooms.catalog.version("hostile", version).expect("bundled");
        rooms.catalog.add(own.isolated());
    }
    let (ann, bob) = (player("p-ann"), player("p-bob"));
    let (a, _a_rx) = rooms.conn();
    let (b, _b_rx) = rooms.conn();
    let taken = rooms.create(hostile("none"), &ann, a).await;
    join(&taken, &bob, b).await;
    let id = rooms
        .registry
        .activate("hostile", "1.2.0", Policy::Migrate)
        .expect("activated")
        .id;
    finished(&rooms, id).await;
    let (c, _c_rx) = rooms.conn();
    let (d, _d_rx) = rooms.conn();
    let fresh = rooms.create(hostile("none"), &player("p-cara"), c).await;
    join(&fresh, &player("p-dan"), d).await;
    assert_eq!(&*fresh.info().version, "1.2.0");
    let (out, mut rx) = rooms.conn();
    taken.send(act(&ann, "a1", &out)).expect("sent");
    settle().await;
    assert!(replies(&mut rx)[0].starts_with("refused a1"));

    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let why = rooms
        .catalog
        .quarantined("hostile", "1.2.0")
        .expect("quarantined");
    assert!(why.contains("failed"), "{why}");
    assert_eq!(
        rooms
            .catalog
            .active("hostile")
            .map(|m| m.info().version.clone()),
        Some("1.0.0".into())
    );
    assert_eq!(&*taken.info().version, "1.0.0", "back where it came from");
    taken.send(act(&ann, "a2", &out)).expect("sent");
    settle().await;
    assert_eq!(replies(&mut rx), ["ack a2 4"]);
    let paused = fresh.info();
    assert_eq!(paused.status, RoomStatus::Paused, "{paused:?}");
    assert!(
        paused
            .paused_reason
            .as_deref()
            .is_some_and(|r| r.contains("quarantined")),
        "{paused:?}"
    );
    let (e, _e_rx) = rooms.conn();
    let refused = rooms
        .registry
        .create(
            CreateRoom {
                version: Some("1.2.0".into()),
                ..hostile("none")
            },
            creator(&player("p-eve"), e),
        )
        .await;
    assert!(
        matches!(refused, Err(RoomError::VersionQuarantined { .. })),
        "{refused:?}"
    );
}
