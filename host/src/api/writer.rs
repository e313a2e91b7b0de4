//! A connection's writer task: drains the bounded outbound queue into the socket, encoding each
//! typed message (shared payloads once, by whichever writer gets to them first), sends pings and
//! closes idle connections, then sends the close frame with the reason it was given.

use super::errors::close_frame;
use super::protocol::encode;
use crate::room::{CloseReason, Outbox, Outgoing};
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use bytes::Bytes;
use futures_util::SinkExt;
use futures_util::stream::SplitSink;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;

/// What the writer task needs besides the socket and the queue.
pub(super) struct WriterParams {
    pub outbox: Outbox,
    pub ping_every: Duration,
    pub idle_after_ms: u64,
    pub started: tokio::time::Instant,
    /// When the reader last saw a frame, in ms since `started`.
    pub last_seen: Arc<AtomicU64>,
}

pub(super) fn elapsed_ms(since: tokio::time::Instant) -> u64 {
    since.elapsed().as_millis() as u64
}

fn text(msg: Outgoing) -> Message {
    // Frames are built from Rust strings, so they are UTF-8; the check is cheap insurance.
    let bytes: Bytes = encode(msg);
    Message::Text(
        Utf8Bytes::try_from(bytes).unwrap_or_else(|_| {
            Utf8Bytes::from_static("{\"type\":\"error\",\"code\":\"internal\"}")
        }),
    )
}

pub(super) async fn writer(
    mut sink: SplitSink<WebSocket, Message>,
    mut rx: mpsc::Receiver<Outgoing>,
    p: WriterParams,
) {
    let mut ping =
        tokio::time::interval_at(tokio::time::Instant::now() + p.ping_every, p.ping_every);
    let close = p.outbox.closing().clone();
    let closed = close.cancelled();
    tokio::pin!(closed);
    loop {
        tokio::select! {
            biased;
            _ = &mut closed => break,
            out = rx.recv() => match out {
                Some(msg) => {
                    // Whatever else is already queued goes out in the same write (an update and
                    // its ack, say): one system call instead of several.
                    if sink.feed(text(msg)).await.is_err() {
                        return;
                    }
                    for _ in 0..64 {
                        match rx.try_recv() {
                            Ok(msg) => {
                                if sink.feed(text(msg)).await.is_err() {
                                    return;
                                }
                            }
                            Err(_) => break,
                        }
                    }
                    if sink.flush().await.is_err() {
                        return;
                    }
                }
                None => break,
            },
            _ = ping.tick() => {
                let silent = elapsed_ms(p.started).saturating_sub(p.last_seen.load(Ordering::Relaxed));
                if silent >= p.idle_after_ms {
                    p.outbox.close_with(CloseReason::Idle);
                    break;
                }
                if sink.send(Message::Ping(Bytes::new())).await.is_err() {
                    return;
                }
            }
        }
    }
    let reason = p.outbox.close_reason();
    // Replies already queued still go out, except to a client that is too slow to read them.
    if reason != Some(CloseReason::TooSlow) {
        while let Ok(msg) = rx.try_recv() {
            if sink.send(text(msg)).await.is_err() {
                return;
            }
        }
    }
    let (code, reason) = close_frame(reason);
    let closing = sink
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        })))
        .await;
    if closing.is_err() {
        // The client closed first: the transport has queued its answer to the client's close
        // frame, which goes out when the sink is flushed.
        let _ = sink.flush().await;
    }
}
