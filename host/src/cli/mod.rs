//! The `tabula` command line. Parses arguments with clap and calls into the library; prints
//! results for people (and JSON with `--json`).

mod replay_cmd;
mod rules_cmd;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Tabula: a multiplayer game host whose rules are sandboxed WebAssembly components.
#[derive(Parser, Debug)]
#[command(name = "tabula", version, about)]
pub struct Cli {
    /// Where Tabula keeps its data (precompiled modules, databases).
    #[arg(
        long,
        global = true,
        env = "TABULA_DATA_DIR",
        default_value = ".tabula"
    )]
    pub data_dir: PathBuf,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Inspect and check rules modules.
    #[command(subcommand)]
    Rules(rules_cmd::RulesCommand),
    /// Replay a recorded game (see docs/replay.md) and print every step as a JSON line.
    Replay {
        /// The record file.
        file: PathBuf,
        /// The module to replay with (a file or bundled name); default: the record's module.
        #[arg(long)]
        module: Option<String>,
    },
}

/// Runs the command line; the exit code is non-zero on any failure or violation.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TABULA_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let outcome = match cli.command {
        Command::Rules(cmd) => rules_cmd::run(cmd, &cli.data_dir),
        Command::Replay { file, module } => {
            replay_cmd::run(&file, module.as_deref(), &cli.data_dir)
        }
    };
    match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
