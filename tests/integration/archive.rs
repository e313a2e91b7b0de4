//! Finished games as players and operators reach them over HTTP: summaries, records, statistics
//! and the admin API (archive now, purge, corrupt games).

use serde_json::{Value, json};
use std::time::Duration;
use tabula_tests::{Client, TestServer, databases, http};

const ADMIN: &str = "operator-token-for-tests-0123456789";

/// Ann (seat 0) and Bob play tic-tac-toe in a new room until Ann wins; returns the room.
async fn ann_beats_bob(ann: &mut Client, bob: &mut Client) -> String {
    let room = ann.create_room(json!({"game": "tic-tac-toe"})).await;
    bob.ok(json!({"type": "join", "room": room})).await;
    for (i, cell) in [0, 3, 1, 4, 2].into_iter().enumerate() {
        let who = if i % 2 == 0 { &mut *ann } else { &mut *bob };
        who.ok(json!({"type": "act", "room": room, "action": {"cell": cell}}))
            .await;
    }
    let end = ann.update_at_least(&room, 6).await;
    assert_eq!(end["status"], "finished");
    room
}

/// GETs `path` until it answers 200 (the archive is written behind the game), then its JSON.
async fn when_archived(s: &TestServer, path: &str) -> Value {
    for _ in 0..200 {
        let (status, body) = s.get(path).await;
        if status == 200 {
            return serde_json::from_str(&body).expect("JSON");
        }
        assert_eq!(status, 404, "{body}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{path} never answered 200");
}

fn json_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

#[tokio::test]
async fn a_finished_game_is_archived_counted_and_its_record_replays_for_its_players() {
    // Once a game ends, anyone can read its summary and each player's statistics; its players
    // (and operators) can download its record, which replays under the module that played it
    // with every state hash checked; others cannot; the metrics count it.
    let s = TestServer::start_with(|c| c.admin.token = Some(ADMIN.into())).await;
    let mut ann = s.player("ann").await;
    let mut bob = s.player("bob").await;
    let room = ann_beats_bob(&mut ann, &mut bob).await;

    let summary = when_archived(&s, &format!("/api/games/{room}")).await;
    assert_eq!(summary["game"], "tic-tac-toe");
    assert_eq!(summary["result"]["winners"], json!([0]));
    assert_eq!(summary["steps"], 6);
    assert_eq!(summary["log_kept"], true);
    assert_eq!(summary["seats"][0]["player"], ann.player.as_str());
    assert_eq!(summary["seats"][0]["won"], true);
    assert_eq!(summary["seats"][1]["name"], "bob");
    assert_eq!(summary["seats"][1]["won"], false);

    let (_, body) = s.get(&format!("/api/players/{}/stats", ann.player)).await;
    let stats = json_of(&body);
    assert_eq!(
        (stats["games"].clone(), stats["wins"].clone()),
        (json!(1), json!(1))
    );
    assert_eq!(stats["win_rate"], 1.0);
    assert_eq!(stats["recent"][0]["room"], room.as_str());
    let (_, body) = s.get(&format!("/api/players/{}/stats", bob.player)).await;
    assert_eq!(json_of(&body)["win_rate"], 0.0);
    let (_, body) = s.get("/api/stats/games").await;
    let games = json_of(&body);
    let ttt = (games["games"].as_array().expect("games").iter())
        .find(|g| g["game"] == "tic-tac-toe")
        .expect("tic-tac-toe counted")
        .clone();
    assert_eq!(ttt["games"], 1);
    assert_eq!(ttt["games_last_hour"], 1);
    let (_, metrics) = s.get("/metrics").await;
    assert!(
        metrics.contains("tabula_games_finished_total{game=\"tic-tac-toe\",version=\"1.0.0\"} 1"),
        "{metrics}"
    );

    let path = format!("/api/games/{room}/record");
    let (status, body) = http(s.addr(), "GET", &path, None).await;
    assert_eq!(
        (status, json_of(&body)["code"].clone()),
        (401, json!("unauthorized"))
    );
    let (status, _) = http(s.addr(), "GET", &path, Some("not-a-token")).await;
    assert_eq!(status, 401);
    let carol = s.player("carol").await;
    let (status, body) = http(s.addr(), "GET", &path, Some(&carol.token)).await;
    assert_eq!(
        (status, json_of(&body)["code"].clone()),
        (403, json!("not_a_player"))
    );
    let (status, unknown) = http(s.addr(), "GET", "/api/games/nope/record", Some(&ann.token)).await;
    assert_eq!(
        (status, json_of(&unknown)["code"].clone()),
        (404, json!("unknown_game"))
    );

    let (status, body) = http(s.addr(), "GET", &path, Some(&bob.token)).await;
    assert_eq!(status, 200, "{body}");
    let (_, as_operator) = http(s.addr(), "GET", &path, Some(ADMIN)).await;
    assert_eq!(as_operator, body, "operators get the same record");
    let record: tabula::replay::GameRecord = serde_json::from_str(&body).expect("a record");
    assert_eq!(record.format, tabula::replay::FORMAT);
    let digest = record.module.digest.clone().expect("digest");
    let module = s
        .server
        .state
        .registry
        .catalog()
        .by_digest(&digest)
        .expect("module");
    let end = tabula::replay::run(&module, &record, |_| {}).expect("replays, hashes match");
    let result: Value = serde_json::from_str(end.result.as_deref().expect("over")).expect("JSON");
    assert_eq!(result, summary["result"], "the replay ends as the game did");
}

#[tokio::test]
async fn operators_archive_and_purge_with_their_token_and_see_what_is_corrupt() {
    // The admin API is off without a token and refuses a wrong one; with the right one an
    // operator closes finished rooms at once (their players told), purges logs past retention
    // (summaries stay, records answer 410) and lists no corrupt game on a healthy server.
    let off = TestServer::start().await;
    let (status, body) = http(off.addr(), "POST", "/admin/archive", Some(ADMIN)).await;
    assert_eq!(
        (status, json_of(&body)["code"].clone()),
        (404, json!("admin_off"))
    );
    drop(off);

    let s = TestServer::start_with(|c| {
        c.admin.token = Some(ADMIN.into());
        c.archive.retention = "summary".parse().expect("retention");
        // Finished rooms stay until an operator archives them.
        c.room.finished_close_ms = 600_000;
    })
    .await;
    let mut ann = s.player("ann").await;
    let mut bob = s.player("bob").await;
    let room = ann_beats_bob(&mut ann, &mut bob).await;
    when_archived(&s, &format!("/api/games/{room}")).await;
    assert!(s.server.state.registry.get(&room).is_ok(), "still open");

    for token in [None, Some("wrong-token-of-sufficient-length")] {
        let (status, body) = http(s.addr(), "POST", "/admin/archive", token).await;
        assert_eq!(
            (status, json_of(&body)["code"].clone()),
            (401, json!("unauthorized"))
        );
    }
    let (status, body) = http(s.addr(), "POST", "/admin/archive", Some(ADMIN)).await;
    assert_eq!((status, json_of(&body)), (200, json!({"closed": 1})));
    assert_eq!(ann.recv_type("room_closed").await["room"], room.as_str());
    assert!(s.server.state.registry.get(&room).is_err(), "left memory");
    let (_, body) = http(s.addr(), "POST", "/admin/archive", Some(ADMIN)).await;
    assert_eq!(json_of(&body), json!({"closed": 0}));

    let record = format!("/api/games/{room}/record");
    assert_eq!(
        http(s.addr(), "GET", &record, Some(&ann.token)).await.0,
        200
    );
    let (status, body) = http(s.addr(), "POST", "/admin/purge", Some(ADMIN)).await;
    assert_eq!(
        (status, json_of(&body)),
        (200, json!({"purged": 1, "retention": "summary"}))
    );
    let (status, body) = http(s.addr(), "GET", &record, Some(&ann.token)).await;
    assert_eq!(
        (status, json_of(&body)["code"].clone()),
        (410, json!("purged"))
    );
    let summary = when_archived(&s, &format!("/api/games/{room}")).await;
    assert_eq!(summary["log_kept"], false);
    assert_eq!(summary["seats"][0]["won"], true);

    let (status, body) = http(s.addr(), "GET", "/admin/corrupt", Some(ADMIN)).await;
    assert_eq!((status, json_of(&body)), (200, json!({"games": []})));
}

#[tokio::test]
async fn a_game_whose_log_does_not_replay_is_listed_as_corrupt_and_its_record_is_readable() {
    // After a restart on a log with a step missing, the game is paused as corrupt: operators
    // find it in /admin/corrupt with the reason, and can read what its log holds.
    let url = databases::sqlite();
    let tweak = |c: &mut tabula::config::Config| {
        c.database.url = Some(url.clone());
        c.admin.token = Some(ADMIN.into());
    };
    let s = TestServer::start_with(tweak).await;
    let mut ann = s.player("ann").await;
    let mut bob = s.player("bob").await;
    let room = ann
        .create_room(json!({"game": "turn-room", "seats": 2, "options": {"moves": 20}}))
        .await;
    bob.ok(json!({"type": "join", "room": room})).await;
    for i in 0..4 {
        let who = if i % 2 == 0 { &mut ann } else { &mut bob };
        who.ok(json!({"type": "act", "room": room, "action": {"add": 1}}))
            .await;
    }
    // (Clients that stop reading would hold the shutdown for its close timeouts.)
    drop((ann, bob));
    s.server.stop().await.expect("stops");

    let pool = sqlx::SqlitePool::connect(&url)
        .await
        .expect("open the file");
    assert!(
        drop_step(&pool, room.as_str(), 2).await,
        "the step was in the log"
    );
    pool.close().await;

    let s = TestServer::start_with(tweak).await;
    let mut listed = json!(null);
    for _ in 0..200 {
        let (_, body) = http(s.addr(), "GET", "/admin/corrupt", Some(ADMIN)).await;
        listed = json_of(&body);
        if listed["games"].as_array().is_some_and(|g| !g.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let game = &listed["games"][0];
    assert_eq!(game["room"], room.as_str());
    assert_eq!(game["game"], "turn-room");
    assert!(
        game["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("corrupt")),
        "{listed}"
    );
    let path = format!("/admin/games/{room}/record");
    let (status, body) = http(s.addr(), "GET", &path, Some(ADMIN)).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        json_of(&body)["inputs"]
            .as_array()
            .is_some_and(|i| !i.is_empty())
    );
}

/// Takes the first entry of step `seq` out of a game's log in an SQLite file; whether it was
/// there. A stopped server's entries are in `entry_chunks`: per row, records of a little-endian
/// u64 position, a u32 length and the entry (postcard), one after the other.
async fn drop_step(pool: &sqlx::SqlitePool, room: &str, seq: u64) -> bool {
    let chunks: Vec<(i64, Vec<u8>)> =
        sqlx::query_as("SELECT pos_from, data FROM entry_chunks WHERE room = $1 ORDER BY pos_from")
            .bind(room)
            .fetch_all(pool)
            .await
            .expect("chunks");
    for (from, data) in chunks {
        let (mut at, mut kept) = (0, Vec::new());
        let mut dropped = false;
        while at < data.len() {
            let len = u32::from_le_bytes(data[at + 8..at + 12].try_into().expect("4 bytes"));
            let end = at + 12 + len as usize;
            let entry: tabula::store::Entry =
                postcard::from_bytes(&data[at + 12..end]).expect("an entry");
            if entry.seq == seq && !dropped {
                dropped = true;
            } else {
                kept.extend_from_slice(&data[at..end]);
            }
            at = end;
        }
        if dropped {
            sqlx::query("UPDATE entry_chunks SET data = $1 WHERE room = $2 AND pos_from = $3")
                .bind(kept)
                .bind(room)
                .bind(from)
                .execute(pool)
                .await
                .expect("update");
            return true;
        }
    }
    false
}
