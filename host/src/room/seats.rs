//! Seats: who sits where, and whether a seated person is here. A human's presence is a small
//! state machine; the bot plays for a seat exactly when its presence says so.
//!
//! ```text
//!   Connected ──connection lost──► Away { since } ──grace over──► BotPlaying
//!       ▲                              │                              │
//!       └──────────── comes back ──────┴──────────────────────────────┘
//!   any ──leave (game running)──► Left   (the bot plays the seat for the rest of the game)
//! ```
//!
//! Owns: [`Seats`], [`Occupant`], [`Presence`]. Must not touch: the game, deadlines, I/O.

use super::{Outbox, SeatInfo, SeatKind};
use crate::ids::PlayerId;
use std::sync::Arc;
use tokio::time::{Duration, Instant};

/// Whether a seated person is here.
#[derive(Debug)]
pub(crate) enum Presence {
    /// Connected: updates go to this outbox.
    Connected(Outbox),
    /// The connection went away at `since`; the seat waits for them during the grace period.
    Away {
        /// When the connection went away.
        since: Instant,
    },
    /// The grace period passed: the bot plays for them (once the game runs) until they come
    /// back. A waiting room whose humans are all this far gone is abandoned.
    BotPlaying,
    /// They left a running game: the bot plays the seat for good.
    Left,
}

/// A person in a seat.
#[derive(Debug)]
pub(crate) struct Human {
    pub player: PlayerId,
    pub name: Arc<str>,
    pub presence: Presence,
}

/// Who sits in a seat. A person is boxed: most seats of most rooms are open or bots.
#[derive(Debug)]
pub(crate) enum Occupant {
    Open,
    Bot,
    Human(Box<Human>),
}

impl Occupant {
    /// Whether the computer moves for this seat.
    pub fn bot_controlled(&self) -> bool {
        match self {
            Occupant::Open => false,
            Occupant::Bot => true,
            Occupant::Human(h) => matches!(h.presence, Presence::BotPlaying | Presence::Left),
        }
    }

    /// The connected outbox, if any.
    pub fn outbox(&self) -> Option<&Outbox> {
        match self {
            Occupant::Human(h) => match &h.presence {
                Presence::Connected(o) => Some(o),
                _ => None,
            },
            _ => None,
        }
    }

    /// As clients see it.
    pub fn info(&self, seat: u32) -> SeatInfo {
        let mut info = SeatInfo {
            seat,
            kind: SeatKind::Open,
            player: None,
            name: None,
            connected: None,
            bot_playing: None,
        };
        match self {
            Occupant::Open => {}
            Occupant::Bot => info.kind = SeatKind::Bot,
            Occupant::Human(h) => {
                info.kind = SeatKind::Human;
                info.player = Some(h.player.clone());
                info.name = Some(h.name.clone());
                info.connected = Some(matches!(h.presence, Presence::Connected(_)));
                info.bot_playing = Some(self.bot_controlled());
            }
        }
        info
    }
}

/// The seats of one room.
#[derive(Debug)]
pub(crate) struct Seats {
    seats: Vec<Occupant>,
}

impl Seats {
    /// What a snapshot keeps: who holds each seat (not whether they are connected).
    pub fn saved(&self) -> Vec<super::snapshot::SavedSeat> {
        use super::snapshot::SavedSeat;
        self.seats
            .iter()
            .map(|o| match o {
                Occupant::Open => SavedSeat::Open,
                Occupant::Bot => SavedSeat::Bot,
                Occupant::Human(h) => SavedSeat::Human {
                    player: h.player.clone(),
                    name: h.name.clone(),
                    left: matches!(h.presence, Presence::Left),
                },
            })
            .collect()
    }

    /// Who holds each seat, for a finished game's archive.
    pub fn holders(&self) -> Vec<crate::store::SeatHolder> {
        use crate::store::SeatHolder;
        self.seats
            .iter()
            .map(|o| match o {
                Occupant::Human(h) => SeatHolder::Human {
                    player: h.player.clone(),
                    name: h.name.to_string(),
                    left: matches!(h.presence, Presence::Left),
                },
                Occupant::Open | Occupant::Bot => SeatHolder::Bot,
            })
            .collect()
    }

    /// A seat as rebuilt after a restart: a person who had not left is away since `now` (their
    /// reconnect grace starts again: the bot does not take over before they can come back).
    pub fn rebuilt(seat: super::snapshot::SavedSeat, now: Instant) -> Occupant {
        use super::snapshot::SavedSeat;
        match seat {
            SavedSeat::Open => Occupant::Open,
            SavedSeat::Bot => Occupant::Bot,
            SavedSeat::Human { player, name, left } => Occupant::Human(Box::new(Human {
                player,
                name,
                presence: if left {
                    Presence::Left
                } else {
                    Presence::Away { since: now }
                },
            })),
        }
    }

    /// `count` seats, the last `bots` of them bots.
    pub fn new(count: u32, bots: u32) -> Seats {
        let mut seats: Vec<Occupant> = (0..count).map(|_| Occupant::Open).collect();
        for seat in seats.iter_mut().rev().take(bots as usize) {
            *seat = Occupant::Bot;
        }
        Seats { seats }
    }

    pub fn len(&self) -> u32 {
        self.seats.len() as u32
    }

    pub fn get(&self, seat: u32) -> Option<&Occupant> {
        self.seats.get(seat as usize)
    }

    pub fn set(&mut self, seat: u32, occupant: Occupant) {
        if let Some(s) = self.seats.get_mut(seat as usize) {
            *s = occupant;
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (u32, &Occupant)> {
        self.seats.iter().enumerate().map(|(i, o)| (i as u32, o))
    }

    /// The first free seat.
    pub fn first_open(&self) -> Option<u32> {
        self.iter()
            .find(|(_, o)| matches!(o, Occupant::Open))
            .map(|(i, _)| i)
    }

    pub fn is_full(&self) -> bool {
        self.first_open().is_none()
    }

    /// The seat of `player`, unless they left it.
    pub fn seat_of(&self, player: &PlayerId) -> Option<u32> {
        self.iter()
            .find(|(_, o)| {
                matches!(o, Occupant::Human(h) if &h.player == player
                    && !matches!(h.presence, Presence::Left))
            })
            .map(|(i, _)| i)
    }

    /// The person who holds `seat` (also after leaving it).
    pub fn player_in(&self, seat: u32) -> Option<PlayerId> {
        match self.seats.get(seat as usize) {
            Some(Occupant::Human(h)) => Some(h.player.clone()),
            _ => None,
        }
    }

    fn human_mut(&mut self, seat: u32) -> Option<&mut Human> {
        match self.seats.get_mut(seat as usize) {
            Some(Occupant::Human(h)) => Some(h),
            _ => None,
        }
    }

    /// The person in `seat` is here on `outbox`. True when the bot was playing for them.
    pub fn connect(&mut self, seat: u32, outbox: Outbox) -> bool {
        let Some(h) = self.human_mut(seat) else {
            return false;
        };
        let was_bot = matches!(h.presence, Presence::BotPlaying);
        h.presence = Presence::Connected(outbox);
        was_bot
    }

    /// Connection `conn` of `player` went away. True when a seat changed.
    pub fn disconnect(&mut self, player: &PlayerId, conn: u64, now: Instant) -> bool {
        let Some(seat) = self.seat_of(player) else {
            return false;
        };
        match self.human_mut(seat) {
            Some(h) if matches!(&h.presence, Presence::Connected(o) if o.conn() == conn) => {
                h.presence = Presence::Away { since: now };
                true
            }
            _ => false,
        }
    }

    /// The person in `seat` left a running game.
    pub fn leave(&mut self, seat: u32) {
        if let Some(h) = self.human_mut(seat) {
            h.presence = Presence::Left;
        }
    }

    /// When the earliest reconnect grace period ends.
    pub fn next_grace_end(&self, grace: Duration) -> Option<Instant> {
        self.iter()
            .filter_map(|(_, o)| match o {
                Occupant::Human(h) => match h.presence {
                    Presence::Away { since } => Some(since + grace),
                    _ => None,
                },
                _ => None,
            })
            .min()
    }

    /// Hands every seat whose grace period is over at `now` to the bot. True if any was.
    pub fn end_grace(&mut self, grace: Duration, now: Instant) -> bool {
        let mut any = false;
        for occupant in &mut self.seats {
            if let Occupant::Human(h) = occupant
                && matches!(h.presence, Presence::Away { since } if since + grace <= now)
            {
                h.presence = Presence::BotPlaying;
                any = true;
            }
        }
        any
    }

    /// Connected outboxes, with their seats.
    pub fn connected(&self) -> impl Iterator<Item = (u32, &Outbox)> {
        self.iter().filter_map(|(i, o)| o.outbox().map(|b| (i, b)))
    }

    /// Whether every human has left for good (or there is none).
    pub fn all_left(&self) -> bool {
        self.iter().all(|(_, o)| match o {
            Occupant::Human(h) => matches!(h.presence, Presence::Left),
            _ => true,
        })
    }

    /// Whether every human has gone: left, or away past the reconnect grace (the bot plays for
    /// them), with nobody connected or still within the grace.
    pub fn all_gone(&self) -> bool {
        self.iter()
            .all(|(_, o)| !matches!(o, Occupant::Human(_)) || o.bot_controlled())
    }

    /// Whether no human is connected.
    pub fn none_connected(&self) -> bool {
        self.connected().next().is_none()
    }

    pub fn infos(&self) -> Vec<SeatInfo> {
        self.iter().map(|(i, o)| o.info(i)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_util::sync::CancellationToken;

    fn outbox(conn: u64) -> Outbox {
        Outbox::new(conn, 4, CancellationToken::new()).0
    }

    #[tokio::test(start_paused = true)]
    async fn presence_goes_away_then_to_the_bot_and_back() {
        // A player who loses their connection keeps the seat during the grace period, then the
        // bot plays for them until they come back; an old connection's loss changes nothing.
        let grace = Duration::from_millis(100);
        let ann = PlayerId::from_wire("p-ann");
        let mut seats = Seats::new(2, 1);
        seats.set(
            0,
            Occupant::Human(Box::new(Human {
                player: ann.clone(),
                name: "ann".into(),
                presence: Presence::Connected(outbox(1)),
            })),
        );
        assert!(
            !seats.disconnect(&ann, 2, Instant::now()),
            "not her connection"
        );
        assert!(seats.disconnect(&ann, 1, Instant::now()));
        let end = seats.next_grace_end(grace).expect("grace runs");
        assert!(!seats.end_grace(grace, end - Duration::from_millis(1)));
        assert!(!seats.get(0).expect("seat").bot_controlled());
        assert!(seats.end_grace(grace, end));
        assert!(seats.get(0).expect("seat").bot_controlled());
        assert_eq!(seats.next_grace_end(grace), None);
        assert!(seats.connect(0, outbox(3)), "the bot was playing");
        assert!(!seats.get(0).expect("seat").bot_controlled());
        assert!(!seats.all_gone(), "she is here");
        seats.leave(0);
        assert!(seats.get(0).expect("seat").bot_controlled());
        assert!(seats.all_gone());
        assert_eq!(seats.seat_of(&ann), None, "a player who left has no seat");
        assert!(seats.all_left());
    }
}
