//! The run's final figures: built from the rooms' outcomes and the CPU/memory samples, printed as
//! text for people or as one JSON object for scripts.

use crate::hostile::MixReport;
use crate::procfs::CpuTime;
use crate::room::RoomOutcome;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// Failure messages kept in the report; the rest are only counted.
const FAILURES_SHOWN: usize = 10;

/// Move latency percentiles, in µs.
#[derive(Serialize, Debug, Default, PartialEq)]
pub struct Latency {
    /// Median.
    pub p50: u32,
    /// 90th percentile.
    pub p90: u32,
    /// 99th percentile.
    pub p99: u32,
    /// 99.9th percentile.
    pub p999: u32,
    /// Slowest move.
    pub max: u32,
}

impl Latency {
    /// Percentiles of `samples` (nearest rank), which this sorts.
    pub fn of(samples: &mut [u32]) -> Latency {
        samples.sort_unstable();
        let at = |q: f64| {
            // Nearest rank: the smallest sample with at least q of the samples at or below it.
            let rank = (q * samples.len() as f64).ceil() as usize;
            samples.get(rank.saturating_sub(1)).copied().unwrap_or(0)
        };
        Latency {
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            p999: at(0.999),
            max: at(1.0),
        }
    }
}

/// Everything the run reports.
#[derive(Serialize, Debug)]
pub struct Report {
    /// Rooms started.
    pub rooms: usize,
    /// WebSocket clients (4 per room).
    pub clients: usize,
    /// Moves per game.
    pub moves_per_room: u32,
    /// A client's pause before each move, ms (0: moves at once).
    pub think_ms: u64,
    /// Rooms whose game all four clients saw to the end.
    pub rooms_finished: usize,
    /// Rooms that failed (connect, setup, refused move, closed socket, ...).
    pub rooms_failed: usize,
    /// Moves acknowledged by an update, over all rooms.
    pub total_moves: u64,
    /// Error frames received plus room failures.
    pub errors: u64,
    /// Error frames by code.
    pub error_codes: BTreeMap<String, u64>,
    /// The first few failure messages.
    pub failures: Vec<String>,
    /// Seconds spent connecting and filling rooms.
    pub setup_secs: f64,
    /// Seconds of the play phase: from the go signal to the last game's end.
    pub wall_secs: f64,
    /// `total_moves / wall_secs`.
    pub moves_per_sec: f64,
    /// Move latency, µs.
    pub latency_us: Latency,
    /// Server CPU (user + system) per move during the play phase, µs; with `--server-pid`.
    pub server_cpu_us_per_move: Option<f64>,
    /// The user-mode part of `server_cpu_us_per_move`: the server's own code.
    pub server_user_us_per_move: Option<f64>,
    /// The kernel-mode part of `server_cpu_us_per_move`: system calls made for the server.
    pub server_kernel_us_per_move: Option<f64>,
    /// Server CPU during the play phase in cores (1.0 = one core busy); with `--server-pid`.
    pub server_cpu_cores: Option<f64>,
    /// Server peak RSS (VmHWM), KiB; with `--server-pid`.
    pub server_peak_rss_kib: Option<u64>,
    /// This generator's CPU per move, µs: on a small machine it competes with the server.
    pub loadgen_cpu_us_per_move: Option<f64>,
    /// CPU used by every other process during the play phase, in cores (with `--server-pid`):
    /// more than a few hundredths means someone else competed for the machine meanwhile.
    pub other_cpu_cores: Option<f64>,
    /// Whether `--timeout-secs` cut the run short.
    pub timed_out: bool,
    /// What the hostile mix did, when one ran beside the load (`--hostile`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostile: Option<MixReport>,
}

/// Measurements taken by the run itself, besides the rooms' outcomes.
pub struct RunFacts {
    /// Rooms started.
    pub rooms: usize,
    /// Moves per game.
    pub moves: u32,
    /// A client's pause before each move.
    pub think: Duration,
    /// Setup duration.
    pub setup: Duration,
    /// Play-phase duration.
    pub play: Duration,
    /// Server CPU over the play phase.
    pub server_cpu: Option<CpuTime>,
    /// Server VmHWM, KiB.
    pub server_peak_rss_kib: Option<u64>,
    /// Generator CPU over the play phase.
    pub loadgen_cpu: Option<CpuTime>,
    /// The whole machine's busy CPU over the same interval as `server_cpu` and `loadgen_cpu`.
    pub machine_cpu: Option<Duration>,
    /// That interval: from the go signal until the end of the play phase was seen.
    pub sampled: Duration,
    /// Whether the deadline cut the run short.
    pub timed_out: bool,
}

impl Report {
    /// Folds the rooms' outcomes and the run's facts into the report.
    pub fn build(outcomes: Vec<RoomOutcome>, facts: RunFacts) -> Report {
        let mut samples = Vec::new();
        let mut error_codes = BTreeMap::new();
        let mut failures = Vec::new();
        let mut finished = 0;
        for o in outcomes {
            samples.extend(o.latencies_us);
            for code in o.error_codes {
                *error_codes.entry(code).or_insert(0u64) += 1;
            }
            finished += usize::from(o.finished);
            if let Some(why) = o.failure.filter(|_| failures.len() < FAILURES_SHOWN) {
                failures.push(why);
            }
        }
        // Unfinished rooms count as failed, including those the deadline stopped or never heard of.
        let failed = facts.rooms.saturating_sub(finished);
        let total_moves = samples.len() as u64;
        let wall = facts.play.as_secs_f64();
        let per_move = |used: Option<Duration>| {
            used.filter(|_| total_moves > 0)
                .map(|u| u.as_secs_f64() * 1e6 / total_moves as f64)
        };
        Report {
            rooms: facts.rooms,
            clients: facts.rooms * crate::room::SEATS as usize,
            moves_per_room: facts.moves,
            think_ms: facts.think.as_millis() as u64,
            rooms_finished: finished,
            rooms_failed: failed,
            total_moves,
            errors: error_codes.values().sum::<u64>() + failed as u64,
            error_codes,
            failures,
            setup_secs: facts.setup.as_secs_f64(),
            wall_secs: wall,
            moves_per_sec: if wall > 0.0 {
                total_moves as f64 / wall
            } else {
                0.0
            },
            latency_us: Latency::of(&mut samples),
            server_cpu_us_per_move: per_move(facts.server_cpu.map(CpuTime::total)),
            server_user_us_per_move: per_move(facts.server_cpu.map(|c| c.user)),
            server_kernel_us_per_move: per_move(facts.server_cpu.map(|c| c.system)),
            server_cpu_cores: facts
                .server_cpu
                .filter(|_| wall > 0.0)
                .map(|u| u.total().as_secs_f64() / wall),
            server_peak_rss_kib: facts.server_peak_rss_kib,
            loadgen_cpu_us_per_move: per_move(facts.loadgen_cpu.map(CpuTime::total)),
            other_cpu_cores: other_cores(&facts),
            timed_out: facts.timed_out,
            hostile: None,
        }
    }

    /// A few lines for a terminal.
    pub fn text(&self) -> String {
        let opt = |v: Option<f64>| v.map_or_else(|| "-".into(), |v| format!("{v:.1}"));
        let l = &self.latency_us;
        let mut out = format!(
            "rooms {} ({} clients, {} moves each, think {} ms): {} finished, {} failed{}\n\
             setup {:.2} s; play {:.3} s: {} moves, {:.0} moves/s\n\
             latency µs: p50 {} p90 {} p99 {} p99.9 {} max {}\n\
             server: {} µs CPU/move (user {} + kernel {}), {} cores, peak RSS {} KiB; \
             loadgen: {} µs CPU/move; other processes: {} cores\n\
             errors {} {:?}\n",
            self.rooms,
            self.clients,
            self.moves_per_room,
            self.think_ms,
            self.rooms_finished,
            self.rooms_failed,
            if self.timed_out { " (TIMED OUT)" } else { "" },
            self.setup_secs,
            self.wall_secs,
            self.total_moves,
            self.moves_per_sec,
            l.p50,
            l.p90,
            l.p99,
            l.p999,
            l.max,
            opt(self.server_cpu_us_per_move),
            opt(self.server_user_us_per_move),
            opt(self.server_kernel_us_per_move),
            self.server_cpu_cores
                .map_or_else(|| "-".into(), |c| format!("{c:.2}")),
            self.server_peak_rss_kib
                .map_or_else(|| "-".into(), |k| k.to_string()),
            opt(self.loadgen_cpu_us_per_move),
            self.other_cpu_cores
                .map_or_else(|| "-".into(), |c| format!("{c:.2}")),
            self.errors,
            self.error_codes,
        );
        for why in &self.failures {
            out.push_str(&format!("  {why}\n"));
        }
        if let Some(mix) = &self.hostile {
            out.push_str(&mix.text());
        }
        out
    }
}

/// The machine's busy time less the server's and the generator's, in cores over the interval.
fn other_cores(facts: &RunFacts) -> Option<f64> {
    let secs = facts.sampled.as_secs_f64();
    let ours = facts.server_cpu?.total() + facts.loadgen_cpu?.total();
    let other = facts.machine_cpu?.saturating_sub(ours);
    (secs > 0.0).then(|| other.as_secs_f64() / secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        // p50 of 1..=100 is 50, p99 is 99; an empty run reports zeros rather than panicking.
        let mut s: Vec<u32> = (1..=100).rev().collect();
        let l = Latency::of(&mut s);
        assert_eq!((l.p50, l.p90, l.p99, l.p999, l.max), (50, 90, 99, 100, 100));
        assert_eq!(Latency::of(&mut []), Latency::default());
    }
}
