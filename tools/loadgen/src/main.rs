//! `tabula-load`: the turn-room workload against a Tabula server (or `tabula-relay`, the baseline).
//!
//! R rooms × 4 WebSocket clients. Every room is created and filled first; then one signal starts
//! the play phase, in which each client moves as soon as an update awaits its seat, until every
//! game has made its M moves. Only the play phase is measured: throughput, the mover's latency
//! (act sent -> its next update), and with `--server-pid` the server's CPU per move and peak RSS;
//! also the CPU that other processes took meanwhile, which on a shared machine says whether the
//! figures can be trusted.
//!
//! Layout: `client` (one socket), `room` (four clients and their supervisor), `report` (figures);
//! from the library, shared with `tabula-idle`: `proto` (frames) and `procfs` (CPU and memory of
//! a process). This binary must stay free of the server's crates (no wasmtime): it is a client
//! like any other.

mod client;
mod report;
mod room;

use clap::Parser;
use client::Phase;
use report::{Report, RunFacts};
use room::{RoomEvent, RoomOutcome, RoomParams};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tabula_loadgen::{procfs, proto};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, timeout, timeout_at};

/// After the play phase (or the deadline), how long rooms get to hand in their figures.
const GRACE: Duration = Duration::from_secs(2);

/// Command line.
#[derive(Parser, Debug)]
#[command(about = "Turn-room load generator for Tabula servers")]
struct Args {
    /// Server WebSocket URL.
    #[arg(
        long,
        env = "TABULA_LOAD_URL",
        default_value = "ws://127.0.0.1:8080/ws"
    )]
    url: String,
    /// Rooms (each with 4 clients).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    rooms: u32,
    /// Moves per game.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    moves: u32,
    /// The server's process id, to sample its CPU time and peak RSS from /proc.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Connection handshakes (connect + hello) in flight at once.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    connect_concurrency: u32,
    /// Hard bound on the whole run; unfinished rooms count as failed.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    timeout_secs: u64,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<ExitCode> {
    let args = Args::parse();
    let report = run(&args).await?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", report.text());
    }
    let clean = report.rooms_failed == 0 && report.errors == 0 && !report.timed_out;
    Ok(if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn run(args: &Args) -> anyhow::Result<Report> {
    let deadline = Instant::now() + Duration::from_secs(args.timeout_secs);
    let ticks = procfs::clock_ticks();
    let server = args.server_pid.map(|p| p.to_string());
    if let Some(pid) = &server {
        // A wrong pid should fail now, not after the run.
        procfs::cpu_time(pid, ticks)?;
    }
    let cpu = |pid: &str| procfs::cpu_time(pid, ticks).ok();
    let rooms = args.rooms as usize;

    let (phase_tx, phase_rx) = watch::channel(Phase::Setup);
    // Each room sends at most two events, so sends never wait.
    let (events_tx, mut events) = mpsc::channel(2 * rooms);
    let params = RoomParams {
        url: args.url.as_str().into(),
        moves: args.moves,
        gate: Arc::new(Semaphore::new(args.connect_concurrency as usize)),
        phase: phase_rx,
        events: events_tx,
    };
    let setup_start = Instant::now();
    let mut tasks = JoinSet::new();
    for index in 0..rooms {
        tasks.spawn(room::run(index, params.clone()));
    }
    drop(params);

    // Setup: every room either reports Ready or has already ended (failed).
    let (mut settled, mut ended, mut last_finish) = (0, 0, None);
    let mut timed_out = false;
    while settled < rooms {
        match timeout_at(deadline, events.recv()).await {
            Ok(Some(RoomEvent::Ready)) => settled += 1,
            Ok(Some(RoomEvent::Ended { finished_at })) => {
                (settled, ended) = (settled + 1, ended + 1);
                last_finish = last_finish.max(finished_at);
            }
            Ok(None) => break,
            Err(_) => timed_out = true,
        }
        if timed_out {
            break;
        }
    }
    let setup = setup_start.elapsed();

    // Play: from the go signal until the last room has ended.
    let server_cpu0 = server.as_deref().and_then(cpu);
    let loadgen_cpu0 = cpu("self");
    let machine_cpu0 = procfs::machine_busy(ticks).ok();
    let start = Instant::now();
    phase_tx.send_replace(if timed_out { Phase::Stop } else { Phase::Play });
    while !timed_out && ended < rooms {
        match timeout_at(deadline, events.recv()).await {
            Ok(Some(RoomEvent::Ended { finished_at })) => {
                ended += 1;
                last_finish = last_finish.max(finished_at);
            }
            Ok(Some(RoomEvent::Ready)) => {}
            Ok(None) => break,
            Err(_) => timed_out = true,
        }
    }
    let now = Instant::now();
    let server_cpu1 = server.as_deref().and_then(cpu);
    let loadgen_cpu1 = cpu("self");
    let machine_cpu1 = procfs::machine_busy(ticks).ok();
    // The play phase ends with the last game's final update, not with the sockets' closing.
    let end = match last_finish {
        Some(t) if !timed_out => Instant::from_std(t).max(start),
        _ => now,
    };

    phase_tx.send_replace(Phase::Stop);
    let mut outcomes: Vec<RoomOutcome> = Vec::with_capacity(rooms);
    let _ = timeout(GRACE, async {
        while let Some(joined) = tasks.join_next().await {
            outcomes.push(joined.unwrap_or_else(|e| RoomOutcome {
                failure: Some(format!("room task: {e}")),
                ..RoomOutcome::default()
            }));
        }
    })
    .await;

    let span = |a: Option<procfs::CpuTime>, b: Option<procfs::CpuTime>| Some(b?.since(a?));
    Ok(Report::build(
        outcomes,
        RunFacts {
            rooms,
            moves: args.moves,
            setup,
            play: end.saturating_duration_since(start),
            server_cpu: span(server_cpu0, server_cpu1),
            server_peak_rss_kib: server.as_deref().and_then(|p| procfs::peak_rss_kib(p).ok()),
            loadgen_cpu: span(loadgen_cpu0, loadgen_cpu1),
            machine_cpu: machine_cpu0
                .zip(machine_cpu1)
                .map(|(a, b)| b.saturating_sub(a)),
            sampled: now.saturating_duration_since(start),
            timed_out,
        },
    ))
}
