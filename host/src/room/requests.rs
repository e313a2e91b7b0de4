//! The idempotency window: the last replies per player, so that a retried request id gets its
//! original reply instead of being applied twice.

use super::RoomError;
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::sync::Arc;

/// The last replies per player, so that a retried request id gets its original reply.
///
/// Looked up and updated on every action, for players whose windows have gone cold in the cache
/// since their last move, so it touches as little memory as it can: the index maps a keyed hash
/// of each id to its position in a ring of entries, and the id itself is compared only when the
/// hash matches. A hit always returns the reply to the very same id; two ids of one window whose
/// 64-bit keyed hashes collide (about 1 in 2^49 windows) would make the older one unknown.
#[derive(Debug, Default)]
pub(crate) struct RequestWindow {
    /// Oldest first.
    entries: VecDeque<Remembered>,
    /// Keyed hash of an id -> how many entries had been pushed before it.
    index: HashMap<u64, u64, foldhash::fast::RandomState>,
    /// Entries ever pushed.
    pushed: u64,
    keys: foldhash::fast::RandomState,
}

#[derive(Debug)]
struct Remembered {
    hash: u64,
    id: Arc<str>,
    /// Refusals are boxed: most replies are acks.
    reply: Result<u64, Box<RoomError>>,
}

impl RequestWindow {
    pub fn get(&self, request_id: &str) -> Option<Result<u64, RoomError>> {
        let position = *self.index.get(&self.keys.hash_one(request_id))?;
        let first = self.pushed - self.entries.len() as u64;
        let entry = self.entries.get(usize::try_from(position - first).ok()?)?;
        (&*entry.id == request_id).then(|| entry.reply.clone().map_err(|e| *e))
    }

    pub fn remember(
        &mut self,
        request_id: &Arc<str>,
        reply: &Result<u64, RoomError>,
        capacity: usize,
    ) {
        while self.entries.len() >= capacity.max(1) {
            let first = self.pushed - self.entries.len() as u64;
            if let Some(old) = self.entries.pop_front()
                && self.index.get(&old.hash) == Some(&first)
            {
                self.index.remove(&old.hash);
            }
        }
        let hash = self.keys.hash_one(&**request_id);
        self.index.insert(hash, self.pushed);
        self.entries.push_back(Remembered {
            hash,
            id: request_id.clone(),
            reply: reply.as_ref().copied().map_err(|e| Box::new(e.clone())),
        });
        self.pushed += 1;
    }
}

impl RequestWindow {
    /// The acknowledged requests, oldest first (what a snapshot keeps: refusals are not
    /// recorded anywhere, and a retried refusal may simply be tried again).
    pub fn acks(&self) -> impl Iterator<Item = (&Arc<str>, u64)> {
        self.entries
            .iter()
            .filter_map(|e| e.reply.as_ref().ok().map(|seq| (&e.id, *seq)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_answers_recent_ids_exactly_and_forgets_old_ones() {
        // A retried request gets its own reply while it is among the last `capacity`; older ids,
        // and ids never seen, are unknown.
        let mut w = RequestWindow::default();
        for n in 0..10u64 {
            let reply = if n == 3 {
                Err(RoomError::NotYourTurn)
            } else {
                Ok(n * 10)
            };
            w.remember(&Arc::from(format!("r{n}")), &reply, 4);
        }
        assert_eq!(w.get("r9"), Some(Ok(90)));
        assert_eq!(w.get("r6"), Some(Ok(60)));
        assert_eq!(w.get("r5"), None);
        assert_eq!(w.get("r3"), None);
        assert_eq!(w.get("r10"), None);
        let mut w = RequestWindow::default();
        w.remember(&Arc::from("a"), &Err(RoomError::NotYourTurn), 4);
        assert_eq!(w.get("a"), Some(Err(RoomError::NotYourTurn)));
        // The same id remembered again answers with the newer reply, also after the older
        // entry leaves the window.
        w.remember(&Arc::from("a"), &Ok(7), 2);
        w.remember(&Arc::from("b"), &Ok(8), 2);
        assert_eq!(w.get("a"), Some(Ok(7)));
        assert_eq!(w.get("b"), Some(Ok(8)));
    }
}
