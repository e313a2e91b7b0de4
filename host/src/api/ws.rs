//! One WebSocket connection = two tasks: this reader, which reads frames, rate-limits them and
//! hands them to [`Conn`](super::requests::Conn), and the [writer](super::writer), which drains
//! the connection's bounded outbound queue and sends pings. Rooms push into the queue with
//! `try_send`; a client too slow to keep up is closed as too slow.
//!
//! The reader owns the connection's clocks: the time allowed for `hello`, and idleness (no
//! frame for `idle_timeout_ms`), checked at each ping interval whether or not the writer makes
//! progress. It reads the next request only once the replies to earlier ones are on their way.

use super::AppState;
use super::accept::Peer;
use super::errors::close_label;
use super::requests::Conn;
use super::writer::{SHUTDOWN_GOODBYE, WriterParams, writer};
use crate::room::{CloseReason, Outbox, RoomCmd};
use axum::Extension;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use futures_util::stream::SplitStream;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::time::Instant;

/// `?token=` for browsers, which cannot set headers.
#[derive(serde::Deserialize)]
pub(super) struct WsQuery {
    token: Option<String>,
}

pub(super) async fn upgrade(
    ws: WebSocketUpgrade,
    Query(q): Query<WsQuery>,
    State(app): State<Arc<AppState>>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
) -> Response {
    let cfg = &app.config.connection;
    if let Some(origin) = headers.get(header::ORIGIN)
        && !cfg.allowed_origins.is_empty()
        && !cfg
            .allowed_origins
            .iter()
            .any(|o| o.as_bytes() == origin.as_bytes())
    {
        app.metrics.ended("origin_not_allowed");
        return (
            StatusCode::FORBIDDEN,
            "this origin may not open a WebSocket",
        )
            .into_response();
    }
    // A small read buffer: tungstenite zero-fills its whole read buffer before each read, which
    // at the default 128 KiB costs more CPU per move than the game itself.
    ws.read_buffer_size(4096)
        .max_message_size(cfg.transport_max_bytes)
        .max_frame_size(cfg.transport_max_bytes)
        .on_upgrade(move |socket| connection(app, socket, q.token, peer))
}

/// The close reason for a transport error that a close frame can still answer: a frame or
/// message above the size limit, text that is not UTF-8, a broken protocol rule. `None` for a
/// connection that is simply gone.
fn close_reason_of(e: axum::Error) -> Option<CloseReason> {
    let e = e.into_inner().downcast::<tungstenite::Error>().ok()?;
    match *e {
        tungstenite::Error::Capacity(_) => Some(CloseReason::TooBig),
        tungstenite::Error::Utf8(_) => Some(CloseReason::BadUtf8),
        tungstenite::Error::Protocol(_) => Some(CloseReason::Protocol),
        _ => None,
    }
}

async fn connection(app: Arc<AppState>, socket: WebSocket, token: Option<String>, peer: Peer) {
    // Shutdown waits for this task, so that every client gets its close frame.
    let _tracked = app.tracker.token();
    let cfg = app.config.connection.clone();
    let conn_id = app.next_conn.fetch_add(1, Ordering::Relaxed) + 1;
    app.metrics.connections.inc();
    let (sink, mut stream) = socket.split();
    let (outbox, rx) = Outbox::new(conn_id, cfg.outbound_queue, app.shutdown.child_token());
    let ping_every = Duration::from_millis(cfg.ping_interval_ms);
    let write_timeout = Duration::from_millis(cfg.write_timeout_ms);
    let mut writer = tokio::spawn(writer(
        sink,
        rx,
        WriterParams {
            outbox: outbox.clone(),
            ping_every,
            write_timeout,
            shutdown: app.shutdown.clone(),
        },
    ));
    let close = outbox.closing().clone();
    let mut conn = Conn::new(app.clone(), outbox, peer.addr.ip());
    if let Some(token) = token {
        conn.hello(None, None, Some(token)).await;
    }
    let closed = close.cancelled();
    tokio::pin!(closed);
    let hello_by = tokio::time::sleep(Duration::from_millis(cfg.hello_timeout_ms));
    tokio::pin!(hello_by);
    let mut idle_check = tokio::time::interval_at(Instant::now() + ping_every, ping_every);
    let idle_after = Duration::from_millis(cfg.idle_timeout_ms);
    let mut last_seen = Instant::now();
    loop {
        // The replies to earlier requests go out before the next request is read.
        conn.outbox().room_to_read(cfg.outbound_bytes).await;
        tokio::select! {
            biased;
            _ = &mut closed => break,
            _ = &mut hello_by, if conn.session().is_none() => {
                conn.outbox().close_with(CloseReason::NoHello);
                break;
            }
            _ = idle_check.tick() => {
                if last_seen.elapsed() >= idle_after {
                    conn.outbox().close_with(CloseReason::Idle);
                    break;
                }
            }
            frame = stream.next() => {
                last_seen = Instant::now();
                match frame {
                    None | Some(Ok(Message::Close(_))) => break,
                    Some(Err(e)) => {
                        // Say why before closing, when the transport can still say it.
                        if let Some(reason) = close_reason_of(e) {
                            conn.outbox().close_with(reason);
                        }
                        break;
                    }
                    Some(Ok(Message::Text(text))) => conn.on_text(text.as_str()).await,
                    Some(Ok(Message::Binary(_))) => conn.on_binary(),
                    Some(Ok(_)) => {} // ping/pong: signs of life only
                }
            }
        }
    }
    if let Some(session) = conn.session() {
        let rooms = app.sessions.detach(&session.token, conn_id);
        for room in rooms {
            if let Ok(handle) = app.registry.get(room.as_str()) {
                let player = session.player.clone();
                // Must not be lost, but must not hold up this task either.
                tokio::spawn(async move {
                    handle
                        .send_reliably(RoomCmd::Disconnected {
                            player,
                            conn: conn_id,
                        })
                        .await;
                });
            }
        }
    }
    if let Some(reason) = conn.outbox().close_reason() {
        app.metrics.ended(close_label(reason));
    }
    close.cancel();
    // The writer sends what is queued and the close frame, each write within its time limit;
    // meanwhile the client's frames are read and dropped, so that the socket is not reset under
    // the close frame by data left unread.
    // All of it within twice the write time limit, or SHUTDOWN_GOODBYE once the server is
    // shutting down: a client that neither reads nor closes cannot hold the shutdown.
    let linger = Instant::now() + write_timeout * 2;
    let lingering = async {
        tokio::select! {
            _ = &mut writer => drain(&mut stream).await,
            _ = drain(&mut stream) => {
                let _ = (&mut writer).await;
            }
        }
    };
    let limit = async {
        tokio::select! {
            _ = tokio::time::sleep_until(linger) => {}
            _ = async {
                app.shutdown.cancelled().await;
                tokio::time::sleep(SHUTDOWN_GOODBYE).await;
            } => {}
        }
    };
    let done = tokio::select! {
        _ = lingering => true,
        _ = limit => false,
    };
    if !done {
        writer.abort();
    }
    app.metrics.connections.dec();
    drop(peer);
}

/// What a closing connection reads and drops, at most, before it lets the socket go.
const DRAIN_BYTES: usize = 1 << 20;

/// Reads and drops frames until the client's close frame, the end of the connection or
/// [`DRAIN_BYTES`]: enough for the close to get through to a client that was sending, and no
/// more work for one that keeps flooding.
async fn drain(stream: &mut SplitStream<WebSocket>) {
    let mut read = 0;
    while let Some(Ok(frame)) = stream.next().await {
        if let Message::Close(_) = frame {
            break;
        }
        read += match &frame {
            Message::Text(t) => t.len(),
            Message::Binary(b) | Message::Ping(b) | Message::Pong(b) => b.len(),
            Message::Close(_) => 0,
        };
        if read >= DRAIN_BYTES {
            break;
        }
    }
}
