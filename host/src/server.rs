//! Wiring: builds the sandbox, the catalog, the storage ports, the registry and the router from
//! a [`Config`], and runs the server until shutdown. Shutdown is one
//! cancellation token: connections send close frames, rooms stop, and the task tracker waits for
//! them.

use crate::api::{AppState, app};
use crate::config::Config;
use crate::metrics::Metrics;
use crate::modules::{MemoryCatalog, ModuleCatalog, load_catalog};
use crate::room::registry::RegistryParams;
use crate::room::{Registry, RoomSpawner};
use crate::rules::{Runtime, RuntimeConfig};
use crate::session::Sessions;
use crate::store::{EventLog, MemoryLog, MemorySessions};
use anyhow::Context;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A server that is listening.
pub struct RunningServer {
    /// The bound address (useful with port 0).
    pub addr: SocketAddr,
    /// Cancel to shut down.
    pub shutdown: CancellationToken,
    /// Shared state (tests inspect rooms and sessions through it).
    pub state: Arc<AppState>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl RunningServer {
    /// Shuts down and waits until every connection and room has stopped.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.task.await.context("the server task failed")?
    }

    /// Waits for the server to end (after `shutdown` is cancelled elsewhere).
    pub async fn wait(self) -> anyhow::Result<()> {
        self.task.await.context("the server task failed")?
    }
}

/// The ports a server runs on; [`Ports::memory`] for the in-memory ones.
pub struct Ports {
    /// The installed games.
    pub catalog: Arc<dyn ModuleCatalog>,
    /// The event log.
    pub log: Arc<dyn EventLog>,
    /// Sessions.
    pub sessions: Arc<dyn crate::store::SessionStore>,
}

impl Ports {
    /// In-memory log and sessions around `catalog`.
    pub fn memory(catalog: MemoryCatalog) -> Ports {
        Ports {
            catalog: Arc::new(catalog),
            log: Arc::new(MemoryLog::default()),
            sessions: Arc::new(MemorySessions::default()),
        }
    }
}

/// Loads the modules, binds `config.listen` and starts serving in the background.
pub async fn start(config: Config) -> anyhow::Result<RunningServer> {
    let runtime = Runtime::new(RuntimeConfig {
        limits: config.sandbox.clone(),
        cache_dir: Some(config.data_dir.join("modules")),
    })?;
    let catalog = load_catalog(&runtime, config.modules_dir.as_deref())?;
    start_with(config, Ports::memory(catalog)).await
}

/// Like [`start`], with the given ports.
pub async fn start_with(config: Config, ports: Ports) -> anyhow::Result<RunningServer> {
    let shutdown = CancellationToken::new();
    let tracker = TaskTracker::new();
    let metrics = Arc::new(Metrics::new());
    let spawner = RoomSpawner::current(tracker.clone());
    let registry = Registry::new(RegistryParams {
        catalog: ports.catalog,
        log: ports.log,
        cfg: config.room.clone(),
        allow_client_seed: config.allow_client_seed,
        metrics: metrics.clone(),
        shutdown: shutdown.clone(),
        spawner,
    });
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let addr = listener.local_addr()?;
    let state = Arc::new(AppState {
        config,
        registry,
        sessions: Sessions::new(ports.sessions),
        metrics,
        shutdown: shutdown.clone(),
        next_conn: AtomicU64::new(0),
    });
    // Forget sessions nobody has used for a while, so that abandoned tokens do not pile up.
    let ttl = std::time::Duration::from_millis(state.config.connection.session_ttl_ms);
    let sweeper = state.clone();
    tracker.spawn(async move {
        let mut every = tokio::time::interval((ttl / 4).clamp(
            std::time::Duration::from_millis(50),
            std::time::Duration::from_secs(60),
        ));
        loop {
            tokio::select! {
                _ = sweeper.shutdown.cancelled() => break,
                _ = every.tick() => {
                    let n = sweeper.sessions.expire(ttl);
                    if n > 0 {
                        tracing::debug!(expired = n, "sessions expired");
                    }
                }
            }
        }
    });
    let router = app(state.clone());
    let send_buffer = state.config.connection.socket_send_buffer_bytes;
    let stop = shutdown.clone();
    let task = tokio::spawn(async move {
        // Updates are small and latency matters: never let Nagle hold an ack behind an update.
        let listener = axum::serve::ListenerExt::tap_io(listener, move |tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!("cannot set TCP_NODELAY: {e}");
            }
            if let Some(bytes) = send_buffer
                && let Err(e) = socket2::SockRef::from(&*tcp).set_send_buffer_size(bytes)
            {
                tracing::debug!("cannot set the send buffer size: {e}");
            }
        });
        axum::serve(listener, router)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await
            .context("serving")?;
        tracker.close();
        tracker.wait().await;
        Ok(())
    });
    tracing::info!(%addr, "tabula is listening");
    Ok(RunningServer {
        addr,
        shutdown,
        state,
        task,
    })
}
