//! What keeps the server standing: hostile modules, retries, stale views, back-pressure, floods,
//! takeovers and shutdown.

use serde_json::json;
use std::time::Duration;
use tabula_tests::{Client, TestServer, request_id};

#[tokio::test]
async fn a_hostile_module_rejects_actions_without_hurting_other_rooms() {
    // Loops, panics and memory bombs cost only the action that triggered them.
    let s = TestServer::start_with(|c| {
        c.sandbox.fuel_per_call = 5_000_000;
        c.sandbox.memory_bytes = 16 << 20;
    })
    .await;
    let mut fine = s.player("fine").await;
    let calm = fine
        .create_room(json!({"game": "turn-room", "bots": 3, "options": {"moves": 1000}}))
        .await;
    for fault in ["spin", "panic", "memory-bomb", "big-output"] {
        let mut a = s.player("a").await;
        let room = a
            .create_room(json!({"game": "hostile", "bots": 1, "options": {"fault": fault}}))
            .await;
        let first = a.update_at_least(&room, 1).await;
        assert_eq!(first["awaiting"], json!([0]));
        let e = a
            .request(json!({"type": "act", "room": room, "action": {}}))
            .await;
        assert_eq!(e["code"], "module_error", "{fault}: {e}");
        // The room kept its last good state and still answers.
        let e = a
            .request(json!({"type": "act", "room": room, "action": {}, "expected_seq": 1}))
            .await;
        assert_eq!(e["code"], "module_error", "{fault}: {e}");
        let listed = a.ok(json!({"type": "list_rooms", "game": "hostile"})).await;
        let mine = listed["rooms"]
            .as_array()
            .expect("rooms")
            .iter()
            .find(|r| r["id"] == room.as_str())
            .cloned();
        assert_eq!(mine.expect("listed")["seq"], 1);
    }
    // The other room kept playing all along.
    let u = fine.update_at_least(&calm, 1).await;
    assert_eq!(u["status"], "running");
    let (_, metrics) = s.get("/metrics").await;
    assert!(
        metrics.contains(
            "tabula_module_failures_total{game=\"hostile\",version=\"1.0.0\",call=\"out_of_fuel\"}"
        ),
        "{metrics}"
    );
    assert!(metrics.contains("call=\"trap\""), "{metrics}");
}

#[tokio::test]
async fn a_failing_timer_pauses_only_its_room() {
    // A module whose timer keeps failing is retried, then its room pauses and says why.
    let s = TestServer::start_with(|c| c.room.max_module_failures = 3).await;
    let mut a = s.player("a").await;
    let room = a
        .create_room(json!({"game": "hostile", "bots": 1, "options": {"fault": "bad-timer"}}))
        .await;
    let mut other = s.player("b").await;
    let calm = other
        .create_room(json!({"game": "hostile", "bots": 1}))
        .await;
    let paused = loop {
        let info = a.recv_type("room").await;
        if info["room"]["status"] == "paused" {
            break info;
        }
    };
    let reason = paused["room"]["paused_reason"].as_str().expect("reason");
    assert!(
        reason.contains("timer") && reason.contains("3 times"),
        "{reason}"
    );
    assert_eq!(
        a.error_code(json!({"type": "act", "room": room, "action": {}}))
            .await,
        "room_paused"
    );
    other.update_at_least(&calm, 1).await;
    let ack = other
        .ok(json!({"type": "act", "room": calm, "action": {}}))
        .await;
    assert_eq!(ack["seq"], 2);
}

#[tokio::test]
async fn retried_requests_are_applied_once_even_across_reconnects() {
    // A client that retries an action (say, after a dropped connection) does not move twice.
    let s = TestServer::start().await;
    let mut alice = s.player("alice").await;
    let room = alice
        .create_room(json!({"game": "turn-room", "seats": 2}))
        .await;
    let mut bob = s.player("bob").await;
    bob.ok(json!({"type": "join", "room": room})).await;
    alice.update_at_least(&room, 1).await;

    let act = json!({"type": "act", "request_id": "move-1", "room": room, "action": {"add": 3}});
    alice.send(act.clone()).await;
    let first = alice.reply_to("move-1").await;
    assert_eq!(first["seq"], 2);
    alice.send(act.clone()).await;
    assert_eq!(
        alice.reply_to("move-1").await,
        first,
        "same reply, not applied again"
    );
    let token = alice.token.clone();
    alice.drop_connection().await;
    let mut again = Client::reconnect(s.addr(), &token).await;
    again.send(act).await;
    assert_eq!(again.reply_to("move-1").await["seq"], 2);
    // Bob sees exactly one move of 3.
    let u = bob.update_at_least(&room, 2).await;
    assert_eq!(u["view"]["counter"], 3);
    assert_eq!(u["view"]["moves"], 1);
}

#[tokio::test]
async fn actions_against_a_stale_view_are_refused() {
    // A move made while looking at an old state is refused instead of being misapplied.
    let s = TestServer::start().await;
    let mut alice = s.player("alice").await;
    let room = alice.create_room(json!({"game": "tic-tac-toe"})).await;
    let mut bob = s.player("bob").await;
    bob.ok(json!({"type": "join", "room": room})).await;
    alice
        .ok(json!({"type": "act", "room": room, "action": {"cell": 4}, "expected_seq": 1}))
        .await;
    let e = bob
        .request(json!({"type": "act", "room": room, "action": {"cell": 0}, "expected_seq": 1}))
        .await;
    assert_eq!(e["code"], "stale");
    bob.ok(json!({"type": "act", "room": room, "action": {"cell": 0}, "expected_seq": 2}))
        .await;
}

// Several workers: the spinning module blocks the room's worker while others keep serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_room_inbox_answers_busy() {
    // When a room cannot keep up, further requests get `busy` instead of queueing forever.
    let s = TestServer::start_with(|c| {
        c.room.inbox_capacity = 1;
        c.sandbox.fuel_per_call = u64::MAX / 4;
        c.sandbox.deadline_ms = 400;
    })
    .await;
    let mut a = s.player("a").await;
    let room = a
        .create_room(json!({"game": "hostile", "bots": 1, "options": {"fault": "spin"}}))
        .await;
    a.update_at_least(&room, 1).await;
    // The spinning action holds the room for its whole deadline.
    let slow = request_id();
    a.send(json!({"type": "act", "request_id": slow, "room": room, "action": {}}))
        .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut others = Vec::new();
    for i in 0..4 {
        let mut c = s.player(&format!("o{i}")).await;
        let id = request_id();
        c.send(json!({"type": "watch", "request_id": id, "room": room}))
            .await;
        others.push((c, id));
    }
    let mut busy = 0;
    for (c, id) in &mut others {
        let reply = c.reply_to(id).await;
        if reply["code"] == "busy" {
            busy += 1;
        }
    }
    assert!(busy >= 1, "at least one request found the inbox full");
    assert_eq!(a.reply_to(&slow).await["code"], "module_error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_too_slow_to_read_is_disconnected_and_the_game_goes_on() {
    // A spectator who stops reading is cut off with a reason; the players are not held up.
    let s = TestServer::start_with(|c| {
        c.connection.outbound_queue = 8;
        c.connection.socket_send_buffer_bytes = Some(8192);
    })
    .await;
    let mut host = s.player("host").await;
    let room = host
        .create_room(json!({"game": "turn-room", "bots": 3, "options": {"moves": 1000000}}))
        .await;
    // The host drops out (the bot covers the seat after the grace period); the room stays open.
    host.drop_connection().await;
    let mut lazy = Client::connect_small_buffer(s.addr()).await;
    lazy.hello("lazy").await;
    lazy.ok(json!({"type": "watch", "room": room})).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (code, reason) = lazy.closed().await;
    assert_eq!(code, 4009, "{reason}");
    assert!(reason.contains("too slow"), "{reason}");
    let mut late = s.player("late").await;
    late.ok(json!({"type": "watch", "room": room})).await;
    let u = late.recv_type("update").await;
    assert_eq!(u["status"], "running");
}

#[tokio::test]
async fn a_flooding_client_is_rate_limited_then_disconnected() {
    // Too many messages get `rate_limited` with a retry time; a client that keeps going is cut off.
    let s = TestServer::start_with(|c| {
        c.connection.messages_per_second = 5;
        c.connection.burst = 5;
        c.connection.flood_strikes = 10;
    })
    .await;
    let mut c = s.player("flood").await;
    for _ in 0..8 {
        c.send(json!({"type": "list_games"})).await;
    }
    let limited = c.recv_type("error").await;
    assert_eq!(limited["code"], "rate_limited");
    assert!(limited["retry_after_ms"].as_u64() > Some(0));
    for _ in 0..30 {
        c.send(json!({"type": "list_games"})).await;
    }
    let (code, reason) = c.closed().await;
    assert_eq!((code, reason.as_str()), (4008, "too many messages"));
}

#[tokio::test]
async fn a_second_socket_with_the_same_token_takes_over() {
    // Only one connection acts for a player: the newer one wins and the older one is told why.
    let s = TestServer::start().await;
    let mut first = s.player("alice").await;
    let second = Client::reconnect(s.addr(), &first.token.clone()).await;
    let (code, reason) = first.closed().await;
    assert_eq!(code, 4001);
    assert!(reason.contains("replaced"), "{reason}");
    drop(second);
}

#[tokio::test]
async fn shutdown_closes_connections_with_a_reason() {
    // Stopping the server says goodbye to every client and waits for rooms to stop.
    let s = TestServer::start().await;
    let mut a = s.player("alice").await;
    a.ok(json!({"type": "create_room", "game": "turn-room", "bots": 3}))
        .await;
    let (status, _) = s.get("/health/ready").await;
    assert_eq!(status, 200);
    let stopping = tokio::spawn(s.server.stop());
    let (code, reason) = a.closed().await;
    assert_eq!((code, reason.as_str()), (1012, "server restarting"));
    stopping.await.expect("join").expect("clean shutdown");
}

#[tokio::test]
async fn health_and_metrics_are_served() {
    // Operators can probe liveness and readiness and scrape Prometheus metrics.
    let s = TestServer::start().await;
    assert_eq!(s.get("/health/live").await, (200, "ok".into()));
    let mut a = s.player("alice").await;
    let room = a.create_room(json!({"game": "turn-room", "bots": 3})).await;
    a.update_at_least(&room, 1).await;
    let (status, body) = s.get("/metrics").await;
    assert_eq!(status, 200);
    assert!(body.contains("tabula_connections 1"), "{body}");
    assert!(
        body.contains("tabula_rooms{game=\"turn-room\",version=\"1.0.0\",phase=\"playing\"} 1"),
        "{body}"
    );
    assert!(
        body.contains(
            "tabula_module_call_seconds_count{game=\"turn-room\",version=\"1.0.0\",call=\"start\"}"
        ),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modules_that_run_long_never_hold_up_connections_or_other_rooms() {
    // While hostile modules spin in more rooms than the server's runtime has worker threads, a
    // new client's ping and hello and another room's move are all answered before the spinning
    // actions fail.
    let s = TestServer::start_with(|c| {
        c.sandbox.fuel_per_call = u64::MAX / 2;
        c.sandbox.deadline_ms = 4_000;
    })
    .await;
    let mut spinners = Vec::new();
    for i in 0..3 {
        let mut c = s.player(&format!("spin{i}")).await;
        let room = c
            .create_room(json!({"game": "hostile", "bots": 1, "options": {"fault": "spin"}}))
            .await;
        c.update_at_least(&room, 1).await;
        spinners.push((c, room));
    }
    let mut fine = s.player("fine").await;
    let calm = fine
        .create_room(json!({"game": "turn-room", "seats": 2, "bots": 1}))
        .await;
    fine.update_at_least(&calm, 1).await;
    let mut ids = Vec::new();
    for (c, room) in &mut spinners {
        let id = request_id();
        c.send(json!({"type": "act", "request_id": id, "room": room, "action": {}}))
            .await;
        ids.push(id);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;

    let mut newcomer = Client::connect(s.addr(), None).await;
    newcomer.ping().await;
    newcomer.hello("newcomer").await;
    let ack = fine
        .ok(json!({"type": "act", "room": calm, "action": {"add": 1}}))
        .await;
    assert_eq!(ack["type"], "ack");
    for ((c, _), id) in spinners.iter_mut().zip(&ids) {
        assert!(
            !c.has_reply(id).await,
            "a spinning action failed before the others were served"
        );
    }
    for ((c, _), id) in spinners.iter_mut().zip(&ids) {
        let e = c.reply_to(id).await;
        assert_eq!(e["code"], "module_error", "{e}");
    }
}
