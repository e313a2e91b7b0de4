//! Game records and their replay outside the server.
//!
//! A record holds everything that determined a game: the module (name and version), the seed,
//! options and seats, and every input that changed the state, in order. Bot moves are recorded
//! as their seat's actions, so a replay needs no bot and no entropy. A game read back from the
//! server's event log becomes a record with [`GameRecord::from_log`]. See `docs/replay.md`.

use crate::rules::{CallContext, Module, RulesError, Setup, Step, Viewer};
use crate::store::SeatChange;
use serde::{Deserialize, Serialize};

/// The format tag written in every record.
pub const FORMAT: &str = "tabula-replay/2";

/// The earlier format, still read (no digest, request ids, seat changes or state hashes).
pub const FORMAT_1: &str = "tabula-replay/1";

/// Which module version a game was played with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModuleRef {
    /// Game name, e.g. `liap-tui`.
    pub name: String,
    /// Rules version, e.g. `1.0.0`.
    pub version: String,
    /// SHA-256 of the component's bytes, hex (format 2): the exact module that played.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

impl ModuleRef {
    /// The reference to the module `key` names, digest included.
    pub fn of(key: &crate::store::ModuleKey) -> ModuleRef {
        ModuleRef {
            name: key.name.clone(),
            version: key.version.clone(),
            digest: Some(key.digest.clone()),
        }
    }

    /// `name@version`.
    pub fn label(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }
}

/// One input of a game: what changed its state, and (format 2) who came and went.
///
/// Written as an internally tagged object (`{"type":"act",...}`), but read through
/// [`wire::Input`]: an internally tagged enum buffers its fields as `serde` content, which turns
/// the action into a parsed value (keys reordered, spacing lost); one plain struct keeps it raw.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RecordedInput {
    /// A seat's action (a human's, or a bot's on its behalf).
    Act {
        /// The seat.
        seat: u32,
        /// The action's JSON text, exactly as the module received it (written to a record as
        /// JSON, not as a string, and read back byte for byte). Kept as text: a parsed `Value`
        /// cost ~1 KB per move.
        #[serde(serialize_with = "wire::serialize_json_text")]
        action: String,
        /// Host time of the action, ms.
        at: u64,
        /// The player's request id (absent when a bot moved for the seat).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        request_id: Option<String>,
        /// The state hash recorded after the action (16 hex digits).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        state_hash: Option<String>,
    },
    /// A timer the module asked for fired.
    Timer {
        /// Host time of the firing, ms.
        at: u64,
        /// The state hash recorded after the timer.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        state_hash: Option<String>,
    },
    /// Who holds a seat changed (the state does not change).
    Seat {
        /// The seat.
        seat: u32,
        /// Its new occupant.
        change: SeatChange,
        /// Host time, ms.
        at: u64,
    },
    /// The game went back to `to`, the version before its last swap: the state as it stood
    /// before that swap, with every action and timer since applied again under `to`.
    Rollback {
        /// The module the game runs under from here on.
        to: ModuleRef,
        /// Host time, ms.
        at: u64,
        /// The state hash recorded after the rollback.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        state_hash: Option<String>,
    },
    /// The game moved to another version of its rules: `to`'s `migrate` took the state over.
    /// Later inputs are replayed under `to`.
    Swap {
        /// The module the game runs under from here on.
        to: ModuleRef,
        /// Host time, ms.
        at: u64,
        /// The state hash recorded after the swap.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        state_hash: Option<String>,
    },
}

/// The hash format of records: 16 hex digits.
pub fn hash_text(hash: u64) -> String {
    format!("{hash:016x}")
}

impl<'de> Deserialize<'de> for RecordedInput {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let wire::Input {
            kind,
            seat,
            action,
            at,
            request_id,
            state_hash,
            change,
            to,
        } = wire::Input::deserialize(d)?;
        if to.is_some() && !matches!(kind, wire::Kind::Swap | wire::Kind::Rollback) {
            return Err(D::Error::unknown_field("to", wire::ACT));
        }
        let unknown = |f: &'static str, fields: &'static [&'static str]| {
            Err(D::Error::unknown_field(f, fields))
        };
        match kind {
            wire::Kind::Act => {
                if change.is_some() {
                    return unknown("change", wire::ACT);
                }
                Ok(RecordedInput::Act {
                    seat: seat.ok_or_else(|| D::Error::missing_field("seat"))?,
                    action: action.ok_or_else(|| D::Error::missing_field("action"))?,
                    at,
                    request_id,
                    state_hash,
                })
            }
            wire::Kind::Timer => match (seat, action, request_id, change) {
                (None, None, None, None) => Ok(RecordedInput::Timer { at, state_hash }),
                (Some(_), ..) => unknown("seat", wire::TIMER),
                (_, Some(_), ..) => unknown("action", wire::TIMER),
                (_, _, Some(_), _) => unknown("request_id", wire::TIMER),
                _ => unknown("change", wire::TIMER),
            },
            wire::Kind::Seat => match (action, request_id, state_hash) {
                (None, None, None) => Ok(RecordedInput::Seat {
                    seat: seat.ok_or_else(|| D::Error::missing_field("seat"))?,
                    change: change.ok_or_else(|| D::Error::missing_field("change"))?,
                    at,
                }),
                (Some(_), ..) => unknown("action", wire::SEAT),
                (_, Some(_), _) => unknown("request_id", wire::SEAT),
                _ => unknown("state_hash", wire::SEAT),
            },
            wire::Kind::Swap | wire::Kind::Rollback => match (seat, action, request_id, change) {
                (None, None, None, None) => {
                    let to = to.ok_or_else(|| D::Error::missing_field("to"))?;
                    Ok(if matches!(kind, wire::Kind::Swap) {
                        RecordedInput::Swap { to, at, state_hash }
                    } else {
                        RecordedInput::Rollback { to, at, state_hash }
                    })
                }
                (Some(_), ..) => unknown("seat", wire::SWAP),
                (_, Some(_), ..) => unknown("action", wire::SWAP),
                (_, _, Some(_), _) => unknown("request_id", wire::SWAP),
                _ => unknown("change", wire::SWAP),
            },
        }
    }
}

mod wire;

/// A complete record of a game.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GameRecord {
    /// [`FORMAT`] (or [`FORMAT_1`] for records written before it).
    pub format: String,
    /// The module the game was played with.
    pub module: ModuleRef,
    /// The game's seed.
    pub seed: u64,
    /// Number of seats.
    pub seats: u32,
    /// Game options.
    #[serde(default)]
    pub options: serde_json::Value,
    /// Host time at start, ms.
    #[serde(default)]
    pub started_at: u64,
    /// The state hash recorded after the start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_hash: Option<String>,
    /// Every input, in order: seat changes (before and after the start) and every input that
    /// changed the state.
    pub inputs: Vec<RecordedInput>,
}

impl GameRecord {
    /// An empty record for a game about to start.
    pub fn new(module: &Module, setup: &Setup, started_at: u64) -> Self {
        GameRecord {
            format: FORMAT.into(),
            module: ModuleRef {
                name: module.info().name.clone(),
                version: module.info().version.clone(),
                digest: Some(module.digest().to_owned()),
            },
            seed: setup.seed,
            seats: setup.seats,
            options: serde_json::from_str(&setup.options).unwrap_or(serde_json::Value::Null),
            started_at,
            start_hash: None,
            inputs: Vec::new(),
        }
    }

    /// The record of a game read back from the event log, from its first entry (seat changes
    /// included). `None` before the game started.
    pub fn from_log(log: &crate::store::GameLog) -> Option<Self> {
        use crate::store::Input;
        let entries: Vec<&crate::store::Entry> = log.entries.iter().map(|(_, e)| e).collect();
        let start = entries.iter().position(|e| e.input == Input::Start)?;
        let h = &log.header;
        // The game starts under the module of the last swap before its start, if any.
        let started_under = entries[..start]
            .iter()
            .rev()
            .find_map(|e| match &e.input {
                Input::Swap { to, .. } | Input::Rollback { to, .. } => Some(to),
                _ => None,
            })
            .unwrap_or(&h.module);
        Some(GameRecord {
            format: FORMAT.into(),
            module: ModuleRef::of(started_under),
            seed: h.seed,
            seats: h.seats,
            options: serde_json::from_str(&h.options).unwrap_or(serde_json::Value::Null),
            started_at: entries[start].at,
            start_hash: entries[start].state_hash.map(hash_text),
            inputs: entries
                .iter()
                .enumerate()
                .filter_map(|(i, e)| match &e.input {
                    Input::Act {
                        seat,
                        action,
                        request_id,
                    } => Some(RecordedInput::Act {
                        seat: *seat,
                        action: action.to_string(),
                        at: e.at,
                        request_id: request_id.as_deref().map(str::to_owned),
                        state_hash: e.state_hash.map(hash_text),
                    }),
                    Input::Timer => Some(RecordedInput::Timer {
                        at: e.at,
                        state_hash: e.state_hash.map(hash_text),
                    }),
                    Input::Seat { seat, change } => Some(RecordedInput::Seat {
                        seat: *seat,
                        change: change.clone(),
                        at: e.at,
                    }),
                    Input::Swap { to, .. } if i > start => Some(RecordedInput::Swap {
                        to: ModuleRef::of(to),
                        at: e.at,
                        state_hash: e.state_hash.map(hash_text),
                    }),
                    Input::Rollback { to, .. } if i > start => Some(RecordedInput::Rollback {
                        to: ModuleRef::of(to),
                        at: e.at,
                        state_hash: e.state_hash.map(hash_text),
                    }),
                    Input::Start | Input::Swap { .. } | Input::Rollback { .. } => None,
                })
                .collect(),
        })
    }

    /// The setup the game started with.
    pub fn setup(&self) -> Setup {
        setup_of(self.seats, self.seed, &self.options)
    }
}

/// A game's setup from a record's (or a script's) fields: options `null` are the defaults.
fn setup_of(seats: u32, seed: u64, options: &serde_json::Value) -> Setup {
    Setup {
        seats,
        seed,
        options: if options.is_null() {
            String::new()
        } else {
            options.to_string()
        },
    }
}

/// `Some((recorded, found))` when `step`'s state is not the one `recorded` says.
fn hash_differs(recorded: &Option<String>, step: &Step) -> Option<(String, String)> {
    let found = hash_text(crate::store::state_hash(&step.state));
    recorded
        .as_ref()
        .filter(|r| **r != found)
        .map(|r| (r.clone(), found))
}

/// Why a replay stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The record is not in a format this version reads.
    #[error("unsupported record format {found:?} (expected {FORMAT:?} or {FORMAT_1:?})")]
    Format {
        /// What the record says.
        found: String,
    },
    /// The record names another module than the one given.
    #[error("the record was played with {wanted} but the module is {found}")]
    WrongModule {
        /// name@version in the record.
        wanted: String,
        /// name@version of the module.
        found: String,
    },
    /// The module has the record's name and version but other bytes.
    #[error(
        "the record was played with {name}@{version} of digest {wanted}, but this module's digest \
         is {found}: replay with the exact module (--module FILE, or --database-url to read it \
         from the server's database)"
    )]
    WrongDigest {
        /// Game name.
        name: String,
        /// Rules version.
        version: String,
        /// The record's digest.
        wanted: String,
        /// The module's.
        found: String,
    },
    /// A step's state is not the one the record says the game reached.
    #[error(
        "the state after {what} is not the recorded one (recorded {recorded}, replayed {found})"
    )]
    Diverged {
        /// Which step: `start` or `input N`.
        what: String,
        /// The recorded hash.
        recorded: String,
        /// The replay's hash.
        found: String,
    },
    /// A swap names a module the replay was not given.
    #[error(
        "input {index} moves the game to {module} (digest {digest}), which is not available: \
         give it with --module FILE, or read it from the server's database (--database-url)"
    )]
    MissingModule {
        /// 1-based index of the input.
        index: usize,
        /// name@version.
        module: String,
        /// Its digest.
        digest: String,
    },
    /// Starting the game failed.
    #[error("start failed: {source}")]
    Start {
        /// The module's answer.
        source: RulesError,
    },
    /// An input failed.
    #[error("input {index} ({input}) failed: {source}")]
    Input {
        /// 1-based index of the input.
        index: usize,
        /// The input, as JSON.
        input: String,
        /// The module's answer.
        source: RulesError,
    },
}

/// What one replayed step produced.
#[derive(Debug)]
pub struct ReplayedStep<'a> {
    /// 0 for start, then the 1-based input index.
    pub index: usize,
    /// The input that produced it (`None` for start).
    pub input: Option<&'a RecordedInput>,
    /// The step.
    pub step: &'a Step,
}

/// Replays `record` through `module`, calling `on_step` after start and after every input.
/// Views are rendered for spectators only. A record with swaps needs [`run_across`].
pub fn run(
    module: &Module,
    record: &GameRecord,
    on_step: impl FnMut(ReplayedStep<'_>),
) -> Result<Step, ReplayError> {
    run_across(module, record, &|_| None, on_step)
}

/// [`run`] for a record that may move to other versions of its rules: `modules` finds the
/// module each swap names (by its reference, digest included).
pub fn run_across(
    module: &Module,
    record: &GameRecord,
    modules: &dyn Fn(&ModuleRef) -> Option<Module>,
    mut on_step: impl FnMut(ReplayedStep<'_>),
) -> Result<Step, ReplayError> {
    if record.format != FORMAT && record.format != FORMAT_1 {
        return Err(ReplayError::Format {
            found: record.format.clone(),
        });
    }
    let info = module.info();
    if info.name != record.module.name || info.version != record.module.version {
        return Err(ReplayError::WrongModule {
            wanted: format!("{}@{}", record.module.name, record.module.version),
            found: module.label().into(),
        });
    }
    if let Some(wanted) = &record.module.digest
        && wanted != module.digest()
    {
        return Err(ReplayError::WrongDigest {
            name: info.name.clone(),
            version: info.version.clone(),
            wanted: wanted.clone(),
            found: module.digest().to_owned(),
        });
    }
    let ctx = |now: u64| CallContext {
        now,
        viewers: vec![Viewer::Spectator],
    };
    let check =
        |what: &dyn Fn() -> String, recorded: &Option<String>, step: &Step| match hash_differs(
            recorded, step,
        ) {
            Some((recorded, found)) => Err(ReplayError::Diverged {
                what: what(),
                recorded,
                found,
            }),
            None => Ok(()),
        };
    let mut module = module.clone();
    // Since the last swap: the module and step before it, and the inputs after it (what a
    // rollback replays).
    let mut pre_swap: Option<(Module, Step, Vec<&RecordedInput>)> = None;
    let mut step = module
        .start(&record.setup(), &ctx(record.started_at))
        .map_err(|source| ReplayError::Start { source })?;
    check(&|| "start".into(), &record.start_hash, &step)?;
    on_step(ReplayedStep {
        index: 0,
        input: None,
        step: &step,
    });
    for (i, input) in record.inputs.iter().enumerate() {
        let (next, recorded) = match input {
            RecordedInput::Act {
                seat,
                action,
                at,
                state_hash,
                ..
            } => (
                module.act(&step.state, *seat, action, &ctx(*at)),
                state_hash,
            ),
            RecordedInput::Timer { at, state_hash } => {
                (module.timer(&step.state, &ctx(*at)), state_hash)
            }
            // Who holds a seat does not change the state.
            RecordedInput::Seat { .. } => continue,
            RecordedInput::Swap { to, at, state_hash } => {
                let missing = || ReplayError::MissingModule {
                    index: i + 1,
                    module: to.label(),
                    digest: to.digest.clone().unwrap_or_default(),
                };
                let next = modules(to).ok_or_else(missing)?;
                if next.info().name != to.name || next.info().version != to.version {
                    return Err(missing());
                }
                let from = module.info().state_version;
                let migrated = next.migrate(&step.state, from, &ctx(*at));
                pre_swap = Some((module.clone(), step.clone(), Vec::new()));
                module = next;
                (migrated, state_hash)
            }
            RecordedInput::Rollback { to, at, state_hash } => {
                let missing = || ReplayError::MissingModule {
                    index: i + 1,
                    module: to.label(),
                    digest: to.digest.clone().unwrap_or_default(),
                };
                let Some((old, before, since)) = pre_swap.take() else {
                    return Err(missing());
                };
                if to.digest.as_deref().is_some_and(|d| d != old.digest()) {
                    return Err(missing());
                }
                let mut back = Ok(before);
                for input in since {
                    back = back.and_then(|s: Step| match input {
                        RecordedInput::Act {
                            seat, action, at, ..
                        } => old.act(&s.state, *seat, action, &ctx(*at)),
                        RecordedInput::Timer { at, .. } => old.timer(&s.state, &ctx(*at)),
                        _ => Ok(s),
                    });
                }
                let _ = at;
                module = old;
                (back, state_hash)
            }
        };
        if let Some((_, _, since)) = pre_swap.as_mut()
            && matches!(
                input,
                RecordedInput::Act { .. } | RecordedInput::Timer { .. }
            )
        {
            since.push(input);
        }
        step = next.map_err(|source| ReplayError::Input {
            index: i + 1,
            input: serde_json::to_string(input).unwrap_or_default(),
            source,
        })?;
        check(&|| format!("input {}", i + 1), recorded, &step)?;
        on_step(ReplayedStep {
            index: i + 1,
            input: Some(input),
            step: &step,
        });
    }
    Ok(step)
}

mod script;
mod shadow;
pub use script::{
    Done, Expect, Failure, Over, SCRIPT_FORMAT, Script, ScriptInput, refusal_code, run_script,
};
pub use shadow::{Divergence, shadow};

#[cfg(test)]
mod tests;
