//! CPU time and peak memory of a process, read from Linux's /proc. Used for the server under test
//! (`--server-pid`) and for the generator itself, so a report shows who burnt the cores.

use anyhow::{Context, anyhow};
use std::time::Duration;

/// Clock ticks per second for /proc's CPU times: `getconf CLK_TCK`, else Linux's usual 100.
pub fn clock_ticks() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .filter(|&t| t > 0)
        .unwrap_or(100)
}

/// CPU time a process has consumed so far, split as the kernel accounts it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuTime {
    /// Time in user mode (`utime`): the process's own code.
    pub user: Duration,
    /// Time in kernel mode (`stime`): system calls on its behalf (sockets, epoll, memory).
    pub system: Duration,
}

impl CpuTime {
    /// User plus system time.
    pub fn total(self) -> Duration {
        self.user + self.system
    }

    /// What was consumed between `earlier` and `self` (zero where a clock seems to go back).
    pub fn since(self, earlier: CpuTime) -> CpuTime {
        CpuTime {
            user: self.user.saturating_sub(earlier.user),
            system: self.system.saturating_sub(earlier.system),
        }
    }
}

/// CPU time consumed so far by `pid` (`"self"` for this process).
pub fn cpu_time(pid: &str, ticks_per_sec: u64) -> anyhow::Result<CpuTime> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let (utime, stime) = parse_cpu_ticks(&stat).ok_or_else(|| anyhow!("cannot parse {path}"))?;
    let ticks = |t: u64| Duration::from_micros(t.saturating_mul(1_000_000) / ticks_per_sec.max(1));
    Ok(CpuTime {
        user: ticks(utime),
        system: ticks(stime),
    })
}

/// utime and stime (fields 14 and 15). The command name (field 2) may hold spaces and
/// parentheses, so the fields are counted from the last `)`.
fn parse_cpu_ticks(stat: &str) -> Option<(u64, u64)> {
    let (_, rest) = stat.rsplit_once(')')?;
    // `rest` starts at field 3 (state), so field n is at index n - 3.
    let mut fields = rest.split_whitespace().skip(14 - 3);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime, stime))
}

/// Peak resident set size (VmHWM) of `pid`, in KiB.
pub fn peak_rss_kib(pid: &str) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| anyhow!("no VmHWM in {path}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_are_read_past_an_awkward_command_name() {
        // A command name with spaces and parentheses does not shift the fields.
        let stat = "42 (we) ird (name) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0";
        assert_eq!(parse_cpu_ticks(stat), Some((250, 50)));
        assert_eq!(parse_cpu_ticks("garbage"), None);
    }

    #[test]
    fn this_process_can_be_measured() {
        // The generator can always sample itself.
        assert!(cpu_time("self", clock_ticks()).is_ok());
        assert!(peak_rss_kib("self").expect("VmHWM") > 0);
    }
}
