//! `tabula serve`: the game server.

use crate::config::{Config, FlagOverrides};
use anyhow::Context;
use clap::Args;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Flags of `tabula serve` (the last configuration layer).
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address for HTTP and WebSocket [default: 127.0.0.1:8080].
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Also load every `*.wasm` rules module in this directory.
    #[arg(long)]
    modules: Option<PathBuf>,
    /// A TOML configuration file (also `TABULA_CONFIG`).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Let clients choose a game's seed.
    #[arg(long)]
    allow_client_seed: bool,
    /// Development mode: a module pushed under an installed name and version becomes a new
    /// revision instead of being refused (also TABULA_DEV=true).
    #[arg(long)]
    dev: bool,
    /// Where games and sessions are stored: `sqlite://PATH`, `postgres://...` or `memory:`
    /// [default: sqlite://DATA_DIR/tabula.db; also TABULA_DATABASE__URL].
    #[arg(long)]
    database_url: Option<String>,
}

/// Runs the server until Ctrl-C or SIGTERM.
pub fn run(args: ServeArgs, data_dir: Option<&Path>) -> anyhow::Result<ExitCode> {
    let file = args
        .config
        .clone()
        .or_else(|| std::env::var_os("TABULA_CONFIG").map(PathBuf::from));
    let flags = FlagOverrides {
        listen: args.listen,
        data_dir: data_dir.map(Path::to_path_buf),
        modules_dir: args.modules,
        allow_client_seed: args.allow_client_seed,
        dev: args.dev,
        database_url: args.database_url,
    };
    let config = Config::load(file.as_deref(), std::env::vars(), &flags)?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let server = crate::server::start(config).await?;
        println!(
            "tabula is serving on http://{} (WebSocket at /ws)",
            server.addr
        );
        if let Some(admin) = server.admin_addr {
            println!("health and metrics on http://{admin}");
        }
        let stop = server.shutdown.clone();
        tokio::spawn(async move {
            shutdown_signal().await;
            tracing::info!("shutting down");
            stop.cancel();
        });
        server.wait().await
    })?;
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
