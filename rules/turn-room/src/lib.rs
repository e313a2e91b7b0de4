//! Turn room: the benchmark game. Seats take turns adding 1, 2 or 3 to a shared counter; the
//! game ends after a fixed number of accepted moves. No hidden information, no timers.

use serde::{Deserialize, Serialize};
use tabula_sdk::{Audience, Ctx, Game, GameInfo, Rng, RuleError, Seat, Setup, Status, Viewer};

/// The game, exported below as this module's rules.
pub struct TurnRoom;

/// The last accepted move.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct LastMove {
    /// Who moved.
    pub player: Seat,
    /// What they added.
    pub add: u8,
}

/// The whole game.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct State {
    /// Whose turn it is.
    pub turn: Seat,
    /// The running total.
    pub counter: u64,
    /// Accepted moves so far.
    pub moves: u32,
    /// The last accepted move.
    pub last: Option<LastMove>,
    seats: u32,
    limit: u32,
}

/// `{"add": k}` with k in 1..=3.
#[derive(Serialize, Deserialize, Clone, Copy, Debug)]
#[serde(deny_unknown_fields)]
pub struct Action {
    /// How much to add.
    pub add: i64,
}

/// Options: `{"moves": 100}`.
#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(default, deny_unknown_fields)]
pub struct Options {
    /// Accepted moves after which the game ends (1..=1,000,000).
    pub moves: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options { moves: 100 }
    }
}

impl Game for TurnRoom {
    type State = State;
    type Action = Action;
    type Options = Options;
    type View = State;
    const PUBLIC_VIEW: bool = true;

    fn info() -> GameInfo {
        GameInfo::simple("turn-room", "1.1.0", 2, 4)
    }

    fn start(setup: Setup<Options>, _: &mut Ctx) -> Result<State, RuleError> {
        if !(1..=1_000_000).contains(&setup.options.moves) {
            return Err(RuleError::BadOptions(
                "moves must be between 1 and 1000000".into(),
            ));
        }
        Ok(State {
            turn: 0,
            counter: 0,
            moves: 0,
            last: None,
            seats: setup.seats,
            limit: setup.options.moves,
        })
    }

    fn act(state: &mut State, seat: Seat, action: Action, ctx: &mut Ctx) -> Result<(), RuleError> {
        let add = match u8::try_from(action.add) {
            Ok(k @ 1..=3) => k,
            _ => return Err(RuleError::illegal("you may add 1, 2 or 3")),
        };
        state.counter += u64::from(add);
        state.moves += 1;
        state.last = Some(LastMove { player: seat, add });
        state.turn = (state.turn + 1) % state.seats;
        ctx.emit(Audience::Everyone, &state.last);
        Ok(())
    }

    fn view(state: &State, _: Viewer) -> State {
        state.clone()
    }

    fn bot(state: &State, _: Seat, rng: &mut Rng) -> Option<Action> {
        (state.moves < state.limit).then(|| Action {
            add: rng.below(3) as i64 + 1,
        })
    }

    fn status(state: &State) -> Status {
        if state.moves < state.limit {
            Status::Running
        } else {
            Status::Finished(serde_json::json!({ "counter": state.counter }))
        }
    }

    fn awaiting(state: &State) -> Vec<Seat> {
        vec![state.turn]
    }

    fn check(state: &State) -> Result<(), String> {
        if state.turn >= state.seats {
            return Err(format!(
                "turn {} but only {} seats",
                state.turn, state.seats
            ));
        }
        if state.counter < u64::from(state.moves) || state.counter > 3 * u64::from(state.moves) {
            return Err(format!(
                "counter {} cannot come from {} moves of 1 to 3",
                state.counter, state.moves
            ));
        }
        Ok(())
    }
}

tabula_sdk::export_game!(TurnRoom);

#[cfg(test)]
mod tests {
    use super::*;
    use tabula_sdk::Harness;

    #[test]
    fn seats_take_turns_and_the_game_ends_after_the_move_limit() {
        // Each seat in turn adds to the counter; after `moves` moves the game is over.
        let mut h = Harness::<TurnRoom>::start(4, 0, r#"{"moves": 5}"#).expect("start");
        for i in 0..5u32 {
            h.act(i % 4, &Action { add: 2 }).expect("legal");
        }
        let s = h.state();
        assert_eq!((s.counter, s.moves, s.turn), (10, 5, 1));
        assert_eq!(s.last, Some(LastMove { player: 0, add: 2 }));
        assert_eq!(h.step().result.as_deref(), Some(r#"{"counter":10}"#));
        assert_eq!(
            h.act(1, &Action { add: 1 }).err(),
            Some(RuleError::GameOver)
        );
    }

    #[test]
    fn bad_moves_and_options_are_refused() {
        // Out-of-range adds, wrong seats, junk JSON and bad options are typed errors.
        let mut h = Harness::<TurnRoom>::start(4, 0, "").expect("start");
        assert!(matches!(
            h.act(0, &Action { add: 4 }),
            Err(RuleError::Illegal(_))
        ));
        assert!(matches!(
            h.act(0, &Action { add: 0 }),
            Err(RuleError::Illegal(_))
        ));
        assert_eq!(
            h.act(1, &Action { add: 1 }).err(),
            Some(RuleError::NotYourTurn)
        );
        assert!(matches!(
            h.act_json(0, r#"{"add":"x"}"#),
            Err(RuleError::Malformed(_))
        ));
        assert!(matches!(
            h.act_json(0, r#"{"add":1,"x":1}"#),
            Err(RuleError::Malformed(_))
        ));
        assert!(matches!(
            Harness::<TurnRoom>::start(4, 0, r#"{"moves": 0}"#).err(),
            Some(RuleError::BadOptions(_))
        ));
        assert!(matches!(
            Harness::<TurnRoom>::start(4, 0, r#"{"rounds": 3}"#).err(),
            Some(RuleError::BadOptions(_))
        ));
        assert!(matches!(
            Harness::<TurnRoom>::start(5, 0, "").err(),
            Some(RuleError::BadOptions(_))
        ));
    }

    #[test]
    fn bot_games_finish_with_valid_states() {
        // Bot-only games end after exactly the move limit with every check passing.
        for e in 0..20 {
            let mut h = Harness::<TurnRoom>::start(4, e, r#"{"moves": 50}"#).expect("start");
            assert_eq!(h.play_out(e, 1000).expect("finishes").steps, 50);
        }
    }
}
