//! Resume after restart: with `--state-file`, a clean stop loses and repeats nothing, and a
//! kill -9 loses nothing (it repeats at most what was published since the last save). A log
//! that never answered is not saved at all (a cursor 0 would replay it from its first entry).

mod common;

use std::{
    collections::BTreeMap,
    path::Path,
    time::{Duration, Instant},
};

use common::{Arrivals, Collector, Server};
use loadtest::sim::{self, SimConfig, SimHandle};

/// Indices delivered per log URL, in arrival order.
type ByLog = BTreeMap<String, Vec<u64>>;

/// Reads `collector` until `until` passes.
fn collect_for(collector: &Collector, arrivals: &mut Arrivals, wait: Duration) {
    let until = Instant::now() + wait;
    while Instant::now() < until {
        if let Ok(v) = collector.rx.recv_timeout(Duration::from_millis(50)) {
            if v["message_type"] != "collector_error" {
                arrivals.add(v);
            }
        }
    }
}

fn start(sim: &SimHandle, state: &Path) -> Server {
    Server::following(
        &sim.log_list_url,
        &["--state-file", state.to_str().unwrap()],
    )
}

/// Runs a server, stops it with `signal`, restarts it on the same state file, and returns the
/// indices each log delivered over both runs, in order, plus the final tree sizes.
fn run_twice(signal: i32, first_run: Duration) -> (ByLog, Vec<(String, u64)>) {
    let sim = sim::start(SimConfig {
        rfc6962_logs: 2,
        static_logs: 1,
        rate_per_sec: 90.0,
        initial_entries: 0,
        seed: 31 + signal as u64,
        ..SimConfig::default()
    })
    .expect("simulator starts");
    let dir = std::env::temp_dir().join(format!(
        "certstream-restart-{}-{signal}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("state.json");
    let mut first = start(&sim, &state);
    let c1 = Collector::connect(&first.ws_url("/"));
    let mut a1 = Arrivals::default();
    collect_for(&c1, &mut a1, first_run);
    first.signal(signal);
    collect_for(&c1, &mut a1, Duration::from_millis(1500));
    assert!(state.exists(), "the state file was written");
    let second = start(&sim, &state);
    let c2 = Collector::connect(&second.ws_url("/"));
    let mut a2 = Arrivals::default();
    collect_for(&c2, &mut a2, Duration::from_secs(3));
    sim.pause_growth();
    std::thread::sleep(Duration::from_millis(2500));
    let sizes: Vec<(String, u64)> = sim
        .logs()
        .iter()
        .map(|l| (l.url.clone(), sim.tree_size(l.idx)))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !sizes.iter().all(|(u, s)| a2.complete(u, *s)) && Instant::now() < deadline {
        collect_for(&c2, &mut a2, Duration::from_millis(200));
    }
    let mut joined: ByLog = a1.by_log.clone();
    for (url, v) in a2.by_log {
        joined.entry(url).or_default().extend(v);
    }
    let _ = std::fs::remove_dir_all(&dir);
    (joined, sizes)
}

#[test]
fn a_clean_stop_resumes_without_loss_or_repeats() {
    let (joined, sizes) = run_twice(15, Duration::from_secs(4));
    for (url, size) in sizes {
        let got = joined.get(&url).cloned().unwrap_or_default();
        let first = *got.first().expect("entries before the stop");
        let expected: Vec<u64> = (first..size).collect();
        assert_eq!(
            got, expected,
            "{url}: every index exactly once across the restart"
        );
    }
}

#[test]
fn a_kill_dash_9_resumes_without_loss() {
    // Past one periodic save (every 5 s), so the state file exists when the process dies.
    let (joined, sizes) = run_twice(9, Duration::from_secs(7));
    for (url, size) in sizes {
        let got = joined.get(&url).cloned().unwrap_or_default();
        let first = *got.first().expect("entries before the kill");
        let mut distinct = got.clone();
        distinct.sort_unstable();
        distinct.dedup();
        let expected: Vec<u64> = (first..size).collect();
        assert_eq!(distinct, expected, "{url}: no index lost across the kill");
        let repeats = got.len() - distinct.len();
        // At most the last save interval (5 s) plus a snapshot interval at ~30 entries/s/log.
        assert!(repeats <= 300, "{url}: {repeats} repeats");
    }
}

#[test]
fn a_log_that_never_answered_is_not_saved_at_cursor_zero() {
    // Log 1's tree head always fails: its poller never gets a position.
    let faults = sim::FaultSchedule::from_toml(
        "[[rule]]\nlogs = [1]\nendpoint = \"head\"\nfault = \"status\"\nstatus = 503\n",
    )
    .expect("fault schedule");
    let sim = sim::start(SimConfig {
        rfc6962_logs: 2,
        static_logs: 0,
        rate_per_sec: 20.0,
        initial_entries: 50,
        seed: 77,
        faults,
        ..SimConfig::default()
    })
    .expect("simulator starts");
    let dir = std::env::temp_dir().join(format!("certstream-unpositioned-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("state.json");
    let mut server = start(&sim, &state);
    std::thread::sleep(Duration::from_secs(3));
    assert!(server.signal(15).is_some(), "the server stops");
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&state).expect("state file")).expect("JSON");
    let _ = std::fs::remove_dir_all(&dir);
    let cursors: BTreeMap<String, u64> = saved["logs"]
        .as_array()
        .expect("logs")
        .iter()
        .map(|l| {
            let url = l["url"].as_str().unwrap().trim_end_matches('/').to_string();
            (url, l["cursor"].as_u64().unwrap())
        })
        .collect();
    let url = |idx: usize| {
        let log = sim.logs().into_iter().find(|l| l.idx == idx).unwrap();
        log.url.trim_end_matches('/').to_string()
    };
    assert!(
        cursors.get(&url(0)).is_some_and(|c| *c >= 50),
        "the healthy log is saved at its position: {cursors:?}"
    );
    assert!(
        !cursors.contains_key(&url(1)),
        "the log that never answered is not saved: {cursors:?}"
    );
}
