//! Why a room (or the registry) refused a request. One variant per outcome a client can act
//! on; the edge maps each to its wire code, in one place (`api::errors`).

use crate::rules::{RuleError, RulesError};

/// A refusal by a room or by the registry.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RoomError {
    /// No open room has this id.
    #[error("no room {room}")]
    UnknownRoom {
        /// The id asked for.
        room: String,
    },
    /// The room closed while the request was on its way.
    #[error("the room has closed")]
    Closed,
    /// The room's inbox is full.
    #[error("the room is busy; try again")]
    Busy,
    /// Storage is behind (the database is slow or down): nothing new is taken until it catches
    /// up, and nothing acknowledged is lost.
    #[error("the server cannot store new moves right now; try again shortly")]
    Unavailable,
    /// No such game, or not at that version.
    #[error("no game {game}{}", version.as_ref().map(|v| format!(" at version {v}")).unwrap_or_default())]
    UnknownGame {
        /// The game asked for.
        game: String,
        /// The version asked for.
        version: Option<String>,
    },
    /// The game's rules refused the options.
    #[error("{reason}")]
    BadOptions {
        /// What the rules said.
        reason: String,
    },
    /// Client seeds are not accepted here.
    #[error("this server does not accept client seeds")]
    SeedNotAllowed,
    /// The version asked for is quarantined: it takes no new rooms.
    #[error("{game}@{version} is quarantined and takes no new rooms: {reason}")]
    VersionQuarantined {
        /// The game.
        game: String,
        /// The version.
        version: String,
        /// Why.
        reason: String,
    },
    /// A field out of range (seats, bots, a seat number).
    #[error("{reason}")]
    BadRequest {
        /// What is wrong.
        reason: String,
    },
    /// The creator (a player, or everyone at their address) has as many rooms open as allowed.
    #[error("at most {max} rooms per {per} may be open (created and not finished) at once")]
    TooManyRooms {
        /// The cap.
        max: u32,
        /// What it counts by: "player" or "address".
        per: &'static str,
    },
    /// The server has as many rooms as it takes.
    #[error("the server has as many rooms as it takes; try again later")]
    ServerFull,
    /// Seats can no longer change.
    #[error("the game has already started")]
    AlreadyStarted,
    /// The seat is not free (or, for bot removal, not a bot).
    #[error("seat {seat} is {state}")]
    SeatTaken {
        /// The seat.
        seat: u32,
        /// What it is instead, e.g. "taken".
        state: &'static str,
    },
    /// No free seat.
    #[error("every seat is taken")]
    RoomFull,
    /// The room has as many spectators as it takes.
    #[error("the room has its maximum of {max} spectators")]
    TooManySpectators {
        /// The cap.
        max: usize,
    },
    /// The player is neither seated nor watching (`seated_only`: the request needs a seat).
    #[error("{}", if *seated_only { "you have no seat in this room" } else { "you are not in this room" })]
    NotInRoom {
        /// Whether only a seat would do.
        seated_only: bool,
    },
    /// Only the creator may do this.
    #[error("only the room's creator may change bots")]
    NotCreator,
    /// The game has not started.
    #[error("the game has not started yet")]
    NotStarted,
    /// The room stopped after repeated module failures.
    #[error("the room is paused: {reason}")]
    Paused {
        /// Why.
        reason: String,
    },
    /// The game is over.
    #[error("the game is over")]
    GameOver,
    /// The client's view is out of date.
    #[error("the room is at seq {seq}, not {expected}; refresh your view")]
    Stale {
        /// Where the room is.
        seq: u64,
        /// What the client expected.
        expected: u64,
    },
    /// Not this seat's turn.
    #[error("it is not your turn")]
    NotYourTurn,
    /// Against the rules.
    #[error("{reason}")]
    Illegal {
        /// The rules' words.
        reason: String,
    },
    /// The action was not understood.
    #[error("{reason}")]
    MalformedAction {
        /// The rules' words.
        reason: String,
    },
    /// The module failed on this request; nothing changed.
    #[error("the game's rules failed {during} ({kind}); nothing changed")]
    ModuleFailed {
        /// What the module was doing, e.g. "on this action".
        during: &'static str,
        /// The failure kind (`out_of_fuel`, `trap`, ...).
        kind: &'static str,
    },
}

impl RoomError {
    /// A stable name for the kind of refusal: the room's action metrics count refusals by it,
    /// and the edge sends the wire error code of the same name.
    pub fn kind(&self) -> &'static str {
        match self {
            RoomError::UnknownRoom { .. } | RoomError::Closed => "unknown_room",
            RoomError::Busy => "busy",
            RoomError::Unavailable => "unavailable",
            RoomError::UnknownGame { .. } => "unknown_game",
            RoomError::VersionQuarantined { .. } => "version_quarantined",
            RoomError::BadOptions { .. } => "bad_options",
            RoomError::SeedNotAllowed => "seed_not_allowed",
            RoomError::BadRequest { .. } => "bad_message",
            RoomError::TooManyRooms { .. } => "too_many_rooms",
            RoomError::ServerFull => "server_full",
            RoomError::AlreadyStarted => "already_started",
            RoomError::SeatTaken { .. } => "seat_taken",
            RoomError::RoomFull => "room_full",
            RoomError::TooManySpectators { .. } => "too_many_spectators",
            RoomError::NotInRoom { .. } => "not_in_room",
            RoomError::NotCreator => "not_creator",
            RoomError::NotStarted => "not_started",
            RoomError::Paused { .. } => "room_paused",
            RoomError::GameOver => "game_over",
            RoomError::Stale { .. } => "stale",
            RoomError::NotYourTurn => "not_your_turn",
            RoomError::Illegal { .. } => "illegal",
            RoomError::MalformedAction { .. } => "malformed_action",
            RoomError::ModuleFailed { .. } => "module_error",
        }
    }

    /// The refusal for a module call made on a player's behalf: the rules' own refusals keep
    /// their meaning, module faults become [`RoomError::ModuleFailed`].
    pub fn from_rules(e: &RulesError, during: &'static str) -> RoomError {
        match e {
            RulesError::Rejected(rule) => match rule {
                RuleError::NotYourTurn => RoomError::NotYourTurn,
                RuleError::GameOver => RoomError::GameOver,
                RuleError::Illegal(reason) => RoomError::Illegal {
                    reason: reason.clone(),
                },
                RuleError::Malformed(reason) => RoomError::MalformedAction {
                    reason: reason.clone(),
                },
                RuleError::BadOptions(reason) => RoomError::BadOptions {
                    reason: reason.clone(),
                },
                other @ (RuleError::BadState(_) | RuleError::UnsupportedVersion(_)) => {
                    RoomError::MalformedAction {
                        reason: other.to_string(),
                    }
                }
            },
            fault => RoomError::ModuleFailed {
                during,
                kind: fault.kind(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rules_refusals_keep_their_meaning_and_faults_say_nothing_changed() {
        // A player refused by the rules learns why in the rules' words; a module fault says what
        // kind of failure it was and that the game is unchanged.
        let illegal = RulesError::Rejected(RuleError::Illegal("no".into()));
        assert_eq!(
            RoomError::from_rules(&illegal, "on this action"),
            RoomError::Illegal {
                reason: "no".into()
            }
        );
        let trap = RulesError::Trap {
            message: "boom".into(),
        };
        let e = RoomError::from_rules(&trap, "on this action");
        assert_eq!(
            e.to_string(),
            "the game's rules failed on this action (trap); nothing changed"
        );
    }
}
