//! Playing to the bet: the default bot's play. It declares like the baseline, then tries to
//! capture exactly what it declared — the baseline plays its biggest valid play every time,
//! whatever its bet, which is why its scores drift below zero.
//!
//! Still needing piles, it leads its highest-scoring valid play no bigger than what it needs and,
//! following, wins with its strongest winning play or else sheds its lowest pieces. With its bet
//! made (or when winning would overshoot), it leads its cheapest single and, following, plays
//! the most points it can without taking the trick.

use super::baseline;
use super::{best_subset, lowest, pieces_at, valid_points};
use crate::pieces::Kind;
use crate::plays::{MAX_PLAY, classify, points, strength};
use crate::state::{State, Trick, ix};
use tabula_sdk::Seat;

/// The pieces `seat` plays in `trick`.
pub fn play(state: &State, seat: Seat, trick: &Trick) -> Vec<Kind> {
    let hand = &state.hands[ix(seat)];
    let declared = i32::from(state.declarations[ix(seat)].unwrap_or(0));
    let need = declared - i32::from(state.piles[ix(seat)]);
    if trick.plays.is_empty() {
        return lead(hand, need);
    }
    let count = usize::from(trick.count);
    // The lead's type and the strongest play of that type so far: what must be beaten.
    let lead_type = trick.plays.first().and_then(|p| p.play_type);
    let to_beat = trick
        .plays
        .iter()
        .filter(|p| p.play_type.is_some() && p.play_type == lead_type)
        .filter_map(|p| p.play_type.map(|t| strength(t, &p.pieces)))
        .max()
        .unwrap_or(0);
    let winning_strength = |pieces: &[Kind]| match (classify(pieces), lead_type) {
        (Some(t), Some(lead)) if t == lead => Some(strength(t, pieces)).filter(|&s| s > to_beat),
        _ => None,
    };
    let mut best = None;
    if need >= count as i32 {
        best_subset(hand, count, &mut best, winning_strength);
        match best {
            Some((_, pos)) => pieces_at(hand, &pos),
            None => lowest(hand, count),
        }
    } else {
        best_subset(hand, count, &mut best, |pieces| {
            winning_strength(pieces).is_none().then(|| points(pieces))
        });
        match best {
            Some((_, pos)) => pieces_at(hand, &pos),
            // Every combination wins (say, a low single against a hand of high pieces): winning
            // cheaply at least keeps the strong pieces for later.
            None => lowest(hand, count),
        }
    }
}

/// A lead: while piles are needed, the highest-scoring valid play of at most `need` pieces;
/// otherwise the cheapest single.
fn lead(hand: &[Kind], need: i32) -> Vec<Kind> {
    if need <= 0 {
        return lowest(hand, 1);
    }
    let most = usize::try_from(need)
        .unwrap_or(1)
        .clamp(1, MAX_PLAY)
        .min(hand.len());
    let mut best = None;
    for size in 1..=most {
        best_subset(hand, size, &mut best, valid_points);
    }
    match best {
        Some((_, pos)) => pieces_at(hand, &pos),
        None => baseline::lead(hand),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plays::PlayType;
    use crate::state::Play;
    use Kind::*;

    fn trick(plays: &[(Seat, &[Kind])]) -> Trick {
        Trick {
            leader: plays.first().map_or(0, |p| p.0),
            count: plays.first().map_or(0, |p| p.1.len() as u8),
            plays: plays
                .iter()
                .map(|&(seat, pieces)| Play {
                    seat,
                    pieces: pieces.to_vec(),
                    play_type: classify(pieces),
                })
                .collect(),
            winner: None,
        }
    }

    fn table(hand: Vec<Kind>, declared: u8, captured: u8) -> State {
        let mut state =
            crate::tests::support::at_declaration(crate::tests::support::cut_hands(), 0);
        state.hands[1] = hand;
        state.declarations[1] = Some(declared);
        state.piles[1] = captured;
        state
    }

    #[test]
    fn a_bot_that_needs_piles_leads_no_more_than_it_needs() {
        // A bot one pile short leads its best single rather than a big combination.
        let hand = [ChariotRed, HorseRed, CannonRed, SoldierBlack, GeneralBlack];
        assert_eq!(lead(&hand, 1), [GeneralBlack]);
        assert_eq!(lead(&hand, 3), [ChariotRed, HorseRed, CannonRed]);
        assert_eq!(
            lead(&hand, 0),
            [SoldierBlack],
            "a made bet leads the cheapest single"
        );
    }

    #[test]
    fn a_bot_that_needs_piles_takes_the_trick_when_it_can() {
        // Short of its bet, a follower beats the trick with its strongest winning play.
        let state = table(
            vec![HorseRed, HorseRed, CannonRed, CannonRed, GeneralRed],
            3,
            0,
        );
        let t = trick(&[(0, &[CannonBlack, CannonBlack])]);
        assert_eq!(play(&state, 1, &t), [HorseRed, HorseRed]);
        let t = trick(&[(0, &[ChariotRed, ChariotRed])]);
        assert_eq!(
            play(&state, 1, &t),
            [CannonRed, CannonRed],
            "no winner: shed the lowest"
        );
    }

    #[test]
    fn a_bot_with_its_bet_made_dumps_points_without_winning() {
        // With its bet made, a follower never takes the trick if it can avoid it.
        let state = table(
            vec![HorseRed, HorseRed, CannonRed, GeneralRed, SoldierBlack],
            1,
            1,
        );
        let t = trick(&[(0, &[CannonBlack, CannonBlack])]);
        assert_eq!(
            play(&state, 1, &t),
            [HorseRed, GeneralRed],
            "an invalid pair of big pieces"
        );
        let t = trick(&[(0, &[AdvisorBlack])]);
        assert_eq!(play(&state, 1, &t), [HorseRed]);
        assert_eq!(classify(&[HorseRed]), Some(PlayType::Single));
    }
}
