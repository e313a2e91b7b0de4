//! One typed configuration: defaults < TOML file < `TABULA_*` environment < command-line flags.
//! Unknown keys are refused at every layer, and [`Config::validate`] checks ranges once.
//!
//! Environment variables name keys by path, sections joined by `__`:
//! `TABULA_LISTEN=0.0.0.0:9000`, `TABULA_ROOM__BOT_THINK_MS=0`. Values are read as TOML
//! scalars (numbers, booleans) and otherwise as strings. `TABULA_LOG` (the log filter) and
//! `TABULA_CONFIG` (the file) are not configuration keys.

use crate::rules::Limits;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Why the configuration is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A layer does not parse or names unknown keys.
    #[error("{origin}: {message}")]
    Invalid {
        /// Which layer (file path, `environment`, `flags`).
        origin: String,
        /// What is wrong.
        message: String,
    },
    /// A value is out of range.
    #[error("{key}: {message}")]
    OutOfRange {
        /// The key.
        key: &'static str,
        /// What is wrong.
        message: String,
    },
}

/// Everything the server can be told.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address for the WebSocket endpoint (and health and metrics unless `admin_listen` is set).
    pub listen: SocketAddr,
    /// A separate address for `/health/*` and `/metrics` (`None`: they are served on `listen`).
    /// They answer there even while the game port holds its maximum of connections.
    pub admin_listen: Option<SocketAddr>,
    /// Where precompiled modules (and later databases) live.
    pub data_dir: PathBuf,
    /// Extra rules modules (`*.wasm`) to load at start; files dropped or replaced there later
    /// are picked up too.
    pub modules_dir: Option<PathBuf>,
    /// How often the modules directory is looked at for new or replaced files, ms.
    pub modules_poll_ms: u64,
    /// Whether clients may choose a game's seed (reproducible or duplicate play).
    pub allow_client_seed: bool,
    /// Development mode (`--dev`): a module uploaded or dropped under a name and version that
    /// is installed already becomes a new revision of that version instead of being refused.
    pub dev: bool,
    /// Rooms.
    pub room: RoomConfig,
    /// Connections.
    pub connection: ConnectionConfig,
    /// The rules sandbox.
    pub sandbox: Limits,
    /// Storage: the event log, sessions, module bytes.
    pub database: DatabaseConfig,
    /// Finished games: how long their event logs are kept.
    pub archive: ArchiveConfig,
    /// The operators' API.
    pub admin: AdminConfig,
    /// Serve the browser client's files from this folder instead of the copies built into the
    /// binary (`TABULA_WEB_DIR`: edit the page and reload, without a rebuild).
    pub web_dir: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            admin_listen: None,
            data_dir: PathBuf::from(".tabula"),
            modules_dir: None,
            allow_client_seed: false,
            dev: false,
            modules_poll_ms: 2_000,
            room: RoomConfig::default(),
            connection: ConnectionConfig::default(),
            sandbox: Limits::default(),
            database: DatabaseConfig::default(),
            archive: ArchiveConfig::default(),
            admin: AdminConfig::default(),
            web_dir: None,
        }
    }
}

impl Config {
    /// The database URL in use: `database.url`, or the SQLite file `tabula.db` in the data
    /// directory.
    pub fn database_url(&self) -> String {
        match &self.database.url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_dir.join("tabula.db").display()),
        }
    }
}

/// When a commit counts as durable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncMode {
    /// Survives the server being killed (SQLite: WAL with `synchronous=NORMAL`; PostgreSQL: its
    /// own commit, which is `full` already).
    #[default]
    Normal,
    /// Also survives the machine losing power (SQLite: `synchronous=FULL`, one fsync per commit).
    Full,
}

/// Where and how games, sessions and module bytes are stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://PATH`, `postgres://USER@HOST/DB` or `memory:` (nothing survives the process).
    /// `None`: `sqlite://DATA_DIR/tabula.db`.
    pub url: Option<String>,
    /// When a commit counts as durable.
    pub sync: SyncMode,
    /// Log entries (of all rooms) not yet durable beyond which rooms refuse new inputs with
    /// `unavailable` and readiness turns false.
    pub max_backlog: usize,
    /// Most entries one commit writes.
    pub max_batch: usize,
    /// How long the oldest entry of a batch that is not full waits for more before the log
    /// writer commits, µs (0: commit at once). Adds up to this much (plus the timer's
    /// granularity, 1 ms) to an action's latency when the server is quiet; under load the
    /// entries have waited that long during the last commit already.
    pub commit_delay_us: u64,
    /// Connections to the database (PostgreSQL; SQLite uses one writer and a few readers).
    pub max_connections: u32,
    /// A room saves a snapshot every this many entries (bounds what recovery replays).
    pub snapshot_every: u64,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: None,
            sync: SyncMode::Normal,
            max_backlog: 50_000,
            max_batch: 1_000,
            commit_delay_us: 1_000,
            max_connections: 8,
            snapshot_every: 64,
        }
    }
}

/// What is kept of finished games. Their summaries (result, seats, outcome, times) are kept
/// forever: statistics are made of them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ArchiveConfig {
    /// How long an ended game's event log (its record) is kept: `"forever"`, `"summary"` (purged
    /// once the game has ended) or a number of days (`"30d"`).
    pub retention: crate::store::Retention,
    /// How often logs past their retention are purged, ms.
    pub purge_every_ms: u64,
}

impl Default for ArchiveConfig {
    fn default() -> Self {
        ArchiveConfig {
            retention: crate::store::Retention::Forever,
            purge_every_ms: 3_600_000,
        }
    }
}

/// The operators' API (`/admin/*`).
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// The bearer token operators send (`Authorization: Bearer TOKEN`); `None`: the admin API
    /// is off. At least [`AdminConfig::MIN_TOKEN_CHARS`] characters.
    pub token: Option<String>,
}

impl AdminConfig {
    /// The shortest token accepted.
    pub const MIN_TOKEN_CHARS: usize = 16;
}

impl std::fmt::Debug for AdminConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token never reaches a log.
        f.debug_struct("AdminConfig")
            .field("token", &self.token.as_ref().map(|_| "***"))
            .finish()
    }
}

/// How rooms behave.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoomConfig {
    /// Commands a room's inbox holds; beyond it requests are refused as `busy`.
    pub inbox_capacity: usize,
    /// How long a bot "thinks" before it moves, ms.
    pub bot_think_ms: u64,
    /// How long a disconnected player keeps control before the bot plays for them, ms.
    pub reconnect_grace_ms: u64,
    /// How long a room whose players all left (before the start: left or were disconnected past
    /// the reconnect grace) stays open, ms.
    pub abandoned_close_ms: u64,
    /// How long a finished game stays open once its players have gone, ms.
    pub finished_close_ms: u64,
    /// Members of a room are told of changes to its info (seats, spectators, status) at most
    /// once per this interval; changes within it go out together at its end, ms.
    pub info_interval_ms: u64,
    /// Spectators a room takes; more are refused with `too_many_spectators`.
    pub max_spectators: usize,
    /// Live rooms on this server; `create_room` beyond it gets `server_full`.
    pub max_rooms: usize,
    /// Rooms one player may have created and not yet finished; more get `too_many_rooms`.
    pub max_open_rooms_per_player: u32,
    /// Rooms created from one IP address and not yet finished; more get `too_many_rooms`.
    pub max_open_rooms_per_address: u32,
    /// Default per-room turn deadline for humans, ms (`None`: no deadline).
    pub turn_deadline_ms: Option<u64>,
    /// Consecutive timer or bot failures after which a room pauses.
    pub max_module_failures: u32,
    /// First retry delay after a timer or bot failure, ms (doubles each time).
    pub retry_base_ms: u64,
    /// Steps kept for reconnecting clients; older gaps are answered with a resync.
    pub missed_steps_buffer: usize,
    /// Request ids remembered per player for idempotent retries.
    pub request_window: usize,
    /// Fuel a module call may use on the room's task before it is made again, with the full
    /// budget, on the blocking pool (0: every call runs inline). Every ordinary call fits in it;
    /// it bounds how long a module holds a worker that connections also use.
    pub inline_fuel: u64,
    /// How fast a rollout moves running rooms to another version, rooms per second (each swap
    /// is one module `migrate` in its room, between two of its inputs).
    pub rollout_rooms_per_second: u32,
    /// How long a canary watches the new version before it moves every room, ms.
    pub canary_window_ms: u64,
    /// The new version's failures per 1000 calls (traps, fuel, memory, deadlines, failed
    /// checks) above which a canary rolls back.
    pub canary_max_failures_per_mille: u32,
    /// A version is quarantined when, within one interval of this length, it fails at least
    /// `quarantine_min_failures` calls and more than `quarantine_failures_per_mille` of its
    /// calls, ms (0: never).
    pub quarantine_interval_ms: u64,
    /// See `quarantine_interval_ms`.
    pub quarantine_min_failures: u64,
    /// See `quarantine_interval_ms`.
    pub quarantine_failures_per_mille: u64,
}

impl Default for RoomConfig {
    fn default() -> Self {
        RoomConfig {
            inbox_capacity: 256,
            bot_think_ms: 600,
            reconnect_grace_ms: 15_000,
            abandoned_close_ms: 60_000,
            finished_close_ms: 60_000,
            info_interval_ms: 250,
            max_spectators: 1_000,
            max_rooms: 10_000,
            max_open_rooms_per_player: 20,
            max_open_rooms_per_address: 100,
            turn_deadline_ms: None,
            max_module_failures: 5,
            retry_base_ms: 100,
            missed_steps_buffer: 64,
            request_window: 256,
            inline_fuel: 2_000_000,
            rollout_rooms_per_second: 1_000,
            canary_window_ms: 60_000,
            canary_max_failures_per_mille: 10,
            quarantine_interval_ms: 60_000,
            quarantine_min_failures: 50,
            quarantine_failures_per_mille: 200,
        }
    }
}

/// How connections behave.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConnectionConfig {
    /// Largest frame the protocol accepts; bigger ones get `frame_too_large`, bytes.
    pub max_message_bytes: usize,
    /// Largest frame the transport reads at all; bigger ones close the connection, bytes.
    pub transport_max_bytes: usize,
    /// Messages queued for a client before it counts as too slow and is disconnected.
    pub outbound_queue: usize,
    /// Interval between server pings, ms.
    pub ping_interval_ms: u64,
    /// A connection silent for this long is closed, ms.
    pub idle_timeout_ms: u64,
    /// Sustained messages per second a client may send.
    pub messages_per_second: u32,
    /// Messages a client may send in a burst.
    pub burst: u32,
    /// `rate_limited` answers in a row after which a flooding client is disconnected.
    pub flood_strikes: u32,
    /// Kernel send buffer per socket, bytes (`None`: the kernel's auto-tuning, which lets a
    /// client that does not read hold megabytes of kernel memory for minutes). Smaller buffers
    /// bound memory per connection and detect slow clients sooner.
    pub socket_send_buffer_bytes: Option<usize>,
    /// A session with no connection for this long is forgotten (its token stops working), ms.
    pub session_ttl_ms: u64,
    /// Time to send a whole HTTP request head (the WebSocket upgrade included), ms.
    pub header_timeout_ms: u64,
    /// Time from the WebSocket upgrade to a successful `hello`, ms (closed with 4002).
    pub hello_timeout_ms: u64,
    /// A write to a client's socket that cannot complete in this time closes it, ms.
    pub write_timeout_ms: u64,
    /// Open connections on the game port, in all (kept below the open-file limit at start).
    pub max_connections: usize,
    /// Open connections on the game port from one IP address.
    pub max_connections_per_address: usize,
    /// Bytes of a connection's own replies that may wait to be sent; beyond it the connection
    /// is not read further until they drain.
    pub outbound_bytes: usize,
    /// Sessions one IP address may hold open (not yet expired).
    pub sessions_per_address: usize,
    /// New sessions one IP address may open per minute.
    pub new_sessions_per_minute: u32,
    /// Lookups of rooms that do not exist one IP address or player may make per minute; past
    /// it, its room lookups are answered `rate_limited` for a while.
    pub failed_lookups_per_minute: u32,
    /// Origins allowed to open a WebSocket (the `Origin` header, e.g. `https://play.example`);
    /// empty: any. Requests without an `Origin` (not from a browser) are always allowed.
    pub allowed_origins: Vec<String>,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        ConnectionConfig {
            max_message_bytes: 16 * 1024,
            transport_max_bytes: 1 << 20,
            outbound_queue: 256,
            ping_interval_ms: 15_000,
            idle_timeout_ms: 45_000,
            messages_per_second: 50,
            burst: 100,
            flood_strikes: 20,
            socket_send_buffer_bytes: Some(256 * 1024),
            session_ttl_ms: 30 * 24 * 60 * 60 * 1000,
            header_timeout_ms: 10_000,
            hello_timeout_ms: 10_000,
            write_timeout_ms: 10_000,
            max_connections: 10_000,
            max_connections_per_address: 256,
            outbound_bytes: 1 << 20,
            sessions_per_address: 1_000,
            failed_lookups_per_minute: 30,
            new_sessions_per_minute: 60,
            allowed_origins: Vec::new(),
        }
    }
}

/// Values given as command-line flags (the last layer).
#[derive(Clone, Debug, Default)]
pub struct FlagOverrides {
    /// `--listen`.
    pub listen: Option<SocketAddr>,
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `--modules`.
    pub modules_dir: Option<PathBuf>,
    /// `--allow-client-seed`.
    pub allow_client_seed: bool,
    /// `--dev`.
    pub dev: bool,
    /// `--database-url`.
    pub database_url: Option<String>,
}

impl Config {
    /// Layers defaults, `file`, the `TABULA_*` variables in `env` and `flags`, then validates.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        flags: &FlagOverrides,
    ) -> Result<Config, ConfigError> {
        let mut table = toml::Table::new();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.into(),
                source,
            })?;
            table = text
                .parse::<toml::Table>()
                .map_err(|e| ConfigError::Invalid {
                    origin: path.display().to_string(),
                    message: e.to_string(),
                })?;
            Self::parse(table.clone(), &path.display().to_string())?;
        }
        let env_table = env_layer(env);
        merge(&mut table, env_table);
        let mut config = Self::parse(table, "environment")?;
        if let Some(l) = flags.listen {
            config.listen = l;
        }
        if let Some(d) = &flags.data_dir {
            config.data_dir = d.clone();
        }
        if let Some(m) = &flags.modules_dir {
            config.modules_dir = Some(m.clone());
        }
        config.allow_client_seed |= flags.allow_client_seed;
        config.dev |= flags.dev;
        if let Some(u) = &flags.database_url {
            config.database.url = Some(u.clone());
        }
        config.validate()?;
        Ok(config)
    }

    fn parse(table: toml::Table, origin: &str) -> Result<Config, ConfigError> {
        Config::deserialize(toml::Value::Table(table)).map_err(|e| ConfigError::Invalid {
            origin: origin.into(),
            message: e.to_string(),
        })
    }

    /// Checks every range once, so the rest of the server can rely on them.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let (r, c) = (&self.room, &self.connection);
        let d = &self.database;
        let must_be_positive: [(&'static str, u64); 26] = [
            ("room.inbox_capacity", r.inbox_capacity as u64),
            ("room.max_rooms", r.max_rooms as u64),
            (
                "room.max_open_rooms_per_player",
                u64::from(r.max_open_rooms_per_player),
            ),
            (
                "room.max_open_rooms_per_address",
                u64::from(r.max_open_rooms_per_address),
            ),
            ("room.max_module_failures", u64::from(r.max_module_failures)),
            (
                "room.rollout_rooms_per_second",
                u64::from(r.rollout_rooms_per_second),
            ),
            ("room.request_window", r.request_window as u64),
            ("connection.max_message_bytes", c.max_message_bytes as u64),
            ("connection.outbound_queue", c.outbound_queue as u64),
            ("connection.ping_interval_ms", c.ping_interval_ms),
            (
                "connection.messages_per_second",
                u64::from(c.messages_per_second),
            ),
            ("connection.burst", u64::from(c.burst)),
            ("connection.header_timeout_ms", c.header_timeout_ms),
            ("connection.hello_timeout_ms", c.hello_timeout_ms),
            ("connection.write_timeout_ms", c.write_timeout_ms),
            ("connection.max_connections", c.max_connections as u64),
            (
                "connection.max_connections_per_address",
                c.max_connections_per_address as u64,
            ),
            (
                "connection.sessions_per_address",
                c.sessions_per_address as u64,
            ),
            (
                "connection.new_sessions_per_minute",
                u64::from(c.new_sessions_per_minute),
            ),
            (
                "connection.failed_lookups_per_minute",
                u64::from(c.failed_lookups_per_minute),
            ),
            ("connection.outbound_bytes", c.outbound_bytes as u64),
            ("sandbox.deadline_ms", self.sandbox.deadline_ms),
            ("database.max_backlog", d.max_backlog as u64),
            ("database.max_batch", d.max_batch as u64),
            ("database.max_connections", u64::from(d.max_connections)),
            ("database.snapshot_every", d.snapshot_every),
        ];
        if let Some((key, _)) = must_be_positive.iter().find(|(_, v)| *v == 0) {
            return Err(ConfigError::OutOfRange {
                key,
                message: "must be greater than 0".into(),
            });
        }
        if self.archive.purge_every_ms == 0 {
            return Err(ConfigError::OutOfRange {
                key: "archive.purge_every_ms",
                message: "must be greater than 0".into(),
            });
        }
        if let Some(t) = &self.admin.token
            && t.chars().count() < AdminConfig::MIN_TOKEN_CHARS
        {
            return Err(ConfigError::OutOfRange {
                key: "admin.token",
                message: format!(
                    "must be at least {} characters (e.g. `openssl rand -hex 32`)",
                    AdminConfig::MIN_TOKEN_CHARS
                ),
            });
        }
        if self.connection.transport_max_bytes < self.connection.max_message_bytes {
            return Err(ConfigError::OutOfRange {
                key: "connection.transport_max_bytes",
                message: "must be at least connection.max_message_bytes".into(),
            });
        }
        if self.connection.idle_timeout_ms <= self.connection.ping_interval_ms {
            return Err(ConfigError::OutOfRange {
                key: "connection.idle_timeout_ms",
                message: "must be longer than connection.ping_interval_ms".into(),
            });
        }
        Ok(())
    }
}

/// Turns `TABULA_A__B=v` variables into `{a: {b: v}}`.
fn env_layer(env: impl IntoIterator<Item = (String, String)>) -> toml::Table {
    let mut table = toml::Table::new();
    for (key, value) in env {
        let Some(path) = key.strip_prefix("TABULA_") else {
            continue;
        };
        if path == "LOG" || path == "CONFIG" {
            continue;
        }
        let parts: Vec<String> = path.split("__").map(str::to_lowercase).collect();
        let scalar = format!("v = {value}")
            .parse::<toml::Table>()
            .ok()
            .and_then(|mut t| t.remove("v"))
            .filter(|v| !v.is_table() && !v.is_array())
            .unwrap_or(toml::Value::String(value));
        let mut cursor = &mut table;
        for (i, part) in parts.iter().enumerate() {
            if i + 1 == parts.len() {
                cursor.insert(part.clone(), scalar.clone());
            } else {
                let entry = cursor
                    .entry(part.clone())
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()));
                if !entry.is_table() {
                    *entry = toml::Value::Table(toml::Table::new());
                }
                match entry {
                    toml::Value::Table(t) => cursor = t,
                    _ => unreachable!("just made a table"),
                }
            }
        }
    }
    table
}

fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

#[cfg(test)]
mod tests;
