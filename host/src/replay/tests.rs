//! Records: their text form and their replay.

use super::*;

#[test]
fn actions_are_written_as_json_and_read_back_as_the_same_text() {
    // A record shows an action as the JSON the player sent, not as a quoted string, and a
    // record read back replays the very same action text.
    let input = RecordedInput::Act {
        seat: 2,
        action: r#"{"play":["HORSE_RED","HORSE_RED"]}"#.into(),
        at: 7,
        request_id: None,
        state_hash: None,
    };
    let text = serde_json::to_string(&input).expect("serialize");
    assert_eq!(
        text,
        r#"{"type":"act","seat":2,"action":{"play":["HORSE_RED","HORSE_RED"]},"at":7}"#
    );
    let back: RecordedInput = serde_json::from_str(&text).expect("deserialize");
    assert_eq!(back, input);
}

#[test]
fn a_record_read_back_replays_the_action_text_byte_for_byte() {
    // A replay sends the module exactly the action text it got in the game: key order and
    // spacing included.
    let action = r#"{"b":1,"a":[2, 3]}"#;
    let input = RecordedInput::Act {
        seat: 1,
        action: action.into(),
        at: 5,
        request_id: Some("q1".into()),
        state_hash: Some(hash_text(7)),
    };
    let record = GameRecord {
        format: FORMAT.into(),
        module: ModuleRef {
            name: "turn-room".into(),
            version: "1.0.0".into(),
            digest: Some("ab".into()),
        },
        seed: 3,
        seats: 2,
        options: serde_json::Value::Null,
        started_at: 0,
        start_hash: Some(hash_text(1)),
        inputs: vec![
            RecordedInput::Seat {
                seat: 0,
                change: SeatChange::Human {
                    player: crate::ids::PlayerId::from_wire("p-ann"),
                    name: "ann".into(),
                },
                at: 0,
            },
            input.clone(),
            RecordedInput::Timer {
                at: 9,
                state_hash: None,
            },
        ],
    };
    let text = serde_json::to_string_pretty(&record).expect("serialize");
    assert!(text.contains(action), "{text}");
    let back: GameRecord = serde_json::from_str(&text).expect("deserialize");
    assert_eq!(back, record);
    match &back.inputs[1] {
        RecordedInput::Act { action: a, .. } => assert_eq!(a.as_bytes(), action.as_bytes()),
        other => panic!("expected an act, got {other:?}"),
    }
    let from_reader: GameRecord = serde_json::from_reader(text.as_bytes()).expect("reader");
    assert_eq!(from_reader, record);
}

#[test]
fn inputs_of_the_wrong_shape_are_refused() {
    // A hand-edited record with a missing or stray field is an error, not a silent guess.
    for bad in [
        r#"{"type":"act","action":{},"at":1}"#,
        r#"{"type":"act","seat":0,"at":1}"#,
        r#"{"type":"timer","seat":0,"at":1}"#,
        r#"{"type":"timer","action":{},"at":1}"#,
        r#"{"type":"timer","at":1,"extra":true}"#,
        r#"{"type":"swap","at":1}"#,
        r#"{"type":"timer"}"#,
        r#"{"type":"seat","seat":0,"at":1}"#,
        r#"{"type":"seat","seat":0,"change":"bot","at":1,"state_hash":"00"}"#,
        r#"{"type":"act","seat":0,"action":{},"change":"bot","at":1}"#,
    ] {
        assert!(serde_json::from_str::<RecordedInput>(bad).is_err(), "{bad}");
    }
    assert_eq!(
        serde_json::from_str::<RecordedInput>(r#"{"at":4,"action":null,"seat":2,"type":"act"}"#)
            .expect("fields in any order"),
        RecordedInput::Act {
            seat: 2,
            action: "null".into(),
            at: 4,
            request_id: None,
            state_hash: None,
        }
    );
}

/// A bot-only game of `module` with `options`, `steps` steps long (or to its end), as a record.
fn bot_game(module: &Module, options: &str, steps: usize) -> (GameRecord, Step) {
    let setup = Setup {
        seats: module.info().max_seats,
        seed: 11,
        options: options.into(),
    };
    let ctx = |now| CallContext {
        now,
        viewers: Vec::new(),
    };
    let mut record = GameRecord::new(module, &setup, 0);
    let mut step = module.start(&setup, &ctx(0)).expect("starts");
    let mut now = 0;
    for n in 0..steps {
        if step.result.is_some() {
            break;
        }
        if let Some(&seat) = step.awaiting.first() {
            let action = module.bot(&step.state, seat, n as u64).expect("a move");
            step = module
                .act(&step.state, seat, &action, &ctx(now))
                .expect("legal");
            record.inputs.push(RecordedInput::Act {
                seat,
                action,
                at: now,
                request_id: None,
                state_hash: None,
            });
        } else {
            now = now.max(step.wake_at.expect("a timer when nobody is awaited"));
            step = module.timer(&step.state, &ctx(now)).expect("fires");
            record.inputs.push(RecordedInput::Timer {
                at: now,
                state_hash: None,
            });
        }
    }
    (record, step)
}

#[test]
fn another_version_replays_a_game_to_its_first_divergence() {
    // A Liap Tui 1.0.0 game played past round 20 diverges under 2.0.0, whose round limit ends
    // the game first: the first input after that is refused, and that is where it is reported.
    // The same game under its own version, and a turn-room game under a version with the same
    // rules, do not diverge.
    let rt = crate::rules::Runtime::new(crate::rules::RuntimeConfig::default()).expect("runtime");
    let v1 = rt.load(tabula_bundle::LIAP_TUI_1_0_0).expect("1.0.0");
    let v2 = rt.load(tabula_bundle::LIAP_TUI).expect("2.0.0");
    let (record, _) = bot_game(&v1, r#"{"pace":"instant","win_score":1000}"#, 2_500);
    assert_eq!(shadow(&record, &v1, None), None);
    let found = shadow(&record, &v2, None).expect("diverges");
    assert!(found.index > 100, "{found:?}");
    assert!(found.reason.contains("over"), "{found:?}");
    assert!(found.input.is_some());

    let old = rt.load(tabula_bundle::TURN_ROOM_1_0_0).expect("1.0.0");
    let new = rt.load(tabula_bundle::TURN_ROOM).expect("1.1.0");
    let (record, end) = bot_game(&old, r#"{"moves":30}"#, 100);
    let result = end.result.expect("finished");
    assert_eq!(shadow(&record, &new, Some(&result)), None);
    let found = shadow(&record, &new, Some(r#"{"counter":-1}"#)).expect("another result");
    assert!(found.reason.contains("ends with"), "{found:?}");
}
