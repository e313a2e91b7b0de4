//! What an operator may do to a room: pause it (no moves, timers or bots), let it go on, and
//! look inside (its state bytes and every viewer's view). Pausing is not a game input: it is
//! not in the event log, and a snapshot keeps it only when one is taken while paused.

use super::super::{OperatorCmd, RoomError, RoomState, RoomStatus};
use super::RoomActor;
use crate::rules::Viewer;

impl RoomActor {
    pub(super) async fn operator(&mut self, cmd: OperatorCmd) {
        match cmd {
            OperatorCmd::Pause { reason, reply } => {
                let r = match self.game.status() {
                    RoomStatus::Running => {
                        tracing::info!(room_id = %self.id, "paused: {reason}");
                        self.pause(reason);
                        Ok(())
                    }
                    other => Err(RoomError::BadRequest {
                        reason: format!(
                            "only a running game can be paused; it is {}",
                            other.as_str()
                        ),
                    }),
                };
                self.publish_info();
                let _ = reply.send(r.map(|()| self.info()));
            }
            OperatorCmd::Resume(reply) => {
                let r = match (self.game.status(), self.game.paused_reason()) {
                    (RoomStatus::Paused, Some(why)) if why.starts_with(super::super::CORRUPT) => {
                        Err(RoomError::BadRequest {
                            reason: "a game whose log does not replay stays paused".into(),
                        })
                    }
                    (RoomStatus::Paused, _) => {
                        tracing::info!(room_id = %self.id, "resumed by an operator");
                        self.game.unpause();
                        self.failures = 0;
                        self.stats.set_phase(&self.game.phase().clone());
                        self.schedule_moves();
                        self.lobby_dirty = true;
                        Ok(())
                    }
                    (other, _) => Err(RoomError::BadRequest {
                        reason: format!("the game is not paused; it is {}", other.as_str()),
                    }),
                };
                self.publish_info();
                let _ = reply.send(r.map(|()| self.info()));
            }
            OperatorCmd::Inspect(reply) => {
                let _ = reply.send(Ok(self.inspect().await));
            }
        }
    }

    async fn inspect(&self) -> RoomState {
        let mut views = serde_json::Map::new();
        if self.game.has_state() {
            let viewers = (0..self.seats.len())
                .map(Viewer::Seat)
                .chain([Viewer::Spectator]);
            for viewer in viewers {
                let (key, seat) = match viewer {
                    Viewer::Seat(s) => (s.to_string(), Some(s)),
                    Viewer::Spectator => ("spectator".to_owned(), None),
                };
                let view = match self.calls.view(self.game.state(), seat).await {
                    Ok(text) => {
                        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
                    }
                    Err(e) => serde_json::json!({ "error": e.to_string() }),
                };
                views.insert(key, view);
            }
        }
        let state = self.game.state();
        RoomState {
            info: self.info(),
            digest: self.calls.module().digest().to_owned(),
            state: state.iter().map(|b| format!("{b:02x}")).collect(),
            state_hash: format!("{:016x}", crate::store::state_hash(state)),
            views,
        }
    }
}
