//! The SQL implementations of the storage ports, on SQLite (the default: a file beside the
//! server) or PostgreSQL (for operators), chosen by the URL given to [`open`].
//!
//! Owns: the connection pools, the schema (migrations embedded from `host/migrations/`, run at
//! open), the one writer task of each database ([`writer`]) and the queue that feeds it
//! ([`queue`]), and the translation between the ports' records and rows. Must not touch: rooms,
//! live sessions, wasm — it keeps what it is handed.
//!
//! One code path serves both databases: [`Db`] holds either pool and [`each_db!`] expands the
//! same query code once per database. sqlx's connection, row and argument types differ by
//! database; the SQL used here does not (`$1` placeholders, `ON CONFLICT`, `RETURNING`, partial
//! indexes are common to both). `sqlx::AnyPool` would do the same at run time, but converts
//! every value through its own types, needs its drivers installed globally and still needs a
//! migration directory per database; the macro costs a second copy of the code in the binary
//! and nothing at run time.
//!
//! Writes all go through the writer task, one transaction per batch (group commit); reads go
//! through a separate pool, so a read never waits behind a commit and a commit never waits for a
//! free connection.

/// Runs `$body` with `$conn` bound to the payload of whichever database `$value` (an enum with
/// variants `Sqlite` and `Postgres`, such as [`Db`]) holds: the same query code, compiled once
/// per database.
macro_rules! each_db {
    ($value:expr, $enum:ident, $conn:ident => $body:expr) => {
        match $value {
            $enum::Sqlite($conn) => $body,
            $enum::Postgres($conn) => $body,
        }
    };
}

mod archive;
mod batch;
mod journal;
mod lite;
mod log;
mod pg;
mod queue;
mod read;
mod rows;
mod sessions;
mod writer;

#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;

use super::{Storage, StoreError};
use crate::config::{DatabaseConfig, SyncMode};
use crate::metrics::Metrics;
use queue::{Inlet, Queue};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// How long an SQLite connection waits for another's write lock (another process, or a read
/// checkpoint) before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a read waits for a pooled connection (or the writer for its own, when the database
/// is down) before failing.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// A pool of connections to one of the two databases.
#[derive(Clone, Debug)]
pub(crate) enum Db {
    /// An SQLite file.
    Sqlite(SqlitePool),
    /// A PostgreSQL server.
    Postgres(PgPool),
}

impl Db {
    fn is_postgres(&self) -> bool {
        matches!(self, Db::Postgres(_))
    }
}

/// Opens the database at `url` (`sqlite://PATH` or `postgres://...`), brings its schema up to
/// date and starts its writer task. Must be called within a tokio runtime; the writer task ends
/// after every port it returned has been dropped and what was queued has been written.
pub(super) async fn open(
    url: &str,
    cfg: &DatabaseConfig,
    metrics: &Metrics,
) -> Result<Storage, StoreError> {
    let (target, reads) = if url.starts_with("sqlite:") {
        let (target, reads) = sqlite(url, cfg).await?;
        (writer::Target::Sqlite(target), reads)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        postgres(url, cfg).await?
    } else {
        return Err(StoreError::BadUrl {
            url: redacted(url),
            reason: "expected sqlite://PATH, postgres://USER@HOST/DB or memory:".into(),
        });
    };
    migrate(&reads).await?;
    // What a killed server left in the journal goes where recovery reads it first; and the
    // writer's connection is known to open before anything is queued for it.
    let moving = |e: String| StoreError::Database(format!("moving the journal: {e}"));
    match &target {
        writer::Target::Sqlite(target) => {
            let target = target.clone();
            tokio::task::spawn_blocking(move || target.open_writing().and_then(|mut w| w.fold()))
                .await
                .map_err(|e| moving(e.to_string()))?
                .map_err(|e| moving(e.to_string()))?;
        }
        writer::Target::Postgres(pool) => {
            let mut conn = pool.acquire().await.map_err(db_error)?;
            pg::fold(&mut conn, None)
                .await
                .map_err(|e| moving(e.to_string()))?;
        }
    }
    let queue = Arc::new(Queue::new(cfg.max_backlog, metrics.store.clone()));
    if let Db::Sqlite(pool) = &reads {
        tokio::spawn(checkpoints(pool.clone(), queue.clone()));
    }
    let writer = writer::Writer::new(writer::WriterParams {
        queue: queue.clone(),
        target,
        max_batch: cfg.max_batch.max(1),
        linger: Duration::from_micros(cfg.commit_delay_us),
        metrics: metrics.store.clone(),
    });
    tokio::spawn(writer.run());
    let inlet = Arc::new(Inlet::new(queue));
    Ok(Storage {
        log: Arc::new(log::SqlLog::new(inlet.clone(), reads.clone())),
        sessions: Arc::new(sessions::SqlSessions::new(inlet.clone(), reads.clone())),
        modules: Arc::new(sessions::SqlModules::new(inlet.clone(), reads.clone())),
        archive: Arc::new(archive::SqlArchive::new(inlet, reads)),
    })
}

/// One server's hold on an SQLite file, for as long as it is kept: a second server on the same
/// file would write positions the first has written, which SQLite's journal does not refuse (see
/// [`lite`]). An exclusive lock on a file beside the database (`PATH.lock`), which the operating
/// system releases when the process ends however it ends. Tools that only read (`tabula
/// inspect`, `tabula replay`) take none.
#[derive(Debug)]
pub struct SqliteClaim {
    _file: std::fs::File,
}

/// Claims the SQLite file that `url` names for this process; `None` for other URLs. Fails when
/// another server holds it.
pub(super) fn claim(url: &str) -> Result<Option<SqliteClaim>, StoreError> {
    let Some(path) = sqlite_path(url).filter(|p| !p.is_empty()) else {
        return Ok(None);
    };
    let lock = format!("{path}.lock");
    create_parent(&lock)?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock)
        .map_err(|e| StoreError::Database(format!("cannot open {lock}: {e}")))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(SqliteClaim { _file: file })),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Database(format!(
            "{path} is in use by another Tabula server (it holds {lock}); one server per \
             SQLite file"
        ))),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(StoreError::Database(format!("cannot lock {lock}: {e}")))
        }
    }
}

/// The file path of an `sqlite://PATH[?OPTIONS]` URL; `None` for other URLs.
fn sqlite_path(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("sqlite://")?;
    Some(rest.split('?').next().unwrap_or_default())
}

/// Creates the directories above `file`, if any are missing.
fn create_parent(file: &str) -> Result<(), StoreError> {
    match std::path::Path::new(file).parent() {
        Some(dir) if !dir.as_os_str().is_empty() => std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::Database(format!(
                "cannot create the directory {}: {e}",
                dir.display()
            ))
        }),
        _ => Ok(()),
    }
}

/// Where the writer writes an SQLite file (it opens its connection itself, see [`lite`]), and
/// the readers' pool.
async fn sqlite(url: &str, cfg: &DatabaseConfig) -> Result<(lite::LiteTarget, Db), StoreError> {
    let bad = |reason: &str| StoreError::BadUrl {
        url: url.into(),
        reason: reason.into(),
    };
    let Some(path) = sqlite_path(url) else {
        return Err(bad("expected sqlite://PATH"));
    };
    if path.is_empty() {
        return Err(bad("no file path after sqlite://"));
    }
    if path == ":memory:" || url.contains("mode=memory") {
        // Each pooled connection would get a database of its own.
        return Err(bad(
            "an in-memory SQLite database is not shared between connections; use memory:",
        ));
    }
    create_parent(path)?;
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|e| bad(&e.to_string()))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(match cfg.sync {
            SyncMode::Normal => SqliteSynchronous::Normal,
            SyncMode::Full => SqliteSynchronous::Full,
        })
        .busy_timeout(BUSY_TIMEOUT);
    let connect_error = |e: sqlx::Error| StoreError::Database(format!("cannot open {path}: {e}"));
    // One connection writes: SQLite has one writer at a time anyway, and with one connection
    // the server never waits on its own lock. Checkpoints (copying the WAL back into the
    // database file, with an fsync) are made by `checkpoints` on a reader's connection, beside
    // the writer rather than inside its commits, where they held up every room whose entries
    // were in the commit that ran one.
    let target = lite::LiteTarget {
        path: path.into(),
        sync: cfg.sync,
        busy_timeout: BUSY_TIMEOUT,
    };
    let reads = SqlitePoolOptions::new()
        .max_connections(cfg.max_connections.max(1))
        .acquire_timeout(ACQUIRE_TIMEOUT)
        // Rows come from each connection's own thread through a buffer; sqlx's 50 made
        // recovery's 200,000 rows cost a thread hand-off every 50.
        .connect_with(options.row_buffer_size(4096))
        .await
        .map_err(connect_error)?;
    Ok((target, Db::Sqlite(reads)))
}

/// How long the checkpointer lets commits accumulate before a checkpoint, while the WAL is
/// short.
const CHECKPOINT_PAUSE: Duration = Duration::from_millis(50);
/// A WAL this long (in pages) is not being restarted: commits come too often for a checkpoint
/// to find it all copied. The checkpointer then goes on without pausing, so that when the
/// writer's own checkpoint comes due (see `lite`), little is left for it to copy and sync.
const CHECKPOINT_BUSY: i64 = 2_000;

/// SQLite's checkpointer: after commits, copies the WAL back into the database file from a
/// reader's connection (PASSIVE: it neither waits for nor blocks the writer and the readers).
/// Ends with the writer.
async fn checkpoints(pool: SqlitePool, queue: Arc<Queue>) {
    let mut wal_pages = 0;
    loop {
        queue.committed().await;
        if queue.is_closed() {
            break;
        }
        if wal_pages < CHECKPOINT_BUSY {
            tokio::time::sleep(CHECKPOINT_PAUSE).await;
        }
        // (busy, pages in the WAL, pages copied)
        match sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&pool)
            .await
        {
            Ok((_, pages, _)) => wal_pages = pages,
            Err(e) => tracing::debug!("checkpoint: {e}"),
        }
    }
}

/// The writer's pool (two connections: its commits', and its moves' of the journal) and the
/// readers' pool (the rest of `max_connections`) of a PostgreSQL database.
async fn postgres(url: &str, cfg: &DatabaseConfig) -> Result<(writer::Target, Db), StoreError> {
    let options = PgConnectOptions::from_str(url).map_err(|e| StoreError::BadUrl {
        url: redacted(url),
        reason: e.to_string(),
    })?;
    let connect_error =
        |e: sqlx::Error| StoreError::Database(format!("cannot connect to {}: {e}", redacted(url)));
    // The writer takes its connection and keeps it until a failure, when it drops it and takes
    // a fresh one: testing it again on each take would cost a round trip for nothing. The
    // second moves the journal beside the commits.
    let writes = PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .test_before_acquire(false)
        .connect_with(options.clone())
        .await
        .map_err(connect_error)?;
    let reads = PgPoolOptions::new()
        .max_connections(cfg.max_connections.saturating_sub(2).max(1))
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(options)
        .await
        .map_err(connect_error)?;
    Ok((writer::Target::Postgres(writes), Db::Postgres(reads)))
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Brings the schema up to date (the migrations already applied are skipped).
async fn migrate(db: &Db) -> Result<(), StoreError> {
    match db {
        Db::Sqlite(pool) => SQLITE_MIGRATIONS.run(pool).await,
        Db::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await,
    }
    .map_err(|e| StoreError::Database(format!("migrations: {e}")))
}

/// `url` without its password, for messages and logs.
fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.into();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.into(),
        },
        None => url.into(),
    }
}

/// A u64 as the i64 with the same bits (how the schema stores them): every value round-trips.
fn int(v: u64) -> i64 {
    v as i64
}

/// The u64 [`int`] stored.
fn uint(v: i64) -> u64 {
    v as u64
}

use super::now_ms;

/// The SHA-256 (hex) of a session token: what the sessions table keys on.
fn token_hash(token: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

fn db_error(e: sqlx::Error) -> StoreError {
    StoreError::Database(e.to_string())
}
