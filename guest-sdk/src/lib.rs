#![doc = include_str!("../README.md")]

mod contract;
mod harness;
mod rng;
mod script;
mod state;
mod types;

#[doc(hidden)]
pub mod __private;

pub use contract::Contract;
pub use harness::{Harness, HarnessError, Playout};
pub use rng::Rng;
pub use script::{ScriptFailure, refusal_code};
pub use state::{decode_body, decode_state, encode_state, split_version};
pub use types::{
    AddressedView, Audience, Choice, Context, Ctx, Event, GameInfo, Outcome, RuleError, Seat,
    Setup, Status, Step, Viewer,
};

/// Re-exported so that designers use the same serde and JSON as the SDK.
pub use serde;
pub use serde_json;

use serde::{Serialize, de::DeserializeOwned};

/// A game's rules: a pure state machine over `State`.
///
/// **Keep no state outside `State`.** The host may serve any room from any instance of a module
/// and may replay, snapshot or migrate a game at any time, so statics, thread-locals or caches
/// that outlive a call make games diverge. Time comes from [`Ctx::now`], randomness from the seed
/// in [`Setup`] (see [`Rng`]) and, for bots, from the host's entropy.
///
/// Before `act` is called the SDK has already refused actions from seats that
/// [`Game::awaiting`] does not list ([`RuleError::NotYourTurn`]), actions once the game is over
/// ([`RuleError::GameOver`]) and JSON that does not parse as `Action` ([`RuleError::Malformed`]).
/// When `act` or `timer` returns an error, whatever it changed in `state` is thrown away.
pub trait Game {
    /// Everything the game remembers. Encoded with postcard behind a version header.
    type State: Serialize + DeserializeOwned;
    /// A player's move, parsed from the client's JSON.
    type Action: Serialize + DeserializeOwned;
    /// Options chosen when a room is created. Use `#[serde(default, deny_unknown_fields)]` so
    /// that omitted keys take defaults and misspelt ones are refused.
    type Options: Serialize + DeserializeOwned + Default;
    /// What one viewer sees, serialised to JSON for clients.
    type View: Serialize;

    /// Version of the `State` layout. Raise it when the layout changes and teach
    /// [`Game::migrate`] to read the old one.
    const STATE_VERSION: u32 = 1;
    /// True when every viewer sees the same view (no hidden information): the SDK then renders
    /// one view for everyone instead of one per viewer.
    const PUBLIC_VIEW: bool = false;

    /// Name, version, seat bounds, phases and phase transitions.
    fn info() -> GameInfo;
    /// The first state of a game. Refuse unacceptable options with [`RuleError::BadOptions`].
    fn start(setup: Setup<Self::Options>, ctx: &mut Ctx) -> Result<Self::State, RuleError>;
    /// Applies `seat`'s action.
    fn act(
        state: &mut Self::State,
        seat: Seat,
        action: Self::Action,
        ctx: &mut Ctx,
    ) -> Result<(), RuleError>;
    /// Called by the host once [`Game::wake_at`] has passed.
    fn timer(state: &mut Self::State, ctx: &mut Ctx) -> Result<(), RuleError> {
        let _ = (state, ctx);
        Err(RuleError::illegal("this game sets no timers"))
    }
    /// What `viewer` may see. Never include another seat's hidden information.
    fn view(state: &Self::State, viewer: Viewer) -> Self::View;
    /// A legal action for `seat`, or `None` when it has nothing to do. `rng` is seeded from the
    /// host's entropy, not from the game's seed.
    fn bot(state: &Self::State, seat: Seat, rng: &mut Rng) -> Option<Self::Action>;
    /// The current phase; one of [`GameInfo::phases`]. The default suits games declared with
    /// [`GameInfo::simple`]: `playing` while running, `over` once finished.
    fn phase(state: &Self::State) -> &'static str {
        match Self::status(state) {
            Status::Running => "playing",
            Status::Finished(_) => "over",
        }
    }
    /// Whether the game goes on.
    fn status(state: &Self::State) -> Status;
    /// The seats whose input is awaited now.
    fn awaiting(state: &Self::State) -> Vec<Seat>;
    /// When the host should call [`Game::timer`], in host milliseconds.
    fn wake_at(state: &Self::State) -> Option<u64> {
        let _ = state;
        None
    }
    /// Checks the state's invariants; the error says what is broken.
    fn check(state: &Self::State) -> Result<(), String> {
        let _ = state;
        Ok(())
    }
    /// Reads the body of a state written with an older `from_version`, when the host moves a
    /// running game to this version of the rules (a state of this version is read as it is).
    /// The SDK then checks the result with [`Game::check`] and reports its phase, awaiting
    /// seats and wake-up time as after any step. Test it natively with [`Harness::take_over`].
    fn migrate(from_version: u32, body: &[u8]) -> Result<Self::State, RuleError> {
        let _ = body;
        Err(RuleError::UnsupportedVersion(from_version))
    }
}

/// Reports a message to the host's log (designers' diagnostics). Natively it goes to stderr.
pub fn log(level: LogLevel, message: &str) {
    __private::log(level, message);
}

/// Severity of a [`log`] message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogLevel {
    /// Detail for debugging.
    Debug,
    /// Normal operation.
    Info,
    /// Something looks wrong.
    Warn,
    /// Something failed.
    Error,
}

/// Exports a [`Game`] as the module's implementation of the contract.
///
/// Use it once per module, at the crate root: `tabula_sdk::export_game!(MyGame);`. It expands to
/// nothing when compiling natively, so unit tests and native benchmarks link the same crate.
#[macro_export]
macro_rules! export_game {
    ($game:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            type TabulaExportedGame = $crate::__private::Exported<$game>;
            $crate::__private::bindings::__export_game_rules!(TabulaExportedGame);
        };
    };
}
