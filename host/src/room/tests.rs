//! Rooms driven through their handles on a paused clock: deadlines, presence, the event log and
//! the rule that nothing leaves a room before its input is durable. No sockets, no real sleeps.

use super::*;
use crate::config::RoomConfig;
use crate::metrics::Metrics;
use crate::modules::{MemoryCatalog, ModuleCatalog};
use crate::rules::{Limits, Runtime, RuntimeConfig};
use crate::store::{
    BoxFuture, Durable, Entry, EventLog, GameHeader, GameLog, GameWriter, Input, MemoryLog,
    SeatChange, StoreError,
};
use registry::RegistryParams;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TryRecvError;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

mod canary;
mod closing;
mod durable;
mod recovery;
mod swap;

/// The bundled modules, compiled once for every test of this binary.
fn catalog() -> Arc<MemoryCatalog> {
    static MODULES: std::sync::OnceLock<Vec<crate::rules::Module>> = std::sync::OnceLock::new();
    let modules = MODULES.get_or_init(|| {
        let runtime = Runtime::new(RuntimeConfig {
            limits: Limits::default(),
            cache_dir: None,
        })
        .expect("runtime");
        tabula_bundle::MODULES
            .iter()
            .map(|m| runtime.load(m.bytes).expect("bundled module loads"))
            .collect()
    });
    let catalog = MemoryCatalog::default();
    for m in modules {
        catalog.add(m.clone());
    }
    Arc::new(catalog)
}

struct Rooms {
    registry: Arc<Registry>,
    shutdown: CancellationToken,
    catalog: Arc<MemoryCatalog>,
    next_conn: u64,
}

impl Rooms {
    fn new(cfg: RoomConfig, log: Arc<dyn EventLog>) -> Rooms {
        let catalog = catalog();
        let shutdown = CancellationToken::new();
        let registry = Registry::new(RegistryParams {
            catalog: catalog.clone(),
            log,
            cfg,
            allow_client_seed: true,
            metrics: Arc::new(Metrics::new()),
            shutdown: shutdown.clone(),
            spawner: RoomSpawner::current(TaskTracker::new()),
            snapshot_every: 4,
            modules: None,
        });
        Rooms {
            registry,
            shutdown,
            catalog,
            next_conn: 0,
        }
    }

    /// Creates a room with `who` in seat 0 on `outbox`; its handle.
    async fn create(&self, req: CreateRoom, who: &PlayerId, outbox: Outbox) -> RoomHandle {
        let id = self
            .registry
            .create(req, creator(who, outbox))
            .await
            .expect("created");
        self.registry.get(id.as_str()).expect("open")
    }

    fn conn(&mut self) -> (Outbox, mpsc::Receiver<Outgoing>) {
        self.next_conn += 1;
        Outbox::new(self.next_conn, 64, CancellationToken::new())
    }
}

fn player(name: &str) -> PlayerId {
    PlayerId::from_wire(name)
}

/// `who`, named "ann", creating a room from `outbox`.
fn creator(who: &PlayerId, outbox: Outbox) -> Creator {
    Creator {
        player: who.clone(),
        name: "ann".into(),
        addr: std::net::IpAddr::from([127, 0, 0, 1]),
        outbox,
        request_id: None,
    }
}

fn hostile(fault: &str) -> CreateRoom {
    CreateRoom {
        game: "hostile".into(),
        options: Some(serde_json::json!({ "fault": fault })),
        seats: Some(2),
        seed: Some(7),
        ..CreateRoom::default()
    }
}

async fn join(handle: &RoomHandle, who: &PlayerId, outbox: Outbox) {
    handle
        .ask(|reply| {
            RoomCmd::Join(JoinCmd {
                player: who.clone(),
                name: who.to_string(),
                seat: None,
                to: Entering {
                    outbox,
                    request_id: None,
                    reply,
                },
            })
        })
        .await
        .expect("joins")
}

fn act(who: &PlayerId, request_id: &str, outbox: &Outbox) -> RoomCmd {
    RoomCmd::Act(ActCmd {
        player: who.clone(),
        request_id: request_id.into(),
        action: "{}".into(),
        expected_seq: None,
        outbox: outbox.clone(),
    })
}

/// Lets every task run until all are idle (the paused clock moves on only then).
async fn settle() {
    tokio::time::sleep(Duration::from_millis(1)).await;
}

/// The updates waiting in a queue, as (seq, awaiting).
/// Every ack and refusal `rx` holds, as text (`ack ID SEQ`, `refused ID CODE`).
fn replies(rx: &mut mpsc::Receiver<Outgoing>) -> Vec<String> {
    let mut got = Vec::new();
    while let Ok(msg) = rx.try_recv() {
        match msg {
            Outgoing::Ack(ack) => got.push(format!("ack {} {}", ack.request_id, ack.seq)),
            Outgoing::Refused(r) => {
                got.push(format!("refused {} {}", r.request_id, r.error.kind()))
            }
            _ => {}
        }
    }
    got
}

/// `read` of every update waiting in `rx`.
fn drain_with<T>(rx: &mut mpsc::Receiver<Outgoing>, read: impl Fn(&super::Update) -> T) -> Vec<T> {
    let mut out = Vec::new();
    while let Ok(msg) = rx.try_recv() {
        if let Outgoing::Update(u) = msg {
            out.push(read(u.get()));
        }
    }
    out
}

fn drain_updates(rx: &mut mpsc::Receiver<Outgoing>) -> Vec<(u64, Vec<u32>)> {
    drain_with(rx, |u| (u.seq, u.awaiting.to_vec()))
}

/// A game of ann and bob on the hostile fixture, with a 3 s turn deadline, a 1 s reconnect
/// grace and bots that think 0.5 s, started; their connections' receivers.
struct TwoPlayers {
    rooms: Rooms,
    handle: RoomHandle,
    bob: PlayerId,
    bob_conn: u64,
    a_rx: mpsc::Receiver<Outgoing>,
    b_rx: mpsc::Receiver<Outgoing>,
}

async fn two_players_with_deadlines() -> TwoPlayers {
    let cfg = RoomConfig {
        bot_think_ms: 500,
        reconnect_grace_ms: 1_000,
        turn_deadline_ms: Some(3_000),
        ..RoomConfig::default()
    };
    let mut rooms = Rooms::new(cfg, Arc::new(MemoryLog::default()));
    let (ann, bob) = (player("p-ann"), player("p-bob"));
    let (a, a_rx) = rooms.conn();
    let (b, b_rx) = rooms.conn();
    let handle = rooms.create(hostile("none"), &ann, a).await;
    let bob_conn = b.conn();
    join(&handle, &bob, b).await;
    settle().await;
    TwoPlayers {
        rooms,
        handle,
        bob,
        bob_conn,
        a_rx,
        b_rx,
    }
}

#[tokio::test(start_paused = true)]
async fn deadlines_hand_silent_and_absent_players_to_the_bot_on_time() {
    // A human who does not move by the turn deadline has the bot move for them; a player whose
    // connection drops keeps the seat for the grace period, then the bot plays it after its
    // think time; the room follows the clock exactly, with no real waiting.
    let TwoPlayers {
        handle,
        bob,
        bob_conn: b_conn,
        mut a_rx,
        mut b_rx,
        rooms: _rooms,
    } = two_players_with_deadlines().await;
    assert_eq!(
        drain_updates(&mut a_rx),
        vec![(1, vec![0])],
        "the start awaits ann"
    );
    drain_updates(&mut b_rx);

    // Ann says nothing: at 3 s the bot moves for her, and the game awaits bob.
    tokio::time::sleep(Duration::from_millis(2_990)).await;
    assert_eq!(drain_updates(&mut a_rx), vec![], "not before the deadline");
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(drain_updates(&mut a_rx), vec![(2, vec![1])]);

    // Bob's connection drops: his seat waits 1 s, then the bot thinks 0.5 s and moves.
    handle
        .send(RoomCmd::Disconnected {
            player: bob.clone(),
            conn: b_conn,
        })
        .expect("sent");
    let dropped = tokio::time::Instant::now();
    tokio::time::sleep(Duration::from_millis(1_400)).await;
    assert_eq!(drain_updates(&mut a_rx), vec![], "grace, then think time");
    let seat = handle.info().seats[1].clone();
    assert_eq!(
        (seat.connected, seat.bot_playing),
        (Some(false), Some(true))
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(drain_updates(&mut a_rx), vec![(3, vec![0])]);
    assert!(dropped.elapsed() >= Duration::from_millis(1_500));
}

/// The `deadline_at` of the updates in `rx` (by sequence number).
fn drain_deadlines(rx: &mut mpsc::Receiver<Outgoing>) -> Vec<(u64, Option<u64>)> {
    drain_with(rx, |u| (u.seq, u.deadline_at))
}

/// A spectator's first update: the room as it stands now.
async fn watch_now(rooms: &mut Rooms, handle: &RoomHandle, who: &str) -> Option<u64> {
    let (out, mut rx) = rooms.conn();
    handle
        .ask(|reply| RoomCmd::Watch {
            player: player(who),
            to: Entering {
                outbox: out,
                request_id: None,
                reply,
            },
        })
        .await
        .expect("watches");
    settle().await;
    let seen = drain_deadlines(&mut rx);
    seen.last().expect("an update").1
}

#[tokio::test(start_paused = true)]
async fn updates_say_when_a_persons_turn_runs_out_and_not_once_the_bot_has_the_seat() {
    // The deadline an update shows is the one the room arms: a person's turn counts from the
    // step; once the seat is the bot's (its player gone past the grace) there is none.
    let TwoPlayers {
        mut rooms,
        handle,
        bob,
        bob_conn: b_conn,
        mut a_rx,
        b_rx: _b_rx,
    } = two_players_with_deadlines().await;
    let start = drain_deadlines(&mut a_rx);
    let first = start
        .last()
        .and_then(|u| u.1)
        .expect("ann's turn has a deadline");
    // Ann's turn runs out at 3 s; the bot moves for her and bob's turn counts from then.
    tokio::time::sleep(Duration::from_millis(3_010)).await;
    let after = drain_deadlines(&mut a_rx);
    let second = after.last().and_then(|u| u.1).expect("bob's turn has one");
    assert!(
        (2_990..=3_030).contains(&(second - first)),
        "{first} then {second}"
    );
    assert_eq!(watch_now(&mut rooms, &handle, "p-eve").await, Some(second));
    // Bob's connection drops; past the grace his seat is the bot's: no deadline any more.
    handle
        .send(RoomCmd::Disconnected {
            player: bob.clone(),
            conn: b_conn,
        })
        .expect("sent");
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_eq!(watch_now(&mut rooms, &handle, "p-zed").await, None);
}

#[test]
fn a_failing_timer_is_retried_with_backoff_then_pauses_the_room_without_spinning() {
    // A room whose timer keeps failing while a human's turn deadline has passed sleeps until
    // each retry (it used to spin on the passed deadline), and pauses after the configured
    // number of failures with the reason in its info.
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("runtime");
        rt.block_on(async {
            let cfg = RoomConfig {
                turn_deadline_ms: Some(20),
                bot_think_ms: 60_000,
                retry_base_ms: 100,
                max_module_failures: 3,
                ..RoomConfig::default()
            };
            let mut rooms = Rooms::new(cfg, Arc::new(MemoryLog::default()));
            let (ann, bob) = (player("p-ann"), player("p-bob"));
            let (a, _a_rx) = rooms.conn();
            let (b, _b_rx) = rooms.conn();
            let handle = rooms.create(hostile("bad-timer"), &ann, a).await;
            join(&handle, &bob, b).await;
            let started = tokio::time::Instant::now();
            // Timer at 10 ms fails; retries at +100 ms and +200 ms fail too: paused at ~310 ms.
            tokio::time::sleep(Duration::from_millis(300)).await;
            assert_eq!(handle.info().status, RoomStatus::Running, "still retrying");
            tokio::time::sleep(Duration::from_millis(20)).await;
            let info = handle.info();
            assert_eq!(info.status, RoomStatus::Paused);
            let reason = info.paused_reason.expect("a reason");
            assert!(reason.contains("timer failed 3 times"), "{reason}");
            assert!(started.elapsed() < Duration::from_millis(400));
        });
        let _ = done.send(());
    });
    finished
        .recv_timeout(Duration::from_secs(60))
        .expect("the room never went idle: it spins instead of sleeping until its retry");
}

#[tokio::test(start_paused = true)]
async fn rooms_keep_their_version_and_report_when_the_catalog_activates_another() {
    // An operator installs version 9.0.0 of turn-room beside the bundled one: installing changes
    // nothing; activating it gives it to new rooms, while the running room stays on its version
    // and tells its members (and the lobby) which version is now active. Activating the old
    // version again turns the report around. Rooms of other games hear nothing.
    let mut rooms = Rooms::new(RoomConfig::default(), Arc::new(MemoryLog::default()));
    let bundled = rooms.catalog.active("turn-room").expect("bundled");
    let old: Arc<str> = bundled.info().version.as_str().into();
    let new: Arc<str> = "9.0.0".into();
    let turn_room = || CreateRoom {
        game: "turn-room".into(),
        seats: Some(2),
        ..CreateRoom::default()
    };
    let ann = player("p-ann");
    let (a, mut a_rx) = rooms.conn();
    let running = rooms.create(turn_room(), &ann, a).await;
    let (h, _h_rx) = rooms.conn();
    let other = rooms.create(hostile("none"), &ann, h).await;
    rooms.catalog.add(bundled.as_version(&new));
    settle().await;
    assert_eq!(running.info().active_version, None, "installed, not active");
    while a_rx.try_recv().is_ok() {}

    rooms
        .catalog
        .set_active("turn-room", &new)
        .expect("installed");
    // The lobby sees it at once, members within one notice interval.
    let interval = RoomConfig::default().info_interval_ms;
    tokio::time::sleep(Duration::from_millis(interval + 1)).await;
    let info = running.info();
    assert_eq!(
        (info.version.clone(), info.active_version),
        (old.clone(), Some(new.clone()))
    );
    let told = std::iter::from_fn(|| a_rx.try_recv().ok()).any(
        |m| matches!(m, Outgoing::Room(i) if i.get().active_version.as_deref() == Some(&*new)),
    );
    assert!(told, "the room's members hear of the new active version");
    let listed = rooms.registry.list(&registry::ListQuery {
        game: Some("turn-room"),
        limit: 10,
        ..Default::default()
    });
    assert_eq!(listed.rooms[0].active_version.as_deref(), Some(&*new));
    let (b, _b_rx) = rooms.conn();
    let fresh = rooms.create(turn_room(), &player("p-bob"), b).await;
    assert_eq!(
        (fresh.info().version, fresh.info().active_version),
        (new.clone(), None)
    );

    rooms
        .catalog
        .set_active("turn-room", &old)
        .expect("installed");
    settle().await;
    assert_eq!(running.info().active_version, None);
    assert_eq!(fresh.info().active_version, Some(old.clone()));
    assert_eq!(other.info().active_version, None);
}

#[test]
fn an_idle_room_costs_little_memory() {
    // What an idle room holds for its whole life stays small: its task's future (the handlers'
    // larger state is boxed while they run) and one pointer per inbox slot.
    let future = actor::run_future_size();
    assert!(future <= 320, "the room's task future is {future} bytes");
    assert_eq!(std::mem::size_of::<Box<RoomCmd>>(), 8);
    assert!(
        std::mem::size_of::<Outgoing>() <= 24,
        "a connection's queue slot"
    );
}

#[tokio::test(start_paused = true)]
async fn a_game_read_back_from_the_log_replays_to_the_same_state() {
    // The event log holds everything that determined a game — humans' actions, the bots' moves
    // as their seats' actions, timers — so a game read back from it replays exactly.
    let cfg = RoomConfig {
        bot_think_ms: 10,
        ..RoomConfig::default()
    };
    let log = Arc::new(MemoryLog::default());
    let mut rooms = Rooms::new(cfg, log.clone());
    let ann = player("p-ann");
    let (a, mut a_rx) = rooms.conn();
    let req = CreateRoom {
        game: "liap-tui".into(),
        bots: 3,
        seed: Some(11),
        options: Some(serde_json::json!({"pace": "instant", "win_score": 10})),
        ..CreateRoom::default()
    };
    let handle = rooms.create(req, &ann, a.clone()).await;
    // Ann leaves at once: the bot plays her seat too, to the end.
    handle
        .ask(|reply| RoomCmd::Leave {
            player: ann.clone(),
            reply,
        })
        .await
        .expect("left");
    let mut finished = false;
    for _ in 0..10_000 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if handle.info().status == RoomStatus::Finished {
            finished = true;
            break;
        }
    }
    assert!(finished, "the bots finish the game");
    while a_rx.try_recv().is_ok() {}
    let seq = handle.info().seq;
    let game = log
        .read(handle.id())
        .await
        .expect("reads")
        .expect("the log holds the game");
    let record = crate::replay::GameRecord::from_log(&game).expect("the game started");
    let seat_changes = record
        .inputs
        .iter()
        .filter(|i| matches!(i, crate::replay::RecordedInput::Seat { .. }))
        .count();
    assert_eq!(
        seat_changes, 5,
        "the creator and three bots took their seats, she left"
    );
    assert_eq!(
        (record.inputs.len() - seat_changes) as u64 + 1,
        seq,
        "one input per step after the start"
    );
    let module = catalog().active("liap-tui").expect("bundled");
    assert_eq!(record.module.digest.as_deref(), Some(module.digest()));
    let mut steps = 0;
    let last = crate::replay::run(&module, &record, |_| steps += 1).expect("replays");
    assert_eq!(steps as u64, seq);
    assert!(last.result.is_some(), "the replay ends the game too");
    // Every step's state is checked against the recorded hash: a record whose game went
    // otherwise is caught at the step where it parts.
    let mut tampered = record.clone();
    let tenth = tampered
        .inputs
        .iter_mut()
        .filter_map(|i| match i {
            crate::replay::RecordedInput::Act { state_hash, .. } => Some(state_hash),
            _ => None,
        })
        .nth(9)
        .expect("ten moves");
    *tenth = Some(crate::replay::hash_text(0));
    let e = crate::replay::run(&module, &tampered, |_| {}).expect_err("diverges");
    assert!(
        matches!(e, crate::replay::ReplayError::Diverged { .. }),
        "{e}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_room_stopped_by_a_shutdown_does_not_tell_its_members_it_closed() {
    // A shutdown does not end the game (it comes back after a restart), so members hear no
    // `room_closed`.
    let mut rooms = Rooms::new(RoomConfig::default(), Arc::new(MemoryLog::default()));
    let ann = player("p-ann");
    let closed_frames = |rx: &mut mpsc::Receiver<Outgoing>| {
        let mut n = 0;
        while let Ok(msg) = rx.try_recv() {
            n += usize::from(matches!(msg, Outgoing::RoomClosed(_)));
        }
        n
    };
    let (a, mut a_rx) = rooms.conn();
    let stopped = rooms.create(hostile("none"), &ann, a).await;
    stopped.send_reliably(RoomCmd::Shutdown).await;
    while stopped.send(RoomCmd::Shutdown).is_ok() {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(closed_frames(&mut a_rx), 0);
}
