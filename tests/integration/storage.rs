//! Storage as players see it: their moves survive the database going away, and the server tells
//! them and its operators while it cannot store.

use serde_json::json;
use tabula_tests::proxy::TestProxy;
use tabula_tests::{TestServer, databases, request_id};

/// `url` with its host and port replaced by `addr`.
fn through(url: &str, addr: std::net::SocketAddr) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let (credentials, rest) = match rest.split_once('@') {
        Some((c, r)) => (format!("{c}@"), r),
        None => (String::new(), rest),
    };
    let path = rest.find('/').map_or("", |i| &rest[i..]);
    format!("{scheme}://{credentials}{addr}{path}")
}

#[tokio::test]
async fn while_postgres_is_unreachable_moves_wait_then_are_refused_and_nothing_acknowledged_is_lost()
 {
    // The connection to PostgreSQL is cut mid-game: a move already sent is not acknowledged
    // until it is stored, the next one is refused with `unavailable`, readiness turns false;
    // once the database is back the held move is acknowledged, readiness returns, and the
    // refused move passes when sent again.
    let Some(url) = databases::postgres("storage_outage").await else {
        return;
    };
    let proxy = TestProxy::start("127.0.0.1:5432".parse().expect("address"))
        .await
        .expect("proxy");
    let server = TestServer::start_with(|c| {
        c.database.url = Some(through(&url, proxy.addr()));
        c.room.reconnect_grace_ms = 60_000;
    })
    .await;
    let mut ann = server.player("ann").await;
    let mut bob = server.player("bob").await;
    let room = ann
        .create_room(json!({"game": "turn-room", "seats": 2, "options": {"moves": 10}}))
        .await;
    bob.ok(json!({"type": "join", "room": room})).await;
    let act =
        |id: &str| json!({"type": "act", "request_id": id, "room": room, "action": {"add": 1}});
    let first = ann.ok(act(&request_id())).await;
    assert_eq!(first["type"], "ack");
    assert_eq!(server.get("/health/ready").await.0, 200);

    proxy.cut();
    let held = request_id();
    bob.send(act(&held)).await;
    // Until the writer has failed once, a move may still be taken (and held); after that,
    // moves are refused and readiness is false.
    let mut refused = None;
    for _ in 0..200 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        if server.get("/health/ready").await.0 == 503 {
            let reply = ann.request(act(&request_id())).await;
            refused = Some(reply);
            break;
        }
    }
    let refused = refused.expect("readiness turns false while the database is unreachable");
    assert_eq!(refused["code"], "unavailable", "{refused}");
    assert!(
        !bob.has_reply(&held).await,
        "a move is not acknowledged before it is stored"
    );

    proxy.restore();
    let reply = bob.reply_to(&held).await;
    assert_eq!(reply["type"], "ack", "{reply}");
    assert_eq!(reply["seq"], 3);
    let mut ready = false;
    for _ in 0..200 {
        if server.get("/health/ready").await.0 == 200 {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(ready, "readiness returns with the database");
    let again = ann.ok(act(&request_id())).await;
    assert_eq!(again["seq"], 4);
}

#[tokio::test]
async fn a_second_server_on_the_same_sqlite_file_is_refused_until_the_first_stops() {
    // Two servers writing one SQLite file would both write the same games' positions: the
    // second is refused at start with the reason, and starts once the first has stopped.
    let url = databases::sqlite();
    let tweak = |c: &mut tabula::config::Config| c.database.url = Some(url.clone());
    let first = TestServer::start_with(tweak).await;
    let mut c = tabula_tests::test_config();
    tweak(&mut c);
    let refused = match tabula::server::start(c.clone()).await {
        Ok(_) => panic!("a second server started on the same SQLite file"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        refused.contains("in use by another Tabula server"),
        "{refused}"
    );
    first.server.stop().await.expect("stops");
    let second = tabula::server::start(c)
        .await
        .expect("starts once the first has stopped");
    second.stop().await.expect("stops");
}
