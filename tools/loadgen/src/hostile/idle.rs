//! The quiet part of the mix: sockets that hold server resources while doing nothing, and the
//! players who create the waiting rooms that `list_rooms` lists.
//! - raw sockets connect over TCP and send nothing; the server closes them after
//!   `connection.header_timeout_ms`, and they connect again, so the count holds;
//! - idle WebSockets say hello and then only answer pings (reconnecting if closed);
//! - room creators each create their share of the waiting rooms, then stay connected as idle
//!   WebSockets, so the rooms keep a present creator and are not closed as abandoned.
//!
//! Each client is one task that runs until it is aborted; everything it sees goes to its kind's
//! [`Tally`].

use super::conn::{self, Identity, Read};
use super::tally::{self, Tally};
use crate::proto;
use futures_util::SinkExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::time::{sleep, timeout};
use tokio_tungstenite::tungstenite::Message;

/// How long the server's default rate limit (50 frames a second) takes to earn the cost of one
/// `create_room` (5).
const CREATE_COST_MS: u64 = 100;

/// A raw TCP connection that never sends a byte, reconnecting `pause` after each close.
pub async fn raw(authority: Arc<str>, tally: Arc<Tally>, pause: Duration) {
    let mut again = false;
    loop {
        match timeout(conn::STEP_TIMEOUT, TcpStream::connect(&*authority)).await {
            Ok(Ok(mut socket)) => {
                tally.connected(again);
                again = true;
                let how = wait_for_close(&mut socket, &tally).await;
                tally.closed(&how);
            }
            Ok(Err(e)) => tally.connect_failed(&tally::io_name(&e)),
            Err(_) => tally.connect_failed("connect_timeout"),
        }
        sleep(pause).await;
    }
}

/// Reads until the server ends the connection; counts an HTTP response (e.g. a `408`) as a
/// frame of type `http_<status>`.
async fn wait_for_close(socket: &mut TcpStream, tally: &Tally) -> String {
    let mut buf = [0u8; 1024];
    let mut first = true;
    loop {
        match socket.read(&mut buf).await {
            Ok(0) => return "eof".to_owned(),
            Ok(n) => {
                if first {
                    let status = buf[..n]
                        .strip_prefix(b"HTTP/1.1 ")
                        .and_then(|s| s.get(..3))
                        .and_then(|s| std::str::from_utf8(s).ok());
                    tally.received(&format!("http_{}", status.unwrap_or("other")), n);
                } else {
                    tally.raw_bytes(n);
                }
                first = false;
            }
            Err(e) => return tally::io_name(&e),
        }
    }
}

/// A WebSocket that says hello and then only answers pings, reconnecting `pause` after a close.
pub async fn websocket(url: Arc<str>, name: String, tally: Arc<Tally>, pause: Duration) {
    let mut who = Identity::new(name);
    let mut again = false;
    loop {
        if let Some(mut ws) = conn::join(&url, &mut who, &tally, again, None).await {
            again = true;
            conn::idle(&mut ws, &tally).await;
        }
        sleep(pause).await;
    }
}

/// A player who creates `rooms` waiting rooms (public turn-room games with the game's defaults),
/// one at a time and within its rate limit, reports how many it created on `done`, and then
/// stays connected as an idle WebSocket. It stops creating at the first refusal other than
/// `rate_limited` (e.g. `too_many_rooms`), which is counted.
pub async fn creator(
    url: Arc<str>,
    name: String,
    rooms: u32,
    tally: Arc<Tally>,
    done: oneshot::Sender<u32>,
    pause: Duration,
) {
    let mut who = Identity::new(name);
    let mut again = false;
    // The rooms are created on the first connection; later ones only keep the player present.
    let mut done = Some(done);
    loop {
        if let Some(mut ws) = conn::join(&url, &mut who, &tally, again, None).await {
            again = true;
            if let Some(done) = done.take() {
                let _ = done.send(create(&mut ws, rooms, &tally).await);
            }
            conn::idle(&mut ws, &tally).await;
        }
        sleep(pause).await;
    }
}

/// Creates up to `rooms` rooms on `ws`, waiting out `rate_limited`; returns how many it made.
async fn create(ws: &mut conn::Ws, rooms: u32, tally: &Tally) -> u32 {
    let mut created = 0;
    let mut request = 0u64;
    while created < rooms {
        request += 1;
        if ws
            .send(Message::text(proto::create_waiting_room(request)))
            .await
            .is_err()
        {
            return created;
        }
        tally.sent(1);
        let id = format!("c{request}");
        let reply = timeout(conn::STEP_TIMEOUT, async {
            loop {
                match conn::next_frame(ws, tally).await {
                    Read::Frame(f) if f.request_id.as_deref() == Some(&id) => return Some(f),
                    Read::Frame(_) => {}
                    Read::Closed(_) => return None,
                }
            }
        })
        .await;
        match reply {
            Ok(Some(f)) if f.kind == "room" => created += 1,
            Ok(Some(f)) if f.code.as_deref() == Some("rate_limited") => {
                // Not just `retry_after_ms`: the server takes a request's cost in two steps (one
                // frame, then the rest) and keeps the first when it refuses the rest, and its
                // wait is for the rest only; a client that waits exactly that long is refused
                // again, forever. Waiting for the whole cost on top gets through.
                let wait = f.retry_after_ms.unwrap_or(0) + CREATE_COST_MS;
                sleep(Duration::from_millis(wait)).await;
            }
            // Refused for good (counted by code), closed, or silent: stop creating.
            Ok(_) => return created,
            Err(_) => {
                tally.error("create_timeout");
                return created;
            }
        }
    }
    created
}
