//! Playing games to the end: humans, bots, spectators, reconnection.

use serde_json::{Value, json};
use tabula_tests::{Client, TestServer};

/// Plays turn-room: whoever is awaited adds 1, until the game ends. Returns the final update.
async fn play_turn_room(clients: &mut [Client], room: &str) -> Value {
    let mut seq = 1;
    loop {
        let mut last = Value::Null;
        for c in clients.iter_mut() {
            last = c.update_at_least(room, seq).await;
        }
        if last["status"] == "finished" {
            return last;
        }
        let seat = last["awaiting"][0].as_u64().expect("someone is awaited") as usize;
        let ack = clients[seat]
            .ok(json!({"type": "act", "room": room, "action": {"add": 1}, "expected_seq": seq}))
            .await;
        assert_eq!(ack["type"], "ack");
        seq = ack["seq"].as_u64().expect("seq");
    }
}

#[tokio::test]
async fn four_humans_play_turn_room_to_the_end_with_a_spectator() {
    // Four people play a whole game; each sees every step, and so does a spectator.
    let s = TestServer::start().await;
    let mut clients = vec![s.player("p0").await];
    let room = clients[0]
        .create_room(json!({"game": "turn-room", "options": {"moves": 8}}))
        .await;
    let mut spectator = s.player("watcher").await;
    spectator.ok(json!({"type": "watch", "room": room})).await;
    for i in 1..4 {
        let mut c = s.player(&format!("p{i}")).await;
        assert_eq!(c.ok(json!({"type": "join", "room": room})).await["seat"], i);
        clients.push(c);
    }
    let end = play_turn_room(&mut clients, &room).await;
    assert_eq!(end["view"]["counter"], 8);
    assert_eq!(end["result"]["counter"], 8);
    let seen = spectator.update_at_least(&room, 9).await;
    assert_eq!(seen["status"], "finished");
    assert_eq!(seen["view"]["moves"], 8);
}

#[tokio::test]
async fn one_human_and_three_bots_finish_a_game() {
    // Bots fill the other seats and move by themselves; the human only plays their own turns.
    let s = TestServer::start().await;
    let mut alice = s.player("alice").await;
    let room = alice
        .create_room(json!({"game": "turn-room", "bots": 3, "options": {"moves": 20}}))
        .await;
    let mut moves = 0;
    loop {
        let u = alice.recv_type("update").await;
        if u["status"] == "finished" {
            assert_eq!(u["view"]["moves"], 20);
            break;
        }
        if u["awaiting"] == json!([0]) {
            alice
                .ok(json!({"type": "act", "room": room, "action": {"add": 3}}))
                .await;
            moves += 1;
        }
    }
    assert_eq!(moves, 5, "the human moved on every fourth turn");
}

#[tokio::test]
async fn a_disconnected_player_is_replaced_by_the_bot_and_regains_the_seat() {
    // Someone who drops out is covered by the bot after the grace period, comes back with the
    // same token, catches up on what they missed, and plays again.
    let s = TestServer::start_with(|c| c.room.missed_steps_buffer = 1000).await;
    let mut alice = s.player("alice").await;
    let room = alice
        .create_room(json!({"game": "turn-room", "bots": 3, "options": {"moves": 40}}))
        .await;
    let first = alice.update_at_least(&room, 1).await;
    assert_eq!(first["awaiting"], json!([0]));
    let token = alice.token.clone();
    alice.drop_connection().await;

    let mut watcher = s.player("watcher").await;
    watcher.ok(json!({"type": "watch", "room": room})).await;
    // The bot takes over seat 0 after the grace period and the game moves on.
    let later = watcher.update_at_least(&room, 9).await;
    assert!(later["view"]["moves"].as_u64() >= Some(8));
    let info = watcher.ok(json!({"type": "list_rooms"})).await;
    let seat0 = &info["rooms"][0]["seats"][0];
    assert_eq!(seat0["connected"], false);
    assert_eq!(seat0["bot_playing"], true);

    let mut back = Client::reconnect(s.addr(), &token).await;
    let resumed = back
        .ok(json!({"type": "resume", "room": room, "last_seq": 1}))
        .await;
    assert_eq!(resumed["seat"], 0);
    // The missed steps come first, in order, then the current view.
    let mut expected = 2;
    let mut last = Value::Null;
    while last["view"].is_null() {
        last = back.recv_type("update").await;
        assert_eq!(last["seq"], expected, "{last}");
        expected += 1;
    }
    // At least where the watcher saw the game (it may not have moved since).
    assert!(last["seq"].as_u64() >= later["seq"].as_u64(), "{last}");
    // The human has the seat again: the bot no longer plays it (the turn may be theirs already).
    let mut u = last;
    loop {
        if u["status"] == "finished" {
            panic!("the game ended without the returning player's turn");
        }
        if u["awaiting"] == json!([0]) {
            let seq = u["seq"].as_u64().expect("seq");
            let ack = back
                .ok(json!({"type": "act", "room": room, "action": {"add": 1}, "expected_seq": seq}))
                .await;
            assert_eq!(ack["seq"], seq + 1);
            break;
        }
        u = back.recv_type("update").await;
    }
}

#[tokio::test]
async fn a_player_who_leaves_mid_game_hands_the_seat_to_the_bot() {
    // Leaving a running game for good lets the bot finish it in that seat.
    let s = TestServer::start().await;
    let mut alice = s.player("alice").await;
    let room = alice
        .create_room(json!({"game": "turn-room", "bots": 3, "options": {"moves": 12}}))
        .await;
    alice.update_at_least(&room, 1).await;
    let mut watcher = s.player("watcher").await;
    watcher.ok(json!({"type": "watch", "room": room})).await;
    alice.ok(json!({"type": "leave", "room": room})).await;
    let end = watcher.update_at_least(&room, 13).await;
    assert_eq!(end["status"], "finished");
    assert_eq!(
        alice
            .error_code(json!({"type": "act", "room": room, "action": {"add": 1}}))
            .await,
        "not_in_room"
    );
}

#[tokio::test]
async fn a_turn_deadline_lets_the_bot_move_for_a_human_who_does_not() {
    // With a turn deadline, a human who does not act in time has the bot move for them once,
    // and keeps the seat.
    let s = TestServer::start().await;
    let mut alice = s.player("alice").await;
    let room = alice
        .create_room(json!({"game": "turn-room", "bots": 3,
                            "turn_deadline_ms": 100, "options": {"moves": 6}}))
        .await;
    // Alice never moves; the game still ends, her turns played on her behalf.
    let end = loop {
        let u = alice.recv_type("update").await;
        if u["status"] == "finished" {
            break u;
        }
    };
    assert_eq!(end["room"], room.as_str());
    assert_eq!(end["view"]["moves"], 6);
    let info = alice.ok(json!({"type": "list_rooms"})).await;
    let seat0 = &info["rooms"][0]["seats"][0];
    assert_eq!(seat0["kind"], "human");
    assert_eq!(seat0["bot_playing"], false, "the seat is still hers");
}

#[tokio::test]
async fn a_client_that_missed_more_than_the_buffer_gets_a_resync() {
    // Coming back after a long absence replaces everything with one fresh update.
    let s = TestServer::start_with(|c| c.room.missed_steps_buffer = 4).await;
    let mut alice = s.player("alice").await;
    let room = alice
        .create_room(json!({"game": "turn-room", "bots": 3, "options": {"moves": 40}}))
        .await;
    alice.update_at_least(&room, 1).await;
    let token = alice.token.clone();
    alice.drop_connection().await;
    let mut watcher = s.player("watcher").await;
    watcher.ok(json!({"type": "watch", "room": room})).await;
    watcher.update_at_least(&room, 20).await;
    let mut back = Client::reconnect(s.addr(), &token).await;
    back.ok(json!({"type": "resume", "room": room, "last_seq": 1}))
        .await;
    let u = back.recv_type("update").await;
    assert_eq!(u["resync"], true, "{u}");
    assert!(u["seq"].as_u64() >= Some(20));
    assert!(!u["view"].is_null());
}

#[tokio::test]
async fn a_seated_player_who_watches_gets_one_stream_of_updates() {
    // A player who sends `watch` for a room where they sit comes back to their seat: every step
    // reaches them once, with their seat's view, not twice.
    let s = TestServer::start().await;
    let mut ann = s.player("ann").await;
    let room = ann
        .create_room(json!({"game": "turn-room", "seats": 2, "bots": 1, "options": {"moves": 6}}))
        .await;
    ann.update_at_least(&room, 1).await;
    let watched = ann.ok(json!({"type": "watch", "room": room})).await;
    assert_eq!(watched["seat"], 0, "the watch came back to the seat");
    assert_eq!(watched["room"]["spectators"], 0);
    let mut seen: Vec<u64> = Vec::new();
    loop {
        let u = ann.recv_type("update").await;
        if u["resync"] != true {
            seen.push(u["seq"].as_u64().expect("seq"));
        }
        if u["status"] == "finished" {
            break;
        }
        if u["awaiting"] == json!([0]) {
            ann.ok(json!({"type": "act", "room": room, "action": {"add": 1}}))
                .await;
        }
    }
    let mut unique = seen.clone();
    unique.dedup();
    assert_eq!(seen, unique, "each step arrived once");
}
