//! Wire types of the WebSocket protocol (`docs/protocol.md`): what clients send, what the server
//! answers, and the closed set of error codes. Pure data: no sockets, no rooms.
//!
//! Rooms serialise their updates with [`UpdateFrame`] themselves, once per distinct payload,
//! so this module is shared by `api` and `room`.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// Longest accepted `request_id`.
pub const MAX_REQUEST_ID: usize = 64;

/// A message from a client.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMsg {
    /// Open or resume a session.
    Hello {
        /// Client's id for the reply.
        request_id: Option<String>,
        /// Display name for a new session.
        name: Option<String>,
        /// Token of an existing session.
        token: Option<String>,
    },
    /// List installed games.
    ListGames {
        /// Client's id for the reply.
        request_id: Option<String>,
    },
    /// List listed rooms.
    ListRooms {
        /// Client's id for the reply.
        request_id: Option<String>,
        /// Only rooms of this game.
        game: Option<String>,
        /// Only rooms with this status.
        status: Option<String>,
    },
    /// Create a room and take seat 0.
    CreateRoom {
        /// Client's id for the reply.
        request_id: Option<String>,
        /// Game name.
        game: String,
        /// Rules version (default: the newest).
        version: Option<String>,
        /// Game options.
        options: Option<serde_json::Value>,
        /// Number of seats.
        seats: Option<u32>,
        /// How many seats bots take.
        bots: Option<u32>,
        /// Unlisted room.
        private: Option<bool>,
        /// Client-chosen seed (if allowed).
        seed: Option<u64>,
        /// Per-room turn deadline for humans.
        turn_deadline_ms: Option<u64>,
    },
    /// Take a seat.
    Join {
        /// Client's id for the reply.
        request_id: Option<String>,
        /// The room.
        room: String,
        /// The seat (default: the first free).
        seat: Option<u32>,
    },
    /// Give up a seat or stop watching.
    Leave {
        /// Client's id for the reply.
        request_id: Option<String>,
        /// The room.
        room: String,
    },
    /// Follow a room as a spectator.
    Watch {
        /// Client's id for the reply.
        request_id: Option<String>,
        /// The room.
        room: String,
    },
    /// Seat a bot (creator, before the start).
    AddBot {
        /// Client's id for the reply.
        request_id: Option<String>,
        /// The room.
        room: String,
        /// The seat (default: the first free).
        seat: Option<u32>,
    },
    /// Remove a bot (creator, before the start).
    RemoveBot {
        /// Client's id for the reply.
        request_id: Option<String>,
        /// The room.
        room: String,
        /// The bot's seat.
        seat: u32,
    },
    /// Play an action.
    Act {
        /// Required: the idempotency key.
        request_id: String,
        /// The room.
        room: String,
        /// The game's action JSON.
        action: serde_json::Value,
        /// Refuse unless the room is at this sequence number.
        expected_seq: Option<u64>,
    },
    /// Catch up after a reconnect.
    Resume {
        /// Client's id for the reply.
        request_id: Option<String>,
        /// The room.
        room: String,
        /// The last sequence number the client saw.
        last_seq: u64,
    },
}

/// The message types [`ClientMsg`] knows, to tell `unknown_type` from `bad_message`.
pub const CLIENT_TYPES: &[&str] = &[
    "hello",
    "list_games",
    "list_rooms",
    "create_room",
    "join",
    "leave",
    "watch",
    "add_bot",
    "remove_bot",
    "act",
    "resume",
];

impl ClientMsg {
    /// The request id, if any.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            ClientMsg::Act { request_id, .. } => Some(request_id),
            ClientMsg::Hello { request_id, .. }
            | ClientMsg::ListGames { request_id }
            | ClientMsg::ListRooms { request_id, .. }
            | ClientMsg::CreateRoom { request_id, .. }
            | ClientMsg::Join { request_id, .. }
            | ClientMsg::Leave { request_id, .. }
            | ClientMsg::Watch { request_id, .. }
            | ClientMsg::AddBot { request_id, .. }
            | ClientMsg::RemoveBot { request_id, .. }
            | ClientMsg::Resume { request_id, .. } => request_id.as_deref(),
        }
    }
}

/// An `act` frame read in place: the message every player sends many times a second skips the
/// buffering of the tagged [`ClientMsg`] and keeps the action as the client's text. Frames it
/// does not fit (another type, escaped strings, bad fields) go through [`ClientMsg`], which
/// accepts the same `act` frames and explains what is wrong with the others.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActFrame<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    /// The client's id for this request.
    pub request_id: &'a str,
    /// The room's id.
    pub room: &'a str,
    /// The action, any JSON value, as the client wrote it.
    #[serde(borrow)]
    pub action: &'a RawValue,
    /// Refuse the action unless the room is at this sequence number.
    pub expected_seq: Option<u64>,
}

impl<'a> ActFrame<'a> {
    /// The frame, when it is a well-formed `act`.
    pub fn parse(text: &'a str) -> Option<Self> {
        serde_json::from_str::<ActFrame>(text)
            .ok()
            .filter(|a| a.kind == "act" && a.request_id.len() <= MAX_REQUEST_ID)
    }
}

/// The closed set of error codes (see `docs/protocol.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Not a JSON object.
    BadJson,
    /// No such message type.
    UnknownType,
    /// Missing, mistyped or out-of-range field.
    BadMessage,
    /// Frame larger than accepted.
    FrameTooLarge,
    /// `hello` first.
    NotAuthenticated,
    /// Unknown token.
    BadToken,
    /// No such game or version.
    UnknownGame,
    /// Options refused.
    BadOptions,
    /// Client seeds not allowed.
    SeedNotAllowed,
    /// No such room.
    UnknownRoom,
    /// No free seat.
    RoomFull,
    /// Seat not free.
    SeatTaken,
    /// Not seated or watching.
    NotInRoom,
    /// Creator only.
    NotCreator,
    /// Already started.
    AlreadyStarted,
    /// Not started.
    NotStarted,
    /// Not this seat's turn.
    NotYourTurn,
    /// Against the rules.
    Illegal,
    /// Action not understood.
    MalformedAction,
    /// Game over.
    GameOver,
    /// Stale expected sequence.
    Stale,
    /// Room inbox full.
    Busy,
    /// Too many messages.
    RateLimited,
    /// Room paused.
    RoomPaused,
    /// The module failed on this action.
    ModuleError,
    /// Server-side failure.
    Internal,
}

impl ErrorCode {
    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        // Mirrors the serde names; a unit test keeps the two in step.
        match self {
            ErrorCode::BadJson => "bad_json",
            ErrorCode::UnknownType => "unknown_type",
            ErrorCode::BadMessage => "bad_message",
            ErrorCode::FrameTooLarge => "frame_too_large",
            ErrorCode::NotAuthenticated => "not_authenticated",
            ErrorCode::BadToken => "bad_token",
            ErrorCode::UnknownGame => "unknown_game",
            ErrorCode::BadOptions => "bad_options",
            ErrorCode::SeedNotAllowed => "seed_not_allowed",
            ErrorCode::UnknownRoom => "unknown_room",
            ErrorCode::RoomFull => "room_full",
            ErrorCode::SeatTaken => "seat_taken",
            ErrorCode::NotInRoom => "not_in_room",
            ErrorCode::NotCreator => "not_creator",
            ErrorCode::AlreadyStarted => "already_started",
            ErrorCode::NotStarted => "not_started",
            ErrorCode::NotYourTurn => "not_your_turn",
            ErrorCode::Illegal => "illegal",
            ErrorCode::MalformedAction => "malformed_action",
            ErrorCode::GameOver => "game_over",
            ErrorCode::Stale => "stale",
            ErrorCode::Busy => "busy",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::RoomPaused => "room_paused",
            ErrorCode::ModuleError => "module_error",
            ErrorCode::Internal => "internal",
        }
    }
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

    /// The `error` frame for this error.
    pub fn frame(&self, request_id: Option<&str>) -> String {
        serde_json::json!({
            "type": "error",
            "code": self.code,
            "message": self.message,
            "request_id": request_id,
            "retry_after_ms": self.retry_after_ms,
        })
        .to_string()
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

/// An `update` frame, borrowed from the room's data so it is built without copies.
#[derive(Serialize)]
pub struct UpdateFrame<'a> {
    /// Always `update`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Room id.
    pub room: &'a str,
    /// Sequence number after the step.
    pub seq: u64,
    /// Phase after the step.
    pub phase: &'a str,
    /// `running`, `paused` or `finished`.
    pub status: &'a str,
    /// Seats awaited.
    pub awaiting: &'a [u32],
    /// The recipient's view (raw JSON), or null for missed steps replayed on resume.
    pub view: Option<&'a RawValue>,
    /// Events for the recipient (raw JSON each).
    pub events: Vec<&'a RawValue>,
    /// The game's result once finished.
    pub result: Option<&'a RawValue>,
    /// True when the update replaces everything the client knew.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub resync: bool,
}

/// The reply to an accepted action (the hot path: serialised without an intermediate `Value`).
#[derive(Serialize)]
pub struct AckFrame<'a> {
    /// Always `ack`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The action's request id.
    pub request_id: &'a str,
    /// Room id.
    pub room: &'a str,
    /// The room's sequence number after the action.
    pub seq: u64,
}

/// Parses JSON text produced by a module into a raw value, or `null` if it is not JSON.
pub fn raw(text: &str) -> &RawValue {
    serde_json::from_str::<&RawValue>(text).unwrap_or_else(|_| null_raw())
}

fn null_raw() -> &'static RawValue {
    static NULL: std::sync::OnceLock<Box<RawValue>> = std::sync::OnceLock::new();
    NULL.get_or_init(|| RawValue::from_string("null".into()).expect("null is JSON"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_on_the_wire_match_their_names() {
        // The documented codes are exactly what clients receive.
        for code in [
            ErrorCode::BadJson,
            ErrorCode::NotYourTurn,
            ErrorCode::RateLimited,
            ErrorCode::ModuleError,
        ] {
            assert_eq!(serde_json::to_value(code).expect("json"), code.as_str());
        }
        let frame: serde_json::Value =
            serde_json::from_str(&ApiError::new(ErrorCode::Stale, "old").frame(Some("r1")))
                .expect("json");
        assert_eq!(frame["type"], "error");
        assert_eq!(frame["code"], "stale");
        assert_eq!(frame["request_id"], "r1");
    }

    #[test]
    fn the_act_shortcut_reads_exactly_what_the_full_parser_reads() {
        // Whatever an `act` frame's spelling, the shortcut either reads the same request as the
        // full parser or leaves the frame to it; it never accepts a frame the full parser refuses.
        let frames = [
            r#"{"type":"act","request_id":"r1","room":"r-a","action":{"add":1}}"#,
            r#"{ "action" : [1, {"b": null}] , "expected_seq": 7, "room":"r-a","request_id":"r2","type":"act"}"#,
            r#"{"type":"act","request_id":"r3","room":"r-a","action":"pass","expected_seq":null}"#,
            r#"{"type":"act","request_id":"r\u0034","room":"r-a","action":1}"#,
            r#"{"type":"act","request_id":"r5","room":"r-a"}"#,
            r#"{"type":"act","room":"r-a","action":1}"#,
            r#"{"type":"act","request_id":"r6","room":"r-a","action":1,"extra":0}"#,
            r#"{"type":"act","request_id":"r7","room":"r-a","action":1,"action":2}"#,
            r#"{"type":"join","request_id":"r8","room":"r-a"}"#,
            r#"{"type":"act","request_id":"r9","room":5,"action":1}"#,
        ];
        let mut shortcuts = 0;
        for text in frames {
            let full = serde_json::from_str::<ClientMsg>(text);
            let Some(act) = ActFrame::parse(text) else {
                continue;
            };
            shortcuts += 1;
            let Ok(ClientMsg::Act {
                request_id,
                room,
                action,
                expected_seq,
            }) = full
            else {
                panic!("the shortcut accepted {text}, the full parser did not");
            };
            assert_eq!(act.request_id, request_id, "{text}");
            assert_eq!(act.room, room, "{text}");
            assert_eq!(act.expected_seq, expected_seq, "{text}");
            let shortcut_action: serde_json::Value =
                serde_json::from_str(act.action.get()).expect("raw JSON");
            assert_eq!(shortcut_action, action, "{text}");
        }
        assert_eq!(shortcuts, 3, "the three plain act frames take the shortcut");
    }
}
