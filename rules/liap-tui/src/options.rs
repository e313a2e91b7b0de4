//! Game options (chosen when a room is created) and what validation makes of them: the
//! [`Config`] the state keeps first, and the round limit it keeps last (see [`Settings`]).
//!
//! The game ends after the scoring of a round in which a total reached `win_score`, or after the
//! scoring of round `max_rounds`, whichever comes first (spec §3.6, plus version 2's limit).
//!
//! Every display delay of spec §5 is its own option. `pace` picks their defaults: `normal` uses
//! the spec's delays, `instant` makes every one 0 (for tests, replays and bot-only games). A delay
//! given explicitly wins over the pace. The redeal decision timeout is not a display delay:
//! `pace` leaves it alone.

use serde::{Deserialize, Serialize};

/// Longest delay or timeout accepted, in milliseconds (10 minutes).
pub const MAX_DELAY_MS: i64 = 600_000;
/// Highest win score accepted.
pub const MAX_WIN_SCORE: i64 = 1000;
/// Highest round limit accepted.
pub const MAX_ROUND_LIMIT: i64 = 1000;
/// The round limit when the options set none; also the limit a game migrated from version 1
/// counts from (see `migrate`).
pub const DEFAULT_MAX_ROUNDS: u32 = 20;

/// How fast the table runs when nobody has to act.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Pace {
    /// The spec's display delays.
    #[default]
    Normal,
    /// Every display delay is 0.
    Instant,
}

/// How the computer plays empty and disconnected seats.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum BotLevel {
    /// Spec §6's declarations and redeal answers, then plays to make its bet (the default).
    #[default]
    Tactics,
    /// Spec §6 to the letter. Its scores drift below zero, so bot-only games at this level
    /// often never reach the win score: the round limit ends them.
    Baseline,
}

/// Options as the room creator writes them, e.g. `{"pace": "instant", "win_score": 20,
/// "max_rounds": 10}`.
///
/// Omitted keys take their defaults, unknown keys are refused. Delays are in milliseconds, from 0
/// to 600000; when a delay is omitted, `pace` decides it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Options {
    /// `normal` (default) or `instant` (all display delays 0).
    pub pace: Pace,
    /// `tactics` (default) or `baseline` (spec §6 to the letter).
    pub bot: BotLevel,
    /// A total at or above this ends the game after the round's scoring (1..=1000, default 50).
    pub win_score: i64,
    /// The last round: after its scoring the game is over even if nobody reached `win_score`,
    /// and the highest total wins (1..=1000, default 20).
    pub max_rounds: i64,
    /// How long weak players have to answer a redeal before they decline (default 30000).
    pub redeal_timeout_ms: i64,
    /// Preparation with no weak hand, before `round_start` (default 2000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deal_ms: Option<i64>,
    /// After a redeal that leaves no weak hand, before `round_start` (default 4000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redeal_ms: Option<i64>,
    /// After every weak player declined, before `round_start` (default 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub declined_ms: Option<i64>,
    /// The `round_start` display, before `declaration` (default 5000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub round_start_ms: Option<i64>,
    /// After the fourth play of a trick (default 5000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trick_ms: Option<i64>,
    /// After a trick's result when hands are not empty, before the next trick (default 7000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trick_result_ms: Option<i64>,
    /// The `turn_results` display, before `scoring` (default 7000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub turn_results_ms: Option<i64>,
    /// The `scoring` display, before the next round or `game_over` (default 7000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scoring_ms: Option<i64>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            pace: Pace::Normal,
            bot: BotLevel::Tactics,
            win_score: 50,
            max_rounds: i64::from(DEFAULT_MAX_ROUNDS),
            redeal_timeout_ms: 30_000,
            deal_ms: None,
            redeal_ms: None,
            declined_ms: None,
            round_start_ms: None,
            trick_ms: None,
            trick_result_ms: None,
            turn_results_ms: None,
            scoring_ms: None,
        }
    }
}

/// The options after validation. The state keeps `config` as its first field and `max_rounds`
/// as its last: version 1 of the game had no round limit, and a field added inside `Config` would
/// have shifted the whole postcard layout (see `migrate`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Everything version 1 already had.
    pub config: Config,
    /// See [`Options::max_rounds`].
    pub max_rounds: u32,
}

/// The options of version 1, after validation, as the state keeps them (its layout is frozen).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// See [`Options::bot`].
    pub bot: BotLevel,
    /// See [`Options::win_score`].
    pub win_score: u32,
    /// See [`Options::redeal_timeout_ms`].
    pub redeal_timeout_ms: u32,
    /// See [`Options::deal_ms`].
    pub deal_ms: u32,
    /// See [`Options::redeal_ms`].
    pub redeal_ms: u32,
    /// See [`Options::declined_ms`].
    pub declined_ms: u32,
    /// See [`Options::round_start_ms`].
    pub round_start_ms: u32,
    /// See [`Options::trick_ms`].
    pub trick_ms: u32,
    /// See [`Options::trick_result_ms`].
    pub trick_result_ms: u32,
    /// See [`Options::turn_results_ms`].
    pub turn_results_ms: u32,
    /// See [`Options::scoring_ms`].
    pub scoring_ms: u32,
}

impl Options {
    /// Checks every value and resolves the pace; the error names the option and its range.
    pub fn validate(&self) -> Result<Settings, String> {
        let instant = self.pace == Pace::Instant;
        let delay = |name: &str, value: Option<i64>, normal: i64| -> Result<u32, String> {
            let v = value.unwrap_or(if instant { 0 } else { normal });
            in_range(name, v, 0, MAX_DELAY_MS)
        };
        let config = Config {
            bot: self.bot,
            win_score: in_range("win_score", self.win_score, 1, MAX_WIN_SCORE)?,
            redeal_timeout_ms: in_range(
                "redeal_timeout_ms",
                self.redeal_timeout_ms,
                0,
                MAX_DELAY_MS,
            )?,
            deal_ms: delay("deal_ms", self.deal_ms, 2_000)?,
            redeal_ms: delay("redeal_ms", self.redeal_ms, 4_000)?,
            declined_ms: delay("declined_ms", self.declined_ms, 0)?,
            round_start_ms: delay("round_start_ms", self.round_start_ms, 5_000)?,
            trick_ms: delay("trick_ms", self.trick_ms, 5_000)?,
            trick_result_ms: delay("trick_result_ms", self.trick_result_ms, 7_000)?,
            turn_results_ms: delay("turn_results_ms", self.turn_results_ms, 7_000)?,
            scoring_ms: delay("scoring_ms", self.scoring_ms, 7_000)?,
        };
        Ok(Settings {
            config,
            max_rounds: in_range("max_rounds", self.max_rounds, 1, MAX_ROUND_LIMIT)?,
        })
    }
}

fn in_range(name: &str, value: i64, min: i64, max: i64) -> Result<u32, String> {
    if (min..=max).contains(&value) {
        u32::try_from(value).map_err(|_| format!("{name} is out of range"))
    } else if max == MAX_DELAY_MS {
        Err(format!(
            "{name} must be between {min} and {max} milliseconds (10 minutes), not {value}"
        ))
    } else {
        Err(format!(
            "{name} must be between {min} and {max}, not {value}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(json: &str) -> Result<Settings, String> {
        serde_json::from_str::<Options>(json)
            .map_err(|e| e.to_string())?
            .validate()
    }

    fn parse(json: &str) -> Result<Config, String> {
        settings(json).map(|s| s.config)
    }

    #[test]
    fn defaults_are_the_spec_delays() {
        // With no options the table runs at the spec's pace, to 50 points.
        let c = parse("{}").expect("valid");
        assert_eq!((c.win_score, c.redeal_timeout_ms), (50, 30_000));
        assert_eq!(
            (c.deal_ms, c.redeal_ms, c.declined_ms, c.round_start_ms),
            (2000, 4000, 0, 5000)
        );
        assert_eq!(
            (
                c.trick_ms,
                c.trick_result_ms,
                c.turn_results_ms,
                c.scoring_ms
            ),
            (5000, 7000, 7000, 7000)
        );
    }

    #[test]
    fn instant_pace_zeroes_display_delays_but_not_the_redeal_timeout() {
        // Instant pace removes every pause but still gives weak players time to decide.
        let c = parse(r#"{"pace":"instant"}"#).expect("valid");
        assert_eq!(c.redeal_timeout_ms, 30_000);
        assert_eq!(
            [
                c.deal_ms,
                c.redeal_ms,
                c.declined_ms,
                c.round_start_ms,
                c.trick_ms,
                c.trick_result_ms,
                c.turn_results_ms,
                c.scoring_ms
            ],
            [0; 8]
        );
        let c = parse(r#"{"pace":"instant","trick_ms":1500}"#).expect("valid");
        assert_eq!(
            (c.trick_ms, c.scoring_ms),
            (1500, 0),
            "an explicit delay wins over the pace"
        );
    }

    #[test]
    fn out_of_range_options_are_refused_with_their_name() {
        // A room cannot be created with impossible settings, and the message says which.
        let e = parse(r#"{"win_score":0}"#).expect_err("too low");
        assert!(e.contains("win_score must be between 1 and 1000"), "{e}");
        assert!(parse(r#"{"win_score":1001}"#).is_err());
        let e = parse(r#"{"trick_ms":600001}"#).expect_err("too long");
        assert!(e.contains("trick_ms") && e.contains("10 minutes"), "{e}");
        assert!(parse(r#"{"scoring_ms":-1}"#).is_err());
        assert!(parse(r#"{"redeal_timeout_ms":700000}"#).is_err());
        assert!(parse(r#"{"pace":"slow"}"#).is_err());
        assert!(parse(r#"{"bot":"genius"}"#).is_err());
        assert_eq!(
            parse(r#"{"bot":"baseline"}"#).map(|c| c.bot),
            Ok(BotLevel::Baseline)
        );
        assert!(
            parse(r#"{"win_scor":10}"#).is_err(),
            "misspelt keys are refused"
        );
        assert!(parse(r#"{"redeal_timeout_ms":0,"win_score":1000,"deal_ms":600000}"#).is_ok());
    }

    #[test]
    fn default_options_publish_only_what_is_fixed() {
        // The published defaults show the pace, the bot level, the win score, the round limit
        // and the redeal timeout.
        let json = serde_json::to_string(&Options::default()).expect("json");
        assert_eq!(
            json,
            r#"{"pace":"normal","bot":"tactics","win_score":50,"max_rounds":20,"redeal_timeout_ms":30000}"#
        );
    }

    #[test]
    fn the_round_limit_defaults_to_20_and_accepts_1_to_1000() {
        // Without `max_rounds` a game lasts at most 20 rounds; a room may ask for 1 to 1000.
        assert_eq!(settings("{}").map(|s| s.max_rounds), Ok(20));
        assert_eq!(settings(r#"{"max_rounds":1}"#).map(|s| s.max_rounds), Ok(1));
        assert_eq!(
            settings(r#"{"max_rounds":1000}"#).map(|s| s.max_rounds),
            Ok(1000)
        );
        for bad in [0, -3, 1001] {
            let e = settings(&format!(r#"{{"max_rounds":{bad}}}"#)).expect_err("out of range");
            assert_eq!(
                e,
                format!("max_rounds must be between 1 and 1000, not {bad}")
            );
        }
        assert!(
            settings(r#"{"max_rounds":"20"}"#).is_err(),
            "a number, not a string"
        );
    }
}
