//! What one viewer sees (spec §7): their own hand, every hand's size, declarations, piles,
//! scores, the round limit, the trick's public plays, whose move it is, and what the viewer may
//! do now (for a lead, every valid play in their hand).
//!
//! This is the only way state reaches a client, so it must never copy another seat's hand, the
//! deal stream or anything derived from them beyond hand sizes and weakness (which the redeal
//! poll makes public). The legal plays listed in `can` are drawn from the viewer's own hand
//! only. Spectators get no hand at all.

use crate::legal;
use crate::pieces::{Kind, SEATS};
use crate::state::{Phase, Starter, State, Trick, ix};
use serde::Serialize;
use tabula_sdk::{Seat, Viewer};

/// One viewer's view, serialised to JSON for clients.
#[derive(Serialize, Debug)]
pub struct View {
    /// The phase name.
    pub phase: &'static str,
    /// The round, from 1.
    pub round: u32,
    /// The last round: after its scoring the game is over, whoever leads winning (even if no
    /// total reached the win score).
    pub max_rounds: u32,
    /// The round's redeal multiplier.
    pub multiplier: u32,
    /// The viewer's seat; `null` for a spectator.
    pub seat: Option<Seat>,
    /// The viewer's own hand in hand order; `null` for a spectator.
    pub hand: Option<Vec<Kind>>,
    /// Every seat's hand size.
    pub hand_sizes: [u8; SEATS],
    /// Declarations so far this round.
    pub declarations: [Option<u8>; SEATS],
    /// Consecutive zero declarations (at 2 the next declaration must be at least 1).
    pub zero_streaks: [u8; SEATS],
    /// Piles captured this round.
    pub piles: [u8; SEATS],
    /// Totals.
    pub scores: [i32; SEATS],
    /// The most recently scored round's scores, multiplier applied.
    pub round_scores: Option<[i32; SEATS]>,
    /// The round's starter, once known.
    pub starter: Option<Starter>,
    /// The redeal decision in progress.
    pub redeal: Option<RedealView>,
    /// The trick on the table: its plays so far and, once resolved, its winner. A resolved trick
    /// stays on the table through both pauses after it (`timer.pause` is `trick`, then
    /// `trick_result`) and becomes `last_trick` when the next one starts.
    pub trick: Option<Trick>,
    /// The trick before it, this round.
    pub last_trick: Option<Trick>,
    /// Seats whose move it is.
    pub awaiting: Vec<Seat>,
    /// The pending pause, if any.
    pub timer: Option<TimerView>,
    /// What the viewer may do now; `null` when nothing.
    pub can: Option<Can>,
    /// The winners, once the game is over.
    pub winners: Option<Vec<Seat>>,
}

/// A redeal decision in progress. Answers stay secret until everyone has answered.
#[derive(Serialize, Debug)]
pub struct RedealView {
    /// Seats asked (their hands are weak).
    pub weak: Vec<Seat>,
    /// Seats that have answered.
    pub answered: Vec<Seat>,
    /// When undecided players decline (host ms).
    pub deadline: u64,
    /// The viewer's own answer, once given.
    pub your_answer: Option<bool>,
}

/// A pending pause: what it is for and when it ends (host ms).
#[derive(Serialize, Debug)]
pub struct TimerView {
    /// `deal`, `redeal`, `declined`, `redeal_decision`, `round_start`, `trick`, `trick_result`,
    /// `turn_results` or `scoring`.
    pub pause: &'static str,
    /// When it ends.
    pub at: u64,
}

/// What the viewer may do now: `{"declare": [0, 1, 2]}`, `{"redeal": true}` (answer with
/// `{"redeal": true}` or `{"redeal": false}`), or
/// `{"play": {"lead": true, "count": null, "plays": [["HORSE_RED"], ["HORSE_RED", "HORSE_RED"]]}}`
/// / `{"play": {"lead": false, "count": 2, "plays": null}}`.
#[derive(Serialize, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Can {
    /// The values the viewer may declare.
    Declare(Vec<u8>),
    /// The viewer must accept or decline a redeal.
    Redeal(bool),
    /// The viewer must play.
    Play(PlayCan),
}

/// The viewer's play.
#[derive(Serialize, Debug, PartialEq, Eq)]
pub struct PlayCan {
    /// True for the lead: 1 to 6 pieces forming a valid play.
    pub lead: bool,
    /// For a follower, exactly how many pieces (any combination); `null` for the lead.
    pub count: Option<u8>,
    /// For the lead, every valid play the viewer's hand holds, for clients to highlight playable
    /// pieces: each distinct combination once (copies of a kind are interchangeable), its kinds
    /// in canonical deck order (`GENERAL_RED` first, `SOLDIER_BLACK` last), shorter plays first
    /// and plays of one size in lexicographic order of their kinds. Sending any of them as
    /// `{"play": [...]}` is accepted. `null` for a follower, who may play any `count` pieces.
    pub plays: Option<Vec<Vec<Kind>>>,
}

/// Renders `state` for `viewer`.
pub fn render(state: &State, viewer: Viewer) -> View {
    // A seat number the game does not have sees what a spectator sees.
    let seat = match viewer {
        Viewer::Seat(s) if (s as usize) < SEATS => Some(s),
        _ => None,
    };
    let redeal = state.poll.map(|p| RedealView {
        weak: crate::events::seats_in(p.weak),
        answered: crate::events::seats_in(p.answered),
        deadline: state.timer.map_or(0, |t| t.at),
        your_answer: seat
            .map(|s| 1u8 << s)
            .filter(|bit| p.answered & bit != 0)
            .map(|bit| p.accepted & bit != 0),
    });
    View {
        phase: state.phase.as_str(),
        round: state.round,
        max_rounds: state.max_rounds,
        multiplier: state.multiplier,
        seat,
        hand: seat.map(|s| state.hands[ix(s)].clone()),
        hand_sizes: state.hands.each_ref().map(|h| h.len() as u8),
        declarations: state.declarations,
        zero_streaks: state.zero_streak,
        piles: state.piles,
        scores: state.totals,
        round_scores: state.history.last().copied(),
        starter: state.starter,
        redeal,
        trick: state.trick.clone(),
        last_trick: state.last_trick.clone(),
        awaiting: state.awaiting(),
        timer: state.timer.map(|t| TimerView {
            pause: t.pause.as_str(),
            at: t.at,
        }),
        can: seat.and_then(|s| can(state, s)),
        winners: (state.phase == Phase::GameOver).then(|| state.winners.clone()),
    }
}

/// What `seat` may do now.
pub fn can(state: &State, seat: Seat) -> Option<Can> {
    if !state.is_awaited(seat) {
        return None;
    }
    match state.phase {
        Phase::Preparation => Some(Can::Redeal(true)),
        Phase::Declaration => Some(Can::Declare(state.legal_declarations(seat))),
        Phase::Turn => state.trick.as_ref().map(|t| {
            let lead = t.plays.is_empty();
            Can::Play(PlayCan {
                lead,
                count: (!lead).then_some(t.count),
                plays: lead.then(|| legal::leads(&state.hands[ix(seat)])),
            })
        }),
        _ => None,
    }
}
