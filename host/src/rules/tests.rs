//! Sandbox tests against the real bundled components, hostile fixtures included.

use super::*;
use crate::rules::conformance::{self, CheckOptions};

fn runtime(limits: Limits) -> Runtime {
    Runtime::new(RuntimeConfig {
        limits,
        cache_dir: None,
    })
    .expect("runtime")
}

fn test_limits() -> Limits {
    Limits {
        fuel_per_call: 100_000_000,
        deadline_ms: 2_000,
        memory_bytes: 32 << 20,
        output_bytes: 256 << 10,
        ..Limits::default()
    }
}

fn ctx() -> CallContext {
    CallContext {
        now: 0,
        viewers: vec![Viewer::Seat(0), Viewer::Seat(1), Viewer::Spectator],
    }
}

fn hostile(rt: &Runtime) -> Module {
    rt.load(tabula_bundle::HOSTILE).expect("hostile loads")
}

fn start(m: &Module, options: &str, seats: u32) -> Step {
    m.start(
        &Setup {
            seats,
            seed: 1,
            options: options.into(),
        },
        &ctx(),
    )
    .expect("start")
}

/// Runs `fault`'s act and returns the error; then proves the same module and another module
/// still serve normal calls, and that the caller's state is unchanged and still usable.
fn provoke(rt: &Runtime, fault: &str) -> RulesError {
    let m = hostile(rt);
    let step = start(&m, &format!(r#"{{"fault":"{fault}"}}"#), 2);
    let before = step.state.clone();
    let err = m
        .act(&step.state, 0, "{}", &ctx())
        .expect_err("the fault must surface");
    assert_eq!(step.state, before);

    let calm = start(&m, "", 2);
    let next = m
        .act(&calm.state, 0, "{}", &ctx())
        .expect("a calm game still plays");
    assert_eq!(next.awaiting, vec![1]);
    let other = rt.load(tabula_bundle::TURN_ROOM).expect("turn-room loads");
    let s = start(&other, "", 4);
    other
        .act(&s.state, 0, r#"{"add":1}"#, &ctx())
        .expect("other modules are unaffected");
    err
}

#[test]
fn an_infinite_loop_runs_out_of_fuel() {
    // A module that never returns costs only its own action: typed OutOfFuel, nothing else hurt.
    let rt = runtime(test_limits());
    let err = provoke(&rt, "spin");
    assert_eq!(
        err,
        RulesError::OutOfFuel {
            budget: 100_000_000
        }
    );
}

#[test]
fn an_infinite_loop_hits_the_wall_clock_deadline_when_fuel_is_plentiful() {
    // The epoch deadline is a backstop independent of fuel: a loop is interrupted on time.
    let rt = runtime(Limits {
        fuel_per_call: u64::MAX / 2,
        deadline_ms: 50,
        ..test_limits()
    });
    let started = std::time::Instant::now();
    let err = provoke(&rt, "spin");
    assert_eq!(err, RulesError::Interrupted { deadline_ms: 50 });
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

#[test]
fn a_memory_bomb_is_stopped_at_the_cap() {
    // Allocating without bound traps at the memory cap instead of exhausting the host.
    let rt = runtime(test_limits());
    let err = provoke(&rt, "memory-bomb");
    assert_eq!(
        err,
        RulesError::MemoryLimit {
            cap_bytes: 32 << 20
        }
    );
}

#[test]
fn a_panic_is_a_trap_that_carries_the_panic_message() {
    // A designer sees why the module failed: the panic message reaches the typed error.
    let rt = runtime(test_limits());
    match provoke(&rt, "panic") {
        RulesError::Trap { message } => {
            assert!(message.contains("panicked on purpose"), "{message}")
        }
        other => panic!("expected a trap, got {other:?}"),
    }
}

#[test]
fn oversized_output_is_refused() {
    // A step bigger than the output cap is refused, not passed on to players.
    let rt = runtime(test_limits());
    match provoke(&rt, "big-output") {
        RulesError::OutputTooLarge { bytes, cap_bytes } => {
            assert_eq!(cap_bytes, 256 << 10);
            assert!(bytes > 2 << 20);
        }
        other => panic!("expected OutputTooLarge, got {other:?}"),
    }
}

#[test]
fn a_state_that_breaks_invariants_fails_check() {
    // `check` reports the broken invariant as CheckFailed with the module's reason.
    let rt = runtime(test_limits());
    let m = hostile(&rt);
    let step = start(&m, r#"{"fault":"bad-state"}"#, 2);
    m.check(&step.state).expect("a fresh game is sound");
    let bad = m
        .act(&step.state, 0, "{}", &ctx())
        .expect("act itself works");
    assert_eq!(
        m.check(&bad.state),
        Err(RulesError::CheckFailed {
            reason: "the state is broken on purpose".into()
        })
    );
    let report = conformance::run(
        &m,
        &CheckOptions {
            games: 2,
            options: r#"{"fault":"bad-state"}"#.into(),
            ..CheckOptions::default()
        },
        |_| {},
    );
    assert_eq!(report.failures.get("check_failed"), Some(&2));
}

#[test]
fn hidden_global_state_is_caught_as_nondeterminism() {
    // A module that remembers things between calls fails the replay comparison.
    let rt = runtime(test_limits());
    let m = hostile(&rt);
    let report = conformance::run(
        &m,
        &CheckOptions {
            games: 3,
            options: r#"{"fault":"nondeterministic"}"#.into(),
            ..CheckOptions::default()
        },
        |_| {},
    );
    assert!(!report.passed());
    assert_eq!(
        report.failures.get("nondeterministic"),
        Some(&3),
        "{report:?}"
    );
    let calm = conformance::run(
        &m,
        &CheckOptions {
            games: 3,
            ..CheckOptions::default()
        },
        |_| {},
    );
    assert!(calm.passed(), "{calm:?}");
}

#[test]
fn a_timer_that_traps_while_a_seat_is_awaited_fails_conformance() {
    // As in a room, a timer due before a thinking bot moves fires first, so its trap is found.
    let rt = runtime(test_limits());
    let m = hostile(&rt);
    let check = |bot_think_ms: Vec<u64>| {
        conformance::run(
            &m,
            &CheckOptions {
                games: 6,
                options: r#"{"fault":"bad-timer"}"#.into(),
                bot_think_ms,
                ..CheckOptions::default()
            },
            |_| {},
        )
    };
    let report = check(conformance::DEFAULT_BOT_THINK_MS.to_vec());
    assert!(!report.passed());
    let traps = report.failures.get("trap").copied().unwrap_or(0);
    assert!(traps >= 4, "{report:?}");
    let example = &report.examples[0];
    assert!(
        example.detail.contains("timer fails on purpose") && example.bots.contains("thinking"),
        "{example:?}"
    );
    // Instant bots end the game before the timer's time comes, so they alone miss it.
    let instant = check(vec![0]);
    assert!(instant.passed(), "{instant:?}");
}

#[test]
fn a_failing_migrate_is_a_typed_trap() {
    // A migrate that panics fails with its message; the module keeps serving.
    let rt = runtime(test_limits());
    let m = hostile(&rt);
    let old_state = [0u8, 0, 0, 0, 1, 2, 3];
    match m.migrate(&old_state, 0, &ctx()) {
        Err(RulesError::Trap { message }) => {
            assert!(message.contains("cannot migrate"), "{message}")
        }
        other => panic!("expected a trap, got {other:?}"),
    }
    let step = start(&m, "", 2);
    let taken = m.migrate(&step.state, 1, &ctx()).expect("same version");
    assert_eq!(taken.state, step.state);
    assert_eq!(
        m.migrate_state(&step.state, 1).expect("same version"),
        step.state
    );
}

#[test]
fn modules_of_both_contract_versions_run_and_only_the_newer_takes_games_over() {
    // A module built against tabula:rules@0.1.0 (the released turn-room 1.0.0) still plays; it
    // cannot take a running game over, while the current build (0.2.0) takes over its game and
    // reports the phase, awaiting seats and views the host needs to go on.
    let rt = runtime(test_limits());
    let old = rt
        .load(tabula_bundle::TURN_ROOM_1_0_0)
        .expect("0.1.0 loads");
    let new = rt.load(tabula_bundle::TURN_ROOM).expect("0.2.0 loads");
    assert_eq!(old.contract(), ContractVersion::V0_1);
    assert_eq!(new.contract(), ContractVersion::V0_2);
    assert_eq!(old.info().version, "1.0.0");
    assert_eq!(new.info().version, "1.1.0");
    let first = start(&old, "", 2);
    let played = old
        .act(&first.state, 0, r#"{"add":2}"#, &ctx())
        .expect("the 0.1.0 module plays");
    assert_eq!(
        old.migrate(&played.state, 1, &ctx()),
        Err(RulesError::CannotTakeOver {
            contract: ContractVersion::V0_1
        })
    );
    assert_eq!(
        old.migrate_state(&played.state, 1).expect("its own state"),
        played.state
    );
    let taken = new
        .migrate(&played.state, old.info().state_version, &ctx())
        .expect("the 0.2.0 module takes the game over");
    assert_eq!(taken.phase, played.phase);
    assert_eq!(taken.awaiting, played.awaiting);
    assert_eq!(taken.result, None);
    assert_eq!(taken.views.len(), played.views.len());
    let next = new
        .act(&taken.state, played.awaiting[0], r#"{"add":1}"#, &ctx())
        .expect("and goes on with it");
    assert!(next.views[0].view.contains(r#""counter":3"#), "{next:?}");
}

#[test]
fn released_modules_are_the_bytes_released() {
    // A released version never changes: each file in rules/released/ has the digest recorded
    // when it was released, and reports the name and version its file name says.
    let rt = runtime(test_limits());
    let released: Vec<_> = tabula_bundle::MODULES
        .iter()
        .filter(|b| b.released.is_some())
        .collect();
    assert!(released.len() >= 3, "{released:?}");
    for b in released {
        let m = rt.load(b.bytes).expect("loads");
        let file = format!("{}-{}.wasm", b.name, b.released.unwrap_or_default());
        let line = format!("{}  {file}", m.digest());
        assert!(
            tabula_bundle::RELEASED_DIGESTS.lines().any(|l| l == line),
            "{file} is not the module released (digest {})",
            m.digest()
        );
        assert_eq!(m.info().name, b.name);
        assert_eq!(Some(m.info().version.as_str()), b.released);
    }
}

#[test]
fn rule_rejections_are_typed_and_keep_the_instance() {
    // Illegal input is a Rejected error with the rule's reason; no instance is thrown away.
    let rt = runtime(test_limits());
    let m = rt.load(tabula_bundle::TURN_ROOM).expect("load");
    let s = start(&m, "", 4);
    let err = m
        .act(&s.state, 0, r#"{"add":9}"#, &ctx())
        .expect_err("illegal");
    assert!(
        matches!(err, RulesError::Rejected(RuleError::Illegal(_))),
        "{err:?}"
    );
    let err = m
        .act(&s.state, 2, r#"{"add":1}"#, &ctx())
        .expect_err("wrong seat");
    assert_eq!(err, RulesError::Rejected(RuleError::NotYourTurn));
    let err = m.act(&s.state, 0, "not json", &ctx()).expect_err("junk");
    assert!(
        matches!(err, RulesError::Rejected(RuleError::Malformed(_))),
        "{err:?}"
    );
    let err = m
        .act(&[1, 2], 0, r#"{"add":1}"#, &ctx())
        .expect_err("junk state");
    assert!(
        matches!(err, RulesError::Rejected(RuleError::BadState(_))),
        "{err:?}"
    );
    let bad = m.start(
        &Setup {
            seats: 4,
            seed: 0,
            options: r#"{"moves":"many"}"#.into(),
        },
        &ctx(),
    );
    assert!(
        matches!(bad, Err(RulesError::Rejected(RuleError::BadOptions(_)))),
        "{bad:?}"
    );
    assert_eq!(m.usage().instantiations, 1, "{:?}", m.usage());
}

#[test]
fn warm_instances_are_reused_and_recycled() {
    // Calls reuse a warm instance until the recycle limit; a failure forces a fresh one.
    let rt = runtime(Limits {
        recycle_after_calls: 5,
        ..test_limits()
    });
    let m = rt.load(tabula_bundle::TURN_ROOM).expect("load");
    let mut state = start(&m, "", 4).state;
    for i in 0..3u32 {
        state = m
            .act(&state, i % 4, r#"{"add":1}"#, &ctx())
            .expect("act")
            .state;
    }
    // One instance answered `info` at load, then start and three acts: five calls.
    assert_eq!(m.usage().instantiations, 1);
    m.act(&state, 3, r#"{"add":1}"#, &ctx()).expect("act");
    assert_eq!(m.usage().instantiations, 2, "recycled after 5 calls");

    let h = hostile(&rt);
    let s = start(&h, r#"{"fault":"panic"}"#, 2);
    let before = h.usage().instantiations;
    h.act(&s.state, 0, "{}", &ctx()).expect_err("panics");
    h.check(&s.state).expect("next call works");
    assert_eq!(
        h.usage().instantiations,
        before + 1,
        "a failed instance is replaced"
    );
    assert_eq!(h.usage().failures, 1);
}

#[test]
fn bytes_that_are_not_a_rules_component_are_refused() {
    // Garbage and plain core modules are refused at load with a reason, not a panic.
    let rt = runtime(test_limits());
    assert!(matches!(
        rt.load(b"not wasm"),
        Err(RulesError::Invalid { .. })
    ));
    let core_module = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
    assert!(matches!(
        rt.load(&core_module),
        Err(RulesError::Invalid { .. })
    ));
}

#[test]
fn precompiled_modules_are_cached_and_rebuilt_when_corrupted() {
    // A restart loads the precompiled artifact; a corrupted artifact is detected by its checksum
    // and recompiled.
    let dir = tempfile::tempdir().expect("tempdir");
    let cached = || {
        Runtime::new(RuntimeConfig {
            limits: test_limits(),
            cache_dir: Some(dir.path().to_path_buf()),
        })
        .expect("runtime")
    };
    let (_, how) = cached()
        .load_traced(tabula_bundle::TURN_ROOM)
        .expect("load");
    assert_eq!(how, Loaded::Compiled);
    let (m, how) = cached()
        .load_traced(tabula_bundle::TURN_ROOM)
        .expect("load");
    assert_eq!(how, Loaded::FromCache);
    start(&m, "", 4);

    let artifact = std::fs::read_dir(dir.path())
        .expect("dir")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "cwasm"))
        .expect("an artifact was written");
    let mut bytes = std::fs::read(&artifact).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&artifact, bytes).expect("write");
    let (m, how) = cached()
        .load_traced(tabula_bundle::TURN_ROOM)
        .expect("load");
    assert_eq!(how, Loaded::Compiled, "a corrupted artifact is not loaded");
    start(&m, "", 4);
    let (_, how) = cached()
        .load_traced(tabula_bundle::TURN_ROOM)
        .expect("load");
    assert_eq!(
        how,
        Loaded::FromCache,
        "the rewritten artifact is used again"
    );
}

#[test]
fn bundled_games_pass_conformance() {
    // Every bundled game plays complete bot games that replay identically.
    let rt = runtime(test_limits());
    for bundled in tabula_bundle::MODULES.iter().filter(|b| !b.fixture) {
        let m = rt.load(bundled.bytes).expect("load");
        let report = conformance::run(
            &m,
            &CheckOptions {
                games: 10,
                ..CheckOptions::default()
            },
            |_| {},
        );
        assert!(report.passed(), "{}: {report:?}", bundled.name);
        assert_eq!(report.finished, 10);
    }
}

#[test]
fn without_fuel_metering_the_deadline_still_stops_a_loop() {
    // An operator who turns fuel off for speed still has every call bounded by wall-clock time.
    let rt = runtime(Limits {
        fuel_per_call: 0,
        deadline_ms: 50,
        ..test_limits()
    });
    assert_eq!(
        provoke(&rt, "spin"),
        RulesError::Interrupted { deadline_ms: 50 }
    );
}
