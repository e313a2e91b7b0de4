//! The contract's exports as typed methods of [`Module`]: each converts its arguments into the
//! module's contract version, makes the one guarded call, and converts the outcome back.

use super::{Pre, Rules};
use crate::rules::Module;
use crate::rules::types::{CallContext, ContractVersion, RulesError, Seat, Setup, Step};

/// A step-returning call's outcome, converted from the module's contract version.
macro_rules! step_outcome {
    ($module:expr, $conv:ident, $r:expr) => {
        match $r {
            Ok(step) => $module.checked_step($conv::convert_step(step)),
            Err(e) => Err(RulesError::Rejected($conv::convert_rule_error(e))),
        }
    };
}

/// A text-returning call's outcome (a view, a bot's action), converted likewise.
macro_rules! text_outcome {
    ($module:expr, $conv:ident, $r:expr) => {
        match $r {
            Ok(text) => $module.checked_text(text),
            Err(e) => Err(RulesError::Rejected($conv::convert_rule_error(e))),
        }
    };
}

impl Module {
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
        let m = &*self.inner;
        m.call(cap, |rules, store| {
            Ok(on_contract!(rules, |r, conv| {
                let setup = conv::wit::Setup {
                    seats: setup.seats,
                    seed: setup.seed,
                    options: setup.options.clone(),
                };
                let ctx = conv::convert_ctx(ctx);
                step_outcome!(m, conv, r.call_start(store, &setup, &ctx)?)
            }))
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
        let m = &*self.inner;
        m.call(cap, |rules, store| {
            Ok(on_contract!(rules, |r, conv| {
                let ctx = conv::convert_ctx(ctx);
                step_outcome!(m, conv, r.call_act(store, state, seat, action, &ctx)?)
            }))
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
        let m = &*self.inner;
        m.call(cap, |rules, store| {
            Ok(on_contract!(rules, |r, conv| {
                let ctx = conv::convert_ctx(ctx);
                step_outcome!(m, conv, r.call_timer(store, state, &ctx)?)
            }))
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
            Ok(on_contract!(rules, |r, conv| text_outcome!(
                m,
                conv,
                r.call_view(store, state, seat)?
            )))
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
            Ok(on_contract!(rules, |r, conv| text_outcome!(
                m,
                conv,
                r.call_bot(store, state, seat, entropy)?
            )))
        })
    }

    /// `migrate`: this module takes over a game whose state another version of the game wrote
    /// (state version `from_state_version`), and reports it as a step. Modules built against
    /// contract 0.1.0 cannot ([`RulesError::CannotTakeOver`]); see [`Module::migrate_state`].
    pub fn migrate(
        &self,
        state: &[u8],
        from_state_version: u32,
        ctx: &CallContext,
    ) -> Result<Step, RulesError> {
        self.migrate_capped(None, state, from_state_version, ctx)
    }

    /// [`Module::migrate`] with at most `cap` fuel (see [`Module::act_capped`]).
    pub fn migrate_capped(
        &self,
        cap: Option<u64>,
        state: &[u8],
        from_state_version: u32,
        ctx: &CallContext,
    ) -> Result<Step, RulesError> {
        let m = &*self.inner;
        if let Pre::V1(_) = m.pre {
            return Err(RulesError::CannotTakeOver {
                contract: ContractVersion::V0_1,
            });
        }
        m.call(cap, |rules, store| {
            Ok(match rules {
                Rules::V2(r) => {
                    use crate::rules::sandbox::v2 as conv;
                    let ctx = conv::convert_ctx(ctx);
                    step_outcome!(
                        m,
                        conv,
                        r.call_migrate(store, state, from_state_version, &ctx)?
                    )
                }
                Rules::V1(_) => Err(RulesError::CannotTakeOver {
                    contract: ContractVersion::V0_1,
                }),
            })
        })
    }

    /// `migrate` for the state bytes alone, whatever the contract version (what `rules check`
    /// and the conformance suite test: a state of the module's own version comes back as is).
    pub fn migrate_state(
        &self,
        state: &[u8],
        from_state_version: u32,
    ) -> Result<Vec<u8>, RulesError> {
        let m = &*self.inner;
        m.call(None, |rules, store| {
            Ok(match rules {
                Rules::V1(r) => {
                    use crate::rules::sandbox::v1 as conv;
                    match r.call_migrate(store, state, from_state_version)? {
                        Ok(bytes) if bytes.len() > m.limits.output_bytes => {
                            Err(RulesError::OutputTooLarge {
                                bytes: bytes.len(),
                                cap_bytes: m.limits.output_bytes,
                            })
                        }
                        Ok(bytes) => Ok(bytes),
                        Err(e) => Err(RulesError::Rejected(conv::convert_rule_error(e))),
                    }
                }
                Rules::V2(r) => {
                    use crate::rules::sandbox::v2 as conv;
                    let ctx = conv::wit::Context {
                        now: 0,
                        viewers: Vec::new(),
                    };
                    step_outcome!(
                        m,
                        conv,
                        r.call_migrate(store, state, from_state_version, &ctx)?
                    )
                    .map(|step| step.state)
                }
            })
        })
    }

    /// `check`: the state's invariants hold, or [`RulesError::CheckFailed`].
    pub fn check(&self, state: &[u8]) -> Result<(), RulesError> {
        self.check_capped(None, state)
    }

    /// [`Module::check`] with at most `cap` fuel (see [`Module::act_capped`]).
    pub fn check_capped(&self, cap: Option<u64>, state: &[u8]) -> Result<(), RulesError> {
        self.inner.call(cap, |rules, store| {
            Ok(on_contract!(rules, |r, _conv| r.call_check(store, state)?)
                .map_err(|reason| RulesError::CheckFailed { reason }))
        })
    }
}
