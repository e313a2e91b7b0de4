//! Tic-tac-toe: the smallest complete Tabula game. Seat 0 plays X and moves first.

use serde::{Deserialize, Serialize};
use tabula_sdk::{
    Choice, Ctx, Game, GameInfo, Outcome, Rng, RuleError, Seat, Setup, Status, Viewer,
};

/// The game, exported below as this module's rules.
pub struct TicTacToe;

/// The board (cells 0..9, row by row, holding the seat + 1 or 0) and whose turn it is.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Board {
    cells: [u8; 9],
    turn: Seat,
}

/// `{"cell": 4}` takes the centre.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Move {
    cell: usize,
}

/// What a viewer sees: the board, whose turn it is and, for the player whose turn it is, the
/// free cells as choices (so that a client that knows nothing of the game can offer them).
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct TableView {
    cells: [u8; 9],
    turn: Seat,
    actions: Vec<Choice<Move>>,
}

const LINES: [[usize; 3]; 8] =
    [[0, 1, 2], [3, 4, 5], [6, 7, 8], [0, 3, 6], [1, 4, 7], [2, 5, 8], [0, 4, 8], [2, 4, 6]];

impl Game for TicTacToe {
    type State = Board;
    type Action = Move;
    type Options = ();
    type View = TableView;

    fn info() -> GameInfo {
        GameInfo::simple("tic-tac-toe", "1.2.0", 2, 2)
    }
    fn start(_: Setup<()>, _: &mut Ctx) -> Result<Board, RuleError> {
        Ok(Board { cells: [0; 9], turn: 0 })
    }
    fn act(b: &mut Board, seat: Seat, m: Move, _: &mut Ctx) -> Result<(), RuleError> {
        match b.cells.get(m.cell) {
            None => return Err(RuleError::illegal("cells are numbered 0 to 8")),
            Some(&c) if c != 0 => return Err(RuleError::illegal("that cell is taken")),
            _ => b.cells[m.cell] = seat as u8 + 1,
        }
        b.turn = 1 - seat;
        Ok(())
    }
    fn view(b: &Board, viewer: Viewer) -> TableView {
        let over = !matches!(Self::status(b), Status::Running);
        let actions = match viewer {
            Viewer::Seat(s) if s == b.turn && !over => (0..9)
                .filter(|&i| b.cells[i] == 0)
                .map(|cell| {
                    let label = format!("row {}, column {}", cell / 3 + 1, cell % 3 + 1);
                    Choice::new(label, Move { cell })
                })
                .collect(),
            _ => Vec::new(),
        };
        TableView { cells: b.cells, turn: b.turn, actions }
    }
    fn bot(b: &Board, _: Seat, rng: &mut Rng) -> Option<Move> {
        let free: Vec<usize> = (0..9).filter(|&i| b.cells[i] == 0).collect();
        rng.pick(&free).map(|&cell| Move { cell })
    }
    fn status(b: &Board) -> Status {
        let line =
            LINES.iter().map(|l| l.map(|i| b.cells[i])).find(|c| c[0] != 0 && c[1..] == [c[0]; 2]);
        match line {
            Some([w, ..]) => {
                Outcome::winners([u32::from(w) - 1]).with("winner", u32::from(w) - 1).into()
            }
            None if b.cells.iter().all(|&c| c != 0) => {
                Outcome::draw().with("winner", serde_json::Value::Null).into()
            }
            None => Status::Running,
        }
    }
    fn awaiting(b: &Board) -> Vec<Seat> {
        vec![b.turn]
    }
}

tabula_sdk::export_game!(TicTacToe);

#[cfg(test)]
mod tests {
    use super::*;
    use tabula_sdk::Harness;

    #[test]
    fn a_full_row_wins_and_ends_the_game() {
        // X takes the top row while O plays below it: X (seat 0) wins (the result names it in the
        // form hosts count) and further moves are refused.
        let mut h = Harness::<TicTacToe>::start(2, 0, "").expect("start");
        for (seat, cell) in [(0, 0), (1, 3), (0, 1), (1, 4), (0, 2)] {
            h.act(seat, &Move { cell }).expect("legal move");
        }
        assert_eq!(h.step().result.as_deref(), Some(r#"{"winner":0,"winners":[0]}"#));
        assert_eq!(h.act(1, &Move { cell: 5 }).err(), Some(RuleError::GameOver));
    }

    #[test]
    fn taken_cells_and_wrong_turns_are_refused() {
        // A move on an occupied cell or out of turn is rejected and changes nothing.
        let mut h = Harness::<TicTacToe>::start(2, 0, "").expect("start");
        h.act(0, &Move { cell: 4 }).expect("legal");
        let before = h.step().state.clone();
        assert!(matches!(h.act(1, &Move { cell: 4 }), Err(RuleError::Illegal(_))));
        assert_eq!(h.act(0, &Move { cell: 5 }).err(), Some(RuleError::NotYourTurn));
        assert!(matches!(h.act_json(1, "{\"cell\":\"x\"}"), Err(RuleError::Malformed(_))));
        assert_eq!(h.step().state, before);
    }

    #[test]
    fn random_bot_games_always_finish() {
        // Bots make only legal moves and every game ends within 9 moves.
        for entropy in 0..200 {
            let mut h = Harness::<TicTacToe>::start(2, entropy, "").expect("start");
            let p = h.play_out(entropy, 9).expect("bot game finishes");
            assert!(p.steps <= 9);
        }
    }

    #[test]
    fn the_player_awaited_is_offered_the_free_cells_and_nobody_else_anything() {
        // The view lists the moves its viewer may make now (the generic table's buttons).
        let mut h = Harness::<TicTacToe>::start(2, 0, "").expect("start");
        h.act(0, &Move { cell: 4 }).expect("legal");
        let offered = h.view(Viewer::Seat(1));
        let actions = offered["actions"].as_array().expect("actions");
        assert_eq!(actions.len(), 8);
        assert!(actions.iter().all(|a| a["action"]["cell"] != 4), "{offered}");
        assert_eq!(
            actions[0],
            serde_json::json!({"label": "row 1, column 1", "action": {"cell": 0}})
        );
        assert_eq!(h.view(Viewer::Seat(0))["actions"], serde_json::json!([]));
        assert_eq!(h.view(Viewer::Spectator)["actions"], serde_json::json!([]));
        for (seat, cell) in [(1, 0), (0, 3), (1, 1), (0, 5)] {
            h.act(seat, &Move { cell }).expect("legal");
        }
        assert!(h.step().result.is_some(), "X has the middle row");
        assert_eq!(h.view(Viewer::Seat(1))["actions"], serde_json::json!([]));
    }

    #[test]
    fn a_bot_game_written_as_a_script_replays_to_the_same_end() {
        // A designer's starting point for a scripted test: a bot game as a script, which runs
        // to the same result, and fails once its winners are changed.
        let mut h = Harness::<TicTacToe>::start(2, 3, "").expect("start");
        let played = h.play_out(9, 100).expect("a whole game");
        let script = played.to_script::<TicTacToe>(2, 3, "");
        let replayed = Harness::<TicTacToe>::run_script(&script).expect("the script holds");
        assert_eq!(replayed.step().result.as_deref(), Some(played.result.as_str()));
        let winners: serde_json::Value = serde_json::from_str::<serde_json::Value>(&played.result)
            .expect("json")["winners"]
            .clone();
        let wrong = script.replace(&format!(r#""winners":{winners}"#), r#""winners":[0,1]"#);
        assert_ne!(wrong, script, "{script}");
        let Err(failure) = Harness::<TicTacToe>::run_script(&wrong) else {
            panic!("wrong winners pass: {wrong}");
        };
        assert_eq!(failure.code, "assertion", "{failure}");
    }
}
