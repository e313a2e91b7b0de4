//! Play types, their strength and trick resolution (spec §4 and §3.4).
//!
//! Pure functions over slices of kinds; nothing here knows about seats' hands or phases. They
//! allocate nothing because bots classify every subset of a hand.

use crate::pieces::{Colour, Kind, Name, SEATS};
use serde::{Deserialize, Serialize};
use tabula_sdk::Seat;

/// The type of a valid play (spec §4). Plays of different types never beat each other.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PlayType {
    /// Any one piece.
    Single,
    /// Two pieces of the same kind.
    Pair,
    /// Three soldiers of one colour.
    ThreeOfAKind,
    /// One colour, one of each name of a group.
    Straight,
    /// Four soldiers of one colour.
    FourOfAKind,
    /// One colour, the three names of a group counted {1, 1, 2}.
    ExtendedStraight,
    /// Five soldiers of one colour.
    FiveOfAKind,
    /// One colour, the three names of a group counted {1, 2, 2}.
    #[serde(rename = "EXTENDED_STRAIGHT_5")]
    ExtendedStraight5,
    /// One colour, two each of CHARIOT, HORSE and CANNON.
    DoubleStraight,
}

/// Most pieces a play may have.
pub const MAX_PLAY: usize = 6;

/// What a set of pieces looks like: whether it is one colour and how many of each name it has.
struct Shape {
    one_colour: bool,
    names: [u8; 7],
}

impl Shape {
    fn of(pieces: &[Kind]) -> Shape {
        let mut names = [0u8; 7];
        let first: Option<Colour> = pieces.first().map(|k| k.colour());
        let mut one_colour = true;
        for k in pieces {
            names[k.name() as usize] += 1;
            one_colour &= Some(k.colour()) == first;
        }
        Shape { one_colour, names }
    }

    fn soldiers_only(&self, n: u8) -> bool {
        self.one_colour && self.names[Name::Soldier as usize] == n
    }

    /// The name counts of the group that holds every piece, sorted, when there is one.
    fn group_counts(&self) -> Option<[u8; 3]> {
        if !self.one_colour {
            return None;
        }
        for group in [0usize, 3] {
            let inside: u8 = self.names[group..group + 3].iter().sum();
            let total: u8 = self.names.iter().sum();
            if inside == total {
                let mut counts = [
                    self.names[group],
                    self.names[group + 1],
                    self.names[group + 2],
                ];
                counts.sort_unstable();
                return Some(counts);
            }
        }
        None
    }
}

/// The type of `pieces` as a play, or `None` when they form no valid play (spec §4).
pub fn classify(pieces: &[Kind]) -> Option<PlayType> {
    match pieces {
        [] => None,
        [_] => Some(PlayType::Single),
        [a, b] => (a == b).then_some(PlayType::Pair),
        _ if pieces.len() > MAX_PLAY => None,
        _ => {
            let shape = Shape::of(pieces);
            let group = shape.group_counts();
            match pieces.len() {
                3 if shape.soldiers_only(3) => Some(PlayType::ThreeOfAKind),
                3 if group == Some([1, 1, 1]) => Some(PlayType::Straight),
                4 if shape.soldiers_only(4) => Some(PlayType::FourOfAKind),
                4 if group == Some([1, 1, 2]) => Some(PlayType::ExtendedStraight),
                5 if shape.soldiers_only(5) => Some(PlayType::FiveOfAKind),
                5 if group == Some([1, 2, 2]) => Some(PlayType::ExtendedStraight5),
                6 if shape.one_colour
                    && shape.names[Name::Chariot as usize] == 2
                    && shape.names[Name::Horse as usize] == 2
                    && shape.names[Name::Cannon as usize] == 2 =>
                {
                    Some(PlayType::DoubleStraight)
                }
                _ => None,
            }
        }
    }
}

/// Why `pieces` is not a valid play, in words for the player. Only meaningful when
/// [`classify`] returned `None`.
pub fn why_invalid(pieces: &[Kind]) -> &'static str {
    let n = pieces.len();
    if n == 0 {
        return "a play needs at least one piece";
    }
    if n > MAX_PLAY {
        return "a play has at most 6 pieces";
    }
    if n >= 3 && !Shape::of(pieces).one_colour {
        return "its pieces are not all one colour";
    }
    match n {
        2 => "two pieces must be a pair of the same kind",
        3 => {
            "three pieces must be three soldiers, or one each of GENERAL, ADVISOR, ELEPHANT \
             or of CHARIOT, HORSE, CANNON"
        }
        4 => {
            "four pieces must be four soldiers, or the three names of one group with one of them \
             twice"
        }
        5 => {
            "five pieces must be five soldiers, or the three names of one group with two of them \
             twice"
        }
        _ => "six pieces must be two each of CHARIOT, HORSE and CANNON (six soldiers are no play)",
    }
}

/// The plain sum of the pieces' points.
pub fn points(pieces: &[Kind]) -> u32 {
    pieces.iter().map(|k| u32::from(k.points())).sum()
}

/// A play's strength (spec §4): for the extended straights one piece of each name counts
/// (duplicates ignored); for every other type the plain sum of points.
pub fn strength(play_type: PlayType, pieces: &[Kind]) -> u32 {
    match play_type {
        PlayType::ExtendedStraight | PlayType::ExtendedStraight5 => {
            let mut seen = [false; 7];
            let mut sum = 0;
            for k in pieces {
                if !std::mem::replace(&mut seen[k.name() as usize], true) {
                    sum += u32::from(k.points());
                }
            }
            sum
        }
        _ => points(pieces),
    }
}

/// The winner of a complete trick, given its plays in playing order (the lead first). The lead
/// is the provisional winner; a later play replaces it only when it is of the same type and
/// strictly stronger, so ties go to the earlier player.
pub fn trick_winner<'a>(plays: impl IntoIterator<Item = (Seat, &'a [Kind])>) -> Option<Seat> {
    let mut plays = plays.into_iter();
    let (leader, lead) = plays.next()?;
    let Some(lead_type) = classify(lead) else {
        // A lead is always valid; should one not be, no follower can match its type.
        return Some(leader);
    };
    let mut best = (leader, strength(lead_type, lead));
    for (seat, pieces) in plays.take(SEATS - 1) {
        if classify(pieces) == Some(lead_type) {
            let s = strength(lead_type, pieces);
            if s > best.1 {
                best = (seat, s);
            }
        }
    }
    Some(best.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Kind::*;
    use PlayType::*;

    #[test]
    fn singles_and_pairs() {
        // Any piece is a single; a pair needs two pieces of the same name and colour.
        assert_eq!(classify(&[SoldierBlack]), Some(Single));
        assert_eq!(classify(&[HorseRed, HorseRed]), Some(Pair));
        assert_eq!(classify(&[HorseRed, HorseBlack]), None);
        assert_eq!(classify(&[HorseRed, CannonRed]), None);
        assert_eq!(classify(&[]), None);
    }

    #[test]
    fn three_piece_plays() {
        // Three soldiers of one colour, or a full group of one colour; nothing else.
        assert_eq!(classify(&[SoldierRed; 3]), Some(ThreeOfAKind));
        assert_eq!(classify(&[SoldierRed, SoldierRed, SoldierBlack]), None);
        assert_eq!(
            classify(&[GeneralRed, AdvisorRed, ElephantRed]),
            Some(Straight)
        );
        assert_eq!(
            classify(&[CannonBlack, ChariotBlack, HorseBlack]),
            Some(Straight)
        );
        assert_eq!(classify(&[GeneralRed, AdvisorRed, ElephantBlack]), None);
        assert_eq!(
            classify(&[ElephantRed, ChariotRed, HorseRed]),
            None,
            "names span two groups"
        );
        assert_eq!(
            classify(&[AdvisorRed, AdvisorRed, ElephantRed]),
            None,
            "not one of each"
        );
        assert_eq!(classify(&[HorseRed, HorseRed, HorseRed]), None);
    }

    #[test]
    fn four_piece_plays() {
        // Four soldiers, or an extended straight counted {1,1,2} in one colour and one group.
        assert_eq!(classify(&[SoldierBlack; 4]), Some(FourOfAKind));
        assert_eq!(
            classify(&[ChariotRed, HorseRed, HorseRed, CannonRed]),
            Some(ExtendedStraight)
        );
        assert_eq!(
            classify(&[GeneralBlack, AdvisorBlack, AdvisorBlack, ElephantBlack]),
            Some(ExtendedStraight)
        );
        assert_eq!(
            classify(&[ChariotRed, ChariotRed, HorseRed, HorseRed]),
            None,
            "{{2,2}}"
        );
        assert_eq!(
            classify(&[ChariotRed, HorseRed, HorseRed, CannonBlack]),
            None,
            "mixed"
        );
        assert_eq!(
            classify(&[ChariotRed, HorseRed, HorseRed, SoldierRed]),
            None
        );
    }

    #[test]
    fn five_piece_plays() {
        // Five soldiers, or an extended straight counted {1,2,2} in one colour and one group.
        assert_eq!(classify(&[SoldierRed; 5]), Some(FiveOfAKind));
        assert_eq!(
            classify(&[
                ChariotBlack,
                HorseBlack,
                HorseBlack,
                CannonBlack,
                CannonBlack
            ]),
            Some(ExtendedStraight5)
        );
        assert_eq!(
            classify(&[GeneralRed, AdvisorRed, AdvisorRed, ElephantRed, ElephantRed]),
            Some(ExtendedStraight5)
        );
        assert_eq!(
            classify(&[ChariotRed, HorseRed, HorseRed, HorseRed, CannonRed]),
            None,
            "{{1,1,3}}"
        );
        assert_eq!(
            classify(&[SoldierRed, SoldierRed, SoldierRed, SoldierRed, SoldierBlack]),
            None
        );
    }

    #[test]
    fn six_piece_plays_and_beyond() {
        // Only a double straight has six pieces; six soldiers and seven pieces are no play.
        let double = [
            ChariotRed, ChariotRed, HorseRed, HorseRed, CannonRed, CannonRed,
        ];
        assert_eq!(classify(&double), Some(DoubleStraight));
        assert_eq!(classify(&[SoldierRed; 6]), None);
        assert_eq!(
            classify(&[
                ChariotRed,
                ChariotRed,
                HorseRed,
                HorseRed,
                CannonRed,
                CannonBlack
            ]),
            None
        );
        assert_eq!(
            classify(&[
                GeneralRed,
                AdvisorRed,
                AdvisorRed,
                ElephantRed,
                ElephantRed,
                GeneralRed
            ]),
            None
        );
        assert_eq!(classify(&[SoldierRed; 7]), None);
        assert_eq!(why_invalid(&[SoldierRed; 7]), "a play has at most 6 pieces");
        assert!(why_invalid(&[SoldierRed; 6]).contains("six soldiers"));
    }

    #[test]
    fn invalid_plays_are_explained() {
        // A refused lead tells the player what is wrong with it.
        assert_eq!(
            why_invalid(&[ChariotRed, HorseRed, CannonBlack]),
            "its pieces are not all one colour"
        );
        assert!(why_invalid(&[HorseRed, CannonRed]).contains("pair"));
        assert!(why_invalid(&[HorseRed, HorseRed, CannonRed, GeneralRed]).contains("four"));
    }

    #[test]
    fn strength_ignores_duplicates_only_in_extended_straights() {
        // Extended straights count one piece per name; every other play counts all its points.
        assert_eq!(
            strength(
                ExtendedStraight,
                &[ChariotRed, HorseRed, HorseRed, CannonRed]
            ),
            18
        );
        assert_eq!(
            strength(
                ExtendedStraight5,
                &[
                    ChariotBlack,
                    HorseBlack,
                    HorseBlack,
                    CannonBlack,
                    CannonBlack
                ]
            ),
            15
        );
        assert_eq!(strength(Pair, &[HorseRed, HorseRed]), 12);
        assert_eq!(strength(FiveOfAKind, &[SoldierRed; 5]), 10);
        let double = [
            ChariotRed, ChariotRed, HorseRed, HorseRed, CannonRed, CannonRed,
        ];
        assert_eq!(strength(DoubleStraight, &double), 36);
    }

    #[test]
    fn a_stronger_play_of_the_same_type_wins() {
        // The strictly strongest play of the lead's type takes the trick.
        let plays: [(Seat, &[Kind]); 4] = [
            (2, &[HorseBlack, HorseBlack]),
            (3, &[ChariotRed, ChariotRed]),
            (0, &[AdvisorRed, AdvisorRed]),
            (1, &[ElephantRed, ElephantRed]),
        ];
        assert_eq!(trick_winner(plays), Some(0));
    }

    #[test]
    fn a_different_type_never_wins() {
        // Bigger or stronger plays of another type cannot beat the lead.
        let plays: [(Seat, &[Kind]); 4] = [
            (1, &[SoldierBlack, SoldierBlack, SoldierBlack]),
            (2, &[GeneralRed, AdvisorRed, ElephantRed]),
            (3, &[GeneralBlack, AdvisorRed, ElephantRed]),
            (0, &[AdvisorRed, AdvisorBlack, ChariotRed]),
        ];
        assert_eq!(trick_winner(plays), Some(1));
        let singles: [(Seat, &[Kind]); 4] = [
            (0, &[SoldierBlack]),
            (1, &[GeneralRed]),
            (2, &[SoldierRed]),
            (3, &[HorseBlack]),
        ];
        assert_eq!(trick_winner(singles), Some(1), "singles compare by points");
    }

    #[test]
    fn ties_go_to_the_earlier_player() {
        // Equal strength does not take the trick away from whoever played it first.
        let plays: [(Seat, &[Kind]); 4] = [
            (3, &[HorseRed]),
            (0, &[ChariotBlack]),
            (1, &[ChariotBlack]),
            (2, &[HorseBlack]),
        ];
        assert_eq!(trick_winner(plays), Some(0));
        let equal: [(Seat, &[Kind]); 4] = [
            (1, &[CannonRed]),
            (2, &[CannonRed]),
            (3, &[SoldierRed]),
            (0, &[CannonRed]),
        ];
        assert_eq!(trick_winner(equal), Some(1));
    }

    #[test]
    fn extended_straights_compare_without_their_duplicates() {
        // An extended straight with a bigger duplicate is not stronger for it.
        let plays: [(Seat, &[Kind]); 4] = [
            (0, &[ChariotRed, HorseRed, CannonRed, CannonRed]),
            (1, &[ChariotRed, ChariotRed, HorseRed, CannonRed]),
            (2, &[ChariotBlack, ChariotBlack, HorseBlack, CannonBlack]),
            (3, &[SoldierRed; 4]),
        ];
        assert_eq!(trick_winner(plays), Some(0));
    }
}
