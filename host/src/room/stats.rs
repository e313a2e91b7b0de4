//! A room's metrics: its gauge (by game, version and phase), action results and module
//! failures. Handles are looked up once per room: finding a labelled metric allocates labels.
//!
//! Must not touch: the game or I/O.

use super::calls::CallTimers;
use crate::metrics::{ActionLabels, CallLabels, Metrics, RoomLabels};
use crate::rules::RulesError;
use prometheus_client::metrics::counter::Counter;
use std::sync::Arc;

pub(crate) struct RoomStats {
    metrics: Arc<Metrics>,
    gauge: RoomLabels,
    /// The game's name and version, shared with every published room info.
    names: (Arc<str>, Arc<str>),
    actions: Vec<(&'static str, Counter)>,
}

impl RoomStats {
    /// Counts a new room of `game` at `version`, waiting.
    pub fn new(metrics: Arc<Metrics>, game: &str, version: &str) -> RoomStats {
        let gauge = RoomLabels {
            game: game.into(),
            version: version.into(),
            phase: "waiting".into(),
        };
        metrics.rooms.get_or_create(&gauge).inc();
        RoomStats {
            metrics,
            names: (Arc::from(game), Arc::from(version)),
            gauge,
            actions: Vec::new(),
        }
    }

    pub fn game(&self) -> &Arc<str> {
        &self.names.0
    }

    pub fn version(&self) -> &Arc<str> {
        &self.names.1
    }

    fn call(&self, call: &str) -> CallLabels {
        CallLabels {
            game: self.gauge.game.clone(),
            version: self.gauge.version.clone(),
            call: call.into(),
        }
    }

    /// The latency histograms of this room's module calls.
    pub fn call_timers(&self) -> CallTimers {
        let h = |call: &str| {
            self.metrics
                .module_calls
                .get_or_create(&self.call(call))
                .clone()
        };
        CallTimers {
            start: h("start"),
            act: h("act"),
            timer: h("timer"),
            bot: h("bot"),
        }
    }

    /// The room is now in `phase` (or `paused`); true when that is a change.
    pub fn set_phase(&mut self, phase: &str) -> bool {
        if self.gauge.phase == phase {
            return false;
        }
        self.metrics.rooms.get_or_create(&self.gauge).dec();
        self.gauge.phase = phase.into();
        self.metrics.rooms.get_or_create(&self.gauge).inc();
        true
    }

    /// Counts an action's result (`ok` or an error code).
    pub fn count_action(&mut self, result: &'static str) {
        if let Some((_, c)) = self.actions.iter().find(|(r, _)| *r == result) {
            c.inc();
            return;
        }
        let c = self
            .metrics
            .actions
            .get_or_create(&ActionLabels {
                game: self.gauge.game.clone(),
                result: result.into(),
            })
            .clone();
        c.inc();
        self.actions.push((result, c));
    }

    /// Counts a module fault by kind.
    pub fn count_failure(&self, e: &RulesError) {
        if e.is_module_fault() {
            self.metrics
                .module_failures
                .get_or_create(&self.call(e.kind()))
                .inc();
        }
    }

    /// The room closed.
    pub fn closed(&self) {
        self.metrics.rooms.get_or_create(&self.gauge).dec();
    }
}
