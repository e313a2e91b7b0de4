//! The slice of docs/protocol.md the load generator speaks: the frames it sends, and a lenient
//! reading of the frames it receives (only the fields it acts on; everything else is skipped).

use serde::Deserialize;
use serde::de::IgnoredAny;
use std::borrow::Cow;

/// One server frame, read leniently: unknown types and fields are not errors.
#[derive(Deserialize, Debug)]
pub struct Incoming<'a> {
    /// `welcome`, `room`, `update`, `ack`, `error`, ...
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    /// Echo of the request's id (`room`, `ack`, `error`).
    #[serde(default, borrow)]
    pub request_id: Option<Cow<'a, str>>,
    /// The room: an id in `update`/`ack`, room info (with `id`) in `room`.
    #[serde(default, borrow)]
    pub room: Option<RoomRef<'a>>,
    /// The seat granted by `create_room`/`join`.
    #[serde(default)]
    pub seat: Option<u32>,
    /// The room's sequence number (`update`, `ack`).
    #[serde(default)]
    pub seq: Option<u64>,
    /// `running`, `finished`, ... (`update`).
    #[serde(default, borrow)]
    pub status: Option<Cow<'a, str>>,
    /// Seats whose move the game waits for (`update`).
    #[serde(default)]
    pub awaiting: Option<Vec<u32>>,
    /// Non-null once the game is over (`update`).
    #[serde(default)]
    pub result: Option<IgnoredAny>,
    /// Error code (`error`).
    #[serde(default, borrow)]
    pub code: Option<Cow<'a, str>>,
    /// Error text (`error`).
    #[serde(default, borrow)]
    pub message: Option<Cow<'a, str>>,
    /// Suggested wait before retrying (`rate_limited` errors).
    #[serde(default)]
    pub retry_after_ms: Option<u64>,
    /// The session's token (`welcome`).
    #[serde(default, borrow)]
    pub token: Option<Cow<'a, str>>,
}

/// A room as it appears in frames: a bare id or a room-info object.
#[derive(Deserialize, Debug)]
#[serde(untagged)]
pub enum RoomRef<'a> {
    /// `"room":"r-..."`.
    Id(#[serde(borrow)] Cow<'a, str>),
    /// `"room":{"id":"r-...",...}`.
    Info {
        /// The room id.
        #[serde(borrow)]
        id: Cow<'a, str>,
    },
}

impl RoomRef<'_> {
    /// The room id, whichever form it came in.
    pub fn id(&self) -> &str {
        match self {
            RoomRef::Id(id) | RoomRef::Info { id } => id,
        }
    }
}

impl Incoming<'_> {
    /// Whether this update ends the game.
    pub fn finished(&self) -> bool {
        self.result.is_some() || self.status.as_deref() == Some("finished")
    }
}

/// A JSON string literal (quotes and escapes included) for splicing into a frame.
pub fn quote(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// `hello` with a display name.
pub fn hello(name: &str) -> String {
    format!(r#"{{"type":"hello","name":{}}}"#, quote(name))
}

/// `hello` with a session's token, to come back as the same player.
pub fn hello_token(token: &str) -> String {
    format!(r#"{{"type":"hello","token":{}}}"#, quote(token))
}

/// `create_room` for a private, bot-free turn-room game of `moves` moves.
pub fn create_room(moves: u32) -> String {
    format!(
        r#"{{"type":"create_room","request_id":"c","game":"turn-room","seats":4,"bots":0,"private":true,"options":{{"moves":{moves}}}}}"#
    )
}

/// `create_room` for a turn-room game with the game's defaults (all seats, no bots, public).
pub fn create_default_room() -> String {
    r#"{"type":"create_room","request_id":"c","game":"turn-room"}"#.to_owned()
}

/// `create_room` for a public turn-room game with the game's defaults, which waits for players.
pub fn create_waiting_room(request: u64) -> String {
    format!(r#"{{"type":"create_room","request_id":"c{request}","game":"turn-room"}}"#)
}

/// `list_rooms` of waiting rooms.
pub fn list_waiting_rooms(request: u64) -> String {
    format!(r#"{{"type":"list_rooms","request_id":"l{request}","status":"waiting"}}"#)
}

/// `watch`; `room` is already quoted.
pub fn watch(room: &str, request: u64) -> String {
    format!(r#"{{"type":"watch","request_id":"w{request}","room":{room}}}"#)
}

/// `leave`; `room` is already quoted.
pub fn leave(room: &str, request: u64) -> String {
    format!(r#"{{"type":"leave","request_id":"v{request}","room":{room}}}"#)
}

/// `join` for a given seat; `room` is already quoted.
pub fn join(room: &str, seat: u32) -> String {
    format!(r#"{{"type":"join","request_id":"j","room":{room},"seat":{seat}}}"#)
}

/// `act` adding `add`; `room` is already quoted.
pub fn act(room: &str, request: u64, add: u8) -> String {
    format!(r#"{{"type":"act","request_id":"a{request}","room":{room},"action":{{"add":{add}}}}}"#)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_frames_the_generator_acts_on() {
        // Updates, room replies and errors yield the fields the client needs; extras are skipped.
        let u: Incoming = serde_json::from_str(
            r#"{"type":"update","room":"r-1","seq":4,"phase":"playing","status":"running",
                "awaiting":[1],"view":{"turn":1},"events":[{"player":0,"add":1}],"result":null}"#,
        )
        .expect("update");
        assert_eq!(
            (u.kind.as_ref(), u.seq, u.awaiting.as_deref()),
            ("update", Some(4), Some(&[1][..]))
        );
        assert_eq!(u.room.as_ref().map(RoomRef::id), Some("r-1"));
        assert!(!u.finished());
        let f: Incoming = serde_json::from_str(
            r#"{"type":"update","room":"r-1","seq":9,"status":"finished","awaiting":[],"result":{"counter":8}}"#,
        )
        .expect("finished update");
        assert!(f.finished());
        let r: Incoming = serde_json::from_str(
            r#"{"type":"room","request_id":"c","room":{"id":"r-\"x","seats":[{"seat":0}]},"seat":0}"#,
        )
        .expect("room");
        assert_eq!(
            (r.room.as_ref().map(RoomRef::id), r.seat),
            (Some("r-\"x"), Some(0))
        );
        let e: Incoming = serde_json::from_str(
            r#"{"type":"error","code":"busy","message":"m","request_id":"a3"}"#,
        )
        .expect("error");
        assert_eq!(
            (e.code.as_deref(), e.request_id.as_deref()),
            (Some("busy"), Some("a3"))
        );
    }

    #[test]
    fn built_frames_are_valid_json() {
        // Every frame the generator sends parses, with ids escaped.
        let room = quote("r-\"1");
        for frame in [
            hello("load-\"0"),
            hello_token("t-\"1"),
            create_room(5),
            create_default_room(),
            create_waiting_room(3),
            list_waiting_rooms(4),
            watch(&room, 5),
            leave(&room, 6),
            join(&room, 2),
            act(&room, 7, 3),
        ] {
            let v: serde_json::Value = serde_json::from_str(&frame).expect("json");
            assert!(v["type"].is_string(), "{frame}");
        }
    }
}
