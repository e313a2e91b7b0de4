//! Sessions, games, rooms, seats and spectators.

use serde_json::json;
use tabula_tests::{TestServer, room_id};

#[tokio::test]
async fn players_list_games_create_rooms_and_take_seats() {
    // A player sees the installed games, creates a listed room, and others find and join it.
    let s = TestServer::start().await;
    let mut alice = s.player("alice").await;
    let games = alice.ok(json!({"type": "list_games"})).await;
    let names: Vec<&str> = games["games"]
        .as_array()
        .expect("games")
        .iter()
        .filter_map(|g| g["name"].as_str())
        .collect();
    assert!(
        names.contains(&"turn-room") && names.contains(&"hostile"),
        "{names:?}"
    );

    let created = alice
        .ok(json!({"type": "create_room", "game": "turn-room", "seats": 3, "options": {"moves": 5}}))
        .await;
    assert_eq!(created["seat"], 0);
    let room = room_id(&created);
    assert_eq!(created["room"]["status"], "waiting");
    assert!(
        created["room"].get("seed").is_none(),
        "the seed stays secret"
    );

    let mut bob = s.player("bob").await;
    let listed = bob
        .ok(json!({"type": "list_rooms", "game": "turn-room"}))
        .await;
    let rooms = listed["rooms"].as_array().expect("rooms");
    assert!(rooms.iter().any(|r| r["id"] == room.as_str()), "{listed}");
    let joined = bob
        .ok(json!({"type": "join", "room": room, "seat": 2}))
        .await;
    assert_eq!(joined["seat"], 2);

    let mut carol = s.player("carol").await;
    assert_eq!(
        carol
            .error_code(json!({"type": "join", "room": room, "seat": 2}))
            .await,
        "seat_taken"
    );
    assert_eq!(
        carol
            .error_code(json!({"type": "join", "room": room, "seat": 7}))
            .await,
        "bad_message"
    );
    let joined = carol.ok(json!({"type": "join", "room": room})).await;
    assert_eq!(joined["seat"], 1, "the first free seat");

    // The third seat filled the room: the game starts and everyone gets the first update.
    for c in [&mut alice, &mut bob, &mut carol] {
        let u = c.update_at_least(&room, 1).await;
        assert_eq!(u["status"], "running");
        assert_eq!(u["awaiting"], json!([0]));
        assert_eq!(u["view"]["counter"], 0);
    }
    let mut dave = s.player("dave").await;
    assert_eq!(
        dave.error_code(json!({"type": "join", "room": room})).await,
        "already_started"
    );
}

#[tokio::test]
async fn private_rooms_are_unlisted_but_joinable_by_id() {
    // A private room does not appear in the lobby, yet its id lets a friend in.
    let s = TestServer::start().await;
    let mut alice = s.player("alice").await;
    let room = alice
        .create_room(json!({"game": "tic-tac-toe", "private": true}))
        .await;
    let mut bob = s.player("bob").await;
    let listed = bob.ok(json!({"type": "list_rooms"})).await;
    assert!(
        listed["rooms"]
            .as_array()
            .expect("rooms")
            .iter()
            .all(|r| r["id"] != room.as_str())
    );
    assert_eq!(
        bob.ok(json!({"type": "join", "room": room})).await["seat"],
        1
    );
}

#[tokio::test]
async fn the_creator_manages_bots_before_the_start() {
    // Only the creator adds or removes bots, and only while the room waits.
    let s = TestServer::start().await;
    let mut alice = s.player("alice").await;
    let room = alice
        .create_room(json!({"game": "turn-room", "seats": 4, "bots": 1}))
        .await;
    let mut bob = s.player("bob").await;
    bob.ok(json!({"type": "join", "room": room})).await;
    assert_eq!(
        bob.error_code(json!({"type": "add_bot", "room": room}))
            .await,
        "not_creator"
    );
    let info = alice
        .ok(json!({"type": "remove_bot", "room": room, "seat": 3}))
        .await;
    assert_eq!(info["room"]["seats"][3]["kind"], "open");
    assert_eq!(
        alice
            .error_code(json!({"type": "remove_bot", "room": room, "seat": 1}))
            .await,
        "seat_taken"
    );
    alice.ok(json!({"type": "add_bot", "room": room})).await;
    let info = alice.ok(json!({"type": "add_bot", "room": room})).await;
    assert_eq!(
        info["room"]["status"], "running",
        "bots filled the room, so it started"
    );
    assert_eq!(
        alice
            .error_code(json!({"type": "remove_bot", "room": room, "seat": 3}))
            .await,
        "already_started"
    );
}

#[tokio::test]
async fn bad_options_and_unknown_games_are_refused_at_creation() {
    // A room is never created with options the game refuses, or for a game that is not there.
    let s = TestServer::start().await;
    let mut alice = s.player("alice").await;
    let err = alice
        .request(json!({"type": "create_room", "game": "turn-room", "options": {"moves": 0}}))
        .await;
    assert_eq!(err["code"], "bad_options");
    assert!(
        err["message"].as_str().expect("message").contains("moves"),
        "{err}"
    );
    let code = alice
        .error_code(json!({"type": "create_room", "game": "turn-room", "options": {"speed": 3}}))
        .await;
    assert_eq!(code, "bad_options");
    assert_eq!(
        alice
            .error_code(json!({"type": "create_room", "game": "chess"}))
            .await,
        "unknown_game"
    );
    let code = alice
        .error_code(json!({"type": "create_room", "game": "turn-room", "version": "9.0.0"}))
        .await;
    assert_eq!(code, "unknown_game");
    let code = alice
        .error_code(json!({"type": "create_room", "game": "turn-room", "seed": 7}))
        .await;
    assert_eq!(code, "seed_not_allowed");
    let code = alice
        .error_code(json!({"type": "create_room", "game": "turn-room", "seats": 9}))
        .await;
    assert_eq!(code, "bad_message");
}

#[tokio::test]
async fn client_seeds_are_accepted_when_the_server_allows_them() {
    // With client seeds allowed, two rooms with the same seed deal the same game.
    let s = TestServer::start_with(|c| c.allow_client_seed = true).await;
    let mut alice = s.player("alice").await;
    let reply = alice
        .ok(json!({"type": "create_room", "game": "turn-room", "seed": 42, "bots": 3}))
        .await;
    assert!(
        reply["room"].get("seed").is_none(),
        "not shown while the game runs"
    );
}

#[tokio::test]
async fn a_creator_who_left_a_waiting_room_no_longer_manages_its_bots() {
    // The creator gives up managing bots with the seat: after leaving a waiting room, adding or
    // removing a bot is refused as `not_in_room`; taking a seat again gives the right back.
    let s = TestServer::start().await;
    let mut alice = s.player("alice").await;
    let room = alice
        .create_room(json!({"game": "turn-room", "seats": 4, "bots": 1}))
        .await;
    let mut bob = s.player("bob").await;
    bob.ok(json!({"type": "join", "room": room})).await;
    alice.ok(json!({"type": "leave", "room": room})).await;
    assert_eq!(
        alice
            .error_code(json!({"type": "add_bot", "room": room}))
            .await,
        "not_in_room"
    );
    assert_eq!(
        alice
            .error_code(json!({"type": "remove_bot", "room": room, "seat": 3}))
            .await,
        "not_in_room"
    );
    let info = alice.ok(json!({"type": "list_rooms"})).await;
    let seats = &info["rooms"][0]["seats"];
    assert_eq!(seats[3]["kind"], "bot", "the bot is still there: {info}");
    assert_eq!(seats[2]["kind"], "open", "no bot was added: {info}");
    alice.ok(json!({"type": "join", "room": room})).await;
    let info = alice
        .ok(json!({"type": "remove_bot", "room": room, "seat": 3}))
        .await;
    assert_eq!(info["room"]["seats"][3]["kind"], "open");
}
