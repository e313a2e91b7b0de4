//! `tabula-idle`: what an idle room and an idle connection cost a Tabula server in memory.
//!
//! It reads the server's resident memory (/proc/PID/status) around two steps, after a warm-up
//! that pays the server's one-time allocations (modules built on first use, allocator arenas,
//! buffers), so that only the growth per room or per connection remains:
//! - idle rooms: N clients each say hello, create a turn-room game with the game's defaults,
//!   wait for the `room` reply and close their socket cleanly. The rooms stay open with their
//!   creator disconnected for the reconnect grace and the abandoned-room time (idle.sh makes the
//!   grace an hour), and so does the creator's session;
//! - idle connections: M clients say hello and stay connected doing nothing but answering pings.
//!
//! Each step's growth, read once the server's memory has settled, divided by N or M is the figure.
//! Closing the M connections again shows at most what the server keeps of a closed connection
//! (its session, kept for `resume`): an allocator rarely gives freed memory back to the system.
//! For the same reason the rooms are measured first: their clients connect only `--concurrency`
//! at a time, so the memory they free and the connections step reuses is small against M.
//!
//! Bounded: at most `--concurrency` clients connect at once, every client step has a time limit,
//! and the whole run stops after `--max-seconds`. The tool holds M sockets at once, and so does
//! the server: both need an open-files limit (`ulimit -n`) above M, which is checked up front.

use anyhow::{Context, anyhow, bail};
use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;
use tabula_loadgen::procfs::{self, Rss};
use tabula_loadgen::proto::{self, Incoming};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep, timeout};
use tokio_tungstenite::tungstenite::{self, Message, protocol::WebSocketConfig};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long one client step (connecting, a request, the close handshake) may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);
/// Interval between memory samples while waiting for the server to settle.
const SAMPLE_EVERY: Duration = Duration::from_millis(250);
/// The server's memory counts as settled once this many samples in a row each moved by at most
/// `SETTLED_KIB`.
const SETTLED_SAMPLES: u32 = 3;
/// See `SETTLED_SAMPLES`: small against the growth measured (megabytes), large against noise.
const SETTLED_KIB: u64 = 256;
/// Longest wait for the memory to settle; the reading is then taken anyway, and flagged.
const SETTLE_LIMIT: Duration = Duration::from_secs(15);
/// Files a process needs besides the measured sockets (stdio, runtime, listener, /proc reads).
const SPARE_FDS: u64 = 64;

/// Command line.
#[derive(Parser, Debug)]
#[command(about = "Memory per idle room and per idle connection of a Tabula server")]
struct Args {
    /// Server WebSocket URL.
    #[arg(long, default_value = "ws://127.0.0.1:8080/ws")]
    url: String,
    /// The server's process id, whose memory is read from /proc.
    #[arg(long)]
    server_pid: u32,
    /// Idle rooms to create (N).
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    rooms: u32,
    /// Idle connections to hold open at once (M).
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    connections: u32,
    /// Rooms created, and connections opened and closed, before the first reading.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(0..=100_000))]
    warmup: u32,
    /// Clients connecting at once.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=1024))]
    concurrency: u32,
    /// Pause after each step before the memory is sampled until it settles, ms.
    #[arg(long, default_value_t = 1000)]
    settle_ms: u64,
    /// Hard bound on the whole run, seconds.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    max_seconds: u64,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
}

/// One reading of the server's memory.
#[derive(Serialize, Debug, Clone, Copy)]
struct Reading {
    /// VmRSS and RssAnon, KiB.
    #[serde(flatten)]
    rss: Rss,
    /// Whether the memory had stopped moving when it was read.
    settled: bool,
}

/// The readings, in the order they were taken.
#[derive(Serialize, Debug)]
struct Readings {
    /// Before anything was sent.
    start: Reading,
    /// After the warm-up: the baseline of the rooms step.
    after_warmup: Reading,
    /// With the N idle rooms: the baseline of the connections step.
    after_rooms: Reading,
    /// With the M idle connections open.
    with_connections: Reading,
    /// After the M connections were closed again.
    after_connections_closed: Reading,
}

/// Everything the run reports.
#[derive(Serialize, Debug)]
struct Report {
    /// Idle rooms created (N).
    rooms: u32,
    /// Idle connections held (M).
    connections: u32,
    /// Rooms and connections of the warm-up.
    warmup: u32,
    /// VmRSS growth per idle room (its creator's session included), bytes.
    bytes_per_idle_room: f64,
    /// VmRSS growth per open idle connection, bytes.
    bytes_per_idle_connection: f64,
    /// VmRSS still held per connection once the M closed, bytes: their sessions (kept for
    /// `resume`) plus freed memory the allocator keeps for reuse; an upper bound.
    bytes_kept_per_closed_connection: f64,
    /// RssAnon growth per idle room, bytes.
    anon_bytes_per_idle_room: f64,
    /// RssAnon growth per open idle connection, bytes.
    anon_bytes_per_idle_connection: f64,
    /// The server's memory at each step.
    rss_kib: Readings,
    /// Closes (of all `2 × warmup + N + M`) the server ended without its close frame.
    closes_unanswered: u32,
    /// Wall time of the run.
    secs: f64,
}

impl Report {
    fn new(args: &Args, rss: Readings, secs: f64) -> Report {
        // Growth from `a` to `b` per unit, in bytes; negative when the server gave memory back.
        let per = |a: u64, b: u64, n: u32| (b as f64 - a as f64) * 1024.0 / f64::from(n);
        let (w, r, c, d) = (
            rss.after_warmup.rss,
            rss.after_rooms.rss,
            rss.with_connections.rss,
            rss.after_connections_closed.rss,
        );
        let (n, m) = (args.rooms, args.connections);
        Report {
            rooms: n,
            connections: m,
            warmup: args.warmup,
            bytes_per_idle_room: per(w.kib, r.kib, n),
            bytes_per_idle_connection: per(r.kib, c.kib, m),
            bytes_kept_per_closed_connection: per(r.kib, d.kib, m),
            anon_bytes_per_idle_room: per(w.anon_kib, r.anon_kib, n),
            anon_bytes_per_idle_connection: per(r.anon_kib, c.anon_kib, m),
            rss_kib: rss,
            closes_unanswered: 0,
            secs,
        }
    }

    /// A few lines for a terminal.
    fn text(&self) -> String {
        let mark = |r: &Reading| if r.settled { "" } else { " (still moving)" };
        let k = &self.rss_kib;
        format!(
            "idle rooms: {} -> {:.0} bytes per room ({:.0} anonymous)\n\
             idle connections: {} -> {:.0} bytes per connection ({:.0} anonymous); \
             {:.0} bytes per connection still held after closing\n\
             server VmRSS KiB: start {}, after warm-up {}{}, with rooms {}{}, \
             with connections {}{}, closed {}{}\n\
             warm-up {} rooms and connections; {} closes unanswered by the server; {:.1} s\n",
            self.rooms,
            self.bytes_per_idle_room,
            self.anon_bytes_per_idle_room,
            self.connections,
            self.bytes_per_idle_connection,
            self.anon_bytes_per_idle_connection,
            self.bytes_kept_per_closed_connection,
            k.start.rss.kib,
            k.after_warmup.rss.kib,
            mark(&k.after_warmup),
            k.after_rooms.rss.kib,
            mark(&k.after_rooms),
            k.with_connections.rss.kib,
            mark(&k.with_connections),
            k.after_connections_closed.rss.kib,
            mark(&k.after_connections_closed),
            self.warmup,
            self.closes_unanswered,
            self.secs,
        )
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let pid = args.server_pid.to_string();
    check_open_files(&args, &pid)?;
    let limit = Duration::from_secs(args.max_seconds);
    // Dropping the run on timeout aborts every client task (they live in JoinSets).
    let report = timeout(limit, measure(&args, &pid))
        .await
        .map_err(|_| anyhow!("not done after --max-seconds {}", args.max_seconds))??;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", report.text());
    }
    Ok(())
}

/// Fails early, with the fix, when this tool or the server could not hold M sockets.
fn check_open_files(args: &Args, server_pid: &str) -> anyhow::Result<()> {
    let needed = u64::from(args.connections.max(args.warmup)) + u64::from(args.concurrency);
    let needed = needed + SPARE_FDS;
    for (who, pid) in [("this tool", "self"), ("the server", server_pid)] {
        if let Some(limit) = procfs::open_files_limit(pid)?
            && limit < needed
        {
            bail!(
                "{who} may open {limit} files but needs about {needed}: \
                 run `ulimit -n {needed}` in the shell that starts it"
            );
        }
    }
    Ok(())
}

async fn measure(args: &Args, pid: &str) -> anyhow::Result<Report> {
    let began = Instant::now();
    let url: Arc<str> = args.url.as_str().into();
    let gate = Arc::new(Semaphore::new(args.concurrency as usize));
    let settle_after = Duration::from_millis(args.settle_ms);
    let start = settle(pid, Duration::ZERO).await?;

    // The warm-up never holds more than `concurrency` connections at once, as the rooms step
    // does: memory freed by closed connections stays with the server's allocator and is reused
    // by the next ones, so a larger warm-up peak would hide part of the idle connections' cost.
    let mut unanswered = create_rooms(&url, &gate, args.warmup, "warmup").await?;
    let mut warmed = 0;
    while warmed < args.warmup {
        let batch = args.concurrency.min(args.warmup - warmed);
        unanswered += IdleConnections::open(&url, &gate, batch, "warmup")
            .await?
            .close()
            .await?;
        warmed += batch;
    }
    let after_warmup = settle(pid, settle_after).await?;

    unanswered += create_rooms(&url, &gate, args.rooms, "room").await?;
    let after_rooms = settle(pid, settle_after).await?;

    let idle = IdleConnections::open(&url, &gate, args.connections, "idle").await?;
    let with_connections = settle(pid, settle_after).await?;
    unanswered += idle.close().await?;
    let after_connections_closed = settle(pid, settle_after).await?;

    let readings = Readings {
        start,
        after_warmup,
        after_rooms,
        with_connections,
        after_connections_closed,
    };
    let mut report = Report::new(args, readings, began.elapsed().as_secs_f64());
    report.closes_unanswered = unanswered;
    Ok(report)
}

/// Waits `pause`, then samples the server's memory until it stops moving (or `SETTLE_LIMIT`).
async fn settle(pid: &str, pause: Duration) -> anyhow::Result<Reading> {
    sleep(pause).await;
    let give_up = Instant::now() + SETTLE_LIMIT;
    let mut last = procfs::rss(pid)?;
    let mut steady = 0;
    while steady < SETTLED_SAMPLES {
        if Instant::now() >= give_up {
            return Ok(Reading {
                rss: last,
                settled: false,
            });
        }
        sleep(SAMPLE_EVERY).await;
        let now = procfs::rss(pid)?;
        steady = if now.kib.abs_diff(last.kib) <= SETTLED_KIB {
            steady + 1
        } else {
            0
        };
        last = now;
    }
    Ok(Reading {
        rss: last,
        settled: true,
    })
}

/// Creates `n` rooms, each by its own client that closes its socket once the room exists.
/// Returns how many of those closes the server did not answer.
async fn create_rooms(
    url: &Arc<str>,
    gate: &Arc<Semaphore>,
    n: u32,
    label: &str,
) -> anyhow::Result<u32> {
    let mut tasks = JoinSet::new();
    for i in 0..n {
        let (url, gate, name) = (url.clone(), gate.clone(), format!("{label}-room-{i}"));
        tasks.spawn(async move {
            let _permit = gate.acquire_owned().await?;
            let mut ws = connect(&url, &name).await?;
            request(&mut ws, proto::create_default_room(), "room", Some("c")).await?;
            close(ws).await
        });
    }
    let mut unanswered = 0;
    while let Some(joined) = tasks.join_next().await {
        let closed = joined
            .context("room client task")?
            .with_context(|| format!("creating {label} rooms"))?;
        unanswered += u32::from(closed == Closed::Unanswered);
    }
    Ok(unanswered)
}

/// Connections that said hello and now only answer pings, each held by its own task.
struct IdleConnections {
    stop: watch::Sender<bool>,
    tasks: JoinSet<anyhow::Result<Closed>>,
    label: String,
}

impl IdleConnections {
    /// Opens `n` connections; returns once every one has been welcomed.
    async fn open(
        url: &Arc<str>,
        gate: &Arc<Semaphore>,
        n: u32,
        label: &str,
    ) -> anyhow::Result<IdleConnections> {
        let (stop, stop_rx) = watch::channel(false);
        // Each task sends one note, so with this capacity no send waits.
        let (ready_tx, mut ready_rx) = mpsc::channel::<()>(n.max(1) as usize);
        let mut tasks = JoinSet::new();
        for i in 0..n {
            let (url, gate, name) = (url.clone(), gate.clone(), format!("{label}-conn-{i}"));
            let (ready, mut stop) = (ready_tx.clone(), stop_rx.clone());
            tasks.spawn(async move {
                let mut ws = {
                    let _permit = gate.acquire_owned().await?;
                    connect(&url, &name).await?
                };
                let _ = ready.send(()).await;
                drop(ready);
                loop {
                    // Reading is what lets tungstenite answer the server's pings.
                    tokio::select! {
                        _ = stop.wait_for(|s| *s) => break,
                        msg = ws.next() => match msg {
                            Some(Ok(_)) => {}
                            Some(Err(e)) => return Err(e).context("idle connection failed"),
                            None => bail!("the server closed an idle connection"),
                        },
                    }
                }
                close(ws).await
            });
        }
        drop(ready_tx);
        let mut ready = 0;
        while ready < n {
            tokio::select! {
                Some(()) = ready_rx.recv() => ready += 1,
                // Before `stop`, a task only ends by failing.
                Some(joined) = tasks.join_next() => {
                    joined.context("idle client task")??;
                    bail!("an idle connection ended before it was told to");
                }
                else => bail!("idle connections stopped before all were welcomed"),
            }
        }
        Ok(IdleConnections {
            stop,
            tasks,
            label: label.to_owned(),
        })
    }

    /// Closes every connection cleanly; returns how many closes the server did not answer.
    async fn close(mut self) -> anyhow::Result<u32> {
        self.stop.send_replace(true);
        let mut unanswered = 0;
        while let Some(joined) = self.tasks.join_next().await {
            let closed = joined
                .context("idle client task")?
                .with_context(|| format!("closing {} connections", self.label))?;
            unanswered += u32::from(closed == Closed::Unanswered);
        }
        Ok(unanswered)
    }
}

/// Connects and completes `hello`/`welcome`.
async fn connect(url: &str, name: &str) -> anyhow::Result<Ws> {
    // Small frames only: a 4 KiB read buffer instead of tungstenite's zero-filled 128 KiB.
    let config = WebSocketConfig::default().read_buffer_size(4096);
    let (mut ws, _) = timeout(
        STEP_TIMEOUT,
        tokio_tungstenite::connect_async_with_config(url, Some(config), true),
    )
    .await
    .with_context(|| format!("connecting to {url} timed out"))?
    .with_context(|| format!("connecting to {url}"))?;
    request(&mut ws, proto::hello(name), "welcome", None).await?;
    Ok(ws)
}

/// Sends `frame` and reads until the reply of type `kind` (with `request_id`, if given).
async fn request(
    ws: &mut Ws,
    frame: String,
    kind: &str,
    request_id: Option<&str>,
) -> anyhow::Result<()> {
    let exchange = async {
        ws.send(Message::text(frame)).await?;
        loop {
            let text = match ws.next().await {
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(Message::Close(frame))) => bail!("server closed: {frame:?}"),
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(e.into()),
                None => bail!("server closed the connection"),
            };
            let Ok(msg) = serde_json::from_str::<Incoming>(&text) else {
                bail!("unreadable frame: {text}");
            };
            if msg.kind == "error" && msg.request_id.as_deref() == request_id {
                bail!("{kind} refused: {:?}: {:?}", msg.code, msg.message);
            }
            if msg.kind == kind && (request_id.is_none() || msg.request_id.as_deref() == request_id)
            {
                return Ok(());
            }
        }
    };
    timeout(STEP_TIMEOUT, exchange)
        .await
        .with_context(|| format!("no {kind} within {STEP_TIMEOUT:?}"))?
}

/// How the server ended a connection the client closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Closed {
    /// It answered the close frame with its own, then ended the stream: the full handshake.
    Echoed,
    /// It ended the stream without answering the close frame.
    Unanswered,
}

/// Closes cleanly from this side: sends a close frame, then reads until the server ends the
/// connection, and says whether it answered with a close frame of its own (RFC 6455, 5.5.1).
async fn close(mut ws: Ws) -> anyhow::Result<Closed> {
    let handshake = async {
        ws.close(None).await?;
        let mut echoed = false;
        while let Some(msg) = ws.next().await {
            match msg {
                Ok(Message::Close(_)) => echoed = true,
                Ok(_) => {}
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                    break;
                }
                // tungstenite's name for a stream that ended before the server's close frame.
                Err(tungstenite::Error::Protocol(
                    tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
                )) => break,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(if echoed {
            Closed::Echoed
        } else {
            Closed::Unanswered
        })
    };
    timeout(STEP_TIMEOUT, handshake)
        .await
        .context("close handshake timed out")?
}
