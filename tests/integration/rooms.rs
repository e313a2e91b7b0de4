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
