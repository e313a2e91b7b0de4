//! Hot swap at scale: how long 10,000 running Liap Tui rooms (bots only, mid-game) take to move
//! from 1.0.0 to 2.0.0, and what a rollout at the default rate does to the move latency of other
//! rooms being played meanwhile. Goals: the 10,000 rooms in at most 2 s of wall time (with an
//! unpaced rollout), and the other rooms' move latency p99 during a rollout at the default rate
//! within 3x of the same rooms' p99 before it.
//!
//! Each run starts a real server (SQLite in a temporary directory, so every swap is a logged
//! entry) and fills it with GAMES Liap Tui rooms on 1.0.0 whose four seats are played by bots
//! at the normal pace (display pauses of seconds, bots thinking `room.bot_think_ms`), left to
//! play for a few seconds so that they are mid-game. Then:
//! (a) speed: the rollout's rate is unlimited; the time from the activation to the last room's
//!     answer, and how many moved;
//! (b) latency: 100 turn-room rooms, two players each acting in turn through the room's handle
//!     (10 moves a second per room), measured for PHASE seconds before the activation and then
//!     during a rollout at the default rate (`room.rollout_rooms_per_second`), on a second
//!     server filled the same way.
//!
//! usage: cargo bench -p tabula --bench rollout -- [GAMES] [PHASE_SECONDS]
//!        (defaults: 10000 3); ROLLOUT_DB=memory: in-memory storage instead of SQLite.

use std::sync::Arc;
use std::time::{Duration, Instant};
use tabula::config::{Config, RoomConfig};
use tabula::ids::PlayerId;
use tabula::room::registry::{Policy, Registry};
use tabula::room::{ActCmd, CreateRoom, Creator, Entering, JoinCmd, Outbox, Outgoing, RoomCmd};
use tokio::sync::mpsc;

fn config(data: &std::path::Path, rate: u32) -> Config {
    let mut c = Config {
        listen: "127.0.0.1:0".parse().expect("address"),
        data_dir: data.to_path_buf(),
        ..Config::default()
    };
    c.database.url = Some(format!("sqlite://{}", data.join("bench.db").display()));
    c.room = RoomConfig {
        bot_think_ms: 2_000,
        max_rooms: 1_000_000,
        max_open_rooms_per_player: 1_000_000,
        max_open_rooms_per_address: 1_000_000,
        rollout_rooms_per_second: rate,
        ..RoomConfig::default()
    };
    c
}

fn creator(n: usize, name: &str) -> (Creator, mpsc::Receiver<Outgoing>) {
    let (outbox, rx) = Outbox::new(n as u64, 1024, Default::default());
    let creator = Creator {
        player: PlayerId::from_wire(&format!("p-{name}{n}")),
        name: name.into(),
        addr: std::net::IpAddr::from([127, 0, 0, 1]),
        outbox,
        request_id: None,
    };
    (creator, rx)
}

/// `games` Liap Tui rooms on 1.0.0, bots in every seat, playing at the normal pace.
async fn fill(registry: &Arc<Registry>, games: usize) -> anyhow::Result<()> {
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..games {
        if tasks.len() >= 200 {
            tasks.join_next().await.expect("a task")??;
        }
        let registry = registry.clone();
        tasks.spawn(async move {
            let (creator, rx) = creator(n, "bench");
            drop(rx);
            let player = creator.player.clone();
            let req = CreateRoom {
                game: "liap-tui".into(),
                version: Some("1.0.0".into()),
                bots: 3,
                ..CreateRoom::default()
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
    Ok(())
}

/// Waits until rollout `id` is done; its status.
async fn done(registry: &Registry, id: u64) -> tabula::room::registry::RolloutStatus {
    loop {
        let status = registry.rollout(id).expect("kept");
        if status.state != "running" {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Waits for the answer to `request_id` in `rx`; true for an ack.
async fn answer(rx: &mut mpsc::Receiver<Outgoing>, request_id: &str) -> bool {
    while let Some(msg) = rx.recv().await {
        match msg {
            Outgoing::Ack(a) if &*a.request_id == request_id => return true,
            Outgoing::Refused(r) if &*r.request_id == request_id => return false,
            _ => {}
        }
    }
    false
}

/// One turn-room game between two players, moving every 100 ms in turn until `stop`; the
/// latency of every acknowledged move, with the instant it was sent.
async fn play(
    registry: Arc<Registry>,
    n: usize,
    stop: Instant,
) -> anyhow::Result<Vec<(Instant, Duration)>> {
    let (ann, mut ann_rx) = creator(n, "ann");
    let (bob, mut bob_rx) = creator(n, "bob");
    let players = [ann.player.clone(), bob.player.clone()];
    let outboxes = [ann.outbox.clone(), bob.outbox.clone()];
    let req = CreateRoom {
        game: "turn-room".into(),
        seats: Some(2),
        options: Some(serde_json::json!({"moves": 1_000_000})),
        ..CreateRoom::default()
    };
    let id = registry.create(req, ann).await?;
    let room = registry.get(id.as_str())?;
    room.ask(|reply| {
        RoomCmd::Join(JoinCmd {
            player: players[1].clone(),
            name: "bob".into(),
            seat: None,
            to: Entering {
                outbox: bob.outbox.clone(),
                request_id: None,
                reply,
            },
        })
    })
    .await?;
    let mut seen = Vec::new();
    let mut ticks = tokio::time::interval(Duration::from_millis(100));
    let mut turn = 0;
    let mut m = 0u64;
    while Instant::now() < stop {
        ticks.tick().await;
        m += 1;
        let request_id: Arc<str> = format!("r{n}-{m}").into();
        let sent = Instant::now();
        room.send(RoomCmd::Act(ActCmd {
            player: players[turn].clone(),
            request_id: request_id.clone(),
            action: r#"{"add":1}"#.into(),
            expected_seq: None,
            outbox: outboxes[turn].clone(),
        }))?;
        let rx = if turn == 0 { &mut ann_rx } else { &mut bob_rx };
        if answer(rx, &request_id).await {
            seen.push((sent, sent.elapsed()));
            turn = 1 - turn;
        }
    }
    Ok(seen)
}

fn p99(mut d: Vec<Duration>) -> Duration {
    d.sort();
    d.get((d.len() as f64 * 0.99) as usize)
        .or(d.last())
        .copied()
        .unwrap_or_default()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

async fn speed(games: usize) -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    let server = tabula::server::start(config(data.path(), 1_000_000)).await?;
    let registry = server.state.registry.clone();
    let filled = Instant::now();
    fill(&registry, games).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let started = Instant::now();
    let id = registry.activate("liap-tui", "2.0.0", Policy::Migrate)?.id;
    let status = done(&registry, id).await;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "(a) {} rooms moved to 2.0.0 in {secs:.3} s ({:.1} µs/room), {} pinned, {} unchanged, \
         {} gone (filling took {:.1} s)",
        status.migrated,
        secs * 1e6 / status.migrated.max(1) as f64,
        status.pinned.len(),
        status.unchanged,
        status.gone,
        filled.elapsed().as_secs_f64() - secs
    );
    if let Some(p) = status.pinned.first() {
        println!("    first pinned: {}: {}", p.room, p.reason);
    }
    server.stop().await
}

async fn latency(games: usize, phase: Duration) -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    let rate = RoomConfig::default().rollout_rooms_per_second;
    let server = tabula::server::start(config(data.path(), rate)).await?;
    let registry = server.state.registry.clone();
    fill(&registry, games).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    // Long enough for the steady phase, the rollout and a margin.
    let stop = Instant::now() + phase * 2 + Duration::from_secs(20);
    let players: Vec<_> = (0..100)
        .map(|n| tokio::spawn(play(registry.clone(), n, stop)))
        .collect();
    tokio::time::sleep(phase).await;
    let rollout_start = Instant::now();
    let id = registry.activate("liap-tui", "2.0.0", Policy::Migrate)?.id;
    let status = done(&registry, id).await;
    let rollout_end = Instant::now();
    let steady_start = rollout_start - phase;
    let mut steady = Vec::new();
    let mut during = Vec::new();
    for p in players {
        for (sent, took) in p.await?? {
            if sent >= steady_start + Duration::from_millis(500) && sent < rollout_start {
                steady.push(took);
            } else if sent >= rollout_start && sent < rollout_end {
                during.push(took);
            }
        }
    }
    let (steady_n, during_n) = (steady.len(), during.len());
    let (s99, d99) = (p99(steady), p99(during));
    println!(
        "(b) rollout at the default {rate} rooms/s: {} rooms in {:.2} s; other rooms' move \
         latency p99 {:.2} ms steady ({steady_n} moves), {:.2} ms during the rollout \
         ({during_n} moves): {:.2}x",
        status.migrated,
        (rollout_end - rollout_start).as_secs_f64(),
        ms(s99),
        ms(d99),
        ms(d99) / ms(s99).max(1e-6)
    );
    server.stop().await
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let games: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let phase = Duration::from_secs(args.get(1).and_then(|a| a.parse().ok()).unwrap_or(3));
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_default();
    println!(
        "rollout of {games} Liap Tui rooms (bots only, mid-game) from 1.0.0 to 2.0.0; {cpu}, {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        speed(games).await?;
        latency(games, phase).await
    })
}
