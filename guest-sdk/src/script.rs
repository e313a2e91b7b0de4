//! Scripted games, run natively: the scripts `tabula replay` runs (docs/replay.md, "Scripts")
//! run in `cargo test` through the [`Harness`], with the same meaning — due timers fired before
//! each action and assertion and at the end, `at` defaulting to the previous input's time,
//! expected refusals by the server's codes, assertions on views, phase, awaited seats and
//! winners — and the same failure report.
//!
//! (The host has its own runner for the sandboxed module: the host never links this crate, and
//! a designer's tests never link the host. A test in the host runs a Liap Tui script through
//! both.)

use crate::harness::Harness;
use crate::{Game, RuleError, Viewer};
use serde_json::{Value, json};
use std::fmt;

/// The first outcome of a script that was not the one written, as `tabula replay` reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct ScriptFailure {
    /// The script's input (1-based; 0 is the start).
    pub step: usize,
    /// The input.
    pub input: Value,
    /// A refusal's code, or `accepted`, `assertion`, `bad_script`.
    pub code: String,
    /// What happened.
    pub message: String,
}

impl fmt::Display for ScriptFailure {
    /// The one JSON line `tabula replay` ends with.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let line = json!({"failed": {
            "step": self.step, "input": self.input, "code": self.code, "message": self.message,
        }});
        write!(f, "{line}")
    }
}

impl std::error::Error for ScriptFailure {}

/// The code the server answers a refusal with.
pub fn refusal_code(e: &RuleError) -> &'static str {
    match e {
        RuleError::NotYourTurn => "not_your_turn",
        RuleError::GameOver => "game_over",
        RuleError::Illegal(_) => "illegal",
        RuleError::BadOptions(_) => "bad_options",
        RuleError::Malformed(_) | RuleError::BadState(_) | RuleError::UnsupportedVersion(_) => {
            "malformed_action"
        }
    }
}

fn failure(step: usize, input: &Value, code: &str, message: impl Into<String>) -> ScriptFailure {
    ScriptFailure {
        step,
        input: input.clone(),
        code: code.into(),
        message: message.into(),
    }
}

impl<G: Game> Harness<G> {
    /// Runs a script (JSON text) through the game and returns the game as it ends, or the first
    /// outcome that was not the one written.
    ///
    /// ```ignore
    /// Harness::<LiapTui>::run_script(include_str!("../scripts/declarations.json"))
    ///     .unwrap_or_else(|f| panic!("{f}"));
    /// ```
    pub fn run_script(text: &str) -> Result<Self, ScriptFailure> {
        let script: Value = serde_json::from_str(text)
            .map_err(|e| failure(0, &Value::Null, "bad_script", e.to_string()))?;
        let info = G::info();
        let (name, version) = (&script["module"]["name"], &script["module"]["version"]);
        if *name != info.name || *version != info.version {
            return Err(failure(
                0,
                &Value::Null,
                "bad_script",
                format!(
                    "the script is written for {name}@{version}, the game is {}@{}",
                    info.name, info.version
                ),
            ));
        }
        let seats = script["seats"].as_u64().unwrap_or(0) as u32;
        let seed = script["seed"].as_u64().unwrap_or(0);
        let options = match &script["options"] {
            Value::Null => String::new(),
            o => o.to_string(),
        };
        let mut h = Harness::<G>::start(seats, seed, &options)
            .map_err(|e| failure(0, &Value::Null, refusal_code(&e), e.to_string()))?;
        h.advance(script["started_at"].as_u64().unwrap_or(0));
        let empty = Vec::new();
        let inputs = script["inputs"].as_array().unwrap_or(&empty);
        for (i, input) in inputs.iter().enumerate() {
            let step = i + 1;
            if let Some(at) = input["at"].as_u64() {
                h.advance(at.saturating_sub(h.now()));
            }
            match input["type"].as_str() {
                Some("act") => {
                    h.fire_due(step, input)?;
                    let seat = input["seat"].as_u64().unwrap_or(u64::MAX) as u32;
                    let outcome = h.act_json(seat, &input["action"].to_string()).map(|_| ());
                    h.judge(step, input, outcome)?;
                }
                Some("timer") => {
                    h.fire_timer()
                        .map_err(|e| failure(step, input, refusal_code(&e), e.to_string()))?;
                }
                Some("seat") => {}
                Some("assert") => {
                    h.fire_due(step, input)?;
                    h.assertion(input)
                        .map_err(|m| failure(step, input, "assertion", m))?;
                }
                _ => {
                    return Err(failure(step, input, "bad_script", "unknown input type"));
                }
            }
        }
        h.fire_due(inputs.len(), &Value::Null)?;
        Ok(h)
    }

    /// Fires every timer due by now (a fired timer may ask for another at once).
    fn fire_due(&mut self, step: usize, input: &Value) -> Result<(), ScriptFailure> {
        for _ in 0..10_000 {
            match self.step().wake_at {
                Some(w) if w <= self.now() => {}
                _ => return Ok(()),
            }
            self.fire_timer()
                .map_err(|e| failure(step, input, refusal_code(&e), e.to_string()))?;
        }
        Err(failure(
            step,
            input,
            "bad_script",
            "timers kept firing: 10,000 in a row were due at once",
        ))
    }

    /// Whether an action's outcome is the one its `expect` asks for.
    fn judge(
        &self,
        step: usize,
        input: &Value,
        outcome: Result<(), RuleError>,
    ) -> Result<(), ScriptFailure> {
        let expect = &input["expect"];
        match (outcome, expect.is_null()) {
            (Ok(()), true) => Ok(()),
            (Ok(()), false) => Err(failure(
                step,
                input,
                "accepted",
                format!(
                    "the action was accepted; expected a refusal ({})",
                    expect["refused"]
                ),
            )),
            (Err(e), true) => Err(failure(step, input, refusal_code(&e), e.to_string())),
            (Err(e), false) => {
                let (code, message) = (refusal_code(&e), e.to_string());
                let fragment = expect["message"].as_str();
                if expect["refused"] == code && fragment.is_none_or(|m| message.contains(m)) {
                    Ok(())
                } else {
                    Err(failure(
                        step,
                        input,
                        code,
                        format!("{message} (expected {expect})"),
                    ))
                }
            }
        }
    }

    /// Whether an `assert` holds now; if not, what differs.
    fn assertion(&self, a: &Value) -> Result<(), String> {
        let last = self.step();
        if let Some(phase) = a["phase"].as_str()
            && phase != last.phase
        {
            return Err(format!("the phase is {:?}, not {phase:?}", last.phase));
        }
        if let Some(wanted) = a["awaiting"].as_array() {
            let mut want: Vec<u64> = wanted.iter().filter_map(Value::as_u64).collect();
            let mut have: Vec<u64> = last.awaiting.iter().map(|&s| u64::from(s)).collect();
            want.sort_unstable();
            have.sort_unstable();
            if want != have {
                return Err(format!("the game awaits {have:?}, not {want:?}"));
            }
        }
        if !a["over"].is_null() {
            let Some(result) = &last.result else {
                return Err(format!("the game is not over (phase {:?})", last.phase));
            };
            if let Some(wanted) = a["over"]["winners"].as_array() {
                let result: Value = serde_json::from_str(result).unwrap_or(Value::Null);
                let mut won: Vec<u64> = (result["winners"].as_array())
                    .map(|w| w.iter().filter_map(Value::as_u64).collect())
                    .unwrap_or_default();
                let mut want: Vec<u64> = wanted.iter().filter_map(Value::as_u64).collect();
                won.sort_unstable();
                want.sort_unstable();
                if won != want {
                    return Err(format!("the winners are {won:?}, not {want:?} ({result})"));
                }
            }
        }
        if a.get("pointer").is_some() || a.get("equals").is_some() {
            let viewer = match &a["viewer"] {
                Value::Null => Viewer::Spectator,
                Value::String(s) if s == "spectator" => Viewer::Spectator,
                v => match v.as_u64() {
                    Some(seat) => Viewer::Seat(seat as u32),
                    None => return Err(format!("viewer {v} is neither a seat nor \"spectator\"")),
                },
            };
            let view = self.view(viewer);
            let at = a["pointer"].as_str().unwrap_or("");
            let found = view.pointer(at);
            if found != a.get("equals") {
                return Err(format!(
                    "{at:?} in {viewer:?}'s view is {}, not {}",
                    found.map_or("absent".into(), Value::to_string),
                    a.get("equals").map_or("absent".into(), Value::to_string),
                ));
            }
        }
        Ok(())
    }
}
