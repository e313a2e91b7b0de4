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
