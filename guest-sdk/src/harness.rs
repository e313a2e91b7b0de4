//! A native test harness: drive a [`Game`] through the same code path the sandbox uses, without
//! compiling to wasm.

use crate::contract::Contract;
use crate::state::decode_state;
use crate::types::{Context, Step, Viewer};
use crate::{Game, Rng, RuleError, Seat};
use std::fmt;
use std::marker::PhantomData;

/// A game in progress, held as the host holds it: state bytes plus the last step.
///
/// Every step asks for the views of every seat and of a spectator, as a full server would.
pub struct Harness<G> {
    seats: u32,
    now: u64,
    last: Step,
    _game: PhantomData<G>,
}

/// Why a bot playout stopped early.
#[derive(Clone, Debug, PartialEq)]
pub enum HarnessError {
    /// A call was rejected.
    Rejected {
        /// What was being done.
        doing: String,
        /// The module's answer.
        error: RuleError,
    },
    /// `check` reported a broken invariant.
    CheckFailed {
        /// Steps taken before the failure.
        step: usize,
        /// What `check` said.
        reason: String,
    },
    /// Nobody is awaited and no timer is set, but the game is not over.
    Stuck {
        /// The phase the game is stuck in.
        phase: String,
    },
    /// The game did not finish within the step limit.
    TooLong {
        /// The limit.
        steps: usize,
    },
}

impl fmt::Display for HarnessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HarnessError::Rejected { doing, error } => write!(f, "{doing}: {error}"),
            HarnessError::CheckFailed { step, reason } => {
                write!(f, "check failed after step {step}: {reason}")
            }
            HarnessError::Stuck { phase } => write!(f, "stuck in phase {phase}"),
            HarnessError::TooLong { steps } => write!(f, "not finished after {steps} steps"),
        }
    }
}

impl std::error::Error for HarnessError {}

/// The outcome of [`Harness::play_out`].
#[derive(Clone, Debug, PartialEq)]
pub struct Playout {
    /// Steps taken (actions and timers).
    pub steps: usize,
    /// The game's result as JSON.
    pub result: String,
    /// Every action played: the seat, the action's JSON and the clock when it was played.
    pub actions: Vec<(Seat, String, u64)>,
}

impl Playout {
    /// The game played as a script (docs/replay.md, "Scripts"): every action with its seat and
    /// time, and at the end an assertion that the game is over with the winners it had — a
    /// starting point for a scripted test, to cut down and annotate.
    pub fn to_script<G: Game>(&self, seats: u32, seed: u64, options: &str) -> String {
        let info = G::info();
        let options: serde_json::Value = serde_json::from_str(options).unwrap_or_default();
        let result: serde_json::Value = serde_json::from_str(&self.result).unwrap_or_default();
        let mut inputs: Vec<String> = (self.actions.iter())
            .map(|(seat, action, at)| {
                format!(
                    r#"    {{ "type": "act", "seat": {seat}, "action": {action}, "at": {at} }}"#
                )
            })
            .collect();
        let over = serde_json::json!({"type": "assert", "over": {"winners": result["winners"]}});
        inputs.push(format!("    {over}"));
        format!(
            "{{\n  \"format\": \"tabula-script/1\",\n  \"module\": {{ \"name\": {}, \"version\": {} }},\n  \
             \"seed\": {seed},\n  \"seats\": {seats},\n  \"options\": {options},\n  \"inputs\": [\n{}\n  ]\n}}\n",
            serde_json::Value::from(info.name),
            serde_json::Value::from(info.version),
            inputs.join(",\n"),
        )
    }
}

impl<G: Game> Harness<G> {
    /// Starts a game at time 0.
    pub fn start(seats: u32, seed: u64, options: &str) -> Result<Self, RuleError> {
        let ctx = Self::ctx_for(seats, 0);
        let last = Contract::<G>::start(seats, seed, options, &ctx)?;
        Ok(Harness {
            seats,
            now: 0,
            last,
            _game: PhantomData,
        })
    }

    /// Takes over a game that another version of the game played, as the host does when it
    /// moves a running game to this version: `state` is that version's state bytes (its state
    /// version in front), `now` the clock. Fails as the `migrate` export would.
    pub fn take_over(seats: u32, state: &[u8], now: u64) -> Result<Self, RuleError> {
        let (from, _) = crate::split_version(state)?;
        let ctx = Self::ctx_for(seats, now);
        let last = Contract::<G>::migrate(state, from, &ctx)?;
        Ok(Harness {
            seats,
            now,
            last,
            _game: PhantomData,
        })
    }

    fn ctx_for(seats: u32, now: u64) -> Context {
        let mut viewers: Vec<Viewer> = (0..seats).map(Viewer::Seat).collect();
        viewers.push(Viewer::Spectator);
        Context { now, viewers }
    }

    /// The last step.
    pub fn step(&self) -> &Step {
        &self.last
    }

    /// The current state, decoded.
    pub fn state(&self) -> G::State {
        match decode_state(G::STATE_VERSION, &self.last.state) {
            Ok(s) => s,
            Err(e) => panic!("the harness holds a state it cannot decode: {e}"),
        }
    }

    /// The virtual clock, in milliseconds.
    pub fn now(&self) -> u64 {
        self.now
    }

    /// Moves the virtual clock forward (never backwards).
    pub fn advance(&mut self, ms: u64) {
        self.now += ms;
    }

    /// Whether the game is over.
    pub fn is_finished(&self) -> bool {
        self.last.result.is_some()
    }

    /// Applies `seat`'s action; on error nothing changes.
    pub fn act(&mut self, seat: Seat, action: &G::Action) -> Result<&Step, RuleError> {
        let json =
            serde_json::to_string(action).map_err(|e| RuleError::Malformed(e.to_string()))?;
        self.act_json(seat, &json)
    }

    /// Applies an action given as the client's JSON; on error nothing changes.
    pub fn act_json(&mut self, seat: Seat, json: &str) -> Result<&Step, RuleError> {
        let ctx = Self::ctx_for(self.seats, self.now);
        self.last = Contract::<G>::act(&self.last.state, seat, json, &ctx)?;
        Ok(&self.last)
    }

    /// Moves the clock to the pending wake-up time (if later) and fires the timer.
    pub fn fire_timer(&mut self) -> Result<&Step, RuleError> {
        if let Some(at) = self.last.wake_at {
            self.now = self.now.max(at);
        }
        let ctx = Self::ctx_for(self.seats, self.now);
        self.last = Contract::<G>::timer(&self.last.state, &ctx)?;
        Ok(&self.last)
    }

    /// The view `viewer` received with the last step, parsed.
    pub fn view(&self, viewer: Viewer) -> serde_json::Value {
        self.last
            .view_for(viewer)
            .and_then(|v| serde_json::from_str(v).ok())
            .unwrap_or(serde_json::Value::Null)
    }

    /// The bot's action for `seat`.
    pub fn bot_action(&self, seat: Seat, entropy: u64) -> Result<G::Action, RuleError> {
        let json = Contract::<G>::bot(&self.last.state, seat, entropy)?;
        serde_json::from_str(&json).map_err(|e| RuleError::Malformed(e.to_string()))
    }

    /// Plays bots for every seat until the game ends, firing timers when nobody is awaited,
    /// and runs `check` after every step. `entropy` picks who moves first among awaited seats
    /// and seeds every bot move.
    pub fn play_out(&mut self, entropy: u64, max_steps: usize) -> Result<Playout, HarnessError> {
        let mut rng = Rng::new(entropy);
        let mut actions = Vec::new();
        for steps in 0..max_steps {
            if let Some(result) = &self.last.result {
                return Ok(Playout {
                    steps,
                    result: result.clone(),
                    actions,
                });
            }
            if let Some(&seat) = rng.pick(&self.last.awaiting) {
                let bot_entropy = rng.next_u64();
                let json =
                    Contract::<G>::bot(&self.last.state, seat, bot_entropy).map_err(|error| {
                        HarnessError::Rejected {
                            doing: format!("bot for seat {seat}"),
                            error,
                        }
                    })?;
                self.act_json(seat, &json)
                    .map_err(|error| HarnessError::Rejected {
                        doing: format!("seat {seat} playing the bot's {json}"),
                        error,
                    })?;
                actions.push((seat, json, self.now));
            } else if self.last.wake_at.is_some() {
                self.fire_timer().map_err(|error| HarnessError::Rejected {
                    doing: "timer".into(),
                    error,
                })?;
            } else {
                return Err(HarnessError::Stuck {
                    phase: self.last.phase.clone(),
                });
            }
            Contract::<G>::check(&self.last.state).map_err(|reason| HarnessError::CheckFailed {
                step: steps + 1,
                reason,
            })?;
        }
        match &self.last.result {
            Some(result) => Ok(Playout {
                steps: max_steps,
                result: result.clone(),
                actions,
            }),
            None => Err(HarnessError::TooLong { steps: max_steps }),
        }
    }
}
