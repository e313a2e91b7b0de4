//! Recovery at start: how long a server takes to rebuild N unfinished Liap Tui games (bots only,
//! stopped mid-game) from its database, for several snapshot intervals. The goal: 10,000 games
//! rebuilt within 2 s of start.
//!
//! For each interval: a server on a fresh database creates N rooms (a creator who leaves at once
//! and three bots), lets the bots play for a while, and stops (rooms stop as at a crash: their
//! games do not end); then a second server opens the same database, and the time from its start
//! to the end of recovery is measured (reading the games, compiling nothing — the module cache is
//! warm — and replaying each game's entries after its snapshot).
//!
//! usage: cargo bench -p tabula --bench recovery -- [GAMES] [PLAY_SECONDS] [INTERVALS]
//!        (defaults: 10000 4 16,64,256); with DATABASE_URL set, PostgreSQL too.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tabula::config::Config;
use tabula::ids::PlayerId;
use tabula::room::{CreateRoom, Creator, Outbox, RoomCmd};

fn config(data: &std::path::Path, url: &str, snapshot_every: u64) -> Config {
    let mut c = Config {
        listen: "127.0.0.1:0".parse().expect("address"),
        data_dir: data.to_path_buf(),
        ..Config::default()
    };
    c.database.url = Some(url.to_owned());
    c.database.snapshot_every = snapshot_every;
    // Bots pace the filling: about 20,000 moves a second in all, whatever the number of games.
    c.room.bot_think_ms = 0;
    c.room.max_rooms = 1_000_000;
    c.room.max_open_rooms_per_player = 1_000_000;
    c.room.max_open_rooms_per_address = 1_000_000;
    c
}

/// Fills a database with `games` games stopped mid-play.
async fn fill(mut c: Config, games: usize, play: Duration) -> anyhow::Result<()> {
    c.room.bot_think_ms = (games as u64 / 20).max(1);
    let server = tabula::server::start(c).await?;
    let registry = server.state.registry.clone();
    // Created 200 at a time: each creation waits for its first entries to be durable.
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..games {
        if tasks.len() >= 200 {
            tasks.join_next().await.expect("a task")??;
        }
        let registry = registry.clone();
        tasks.spawn(async move {
            let player = PlayerId::from_wire(&format!("p-bench{n}"));
            let (outbox, rx) = Outbox::new(n as u64, 16, Default::default());
            // Nobody reads: the creator leaves at once, and a full outbox only drops frames.
            drop(rx);
            let req = CreateRoom {
                game: "liap-tui".into(),
                bots: 3,
                options: Some(serde_json::json!({"pace": "instant"})),
                ..CreateRoom::default()
            };
            let creator = Creator {
                player: player.clone(),
                name: "bench".into(),
                addr: std::net::IpAddr::from([127, 0, 0, 1]),
                outbox,
                request_id: None,
            };
            let id = registry.create(req, creator).await?;
            let room = registry.get(id.as_str())?;
            room.ask(|reply| RoomCmd::Leave { player, reply }).await?;
            anyhow::Ok(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    tokio::time::sleep(play).await;
    server.stop().await
}

async fn measure(url: &str, games: usize, play: Duration, every: u64) -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    let filled = Instant::now();
    fill(config(data.path(), url, every), games, play).await?;
    let fill_secs = filled.elapsed().as_secs_f64();
    let started = Instant::now();
    let server = tabula::server::start(config(data.path(), url, every)).await?;
    let serving = started.elapsed().as_secs_f64();
    while server.state.recovering.load(Ordering::Acquire) {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let secs = started.elapsed().as_secs_f64();
    let metrics = server.state.metrics.render();
    let rebuilt: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("tabula_games_recovered_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    let running = server
        .state
        .registry
        .list(&tabula::room::registry::ListQuery {
            limit: 1_000_000,
            ..Default::default()
        })
        .rooms
        .len();
    println!(
        "snapshot_every {every:>4}: {rebuilt:>6} games rebuilt {secs:.3} s after start \
         (serving after {serving:.3} s: modules, database, reading the games), \
         {:.1} µs/game; {running} rooms open; filling took {fill_secs:.1} s",
        secs * 1e6 / rebuilt.max(1.0)
    );
    server.stop().await
}

fn main() -> anyhow::Result<()> {
    // TABULA_LOG=info shows where a server's start goes (reading the games, rebuilding them).
    if let Ok(filter) = std::env::var("TABULA_LOG") {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .init();
    }
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let games: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let play = Duration::from_secs(args.get(1).and_then(|a| a.parse().ok()).unwrap_or(4));
    let intervals: Vec<u64> = args
        .get(2)
        .map(|a| a.split(',').filter_map(|n| n.parse().ok()).collect())
        .unwrap_or_else(|| vec![16, 64, 256]);
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_default();
    println!("recovery of {games} Liap Tui games (bots only, mid-game); {cpu}");
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        println!("SQLite:");
        for &every in &intervals {
            let dir = tempfile::tempdir()?;
            let url = format!("sqlite://{}", dir.path().join("bench.db").display());
            measure(&url, games, play, every).await?;
        }
        if let Ok(pg) = std::env::var("DATABASE_URL") {
            println!("PostgreSQL:");
            use sqlx::Connection;
            let mut admin = sqlx::PgConnection::connect(&pg).await?;
            for &every in &intervals {
                let name = format!("tabula_recovery_bench_{every}");
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
                    .execute(&mut admin)
                    .await?;
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut admin)
                    .await?;
                let url = format!(
                    "{}/{name}",
                    pg.rsplit_once('/').map_or(pg.as_str(), |p| p.0)
                );
                let measured = measure(&url, games, play, every).await;
                // Not left behind (tens of MB each); FORCE: the server's pool may still be
                // closing its connections.
                if let Err(e) = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin)
                    .await
                {
                    println!("could not drop {name}: {e}");
                }
                measured?;
            }
        }
        anyhow::Ok(())
    })?;
    Ok(())
}
