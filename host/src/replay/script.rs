//! Scripted games: a record's layout in which a designer writes only the players' actions and
//! what must come of them. Every timer that is due is fired before each action and at the end,
//! as the server does (`fire_due_timers`); `at` may be left out (the previous input's time); an
//! action may be expected to be refused (with a code, and a fragment of the message); and
//! `assert` inputs check what the game shows along the way. The first outcome that is not the
//! one written stops the run with a [`Failure`] naming the input.
//!
//! Owns: reading scripts and running them through a module. Must not touch: the server (a
//! script runs a module on its own, as `tabula replay` does).

use super::ModuleRef;
use crate::rules::{CallContext, Module, RuleError, RulesError, Step, Viewer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A scripted game (a record is one too).
#[derive(Debug, Deserialize)]
pub struct Script {
    /// `tabula-script/1`, or a record's format.
    #[serde(default)]
    pub format: Option<String>,
    /// The game (and version) it is written for; `digest` is optional.
    pub module: ModuleRef,
    /// The seed.
    #[serde(default)]
    pub seed: u64,
    /// Seats.
    pub seats: u32,
    /// Options (absent or null: the game's defaults).
    #[serde(default)]
    pub options: Value,
    /// Host time of the start, ms.
    #[serde(default)]
    pub started_at: u64,
    /// Recorded with the start (checked when present).
    #[serde(default)]
    pub start_hash: Option<String>,
    /// What happens, in order.
    pub inputs: Vec<ScriptInput>,
}

/// The format name of a script written as one.
pub const SCRIPT_FORMAT: &str = "tabula-script/1";

/// One line of a script.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ScriptInput {
    /// A seat's action.
    Act {
        /// The seat.
        seat: u32,
        /// The action, as the game reads it.
        action: Value,
        /// Host time (default: the previous input's).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at: Option<u64>,
        /// The refusal it must meet (absent: it must be accepted).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expect: Option<Expect>,
        /// A record's request id (ignored).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        request_id: Option<String>,
        /// A record's state hash (checked when present).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        state_hash: Option<String>,
    },
    /// A timer, written out (a record's).
    Timer {
        /// Host time (default: the previous input's).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at: Option<u64>,
        /// A record's state hash (checked when present).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        state_hash: Option<String>,
    },
    /// A record's seat change (the state does not change: skipped).
    Seat {
        /// The seat.
        seat: u32,
        /// The change.
        change: Value,
        /// Host time.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at: Option<u64>,
    },
    /// What the game must show now; every field given must hold.
    Assert {
        /// Host time (default: the previous input's): timers due by then fire first.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at: Option<u64>,
        /// Whose view `pointer` reads: a seat, or `"spectator"` (the default).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        viewer: Option<Value>,
        /// A JSON pointer into that view (`/scores/0`; `""` is the whole view).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pointer: Option<String>,
        /// What the pointer must find.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        equals: Option<Value>,
        /// The phase.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        phase: Option<String>,
        /// The seats awaited (in any order).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        awaiting: Option<Vec<u32>>,
        /// The game is over, with these winners when given (in any order).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        over: Option<Over>,
    },
}

/// An expected refusal.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The code the server would answer (`illegal`, `not_your_turn`, `malformed_action`,
    /// `game_over`).
    pub refused: String,
    /// A fragment of the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// How a finished game must have ended.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Over {
    /// The seats that won.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub winners: Option<Vec<u32>>,
}

/// The first outcome that was not the one written.
#[derive(Debug, Serialize)]
pub struct Failure {
    /// 0 for the start, else the 1-based index of the script's input (fired timers are not
    /// counted: they belong to the input they came before).
    pub step: usize,
    /// The input (a fired timer's when one failed).
    pub input: Value,
    /// What kind of failure: a refusal's code, `accepted` (a refusal was expected),
    /// `module_error`, `assertion`, `diverged` (a recorded state hash) or `bad_script`.
    pub code: String,
    /// What happened.
    pub message: String,
}

/// One thing a script run did, for its output.
pub enum Done<'a> {
    /// The game started, or an input (or a fired timer) was applied.
    Stepped {
        /// As in [`Failure::step`].
        step: usize,
        /// The input.
        input: Value,
        /// The step it made.
        result: &'a Step,
    },
    /// An action was refused as expected.
    Refused {
        /// As in [`Failure::step`].
        step: usize,
        /// The input.
        input: Value,
        /// The code.
        code: &'a str,
    },
    /// An assertion held.
    Held {
        /// As in [`Failure::step`].
        step: usize,
        /// The input.
        input: Value,
    },
}

/// The wire's code for a module's refusal or fault (as the server answers a player).
pub fn refusal_code(e: &RulesError) -> &'static str {
    match e {
        RulesError::Rejected(
            RuleError::Malformed(_) | RuleError::BadState(_) | RuleError::UnsupportedVersion(_),
        ) => "malformed_action",
        RulesError::Rejected(rule) => rule.code(),
        _ => "module_error",
    }
}

fn value<T: Serialize>(t: &T) -> Value {
    serde_json::to_value(t).unwrap_or(Value::Null)
}

/// Runs `script` through `module`, firing due timers when `fire_due_timers`; reports each thing
/// done to `on`. Returns the last step, or the first failure.
pub fn run_script(
    module: &Module,
    script: &Script,
    fire_due_timers: bool,
    mut on: impl FnMut(Done<'_>),
) -> Result<Step, Failure> {
    let fail = |step: usize, input: Value, code: &str, message: String| Failure {
        step,
        input,
        code: code.into(),
        message,
    };
    let info = module.info();
    if info.name != script.module.name || info.version != script.module.version {
        return Err(fail(
            0,
            Value::Null,
            "bad_script",
            format!(
                "the script is written for {} and the module is {}",
                script.module.label(),
                module.label()
            ),
        ));
    }
    let mut viewers: Vec<Viewer> = (0..script.seats).map(Viewer::Seat).collect();
    viewers.push(Viewer::Spectator);
    let ctx = |now: u64| CallContext {
        now,
        viewers: viewers.clone(),
    };
    let setup = super::setup_of(script.seats, script.seed, &script.options);
    let mut now = script.started_at;
    let mut step = module
        .start(&setup, &ctx(now))
        .map_err(|e| fail(0, Value::Null, refusal_code(&e), e.to_string()))?;
    check_hash(&script.start_hash, &step, 0, &Value::Null)?;
    on(Done::Stepped {
        step: 0,
        input: Value::Null,
        result: &step,
    });
    // Fires every timer due by `until` (a fired timer may ask for another at once).
    let fire = |step: &mut Step, until: u64, index: usize, on: &mut dyn FnMut(Done<'_>)| {
        // A game that keeps asking for a timer due at once would never end: bounded.
        for _ in 0..10_000 {
            // Fired at the time reached (as the SDK's harness fires it), not the wake-up's.
            if step.wake_at.is_none_or(|w| w > until) {
                return Ok(());
            }
            let input = serde_json::json!({"type": "timer", "at": until, "fired": true});
            *step = module
                .timer(&step.state, &ctx(until))
                .map_err(|e| fail(index, input.clone(), refusal_code(&e), e.to_string()))?;
            on(Done::Stepped {
                step: index,
                input,
                result: step,
            });
        }
        Err(fail(
            index,
            Value::Null,
            "bad_script",
            "timers kept firing: 10,000 in a row were due at once".into(),
        ))
    };
    for (i, input) in script.inputs.iter().enumerate() {
        let index = i + 1;
        let shown = value(input);
        match input {
            ScriptInput::Act {
                seat,
                action,
                at,
                expect,
                state_hash,
                ..
            } => {
                now = at.unwrap_or(now).max(now);
                if fire_due_timers {
                    fire(&mut step, now, index, &mut on)?;
                }
                let action = action.to_string();
                match (module.act(&step.state, *seat, &action, &ctx(now)), expect) {
                    (Ok(next), None) => {
                        step = next;
                        check_hash(state_hash, &step, index, &shown)?;
                        on(Done::Stepped {
                            step: index,
                            input: shown,
                            result: &step,
                        });
                    }
                    (Ok(_), Some(e)) => {
                        return Err(fail(
                            index,
                            shown,
                            "accepted",
                            format!(
                                "the action was accepted; expected a refusal ({})",
                                e.refused
                            ),
                        ));
                    }
                    (Err(e), None) => {
                        return Err(fail(index, shown, refusal_code(&e), e.to_string()));
                    }
                    (Err(e), Some(wanted)) => {
                        let (code, message) = (refusal_code(&e), e.to_string());
                        let fragment_ok =
                            (wanted.message.as_deref()).is_none_or(|m| message.contains(m));
                        if code != wanted.refused || !fragment_ok {
                            return Err(fail(
                                index,
                                shown,
                                code,
                                format!("{message} (expected {})", describe(wanted)),
                            ));
                        }
                        on(Done::Refused {
                            step: index,
                            input: shown,
                            code,
                        });
                    }
                }
            }
            ScriptInput::Timer { at, state_hash } => {
                now = at.unwrap_or(now).max(now);
                step = module
                    .timer(&step.state, &ctx(now))
                    .map_err(|e| fail(index, shown.clone(), refusal_code(&e), e.to_string()))?;
                check_hash(state_hash, &step, index, &shown)?;
                on(Done::Stepped {
                    step: index,
                    input: shown,
                    result: &step,
                });
            }
            ScriptInput::Seat { at, .. } => now = at.unwrap_or(now).max(now),
            ScriptInput::Assert { at, .. } => {
                now = at.unwrap_or(now).max(now);
                if fire_due_timers {
                    fire(&mut step, now, index, &mut on)?;
                }
                if let Err(message) = assertion(input, &step) {
                    return Err(fail(index, shown, "assertion", message));
                }
                on(Done::Held {
                    step: index,
                    input: shown,
                });
            }
        }
    }
    if fire_due_timers {
        fire(&mut step, now, script.inputs.len(), &mut on)?;
    }
    Ok(step)
}

fn describe(e: &Expect) -> String {
    match &e.message {
        Some(m) => format!("{} with {m:?}", e.refused),
        None => e.refused.clone(),
    }
}

fn check_hash(
    recorded: &Option<String>,
    step: &Step,
    index: usize,
    input: &Value,
) -> Result<(), Failure> {
    match super::hash_differs(recorded, step) {
        Some((r, found)) => Err(Failure {
            step: index,
            input: input.clone(),
            code: "diverged".into(),
            message: format!("the state is not the recorded one (recorded {r}, replayed {found})"),
        }),
        None => Ok(()),
    }
}

/// Whether an `assert` holds for `step`; if not, what differs.
fn assertion(input: &ScriptInput, step: &Step) -> Result<(), String> {
    let ScriptInput::Assert {
        at: _,
        viewer,
        pointer,
        equals,
        phase,
        awaiting,
        over,
    } = input
    else {
        return Ok(());
    };
    if let Some(phase) = phase
        && *phase != step.phase
    {
        return Err(format!("the phase is {:?}, not {phase:?}", step.phase));
    }
    if let Some(wanted) = awaiting {
        let (mut a, mut b) = (wanted.clone(), step.awaiting.clone());
        a.sort_unstable();
        b.sort_unstable();
        if a != b {
            return Err(format!(
                "the game awaits {:?}, not {wanted:?}",
                step.awaiting
            ));
        }
    }
    if let Some(over) = over {
        let Some(result) = &step.result else {
            return Err(format!("the game is not over (phase {:?})", step.phase));
        };
        if let Some(wanted) = &over.winners {
            let result: Value = serde_json::from_str(result).unwrap_or(Value::Null);
            let mut won: Vec<u64> = (result["winners"].as_array())
                .map(|w| w.iter().filter_map(Value::as_u64).collect())
                .unwrap_or_default();
            let mut want: Vec<u64> = wanted.iter().map(|&s| u64::from(s)).collect();
            won.sort_unstable();
            want.sort_unstable();
            if won != want {
                return Err(format!("the winners are {won:?}, not {want:?} ({result})"));
            }
        }
    }
    if pointer.is_some() || equals.is_some() {
        let who = match viewer {
            None => Viewer::Spectator,
            Some(Value::String(s)) if s == "spectator" => Viewer::Spectator,
            Some(v) => match v.as_u64().and_then(|s| u32::try_from(s).ok()) {
                Some(seat) => Viewer::Seat(seat),
                None => return Err(format!("viewer {v} is neither a seat nor \"spectator\"")),
            },
        };
        let view: Value = step
            .view_for(who)
            .and_then(|v| serde_json::from_str(v).ok())
            .unwrap_or(Value::Null);
        let at = pointer.as_deref().unwrap_or("");
        let found = view.pointer(at);
        if found != equals.as_ref() {
            return Err(format!(
                "{at:?} in {who:?}'s view is {}, not {}",
                found.map_or("absent".into(), Value::to_string),
                equals.as_ref().map_or("absent".into(), Value::to_string),
            ));
        }
    }
    Ok(())
}
