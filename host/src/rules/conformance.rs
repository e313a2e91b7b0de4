//! Conformance runs: bot-only games played through the sandbox on a virtual clock, checking
//! everything the contract promises after every step, then replayed in a fresh instance to prove
//! the module is deterministic. Used by `tabula rules check`.
//!
//! The clock is driven the way a room drives it: after every step, an awaited bot moves once its
//! think time has passed, unless the module's timer is due by then, in which case the timer fires
//! first (at its own time). Games differ in how long their bots think, so one run explores both
//! a bot answering before a pending timer and a timer firing while a seat is awaited.
//!
//! Owns nothing but the run; must not touch rooms, storage or the clock of the host.

use super::{CallContext, Module, RulesError, Setup, Step, Viewer};
use crate::replay::{self, GameRecord, RecordedInput};
use std::collections::BTreeMap;
use std::time::Instant;

/// What to run.
#[derive(Clone, Debug)]
pub struct CheckOptions {
    /// Number of games.
    pub games: u32,
    /// Seed of the first game; game `i` uses `seed + i`.
    pub seed: u64,
    /// Game options (JSON).
    pub options: String,
    /// Seats per game; `None` means the module's maximum.
    pub seats: Option<u32>,
    /// Steps after which a game counts as never ending.
    pub max_steps: usize,
    /// Bot think times to explore, ms (a room's `bot_think_ms`): a bot moves this long after the
    /// step that awaits it, unless the module's timer is due by then. With `n` entries, the game
    /// with seed `s` keeps entry `s % (n + 1)` for every move, and the games of class `n` draw an
    /// entry per move; with one entry every game uses it. Empty means `[0]`.
    pub bot_think_ms: Vec<u64>,
}

/// The think times [`CheckOptions::default`] explores: instant bots (a timer never fires while a
/// seat is awaited), bots slower than short wake-ups, and a player away for a minute (turn
/// timeouts fire).
pub const DEFAULT_BOT_THINK_MS: [u64; 6] = [0, 1, 10, 100, 1_000, 60_000];

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            games: 100,
            seed: 0,
            options: String::new(),
            seats: None,
            max_steps: 100_000,
            bot_think_ms: DEFAULT_BOT_THINK_MS.to_vec(),
        }
    }
}

/// How long the bots of one game think before each move.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pace<'a> {
    /// The same time for every move, ms.
    Fixed(u64),
    /// One of these, drawn per move.
    Varied(&'a [u64]),
}

impl<'a> Pace<'a> {
    /// The pace of the game with `seed` (see [`CheckOptions::bot_think_ms`]).
    fn of_game(seed: u64, think_ms: &'a [u64]) -> Self {
        match think_ms {
            [] => Pace::Fixed(0),
            [ms] => Pace::Fixed(*ms),
            _ => {
                let class = (seed % (think_ms.len() as u64 + 1)) as usize;
                think_ms
                    .get(class)
                    .map_or(Pace::Varied(think_ms), |&ms| Pace::Fixed(ms))
            }
        }
    }

    /// The think time of the next move.
    fn next(&self, entropy: &mut u64) -> u64 {
        match self {
            Pace::Fixed(ms) => *ms,
            Pace::Varied(set) => set[(crate::ids::splitmix64(entropy) % set.len() as u64) as usize],
        }
    }

    fn describe(&self) -> String {
        match self {
            Pace::Fixed(0) => "instant bots".into(),
            Pace::Fixed(ms) => format!("bots thinking {ms} ms"),
            Pace::Varied(set) => format!("bots thinking one of {set:?} ms per move"),
        }
    }
}

/// One broken promise.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Violation {
    /// Kind: a [`RulesError::kind`] or one of `stuck`, `too_long`, `bot_illegal`,
    /// `undeclared_phase`, `undeclared_transition`, `bad_view`, `bad_event`, `bad_awaiting`,
    /// `nondeterministic`.
    pub kind: String,
    /// Which game (0-based).
    pub game: u32,
    /// Steps completed in that game before it happened.
    pub step: usize,
    /// How fast that game's bots moved, e.g. `bots thinking 10 ms`.
    pub bots: String,
    /// What exactly happened.
    pub detail: String,
}

/// The outcome of a conformance run.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct CheckReport {
    /// Games played.
    pub games: u32,
    /// Games that reached their end without a violation (and replayed identically).
    pub finished: u32,
    /// Steps (start, actions, timers) over all games.
    pub steps: u64,
    /// Calls into the sandbox.
    pub calls: u64,
    /// Violations by kind.
    pub failures: BTreeMap<String, u32>,
    /// The first few violations in full.
    pub examples: Vec<Violation>,
    /// Most fuel one call used.
    pub max_fuel: u64,
    /// Highest linear memory of an instance, in bytes.
    pub max_memory_bytes: usize,
    /// Median call latency, microseconds.
    pub latency_p50_us: f64,
    /// 99th percentile call latency, microseconds.
    pub latency_p99_us: f64,
}

impl CheckReport {
    /// True when no game broke a promise.
    pub fn passed(&self) -> bool {
        self.failures.is_empty() && self.finished == self.games
    }
}

struct Run<'a> {
    module: &'a Module,
    latencies: Vec<u32>,
    calls: u64,
}

impl Run<'_> {
    fn timed<R>(&mut self, f: impl FnOnce(&Module) -> R) -> R {
        let t = Instant::now();
        let r = f(self.module);
        self.latencies
            .push(t.elapsed().as_nanos().min(u32::MAX as u128) as u32);
        self.calls += 1;
        r
    }
}

/// Plays `opts.games` bot-only games; calls `progress(done)` after each game.
pub fn run(module: &Module, opts: &CheckOptions, mut progress: impl FnMut(u32)) -> CheckReport {
    let mut report = CheckReport {
        games: opts.games,
        ..CheckReport::default()
    };
    let mut run = Run {
        module,
        latencies: Vec::new(),
        calls: 0,
    };
    let seats = opts.seats.unwrap_or(module.info().max_seats);
    for game in 0..opts.games {
        let seed = opts.seed.wrapping_add(u64::from(game));
        match play(&mut run, game, seed, seats, opts) {
            Ok(steps) => {
                report.steps += steps;
                report.finished += 1;
            }
            Err((steps, v)) => {
                report.steps += steps;
                *report.failures.entry(v.kind.clone()).or_default() += 1;
                if report.examples.len() < 10 {
                    report.examples.push(v);
                }
            }
        }
        progress(game + 1);
    }
    let usage = module.usage();
    report.max_fuel = usage.max_fuel;
    report.max_memory_bytes = usage.max_memory_bytes;
    report.calls = run.calls;
    run.latencies.sort_unstable();
    let pct = |p: f64| -> f64 {
        if run.latencies.is_empty() {
            return 0.0;
        }
        let i = ((run.latencies.len() - 1) as f64 * p).round() as usize;
        f64::from(run.latencies[i]) / 1000.0
    };
    report.latency_p50_us = pct(0.50);
    report.latency_p99_us = pct(0.99);
    report
}

fn viewers(seats: u32) -> Vec<Viewer> {
    (0..seats)
        .map(Viewer::Seat)
        .chain([Viewer::Spectator])
        .collect()
}

type Failed = (u64, Violation);

fn play(
    run: &mut Run,
    game: u32,
    seed: u64,
    seats: u32,
    opts: &CheckOptions,
) -> Result<u64, Failed> {
    let viewers = viewers(seats);
    let ctx = |now: u64| CallContext {
        now,
        viewers: viewers.clone(),
    };
    let setup = Setup {
        seats,
        seed,
        options: opts.options.clone(),
    };
    let mut entropy = seed ^ 0x0005_EED0_FB07;
    let pace = Pace::of_game(seed, &opts.bot_think_ms);
    let mut pace_entropy = seed ^ 0x7417_C0DE;
    let mut now = 0u64;
    let mut steps = 0usize;
    let fail = |steps: usize, kind: &str, detail: String| {
        (
            steps as u64,
            Violation {
                kind: kind.into(),
                game,
                step: steps,
                bots: pace.describe(),
                detail,
            },
        )
    };
    let fault = |steps: usize, e: RulesError| {
        let kind = match &e {
            RulesError::Rejected(r) => r.code(),
            other => other.kind(),
        };
        fail(steps, kind, e.to_string())
    };

    let mut step = run
        .timed(|m| m.start(&setup, &ctx(now)))
        .map_err(|e| fault(0, e))?;
    validate(run, &step, None, &viewers).map_err(|(k, d)| fail(0, k, d))?;
    let mut record = GameRecord::new(run.module, &setup, now);
    let hash =
        |step: &crate::rules::Step| Some(replay::hash_text(crate::store::state_hash(&step.state)));
    record.start_hash = hash(&step);
    let mut states: Vec<Vec<u8>> = vec![step.state.clone()];
    while step.result.is_none() {
        if steps >= opts.max_steps {
            return Err(fail(
                steps,
                "too_long",
                format!("no end after {steps} steps"),
            ));
        }
        if let Some(seat) = step.awaiting.iter().find(|&&s| s >= seats) {
            return Err(fail(
                steps,
                "bad_awaiting",
                format!("awaits seat {seat} of {seats}"),
            ));
        }
        // As in a room: the bot moves when its think time is up, unless the timer is due first.
        let bot_at =
            (!step.awaiting.is_empty()).then(|| now.saturating_add(pace.next(&mut pace_entropy)));
        let timer_at = step.wake_at.filter(|&at| bot_at.is_none_or(|b| at <= b));
        let (next, input) = if let Some(at) = timer_at {
            now = now.max(at);
            let next = run
                .timed(|m| m.timer(&step.state, &ctx(now)))
                .map_err(|e| fault(steps, e))?;
            let state_hash = hash(&next);
            (
                next,
                RecordedInput::Timer {
                    at: now,
                    state_hash,
                },
            )
        } else if let Some(at) = bot_at {
            now = at;
            let pick = crate::ids::splitmix64(&mut entropy) % step.awaiting.len() as u64;
            let seat = step.awaiting[pick as usize];
            let e = crate::ids::splitmix64(&mut entropy);
            let action = run
                .timed(|m| m.bot(&step.state, seat, e))
                .map_err(|e| fault(steps, e))?;
            let next = match run.timed(|m| m.act(&step.state, seat, &action, &ctx(now))) {
                Ok(next) => next,
                Err(RulesError::Rejected(r)) => {
                    return Err(fail(
                        steps,
                        "bot_illegal",
                        format!("the bot's {action} for seat {seat} was refused: {r}"),
                    ));
                }
                Err(e) => return Err(fault(steps, e)),
            };
            serde_json::from_str::<serde::de::IgnoredAny>(&action).map_err(|_| {
                fail(
                    steps,
                    "bot_illegal",
                    format!("the bot's action is not JSON: {action:.80}"),
                )
            })?;
            let state_hash = hash(&next);
            (
                next,
                RecordedInput::Act {
                    seat,
                    action,
                    at: now,
                    request_id: None,
                    state_hash,
                },
            )
        } else {
            return Err(fail(
                steps,
                "stuck",
                format!("phase {}: nobody awaited and no timer set", step.phase),
            ));
        };
        steps += 1;
        validate(run, &next, Some(&step.phase), &viewers).map_err(|(k, d)| fail(steps, k, d))?;
        run.timed(|m| m.check(&next.state))
            .map_err(|e| fault(steps, e))?;
        for v in &viewers {
            let seat = match v {
                Viewer::Seat(s) => Some(*s),
                Viewer::Spectator => None,
            };
            let view = run
                .timed(|m| m.view(&next.state, seat))
                .map_err(|e| fault(steps, e))?;
            if serde_json::from_str::<serde_json::Value>(&view).is_err() {
                return Err(fail(
                    steps,
                    "bad_view",
                    format!("view for {v:?} is not JSON"),
                ));
            }
        }
        record.inputs.push(input);
        states.push(next.state.clone());
        step = next;
    }
    replay_fresh(run.module, &record, &states).map_err(|(i, d)| fail(i, "nondeterministic", d))?;
    Ok(steps as u64 + 1)
}

/// Replays the record in a fresh instance and compares every state with the original run's.
fn replay_fresh(
    module: &Module,
    record: &GameRecord,
    states: &[Vec<u8>],
) -> Result<(), (usize, String)> {
    let mut first_difference = None;
    replay::run(&module.isolated(), record, |r| {
        if first_difference.is_none() && states.get(r.index) != Some(&r.step.state) {
            first_difference = Some(r.index);
        }
    })
    .map_err(|e| (0, format!("the replay failed: {e}")))?;
    match first_difference {
        None => Ok(()),
        Some(i) => Err((
            i,
            format!("replaying step {i} in a fresh instance gave different state bytes"),
        )),
    }
}

/// Checks a step against the contract: declared phase and transition, a JSON view for every
/// viewer, JSON events.
fn validate(
    run: &mut Run,
    step: &Step,
    previous_phase: Option<&str>,
    viewers: &[Viewer],
) -> Result<(), (&'static str, String)> {
    let info = run.module.info();
    if !info.phases.contains(&step.phase) {
        return Err((
            "undeclared_phase",
            format!("phase {:?} is not declared", step.phase),
        ));
    }
    if let Some(prev) = previous_phase
        && !info.allows(prev, &step.phase)
    {
        return Err((
            "undeclared_transition",
            format!("{prev} -> {} is not a declared transition", step.phase),
        ));
    }
    for v in viewers {
        match step.view_for(*v) {
            Some(view) if serde_json::from_str::<serde_json::Value>(view).is_ok() => {}
            Some(_) => return Err(("bad_view", format!("the view for {v:?} is not JSON"))),
            None => return Err(("bad_view", format!("no view for {v:?}"))),
        }
    }
    if let Some(e) = step
        .events
        .iter()
        .find(|e| serde_json::from_str::<serde_json::Value>(&e.payload).is_err())
    {
        return Err((
            "bad_event",
            format!("event payload is not JSON: {:.80}", e.payload),
        ));
    }
    Ok(())
}
