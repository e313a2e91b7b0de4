//! `tabula-relay`: the baseline the real server is measured against. It speaks the subset of
//! docs/protocol.md that `tabula-load` uses (hello, create_room, join, act) and runs turn-room's
//! rules natively; no sandbox, persistence, bots, timers, spectators or reconnects.

use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::{Router, extract::State, routing::get, serve::ListenerExt};
use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, atomic::AtomicU64, atomic::Ordering::Relaxed};
use tabula_sdk::{Audience, Context, Contract, RuleError, Step, Viewer};
use tokio::sync::mpsc::{self, Sender};
use turn_room::TurnRoom;

/// Frames queued per connection. A client further behind than this loses frames: the real
/// server disconnects it (4009); a baseline need not.
const OUTBOX: usize = 1024;

#[derive(Parser)]
#[command(about = "Bare turn-room relay: the baseline for tabula-load")]
struct Args {
    #[arg(long, default_value = "127.0.0.1:8090")]
    listen: String,
}

/// One game; `seq` 0 means waiting for players, `step` is then `start`'s (kept from create).
struct Room {
    seats: Vec<Option<Sender<Message>>>,
    step: Step,
    seq: u64,
}

/// Room registry; the lock is never held across an `.await`.
#[derive(Default)]
struct Relay {
    rooms: Mutex<HashMap<String, Room>>,
    ids: AtomicU64,
}

/// The request fields the subset uses; serde skips the rest.
#[derive(Deserialize)]
struct Req {
    #[serde(rename = "type")]
    kind: String,
    request_id: Option<String>,
    name: Option<String>,
    game: Option<String>,
    seats: Option<u32>,
    bots: Option<u32>,
    options: Option<Value>,
    room: Option<String>,
    seat: Option<usize>,
    action: Option<Value>,
}

/// An error code and message for the wire.
type Fail = (&'static str, String);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let relay = Arc::new(Relay::default());
    let app = Router::new().route("/ws", get(upgrade)).with_state(relay);
    // Without NODELAY, Nagle holds the ack behind the update for a delayed-ACK round (~40 ms).
    let listener = tokio::net::TcpListener::bind(&Args::parse().listen).await?;
    // Scripts and tests that bind port 0 learn the real port from this line.
    println!("listening on {}", listener.local_addr()?);
    axum::serve(listener.tap_io(|s| drop(s.set_nodelay(true))), app).await?;
    Ok(())
}

async fn upgrade(
    ws: WebSocketUpgrade,
    State(relay): State<Arc<Relay>>,
) -> axum::response::Response {
    // tungstenite zero-fills its default 128 KiB read buffer before each read: ~10-23 µs a move.
    ws.read_buffer_size(4096)
        .on_upgrade(|socket| connection(socket, relay))
}

async fn connection(socket: WebSocket, relay: Arc<Relay>) {
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = mpsc::channel::<Message>(OUTBOX);
    // Rooms never wait on a socket; the writer drains the queue, one flush for what is queued.
    let writer = tokio::spawn(async move {
        while let Some(msg) = rx.recv().await {
            let mut sent = sink.feed(msg).await;
            while let (Ok(()), Ok(more)) = (&sent, rx.try_recv()) {
                sent = sink.feed(more).await;
            }
            if sent.is_err() || sink.flush().await.is_err() {
                break;
            }
        }
    });
    let mut hello = false;
    while let Some(Ok(msg)) = stream.next().await {
        let Message::Text(text) = msg else { continue };
        let reply = match serde_json::from_str::<Req>(&text) {
            Ok(req) => handle(&relay, &tx, &mut hello, &req)
                .unwrap_or_else(|(code, message)| error(code, message, &req.request_id)),
            Err(e) => match serde_json::from_str::<Value>(&text) {
                Ok(Value::Object(v)) => error("bad_message", e.to_string(), &v.get("request_id")),
                _ => error("bad_json", "not a JSON object".into(), &None::<()>),
            },
        };
        // `Null`: the handler queued its reply itself.
        if !reply.is_null() && tx.send(Message::text(reply.to_string())).await.is_err() {
            break;
        }
    }
    writer.abort();
}

fn handle(relay: &Relay, tx: &Sender<Message>, hello: &mut bool, req: &Req) -> Result<Value, Fail> {
    let (id, n) = (&req.request_id, relay.ids.fetch_add(1, Relaxed));
    let missing = |field: &str| fail("bad_message", format!("`{field}` is missing"));
    if req.kind == "hello" {
        *hello = true;
        let name = req.name.clone().unwrap_or_else(|| format!("guest-{n}"));
        return Ok(
            json!({"type": "welcome", "player": format!("p-{n}"), "name": name, "token": format!("t-{n}"), "resumed": false}),
        );
    } else if !*hello {
        return Err(fail("not_authenticated", "send hello first"));
    }
    let mut rooms = relay
        .rooms
        .lock()
        .map_err(|_| fail("internal", "registry poisoned"))?;
    match req.kind.as_str() {
        "create_room" => {
            if req.game.as_deref() != Some("turn-room") || req.bots.unwrap_or(0) != 0 {
                return Err(fail(
                    "unknown_game",
                    "this relay hosts turn-room without bots",
                ));
            }
            let options = req
                .options
                .as_ref()
                .map_or_else(String::new, Value::to_string);
            let step = Contract::<TurnRoom>::start(req.seats.unwrap_or(4), 0, &options, &ctx())
                .map_err(rule_error)?;
            // `start` accepted the seat count, so there are 2 to 4 and seat 0 exists.
            let mut list: Vec<_> = (0..req.seats.unwrap_or(4)).map(|_| None).collect();
            if let Some(first) = list.first_mut() {
                *first = Some(tx.clone());
            }
            let room = format!("r-{n}");
            rooms.insert(
                room.clone(),
                Room {
                    seats: list,
                    step,
                    seq: 0,
                },
            );
            Ok(
                json!({"type": "room", "request_id": id, "room": {"id": room, "game": "turn-room", "status": "waiting"}, "seat": 0}),
            )
        }
        "join" => {
            let name = req.room.as_deref().ok_or_else(|| missing("room"))?;
            let room = rooms
                .get_mut(name)
                .ok_or_else(|| fail("unknown_room", "no such room"))?;
            if room.seq > 0 {
                return Err(fail("already_started", "the game has started"));
            }
            let free = room.seats.iter().position(Option::is_none);
            let seat = req
                .seat
                .or(free)
                .ok_or_else(|| fail("room_full", "no free seat"))?;
            match room.seats.get_mut(seat) {
                Some(slot @ None) => *slot = Some(tx.clone()),
                Some(Some(_)) => return Err(fail("seat_taken", "that seat is not free")),
                None => return Err(fail("bad_message", "no such seat")),
            }
            let reply = json!({"type": "room", "request_id": id, "room": {"id": name, "game": "turn-room", "status": "waiting"}, "seat": seat});
            if room.seats.iter().any(Option::is_none) {
                return Ok(reply);
            }
            // Full: the game starts. The joiner's reply must precede the first update.
            let _ = tx.try_send(Message::text(reply.to_string()));
            broadcast(room, name);
            Ok(Value::Null)
        }
        "act" => {
            let name = req.room.as_deref().ok_or_else(|| missing("room"))?;
            let action = req
                .action
                .as_ref()
                .ok_or_else(|| missing("action"))?
                .to_string();
            let room = rooms
                .get_mut(name)
                .ok_or_else(|| fail("unknown_room", "no such room"))?;
            let seat = room
                .seats
                .iter()
                .position(|s| s.as_ref().is_some_and(|s| s.same_channel(tx)));
            let seat = seat.ok_or_else(|| fail("not_in_room", "you have no seat in this room"))?;
            if room.seq == 0 {
                return Err(fail("not_started", "the game has not started"));
            }
            room.step = Contract::<TurnRoom>::act(&room.step.state, seat as u32, &action, &ctx())
                .map_err(rule_error)?;
            let seq = broadcast(room, name);
            if room.step.result.is_some() {
                rooms.remove(name);
            }
            Ok(json!({"type": "ack", "request_id": id, "room": name, "seq": seq}))
        }
        kind => Err(fail(
            "unknown_type",
            format!("unknown message type `{kind}`"),
        )),
    }
}

/// Queues the room's next update, one frame shared by every seat; returns its seq.
fn broadcast(room: &mut Room, name: &str) -> u64 {
    room.seq += 1;
    let step = &room.step;
    // Only events every seat may see: the frame is shared (turn-room addresses all to everyone).
    let events = step
        .events
        .iter()
        .filter(|e| matches!(e.audience, Audience::Everyone | Audience::Players));
    let events: Vec<&str> = events.map(|e| e.payload.as_str()).collect();
    let status = if step.result.is_some() {
        "finished"
    } else {
        "running"
    };
    let frame = Utf8Bytes::from(format!(
        r#"{{"type":"update","room":{},"seq":{},"phase":{},"status":"{status}","awaiting":{:?},"view":{},"events":[{}],"result":{}}}"#,
        json!(name),
        room.seq,
        json!(step.phase),
        step.awaiting,
        step.view_for(Viewer::Spectator).unwrap_or("null"),
        events.join(","),
        step.result.as_deref().unwrap_or("null"),
    ));
    for tx in room.seats.iter().flatten() {
        let _ = tx.try_send(Message::Text(frame.clone()));
    }
    room.seq
}

fn ctx() -> Context {
    Context {
        now: 0,
        viewers: vec![Viewer::Spectator],
    }
}

fn error(code: &str, message: String, request_id: &impl serde::Serialize) -> Value {
    json!({"type": "error", "code": code, "message": message, "request_id": request_id})
}

fn fail(code: &'static str, message: impl Into<String>) -> Fail {
    (code, message.into())
}

fn rule_error(e: RuleError) -> Fail {
    let code = match e {
        RuleError::NotYourTurn => "not_your_turn",
        RuleError::GameOver => "game_over",
        RuleError::Illegal(_) => "illegal",
        RuleError::Malformed(_) => "malformed_action",
        RuleError::BadOptions(_) => "bad_options",
        RuleError::BadState(_) | RuleError::UnsupportedVersion(_) => "internal",
    };
    fail(code, e.to_string())
}
