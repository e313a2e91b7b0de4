//! A room's metrics: its gauge (by game, version and phase), action results and module
//! failures. Handles are looked up once per room: finding a labelled metric allocates labels.
//!
//! Must not touch: the game or I/O.

use super::calls::CallTimers;
use crate::metrics::{ActionLabels, CallLabels, GameLabels, Metrics, RoomLabels};
use crate::rules::RulesError;
use prometheus_client::metrics::counter::Counter;
use std::sync::Arc;

pub(crate) struct RoomStats {
    metrics: Arc<Metrics>,
    /// The game's name and version, shared with every published room info.
    names: (Arc<str>, Arc<str>),
    /// The phase the room is counted in. The gauge's labels are made from these three when the
    /// phase changes rather than kept: every idle room would hold three more strings.
    phase: Arc<str>,
    actions: Vec<(&'static str, Counter)>,
}

impl RoomStats {
    /// Counts a new room of `game` at `version`, waiting.
    pub fn new(metrics: Arc<Metrics>, game: &str, version: &str) -> RoomStats {
        let stats = RoomStats {
            metrics,
            names: (Arc::from(game), Arc::from(version)),
            phase: Arc::from("waiting"),
            actions: Vec::new(),
        };
        stats.metrics.rooms.get_or_create(&stats.gauge()).inc();
        stats
    }

    fn gauge(&self) -> RoomLabels {
        RoomLabels {
            game: self.names.0.to_string(),
            version: self.names.1.to_string(),
            phase: self.phase.to_string(),
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
            game: self.names.0.to_string(),
            version: self.names.1.to_string(),
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
    pub fn set_phase(&mut self, phase: &Arc<str>) -> bool {
        if self.phase == *phase {
            return false;
        }
        self.metrics.rooms.get_or_create(&self.gauge()).dec();
        self.phase = phase.clone();
        self.metrics.rooms.get_or_create(&self.gauge()).inc();
        true
    }

    /// The room now runs `version` of its game: it is counted under it from now on.
    pub fn set_version(&mut self, version: &str) {
        self.metrics.rooms.get_or_create(&self.gauge()).dec();
        self.names.1 = Arc::from(version);
        self.metrics.rooms.get_or_create(&self.gauge()).inc();
    }

    /// Counts a step of the game.
    pub fn count_step(&self) {
        self.metrics.steps.inc();
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
                game: self.names.0.to_string(),
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

    /// The game finished after `duration_ms` of play.
    pub fn finished(&self, duration_ms: u64) {
        let labels = GameLabels {
            game: self.names.0.to_string(),
            version: self.names.1.to_string(),
        };
        self.metrics.games_finished.get_or_create(&labels).inc();
        (self.metrics.game_duration.get_or_create(&labels)).observe(duration_ms as f64 / 1000.0);
    }

    /// The room closed.
    pub fn closed(&self) {
        self.metrics.rooms.get_or_create(&self.gauge()).dec();
    }
}
