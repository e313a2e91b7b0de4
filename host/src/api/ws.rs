//! One WebSocket connection = two tasks: this reader, which reads frames, rate-limits them and
//! hands them to [`Conn`](super::requests::Conn), and the [writer](super::writer), which drains
//! the connection's bounded outbound queue and sends pings. Rooms push into the queue with
//! `try_send`; a client too slow to keep up is closed as too slow.

use super::AppState;
use super::errors::{ApiError, ErrorCode};
use super::requests::Conn;
use super::writer::{WriterParams, elapsed_ms, writer};
use crate::room::{CloseReason, Outbox, RoomCmd};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::Response;
use futures_util::StreamExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// `?token=` for browsers, which cannot set headers.
#[derive(serde::Deserialize)]
pub(super) struct WsQuery {
    token: Option<String>,
}

pub(super) async fn upgrade(
    ws: WebSocketUpgrade,
    Query(q): Query<WsQuery>,
    State(app): State<Arc<AppState>>,
) -> Response {
    let cfg = &app.config.connection;
    // A small read buffer: tungstenite zero-fills its whole read buffer before each read, which
    // at the default 128 KiB costs more CPU per move than the game itself.
    ws.read_buffer_size(4096)
        .max_message_size(cfg.transport_max_bytes)
        .max_frame_size(cfg.transport_max_bytes)
        .on_upgrade(move |socket| connection(app, socket, q.token))
}

/// Whether a read error is a frame or message above the transport's size limit.
fn is_too_big(e: axum::Error) -> bool {
    e.into_inner()
        .downcast::<tungstenite::Error>()
        .is_ok_and(|e| matches!(*e, tungstenite::Error::Capacity(_)))
}

async fn connection(app: Arc<AppState>, socket: WebSocket, token: Option<String>) {
    let cfg = app.config.connection.clone();
    let conn_id = app.next_conn.fetch_add(1, Ordering::Relaxed) + 1;
    app.metrics.connections.inc();
    let (sink, mut stream) = socket.split();
    let (outbox, rx) = Outbox::new(conn_id, cfg.outbound_queue, app.shutdown.child_token());
    let started = tokio::time::Instant::now();
    let last_seen = Arc::new(AtomicU64::new(0));
    let writer = tokio::spawn(writer(
        sink,
        rx,
        WriterParams {
            outbox: outbox.clone(),
            ping_every: Duration::from_millis(cfg.ping_interval_ms),
            idle_after_ms: cfg.idle_timeout_ms,
            started,
            last_seen: last_seen.clone(),
        },
    ));
    let close = outbox.closing().clone();
    let mut conn = Conn::new(app.clone(), outbox);
    if let Some(token) = token {
        conn.hello(None, None, Some(token));
    }
    // Idleness is checked by the writer at each ping, from this timestamp, so that reading a
    // frame costs no timer registration.
    let closed = close.cancelled();
    tokio::pin!(closed);
    loop {
        tokio::select! {
            biased;
            _ = &mut closed => break,
            frame = stream.next() => {
                last_seen.store(elapsed_ms(started), Ordering::Relaxed);
                match frame {
                    None | Some(Ok(Message::Close(_))) => break,
                    Some(Err(e)) => {
                        // Oversized frames end the transport; say so before closing.
                        if is_too_big(e) {
                            conn.outbox().close_with(CloseReason::TooBig);
                        }
                        break;
                    }
                    Some(Ok(Message::Text(text))) => conn.on_text(text.as_str()).await,
                    Some(Ok(Message::Binary(_))) => conn.reply_error(
                        None,
                        ApiError::new(ErrorCode::BadJson, "binary frames are not supported; send JSON text"),
                    ),
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
    close.cancel();
    let _ = writer.await;
    app.metrics.connections.dec();
}
