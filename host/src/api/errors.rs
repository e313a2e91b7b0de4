//! Wire errors and close codes: the closed set of error codes (`docs/protocol.md`), the one
//! mapping of room and session refusals to them, and the one mapping of close reasons to
//! WebSocket close codes. Internal details never reach a client.

use crate::room::{CloseReason, RoomError};
use crate::session::SessionError;
use serde::{Deserialize, Serialize};

/// Declares the error codes once: the enum, its wire names and the list of all of them.
macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident = $name:literal,)*) => {
        /// The closed set of error codes (see `docs/protocol.md`).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum ErrorCode {
            $($(#[$doc])* #[serde(rename = $name)] $variant,)*
        }

        impl ErrorCode {
            /// Every code.
            pub const ALL: &[ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The code with this wire name.
            pub fn named(name: &str) -> Option<ErrorCode> {
                Self::ALL.iter().copied().find(|c| c.as_str() == name)
            }

            /// The code as it appears on the wire.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $name,)*
                }
            }
        }
    };
}

error_codes! {
    /// Not a JSON object.
    BadJson = "bad_json",
    /// No such message type.
    UnknownType = "unknown_type",
    /// Missing, mistyped or out-of-range field.
    BadMessage = "bad_message",
    /// Frame larger than accepted.
    FrameTooLarge = "frame_too_large",
    /// `hello` first.
    NotAuthenticated = "not_authenticated",
    /// A second `hello` on a connection, for another session.
    AlreadySignedIn = "already_signed_in",
    /// Unknown token.
    BadToken = "bad_token",
    /// Too many sessions opened from one address.
    TooManySessions = "too_many_sessions",
    /// No such game or version.
    UnknownGame = "unknown_game",
    /// The version asked for is quarantined.
    VersionQuarantined = "version_quarantined",
    /// Options refused.
    BadOptions = "bad_options",
    /// Client seeds not allowed.
    SeedNotAllowed = "seed_not_allowed",
    /// The creator has as many rooms open as allowed (per player or per address).
    TooManyRooms = "too_many_rooms",
    /// The server has as many rooms as it takes.
    ServerFull = "server_full",
    /// No such room.
    UnknownRoom = "unknown_room",
    /// No free seat.
    RoomFull = "room_full",
    /// Seat not free.
    SeatTaken = "seat_taken",
    /// The room has as many spectators as it takes.
    TooManySpectators = "too_many_spectators",
    /// Not seated or watching.
    NotInRoom = "not_in_room",
    /// Creator only.
    NotCreator = "not_creator",
    /// Already started.
    AlreadyStarted = "already_started",
    /// Not started.
    NotStarted = "not_started",
    /// Not this seat's turn.
    NotYourTurn = "not_your_turn",
    /// Against the rules.
    Illegal = "illegal",
    /// Action not understood.
    MalformedAction = "malformed_action",
    /// Game over.
    GameOver = "game_over",
    /// Stale expected sequence.
    Stale = "stale",
    /// Room inbox full.
    Busy = "busy",
    /// Storage is behind: nothing new is taken for now (nothing acknowledged is lost).
    Unavailable = "unavailable",
    /// Too many messages.
    RateLimited = "rate_limited",
    /// Room paused.
    RoomPaused = "room_paused",
    /// The module failed on this action.
    ModuleError = "module_error",
    /// Server-side failure.
    Internal = "internal",
}

/// A typed refusal: code plus a message for people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// The code.
    pub code: ErrorCode,
    /// What happened, for people.
    pub message: String,
    /// For `rate_limited`.
    pub retry_after_ms: Option<u64>,
}

impl ApiError {
    /// An error with a code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            retry_after_ms: None,
        }
    }
}

impl ApiError {
    /// `rate_limited`, to be tried again after `wait`.
    pub fn rate_limited(message: &str, wait: std::time::Duration) -> Self {
        ApiError {
            retry_after_ms: Some(wait.as_millis().max(1) as u64),
            ..ApiError::new(ErrorCode::RateLimited, message)
        }
    }
}

/// How long a rate limiter's refusal asks to wait, from now.
pub fn wait_time(
    not_until: &governor::NotUntil<
        <governor::clock::DefaultClock as governor::clock::Clock>::Instant,
    >,
) -> std::time::Duration {
    not_until.wait_time_from(governor::clock::Clock::now(
        &governor::clock::DefaultClock::default(),
    ))
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

/// The wire code of a room's refusal: the code named by its kind (a test checks that every
/// kind names a code).
pub fn code_of(e: &RoomError) -> ErrorCode {
    ErrorCode::named(e.kind()).unwrap_or(ErrorCode::Internal)
}

impl From<RoomError> for ApiError {
    fn from(e: RoomError) -> Self {
        ApiError::from(&e)
    }
}

impl From<&RoomError> for ApiError {
    fn from(e: &RoomError) -> Self {
        ApiError::new(code_of(e), e.to_string())
    }
}

impl From<SessionError> for ApiError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::UnknownToken => ApiError::new(ErrorCode::BadToken, e.to_string()),
            SessionError::TooMany => ApiError::new(ErrorCode::TooManySessions, e.to_string()),
            SessionError::Unavailable => ApiError::new(ErrorCode::Unavailable, e.to_string()),
        }
    }
}

/// How the server closes a connection for a reason: the WebSocket close code, the reason
/// text, and the label the closes are counted under in metrics.
fn close_of(reason: CloseReason) -> (u16, &'static str, &'static str) {
    match reason {
        CloseReason::Shutdown => (1012, "server restarting", "shutdown"),
        CloseReason::Idle => (4000, "idle timeout: no sign of life", "idle"),
        CloseReason::Replaced => (4001, "replaced by a newer connection", "replaced"),
        CloseReason::TooBig => (1009, "message too big", "too_big"),
        CloseReason::Flood => (4008, "too many messages", "flood"),
        CloseReason::TooSlow => (4009, "too slow to keep up", "too_slow"),
        CloseReason::NoHello => (4002, "no hello in time", "no_hello"),
        CloseReason::BadUtf8 => (1007, "text frame is not UTF-8", "bad_utf8"),
        CloseReason::Protocol => (1002, "WebSocket protocol error", "protocol"),
    }
}

/// The WebSocket close code and reason text for a close reason (`None`: shutdown). A shutdown
/// is a restart as far as clients know: their games are not over.
pub fn close_frame(reason: Option<CloseReason>) -> (u16, &'static str) {
    let (code, text, _) = close_of(reason.unwrap_or(CloseReason::Shutdown));
    (code, text)
}

/// The metrics label of a close reason.
pub fn close_label(reason: CloseReason) -> &'static str {
    close_of(reason).2
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One of every room refusal.
    fn every_room_error() -> Vec<RoomError> {
        vec![
            RoomError::UnknownRoom { room: "r-x".into() },
            RoomError::Closed,
            RoomError::Busy,
            RoomError::Unavailable,
            RoomError::UnknownGame {
                game: "g".into(),
                version: Some("9".into()),
            },
            RoomError::BadOptions { reason: "r".into() },
            RoomError::SeedNotAllowed,
            RoomError::BadRequest { reason: "r".into() },
            RoomError::TooManyRooms {
                max: 1,
                per: "player",
            },
            RoomError::ServerFull,
            RoomError::AlreadyStarted,
            RoomError::SeatTaken {
                seat: 1,
                state: "taken",
            },
            RoomError::RoomFull,
            RoomError::TooManySpectators { max: 1 },
            RoomError::NotInRoom { seated_only: true },
            RoomError::NotCreator,
            RoomError::NotStarted,
            RoomError::Paused { reason: "r".into() },
            RoomError::GameOver,
            RoomError::Stale {
                seq: 2,
                expected: 1,
            },
            RoomError::NotYourTurn,
            RoomError::Illegal { reason: "r".into() },
            RoomError::MalformedAction { reason: "r".into() },
            RoomError::ModuleFailed {
                during: "on this action",
                kind: "trap",
            },
        ]
    }

    #[test]
    fn every_error_code_has_one_wire_name_and_is_documented() {
        // Clients receive exactly the documented codes: each code's serde name is its wire name,
        // names are distinct, and docs/protocol.md lists every one of them and no other.
        let doc = include_str!("../../../docs/protocol.md");
        let documented: Vec<&str> = doc
            .lines()
            .skip_while(|l| !l.starts_with("| code | meaning |"))
            .skip(2)
            .take_while(|l| l.starts_with("| `"))
            .filter_map(|l| l.split('`').nth(1))
            .collect();
        let mut names: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        for code in ErrorCode::ALL {
            assert_eq!(
                serde_json::to_value(code).expect("json"),
                code.as_str(),
                "{code:?}"
            );
            let back: ErrorCode =
                serde_json::from_value(code.as_str().into()).expect("a wire name reads back");
            assert_eq!(back, *code);
        }
        names.sort_unstable();
        let mut sorted_doc = documented.clone();
        sorted_doc.sort_unstable();
        assert_eq!(names, sorted_doc, "docs/protocol.md's code table");
    }

    #[test]
    fn room_refusals_map_to_the_codes_their_rooms_count_them_under() {
        // The code a client receives for a refusal is the one the room's metrics count it under,
        // and every refusal's message says what happened.
        for e in every_room_error() {
            let api = ApiError::from(&e);
            assert_ne!(api.code, ErrorCode::Internal, "{e:?} names no code");
            assert_eq!(api.code.as_str(), e.kind(), "{e:?}");
            assert!(!api.message.is_empty());
        }
        assert_eq!(
            ApiError::from(SessionError::UnknownToken).code,
            ErrorCode::BadToken
        );
    }

    #[test]
    fn every_close_reason_has_a_documented_code() {
        // Each way the server closes a connection has its own code, listed in the protocol.
        let doc = include_str!("../../../docs/protocol.md");
        let mut codes: Vec<u16> = Vec::new();
        for reason in CloseReason::ALL {
            let (code, text) = close_frame(Some(reason));
            assert!(
                doc.contains(&code.to_string()),
                "{code} ({text}) is documented"
            );
            assert!(!codes.contains(&code), "{code} is used once");
            codes.push(code);
        }
        assert_eq!(close_frame(None).0, 1012);
    }
}
