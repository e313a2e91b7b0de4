//! Prometheus metrics (`/metrics`): one registry, created at start-up, shared by rooms and
//! connections. Names follow `tabula_<area>_<what>_<unit>`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of a room gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RoomLabels {
    /// Game name.
    pub game: String,
    /// Rules version.
    pub version: String,
    /// Current phase (or `waiting`, `paused`).
    pub phase: String,
}

/// Labels of a game version's metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GameLabels {
    /// Game name.
    pub game: String,
    /// Rules version.
    pub version: String,
}

/// Labels of the action counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLabels {
    /// Game name.
    pub game: String,
    /// `ok` or the error code.
    pub result: String,
}

/// Labels of the counter of connections the edge closed or refused.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    /// Why (`too_many_connections`, `too_many_from_address`, or a close reason).
    pub reason: String,
}

/// Labels of module call metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    /// Game name.
    pub game: String,
    /// Rules version.
    pub version: String,
    /// `act`, `timer`, `bot`, `start`, `view` or, for failures, the failure kind.
    pub call: String,
}

/// Labels of the count of games rebuilt at start.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RecoveryLabels {
    /// `ok`, `repaired` (rebuilt from the start of its log after its snapshot did not match),
    /// `corrupt` (paused: the log does not replay), `no_module` (not rebuilt).
    pub outcome: String,
}

/// The storage writer's metrics (`tabula_store_*`), handed to the store when it opens.
#[derive(Clone, Debug)]
pub struct StoreMetrics {
    /// Log entries queued and not yet durable.
    pub queue_entries: Gauge,
    /// Log entries written per commit.
    pub commit_entries: Histogram,
    /// How long a commit took (begin to commit), seconds.
    pub commit_seconds: Histogram,
    /// Commits that failed (each attempt counts; the batch is retried).
    pub commits_failed: Counter,
    /// How long a move of the event log's journal into its chunks took, seconds: on SQLite the
    /// writer commits nothing meanwhile (on PostgreSQL the move runs beside the commits).
    pub journal_fold_seconds: Histogram,
}

impl StoreMetrics {
    fn register(registry: &mut Registry) -> Self {
        let m = StoreMetrics {
            queue_entries: Gauge::default(),
            // 1 to 8192 entries.
            commit_entries: Histogram::new(exponential_buckets(1.0, 2.0, 14)),
            // 100 µs to 3.3 s.
            commit_seconds: Histogram::new(exponential_buckets(1e-4, 2.0, 16)),
            commits_failed: Counter::default(),
            journal_fold_seconds: Histogram::new(exponential_buckets(1e-4, 2.0, 16)),
        };
        registry.register(
            "store_queue_entries",
            "Log entries queued for the database and not yet durable",
            m.queue_entries.clone(),
        );
        registry.register(
            "store_commit_entries",
            "Log entries written per database commit",
            m.commit_entries.clone(),
        );
        registry.register(
            "store_commit_seconds",
            "Latency of database commits of the log writer",
            m.commit_seconds.clone(),
        );
        registry.register(
            "store_commits_failed",
            "Database commits that failed and were retried",
            m.commits_failed.clone(),
        );
        registry.register(
            "store_journal_fold_seconds",
            "Latency of moves of the event log's journal into its chunks (on SQLite, of each step; \
             on PostgreSQL, of a whole move, with its pauses)",
            m.journal_fold_seconds.clone(),
        );
        m
    }
}

/// Every metric the server exports.
pub struct Metrics {
    registry: Registry,
    /// Open WebSocket connections.
    pub connections: Gauge,
    /// Connections refused at accept, or closed by the server, by reason.
    pub connections_ended: Family<ReasonLabels, Counter>,
    /// Rooms by game, version and phase.
    pub rooms: Family<RoomLabels, Gauge>,
    /// Player actions by game and result.
    pub actions: Family<ActionLabels, Counter>,
    /// Steps of every game (actions, bots' moves, timers), one counter for the server.
    pub steps: Counter,
    /// Module call latency.
    pub module_calls: Family<CallLabels, Histogram>,
    /// Module failures by kind (`call` holds the kind).
    pub module_failures: Family<CallLabels, Counter>,
    /// Games rebuilt from the event log at start, by outcome.
    pub games_recovered: Family<RecoveryLabels, Counter>,
    /// Games finished, by game and version.
    pub games_finished: Family<GameLabels, Counter>,
    /// How long finished games lasted, start to end, by game and version.
    pub game_duration: Family<GameLabels, Histogram>,
    /// The storage writer.
    pub store: StoreMetrics,
}

impl Metrics {
    /// A registry with every metric registered.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("tabula");
        let connections = Gauge::default();
        registry.register(
            "connections",
            "Open WebSocket connections",
            connections.clone(),
        );
        let connections_ended = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "connections_ended_by_server",
            "Connections refused at accept or closed by the server, by reason",
            connections_ended.clone(),
        );
        let rooms = Family::<RoomLabels, Gauge>::default();
        registry.register("rooms", "Rooms by game, version and phase", rooms.clone());
        let actions = Family::<ActionLabels, Counter>::default();
        registry.register(
            "actions",
            "Player actions by game and result",
            actions.clone(),
        );
        let steps = Counter::default();
        registry.register(
            "steps",
            "Steps of every game: actions, bots' moves and timers",
            steps.clone(),
        );
        let module_calls = Family::<CallLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(1e-6, 2.0, 22))
        });
        registry.register(
            "module_call_seconds",
            "Latency of calls into rules modules",
            module_calls.clone(),
        );
        let module_failures = Family::<CallLabels, Counter>::default();
        registry.register(
            "module_failures",
            "Rules module failures by kind",
            module_failures.clone(),
        );
        let games_recovered = Family::<RecoveryLabels, Counter>::default();
        registry.register(
            "games_recovered",
            "Unfinished games rebuilt from the event log at start, by outcome",
            games_recovered.clone(),
        );
        let games_finished = Family::<GameLabels, Counter>::default();
        registry.register(
            "games_finished",
            "Games played to their end, by game and version",
            games_finished.clone(),
        );
        let game_duration = Family::<GameLabels, Histogram>::new_with_constructor(|| {
            // 1 s to about 9 hours.
            Histogram::new(exponential_buckets(1.0, 2.0, 16))
        });
        registry.register(
            "game_duration_seconds",
            "Duration of finished games from start to end, by game and version",
            game_duration.clone(),
        );
        let store = StoreMetrics::register(&mut registry);
        Metrics {
            steps,
            games_finished,
            game_duration,
            games_recovered,
            registry,
            connections,
            connections_ended,
            rooms,
            actions,
            module_calls,
            module_failures,
            store,
        }
    }

    /// Counts a connection refused or closed by the server for `reason`.
    pub fn ended(&self, reason: &str) {
        self.connections_ended
            .get_or_create(&ReasonLabels {
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// Counts a game rebuilt at start with `outcome`.
    pub fn recovered(&self, outcome: &str) {
        self.games_recovered
            .get_or_create(&RecoveryLabels {
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!("cannot encode metrics: {e}");
        }
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
