//! What the browser client needs from the server: its files (with a strict
//! Content-Security-Policy), countdowns in updates, a welcome that lists the player's rooms, a
//! live lobby, and the console's admin routes.

use serde_json::{Value, json};
use std::time::Duration;
use tabula_tests::{Client, TestServer, http, http_head};

const ADMIN: &str = "an-admin-token-for-tests";

#[tokio::test]
async fn the_pages_are_served_with_a_strict_policy_and_nothing_else_is() {
    let s = TestServer::start().await;
    let (status, head, body) = http_head(s.addr(), "/").await;
    assert_eq!(status, 200);
    assert!(body.contains("<html"), "{body}");
    let head = head.to_ascii_lowercase();
    assert!(head.contains("content-type: text/html"), "{head}");
    assert!(
        head.contains("content-security-policy: default-src 'self'"),
        "{head}"
    );
    assert!(head.contains("x-content-type-options: nosniff"), "{head}");
    let (status, head, _) = http_head(s.addr(), "/app.js").await;
    assert_eq!(status, 200);
    assert!(
        head.to_ascii_lowercase().contains("text/javascript"),
        "{head}"
    );
    // The console is where the admin API is (here: the game port, no admin_listen).
    let (status, _, body) = http_head(s.addr(), "/console/").await;
    assert_eq!(status, 200);
    assert!(body.contains("console.js"), "{body}");
    assert_eq!(http_head(s.addr(), "/console/console.js").await.0, 200);
    assert_eq!(http_head(s.addr(), "/console").await.0, 308);
    for bad in ["/nope.js", "/..%2FCargo.toml", "/.hidden.js", "/index.wasm"] {
        assert_eq!(http_head(s.addr(), bad).await.0, 404, "{bad}");
    }
}

#[tokio::test]
async fn updates_say_when_the_game_moves_on_by_itself() {
    // A person's turn with a deadline: the update says when it runs out, by the server's clock.
    let s = TestServer::start().await;
    let mut ann = s.player("ann").await;
    let room = ann
        .create_room(json!({"game": "turn-room", "seats": 2, "bots": 1,
                            "options": {"moves": 4}, "turn_deadline_ms": 30_000}))
        .await;
    let mut first = ann.update_at_least(&room, 1).await;
    while first["awaiting"] != json!([0]) {
        first = ann.recv_type("update").await;
    }
    let now = first["now"].as_u64().expect("now");
    let wall = tabula::store::now_ms();
    assert!(now.abs_diff(wall) < 5_000, "now {now}, wall {wall}");
    let deadline = first["deadline_at"]
        .as_u64()
        .expect("a deadline while ann is awaited");
    assert!(
        (now + 25_000..=now + 30_000).contains(&deadline),
        "deadline {deadline}, now {now}"
    );
    // Without a turn limit and without a module timer there is none.
    let mut bob = s.player("bob").await;
    let room = bob
        .create_room(json!({"game": "turn-room", "seats": 2, "bots": 1, "options": {"moves": 4}}))
        .await;
    let u = bob.update_at_least(&room, 1).await;
    assert_eq!(u["deadline_at"], Value::Null, "{u}");
    assert!(u["now"].is_u64(), "{u}");
}

#[tokio::test]
async fn welcome_lists_the_rooms_a_returning_player_sits_in() {
    let s = TestServer::start().await;
    let mut ann = s.player("ann").await;
    let fresh = ann
        .request(json!({"type": "hello", "token": ann.token.clone()}))
        .await;
    assert_eq!(fresh["rooms"], json!([]), "{fresh}");
    let room = ann
        .create_room(json!({"game": "turn-room", "seats": 3, "bots": 1}))
        .await;
    let mut bob = s.player("bob").await;
    bob.ok(json!({"type": "join", "room": room})).await;
    // A reload: a new connection with the token.
    let token = bob.token.clone();
    bob.drop_connection().await;
    let mut again = Client::connect(s.addr(), None).await;
    again.send(json!({"type": "hello", "token": token})).await;
    let w = again.recv_type("welcome").await;
    let rooms = w["rooms"].as_array().expect("rooms");
    assert_eq!(rooms.len(), 1, "{w}");
    assert_eq!(rooms[0]["id"], room.as_str());
    assert_eq!(rooms[0]["seat"], 1);
    assert_eq!(rooms[0]["game"], "turn-room");
}

/// The `lobby` frames that arrive within `window`.
async fn lobby_frames(c: &mut Client, window: Duration) -> Vec<Value> {
    let mut frames = Vec::new();
    let end = tokio::time::Instant::now() + window;
    while let Ok(v) = tokio::time::timeout_at(end, c.recv()).await {
        if v["type"] == "lobby" {
            frames.push(v);
        }
    }
    frames
}

fn ids(page: &Value) -> Vec<String> {
    page["rooms"]
        .as_array()
        .expect("rooms")
        .iter()
        .map(|r| r["id"].as_str().expect("id").to_owned())
        .collect()
}

#[tokio::test]
async fn a_lobby_subscription_is_told_of_changes_coalesced_until_it_ends() {
    let s = TestServer::start().await;
    let mut watcher = s.player("watcher").await;
    let first = watcher
        .ok(json!({"type": "subscribe_rooms", "game": "turn-room"}))
        .await;
    assert_eq!(first["type"], "rooms");
    assert!(ids(&first).is_empty(), "{first}");

    // Five rooms at once: fewer than five pages, the last with every room.
    let mut host = s.player("host").await;
    let mut made = Vec::new();
    for _ in 0..5 {
        made.push(
            host.create_room(json!({"game": "turn-room", "seats": 3}))
                .await,
        );
    }
    // A room of another game and a private room are not on this page.
    host.create_room(json!({"game": "tic-tac-toe"})).await;
    host.create_room(json!({"game": "turn-room", "private": true}))
        .await;
    let frames = lobby_frames(&mut watcher, Duration::from_millis(1_500)).await;
    assert!(
        !frames.is_empty() && frames.len() < 5,
        "{} pages",
        frames.len()
    );
    let mut last = ids(frames.last().expect("a page"));
    last.sort();
    made.sort();
    assert_eq!(last, made);

    // A change of a room's info (a seat taken) is told too.
    let mut guest = s.player("guest").await;
    guest.ok(json!({"type": "join", "room": made[0]})).await;
    let frames = lobby_frames(&mut watcher, Duration::from_millis(1_000)).await;
    let page = frames.last().expect("a page after the join");
    let joined = page["rooms"]
        .as_array()
        .expect("rooms")
        .iter()
        .find(|r| r["id"] == made[0].as_str())
        .expect("the room");
    assert_eq!(joined["seats"][1]["kind"], "human", "{joined}");

    // Unsubscribed: nothing more; the connection goes on answering requests (pages pushed
    // must not upset its count of replies waiting to be written).
    let bye = watcher.ok(json!({"type": "unsubscribe_rooms"})).await;
    assert_eq!(bye["type"], "unsubscribed");
    for _ in 0..3 {
        watcher.ok(json!({"type": "list_games"})).await;
    }
    host.create_room(json!({"game": "turn-room", "seats": 3}))
        .await;
    assert!(
        lobby_frames(&mut watcher, Duration::from_millis(800))
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn the_console_reads_rooms_and_counters_through_the_admin_api() {
    let s = TestServer::start_with(|c| c.admin.token = Some(ADMIN.into())).await;
    let mut ann = s.player("ann").await;
    let public = ann
        .create_room(json!({"game": "turn-room", "seats": 2, "bots": 1, "options": {"moves": 3}}))
        .await;
    let secret = ann
        .create_room(json!({"game": "tic-tac-toe", "private": true}))
        .await;
    ann.update_at_least(&public, 1).await;

    let (status, body) = http(s.addr(), "GET", "/admin/rooms", Some(ADMIN)).await;
    assert_eq!(status, 200, "{body}");
    let all: Value = serde_json::from_str(&body).expect("json");
    let mut listed = ids(&all);
    listed.sort();
    let mut both = vec![public.clone(), secret.clone()];
    both.sort();
    assert_eq!(listed, both, "private rooms are listed for operators");

    let path = "/admin/rooms?game=tic-tac-toe&status=waiting";
    let (_, body) = http(s.addr(), "GET", path, Some(ADMIN)).await;
    let page: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(ids(&page), vec![secret.clone()]);
    let (_, body) = http(s.addr(), "GET", "/admin/rooms?limit=1", Some(ADMIN)).await;
    let page: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(ids(&page).len(), 1);
    let next = page["next"].as_str().expect("a next page");
    let (_, body) = http(
        s.addr(),
        "GET",
        &format!("/admin/rooms?limit=1&after={next}"),
        Some(ADMIN),
    )
    .await;
    let rest: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(ids(&rest).len(), 1);
    assert_ne!(ids(&rest), ids(&page));
    assert_eq!(http(s.addr(), "GET", "/admin/rooms", None).await.0, 401);

    let (status, body) = http(s.addr(), "GET", "/admin/counters", Some(ADMIN)).await;
    assert_eq!(status, 200, "{body}");
    let c: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(c["rooms"], 2, "{c}");
    assert_eq!(c["connections"], 1, "{c}");
    assert!(c["moves"].as_u64().expect("moves") >= 1, "{c}");
    assert!(c["module_calls"].as_u64().expect("calls") >= 1, "{c}");
    assert!(
        c["log_backlog"].is_u64() || c["log_backlog"].is_i64(),
        "{c}"
    );
    assert!(c["at"].as_u64().is_some(), "{c}");
}
