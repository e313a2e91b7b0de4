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
use super::sandbox::bindings::{GameRules, GameRulesPre};
use super::sandbox::{
    EPOCH_TICK, EpochTicker, HostState, Sandbox, convert_ctx, convert_info, convert_rule_error,
    convert_step, host_error, wit,
};
use super::types::{CallContext, GameInfo, RulesError, Seat, Setup, Step};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use wasmtime::component::Component;
use wasmtime::{Engine, Store, Trap};

/// A warm instance and how much it has served.
struct Warm {
    store: Store<HostState>,
    rules: GameRules,
    calls: u32,
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

struct ModuleInner {
    info: GameInfo,
    label: Arc<str>,
    digest: String,
    /// The component's bytes: kept by digest in the module store, so that a game can be rebuilt
    /// under the module that played it after the binary has changed.
    bytes: Arc<[u8]>,
    engine: Engine,
    component: Component,
    pre: GameRulesPre<HostState>,
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
    /// Prepares a compiled component: checks it imports nothing but the contract and exports it.
    pub(super) fn prepare(
        sandbox: &Sandbox,
        component: Component,
        source: (String, Arc<[u8]>),
        limits: Limits,
    ) -> Result<Module, RulesError> {
        let (digest, bytes) = source;
        let pre = sandbox
            .linker
            .instantiate_pre(&component)
            .map_err(|e| RulesError::Invalid {
                reason: format!("it imports something Tabula does not provide: {e:#}"),
            })?;
        let pre = GameRulesPre::new(pre).map_err(|e| RulesError::Invalid {
            reason: format!("it does not export the tabula:rules game-rules world: {e:#}"),
        })?;
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
            let info = rules.call_info(store)?;
            Ok(Ok(convert_info(info)))
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
        match self.pre.instantiate(&mut store) {
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
        f: impl FnOnce(&GameRules, &mut Store<HostState>) -> wasmtime::Result<Result<R, RulesError>>,
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

    fn checked_step(&self, step: wit::Step) -> Result<Step, RulesError> {
        let step = convert_step(step);
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

fn step_outcome(
    module: &ModuleInner,
    r: Result<wit::Step, wit::RuleError>,
) -> Result<Step, RulesError> {
    r.map_err(|e| RulesError::Rejected(convert_rule_error(e)))
        .and_then(|s| module.checked_step(s))
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

    /// `start`: the first step of a new game.
    pub fn start(&self, setup: &Setup, ctx: &CallContext) -> Result<Step, RulesError> {
        self.start_capped(None, setup, ctx)
    }

    /// [`Module::start`] with at most `cap` fuel (see [`Module::act_capped`]).
    pub fn start_capped(
        &self,
        cap: Option<u64>,
        setup: &Setup,
        ctx: &CallContext,
    ) -> Result<Step, RulesError> {
        let (setup, ctx) = (
            wit::Setup {
                seats: setup.seats,
                seed: setup.seed,
                options: setup.options.clone(),
            },
            convert_ctx(ctx),
        );
        let m = &*self.inner;
        m.call(cap, |rules, store| {
            Ok(step_outcome(m, rules.call_start(store, &setup, &ctx)?))
        })
    }

    /// `act`: `seat` plays `action` (JSON).
    pub fn act(
        &self,
        state: &[u8],
        seat: Seat,
        action: &str,
        ctx: &CallContext,
    ) -> Result<Step, RulesError> {
        self.act_capped(None, state, seat, action, ctx)
    }

    /// [`Module::act`] with at most `cap` fuel when that is less than the module's budget: a
    /// call that needs more fails with [`RulesError::OutOfFuel`] carrying `cap`, and, calls being
    /// pure, can be made again with the full budget (on a thread that may wait).
    pub fn act_capped(
        &self,
        cap: Option<u64>,
        state: &[u8],
        seat: Seat,
        action: &str,
        ctx: &CallContext,
    ) -> Result<Step, RulesError> {
        let ctx = convert_ctx(ctx);
        let m = &*self.inner;
        m.call(cap, |rules, store| {
            Ok(step_outcome(
                m,
                rules.call_act(store, state, seat, action, &ctx)?,
            ))
        })
    }

    /// `timer`: the wake-up the module asked for has come.
    pub fn timer(&self, state: &[u8], ctx: &CallContext) -> Result<Step, RulesError> {
        self.timer_capped(None, state, ctx)
    }

    /// [`Module::timer`] with at most `cap` fuel (see [`Module::act_capped`]).
    pub fn timer_capped(
        &self,
        cap: Option<u64>,
        state: &[u8],
        ctx: &CallContext,
    ) -> Result<Step, RulesError> {
        let ctx = convert_ctx(ctx);
        let m = &*self.inner;
        m.call(cap, |rules, store| {
            Ok(step_outcome(m, rules.call_timer(store, state, &ctx)?))
        })
    }

    /// `view`: what one seat (or a spectator, for `None`) sees, as JSON.
    pub fn view(&self, state: &[u8], seat: Option<Seat>) -> Result<String, RulesError> {
        self.view_capped(None, state, seat)
    }

    /// [`Module::view`] with at most `cap` fuel (see [`Module::act_capped`]).
    pub fn view_capped(
        &self,
        cap: Option<u64>,
        state: &[u8],
        seat: Option<Seat>,
    ) -> Result<String, RulesError> {
        let m = &*self.inner;
        m.call(cap, |rules, store| {
            Ok(match rules.call_view(store, state, seat)? {
                Ok(text) => m.checked_text(text),
                Err(e) => Err(RulesError::Rejected(convert_rule_error(e))),
            })
        })
    }

    /// `bot`: an action (JSON) for a computer-played seat.
    pub fn bot(&self, state: &[u8], seat: Seat, entropy: u64) -> Result<String, RulesError> {
        self.bot_capped(None, state, seat, entropy)
    }

    /// [`Module::bot`] with at most `cap` fuel (see [`Module::act_capped`]).
    pub fn bot_capped(
        &self,
        cap: Option<u64>,
        state: &[u8],
        seat: Seat,
        entropy: u64,
    ) -> Result<String, RulesError> {
        let m = &*self.inner;
        m.call(cap, |rules, store| {
            Ok(match rules.call_bot(store, state, seat, entropy)? {
                Ok(text) => m.checked_text(text),
                Err(e) => Err(RulesError::Rejected(convert_rule_error(e))),
            })
        })
    }

    /// `migrate`: a state of `from_state_version` rewritten for this version.
    pub fn migrate(&self, state: &[u8], from_state_version: u32) -> Result<Vec<u8>, RulesError> {
        let m = &*self.inner;
        m.call(None, |rules, store| {
            Ok(
                match rules.call_migrate(store, state, from_state_version)? {
                    Ok(bytes) if bytes.len() > m.limits.output_bytes => {
                        Err(RulesError::OutputTooLarge {
                            bytes: bytes.len(),
                            cap_bytes: m.limits.output_bytes,
                        })
                    }
                    Ok(bytes) => Ok(bytes),
                    Err(e) => Err(RulesError::Rejected(convert_rule_error(e))),
                },
            )
        })
    }

    /// `check`: the state's invariants hold, or [`RulesError::CheckFailed`].
    pub fn check(&self, state: &[u8]) -> Result<(), RulesError> {
        self.inner.call(None, |rules, store| {
            Ok(rules
                .call_check(store, state)?
                .map_err(|reason| RulesError::CheckFailed { reason }))
        })
    }
}
