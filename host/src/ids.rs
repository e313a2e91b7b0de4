//! Identifier newtypes and their random generation. Ids are kept and passed as these types;
//! lookups take the text a client sent (`&str`), which maps keyed by an id accept as they are.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

/// Lowercase letters and digits without look-alikes (no 0/o, 1/l/i).
const ALPHABET: &[u8] = b"23456789abcdefghjkmnpqrstuvwxyz";

/// `len` random characters of [`ALPHABET`] from the operating system's generator, each
/// equally likely: bytes at or above the largest multiple of the alphabet's size are drawn again
/// rather than folded onto the first letters.
fn random_chars(len: usize) -> String {
    let fair = 256 - 256 % ALPHABET.len();
    let mut out = String::with_capacity(len);
    let mut bytes = [0u8; 64];
    while out.len() < len {
        // The OS generator failing is not recoverable in any useful way for a server.
        getrandom::fill(&mut bytes).expect("the operating system's random generator failed");
        for b in bytes.iter().map(|b| usize::from(*b)).filter(|b| *b < fair) {
            if out.len() == len {
                break;
            }
            out.push(ALPHABET[b % ALPHABET.len()] as char);
        }
    }
    out
}

/// Characters of a private room's id: 26 of 31 letters carry 128.8 bits, beyond guessing.
const SECRET_ROOM_CHARS: usize = 26;

/// A random u64 from the operating system (game seeds, bot entropy).
pub fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).expect("the operating system's random generator failed");
    u64::from_le_bytes(b)
}

/// One SplitMix64 step: cheap, well-mixed entropy from a seed (bots, conformance runs).
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

// Ids are cloned on every action (into room commands and replies): a reference count each.
macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $len:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Arc<str>);

        impl $name {
            /// A new random id.
            pub fn random() -> Self {
                $name(Arc::from(format!("{}{}", $prefix, random_chars($len))))
            }

            /// Wraps an id received from outside (it is only ever compared, never trusted).
            pub fn from_wire(s: &str) -> Self {
                $name(Arc::from(s))
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        // Maps keyed by an id can be searched with the text received from a client.
        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// A room.
    RoomId, "r-", 8
);

impl RoomId {
    /// A new random id for a private room: knowing it is what lets a player in, so it is long
    /// enough that it cannot be guessed.
    pub fn secret() -> Self {
        RoomId(Arc::from(format!("r-{}", random_chars(SECRET_ROOM_CHARS))))
    }
}
id_type!(
    /// A player (one session).
    PlayerId, "p-", 10
);
id_type!(
    /// A session's secret: whoever presents it acts as its player.
    Token, "t-", 32
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_prefixed_and_distinct() {
        // Ids say what they identify and do not repeat.
        let a = RoomId::random();
        assert!(a.as_str().starts_with("r-") && a.as_str().len() == 10);
        assert_ne!(a, RoomId::random());
        assert_eq!(Token::random().as_str().len(), 34);
        assert_eq!(RoomId::secret().as_str().len(), 2 + SECRET_ROOM_CHARS);
    }

    #[test]
    fn every_character_is_equally_likely() {
        // Folding bytes onto the alphabet with % made its first 8 letters 9/8 as likely as the
        // rest; drawing again keeps them even (each count within 5% of the mean over 310,000).
        let text = random_chars(310_000);
        let mut counts = [0usize; 256];
        for b in text.bytes() {
            counts[usize::from(b)] += 1;
        }
        let mean = 310_000 / ALPHABET.len();
        for c in ALPHABET {
            let n = counts[usize::from(*c)];
            assert!(
                n.abs_diff(mean) < mean / 20,
                "{} came {n} times",
                *c as char
            );
        }
    }
}
