//! The 32 pieces (spec §1) and the deal (spec §2): kinds, names, colours, points, the canonical
//! deck order, weak hands and taking pieces out of a hand.
//!
//! This module owns no state. The deal stream is the state's; [`deal`] is the only code that
//! draws from it, so the same seed always yields the same sequence of deals.

use serde::{Deserialize, Serialize};
use std::fmt;
use tabula_sdk::Rng;

/// Players at the table; Liap Tui is always played by four.
pub const SEATS: usize = 4;
/// Pieces in a fresh hand.
pub const HAND_SIZE: usize = 8;
/// Pieces in the deck.
pub const DECK_SIZE: usize = 32;
/// Distinct kinds (7 names × 2 colours).
pub const KINDS: usize = 14;

/// A piece's colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Colour {
    /// Red pieces are worth one point more than their black counterparts.
    Red,
    /// Black pieces.
    Black,
}

/// A piece's name, in the order of the spec's table (which is also the canonical deck order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Name {
    /// 14 / 13 points, one per colour.
    General,
    /// 12 / 11 points.
    Advisor,
    /// 10 / 9 points.
    Elephant,
    /// 8 / 7 points.
    Chariot,
    /// 6 / 5 points.
    Horse,
    /// 4 / 3 points.
    Cannon,
    /// 2 / 1 points, five per colour.
    Soldier,
}

impl Name {
    /// Every name in table order; `ALL[n as usize] == n`.
    pub const ALL: [Name; 7] = [
        Name::General,
        Name::Advisor,
        Name::Elephant,
        Name::Chariot,
        Name::Horse,
        Name::Cannon,
        Name::Soldier,
    ];

    /// Points of the red piece of this name; the black one is worth one less.
    pub fn red_points(self) -> u8 {
        [14, 12, 10, 8, 6, 4, 2][self as usize]
    }

    /// Copies of this name in each colour.
    pub fn copies(self) -> u8 {
        match self {
            Name::General => 1,
            Name::Soldier => 5,
            _ => 2,
        }
    }

    /// The group the name belongs to: 0 for {GENERAL, ADVISOR, ELEPHANT}, 1 for {CHARIOT, HORSE,
    /// CANNON}; soldiers belong to none.
    pub fn group(self) -> Option<usize> {
        match self {
            Name::General | Name::Advisor | Name::Elephant => Some(0),
            Name::Chariot | Name::Horse | Name::Cannon => Some(1),
            Name::Soldier => None,
        }
    }
}

/// A piece's kind, `NAME_COLOR`; copies of a kind are interchangeable.
///
/// The variant order is the canonical deck order (names in table order, red before black), and
/// `kind as usize / 2` is the name's index, `kind as usize % 2` the colour (0 red, 1 black). In
/// JSON a kind is its name (`"HORSE_RED"`); in the state it is one byte.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[repr(u8)]
#[allow(missing_docs)] // the variants are the spec's kinds, named as in it
pub enum Kind {
    GeneralRed,
    GeneralBlack,
    AdvisorRed,
    AdvisorBlack,
    ElephantRed,
    ElephantBlack,
    ChariotRed,
    ChariotBlack,
    HorseRed,
    HorseBlack,
    CannonRed,
    CannonBlack,
    SoldierRed,
    SoldierBlack,
}

impl Kind {
    /// Every kind in canonical order; `ALL[k as usize] == k`.
    pub const ALL: [Kind; KINDS] = [
        Kind::GeneralRed,
        Kind::GeneralBlack,
        Kind::AdvisorRed,
        Kind::AdvisorBlack,
        Kind::ElephantRed,
        Kind::ElephantBlack,
        Kind::ChariotRed,
        Kind::ChariotBlack,
        Kind::HorseRed,
        Kind::HorseBlack,
        Kind::CannonRed,
        Kind::CannonBlack,
        Kind::SoldierRed,
        Kind::SoldierBlack,
    ];

    const NAMES: [&'static str; KINDS] = [
        "GENERAL_RED",
        "GENERAL_BLACK",
        "ADVISOR_RED",
        "ADVISOR_BLACK",
        "ELEPHANT_RED",
        "ELEPHANT_BLACK",
        "CHARIOT_RED",
        "CHARIOT_BLACK",
        "HORSE_RED",
        "HORSE_BLACK",
        "CANNON_RED",
        "CANNON_BLACK",
        "SOLDIER_RED",
        "SOLDIER_BLACK",
    ];

    /// The kind's index in [`Kind::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The piece's name.
    pub fn name(self) -> Name {
        Name::ALL[self as usize / 2]
    }

    /// The piece's colour.
    pub fn colour(self) -> Colour {
        if (self as usize).is_multiple_of(2) {
            Colour::Red
        } else {
            Colour::Black
        }
    }

    /// The piece's points (spec §1).
    pub fn points(self) -> u8 {
        self.name().red_points() - (self as u8 % 2)
    }

    /// Copies of this kind in the deck.
    pub fn copies(self) -> u8 {
        self.name().copies()
    }

    /// The kind as the spec and the JSON spell it, e.g. `HORSE_RED`.
    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    /// The kind spelt `s`, if any.
    pub fn parse(s: &str) -> Option<Kind> {
        Self::NAMES
            .iter()
            .position(|n| *n == s)
            .map(|i| Self::ALL[i])
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The fresh deck in canonical order (spec §1).
pub fn canonical_deck() -> [Kind; DECK_SIZE] {
    let mut deck = [Kind::GeneralRed; DECK_SIZE];
    let mut i = 0;
    for kind in Kind::ALL {
        for _ in 0..kind.copies() {
            deck[i] = kind;
            i += 1;
        }
    }
    deck
}

/// Deals four hands from the deal stream (spec §2): shuffle a fresh canonical deck with
/// Fisher–Yates from the end and give deck index `i` to seat `i % 4`, keeping that order.
pub fn deal(rng: &mut Rng) -> [Vec<Kind>; SEATS] {
    let mut deck = canonical_deck();
    rng.shuffle(&mut deck);
    let mut hands: [Vec<Kind>; SEATS] = std::array::from_fn(|_| Vec::with_capacity(HAND_SIZE));
    for (i, kind) in deck.into_iter().enumerate() {
        hands[i % SEATS].push(kind);
    }
    hands
}

/// A hand is weak when no piece in it is worth more than 9 (spec §3.1).
pub fn is_weak(hand: &[Kind]) -> bool {
    hand.iter().all(|k| k.points() <= 9)
}

/// How many pieces of each kind `pieces` holds, indexed by [`Kind::index`].
pub fn count_kinds(pieces: &[Kind]) -> [u8; KINDS] {
    let mut counts = [0u8; KINDS];
    for k in pieces {
        counts[k.index()] = counts[k.index()].saturating_add(1);
    }
    counts
}

/// Why `hand` cannot supply `pieces`, in words for the player; `None` when it holds them all.
pub fn missing_from_hand(hand: &[Kind], pieces: &[Kind]) -> Option<String> {
    let have = count_kinds(hand);
    let want = count_kinds(pieces);
    Kind::ALL.into_iter().find_map(|kind| {
        let (h, w) = (have[kind.index()], want[kind.index()]);
        (w > h).then(|| match h {
            0 => format!("{kind} is not in your hand"),
            _ => format!("you have only {h} {kind} in your hand, not {w}"),
        })
    })
}

/// Removes `pieces` from `hand`, keeping the order of what is left. Check with
/// [`missing_from_hand`] first: pieces the hand lacks are skipped.
pub fn remove_from_hand(hand: &mut Vec<Kind>, pieces: &[Kind]) {
    for piece in pieces {
        if let Some(pos) = hand.iter().position(|k| k == piece) {
            hand.remove(pos);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Kind::*;

    #[test]
    fn the_deck_has_32_pieces_worth_192_points_in_canonical_order() {
        // The deck is the spec's table: 16 red, 16 black, 192 points, GENERAL_RED first.
        let deck = canonical_deck();
        let points: u32 = deck.iter().map(|k| u32::from(k.points())).sum();
        assert_eq!(points, 192);
        assert_eq!(
            deck.iter().filter(|k| k.colour() == Colour::Red).count(),
            16
        );
        assert_eq!(
            &deck[..8],
            &[
                GeneralRed,
                GeneralBlack,
                AdvisorRed,
                AdvisorRed,
                AdvisorBlack,
                AdvisorBlack,
                ElephantRed,
                ElephantRed
            ]
        );
        assert_eq!(
            &deck[22..],
            &[SoldierRed; 5]
                .iter()
                .chain(&[SoldierBlack; 5])
                .copied()
                .collect::<Vec<_>>()[..]
        );
        assert_eq!(
            (
                HorseBlack.points(),
                ElephantBlack.points(),
                GeneralRed.points()
            ),
            (5, 9, 14)
        );
    }

    #[test]
    fn kinds_are_spelt_name_colour_in_json() {
        // Clients name pieces as HORSE_RED; the names round-trip and unknown names are refused.
        assert_eq!(
            serde_json::to_string(&HorseRed).expect("json"),
            "\"HORSE_RED\""
        );
        for k in Kind::ALL {
            let json = serde_json::to_string(&k).expect("json");
            assert_eq!(serde_json::from_str::<Kind>(&json).expect("parse"), k);
            assert_eq!(Kind::parse(k.as_str()), Some(k));
        }
        assert!(serde_json::from_str::<Kind>("\"DRAGON_RED\"").is_err());
    }

    #[test]
    fn seed_zero_deals_the_published_first_hands() {
        // The same seed gives the same deal everywhere: seed 0's first deal is the spec's.
        let mut rng = Rng::new(0);
        let hands = deal(&mut rng);
        assert_eq!(
            hands[0],
            [
                ChariotBlack,
                CannonBlack,
                CannonBlack,
                ChariotRed,
                ElephantBlack,
                AdvisorBlack,
                SoldierBlack,
                SoldierBlack
            ]
        );
        assert_eq!(
            hands[1],
            [
                HorseBlack,
                HorseRed,
                ElephantBlack,
                ElephantRed,
                SoldierBlack,
                SoldierRed,
                SoldierBlack,
                CannonRed
            ]
        );
        assert_eq!(
            hands[2],
            [
                ElephantRed,
                CannonRed,
                HorseBlack,
                AdvisorRed,
                GeneralRed,
                AdvisorBlack,
                ChariotBlack,
                SoldierRed
            ]
        );
        assert_eq!(
            hands[3],
            [
                SoldierRed,
                GeneralBlack,
                SoldierBlack,
                SoldierRed,
                AdvisorRed,
                ChariotRed,
                SoldierRed,
                HorseRed
            ]
        );
    }

    #[test]
    fn seed_zero_stream_matches_the_spec() {
        // The deal stream is the spec's SplitMix64: seed 0's first outputs are published.
        let mut rng = Rng::new(0);
        assert_eq!(rng.next_u64(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(rng.next_u64(), 0x6e78_9e6a_a1b9_65f4);
        assert_eq!(rng.next_u64(), 0x06c4_5d18_8009_454f);
    }

    #[test]
    fn weak_means_nothing_above_nine_points() {
        // ELEPHANT_BLACK (9) does not save a hand; ELEPHANT_RED (10) does.
        assert!(is_weak(&[ElephantBlack, ChariotRed, SoldierRed]));
        assert!(!is_weak(&[ElephantRed, SoldierBlack]));
    }

    #[test]
    fn taking_pieces_checks_the_hand_and_keeps_order() {
        // Playing removes exactly the named pieces; missing pieces are named in the refusal.
        let mut hand = vec![HorseRed, SoldierRed, HorseRed, CannonBlack];
        assert_eq!(
            missing_from_hand(&hand, &[GeneralRed]).as_deref(),
            Some("GENERAL_RED is not in your hand")
        );
        assert_eq!(
            missing_from_hand(&hand, &[SoldierRed, SoldierRed]).as_deref(),
            Some("you have only 1 SOLDIER_RED in your hand, not 2")
        );
        assert_eq!(
            missing_from_hand(&hand, &[HorseRed, CannonBlack, HorseRed]),
            None
        );
        remove_from_hand(&mut hand, &[HorseRed, CannonBlack]);
        assert_eq!(hand, [SoldierRed, HorseRed]);
    }
}
