//! Sandbox benchmarks: call overhead on the tiny modules against the same rules run natively,
//! warm instance vs fresh instance, precompiled load vs compile.
//!
//! Run: `cargo bench -p tabula --bench sandbox`.

// criterion_group! generates undocumented items.
#![allow(missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use tabula::rules::{CallContext, Limits, Module, Runtime, RuntimeConfig, Setup, Viewer};
use tabula_sdk::Contract;
use turn_room::TurnRoom;

fn runtime(cache: Option<std::path::PathBuf>) -> Runtime {
    Runtime::new(RuntimeConfig {
        limits: Limits::default(),
        cache_dir: cache,
    })
    .expect("runtime")
}

/// A turn-room state 40 moves into a game, and the context for one seat's view.
fn mid_game(m: &Module, viewers: Vec<Viewer>) -> (Vec<u8>, CallContext) {
    let ctx = CallContext { now: 0, viewers };
    let setup = Setup {
        seats: 4,
        seed: 7,
        options: String::new(),
    };
    let mut state = m.start(&setup, &ctx).expect("start").state;
    for i in 0..40u32 {
        state = m
            .act(&state, i % 4, r#"{"add":2}"#, &ctx)
            .expect("act")
            .state;
    }
    (state, ctx)
}

fn act_round_trip(c: &mut Criterion) {
    let rt = runtime(None);
    let m = rt.load(tabula_bundle::TURN_ROOM).expect("load");
    let mut g = c.benchmark_group("turn-room act");
    for (name, viewers) in [("no view", vec![]), ("one view", vec![Viewer::Seat(0)])] {
        let (state, ctx) = mid_game(&m, viewers.clone());
        g.bench_function(format!("sandbox, {name}"), |b| {
            b.iter(|| black_box(m.act(black_box(&state), 0, r#"{"add":1}"#, &ctx)))
        });
        let native_ctx = tabula_sdk::Context {
            now: 0,
            viewers: viewers
                .iter()
                .map(|v| match v {
                    Viewer::Seat(s) => tabula_sdk::Viewer::Seat(*s),
                    Viewer::Spectator => tabula_sdk::Viewer::Spectator,
                })
                .collect(),
        };
        g.bench_function(format!("native, {name}"), |b| {
            b.iter(|| {
                black_box(Contract::<TurnRoom>::act(
                    black_box(&state),
                    0,
                    r#"{"add":1}"#,
                    &native_ctx,
                ))
            })
        });
    }
    g.finish();
}

fn instances(c: &mut Criterion) {
    let rt = runtime(None);
    let m = rt.load(tabula_bundle::TURN_ROOM).expect("load");
    let (state, ctx) = mid_game(&m, vec![Viewer::Seat(0)]);
    let mut g = c.benchmark_group("turn-room instance");
    g.bench_function("warm pool", |b| {
        b.iter(|| black_box(m.act(&state, 0, r#"{"add":1}"#, &ctx)))
    });
    g.bench_function("fresh instance per call", |b| {
        b.iter(|| black_box(m.isolated().act(&state, 0, r#"{"add":1}"#, &ctx)))
    });
    g.finish();
}

fn loading(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let cached = runtime(Some(dir.path().to_path_buf()));
    cached
        .load(tabula_bundle::TURN_ROOM)
        .expect("warm the cache");
    let uncached = runtime(None);
    let mut g = c.benchmark_group("turn-room load");
    g.sample_size(10);
    g.bench_function("compile", |b| {
        b.iter(|| black_box(uncached.load(tabula_bundle::TURN_ROOM).expect("load")))
    });
    g.bench_function("precompiled (checksummed)", |b| {
        b.iter(|| black_box(cached.load(tabula_bundle::TURN_ROOM).expect("load")))
    });
    g.finish();
}

/// Mid-game Liap Tui moves: (state, seat, action) in phase `turn`, from bot games.
fn liap_tui_moves(m: &Module, count: usize) -> Vec<(Vec<u8>, u32, String)> {
    let all: Vec<Viewer> = (0..4).map(Viewer::Seat).collect();
    let ctx = CallContext {
        now: 0,
        viewers: all,
    };
    let mut moves = Vec::new();
    let mut game = 0u64;
    while moves.len() < count {
        game += 1;
        let setup = Setup {
            seats: 4,
            seed: game,
            options: r#"{"pace":"instant"}"#.into(),
        };
        let mut step = m.start(&setup, &ctx).expect("start");
        for i in 0..400u64 {
            if step.result.is_some() || moves.len() >= count {
                break;
            }
            step = if let Some(&seat) = step.awaiting.first() {
                let action = m.bot(&step.state, seat, game * 1000 + i).expect("bot");
                if step.phase == "turn" && i % 3 == 0 {
                    moves.push((step.state.clone(), seat, action.clone()));
                }
                m.act(&step.state, seat, &action, &ctx).expect("act")
            } else {
                let now = step.wake_at.unwrap_or(0);
                m.timer(
                    &step.state,
                    &CallContext {
                        now,
                        viewers: ctx.viewers.clone(),
                    },
                )
                .expect("timer")
            };
        }
    }
    moves
}

fn liap_tui(c: &mut Criterion) {
    let rt = runtime(None);
    let m = rt.load(tabula_bundle::LIAP_TUI).expect("load");
    let unmetered_rt = Runtime::new(RuntimeConfig {
        limits: Limits {
            fuel_per_call: 0,
            ..Limits::default()
        },
        cache_dir: None,
    })
    .expect("runtime");
    let unmetered = unmetered_rt.load(tabula_bundle::LIAP_TUI).expect("load");
    let moves = liap_tui_moves(&m, 64);
    let sizes: Vec<usize> = moves.iter().map(|(s, _, _)| s.len()).collect();
    eprintln!(
        "liap-tui mid-game states: {} to {} bytes",
        sizes.iter().min().unwrap_or(&0),
        sizes.iter().max().unwrap_or(&0)
    );
    let mut g = c.benchmark_group("liap-tui act + one view (mid-game)");
    for (name, module) in [
        ("sandbox", &m),
        ("sandbox without fuel metering", &unmetered),
    ] {
        let mut i = 0;
        g.bench_function(name, |b| {
            b.iter(|| {
                let (state, seat, action) = &moves[i % moves.len()];
                i += 1;
                let ctx = CallContext {
                    now: 0,
                    viewers: vec![Viewer::Seat(*seat)],
                };
                black_box(module.act(state, *seat, action, &ctx).expect("act"))
            })
        });
    }
    let mut i = 0;
    g.bench_function("native", |b| {
        b.iter(|| {
            let (state, seat, action) = &moves[i % moves.len()];
            i += 1;
            let ctx = tabula_sdk::Context {
                now: 0,
                viewers: vec![tabula_sdk::Viewer::Seat(*seat)],
            };
            black_box(Contract::<liap_tui::LiapTui>::act(state, *seat, action, &ctx).expect("act"))
        })
    });
    g.finish();
}

criterion_group!(benches, act_round_trip, instances, loading, liap_tui);
criterion_main!(benches);
