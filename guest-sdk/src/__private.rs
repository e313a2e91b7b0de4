//! Glue between the generated bindings and [`Contract`]; not part of the public API.
//!
//! The bindings are generated here and nowhere else, so a change of `wit-bindgen` touches only
//! this file.

use crate::contract::Contract;
use crate::types::{self, Audience, Context, Viewer};
use crate::{Game, LogLevel};
use std::marker::PhantomData;

#[allow(missing_docs, clippy::all, unsafe_code)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "game-rules",
        pub_export_macro: true,
        export_macro_name: "__export_game_rules",
        default_bindings_module: "tabula_sdk::__private::bindings",
    });
}

use bindings::tabula::rules::types as wit;

/// Implements the generated `Guest` trait for any [`Game`].
pub struct Exported<G>(PhantomData<G>);

/// Sends a message to the host's log import (wasm) or stderr (native).
pub fn log(level: LogLevel, message: &str) {
    #[cfg(target_arch = "wasm32")]
    {
        let level = match level {
            LogLevel::Debug => wit::LogLevel::Debug,
            LogLevel::Info => wit::LogLevel::Info,
            LogLevel::Warn => wit::LogLevel::Warn,
            LogLevel::Error => wit::LogLevel::Error,
        };
        bindings::log(level, message);
    }
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("[{level:?}] {message}");
}

/// Reports panics through the log import before the trap, so that a designer sees why a module
/// failed. The hook is process-wide diagnostics, not game state.
fn install_panic_hook() {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            log(LogLevel::Error, &format!("panic: {info}"));
        }));
    });
}

fn context(ctx: wit::Context) -> Context {
    Context {
        now: ctx.now,
        viewers: ctx
            .viewers
            .into_iter()
            .map(|v| match v {
                wit::Viewer::Seat(s) => Viewer::Seat(s),
                wit::Viewer::Spectator => Viewer::Spectator,
            })
            .collect(),
    }
}

fn audience(a: Audience) -> wit::Audience {
    match a {
        Audience::Everyone => wit::Audience::Everyone,
        Audience::Seat(s) => wit::Audience::Seat(s),
        Audience::Players => wit::Audience::Players,
        Audience::Spectators => wit::Audience::Spectators,
    }
}

fn rule_error(e: types::RuleError) -> wit::RuleError {
    match e {
        types::RuleError::NotYourTurn => wit::RuleError::NotYourTurn,
        types::RuleError::GameOver => wit::RuleError::GameOver,
        types::RuleError::Illegal(r) => wit::RuleError::Illegal(r),
        types::RuleError::Malformed(r) => wit::RuleError::Malformed(r),
        types::RuleError::BadOptions(r) => wit::RuleError::BadOptions(r),
        types::RuleError::BadState(r) => wit::RuleError::BadState(r),
        types::RuleError::UnsupportedVersion(v) => wit::RuleError::UnsupportedVersion(v),
    }
}

fn step(s: types::Step) -> wit::Step {
    wit::Step {
        state: s.state,
        phase: s.phase,
        status: match s.result {
            None => wit::Status::Running,
            Some(r) => wit::Status::Finished(r),
        },
        awaiting: s.awaiting,
        wake_at: s.wake_at,
        events: s
            .events
            .into_iter()
            .map(|e| wit::Event {
                audience: audience(e.audience),
                payload: e.payload,
            })
            .collect(),
        views: s
            .views
            .into_iter()
            .map(|v| wit::AddressedView {
                audience: audience(v.audience),
                view: v.view,
            })
            .collect(),
    }
}

impl<G: Game> bindings::Guest for Exported<G> {
    fn info() -> wit::GameInfo {
        install_panic_hook();
        let r = Contract::<G>::info();
        wit::GameInfo {
            name: r.info.name.into(),
            version: r.info.version.into(),
            state_version: r.state_version,
            min_seats: r.info.min_seats,
            max_seats: r.info.max_seats,
            phases: r.info.phases.iter().map(|p| (*p).into()).collect(),
            transitions: r
                .info
                .transitions
                .iter()
                .map(|(from, to)| wit::PhaseTransition {
                    from: (*from).into(),
                    to: (*to).into(),
                })
                .collect(),
            default_options: r.default_options,
        }
    }

    fn start(setup: wit::Setup, ctx: wit::Context) -> Result<wit::Step, wit::RuleError> {
        install_panic_hook();
        Contract::<G>::start(setup.seats, setup.seed, &setup.options, &context(ctx))
            .map(step)
            .map_err(rule_error)
    }

    fn act(
        state: Vec<u8>,
        seat: u32,
        action: String,
        ctx: wit::Context,
    ) -> Result<wit::Step, wit::RuleError> {
        install_panic_hook();
        Contract::<G>::act(&state, seat, &action, &context(ctx))
            .map(step)
            .map_err(rule_error)
    }

    fn timer(state: Vec<u8>, ctx: wit::Context) -> Result<wit::Step, wit::RuleError> {
        install_panic_hook();
        Contract::<G>::timer(&state, &context(ctx))
            .map(step)
            .map_err(rule_error)
    }

    fn view(state: Vec<u8>, viewer: Option<u32>) -> Result<String, wit::RuleError> {
        install_panic_hook();
        Contract::<G>::view(&state, viewer).map_err(rule_error)
    }

    fn bot(state: Vec<u8>, seat: u32, entropy: u64) -> Result<String, wit::RuleError> {
        install_panic_hook();
        Contract::<G>::bot(&state, seat, entropy).map_err(rule_error)
    }

    fn migrate(
        state: Vec<u8>,
        from_state_version: u32,
        ctx: wit::Context,
    ) -> Result<wit::Step, wit::RuleError> {
        install_panic_hook();
        Contract::<G>::migrate(&state, from_state_version, &context(ctx))
            .map(step)
            .map_err(rule_error)
    }

    fn check(state: Vec<u8>) -> Result<(), String> {
        install_panic_hook();
        Contract::<G>::check(&state)
    }
}
