//! The `tabula` binary as an operator runs it: real process, real arguments, exit codes.

use std::process::{Command, Output};

fn tabula(args: &[&str]) -> (Output, String) {
    let data = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_tabula"))
        .args(args)
        .arg("--data-dir")
        .arg(data.path())
        .output()
        .expect("the binary runs");
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
    assert_eq!(imports, ["tabula:rules/types@0.1.0: instance", "log: func"]);
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
        err.contains("turn-room@9.9.9") && err.contains("turn-room@1.0.0"),
        "{err}"
    );
}
