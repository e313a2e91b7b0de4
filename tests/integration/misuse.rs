//! Bad input: every kind gets its typed error, changes nothing, and the connection stays open.

use serde_json::json;
use tabula_tests::{Client, TestServer};

#[tokio::test]
async fn malformed_frames_get_typed_errors_and_the_connection_survives() {
    // Junk, unknown types, missing fields and oversized frames are answered, not fatal.
    let s = TestServer::start().await;
    let mut c = Client::connect(s.addr(), None).await;
    c.send_text("not json").await;
    assert_eq!(c.recv_type("error").await["code"], "bad_json");
    c.send_text("[1,2]").await;
    assert_eq!(c.recv_type("error").await["code"], "bad_json");
    c.send_text(r#"{"type":"dance","request_id":"d1"}"#).await;
    let e = c.recv_type("error").await;
    assert_eq!(
        (e["code"].as_str(), e["request_id"].as_str()),
        (Some("unknown_type"), Some("d1"))
    );
    c.send_text(r#"{"request_id":"x"}"#).await;
    assert_eq!(c.recv_type("error").await["code"], "bad_message");
    assert_eq!(
        c.error_code(json!({"type": "list_games"})).await,
        "not_authenticated"
    );
    assert_eq!(
        c.error_code(json!({"type": "hello", "name": ""})).await,
        "bad_message"
    );
    c.hello("alice").await;
    assert_eq!(c.error_code(json!({"type": "join"})).await, "bad_message");
    assert_eq!(
        c.error_code(json!({"type": "join", "room": 5})).await,
        "bad_message"
    );
    assert_eq!(
        c.error_code(json!({"type": "join", "room": "r-none"}))
            .await,
        "unknown_room"
    );
    let big = "x".repeat(20_000);
    c.send_text(&format!(r#"{{"type":"list_games","pad":"{big}"}}"#))
        .await;
    assert_eq!(c.recv_type("error").await["code"], "frame_too_large");
    // Still open and working.
    assert_eq!(c.ok(json!({"type": "list_games"})).await["type"], "games");
}

#[tokio::test]
async fn bad_tokens_are_refused() {
    // A made-up token opens no session.
    let s = TestServer::start().await;
    let mut c = Client::connect(s.addr(), None).await;
    assert_eq!(
        c.error_code(json!({"type": "hello", "token": "t-forged"}))
            .await,
        "bad_token"
    );
    assert_eq!(
        c.error_code(json!({"type": "list_rooms"})).await,
        "not_authenticated"
    );
    let mut q = Client::connect(s.addr(), Some("t-forged")).await;
    assert_eq!(q.recv_type("error").await["code"], "bad_token");
}

#[tokio::test]
async fn illegal_moves_wrong_seats_and_strangers_change_nothing() {
    // The game refuses what breaks its rules, with the rule's reason, and the game goes on.
    let s = TestServer::start().await;
    let mut alice = s.player("alice").await;
    let room = alice
        .create_room(json!({"game": "turn-room", "seats": 2}))
        .await;
    assert_eq!(
        alice
            .error_code(json!({"type": "act", "room": room, "action": {"add": 1}}))
            .await,
        "not_started"
    );
    let mut bob = s.player("bob").await;
    bob.ok(json!({"type": "join", "room": room})).await;
    alice.update_at_least(&room, 1).await;

    let e = alice
        .request(json!({"type": "act", "room": room, "action": {"add": 5}}))
        .await;
    assert_eq!(e["code"], "illegal");
    assert!(
        e["message"]
            .as_str()
            .expect("message")
            .contains("1, 2 or 3"),
        "{e}"
    );
    assert_eq!(
        alice
            .error_code(json!({"type": "act", "room": room, "action": {"add": "one"}}))
            .await,
        "malformed_action"
    );
    assert_eq!(
        bob.error_code(json!({"type": "act", "room": room, "action": {"add": 1}}))
            .await,
        "not_your_turn"
    );
    let mut eve = s.player("eve").await;
    assert_eq!(
        eve.error_code(json!({"type": "act", "room": room, "action": {"add": 1}}))
            .await,
        "not_in_room"
    );
    assert_eq!(
        eve.error_code(json!({"type": "leave", "room": room})).await,
        "not_in_room"
    );
    // Nothing above moved the game: it is still at seq 1 and alice's move is accepted.
    let ack = alice
        .ok(json!({"type": "act", "room": room, "action": {"add": 2}, "expected_seq": 1}))
        .await;
    assert_eq!(ack["seq"], 2);
}

#[tokio::test]
async fn sessions_nobody_uses_expire() {
    // A token whose session has had no connection for the configured time no longer works.
    let s = TestServer::start_with(|c| c.connection.session_ttl_ms = 200).await;
    let alice = s.player("alice").await;
    let token = alice.token.clone();
    alice.drop_connection().await;
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    let mut again = Client::connect(s.addr(), None).await;
    let code = again
        .error_code(json!({"type": "hello", "token": token}))
        .await;
    assert_eq!(code, "bad_token");
}

#[tokio::test]
async fn act_frames_mean_the_same_however_they_are_spelled() {
    // Escapes, spacing and field order do not change what an action means or which request it
    // answers; a bad field in an act frame is named, and nothing moves.
    let s = TestServer::start().await;
    let mut c = Client::connect(s.addr(), None).await;
    c.send_text(r#"{"type":"act","request_id":"a0","room":"r-x","action":{"add":1}}"#)
        .await;
    let e = c.reply_to("a0").await;
    assert_eq!(e["code"], "not_authenticated", "{e}");
    c.hello("alice").await;
    let room = c
        .create_room(json!({"game": "turn-room", "seats": 2, "bots": 1}))
        .await;
    c.update_at_least(&room, 1).await;
    let frame = |id: &str, extra: &str| {
        format!(
            r#"{{ "action" : {{ "add" : 2 }}, "room":"{room}", "request_id":"{id}", "type":"act"{extra} }}"#
        )
    };
    c.send_text(&frame("a1", r#","colour":"red""#)).await;
    let e = c.reply_to("a1").await;
    assert_eq!(e["code"], "bad_message", "{e}");
    assert!(
        e["message"].as_str().is_some_and(|m| m.contains("colour")),
        "{e}"
    );
    c.send_text(&frame(r"a\u0032", "")).await;
    let ack = c.reply_to("a2").await;
    assert_eq!(
        (ack["type"].as_str(), ack["seq"].as_u64()),
        (Some("ack"), Some(2)),
        "{ack}"
    );
    let update = c.update_at_least(&room, 2).await;
    assert_eq!(update["view"]["counter"], 2, "{update}");
}

#[tokio::test]
async fn a_second_hello_on_a_connection_is_refused_unless_it_is_the_same_session() {
    // A connection belongs to one player: a second hello as someone else is refused with a typed
    // error, the first player keeps their seat and their game, and the connection stays usable;
    // the connection's own token is simply welcomed again.
    let s = TestServer::start().await;
    let mut ann = s.player("ann").await;
    let room = ann
        .create_room(json!({"game": "turn-room", "seats": 2, "bots": 1}))
        .await;
    ann.update_at_least(&room, 1).await;
    let other = s.player("bob").await;
    assert_eq!(
        ann.error_code(json!({"type": "hello", "name": "mallory"}))
            .await,
        "already_signed_in"
    );
    assert_eq!(
        ann.error_code(json!({"type": "hello", "token": other.token}))
            .await,
        "already_signed_in"
    );
    let again = ann
        .ok(json!({"type": "hello", "token": ann.token.clone()}))
        .await;
    assert_eq!(again["type"], "welcome");
    assert_eq!(again["player"], ann.player.as_str());
    // Ann is still the connected player of seat 0 and still plays.
    let info = ann.ok(json!({"type": "list_rooms"})).await;
    let seat = &info["rooms"][0]["seats"][0];
    assert_eq!(seat["player"], ann.player.as_str());
    assert_eq!(seat["connected"], true);
    let ack = ann
        .ok(json!({"type": "act", "room": room, "action": {"add": 1}}))
        .await;
    assert_eq!(ack["type"], "ack");
}

#[tokio::test]
async fn a_frame_above_the_transport_limit_closes_the_connection_with_1009() {
    // A frame too big for the transport cannot be answered in band: the connection is closed
    // with 1009 and says why.
    let s = TestServer::start_with(|c| c.connection.transport_max_bytes = 64 << 10).await;
    let mut c = s.player("big").await;
    c.send_text(&format!(
        r#"{{"type":"list_games","pad":"{}"}}"#,
        "x".repeat(100 << 10)
    ))
    .await;
    assert_eq!(c.closed().await, (1009, "message too big".to_string()));
}

#[tokio::test]
async fn a_client_that_closes_gets_the_closing_handshake_answered() {
    // A client that says goodbye with a close frame receives the server's close frame back, as
    // the WebSocket protocol asks, instead of a dropped connection.
    let s = TestServer::start().await;
    let mut c = s.player("bye").await;
    assert_eq!(c.close_and_wait().await, Some(1000));
}
