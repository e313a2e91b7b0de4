//! Recovery at start: every unfinished game read back from the event log becomes a room again,
//! under the module that played it (matched by digest). Rooms are reachable at once — commands
//! that arrive during a rebuild wait in the room's inbox — and [`Recovery::done`] resolves when
//! every rebuild has finished (the server reports ready then).

use super::{Registry, RoomHandle};
use crate::room::actor::{RoomActor, RoomParams};
use crate::room::{Clock, inbox};
use crate::rules::Module;
use crate::store::{EventLog, GameLog, ModuleKey};
use std::sync::Arc;
use tokio::sync::oneshot;

/// Finds a module by its key (catalog first, then the module store), for the games rebuilt.
pub type ModuleOf = Arc<dyn Fn(&ModuleKey) -> Option<Module> + Send + Sync>;

/// What a rebuild needs once the room's task runs.
pub(super) struct Rebuild {
    log: GameLog,
    store: Arc<dyn EventLog>,
    metrics: Arc<crate::metrics::Metrics>,
    modules: ModuleOf,
    done: oneshot::Sender<()>,
}

impl Rebuild {
    pub(super) async fn run(self, actor: &mut RoomActor) {
        let room = self.log.header.room.clone();
        let store = self.store;
        let modules = self.modules;
        let outcome = actor
            .recover(
                self.log,
                async || store.read(&room).await.ok().flatten(),
                &*modules,
            )
            .await;
        self.metrics.recovered(outcome.label());
        let _ = self.done.send(());
    }
}

/// Rebuilds under way.
#[derive(Debug)]
pub struct Recovery {
    /// Games being rebuilt.
    pub rebuilding: usize,
    /// Games not rebuilt: the module that played them is nowhere to be found.
    pub missing_module: Vec<(String, ModuleKey)>,
    pending: Vec<oneshot::Receiver<()>>,
}

impl Recovery {
    /// Resolves when every rebuild has finished (or its room has stopped).
    pub async fn done(self) {
        for rx in self.pending {
            let _ = rx.await;
        }
    }
}

impl Registry {
    /// Rebuilds every game of `logs` as a room, with the module `module_of` finds for its key
    /// (and for the versions swaps moved it to).
    pub fn recover(self: &Arc<Self>, logs: Vec<GameLog>, module_of: ModuleOf) -> Recovery {
        let mut recovery = Recovery {
            rebuilding: 0,
            missing_module: Vec::new(),
            pending: Vec::with_capacity(logs.len()),
        };
        for log in logs {
            let header = &log.header;
            let Some(module) = module_of(&header.module) else {
                tracing::error!(room_id = %header.room, game = %header.module.name,
                    version = %header.module.version, digest = %header.module.digest,
                    "not rebuilt: the module that played it is not available");
                self.metrics.recovered("no_module");
                recovery
                    .missing_module
                    .push((header.room.to_string(), header.module.clone()));
                continue;
            };
            let appended = log
                .entries
                .last()
                .map(|(pos, _)| *pos)
                .or(log.snapshot.as_ref().map(|s| s.pos))
                .unwrap_or(0);
            let writer = self.log.reopen(header, appended);
            let info = module.info();
            let active_version = self.active_besides(&info.name, &info.version);
            let (tx, rx) = inbox::inbox(self.cfg.inbox_capacity);
            let (actor, info_rx) = RoomActor::rebuilt(RoomParams {
                id: header.room.clone(),
                module,
                cfg: self.cfg.clone(),
                options: serde_json::from_str(&header.options).unwrap_or(serde_json::Value::Null),
                seats: header.seats,
                bots: 0,
                seed: header.seed,
                private: header.private,
                creator: header.creator.clone(),
                turn_deadline_ms: header.turn_deadline_ms,
                active_version,
                metrics: self.metrics.clone(),
                clock: Clock::new(),
                log: writer,
                claim: self.quotas.recovered(),
                snapshot_every: self.snapshot_every,
                lobby: self.lobby.clone(),
            });
            let handle = RoomHandle {
                id: header.room.clone(),
                tx,
                info: info_rx,
            };
            let (done, pending) = oneshot::channel();
            let private = header.private;
            recovery.pending.push(pending);
            recovery.rebuilding += 1;
            let rebuild = Rebuild {
                log,
                store: self.log.clone(),
                metrics: self.metrics.clone(),
                modules: module_of.clone(),
                done,
            };
            self.launch(&handle, private, Box::new(actor), rx, Some(rebuild));
        }
        tracing::info!(
            rebuilding = recovery.rebuilding,
            missing_module = recovery.missing_module.len(),
            "recovering unfinished games"
        );
        recovery
    }
}
