//! End-to-end checks of the two binaries: the real relay on port 0, spoken to over real sockets.

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use tokio_tungstenite::tungstenite::Message;

/// The relay process, killed when dropped.
struct Relay {
    child: Child,
    url: String,
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn relay() -> Relay {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tabula-relay"))
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("relay starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("relay prints its address");
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .expect("address line")
        .to_owned();
    Relay {
        child,
        url: format!("ws://{addr}/ws"),
    }
}

#[test]
fn the_load_generator_plays_every_room_to_the_end_against_the_relay() {
    // Every move of every room is acknowledged and measured, with no errors.
    let relay = relay();
    let out = Command::new(env!("CARGO_BIN_EXE_tabula-load"))
        .args([
            "--url", &relay.url, "--rooms", "5", "--moves", "21", "--json",
        ])
        .args([
            "--timeout-secs",
            "30",
            "--server-pid",
            &relay.child.id().to_string(),
        ])
        .output()
        .expect("load generator runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("one JSON report");
    assert_eq!(report["rooms_finished"], 5, "{report}");
    assert_eq!(report["total_moves"], 5 * 21, "{report}");
    assert_eq!(report["errors"], 0, "{report}");
    assert!(
        report["latency_us"]["p50"].as_u64().is_some_and(|p| p > 0),
        "{report}"
    );
    // The server's CPU per move is split into user and kernel time, which add up to it.
    let per_move = |key: &str| report[key].as_f64().unwrap_or(f64::NAN);
    let split = per_move("server_user_us_per_move") + per_move("server_kernel_us_per_move");
    assert!(
        (split - per_move("server_cpu_us_per_move")).abs() < 1e-6,
        "{report}"
    );
    assert!(
        report["server_peak_rss_kib"]
            .as_u64()
            .is_some_and(|k| k > 0),
        "{report}"
    );
}

#[tokio::test]
async fn the_relay_answers_bad_requests_with_protocol_errors() {
    // Errors carry the documented code and echo the request id; play goes on afterwards.
    let relay = relay();
    let (mut ws, _) = tokio_tungstenite::connect_async(relay.url.as_str())
        .await
        .expect("connect");
    let mut ask = async |frame: Value| -> Value {
        ws.send(Message::text(frame.to_string()))
            .await
            .expect("send");
        let reply = ws.next().await.expect("a reply").expect("a frame");
        serde_json::from_str(reply.to_text().expect("text")).expect("JSON")
    };
    let r = ask(json!({"type": "join", "request_id": "x", "room": "r-0"})).await;
    assert_eq!(
        (r["code"].as_str(), r["request_id"].as_str()),
        (Some("not_authenticated"), Some("x"))
    );
    assert_eq!(ask(json!("nope")).await["code"], "bad_json");
    assert_eq!(
        ask(json!({"type": "hello", "name": "solo"})).await["type"],
        "welcome"
    );
    assert_eq!(ask(json!({"type": "dance"})).await["code"], "unknown_type");
    let created =
        json!({"type": "create_room", "request_id": "c", "game": "turn-room", "seats": 2});
    let room = ask(created).await["room"]["id"].clone();
    let r =
        ask(json!({"type": "act", "request_id": "a", "room": room, "action": {"add": 1}})).await;
    assert_eq!(r["code"], "not_started");
    let r = ask(json!({"type": "join", "request_id": "j", "room": room, "seat": 0})).await;
    assert_eq!(r["code"], "seat_taken");
}

#[test]
fn the_idle_probe_measures_rooms_and_connections_against_the_relay() {
    // tabula-idle creates its rooms, holds its connections and reports a figure for each.
    let relay = relay();
    let out = Command::new(env!("CARGO_BIN_EXE_tabula-idle"))
        .args(["--url", &relay.url, "--server-pid"])
        .arg(relay.child.id().to_string())
        .args(["--rooms", "40", "--connections", "40", "--warmup", "8"])
        .args(["--settle-ms", "0", "--max-seconds", "60", "--json"])
        .output()
        .expect("idle probe runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("one JSON report");
    assert_eq!(
        (report["rooms"].as_u64(), report["connections"].as_u64()),
        (Some(40), Some(40)),
        "{report}"
    );
    for key in ["bytes_per_idle_room", "bytes_per_idle_connection"] {
        assert!(report[key].as_f64().is_some_and(f64::is_finite), "{report}");
    }
    assert!(
        report["rss_kib"]["after_rooms"]["kib"]
            .as_u64()
            .is_some_and(|k| k > 0),
        "{report}"
    );
}
