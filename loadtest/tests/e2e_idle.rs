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

/// utime + stime of `pid` in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("the server runs");
    // Fields after the command name (which may hold spaces), from field 3 on.
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
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
    // Let it catch up, then nothing new: the logs only answer tree-head polls.
    std::thread::sleep(Duration::from_secs(2));
    sim.pause_growth();
    std::thread::sleep(Duration::from_secs(1));
    let pid = server.child.id();
    // SAFETY: sysconf is a plain query.
    let ticks_per_sec = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    let window = Duration::from_secs(10);
    let before = cpu_ticks(pid);
    std::thread::sleep(window);
    let used = cpu_ticks(pid) - before;
    let share = used as f64 / (ticks_per_sec as f64 * window.as_secs_f64());
    eprintln!(
        "idle: {used} ticks in {window:?} = {:.2}% of one core",
        share * 100.0
    );
    assert!(
        share < 0.01,
        "an idle server used {:.2}% of a core over {window:?}",
        share * 100.0
    );
    assert!(server.terminate().expect("exits").success());
}
