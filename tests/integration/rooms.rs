//! Rooms' answers and bounds: replies before updates, spectators coming back, coalesced room
//! notices, caps on spectators and rooms, and waiting rooms nobody comes back to.

use serde_json::{Value, json};
use tabula_tests::{Client, TestServer, request_id};

/// Sends `msg` with a fresh request id and returns the next two frames, in arrival order.
async fn two_frames(c: &mut Client, mut msg: Value) -> (String, Value, Value) {
    let id = request_id();
    msg["request_id"] = id.clone().into();
    c.send(msg).await;
    let first = c.recv().await;
    let second = c.recv().await;
    (id, first, second)
}

/// Asserts that `first` is the `room` reply to `id` and `second` an update of that room.
fn reply_then_update(what: &str, id: &str, first: &Value, second: &Value) -> String {
    assert_eq!(
        (first["type"].as_str(), first["request_id"].as_str()),
        (Some("room"), Some(id)),
        "{what}: the reply comes first, got {first} then {second}"
    );
    let room = first["room"]["id"].as_str().expect("room id");
    assert_eq!(
        (second["type"].as_str(), second["room"].as_str()),
        (Some("update"), Some(room)),
        "{what}: then the update, got {second}"
    );
    room.to_string()
}

#[tokio::test]
async fn replies_to_create_join_watch_and_resume_arrive_before_the_updates() {
    // A client learns it is in a room (the reply, with its seat) before it receives the room's
    // updates, as the protocol promises, whichever request put it there.
    let s = TestServer::start().await;
    let mut alice = s.player("alice").await;
    let msg = json!({"type": "create_room", "game": "turn-room", "bots": 3,
                     "options": {"moves": 1000}});
    let (id, first, second) = two_frames(&mut alice, msg).await;
    let running = reply_then_update("create_room", &id, &first, &second);

    let waiting = alice
        .create_room(json!({"game": "turn-room", "seats": 2}))
        .await;
    let mut bob = s.player("bob").await;
    let msg = json!({"type": "join", "room": waiting});
    let (id, first, second) = two_frames(&mut bob, msg).await;
    reply_then_update("join", &id, &first, &second);
    assert_eq!(first["seat"], 1);

    let mut carol = s.player("carol").await;
    let msg = json!({"type": "watch", "room": running});
    let (id, first, second) = two_frames(&mut carol, msg).await;
    reply_then_update("watch", &id, &first, &second);

    let token = bob.token.clone();
    bob.drop_connection().await;
    let mut back = Client::reconnect(s.addr(), &token).await;
    let msg = json!({"type": "resume", "room": waiting, "last_seq": 0});
    let (id, first, second) = two_frames(&mut back, msg).await;
    reply_then_update("resume", &id, &first, &second);
    assert_eq!(first["seat"], 1);
}

#[tokio::test]
async fn a_spectator_who_reconnects_resumes_watching() {
    // A spectator whose connection dropped comes back with `resume`, as a player does: it
    // watches again, receives what it missed, and then follows the game.
    let s = TestServer::start_with(|c| {
        c.room.missed_steps_buffer = 1000;
        c.room.bot_think_ms = 20;
    })
    .await;
    let mut alice = s.player("alice").await;
    let room = alice
        .create_room(json!({"game": "turn-room", "bots": 3, "options": {"moves": 1000}}))
        .await;
    // Alice goes too: the bots play on for everyone (a running game stays open).
    alice.drop_connection().await;
    let mut carol = s.player("carol").await;
    carol.ok(json!({"type": "watch", "room": room})).await;
    let seen = carol.update_at_least(&room, 2).await;
    let last_seq = seen["seq"].as_u64().expect("seq");
    let token = carol.token.clone();
    carol.drop_connection().await;
    // The game moves on while carol is away, so that there is something to miss.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    let mut back = Client::reconnect(s.addr(), &token).await;
    let resumed = back
        .ok(json!({"type": "resume", "room": room, "last_seq": last_seq}))
        .await;
    assert_eq!(resumed["seat"], Value::Null, "a spectator again: {resumed}");
    assert_eq!(resumed["room"]["spectators"], 1, "{resumed}");
    let missed = back.recv_type("update").await;
    assert_eq!(
        missed["seq"],
        last_seq + 1,
        "the first missed step: {missed}"
    );
    let later = back.update_at_least(&room, last_seq + 5).await;
    assert_eq!(later["status"], "running");
}

#[tokio::test]
async fn a_crowd_of_spectators_costs_members_a_few_room_notices_and_is_capped() {
    // Spectators arriving together are told to the room's members in a few coalesced notices,
    // not one per spectator, the last of which counts them all; the spectator after the cap is
    // refused with a typed error.
    const CROWD: usize = 60;
    const INTERVAL_MS: u64 = 250;
    let s = TestServer::start_with(|c| {
        c.room.info_interval_ms = INTERVAL_MS;
        c.room.max_spectators = CROWD;
    })
    .await;
    let mut alice = s.player("alice").await;
    let room = alice
        .create_room(json!({"game": "turn-room", "seats": 2}))
        .await;
    let mut crowd = Vec::new();
    for i in 0..CROWD {
        crowd.push(s.player(&format!("fan{i}")).await);
    }
    let started = std::time::Instant::now();
    let mut ids = Vec::new();
    for fan in &mut crowd {
        let id = request_id();
        fan.send(json!({"type": "watch", "request_id": id, "room": room}))
            .await;
        ids.push(id);
    }
    for (fan, id) in crowd.iter_mut().zip(&ids) {
        let reply = fan.reply_to(id).await;
        assert_eq!(reply["type"], "room", "{reply}");
    }
    let mut notices = 0;
    loop {
        let notice = alice.recv_type("room").await;
        notices += 1;
        if notice["room"]["spectators"] == CROWD {
            break;
        }
    }
    let elapsed = started.elapsed().as_millis() as u64;
    let bound = 2 + (elapsed / INTERVAL_MS) as usize;
    assert!(
        notices <= bound && notices < CROWD / 3,
        "{notices} room notices for {CROWD} spectators in {elapsed} ms"
    );

    let mut late = s.player("late").await;
    assert_eq!(
        late.error_code(json!({"type": "watch", "room": room}))
            .await,
        "too_many_spectators"
    );
    let listed = late.ok(json!({"type": "list_rooms"})).await;
    assert_eq!(listed["rooms"][0]["spectators"], CROWD, "{listed}");
}

#[tokio::test]
async fn a_waiting_room_whose_creator_disconnected_closes() {
    // A room nobody will play: its creator's connection dropped before the game started, and
    // after the reconnect grace and the abandoned period it is gone from the lobby.
    let s = TestServer::start().await;
    let mut alice = s.player("alice").await;
    let room = alice
        .create_room(json!({"game": "turn-room", "seats": 2}))
        .await;
    alice.drop_connection().await;
    let mut bob = s.player("bob").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let listed = bob.ok(json!({"type": "list_rooms"})).await;
        let rooms = listed["rooms"].as_array().expect("rooms");
        if rooms.iter().all(|r| r["id"] != room.as_str()) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the abandoned room is still listed: {listed}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        bob.error_code(json!({"type": "join", "room": room})).await,
        "unknown_room"
    );
}

#[tokio::test]
async fn open_rooms_are_capped_per_player_and_per_address_until_they_finish_or_close() {
    // One player cannot create rooms without end, nor can everyone at one address: past the
    // caps `create_room` is refused with `too_many_rooms`, and a room stops counting once its
    // game is over or it has closed.
    let s = TestServer::start_with(|c| {
        c.room.max_open_rooms_per_player = 2;
        c.room.max_open_rooms_per_address = 3;
    })
    .await;
    let mut alice = s.player("alice").await;
    let short = alice
        .create_room(json!({"game": "turn-room", "bots": 3, "options": {"moves": 1}}))
        .await;
    let waiting = alice
        .create_room(json!({"game": "turn-room", "seats": 2}))
        .await;
    let create = json!({"type": "create_room", "game": "turn-room", "seats": 2});
    assert_eq!(alice.error_code(create.clone()).await, "too_many_rooms");

    // Her one-move game ends: it no longer counts, though it is still open.
    alice.update_at_least(&short, 1).await;
    alice
        .ok(json!({"type": "act", "room": short, "action": {"add": 1}}))
        .await;
    let end = alice.update_at_least(&short, 2).await;
    assert_eq!(end["status"], "finished");
    alice.ok(create.clone()).await;
    assert_eq!(alice.error_code(create.clone()).await, "too_many_rooms");

    // Everyone here shares the address (127.0.0.1): three open rooms between them.
    let mut bob = s.player("bob").await;
    bob.ok(create.clone()).await;
    assert_eq!(bob.error_code(create.clone()).await, "too_many_rooms");

    // Alice leaves her waiting room; once it has closed, bob may create again.
    alice.ok(json!({"type": "leave", "room": waiting})).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let reply = bob.request(create.clone()).await;
        if reply["type"] == "room" {
            break;
        }
        assert_eq!(reply["code"], "too_many_rooms", "{reply}");
        assert!(
            std::time::Instant::now() < deadline,
            "the closed room still counts"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_server_refuses_rooms_beyond_its_cap() {
    // A server holds at most `room.max_rooms` live rooms; the next `create_room` is refused
    // with `server_full`, whoever asks.
    let s = TestServer::start_with(|c| c.room.max_rooms = 2).await;
    let mut alice = s.player("alice").await;
    let mut bob = s.player("bob").await;
    let create = json!({"type": "create_room", "game": "turn-room", "seats": 2});
    alice.ok(create.clone()).await;
    bob.ok(create.clone()).await;
    let mut carol = s.player("carol").await;
    assert_eq!(carol.error_code(create).await, "server_full");
}
