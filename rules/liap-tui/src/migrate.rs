//! Taking over a game that an older version of these rules played: turning its state body into
//! this version's [`State`]. Nothing else: a migration deals nothing, emits nothing and changes
//! no phase or timer, so the game continues exactly where it stood (the SDK then runs
//! `State::check` on the result).
//!
//! State versions:
//! - 1 (module 1.0.0): no round limit. Its layout is version 2's without the last field,
//!   `max_rounds` — which is why that field is last and not in `Config`, the first field: postcard
//!   writes fields in order with no framing, so a version-1 body followed by the encoding of a
//!   `u32` is a version-2 body.
//! - 2 (module 2.0.0): the current layout; the SDK reads it without calling `migrate`.

use crate::options::DEFAULT_MAX_ROUNDS;
use crate::state::State;
use tabula_sdk::{RuleError, decode_body, encode_state, split_version};

/// The state that the body of a state of version `from` becomes under these rules.
pub fn from_version(from: u32, body: &[u8]) -> Result<State, RuleError> {
    match from {
        1 => from_v1(body),
        other => Err(RuleError::UnsupportedVersion(other)),
    }
}

/// Version 1 → 2: the rule of the issue that introduced the round limit. A game migrated in
/// round `k` keeps the default limit counted from round 1, as if it had been set from the start;
/// one already past it ends after its current round. So the limit is `max(20, k)`: round 25's
/// game ends when round 25's scoring pause ends, and round 3's after round 20. A game that is
/// already over stays over (it reached the win score, which still ends a game).
fn from_v1(body: &[u8]) -> Result<State, RuleError> {
    // The default's postcard encoding is what `encode_state` writes after its version header.
    let encoded = encode_state(0, &DEFAULT_MAX_ROUNDS);
    let (_, tail) = split_version(&encoded)?;
    let mut bytes = Vec::with_capacity(body.len() + tail.len());
    bytes.extend_from_slice(body);
    bytes.extend_from_slice(tail);
    let mut state: State = decode_body(&bytes)?;
    state.max_rounds = state.max_rounds.max(state.round);
    Ok(state)
}
