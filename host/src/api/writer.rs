//! A connection's writer task: drains the bounded outbound queue into the socket, encoding each
//! typed message (shared payloads once, by whichever writer gets to them first) and sends pings;
//! once asked to close, it sends the replies already queued and the close frame with the reason
//! it was given. Every write has a time limit: a client that stops reading is closed as too slow
//! and cannot hold the task. At the server's shutdown a write in progress is given up and the
//! goodbye has [`SHUTDOWN_GOODBYE`] at most: a client that does not read cannot hold the
//! shutdown for the write time limit.

use super::errors::close_frame;
use super::protocol::encode;
use crate::room::{CloseReason, Outbox, Outgoing};
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use bytes::Bytes;
use futures_util::SinkExt;
use futures_util::stream::SplitSink;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// How long a connection's last replies and close frame may take once the server is shutting
/// down (a client that reads gets them in far less).
pub(super) const SHUTDOWN_GOODBYE: Duration = Duration::from_secs(1);

/// What the writer task needs besides the socket and the queue.
pub(super) struct WriterParams {
    pub outbox: Outbox,
    pub ping_every: Duration,
    /// A write that cannot complete in this time ends the connection.
    pub write_timeout: Duration,
    /// The server's shutdown.
    pub shutdown: CancellationToken,
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

/// Hands `msg` to the socket's buffer (written at the next flush), counting it out of the queue.
async fn feed(
    sink: &mut SplitSink<WebSocket, Message>,
    outbox: &Outbox,
    msg: Outgoing,
) -> Result<(), axum::Error> {
    outbox.taken(&msg);
    sink.feed(text(msg)).await
}

/// `write` within the write time limit; `None` once the server shuts down, whatever the write's
/// state: a client that does not read does not hold the shutdown.
async fn bounded<T>(
    p: &WriterParams,
    write: impl std::future::Future<Output = T>,
) -> Option<Result<T, tokio::time::error::Elapsed>> {
    tokio::select! {
        written = tokio::time::timeout(p.write_timeout, write) => Some(written),
        _ = p.shutdown.cancelled() => None,
    }
}

/// Why the writer stopped writing.
enum Stop {
    /// Asked to close: send what is due and the close frame.
    Close,
    /// The socket failed or a write did not complete in time: nothing more can be sent.
    Broken,
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
    let stop = loop {
        tokio::select! {
            biased;
            _ = &mut closed => break Stop::Close,
            out = rx.recv() => match out {
                Some(msg) => {
                    // Whatever else is already queued goes out in the same write (an update and
                    // its ack, say): one system call instead of several. The whole write has
                    // one time limit: a client that does not read cannot hold this task.
                    let batch = async {
                        feed(&mut sink, &p.outbox, msg).await?;
                        for _ in 0..64 {
                            let Ok(msg) = rx.try_recv() else { break };
                            feed(&mut sink, &p.outbox, msg).await?;
                        }
                        sink.flush().await
                    };
                    let Some(written) = bounded(&p, batch).await else {
                        break Stop::Broken;
                    };
                    match written {
                        Ok(Ok(())) => p.outbox.written(),
                        Ok(Err(_)) => break Stop::Broken,
                        Err(_) => {
                            p.outbox.close_with(CloseReason::TooSlow);
                            break Stop::Broken;
                        }
                    }
                }
                None => break Stop::Close,
            },
            _ = ping.tick() => {
                let Some(sent) = bounded(&p, sink.send(Message::Ping(Bytes::new()))).await else {
                    break Stop::Broken;
                };
                if !matches!(sent, Ok(Ok(()))) {
                    p.outbox.close_with(CloseReason::TooSlow);
                    break Stop::Broken;
                }
            }
        }
    };
    if let Stop::Broken = stop {
        return;
    }
    let reason = p.outbox.close_reason();
    let goodbye = async {
        // Replies already queued still go out, except to a client that is too slow to read them.
        if reason != Some(CloseReason::TooSlow) {
            while let Ok(msg) = rx.try_recv() {
                feed(&mut sink, &p.outbox, msg).await?;
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
            sink.flush().await?;
        }
        Ok::<(), axum::Error>(())
    };
    let limit = if p.shutdown.is_cancelled() {
        p.write_timeout.min(SHUTDOWN_GOODBYE)
    } else {
        p.write_timeout
    };
    let _ = tokio::time::timeout(limit, goodbye).await;
}
