//! The host's own types for what crosses the sandbox boundary. Nothing outside `rules` sees a
//! wasmtime or bindgen type; these are what the rest of the host speaks.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A seat index, 0-based.
pub type Seat = u32;

/// What a module says about itself (`info`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GameInfo {
    /// Machine name, e.g. `liap-tui`.
    pub name: String,
    /// Semver version of the rules.
    pub version: String,
    /// Version of the state encoding.
    pub state_version: u32,
    /// Fewest seats.
    pub min_seats: u32,
    /// Most seats.
    pub max_seats: u32,
    /// Every phase the module may report.
    pub phases: Vec<String>,
    /// Allowed phase changes, `(from, to)`.
    pub transitions: Vec<(String, String)>,
    /// Default options (JSON object).
    pub default_options: serde_json::Value,
}

impl GameInfo {
    /// Whether moving from phase `from` to phase `to` was declared (staying put always is).
    pub fn allows(&self, from: &str, to: &str) -> bool {
        from == to || self.transitions.iter().any(|(f, t)| f == from && t == to)
    }
}

/// Who a view is rendered for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Viewer {
    /// The player in this seat.
    Seat(Seat),
    /// A spectator.
    Spectator,
}

/// Who an event or a view is addressed to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    /// Every seat and spectator.
    Everyone,
    /// One seat.
    Seat(Seat),
    /// Every seat, no spectator.
    Players,
    /// Spectators only.
    Spectators,
}

impl Audience {
    /// Whether `viewer` belongs to the audience.
    pub fn includes(self, viewer: Viewer) -> bool {
        match (self, viewer) {
            (Audience::Everyone, _) => true,
            (Audience::Seat(a), Viewer::Seat(b)) => a == b,
            (Audience::Players, Viewer::Seat(_)) => true,
            (Audience::Spectators, Viewer::Spectator) => true,
            _ => false,
        }
    }
}

/// Inputs to a call besides the state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallContext {
    /// Host time in milliseconds (a virtual clock in tests and replays).
    pub now: u64,
    /// Viewers to render views for.
    pub viewers: Vec<Viewer>,
}

/// How a game starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setup {
    /// Number of seats.
    pub seats: u32,
    /// Seed of the game's randomness.
    pub seed: u64,
    /// Options as JSON text.
    pub options: String,
}

/// Something that happened, for an audience.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// Who may see it.
    pub audience: Audience,
    /// JSON text.
    pub payload: String,
}

/// A rendered view for an audience.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddressedView {
    /// Who it is for.
    pub audience: Audience,
    /// JSON text.
    pub view: String,
}

/// The result of a state change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// New state bytes.
    pub state: Vec<u8>,
    /// Current phase.
    pub phase: String,
    /// `Some(result JSON)` once the game is over.
    pub result: Option<String>,
    /// Seats whose input is awaited.
    pub awaiting: Vec<Seat>,
    /// When `timer` is due, in host milliseconds.
    pub wake_at: Option<u64>,
    /// Events by audience.
    pub events: Vec<Event>,
    /// Views for the requested viewers.
    pub views: Vec<AddressedView>,
}

impl Step {
    /// The view `viewer` receives: the most specific view addressing it, else one for everyone.
    pub fn view_for(&self, viewer: Viewer) -> Option<&str> {
        self.view_index(viewer).map(|i| self.views[i].view.as_str())
    }

    /// The index in `views` of the view `viewer` receives (see [`Step::view_for`]).
    pub fn view_index(&self, viewer: Viewer) -> Option<usize> {
        self.views
            .iter()
            .position(|v| v.audience != Audience::Everyone && v.audience.includes(viewer))
            .or_else(|| {
                self.views
                    .iter()
                    .position(|v| v.audience == Audience::Everyone)
            })
    }

    /// Bytes the module returned, for the output cap.
    pub(crate) fn output_bytes(&self) -> usize {
        self.state.len()
            + self.phase.len()
            + self.result.as_ref().map_or(0, String::len)
            + self.events.iter().map(|e| e.payload.len()).sum::<usize>()
            + self.views.iter().map(|v| v.view.len()).sum::<usize>()
    }
}

/// A refusal by the rules (the module worked; the input was not acceptable).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "code", content = "reason", rename_all = "snake_case")]
pub enum RuleError {
    /// The seat may not act now.
    NotYourTurn,
    /// The game has finished.
    GameOver,
    /// Well-formed but against the rules.
    Illegal(String),
    /// Not understood.
    Malformed(String),
    /// Options refused at start.
    BadOptions(String),
    /// State bytes not acceptable.
    BadState(String),
    /// `migrate` cannot read this state version.
    UnsupportedVersion(u32),
}

impl RuleError {
    /// Stable machine code, as used on the wire and in metrics.
    pub fn code(&self) -> &'static str {
        match self {
            RuleError::NotYourTurn => "not_your_turn",
            RuleError::GameOver => "game_over",
            RuleError::Illegal(_) => "illegal",
            RuleError::Malformed(_) => "malformed",
            RuleError::BadOptions(_) => "bad_options",
            RuleError::BadState(_) => "bad_state",
            RuleError::UnsupportedVersion(_) => "unsupported_version",
        }
    }
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuleError::NotYourTurn => f.write_str("it is not your turn"),
            RuleError::GameOver => f.write_str("the game is over"),
            RuleError::Illegal(r) => write!(f, "illegal move: {r}"),
            RuleError::Malformed(r) => write!(f, "malformed action: {r}"),
            RuleError::BadOptions(r) => write!(f, "bad options: {r}"),
            RuleError::BadState(r) => write!(f, "bad state: {r}"),
            RuleError::UnsupportedVersion(v) => write!(f, "cannot migrate from state version {v}"),
        }
    }
}

/// What went wrong with a call into a module.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum RulesError {
    /// The call used up its CPU budget.
    #[error("the module used up its CPU budget of {budget} fuel units")]
    OutOfFuel {
        /// The budget per call.
        budget: u64,
    },
    /// The call ran past its wall-clock deadline.
    #[error("the module ran past its {deadline_ms} ms deadline")]
    Interrupted {
        /// The deadline per call.
        deadline_ms: u64,
    },
    /// The module tried to grow its memory past the cap.
    #[error("the module tried to use more than {cap_bytes} bytes of memory")]
    MemoryLimit {
        /// The cap.
        cap_bytes: usize,
    },
    /// The module returned more than the output cap.
    #[error("the module returned {bytes} bytes, more than the {cap_bytes} byte cap")]
    OutputTooLarge {
        /// What it returned.
        bytes: usize,
        /// The cap.
        cap_bytes: usize,
    },
    /// The module trapped (a panic, an unreachable, a bad memory access...).
    #[error("the module trapped: {message}")]
    Trap {
        /// The trap and, when the module logged one, its panic message.
        message: String,
    },
    /// `check` found a broken invariant.
    #[error("the state fails its invariants: {reason}")]
    CheckFailed {
        /// What `check` said.
        reason: String,
    },
    /// The rules refused the input.
    #[error("{0}")]
    Rejected(RuleError),
    /// The bytes are not a usable rules component.
    #[error("not a usable rules module: {reason}")]
    Invalid {
        /// Why.
        reason: String,
    },
    /// The module implements an older contract whose `migrate` returns only state bytes, so it
    /// cannot take a running game over (it can run games, and be a swap's source).
    #[error(
        "the module implements tabula:rules@{contract}, whose migrate cannot take over a running \
         game; rebuild it with the current SDK"
    )]
    CannotTakeOver {
        /// The module's contract version.
        contract: ContractVersion,
    },
    /// The host itself failed (instantiation, cache I/O, ...).
    #[error("the sandbox failed: {message}")]
    Host {
        /// Details for the log.
        message: String,
    },
}

impl RulesError {
    /// A short stable name of the kind of failure, for metrics and reports.
    pub fn kind(&self) -> &'static str {
        match self {
            RulesError::OutOfFuel { .. } => "out_of_fuel",
            RulesError::Interrupted { .. } => "interrupted",
            RulesError::MemoryLimit { .. } => "memory_limit",
            RulesError::OutputTooLarge { .. } => "output_too_large",
            RulesError::Trap { .. } => "trap",
            RulesError::CheckFailed { .. } => "check_failed",
            RulesError::Rejected(_) => "rejected",
            RulesError::Invalid { .. } => "invalid",
            RulesError::CannotTakeOver { .. } => "cannot_take_over",
            RulesError::Host { .. } => "host",
        }
    }

    /// True when the module misbehaved (as opposed to refusing an input by its rules).
    pub fn is_module_fault(&self) -> bool {
        !matches!(
            self,
            RulesError::Rejected(_) | RulesError::CannotTakeOver { .. }
        )
    }
}

/// The version of the `tabula:rules` contract a module was built against (see `wit/rules.wit`
/// for how the contract is versioned).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ContractVersion {
    /// `wit/released/rules@0.1.0.wit`: `migrate` returns state bytes only.
    V0_1,
    /// `wit/rules.wit`: `migrate` returns a step.
    V0_2,
}

impl ContractVersion {
    /// The package version, e.g. `0.2.0`.
    pub fn as_str(self) -> &'static str {
        match self {
            ContractVersion::V0_1 => "0.1.0",
            ContractVersion::V0_2 => "0.2.0",
        }
    }

    /// True when a module of this contract can take a running game over (`migrate` returns a
    /// step).
    pub fn can_take_over(self) -> bool {
        self >= ContractVersion::V0_2
    }
}

impl fmt::Display for ContractVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
