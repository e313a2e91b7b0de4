//! The `tabula` binary as an operator runs it: real process, real arguments, exit codes.

use std::process::{Command, Output};

fn tabula(args: &[&str]) -> (Output, String) {
    tabula_reading(args, "")
}

/// `tabula ARGS` with `input` on its standard input: its output and its standard output.
fn tabula_reading(args: &[&str], input: &str) -> (Output, String) {
    use std::io::Write;
    use std::process::Stdio;
    let data = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_tabula"))
        .args(args)
        .arg("--data-dir")
        .arg(data.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(input.as_bytes()).expect("write");
    drop(stdin);
    let out = child.wait_with_output().expect("exits");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (out, text)
}

#[test]
fn inspect_shows_info_and_that_modules_import_nothing_but_the_contract() {
    // An operator sees what a module is and that it has no WASI or other capability.
    let (out, text) = tabula(&["rules", "inspect", "turn-room"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(v["info"]["name"], "turn-room");
    assert_eq!(v["info"]["default_options"]["moves"], 100);
    let imports: Vec<&str> = v["imports"]
        .as_array()
        .expect("imports")
        .iter()
        .filter_map(|i| i.as_str())
        .collect();
    assert_eq!(imports, ["tabula:rules/types@0.2.0: instance", "log: func"]);
    assert_eq!(v["exports"].as_array().map(Vec::len), Some(8));
}

#[test]
fn inspect_takes_a_component_file_too() {
    // A module that is not bundled is inspected from its file.
    let (out, text) = tabula(&["rules", "inspect", tabula_bundle::TIC_TAC_TOE_PATH]);
    assert!(out.status.success());
    assert!(text.contains("\"tic-tac-toe\""), "{text}");
}

#[test]
fn check_passes_bundled_games_and_reports_figures() {
    // A conformance run over two bundled games passes and reports steps, latency, fuel, memory.
    let (out, text) = tabula(&[
        "rules",
        "check",
        "turn-room",
        "tic-tac-toe",
        "--games",
        "5",
        "--json",
    ]);
    assert!(out.status.success(), "{text}");
    let reports: Vec<serde_json::Value> = serde_json::Deserializer::from_str(&text)
        .into_iter()
        .collect::<Result<_, _>>()
        .expect("JSON reports");
    assert_eq!(reports.len(), 2);
    for r in &reports {
        assert_eq!(r["passed"], true);
        assert_eq!(r["finished"], 5);
        assert!(r["steps"].as_u64() > Some(5));
        assert!(r["max_fuel"].as_u64() > Some(0));
        assert!(r["latency_p50_us"].as_f64() > Some(0.0));
    }
}

#[test]
fn check_fails_with_the_kind_of_violation() {
    // A hostile module makes the check exit non-zero and name what went wrong.
    let (out, text) = tabula(&[
        "rules",
        "check",
        "hostile",
        "--games",
        "2",
        "--options",
        r#"{"fault":"spin"}"#,
        "--fuel",
        "1000000",
    ]);
    assert!(!out.status.success());
    assert!(text.contains("out_of_fuel"), "{text}");
    assert!(text.contains("FAIL"), "{text}");
}

#[test]
fn check_fails_a_module_whose_timer_traps_while_a_bot_thinks() {
    // A timer that would crash a room while a seat is awaited fails the check with a trap.
    let (out, text) = tabula(&[
        "rules",
        "check",
        "hostile",
        "--games",
        "6",
        "--options",
        r#"{"fault":"bad-timer"}"#,
    ]);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("trap") && text.contains("timer fails on purpose"),
        "{text}"
    );
    assert!(text.contains("FAIL"), "{text}");

    let (out, text) = tabula(&["rules", "check", "hostile", "--games", "6"]);
    assert!(out.status.success(), "a calm module still passes: {text}");
}

#[test]
fn unknown_modules_and_bad_options_are_clear_errors() {
    // A typo in a module name lists what exists; bad options say why they are bad.
    let (out, _) = tabula(&["rules", "check", "chess"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no module \"chess\"") && err.contains("turn-room"),
        "{err}"
    );

    let (out, text) = tabula(&["rules", "check", "turn-room", "--options", r#"{"moves":0}"#]);
    assert!(!out.status.success());
    assert!(text.contains("bad_options"), "{text}");
}

fn record(inputs: &str, version: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().expect("temp file");
    let text = format!(
        r#"{{"format":"tabula-replay/1","module":{{"name":"turn-room","version":"{version}"}},
            "seed":42,"seats":4,"options":{{"moves":3}},"started_at":0,"inputs":[{inputs}]}}"#
    );
    std::io::Write::write_all(&mut f, text.as_bytes()).expect("write");
    f
}

#[test]
fn replay_prints_every_step_of_a_recorded_game() {
    // A recorded game replays to its end, one JSON line per step with phase, events and view.
    let rec = record(
        r#"{"type":"act","seat":0,"action":{"add":2},"at":10},
           {"type":"act","seat":1,"action":{"add":3},"at":20},
           {"type":"act","seat":2,"action":{"add":1},"at":30}"#,
        "1.0.0",
    );
    let path = rec.path().to_str().expect("utf-8 path");
    let (out, text) = tabula(&["replay", path]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[0]["step"], 0);
    assert_eq!(lines[2]["events"][0]["event"]["add"], 3);
    assert_eq!(lines[3]["view"]["counter"], 6);
    assert_eq!(lines[3]["result"]["counter"], 6);
}

#[test]
fn replay_stops_at_the_first_rejected_input_with_a_clear_error() {
    // An input the rules refuse ends the replay with its index and the rule's reason.
    let rec = record(
        r#"{"type":"act","seat":0,"action":{"add":2},"at":10},
           {"type":"act","seat":3,"action":{"add":1},"at":20}"#,
        "1.0.0",
    );
    let (out, text) = tabula(&["replay", rec.path().to_str().expect("utf-8")]);
    assert!(!out.status.success());
    assert_eq!(
        text.lines().count(),
        2,
        "start and the first input were printed"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("input 2") && err.contains("not your turn"),
        "{err}"
    );

    let other = record("", "9.9.9");
    let (out, _) = tabula(&["replay", other.path().to_str().expect("utf-8")]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("turn-room@9.9.9") && err.contains("turn-room@1.1.0"),
        "{err}"
    );
}

/// Reads a raw HTTP answer until the server closes the socket.
fn answer(mut s: std::net::TcpStream) -> String {
    use std::io::Read;
    s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .expect("timeout");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

fn get(addr: &str, path: &str) -> String {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    answer(s)
}

#[test]
fn at_a_low_file_limit_the_server_caps_connections_below_it_and_health_still_answers() {
    // Started with `ulimit -n 100`, the server keeps its connections 64 below the limit: idle
    // sockets beyond that are answered 503 at once instead of exhausting the file table, health
    // answers on its own port meanwhile, and the game port serves again once they close.
    let data = tempfile::tempdir().expect("tempdir");
    let mut server = Command::new("sh")
        .arg("-c")
        .arg("ulimit -n 100 && exec \"$0\" serve --listen 127.0.0.1:0 --data-dir \"$1\"")
        .arg(env!("CARGO_BIN_EXE_tabula"))
        .arg(data.path())
        .env("TABULA_ADMIN_LISTEN", "127.0.0.1:0")
        .env("TABULA_CONNECTION__HEADER_TIMEOUT_MS", "60000")
        .env("TABULA_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the server starts");
    let stdout = server.stdout.take().expect("stdout");
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    let mut addr_in = |prefix: &str| {
        let line = lines.next().expect("a line").expect("utf-8 output");
        let rest = line.split(prefix).nth(1).expect("the address line");
        rest.split_whitespace().next().expect("address").to_string()
    };
    let game = addr_in("serving on http://");
    let admin = addr_in("metrics on http://");
    let held: Vec<std::net::TcpStream> = (0..36)
        .map(|_| std::net::TcpStream::connect(&game).expect("connect"))
        .collect();
    let refused = (0..10)
        .map(|_| answer(std::net::TcpStream::connect(&game).expect("connect")))
        .filter(|a| a.starts_with("HTTP/1.1 503"))
        .count();
    assert_eq!(refused, 10, "every socket past 100 - 64 is refused");
    assert!(get(&admin, "/health/ready").starts_with("HTTP/1.1 200"));
    drop(held);
    let mut served = false;
    for _ in 0..100 {
        std::thread::sleep(std::time::Duration::from_millis(50));
        if get(&game, "/ws").starts_with("HTTP/1.1 4") {
            // Not an upgrade, but admitted and answered by the router.
            served = true;
            break;
        }
    }
    assert!(served, "the game port serves again");
    let _ = server.kill();
    let out = server.wait_with_output().expect("exits");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("open-file limit"),
        "the lowered cap is logged: {log}"
    );
}

#[test]
fn replay_under_another_version_reports_whether_the_game_diverges() {
    // `tabula replay RECORD --module OTHER` replays a record of turn-room 1.0.0 under today's
    // 1.1.0 and says, as JSON, that it plays the game the same way (same moves accepted, same
    // result).
    let rec = record(
        r#"{"type":"act","seat":0,"action":{"add":2},"at":10},
           {"type":"act","seat":1,"action":{"add":3},"at":20},
           {"type":"act","seat":2,"action":{"add":1},"at":30}"#,
        "1.0.0",
    );
    let path = rec.path().to_str().expect("utf-8 path");
    let (out, text) = tabula(&["replay", path, "--module", "turn-room"]);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line: serde_json::Value = serde_json::from_str(text.trim()).expect("one JSON line");
    assert_eq!(line["module"], "turn-room@1.1.0");
    assert_eq!(line["record"], "turn-room@1.0.0");
    assert_eq!(line["diverged"], false, "{line}");
}

/// `tabula replay -` with `script` on standard input: the exit status and the output lines.
fn run_script(script: &str) -> (bool, Vec<serde_json::Value>) {
    let (out, text) = tabula_reading(&["replay", "-"], script);
    let lines = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    (out.status.success(), lines)
}

const LIAP_SCRIPT: &str = include_str!("../../rules/liap-tui/scripts/declarations.json");

#[test]
fn a_script_fires_due_timers_and_checks_refusals_and_assertions() {
    // Only the players' actions are written: the timers between them fire as on a server.
    let (ok, lines) = run_script(LIAP_SCRIPT);
    assert!(ok, "{lines:?}");
    let fired = lines.iter().filter(|l| l["input"]["fired"] == true).count();
    assert!(
        fired >= 2,
        "the timers after the redeal answer fired: {lines:?}"
    );
    let refused: Vec<&str> = lines.iter().filter_map(|l| l["refused"].as_str()).collect();
    assert_eq!(refused, ["not_your_turn", "illegal"]);
    assert_eq!(lines.iter().filter(|l| l["held"] == true).count(), 4);
    assert!(lines.iter().all(|l| l.get("failed").is_none()));
}

#[test]
fn a_script_stops_at_the_first_unexpected_outcome_with_one_json_line() {
    let mut script: serde_json::Value = serde_json::from_str(LIAP_SCRIPT).expect("JSON");
    let check = |script: &serde_json::Value, step: usize, code: &str, says: &str| {
        let (ok, lines) = run_script(&script.to_string());
        assert!(!ok, "the run fails");
        let last = lines.last().expect("lines");
        let failed = &last["failed"];
        assert_eq!(failed["step"], step, "{last}");
        assert_eq!(failed["code"], code, "{last}");
        assert!(
            failed["message"].as_str().is_some_and(|m| m.contains(says)),
            "{last}"
        );
        assert_eq!(failed["input"], script["inputs"][step - 1], "{last}");
        assert_eq!(
            lines.iter().filter(|l| l.get("failed").is_some()).count(),
            1
        );
    };
    // An assertion that does not hold.
    script["inputs"][8]["equals"] = serde_json::json!([2, 2, 2, 2]);
    check(&script, 9, "assertion", "[3,2,2,2]");
    // A refusal expected of an action the rules accept.
    script["inputs"][7]["expect"] = serde_json::json!({"refused": "illegal"});
    check(&script, 8, "accepted", "expected a refusal");
    // An action refused that should not be: the rule's own words.
    let mut script: serde_json::Value = serde_json::from_str(LIAP_SCRIPT).expect("JSON");
    script["inputs"][6]
        .as_object_mut()
        .expect("object")
        .remove("expect");
    check(&script, 7, "illegal", "8");
}

#[test]
fn a_record_without_timers_runs_as_a_script_with_the_flag() {
    // turn-room fires no timers; the flag makes the record's `at`s optional as in a script.
    let rec = record(
        r#"{"type":"act","seat":0,"action":{"add":2},"at":10},
           {"type":"act","seat":1,"action":{"add":3},"at":20}"#,
        "1.1.0",
    );
    let path = rec.path().to_str().expect("utf-8 path");
    let (out, text) = tabula(&["replay", path, "--fire-due-timers"]);
    assert!(out.status.success(), "{text}");
    assert_eq!(text.lines().count(), 3, "{text}");
    let last: serde_json::Value =
        serde_json::from_str(text.lines().last().expect("a line")).expect("JSON");
    assert_eq!(last["view"]["counter"], 5);
}

#[test]
fn liap_tui_scripts_hold_in_the_sandbox_as_they_do_natively() {
    // The same files `cargo test -p liap-tui` runs through the SDK's harness.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules/liap-tui/scripts");
    let mut ran = 0;
    for entry in std::fs::read_dir(&dir).expect("scripts") {
        let path = entry.expect("entry").path();
        let (out, text) = tabula(&["replay", path.to_str().expect("utf-8")]);
        assert!(
            out.status.success(),
            "{}: {}",
            path.display(),
            text.lines().last().unwrap_or("")
        );
        ran += 1;
    }
    assert!(ran >= 3, "{ran} scripts");
}
