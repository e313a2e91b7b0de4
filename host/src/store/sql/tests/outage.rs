//! The database going away and coming back (through a proxy the test cuts), and SQLite's
//! checkpoints beside the writer.

use super::*;
use tabula_tests::proxy::TestProxy;

#[tokio::test]
async fn the_writer_outlives_a_database_outage() {
    // While the database is unreachable, rooms' appends keep queueing and nothing is reported
    // durable; at the backlog bound rooms are told to stop; once it is back everything queued
    // is written, by itself, and readable.
    let test = "store::sql::tests::the_writer_outlives_a_database_outage";
    let Some(TestDb::Postgres(schema)) = TestDb::postgres(test).await else {
        return;
    };
    let proxy = TestProxy::start(schema.server_addr().await)
        .await
        .expect("proxy");
    let cfg = DatabaseConfig {
        max_backlog: 8,
        max_batch: 4,
        ..DatabaseConfig::default()
    };
    let metrics = Metrics::new();
    let s = Storage::open(&schema.url_via(proxy.addr()), &cfg, &metrics)
        .await
        .expect("open");
    let room = RoomId::from_wire("r-outage");
    let mut w = s.log.create(header(room.as_str(), 1)).expect("create");
    for seq in 1..=3 {
        w.append(entry(seq));
    }
    until_durable(&*w, 3).await;

    proxy.cut();
    // No await between these appends: the writer has not run, so only the backlog decides.
    for seq in 4..=10 {
        w.append(entry(seq));
        assert!(w.accepting(), "{} entries waiting", seq - 3);
    }
    w.append(entry(11));
    assert!(!w.accepting() && !s.log.accepting(), "8 entries waiting");
    // A room's last accepted input may append a few more: they queue too.
    w.append(entry(12));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        w.durable().get(),
        3,
        "nothing is durable while the database is away"
    );
    assert!(metrics.store.commits_failed.get() > 0);
    assert!(!s.log.accepting());
    assert!(
        s.sessions.insert(session("t-during"), 1).await.is_err(),
        "a new session is refused at once"
    );

    proxy.restore();
    until_durable(&*w, 12).await;
    let drained = tokio::time::timeout(Duration::from_secs(10), async {
        while !s.log.accepting() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(drained.is_ok(), "accepting again once drained");
    assert!(w.accepting());
    let log = s.log.read(&room).await.expect("read").expect("game");
    let expected: Vec<(u64, Entry)> = (1..=12).map(|seq| (seq, entry(seq))).collect();
    assert_eq!(log.entries, expected);
    assert_eq!(metrics.store.queue_entries.get(), 0);
}

#[tokio::test]
async fn sqlite_checkpoints_beside_the_writer() {
    // On SQLite, what the writer commits reaches the database file by itself soon after (the
    // WAL is copied back by a checkpointer beside the writer, not inside its commits).
    let db = TestDb::sqlite();
    let s = db.open().await;
    let file = db.url().trim_start_matches("sqlite://").to_owned();
    let size = || std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
    let before = size();
    let mut w = s.log.create(header("r-ckpt", 1)).expect("create");
    let big = |seq| Entry {
        input: Input::Act {
            seat: 0,
            action: "x".repeat(2_000).into(),
            request_id: None,
        },
        ..entry(seq)
    };
    for seq in 1..=200 {
        w.append(big(seq));
    }
    until_durable(&*w, 200).await;
    let grown = tokio::time::timeout(Duration::from_secs(10), async {
        while size() <= before + 200 * 2_000 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(
        grown.is_ok(),
        "the database file stayed at {} bytes",
        size()
    );
}
