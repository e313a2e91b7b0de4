//! Another version of a game's rules against a recorded game: where would it have played the
//! game differently? The machinery of `tabula replay RECORD --module OTHER` and of the server's
//! shadow replay gate.

use super::{GameRecord, RecordedInput};
use crate::rules::{CallContext, Module};
use serde::Serialize;

/// Where another version of a game's rules parts from a recorded game (see [`shadow`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Divergence {
    /// The 1-based index of the input in the record (0: the start).
    pub index: usize,
    /// That input (absent for the start or the end).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<RecordedInput>,
    /// What happened.
    pub reason: String,
}

/// Replays the players' inputs of `record` from its start under `module`, another version of
/// the game (states of two versions cannot be compared byte for byte, so hashes are not
/// checked): the game diverges where `module` refuses or faults on an input that the recorded
/// version accepted, or when it ends the game with another result than the record's `result`
/// (for a finished game). `None`: it would have played the game the same way. Swaps and
/// rollbacks in the record are skipped: the question is how `module` would have played all of
/// it.
pub fn shadow(record: &GameRecord, module: &Module, result: Option<&str>) -> Option<Divergence> {
    let ctx = |now: u64| CallContext {
        now,
        viewers: Vec::new(),
    };
    let mut step = match module.start(&record.setup(), &ctx(record.started_at)) {
        Ok(step) => step,
        Err(e) => {
            return Some(Divergence {
                index: 0,
                input: None,
                reason: format!("{} cannot start the game: {e}", module.label()),
            });
        }
    };
    for (i, input) in record.inputs.iter().enumerate() {
        let next = match input {
            RecordedInput::Act {
                seat, action, at, ..
            } => module.act(&step.state, *seat, action, &ctx(*at)),
            RecordedInput::Timer { at, .. } => module.timer(&step.state, &ctx(*at)),
            _ => continue,
        };
        match next {
            Ok(next) => step = next,
            Err(e) => {
                return Some(Divergence {
                    index: i + 1,
                    input: Some(input.clone()),
                    reason: format!("{} refuses it: {e}", module.label()),
                });
            }
        }
    }
    let parse = |r: &str| serde_json::from_str::<serde_json::Value>(r).ok();
    match (result, step.result.as_deref()) {
        (Some(recorded), Some(found)) if parse(recorded) != parse(found) => Some(Divergence {
            index: record.inputs.len(),
            input: None,
            reason: format!("the game ends with {found} instead of {recorded}"),
        }),
        (Some(recorded), None) => Some(Divergence {
            index: record.inputs.len(),
            input: None,
            reason: format!("the game is not over, while it ended with {recorded}"),
        }),
        _ => None,
    }
}
