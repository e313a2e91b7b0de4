//! `tabula rules inspect|check|component`.

use crate::modules;
use crate::rules::conformance::{self, CheckOptions};
use crate::rules::{Limits, Module, Runtime, RuntimeConfig};
use anyhow::Context;
use clap::{Args, Subcommand};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// `tabula rules ...`
#[derive(Subcommand, Debug)]
pub enum RulesCommand {
    /// Print a module's info, imports and exports as JSON.
    Inspect {
        /// A component file, or the name of a bundled module (e.g. `turn-room`).
        module: String,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Make a component of the core module `cargo build --target wasm32-unknown-unknown` writes
    /// for a crate built with the SDK (what the server loads; it also takes the core module).
    Component {
        /// The core module.
        input: std::path::PathBuf,
        /// Where to write the component.
        #[arg(short, long)]
        output: std::path::PathBuf,
    },
    /// Play bot-only games through the sandbox and check every promise of the contract.
    Check {
        /// Component files or names of bundled modules (e.g. `turn-room tic-tac-toe`).
        #[arg(required = true)]
        modules: Vec<String>,
        /// Number of games.
        #[arg(long, default_value_t = 100)]
        games: u32,
        /// Seed of the first game (game i uses seed + i).
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Game options as JSON.
        #[arg(long, default_value = "")]
        options: String,
        /// Seats per game (default: the module's maximum).
        #[arg(long)]
        seats: Option<u32>,
        /// Steps after which a game counts as never ending.
        #[arg(long, default_value_t = 100_000)]
        max_steps: usize,
        /// Bot think times to explore, in ms, comma-separated. As in a room (room.bot_think_ms),
        /// a bot moves that long after the step that awaits it, and a module timer due by then
        /// fires first. Each game keeps one of these times for all its moves, chosen by its seed
        /// (seed mod (n+1)); the remaining class of games draws one per move. `0` alone replays
        /// only instant bots, which never let a timer fire while a seat is awaited.
        #[arg(long, value_delimiter = ',', default_values_t = conformance::DEFAULT_BOT_THINK_MS)]
        bot_think_ms: Vec<u64>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        limits: LimitArgs,
    },
}

/// Sandbox limits settable from the command line.
#[derive(Args, Debug, Clone)]
pub struct LimitArgs {
    /// CPU budget per call, in fuel units.
    #[arg(long)]
    fuel: Option<u64>,
    /// Wall-clock deadline per call, in milliseconds.
    #[arg(long)]
    deadline_ms: Option<u64>,
    /// Memory cap per instance, in MiB.
    #[arg(long)]
    memory_mib: Option<usize>,
}

impl LimitArgs {
    fn limits(&self) -> Limits {
        let mut l = Limits::default();
        if let Some(f) = self.fuel {
            l.fuel_per_call = f;
        }
        if let Some(d) = self.deadline_ms {
            l.deadline_ms = d;
        }
        if let Some(m) = self.memory_mib {
            l.memory_bytes = m << 20;
        }
        l
    }
}

fn load(spec: &str, limits: &LimitArgs, data_dir: &Path) -> anyhow::Result<Module> {
    let bytes = modules::resolve(spec)?;
    let runtime = Runtime::new(RuntimeConfig {
        limits: limits.limits(),
        cache_dir: Some(data_dir.join("modules")),
    })?;
    runtime
        .load(&bytes)
        .with_context(|| format!("loading {spec}"))
}

/// Runs a `rules` subcommand.
pub fn run(cmd: RulesCommand, data_dir: &Path) -> anyhow::Result<ExitCode> {
    match cmd {
        RulesCommand::Inspect { module, limits } => {
            let m = load(&module, &limits, data_dir)?;
            let (imports, exports) = m.describe();
            let out = serde_json::json!({
                "info": m.info(),
                "digest": m.digest(),
                "imports": imports,
                "exports": exports,
            });
            println!("{}", serde_json::to_string_pretty(&out)?);
            Ok(ExitCode::SUCCESS)
        }
        RulesCommand::Component { input, output } => {
            let bytes =
                std::fs::read(&input).with_context(|| format!("reading {}", input.display()))?;
            let (component, converted) = modules::accept::component_bytes(&bytes)?;
            std::fs::write(&output, &component)
                .with_context(|| format!("writing {}", output.display()))?;
            let what = if converted {
                "made"
            } else {
                "copied (it was one)"
            };
            println!("component {what}: {}", output.display());
            Ok(ExitCode::SUCCESS)
        }
        RulesCommand::Check {
            modules,
            games,
            seed,
            options,
            seats,
            max_steps,
            bot_think_ms,
            json,
            limits,
        } => {
            let opts = CheckOptions {
                games,
                seed,
                options,
                seats,
                max_steps,
                bot_think_ms,
            };
            let mut passed = true;
            for spec in &modules {
                let m = load(spec, &limits, data_dir)?;
                passed &= check_one(&m, &opts, json)?;
            }
            Ok(if passed {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

/// Runs and prints one module's conformance check; true when it passed.
fn check_one(m: &Module, opts: &CheckOptions, json: bool) -> anyhow::Result<bool> {
    let games = opts.games;
    let started = Instant::now();
    let mut last_print = Instant::now();
    let report = conformance::run(m, opts, |done| {
        if last_print.elapsed() >= Duration::from_secs(1) || done == games {
            eprint!("\r{}: {done}/{games} games", m.label());
            last_print = Instant::now();
        }
    });
    eprintln!();
    if json {
        let mut out = serde_json::to_value(&report)?;
        out["module"] = m.label().into();
        out["passed"] = report.passed().into();
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(report.passed());
    }
    println!("module      {} ({})", m.label(), &m.digest()[..12]);
    println!(
        "games       {} finished of {} in {:.1} s",
        report.finished,
        report.games,
        started.elapsed().as_secs_f64()
    );
    println!(
        "steps       {} ({} sandbox calls)",
        report.steps, report.calls
    );
    println!(
        "latency     p50 {:.1} µs, p99 {:.1} µs per call",
        report.latency_p50_us, report.latency_p99_us
    );
    println!(
        "max fuel    {} per call (budget {})",
        report.max_fuel,
        m.limits().fuel_per_call
    );
    println!("max memory  {} KiB", report.max_memory_bytes / 1024);
    if report.failures.is_empty() {
        println!("failures    none");
    } else {
        println!("failures    {:?}", report.failures);
        for v in &report.examples {
            println!(
                "  game {} step {} ({}): {}: {}",
                v.game, v.step, v.bots, v.kind, v.detail
            );
        }
    }
    println!(
        "result      {}",
        if report.passed() { "PASS" } else { "FAIL" }
    );
    Ok(report.passed())
}
