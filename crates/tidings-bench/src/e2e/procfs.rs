//! What a server process costs, read from `/proc`: CPU time (`utime` +
//! `stime`, and the same of waited-for children) from `/proc/<pid>/stat`,
//! resident memory (`VmRSS`) from `/proc/<pid>/status`, and the open-file
//! limit from `/proc/<pid>/limits`.

use std::time::Duration;

/// CPU time a process has used so far, its own and its waited-for
/// children's.
pub fn cpu_time(pid: u32) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let ticks =
        cpu_ticks(&stat).ok_or_else(|| anyhow::anyhow!("unexpected /proc/{pid}/stat: {stat}"))?;
    Ok(ticks_to_duration(ticks, clock_ticks_per_second()))
}

/// The sum of `utime`, `stime`, `cutime` and `cstime` (fields 14 to 17) of a
/// `/proc/<pid>/stat` line, in clock ticks.
pub fn cpu_ticks(stat: &str) -> Option<u64> {
    // The command name (field 2) is in parentheses and may hold spaces or
    // parentheses itself: count fields from the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state), so field n is fields[n - 3].
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some(field(14)? + field(15)? + field(16)? + field(17)?)
}

/// Clock ticks per second of `/proc` CPU times (`sysconf(_SC_CLK_TCK)`).
pub fn clock_ticks_per_second() -> u64 {
    rustix::param::clock_ticks_per_second().max(1)
}

fn ticks_to_duration(ticks: u64, per_second: u64) -> Duration {
    Duration::from_nanos(ticks.saturating_mul(1_000_000_000) / per_second)
}

/// Resident memory of a process, in KiB.
pub fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    vm_rss_kib(&status).ok_or_else(|| anyhow::anyhow!("no VmRSS in /proc/{pid}/status"))
}

/// The `VmRSS:` line of a `/proc/<pid>/status`, in KiB.
pub fn vm_rss_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The soft open-file limit of a process (`None`: unlimited or unknown).
pub fn open_files_limit(pid: u32) -> Option<u64> {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    soft_open_files(&limits)
}

/// The soft "Max open files" of a `/proc/<pid>/limits`.
pub fn soft_open_files(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_command_name() {
        let stat = "4242 (tidings (x) y) S 1 4242 4242 0 -1 4194560 3400 0 0 0 \
                    150 25 7 3 20 0 9 0 123 456789 1000 18446744073709551615";
        assert_eq!(cpu_ticks(stat), Some(150 + 25 + 7 + 3));
        assert_eq!(cpu_ticks("garbage"), None);
        assert_eq!(ticks_to_duration(250, 100), Duration::from_millis(2500));
    }

    #[test]
    fn memory_and_limits_parse() {
        let status = "Name:\ttidings\nVmPeak:\t  900 kB\nVmRSS:\t   51234 kB\nThreads:\t9\n";
        assert_eq!(vm_rss_kib(status), Some(51_234));
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max processes             95000                95000                processes\n\
                      Max open files            20000                20000                files\n";
        assert_eq!(soft_open_files(limits), Some(20_000));
    }

    #[test]
    fn this_process_can_be_read() {
        let pid = std::process::id();
        assert!(rss_kib(pid).unwrap() > 0);
        cpu_time(pid).unwrap();
        assert!(open_files_limit(pid).is_some());
    }
}
