//! Properties of random games: invariants after every step, bots that are never refused, games
//! that end, privacy of every view and event, declared phase changes only, and exact replay
//! from the seed and the log.

use super::support::*;
use crate::state::Phase;
use crate::{Action, LiapTui};
use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
use tabula_sdk::{Game, Harness, Rng, Seat, Viewer};

/// One input the host gave the game, as a log records it.
#[derive(Clone, Debug)]
enum Input {
    Act { seat: Seat, json: String },
    Timer,
    Advance(u64),
}

/// A finished game: its log, and the state bytes after each accepted input.
struct Record {
    log: Vec<Input>,
    states: Vec<Vec<u8>>,
}

const MAX_STEPS: usize = 50_000;

fn cases(n: u32) -> ProptestConfig {
    ProptestConfig {
        cases: n,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// A random action for `seat`: often nonsense, sometimes legal.
fn random_action(h: &Harness<LiapTui>, seat: Seat, rng: &mut Rng) -> String {
    let hand = h.state().hands[seat as usize % 4].clone();
    let action = match rng.below(3) {
        0 => Action::Declare(rng.below(12) as i64 - 2),
        1 => Action::Redeal(rng.chance(0.5)),
        _ => {
            let mut pieces = hand;
            rng.shuffle(&mut pieces);
            pieces.truncate(rng.below(7) as usize + 1);
            if rng.chance(0.2) {
                pieces.push(crate::Kind::ALL[rng.below(14) as usize]);
            }
            Action::Play(pieces)
        }
    };
    serde_json::to_string(&action).expect("actions serialise")
}

/// Everything that must hold after each step.
fn check_step(h: &Harness<LiapTui>, before: &str) -> Result<(), String> {
    let state = h.state();
    LiapTui::check(&state)?;
    for viewer in viewers() {
        check_view(&h.view(viewer), viewer, &state)?;
    }
    check_events(&h.step().events)?;
    let now = h.step().phase.as_str();
    if now != before && !Phase::TRANSITIONS.contains(&(before, now)) {
        return Err(format!("undeclared phase change {before} -> {now}"));
    }
    Ok(())
}

/// Plays a game with bots, firing timers when nobody is awaited. With `fuzz`, seats also send
/// random actions (refused ones must change nothing), redeal polls sometimes time out and the
/// clock jumps between moves.
fn play_game(seed: u64, entropy: u64, options: &str, fuzz: bool) -> Result<Record, String> {
    let mut h = Harness::<LiapTui>::start(4, seed, options).map_err(|e| e.to_string())?;
    check_step(&h, "preparation")?;
    let mut rng = Rng::new(entropy);
    let mut rec = Record {
        log: Vec::new(),
        states: vec![h.step().state.clone()],
    };
    for _ in 0..MAX_STEPS {
        // Baseline bots may never reach the win score (see `BotLevel`): a long prefix will do.
        if h.is_finished() || (options.contains("baseline") && rec.log.len() > 800) {
            return Ok(rec);
        }
        let before = h.step().phase.clone();
        let awaiting = h.step().awaiting.clone();
        let input = if fuzz && rng.chance(0.25) {
            let seat = rng.below(4) as Seat;
            let json = random_action(&h, seat, &mut rng);
            let bytes = h.step().state.clone();
            if h.act_json(seat, &json).is_err() {
                if h.step().state != bytes {
                    return Err(format!("the refused {json} changed the state"));
                }
                continue;
            }
            Input::Act { seat, json }
        } else if fuzz && rng.chance(0.05) {
            let ms = rng.below(3000);
            h.advance(ms);
            rec.log.push(Input::Advance(ms));
            continue;
        } else if let Some(&seat) = rng.pick(&awaiting) {
            if fuzz && before == "preparation" && rng.chance(0.3) {
                h.fire_timer().map_err(|e| format!("redeal timeout: {e}"))?;
                Input::Timer
            } else {
                let action = h
                    .bot_action(seat, rng.next_u64())
                    .map_err(|e| e.to_string())?;
                let json = serde_json::to_string(&action).map_err(|e| e.to_string())?;
                h.act_json(seat, &json)
                    .map_err(|e| format!("the bot for seat {seat} was refused {json}: {e}"))?;
                Input::Act { seat, json }
            }
        } else if h.step().wake_at.is_some() {
            h.fire_timer().map_err(|e| format!("timer: {e}"))?;
            Input::Timer
        } else {
            return Err(format!("stuck in {before}"));
        };
        check_step(&h, &before)?;
        rec.log.push(input);
        rec.states.push(h.step().state.clone());
    }
    Err(format!("not finished after {MAX_STEPS} steps"))
}

/// Replays `log` from `seed` and compares every state with the recorded one.
fn replay(seed: u64, options: &str, rec: &Record) -> Result<(), String> {
    let mut h = Harness::<LiapTui>::start(4, seed, options).map_err(|e| e.to_string())?;
    let mut states = rec.states.iter();
    if states.next() != Some(&h.step().state) {
        return Err("the first state differs".into());
    }
    for input in &rec.log {
        match input {
            Input::Advance(ms) => {
                h.advance(*ms);
                continue;
            }
            Input::Act { seat, json } => h.act_json(*seat, json).map(|_| ()),
            Input::Timer => h.fire_timer().map(|_| ()),
        }
        .map_err(|e| format!("replaying {input:?}: {e}"))?;
        if states.next() != Some(&h.step().state) {
            return Err(format!("the state after {input:?} differs"));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(cases(32))]

    #[test]
    fn random_games_keep_every_invariant_and_replay_exactly(
        seed in any::<u64>(), entropy in any::<u64>(), win in 10u32..=20, baseline in any::<bool>(),
    ) {
        // Whatever players send, every step keeps the invariants and privacy, and seed + log replay it.
        let level = if baseline { "baseline" } else { "tactics" };
        let options = format!(r#"{{"pace":"instant","win_score":{win},"bot":"{level}"}}"#);
        let rec = play_game(seed, entropy, &options, true).map_err(TestCaseError::fail)?;
        replay(seed, &options, &rec).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn bot_only_games_end_with_legal_moves_only(seed in any::<u64>(), entropy in any::<u64>(), win in 10u32..=20) {
        // Four bots always finish a game (by the win score or the default 20-round limit), never
        // make a refused move, and the winners top the table.
        let rec = play_game(seed, entropy, &instant(win), false).map_err(TestCaseError::fail)?;
        let mut h = Harness::<LiapTui>::start(4, seed, &instant(win)).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let out = h.play_out(entropy, MAX_STEPS).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let result: serde_json::Value = serde_json::from_str(&out.result).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let scores: Vec<i64> = serde_json::from_value(result["scores"].clone()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let top = scores.iter().copied().max().unwrap_or(0);
        let rounds = result["rounds"].as_u64().unwrap_or(0);
        prop_assert!(top >= i64::from(win) || rounds == 20, "ended early: {}", result);
        let winners: Vec<usize> = (0..4).filter(|&s| scores[s] == top).collect();
        prop_assert_eq!(result["winners"].clone(), serde_json::json!(winners));
        prop_assert!(!rec.log.is_empty());
    }
}

#[test]
fn every_phase_change_is_declared_and_every_declared_change_happens() {
    // The module reports only the transitions GameInfo declares, and all of them occur in play.
    let mut seen = std::collections::BTreeSet::new();
    for game in 0..40u64 {
        let mut h = Harness::<LiapTui>::start(4, game * 7919, &instant(10)).expect("start");
        let mut rng = Rng::new(game);
        let mut phase = h.step().phase.clone();
        while !h.is_finished() {
            if let Some(&seat) = rng.pick(&h.step().awaiting.clone()) {
                let action = h.bot_action(seat, rng.next_u64()).expect("bot");
                h.act(seat, &action).expect("bots move legally");
            } else {
                h.fire_timer().expect("timer");
            }
            let now = h.step().phase.clone();
            if now != phase {
                let change = (phase.as_str(), now.as_str());
                let declared = LiapTui::info().transitions.iter().find(|t| **t == change);
                assert!(declared.is_some(), "undeclared {change:?}");
                seen.insert((phase.clone(), now.clone()));
                phase = now;
            }
        }
    }
    assert_eq!(
        seen.len(),
        LiapTui::info().transitions.len(),
        "seen {seen:?}"
    );
}

#[test]
fn the_spectator_view_never_shows_a_hand_during_a_bot_game() {
    // Spectators follow the public plays but never a hand, start to finish.
    let mut h = Harness::<LiapTui>::start(4, 99, &instant(10)).expect("start");
    let mut rng = Rng::new(5);
    while !h.is_finished() {
        if let Some(&seat) = rng.pick(&h.step().awaiting.clone()) {
            let action = h.bot_action(seat, rng.next_u64()).expect("bot");
            h.act(seat, &action).expect("legal");
        } else {
            h.fire_timer().expect("timer");
        }
        let v = h.view(Viewer::Spectator);
        assert!(v["hand"].is_null() && v["can"].is_null() && v["seat"].is_null());
        check_view(&v, Viewer::Spectator, &h.state()).expect("private");
    }
}

#[test]
fn the_default_bot_outscores_the_spec_baseline() {
    // Bots playing to their bet beat spec §6's baseline bots sitting at the same table.
    use crate::options::BotLevel;
    let mut totals = [0i64; 2];
    for game in 0..16u64 {
        let mut h = Harness::<LiapTui>::start(4, game, &instant(1000)).expect("start");
        let mut rng = Rng::new(game);
        while h.state().round <= 3 {
            if let Some(&seat) = rng.pick(&h.step().awaiting.clone()) {
                let level = if seat % 2 == 0 {
                    BotLevel::Tactics
                } else {
                    BotLevel::Baseline
                };
                let mut bot_rng = Rng::new(rng.next_u64());
                let action =
                    crate::bot::choose_at(level, &h.state(), seat, &mut bot_rng).expect("a move");
                h.act(seat, &action).expect("bots move legally");
            } else {
                h.fire_timer().expect("timer");
            }
        }
        for (seat, total) in h.state().totals.iter().enumerate() {
            totals[seat % 2] += i64::from(*total);
        }
    }
    assert!(
        totals[0] > totals[1],
        "tactics {} vs baseline {}",
        totals[0],
        totals[1]
    );
}
