//! How a room calls its module without ever stalling the connections: each call first runs
//! inline, on the room's task, within a small fuel slice (`room.inline_fuel`) that every ordinary
//! call fits in; a call that needs more is made again — calls are pure, so the second run is the
//! call — with the module's full budget on the runtime's bounded blocking pool, while the room's
//! task waits without holding a worker. Ordinary moves thus cost no thread hop, and a module
//! that spins holds a connection worker for one slice at most.
//!
//! With fuel metering off there is no slice to enforce, and calls run inline up to the deadline.
//!
//! Owns: the module handle and the call latency histograms. Must not touch: the game's state
//! (it is lent for each call), seats, I/O.

use crate::rules::{CallContext, Module, RulesError, Setup, Step};
use prometheus_client::metrics::histogram::Histogram;
use std::borrow::Cow;

/// Latency histograms of the module calls a room makes.
#[derive(Clone, Debug)]
pub(crate) struct CallTimers {
    pub start: Histogram,
    pub act: Histogram,
    pub timer: Histogram,
    pub bot: Histogram,
}

/// A call and its inputs: borrowed for the inline attempt, owned (copied only then) to move
/// to the blocking pool.
enum Call<'a> {
    Start(Cow<'a, Setup>),
    Act {
        state: Cow<'a, [u8]>,
        seat: u32,
        action: Cow<'a, str>,
    },
    Timer(Cow<'a, [u8]>),
    Bot {
        state: Cow<'a, [u8]>,
        seat: u32,
        entropy: u64,
    },
    View {
        state: Cow<'a, [u8]>,
        seat: Option<u32>,
    },
    Migrate {
        state: Cow<'a, [u8]>,
        from_state_version: u32,
    },
    Check(Cow<'a, [u8]>),
}

enum Output {
    Step(Step),
    Text(String),
    Checked,
}

impl Call<'_> {
    fn into_owned(self) -> Call<'static> {
        let own = |s: Cow<'_, [u8]>| Cow::Owned(s.into_owned());
        match self {
            Call::Start(setup) => Call::Start(Cow::Owned(setup.into_owned())),
            Call::Act {
                state,
                seat,
                action,
            } => Call::Act {
                state: own(state),
                seat,
                action: Cow::Owned(action.into_owned()),
            },
            Call::Timer(state) => Call::Timer(own(state)),
            Call::Bot {
                state,
                seat,
                entropy,
            } => Call::Bot {
                state: own(state),
                seat,
                entropy,
            },
            Call::View { state, seat } => Call::View {
                state: own(state),
                seat,
            },
            Call::Migrate {
                state,
                from_state_version,
            } => Call::Migrate {
                state: own(state),
                from_state_version,
            },
            Call::Check(state) => Call::Check(own(state)),
        }
    }

    fn invoke(
        &self,
        m: &Module,
        ctx: &CallContext,
        cap: Option<u64>,
    ) -> Result<Output, RulesError> {
        match self {
            Call::Start(setup) => m.start_capped(cap, setup, ctx).map(Output::Step),
            Call::Act {
                state,
                seat,
                action,
            } => m
                .act_capped(cap, state, *seat, action, ctx)
                .map(Output::Step),
            Call::Timer(state) => m.timer_capped(cap, state, ctx).map(Output::Step),
            Call::Bot {
                state,
                seat,
                entropy,
            } => m.bot_capped(cap, state, *seat, *entropy).map(Output::Text),
            Call::View { state, seat } => m.view_capped(cap, state, *seat).map(Output::Text),
            Call::Migrate {
                state,
                from_state_version,
            } => m
                .migrate_capped(cap, state, *from_state_version, ctx)
                .map(Output::Step),
            Call::Check(state) => m.check_capped(cap, state).map(|()| Output::Checked),
        }
    }
}

/// A room's way to its module.
pub(crate) struct Sandboxed {
    module: Module,
    slice: Option<u64>,
    timers: CallTimers,
}

fn timed<R>(h: &Histogram, started: std::time::Instant, r: R) -> R {
    h.observe(started.elapsed().as_secs_f64());
    r
}

fn mismatch() -> RulesError {
    RulesError::Host {
        message: "a call returned another kind of output than its own".into(),
    }
}

fn step(out: Result<Output, RulesError>) -> Result<Step, RulesError> {
    match out? {
        Output::Step(s) => Ok(s),
        _ => Err(mismatch()),
    }
}

fn text(out: Result<Output, RulesError>) -> Result<String, RulesError> {
    match out? {
        Output::Text(t) => Ok(t),
        _ => Err(mismatch()),
    }
}

impl Sandboxed {
    /// Calls into `module`, inline within `inline_fuel` (0: always inline).
    pub fn new(module: Module, inline_fuel: u64, timers: CallTimers) -> Sandboxed {
        let full = module.limits().fuel_per_call;
        let slice = (inline_fuel > 0 && full > inline_fuel).then_some(inline_fuel);
        Sandboxed {
            module,
            slice,
            timers,
        }
    }

    async fn run(&self, call: Call<'_>, ctx: &CallContext) -> Result<Output, RulesError> {
        let first = call.invoke(&self.module, ctx, self.slice);
        match (&first, self.slice) {
            (Err(RulesError::OutOfFuel { budget }), Some(slice)) if *budget == slice => {}
            _ => return first,
        }
        let (module, owned, ctx) = (self.module.clone(), call.into_owned(), ctx.clone());
        tokio::task::spawn_blocking(move || owned.invoke(&module, &ctx, None))
            .await
            .unwrap_or_else(|e| {
                Err(RulesError::Host {
                    message: format!("the call on the blocking pool failed: {e}"),
                })
            })
    }

    pub async fn start(&self, setup: &Setup, ctx: &CallContext) -> Result<Step, RulesError> {
        let t = std::time::Instant::now();
        timed(
            &self.timers.start,
            t,
            step(self.run(Call::Start(Cow::Borrowed(setup)), ctx).await),
        )
    }

    pub async fn act(
        &self,
        state: &[u8],
        seat: u32,
        action: &str,
        ctx: &CallContext,
    ) -> Result<Step, RulesError> {
        let t = std::time::Instant::now();
        let call = Call::Act {
            state: Cow::Borrowed(state),
            seat,
            action: Cow::Borrowed(action),
        };
        timed(&self.timers.act, t, step(self.run(call, ctx).await))
    }

    pub async fn timer(&self, state: &[u8], ctx: &CallContext) -> Result<Step, RulesError> {
        let t = std::time::Instant::now();
        timed(
            &self.timers.timer,
            t,
            step(self.run(Call::Timer(Cow::Borrowed(state)), ctx).await),
        )
    }

    pub async fn bot(&self, state: &[u8], seat: u32, entropy: u64) -> Result<String, RulesError> {
        let t = std::time::Instant::now();
        let call = Call::Bot {
            state: Cow::Borrowed(state),
            seat,
            entropy,
        };
        let ctx = CallContext::default();
        timed(&self.timers.bot, t, text(self.run(call, &ctx).await))
    }

    /// The module in use.
    pub fn module(&self) -> &Module {
        &self.module
    }

    /// `migrate`: this module takes over a state another version wrote.
    pub async fn migrate(
        &self,
        state: &[u8],
        from_state_version: u32,
        ctx: &CallContext,
    ) -> Result<Step, RulesError> {
        let call = Call::Migrate {
            state: Cow::Borrowed(state),
            from_state_version,
        };
        step(self.run(call, ctx).await)
    }

    /// `check`: the state's invariants hold.
    pub async fn check(&self, state: &[u8]) -> Result<(), RulesError> {
        let call = Call::Check(Cow::Borrowed(state));
        self.run(call, &CallContext::default()).await.map(|_| ())
    }

    pub async fn view(&self, state: &[u8], seat: Option<u32>) -> Result<String, RulesError> {
        text(
            self.run(
                Call::View {
                    state: Cow::Borrowed(state),
                    seat,
                },
                &CallContext::default(),
            )
            .await,
        )
    }
}
