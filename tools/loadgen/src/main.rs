//! `tabula-load`: the turn-room workload against a Tabula server (or `tabula-relay`, the baseline).
//!
//! R rooms × 4 WebSocket clients. Every room is created and filled first; then one signal starts
//! the play phase, in which each client moves as soon as an update awaits its seat (or
//! `--think-ms` after it), until every game has made its M moves. Only the play phase is measured: throughput, the mover's latency
//! (act sent -> its next update), and with `--server-pid` the server's CPU per move and peak RSS;
//! also the CPU that other processes took meanwhile, which on a shared machine says whether the
//! figures can be trusted.
//!
//! With `--hostile`, the soak benchmark: once the rooms are set up, a hostile mix (idle sockets,
//! non-readers, `list_rooms` at the rate limit, watch/leave toggles, binary floods; see
//! `hostile`) starts in this process and runs until the play phase ends; the report then says
//! what each hostile kind did and what the server answered.
//!
//! The workload itself lives in the library (`load`, `room`, `client`, `report`), shared with
//! other tools. This binary must stay free of the server's crates (no wasmtime): it is a client
//! like any other.

use anyhow::Context;
use clap::Parser;
use std::process::ExitCode;
use std::time::Duration;
use tabula_loadgen::hostile::{Mix, MixArgs};
use tabula_loadgen::load::{self, LoadParams};
use tabula_loadgen::report::Report;
use tokio::time::Instant;

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
    /// A client's pause between seeing its turn and moving, ms (the pause is not part of the
    /// move's latency). Paces the load: a room then makes at most 1000 / think-ms moves a second.
    #[arg(long, default_value_t = 0)]
    think_ms: u64,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
    /// Also write the report as one JSON object to this file (the text still goes to stdout).
    #[arg(long)]
    json_file: Option<std::path::PathBuf>,
    #[command(flatten)]
    mix: MixArgs,
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<ExitCode> {
    let args = Args::parse();
    let report = run(&args).await?;
    if let Some(path) = &args.json_file {
        std::fs::write(path, serde_json::to_string(&report)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
    }
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
    let params = LoadParams {
        url: args.url.as_str().into(),
        rooms: args.rooms,
        moves: args.moves,
        think: Duration::from_millis(args.think_ms),
        server_pid: args.server_pid,
        connect_concurrency: args.connect_concurrency,
        deadline: Instant::now() + Duration::from_secs(args.timeout_secs),
    };
    let set_up = load::set_up(&params).await?;
    let mix = match args.mix.hostile {
        true => Some(Mix::start(&args.mix, &params.url, set_up.rooms()).await?),
        false => None,
    };
    let mut report = set_up.play().await;
    if let Some(mix) = mix {
        report.hostile = Some(mix.stop().await);
    }
    Ok(report)
}
