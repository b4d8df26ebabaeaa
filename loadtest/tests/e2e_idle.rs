//! An idle server burns no CPU: under 1% of one core over 10 s with its logs quiet and no
//! clients.
//!
//! This is its own test binary on purpose: cargo runs test binaries one after another, so no
//! other test's servers share the CPUs during the window. Run beside the lifecycle tests (which
//! start and kill a dozen servers), the same idle server measured twice its quiet figure, which
//! is noise of the neighbours, not work of the server.

mod common;

use std::time::Duration;

use common::Server;
use loadtest::sim::{self, SimConfig};

/// Clock ticks the hypervisor stole from this machine's CPUs so far (`steal` in /proc/stat).
fn steal_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/stat").expect("/proc/stat");
    let cpu = stat.lines().next().expect("the cpu line");
    cpu.split_whitespace()
        .nth(8)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// CPU time `pid` has used, over all its threads, from the scheduler's own accounting
/// (`/proc/PID/task/TID/schedstat`, nanoseconds on the CPU). Exact, unlike utime + stime, which
/// the kernel may sample at clock ticks: a process that wakes ~60 times a second for a few
/// microseconds each is then charged whole 10 ms ticks at random (seen: 5 to 14 ticks over the
/// same idle 10 s).
fn cpu_ns(pid: u32) -> u64 {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("the server runs");
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

#[test]
fn an_idle_server_uses_under_one_percent_of_a_core() {
    let sim = sim::start(SimConfig {
        rfc6962_logs: 1,
        static_logs: 1,
        rate_per_sec: 20.0,
        initial_entries: 20,
        seed: 41,
        ..SimConfig::default()
    })
    .expect("simulator starts");
    let mut server = Server::start(&["--log-list", &sim.log_list_url]);
    // Nothing new from now on: the logs only answer tree-head polls. The window starts once the
    // server has streamed everything (on a slow machine the catch-up itself could otherwise
    // fall inside it) and the last pages' work has settled.
    std::thread::sleep(Duration::from_secs(2));
    sim.pause_growth();
    let total: u64 = sim.logs().iter().map(|l| sim.tree_size(l.idx)).sum();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while common::metric(&server.http_get("/metrics").1, "certstream_log_cursor{") < total {
        assert!(
            std::time::Instant::now() < deadline,
            "the server never caught up"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(2));
    let pid = server.child.id();
    let window = Duration::from_secs(10);
    let mut windows = Vec::new();
    // This runs on a VM: time the hypervisor steals while a thread of ours is on a CPU is
    // charged to that thread. A window during which the host stole time is measured again (at
    // most three windows); one without steal decides alone.
    for _ in 0..3 {
        let (before, steal_before) = (cpu_ns(pid), steal_ticks());
        std::thread::sleep(window);
        let used = Duration::from_nanos(cpu_ns(pid) - before);
        let stolen = steal_ticks() - steal_before;
        let share = used.as_secs_f64() / window.as_secs_f64();
        eprintln!(
            "idle: {used:?} of CPU in {window:?} = {:.2}% of one core (host steal: {stolen} ticks)",
            share * 100.0
        );
        windows.push((share, stolen));
        if share < 0.01 || stolen == 0 {
            break;
        }
    }
    let (share, _) = *windows.last().expect("one window at least");
    assert!(
        share < 0.01,
        "an idle server used {:.2}% of a core over {window:?} (windows: {windows:?})",
        share * 100.0
    );
    assert!(server.terminate().expect("exits").success());
}
