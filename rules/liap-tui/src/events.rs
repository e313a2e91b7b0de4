//! The events the module emits, as JSON objects tagged by `"type"`.
//!
//! Only `dealt` carries a hand, and it is addressed to that hand's owner alone (spectators get it
//! without the hand); every other event holds only public facts. Redeal answers are simultaneous
//! and stay secret until every weak player has answered: `redeal_answered` says who answered, not
//! what, and `redeal_accepted` / `redeal_declined` reveal the answers when the poll closes.

use crate::pieces::{Kind, SEATS};
use crate::plays::PlayType;
use crate::state::{EndReason, StarterReason};
use serde::Serialize;
use tabula_sdk::Seat;

/// One event. Borrowed fields keep emitting cheap.
#[derive(Serialize, Debug)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event<'a> {
    /// The phase changed.
    Phase {
        /// The new phase.
        phase: &'static str,
        /// The round it belongs to.
        round: u32,
    },
    /// Hands were dealt; `hand` only in the copy addressed to its owner.
    Dealt {
        /// The round.
        round: u32,
        /// The round's multiplier (1 + redeals so far).
        multiplier: u32,
        /// The addressee's new hand.
        #[serde(skip_serializing_if = "Option::is_none")]
        hand: Option<&'a [Kind]>,
    },
    /// Weak players are asked, all at once, whether to redeal.
    RedealAsked {
        /// The seats asked.
        weak: Vec<Seat>,
        /// When undecided players decline (host ms).
        deadline: u64,
    },
    /// A weak player answered (what they answered stays secret until everyone has).
    RedealAnswered {
        /// Who answered.
        seat: Seat,
    },
    /// At least one weak player accepted: the hands are redealt.
    RedealAccepted {
        /// The first accepter in play order, who starts the round.
        starter: Seat,
        /// Every seat that accepted.
        accepted: Vec<Seat>,
        /// Every seat that declined, timed-out ones included.
        declined: Vec<Seat>,
        /// Seats that declined by not answering in time.
        timed_out: Vec<Seat>,
        /// The round's multiplier after this redeal.
        multiplier: u32,
    },
    /// Every weak player declined: play continues with these hands.
    RedealDeclined {
        /// Every seat that declined, timed-out ones included.
        declined: Vec<Seat>,
        /// Seats that declined by not answering in time.
        timed_out: Vec<Seat>,
    },
    /// The round's starter is known.
    RoundStarted {
        /// The round.
        round: u32,
        /// Who declares first and leads.
        starter: Seat,
        /// Why (spec §3.2).
        reason: StarterReason,
        /// The round's multiplier.
        multiplier: u32,
    },
    /// A player declared.
    Declared {
        /// Who.
        seat: Seat,
        /// How many piles.
        value: u8,
    },
    /// A player played pieces, now public.
    Played {
        /// Who.
        seat: Seat,
        /// What.
        pieces: &'a [Kind],
        /// The play's type, `null` for an invalid combination.
        play_type: Option<PlayType>,
    },
    /// The trick was resolved.
    TrickWon {
        /// The winner, who leads next.
        seat: Seat,
        /// Piles captured.
        piles: u8,
        /// The winning play's type.
        play_type: Option<PlayType>,
    },
    /// A round was scored.
    RoundScored {
        /// The round.
        round: u32,
        /// Its multiplier.
        multiplier: u32,
        /// Declarations by seat.
        declared: [u8; SEATS],
        /// Piles captured by seat.
        captured: [u8; SEATS],
        /// Round scores by seat, multiplier applied.
        scores: [i32; SEATS],
        /// Totals after the round.
        totals: [i32; SEATS],
    },
    /// The game is over.
    GameOver {
        /// Every seat sharing the highest total.
        winners: &'a [Seat],
        /// Final totals by seat.
        scores: [i32; SEATS],
        /// `win_score` when a total reached the win score, `round_limit` when the last round
        /// allowed by `max_rounds` was scored without one doing so.
        reason: EndReason,
    },
}

/// The seats whose bit is set in `mask`, in seat order.
pub fn seats_in(mask: u8) -> Vec<Seat> {
    (0..SEATS as Seat)
        .filter(|s| mask & (1 << s) != 0)
        .collect()
}
