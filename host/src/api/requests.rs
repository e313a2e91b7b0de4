//! What a connection does with each request: parse it (the `act` hot path in place), check the
//! rate limit and the session, and forward it to the registry or a room, answering with one reply.
//! Room and session refusals become wire errors here, through [`super::errors`].

use super::AppState;
use super::errors::{ApiError, ErrorCode};
use super::protocol::{ActFrame, CLIENT_TYPES, ClientMsg, MAX_REQUEST_ID, ServerMsg};
use crate::ids::RoomId;
use crate::room::{
    ActCmd, CloseReason, CreateRoom, Creator, Entering, JoinCmd, Outbox, Outgoing, RoomCmd,
};
use crate::session::SessionInfo;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;
use std::sync::Arc;

/// A connection's state between frames.
pub(super) struct Conn {
    app: Arc<AppState>,
    outbox: Outbox,
    session: Option<Arc<SessionInfo>>,
    limiter: DefaultDirectRateLimiter,
    strikes: u32,
}

impl Conn {
    pub fn new(app: Arc<AppState>, outbox: Outbox) -> Conn {
        let cfg = &app.config.connection;
        let per_second = NonZeroU32::new(cfg.messages_per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(cfg.burst).unwrap_or(NonZeroU32::MIN);
        Conn {
            limiter: RateLimiter::direct(Quota::per_second(per_second).allow_burst(burst)),
            app,
            outbox,
            session: None,
            strikes: 0,
        }
    }

    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    /// The session this connection said hello with.
    pub fn session(&self) -> Option<&SessionInfo> {
        self.session.as_deref()
    }

    fn send(&self, msg: ServerMsg<'_>) {
        self.outbox.push(Outgoing::Frame(msg.encode_boxed()));
    }

    pub fn reply_error(&self, request_id: Option<&str>, e: ApiError) {
        self.outbox.push(Outgoing::Frame(
            ServerMsg::error(&e, request_id).encode_boxed(),
        ));
    }

    pub async fn on_text(&mut self, text: &str) {
        if let Err(not_until) = self.limiter.check() {
            self.strikes += 1;
            if self.strikes > self.app.config.connection.flood_strikes {
                self.outbox.close_with(CloseReason::Flood);
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
            let action = act.action.get();
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

    /// `hello`: opens or resumes a session. A connection has one session: a second `hello` is
    /// refused unless it presents the same token, which just answers `welcome` again.
    pub fn hello(&mut self, request_id: Option<&str>, name: Option<String>, token: Option<String>) {
        if let Some(current) = &self.session {
            if token.as_deref() != Some(current.token.as_str()) {
                return self.reply_error(
                    request_id,
                    ApiError::new(
                        ErrorCode::AlreadySignedIn,
                        "this connection already has a session; open another connection to \
                         sign in as someone else",
                    ),
                );
            }
            let current = current.clone();
            return self.welcome(request_id, &current, true);
        }
        let result = match (token, name) {
            (Some(token), _) => self
                .app
                .sessions
                .resume(&token, self.outbox.clone())
                .map(|s| (s, true))
                .map_err(ApiError::from),
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
                self.welcome(request_id, &session, resumed);
                self.session = Some(Arc::new(session));
            }
            Err(e) => self.reply_error(request_id, e),
        }
    }

    fn welcome(&self, request_id: Option<&str>, session: &SessionInfo, resumed: bool) {
        self.send(ServerMsg::Welcome {
            request_id,
            player: &session.player,
            name: &session.name,
            token: &session.token,
            resumed,
        });
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
                self.send(ServerMsg::Games {
                    request_id: request_id.as_deref(),
                    games: &games,
                });
                Ok(())
            }
            ClientMsg::ListRooms {
                request_id,
                game,
                status,
            } => {
                let rooms = app.registry.list(game.as_deref(), status.as_deref());
                self.send(ServerMsg::Rooms {
                    request_id: request_id.as_deref(),
                    rooms: &rooms,
                });
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
                // The room sends the reply itself, ahead of its first update.
                let id = app
                    .registry
                    .create(
                        req,
                        Creator {
                            player: session.player.clone(),
                            name: session.name.clone(),
                            outbox: self.outbox.clone(),
                            request_id: request_id.map(Arc::from),
                        },
                    )
                    .await?;
                app.sessions.enter(&session.token, &id);
                Ok(())
            }
            ClientMsg::Join {
                request_id,
                room,
                seat,
            } => {
                let (player, name) = (session.player.clone(), session.name.clone());
                self.enter(&session, request_id, &room, |to| {
                    RoomCmd::Join(JoinCmd {
                        player,
                        name,
                        seat,
                        to,
                    })
                })
                .await
            }
            ClientMsg::Watch { request_id, room } => {
                let player = session.player.clone();
                self.enter(&session, request_id, &room, |to| RoomCmd::Watch {
                    player,
                    to,
                })
                .await
            }
            ClientMsg::Resume {
                request_id,
                room,
                last_seq,
            } => {
                let player = session.player.clone();
                self.enter(&session, request_id, &room, |to| RoomCmd::Resume {
                    player,
                    last_seq,
                    to,
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
                self.send(ServerMsg::Left {
                    request_id: request_id.as_deref(),
                    room: &id,
                });
                Ok(())
            }
            ClientMsg::AddBot {
                request_id,
                room,
                seat,
            } => {
                self.change_bot(&session, request_id, &room, seat, true)
                    .await
            }
            ClientMsg::RemoveBot {
                request_id,
                room,
                seat,
            } => {
                self.change_bot(&session, request_id, &room, Some(seat), false)
                    .await
            }
            ClientMsg::Act {
                request_id,
                room,
                action,
                expected_seq,
            } => self.act(&request_id, &room, &action.to_string(), expected_seq),
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
        action: &str,
        expected_seq: Option<u64>,
    ) -> Result<(), ApiError> {
        let session = self.signed_in()?;
        let handle = self.app.registry.get(room)?;
        handle
            .send(RoomCmd::Act(ActCmd {
                player: session.player.clone(),
                request_id: request_id.into(),
                action: action.into(),
                expected_seq,
                outbox: self.outbox.clone(),
            }))
            .map_err(ApiError::from)
    }

    /// Sends a command that puts this connection into a room (seat, spectator, resume). The
    /// room answers with the `room` frame itself, ahead of the updates that follow it; a
    /// refusal comes back here and is sent from here.
    async fn enter(
        &self,
        session: &SessionInfo,
        request_id: Option<String>,
        room: &str,
        make: impl FnOnce(Entering) -> RoomCmd,
    ) -> Result<(), ApiError> {
        let handle = self.app.registry.get(room)?;
        let outbox = self.outbox.clone();
        handle
            .ask(|reply| {
                make(Entering {
                    outbox,
                    request_id: request_id.map(Arc::from),
                    reply,
                })
            })
            .await?;
        self.app.sessions.enter(&session.token, handle.id());
        Ok(())
    }

    /// Adds or removes a bot (creator only) and answers with the room.
    async fn change_bot(
        &self,
        session: &SessionInfo,
        request_id: Option<String>,
        room: &str,
        seat: Option<u32>,
        add: bool,
    ) -> Result<(), ApiError> {
        let handle = self.app.registry.get(room)?;
        let player = session.player.clone();
        let info = handle
            .ask(|reply| RoomCmd::Bot {
                player,
                seat,
                add,
                reply,
            })
            .await?;
        self.send(ServerMsg::Room {
            request_id: Some(request_id.as_deref()),
            room: &info,
            seat: None,
        });
        Ok(())
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
