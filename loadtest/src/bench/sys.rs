//! Process and machine facts from the kernel: CPU time (own threads via `getrusage`, other
//! processes via `/proc/PID/stat`), resident memory (`/proc/PID/status`), the machine
//! description for reports, and wall-clock helpers.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Microseconds since the Unix epoch (wall clock, the clock servers stamp `seen` with).
pub fn now_unix_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

fn rusage(who: libc::c_int) -> Duration {
    // SAFETY: getrusage only writes into the zeroed struct we pass; `who` is a valid constant.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above: `ru` is a valid, writable rusage for the call's duration.
    let rc = unsafe { libc::getrusage(who, &mut ru) };
    if rc != 0 {
        return Duration::ZERO;
    }
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
    };
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// CPU time (user + system) of the calling thread.
pub fn thread_cpu() -> Duration {
    rusage(libc::RUSAGE_THREAD)
}

/// CPU time (user + system) of this whole process.
pub fn process_cpu() -> Duration {
    rusage(libc::RUSAGE_SELF)
}

fn clock_ticks() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

/// utime + stime of another process from `/proc/PID/stat`.
pub fn proc_cpu(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat_cpu_ticks(&stat).map(|t| Duration::from_micros(t * 1_000_000 / clock_ticks()))
}

/// utime + stime in clock ticks from a `/proc/PID/stat` line. The command name (field 2) may
/// hold spaces and parentheses, so fields are counted after the last `)`.
pub fn parse_stat_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut f = rest.split_ascii_whitespace();
    // After ")": state(3) ppid(4) ... utime is field 14, stime field 15 → indexes 11 and 12.
    let utime: u64 = f.nth(11)?.parse().ok()?;
    let stime: u64 = f.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Resident memory of a process in KiB: (VmRSS, VmHWM).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Rss {
    /// Current resident set.
    pub rss_kib: u64,
    /// Peak resident set.
    pub hwm_kib: u64,
}

/// Reads `/proc/PID/status`.
pub fn proc_rss(pid: u32) -> Option<Rss> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_status_rss(&status)
}

/// VmRSS and VmHWM from a `/proc/PID/status` text.
pub fn parse_status_rss(status: &str) -> Option<Rss> {
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        line[name.len()..]
            .split_ascii_whitespace()
            .next()?
            .parse()
            .ok()
    };
    Some(Rss {
        rss_kib: field("VmRSS:")?,
        hwm_kib: field("VmHWM:")?,
    })
}

/// The machine a run happened on.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Machine {
    /// `model name` from /proc/cpuinfo.
    pub cpu_model: String,
    /// Online CPUs.
    pub cores: usize,
    /// `uname -r`.
    pub kernel: String,
    /// MemTotal from /proc/meminfo, in MiB.
    pub mem_total_mib: u64,
    /// The host knobs tuning/README.md discusses, as read from /proc (`name=value`; `n/a` when
    /// unreadable), so a run records the conditions its figures were taken under.
    pub tuning: Vec<String>,
}

/// The sysctls and kernel settings of tuning/README.md, in its order.
const TUNING_KNOBS: [&str; 9] = [
    "/proc/sys/net/core/somaxconn",
    "/proc/sys/net/ipv4/tcp_max_syn_backlog",
    "/proc/sys/net/ipv4/tcp_wmem",
    "/proc/sys/net/ipv4/tcp_rmem",
    "/proc/sys/net/ipv4/tcp_mem",
    "/proc/sys/net/core/netdev_max_backlog",
    "/proc/sys/net/ipv4/ip_local_port_range",
    "/sys/kernel/mm/transparent_hugepage/enabled",
    "/proc/sys/kernel/io_uring_disabled",
];

fn tuning_knobs() -> Vec<String> {
    TUNING_KNOBS
        .iter()
        .map(|path| {
            let name = path.rsplit('/').next().unwrap_or(path);
            let value = std::fs::read_to_string(path)
                .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
                .unwrap_or_else(|_| "n/a".into());
            format!("{name}={value}")
        })
        .collect()
}

/// Describes this machine.
pub fn machine() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    let mem_total_mib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            let l = m.lines().find(|l| l.starts_with("MemTotal:"))?;
            l[9..].split_ascii_whitespace().next()?.parse::<u64>().ok()
        })
        .map(|kib| kib / 1024)
        .unwrap_or(0);
    Machine {
        cpu_model,
        cores,
        kernel,
        mem_total_mib,
        tuning: tuning_knobs(),
    }
}

/// `YYYY-MM-DD` (UTC) for a Unix time, without a date crate (Howard Hinnant's civil algorithm).
pub fn utc_date(unix_secs: u64) -> String {
    let z = (unix_secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_after_odd_comm() {
        let s = "1234 (my (odd) prog) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 3 0";
        assert_eq!(parse_stat_cpu_ticks(s), Some(325));
        assert_eq!(parse_stat_cpu_ticks("garbage"), None);
    }

    #[test]
    fn own_stat_parses() {
        let me = std::process::id();
        assert!(proc_cpu(me).is_some());
        let rss = proc_rss(me).unwrap();
        assert!(rss.rss_kib > 0 && rss.hwm_kib >= rss.rss_kib);
    }

    #[test]
    fn status_rss() {
        let s = "Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\n";
        assert_eq!(
            parse_status_rss(s),
            Some(Rss {
                rss_kib: 1024,
                hwm_kib: 2048
            })
        );
        assert_eq!(parse_status_rss("Name: x"), None);
    }

    #[test]
    fn dates() {
        assert_eq!(utc_date(0), "1970-01-01");
        assert_eq!(utc_date(951_782_400), "2000-02-29");
        assert_eq!(utc_date(1_732_233_600), "2024-11-22");
    }

    #[test]
    fn cpu_time_grows_with_work() {
        let t0 = thread_cpu();
        let mut x = 0u64;
        let start = std::time::Instant::now();
        while start.elapsed() < Duration::from_millis(30) {
            x = x.wrapping_mul(31).wrapping_add(7);
        }
        std::hint::black_box(x);
        assert!(thread_cpu() > t0);
    }
}
