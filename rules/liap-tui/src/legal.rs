//! The plays a hand can lead (spec §4), listed for views so that clients can highlight
//! playable pieces.
//!
//! Pure functions over a hand; nothing here knows about seats, phases or other hands, so what it
//! returns reveals only the hand it was given. Copies of a kind are interchangeable, so plays are
//! multisets of kinds: enumerating them by counts per kind yields each one once, where
//! enumerating subsets of positions would repeat every play that uses a duplicated kind.

use crate::pieces::{KINDS, Kind, count_kinds};
use crate::plays::{MAX_PLAY, classify};

/// Every valid lead in `hand`: each distinct multiset of 1 to 6 of its pieces that [`classify`]
/// accepts, once.
///
/// Order (stable, so that clients can rely on it): shorter plays first; plays of one size in
/// lexicographic order of their kinds; each play's kinds in canonical deck order (the order of
/// [`Kind::ALL`]). A hand of 8 has at most 255 sub-multisets, so this is cheap enough for every
/// view of a leader.
pub fn leads(hand: &[Kind]) -> Vec<Vec<Kind>> {
    let counts = count_kinds(hand);
    let mut found = Vec::new();
    let mut current = Vec::with_capacity(MAX_PLAY);
    gather(&counts, 0, &mut current, &mut found);
    found.sort_by(|a, b| a.len().cmp(&b.len()).then_with(|| a.cmp(b)));
    found
}

/// Extends `current` with 0 up to `counts[kind]` copies of `Kind::ALL[kind]`, for every kind from
/// `kind` on, and keeps each non-empty valid result. `current` stays in canonical order because
/// kinds are taken in that order.
fn gather(counts: &[u8; KINDS], kind: usize, current: &mut Vec<Kind>, found: &mut Vec<Vec<Kind>>) {
    if kind == KINDS {
        if classify(current).is_some() {
            found.push(current.clone());
        }
        return;
    }
    let before = current.len();
    gather(counts, kind + 1, current, found);
    for _ in 0..counts[kind] {
        if current.len() == MAX_PLAY {
            break;
        }
        current.push(Kind::ALL[kind]);
        gather(counts, kind + 1, current, found);
    }
    current.truncate(before);
}

#[cfg(test)]
mod tests {
    use super::*;
    use Kind::*;

    #[test]
    fn a_hand_lists_each_valid_lead_once_shortest_first() {
        // Duplicate pieces give one pair, not one per pair of copies; singles come first.
        let hand = [
            SoldierRed, HorseRed, SoldierRed, ChariotRed, CannonRed, SoldierRed,
        ];
        let plays = leads(&hand);
        assert_eq!(
            plays,
            vec![
                vec![ChariotRed],
                vec![HorseRed],
                vec![CannonRed],
                vec![SoldierRed],
                vec![SoldierRed, SoldierRed],
                vec![ChariotRed, HorseRed, CannonRed],
                vec![SoldierRed, SoldierRed, SoldierRed],
            ]
        );
    }

    #[test]
    fn an_empty_hand_has_no_lead() {
        // With nothing in hand there is nothing to list.
        assert!(leads(&[]).is_empty());
    }

    #[test]
    fn every_listed_lead_is_valid_and_every_valid_subset_is_listed() {
        // The list is exactly the valid plays by `classify`, deduplicated, for many real hands.
        let mut rng = tabula_sdk::Rng::new(11);
        for _ in 0..200 {
            let hands = crate::pieces::deal(&mut rng);
            for hand in &hands {
                let plays = leads(hand);
                let mut expected = std::collections::BTreeSet::new();
                for mask in 1u32..(1 << hand.len()) {
                    let mut pieces: Vec<Kind> = (0..hand.len())
                        .filter(|i| mask & (1 << i) != 0)
                        .map(|i| hand[i])
                        .collect();
                    pieces.sort();
                    if classify(&pieces).is_some() {
                        expected.insert((pieces.len(), pieces));
                    }
                }
                let listed: Vec<(usize, Vec<Kind>)> =
                    plays.iter().map(|p| (p.len(), p.clone())).collect();
                let expected: Vec<(usize, Vec<Kind>)> = expected.into_iter().collect();
                assert_eq!(listed, expected, "hand {hand:?}");
            }
        }
    }
}
