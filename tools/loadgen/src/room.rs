//! One room of the workload: four client tasks (seat 0 creates the room, seats 1..3 join it) and a
//! supervisor that tells the run when the room is ready and when it has ended. A client that fails
//! takes its room down with it: the others could only wait for a turn that never comes.

use crate::client::{Client, ClientOutcome, Phase};
use crate::proto;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;

/// Seats per turn-room game in this workload.
pub const SEATS: u32 = 4;

/// What a room needs from the run.
#[derive(Clone)]
pub struct RoomParams {
    /// Server WebSocket URL.
    pub url: Arc<str>,
    /// Moves per game.
    pub moves: u32,
    /// A client's pause between seeing its turn and moving.
    pub think: Duration,
    /// Bounds concurrent connection handshakes.
    pub gate: Arc<Semaphore>,
    /// The run's phase.
    pub phase: watch::Receiver<Phase>,
    /// Where the room reports `Ready` and `Ended`.
    pub events: mpsc::Sender<RoomEvent>,
}

/// Progress the run waits for. Every room sends `Ended` exactly once, and before it at most one
/// `Ready`.
#[derive(Debug)]
pub enum RoomEvent {
    /// All seats are taken; the clients wait for `Phase::Play`.
    Ready {
        /// The room's id, quoted for splicing into frames.
        room: Arc<str>,
    },
    /// All clients have stopped.
    Ended {
        /// When the last client saw the game end, if every client did.
        finished_at: Option<Instant>,
    },
}

/// What a room measured.
#[derive(Debug, Default)]
pub struct RoomOutcome {
    /// Every client's latencies, in µs.
    pub latencies_us: Vec<u32>,
    /// Error codes received by any client.
    pub error_codes: Vec<String>,
    /// Why the room failed, if it did.
    pub failure: Option<String>,
    /// Whether the game was seen to the end by all four clients.
    pub finished: bool,
}

/// Runs room `index` to its end (or the run's `Stop`).
pub async fn run(index: usize, params: RoomParams) -> RoomOutcome {
    let (id_tx, id_rx) = watch::channel::<Option<Arc<str>>>(None);
    let mut id_tx = Some(id_tx);
    // Capacity SEATS: each client sends at most one readiness note, so this never blocks.
    let (ready_tx, mut ready_rx) = mpsc::channel::<()>(SEATS as usize);
    let mut clients = JoinSet::new();
    for seat in 0..SEATS {
        let task = SeatTask {
            index,
            seat,
            params: params.clone(),
            // Seat 0 creates the room and publishes its id; the others wait for it.
            id_tx: if seat == 0 { id_tx.take() } else { None },
            id_rx: id_rx.clone(),
            ready: ready_tx.clone(),
        };
        clients.spawn(task.run());
    }
    drop(ready_tx);

    let mut outcome = RoomOutcome {
        finished: true,
        ..RoomOutcome::default()
    };
    let mut last_finish: Option<Instant> = None;
    let (mut ready, mut announced) = (0, false);
    loop {
        tokio::select! {
            Some(()) = ready_rx.recv(), if !announced => {
                ready += 1;
                // Every seat is taken, so seat 0 has published the id.
                let id = id_rx.borrow().clone();
                if let (SEATS, Some(room)) = (ready, id) {
                    announced = true;
                    let _ = params.events.send(RoomEvent::Ready { room }).await;
                }
            }
            joined = clients.join_next() => match joined {
                None => break,
                Some(Ok(Ok(c))) => {
                    outcome.latencies_us.extend(c.latencies_us);
                    outcome.error_codes.extend(c.error_codes);
                    outcome.finished &= c.finished_at.is_some();
                    last_finish = last_finish.max(c.finished_at);
                }
                Some(Ok(Err(e))) => fail(&mut outcome, &mut clients, format!("room {index}: {e:#}")),
                Some(Err(e)) => fail(&mut outcome, &mut clients, format!("room {index}: client task: {e}")),
            }
        }
    }
    let finished_at = last_finish.filter(|_| outcome.finished);
    let _ = params.events.send(RoomEvent::Ended { finished_at }).await;
    outcome
}

/// Records the room's first failure and stops its other clients.
fn fail(
    outcome: &mut RoomOutcome,
    clients: &mut JoinSet<anyhow::Result<ClientOutcome>>,
    why: String,
) {
    outcome.failure.get_or_insert(why);
    outcome.finished = false;
    clients.abort_all();
}

/// One client's life in the room: seat 0 creates it, the others join it; then all play.
struct SeatTask {
    index: usize,
    seat: u32,
    params: RoomParams,
    /// Seat 0 only: where the new room's (quoted) id is published.
    id_tx: Option<watch::Sender<Option<Arc<str>>>>,
    id_rx: watch::Receiver<Option<Arc<str>>>,
    ready: mpsc::Sender<()>,
}

impl SeatTask {
    async fn run(mut self) -> anyhow::Result<ClientOutcome> {
        let mut phase = self.params.phase.clone();
        let p = &self.params;
        let setup = async {
            let name = format!("load-{}-{}", self.index, self.seat);
            let mut client = Client::connect(&p.url, &name, &p.gate).await?;
            let room = match self.id_tx.take() {
                Some(id_tx) => {
                    let room: Arc<str> = proto::quote(&client.create_room(p.moves).await?).into();
                    id_tx.send_replace(Some(room.clone()));
                    room
                }
                None => {
                    // Seat 0 failing drops its sender, which ends this wait with an error.
                    let room = self.id_rx.wait_for(Option::is_some).await?.clone();
                    let room = room.ok_or_else(|| anyhow::anyhow!("no room id"))?;
                    client.join(&room, self.seat).await?;
                    room
                }
            };
            anyhow::Ok((client, room))
        };
        // The deadline may pass while the server is still silent: leave rather than hang.
        let (mut client, room) = tokio::select! {
            set_up = setup => set_up?,
            _ = phase.wait_for(|ph| *ph == Phase::Stop) => return Ok(ClientOutcome::default()),
        };
        let _ = self.ready.send(()).await;
        if !client.wait_for_play(&mut phase).await? {
            return Ok(ClientOutcome::default());
        }
        client
            .play(&room, self.seat, self.params.think, phase)
            .await
    }
}
