//! The rules of each phase, pinned on hand-made tables and chosen seeds: actions, declarations,
//! tricks, redeals, starters, timers and views.

use super::support::*;
use crate::Kind::*;
use crate::state::Phase;
use crate::{Action, LiapTui};
use serde_json::json;
use tabula_sdk::{Context, Contract, RuleError, Viewer};

#[test]
fn only_the_documented_action_shapes_parse() {
    // Clients send {"declare": n}, {"play": [kinds]} or {"redeal": bool}; anything else is malformed.
    for (json, action) in [
        (r#"{"declare":3}"#, Action::Declare(3)),
        (
            r#"{"play":["HORSE_RED","HORSE_RED"]}"#,
            Action::Play(vec![HorseRed, HorseRed]),
        ),
        (r#"{"redeal":true}"#, Action::Redeal(true)),
        (r#"{"redeal":false}"#, Action::Redeal(false)),
    ] {
        assert_eq!(serde_json::from_str::<Action>(json).expect(json), action);
        assert_eq!(serde_json::to_string(&action).expect("json"), json);
    }
    for bad in [
        r#"{"declare":"3"}"#,
        r#"{"declare":2.5}"#,
        r#"{"declare":3,"play":[]}"#,
        r#""declare""#,
        r#"{"play":["DRAGON_RED"]}"#,
        r#"{"play":"HORSE_RED"}"#,
        r#"{"redeal":1}"#,
        r#"{"pass":true}"#,
        "[]",
    ] {
        assert!(
            serde_json::from_str::<Action>(bad).is_err(),
            "{bad} must not parse"
        );
    }
    let mut t = Table::from_state(&at_declaration(cut_hands(), 0));
    assert!(matches!(
        t.act(0, r#"{"declare":"x"}"#),
        Err(RuleError::Malformed(_))
    ));
}

#[test]
fn declarations_go_round_from_the_starter_and_the_last_cannot_make_8() {
    // Players declare in seat order from the starter; the last may not bring the sum to 8.
    let mut t = Table::from_state(&at_declaration(cut_hands(), 2));
    assert_eq!(t.awaiting(), [2]);
    assert_eq!(
        t.act(0, r#"{"declare":1}"#).err(),
        Some(RuleError::NotYourTurn)
    );
    t.ok(2, r#"{"declare":3}"#);
    assert_eq!(
        t.events_of("declared")[0].1,
        json!({"type":"declared","seat":2,"value":3})
    );
    t.ok(3, r#"{"declare":2}"#);
    assert_eq!(
        t.illegal(0, r#"{"declare":9}"#),
        "declare a number of piles from 0 to 8"
    );
    assert_eq!(
        t.illegal(0, r#"{"declare":-1}"#),
        "declare a number of piles from 0 to 8"
    );
    t.ok(0, r#"{"declare":1}"#);
    assert_eq!(
        t.view(Viewer::Seat(1))["can"],
        json!({"declare": [0, 1, 3, 4, 5, 6, 7, 8]})
    );
    assert_eq!(t.view(Viewer::Seat(0))["can"], json!(null));
    assert_eq!(
        t.illegal(1, r#"{"declare":2}"#),
        "the last declarer cannot make the total 8"
    );
    t.ok(1, r#"{"declare":0}"#);
    let s = t.state();
    assert_eq!(s.phase, Phase::Turn);
    assert_eq!(s.declarations, [Some(1), Some(0), Some(3), Some(2)]);
    assert_eq!(t.awaiting(), [2], "the starter leads the first trick");
    // Seat 2 holds HORSE_BLACK×2, CANNON_RED×2, CANNON_BLACK×2, SOLDIER_RED×2: its leads are
    // the four singles and the four pairs, each once, singles first, in deck order.
    assert_eq!(
        t.view(Viewer::Seat(2))["can"],
        json!({"play": {"lead": true, "count": null, "plays": [
            ["HORSE_BLACK"], ["CANNON_RED"], ["CANNON_BLACK"], ["SOLDIER_RED"],
            ["HORSE_BLACK", "HORSE_BLACK"], ["CANNON_RED", "CANNON_RED"],
            ["CANNON_BLACK", "CANNON_BLACK"], ["SOLDIER_RED", "SOLDIER_RED"],
        ]}})
    );
}

#[test]
fn two_zero_declarations_in_a_row_force_at_least_one() {
    // After declaring 0 in the two previous rounds a player must declare at least 1.
    let mut state = at_declaration(cut_hands(), 0);
    state.zero_streak = [2, 1, 0, 2];
    let mut t = Table::from_state(&state);
    assert_eq!(
        t.illegal(0, r#"{"declare":0}"#),
        "you must declare at least 1 after two zero declarations"
    );
    assert_eq!(t.view(Viewer::Seat(0))["can"]["declare"][0], 1);
    t.ok(0, r#"{"declare":1}"#);
    t.ok(1, r#"{"declare":0}"#);
    t.ok(2, r#"{"declare":4}"#);
    assert_eq!(
        t.state().zero_streak,
        [0, 2, 0, 2],
        "a 0 extends the streak, anything else resets it"
    );
    // Seat 3 is last too: 0 is out for the streak and 3 for the total.
    assert_eq!(
        t.view(Viewer::Seat(3))["can"],
        json!({"declare": [1, 2, 4, 5, 6, 7, 8]})
    );
    assert_eq!(
        t.illegal(3, r#"{"declare":0}"#),
        "you must declare at least 1 after two zero declarations"
    );
    t.ok(3, r#"{"declare":1}"#);
}

#[test]
fn leads_must_be_valid_plays_from_the_hand() {
    // A lead of 0 or 7 pieces, pieces not held, or an invalid combination is refused with a reason.
    let mut t = Table::from_state(&at_trick(cut_hands(), 0, [2, 2, 2, 1], [0; 4], [0; 4]));
    assert_eq!(
        t.illegal(0, r#"{"play":[]}"#),
        "you must lead 1 to 6 pieces"
    );
    let seven = play(&[
        GeneralRed,
        GeneralBlack,
        AdvisorRed,
        AdvisorRed,
        AdvisorBlack,
        AdvisorBlack,
        ElephantRed,
    ]);
    assert_eq!(t.illegal(0, &seven), "you must lead 1 to 6 pieces");
    assert_eq!(
        t.illegal(0, &play(&[SoldierRed])),
        "SOLDIER_RED is not in your hand"
    );
    assert_eq!(
        t.illegal(0, &play(&[GeneralRed, GeneralRed])),
        "you have only 1 GENERAL_RED in your hand, not 2"
    );
    assert_eq!(
        t.illegal(0, &play(&[GeneralRed, AdvisorRed])),
        "that is not a valid play: two pieces must be a pair of the same kind"
    );
    assert_eq!(
        t.illegal(0, &play(&[GeneralRed, AdvisorBlack, ElephantRed])),
        "that is not a valid play: its pieces are not all one colour"
    );
    assert_eq!(
        t.act(1, &play(&[HorseRed])).err(),
        Some(RuleError::NotYourTurn)
    );
    assert!(
        t.illegal(0, r#"{"declare":2}"#)
            .contains("not time to declare")
    );
    assert!(t.illegal(0, r#"{"redeal":true}"#).contains("no redeal"));
    t.ok(0, &play(&[AdvisorRed, AdvisorRed]));
    assert_eq!(
        t.view(Viewer::Seat(1))["can"],
        json!({"play": {"lead": false, "count": 2, "plays": null}})
    );
}

#[test]
fn followers_play_exactly_the_led_count_in_any_combination() {
    // Followers must match the lead's piece count, but their combination need not be valid.
    let mut t = Table::from_state(&at_trick(cut_hands(), 0, [2, 2, 2, 1], [0; 4], [0; 4]));
    t.ok(0, &play(&[AdvisorRed, AdvisorRed]));
    assert_eq!(t.illegal(1, &play(&[HorseRed])), "you must play 2 pieces");
    assert_eq!(
        t.illegal(1, &play(&[HorseRed, HorseRed, ChariotRed])),
        "you must play 2 pieces"
    );
    assert_eq!(
        t.illegal(1, &play(&[GeneralRed, HorseRed])),
        "GENERAL_RED is not in your hand"
    );
    t.ok(1, &play(&[ElephantBlack, HorseRed]));
    let played = &t.events_of("played")[0].1;
    assert_eq!(played["play_type"], json!(null));
    assert_eq!(played["pieces"], json!(["ELEPHANT_BLACK", "HORSE_RED"]));
    let s = t.state();
    assert_eq!(s.hands.each_ref().map(Vec::len), [6, 6, 8, 8]);
    assert_eq!(
        s.hands[1],
        [
            ElephantBlack,
            ChariotRed,
            ChariotRed,
            ChariotBlack,
            ChariotBlack,
            HorseRed
        ]
    );
}

#[test]
fn a_trick_goes_to_the_strongest_play_of_the_leads_type_and_its_winner_leads_next() {
    // The winner captures N piles, everyone sees the trick, and the winner leads after the pauses.
    let mut t = Table::from_state(&at_trick(cut_hands(), 1, [2, 2, 2, 1], [0; 4], [0; 4]));
    t.ok(1, &play(&[HorseRed, HorseRed]));
    t.ok(2, &play(&[HorseBlack, HorseBlack]));
    t.ok(3, &play(&[SoldierBlack, SoldierBlack]));
    t.ok(0, &play(&[AdvisorBlack, AdvisorBlack]));
    let won = &t.events_of("trick_won")[0].1;
    assert_eq!(
        won,
        &json!({"type":"trick_won","seat":0,"piles":2,"play_type":"PAIR"})
    );
    let s = t.state();
    assert_eq!(
        (s.piles, s.trick.as_ref().and_then(|t| t.winner)),
        ([2, 0, 0, 0], Some(0))
    );
    assert_eq!(
        t.awaiting(),
        Vec::<u32>::new(),
        "nobody moves while the trick is shown"
    );
    assert_eq!(t.view(Viewer::Seat(3))["timer"]["pause"], "trick");
    assert_eq!(
        t.view(Viewer::Spectator)["trick"]["plays"][3]["pieces"],
        json!(["ADVISOR_BLACK", "ADVISOR_BLACK"])
    );
    t.timer();
    assert_eq!(
        t.state().phase,
        Phase::Turn,
        "the next trick is not a phase change"
    );
    assert_eq!(t.view(Viewer::Seat(3))["timer"]["pause"], "trick_result");
    t.timer();
    assert_eq!(t.awaiting(), [0]);
    let v = t.view(Viewer::Seat(0));
    assert_eq!(v["last_trick"]["winner"], 0);
    assert_eq!(
        v["trick"],
        json!({"leader":0,"count":0,"plays":[],"winner":null})
    );
    // Different types never win: a single lead beats nothing but stronger singles.
    t.ok(0, &play(&[ElephantRed]));
    t.ok(1, &play(&[ChariotRed]));
    t.ok(2, &play(&[SoldierRed]));
    t.ok(3, &play(&[SoldierRed]));
    assert_eq!(
        t.state().trick.and_then(|t| t.winner),
        Some(0),
        "ELEPHANT_RED (10) beats CHARIOT_RED (8)"
    );
}

#[test]
fn a_different_type_cannot_win_even_when_bigger() {
    // A follower's valid play of another type, however strong, leaves the trick with the lead.
    let hands = [
        vec![ChariotRed, HorseRed, CannonRed],
        vec![SoldierBlack, SoldierBlack, SoldierBlack],
        vec![GeneralRed, AdvisorRed, ElephantRed],
        vec![ChariotBlack, HorseBlack, CannonBlack],
    ];
    let mut t = Table::from_state(&at_trick(hands, 1, [1, 2, 2, 2], [2, 1, 1, 1], [0; 4]));
    t.ok(1, &play(&[SoldierBlack; 3]));
    t.ok(2, &play(&[GeneralRed, AdvisorRed, ElephantRed]));
    t.ok(3, &play(&[ChariotBlack, HorseBlack, CannonBlack]));
    t.ok(0, &play(&[ChariotRed, HorseRed, CannonRed]));
    assert_eq!(t.state().piles, [2, 4, 1, 1]);
}

#[test]
fn bad_options_are_refused_at_start() {
    // A room with impossible options does not start, and the message names the option.
    let ctx = Context::default();
    for (options, needle) in [
        (r#"{"win_score":0}"#, "win_score"),
        (r#"{"win_score":5000}"#, "win_score"),
        (r#"{"trick_result_ms":600001}"#, "trick_result_ms"),
        (r#"{"redeal_timeout_ms":-5}"#, "redeal_timeout_ms"),
        (r#"{"speed":"fast"}"#, "speed"),
    ] {
        match Contract::<LiapTui>::start(4, 0, options, &ctx) {
            Err(RuleError::BadOptions(m)) => assert!(m.contains(needle), "{m}"),
            other => panic!("{options}: {other:?}"),
        }
    }
    assert!(matches!(
        Contract::<LiapTui>::start(3, 0, "", &ctx),
        Err(RuleError::BadOptions(_))
    ));
}

#[test]
fn a_seat_sees_its_hand_and_only_the_sizes_of_the_others() {
    // Views show the viewer's own hand, hand sizes for everyone, and no hand to spectators.
    let mut t = Table::start(0, &instant(50));
    let s = t.state();
    for viewer in viewers() {
        check_view(&t.view(viewer), viewer, &s).expect("private");
    }
    let v = t.view(Viewer::Seat(2));
    assert_eq!(
        v["hand"],
        json!([
            "ELEPHANT_RED",
            "CANNON_RED",
            "HORSE_BLACK",
            "ADVISOR_RED",
            "GENERAL_RED",
            "ADVISOR_BLACK",
            "CHARIOT_BLACK",
            "SOLDIER_RED"
        ])
    );
    assert_eq!(v["hand_sizes"], json!([8, 8, 8, 8]));
    assert_eq!(t.view(Viewer::Spectator)["hand"], json!(null));
    let dealt = t.events_of("dealt");
    for (audience, e) in &dealt {
        match audience {
            tabula_sdk::Audience::Seat(seat) => {
                assert_eq!(e["hand"], json!(s.hands[*seat as usize]))
            }
            other => assert_eq!(
                (*other, e.get("hand")),
                (tabula_sdk::Audience::Spectators, None)
            ),
        }
    }
    t.run_until(200, |s| {
        s.phase == Phase::Turn && s.trick.as_ref().is_some_and(|t| t.plays.len() == 2)
    });
    let s = t.state();
    for viewer in viewers() {
        check_view(&t.view(viewer), viewer, &s).expect("private mid-trick");
    }
}
