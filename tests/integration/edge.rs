//! The connection edge against hostile clients: idle and half-open sockets, connection caps,
//! clients that stop reading or flood, protocol violations, forged names and request ids,
//! origins, and shutdown.

use serde_json::json;
use std::time::Duration;
use tabula_tests::{Client, PATIENCE, TestServer, http_get, request_id};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

/// Reads a raw socket until the server closes it; returns what it sent.
async fn until_closed(s: &mut TcpStream) -> String {
    let mut all = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(PATIENCE, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return String::from_utf8_lossy(&all).into_owned(),
            Ok(Ok(n)) => all.extend_from_slice(&buf[..n]),
            Err(_) => panic!("the server kept an idle socket open"),
        }
    }
}

#[tokio::test]
async fn sockets_that_send_nothing_or_dawdle_or_never_say_hello_are_closed() {
    // A socket that sends nothing, one that sends its upgrade a byte at a time, and a WebSocket
    // that answers pings but never says hello are all closed within their time limits.
    let s = TestServer::start_with(|c| {
        c.connection.header_timeout_ms = 300;
        c.connection.hello_timeout_ms = 300;
    })
    .await;
    let mut silent = TcpStream::connect(s.addr()).await.expect("connect");
    let mut dawdler = TcpStream::connect(s.addr()).await.expect("connect");
    let dawdling = tokio::spawn(async move {
        for b in b"GET /ws HTTP/1.1\r\nHost: x\r\n" {
            if dawdler.write_all(&[*b]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        until_closed(&mut dawdler).await
    });
    let mut mute = Client::connect(s.addr(), None).await;
    until_closed(&mut silent).await;
    dawdling.await.expect("join");
    let (code, reason) = mute.closed().await;
    assert_eq!((code, reason.as_str()), (4002, "no hello in time"));
    // A client that says hello in time stays.
    let mut fine = s.player("fine").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    fine.ok(json!({"type": "list_games"})).await;
}

#[tokio::test]
async fn connections_over_the_caps_get_503_and_health_answers_on_its_own_port() {
    // Beyond the caps a socket is answered 503 and closed; the admin listener still answers,
    // and a place given back is taken again.
    let s = TestServer::start_with(|c| {
        c.connection.max_connections = 4;
        c.connection.max_connections_per_address = 4;
        c.admin_listen = Some("127.0.0.1:0".parse().expect("address"));
    })
    .await;
    let admin = s.server.admin_addr.expect("admin listener");
    assert_eq!(http_get(admin, "/health/ready").await.0, 200);
    assert_eq!(
        s.get("/metrics").await.0,
        404,
        "metrics are on the admin port only"
    );
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(TcpStream::connect(s.addr()).await.expect("connect"));
    }
    let mut over = TcpStream::connect(s.addr()).await.expect("connect");
    let answer = until_closed(&mut over).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    let (status, _) = http_get(admin, "/health/ready").await;
    assert_eq!(status, 200, "health answers while the game port is full");
    let (_, metrics) = http_get(admin, "/metrics").await;
    assert!(
        metrics
            .contains("tabula_connections_ended_by_server_total{reason=\"too_many_connections\"}"),
        "{metrics}"
    );
    held.clear();
    let mut back = None;
    for _ in 0..100 {
        // The server notices the closed sockets as soon as it reads them.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let mut probe = TcpStream::connect(s.addr()).await.expect("connect");
        probe
            .write_all(b"GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .expect("write");
        let answer = until_closed(&mut probe).await;
        if answer.starts_with("HTTP/1.1 404") {
            back = Some(answer);
            break;
        }
    }
    assert!(back.is_some(), "places are given back when sockets close");
    s.player("after").await;
}

#[tokio::test]
async fn a_burst_from_a_client_that_reads_gets_every_reply() {
    // A client's own replies hold back its reading instead of overflowing its queue: a burst of
    // requests far larger than the queue is answered in full, in order.
    let s = TestServer::start_with(|c| c.connection.outbound_queue = 8).await;
    let mut c = s.player("bursty").await;
    let ids: Vec<String> = (0..300).map(|_| request_id()).collect();
    for id in &ids {
        c.send(json!({"type": "list_games", "request_id": id}))
            .await;
    }
    for id in &ids {
        let reply = c.recv().await;
        assert_eq!(reply["request_id"], id.as_str(), "{reply}");
        assert_eq!(reply["type"], "games");
    }
}

/// A server with the write time limit `write_timeout_ms`, a player who created a room of bots
/// playing a long game, and a spectator of it that never reads, on a socket with small buffers.
async fn lazy_spectator(write_timeout_ms: u64) -> (TestServer, Client, Client) {
    let s = TestServer::start_with(|c| {
        c.connection.outbound_queue = 100_000;
        c.connection.socket_send_buffer_bytes = Some(4096);
        c.connection.write_timeout_ms = write_timeout_ms;
    })
    .await;
    let mut host = s.player("host").await;
    let room = host
        .create_room(json!({"game": "turn-room", "bots": 3, "options": {"moves": 1000000}}))
        .await;
    let mut lazy = Client::connect_small_buffer(s.addr()).await;
    lazy.hello("lazy").await;
    lazy.ok(json!({"type": "watch", "room": room})).await;
    (s, host, lazy)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_closed_when_a_write_cannot_complete() {
    // A spectator that never reads, on a socket with small buffers, is cut off once a write to
    // it has waited for the write time limit, and the server forgets the connection.
    let (s, host, lazy) = lazy_spectator(300).await;
    host.drop_connection().await;
    let mut gone = false;
    for _ in 0..200 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let (_, metrics) = s.get("/metrics").await;
        if metrics.contains("tabula_connections 0") && metrics.contains("reason=\"too_slow\"") {
            gone = true;
            break;
        }
    }
    assert!(gone, "the non-reading connection was closed");
    drop(lazy);
}

#[tokio::test]
async fn binary_frames_count_against_the_rate_limit() {
    // Binary frames are refused and counted like any other: a binary flood is limited, then
    // closed with 4008.
    let s = TestServer::start_with(|c| {
        c.connection.messages_per_second = 5;
        c.connection.burst = 5;
        c.connection.flood_strikes = 5;
    })
    .await;
    let mut c = s.player("binary").await;
    for _ in 0..40 {
        c.send_binary(b"\x00\x01").await;
    }
    let first = c.recv_type("error").await;
    assert_eq!(first["code"], "bad_json");
    let limited = c.recv_type("error").await;
    let limited = if limited["code"] == "bad_json" {
        // Up to the burst, binary frames get their own refusal.
        loop {
            let e = c.recv_type("error").await;
            if e["code"] != "bad_json" {
                break e;
            }
        }
    } else {
        limited
    };
    assert_eq!(limited["code"], "rate_limited", "{limited}");
    let (code, _) = c.closed().await;
    assert_eq!(code, 4008);
}

#[tokio::test]
async fn a_flooding_client_gets_its_replies_and_close_frame_even_with_unread_data_in_flight() {
    // A client far past the rate limit, which has not read its replies yet and still has data
    // on its way to the server, gets the replies queued for it and then the documented 4008
    // close, not a reset that throws them away.
    let s = TestServer::start_with(|c| {
        c.connection.messages_per_second = 5;
        c.connection.burst = 5;
        c.connection.flood_strikes = 60;
    })
    .await;
    let mut c = Client::connect_small_buffer(s.addr()).await;
    c.hello("flood").await;
    let pad = "x".repeat(1_000);
    for _ in 0..150 {
        c.send(json!({"type": "list_games", "pad": pad})).await;
    }
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let mut limited = 0;
    let close = loop {
        match c.recv_or_close().await {
            Ok(reply) => limited += usize::from(reply["code"] == "rate_limited"),
            Err(close) => break close,
        }
    };
    assert_eq!((close.0, close.1.as_str()), (4008, "too many messages"));
    assert_eq!(limited, 60, "every refusal before the close arrived");
}

#[tokio::test]
async fn websocket_protocol_errors_close_with_their_own_codes() {
    // Text that is not UTF-8 closes with 1007, a reserved opcode with 1002.
    let s = TestServer::start().await;
    let mut c = s.player("bad-utf8").await;
    c.send_frame(Frame::message(
        vec![0xff, 0xfe, 0xfd],
        OpCode::Data(Data::Text),
        true,
    ))
    .await;
    assert_eq!(c.closed().await.0, 1007);
    let mut c = s.player("reserved").await;
    c.send_frame(Frame::message(
        vec![1],
        OpCode::Data(Data::Reserved(3)),
        true,
    ))
    .await;
    assert_eq!(c.closed().await.0, 1002);
}

#[tokio::test]
async fn shutdown_closes_with_1012_after_queued_frames_and_ends_no_game() {
    // Stopping the server is a restart to clients: every member gets 1012, and no room says it
    // closed, because its game is not over.
    let s = TestServer::start().await;
    let mut alice = s.player("alice").await;
    let room = alice
        .create_room(json!({"game": "turn-room", "seats": 3, "bots": 1}))
        .await;
    let mut bob = s.player("bob").await;
    bob.ok(json!({"type": "join", "room": room})).await;
    let mut eve = s.player("eve").await;
    eve.ok(json!({"type": "watch", "room": room})).await;
    let stopping = tokio::spawn(s.server.stop());
    for c in [&mut alice, &mut bob, &mut eve] {
        loop {
            match c.recv_or_close().await {
                Ok(frame) => assert_ne!(frame["type"], "room_closed", "{frame}"),
                Err((code, reason)) => {
                    assert_eq!((code, reason.as_str()), (1012, "server restarting"));
                    break;
                }
            }
        }
    }
    stopping.await.expect("join").expect("clean shutdown");
}

#[tokio::test]
async fn request_ids_are_counted_in_characters_and_may_not_forge_lines() {
    let s = TestServer::start().await;
    let mut c = s.player("ids").await;
    let accented = "é".repeat(64);
    c.send(json!({"type": "list_games", "request_id": accented}))
        .await;
    let reply = c.recv().await;
    assert_eq!(reply["type"], "games", "{reply}");
    assert_eq!(reply["request_id"], accented.as_str());
    for bad in [
        "é".repeat(65),
        "a\nforged log line".into(),
        "\u{202e}x".into(),
    ] {
        c.send(json!({"type": "list_games", "request_id": bad}))
            .await;
        let reply = c.recv().await;
        assert_eq!(reply["code"], "bad_message", "{bad:?}: {reply}");
    }
    // The shortcut for actions applies the same rule.
    c.send(json!({"type": "act", "request_id": "a\u{0}b", "room": "r-x", "action": {}}))
        .await;
    assert_eq!(c.recv().await["code"], "bad_message");
}

#[tokio::test]
async fn names_with_control_or_direction_characters_are_refused() {
    let s = TestServer::start().await;
    for bad in ["\u{202e}admin", "nul\u{0}", "esc\u{1b}[31m", "tab\tname"] {
        let mut c = Client::connect(s.addr(), None).await;
        let code = c.error_code(json!({"type": "hello", "name": bad})).await;
        assert_eq!(code, "bad_message", "{bad:?}");
        c.hello("fine after all").await;
    }
}

#[tokio::test]
async fn sessions_from_one_address_are_capped() {
    // A client cannot escape per-player limits by saying hello again and again.
    let s = TestServer::start_with(|c| {
        c.connection.new_sessions_per_minute = 3;
        c.connection.sessions_per_address = 1_000;
    })
    .await;
    let mut tokens = Vec::new();
    for i in 0..3 {
        tokens.push(s.player(&format!("p{i}")).await.token);
    }
    let mut c = Client::connect(s.addr(), None).await;
    let code = c
        .error_code(json!({"type": "hello", "name": "one more"}))
        .await;
    assert_eq!(code, "too_many_sessions");
    // Coming back with a token is not a new session.
    let back = Client::reconnect(s.addr(), &tokens[0]).await;
    assert_eq!(back.token, tokens[0]);

    let s = TestServer::start_with(|c| {
        c.connection.new_sessions_per_minute = 1_000;
        c.connection.sessions_per_address = 2;
    })
    .await;
    let _a = s.player("a").await;
    let _b = s.player("b").await;
    let mut c = Client::connect(s.addr(), None).await;
    let code = c.error_code(json!({"type": "hello", "name": "c"})).await;
    assert_eq!(code, "too_many_sessions");
}

#[tokio::test]
async fn websocket_origins_can_be_restricted() {
    let s = TestServer::start_with(|c| {
        c.connection.allowed_origins = vec!["https://play.example".into()];
    })
    .await;
    assert_eq!(
        Client::connect_from_origin(s.addr(), "https://evil.example")
            .await
            .err(),
        Some(403)
    );
    let mut ok = Client::connect_from_origin(s.addr(), "https://play.example")
        .await
        .expect("allowed origin");
    ok.hello("from the site").await;
    // Programs that are not browsers send no Origin.
    s.player("a program").await;
}

/// Every page of `list_rooms` from the start (with `fields`), and the rooms on them.
async fn all_pages(c: &mut Client, fields: serde_json::Value) -> (usize, Vec<String>) {
    let mut ids = Vec::new();
    let mut pages = 0;
    let mut after: Option<String> = None;
    loop {
        let mut req = fields.clone();
        req["type"] = "list_rooms".into();
        if let Some(a) = &after {
            req["after"] = a.as_str().into();
        }
        let page = c.ok(req).await;
        pages += 1;
        for r in page["rooms"].as_array().expect("rooms") {
            ids.push(r["id"].as_str().expect("id").to_string());
        }
        match page["next"].as_str() {
            Some(next) => after = Some(next.to_string()),
            None => return (pages, ids),
        }
    }
}

#[tokio::test]
async fn list_rooms_comes_in_pages() {
    // A lobby of many rooms is read a page at a time, each room once, in id order; a filter
    // does not make a page read every room.
    let s = TestServer::start().await;
    let mut made = Vec::new();
    for p in 0..6 {
        let mut c = s.player(&format!("maker{p}")).await;
        for _ in 0..10 {
            made.push(
                c.create_room(json!({"game": "turn-room", "seats": 4}))
                    .await,
            );
        }
    }
    let mut ttt = Vec::new();
    let mut c = s.player("reader").await;
    for _ in 0..5 {
        ttt.push(c.create_room(json!({"game": "tic-tac-toe"})).await);
    }
    c.create_room(json!({"game": "turn-room", "private": true}))
        .await;
    let first = c.ok(json!({"type": "list_rooms"})).await;
    assert_eq!(first["rooms"].as_array().expect("rooms").len(), 50);
    assert!(first["next"].is_string());
    let (pages, ids) = all_pages(&mut c, json!({"limit": 25})).await;
    assert_eq!(pages, 3);
    let mut expected: Vec<String> = made.iter().chain(&ttt).cloned().collect();
    expected.sort();
    assert_eq!(
        ids, expected,
        "every listed room once, in id order, no private room"
    );
    let (_, ids) = all_pages(&mut c, json!({"limit": 1, "game": "tic-tac-toe"})).await;
    ttt.sort();
    assert_eq!(ids, ttt);
    for bad in [0, 201] {
        let code = c
            .error_code(json!({"type": "list_rooms", "limit": bad}))
            .await;
        assert_eq!(code, "bad_message");
    }
}

#[tokio::test]
async fn private_rooms_cannot_be_guessed() {
    // A private room's id is its key: 128 bits of it, and a client that asks for rooms that do
    // not exist is barred from every room lookup for a while, hits included.
    let s = TestServer::start_with(|c| c.connection.failed_lookups_per_minute = 5).await;
    let mut owner = s.player("owner").await;
    let secret = owner
        .create_room(json!({"game": "turn-room", "private": true}))
        .await;
    assert_eq!(secret.len(), 2 + 26, "{secret}");
    let public = owner.create_room(json!({"game": "turn-room"})).await;
    assert_eq!(public.len(), 2 + 8);
    let mut guesser = s.player("guesser").await;
    for i in 0..5 {
        let code = guesser
            .error_code(json!({"type": "watch", "room": format!("r-guess{i}")}))
            .await;
        assert_eq!(code, "unknown_room");
    }
    let code = guesser
        .error_code(json!({"type": "watch", "room": "r-guess5"}))
        .await;
    assert_eq!(code, "rate_limited", "past the limit");
    let barred = guesser
        .request(json!({"type": "watch", "room": secret}))
        .await;
    assert_eq!(barred["code"], "rate_limited", "{barred}");
    assert!(barred["retry_after_ms"].as_u64() > Some(0));
    // The bar holds for the guesser's address, whoever asks from it.
    let mut other = s.player("same address").await;
    let code = other
        .error_code(json!({"type": "join", "room": public}))
        .await;
    assert_eq!(code, "rate_limited");
}

#[tokio::test]
async fn an_expensive_request_refused_for_its_rate_passes_after_the_wait_it_was_told() {
    // list_rooms costs 5 of a bucket of 5: refused at once after the first, then let through
    // once the client has waited `retry_after_ms`, each time.
    let s = TestServer::start_with(|c| {
        c.connection.messages_per_second = 5;
        c.connection.burst = 5;
    })
    .await;
    let mut c = s.player("patient").await;
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    for _ in 0..3 {
        c.ok(json!({"type": "list_rooms"})).await;
        let refused = c.request(json!({"type": "list_rooms"})).await;
        assert_eq!(refused["code"], "rate_limited", "{refused}");
        let wait = refused["retry_after_ms"].as_u64().expect("retry_after_ms");
        tokio::time::sleep(Duration::from_millis(wait + 20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_does_not_hold_up_the_shutdown() {
    // With a long write time limit, a spectator that never reads leaves a write to it pending;
    // a shutdown gives that write up and ends well before the limit.
    let (s, host, lazy) = lazy_spectator(60_000).await;
    // The bots' updates fill the socket's buffers within a moment.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let started = std::time::Instant::now();
    tokio::time::timeout(Duration::from_secs(30), s.server.stop())
        .await
        .expect("the server stops")
        .expect("stopped cleanly");
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(10),
        "the shutdown took {took:?} with a client that does not read"
    );
    drop(lazy);
    drop(host);
}
