//! One run of the turn-room workload: R rooms × 4 clients set up, then the play phase measured.
//!
//! Two steps, so that a caller can act between them (the soak starts its hostile mix there, once
//! the rooms it aims at exist): [`set_up`] creates and fills every room and returns the ids of
//! those that are ready; [`SetUp::play`] sends the go signal, waits for every game to end and
//! builds the [`Report`]. Owns the rooms' tasks and the phase signal; knows nothing of what the
//! caller does in between, except that it takes time out of the same deadline.

use crate::client::Phase;
use crate::procfs;
use crate::report::{Report, RunFacts};
use crate::room::{self, RoomEvent, RoomOutcome, RoomParams};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, timeout, timeout_at};

/// After the play phase (or the deadline), how long rooms get to hand in their figures.
const GRACE: Duration = Duration::from_secs(2);

/// What a run is asked to do.
#[derive(Clone, Debug)]
pub struct LoadParams {
    /// Server WebSocket URL.
    pub url: Arc<str>,
    /// Rooms (each with 4 clients).
    pub rooms: u32,
    /// Moves per game.
    pub moves: u32,
    /// A client's pause between seeing its turn and moving (zero: at once).
    pub think: Duration,
    /// The server's process id, to sample its CPU time and peak RSS.
    pub server_pid: Option<u32>,
    /// Connection handshakes in flight at once.
    pub connect_concurrency: u32,
    /// Hard bound on the whole run; unfinished rooms count as failed.
    pub deadline: Instant,
}

/// Every room set up (or failed): the rooms wait for the go signal.
pub struct SetUp {
    params: LoadParams,
    phase: watch::Sender<Phase>,
    events: mpsc::Receiver<RoomEvent>,
    tasks: JoinSet<RoomOutcome>,
    /// Quoted ids of the rooms that are ready, in the order they became ready.
    ready: Vec<Arc<str>>,
    /// Rooms that have already ended (failed during setup).
    ended: usize,
    last_finish: Option<std::time::Instant>,
    timed_out: bool,
    setup: Duration,
}

/// Starts every room and waits until each is ready or has failed (or the deadline passes).
pub async fn set_up(params: &LoadParams) -> anyhow::Result<SetUp> {
    if let Some(pid) = params.server_pid {
        // A wrong pid should fail now, not after the run.
        procfs::cpu_time(&pid.to_string(), procfs::clock_ticks())?;
    }
    let rooms = params.rooms as usize;
    let (phase_tx, phase_rx) = watch::channel(Phase::Setup);
    // Each room sends at most two events, so sends never wait.
    let (events_tx, mut events) = mpsc::channel(2 * rooms);
    let room_params = RoomParams {
        url: params.url.clone(),
        moves: params.moves,
        think: params.think,
        gate: Arc::new(Semaphore::new(params.connect_concurrency as usize)),
        phase: phase_rx,
        events: events_tx,
    };
    let setup_start = Instant::now();
    let mut tasks = JoinSet::new();
    for index in 0..rooms {
        tasks.spawn(room::run(index, room_params.clone()));
    }
    drop(room_params);

    // Setup: every room either reports Ready or has already ended (failed).
    let (mut ready, mut ended, mut last_finish) = (Vec::with_capacity(rooms), 0, None);
    let mut timed_out = false;
    while ready.len() + ended < rooms {
        match timeout_at(params.deadline, events.recv()).await {
            Ok(Some(RoomEvent::Ready { room })) => ready.push(room),
            Ok(Some(RoomEvent::Ended { finished_at })) => {
                ended += 1;
                last_finish = last_finish.max(finished_at);
            }
            Ok(None) => break,
            Err(_) => {
                timed_out = true;
                break;
            }
        }
    }
    Ok(SetUp {
        params: params.clone(),
        phase: phase_tx,
        events,
        tasks,
        ready,
        ended,
        last_finish,
        timed_out,
        setup: setup_start.elapsed(),
    })
}

impl SetUp {
    /// Quoted ids of the rooms that are ready to play.
    pub fn rooms(&self) -> &[Arc<str>] {
        &self.ready
    }

    /// The play phase: from the go signal until the last room has ended; then the figures.
    pub async fn play(mut self) -> Report {
        let p = &self.params;
        let rooms = p.rooms as usize;
        let ticks = procfs::clock_ticks();
        let server = p.server_pid.map(|pid| pid.to_string());
        let cpu = |pid: &str| procfs::cpu_time(pid, ticks).ok();
        let mut timed_out = self.timed_out || Instant::now() >= p.deadline;

        let server_cpu0 = server.as_deref().and_then(cpu);
        let loadgen_cpu0 = cpu("self");
        let machine_cpu0 = procfs::machine_busy(ticks).ok();
        let start = Instant::now();
        self.phase
            .send_replace(if timed_out { Phase::Stop } else { Phase::Play });
        let (mut ended, mut last_finish) = (self.ended, self.last_finish);
        while !timed_out && ended < rooms {
            match timeout_at(p.deadline, self.events.recv()).await {
                Ok(Some(RoomEvent::Ended { finished_at })) => {
                    ended += 1;
                    last_finish = last_finish.max(finished_at);
                }
                Ok(Some(RoomEvent::Ready { .. })) => {}
                Ok(None) => break,
                Err(_) => timed_out = true,
            }
        }
        let now = Instant::now();
        let server_cpu1 = server.as_deref().and_then(cpu);
        let loadgen_cpu1 = cpu("self");
        let machine_cpu1 = procfs::machine_busy(ticks).ok();
        let server_peak_rss_kib = server.as_deref().and_then(|p| procfs::peak_rss_kib(p).ok());
        // The play phase ends with the last game's final update, not with the sockets' closing.
        let end = match last_finish {
            Some(t) if !timed_out => Instant::from_std(t).max(start),
            _ => now,
        };

        self.phase.send_replace(Phase::Stop);
        let mut outcomes: Vec<RoomOutcome> = Vec::with_capacity(rooms);
        let _ = timeout(GRACE, async {
            while let Some(joined) = self.tasks.join_next().await {
                outcomes.push(joined.unwrap_or_else(|e| RoomOutcome {
                    failure: Some(format!("room task: {e}")),
                    ..RoomOutcome::default()
                }));
            }
        })
        .await;

        let span = |a: Option<procfs::CpuTime>, b: Option<procfs::CpuTime>| Some(b?.since(a?));
        Report::build(
            outcomes,
            RunFacts {
                rooms,
                moves: p.moves,
                think: p.think,
                setup: self.setup,
                play: end.saturating_duration_since(start),
                server_cpu: span(server_cpu0, server_cpu1),
                server_peak_rss_kib,
                loadgen_cpu: span(loadgen_cpu0, loadgen_cpu1),
                machine_cpu: machine_cpu0
                    .zip(machine_cpu1)
                    .map(|(a, b)| b.saturating_sub(a)),
                sampled: now.saturating_duration_since(start),
                timed_out,
            },
        )
    }
}
