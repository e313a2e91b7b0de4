//! Legal plays in views: a leader's `can` lists every valid lead in their hand, once each, and
//! every one is accepted; a follower's `can` gives the count only.

use super::support::*;
use crate::LiapTui;
use crate::pieces::{Kind, count_kinds};
use crate::plays::classify;
use crate::state::{Phase, State};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use tabula_sdk::{Context, Contract, Seat, Viewer};

/// Whether `seat` is to lead now.
fn leading(s: &State) -> Option<Seat> {
    let trick = s.trick.as_ref()?;
    (s.phase == Phase::Turn && s.timer.is_none() && trick.plays.is_empty()).then_some(s.turn)
}

/// The leads listed in `seat`'s view.
fn listed(t: &Table, seat: Seat) -> Vec<Vec<Kind>> {
    let can = &t.view(Viewer::Seat(seat))["can"]["play"];
    assert_eq!((&can["lead"], &can["count"]), (&json!(true), &Value::Null));
    serde_json::from_value(can["plays"].clone()).expect("a list of plays")
}

#[test]
fn a_leader_sees_every_valid_lead_of_their_hand_and_each_is_accepted() {
    // The listed leads are valid, distinct, drawn from the hand, include every single piece, and
    // the game accepts each one.
    let mut checked = 0;
    for seed in 0..6u64 {
        let mut t = Table::start(seed, &instant(1000));
        // Leads at several hand sizes: the first trick of rounds 1 and 2, and later tricks.
        for _ in 0..6 {
            t.run_until(2_000, |s| leading(s).is_some());
            let state = t.state();
            let seat = leading(&state).expect("a leader");
            let hand = &state.hands[seat as usize];
            let plays = listed(&t, seat);
            let distinct: BTreeSet<&Vec<Kind>> = plays.iter().collect();
            assert_eq!(distinct.len(), plays.len(), "no duplicates in {plays:?}");
            let held = count_kinds(hand);
            for play in &plays {
                assert!(classify(play).is_some(), "{play:?} is no valid play");
                let counts = count_kinds(play);
                assert!(counts.iter().zip(&held).all(|(n, h)| n <= h), "{play:?}");
                let mut sorted = play.clone();
                sorted.sort();
                assert_eq!(&sorted, play, "kinds in canonical order");
            }
            for &kind in hand {
                assert!(plays.contains(&vec![kind]), "{kind} alone is a lead");
            }
            let ctx = Context {
                now: t.now,
                viewers: Vec::new(),
            };
            for play_ in &plays {
                let step = Contract::<LiapTui>::act(&t.bytes, seat, &play(play_), &ctx)
                    .unwrap_or_else(|e| panic!("{play_:?} was refused: {e}"));
                Contract::<LiapTui>::check(&step.state).expect("consistent");
            }
            checked += plays.len();
            // Lead with the bot's choice and move on to the next lead.
            let json = t.bot(seat, 1);
            t.ok(seat, &json);
        }
    }
    assert!(checked > 100, "only {checked} leads checked");
}

#[test]
fn a_follower_sees_the_count_and_no_list() {
    // After a lead of two, the next seat is told to play exactly 2 pieces of any kind.
    let mut t = Table::from_state(&at_trick(cut_hands(), 0, [2, 2, 2, 1], [0; 4], [0; 4]));
    assert_eq!(listed(&t, 0).len(), 12, "seat 0's cut hand holds 12 leads");
    t.ok(
        0,
        &play(&[crate::Kind::AdvisorRed, crate::Kind::AdvisorRed]),
    );
    assert_eq!(
        t.view(Viewer::Seat(1))["can"],
        json!({"play": {"lead": false, "count": 2, "plays": null}})
    );
    for other in [0, 2, 3] {
        assert_eq!(t.view(Viewer::Seat(other))["can"], Value::Null);
    }
}
