//! The wasmtime engine shared by every module: its configuration, the epoch ticker that gives
//! calls a wall-clock deadline, the `bindgen!` of each contract version the host runs (0.1.0 and
//! 0.2.0), the host side of the contract's imports (`log`), and the conversion of each version's
//! types into the host's.
//!
//! Owns: the engine, the linkers, the ticker thread, the generated bindings. Must not touch:
//! instances, pools or limits of a module (those are `module`'s), nor anything outside `rules`.
//! Generated types stay in `rules`: everything else converts at the functions below.

use super::limits::MemoryLimiter;
use super::types::RulesError;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use wasmtime::Engine;
use wasmtime::component::{HasSelf, Linker};

/// The generated bindings, one module per contract version the host runs: `v2` is
/// `wit/rules.wit` (what the SDK builds today), `v1` the frozen `wit/released/rules@0.1.0.wit`.
pub(super) mod bindings {
    pub mod v1 {
        wasmtime::component::bindgen!({
            path: "../wit/released/rules@0.1.0.wit",
            world: "game-rules",
        });
    }
    pub mod v2 {
        wasmtime::component::bindgen!({
            path: "../wit",
            world: "game-rules",
        });
    }
}

/// How often the epoch ticker advances the engine's epoch.
pub(super) const EPOCH_TICK: Duration = Duration::from_millis(5);
/// Log lines a module may write per call; the rest are dropped.
const LOG_LINES_PER_CALL: u32 = 64;
/// Longest log line kept.
const LOG_LINE_BYTES: usize = 2048;

/// Per-store data: the memory limiter and what the module logged during the current call.
pub(crate) struct HostState {
    pub(super) limiter: MemoryLimiter,
    pub(super) module: Arc<str>,
    pub(super) logged: u32,
    pub(super) panic_message: Option<String>,
}

impl HostState {
    /// The contract's `log` import, whatever the module's contract version.
    fn log(&mut self, level: LogLevel, message: String) {
        self.logged += 1;
        if self.logged > LOG_LINES_PER_CALL {
            return;
        }
        let mut message = message;
        if message.len() > LOG_LINE_BYTES {
            let mut cut = LOG_LINE_BYTES;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
        }
        let module = &*self.module;
        match level {
            LogLevel::Debug => tracing::debug!(module, "{message}"),
            LogLevel::Info => tracing::info!(module, "{message}"),
            LogLevel::Warn => tracing::warn!(module, "{message}"),
            LogLevel::Error => tracing::warn!(module, "module error: {message}"),
        }
        if matches!(level, LogLevel::Error) && message.starts_with("panic") {
            self.panic_message = Some(message);
        }
    }
}

/// The contract's log levels, whatever the module's contract version.
#[derive(Clone, Copy)]
enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

/// The host side of one contract version: its `log` import and the conversions between its
/// generated types and the host's, in a module `$conv` beside the bindings.
macro_rules! contract_version {
    ($conv:ident, $version:ident) => {
        impl bindings::$version::GameRulesImports for HostState {
            fn log(&mut self, level: $conv::wit::LogLevel, message: String) {
                let level = match level {
                    $conv::wit::LogLevel::Debug => LogLevel::Debug,
                    $conv::wit::LogLevel::Info => LogLevel::Info,
                    $conv::wit::LogLevel::Warn => LogLevel::Warn,
                    $conv::wit::LogLevel::Error => LogLevel::Error,
                };
                HostState::log(self, level, message)
            }
        }

        impl $conv::wit::Host for HostState {}

        /// Conversions between this contract version's types and the host's.
        pub(super) mod $conv {
            use super::super::types::{
                AddressedView, Audience, CallContext, Event, GameInfo, RuleError, Step, Viewer,
            };
            pub(in super::super) use super::bindings::$version::tabula::rules::types as wit;

            pub(in super::super) fn convert_info(i: wit::GameInfo) -> GameInfo {
                GameInfo {
                    name: i.name,
                    version: i.version,
                    state_version: i.state_version,
                    min_seats: i.min_seats,
                    max_seats: i.max_seats,
                    phases: i.phases,
                    transitions: i.transitions.into_iter().map(|t| (t.from, t.to)).collect(),
                    default_options: serde_json::from_str(&i.default_options)
                        .unwrap_or(serde_json::Value::String(i.default_options)),
                }
            }

            pub(in super::super) fn convert_ctx(c: &CallContext) -> wit::Context {
                wit::Context {
                    now: c.now,
                    viewers: c
                        .viewers
                        .iter()
                        .map(|v| match v {
                            Viewer::Seat(s) => wit::Viewer::Seat(*s),
                            Viewer::Spectator => wit::Viewer::Spectator,
                        })
                        .collect(),
                }
            }

            fn convert_audience(a: wit::Audience) -> Audience {
                match a {
                    wit::Audience::Everyone => Audience::Everyone,
                    wit::Audience::Seat(s) => Audience::Seat(s),
                    wit::Audience::Players => Audience::Players,
                    wit::Audience::Spectators => Audience::Spectators,
                }
            }

            pub(in super::super) fn convert_step(s: wit::Step) -> Step {
                Step {
                    state: s.state,
                    phase: s.phase,
                    result: match s.status {
                        wit::Status::Running => None,
                        wit::Status::Finished(r) => Some(r),
                    },
                    awaiting: s.awaiting,
                    wake_at: s.wake_at,
                    events: s
                        .events
                        .into_iter()
                        .map(|e| Event {
                            audience: convert_audience(e.audience),
                            payload: e.payload,
                        })
                        .collect(),
                    views: s
                        .views
                        .into_iter()
                        .map(|v| AddressedView {
                            audience: convert_audience(v.audience),
                            view: v.view,
                        })
                        .collect(),
                }
            }

            pub(in super::super) fn convert_rule_error(e: wit::RuleError) -> RuleError {
                match e {
                    wit::RuleError::NotYourTurn => RuleError::NotYourTurn,
                    wit::RuleError::GameOver => RuleError::GameOver,
                    wit::RuleError::Illegal(r) => RuleError::Illegal(r),
                    wit::RuleError::Malformed(r) => RuleError::Malformed(r),
                    wit::RuleError::BadOptions(r) => RuleError::BadOptions(r),
                    wit::RuleError::BadState(r) => RuleError::BadState(r),
                    wit::RuleError::UnsupportedVersion(v) => RuleError::UnsupportedVersion(v),
                }
            }
        }
    };
}

contract_version!(v1, v1);
contract_version!(v2, v2);

/// Advances the engine's epoch on a background thread while any module or runtime is alive.
pub(crate) struct EpochTicker {
    stop: Arc<AtomicBool>,
}

impl EpochTicker {
    fn start(engine: &Engine) -> Arc<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let (engine, flag) = (engine.clone(), stop.clone());
        let spawned = std::thread::Builder::new()
            .name("tabula-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            });
        if let Err(e) = spawned {
            // Without the ticker, deadlines never fire but fuel still bounds every call.
            tracing::error!("cannot start the epoch ticker thread: {e}");
        }
        Arc::new(EpochTicker { stop })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The shared engine, the linkers (one per contract version: both define the root `log`
/// import) and the ticker.
pub(crate) struct Sandbox {
    pub engine: Engine,
    pub(super) linker_v1: Linker<HostState>,
    pub(super) linker_v2: Linker<HostState>,
    pub(super) ticker: Arc<EpochTicker>,
}

impl Sandbox {
    /// An engine metering fuel unless `meter_fuel` is false (then only the epoch deadline
    /// bounds a call's CPU time).
    pub fn new(meter_fuel: bool) -> Result<Self, RulesError> {
        let mut config = wasmtime::Config::new();
        config
            .consume_fuel(meter_fuel)
            .epoch_interruption(true)
            .wasm_component_model(true)
            .cranelift_opt_level(wasmtime::OptLevel::Speed);
        let engine = Engine::new(&config).map_err(host_error)?;
        let mut linker_v1 = Linker::new(&engine);
        bindings::v1::GameRules::add_to_linker::<_, HasSelf<_>>(&mut linker_v1, |s| s)
            .map_err(host_error)?;
        let mut linker_v2 = Linker::new(&engine);
        bindings::v2::GameRules::add_to_linker::<_, HasSelf<_>>(&mut linker_v2, |s| s)
            .map_err(host_error)?;
        let ticker = EpochTicker::start(&engine);
        Ok(Sandbox {
            engine,
            linker_v1,
            linker_v2,
            ticker,
        })
    }
}

pub(super) fn host_error(e: impl std::fmt::Display) -> RulesError {
    RulesError::Host {
        message: e.to_string(),
    }
}
