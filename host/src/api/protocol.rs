//! Wire types of the WebSocket protocol (`docs/protocol.md`), all of them: what clients send
//! ([`ClientMsg`], and [`ActFrame`] for the hot path) and everything the server sends
//! ([`ServerMsg`]), with the encoding of the rooms' typed messages ([`encode`]). Pure data: no
//! sockets. Error codes and close codes are in [`super::errors`].

use super::errors::ApiError;
use crate::ids::{PlayerId, RoomId, Token};
use crate::modules::GameListing;
use crate::room::{Outgoing, RoomInfo, Update};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// Rooms in a `list_rooms` page unless the request asks for fewer or more.
pub const ROOMS_PER_PAGE: usize = 50;
/// The most rooms in one `list_rooms` page.
pub const MAX_ROOMS_PER_PAGE: usize = 200;

/// Longest accepted `request_id`, in characters.
pub const MAX_REQUEST_ID: usize = 64;

/// Whether a character may not appear in names and request ids: control characters (which
/// forge lines in logs and move terminals' cursors) and the marks that reverse the direction of
/// text (which make one name look like another).
pub fn forbidden_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        )
}

/// Whether a request id is acceptable: at most [`MAX_REQUEST_ID`] characters, none forbidden.
pub fn request_id_ok(id: &str) -> bool {
    if id.len() <= MAX_REQUEST_ID && id.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return true; // the usual case: short printable ASCII
    }
    id.len() <= 4 * MAX_REQUEST_ID
        && id.chars().count() <= MAX_REQUEST_ID
        && !id.chars().any(forbidden_char)
}

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
        /// At most this many rooms (default [`ROOMS_PER_PAGE`], at most [`MAX_ROOMS_PER_PAGE`]).
        limit: Option<usize>,
        /// Rooms after this one: the `next` of the previous page.
        after: Option<String>,
    },
    /// List rooms as `ListRooms` does, then be sent the page again (`lobby`) whenever it
    /// changes, at most once per `room.info_interval_ms`. One subscription per connection: a new
    /// one replaces the last.
    SubscribeRooms {
        /// Client's id for the reply.
        request_id: Option<String>,
        /// Only rooms of this game.
        game: Option<String>,
        /// Only rooms with this status.
        status: Option<String>,
        /// At most this many rooms (default [`ROOMS_PER_PAGE`], at most [`MAX_ROOMS_PER_PAGE`]).
        limit: Option<usize>,
        /// Rooms after this one: the `next` of the previous page.
        after: Option<String>,
    },
    /// Ends the connection's lobby subscription.
    UnsubscribeRooms {
        /// Client's id for the reply.
        request_id: Option<String>,
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
    "subscribe_rooms",
    "unsubscribe_rooms",
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
            | ClientMsg::SubscribeRooms { request_id, .. }
            | ClientMsg::UnsubscribeRooms { request_id }
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
            .filter(|a| a.kind == "act" && request_id_ok(a.request_id))
    }
}

/// Everything the server sends, by `type`.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg<'a> {
    /// The reply to `hello`.
    Welcome {
        /// The request's id.
        request_id: Option<&'a str>,
        /// The player.
        player: &'a PlayerId,
        /// Their name.
        name: &'a str,
        /// Their token.
        token: &'a Token,
        /// Whether an existing session was resumed.
        resumed: bool,
        /// The open rooms in which the player holds a seat.
        rooms: Vec<SeatedRoom<'a>>,
    },
    /// The reply to `list_games`.
    Games {
        /// The request's id.
        request_id: Option<&'a str>,
        /// Installed games.
        games: &'a [GameListing],
    },
    /// The reply to `list_rooms`.
    Rooms {
        /// The request's id.
        request_id: Option<&'a str>,
        /// Listed rooms.
        rooms: &'a [RoomInfo],
        /// Where the next page starts, when there is one.
        #[serde(skip_serializing_if = "Option::is_none")]
        next: Option<&'a RoomId>,
    },
    /// The reply to `create_room`, `join`, `watch`, `resume`, `add_bot`, `remove_bot`, and the
    /// unsolicited notice that a room changed (then without `request_id`).
    Room {
        /// The request's id (absent from unsolicited notices).
        #[serde(skip_serializing_if = "Option::is_none")]
        request_id: Option<Option<&'a str>>,
        /// The room.
        room: &'a RoomInfo,
        /// The requester's seat (`null` for spectators); absent from bot changes and notices.
        #[serde(skip_serializing_if = "Option::is_none")]
        seat: Option<Option<u32>>,
    },
    /// A lobby subscription's page, sent again when it changed.
    Lobby {
        /// The rooms.
        rooms: &'a [RoomInfo],
        /// Where the next page starts, when there is one.
        #[serde(skip_serializing_if = "Option::is_none")]
        next: Option<&'a RoomId>,
    },
    /// The reply to `unsubscribe_rooms`.
    Unsubscribed {
        /// The request's id.
        request_id: Option<&'a str>,
    },
    /// The reply to `leave`.
    Left {
        /// The request's id.
        request_id: Option<&'a str>,
        /// The room left.
        room: &'a RoomId,
    },
    /// A game update.
    Update(UpdateFrame<'a>),
    /// An accepted action.
    Ack {
        /// The action's request id.
        request_id: &'a str,
        /// The room.
        room: &'a str,
        /// The room's sequence number after the action.
        seq: u64,
    },
    /// A refused request.
    Error {
        /// The code.
        code: super::errors::ErrorCode,
        /// What happened, for people.
        message: &'a str,
        /// The request's id.
        request_id: Option<&'a str>,
        /// For `rate_limited`.
        retry_after_ms: Option<u64>,
    },
    /// A room closed.
    RoomClosed {
        /// The room.
        room: &'a RoomId,
    },
}

/// The `type` of every message the server sends.
pub const SERVER_TYPES: &[&str] = &[
    "welcome",
    "games",
    "rooms",
    "lobby",
    "unsubscribed",
    "room",
    "left",
    "update",
    "ack",
    "error",
    "room_closed",
];

impl ServerMsg<'_> {
    /// The message as a text frame.
    pub fn encode(&self) -> Bytes {
        self.encode_boxed().into()
    }

    /// The message as a text frame, in a box.
    pub fn encode_boxed(&self) -> Box<[u8]> {
        // Serialising these types cannot fail: no maps with non-string keys, no failing impls.
        serde_json::to_vec(self).unwrap_or_default().into()
    }
}

impl<'a> ServerMsg<'a> {
    /// The `error` message for `e`.
    pub fn error(e: &'a ApiError, request_id: Option<&'a str>) -> Self {
        ServerMsg::Error {
            code: e.code,
            message: &e.message,
            request_id,
            retry_after_ms: e.retry_after_ms,
        }
    }
}

/// A room in which the player holds a seat, as `welcome` lists it: the room's info and the seat.
#[derive(Serialize)]
pub struct SeatedRoom<'a> {
    /// The room.
    #[serde(flatten)]
    pub room: &'a RoomInfo,
    /// The player's seat in it.
    pub seat: u32,
}

/// An `update` frame, borrowed from an [`Update`] so it is built without copies.
#[derive(Serialize)]
pub struct UpdateFrame<'a> {
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
    /// When the game moves on by itself, ms since the epoch (null: only a move will).
    pub deadline_at: Option<u64>,
    /// The server's clock as the update was written, ms since the epoch (a client counts down
    /// to `deadline_at` with it, whatever its own clock says).
    pub now: u64,
}

fn update_frame(u: &Update) -> Bytes {
    ServerMsg::Update(UpdateFrame {
        room: u.room.as_str(),
        seq: u.seq,
        phase: &u.phase,
        status: u.status.as_str(),
        awaiting: &u.awaiting,
        view: u.view.as_deref().map(raw),
        events: u.events.iter().map(|e| raw(e)).collect(),
        result: u.result.as_deref().map(raw),
        resync: u.resync,
        deadline_at: u.deadline_at,
        now: crate::store::now_ms(),
    })
    .encode()
}

/// The frame for a message from a room. A payload shared by several recipients is encoded by
/// the first of them and its bytes reused by the others.
pub fn encode(msg: Outgoing) -> Bytes {
    match msg {
        Outgoing::Frame(bytes) => Bytes::from(bytes),
        Outgoing::Update(shared) => shared.encoded(update_frame),
        Outgoing::Ack(ack) => ServerMsg::Ack {
            request_id: &ack.request_id,
            room: ack.room.as_str(),
            seq: ack.seq,
        }
        .encode(),
        Outgoing::Refused(refusal) => {
            ServerMsg::error(&ApiError::from(&refusal.error), Some(&refusal.request_id)).encode()
        }
        Outgoing::Joined(joined) => ServerMsg::Room {
            request_id: Some(joined.request_id.as_deref()),
            room: &joined.info,
            seat: Some(joined.seat),
        }
        .encode(),
        Outgoing::Room(shared) => shared.encoded(|room| {
            ServerMsg::Room {
                request_id: None,
                room,
                seat: None,
            }
            .encode()
        }),
        Outgoing::RoomClosed(room) => ServerMsg::RoomClosed { room: &room }.encode(),
    }
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

    use crate::api::errors::ErrorCode;
    use crate::room::RoomStatus;

    #[test]
    fn every_message_type_and_status_is_the_documented_one() {
        // Every message type a client may send or receive, and every room status, is spelled on
        // the wire as docs/protocol.md spells it.
        let doc = include_str!("../../../docs/protocol.md");
        for kind in CLIENT_TYPES.iter().chain(SERVER_TYPES) {
            assert!(
                doc.contains(&format!("\"{kind}\"")) || doc.contains(&format!("`{kind}`")),
                "{kind} is documented"
            );
        }
        for status in RoomStatus::ALL {
            assert_eq!(serde_json::to_value(status).expect("json"), status.as_str());
            assert!(
                doc.contains(&format!("`{}`", status.as_str())),
                "{status:?} is documented"
            );
        }
        let stale = ApiError::new(ErrorCode::Stale, "old");
        let frame: serde_json::Value =
            serde_json::from_slice(&ServerMsg::error(&stale, Some("r1")).encode()).expect("json");
        assert_eq!(frame["type"], "error");
        assert_eq!(frame["code"], "stale");
        assert_eq!(frame["request_id"], "r1");
        // Each ServerMsg variant is encoded with the type it is listed under.
        let room = crate::ids::RoomId::from_wire("r-1");
        let player = crate::ids::PlayerId::from_wire("p-1");
        let token = crate::ids::Token::from_wire("t-1");
        let samples = [
            ServerMsg::Welcome {
                request_id: None,
                player: &player,
                name: "n",
                token: &token,
                resumed: false,
                rooms: Vec::new(),
            },
            ServerMsg::Games {
                request_id: None,
                games: &[],
            },
            ServerMsg::Rooms {
                request_id: None,
                rooms: &[],
                next: None,
            },
            ServerMsg::Lobby {
                rooms: &[],
                next: None,
            },
            ServerMsg::Unsubscribed { request_id: None },
            ServerMsg::Left {
                request_id: None,
                room: &room,
            },
            ServerMsg::Ack {
                request_id: "a",
                room: "r-1",
                seq: 1,
            },
            ServerMsg::RoomClosed { room: &room },
        ];
        for msg in samples {
            let v: serde_json::Value = serde_json::from_slice(&msg.encode()).expect("json");
            let kind = v["type"].as_str().expect("a type");
            assert!(SERVER_TYPES.contains(&kind), "{kind}");
        }
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
