//! `tabula replay SCRIPT`: a scripted game (docs/replay.md) run through its module, due timers
//! fired as the server fires them. One JSON line per thing done; the first outcome that is not
//! the one written ends the output with `{"failed": {...}}` and a non-zero exit.

use crate::replay::{self, Done, SCRIPT_FORMAT, Script};
use crate::rules::Module;
use serde_json::{Value, json};
use std::io::Write;
use std::process::ExitCode;

/// Whether `text` is a script rather than a record: it says so, or it leaves out what a record
/// always has (an input's time), or it holds what only scripts hold (expected refusals,
/// assertions).
pub fn is_script(text: &str) -> bool {
    let Ok(v) = serde_json::from_str::<Value>(text) else {
        return false;
    };
    if v["format"] == SCRIPT_FORMAT {
        return true;
    }
    (v["inputs"].as_array()).is_some_and(|inputs| {
        inputs
            .iter()
            .any(|i| i.get("at").is_none() || i.get("expect").is_some() || i["type"] == "assert")
    })
}

/// Runs `script` and prints what it did.
pub fn run(script: &Script, module: &Module) -> anyhow::Result<ExitCode> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut lines = Vec::new();
    let outcome = replay::run_script(module, script, true, |done| {
        lines.push(match done {
            Done::Stepped {
                step,
                input,
                result,
            } => super::replay_cmd::step_line(step, input, result),
            Done::Refused { step, input, code } => {
                json!({"step": step, "input": input, "refused": code}).to_string()
            }
            Done::Held { step, input } => {
                json!({"step": step, "input": input, "held": true}).to_string()
            }
        });
    });
    for line in lines {
        writeln!(out, "{line}")?;
    }
    match outcome {
        Ok(_) => Ok(ExitCode::SUCCESS),
        Err(failure) => {
            writeln!(out, "{}", json!({ "failed": failure }))?;
            Ok(ExitCode::FAILURE)
        }
    }
}
