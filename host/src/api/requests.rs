//! What a connection does with each request: parse it (the `act` hot path in place), check the
//! rate limit and the session, and forward it to the registry or a room, answering with one reply.
//! Room and session refusals become wire errors here, through [`super::errors`].

use super::AppState;
use super::errors::{ApiError, ErrorCode, wait_time};
use super::protocol::{
    ActFrame, CLIENT_TYPES, ClientMsg, MAX_REQUEST_ID, MAX_ROOMS_PER_PAGE, ROOMS_PER_PAGE,
    ServerMsg, request_id_ok,
};
use crate::ids::RoomId;
use crate::room::{
    ActCmd, CloseReason, CreateRoom, Creator, Entering, JoinCmd, Outbox, RoomCmd, RoomHandle,
};
use crate::session::SessionInfo;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

mod hello;

/// A connection's state between frames.
pub(super) struct Conn {
    app: Arc<AppState>,
    outbox: Outbox,
    /// The client's address.
    pub peer: IpAddr,
    session: Option<Arc<SessionInfo>>,
    limiter: DefaultDirectRateLimiter,
    strikes: u32,
    /// The connection's lobby subscription, if it has one.
    lobby: Option<super::lobby::Subscription>,
}

impl Conn {
    pub fn new(app: Arc<AppState>, outbox: Outbox, peer: IpAddr) -> Conn {
        let cfg = &app.config.connection;
        let per_second = NonZeroU32::new(cfg.messages_per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(cfg.burst).unwrap_or(NonZeroU32::MIN);
        Conn {
            limiter: RateLimiter::direct(Quota::per_second(per_second).allow_burst(burst)),
            app,
            outbox,
            peer,
            session: None,
            strikes: 0,
            lobby: None,
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
        self.outbox.push_reply(msg.encode_boxed());
    }

    pub fn reply_error(&self, request_id: Option<&str>, e: ApiError) {
        self.outbox
            .push_reply(ServerMsg::error(&e, request_id).encode_boxed());
    }

    /// Takes `cost` from the rate limit; on refusal answers `rate_limited` (with the request's
    /// id), or closes a client that keeps flooding. Every frame costs at least one, whatever its
    /// kind.
    fn within_rate(&mut self, cost: u32, request_id: Option<&str>) -> bool {
        let Some(cost) = NonZeroU32::new(cost) else {
            return true;
        };
        let wait = match self.limiter.check_n(cost) {
            Ok(Ok(())) => {
                self.strikes = 0;
                return true;
            }
            Ok(Err(not_until)) => wait_time(&not_until),
            // More than a whole burst: never possible, as if it had to wait a second.
            Err(_) => std::time::Duration::from_secs(1),
        };
        self.strikes += 1;
        if self.strikes > self.app.config.connection.flood_strikes {
            self.outbox.close_with(CloseReason::Flood);
            return false;
        }
        // Every request gets its one reply, so the client can retry exactly that one.
        self.reply_error(
            request_id,
            ApiError::rate_limited("too many messages; slow down", wait),
        );
        false
    }

    /// A binary frame: counted like any other, then refused.
    pub fn on_binary(&mut self) {
        if self.within_rate(1, None) {
            self.reply_error(
                None,
                ApiError::new(
                    ErrorCode::BadJson,
                    "binary frames are not supported; send JSON text",
                ),
            );
        }
    }

    /// A text frame: read, charged to the rate limit by what it asks for (a frame that cannot be
    /// read costs one), and answered.
    pub async fn on_text(&mut self, text: &str) {
        let max = self.app.config.connection.max_message_bytes;
        if text.len() > max {
            if self.within_rate(1, None) {
                self.reply_error(
                    None,
                    ApiError::new(
                        ErrorCode::FrameTooLarge,
                        format!("frames may be at most {max} bytes"),
                    ),
                );
            }
            return;
        }
        if let Some(act) = ActFrame::parse(text) {
            if !self.within_rate(1, Some(act.request_id)) {
                return;
            }
            let action = act.action.get();
            if let Err(e) = self.act(act.request_id, act.room, action, act.expected_seq) {
                self.reply_error(Some(act.request_id), e);
            }
            return;
        }
        let msg = match parse(text) {
            Ok(m) => m,
            Err((request_id, e)) => {
                if self.within_rate(1, request_id.as_deref()) {
                    self.reply_error(request_id.as_deref(), e);
                }
                return;
            }
        };
        let request_id = msg.request_id().map(str::to_owned);
        // The whole cost at once: a refused request leaves the bucket as it was, so waiting
        // `retry_after_ms` is enough for the same request to pass.
        if !self.within_rate(cost(&msg), request_id.as_deref()) {
            return;
        }
        if let Err(e) = self.dispatch(msg).await {
            self.reply_error(request_id.as_deref(), e);
        }
    }

    /// Answers a page of listed rooms (`rooms`); returns it.
    fn rooms_page(
        &self,
        request_id: Option<&str>,
        query: &super::lobby::Query,
    ) -> crate::room::registry::RoomPage {
        let page = self.app.registry.list(&query.borrowed());
        self.send(ServerMsg::Rooms {
            request_id,
            rooms: &page.rooms,
            next: page.next.as_ref(),
        });
        page
    }

    async fn dispatch(&mut self, msg: ClientMsg) -> Result<(), ApiError> {
        if let ClientMsg::Hello {
            request_id,
            name,
            token,
        } = msg
        {
            self.hello(request_id.as_deref(), name, token).await;
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
                limit,
                after,
            } => {
                let query = room_query(game, status, limit, after)?;
                self.rooms_page(request_id.as_deref(), &query);
                Ok(())
            }
            ClientMsg::SubscribeRooms {
                request_id,
                game,
                status,
                limit,
                after,
            } => {
                let query = room_query(game, status, limit, after)?;
                // The old subscription (if any) ends before the new page is answered: no page
                // of the old one comes after it.
                self.lobby = None;
                let page = self.rooms_page(request_id.as_deref(), &query);
                self.lobby = Some(super::lobby::subscribe(
                    &app,
                    self.outbox.clone(),
                    query,
                    &page,
                ));
                Ok(())
            }
            ClientMsg::UnsubscribeRooms { request_id } => {
                self.lobby = None;
                self.send(ServerMsg::Unsubscribed {
                    request_id: request_id.as_deref(),
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
                            addr: self.peer,
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
                let handle = self.room(id.as_str())?;
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

    /// The room with id `id`. Failed lookups are counted per address and player, and past
    /// their limit every lookup is refused for a while (see [`super::guesses`]).
    fn room(&self, id: &str) -> Result<RoomHandle, ApiError> {
        let player = self.session.as_ref().map(|s| &s.player);
        let barred = |wait| {
            ApiError::rate_limited("too many lookups of rooms that do not exist; wait", wait)
        };
        if let Some(wait) = self.app.guesses.barred(self.peer, player) {
            return Err(barred(wait));
        }
        self.app
            .registry
            .get(id)
            .map_err(|e| match self.app.guesses.failed(self.peer, player) {
                Some(wait) => barred(wait),
                None => ApiError::from(e),
            })
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
        let handle = self.room(room)?;
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
        let handle = self.room(room)?;
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
        let handle = self.room(room)?;
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

/// What a request costs of the rate limit: reading every room or game, and creating a room,
/// cost the server more than an action does.
fn cost(msg: &ClientMsg) -> u32 {
    match msg {
        ClientMsg::ListRooms { .. }
        | ClientMsg::SubscribeRooms { .. }
        | ClientMsg::CreateRoom { .. } => 5,
        ClientMsg::ListGames { .. } | ClientMsg::Hello { .. } => 2,
        _ => 1,
    }
}

/// A `list_rooms` or `subscribe_rooms` query, checked.
fn room_query(
    game: Option<String>,
    status: Option<String>,
    limit: Option<usize>,
    after: Option<String>,
) -> Result<super::lobby::Query, ApiError> {
    let limit = limit.unwrap_or(ROOMS_PER_PAGE);
    if !(1..=MAX_ROOMS_PER_PAGE).contains(&limit) {
        return Err(ApiError::new(
            ErrorCode::BadMessage,
            format!("limit must be 1 to {MAX_ROOMS_PER_PAGE}"),
        ));
    }
    Ok(super::lobby::Query {
        game,
        status,
        after,
        limit,
    })
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
        && msg.request_id().is_none_or(request_id_ok)
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
        .is_some_and(|r| !request_id_ok(r))
    {
        return Err((
            request_id,
            ApiError::new(
                ErrorCode::BadMessage,
                format!(
                    "request_id may be at most {MAX_REQUEST_ID} characters, with no control or \
                     text-direction characters"
                ),
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
