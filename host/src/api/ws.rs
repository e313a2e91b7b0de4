//! One WebSocket connection = two tasks: this reader, which parses, rate-limits and forwards
//! requests, and a writer that drains the connection's bounded outbound queue and sends pings.
//! Rooms push into the queue with `try_send`; a client too slow to keep up is closed with 4009.

use super::AppState;
use super::protocol::{ActFrame, ApiError, CLIENT_TYPES, ClientMsg, ErrorCode, MAX_REQUEST_ID};
use crate::ids::RoomId;
use crate::room::{CreateRoom, Joined, Outbox, Outgoing, RoomCmd};
use crate::session::SessionInfo;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::Response;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Close codes (see docs/protocol.md).
const CLOSE_IDLE: u16 = 4000;
const CLOSE_FLOOD: u16 = 4008;
const CLOSE_TOO_BIG: u16 = 1009;

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

struct Conn {
    app: Arc<AppState>,
    outbox: Outbox,
    session: Option<Arc<SessionInfo>>,
    limiter: DefaultDirectRateLimiter,
    strikes: u32,
}

async fn connection(app: Arc<AppState>, socket: WebSocket, token: Option<String>) {
    let cfg = app.config.connection.clone();
    let conn_id = app.next_conn.fetch_add(1, Ordering::Relaxed) + 1;
    app.metrics.connections.inc();
    let (sink, mut stream) = socket.split();
    let (tx, rx) = mpsc::channel(cfg.outbound_queue);
    let close = app.shutdown.child_token();
    let close_code = Arc::new(AtomicU16::new(0));
    let outbox = Outbox::new(conn_id, tx, close.clone(), close_code.clone());
    let started = tokio::time::Instant::now();
    let last_seen = Arc::new(AtomicU64::new(0));
    let writer = tokio::spawn(writer(
        sink,
        rx,
        WriterParams {
            close: close.clone(),
            close_code: close_code.clone(),
            ping_every: Duration::from_millis(cfg.ping_interval_ms),
            idle_after_ms: cfg.idle_timeout_ms,
            started,
            last_seen: last_seen.clone(),
        },
    ));
    let per_second = NonZeroU32::new(cfg.messages_per_second).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(cfg.burst).unwrap_or(NonZeroU32::MIN);
    let mut conn = Conn {
        app: app.clone(),
        outbox,
        session: None,
        limiter: RateLimiter::direct(Quota::per_second(per_second).allow_burst(burst)),
        strikes: 0,
    };
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
                        let text = e.to_string();
                        if text.contains("too long") || text.contains("too big") {
                            conn.outbox.close_with(CLOSE_TOO_BIG);
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
    if let Some(session) = &conn.session {
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

/// What the writer task needs besides the socket and the queue.
struct WriterParams {
    close: CancellationToken,
    close_code: Arc<AtomicU16>,
    ping_every: Duration,
    idle_after_ms: u64,
    started: tokio::time::Instant,
    last_seen: Arc<AtomicU64>,
}

fn elapsed_ms(since: tokio::time::Instant) -> u64 {
    since.elapsed().as_millis() as u64
}

async fn writer(
    mut sink: futures_util::stream::SplitSink<WebSocket, Message>,
    mut rx: mpsc::Receiver<Outgoing>,
    p: WriterParams,
) {
    let close_code = p.close_code;
    let mut ping =
        tokio::time::interval_at(tokio::time::Instant::now() + p.ping_every, p.ping_every);
    let closed = p.close.cancelled();
    tokio::pin!(closed);
    loop {
        tokio::select! {
            biased;
            _ = &mut closed => break,
            out = rx.recv() => match out {
                Some(Outgoing::Text(bytes)) => {
                    // Whatever else is already queued goes out in the same write (an update and
                    // its ack, say): one system call instead of several.
                    if sink.feed(Message::Text(text(bytes))).await.is_err() {
                        return;
                    }
                    for _ in 0..64 {
                        match rx.try_recv() {
                            Ok(Outgoing::Text(bytes)) => {
                                if sink.feed(Message::Text(text(bytes))).await.is_err() {
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
                    let _ = close_code.compare_exchange(0, CLOSE_IDLE, Ordering::AcqRel, Ordering::Acquire);
                    p.close.cancel();
                    break;
                }
                if sink.send(Message::Ping(Bytes::new())).await.is_err() {
                    return;
                }
            }
        }
    }
    let code = close_code.load(Ordering::Acquire);
    // Replies already queued still go out, except to a client that is too slow to read them.
    if code != crate::room::CLOSE_SLOW {
        while let Ok(Outgoing::Text(bytes)) = rx.try_recv() {
            if sink.send(Message::Text(text(bytes))).await.is_err() {
                return;
            }
        }
    }
    let (code, reason) = match code {
        0 => (1001, "server shutting down"),
        CLOSE_IDLE => (CLOSE_IDLE, "idle timeout: no sign of life"),
        CLOSE_FLOOD => (CLOSE_FLOOD, "too many messages"),
        CLOSE_TOO_BIG => (CLOSE_TOO_BIG, "message too big"),
        crate::room::CLOSE_SLOW => (crate::room::CLOSE_SLOW, "too slow to keep up"),
        crate::session::CLOSE_REPLACED => (
            crate::session::CLOSE_REPLACED,
            "replaced by a newer connection",
        ),
        other => (other, "closing"),
    };
    let _ = sink
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        })))
        .await;
}

fn text(bytes: Bytes) -> Utf8Bytes {
    // Frames are built from Rust strings, so they are UTF-8; the check is cheap insurance.
    Utf8Bytes::try_from(bytes)
        .unwrap_or_else(|_| Utf8Bytes::from_static("{\"type\":\"error\",\"code\":\"internal\"}"))
}

impl Conn {
    fn send(&self, frame: String) {
        self.outbox.push(Bytes::from(frame));
    }

    fn reply_error(&self, request_id: Option<&str>, e: ApiError) {
        self.send(e.frame(request_id));
    }

    fn reply(&self, kind: &str, request_id: Option<&str>, mut body: serde_json::Value) {
        body["type"] = kind.into();
        body["request_id"] = request_id.into();
        self.send(body.to_string());
    }

    async fn on_text(&mut self, text: &str) {
        if let Err(not_until) = self.limiter.check() {
            self.strikes += 1;
            if self.strikes > self.app.config.connection.flood_strikes {
                self.outbox.close_with(CLOSE_FLOOD);
                return;
            }
            let wait = not_until.wait_time_from(governor::clock::Clock::now(
                &governor::clock::DefaultClock::default(),
            ));
            let mut e = ApiError::new(ErrorCode::RateLimited, "too many messages; slow down");
            e.retry_after_ms = Some(wait.as_millis().max(1) as u64);
            // Every request gets its one reply, so the client can retry exactly that one.
            let request_id = (text.len() <= self.app.config.connection.max_message_bytes)
                .then(|| serde_json::from_str::<serde_json::Value>(text).ok())
                .flatten()
                .and_then(|v| request_id_of(&v));
            return self.reply_error(request_id.as_deref(), e);
        }
        self.strikes = 0;
        if text.len() > self.app.config.connection.max_message_bytes {
            return self.reply_error(
                None,
                ApiError::new(
                    ErrorCode::FrameTooLarge,
                    format!(
                        "frames may be at most {} bytes",
                        self.app.config.connection.max_message_bytes
                    ),
                ),
            );
        }
        if let Some(act) = ActFrame::parse(text) {
            let action = act.action.get().to_owned();
            if let Err(e) = self.act(act.request_id, act.room, action, act.expected_seq) {
                self.reply_error(Some(act.request_id), e);
            }
            return;
        }
        let msg = match parse(text) {
            Ok(m) => m,
            Err((request_id, e)) => return self.reply_error(request_id.as_deref(), e),
        };
        let request_id = msg.request_id().map(str::to_owned);
        if let Err(e) = self.dispatch(msg).await {
            self.reply_error(request_id.as_deref(), e);
        }
    }

    fn hello(&mut self, request_id: Option<&str>, name: Option<String>, token: Option<String>) {
        let result = match (token, name) {
            (Some(token), _) => self
                .app
                .sessions
                .resume(&token, self.outbox.clone())
                .map(|s| (s, true)),
            (None, Some(name)) => {
                let name = name.trim().to_owned();
                if name.is_empty() || name.chars().count() > 32 {
                    Err(ApiError::new(
                        ErrorCode::BadMessage,
                        "name must be 1 to 32 characters",
                    ))
                } else {
                    Ok((self.app.sessions.create(&name, self.outbox.clone()), false))
                }
            }
            (None, None) => Err(ApiError::new(
                ErrorCode::BadMessage,
                "hello needs a name or a token",
            )),
        };
        match result {
            Ok((session, resumed)) => {
                self.reply(
                    "welcome",
                    request_id,
                    serde_json::json!({
                        "player": session.player,
                        "name": session.name,
                        "token": session.token,
                        "resumed": resumed,
                    }),
                );
                self.session = Some(Arc::new(session));
            }
            Err(e) => self.reply_error(request_id, e),
        }
    }

    async fn dispatch(&mut self, msg: ClientMsg) -> Result<(), ApiError> {
        if let ClientMsg::Hello {
            request_id,
            name,
            token,
        } = msg
        {
            self.hello(request_id.as_deref(), name, token);
            return Ok(());
        }
        let session = self.signed_in()?;
        let app = self.app.clone();
        match msg {
            ClientMsg::Hello { .. } => Ok(()),
            ClientMsg::ListGames { request_id } => {
                let games = app.registry.catalog().list();
                self.reply(
                    "games",
                    request_id.as_deref(),
                    serde_json::json!({ "games": games }),
                );
                Ok(())
            }
            ClientMsg::ListRooms {
                request_id,
                game,
                status,
            } => {
                let rooms = app.registry.list(game.as_deref(), status.as_deref());
                self.reply(
                    "rooms",
                    request_id.as_deref(),
                    serde_json::json!({ "rooms": rooms }),
                );
                Ok(())
            }
            ClientMsg::CreateRoom {
                request_id,
                game,
                version,
                options,
                seats,
                bots,
                private,
                seed,
                turn_deadline_ms,
            } => {
                let req = CreateRoom {
                    game,
                    version,
                    options,
                    seats,
                    bots: bots.unwrap_or(0),
                    private: private.unwrap_or(false),
                    seed,
                    turn_deadline_ms,
                };
                let joined = app
                    .registry
                    .create(
                        req,
                        session.player.clone(),
                        session.name.clone(),
                        self.outbox.clone(),
                    )
                    .await?;
                self.entered(&session, request_id.as_deref(), joined);
                Ok(())
            }
            ClientMsg::Join {
                request_id,
                room,
                seat,
            } => {
                let (player, name) = (session.player.clone(), session.name.clone());
                self.enter(&session, request_id, &room, |outbox, reply| RoomCmd::Join {
                    player,
                    name,
                    seat,
                    outbox,
                    reply,
                })
                .await
            }
            ClientMsg::Watch { request_id, room } => {
                let player = session.player.clone();
                self.enter(&session, request_id, &room, |outbox, reply| {
                    RoomCmd::Watch {
                        player,
                        outbox,
                        reply,
                    }
                })
                .await
            }
            ClientMsg::Resume {
                request_id,
                room,
                last_seq,
            } => {
                let player = session.player.clone();
                self.enter(&session, request_id, &room, |outbox, reply| {
                    RoomCmd::Resume {
                        player,
                        last_seq,
                        outbox,
                        reply,
                    }
                })
                .await
            }
            ClientMsg::Leave { request_id, room } => {
                let id = RoomId::from_wire(&room);
                let handle = app.registry.get(id.as_str())?;
                handle
                    .ask(|reply| RoomCmd::Leave {
                        player: session.player.clone(),
                        reply,
                    })
                    .await?;
                app.sessions.exit(&session.token, &id);
                self.reply(
                    "left",
                    request_id.as_deref(),
                    serde_json::json!({ "room": id }),
                );
                Ok(())
            }
            ClientMsg::AddBot {
                request_id,
                room,
                seat,
            } => {
                let player = session.player.clone();
                self.change_bots(request_id, &room, |reply| RoomCmd::AddBot {
                    player,
                    seat,
                    reply,
                })
                .await
            }
            ClientMsg::RemoveBot {
                request_id,
                room,
                seat,
            } => {
                let player = session.player.clone();
                self.change_bots(request_id, &room, |reply| RoomCmd::RemoveBot {
                    player,
                    seat,
                    reply,
                })
                .await
            }
            ClientMsg::Act {
                request_id,
                room,
                action,
                expected_seq,
            } => self.act(&request_id, &room, action.to_string(), expected_seq),
        }
    }

    /// The session this connection said hello with.
    fn signed_in(&self) -> Result<Arc<SessionInfo>, ApiError> {
        self.session
            .clone()
            .ok_or_else(|| ApiError::new(ErrorCode::NotAuthenticated, "send hello first"))
    }

    /// Forwards an action to its room, which answers through this connection's queue: the ack
    /// right behind the update (one write for both), or the refusal. Nothing to wait for here.
    fn act(
        &self,
        request_id: &str,
        room: &str,
        action: String,
        expected_seq: Option<u64>,
    ) -> Result<(), ApiError> {
        let session = self.signed_in()?;
        let handle = self.app.registry.get(room)?;
        handle.send(RoomCmd::Act {
            player: session.player.clone(),
            request_id: request_id.to_owned(),
            action,
            expected_seq,
            outbox: self.outbox.clone(),
        })
    }

    /// Sends a command that puts this connection into a room (seat, spectator, resume) and
    /// answers with the room.
    async fn enter(
        &self,
        session: &SessionInfo,
        request_id: Option<String>,
        room: &str,
        make: impl FnOnce(Outbox, crate::room::Reply<Joined>) -> RoomCmd,
    ) -> Result<(), ApiError> {
        let handle = self.app.registry.get(room)?;
        let outbox = self.outbox.clone();
        let joined = handle.ask(|reply| make(outbox, reply)).await?;
        self.entered(session, request_id.as_deref(), joined);
        Ok(())
    }

    /// Sends a bot change (creator only) and answers with the room.
    async fn change_bots(
        &self,
        request_id: Option<String>,
        room: &str,
        make: impl FnOnce(crate::room::Reply<crate::room::RoomInfo>) -> RoomCmd,
    ) -> Result<(), ApiError> {
        let handle = self.app.registry.get(room)?;
        let info = handle.ask(make).await?;
        self.reply(
            "room",
            request_id.as_deref(),
            serde_json::json!({ "room": info }),
        );
        Ok(())
    }

    fn entered(&self, session: &SessionInfo, request_id: Option<&str>, joined: Joined) {
        self.app.sessions.enter(&session.token, &joined.info.id);
        self.reply(
            "room",
            request_id,
            serde_json::json!({ "room": joined.info, "seat": joined.seat }),
        );
    }
}

/// The request id of a frame, cut to the longest accepted length.
fn request_id_of(frame: &serde_json::Value) -> Option<String> {
    frame
        .get("request_id")?
        .as_str()
        .map(|r| r.chars().take(MAX_REQUEST_ID).collect())
}

/// Parses a frame, telling bad JSON, unknown types and bad fields apart. On error, returns the
/// request id if one could be read, so the error can still be matched to its request.
fn parse(text: &str) -> Result<ClientMsg, (Option<String>, ApiError)> {
    // Well-formed requests take the direct path; only bad ones are examined in detail.
    if let Ok(msg) = serde_json::from_str::<ClientMsg>(text)
        && msg.request_id().is_none_or(|r| r.len() <= MAX_REQUEST_ID)
    {
        return Ok(msg);
    }
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        (
            None,
            ApiError::new(ErrorCode::BadJson, format!("not JSON: {e}")),
        )
    })?;
    let Some(object) = value.as_object() else {
        return Err((
            None,
            ApiError::new(ErrorCode::BadJson, "a frame must be a JSON object"),
        ));
    };
    let request_id = request_id_of(&value);
    let kind = object.get("type").and_then(|t| t.as_str());
    match kind {
        None => {
            return Err((
                request_id,
                ApiError::new(ErrorCode::BadMessage, "a frame needs a \"type\""),
            ));
        }
        Some(k) if !CLIENT_TYPES.contains(&k) => {
            return Err((
                request_id,
                ApiError::new(
                    ErrorCode::UnknownType,
                    format!("unknown message type {k:?}"),
                ),
            ));
        }
        Some(_) => {}
    }
    if object
        .get("request_id")
        .and_then(|r| r.as_str())
        .is_some_and(|r| r.len() > MAX_REQUEST_ID)
    {
        return Err((
            request_id,
            ApiError::new(
                ErrorCode::BadMessage,
                format!("request_id may be at most {MAX_REQUEST_ID} characters"),
            ),
        ));
    }
    serde_json::from_value::<ClientMsg>(value).map_err(|e| {
        (
            request_id,
            ApiError::new(ErrorCode::BadMessage, e.to_string()),
        )
    })
}
