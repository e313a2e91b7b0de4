//! Lobby subscriptions: a connection that sent `subscribe_rooms` gets its page of listed rooms
//! again (`lobby`) whenever it changed, at most once per `room.info_interval_ms` — the changes
//! of an interval are told together, as the room's own notices are — and only when the page
//! differs from the last one sent. One task per subscribed connection, ended by
//! `unsubscribe_rooms`, a new subscription, the connection's end or the server's shutdown.
//!
//! Owns: the subscription's task. Must not touch: rooms (it reads the registry's pages).

use super::AppState;
use super::protocol::ServerMsg;
use crate::room::Outbox;
use crate::room::registry::{ListQuery, RoomPage};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::{CancellationToken, DropGuard};

/// What a subscription lists (a `list_rooms` query, kept).
#[derive(Clone, Debug)]
pub(super) struct Query {
    pub game: Option<String>,
    pub status: Option<String>,
    pub after: Option<String>,
    pub limit: usize,
}

impl Query {
    pub fn borrowed(&self) -> ListQuery<'_> {
        ListQuery {
            game: self.game.as_deref(),
            status: self.status.as_deref(),
            after: self.after.as_deref(),
            limit: self.limit,
        }
    }
}

/// A running subscription: dropping it ends its task.
pub(super) struct Subscription {
    _stop: DropGuard,
}

fn frame(page: &RoomPage) -> Box<[u8]> {
    ServerMsg::Lobby {
        rooms: &page.rooms,
        next: page.next.as_ref(),
    }
    .encode_boxed()
}

/// Starts pushing `query`'s page to `outbox` when it changes; `first` is the page the client
/// was just given.
pub(super) fn subscribe(
    app: &Arc<AppState>,
    outbox: Outbox,
    query: Query,
    first: &RoomPage,
) -> Subscription {
    let stop = CancellationToken::new();
    let mut changes = app.registry.lobby().subscribe();
    let interval = Duration::from_millis(app.config.room.info_interval_ms);
    let (tracker, app, stopped) = (&app.tracker, app.clone(), stop.clone());
    let mut last = frame(first);
    tracker.spawn(async move {
        loop {
            tokio::select! {
                _ = stopped.cancelled() => break,
                _ = app.shutdown.cancelled() => break,
                changed = changes.changed() => if changed.is_err() { break },
            }
            // The changes of the next interval go with this one.
            tokio::select! {
                _ = stopped.cancelled() => break,
                _ = app.shutdown.cancelled() => break,
                _ = tokio::time::sleep(interval) => {}
            }
            changes.borrow_and_update();
            let page = frame(&app.registry.list(&query.borrowed()));
            if page != last {
                last = page.clone();
                // Counted with the replies: what the connection's writer takes off when it
                // sends a frame of the edge's own.
                if !outbox.push_reply(page) {
                    break;
                }
            }
        }
    });
    Subscription {
        _stop: stop.drop_guard(),
    }
}
