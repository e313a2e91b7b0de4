//! The lobby's change feed: a counter that every listed room's info change, and every listed
//! room opening or closing, moves on. Connections subscribed to the lobby wait on it and send
//! their page again when it moved (at most once per interval: see `api::lobby`).
//!
//! Owns: the counter. Must not touch: pages (the registry makes them), connections.

use std::sync::Arc;
use tokio::sync::watch;

/// Tells lobby subscribers that the listed rooms changed.
#[derive(Clone, Debug)]
pub struct LobbyFeed(Arc<watch::Sender<u64>>);

impl LobbyFeed {
    /// A feed nobody watches yet.
    pub fn new() -> Self {
        LobbyFeed(Arc::new(watch::Sender::new(0)))
    }

    /// Something listed changed.
    pub fn changed(&self) {
        // Without subscribers there is nobody to wake: skip the write.
        if self.0.receiver_count() > 0 {
            self.0.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    /// A receiver that sees every change from now on.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.0.subscribe()
    }
}

impl Default for LobbyFeed {
    fn default() -> Self {
        Self::new()
    }
}
