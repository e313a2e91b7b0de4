//! The noisy part of the mix: clients that stay inside the protocol but cost the server as much
//! as it lets them, and one that leaves it.
//! - non-readers `watch` a busy room and never read again, over a socket with a small receive
//!   buffer; they only write a pong now and then, which is how they learn that the server has
//!   closed them (the write fails), and reconnect;
//! - listers send `list_rooms` at a fixed rate (by default their rate limit) and read the replies;
//! - togglers alternate `watch` and `leave` on a room at a fixed rate, reading everything;
//! - floods write binary frames as fast as the socket takes them, reading the refusals
//!   (`bad_json`, then `rate_limited`) until the server closes them (4008); then reconnect.
//!
//! Each client is one task that runs until it is aborted; everything it sees goes to its kind's
//! [`Tally`]. Rates are fixed by the caller, so that two runs of the mix cost the same.

use super::conn::{self, Identity, Read};
use super::tally::{self, Tally};
use crate::proto;
use futures_util::{SinkExt, StreamExt};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::{MissedTickBehavior, interval, sleep, timeout};
use tokio_tungstenite::tungstenite::Message;

/// A non-reader's kernel receive buffer, bytes. Small, as a client that means to hold the
/// server's memory would make it: with the default (which grows to megabytes on loopback) the
/// kernel absorbs a busy room's updates for minutes and the server never sees the client lag.
const NON_READER_RCVBUF: u32 = 4096;
/// How often a non-reader writes a pong to learn whether it is still connected.
const PROBE_EVERY: Duration = Duration::from_secs(1);
/// How long a non-reader whose write failed reads on, looking for the server's close frame.
const DRAIN_FOR: Duration = Duration::from_secs(2);
/// Binary frames a flood writes between flushes.
const FLOOD_BATCH: u64 = 32;
/// A flood frame: a few bytes that are not JSON.
const FLOOD_FRAME: &[u8] = &[0xA5; 64];

/// What every client of the noisy kinds needs.
pub struct Client {
    /// Server WebSocket URL.
    pub url: Arc<str>,
    /// The player's name at its first hello.
    pub name: String,
    /// Where its counts go.
    pub tally: Arc<Tally>,
    /// Pause before reconnecting after a close.
    pub pause: Duration,
}

/// A spectator of `room` (quoted) that never reads after the `watch` reply.
pub async fn non_reader(c: Client, room: Arc<str>) {
    let mut who = Identity::new(c.name);
    let mut again = false;
    let mut request = 0u64;
    loop {
        let joined = conn::join(&c.url, &mut who, &c.tally, again, Some(NON_READER_RCVBUF)).await;
        if let Some(mut ws) = joined {
            again = true;
            request += 1;
            if watch(&mut ws, &room, request, &c.tally).await {
                // From here on nothing is read: the server's pushes pile up on its side.
                let how = loop {
                    sleep(PROBE_EVERY).await;
                    match timeout(
                        conn::STEP_TIMEOUT,
                        ws.send(Message::Pong(Default::default())),
                    )
                    .await
                    {
                        Ok(Ok(())) => c.tally.sent(1),
                        Ok(Err(e)) => break tally::error_name(&e),
                        Err(_) => break "write_timeout".to_owned(),
                    }
                };
                // The close frame, if the server sent one, is behind everything left unread.
                let drained = timeout(DRAIN_FOR, async {
                    loop {
                        if let Read::Closed(how) = conn::next_frame(&mut ws, &c.tally).await {
                            return how;
                        }
                    }
                })
                .await;
                if drained.is_err() {
                    c.tally.closed(&format!("write_failed_{how}"));
                }
            }
        }
        sleep(c.pause).await;
    }
}

/// Sends `watch` and reads until its reply; whether the client now watches.
async fn watch(ws: &mut conn::Ws, room: &str, request: u64, tally: &Tally) -> bool {
    if ws
        .send(Message::text(proto::watch(room, request)))
        .await
        .is_err()
    {
        return false;
    }
    tally.sent(1);
    let id = format!("w{request}");
    let reply = timeout(conn::STEP_TIMEOUT, async {
        loop {
            match conn::next_frame(ws, tally).await {
                Read::Frame(f) if f.request_id.as_deref() == Some(&id) => return f.kind == "room",
                Read::Frame(_) => {}
                Read::Closed(_) => return false,
            }
        }
    })
    .await;
    reply.unwrap_or(false)
}

/// A client that sends `list_rooms` `per_second` times a second and reads the replies.
pub async fn lister(c: Client, per_second: f64) {
    paced(c, per_second, proto::list_waiting_rooms).await;
}

/// A client that alternates `watch` and `leave` on `room` (quoted), `per_second` frames a second.
pub async fn toggler(c: Client, room: Arc<str>, per_second: f64) {
    paced(c, per_second, move |n| {
        if n % 2 == 1 {
            proto::watch(&room, n)
        } else {
            proto::leave(&room, n)
        }
    })
    .await;
}

/// Sends `frame(n)` for n = 1, 2, ... at a fixed rate while reading everything, reconnecting
/// after a close. The rate holds across reconnections: a tick missed while disconnected is
/// not made up for.
async fn paced(c: Client, per_second: f64, frame: impl Fn(u64) -> String) {
    let period = Duration::from_secs_f64(1.0 / per_second.max(0.001));
    let mut who = Identity::new(c.name);
    let mut again = false;
    let mut n = 0u64;
    loop {
        if let Some(mut ws) = conn::join(&c.url, &mut who, &c.tally, again, None).await {
            again = true;
            let mut tick = interval(period);
            tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        n += 1;
                        if let Err(e) = ws.send(Message::text(frame(n))).await {
                            c.tally.closed(&format!("send_failed_{}", tally::error_name(&e)));
                            break;
                        }
                        c.tally.sent(1);
                    }
                    // Cancel-safe: a frame is only consumed when it is returned.
                    read = conn::next_frame(&mut ws, &c.tally) => {
                        if let Read::Closed(_) = read {
                            break;
                        }
                    }
                }
            }
        }
        sleep(c.pause).await;
    }
}

/// A client that writes binary frames as fast as it can until the server closes it.
pub async fn flood(c: Client) {
    let mut who = Identity::new(c.name);
    let mut again = false;
    loop {
        if let Some(ws) = conn::join(&c.url, &mut who, &c.tally, again, None).await {
            again = true;
            let (mut sink, mut stream) = ws.split();
            let reader = async {
                while let Read::Frame(_) = conn::next_frame(&mut stream, &c.tally).await {}
            };
            tokio::pin!(reader);
            let writer = async {
                loop {
                    for _ in 0..FLOOD_BATCH {
                        if let Err(e) = sink.feed(Message::binary(FLOOD_FRAME)).await {
                            return e;
                        }
                    }
                    if let Err(e) = sink.flush().await {
                        return e;
                    }
                    c.tally.sent(FLOOD_BATCH);
                    // Let the reader (and the normal load, on this core) have a turn.
                    tokio::task::yield_now().await;
                }
            };
            tokio::select! {
                () = &mut reader => {}
                e = writer => {
                    // The write failed: the close frame (or the end) is still to be read.
                    if timeout(conn::STEP_TIMEOUT, &mut reader).await.is_err() {
                        c.tally.closed(&format!("write_failed_{}", tally::error_name(&e)));
                    }
                }
            }
        }
        sleep(c.pause).await;
    }
}
