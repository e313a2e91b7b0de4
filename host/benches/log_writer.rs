//! The event log's writer against the database alone, on SQLite (a temporary file) and on
//! PostgreSQL (a schema of its own on `DATABASE_URL`, when it is set):
//!
//! (a) baseline: a bare loop inserting the same entry rows, `max_batch` per transaction, one
//!     multi-row INSERT per transaction, as fast as it can;
//! (b) the writer: 200 rooms appending concurrently through the real `EventLog`, one entry at a
//!     time each, each keeping up to 16 entries ahead of `durable`; and the ratio writer /
//!     baseline;
//! (c) latency: the rooms append at half the writer's rate from (b), and each entry's time from
//!     `append` to `durable` is measured (p50, p99, max); on PostgreSQL it starts after a
//!     `CHECKPOINT`, and the server's own checkpoints during it are counted. Before it, the
//!     database's floor: the p50 and p99 of bare one-row transactions, one after another (an
//!     entry appended during a commit waits for its rest and for a commit of its own);
//! (d) recovery: `unfinished()` over 10,000 games, each with a snapshot and entries after it.
//!
//! Run: `cargo bench -p tabula --bench log_writer`. `BENCH_SECS` sets each phase's length
//! (default 4 s), `BENCH_RATE` (c)'s rate in rows/s (default: half of (b)'s); the whole run
//! takes about 35 s with PostgreSQL. The figures depend on the disk (SQLite's file is in
//! `TMPDIR`) and on what else the machine runs: the first line prints the load average.

#![allow(missing_docs)]

use sqlx::postgres::{PgConnection, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, QueryBuilder};
use std::collections::VecDeque;
use std::str::FromStr;
use std::time::{Duration, Instant};
use tabula::config::DatabaseConfig;
use tabula::ids::{PlayerId, RoomId};
use tabula::metrics::Metrics;
use tabula::store::{Ending, Entry, GameHeader, GameWriter, Input, ModuleKey, Storage};
use tabula_loadgen::procfs;

const ROOMS: usize = 200;
/// Entries a room in (b) keeps appended ahead of `durable` (a room goes on taking inputs while
/// its entries are written).
const WINDOW: u64 = 16;
const RECOVERY_GAMES: usize = 10_000;

fn header(room: &str) -> GameHeader {
    GameHeader {
        room: RoomId::from_wire(room),
        module: ModuleKey {
            name: "turn-room".into(),
            version: "1.0.0".into(),
            digest: "ab".repeat(32),
        },
        seed: 42,
        options: "{}".into(),
        seats: 2,
        creator: PlayerId::from_wire("p-bench"),
        private: false,
        turn_deadline_ms: None,
        created_at: 1_700_000_000_000,
    }
}

/// A typical entry: one seat's small action.
fn entry(seq: u64) -> Entry {
    Entry {
        seq,
        at: 1_700_000_000_000 + seq,
        input: Input::Act {
            seat: (seq % 2) as u32,
            action: r#"{"add":2}"#.into(),
            request_id: Some("req-0001".into()),
        },
        state_hash: Some(seq.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
    }
}

fn secs() -> Duration {
    let s = std::env::var("BENCH_SECS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(4.0);
    Duration::from_secs_f64(s)
}

/// Waits until `w` is durable up to `pos`.
async fn durable(w: &dyn GameWriter, pos: u64) {
    let d = w.durable();
    while d.get() < pos {
        d.moved().await;
    }
}

fn main() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|c| {
                c.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split(':').nth(1))
                    .map(|m| m.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".into());
        // The machine may be shared: its load says how far to trust the figures.
        let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        println!(
            "log_writer: {} cores ({cpu}), load {}, {:?} per phase, {ROOMS} rooms, max_batch {}",
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            load.split(' ').next().unwrap_or("?"),
            secs(),
            DatabaseConfig::default().max_batch
        );
        let dir = tempfile::tempdir()?;
        let url = format!("sqlite://{}/bench.db", dir.path().display());
        run("sqlite", &url).await?;
        match std::env::var("DATABASE_URL") {
            Ok(server) if !server.is_empty() => {
                let schema = format!("tabula_bench_{:016x}", tabula::ids::random_u64());
                let mut admin = PgConnection::connect(&server).await?;
                sqlx::query(&format!("CREATE SCHEMA {schema}"))
                    .execute(&mut admin)
                    .await?;
                let sep = if server.contains('?') { '&' } else { '?' };
                let url = format!("{server}{sep}options=-c%20search_path%3D{schema}");
                let result = run("postgres", &url).await;
                sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
                    .execute(&mut admin)
                    .await?;
                result?;
            }
            _ => println!("postgres: skipped (DATABASE_URL is not set)"),
        }
        Ok(())
    })
}

async fn run(name: &str, url: &str) -> anyhow::Result<()> {
    let cfg = DatabaseConfig::default();
    // Creates the schema for the baseline too.
    drop(Storage::open(url, &cfg, &Metrics::new()).await?);
    let base = baseline(url, cfg.max_batch).await?;
    println!(
        "{name}: (a) baseline      {base:>9.0} rows/s  ({} rows per transaction)",
        cfg.max_batch
    );
    let (rate, mean_batch) = writer_throughput(url, &cfg).await?;
    println!(
        "{name}: (b) writer        {rate:>9.0} rows/s  (mean {mean_batch:.0} entries per commit), writer/baseline = {:.2}",
        rate / base
    );
    let (floor50, floor99) = commit_floor(url).await?;
    println!(
        "{name}: (c) floor: one-row commits p50 {:.2} ms, p99 {:.2} ms",
        floor50.as_secs_f64() * 1e3,
        floor99.as_secs_f64() * 1e3
    );
    // PostgreSQL's own checkpoints (every `max_wal_size` of WAL, which (a) and (b) write
    // quickly) hold its commits for as long as they sync; one is made before (c), so that (c)
    // measures the writer rather than where the server's checkpoint falls, and those that fall
    // within (c) all the same are counted.
    let pg = if name == "postgres" {
        let mut conn = PgConnection::connect(url).await?;
        if let Err(e) = sqlx::query("CHECKPOINT").execute(&mut conn).await {
            println!("{name}: no checkpoint before (c): {e}");
        }
        let before = checkpoints(&mut conn).await;
        Some((conn, before))
    } else {
        None
    };
    let cpu_before = cpu_seconds();
    let wall = Instant::now();
    // `BENCH_RATE` fixes (c)'s rate, to compare builds whose writers' rates differ.
    let half = std::env::var("BENCH_RATE")
        .ok()
        .and_then(|r| r.parse::<f64>().ok())
        .unwrap_or(rate / 2.0);
    let l = latency(url, &cfg, half).await?;
    let cores = (cpu_seconds() - cpu_before) / wall.elapsed().as_secs_f64();
    if let Some((mut conn, Some(before))) = pg
        && let Some(after) = checkpoints(&mut conn).await
    {
        println!(
            "{name}: (c) the database's own checkpoints during (c): {}",
            after - before
        );
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{name}: (c) at {:.0} rows/s: append->durable p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms \
         ({} entries; mean {:.0} entries and {:.2} ms per commit)",
        half,
        ms(l.p50),
        ms(l.p99),
        ms(l.max),
        l.entries,
        l.mean_batch,
        l.mean_commit_ms,
    );
    println!(
        "{name}: (c) p99 / (floor p99 + floor p50) = {:.2}",
        l.p99.as_secs_f64() / (floor99 + floor50).as_secs_f64()
    );
    println!("{name}: (c) the benchmark's process used {cores:.2} cores meanwhile");
    if l.journal_moves > 0.0 {
        // (SQLite moves the journal in steps, each observed on its own.)
        let moves = if url.starts_with("sqlite:") {
            "steps of moves"
        } else {
            "moves"
        };
        println!(
            "{name}: (c) journal: {:.0} {moves}, {:.2} ms each on average",
            l.journal_moves, l.mean_move_ms
        );
    }
    let (read, entries) = recovery(url, &cfg).await?;
    println!(
        "{name}: (d) unfinished() of {RECOVERY_GAMES} games ({entries} entries after their snapshots): {:.0} ms",
        read.as_secs_f64() * 1e3
    );
    Ok(())
}

/// Checkpoints the PostgreSQL server has made so far (timed and requested), if it says.
async fn checkpoints(conn: &mut PgConnection) -> Option<i64> {
    sqlx::query_scalar("SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter")
        .fetch_one(conn)
        .await
        .ok()
}

/// CPU time this process has used so far (user and system), seconds.
fn cpu_seconds() -> f64 {
    static TICKS: std::sync::LazyLock<u64> = std::sync::LazyLock::new(procfs::clock_ticks);
    procfs::cpu_time("self", *TICKS).map_or(0.0, |t| t.total().as_secs_f64())
}

/// Runs `$body` with `$pool` a pool of one connection to `$url`, SQLite's with the store's
/// writer's settings but without its checkpointer (whose cost is the writer's).
macro_rules! with_bare_pool {
    ($url:expr, $pool:ident => $body:expr) => {
        if $url.starts_with("sqlite://") {
            let options = SqliteConnectOptions::from_str($url)?
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .pragma("wal_autocheckpoint", "32768");
            let $pool = SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(options)
                .await?;
            $body
        } else {
            let $pool = PgPoolOptions::new()
                .max_connections(1)
                .connect($url)
                .await?;
            $body
        }
    };
}

/// (a): rows/s of a bare loop of transactions of `batch` entry rows each. The rows come as the
/// writer's queue has them in (b): one entry of each room in turn.
async fn baseline(url: &str, batch: usize) -> anyhow::Result<f64> {
    let data = postcard::to_allocvec(&entry(1))?;
    let rooms: Vec<String> = (0..ROOMS).map(|r| format!("r-base-{r:04}")).collect();
    let mut next = vec![0i64; ROOMS];
    let mut turn = 0usize;
    // The (room, pos) of the next `batch` rows.
    let mut rows_of_batch = move || {
        let mut rows = Vec::with_capacity(batch);
        while rows.len() < batch {
            let room = turn % ROOMS;
            next[room] += 1;
            rows.push((room, next[room]));
            turn += 1;
        }
        rows
    };
    let deadline = Instant::now() + secs();
    let started = Instant::now();
    let mut written = 0u64;
    // The same loop on either pool.
    macro_rules! bare_loop {
        ($pool:expr) => {{
            let mut conn = $pool.acquire().await?;
            while Instant::now() < deadline {
                let rows = rows_of_batch();
                let mut tx = conn.begin().await?;
                let mut q = QueryBuilder::new("INSERT INTO entries (room, pos, seq, at, data) ");
                q.push_values(&rows, |mut row, (room, pos)| {
                    row.push_bind(rooms[*room].as_str())
                        .push_bind(*pos)
                        .push_bind(*pos)
                        .push_bind(1_700_000_000_000i64 + *pos)
                        .push_bind(data.as_slice());
                });
                q.build().execute(&mut *tx).await?;
                tx.commit().await?;
                written += rows.len() as u64;
            }
        }};
    }
    with_bare_pool!(url, pool => bare_loop!(pool));
    Ok(written as f64 / started.elapsed().as_secs_f64())
}

/// Resolves once everything queued is committed (an expiry goes through the same queue).
async fn flush(storage: &Storage) -> anyhow::Result<()> {
    storage.sessions.expire(0).await?;
    Ok(())
}

/// The count and the sum of a histogram of the metrics, so far (`name`: without the suffixes).
fn histogram(metrics: &Metrics, name: &str) -> (f64, f64) {
    let text = metrics.render();
    let value = |suffix: &str| {
        let prefix = format!("{name}_{suffix} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix)?.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (value("count"), value("sum"))
}

/// (b): rows/s through the writer with every room keeping `WINDOW` entries in flight; and the
/// mean entries per commit.
async fn writer_throughput(url: &str, cfg: &DatabaseConfig) -> anyhow::Result<(f64, f64)> {
    let metrics = Metrics::new();
    let storage = Storage::open(url, cfg, &metrics).await?;
    let deadline = Instant::now() + secs();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for r in 0..ROOMS {
        let mut w = storage.log.create(header(&format!("r-tput-{r:04}")))?;
        tasks.push(tokio::spawn(async move {
            let d = w.durable();
            let mut appended = 0u64;
            let e = entry(1);
            while Instant::now() < deadline {
                if appended - d.get() >= WINDOW || !w.accepting() {
                    d.moved().await;
                    continue;
                }
                appended = w.append(e.clone());
                // The other rooms append between two entries of this one, as rooms taking one
                // input at a time do.
                tokio::task::yield_now().await;
            }
            durable(&*w, appended).await;
            // Out of (d)'s way.
            w.end(Ending::Abandoned);
            appended
        }));
    }
    let mut rows = 0;
    for t in tasks {
        rows += t.await?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    flush(&storage).await?;
    let (count, sum) = histogram(&metrics, "tabula_store_commit_entries");
    Ok((rows as f64 / elapsed, sum / count.max(1.0)))
}

/// What (c) measured.
struct Latency {
    p50: Duration,
    p99: Duration,
    max: Duration,
    entries: usize,
    mean_batch: f64,
    mean_commit_ms: f64,
    /// SQLite: moves of the journal, and their mean time.
    journal_moves: f64,
    mean_move_ms: f64,
}

/// (c): append-to-durable latencies with the rooms together appending `rate` entries/s.
async fn latency(url: &str, cfg: &DatabaseConfig, rate: f64) -> anyhow::Result<Latency> {
    let metrics = Metrics::new();
    let storage = Storage::open(url, cfg, &metrics).await?;
    let every = Duration::from_secs_f64(ROOMS as f64 / rate);
    // The entries a room appends in the phase, with room to spare.
    let per_room = (secs().as_secs_f64() / every.as_secs_f64() * 1.25) as usize + 64;
    let deadline = Instant::now() + secs();
    let mut tasks = Vec::new();
    for r in 0..ROOMS {
        let mut w = storage.log.create(header(&format!("r-lat-{r:04}")))?;
        // Rooms start spread over one interval, so that they do not tick together.
        let offset = every.mul_f64(r as f64 / ROOMS as f64);
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(offset).await;
            // Open loop: a room takes inputs at its pace whether or not its earlier entries are
            // durable yet (its outputs wait, it does not), so each entry's latency is measured
            // from its append to the moment the room sees it durable.
            let mut ticks = tokio::time::interval(every);
            let d = w.durable();
            let mut in_flight: VecDeque<(u64, Instant)> = VecDeque::new();
            // Sized for the whole phase up front. Grown as they filled, the rooms' buffers
            // doubled together (they fill at one pace), and the copies held up the runtime
            // for 10-30 ms: the entries over 8 ms came in bursts at 1.6, 3.2 and 6.4 s into
            // the phase (SQLite, 2 vCPU Intel Xeon, three rounds: p99 2.8-3.1 ms, max 20-23 ms;
            // sized up front: p99 2.4-2.5 ms, max 6-9 ms).
            let mut seen = Vec::with_capacity(per_room);
            let e = entry(1);
            loop {
                let appending = Instant::now() < deadline;
                if !appending && in_flight.is_empty() {
                    break;
                }
                tokio::select! {
                    _ = ticks.tick(), if appending => {
                        let t0 = Instant::now();
                        let pos = w.append(e.clone());
                        in_flight.push_back((pos, t0));
                    }
                    _ = d.moved(), if !in_flight.is_empty() => {
                        let upto = d.get();
                        while let Some(&(pos, t0)) = in_flight.front() {
                            if pos > upto {
                                break;
                            }
                            seen.push(t0.elapsed());
                            in_flight.pop_front();
                        }
                    }
                }
            }
            w.end(Ending::Abandoned);
            seen
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await?);
    }
    flush(&storage).await?;
    let (count, sum) = histogram(&metrics, "tabula_store_commit_entries");
    let (_, seconds) = histogram(&metrics, "tabula_store_commit_seconds");
    let (moves, moving) = histogram(&metrics, "tabula_store_journal_fold_seconds");
    all.sort();
    anyhow::ensure!(!all.is_empty(), "no entry was measured");
    let at = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)];
    Ok(Latency {
        p50: at(0.5),
        p99: at(0.99),
        max: at(1.0),
        entries: all.len(),
        mean_batch: sum / count.max(1.0),
        mean_commit_ms: seconds / count.max(1.0) * 1e3,
        journal_moves: moves,
        mean_move_ms: moving / moves.max(1.0) * 1e3,
    })
}

/// The database's own floor under (c): transactions of one entry row each, one after another
/// on one connection, each timed from its `BEGIN` to the end of its `COMMIT`; their p50 and
/// p99. An entry appended while a commit is in flight waits for the rest of that commit and
/// then for one of its own, so (c)'s p99 cannot be far below this p99 plus this p50.
async fn commit_floor(url: &str) -> anyhow::Result<(Duration, Duration)> {
    let data = postcard::to_allocvec(&entry(1))?;
    let deadline = Instant::now() + secs() / 2;
    let mut took = Vec::new();
    macro_rules! one_row_commits {
        ($pool:expr) => {{
            let mut conn = $pool.acquire().await?;
            let mut pos = 0i64;
            while Instant::now() < deadline {
                pos += 1;
                let t0 = Instant::now();
                let mut tx = conn.begin().await?;
                sqlx::query(
                    "INSERT INTO entries (room, pos, seq, at, data) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind("r-floor")
                .bind(pos)
                .bind(pos)
                .bind(1_700_000_000_000i64 + pos)
                .bind(data.as_slice())
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                took.push(t0.elapsed());
            }
        }};
    }
    with_bare_pool!(url, pool => one_row_commits!(pool));
    took.sort();
    anyhow::ensure!(!took.is_empty(), "no commit was measured");
    let at = |q: f64| took[((took.len() as f64 * q) as usize).min(took.len() - 1)];
    Ok((at(0.5), at(0.99)))
}

/// (d): how long `unfinished()` takes over `RECOVERY_GAMES` games of 30 entries each, with a
/// snapshot after the 10th; and how many entries it returned.
async fn recovery(url: &str, cfg: &DatabaseConfig) -> anyhow::Result<(Duration, usize)> {
    let storage = Storage::open(url, cfg, &Metrics::new()).await?;
    let mut writers = Vec::with_capacity(RECOVERY_GAMES);
    let state = vec![7u8; 512];
    for g in 0..RECOVERY_GAMES {
        let mut w = storage.log.create(header(&format!("r-rec-{g:05}")))?;
        for seq in 1..=30 {
            while !w.accepting() {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            w.append(entry(seq));
            if seq == 10 {
                w.snapshot(seq, state.clone());
            }
        }
        writers.push(w);
    }
    for w in &writers {
        durable(&**w, 30).await;
    }
    let started = Instant::now();
    let logs = storage.log.unfinished().await?;
    let read = started.elapsed();
    let entries = logs.iter().map(|l| l.entries.len()).sum();
    anyhow::ensure!(logs.len() >= RECOVERY_GAMES, "only {} games", logs.len());
    Ok((read, entries))
}
