//! Preparation: weak hands, simultaneous redeal decisions, redeals and the multiplier, the
//! round's starter, and the pauses before a round starts.

use super::support::*;
use crate::Kind::*;
use crate::LiapTui;
use crate::state::{Pause, Phase, StarterReason};
use serde_json::json;
use tabula_sdk::{Audience, Context, Contract, RuleError, Viewer};

#[test]
fn weak_players_are_asked_together_and_their_answers_stay_secret() {
    // Every weak player is awaited at once; others cannot answer; answers show only when all are in.
    let seed = find_seed(1, |d| weak_seats(&d[0]).len() >= 2);
    let mut t = Table::start(seed, &instant(50));
    let weak = weak_seats(&deals(seed, 1)[0]);
    assert_eq!(t.awaiting(), weak);
    assert_eq!(t.events_of("redeal_asked")[0].1["weak"], json!(weak));
    let strong = (0..4)
        .find(|s| !weak.contains(s))
        .expect("someone holds GENERAL_RED");
    assert_eq!(
        t.act(strong, r#"{"redeal":true}"#).err(),
        Some(RuleError::NotYourTurn)
    );
    assert!(
        t.illegal(weak[0], r#"{"declare":1}"#)
            .contains("not time to declare")
    );
    t.ok(weak[0], r#"{"redeal":true}"#);
    assert_eq!(
        t.events(),
        [(
            Audience::Everyone,
            json!({"type":"redeal_answered","seat":weak[0]})
        )]
    );
    assert_eq!(
        t.act(weak[0], r#"{"redeal":false}"#).err(),
        Some(RuleError::NotYourTurn),
        "one answer each"
    );
    assert_eq!(t.view(Viewer::Seat(weak[0]))["redeal"]["your_answer"], true);
    assert_eq!(
        t.view(Viewer::Seat(weak[1]))["redeal"]["your_answer"],
        json!(null)
    );
    assert_eq!(
        t.view(Viewer::Seat(weak[1]))["redeal"]["answered"],
        json!([weak[0]])
    );
    assert_eq!(
        t.view(Viewer::Seat(weak[1]))["can"],
        json!({"redeal": true})
    );
    assert!(
        !t.view(Viewer::Spectator)
            .to_string()
            .contains("\"accepted\"")
    );
}

#[test]
fn the_first_accepter_in_play_order_starts_and_the_multiplier_rises() {
    // When several accept, the first in rotation from the GENERAL_RED holder starts; hands are redealt.
    let seed = find_seed(2, |d| {
        let weak = weak_seats(&d[0]);
        let holder = d[0]
            .iter()
            .position(|h| h.contains(&GeneralRed))
            .unwrap_or(0) as u32;
        let first = (0..4).map(|k| (holder + k) % 4).find(|s| weak.contains(s));
        weak.len() >= 2 && first != weak.first().copied() && weak_seats(&d[1]).is_empty()
    });
    let d = deals(seed, 2);
    let weak = weak_seats(&d[0]);
    let holder = d[0]
        .iter()
        .position(|h| h.contains(&GeneralRed))
        .unwrap_or(0) as u32;
    let first = (0..4)
        .map(|k| (holder + k) % 4)
        .find(|s| weak.contains(s))
        .expect("a weak seat");
    let mut t = Table::start(seed, &instant(50));
    for &s in &weak {
        t.ok(s, r#"{"redeal":true}"#);
    }
    let accepted = &t.events_of("redeal_accepted")[0].1;
    assert_eq!(accepted["starter"], first);
    assert_eq!(accepted["accepted"], json!(weak));
    assert_eq!(accepted["multiplier"], 2);
    let s = t.state();
    assert_eq!(
        (s.phase, s.multiplier, s.hands.clone()),
        (Phase::Preparation, 2, d[1].clone())
    );
    assert_eq!(s.timer.map(|t| t.pause), Some(Pause::Redealt));
    let dealt = t.events_of("dealt");
    assert_eq!(
        dealt.len(),
        5,
        "a private hand for each seat and a bare notice for spectators"
    );
    t.timer();
    let started = &t.events_of("round_started")[0].1;
    assert_eq!(started["starter"], first);
    assert_eq!(started["reason"], "accepted_redeal");
    assert_eq!(t.view(Viewer::Spectator)["multiplier"], 2);
    assert_eq!(
        t.view(Viewer::Spectator)["starter"],
        json!({"seat": first, "reason": "accepted_redeal"})
    );
}

#[test]
fn weak_players_are_asked_again_after_a_redeal_and_every_redeal_counts() {
    // A redeal that deals weak hands again asks again, in play order from the last accepter.
    let seed = find_seed(3, |d| {
        !weak_seats(&d[0]).is_empty()
            && weak_seats(&d[1]).len() >= 2
            && weak_seats(&d[2]).is_empty()
    });
    let d = deals(seed, 3);
    let mut t = Table::start(seed, &instant(50));
    let first = weak_seats(&d[0])[0];
    for s in weak_seats(&d[0]) {
        t.ok(
            s,
            if s == first {
                r#"{"redeal":true}"#
            } else {
                r#"{"redeal":false}"#
            },
        );
    }
    let again = weak_seats(&d[1]);
    assert_eq!(t.awaiting(), again);
    assert_eq!(t.state().poll.map(|p| p.order_from), Some(first));
    // Everyone accepts: the first accepter counting from the last accepter starts.
    for &s in &again {
        t.ok(s, r#"{"redeal":true}"#);
    }
    let want = (0..4)
        .map(|k| (first + k) % 4)
        .find(|s| again.contains(s))
        .expect("weak");
    let s = t.state();
    assert_eq!(
        (s.multiplier, s.accepter, s.hands.clone()),
        (3, Some(want), d[2].clone())
    );
    t.timer();
    assert_eq!(
        t.state().starter.map(|s| (s.seat, s.reason)),
        Some((want, StarterReason::AcceptedRedeal))
    );
}

#[test]
fn undecided_weak_players_decline_when_the_decision_times_out() {
    // After the decision timeout, players who did not answer decline; the timer cannot fire early.
    let seed = find_seed(1, |d| weak_seats(&d[0]).len() >= 2);
    let weak = weak_seats(&deals(seed, 1)[0]);
    let mut t = Table::start(seed, r#"{"redeal_timeout_ms":30000}"#);
    assert_eq!(t.state().timer.map(|t| t.at), Some(30_000));
    t.ok(weak[0], r#"{"redeal":false}"#);
    let early = Context {
        now: 29_999,
        viewers: vec![],
    };
    assert!(matches!(
        Contract::<LiapTui>::timer(&t.bytes, &early),
        Err(RuleError::Illegal(_))
    ));
    t.timer();
    let declined = &t.events_of("redeal_declined")[0].1;
    assert_eq!(declined["declined"], json!(weak));
    assert_eq!(declined["timed_out"], json!(weak[1..]));
    let s = t.state();
    assert_eq!(
        (s.phase, s.multiplier, s.timer.map(|t| (t.at, t.pause))),
        (Phase::Preparation, 1, Some((30_000, Pause::Declined)))
    );
    t.timer();
    assert_eq!(
        t.state().starter.map(|s| s.reason),
        Some(StarterReason::HasGeneralRed)
    );
}

#[test]
fn a_timed_out_poll_still_redeals_when_someone_accepted() {
    // One acceptance is enough: the silent players' timeout does not cancel the redeal.
    let seed = find_seed(1, |d| weak_seats(&d[0]).len() >= 2);
    let weak = weak_seats(&deals(seed, 1)[0]);
    let mut t = Table::start(seed, &instant(50));
    t.ok(weak[1], r#"{"redeal":true}"#);
    t.timer();
    let accepted = &t.events_of("redeal_accepted")[0].1;
    assert_eq!(
        (
            accepted["starter"].clone(),
            accepted["timed_out"][0].clone()
        ),
        (json!(weak[1]), json!(weak[0]))
    );
    assert_eq!(t.state().multiplier, 2);
}

#[test]
fn round_one_starts_with_the_general_red_holder_after_the_spec_delays() {
    // With no weak hand, round_start follows after 2 s and declaration after 5 s more.
    let seed = find_seed(1, |d| weak_seats(&d[0]).is_empty());
    let holder = deals(seed, 1)[0]
        .iter()
        .position(|h| h.contains(&GeneralRed))
        .expect("dealt") as u32;
    let mut t = Table::start(seed, "");
    assert_eq!(
        t.view(Viewer::Seat(0))["timer"],
        json!({"pause": "deal", "at": 2000})
    );
    assert_eq!(t.awaiting(), Vec::<u32>::new());
    t.timer();
    assert_eq!(
        t.events_of("round_started")[0].1["reason"],
        "has_general_red"
    );
    assert_eq!(
        t.last.as_ref().map(|s| (s.phase.as_str(), s.wake_at)),
        Some(("round_start", Some(7000)))
    );
    t.timer();
    assert_eq!(
        (t.state().phase, t.awaiting()),
        (Phase::Declaration, vec![holder])
    );
    assert_eq!(t.now, 7000);
}

#[test]
fn each_delay_option_sets_its_own_pause_and_zero_delays_still_go_through_the_timer() {
    // Every pause is a timer (at now + delay, even for 0), so every transition is a recorded step.
    let seed = find_seed(1, |d| weak_seats(&d[0]).is_empty());
    let mut t = Table::start(
        seed,
        r#"{"pace":"instant","deal_ms":100,"round_start_ms":250}"#,
    );
    assert_eq!(t.last.as_ref().and_then(|s| s.wake_at), Some(100));
    t.timer();
    assert_eq!(t.last.as_ref().and_then(|s| s.wake_at), Some(350));
    let mut t = Table::start(seed, &instant(50));
    assert_eq!(
        t.last.as_ref().map(|s| (s.phase.clone(), s.wake_at)),
        Some(("preparation".into(), Some(0)))
    );
    t.timer();
    assert_eq!(
        t.last.as_ref().map(|s| (s.phase.clone(), s.wake_at)),
        Some(("round_start".into(), Some(0)))
    );
}
