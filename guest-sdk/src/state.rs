//! Versioned state encoding: a 4-byte little-endian state version, then the postcard body.
//!
//! The version comes first so that `migrate` in a later module version can tell which layout it
//! is reading before decoding anything.

use crate::RuleError;
use serde::{Serialize, de::DeserializeOwned};

/// Encodes `state` with its state version in front.
pub fn encode_state<S: Serialize>(version: u32, state: &S) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(&version.to_le_bytes());
    // Serialising an in-memory value into a Vec cannot fail for serde-derived types; should a
    // hand-written Serialize fail, the bare header makes the next decode report a bad state.
    postcard::to_extend(state, out).unwrap_or_else(|_| version.to_le_bytes().to_vec())
}

/// Splits state bytes into their version and body.
pub fn split_version(bytes: &[u8]) -> Result<(u32, &[u8]), RuleError> {
    match bytes.split_first_chunk::<4>() {
        Some((v, body)) => Ok((u32::from_le_bytes(*v), body)),
        None => Err(RuleError::BadState(format!(
            "state is {} bytes, too short for its version header",
            bytes.len()
        ))),
    }
}

/// Decodes a body (the bytes after the version) as `S`.
pub fn decode_body<S: DeserializeOwned>(body: &[u8]) -> Result<S, RuleError> {
    postcard::from_bytes(body)
        .map_err(|e| RuleError::BadState(format!("state does not decode: {e}")))
}

/// Decodes state bytes that must be of `version`.
pub fn decode_state<S: DeserializeOwned>(version: u32, bytes: &[u8]) -> Result<S, RuleError> {
    let (found, body) = split_version(bytes)?;
    if found != version {
        return Err(RuleError::BadState(format!(
            "state has version {found}, these rules read version {version}: migrate it first"
        )));
    }
    decode_body(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_other_versions() {
        // A state written as version 2 reads back as version 2 and is refused as version 3.
        let bytes = encode_state(2, &(7u8, String::from("x")));
        assert_eq!(split_version(&bytes).map(|(v, _)| v), Ok(2));
        assert_eq!(decode_state::<(u8, String)>(2, &bytes), Ok((7, "x".into())));
        assert!(matches!(
            decode_state::<(u8, String)>(3, &bytes),
            Err(RuleError::BadState(_))
        ));
        assert!(matches!(
            split_version(&[1, 2]),
            Err(RuleError::BadState(_))
        ));
    }
}
