//! Nothing leaves a room before its input is durable, and a room whose log cannot keep up
//! takes no new inputs: rooms over a log whose durability the test controls.

use super::*;

/// A log whose entries become durable only when the test says so.
#[derive(Clone, Default)]
struct ManualLog {
    entries: Arc<Mutex<Vec<Entry>>>,
    durable: Arc<Durable>,
    /// Set: the log reports its backlog full (rooms refuse new inputs).
    full: Arc<std::sync::atomic::AtomicBool>,
    /// How many more room ids the log says are taken; and every id it was asked about.
    taken: Arc<std::sync::atomic::AtomicUsize>,
    asked: Arc<Mutex<Vec<RoomId>>>,
}

struct ManualWriter {
    log: ManualLog,
    appended: u64,
}

impl ManualLog {
    /// Makes everything appended so far durable.
    fn flush(&self) {
        let n = self.entries.lock().expect("lock").len() as u64;
        self.durable.advance(n);
    }

    fn inputs(&self) -> Vec<Input> {
        let entries = self.entries.lock().expect("lock");
        entries.iter().map(|e| e.input.clone()).collect()
    }
}

impl EventLog for ManualLog {
    fn create(&self, _: GameHeader) -> Result<Box<dyn GameWriter>, StoreError> {
        Ok(Box::new(ManualWriter {
            log: self.clone(),
            appended: 0,
        }))
    }

    fn reopen(&self, _: &GameHeader, appended: u64) -> Box<dyn GameWriter> {
        Box::new(ManualWriter {
            log: self.clone(),
            appended,
        })
    }

    fn unfinished(&self) -> BoxFuture<'_, Result<Vec<GameLog>, StoreError>> {
        Box::pin(std::future::ready(Ok(Vec::new())))
    }

    fn read(&self, _: &RoomId) -> BoxFuture<'_, Result<Option<GameLog>, StoreError>> {
        Box::pin(std::future::ready(Ok(None)))
    }

    fn taken(&self, room: &RoomId) -> BoxFuture<'_, Result<bool, StoreError>> {
        self.asked.lock().expect("lock").push(room.clone());
        let left = self.taken.load(std::sync::atomic::Ordering::Relaxed);
        if left > 0 {
            self.taken
                .store(left - 1, std::sync::atomic::Ordering::Relaxed);
        }
        Box::pin(std::future::ready(Ok(left > 0)))
    }

    fn accepting(&self) -> bool {
        !self.full.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl GameWriter for ManualWriter {
    fn append(&mut self, entry: Entry) -> u64 {
        self.log.entries.lock().expect("lock").push(entry);
        self.appended += 1;
        self.appended
    }

    fn durable(&self) -> Arc<Durable> {
        self.log.durable.clone()
    }

    fn snapshot(&mut self, _: u64, _: Vec<u8>) {}

    fn accepting(&self) -> bool {
        self.log.accepting()
    }

    fn end(&mut self, _: crate::store::Ending) {}
}

#[tokio::test(start_paused = true)]
async fn a_new_room_never_gets_the_id_of_an_earlier_game() {
    // Room ids the log has seen before (games that ended long ago included) are drawn again:
    // the new room gets a fresh one, and creating it succeeds.
    let log = ManualLog::default();
    log.taken.store(3, std::sync::atomic::Ordering::Relaxed);
    let mut rooms = Rooms::new(RoomConfig::default(), Arc::new(log.clone()));
    let ann = player("p-ann");
    let (a, _a_rx) = rooms.conn();
    let registry = rooms.registry.clone();
    let create =
        tokio::spawn(async move { registry.create(hostile("none"), creator(&ann, a)).await });
    settle().await;
    log.flush();
    let id = create.await.expect("task").expect("created");
    let asked = log.asked.lock().expect("lock").clone();
    assert_eq!(asked.len(), 4, "three taken ids, then a free one");
    assert_eq!(asked[3], id);
    assert!(asked[..3].iter().all(|taken| *taken != id));
}

#[tokio::test(start_paused = true)]
async fn nothing_leaves_a_room_before_its_input_is_durable() {
    // Replies, updates, acks and refusals are held until the log has made the inputs behind
    // them durable, then leave in order; the room goes on taking inputs meanwhile.
    let log = ManualLog::default();
    let mut rooms = Rooms::new(RoomConfig::default(), Arc::new(log.clone()));
    let (ann, bob) = (player("p-ann"), player("p-bob"));
    let (a, mut a_rx) = rooms.conn();
    let (b, _b_rx) = rooms.conn();
    let registry = rooms.registry.clone();
    let create = tokio::spawn({
        let ann = ann.clone();
        async move {
            registry
                .create(hostile("none"), creator(&ann, a.clone()))
                .await
        }
    });
    settle().await;
    assert!(
        !create.is_finished(),
        "the seat is not confirmed before it is durable"
    );
    log.flush();
    let id = create.await.expect("task").expect("created");
    let handle = rooms.registry.get(id.as_str()).expect("open");

    let bob_joins = tokio::spawn({
        let handle = handle.clone();
        async move { join(&handle, &bob, b).await }
    });
    settle().await;
    assert!(!bob_joins.is_finished());
    // Two moves by ann: the first is applied, the second refused (not her turn), both held.
    let (a2, _) = rooms.conn();
    drop(a2);
    log.flush();
    bob_joins.await.expect("task");
    settle().await;
    drain_updates(&mut a_rx);
    let (ann_out, mut ann_rx) = rooms.conn();
    handle.send(act(&ann, "m1", &ann_out)).expect("sent");
    handle.send(act(&ann, "m2", &ann_out)).expect("sent");
    settle().await;
    assert!(
        matches!(ann_rx.try_recv(), Err(TryRecvError::Empty)),
        "nothing before the log says durable"
    );
    assert!(matches!(a_rx.try_recv(), Err(TryRecvError::Empty)));
    log.flush();
    settle().await;
    assert_eq!(
        replies(&mut ann_rx),
        ["ack m1 2", "refused m2 not_your_turn"]
    );
    assert_eq!(
        drain_updates(&mut a_rx),
        vec![(2, vec![1])],
        "ann's seat got the update"
    );

    // The log holds the whole game: seats, start, the action with its request id.
    assert_eq!(
        log.inputs(),
        vec![
            Input::Seat {
                seat: 0,
                change: SeatChange::Human {
                    player: ann.clone(),
                    name: "ann".into()
                }
            },
            Input::Seat {
                seat: 1,
                change: SeatChange::Human {
                    player: player("p-bob"),
                    name: "p-bob".into()
                }
            },
            Input::Start,
            Input::Act {
                seat: 0,
                action: "{}".into(),
                request_id: Some("m1".into())
            },
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn while_storage_is_behind_players_get_unavailable_and_bots_and_timers_wait() {
    // A full log backlog refuses new actions with `unavailable` (not remembered: the same
    // request passes later) and holds the bots back; once it drains, play goes on.
    let log = ManualLog::default();
    let cfg = RoomConfig {
        bot_think_ms: 10,
        ..RoomConfig::default()
    };
    let mut rooms = Rooms::new(cfg, Arc::new(log.clone()));
    let ann = player("p-ann");
    let (a, _a_rx) = rooms.conn();
    let create = tokio::spawn({
        let registry = rooms.registry.clone();
        let req = CreateRoom {
            bots: 1,
            ..hostile("none")
        };
        let who = creator(&ann, a);
        async move { registry.create(req, who).await }
    });
    settle().await;
    log.flush();
    let id = create.await.expect("task").expect("created");
    let handle = rooms.registry.get(id.as_str()).expect("open");
    settle().await;
    log.flush();
    settle().await;
    let (out, mut rx) = rooms.conn();
    handle.send(act(&ann, "m1", &out)).expect("sent");
    settle().await;
    log.flush();
    settle().await;
    let entries = || log.entries.lock().expect("lock").len();
    let before = entries();
    log.full.store(true, std::sync::atomic::Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(50)).await;
    // The bot's turn came: it waits.
    assert_eq!(entries(), before, "nothing recorded while the log is full");
    handle.send(act(&ann, "m2", &out)).expect("sent");
    settle().await;
    log.flush();
    settle().await;
    assert_eq!(replies(&mut rx), ["ack m1 2", "refused m2 unavailable"]);
    log.full.store(false, std::sync::atomic::Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(200)).await;
    log.flush();
    settle().await;
    assert_eq!(entries(), before + 1, "the bot moved once the log drained");
    handle.send(act(&ann, "m2", &out)).expect("sent");
    settle().await;
    log.flush();
    settle().await;
    assert_eq!(
        replies(&mut rx),
        ["ack m2 4"],
        "the refused request passes now"
    );
}
