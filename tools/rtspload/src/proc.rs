//! CPU time and resident memory of a process, and the machine's busy time, from Linux /proc.

/// Clock ticks per second of /proc's CPU fields: Linux exports USER_HZ = 100 to user space on
/// every architecture it runs camward on (x86_64, arm64), whatever the kernel's HZ.
const TICKS: f64 = 100.0;

#[derive(Debug, Clone, Copy)]
pub struct Usage {
    /// User + system CPU seconds of all the process's threads.
    pub cpu_s: f64,
    pub rss_kib: u64,
}

pub fn usage(pid: u32) -> Option<Usage> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let f: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())?;
    Some(Usage {
        cpu_s: (utime + stime) / TICKS,
        rss_kib,
    })
}

/// CPU seconds the whole machine (all cores) spent busy since boot: everything but idle and iowait.
pub fn machine_busy_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu: Vec<f64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .take(8)
        .filter_map(|v| v.parse().ok())
        .collect();
    if cpu.len() < 8 {
        return None;
    }
    Some((cpu.iter().sum::<f64>() - cpu[3] - cpu[4]) / TICKS)
}
