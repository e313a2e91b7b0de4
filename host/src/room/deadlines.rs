//! Every deadline of a room in one place: the module's timer, the bot's think time, a human's
//! turn deadline, the end of a reconnect grace period, the retry after a module failure, the
//! next notice of the room's info to its members and the room's closing. The actor sleeps until [`Deadlines::next_due`] and then asks
//! [`Deadlines::take_due`] what to do; whatever is reported is cleared, so a room can never wake
//! for a deadline it does not consume.
//!
//! While a retry is pending, module work (timer, bot, turn deadline) waits for it: the retry is
//! the only module deadline the room sleeps for.
//!
//! Members are told of changes to the room's info (seats, spectators, status) at most once per
//! interval: the first change goes at once, later ones within the interval wait for its end and
//! go as one notice ([`Deadlines::tell_members`]). A crowd of spectators coming and going thus
//! costs each member a few notices a second, not one per spectator.
//!
//! Owns: instants only. Must not touch: the game, seats, I/O.

use tokio::time::{Duration, Instant};

/// Module work that can be due, in the order it is done when several are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Work {
    /// The module's timer.
    Timer,
    /// A bot-controlled seat is awaited and its think time is over.
    Bot,
    /// A human's turn deadline passed: the bot moves for them.
    Turn,
}

/// What is due now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Due {
    /// The room should close.
    pub close: bool,
    /// A reconnect grace period ended.
    pub grace: bool,
    /// Members are to be told of the room's info.
    pub info: bool,
    /// Module work to do (one per wake-up; the rest stays armed).
    pub work: Option<Work>,
}

/// A room's deadlines.
#[derive(Debug, Default)]
pub(crate) struct Deadlines {
    pub close: Option<Instant>,
    pub grace: Option<Instant>,
    /// When members are told of the changes made since the last notice.
    pub info: Option<Instant>,
    /// No notice before this (one went out less than an interval ago).
    pub info_quiet_until: Option<Instant>,
    pub retry: Option<Instant>,
    pub timer: Option<Instant>,
    pub bot: Option<Instant>,
    pub turn: Option<Instant>,
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

impl Deadlines {
    /// The earliest deadline the room must wake for.
    pub fn next_due(&self) -> Option<Instant> {
        let work = match self.retry {
            Some(retry) => Some(retry),
            None => earliest(earliest(self.timer, self.bot), self.turn),
        };
        earliest(earliest(earliest(self.close, self.grace), self.info), work)
    }

    /// Reports and clears what is due at `now`. At most one piece of module work is reported
    /// (timer before bot before turn); the others stay armed and are due at the next call.
    pub fn take_due(&mut self, now: Instant) -> Due {
        let due = |slot: &mut Option<Instant>| {
            let is_due = slot.is_some_and(|t| t <= now);
            if is_due {
                *slot = None;
            }
            is_due
        };
        let close = due(&mut self.close);
        let grace = due(&mut self.grace);
        let info = due(&mut self.info);
        let work_allowed = match self.retry {
            None => true,
            Some(_) => due(&mut self.retry),
        };
        let work = if !work_allowed {
            None
        } else if due(&mut self.timer) {
            Some(Work::Timer)
        } else if due(&mut self.bot) {
            Some(Work::Bot)
        } else if due(&mut self.turn) {
            Some(Work::Turn)
        } else {
            None
        };
        Due {
            close,
            grace,
            info,
            work,
        }
    }

    /// The room's info changed (or a notice armed earlier is due): true when members may be
    /// told now, as nobody was told within the last `interval`. Otherwise the notice is armed
    /// for the end of that interval, where one notice tells every change made meanwhile.
    pub fn tell_members(&mut self, now: Instant, interval: Duration) -> bool {
        if self.info.is_some() {
            return false;
        }
        match self.info_quiet_until {
            Some(until) if until > now => {
                self.info = Some(until);
                false
            }
            _ => {
                self.info_quiet_until = Some(now + interval);
                true
            }
        }
    }

    /// Clears all module work (the room paused or finished).
    pub fn stop_work(&mut self) {
        self.retry = None;
        self.timer = None;
        self.bot = None;
        self.turn = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_room_never_wakes_for_a_deadline_it_does_not_consume() {
        // With a retry pending, a passed turn deadline neither wakes the room early nor is lost:
        // the room sleeps until the retry, then the bot moves for the late human.
        let now = Instant::now();
        let ms = Duration::from_millis;
        let mut d = Deadlines {
            retry: Some(now + ms(50)),
            turn: Some(now + ms(10)),
            ..Deadlines::default()
        };
        assert_eq!(
            d.next_due(),
            Some(now + ms(50)),
            "the retry gates module work"
        );
        assert_eq!(d.take_due(now + ms(20)), Due::default());
        assert_eq!(d.next_due(), Some(now + ms(50)));
        let due = d.take_due(now + ms(50));
        assert_eq!(due.work, Some(Work::Turn));
        assert_eq!(d.next_due(), None);

        // Everything reported is cleared: after take_due, nothing is due at the same instant.
        let mut d = Deadlines {
            close: Some(now),
            grace: Some(now),
            timer: Some(now),
            bot: Some(now),
            turn: Some(now + ms(5)),
            ..Deadlines::default()
        };
        let due = d.take_due(now);
        assert!(due.close && due.grace && !due.info);
        assert_eq!(due.work, Some(Work::Timer), "the timer goes first");
        assert_eq!(d.take_due(now).work, Some(Work::Bot));
        assert_eq!(d.take_due(now), Due::default());
        assert_eq!(d.next_due(), Some(now + ms(5)));
    }

    #[tokio::test(start_paused = true)]
    async fn members_are_told_of_changes_at_most_once_per_interval() {
        // The first change is told at once; the changes that follow within the interval wait for
        // its end and are told together, once; a change after a quiet interval is told at once.
        let now = Instant::now();
        let ms = Duration::from_millis;
        let interval = ms(250);
        let mut d = Deadlines::default();
        assert!(
            d.tell_members(now, interval),
            "the first change goes at once"
        );
        for t in [1, 50, 249] {
            assert!(
                !d.tell_members(now + ms(t), interval),
                "within the interval"
            );
        }
        assert_eq!(d.next_due(), Some(now + interval), "one notice armed");
        assert!(!d.take_due(now + ms(249)).info);
        assert!(d.take_due(now + interval).info);
        assert!(
            d.tell_members(now + interval, interval),
            "the armed notice goes"
        );
        assert_eq!(d.next_due(), None);
        assert!(!d.tell_members(now + ms(300), interval));
        assert_eq!(d.next_due(), Some(now + ms(500)));
        let mut quiet = Deadlines::default();
        assert!(quiet.tell_members(now, interval));
        assert!(
            quiet.tell_members(now + ms(600), interval),
            "after a quiet interval"
        );
    }
}
