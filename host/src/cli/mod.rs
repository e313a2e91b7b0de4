//! The `tabula` command line. Parses arguments with clap and calls into the library; prints
//! results for people (and JSON with `--json`).

mod inspect_cmd;
mod modules_cmd;
mod new_cmd;
mod replay_cmd;
mod rules_cmd;
mod script_cmd;
mod serve_cmd;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Tabula: a multiplayer game host whose rules are sandboxed WebAssembly components.
#[derive(Parser, Debug)]
#[command(name = "tabula", version, about)]
pub struct Cli {
    /// Where Tabula keeps its data (precompiled modules, databases) [default: .tabula; also
    /// TABULA_DATA_DIR].
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve HTTP and WebSocket games (the main command).
    Serve(serve_cmd::ServeArgs),
    /// Inspect and check rules modules.
    #[command(subcommand)]
    Rules(rules_cmd::RulesCommand),
    /// Replay a recorded game, or run a scripted one (see docs/replay.md), and print every step
    /// as a JSON line.
    Replay {
        /// The record or script file (`-`: standard input).
        file: PathBuf,
        /// Fire every timer that is due before each action and at the end, as the server does
        /// (always on for scripts; with it a record is run as a script).
        #[arg(long)]
        fire_due_timers: bool,
        /// The module to replay with (a file or bundled name); default: the record's module,
        /// found by its digest.
        #[arg(long)]
        module: Option<String>,
        /// A server's database, to read the record's exact module from.
        #[arg(long)]
        database_url: Option<String>,
    },
    /// Create a ready crate for a new rules module (a minimal game, tests, a script).
    New {
        /// The game's name (and its crate's).
        name: String,
        /// Where to create it (default: a folder named after the game).
        #[arg(long)]
        path: Option<PathBuf>,
        /// The tabula-sdk folder to depend on (default: the one this binary was built from).
        #[arg(long)]
        sdk: Option<PathBuf>,
    },
    /// Rebuild a game from a server's database at any step and print it (JSON).
    Inspect(inspect_cmd::InspectArgs),
    /// Game versions on a running server (admin API): list, push, activate, rollout status.
    Modules {
        /// The server and the admin token.
        #[command(flatten)]
        server: modules_cmd::ServerArgs,
        /// What to do.
        #[command(subcommand)]
        command: modules_cmd::ModulesCommand,
    },
}

/// Runs the command line; the exit code is non-zero on any failure or violation.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TABULA_LOG").unwrap_or_else(|_| {
                let default = match cli.command {
                    Command::Serve(_) => "info",
                    _ => "warn",
                };
                tracing_subscriber::EnvFilter::new(default)
            }),
        )
        .with_writer(std::io::stderr)
        .init();
    let data_dir = cli
        .data_dir
        .clone()
        .or_else(|| std::env::var_os("TABULA_DATA_DIR").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(".tabula"));
    let outcome = match cli.command {
        Command::Serve(args) => serve_cmd::run(args, cli.data_dir.as_deref()),
        Command::Rules(cmd) => rules_cmd::run(cmd, &data_dir),
        Command::Replay {
            file,
            fire_due_timers,
            module,
            database_url,
        } => replay_cmd::run(
            &file,
            fire_due_timers,
            &replay_cmd::ModuleSource {
                spec: module.as_deref(),
                database_url: database_url.as_deref(),
            },
            &data_dir,
        ),
        Command::New { name, path, sdk } => new_cmd::run(&name, path.as_deref(), sdk.as_deref()),
        Command::Inspect(args) => inspect_cmd::run(args, &data_dir),
        Command::Modules { server, command } => modules_cmd::run(command, &server),
    };
    match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
