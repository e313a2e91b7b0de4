//! The archive of ended games and the statistics read from it: the [`Archive`] port and its
//! records, the outcome convention hosts read results by, and the retention of event logs.
//!
//! Owns: what is kept of a game once it has ended (its [`GameSummary`]: result, per-seat
//! outcome, times, steps), per-player and per-game statistics, and the purge of old logs. Must
//! not touch: rooms, wasm, HTTP. Summaries are written by the log's writer when a game ends
//! ([`super::GameWriter::end`]); this port only reads them, and purges.

use super::{BoxFuture, ModuleKey, SeatHolder, StoreError};
use crate::ids::{PlayerId, RoomId};
use serde::Serialize;

/// How a game's result reads under the outcome convention of the SDK (`Outcome`): a JSON object
/// with `"winners"`, an array of seat numbers, and optionally `"scores"`, one integer per seat.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The winning seats (none: a draw).
    pub winners: Vec<u32>,
    /// Each seat's score, when the game gave them.
    pub scores: Option<Vec<i64>>,
}

impl Outcome {
    /// The outcome in `result` (JSON text), or `None` when it does not follow the convention:
    /// such games count as played only.
    pub fn parse(result: &str, seats: u32) -> Option<Outcome> {
        let value: serde_json::Value = serde_json::from_str(result).ok()?;
        let winners = (value.get("winners")?.as_array()?.iter())
            .map(|w| w.as_u64().and_then(|w| u32::try_from(w).ok()))
            .collect::<Option<Vec<u32>>>()?;
        if winners.iter().any(|w| *w >= seats) {
            return None;
        }
        let scores = match value.get("scores") {
            None => None,
            Some(s) => {
                let scores = (s.as_array()?.iter())
                    .map(serde_json::Value::as_i64)
                    .collect::<Option<Vec<i64>>>()?;
                if scores.len() != seats as usize {
                    return None;
                }
                Some(scores)
            }
        };
        Some(Outcome { winners, scores })
    }
}

/// One seat of an ended game, as archived.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SeatSummary {
    /// The seat.
    pub seat: u32,
    /// The person who held it at the end (`None`: a bot from the start).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub player: Option<PlayerId>,
    /// Their name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// They left before the end (the bot finished for them).
    pub left: bool,
    /// Whether the seat won (`None`: the result does not follow the outcome convention).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub won: Option<bool>,
    /// The seat's final score, when the game gave scores.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<i64>,
}

impl SeatSummary {
    /// The archived seats of a game with `seats` holders and `result`.
    pub fn of(seats: &[SeatHolder], result: &str) -> Vec<SeatSummary> {
        let outcome = Outcome::parse(result, seats.len() as u32);
        (0u32..)
            .zip(seats)
            .map(|(seat, holder)| {
                let (player, name, left) = match holder {
                    SeatHolder::Human { player, name, left } => {
                        (Some(player.clone()), Some(name.clone()), *left)
                    }
                    SeatHolder::Bot => (None, None, false),
                };
                SeatSummary {
                    seat,
                    player,
                    name,
                    left,
                    won: outcome.as_ref().map(|o| o.winners.contains(&seat)),
                    score: (outcome.as_ref())
                        .and_then(|o| o.scores.as_ref())
                        .map(|s| s[seat as usize]),
                }
            })
            .collect()
    }
}

/// A finished game as the archive keeps it, after its room has left memory (and after its log
/// has been purged, if retention says so).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GameSummary {
    /// The room it was played in.
    pub room: RoomId,
    /// Game name.
    pub game: String,
    /// Rules version.
    pub version: String,
    /// Digest of the module that played it.
    pub digest: String,
    /// The module's result (JSON).
    pub result: serde_json::Value,
    /// Per seat: who, and how they did.
    pub seats: Vec<SeatSummary>,
    /// When the room was created, ms since the Unix epoch.
    pub created_at: u64,
    /// When the game started.
    pub started_at: u64,
    /// When it ended.
    pub ended_at: u64,
    /// `ended_at - started_at`.
    pub duration_ms: u64,
    /// Steps from the start (the game's final sequence number).
    pub steps: u64,
    /// Rounds played, for games that report them (`"rounds"` in the result).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rounds: Option<u64>,
    /// Whether its event log is still kept (a record can be exported).
    pub log_kept: bool,
}

impl GameSummary {
    /// The module that played it.
    pub fn module(&self) -> ModuleKey {
        ModuleKey {
            name: self.game.clone(),
            version: self.version.clone(),
            digest: self.digest.clone(),
        }
    }
}

/// The rounds a result reports (`"rounds"`, see the SDK's `Outcome::with_rounds`).
pub fn rounds_of(result: &serde_json::Value) -> Option<u64> {
    result.get("rounds")?.as_u64()
}

/// One game in a player's history.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PlayedGame {
    /// The room.
    pub room: RoomId,
    /// Game name.
    pub game: String,
    /// Rules version.
    pub version: String,
    /// The player's seat.
    pub seat: u32,
    /// Whether they won (`None`: the game's result does not say).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub won: Option<bool>,
    /// Their score.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<i64>,
    /// They left before the end.
    pub left: bool,
    /// When the game ended.
    pub ended_at: u64,
}

/// A player's statistics over the finished games they held a seat in at the end.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PlayerStats {
    /// The player.
    pub player: PlayerId,
    /// Games played.
    pub games: u64,
    /// Of those, games whose result follows the outcome convention (wins can be counted).
    pub rated: u64,
    /// Games won.
    pub wins: u64,
    /// `wins / rated` (`None` before any rated game).
    pub win_rate: Option<f64>,
    /// Average final score over the games that gave scores.
    pub average_score: Option<f64>,
    /// The latest games, newest first.
    pub recent: Vec<PlayedGame>,
}

impl PlayerStats {
    /// The statistics of `player` from counts over their games.
    pub fn new(player: PlayerId, counts: SeatCounts, recent: Vec<PlayedGame>) -> PlayerStats {
        PlayerStats {
            player,
            games: counts.games,
            rated: counts.rated,
            wins: counts.wins,
            win_rate: (counts.rated > 0).then(|| counts.wins as f64 / counts.rated as f64),
            average_score: (counts.scored > 0).then(|| counts.score_sum / counts.scored as f64),
            recent,
        }
    }
}

/// Counts over a player's archived seats.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SeatCounts {
    /// Seats.
    pub games: u64,
    /// Seats whose game followed the outcome convention.
    pub rated: u64,
    /// Winning seats.
    pub wins: u64,
    /// Seats with a score.
    pub scored: u64,
    /// Their scores' sum.
    pub score_sum: f64,
}

impl SeatCounts {
    /// Counts `seat` in.
    pub fn add(&mut self, seat: &SeatSummary) {
        self.games += 1;
        if let Some(won) = seat.won {
            self.rated += 1;
            self.wins += u64::from(won);
        }
        if let Some(score) = seat.score {
            self.scored += 1;
            self.score_sum += score as f64;
        }
    }
}

/// Statistics of one version of a game, over its finished games.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GameStats {
    /// Game name.
    pub game: String,
    /// Rules version.
    pub version: String,
    /// Finished games.
    pub games: u64,
    /// Of those, finished within the last hour.
    pub games_last_hour: u64,
    /// Finished games per hour between the first start and the last end (at least an hour).
    pub games_per_hour: f64,
    /// Average duration from start to end, ms.
    pub average_duration_ms: f64,
}

impl GameStats {
    /// Stats from counts: `games` finished, `last_hour` of them lately, `span_ms` from the first
    /// start to the last end, `avg` their average duration (ms).
    pub fn new(key: (String, String), games: u64, last_hour: u64, span_ms: u64, avg: f64) -> Self {
        const HOUR: f64 = 3_600_000.0;
        GameStats {
            game: key.0,
            version: key.1,
            games,
            games_last_hour: last_hour,
            games_per_hour: games as f64 / (span_ms as f64 / HOUR).max(1.0),
            average_duration_ms: avg,
        }
    }
}

/// How long an ended game's event log is kept (its summary is kept forever).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Retention {
    /// Every log is kept.
    #[default]
    Forever,
    /// Logs are purged this many days after their game ended.
    Days(u32),
    /// Logs are purged once their game has ended: only the summary stays.
    SummaryOnly,
}

impl Retention {
    /// Games that ended before this time (ms) have their logs purged; `None`: none do.
    pub fn cutoff(self, now_ms: u64) -> Option<u64> {
        match self {
            Retention::Forever => None,
            Retention::Days(d) => Some(now_ms.saturating_sub(u64::from(d) * 86_400_000)),
            Retention::SummaryOnly => Some(now_ms.saturating_add(1)),
        }
    }
}

impl std::str::FromStr for Retention {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "forever" => Ok(Retention::Forever),
            "summary" => Ok(Retention::SummaryOnly),
            _ => s
                .strip_suffix('d')
                .and_then(|d| d.parse::<u32>().ok())
                .filter(|d| *d > 0)
                .map(Retention::Days)
                .ok_or_else(|| {
                    format!(
                        "{s:?}: expected \"forever\", \"summary\" or a number of days (\"30d\")"
                    )
                }),
        }
    }
}

impl std::fmt::Display for Retention {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Retention::Forever => f.write_str("forever"),
            Retention::Days(d) => write!(f, "{d}d"),
            Retention::SummaryOnly => f.write_str("summary"),
        }
    }
}

impl Serialize for Retention {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Retention {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The archive of ended games.
pub trait Archive: Send + Sync + 'static {
    /// The summary of a finished game (`None`: unknown, not finished, or abandoned).
    fn summary(&self, room: &RoomId) -> BoxFuture<'_, Result<Option<GameSummary>, StoreError>>;
    /// A player's statistics, with their `recent` latest games.
    fn player(
        &self,
        player: &PlayerId,
        recent: usize,
    ) -> BoxFuture<'_, Result<PlayerStats, StoreError>>;
    /// Every game version's statistics, `now_ms` being the time now.
    fn games(&self, now_ms: u64) -> BoxFuture<'_, Result<Vec<GameStats>, StoreError>>;
    /// Purges the event logs (entries and snapshots) of games that ended before `before_ms`;
    /// resolves to how many games' logs went.
    fn purge(&self, before_ms: u64) -> BoxFuture<'_, Result<u64, StoreError>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_are_read_by_the_outcome_convention_or_not_at_all() {
        // Wins and scores count only when the result says them in the SDK's form.
        let o = Outcome::parse(r#"{"winners":[2],"scores":[1,-2,3,0]}"#, 4);
        assert_eq!(
            o,
            Some(Outcome {
                winners: vec![2],
                scores: Some(vec![1, -2, 3, 0])
            })
        );
        assert_eq!(
            Outcome::parse(r#"{"winners":[],"reason":"draw"}"#, 2),
            Some(Outcome {
                winners: vec![],
                scores: None
            })
        );
        for not in [
            r#"{"winner":1}"#,
            r#"{"winners":[5]}"#,
            r#"{"winners":[0],"scores":[1]}"#,
            r#"{"winners":"0"}"#,
            "null",
            "not json",
        ] {
            assert_eq!(Outcome::parse(not, 2), None, "{not}");
        }
    }

    #[test]
    fn retention_reads_forever_days_or_summary() {
        // The setting's three forms, and a clear refusal of anything else.
        assert_eq!("forever".parse(), Ok(Retention::Forever));
        assert_eq!("30d".parse(), Ok(Retention::Days(30)));
        assert_eq!("summary".parse(), Ok(Retention::SummaryOnly));
        assert!("0d".parse::<Retention>().is_err());
        assert!(
            "30".parse::<Retention>()
                .expect_err("no unit")
                .contains("30d")
        );
        assert_eq!(Retention::Days(2).cutoff(3 * 86_400_000), Some(86_400_000));
        assert_eq!(Retention::Forever.cutoff(5), None);
        assert_eq!(Retention::SummaryOnly.cutoff(5), Some(6));
    }
}
