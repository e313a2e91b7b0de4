//! Accepting a module someone sends (an upload through the admin API): it must be WebAssembly,
//! compile, export the contract, report sane info (all of which [`Runtime::load`] checks), and
//! pass a smoke run of bot-only games in the sandbox — what `tabula rules check` does, with a
//! small budget. A core module (what `cargo build --target wasm32-unknown-unknown` writes for a
//! crate using the SDK) is turned into a component first, so a designer needs no extra tool.
//! A refusal says why and changes nothing.
//!
//! Must not touch: the catalog or the store (the caller installs and keeps what is accepted).

use crate::rules::conformance::{self, CheckOptions, CheckReport};
use crate::rules::{Module, RulesError, Runtime};
use std::collections::HashSet;
use std::sync::Mutex;

/// Bot-only games of the smoke run, and the steps one may take.
const SMOKE_GAMES: u32 = 3;
const SMOKE_MAX_STEPS: usize = 20_000;

/// Why a module was refused.
#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    /// Not WebAssembly at all.
    #[error("not a WebAssembly module or component (no \\0asm header)")]
    NotWasm,
    /// A core module that could not be made a component.
    #[error(
        "a core module that cannot be made a component: {reason} (build it with tabula-sdk's \
         export_game!, which embeds the contract)"
    )]
    NotAComponent {
        /// Why.
        reason: String,
    },
    /// It does not load: it does not compile, export the contract or report sane info.
    #[error("{0}")]
    Invalid(#[from] RulesError),
    /// Its smoke run failed.
    #[error(
        "its smoke run of {games} bot-only games failed: {finished} finished, violations {failures}"
    )]
    SmokeRun {
        /// Games played.
        games: u32,
        /// Games that finished cleanly.
        finished: u32,
        /// Violations by kind, and the first one in full.
        failures: String,
        /// The whole report.
        report: Box<CheckReport>,
    },
}

/// An accepted module.
#[derive(Debug)]
pub struct Accepted {
    /// The module (a component).
    pub module: Module,
    /// True when a core module was turned into a component.
    pub converted: bool,
    /// The smoke run (none when this digest passed one before).
    pub smoke: Option<CheckReport>,
}

/// Digests that passed a smoke run in this process: each is run once.
#[derive(Default)]
pub struct SmokeRuns(Mutex<HashSet<String>>);

impl SmokeRuns {
    fn passed(&self, digest: &str) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(digest)
    }

    fn remember(&self, digest: &str) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(digest.to_owned());
    }
}

/// The component in `bytes`: as it is, or made from a core module.
pub fn component_bytes(bytes: &[u8]) -> Result<(Vec<u8>, bool), AcceptError> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err(AcceptError::NotWasm);
    }
    // Core modules are version 1; components carry another version and layer.
    if bytes[4..8] != [1, 0, 0, 0] {
        return Ok((bytes.to_vec(), false));
    }
    let not = |e: anyhow::Error| AcceptError::NotAComponent {
        reason: format!("{e:#}"),
    };
    let component = wit_component::ComponentEncoder::default()
        .module(bytes)
        .map_err(not)?
        .validate(true)
        .encode()
        .map_err(not)?;
    Ok((component, true))
}

/// Accepts `bytes` as a module, or says why not. Blocking (compilation, the smoke run): call it
/// off the async workers.
pub fn accept(runtime: &Runtime, bytes: &[u8], runs: &SmokeRuns) -> Result<Accepted, AcceptError> {
    let (component, converted) = component_bytes(bytes)?;
    let module = runtime.load(&component)?;
    let smoke = smoke_run(&module, runs)?;
    Ok(Accepted {
        module,
        converted,
        smoke,
    })
}

/// The smoke run of a loaded module: bot-only games in the sandbox, once per digest (`None`:
/// this digest passed one before). Blocking.
pub fn smoke_run(module: &Module, runs: &SmokeRuns) -> Result<Option<CheckReport>, AcceptError> {
    if runs.passed(module.digest()) {
        return Ok(None);
    }
    let report = conformance::run(
        &module.isolated(),
        &CheckOptions {
            games: SMOKE_GAMES,
            max_steps: SMOKE_MAX_STEPS,
            bot_think_ms: vec![0],
            ..CheckOptions::default()
        },
        |_| {},
    );
    if !report.passed() {
        let mut failures = format!("{:?}", report.failures);
        if let Some(first) = report.examples.first() {
            failures.push_str(&format!(
                "; first: {} in game {} at step {}: {}",
                first.kind, first.game, first.step, first.detail
            ));
        }
        return Err(AcceptError::SmokeRun {
            games: report.games,
            finished: report.finished,
            failures,
            report: Box::new(report),
        });
    }
    runs.remember(module.digest());
    Ok(Some(report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{Limits, RuntimeConfig};

    fn runtime() -> Runtime {
        Runtime::new(RuntimeConfig {
            limits: Limits::default(),
            cache_dir: None,
        })
        .expect("runtime")
    }

    #[test]
    fn a_core_module_is_made_a_component_and_junk_is_refused_with_the_reason() {
        // What cargo builds for the wasm target is accepted as it is; bytes that are not wasm,
        // and a core module without the contract, are refused saying why.
        let rt = runtime();
        let runs = SmokeRuns::default();
        let core = std::fs::read(tabula_bundle::TIC_TAC_TOE_CORE_PATH).expect("the core module");
        let accepted = accept(&rt, &core, &runs).expect("accepted");
        assert!(accepted.converted);
        assert_eq!(accepted.module.info().name, "tic-tac-toe");
        assert!(accepted.smoke.as_ref().is_some_and(CheckReport::passed));
        let again = accept(&rt, &core, &runs).expect("accepted again");
        assert!(again.smoke.is_none(), "one smoke run per digest");
        assert!(matches!(
            accept(&rt, b"not wasm at all", &runs),
            Err(AcceptError::NotWasm)
        ));
        // The smallest valid core module: no contract in it.
        let empty = [0, b'a', b's', b'm', 1, 0, 0, 0];
        assert!(matches!(
            accept(&rt, &empty, &runs),
            Err(AcceptError::NotAComponent { .. }) | Err(AcceptError::Invalid(_))
        ));
    }
}
