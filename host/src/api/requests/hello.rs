//! `hello` on a connection: a new session or a resumed one, and the `welcome` that answers it
//! (with the rooms the player sits in).

use super::Conn;
use crate::api::errors::{ApiError, ErrorCode};
use crate::api::protocol::{SeatedRoom, ServerMsg, forbidden_char};
use crate::session::SessionInfo;
use std::sync::Arc;

impl Conn {
    /// `hello`: opens or resumes a session. A connection has one session: a second `hello` is
    /// refused unless it presents the same token, which just answers `welcome` again.
    pub async fn hello(
        &mut self,
        request_id: Option<&str>,
        name: Option<String>,
        token: Option<String>,
    ) {
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
                .await
                .map(|s| (s, true))
                .map_err(ApiError::from),
            (None, Some(name)) => {
                let name = name.trim().to_owned();
                if name.is_empty() || name.chars().count() > 32 {
                    Err(ApiError::new(
                        ErrorCode::BadMessage,
                        "name must be 1 to 32 characters",
                    ))
                } else if name.chars().any(forbidden_char) {
                    Err(ApiError::new(
                        ErrorCode::BadMessage,
                        "name may not contain control or text-direction characters",
                    ))
                } else {
                    self.app
                        .sessions
                        .create(&name, self.outbox.clone(), self.peer)
                        .await
                        .map(|s| (s, false))
                        .map_err(ApiError::from)
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
        let seated = self.app.registry.seats_of(&session.player);
        self.send(ServerMsg::Welcome {
            request_id,
            player: &session.player,
            name: &session.name,
            token: &session.token,
            resumed,
            rooms: seated
                .iter()
                .map(|(room, seat)| SeatedRoom { room, seat: *seat })
                .collect(),
        });
    }
}
