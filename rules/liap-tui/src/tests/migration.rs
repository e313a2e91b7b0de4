//! Taking over games that version 1 of the rules played (state version 1, no round limit), as
//! the host does when it moves a running game to this version.
//!
//! Version 1's state is written here from a frozen copy of its layout ([`StateV1`]), not from
//! today's `State`, so that a change to the current layout that breaks old games fails here.

use super::support::*;
use crate::LiapTui;
use crate::options::Config;
use crate::pieces::{KINDS, Kind, SEATS};
use crate::state::{Phase, Poll, Starter, State, Timer, Trick};
use serde::Serialize;
use serde_json::json;
use tabula_sdk::{Audience, Game, Harness, Rng, RuleError, Seat, encode_state};

/// The state as module 1.0.0 wrote it (state version 1): every field of today's `State`, in
/// order, except the round limit. Never change this.
#[derive(Serialize)]
struct StateV1<'a> {
    config: &'a Config,
    deal_rng: &'a Rng,
    phase: Phase,
    round: u32,
    multiplier: u32,
    hands: &'a [Vec<Kind>; SEATS],
    played: [u8; KINDS],
    poll: Option<Poll>,
    accepter: Option<Seat>,
    starter: Option<Starter>,
    declarations: [Option<u8>; SEATS],
    zero_streak: [u8; SEATS],
    piles: [u8; SEATS],
    turn: Seat,
    trick: &'a Option<Trick>,
    last_trick: &'a Option<Trick>,
    last_trick_winner: Option<Seat>,
    totals: [i32; SEATS],
    history: &'a [[i32; SEATS]],
    timer: Option<Timer>,
    winners: &'a [Seat],
}

/// The bytes version 1 would hold for `s` (its round limit dropped), version header included.
fn v1_bytes(s: &State) -> Vec<u8> {
    let v1 = StateV1 {
        config: &s.config,
        deal_rng: &s.deal_rng,
        phase: s.phase,
        round: s.round,
        multiplier: s.multiplier,
        hands: &s.hands,
        played: s.played,
        poll: s.poll,
        accepter: s.accepter,
        starter: s.starter,
        declarations: s.declarations,
        zero_streak: s.zero_streak,
        piles: s.piles,
        turn: s.turn,
        trick: &s.trick,
        last_trick: &s.last_trick,
        last_trick_winner: s.last_trick_winner,
        totals: s.totals,
        history: &s.history,
        timer: s.timer,
        winners: &s.winners,
    };
    encode_state(1, &v1)
}

/// A bot game (redeals declined) with an unreachable win score and no effective limit, run
/// until `stop` holds.
fn table_until(seed: u64, stop: impl Fn(&State) -> bool) -> Table {
    let mut t = Table::start(
        seed,
        r#"{"pace":"instant","win_score":1000,"max_rounds":1000}"#,
    );
    t.run_until(5_000, stop);
    t
}

/// The `game_over` events of the harness's last step.
fn game_over_events(h: &Harness<LiapTui>) -> Vec<serde_json::Value> {
    h.step()
        .events
        .iter()
        .filter(|e| e.audience == Audience::Everyone)
        .map(|e| serde_json::from_str::<serde_json::Value>(&e.payload).expect("json"))
        .filter(|e| e["type"] == "game_over")
        .collect()
}

#[test]
fn version_1_is_this_layout_without_the_round_limit() {
    // A version-1 body is the current body minus its last field, so appending the limit reads it.
    let t = table_until(5, |s| s.round == 2 && s.phase == Phase::Turn);
    let state = t.state();
    let v1 = v1_bytes(&state);
    let v2 = encode_state(LiapTui::STATE_VERSION, &state);
    let limit = encode_state(0, &state.max_rounds);
    assert_eq!(v1[4..], v2[4..v2.len() - (limit.len() - 4)]);
    assert_eq!(v2[v2.len() - (limit.len() - 4)..], limit[4..]);
}

#[test]
fn a_version_1_game_mid_round_continues_where_it_stood_with_the_default_limit() {
    // Taken over in round 3, a v1 game keeps its phase, hands, totals and turn, and gets 20 rounds.
    let t = table_until(8, |s| {
        s.round == 3
            && !s.awaiting().is_empty()
            && s.trick.as_ref().is_some_and(|t| !t.plays.is_empty())
    });
    let mut before = t.state();
    // Whatever limit the v2 table had, version 1 had none: the migration gives the default.
    before.max_rounds = 20;
    let mut h = Harness::<LiapTui>::take_over(4, &v1_bytes(&before), t.now).expect("migrates");
    assert_eq!(h.state(), before, "nothing changes but the added limit");
    let last = t.last.as_ref().expect("a step");
    let step = h.step();
    assert_eq!(
        (&step.phase, &step.awaiting, step.wake_at, &step.result),
        (&last.phase, &last.awaiting, last.wake_at, &None)
    );
    assert!(step.events.is_empty(), "a migration says nothing");
    for viewer in viewers() {
        let view = h.view(viewer);
        assert_eq!(view["max_rounds"], 20, "{viewer:?}");
        check_view(&view, viewer, &before).expect("private");
        let mut old = t.view(viewer);
        old["max_rounds"] = json!(20);
        assert_eq!(view, old, "{viewer:?} sees the same table");
    }
    let out = h.play_out(8, 20_000).expect("the game goes on to its end");
    let result: serde_json::Value = serde_json::from_str(&out.result).expect("json");
    assert_eq!(
        result["rounds"], 20,
        "no total reaches 1000: the limit ends it"
    );
    assert_eq!(game_over_events(&h)[0]["reason"], "round_limit");
}

#[test]
fn a_version_1_game_past_the_default_limit_ends_after_its_current_round() {
    // Taken over in round 25, a v1 game plays round 25 to its end and is over, leaders winning.
    let t = table_until(13, |s| s.round == 25 && s.phase == Phase::Declaration);
    let state = t.state();
    let mut h = Harness::<LiapTui>::take_over(4, &v1_bytes(&state), t.now).expect("migrates");
    assert_eq!((h.state().round, h.state().max_rounds), (25, 25));
    assert_eq!(h.view(tabula_sdk::Viewer::Seat(1))["max_rounds"], 25);
    let out = h.play_out(13, 20_000).expect("the round is played out");
    let end = h.state();
    assert_eq!((end.phase, end.round), (Phase::GameOver, 25));
    assert_eq!(end.history.len(), 25);
    assert_eq!(end.winners, end.leaders());
    let result: serde_json::Value = serde_json::from_str(&out.result).expect("json");
    assert_eq!(result["winners"], json!(end.leaders()));
    assert_eq!(
        game_over_events(&h),
        [
            json!({"type": "game_over", "winners": end.leaders(), "scores": end.totals,
                "reason": "round_limit"})
        ]
    );
}

#[test]
fn a_version_1_game_in_its_last_scoring_pause_ends_when_the_pause_does() {
    // Taken over while showing round 30's scores, the game ends at that pause instead of dealing.
    let t = table_until(21, |s| s.round == 30 && s.phase == Phase::Scoring);
    let mut h = Harness::<LiapTui>::take_over(4, &v1_bytes(&t.state()), t.now).expect("migrates");
    assert_eq!(h.state().max_rounds, 30);
    h.fire_timer().expect("the scoring pause ends");
    assert_eq!((h.state().phase, h.is_finished()), (Phase::GameOver, true));
}

#[test]
fn a_finished_version_1_game_stays_over() {
    // A v1 game that reached its win score migrates as a finished game with the same result.
    let mut t = Table::start(4, r#"{"pace":"instant","win_score":15,"max_rounds":1000}"#);
    t.run_until(20_000, |s| s.phase == Phase::GameOver);
    let state = t.state();
    let h = Harness::<LiapTui>::take_over(4, &v1_bytes(&state), t.now).expect("migrates");
    assert!(h.is_finished());
    assert_eq!(
        h.step().result,
        t.last.as_ref().and_then(|s| s.result.clone())
    );
    assert_eq!(h.state().winners, state.winners);
    assert_eq!(h.state().max_rounds, state.round.max(20));
}

#[test]
fn unknown_and_broken_states_are_refused() {
    // Only versions 1 and 2 are read; a v1 body that does not decode is a bad state.
    let t = table_until(3, |s| s.phase == Phase::Declaration);
    let state = t.state();
    for version in [0, 3, 99] {
        let bytes = encode_state(version, &state);
        assert_eq!(
            Harness::<LiapTui>::take_over(4, &bytes, 0).err(),
            Some(RuleError::UnsupportedVersion(version))
        );
    }
    let mut cut = v1_bytes(&state);
    cut.truncate(cut.len() / 2);
    assert!(matches!(
        Harness::<LiapTui>::take_over(4, &cut, 0),
        Err(RuleError::BadState(_))
    ));
    let current = encode_state(LiapTui::STATE_VERSION, &state);
    let same = Harness::<LiapTui>::take_over(4, &current, t.now).expect("its own version");
    assert_eq!(same.state(), state);
}
