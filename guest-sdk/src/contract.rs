//! The contract's calls in plain Rust, generic over a [`Game`].
//!
//! The wasm exports and the native [`crate::Harness`] both go through these functions, so a
//! module's native tests exercise exactly the decoding, validation and rendering that runs in the
//! sandbox.

use crate::state::{decode_state, encode_state, split_version};
use crate::types::{AddressedView, Audience, Context, Ctx, Setup, Status, Step, Viewer};
use crate::{Game, Rng, RuleError, Seat};
use std::marker::PhantomData;

/// The contract's entry points for `G`.
pub struct Contract<G>(PhantomData<G>);

/// `info` as the contract's record: static facts plus what the SDK derives.
#[derive(Clone, Debug)]
pub struct InfoRecord {
    /// The game's own facts.
    pub info: crate::GameInfo,
    /// `G::STATE_VERSION`.
    pub state_version: u32,
    /// `G::Options::default()` as JSON.
    pub default_options: String,
}

impl<G: Game> Contract<G> {
    /// The `info` export.
    pub fn info() -> InfoRecord {
        InfoRecord {
            info: G::info(),
            state_version: G::STATE_VERSION,
            default_options: serde_json::to_string(&G::Options::default())
                .unwrap_or_else(|_| "{}".into()),
        }
    }

    /// The `start` export: parses options, starts the game and renders the first step.
    pub fn start(seats: u32, seed: u64, options: &str, ctx: &Context) -> Result<Step, RuleError> {
        let info = G::info();
        if seats < info.min_seats || seats > info.max_seats {
            return Err(RuleError::BadOptions(format!(
                "{} needs {} to {} seats, not {seats}",
                info.name, info.min_seats, info.max_seats
            )));
        }
        let trimmed = options.trim();
        let options: G::Options = if trimmed.is_empty() || trimmed == "null" {
            G::Options::default()
        } else {
            serde_json::from_str(trimmed).map_err(|e| RuleError::BadOptions(e.to_string()))?
        };
        let mut out = Ctx::new(ctx.now);
        let state = G::start(
            Setup {
                seats,
                seed,
                options,
            },
            &mut out,
        )?;
        Ok(Self::step(&state, out, ctx))
    }

    /// The `act` export.
    pub fn act(state: &[u8], seat: Seat, action: &str, ctx: &Context) -> Result<Step, RuleError> {
        let mut state: G::State = decode_state(G::STATE_VERSION, state)?;
        if matches!(G::status(&state), Status::Finished(_)) {
            return Err(RuleError::GameOver);
        }
        if !G::awaiting(&state).contains(&seat) {
            return Err(RuleError::NotYourTurn);
        }
        let action: G::Action =
            serde_json::from_str(action).map_err(|e| RuleError::Malformed(e.to_string()))?;
        let mut out = Ctx::new(ctx.now);
        G::act(&mut state, seat, action, &mut out)?;
        Ok(Self::step(&state, out, ctx))
    }

    /// The `timer` export.
    pub fn timer(state: &[u8], ctx: &Context) -> Result<Step, RuleError> {
        let mut state: G::State = decode_state(G::STATE_VERSION, state)?;
        if matches!(G::status(&state), Status::Finished(_)) {
            return Err(RuleError::GameOver);
        }
        let mut out = Ctx::new(ctx.now);
        G::timer(&mut state, &mut out)?;
        Ok(Self::step(&state, out, ctx))
    }

    /// The `view` export: one seat's view, or a spectator's when `seat` is `None`.
    pub fn view(state: &[u8], seat: Option<Seat>) -> Result<String, RuleError> {
        let state: G::State = decode_state(G::STATE_VERSION, state)?;
        let viewer = seat.map_or(Viewer::Spectator, Viewer::Seat);
        Ok(render(&G::view(&state, viewer)))
    }

    /// The `bot` export: an action for `seat` as JSON.
    pub fn bot(state: &[u8], seat: Seat, entropy: u64) -> Result<String, RuleError> {
        let state: G::State = decode_state(G::STATE_VERSION, state)?;
        if matches!(G::status(&state), Status::Finished(_)) {
            return Err(RuleError::GameOver);
        }
        let mut rng = Rng::new(entropy);
        match G::bot(&state, seat, &mut rng) {
            Some(action) => Ok(render(&action)),
            None => Err(RuleError::NotYourTurn),
        }
    }

    /// The `migrate` export: takes over a game whose state another version of the game wrote
    /// (state version `from_version`, which may be this one) and reports it as a step, as `act`
    /// does, with no events.
    pub fn migrate(state: &[u8], from_version: u32, ctx: &Context) -> Result<Step, RuleError> {
        let (found, body) = split_version(state)?;
        if found != from_version {
            return Err(RuleError::BadState(format!(
                "state has version {found}, but migration from {from_version} was asked"
            )));
        }
        let state = if found == G::STATE_VERSION {
            crate::decode_body(body)?
        } else {
            G::migrate(found, body)?
        };
        G::check(&state).map_err(|e| {
            RuleError::BadState(format!("the migrated state fails its invariants: {e}"))
        })?;
        Ok(Self::step(&state, Ctx::new(ctx.now), ctx))
    }

    /// The `check` export.
    pub fn check(state: &[u8]) -> Result<(), String> {
        let state: G::State = decode_state(G::STATE_VERSION, state).map_err(|e| e.to_string())?;
        G::check(&state)
    }

    fn step(state: &G::State, out: Ctx, ctx: &Context) -> Step {
        let views = if ctx.viewers.is_empty() {
            Vec::new()
        } else if G::PUBLIC_VIEW {
            vec![AddressedView {
                audience: Audience::Everyone,
                view: render(&G::view(state, Viewer::Spectator)),
            }]
        } else {
            ctx.viewers
                .iter()
                .map(|&viewer| AddressedView {
                    audience: match viewer {
                        Viewer::Seat(s) => Audience::Seat(s),
                        Viewer::Spectator => Audience::Spectators,
                    },
                    view: render(&G::view(state, viewer)),
                })
                .collect()
        };
        let result = match G::status(state) {
            Status::Running => None,
            Status::Finished(r) => Some(r.to_string()),
        };
        Step {
            state: encode_state(G::STATE_VERSION, state),
            phase: G::phase(state).to_string(),
            awaiting: if result.is_some() {
                Vec::new()
            } else {
                G::awaiting(state)
            },
            wake_at: if result.is_some() {
                None
            } else {
                G::wake_at(state)
            },
            result,
            events: out.into_events(),
            views,
        }
    }
}

fn render(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).unwrap_or_else(|e| {
        serde_json::json!({ "error": format!("not serialisable: {e}") }).to_string()
    })
}
