//! CPU time, memory and file limits of a process, read from Linux's /proc. Used for the server
//! under test (`--server-pid`) and for the tools themselves, so a report shows who burnt the cores
//! and who holds the memory.

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

/// CPU time the whole machine has spent busy so far, all processes and cores together: the
/// `cpu` line of /proc/stat less its idle and iowait columns.
pub fn machine_busy(ticks_per_sec: u64) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
    let ticks = parse_machine_busy(&stat).ok_or_else(|| anyhow!("cannot parse /proc/stat"))?;
    Ok(Duration::from_micros(
        ticks.saturating_mul(1_000_000) / ticks_per_sec.max(1),
    ))
}

/// user nice system idle iowait irq softirq steal ...: all but idle (4th) and iowait (5th).
/// Guest time is already counted in user and nice, so the columns after steal are left out.
fn parse_machine_busy(stat: &str) -> Option<u64> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let columns: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|c| c.parse().ok())
        .collect::<Option<_>>()?;
    let busy = columns
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != 3 && i != 4)
        .map(|(_, &t)| t)
        .sum();
    (columns.len() >= 5).then_some(busy)
}

/// Peak resident set size (VmHWM) of `pid`, in KiB.
pub fn peak_rss_kib(pid: &str) -> anyhow::Result<u64> {
    status_kib(pid, "VmHWM")
}

/// Resident memory of a process now, in KiB.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Rss {
    /// Everything resident (VmRSS): heap, stacks, and the pages of the binary and files in use.
    pub kib: u64,
    /// The anonymous part (RssAnon): heap, stacks, anonymous mappings; what a data structure's
    /// growth shows up in.
    pub anon_kib: u64,
}

/// The resident memory of `pid` now.
pub fn rss(pid: &str) -> anyhow::Result<Rss> {
    Ok(Rss {
        kib: status_kib(pid, "VmRSS")?,
        anon_kib: status_kib(pid, "RssAnon")?,
    })
}

/// A `kB` figure of /proc/PID/status.
fn status_kib(pid: &str, key: &str) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    parse_status_kib(&status, key).ok_or_else(|| anyhow!("no {key} in {path}"))
}

fn parse_status_kib(status: &str, key: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The soft limit on open files (`ulimit -n`) of `pid`; `None` when unlimited.
pub fn open_files_limit(pid: &str) -> anyhow::Result<Option<u64>> {
    let path = format!("/proc/{pid}/limits");
    let limits = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    parse_open_files_limit(&limits).ok_or_else(|| anyhow!("no open files limit in {path}"))
}

/// The soft column of the `Max open files` row: a number or `unlimited`.
fn parse_open_files_limit(limits: &str) -> Option<Option<u64>> {
    let row = limits
        .lines()
        .find_map(|line| line.strip_prefix("Max open files"))?;
    match row.split_whitespace().next()? {
        "unlimited" => Some(None),
        soft => soft.parse().ok().map(Some),
    }
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
    fn machine_busy_time_leaves_out_idle_and_iowait() {
        // user + nice + system + irq + softirq + steal; guest columns are not counted twice.
        let stat = "cpu  100 2 30 5000 40 1 3 7 50 0\ncpu0 50 1 15 2500 20 0 1 3 25 0\n";
        assert_eq!(parse_machine_busy(stat), Some(100 + 2 + 30 + 1 + 3 + 7));
        assert_eq!(parse_machine_busy("intr 1 2 3\n"), None);
    }

    #[test]
    fn memory_figures_are_read_by_their_exact_key() {
        // VmRSS is not mistaken for VmRSSx or RssAnon, and a missing key is no figure.
        let status = "VmHWM:\t  9000 kB\nVmRSS:\t  8000 kB\nRssAnon:\t  5000 kB\n";
        assert_eq!(parse_status_kib(status, "VmRSS"), Some(8000));
        assert_eq!(parse_status_kib(status, "RssAnon"), Some(5000));
        assert_eq!(parse_status_kib(status, "Rss"), None);
    }

    #[test]
    fn the_soft_open_files_limit_is_read() {
        // The soft column counts, and `unlimited` is understood.
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            1024                 524288               files\n";
        assert_eq!(parse_open_files_limit(limits), Some(Some(1024)));
        let unlimited =
            "Max open files            unlimited            unlimited            files\n";
        assert_eq!(parse_open_files_limit(unlimited), Some(None));
        assert_eq!(
            parse_open_files_limit("Max processes 1 1 processes\n"),
            None
        );
    }

    #[test]
    fn this_process_can_be_measured() {
        // The tools can always sample themselves.
        assert!(cpu_time("self", clock_ticks()).is_ok());
        assert!(machine_busy(clock_ticks()).is_ok());
        assert!(peak_rss_kib("self").expect("VmHWM") > 0);
        assert!(rss("self").expect("VmRSS").kib > 0);
        assert!(open_files_limit("self").is_ok());
    }
}
