//! The round limit (version 2): the game ends after the scoring of its last round, the highest
//! totals winning as when the win score is reached; `check` refuses play past it.

use super::support::*;
use crate::Kind::*;
use crate::LiapTui;
use crate::state::{Phase, State};
use serde_json::json;
use tabula_sdk::{Audience, Harness, Viewer};

/// A hand-made table at the last trick of round 2 (seat 0 leads GENERAL_RED and takes it), with
/// totals before the round as given, the win score and the limit as given. Declared [2,1,3,0]
/// and captured [3,1,4,0] score [-1, +6, -1, +3].
fn round_2_last_trick(totals: [i32; 4], win_score: u32, max_rounds: u32) -> Table {
    let hands = [
        vec![GeneralRed],
        vec![SoldierBlack],
        vec![SoldierBlack],
        vec![SoldierRed],
    ];
    let mut state = at_trick(hands, 0, [2, 1, 3, 0], [2, 1, 4, 0], totals);
    state.config.win_score = win_score;
    state.max_rounds = max_rounds;
    let mut t = Table::from_state(&state);
    for (seat, piece) in [
        (0, GeneralRed),
        (1, SoldierBlack),
        (2, SoldierBlack),
        (3, SoldierRed),
    ] {
        t.ok(seat, &play(&[piece]));
    }
    // turn_results, then scoring: the end is decided when the scoring pause ends.
    t.timer();
    t.timer();
    assert_eq!(t.state().phase, Phase::Scoring);
    t
}

#[test]
fn a_game_ends_after_its_last_round_and_the_leaders_win() {
    // With an unreachable win score, bots play exactly `max_rounds` rounds; the top totals win.
    for (seed, rounds) in [(1u64, 1u32), (2, 2), (3, 2)] {
        let options = format!(r#"{{"pace":"instant","win_score":1000,"max_rounds":{rounds}}}"#);
        let mut h = Harness::<LiapTui>::start(4, seed, &options).expect("start");
        assert_eq!(h.view(Viewer::Spectator)["max_rounds"], rounds);
        let out = h.play_out(seed, 10_000).expect("the game ends");
        let state = h.state();
        assert_eq!((state.phase, state.round), (Phase::GameOver, rounds));
        assert_eq!(state.history.len(), rounds as usize);
        assert_eq!(state.winners, state.leaders());
        let result: serde_json::Value = serde_json::from_str(&out.result).expect("json");
        assert_eq!(
            result,
            json!({"winners": state.leaders(), "scores": state.totals, "rounds": rounds})
        );
        let over: Vec<serde_json::Value> = h
            .step()
            .events
            .iter()
            .filter(|e| e.audience == Audience::Everyone)
            .map(|e| serde_json::from_str(&e.payload).expect("json"))
            .filter(|e: &serde_json::Value| e["type"] == "game_over")
            .collect();
        assert_eq!(
            over,
            [
                json!({"type": "game_over", "winners": state.leaders(), "scores": state.totals,
                    "reason": "round_limit"})
            ]
        );
    }
}

#[test]
fn ties_at_the_round_limit_share_the_win() {
    // Seats tied on the highest total when the last round is scored all win.
    let mut t = round_2_last_trick([45, 46, 40, 49], 1000, 2);
    assert_eq!(t.state().totals, [44, 52, 39, 52]);
    assert!(t.state().winners.is_empty(), "scores are shown first");
    t.timer();
    let s = t.state();
    assert_eq!((s.phase, s.winners.clone()), (Phase::GameOver, vec![1, 3]));
    assert_eq!(
        t.events_of("game_over")[0].1,
        json!({"type":"game_over","winners":[1,3],"scores":[44,52,39,52],"reason":"round_limit"})
    );
    assert_eq!(t.view(Viewer::Seat(2))["winners"], json!([1, 3]));
    assert_eq!(t.view(Viewer::Seat(2))["max_rounds"], 2);
}

#[test]
fn reaching_the_win_score_in_the_last_round_reports_the_win_score() {
    // When the last round also brings a total to the win score, the win score is the reason.
    let mut t = round_2_last_trick([45, 46, 40, 49], 50, 2);
    t.timer();
    assert_eq!(t.events_of("game_over")[0].1["reason"], "win_score");
    assert_eq!(t.state().winners, [1, 3]);
}

#[test]
fn rounds_before_the_limit_go_on() {
    // A round below the limit is followed by the next one, however close to the limit.
    let mut t = round_2_last_trick([0; 4], 1000, 3);
    t.timer();
    let s = t.state();
    assert_eq!((s.phase, s.round, s.max_rounds), (Phase::Preparation, 3, 3));
    assert_eq!(t.view(Viewer::Seat(0))["max_rounds"], 3);
}

#[test]
fn check_refuses_play_past_the_round_limit() {
    // A state that dealt a round beyond its limit, or ended early without a reason, is broken.
    let good = at_trick(cut_hands(), 0, [2, 2, 2, 1], [0; 4], [5, 0, 0, 0]);
    assert_eq!(good.check(), Ok(()));
    let mut at_limit = good.clone();
    at_limit.max_rounds = at_limit.round;
    assert_eq!(at_limit.check(), Ok(()), "the last round is played");
    let mut past = good.clone();
    past.max_rounds = past.round - 1;
    assert!(
        past.check()
            .expect_err("past the limit")
            .contains("past the limit"),
        "{:?}",
        past.check()
    );
    let mut none = good;
    none.max_rounds = 0;
    assert!(none.check().is_err(), "a limit of 0 rounds");
}

#[test]
fn check_requires_a_reason_and_the_leaders_for_a_game_over() {
    // A game over needs the win score or the last round scored, and the top totals as winners.
    let scored = |max_rounds: u32| -> State {
        let mut t = round_2_last_trick([45, 46, 40, 49], 1000, max_rounds);
        t.timer();
        t.state()
    };
    let over = scored(2);
    assert_eq!((over.phase, over.check()), (Phase::GameOver, Ok(())));
    let mut early = over.clone();
    early.max_rounds = 3;
    assert!(early.check().expect_err("no reason").contains("game over"));
    let mut wrong = over;
    wrong.winners = vec![1];
    assert!(wrong.check().is_err(), "a tie left out");
    let mut scoring = round_2_last_trick([0; 4], 1000, 2).state();
    assert_eq!(scoring.check(), Ok(()), "the last round's scoring pause");
    scoring.max_rounds = 1;
    assert!(
        scoring.check().is_err(),
        "the scoring of a round past the limit"
    );
}
