//! `tabula new`: the crate it makes builds, passes its own tests (its script included), makes a
//! component that passes `tabula rules check`, and is served and played over WebSocket as it
//! is.

use serde_json::json;
use std::path::Path;
use std::process::Command;
use tabula_tests::{Client, ServerProcess, room_id};

const NAME: &str = "race-to-target";

fn run(what: &str, cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{what} failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

fn tabula(data: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tabula"));
    cmd.arg("--data-dir").arg(data);
    cmd
}

fn cargo(dir: &Path, target: &Path) -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(dir).env("CARGO_TARGET_DIR", target);
    cmd
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_game_builds_checks_serves_and_plays() {
    let work = tempfile::tempdir().expect("tempdir");
    let (data, target) = (work.path().join("data"), work.path().join("target"));
    let game = work.path().join(NAME);
    run(
        "tabula new",
        tabula(&data).args(["new", NAME, "--path"]).arg(&game),
    );
    // A name that cannot be a crate's is refused, and so is a folder in use.
    let out = tabula(&data)
        .args(["new", "Bad_Name", "--path"])
        .arg(work.path().join("x"))
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let out = tabula(&data)
        .args(["new", NAME, "--path"])
        .arg(&game)
        .output()
        .expect("runs");
    assert!(!out.status.success(), "the folder is not empty");

    // Its own tests, natively: the rules and the scripted game.
    let tests = run(
        "cargo test",
        cargo(&game, &target).args(["test", "--quiet"]),
    );
    assert!(!tests.contains("FAILED"), "{tests}");

    // The component.
    run(
        "cargo build (wasm)",
        cargo(&game, &target).args(["build", "--release", "--target", "wasm32-unknown-unknown"]),
    );
    let core = target.join(format!(
        "wasm32-unknown-unknown/release/{}.wasm",
        NAME.replace('-', "_")
    ));
    let modules = work.path().join("modules");
    std::fs::create_dir_all(&modules).expect("modules dir");
    let component = modules.join(format!("{NAME}.wasm"));
    run(
        "tabula rules component",
        tabula(&data)
            .args(["rules", "component"])
            .arg(&core)
            .arg("-o")
            .arg(&component),
    );
    let checked = run(
        "tabula rules check",
        tabula(&data)
            .args(["rules", "check", "--games", "20"])
            .arg(&component),
    );
    assert!(checked.contains(NAME), "{checked}");
    let script = game.join("scripts/first-game.json");
    let replayed = run(
        "tabula replay (script)",
        tabula(&data)
            .arg("replay")
            .arg(&script)
            .arg("--module")
            .arg(&component),
    );
    assert!(replayed.contains(r#""held":true"#), "{replayed}");

    // Served from a modules folder, and played over WebSocket against a bot.
    let server = ServerProcess::start(
        env!("CARGO_BIN_EXE_tabula"),
        &data,
        "memory:",
        &[("TABULA_MODULES_DIR", modules.to_str().expect("utf-8"))],
    );
    server.ready().await;
    let mut ann = Client::connect(server.addr, None).await;
    ann.hello("ann").await;
    let created = ann
        .ok(json!({"type": "create_room", "game": NAME, "seats": 2, "bots": 1}))
        .await;
    let room = room_id(&created);
    loop {
        let u = ann.recv_type("update").await;
        if u["room"] != room.as_str() {
            continue;
        }
        if !u["result"].is_null() {
            assert!(u["result"]["winners"].is_array(), "{u}");
            break;
        }
        if let Some(choice) = u["view"]["actions"].as_array().and_then(|a| a.first()) {
            ann.ok(json!({"type": "act", "room": room, "action": choice["action"]}))
                .await;
        }
    }
    server.kill9();
}
