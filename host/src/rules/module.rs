//! A loaded module version: its validation at load, its pool of warm instances, and the one
//! guarded call every export goes through, with the typed API the rest of the host uses.
//!
//! Invariants:
//! - Every call runs with a fresh fuel budget, a wall-clock deadline (epoch ticks) and the memory
//!   cap; a failure discards the instance that failed, so no call sees a poisoned instance.
//! - A pool's mutex is held only to pop or push an instance, never during a wasm call.
//! - The caller's state bytes are borrowed, never modified: a failed call leaves them as they were.
//!
//! Owns: instances, the pool, usage counters, the mapping of failures to [`RulesError`]. Must not
//! touch: the engine's configuration or the ticker (`sandbox`'s), the artifact cache, anything
//! outside `rules`. Wasmtime types stay private: callers see [`Module`], [`Usage`] and the
//! host's own types.

use super::limits::{Limits, MemoryCapExceeded, MemoryLimiter};
use super::sandbox::{EPOCH_TICK, EpochTicker, HostState, Sandbox, bindings, host_error};
use super::types::{ContractVersion, GameInfo, RulesError, Step};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use wasmtime::component::Component;
use wasmtime::{Engine, Store, Trap};

/// A warm instance and how much it has served.
struct Warm {
    store: Store<HostState>,
    rules: Rules,
    calls: u32,
}

/// An instance's exports, under the contract version the module was built against.
enum Rules {
    V1(bindings::v1::GameRules),
    V2(bindings::v2::GameRules),
}

/// A module ready to instantiate, under its contract version.
#[derive(Clone)]
enum Pre {
    V1(bindings::v1::GameRulesPre<HostState>),
    V2(bindings::v2::GameRulesPre<HostState>),
}

/// Runs `$body` with `$r` bound to the instance's exports and `$conv` naming the conversions of
/// its contract version (`sandbox::v1` or `sandbox::v2`), for calls both versions share.
macro_rules! on_contract {
    ($rules:expr, |$r:ident, $conv:ident| $body:expr) => {
        match $rules {
            Rules::V1($r) => {
                #[allow(unused_imports)]
                use crate::rules::sandbox::v1 as $conv;
                $body
            }
            Rules::V2($r) => {
                #[allow(unused_imports)]
                use crate::rules::sandbox::v2 as $conv;
                $body
            }
        }
    };
}

/// Counters over all calls of a module version.
#[derive(Default)]
struct UsageCounters {
    calls: AtomicU64,
    failures: AtomicU64,
    max_fuel: AtomicU64,
    max_memory: AtomicUsize,
    instantiations: AtomicU64,
}

/// What a module version has used so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Calls made.
    pub calls: u64,
    /// Calls that failed with a module fault.
    pub failures: u64,
    /// Most fuel one call used.
    pub max_fuel: u64,
    /// Highest linear memory size seen, in bytes.
    pub max_memory_bytes: usize,
    /// Instances created (fresh ones after failures and recycling included).
    pub instantiations: u64,
}

mod exports;

struct ModuleInner {
    info: GameInfo,
    label: Arc<str>,
    digest: String,
    /// The component's bytes: kept by digest in the module store, so that a game can be rebuilt
    /// under the module that played it after the binary has changed.
    bytes: Arc<[u8]>,
    engine: Engine,
    component: Component,
    pre: Pre,
    limits: Limits,
    pool: Mutex<Vec<Warm>>,
    usage: UsageCounters,
    _ticker: Arc<EpochTicker>,
}

/// A loaded rules module version: cheap to clone, safe to share between threads. Each call takes
/// a warm instance from a small pool (or makes one), runs under the limits, and returns it.
#[derive(Clone)]
pub struct Module {
    inner: Arc<ModuleInner>,
}

impl std::fmt::Debug for Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Module({})", self.inner.label)
    }
}

impl Module {
    /// Prepares a compiled component: checks it imports nothing but the contract and exports it,
    /// under the newest contract version it satisfies.
    pub(super) fn prepare(
        sandbox: &Sandbox,
        component: Component,
        source: (String, Arc<[u8]>),
        limits: Limits,
    ) -> Result<Module, RulesError> {
        let (digest, bytes) = source;
        let v2 = sandbox
            .linker_v2
            .instantiate_pre(&component)
            .and_then(bindings::v2::GameRulesPre::new);
        let pre = match v2 {
            Ok(pre) => Pre::V2(pre),
            Err(newest) => {
                let v1 = sandbox
                    .linker_v1
                    .instantiate_pre(&component)
                    .and_then(bindings::v1::GameRulesPre::new);
                match v1 {
                    Ok(pre) => Pre::V1(pre),
                    Err(_) => {
                        return Err(RulesError::Invalid {
                            reason: format!(
                                "it does not implement the tabula:rules game-rules world \
                                 (0.2.0, or 0.1.0), or it imports something Tabula does not \
                                 provide: {newest:#}"
                            ),
                        });
                    }
                }
            }
        };
        let mut module = ModuleInner {
            info: GameInfo::default(),
            label: Arc::from("(loading)"),
            digest,
            bytes,
            engine: sandbox.engine.clone(),
            component,
            pre,
            limits,
            pool: Mutex::new(Vec::new()),
            usage: UsageCounters::default(),
            _ticker: sandbox.ticker.clone(),
        };
        let info = module.call(None, |rules, store| {
            Ok(Ok(on_contract!(rules, |r, conv| conv::convert_info(
                r.call_info(store)?
            ))))
        })?;
        validate_info(&info)?;
        module.label = Arc::from(format!("{}@{}", info.name, info.version));
        module.info = info;
        // Keep the instance that answered `info`, under the module's real name.
        for warm in module.pool_lock().iter_mut() {
            warm.store.data_mut().module = module.label.clone();
        }
        Ok(Module {
            inner: Arc::new(module),
        })
    }
}

fn validate_info(info: &GameInfo) -> Result<(), RulesError> {
    let invalid = |reason: String| Err(RulesError::Invalid { reason });
    if info.name.is_empty()
        || !info
            .name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return invalid(format!(
            "the name {:?} must be non-empty lowercase letters, digits and dashes",
            info.name
        ));
    }
    let parts: Vec<&str> = info.version.split(['.', '-', '+']).collect();
    if parts.len() < 3 || parts[..3].iter().any(|p| p.parse::<u64>().is_err()) {
        return invalid(format!("the version {:?} is not semver", info.version));
    }
    if info.min_seats == 0 || info.min_seats > info.max_seats || info.max_seats > 64 {
        return invalid(format!(
            "seats {}..={} are not a usable range",
            info.min_seats, info.max_seats
        ));
    }
    if info.phases.is_empty() {
        return invalid("it declares no phases".into());
    }
    for (from, to) in &info.transitions {
        if !info.phases.contains(from) || !info.phases.contains(to) {
            return invalid(format!(
                "the transition {from} -> {to} names an undeclared phase"
            ));
        }
    }
    if !info.default_options.is_object() && !info.default_options.is_null() {
        return invalid("its default options are not a JSON object".into());
    }
    Ok(())
}

impl ModuleInner {
    fn pool_lock(&self) -> std::sync::MutexGuard<'_, Vec<Warm>> {
        // A panic while holding the lock cannot leave the Vec inconsistent: take it anyway.
        self.pool.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn epoch_ticks(&self) -> u64 {
        self.limits
            .deadline_ms
            .div_ceil(EPOCH_TICK.as_millis() as u64)
            + 1
    }

    fn instantiate(&self) -> Result<Warm, RulesError> {
        self.usage.instantiations.fetch_add(1, Ordering::Relaxed);
        let mut store = Store::new(
            &self.engine,
            HostState {
                limiter: MemoryLimiter {
                    cap: self.limits.memory_bytes,
                    peak: 0,
                },
                module: self.label.clone(),
                logged: 0,
                panic_message: None,
            },
        );
        store.limiter(|s| &mut s.limiter);
        if self.limits.fuel_per_call > 0 {
            store
                .set_fuel(self.limits.fuel_per_call)
                .map_err(host_error)?;
        }
        store.set_epoch_deadline(self.epoch_ticks());
        let instance = match &self.pre {
            Pre::V1(pre) => pre.instantiate(&mut store).map(Rules::V1),
            Pre::V2(pre) => pre.instantiate(&mut store).map(Rules::V2),
        };
        match instance {
            Ok(rules) => Ok(Warm {
                store,
                rules,
                calls: 0,
            }),
            Err(e) => Err(self.classify(e, store.data(), self.limits.fuel_per_call)),
        }
    }

    fn classify(&self, e: wasmtime::Error, state: &HostState, budget: u64) -> RulesError {
        if e.downcast_ref::<MemoryCapExceeded>().is_some() {
            return RulesError::MemoryLimit {
                cap_bytes: self.limits.memory_bytes,
            };
        }
        match e.downcast_ref::<Trap>() {
            Some(Trap::OutOfFuel) => RulesError::OutOfFuel { budget },
            Some(Trap::Interrupt) => RulesError::Interrupted {
                deadline_ms: self.limits.deadline_ms,
            },
            Some(trap) => RulesError::Trap {
                message: match &state.panic_message {
                    Some(panic) => format!("{trap} ({panic})"),
                    None => trap.to_string(),
                },
            },
            None => RulesError::Trap {
                message: format!("{e:#}"),
            },
        }
    }

    /// Runs `f` on a warm instance under the limits, with at most `cap` fuel when that is less
    /// than the module's budget. `f` returns the call's typed outcome; a module fault (trap,
    /// limit, oversized output) discards the instance. Running out of a `cap` is reported as
    /// [`RulesError::OutOfFuel`] with that cap, and is not counted as a failure of the module.
    fn call<R>(
        &self,
        cap: Option<u64>,
        f: impl FnOnce(&Rules, &mut Store<HostState>) -> wasmtime::Result<Result<R, RulesError>>,
    ) -> Result<R, RulesError> {
        let popped = self.pool_lock().pop();
        let mut warm = match popped {
            Some(w) => w,
            None => self.instantiate()?,
        };
        let budget = match (self.limits.fuel_per_call, cap) {
            (0, _) => 0,
            (full, Some(cap)) if cap > 0 && cap < full => cap,
            (full, _) => full,
        };
        let capped = budget < self.limits.fuel_per_call;
        if budget > 0 {
            warm.store.set_fuel(budget).map_err(host_error)?;
        }
        warm.store.set_epoch_deadline(self.epoch_ticks());
        {
            let data = warm.store.data_mut();
            data.logged = 0;
            data.panic_message = None;
        }
        let outcome = f(&warm.rules, &mut warm.store);
        let used = match budget {
            0 => 0,
            _ => budget.saturating_sub(warm.store.get_fuel().unwrap_or(0)),
        };
        let peak = warm.store.data().limiter.peak;
        let usage = &self.usage;
        usage.calls.fetch_add(1, Ordering::Relaxed);
        usage.max_fuel.fetch_max(used, Ordering::Relaxed);
        usage.max_memory.fetch_max(peak, Ordering::Relaxed);
        let result = match outcome {
            Ok(r) => r,
            Err(e) => Err(self.classify(e, warm.store.data(), budget)),
        };
        match &result {
            Err(e) if e.is_module_fault() => {
                if !(capped && matches!(e, RulesError::OutOfFuel { .. })) {
                    usage.failures.fetch_add(1, Ordering::Relaxed);
                }
                tracing::debug!(
                    module = &*self.label,
                    kind = e.kind(),
                    "discarding instance: {e}"
                );
            }
            _ => {
                warm.calls += 1;
                let fresh_enough = warm.calls < self.limits.recycle_after_calls
                    && peak <= self.limits.recycle_above_memory_bytes;
                let mut pool = self.pool_lock();
                if fresh_enough && pool.len() < self.limits.pool_size {
                    pool.push(warm);
                }
            }
        }
        result
    }

    fn checked_step(&self, step: Step) -> Result<Step, RulesError> {
        let bytes = step.output_bytes();
        if bytes > self.limits.output_bytes {
            return Err(RulesError::OutputTooLarge {
                bytes,
                cap_bytes: self.limits.output_bytes,
            });
        }
        Ok(step)
    }

    fn checked_text(&self, text: String) -> Result<String, RulesError> {
        if text.len() > self.limits.output_bytes {
            return Err(RulesError::OutputTooLarge {
                bytes: text.len(),
                cap_bytes: self.limits.output_bytes,
            });
        }
        Ok(text)
    }
}

impl Module {
    /// What the module says about itself.
    pub fn info(&self) -> &GameInfo {
        &self.inner.info
    }

    /// `name@version`.
    pub fn label(&self) -> &str {
        &self.inner.label
    }

    /// SHA-256 of the component bytes, hex.
    pub fn digest(&self) -> &str {
        &self.inner.digest
    }

    /// The contract version the module was built against.
    pub fn contract(&self) -> ContractVersion {
        match self.inner.pre {
            Pre::V1(_) => ContractVersion::V0_1,
            Pre::V2(_) => ContractVersion::V0_2,
        }
    }

    /// The component's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.inner.bytes
    }

    /// The limits every call runs under.
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// Usage counters so far.
    pub fn usage(&self) -> Usage {
        let u = &self.inner.usage;
        Usage {
            calls: u.calls.load(Ordering::Relaxed),
            failures: u.failures.load(Ordering::Relaxed),
            max_fuel: u.max_fuel.load(Ordering::Relaxed),
            max_memory_bytes: u.max_memory.load(Ordering::Relaxed),
            instantiations: u.instantiations.load(Ordering::Relaxed),
        }
    }

    /// The same compiled module with its own, empty instance pool: calls on it never reuse an
    /// instance that served the original (used to replay games in a fresh instance).
    pub fn isolated(&self) -> Module {
        let m = &self.inner;
        Module {
            inner: Arc::new(ModuleInner {
                info: m.info.clone(),
                label: m.label.clone(),
                digest: m.digest.clone(),
                bytes: m.bytes.clone(),
                engine: m.engine.clone(),
                component: m.component.clone(),
                pre: m.pre.clone(),
                limits: m.limits.clone(),
                pool: Mutex::new(Vec::new()),
                usage: UsageCounters::default(),
                _ticker: m._ticker.clone(),
            }),
        }
    }

    /// The same compiled module presented as another version of its game, with its own digest:
    /// how tests get two versions of one game without building a second component.
    #[cfg(test)]
    pub(crate) fn as_version(&self, version: &str) -> Module {
        let copy = self.isolated();
        let mut inner = Arc::into_inner(copy.inner).expect("a fresh copy has one owner");
        inner.info.version = version.into();
        inner.label = Arc::from(format!("{}@{version}", inner.info.name));
        inner.digest = format!("{}+{version}", inner.digest);
        Module {
            inner: Arc::new(inner),
        }
    }

    /// The component's imports and exports, as `name: kind` lines.
    pub fn describe(&self) -> (Vec<String>, Vec<String>) {
        use wasmtime::component::types::ComponentItem;
        let kind = |item: &ComponentItem| match item {
            ComponentItem::ComponentFunc(_) => "func",
            ComponentItem::CoreFunc(_) => "core func",
            ComponentItem::Module(_) => "module",
            ComponentItem::Component(_) => "component",
            ComponentItem::ComponentInstance(_) => "instance",
            ComponentItem::Type(_) => "type",
            ComponentItem::Resource(_) => "resource",
        };
        let ty = self.inner.component.component_type();
        let engine = &self.inner.engine;
        let imports = ty
            .imports(engine)
            .map(|(name, item)| format!("{name}: {}", kind(&item.ty)))
            .collect();
        let exports = ty
            .exports(engine)
            .map(|(name, item)| format!("{name}: {}", kind(&item.ty)))
            .collect();
        (imports, exports)
    }
}
