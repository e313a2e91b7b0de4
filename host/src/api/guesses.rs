//! Failed room lookups, limited per IP address and per player: room ids are the only key to a
//! private room, so asking for ids that do not exist is what guessing looks like. Past the
//! limit, every room lookup from that address or player is answered `rate_limited` until the
//! bar lifts (a bar that also answered hits would tell a guesser when it found one).
//!
//! Owns: [`Guesses`]. Must not touch: rooms.

use crate::ids::PlayerId;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
enum Key {
    Addr(IpAddr),
    Player(PlayerId),
}

/// Failed lookups and the bars they led to.
pub struct Guesses {
    failures: DefaultKeyedRateLimiter<Key>,
    barred: Mutex<HashMap<Key, Instant>>,
    /// How many bars there are: the action path skips the lock when there are none.
    bars: AtomicUsize,
}

impl Guesses {
    /// Allows `per_minute` failed lookups a minute per address and per player (also the burst).
    pub fn new(per_minute: u32) -> Self {
        let per_minute = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        Guesses {
            failures: RateLimiter::keyed(Quota::per_minute(per_minute)),
            barred: Mutex::default(),
            bars: AtomicUsize::new(0),
        }
    }

    fn keys(addr: IpAddr, player: Option<&PlayerId>) -> impl Iterator<Item = Key> {
        std::iter::once(Key::Addr(addr)).chain(player.cloned().map(Key::Player))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Instant>> {
        self.barred.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How long lookups from `addr` or `player` stay barred, if they are.
    pub fn barred(&self, addr: IpAddr, player: Option<&PlayerId>) -> Option<Duration> {
        if self.bars.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let now = Instant::now();
        let barred = self.lock();
        Self::keys(addr, player)
            .filter_map(|k| barred.get(&k))
            .filter(|until| **until > now)
            .map(|until| *until - now)
            .max()
    }

    /// Counts a failed lookup; bars the address or player that went past its limit, and then
    /// says for how long.
    pub fn failed(&self, addr: IpAddr, player: Option<&PlayerId>) -> Option<Duration> {
        let mut longest = None;
        for key in Self::keys(addr, player) {
            if let Err(not_until) = self.failures.check_key(&key) {
                let wait = super::errors::wait_time(&not_until);
                let mut barred = self.lock();
                barred.insert(key, Instant::now() + wait);
                self.bars.store(barred.len(), Ordering::Relaxed);
                longest = longest.max(Some(wait));
            }
        }
        longest
    }

    /// Forgets lifted bars and old counts.
    pub fn sweep(&self) {
        let now = Instant::now();
        let mut barred = self.lock();
        barred.retain(|_, until| *until > now);
        self.bars.store(barred.len(), Ordering::Relaxed);
        drop(barred);
        self.failures.retain_recent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_the_limit_an_address_or_player_is_barred() {
        let g = Guesses::new(3);
        let (a, b) = (IpAddr::from([10, 0, 0, 1]), IpAddr::from([10, 0, 0, 2]));
        let guesser = PlayerId::from_wire("p-guesser");
        for _ in 0..3 {
            assert_eq!(g.failed(a, Some(&guesser)), None);
            assert_eq!(g.barred(a, Some(&guesser)), None);
        }
        assert!(g.failed(a, Some(&guesser)).is_some());
        assert!(g.barred(a, None).is_some(), "the address");
        assert!(
            g.barred(b, Some(&guesser)).is_some(),
            "the player, from anywhere"
        );
        assert_eq!(g.barred(b, None), None, "others are not");
    }
}
