//! The game's state — everything the table remembers — and its invariants ([`State::check`]).
//!
//! The state is compact on purpose (kinds are one byte, seats and small counts are varints):
//! the host stores, ships and decodes it on every call. It holds the deal stream, which must
//! never reach a view or an event. How the state changes lives in `flow`; what a viewer may see
//! lives in `view`; how an older version's state becomes this one lives in `migrate`.
//!
//! The postcard layout is append-only: version 1's state is this struct without its last field,
//! `max_rounds`. New fields go at the end, with a `migrate` step that supplies them.

use crate::flow::round_score;
use crate::options::Config;
use crate::pieces::{HAND_SIZE, KINDS, Kind, SEATS, count_kinds, is_weak};
use crate::plays::{PlayType, classify, trick_winner};
use serde::{Deserialize, Serialize};
use tabula_sdk::{Rng, Seat};

/// A phase of the game (spec §3), as reported to the host.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)] // the variants are the spec's phases, named as in it
pub enum Phase {
    Preparation,
    RoundStart,
    Declaration,
    Turn,
    TurnResults,
    Scoring,
    GameOver,
}

impl Phase {
    /// Every phase name, for `GameInfo`.
    pub const NAMES: &'static [&'static str] = &[
        "preparation",
        "round_start",
        "declaration",
        "turn",
        "turn_results",
        "scoring",
        "game_over",
    ];

    /// Every phase change the module makes, for `GameInfo`. A redeal stays in `preparation` and
    /// the next trick stays in `turn`: neither is a phase change.
    pub const TRANSITIONS: &'static [(&'static str, &'static str)] = &[
        ("preparation", "round_start"),
        ("round_start", "declaration"),
        ("declaration", "turn"),
        ("turn", "turn_results"),
        ("turn_results", "scoring"),
        ("scoring", "preparation"),
        ("scoring", "game_over"),
    ];

    /// The phase's name.
    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

/// What a pending timer is for; each names one row of spec §5.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pause {
    /// Preparation with no weak hand.
    Deal,
    /// After a redeal that leaves no weak hand.
    Redealt,
    /// Every weak player declined.
    Declined,
    /// Weak players are deciding; undecided ones decline when it fires.
    RedealDecision,
    /// The `round_start` display.
    RoundStart,
    /// After the fourth play of a trick (the trick is already resolved).
    Trick,
    /// After a trick's result, before the next trick.
    TrickResult,
    /// The `turn_results` display.
    TurnResults,
    /// The `scoring` display.
    Scoring,
}

impl Pause {
    /// The pause's name in views.
    pub fn as_str(self) -> &'static str {
        match self {
            Pause::Deal => "deal",
            Pause::Redealt => "redeal",
            Pause::Declined => "declined",
            Pause::RedealDecision => "redeal_decision",
            Pause::RoundStart => "round_start",
            Pause::Trick => "trick",
            Pause::TrickResult => "trick_result",
            Pause::TurnResults => "turn_results",
            Pause::Scoring => "scoring",
        }
    }
}

/// Why the game ended (spec §3.6 and version 2's round limit).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// A total reached the win score (this wins over the limit when both happen at once).
    WinScore,
    /// The last round allowed by `max_rounds` was scored.
    RoundLimit,
}

/// A pending timer: when it fires (host ms) and what for.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timer {
    /// Host milliseconds at which the host calls `timer`.
    pub at: u64,
    /// What happens then.
    pub pause: Pause,
}

/// A redeal decision in progress. Seats are bits (`1 << seat`).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Poll {
    /// Seats holding a weak hand: the ones asked.
    pub weak: u8,
    /// Weak seats that have answered.
    pub answered: u8,
    /// Weak seats that accepted.
    pub accepted: u8,
    /// Where play order starts, to find the first accepter (spec §3.1 step 4).
    pub order_from: Seat,
}

/// Why a seat starts the round (spec §3.2).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum StarterReason {
    /// Round 1 without a redeal.
    HasGeneralRed,
    /// Later rounds without a redeal.
    WonLastTurn,
    /// A redeal was accepted this round.
    AcceptedRedeal,
}

/// The round's starter: declares first and leads the first trick.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Starter {
    /// The starting seat.
    pub seat: Seat,
    /// Why.
    pub reason: StarterReason,
}

/// One seat's play in a trick; public once made.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Play {
    /// Who played.
    pub seat: Seat,
    /// What, in the order given.
    pub pieces: Vec<Kind>,
    /// The play's type, `None` for a follower's invalid combination.
    pub play_type: Option<PlayType>,
}

/// A trick: its leader, the required count, the plays so far and, once four have played, the
/// winner.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Trick {
    /// Who leads.
    pub leader: Seat,
    /// Pieces each player must play; 0 until the lead.
    pub count: u8,
    /// Plays in playing order.
    pub plays: Vec<Play>,
    /// The winner, set the moment the fourth play lands.
    pub winner: Option<Seat>,
}

/// The whole game.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct State {
    pub(crate) config: Config,
    /// The deal stream (spec §2): used for deals and nothing else, never shown.
    pub(crate) deal_rng: Rng,
    pub(crate) phase: Phase,
    /// 1-based.
    pub(crate) round: u32,
    /// 1 plus the redeals accepted this round.
    pub(crate) multiplier: u32,
    pub(crate) hands: [Vec<Kind>; SEATS],
    /// Pieces played this round, by kind; with the hands they make the deck.
    pub(crate) played: [u8; KINDS],
    pub(crate) poll: Option<Poll>,
    /// The last redeal's first accepter this round.
    pub(crate) accepter: Option<Seat>,
    /// Known from `round_start` on.
    pub(crate) starter: Option<Starter>,
    pub(crate) declarations: [Option<u8>; SEATS],
    /// Consecutive zero declarations, carried across rounds.
    pub(crate) zero_streak: [u8; SEATS],
    /// Piles captured this round.
    pub(crate) piles: [u8; SEATS],
    /// Whose move it is in `declaration` and `turn`.
    pub(crate) turn: Seat,
    /// The trick on the table, in `turn`.
    pub(crate) trick: Option<Trick>,
    /// The trick before it, this round.
    pub(crate) last_trick: Option<Trick>,
    /// Winner of the latest trick, which at a round's start is the previous round's last.
    pub(crate) last_trick_winner: Option<Seat>,
    pub(crate) totals: [i32; SEATS],
    /// Every scored round's scores (multiplier applied); the totals are their sums.
    pub(crate) history: Vec<[i32; SEATS]>,
    pub(crate) timer: Option<Timer>,
    /// Set when the game is over.
    pub(crate) winners: Vec<Seat>,
    /// The last round (version 2's round limit): the game is over after its scoring. Kept last
    /// so that a version-1 state body is exactly this layout's prefix (see `migrate`); never
    /// below `round`.
    pub(crate) max_rounds: u32,
}

/// The seat after `seat` in rotation.
pub fn next_seat(seat: Seat) -> Seat {
    (seat + 1) % SEATS as Seat
}

/// `seat` as an index; seats reaching the state are always below [`SEATS`].
pub fn ix(seat: Seat) -> usize {
    seat as usize % SEATS
}

impl State {
    /// The current phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The seats whose input is awaited now.
    pub fn awaiting(&self) -> Vec<Seat> {
        match self.phase {
            Phase::Preparation => match self.poll {
                Some(p) => (0..SEATS as Seat)
                    .filter(|s| p.weak & !p.answered & (1 << s) != 0)
                    .collect(),
                None => Vec::new(),
            },
            Phase::Declaration => vec![self.turn],
            Phase::Turn if self.timer.is_none() => vec![self.turn],
            _ => Vec::new(),
        }
    }

    /// Whether `seat` is awaited now (without allocating).
    pub fn is_awaited(&self, seat: Seat) -> bool {
        match self.phase {
            Phase::Preparation => self
                .poll
                .is_some_and(|p| seat < SEATS as Seat && p.weak & !p.answered & (1 << seat) != 0),
            Phase::Declaration => self.turn == seat,
            Phase::Turn => self.timer.is_none() && self.turn == seat,
            _ => false,
        }
    }

    /// Seats sharing the highest total.
    pub fn leaders(&self) -> Vec<Seat> {
        let best = self.totals.iter().copied().max().unwrap_or(0);
        (0..SEATS as Seat)
            .filter(|&s| self.totals[ix(s)] == best)
            .collect()
    }

    /// Why the game is over once the current round's scoring pause ends, or `None` when another
    /// round follows. Only meaningful from the round's scoring on.
    pub fn end_reason(&self) -> Option<EndReason> {
        let top = self.totals.iter().copied().max().unwrap_or(0);
        if i64::from(top) >= i64::from(self.config.win_score) {
            Some(EndReason::WinScore)
        } else if self.round >= self.max_rounds {
            Some(EndReason::RoundLimit)
        } else {
            None
        }
    }

    /// Why `seat` may not declare `value` now, or `None` when it may (spec §3.3).
    pub fn declaration_error(&self, seat: Seat, value: i64) -> Option<&'static str> {
        if !(0..=8).contains(&value) {
            return Some("declare a number of piles from 0 to 8");
        }
        if value == 0 && self.zero_streak[ix(seat)] >= 2 {
            return Some("you must declare at least 1 after two zero declarations");
        }
        let (mut others, mut sum) = (0, 0i64);
        for (s, d) in self.declarations.iter().enumerate() {
            if let (true, Some(d)) = (s != ix(seat), d) {
                others += 1;
                sum += i64::from(*d);
            }
        }
        if others == SEATS - 1 && sum + value == 8 {
            return Some("the last declarer cannot make the total 8");
        }
        None
    }

    /// The values `seat` may declare now.
    pub fn legal_declarations(&self, seat: Seat) -> Vec<u8> {
        (0..=8u8)
            .filter(|&v| self.declaration_error(seat, i64::from(v)).is_none())
            .collect()
    }

    /// Checks every invariant; the error says what is broken.
    pub fn check(&self) -> Result<(), String> {
        self.check_pieces()?;
        self.check_scores()?;
        self.check_phase()
    }

    fn check_pieces(&self) -> Result<(), String> {
        let mut counts = self.played;
        for hand in &self.hands {
            if hand.len() > HAND_SIZE {
                return Err(format!("a hand holds {} pieces", hand.len()));
            }
            for (c, n) in counts.iter_mut().zip(count_kinds(hand)) {
                *c = c.saturating_add(n);
            }
        }
        for kind in Kind::ALL {
            if counts[kind.index()] != kind.copies() {
                return Err(format!(
                    "{kind}: {} in hands and played this round, the deck has {}",
                    counts[kind.index()],
                    kind.copies()
                ));
            }
        }
        let played: usize = self.played.iter().map(|&n| usize::from(n)).sum();
        let in_hands: usize = self.hands.iter().map(Vec::len).sum();
        if played + in_hands != 32 {
            return Err(format!(
                "{played} played and {in_hands} in hands make no deck"
            ));
        }
        let shown: Vec<Kind> = self
            .trick
            .iter()
            .chain(&self.last_trick)
            .flat_map(|t| &t.plays)
            .flat_map(|p| p.pieces.iter().copied())
            .collect();
        if count_kinds(&shown)
            .iter()
            .zip(&self.played)
            .any(|(t, p)| t > p)
        {
            return Err("the tricks show pieces that were not played".into());
        }
        Ok(())
    }

    fn check_scores(&self) -> Result<(), String> {
        let mut sums = [0i64; SEATS];
        for round in &self.history {
            for (sum, score) in sums.iter_mut().zip(round) {
                *sum += i64::from(*score);
            }
        }
        if sums
            .iter()
            .zip(&self.totals)
            .any(|(s, t)| *s != i64::from(*t))
        {
            return Err(format!(
                "totals {:?} are not the sum of the rounds {sums:?}",
                self.totals
            ));
        }
        let scored = matches!(self.phase, Phase::Scoring | Phase::GameOver);
        let want = if scored {
            self.round
        } else {
            self.round.saturating_sub(1)
        };
        if self.history.len() != want as usize || self.round == 0 {
            return Err(format!(
                "round {} in {} but {} rounds scored",
                self.round,
                self.phase.as_str(),
                self.history.len()
            ));
        }
        // A round past the limit could only be dealt after the limit's scoring, which ends the
        // game; so at every phase the round is at most the limit.
        if self.max_rounds == 0 || self.round > self.max_rounds {
            return Err(format!(
                "round {} is past the limit of {} rounds",
                self.round, self.max_rounds
            ));
        }
        let top = self.totals.iter().copied().max().unwrap_or(0);
        let reached = i64::from(top) >= i64::from(self.config.win_score);
        match self.phase {
            Phase::GameOver if self.end_reason().is_none() || self.winners != self.leaders() => {
                Err(format!(
                    "game over in round {} of {} with winners {:?} and totals {:?}",
                    self.round, self.max_rounds, self.winners, self.totals
                ))
            }
            // The end is decided when the scoring pause ends, so scoring may show either.
            Phase::GameOver | Phase::Scoring => Ok(()),
            _ if reached => Err(format!(
                "a total of {top} reached the win score but play went on"
            )),
            _ if !self.winners.is_empty() => Err("winners before the game is over".into()),
            _ => Ok(()),
        }
    }

    fn check_phase(&self) -> Result<(), String> {
        let sizes: Vec<usize> = self.hands.iter().map(Vec::len).collect();
        let pile_sum: usize = self.piles.iter().map(|&p| usize::from(p)).sum();
        let declared = self.declarations.iter().filter(|d| d.is_some()).count();
        let pause = self.timer.map(|t| t.pause);
        if self.multiplier == 0 || (self.multiplier > 1) != self.accepter.is_some() {
            return Err(format!(
                "multiplier {} with redeal accepter {:?}",
                self.multiplier, self.accepter
            ));
        }
        if self.poll.is_some() != (pause == Some(Pause::RedealDecision)) {
            return Err("a redeal poll without its decision timer, or the reverse".into());
        }
        let fresh = sizes.iter().all(|&n| n == HAND_SIZE)
            && pile_sum == 0
            && self.trick.is_none()
            && self.last_trick.is_none()
            && self.played == [0; KINDS];
        match self.phase {
            Phase::Preparation => {
                if !fresh || declared != 0 || self.starter.is_some() {
                    return Err("preparation with a round already under way".into());
                }
                let weak = self.hands.iter().any(|h| is_weak(h));
                match (pause, self.poll) {
                    (Some(Pause::RedealDecision), Some(p)) => {
                        let mask = (0..SEATS)
                            .filter(|&s| is_weak(&self.hands[s]))
                            .fold(0, |m, s| m | 1 << s);
                        if p.weak != mask
                            || p.answered & !p.weak != 0
                            || p.accepted & !p.answered != 0
                        {
                            return Err(format!("redeal poll {p:?} does not match the weak hands"));
                        }
                        if p.answered == p.weak {
                            return Err(
                                "every weak player answered but the poll is still open".into()
                            );
                        }
                    }
                    (Some(Pause::Deal), None) if !weak && self.accepter.is_none() => {}
                    (Some(Pause::Redealt), None) if !weak && self.accepter.is_some() => {}
                    (Some(Pause::Declined), None) if weak => {}
                    _ => return Err(format!("preparation waiting for {pause:?}")),
                }
            }
            Phase::RoundStart | Phase::Declaration => {
                if !fresh || self.starter.is_none() {
                    return Err("a round starts without fresh hands or a starter".into());
                }
                let start = self.starter.map_or(0, |s| s.seat);
                let (want_pause, want_declared) = if self.phase == Phase::RoundStart {
                    (Some(Pause::RoundStart), 0)
                } else {
                    (None, (self.turn + SEATS as Seat - start) as usize % SEATS)
                };
                let in_order = (0..SEATS as Seat).all(|k| {
                    let s = ix(start + k);
                    self.declarations[s].is_some() == ((k as usize) < want_declared)
                });
                if pause != want_pause || declared != want_declared || !in_order {
                    return Err("declarations out of order".into());
                }
            }
            Phase::Turn => self.check_trick(&sizes, pile_sum, declared)?,
            Phase::TurnResults | Phase::Scoring | Phase::GameOver => {
                let want = match self.phase {
                    Phase::TurnResults => Some(Pause::TurnResults),
                    Phase::Scoring => Some(Pause::Scoring),
                    _ => None,
                };
                if sizes.iter().any(|&n| n != 0) || pile_sum != HAND_SIZE || declared != SEATS {
                    return Err(format!(
                        "a finished round with hands {sizes:?} and {pile_sum} piles"
                    ));
                }
                if pause != want || self.trick.is_some() {
                    return Err(format!("{} waiting for {pause:?}", self.phase.as_str()));
                }
                // Once scored, the round's entry is its scores times its multiplier.
                let multiplier = i32::try_from(self.multiplier).unwrap_or(i32::MAX);
                let scores: Vec<i32> = (0..SEATS)
                    .map(|s| {
                        let declared = self.declarations[s].unwrap_or(0);
                        round_score(declared, self.piles[s]).saturating_mul(multiplier)
                    })
                    .collect();
                if self.phase != Phase::TurnResults
                    && self.history.last().map(|h| h.as_slice()) != Some(scores.as_slice())
                {
                    return Err(format!(
                        "round scored {:?}, not {scores:?}",
                        self.history.last()
                    ));
                }
            }
        }
        Ok(())
    }

    fn check_trick(&self, sizes: &[usize], pile_sum: usize, declared: usize) -> Result<(), String> {
        let Some(trick) = &self.trick else {
            return Err("turn without a trick".into());
        };
        if declared != SEATS || self.starter.is_none() {
            return Err("turn before every player declared".into());
        }
        let n = trick.plays.len();
        let count = usize::from(trick.count);
        if n > SEATS || (n == 0) != (count == 0) || count > 6 {
            return Err(format!("a trick with {n} plays of {count} pieces"));
        }
        for (k, play) in trick.plays.iter().enumerate() {
            if play.seat != ix(trick.leader + k as Seat) as Seat || play.pieces.len() != count {
                return Err(format!(
                    "play {k} of the trick is out of order or of the wrong size"
                ));
            }
            if play.play_type != classify(&play.pieces) || (k == 0 && play.play_type.is_none()) {
                return Err(format!("play {k} of the trick has the wrong type"));
            }
        }
        let complete = n == SEATS;
        let resting = matches!(
            self.timer.map(|t| t.pause),
            Some(Pause::Trick | Pause::TrickResult)
        );
        if complete != trick.winner.is_some()
            || complete != resting
            || (!complete && self.timer.is_some())
        {
            return Err("a trick's winner and its pause disagree".into());
        }
        if !complete && self.turn != ix(trick.leader + n as Seat) as Seat {
            return Err("the wrong seat is to play".into());
        }
        let resolved = trick_winner(trick.plays.iter().map(|p| (p.seat, p.pieces.as_slice())));
        if complete && (trick.winner != resolved || Some(self.turn) != resolved) {
            return Err(format!(
                "the trick went to {:?}, not {resolved:?}",
                trick.winner
            ));
        }
        // At a trick boundary every hand has the same size; mid-trick the seats that played have
        // `count` fewer. Either way each round's piles and one hand make 8.
        let base = sizes[ix(trick.leader + n as Seat)];
        for k in 0..SEATS {
            let size = sizes[ix(trick.leader + k as Seat)];
            let want = if k < n && !complete {
                base.checked_sub(count)
            } else {
                Some(base)
            };
            if Some(size) != want {
                return Err(format!(
                    "hand sizes {sizes:?} in a trick of {count} after {n} plays"
                ));
            }
        }
        if pile_sum + base != HAND_SIZE {
            return Err(format!(
                "{pile_sum} piles captured with {base} pieces left in each hand"
            ));
        }
        Ok(())
    }
}
