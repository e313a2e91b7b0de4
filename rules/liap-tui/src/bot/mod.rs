//! The computer player (spec §6): fills empty seats and replaces disconnected players.
//!
//! Two levels share the search helpers here. `baseline` is spec §6 to the letter; `tactics`
//! (the default) declares and answers redeals exactly as the baseline does but plays to its
//! bet, which the baseline does not: with baseline play, scores drift below zero and bot-only
//! games often never reach the win score (see `options::BotLevel`).
//!
//! A bot reads only its own hand and public facts, never another seat's hand or the deal
//! stream. Its only randomness is the host's entropy (`rng`), used for redeal answers, so the
//! same state and entropy always give the same move. It only ever proposes legal actions.

mod baseline;
mod tactics;

use crate::Action;
use crate::options::BotLevel;
use crate::pieces::Kind;
use crate::plays::{MAX_PLAY, classify, points};
use crate::state::{Phase, State, ix};
use tabula_sdk::{Rng, Seat};

/// The bot's action for `seat` at the table's bot level, or `None` when the seat is not awaited.
pub fn choose(state: &State, seat: Seat, rng: &mut Rng) -> Option<Action> {
    choose_at(state.config.bot, state, seat, rng)
}

/// The action a bot of `level` takes for `seat`.
pub fn choose_at(level: BotLevel, state: &State, seat: Seat, rng: &mut Rng) -> Option<Action> {
    if !state.is_awaited(seat) {
        return None;
    }
    match state.phase {
        Phase::Preparation => Some(Action::Redeal(baseline::accept_redeal(state, seat, rng))),
        Phase::Declaration => Some(Action::Declare(i64::from(baseline::declaration(
            state, seat,
        )))),
        Phase::Turn => {
            let trick = state.trick.as_ref()?;
            let hand = &state.hands[ix(seat)];
            Some(Action::Play(match level {
                BotLevel::Tactics => tactics::play(state, seat, trick),
                BotLevel::Baseline if trick.plays.is_empty() => baseline::lead(hand),
                BotLevel::Baseline => baseline::follow(hand, usize::from(trick.count)),
            }))
        }
        _ => None,
    }
}

/// Calls `f` with every `k`-subset of `0..n` as sorted positions, in lexicographic order.
fn for_each_subset(n: usize, k: usize, mut f: impl FnMut(&[usize])) {
    if k == 0 || k > n || k > MAX_PLAY {
        return;
    }
    let mut idx = [0usize; MAX_PLAY];
    for (i, slot) in idx.iter_mut().enumerate().take(k) {
        *slot = i;
    }
    loop {
        f(&idx[..k]);
        // Advance the rightmost position that can still move, and reset the ones after it.
        let Some(i) = (0..k).rev().find(|&i| idx[i] < n - k + i) else {
            return;
        };
        idx[i] += 1;
        for j in i + 1..k {
            idx[j] = idx[j - 1] + 1;
        }
    }
}

/// Calls `f` with the pieces of every `k`-subset of `hand` (in a stack buffer: searching
/// allocates nothing) and their positions, in lexicographic order of positions.
fn for_each_combination(hand: &[Kind], k: usize, mut f: impl FnMut(&[Kind], &[usize])) {
    let mut buf = [Kind::SoldierBlack; MAX_PLAY];
    for_each_subset(hand.len(), k, |pos| {
        for (slot, &p) in buf.iter_mut().zip(pos) {
            *slot = hand[p];
        }
        f(&buf[..pos.len()], pos);
    });
}

/// The best `k`-subset by `score` (`None` skips a subset); the first found wins ties, so the
/// search keeps a candidate only when it scores strictly higher than every earlier one.
fn best_subset(
    hand: &[Kind],
    k: usize,
    best: &mut Option<(u32, Vec<usize>)>,
    score: impl Fn(&[Kind]) -> Option<u32>,
) {
    for_each_combination(hand, k, |pieces, pos| {
        if let Some(s) = score(pieces)
            && best.as_ref().is_none_or(|(b, _)| s > *b)
        {
            *best = Some((s, pos.to_vec()));
        }
    });
}

/// The point sum of a valid play, for searches that keep valid plays only.
fn valid_points(pieces: &[Kind]) -> Option<u32> {
    classify(pieces).map(|_| points(pieces))
}

fn pieces_at(hand: &[Kind], positions: &[usize]) -> Vec<Kind> {
    positions.iter().map(|&p| hand[p]).collect()
}

/// The `count` lowest-valued pieces, stable by hand order.
fn lowest(hand: &[Kind], count: usize) -> Vec<Kind> {
    let mut order: Vec<usize> = (0..hand.len()).collect();
    order.sort_by_key(|&p| hand[p].points());
    order.truncate(count);
    pieces_at(hand, &order)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subsets_come_in_lexicographic_order() {
        // Bots search plays in the order spec §6 fixes, so ties resolve the same everywhere.
        let mut seen = Vec::new();
        for_each_subset(4, 2, |p| seen.push(p.to_vec()));
        assert_eq!(seen, [[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]]);
        let mut n = 0;
        for_each_subset(8, 3, |_| n += 1);
        assert_eq!(n, 56);
        for_each_subset(2, 3, |_| panic!("no 3-subset of 2"));
    }

    #[test]
    fn the_lowest_pieces_are_taken_stably() {
        // Shedding takes the cheapest pieces, the earlier one first on equal points.
        use Kind::*;
        let hand = [GeneralRed, SoldierRed, HorseRed, SoldierRed, CannonBlack];
        assert_eq!(lowest(&hand, 3), [SoldierRed, SoldierRed, CannonBlack]);
    }
}
