//! Per-call limits of the sandbox and the memory limiter that enforces the cap.

use serde::{Deserialize, Serialize};

/// Limits applied to every call into a module. All are configurable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// CPU budget per call, in fuel units (about one per wasm instruction). 0 turns fuel
    /// metering off, which saves 20-50% of a call on call-dense guest code (serde-heavy
    /// modules); the wall-clock deadline still bounds every call, though not deterministically.
    pub fuel_per_call: u64,
    /// Wall-clock backstop per call, in milliseconds (epoch interruption).
    pub deadline_ms: u64,
    /// Linear memory cap per instance, in bytes.
    pub memory_bytes: usize,
    /// Cap on what one call may return (state + events + views), in bytes.
    pub output_bytes: usize,
    /// Recycle a warm instance after this many calls.
    pub recycle_after_calls: u32,
    /// Recycle a warm instance whose memory grew past this many bytes.
    pub recycle_above_memory_bytes: usize,
    /// Warm instances kept per module version.
    pub pool_size: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel_per_call: 50_000_000,
            deadline_ms: 1_000,
            memory_bytes: 64 << 20,
            output_bytes: 1 << 20,
            recycle_after_calls: 10_000,
            recycle_above_memory_bytes: 16 << 20,
            pool_size: 8,
        }
    }
}

/// Marker error raised from inside `memory.grow` when the cap would be exceeded, so the trap can
/// be told apart from others.
#[derive(Debug, thiserror::Error)]
#[error("memory cap of {cap} bytes exceeded (asked for {desired})")]
pub(crate) struct MemoryCapExceeded {
    pub cap: usize,
    pub desired: usize,
}

/// Enforces the memory cap and remembers the high-water mark of the instance.
#[derive(Debug)]
pub(crate) struct MemoryLimiter {
    pub cap: usize,
    pub peak: usize,
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.cap {
            return Err(wasmtime::Error::new(MemoryCapExceeded {
                cap: self.cap,
                desired,
            }));
        }
        self.peak = self.peak.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Tables only grow through explicit instructions; a generous bound keeps a hostile module
        // from using them as a memory side door.
        Ok(desired <= 100_000)
    }

    fn instances(&self) -> usize {
        // Components instantiate a handful of core instances (the module, shims, fixups).
        16
    }

    fn memories(&self) -> usize {
        4
    }

    fn tables(&self) -> usize {
        8
    }
}
