//! Wiring: builds the sandbox, the catalog, the storage ports, the registry and the router from
//! a [`Config`], and runs the server until shutdown. Shutdown is one
//! cancellation token: connections send close frames, rooms stop, and the task tracker waits for
//! them.

use crate::api::accept::{self, Admission, ServeParams};
use crate::api::guesses::Guesses;
use crate::api::{self, AppState};
use crate::config::Config;
use crate::metrics::Metrics;
use crate::modules::{CatalogSources, MemoryCatalog, ModuleCatalog, build_catalog};
use crate::room::registry::RegistryParams;
use crate::room::{Registry, RoomSpawner};
use crate::rules::{Runtime, RuntimeConfig};
use crate::session::{SessionLimits, Sessions};
use crate::store::{SqliteClaim, Storage};
use anyhow::Context;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A server that is listening.
pub struct RunningServer {
    /// The bound address (useful with port 0).
    pub addr: SocketAddr,
    /// The admin listener's address, when `admin_listen` is set.
    pub admin_addr: Option<SocketAddr>,
    /// Cancel to shut down.
    pub shutdown: CancellationToken,
    /// Shared state (tests inspect rooms and sessions through it).
    pub state: Arc<AppState>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    /// This server's hold on its SQLite file, released when it has stopped.
    claim: Option<SqliteClaim>,
}

impl RunningServer {
    /// Shuts down and waits until every connection and room has stopped.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        // `claim` is released as `self` goes, after the task has ended.
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
    /// The event log, sessions and module bytes.
    pub storage: Storage,
    /// Compiles modules the catalog does not have that unfinished games were played with (read
    /// back from the module store), and uploaded ones; `None`: such games are not rebuilt, and
    /// uploads are refused.
    pub runtime: Option<Arc<Runtime>>,
    /// The metrics registry (storage registers its own metrics in it when it opens).
    pub metrics: Arc<Metrics>,
}

impl Ports {
    /// In-memory storage around `catalog`.
    pub fn memory(catalog: MemoryCatalog) -> Ports {
        Ports {
            catalog: Arc::new(catalog),
            storage: Storage::memory(),
            runtime: None,
            metrics: Arc::new(Metrics::new()),
        }
    }
}

/// Loads the modules, opens the database, binds `config.listen`, starts serving in the
/// background and rebuilds every unfinished game (readiness waits for it).
pub async fn start(config: Config) -> anyhow::Result<RunningServer> {
    let runtime = Runtime::new(RuntimeConfig {
        limits: config.sandbox.clone(),
        cache_dir: Some(config.data_dir.join("modules")),
    })?;
    let metrics = Arc::new(Metrics::new());
    let url = config.database_url();
    let claim = Storage::claim(&url)?;
    let storage = Storage::open(&url, &config.database, &metrics)
        .await
        .with_context(|| format!("opening the database {}", without_password(&url)))?;
    tracing::info!(database = %without_password(&url), "storage open");
    let catalog = build_catalog(
        &runtime,
        CatalogSources {
            dir: config.modules_dir.as_deref(),
            store: Some(&*storage.modules),
            revisions: config.dev,
        },
    )
    .await?;
    let ports = Ports {
        catalog: Arc::new(catalog),
        storage,
        runtime: Some(Arc::new(runtime)),
        metrics,
    };
    let mut running = start_with(config, ports).await?;
    running.claim = claim;
    Ok(running)
}

/// A database URL fit for logs: its password, if any, replaced by `***`.
fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((credentials, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match credentials.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

/// The modules unfinished games were played with that the catalog lacks (those their headers
/// name, and those swaps moved them to), read back from the module store and compiled, by
/// digest.
async fn modules_for(
    logs: &[crate::store::GameLog],
    ports: &Ports,
) -> HashMap<String, crate::rules::Module> {
    let mut found = HashMap::new();
    let Some(runtime) = &ports.runtime else {
        return found;
    };
    let mut digests: Vec<String> = Vec::new();
    for log in logs {
        digests.push(log.header.module.digest.clone());
        // A snapshot taken after a swap names the module the game runs under then.
        let snapshot = log.snapshot.as_ref();
        digests.extend(
            snapshot
                .and_then(|s| crate::room::snapshot_module(&s.data))
                .map(|k| k.digest),
        );
        for (_, entry) in &log.entries {
            if let crate::store::Input::Swap { to, .. } = &entry.input {
                digests.push(to.digest.clone());
            }
        }
    }
    for digest in &digests {
        if found.contains_key(digest) || ports.catalog.by_digest(digest).is_some() {
            continue;
        }
        match ports.storage.modules.load(digest).await {
            Ok(Some(bytes)) => match runtime.load(&bytes) {
                Ok(module) => {
                    found.insert(digest.clone(), module);
                }
                Err(e) => tracing::error!(%digest, "a stored module does not load: {e}"),
            },
            Ok(None) => {}
            Err(e) => tracing::error!(%digest, "reading a stored module: {e}"),
        }
    }
    found
}

/// Like [`start`], with the given ports.
pub async fn start_with(config: Config, ports: Ports) -> anyhow::Result<RunningServer> {
    let shutdown = CancellationToken::new();
    let tracker = TaskTracker::new();
    let metrics = ports.metrics.clone();
    let spawner = RoomSpawner::current(tracker.clone());
    // Every installed module's bytes are kept, so that its games can be rebuilt under it later.
    for game in ports.catalog.list() {
        for version in &game.versions {
            if let Some(module) = ports.catalog.version(&game.name, version) {
                ports
                    .storage
                    .modules
                    .keep(&crate::modules::catalog_key(&module), module.bytes())
                    .await
                    .context("keeping the installed modules")?;
            }
        }
    }
    let reading = std::time::Instant::now();
    let unfinished = ports
        .storage
        .log
        .unfinished()
        .await
        .context("reading the unfinished games")?;
    tracing::info!(
        games = unfinished.len(),
        ms = reading.elapsed().as_millis() as u64,
        "unfinished games read"
    );
    let stored_modules = modules_for(&unfinished, &ports).await;
    let registry = Registry::new(RegistryParams {
        catalog: ports.catalog.clone(),
        log: ports.storage.log.clone(),
        cfg: config.room.clone(),
        allow_client_seed: config.allow_client_seed,
        metrics: metrics.clone(),
        shutdown: shutdown.clone(),
        spawner,
        snapshot_every: config.database.snapshot_every,
        modules: Some(ports.storage.modules.clone()),
    });
    let catalog = ports.catalog.clone();
    let recovery = registry.recover(
        unfinished,
        Arc::new(move |key| {
            catalog
                .by_digest(&key.digest)
                .or_else(|| stored_modules.get(&key.digest).cloned())
        }),
    );
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let addr = listener.local_addr()?;
    let admin_listener = match config.admin_listen {
        Some(a) => Some(
            tokio::net::TcpListener::bind(a)
                .await
                .with_context(|| format!("binding {a}"))?,
        ),
        None => None,
    };
    let admin_addr = admin_listener
        .as_ref()
        .map(|l| l.local_addr())
        .transpose()?;
    let max_connections = connection_cap(&config)?;
    let admission = Admission::new(
        max_connections,
        config.connection.max_connections_per_address,
    );
    let session_limits = SessionLimits {
        per_address: config.connection.sessions_per_address,
        per_minute: config.connection.new_sessions_per_minute,
    };
    let state_guesses = config.connection.failed_lookups_per_minute;
    let smoke_runs = Arc::new(crate::modules::accept::SmokeRuns::default());
    if let (Some(dir), Some(runtime)) = (config.modules_dir.clone(), ports.runtime.clone()) {
        tracker.spawn(crate::modules::watch::watch(
            crate::modules::watch::Watched {
                dir,
                every: std::time::Duration::from_millis(config.modules_poll_ms.max(100)),
                runtime,
                catalog: ports.catalog.clone(),
                store: ports.storage.modules.clone(),
                runs: smoke_runs.clone(),
                revisions: config.dev,
                shutdown: shutdown.clone(),
            },
        ));
    }
    let state = Arc::new(AppState {
        config,
        registry,
        sessions: Sessions::new(ports.storage.sessions.clone(), session_limits),
        log: ports.storage.log.clone(),
        archive: ports.storage.archive.clone(),
        modules: ports.storage.modules.clone(),
        runtime: ports.runtime.clone(),
        smoke_runs: smoke_runs.clone(),
        recovering: std::sync::atomic::AtomicBool::new(true),
        metrics,
        shutdown: shutdown.clone(),
        tracker: tracker.clone(),
        guesses: Guesses::new(state_guesses),
        next_conn: AtomicU64::new(0),
    });
    let recovered = state.clone();
    tracker.spawn(async move {
        recovery.done().await;
        recovered
            .recovering
            .store(false, std::sync::atomic::Ordering::Release);
        tracing::info!("recovery done");
    });
    // Forget sessions nobody has used for a while, so that abandoned tokens do not pile up.
    let ttl = std::time::Duration::from_millis(state.config.connection.session_ttl_ms);
    let every = (ttl / 4).clamp(Duration::from_millis(50), Duration::from_secs(60));
    every_until_shutdown(&state, every, move |app| async move {
        app.guesses.sweep();
        let n = app.sessions.expire(ttl).await;
        if n > 0 {
            tracing::debug!(expired = n, "sessions expired");
        }
    });
    // Purge event logs past their retention, now and then (and at start).
    let every = Duration::from_millis(state.config.archive.purge_every_ms);
    every_until_shutdown(&state, every, |app| async move {
        match api::purge_now(&app).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(games = n, "event logs purged (archive.retention)"),
            Err(e) => tracing::warn!("purging event logs: {e}"),
        }
    });
    let conn_cfg = &state.config.connection;
    let params = |admission: Option<Arc<Admission>>| {
        let metrics = state.metrics.clone();
        ServeParams {
            admission,
            header_timeout: Duration::from_millis(conn_cfg.header_timeout_ms),
            send_buffer: conn_cfg.socket_send_buffer_bytes,
            shutdown: shutdown.clone(),
            tracker: tracker.clone(),
            on_refused: Arc::new(move |why| {
                metrics.ended(match why {
                    accept::Refused::Total => "too_many_connections",
                    accept::Refused::Address => "too_many_from_address",
                })
            }),
        }
    };
    let (game_router, admin_router) = match admin_listener {
        Some(_) => (api::game(state.clone()), Some(api::admin(state.clone()))),
        None => (
            api::game(state.clone()).merge(api::admin(state.clone())),
            None,
        ),
    };
    if let (Some(listener), Some(router)) = (admin_listener, admin_router) {
        tracker.spawn(accept::serve(listener, router, params(None)));
    }
    let game = accept::serve(listener, game_router, params(Some(admission)));
    let log = state.log.clone();
    let task = tokio::spawn(async move {
        game.await;
        // Every connection task and room is tracked: wait for them to finish their close.
        tracker.close();
        tracker.wait().await;
        // Then for what the rooms logged last to be written (unacknowledged, but kept if the
        // database allows).
        if tokio::time::timeout(DRAIN_LIMIT, log.drained())
            .await
            .is_err()
        {
            tracing::warn!("the database did not take the last log entries in time");
        }
        Ok(())
    });
    if let Some(a) = admin_addr {
        tracing::info!(%a, "health and metrics are served here");
    }
    tracing::info!(%addr, "tabula is listening");
    Ok(RunningServer {
        addr,
        admin_addr,
        shutdown,
        state,
        task,
        claim: None,
    })
}

/// Runs `chore` at once and then every `period`, on the server's task tracker, until shutdown.
fn every_until_shutdown<F>(
    state: &Arc<AppState>,
    period: Duration,
    chore: impl Fn(Arc<AppState>) -> F + Send + 'static,
) where
    F: std::future::Future<Output = ()> + Send,
{
    let app = state.clone();
    state.tracker.spawn(async move {
        let mut every = tokio::time::interval(period);
        loop {
            tokio::select! {
                _ = app.shutdown.cancelled() => break,
                _ = every.tick() => chore(app.clone()).await,
            }
        }
    });
}

/// How long a shutdown waits for the database to take the last log entries.
const DRAIN_LIMIT: Duration = Duration::from_secs(10);

/// Open files kept for what is not a client connection: listeners, module files, databases.
const FILE_RESERVE: usize = 64;

/// `connection.max_connections`, lowered (with a warning) to what the open-file limit allows.
fn connection_cap(config: &Config) -> anyhow::Result<usize> {
    let wanted = config.connection.max_connections;
    match accept::file_limit_allows(FILE_RESERVE) {
        Some(0) => anyhow::bail!(
            "the open-file limit leaves no room for connections (ulimit -n is at most {FILE_RESERVE})"
        ),
        Some(allowed) if allowed < wanted => {
            tracing::warn!(
                wanted,
                allowed,
                "connection.max_connections is above the open-file limit less {FILE_RESERVE}; \
                 using {allowed} (raise ulimit -n to allow more)"
            );
            Ok(allowed)
        }
        _ => Ok(wanted),
    }
}
