//! Spec §6 to the letter: the declaration, redeal and play rules every bot must at least match.
//! Both bot levels declare and answer redeals with these; only the `baseline` level also plays
//! with [`lead`] and [`follow`].

use super::{best_subset, for_each_combination, lowest, pieces_at, valid_points};
use crate::pieces::Kind;
use crate::plays::{MAX_PLAY, PlayType, classify, points};
use crate::state::{State, ix};
use tabula_sdk::{Rng, Seat};

/// Accept with probability 0.8, halved from round 11 on when leading every opponent by more
/// than 10 points.
pub fn accept_redeal(state: &State, seat: Seat, rng: &mut Rng) -> bool {
    let mine = i64::from(state.totals[ix(seat)]);
    let far_ahead = state
        .totals
        .iter()
        .enumerate()
        .all(|(s, &t)| s == ix(seat) || mine > i64::from(t) + 10);
    let p = if state.round >= 11 && far_ahead {
        0.4
    } else {
        0.8
    };
    rng.chance(p)
}

/// A leader tries sizes 1 to 6 in order, subsets in lexicographic order of hand positions, and
/// keeps the first valid play whose point sum beats every earlier candidate's.
pub fn lead(hand: &[Kind]) -> Vec<Kind> {
    let mut best = None;
    for size in 1..=MAX_PLAY.min(hand.len()) {
        best_subset(hand, size, &mut best, valid_points);
    }
    match best {
        Some((_, pos)) => pieces_at(hand, &pos),
        // Unreachable with a non-empty hand: any piece is a single.
        None => hand.iter().take(1).copied().collect(),
    }
}

/// A follower plays its highest-scoring valid play of `count` pieces (first found on ties), or
/// else its `count` lowest-valued pieces (stable by hand order).
pub fn follow(hand: &[Kind], count: usize) -> Vec<Kind> {
    let mut best = None;
    best_subset(hand, count, &mut best, valid_points);
    match best {
        Some((_, pos)) => pieces_at(hand, &pos),
        None => lowest(hand, count),
    }
}

/// How many piles the hand looks worth (spec §6), before the declaration rules: the number of
/// valid 3+ piece plays formable (each subset of physical pieces counted, extended straights of
/// 5 excepted), plus 1 for an opening, plus 1 for declaring first; 0 with no piece worth 9+ and
/// no such play; at least 1 with a piece worth 7–8; at most 7.
pub fn hand_score(hand: &[Kind], declaring_first: bool) -> u8 {
    let high = hand.iter().filter(|k| k.points() >= 9).count();
    let mid = hand
        .iter()
        .filter(|k| (7..=8).contains(&k.points()))
        .count();
    let mut strong = 0usize;
    let mut opening = hand
        .iter()
        .any(|k| matches!(k, Kind::GeneralRed | Kind::GeneralBlack));
    for size in 3..=MAX_PLAY {
        for_each_combination(hand, size, |pieces, _| match classify(pieces) {
            None | Some(PlayType::ExtendedStraight5) => {}
            Some(t) => {
                strong += 1;
                if matches!(t, PlayType::Straight | PlayType::ExtendedStraight)
                    && points(pieces) >= 20
                {
                    opening = true;
                }
            }
        });
    }
    let score = strong + usize::from(opening) + usize::from(declaring_first);
    let score = if high == 0 && strong == 0 {
        0
    } else if score == 0 && mid > 0 {
        1
    } else {
        score
    };
    score.min(7) as u8
}

/// The hand score if it is legal to declare, else the nearest legal value in 0..=7 (the lower
/// on a tie).
pub fn declaration(state: &State, seat: Seat) -> u8 {
    let first = state.declarations.iter().all(Option::is_none);
    let want = hand_score(&state.hands[ix(seat)], first);
    let legal = |v: u8| state.declaration_error(seat, i64::from(v)).is_none();
    (0..=7u8)
        .filter(|&v| legal(v))
        .min_by_key(|&v| (v.abs_diff(want), v))
        // At most two values are ever forbidden, so 0..=7 always has a legal one; this is
        // only a guard.
        .or_else(|| (0..=8u8).find(|&v| legal(v)))
        .unwrap_or(want)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::support::{at_declaration, cut_hands};
    use Kind::*;

    #[test]
    fn a_leader_plays_its_highest_scoring_valid_play() {
        // The baseline leads the valid play with the most points, preferring smaller sizes on ties.
        let hand = [SoldierRed, GeneralRed, AdvisorRed, ElephantRed, SoldierRed];
        assert_eq!(lead(&hand), [GeneralRed, AdvisorRed, ElephantRed]);
        assert_eq!(
            lead(&[SoldierBlack, HorseRed, HorseRed]),
            [HorseRed, HorseRed]
        );
        assert_eq!(lead(&[SoldierBlack, CannonRed, CannonBlack]), [CannonRed]);
        assert_eq!(lead(&[SoldierRed, SoldierRed]), [SoldierRed, SoldierRed]);
    }

    #[test]
    fn a_follower_plays_its_best_valid_play_or_sheds_its_lowest_pieces() {
        // With no valid play of the trick's size the baseline gives up its cheapest pieces.
        let hand = [GeneralRed, SoldierBlack, HorseRed, SoldierRed, CannonBlack];
        assert_eq!(follow(&hand, 2), [SoldierBlack, SoldierRed]);
        let hand = [GeneralRed, HorseRed, HorseRed, SoldierBlack];
        assert_eq!(follow(&hand, 2), [HorseRed, HorseRed]);
        assert_eq!(follow(&hand, 1), [GeneralRed]);
    }

    #[test]
    fn hand_scores_count_strong_plays_high_pieces_and_openings() {
        // The baseline bets on strong combinations, high pieces and openings as spec §6 counts them.
        let weak = [
            SoldierBlack,
            SoldierRed,
            CannonBlack,
            HorseBlack,
            SoldierBlack,
            CannonRed,
            HorseRed,
            SoldierRed,
        ];
        assert_eq!(
            hand_score(&weak, true),
            0,
            "no high piece and no strong play"
        );
        let mid_only = [
            ElephantBlack,
            ChariotBlack,
            SoldierRed,
            CannonRed,
            HorseBlack,
            SoldierBlack,
            SoldierRed,
            HorseRed,
        ];
        assert_eq!(
            hand_score(&mid_only, false),
            1,
            "a high piece, nothing strong, a mid piece"
        );
        let strong = [
            GeneralRed,
            AdvisorRed,
            ElephantRed,
            SoldierRed,
            SoldierRed,
            SoldierRed,
            HorseBlack,
            CannonBlack,
        ];
        // The G-A-E straight and three soldiers are strong; the general makes an opening.
        assert_eq!(hand_score(&strong, false), 3);
        assert_eq!(hand_score(&strong, true), 4);
        // C(5,3) + C(5,4) + one five-of-a-kind = 16 strong plays, clamped to 7.
        assert_eq!(hand_score(&[SoldierRed; 5], false), 7);
        let es5 = [
            ChariotRed,
            HorseRed,
            HorseRed,
            CannonRed,
            CannonRed,
            SoldierBlack,
            SoldierBlack,
            SoldierRed,
        ];
        // 4 straights and 4 extended straights (worth 22 and 24: an opening); the extended
        // straight of 5 is not counted. No piece is worth 9, but strong plays are enough.
        assert_eq!(hand_score(&es5, false), 7);
    }

    #[test]
    fn a_forbidden_hand_score_moves_to_the_nearest_legal_value() {
        // When the rules forbid the bot's number, it declares the closest legal one, lower on ties.
        let mut state = at_declaration(cut_hands(), 2);
        state.declarations = [Some(2), None, Some(3), Some(2)];
        state.turn = 1;
        // Seat 1 holds ELEPHANT_BLACK×2, chariots and horses: nothing strong, so 1.
        assert_eq!(hand_score(&state.hands[1], false), 1);
        assert_eq!(
            state.declaration_error(1, 1),
            Some("the last declarer cannot make the total 8")
        );
        assert_eq!(
            declaration(&state, 1),
            0,
            "0 and 2 are as near; the lower wins"
        );
        state.declarations = [Some(2), None, Some(3), Some(1)];
        assert_eq!(declaration(&state, 1), 1);
    }
}
