//! How many rooms are live, and how many each player and each address has open (created and not
//! yet finished), with the caps on them. The registry asks for a [`Claim`] before it creates a
//! room; the room holds it and gives back its creator's share when its game finishes, and the
//! rest when it closes (a claim's parts are given back when they drop, so a room that ends in
//! any way gives back what it held).
//!
//! Owns: the counts. Must not touch: rooms, the registry's map, I/O. Its lock is held for a few
//! map operations, never across an `.await`.

use super::RoomError;
use crate::ids::PlayerId;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// The caps (from the room configuration).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Caps {
    /// Live rooms on this server.
    pub rooms: usize,
    /// Open rooms one player created.
    pub per_player: u32,
    /// Open rooms created from one address.
    pub per_address: u32,
}

#[derive(Debug, Default)]
struct Counts {
    live: usize,
    by_player: HashMap<PlayerId, u32>,
    by_address: HashMap<IpAddr, u32>,
}

/// The counts of one server.
#[derive(Debug)]
pub(crate) struct Quotas {
    caps: Caps,
    counts: Arc<Mutex<Counts>>,
}

/// What a room holds while it lives: its place among live rooms, and its creator's open room
/// until the game finishes.
#[derive(Debug)]
pub(crate) struct Claim {
    /// Given back when the room closes (held for its drop only).
    _live: LiveSlot,
    /// Given back when the game finishes (or the room closes before).
    pub open: Option<OpenSlot>,
}

/// A place among the live rooms; given back on drop.
#[derive(Debug)]
pub(crate) struct LiveSlot {
    counts: Arc<Mutex<Counts>>,
}

/// One of a player's and an address's open rooms; given back on drop.
#[derive(Debug)]
pub(crate) struct OpenSlot {
    counts: Arc<Mutex<Counts>>,
    player: PlayerId,
    address: IpAddr,
}

fn lock(counts: &Mutex<Counts>) -> std::sync::MutexGuard<'_, Counts> {
    counts.lock().unwrap_or_else(|p| p.into_inner())
}

impl Quotas {
    pub fn new(caps: Caps) -> Quotas {
        Quotas {
            caps,
            counts: Arc::default(),
        }
    }

    /// A claim for a new room by `player` from `address`, unless a cap is reached.
    pub fn claim(&self, player: &PlayerId, address: IpAddr) -> Result<Claim, RoomError> {
        let mut counts = lock(&self.counts);
        if counts.live >= self.caps.rooms {
            return Err(RoomError::ServerFull);
        }
        let by_player = counts.by_player.get(player).copied().unwrap_or(0);
        if by_player >= self.caps.per_player {
            return Err(RoomError::TooManyRooms {
                max: self.caps.per_player,
                per: "player",
            });
        }
        let by_address = counts.by_address.get(&address).copied().unwrap_or(0);
        if by_address >= self.caps.per_address {
            return Err(RoomError::TooManyRooms {
                max: self.caps.per_address,
                per: "address",
            });
        }
        counts.live += 1;
        counts.by_player.insert(player.clone(), by_player + 1);
        counts.by_address.insert(address, by_address + 1);
        Ok(Claim {
            _live: LiveSlot {
                counts: self.counts.clone(),
            },
            open: Some(OpenSlot {
                counts: self.counts.clone(),
                player: player.clone(),
                address,
            }),
        })
    }

    /// The claim of a room rebuilt after a restart: it counts among live rooms (beyond the cap,
    /// if need be: it existed before), and not as anyone's open room.
    pub fn recovered(&self) -> Claim {
        lock(&self.counts).live += 1;
        Claim {
            _live: LiveSlot {
                counts: self.counts.clone(),
            },
            open: None,
        }
    }

    /// Live rooms now.
    #[cfg(test)]
    pub fn live(&self) -> usize {
        lock(&self.counts).live
    }
}

impl Drop for LiveSlot {
    fn drop(&mut self) {
        let mut counts = lock(&self.counts);
        counts.live = counts.live.saturating_sub(1);
    }
}

impl Drop for OpenSlot {
    fn drop(&mut self) {
        let mut counts = lock(&self.counts);
        crate::counts::lower(&mut counts.by_player, &self.player);
        crate::counts::lower(&mut counts.by_address, &self.address);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_count_until_their_parts_are_given_back() {
        // A player, an address and the server each have a cap; a finished game gives back its
        // creator's share and a closed room its place, and nothing is left counted after.
        let quotas = Quotas::new(Caps {
            rooms: 3,
            per_player: 1,
            per_address: 2,
        });
        let (ann, bob, cy) = (
            PlayerId::from_wire("p-ann"),
            PlayerId::from_wire("p-bob"),
            PlayerId::from_wire("p-cy"),
        );
        let home = IpAddr::from([10, 0, 0, 1]);
        let away = IpAddr::from([10, 0, 0, 2]);
        let mut first = quotas.claim(&ann, home).expect("first");
        assert_eq!(
            quotas.claim(&ann, away).map(|_| ()),
            Err(RoomError::TooManyRooms {
                max: 1,
                per: "player"
            })
        );
        let second = quotas.claim(&bob, home).expect("another player");
        assert_eq!(
            quotas.claim(&cy, home).map(|_| ()),
            Err(RoomError::TooManyRooms {
                max: 2,
                per: "address"
            })
        );
        // Ann's game finishes: she may create again, while the room stays live.
        drop(first.open.take());
        let third = quotas.claim(&ann, away).expect("after the finish");
        assert_eq!(
            quotas.claim(&cy, away).map(|_| ()),
            Err(RoomError::ServerFull)
        );
        drop(first);
        assert_eq!(quotas.live(), 2);
        drop((second, third));
        let counts = lock(&quotas.counts);
        assert_eq!(counts.live, 0);
        assert!(counts.by_player.is_empty() && counts.by_address.is_empty());
    }
}
