//! Whole rounds: the end of a round, scoring with the multiplier, the next round's starter, the
//! zero streak across rounds, and the end of the game.

use super::support::*;
use crate::Kind::*;
use crate::round_score;
use crate::state::{Phase, StarterReason};
use serde_json::json;
use tabula_sdk::{RuleError, Viewer};

#[test]
fn the_scoring_table() {
    // Exact bets earn the bet plus 5, a kept zero earns 3, and misses cost the difference.
    assert_eq!(round_score(0, 0), 3);
    assert_eq!(round_score(0, 3), -3);
    assert_eq!(round_score(2, 2), 7);
    assert_eq!(round_score(8, 8), 13);
    assert_eq!(round_score(2, 5), -3);
    assert_eq!(round_score(5, 1), -4);
    assert_eq!(round_score(1, 0), -1);
}

/// The last trick of a round: every hand has one piece and seat 0 leads GENERAL_RED, so seat 0
/// takes it; piles before it are [2, 1, 4, 0].
fn last_trick(totals: [i32; 4], multiplier: u32) -> Table {
    let hands = [
        vec![GeneralRed],
        vec![SoldierBlack],
        vec![SoldierBlack],
        vec![SoldierRed],
    ];
    let mut state = at_trick(hands, 0, [2, 1, 3, 0], [2, 1, 4, 0], totals);
    if multiplier > 1 {
        state.multiplier = multiplier;
        state.accepter = Some(0);
    }
    let mut t = Table::from_state(&state);
    for (seat, piece) in [
        (0, GeneralRed),
        (1, SoldierBlack),
        (2, SoldierBlack),
        (3, SoldierRed),
    ] {
        t.ok(seat, &play(&[piece]));
    }
    t
}

#[test]
fn the_last_trick_ends_the_round_and_scores_apply_the_multiplier() {
    // When hands are empty: turn_results, then scoring with every score times the redeal multiplier.
    let mut t = last_trick([10, 0, -4, 7], 2);
    assert_eq!(t.state().piles, [3, 1, 4, 0], "8 piles in the round");
    t.timer();
    let s = t.state();
    assert_eq!((s.phase, s.trick.is_none()), (Phase::TurnResults, true));
    assert_eq!(t.view(Viewer::Spectator)["last_trick"]["winner"], 0);
    t.timer();
    assert_eq!(t.state().phase, Phase::Scoring);
    let scored = &t.events_of("round_scored")[0].1;
    // Declared [2,1,3,0], captured [3,1,4,0]: -1, +6, -1, +3, doubled.
    assert_eq!(scored["scores"], json!([-2, 12, -2, 6]));
    assert_eq!(scored["totals"], json!([8, 12, -6, 13]));
    assert_eq!(
        t.view(Viewer::Seat(1))["round_scores"],
        json!([-2, 12, -2, 6])
    );
    assert_eq!(t.state().history.len(), 2);
    t.timer();
    let s = t.state();
    assert_eq!(
        (s.phase, s.round, s.multiplier, s.piles),
        (Phase::Preparation, 3, 1, [0; 4])
    );
    assert_eq!(s.hands.each_ref().map(Vec::len), [8; 4]);
    assert_eq!(s.declarations, [None; 4]);
}

#[test]
fn reaching_the_win_score_ends_the_game_and_ties_share_the_win() {
    // After scoring, a total at or above the win score ends the game; all top totals win.
    let mut t = last_trick([45, 46, 40, 49], 1);
    t.timer();
    t.timer();
    assert_eq!(t.state().totals, [44, 52, 39, 52]);
    assert_eq!(
        t.last.as_ref().and_then(|s| s.result.clone()),
        None,
        "the scores are shown first"
    );
    t.timer();
    let step = t.last.clone().expect("a step");
    assert_eq!(
        (step.phase.as_str(), step.wake_at, step.awaiting.len()),
        ("game_over", None, 0)
    );
    let result: serde_json::Value =
        serde_json::from_str(step.result.as_deref().expect("finished")).expect("json");
    assert_eq!(
        result,
        json!({"winners": [1, 3], "scores": [44, 52, 39, 52], "rounds": t.state().round})
    );
    assert_eq!(
        t.events_of("game_over")[0].1,
        json!({"type":"game_over","winners":[1,3],"scores":[44,52,39,52],"reason":"win_score"})
    );
    assert_eq!(t.view(Viewer::Seat(0))["winners"], json!([1, 3]));
    assert_eq!(
        t.act(0, r#"{"redeal":true}"#).err(),
        Some(RuleError::GameOver)
    );
}

#[test]
fn a_total_below_the_win_score_plays_another_round() {
    // Totals just under the win score do not end the game.
    let mut t = last_trick([40, 40, 40, 40], 1);
    for _ in 0..3 {
        t.timer();
    }
    assert_eq!(t.state().totals, [39, 46, 39, 43]);
    assert_eq!(t.state().phase, Phase::Preparation);
}

#[test]
fn later_rounds_start_with_the_winner_of_the_last_trick() {
    // Without a redeal, round 2 is started by whoever won round 1's last trick.
    for seed in 0..4 {
        let mut t = Table::start(seed, &instant(200));
        t.run_until(500, |s| s.phase == Phase::TurnResults);
        let winner = t
            .state()
            .last_trick
            .and_then(|t| t.winner)
            .expect("a last trick");
        t.run_until(500, |s| s.phase == Phase::RoundStart);
        let s = t.state();
        assert_eq!(s.round, 2);
        assert_eq!(
            s.starter.map(|s| (s.seat, s.reason)),
            Some((winner, StarterReason::WonLastTurn))
        );
    }
}

#[test]
fn the_zero_streak_carries_across_rounds() {
    // Declaring 0 in two consecutive rounds forbids 0 in the third, whatever happened in between.
    let seat = 1;
    let mut t = Table::start(3, &instant(1000));
    for round in 1..=2 {
        t.run_until(1000, |s| s.phase == Phase::Declaration && s.turn == seat);
        assert_eq!(t.state().round, round);
        if t.state().declaration_error(seat, 0).is_some() {
            // The sum rule can forbid 0 for a last declarer; this seed avoids that.
            panic!("0 is not legal for seat {seat} in round {round}; pick another seed");
        }
        t.ok(seat, r#"{"declare":0}"#);
        assert_eq!(t.state().zero_streak[seat as usize], round as u8);
    }
    t.run_until(1000, |s| s.phase == Phase::Declaration && s.turn == seat);
    assert_eq!(t.state().round, 3);
    assert_eq!(
        t.illegal(seat, r#"{"declare":0}"#),
        "you must declare at least 1 after two zero declarations"
    );
    assert_eq!(t.view(Viewer::Seat(seat))["zero_streaks"][seat as usize], 2);
    assert!(
        !t.view(Viewer::Seat(seat))["can"]["declare"]
            .as_array()
            .expect("list")
            .contains(&json!(0))
    );
}

#[test]
fn the_same_seed_deals_the_same_hands_whatever_the_players_do() {
    // Duplicate tables replay a seed: every deal comes from the seed alone, in order.
    let seed = 2024;
    let mut sequences = Vec::new();
    for entropy in [1u64, 2, 3] {
        let mut h =
            tabula_sdk::Harness::<crate::LiapTui>::start(4, seed, &instant(25)).expect("start");
        let mut rng = tabula_sdk::Rng::new(entropy);
        let mut dealt = Vec::new();
        loop {
            let mut hands: [Vec<crate::Kind>; 4] = Default::default();
            for e in &h.step().events {
                let json: serde_json::Value = serde_json::from_str(&e.payload).expect("json");
                if let (tabula_sdk::Audience::Seat(s), Some("dealt")) =
                    (e.audience, json["type"].as_str())
                {
                    hands[s as usize] =
                        serde_json::from_value(json["hand"].clone()).expect("a hand");
                }
            }
            if !hands[0].is_empty() {
                dealt.push(hands);
            }
            if h.is_finished() || dealt.len() >= 6 {
                break;
            }
            match rng.pick(&h.step().awaiting.clone()) {
                Some(&seat) => {
                    let action = h.bot_action(seat, rng.next_u64()).expect("bot");
                    h.act(seat, &action).expect("legal");
                }
                None => {
                    h.fire_timer().expect("timer");
                }
            }
        }
        assert_eq!(dealt, deals(seed, dealt.len()), "entropy {entropy}");
        sequences.push(dealt);
    }
    assert!(sequences.iter().all(|s| s.len() >= 2));
}

#[test]
fn check_reports_broken_states() {
    // A corrupted state is caught by `check` with a reason, not played on.
    let good = at_trick(cut_hands(), 0, [2, 2, 2, 1], [0; 4], [5, 0, 0, 0]);
    assert_eq!(good.check(), Ok(()));
    let mut lost = good.clone();
    lost.hands[3].pop();
    assert!(
        lost.check()
            .expect_err("a piece is missing")
            .contains("SOLDIER_BLACK")
    );
    let mut totals = good.clone();
    totals.totals[0] = 6;
    assert!(totals.check().expect_err("totals").contains("not the sum"));
    let mut piles = good.clone();
    piles.piles = [1, 0, 0, 0];
    assert!(piles.check().is_err(), "piles captured before any trick");
    let mut uneven = good.clone();
    let gone = uneven.hands[0].pop().expect("a piece");
    uneven.played[gone.index()] += 1;
    assert!(uneven.check().expect_err("uneven").contains("hand sizes"));
    let mut early = good;
    early.phase = Phase::Scoring;
    assert!(early.check().is_err(), "scoring with full hands");
}
