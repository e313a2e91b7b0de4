//! Crash tests with real processes: a server is killed with SIGKILL in the middle of games (and
//! of a burst of actions), restarted on the same database, and its players come back.

use serde_json::{Value, json};
use std::collections::HashMap;
use tabula_tests::{Client, ServerProcess, databases, request_id};

const BIN: &str = env!("CARGO_BIN_EXE_tabula");

/// Long grace and no turn deadline: the bots must not play for players while they reconnect.
const ENV: &[(&str, &str)] = &[
    ("TABULA_ROOM__RECONNECT_GRACE_MS", "60000"),
    ("TABULA_ROOM__BOT_THINK_MS", "0"),
];

/// Moves in each game.
const MOVES: u64 = 12;

/// One game between ann and bob, as the clients know it.
struct Game {
    room: String,
    /// Acknowledged moves: request id -> sequence number.
    acked: HashMap<String, u64>,
    /// Sent and not (yet) acknowledged.
    in_flight: Vec<(usize, String)>,
    /// Whose turn: 0 = ann, 1 = bob (the seats alternate, ann first).
    turn: usize,
}

/// Sends the next move of `g` from the player in turn, without waiting for the reply.
async fn send_move(players: &mut [Client; 2], g: &mut Game) -> String {
    let id = request_id();
    players[g.turn]
        .send(json!({"type": "act", "request_id": id, "room": g.room, "action": {"add": 1}}))
        .await;
    g.in_flight.push((g.turn, id.clone()));
    g.turn = 1 - g.turn;
    id
}

/// Waits for the replies to every move in flight; each must be an ack.
async fn settle(players: &mut [Client; 2], g: &mut Game) {
    for (who, id) in std::mem::take(&mut g.in_flight) {
        let reply = players[who].reply_to(&id).await;
        assert_eq!(reply["type"], "ack", "{reply}");
        let seq = reply["seq"].as_u64().expect("seq");
        if let Some(first) = g.acked.insert(id.clone(), seq) {
            assert_eq!(
                first, seq,
                "a retried move is answered with its first reply"
            );
        }
    }
}

async fn crash_and_recover(database_url: &str) {
    let data = tempfile::tempdir().expect("tempdir");
    let server = ServerProcess::start(BIN, data.path(), database_url, ENV);
    server.ready().await;
    let mut players = [
        tabula_tests::Client::connect(server.addr, None).await,
        tabula_tests::Client::connect(server.addr, None).await,
    ];
    players[0].hello("ann").await;
    players[1].hello("bob").await;
    let mut games = Vec::new();
    for _ in 0..3 {
        let room = players[0]
            .create_room(json!({"game": "turn-room", "seats": 2, "options": {"moves": MOVES}}))
            .await;
        players[1].ok(json!({"type": "join", "room": room})).await;
        games.push(Game {
            room,
            acked: HashMap::new(),
            in_flight: Vec::new(),
            turn: 0,
        });
    }
    // Four moves in each game, every one acknowledged.
    for g in &mut games {
        for _ in 0..4 {
            send_move(&mut players, g).await;
            settle(&mut players, g).await;
        }
    }
    // A burst: the next move in every game, sent at once, and the server killed at once.
    for g in &mut games {
        send_move(&mut players, g).await;
    }
    server.kill9();

    let server = ServerProcess::start(BIN, data.path(), database_url, ENV);
    server.ready().await;
    let tokens = [players[0].token.clone(), players[1].token.clone()];
    let mut players = [
        Client::reconnect(server.addr, &tokens[0]).await,
        Client::reconnect(server.addr, &tokens[1]).await,
    ];
    for g in &mut games {
        let last = g.acked.values().copied().max().unwrap_or(0);
        for p in players.iter_mut() {
            let reply = p
                .ok(json!({"type": "resume", "room": g.room, "last_seq": last}))
                .await;
            assert_eq!(reply["room"]["status"], "running", "{reply}");
            assert!(
                reply["room"]["seq"].as_u64().unwrap_or(0) >= last,
                "every acknowledged move is there: {reply}"
            );
        }
        // The move of the burst is retried with its request id: applied once either way.
        let retried: Vec<(usize, String)> = std::mem::take(&mut g.in_flight);
        for (who, id) in &retried {
            players[*who]
                .send(
                    json!({"type": "act", "request_id": id, "room": g.room, "action": {"add": 1}}),
                )
                .await;
        }
        g.in_flight = retried;
        settle(&mut players, g).await;
    }
    // The games play on to their end: exactly MOVES distinct moves were acknowledged in each
    // (a move applied twice would end a game early, one lost would leave it running).
    for g in &mut games {
        while (g.acked.len() as u64) < MOVES {
            send_move(&mut players, g).await;
            settle(&mut players, g).await;
        }
        let end = players[0].update_at_least(&g.room, MOVES + 1).await;
        assert_eq!(end["status"], "finished", "{end}");
        let result: Value = match &end["result"] {
            Value::String(text) => serde_json::from_str(text).expect("a JSON result"),
            other => other.clone(),
        };
        assert_eq!(result["counter"], MOVES, "{end}");
    }
    server.kill9();
}

#[tokio::test]
async fn a_server_killed_mid_game_on_sqlite_comes_back_with_every_acknowledged_move() {
    // kill -9 in the middle of three games and of a burst of moves; restarted on the same
    // SQLite file, the server has every acknowledged move, the players resume with their
    // tokens, retried moves are applied once, and the games play on to their end.
    crash_and_recover(&databases::sqlite()).await;
}

#[tokio::test]
async fn a_server_killed_mid_game_on_postgres_comes_back_with_every_acknowledged_move() {
    // The same on PostgreSQL.
    let Some(url) = databases::postgres("crash_postgres").await else {
        return;
    };
    crash_and_recover(&url).await;
}
