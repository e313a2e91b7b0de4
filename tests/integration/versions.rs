//! Game versions through the admin API: uploads (checked, refused with the reason, a version
//! being one module forever outside development mode), the list of versions, activations.

use serde_json::{Value, json};
use tabula_tests::{TestServer, http, room_id};

const ADMIN: &str = "versions-test-admin-token";

/// A POST of raw bytes with the admin token (or `token`); the status and the JSON body.
async fn post_bytes(s: &TestServer, path: &str, token: Option<&str>, bytes: &[u8]) -> (u16, Value) {
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: test\r\n{auth}Content-Type: application/wasm\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        bytes.len()
    )
    .into_bytes();
    request.extend_from_slice(bytes);
    let (status, _, body) = tabula_tests::exchange(s.addr(), &request).await;
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// `bytes` with a custom section appended: the same module to the sandbox, other bytes (and so
/// another digest) to anyone who keeps them.
fn with_custom_section(bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    // id 0 (custom), size 8, name "test" (length 4), payload 1 2 3.
    out.extend([0, 8, 4, b't', b'e', b's', b't', 1, 2, 3]);
    out
}

fn versions_of(list: &Value, game: &str) -> Value {
    list["games"]
        .as_array()
        .and_then(|g| g.iter().find(|g| g["name"] == game))
        .cloned()
        .unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_are_checked_and_a_version_is_one_module() {
    // An operator lists the versions (contract, rooms, failures), uploads are refused without
    // the token, junk and broken modules are refused with the reason, the core module cargo
    // builds is accepted (made a component), and another module under an installed version is
    // refused outside development mode.
    let s = TestServer::start_with(|c| c.admin.token = Some(ADMIN.into())).await;
    let (status, list) = http(s.addr(), "GET", "/admin/modules", Some(ADMIN)).await;
    assert_eq!(status, 200, "{list}");
    let list: Value = serde_json::from_str(&list).expect("JSON");
    let liap = versions_of(&list, "liap-tui");
    assert_eq!(liap["active"], "1.0.0");
    let contracts: Vec<(&str, &str)> = liap["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .map(|v| {
            (
                v["version"].as_str().unwrap_or(""),
                v["contract"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(contracts, [("1.0.0", "0.1.0"), ("2.0.0", "0.2.0")]);

    for token in [None, Some("wrong-token-wrong-token")] {
        let (status, _) = post_bytes(&s, "/admin/modules", token, tabula_bundle::TURN_ROOM).await;
        assert_eq!(status, 401);
        let (status, _) = http(s.addr(), "GET", "/admin/modules", token).await;
        assert_eq!(status, 401);
    }
    let (status, body) = post_bytes(&s, "/admin/modules", Some(ADMIN), b"MZ not wasm").await;
    assert_eq!(
        (status, &body["code"]),
        (422, &json!("invalid_module")),
        "{body}"
    );
    let half = &tabula_bundle::LIAP_TUI[..tabula_bundle::LIAP_TUI.len() / 2];
    let (status, body) = post_bytes(&s, "/admin/modules", Some(ADMIN), half).await;
    assert_eq!(
        (status, &body["code"]),
        (422, &json!("invalid_module")),
        "{body}"
    );
    assert!(!body["message"].as_str().unwrap_or("").is_empty());

    // A module whose games trap on every move fails its smoke run.
    let (status, body) = post_bytes(
        &s,
        "/admin/modules",
        Some(ADMIN),
        tabula_bundle::HOSTILE_ALWAYS_TRAPS,
    )
    .await;
    assert_eq!(
        (status, &body["code"]),
        (422, &json!("smoke_run_failed")),
        "{body}"
    );
    assert!(
        body["message"].as_str().is_some_and(|m| m.contains("trap")),
        "{body}"
    );

    let core = std::fs::read(tabula_bundle::TIC_TAC_TOE_CORE_PATH).expect("core module");
    let (status, body) = post_bytes(&s, "/admin/modules", Some(ADMIN), &core).await;
    assert_eq!(
        status, 200,
        "the very same module is installed already: {body}"
    );
    assert_eq!(
        (
            &body["name"],
            &body["version"],
            &body["converted"],
            &body["installed"]
        ),
        (
            &json!("tic-tac-toe"),
            &json!("1.2.0"),
            &json!(true),
            &json!(false)
        )
    );
    assert!(
        body["smoke_run"]["finished"].as_u64().unwrap_or(0) > 0,
        "{body}"
    );

    let other = with_custom_section(tabula_bundle::TIC_TAC_TOE);
    let (status, body) = post_bytes(&s, "/admin/modules", Some(ADMIN), &other).await;
    assert_eq!(
        (status, &body["code"]),
        (409, &json!("version_taken")),
        "{body}"
    );
    let (_, list) = http(s.addr(), "GET", "/admin/modules", Some(ADMIN)).await;
    let list: Value = serde_json::from_str(&list).expect("JSON");
    let ttt = versions_of(&list, "tic-tac-toe");
    let digests: Vec<&Value> = ttt["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .map(|v| &v["digest"])
        .collect();
    assert_eq!(digests.len(), 2, "nothing changed: {ttt}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_development_mode_a_module_pushed_again_is_a_new_revision_that_new_rooms_get() {
    // A designer's loop against a --dev server: pushing a rebuilt module under the same version
    // replaces it for new rooms, and `?activate=new-rooms` makes it active at once; a room
    // created before keeps the revision it started with.
    let s = TestServer::start_with(|c| {
        c.admin.token = Some(ADMIN.into());
        c.dev = true;
    })
    .await;
    let mut ann = s.player("ann").await;
    let before = ann
        .ok(json!({"type": "create_room", "game": "tic-tac-toe", "version": "1.2.0", "bots": 1}))
        .await;
    let rebuilt = with_custom_section(tabula_bundle::TIC_TAC_TOE);
    let (status, body) = post_bytes(
        &s,
        "/admin/modules?activate=new-rooms",
        Some(ADMIN),
        &rebuilt,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["installed"], true);
    assert_eq!(body["rollout"]["policy"], "new-rooms");
    let digest = body["digest"].as_str().expect("digest").to_owned();
    let (_, list) = http(s.addr(), "GET", "/admin/modules", Some(ADMIN)).await;
    let list: Value = serde_json::from_str(&list).expect("JSON");
    let ttt = versions_of(&list, "tic-tac-toe");
    assert_eq!(ttt["active"], "1.2.0");
    let current = ttt["versions"]
        .as_array()
        .and_then(|v| v.iter().find(|v| v["version"] == "1.2.0"))
        .expect("listed");
    assert_eq!(current["digest"], digest.as_str(), "the new revision");
    // The room made before goes on with its revision; a new one plays on the new revision.
    let room = room_id(&before);
    let reply = ann
        .request(json!({"type": "act", "room": room, "action": {"cell": 4}}))
        .await;
    assert_eq!(reply["type"], "ack", "{reply}");
    let mut bob = s.player("bob").await;
    let created = bob
        .ok(json!({"type": "create_room", "game": "tic-tac-toe", "bots": 1}))
        .await;
    assert_eq!(created["room"]["version"], "1.2.0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uploaded_version_that_traps_is_rolled_back_by_its_canary_and_the_game_goes_on() {
    // An operator uploads hostile 1.2.0 (it passes its smoke run: it traps only in games it
    // takes over) and starts a canary on every room: the game moves, the next move fails with a
    // module error, the canary rolls back by itself, the players hear the old version again and
    // play on; the version was never made active.
    let s = TestServer::start_with(|c| {
        c.admin.token = Some(ADMIN.into());
        c.room.canary_window_ms = 30_000;
    })
    .await;
    let (status, body) = post_bytes(
        &s,
        "/admin/modules",
        Some(ADMIN),
        tabula_bundle::HOSTILE_TRAPS_AFTER_SWAP,
    )
    .await;
    assert_eq!((status, &body["version"]), (201, &json!("1.2.0")), "{body}");
    let mut ann = s.player("ann").await;
    let mut bob = s.player("bob").await;
    let created = ann
        .ok(json!({"type": "create_room", "game": "hostile", "version": "1.0.0", "seats": 2}))
        .await;
    let room = room_id(&created);
    bob.ok(json!({"type": "join", "room": room})).await;
    let first = ann
        .request(json!({"type": "act", "room": room, "action": {}}))
        .await;
    assert_eq!(first["type"], "ack", "{first}");

    let (status, body) = tabula_tests::http_body(
        s.addr(),
        "POST",
        "/admin/modules/hostile/activate",
        Some(ADMIN),
        r#"{"version": "1.2.0", "policy": "canary:100"}"#,
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let id = serde_json::from_str::<Value>(&body).expect("JSON")["id"].clone();
    // Bob's move under 1.2.0 traps: refused, and the room stays.
    let mut refused = Value::Null;
    for _ in 0..100 {
        refused = bob
            .request(json!({"type": "act", "room": room, "action": {}}))
            .await;
        if refused["type"] == "error" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(refused["code"], "module_error", "{refused}");
    let mut rollout = Value::Null;
    for _ in 0..300 {
        let (_, body) = http(
            s.addr(),
            "GET",
            &format!("/admin/rollouts/{id}"),
            Some(ADMIN),
        )
        .await;
        rollout = serde_json::from_str(&body).expect("JSON");
        if rollout["state"] == "rolled_back" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(rollout["state"], "rolled_back", "{rollout}");
    assert!(
        rollout["reason"]
            .as_str()
            .is_some_and(|r| r.contains("failed")),
        "{rollout}"
    );
    let back = bob.ok(json!({"type": "watch", "room": room})).await;
    assert_eq!(back["room"]["version"], "1.0.0", "{back}");
    let next = bob
        .request(json!({"type": "act", "room": room, "action": {}}))
        .await;
    assert_eq!(next["type"], "ack", "the game goes on: {next}");
    let (_, list) = http(s.addr(), "GET", "/admin/modules", Some(ADMIN)).await;
    let list: Value = serde_json::from_str(&list).expect("JSON");
    assert_eq!(versions_of(&list, "hostile")["active"], "1.0.0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_look_into_a_room_and_pause_and_resume_it() {
    // An operator reads a room's state, every seat's view and its log; pauses it (moves are
    // refused with the reason), and resumes it (moves go on); a room that does not exist is a
    // 404 and calls without the token are refused.
    let s = TestServer::start_with(|c| c.admin.token = Some(ADMIN.into())).await;
    let mut ann = s.player("ann").await;
    let mut bob = s.player("bob").await;
    let room = ann
        .create_room(json!({"game": "turn-room", "seats": 2}))
        .await;
    bob.ok(json!({"type": "join", "room": room})).await;
    let acked = ann
        .request(json!({"type": "act", "room": room, "action": {"add": 2}}))
        .await;
    assert_eq!(acked["type"], "ack", "{acked}");

    let (status, body) = http(
        s.addr(),
        "GET",
        &format!("/admin/rooms/{room}"),
        Some(ADMIN),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let inside: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(inside["info"]["id"], room.as_str());
    assert_eq!(inside["state_hash"].as_str().map(str::len), Some(16));
    assert!(!inside["state"].as_str().unwrap_or("").is_empty());
    for viewer in ["0", "1", "spectator"] {
        assert_eq!(inside["views"][viewer]["counter"], 2, "{inside}");
    }
    assert_eq!(
        inside["log"]["inputs"].as_array().map(Vec::len),
        Some(3),
        "two seats, one move"
    );
    let (status, _) = http(s.addr(), "GET", &format!("/admin/rooms/{room}"), None).await;
    assert_eq!(status, 401);
    let (status, _) = http(s.addr(), "GET", "/admin/rooms/r-nothere", Some(ADMIN)).await;
    assert_eq!(status, 404);

    let (status, body) = tabula_tests::http_body(
        s.addr(),
        "POST",
        &format!("/admin/rooms/{room}/pause"),
        Some(ADMIN),
        r#"{"reason": "looking into a report"}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let refused = bob
        .request(json!({"type": "act", "room": room, "action": {"add": 1}}))
        .await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .is_some_and(|m| m.contains("looking into a report")),
        "{refused}"
    );
    let (status, body) = http(
        s.addr(),
        "POST",
        &format!("/admin/rooms/{room}/resume"),
        Some(ADMIN),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let again = bob
        .request(json!({"type": "act", "room": room, "action": {"add": 1}}))
        .await;
    assert_eq!(again["type"], "ack", "{again}");
    let (status, _) = http(
        s.addr(),
        "POST",
        &format!("/admin/rooms/{room}/resume"),
        Some(ADMIN),
    )
    .await;
    assert_eq!(status, 409, "not paused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_quarantines_a_version_and_its_rooms_are_paused_with_the_reason() {
    // A quarantined version takes no new room, says why in the list of versions, and a room on
    // it that no other version can continue is paused with the reason.
    let s = TestServer::start_with(|c| c.admin.token = Some(ADMIN.into())).await;
    let (status, body) = post_bytes(
        &s,
        "/admin/modules",
        Some(ADMIN),
        tabula_bundle::HOSTILE_TRAPS_AFTER_SWAP,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let mut ann = s.player("ann").await;
    let room = ann
        .create_room(json!({"game": "hostile", "version": "1.2.0", "seats": 2, "bots": 1}))
        .await;
    let (status, body) = tabula_tests::http_body(
        s.addr(),
        "POST",
        "/admin/modules/hostile/quarantine",
        Some(ADMIN),
        r#"{"version": "1.2.0", "reason": "players report freezes"}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let done: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(done["pinned"].as_array().map(Vec::len), Some(1), "{done}");
    let info = ann.ok(json!({"type": "watch", "room": room})).await;
    assert_eq!(info["room"]["status"], "paused", "{info}");
    assert!(
        info["room"]["paused_reason"]
            .as_str()
            .is_some_and(|r| r.contains("players report freezes")),
        "{info}"
    );
    let (_, list) = http(s.addr(), "GET", "/admin/modules", Some(ADMIN)).await;
    let list: Value = serde_json::from_str(&list).expect("JSON");
    let hostile = versions_of(&list, "hostile");
    let quarantined = hostile["versions"]
        .as_array()
        .and_then(|v| v.iter().find(|v| v["version"] == "1.2.0"))
        .expect("listed");
    assert!(quarantined["quarantined"].as_str().is_some(), "{hostile}");
    let refused = ann
        .request(json!({"type": "create_room", "game": "hostile", "version": "1.2.0"}))
        .await;
    assert_eq!(refused["code"], "version_quarantined", "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_module_dropped_into_the_modules_directory_is_installed_but_not_activated() {
    // An operator copies a new version into the modules directory of a running server: it is
    // checked and installed within a few polls, and the active version stays what it was; a
    // file that is not a module, and a module that fails its smoke run, change nothing.
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("hostile.wasm"), tabula_bundle::HOSTILE).expect("written");
    let modules = dir.path().to_path_buf();
    let s = TestServer::start_with(move |c| {
        c.admin.token = Some(ADMIN.into());
        c.modules_dir = Some(modules);
        c.modules_poll_ms = 100;
    })
    .await;
    std::fs::write(dir.path().join("junk.wasm"), b"not a module").expect("written");
    std::fs::write(
        dir.path().join("hostile-1.3.0.wasm"),
        tabula_bundle::HOSTILE_ALWAYS_TRAPS,
    )
    .expect("written");
    std::fs::write(
        dir.path().join("hostile-1.2.0.wasm"),
        tabula_bundle::HOSTILE_TRAPS_AFTER_SWAP,
    )
    .expect("written");
    let mut hostile = Value::Null;
    for _ in 0..200 {
        let (_, list) = http(s.addr(), "GET", "/admin/modules", Some(ADMIN)).await;
        let list: Value = serde_json::from_str(&list).expect("JSON");
        hostile = versions_of(&list, "hostile");
        if hostile["versions"].as_array().map_or(0, Vec::len) == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let versions: Vec<&Value> = hostile["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .map(|v| &v["version"])
        .collect();
    assert_eq!(versions, [&json!("1.0.0"), &json!("1.2.0")], "{hostile}");
    assert_eq!(hostile["active"], "1.0.0", "installed, not activated");
}
