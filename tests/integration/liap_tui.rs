//! Liap Tui over the wire: four people play a whole game, and nobody ever sees a piece they
//! should not.

use serde_json::{Value, json};
use tabula_tests::{Client, TestServer, liap_tui_move as choose, room_id};

/// Whether `s` names a piece kind, e.g. `HORSE_RED`.
fn is_piece(s: &str) -> bool {
    let names = [
        "GENERAL", "ADVISOR", "ELEPHANT", "CHARIOT", "HORSE", "CANNON", "SOLDIER",
    ];
    s.rsplit_once('_').is_some_and(|(name, colour)| {
        names.contains(&name) && (colour == "RED" || colour == "BLACK")
    })
}

/// Every piece named anywhere in `v`, except under the keys in `allowed`.
fn pieces_outside(v: &Value, allowed: &[&str], found: &mut Vec<String>) {
    match v {
        Value::String(s) if is_piece(s) => found.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|i| pieces_outside(i, allowed, found)),
        Value::Object(map) => {
            for (k, v) in map {
                if !allowed.contains(&k.as_str()) {
                    pieces_outside(v, allowed, found);
                }
            }
        }
        _ => {}
    }
}

/// Spec §7's leak rule for one update: pieces only in the viewer's own hand and in public plays.
fn assert_no_leak(update: &Value, seat: Option<u64>) {
    let view = &update["view"];
    let mut found = Vec::new();
    pieces_outside(view, &["hand", "trick", "last_trick"], &mut found);
    assert!(
        found.is_empty(),
        "seat {seat:?} saw {found:?} outside its hand and public plays: {view}"
    );
    if seat.is_none() {
        assert!(view["hand"].is_null(), "a spectator saw a hand: {view}");
    }
    for event in update["events"].as_array().into_iter().flatten() {
        let mut found = Vec::new();
        // A `dealt` event carries the recipient's own hand; `played` events are public plays.
        pieces_outside(event, &["hand", "pieces"], &mut found);
        assert!(
            found.is_empty(),
            "seat {seat:?} got an event with {found:?}: {event}"
        );
        if event["type"] == "dealt" && !event["hand"].is_null() {
            // The hand dealt in an event is the recipient's own: the one its view shows.
            let sorted = |v: &Value| {
                let mut p: Vec<String> = v
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect();
                p.sort();
                p
            };
            assert!(seat.is_some(), "a spectator was dealt a hand: {event}");
            assert_eq!(
                sorted(&event["hand"]),
                sorted(&view["hand"]),
                "a hand went to the wrong seat: {event}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_humans_play_liap_tui_to_game_over_without_seeing_hidden_pieces() {
    // A full game between four people at instant pace; every view and event each of them and a
    // spectator receives obeys the leak rule, and the game ends with winners.
    let s = TestServer::start_with(|c| c.allow_client_seed = true).await;
    let mut players = vec![s.player("p0").await];
    // A fixed seed makes the game reproducible: these simple players (who play badly) reach
    // the win score with it in a few rounds.
    let created = players[0]
        .ok(json!({"type": "create_room", "game": "liap-tui", "seed": 1,
                   "options": {"pace": "instant", "win_score": 5}}))
        .await;
    let room = room_id(&created);
    let mut spectator = s.player("watcher").await;
    spectator.ok(json!({"type": "watch", "room": room})).await;
    for i in 1..4 {
        let mut c = s.player(&format!("p{i}")).await;
        c.ok(json!({"type": "join", "room": room})).await;
        players.push(c);
    }
    // Every step raises the room's seq by one and reaches every player in order, so the
    // players read in lockstep up to the newest seq the test knows of.
    let mut latest: Vec<Value> = vec![Value::Null; 4];
    let mut seq = 1;
    loop {
        for (seat, c) in players.iter_mut().enumerate() {
            while latest[seat]["seq"].as_u64().unwrap_or(0) < seq {
                let u = c.update_at_least(&room, 1).await;
                assert_no_leak(&u, Some(seat as u64));
                latest[seat] = u;
            }
        }
        if latest[0]["status"] == "finished" {
            break;
        }
        assert!(seq < 3_000, "the game should end");
        let Some(seat) = latest[0]["awaiting"]
            .as_array()
            .and_then(|a| a.first())
            .and_then(Value::as_u64)
        else {
            seq += 1; // a timer is due: its step comes next
            continue;
        };
        let seat = seat as usize;
        let action = choose(&latest[seat]["view"]).expect("the awaited player has a move");
        let reply = players[seat]
            .request(json!({"type": "act", "room": room, "action": action, "expected_seq": seq}))
            .await;
        match reply["code"].as_str() {
            None => seq = reply["seq"].as_u64().expect("ack seq"),
            Some("stale") => seq += 1, // a timer got there first
            Some(code) => panic!("seat {seat}'s {action} was refused: {code} {reply}"),
        }
    }
    let result = &latest[0]["result"];
    let winners = result["winners"].as_array().expect("winners");
    assert!(!winners.is_empty());
    let scores: Vec<i64> = result["scores"]
        .as_array()
        .expect("scores")
        .iter()
        .filter_map(Value::as_i64)
        .collect();
    let best = *scores.iter().max().expect("scores");
    assert!(best >= 5);
    for w in winners {
        assert_eq!(scores[w.as_u64().expect("seat") as usize], best);
    }
    // The spectator followed the whole game and never saw a hand.
    let mut last = Value::Null;
    while last["status"] != "finished" {
        last = spectator.recv_type("update").await;
        assert_no_leak(&last, None);
    }
    assert_eq!(&last["result"], result);
    // The game is archived with its rounds and each player's outcome and score.
    let rounds = result["rounds"].as_u64().expect("rounds in the result");
    assert!(rounds >= 1);
    let mut summary = Value::Null;
    for _ in 0..200 {
        let (status, body) = s.get(&format!("/api/games/{room}")).await;
        if status == 200 {
            summary = serde_json::from_str(&body).expect("JSON");
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(summary["rounds"], rounds);
    for (seat, p) in players.iter().enumerate() {
        let archived = &summary["seats"][seat];
        assert_eq!(archived["player"], p.player.as_str());
        assert_eq!(archived["score"], scores[seat]);
        assert_eq!(archived["won"], winners.contains(&json!(seat)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_human_with_three_bots_plays_liap_tui_to_the_end() {
    // A person plays with three bots; the bots move on their own and the game ends.
    let s = TestServer::start().await;
    let mut alice: Client = s.player("alice").await;
    let room = alice
        .create_room(json!({"game": "liap-tui", "bots": 3,
                       "options": {"pace": "instant", "win_score": 10}}))
        .await;
    let mut acted_on = 0;
    loop {
        let u = alice.recv_type("update").await;
        assert_no_leak(&u, Some(0));
        if u["status"] == "finished" {
            assert!(
                !u["result"]["winners"]
                    .as_array()
                    .expect("winners")
                    .is_empty()
            );
            break;
        }
        let seq = u["seq"].as_u64().expect("seq");
        if u["view"].is_null() || seq <= acted_on {
            continue;
        }
        if let Some(action) = choose(&u["view"]) {
            let reply = alice
                .request(
                    json!({"type": "act", "room": room, "action": action, "expected_seq": seq}),
                )
                .await;
            assert!(
                reply["type"] == "ack" || reply["code"] == "stale",
                "{reply}"
            );
            acted_on = seq;
        }
    }
}
