//! The sandbox for rules modules: compiles (or loads precompiled) components, runs every call
//! under a CPU budget, a wall-clock deadline and a memory cap, and converts everything that
//! crosses the boundary into the host's own types.
//!
//! Owns: the wasmtime engine, the `bindgen!` of each contract version, instance pools, the artifact
//! cache. Must not touch: rooms, sockets, storage. No wasmtime type leaves this module.
//!
//! Modules get no WASI and no capability but the contract's `log` import.

mod cache;
pub mod conformance;
mod limits;
mod module;
mod sandbox;
mod types;

pub use cache::{ArtifactCache, Loaded, sha256_hex};
pub use limits::Limits;
pub use module::{Module, Usage};
pub use types::{
    AddressedView, Audience, CallContext, ContractVersion, Event, GameInfo, RuleError, RulesError,
    Seat, Setup, Step, Viewer,
};

use std::path::PathBuf;

/// How to build a [`Runtime`].
#[derive(Clone, Debug, Default)]
pub struct RuntimeConfig {
    /// Limits for every call.
    pub limits: Limits,
    /// Where precompiled modules are cached; `None` compiles every time.
    pub cache_dir: Option<PathBuf>,
}

/// Loads modules into the sandbox. One per process is enough; it is cheap to share.
pub struct Runtime {
    sandbox: sandbox::Sandbox,
    limits: Limits,
    cache: Option<ArtifactCache>,
}

impl Runtime {
    /// A runtime with the given limits and cache.
    pub fn new(config: RuntimeConfig) -> Result<Self, RulesError> {
        Ok(Runtime {
            sandbox: sandbox::Sandbox::new(config.limits.fuel_per_call > 0)?,
            limits: config.limits,
            cache: config.cache_dir.map(ArtifactCache::new),
        })
    }

    /// Compiles (or loads from the cache) and validates a component.
    pub fn load(&self, bytes: &[u8]) -> Result<Module, RulesError> {
        self.load_traced(bytes).map(|(m, _)| m)
    }

    /// Like [`Runtime::load`], also saying whether the cache served it.
    pub fn load_traced(&self, bytes: &[u8]) -> Result<(Module, Loaded), RulesError> {
        let digest = sha256_hex(bytes);
        let engine = &self.sandbox.engine;
        let invalid = |e: wasmtime::Error| RulesError::Invalid {
            reason: format!("{e:#}"),
        };
        let (component, loaded) = match &self.cache {
            Some(cache) => cache
                .load_or_compile(engine, bytes, &digest)
                .map_err(invalid)?,
            None => (
                wasmtime::component::Component::new(engine, bytes).map_err(invalid)?,
                Loaded::Compiled,
            ),
        };
        let source = (digest, std::sync::Arc::from(bytes));
        let module = Module::prepare(&self.sandbox, component, source, self.limits.clone())?;
        Ok((module, loaded))
    }

    /// The limits modules are loaded with.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }
}

#[cfg(test)]
mod tests;
