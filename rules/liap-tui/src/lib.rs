//! Liap Tui: the four-player trick-taking game played with the 32 pieces of Chinese chess, as
//! Tabula rules (the full rules are the spec, `liap-tui-rules.md`; section numbers below refer
//! to it).
//!
//! The host is authoritative and clients are untrusted: every rule is enforced here, every
//! refusal is a [`RuleError::Illegal`] worded for the player, and views never show another
//! seat's hand or the deal stream.
//!
//! Layout — each module owns one thing:
//! - `pieces`: kinds, points, the canonical deck and the seeded deal (§1–2);
//! - `plays`: play types, strength and trick resolution (§4);
//! - `legal`: the valid leads a hand holds, listed in views;
//! - `options`: room options and their validation (§5), the round limit included;
//! - `state`: the state, phases, timers and the invariants `check` verifies;
//! - `flow`: every change of state — deals, redeals, declarations, tricks, scoring, the end of
//!   the game (§3);
//! - `migrate`: taking over a game that version 1 of these rules played;
//! - `events` and `view`: what players and spectators are told (§7);
//! - `bot`: the computer player (§6): the spec's baseline, and the default that plays to its bet.
//!
//! Actions are small JSON objects: `{"redeal": true}` / `{"redeal": false}`, `{"declare": 3}`,
//! `{"play": ["HORSE_RED", "HORSE_RED"]}`. Options are described on [`Options`], views on
//! [`View`] (each view's `can` says what its viewer may send now, for a lead down to every valid
//! play in the viewer's hand), events on [`Event`].
//!
//! Version 2 of the module adds a round limit (option `max_rounds`, default 20): after the
//! scoring of the last round the game is over and the highest totals win, as when the win score
//! is reached; views show the limit and `game_over` says which of the two ended the game. Its
//! state (state version 2) is version 1's with the limit appended, and [`Game::migrate`] takes
//! over version-1 games (see `migrate` for the rule).
//!
//! Time: every pause of spec §5 is a timer at `now + delay`, a delay of 0 included, so every
//! transition is its own step in the host's log. The trick is resolved the moment the fourth
//! play lands (winner, piles, `trick_won`); the two pauses after it are display time in `turn`.

mod bot;
mod events;
mod flow;
mod legal;
mod migrate;
mod options;
mod pieces;
mod plays;
mod state;
mod view;

#[cfg(test)]
mod tests;

pub use events::Event;
pub use flow::round_score;
pub use options::{BotLevel, Config, Options, Pace, Settings};
pub use pieces::Kind;
pub use plays::{PlayType, classify, strength};
pub use state::{EndReason, Phase, State};
pub use view::{Can, PlayCan, View};

use serde::{Deserialize, Serialize};
use tabula_sdk::{Ctx, Game, GameInfo, Outcome, Rng, RuleError, Seat, Setup, Status, Viewer};

/// The game, exported below as this module's rules.
pub struct LiapTui;

/// A player's move. Exactly these JSON shapes parse: `{"redeal": true}`, `{"declare": 3}`,
/// `{"play": ["HORSE_RED", "HORSE_RED"]}`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// A weak player's answer to the redeal question.
    Redeal(bool),
    /// How many piles the player expects to capture, 0 to 8 (a wider integer type, so that an
    /// out-of-range number gets a rule's explanation rather than a parse error).
    Declare(i64),
    /// The pieces to lead or follow with, by kind.
    Play(Vec<Kind>),
}

impl Game for LiapTui {
    type State = State;
    type Action = Action;
    type Options = Options;
    type View = View;
    /// 2 since module 2.0.0, which appended the round limit to the state (see `migrate`).
    const STATE_VERSION: u32 = 2;

    fn info() -> GameInfo {
        GameInfo {
            name: "liap-tui",
            version: "2.0.0",
            min_seats: 4,
            max_seats: 4,
            phases: Phase::NAMES,
            transitions: Phase::TRANSITIONS,
        }
    }

    fn start(setup: Setup<Options>, ctx: &mut Ctx) -> Result<State, RuleError> {
        let settings = setup.options.validate().map_err(RuleError::BadOptions)?;
        Ok(State::start(settings, setup.seed, ctx))
    }

    fn act(state: &mut State, seat: Seat, action: Action, ctx: &mut Ctx) -> Result<(), RuleError> {
        if !state.is_awaited(seat) {
            return Err(RuleError::NotYourTurn);
        }
        match action {
            Action::Redeal(accept) => state.answer_redeal(seat, accept, ctx),
            Action::Declare(value) => state.declare(seat, value, ctx),
            Action::Play(pieces) => state.play(seat, pieces, ctx),
        }
    }

    fn timer(state: &mut State, ctx: &mut Ctx) -> Result<(), RuleError> {
        state.on_timer(ctx)
    }

    fn view(state: &State, viewer: Viewer) -> View {
        view::render(state, viewer)
    }

    fn bot(state: &State, seat: Seat, rng: &mut Rng) -> Option<Action> {
        bot::choose(state, seat, rng)
    }

    fn phase(state: &State) -> &'static str {
        state.phase().as_str()
    }

    fn status(state: &State) -> Status {
        if state.phase() == Phase::GameOver {
            Outcome::winners(state.winners.iter().copied())
                .with_scores(state.totals.iter().map(|&t| i64::from(t)))
                .with_rounds(state.round)
                .into()
        } else {
            Status::Running
        }
    }

    fn awaiting(state: &State) -> Vec<Seat> {
        state.awaiting()
    }

    fn wake_at(state: &State) -> Option<u64> {
        state.timer.map(|t| t.at)
    }

    fn check(state: &State) -> Result<(), String> {
        state.check()
    }

    fn migrate(from_version: u32, body: &[u8]) -> Result<State, RuleError> {
        migrate::from_version(from_version, body)
    }
}

tabula_sdk::export_game!(LiapTui);
