//! Hot swap with a real server process: four people play Liap Tui on 1.0.0, an operator
//! activates 2.0.0 with the migrate policy in the middle of the game, and the game goes on on
//! the same connections under 2.0.0; its record replays across the swap; the server is then
//! killed and the game comes back on 2.0.0.

use serde_json::{Value, json};
use std::collections::HashSet;
use tabula_tests::{Client, ServerProcess, databases, http, http_body, liap_tui_move, room_id};

const BIN: &str = env!("CARGO_BIN_EXE_tabula");
const ADMIN: &str = "hot-swap-test-admin-token";
const ENV: &[(&str, &str)] = &[
    ("TABULA_ROOM__RECONNECT_GRACE_MS", "60000"),
    ("TABULA_ADMIN__TOKEN", ADMIN),
    ("TABULA_ALLOW_CLIENT_SEED", "true"),
];

/// Four players at one table, read in lockstep.
struct Table {
    players: Vec<Client>,
    room: String,
    /// Each seat's latest update.
    latest: Vec<Value>,
    /// The newest seq the table knows of.
    seq: u64,
    /// Every acknowledged action's request id.
    acked: HashSet<String>,
}

impl Table {
    /// Reads every seat's updates up to the newest seq.
    async fn catch_up(&mut self) {
        for (seat, c) in self.players.iter_mut().enumerate() {
            while self.latest[seat]["seq"].as_u64().unwrap_or(0) < self.seq {
                self.latest[seat] = c.update_at_least(&self.room, 1).await;
            }
        }
    }

    /// Plays until a human is awaited at a seq of at least `until` (or the game is over).
    async fn play_until(&mut self, until: u64) {
        loop {
            self.catch_up().await;
            let awaited = self.latest[0]["awaiting"]
                .as_array()
                .and_then(|a| a.first())
                .and_then(Value::as_u64);
            if self.latest[0]["status"] == "finished" || (self.seq >= until && awaited.is_some()) {
                return;
            }
            let Some(seat) = awaited else {
                self.seq += 1; // a timer is due: its step comes next
                continue;
            };
            let seat = seat as usize;
            let view = &self.latest[seat]["view"];
            let action = liap_tui_move(view).expect("the awaited player has a move");
            let reply = self.players[seat]
                .request(json!({"type": "act", "room": self.room, "action": action,
                                "expected_seq": self.seq}))
                .await;
            let id = reply["request_id"].as_str().unwrap_or_default().to_owned();
            match reply["code"].as_str() {
                None => {
                    let seq = reply["seq"].as_u64().expect("ack seq");
                    assert_eq!(seq, self.seq + 1, "one step per action: {reply}");
                    self.seq = seq;
                    self.acked.insert(id);
                }
                Some("stale") => self.seq += 1,
                Some(code) => panic!("seat {seat}'s {action} was refused: {code} {reply}"),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_liap_tui_game_moves_to_2_0_0_mid_game_and_survives_a_crash_after() {
    let data = tempfile::tempdir().expect("tempdir");
    let db = databases::sqlite();
    let server = ServerProcess::start(BIN, data.path(), &db, ENV);
    server.ready().await;
    let mut players = Vec::new();
    for i in 0..4 {
        let mut c = Client::connect(server.addr, None).await;
        c.hello(&format!("p{i}")).await;
        players.push(c);
    }
    let created = players[0]
        .ok(json!({"type": "create_room", "game": "liap-tui", "seed": 3,
                   "options": {"pace": "instant", "win_score": 1000}}))
        .await;
    assert_eq!(created["room"]["version"], "1.0.0", "1.0.0 is active");
    let room = room_id(&created);
    for c in &mut players[1..] {
        c.ok(json!({"type": "join", "room": room})).await;
    }
    let mut table = Table {
        players,
        room: room.clone(),
        latest: vec![Value::Null; 4],
        seq: 1,
        acked: HashSet::new(),
    };
    table.play_until(25).await;
    assert_eq!(table.latest[0]["status"], "running");
    assert!(
        table.latest[0]["view"]["max_rounds"].is_null(),
        "1.0.0 has no limit"
    );
    let before = table.seq;

    // The operator moves the running game to 2.0.0.
    let (status, body) = http_body(
        server.addr,
        "POST",
        "/admin/modules/liap-tui/activate",
        Some(ADMIN),
        r#"{"version": "2.0.0", "policy": "migrate"}"#,
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let id = serde_json::from_str::<Value>(&body).expect("JSON")["id"].clone();
    let mut rollout = Value::Null;
    for _ in 0..500 {
        let (_, body) = http(
            server.addr,
            "GET",
            &format!("/admin/rollouts/{id}"),
            Some(ADMIN),
        )
        .await;
        rollout = serde_json::from_str(&body).expect("JSON");
        if rollout["state"] == "done" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(
        (&rollout["migrated"], &rollout["pending"]),
        (&json!(1), &json!(0)),
        "{rollout}"
    );
    // Every player, on the same connection, hears of the new version and gets a fresh view.
    for c in &mut table.players {
        let mut told = false;
        loop {
            let msg = c.recv().await;
            if msg["type"] == "room" {
                told |= msg["room"]["version"] == "2.0.0";
            }
            if msg["type"] == "update" {
                assert_eq!(msg["seq"], before + 1, "the swap is one step: {msg}");
                assert_eq!(msg["resync"], true, "{msg}");
                assert_eq!(msg["view"]["max_rounds"], 20, "{msg}");
                break;
            }
        }
        assert!(told, "the room frame names 2.0.0");
    }
    for latest in &mut table.latest {
        latest["seq"] = json!(before + 1);
    }
    table.seq = before + 1;
    let (_, modules) = http(server.addr, "GET", "/admin/modules", Some(ADMIN)).await;
    let modules: Value = serde_json::from_str(&modules).expect("JSON");
    let liap = modules["games"]
        .as_array()
        .and_then(|g| g.iter().find(|g| g["name"] == "liap-tui"))
        .expect("listed")
        .clone();
    assert_eq!(liap["active"], "2.0.0", "{liap}");

    // Play goes on under 2.0.0.
    table.play_until(before + 30).await;
    assert_eq!(table.latest[0]["view"]["max_rounds"], 20);

    // The record replays across the swap, and holds each acknowledged action once.
    let (status, record) = http(
        server.addr,
        "GET",
        &format!("/admin/games/{room}/record"),
        Some(ADMIN),
    )
    .await;
    assert_eq!(status, 200, "{record}");
    let parsed: Value = serde_json::from_str(&record).expect("JSON");
    let inputs = parsed["inputs"].as_array().expect("inputs");
    let swaps: Vec<&Value> = inputs.iter().filter(|i| i["type"] == "swap").collect();
    assert_eq!(swaps.len(), 1, "{swaps:?}");
    assert_eq!(swaps[0]["to"]["version"], "2.0.0");
    let ids: Vec<&str> = inputs
        .iter()
        .filter_map(|i| i["request_id"].as_str())
        .collect();
    assert_eq!(
        ids.len(),
        table.acked.len(),
        "no action lost or applied twice"
    );
    assert!(ids.iter().all(|id| table.acked.contains(*id)));
    let file = data.path().join("record.json");
    std::fs::write(&file, &record).expect("written");
    let replayed = std::process::Command::new(BIN)
        .args(["replay"])
        .arg(&file)
        .output()
        .expect("tabula replay runs");
    let stdout = String::from_utf8_lossy(&replayed.stdout);
    assert!(
        replayed.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&replayed.stderr)
    );

    // A crash after the swap: the game comes back on 2.0.0 and goes on.
    let tokens: Vec<String> = table.players.iter().map(|p| p.token.clone()).collect();
    let last = table.seq;
    server.kill9();
    let server = ServerProcess::start(BIN, data.path(), &db, ENV);
    server.ready().await;
    let mut players = Vec::new();
    for token in &tokens {
        let mut c = Client::reconnect(server.addr, token).await;
        let reply = c
            .ok(json!({"type": "resume", "room": room, "last_seq": last}))
            .await;
        assert_eq!(reply["room"]["version"], "2.0.0", "{reply}");
        assert_eq!(reply["room"]["status"], "running", "{reply}");
        assert!(
            reply["room"]["seq"].as_u64().unwrap_or(0) >= last,
            "{reply}"
        );
        players.push(c);
    }
    // The activation is remembered: new rooms get 2.0.0 after the restart too.
    let (_, modules) = http(server.addr, "GET", "/admin/modules", Some(ADMIN)).await;
    let modules: Value = serde_json::from_str(&modules).expect("JSON");
    assert!(
        modules["games"].as_array().is_some_and(|g| g
            .iter()
            .any(|g| g["name"] == "liap-tui" && g["active"] == "2.0.0")),
        "{modules}"
    );
    table.players = players;
    table.latest = vec![Value::Null; 4];
    table.play_until(last + 10).await;
    assert_eq!(table.latest[0]["view"]["max_rounds"], 20);
}

/// Runs `tabula ARGS` with `env`; (success, stdout, stderr).
fn tabula(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let mut cmd = std::process::Command::new(BIN);
    cmd.args(args).env_remove("TABULA_ADMIN__TOKEN");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("tabula runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_modules_command_lists_pushes_and_migrates_a_running_game() {
    // A designer's loop is one command against a --dev server: `tabula modules push
    // target/wasm32-unknown-unknown/release/GAME.wasm --activate migrate` uploads the core
    // module cargo built and moves the running game to it, showing the rollout; `list` shows the
    // versions; a wrong token is refused with the server's reason.
    let data = tempfile::tempdir().expect("tempdir");
    let mut env = ENV.to_vec();
    env.push(("TABULA_DEV", "true"));
    let server = ServerProcess::start(BIN, data.path(), &databases::sqlite(), &env);
    server.ready().await;
    let url = format!("http://{}", server.addr);
    let mut ann = Client::connect(server.addr, None).await;
    ann.hello("ann").await;
    let room = ann
        .create_room(json!({"game": "turn-room", "bots": 1, "seats": 2,
                            "options": {"moves": 1000}}))
        .await;
    let (ok, _, err) = tabula(
        &[
            "modules",
            "--server",
            &url,
            "--token",
            "not-the-token-at-all",
            "list",
        ],
        &[],
    );
    assert!(!ok);
    assert!(err.contains("401") && err.contains("unauthorized"), "{err}");

    let token = [("TABULA_ADMIN__TOKEN", ADMIN)];
    let (ok, out, err) = tabula(&["modules", "--server", &url, "list"], &token);
    assert!(ok, "{err}");
    assert!(out.contains("turn-room (active 1.0.0)"), "{out}");
    assert!(
        out.contains("1.1.0") && out.contains("contract 0.2.0"),
        "{out}"
    );

    let core = tabula_bundle::TURN_ROOM_CORE_PATH;
    let (ok, out, err) = tabula(
        &[
            "modules",
            "--server",
            &url,
            "push",
            core,
            "--activate",
            "migrate",
        ],
        &token,
    );
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("turn-room@1.1.0") && out.contains("core module"),
        "{out}"
    );
    assert!(err.contains("done") && err.contains("migrated 1"), "{err}");
    let reply = ann.ok(json!({"type": "watch", "room": room})).await;
    assert_eq!(reply["room"]["version"], "1.1.0", "{reply}");

    let (ok, _, err) = tabula(&["modules", "--server", &url, "status"], &token);
    assert!(ok && err.contains("migrated 1"), "{err}");
    let (ok, _, err) = tabula(
        &[
            "modules",
            "--server",
            &url,
            "activate",
            "turn-room",
            "9.9.9",
        ],
        &token,
    );
    assert!(!ok && err.contains("unknown_version"), "{err}");
}
