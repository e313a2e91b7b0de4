//! One transaction's worth of writes, and how a batch the database refuses is split.
//!
//! Owns: the grouping of queued items by kind. Must not touch: connections.

use super::queue::{
    EndItem, EntryItem, ExpireItem, Game, HeaderItem, Item, ModuleItem, PurgeItem, SessionItem,
    SnapshotItem,
};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// One transaction's worth of items, by kind, each kind in queue order.
#[derive(Default)]
pub(super) struct Batch {
    pub headers: Vec<HeaderItem>,
    pub entries: Vec<EntryItem>,
    pub snapshots: Vec<SnapshotItem>,
    pub ends: Vec<EndItem>,
    pub modules: Vec<ModuleItem>,
    pub sessions: Vec<SessionItem>,
    pub touches: Vec<(String, u64)>,
    pub expiries: Vec<ExpireItem>,
    pub purges: Vec<PurgeItem>,
    /// An earlier attempt failed in a way that may have committed it anyway (the answer to the
    /// commit was lost): a header found already written may be this batch's own.
    pub retried: bool,
}

impl Batch {
    pub fn push(&mut self, item: Item) {
        match item {
            Item::Header(h) => self.headers.push(*h),
            Item::Entry(e) => self.entries.push(e),
            Item::Snapshot(s) => self.snapshots.push(s),
            Item::End(e) => self.ends.push(e),
            Item::Session(s) => self.sessions.push(*s),
            Item::Module(m) => self.modules.push(*m),
            Item::Expire(x) => self.expiries.push(x),
            Item::Purge(p) => self.purges.push(p),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.nothing_but_entries()
    }

    /// Whether the batch holds nothing but entries (if any).
    pub fn nothing_but_entries(&self) -> bool {
        self.headers.is_empty()
            && self.snapshots.is_empty()
            && self.ends.is_empty()
            && self.modules.is_empty()
            && self.sessions.is_empty()
            && self.touches.is_empty()
            && self.expiries.is_empty()
            && self.purges.is_empty()
    }

    /// Every game with an item here, once each, in order of first appearance.
    pub fn games(&self) -> Vec<Arc<Game>> {
        let mut seen = HashSet::new();
        let all = (self.headers.iter().map(|h| &h.game))
            .chain(self.entries.iter().map(|e| &e.game))
            .chain(self.snapshots.iter().map(|s| &s.game))
            .chain(self.ends.iter().map(|e| &e.game));
        all.filter(|g| seen.insert(Arc::as_ptr(g)))
            .cloned()
            .collect()
    }

    /// How many parts [`Batch::split`] would make.
    pub fn units(&self) -> usize {
        self.games().len()
            + self.modules.len()
            + self.sessions.len()
            + self.touches.len()
            + self.expiries.len()
            + self.purges.len()
    }

    /// One batch per game (its header, entries, snapshots, end), per module, per session, per
    /// touch and per expiry: games and sessions do not depend on one another, and the order
    /// within each is kept.
    pub fn split(self) -> Vec<Batch> {
        let retried = self.retried;
        let fresh = || Batch {
            retried,
            ..Batch::default()
        };
        let mut parts: Vec<Batch> = Vec::new();
        let mut index: HashMap<*const Game, usize> = HashMap::new();
        let mut part_of = |parts: &mut Vec<Batch>, game: &Arc<Game>| {
            *index.entry(Arc::as_ptr(game)).or_insert_with(|| {
                parts.push(fresh());
                parts.len() - 1
            })
        };
        for h in self.headers {
            let i = part_of(&mut parts, &h.game);
            parts[i].headers.push(h);
        }
        for e in self.entries {
            let i = part_of(&mut parts, &e.game);
            parts[i].entries.push(e);
        }
        for s in self.snapshots {
            let i = part_of(&mut parts, &s.game);
            parts[i].snapshots.push(s);
        }
        for e in self.ends {
            let i = part_of(&mut parts, &e.game);
            parts[i].ends.push(e);
        }
        for m in self.modules {
            parts.push(Batch {
                modules: vec![m],
                ..fresh()
            });
        }
        for s in self.sessions {
            parts.push(Batch {
                sessions: vec![s],
                ..fresh()
            });
        }
        for t in self.touches {
            parts.push(Batch {
                touches: vec![t],
                ..fresh()
            });
        }
        for x in self.expiries {
            parts.push(Batch {
                expiries: vec![x],
                ..fresh()
            });
        }
        for p in self.purges {
            parts.push(Batch {
                purges: vec![p],
                ..fresh()
            });
        }
        parts
    }
}
