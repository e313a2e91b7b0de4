//! Plain Rust types mirroring the WIT contract. Designers and the native harness use these; the
//! generated bindings never appear in the SDK's public API.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A seat index, 0-based, in seat rotation order.
pub type Seat = u32;

/// Who a view is rendered for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Viewer {
    /// The player in this seat.
    Seat(Seat),
    /// Somebody watching who sees no hidden information.
    Spectator,
}

/// Who an event or a view is addressed to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Audience {
    /// Every seat and every spectator.
    Everyone,
    /// One seat only.
    Seat(Seat),
    /// Every seated player, no spectator.
    Players,
    /// Spectators only.
    Spectators,
}

impl Audience {
    /// Whether `viewer` belongs to this audience.
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

/// Why a call was refused. The messages are shown to players, so write them for people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RuleError {
    /// The seat may not act now.
    NotYourTurn,
    /// The game has finished.
    GameOver,
    /// The action is well-formed but breaks a rule.
    Illegal(String),
    /// The action could not be understood.
    Malformed(String),
    /// The options given at start are not acceptable.
    BadOptions(String),
    /// The state bytes cannot be decoded or are inconsistent.
    BadState(String),
    /// `migrate` cannot read states of this version.
    UnsupportedVersion(u32),
}

impl RuleError {
    /// An [`RuleError::Illegal`] with the given reason.
    pub fn illegal(reason: impl Into<String>) -> Self {
        RuleError::Illegal(reason.into())
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

impl std::error::Error for RuleError {}

/// Whether the game goes on.
#[derive(Clone, Debug, PartialEq)]
pub enum Status {
    /// Still being played.
    Running,
    /// Over, with a result (winners, scores, ...) as JSON. Build it from an [`Outcome`] so that
    /// the host can count wins and scores for its player statistics; any other JSON is kept
    /// and shown, and the game counts as played only.
    Finished(serde_json::Value),
}

/// How a game ended, in the form hosts read for statistics: a JSON object with `"winners"` (the
/// winning seats; empty when nobody won) and, optionally, `"scores"` (one number per seat), plus
/// whatever else the game wants to show.
///
/// ```
/// use tabula_sdk::{Outcome, Status};
/// let status: Status = Outcome::winners([2]).with_scores([10, -5, 31, 0]).into();
/// assert_eq!(
///     status,
///     Status::Finished(serde_json::json!({"winners": [2], "scores": [10, -5, 31, 0]}))
/// );
/// let draw: Status = Outcome::draw().with("reason", "board full").into();
/// assert_eq!(
///     draw,
///     Status::Finished(serde_json::json!({"winners": [], "reason": "board full"}))
/// );
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    result: serde_json::Map<String, serde_json::Value>,
}

impl Outcome {
    /// These seats won.
    pub fn winners(seats: impl IntoIterator<Item = Seat>) -> Outcome {
        let winners: Vec<Seat> = seats.into_iter().collect();
        let mut result = serde_json::Map::new();
        result.insert("winners".into(), winners.into());
        Outcome { result }
    }

    /// Nobody won.
    pub fn draw() -> Outcome {
        Outcome::winners([])
    }

    /// Each seat's final score, in seat order.
    pub fn with_scores(mut self, scores: impl IntoIterator<Item = i64>) -> Outcome {
        let scores: Vec<i64> = scores.into_iter().collect();
        self.result.insert("scores".into(), scores.into());
        self
    }

    /// How many rounds the game took, for games played in rounds (hosts archive it).
    pub fn with_rounds(mut self, rounds: u32) -> Outcome {
        self.result.insert("rounds".into(), rounds.into());
        self
    }

    /// Something else to show with the result (`winners`, `scores` and `rounds` are kept as
    /// set).
    pub fn with(mut self, key: &str, value: impl Into<serde_json::Value>) -> Outcome {
        if !["winners", "scores", "rounds"].contains(&key) {
            self.result.insert(key.into(), value.into());
        }
        self
    }
}

impl From<Outcome> for Status {
    fn from(o: Outcome) -> Status {
        Status::Finished(serde_json::Value::Object(o.result))
    }
}

/// What a game is: static facts the host reads once per module.
#[derive(Clone, Debug)]
pub struct GameInfo {
    /// Short machine name, e.g. `tic-tac-toe`.
    pub name: &'static str,
    /// Semver version of the rules.
    pub version: &'static str,
    /// Fewest seats a game can start with.
    pub min_seats: u32,
    /// Most seats a game can start with.
    pub max_seats: u32,
    /// Every phase the game may report.
    pub phases: &'static [&'static str],
    /// Every phase change the game may make, as `(from, to)`.
    pub transitions: &'static [(&'static str, &'static str)],
}

impl GameInfo {
    /// The two phases of a game with no phases of its own: `playing`, then `over`.
    pub const SIMPLE_PHASES: &'static [&'static str] = &["playing", "over"];

    /// Info for a game that uses [`GameInfo::SIMPLE_PHASES`] (and so can keep the default
    /// [`crate::Game::phase`]).
    pub const fn simple(
        name: &'static str,
        version: &'static str,
        min_seats: u32,
        max_seats: u32,
    ) -> Self {
        GameInfo {
            name,
            version,
            min_seats,
            max_seats,
            phases: Self::SIMPLE_PHASES,
            transitions: &[("playing", "over")],
        }
    }
}

/// How a game starts, with the options already parsed.
#[derive(Clone, Debug)]
pub struct Setup<O> {
    /// Number of seats, within the game's bounds.
    pub seats: u32,
    /// The game's seed: the only source of randomness for the rules.
    pub seed: u64,
    /// Parsed options.
    pub options: O,
}

/// One event as the host receives it: audience and JSON payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// Who may see it.
    pub audience: Audience,
    /// JSON text.
    pub payload: String,
}

/// One rendered view as the host receives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddressedView {
    /// Who the view is for.
    pub audience: Audience,
    /// JSON text.
    pub view: String,
}

/// The host's inputs to a call besides the state.
#[derive(Clone, Debug, Default)]
pub struct Context {
    /// Milliseconds on the host's clock.
    pub now: u64,
    /// The viewers to render views for.
    pub viewers: Vec<Viewer>,
}

/// The result of a state change, as the host receives it.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// The new state bytes (version-prefixed).
    pub state: Vec<u8>,
    /// The current phase name.
    pub phase: String,
    /// `None` while running; the JSON result once finished.
    pub result: Option<String>,
    /// Seats whose input is awaited.
    pub awaiting: Vec<Seat>,
    /// When the host should call `timer`.
    pub wake_at: Option<u64>,
    /// What happened, by audience.
    pub events: Vec<Event>,
    /// Views for the requested viewers.
    pub views: Vec<AddressedView>,
}

impl Step {
    /// The view that `viewer` receives: the most specific one that addresses it.
    pub fn view_for(&self, viewer: Viewer) -> Option<&str> {
        let specific = self
            .views
            .iter()
            .find(|v| v.audience != Audience::Everyone && v.audience.includes(viewer));
        specific
            .or_else(|| self.views.iter().find(|v| v.audience == Audience::Everyone))
            .map(|v| v.view.as_str())
    }
}

/// What a call may do besides changing the state: read the time and emit events.
#[derive(Debug)]
pub struct Ctx {
    now: u64,
    events: Vec<Event>,
}

impl Ctx {
    pub(crate) fn new(now: u64) -> Self {
        Ctx {
            now,
            events: Vec::new(),
        }
    }

    pub(crate) fn into_events(self) -> Vec<Event> {
        self.events
    }

    /// The host's time in milliseconds. Use it for wake-up times; never read a clock yourself.
    pub fn now(&self) -> u64 {
        self.now
    }

    /// Emits an event for `audience`. Events are how clients learn what just happened.
    pub fn emit(&mut self, audience: Audience, payload: &impl Serialize) {
        let payload = serde_json::to_string(payload).unwrap_or_else(|e| {
            serde_json::json!({ "error": format!("event not serialisable: {e}") }).to_string()
        });
        self.events.push(Event { audience, payload });
    }
}

/// One action a viewer may make now, as a view lists it for clients that know nothing of the
/// game: a view whose top level has `"actions": [Choice, ...]` gets one button per choice in
/// the host's generic table, showing `label` and sending `action` as it is. List only what the
/// viewer may do now (nothing for spectators or players not awaited).
///
/// ```
/// use tabula_sdk::Choice;
/// #[derive(serde::Serialize)]
/// struct Move { cell: usize }
/// let c = Choice::new("Take the centre", Move { cell: 4 });
/// assert_eq!(
///     serde_json::to_value(&c).unwrap(),
///     serde_json::json!({"label": "Take the centre", "action": {"cell": 4}})
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Choice<A> {
    /// What the button says.
    pub label: String,
    /// The action sent, as the game reads it.
    pub action: A,
}

impl<A> Choice<A> {
    /// A choice labelled `label` that sends `action`.
    pub fn new(label: impl Into<String>, action: A) -> Self {
        Choice {
            label: label.into(),
            action,
        }
    }
}
