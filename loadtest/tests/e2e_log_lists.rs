//! End-to-end: the `certstream` binary follows two log lists from the simulator, a
//! Google-shaped one and an Apple-shaped one (`--log-list` twice, or comma-separated in
//! `CERTSTREAM_LOG_LIST`), merged by log ID; a list that fails leaves the other working; a
//! refresh (SIGHUP) that adds a log to one list only starts it; `/health/deep` and `/metrics`
//! name the lists each log is followed for; `--check-config` reads every list file.

mod common;

use std::time::{Duration, Instant};

use common::{Arrivals, Collector, Server};
use loadtest::sim::{self, ListContent, ListKind, ListedState, SimConfig, SimHandle};
use serde_json::Value;

/// A simulator with three growing RFC 6962 logs.
fn three_logs(seed: u64) -> SimHandle {
    sim::start(SimConfig {
        rfc6962_logs: 3,
        static_logs: 0,
        rate_per_sec: 60.0,
        initial_entries: 10,
        seed,
        ..SimConfig::default()
    })
    .expect("simulator starts")
}

fn only(logs: &[(usize, ListedState)]) -> ListContent {
    ListContent::Only(logs.to_vec())
}

/// Waits until a message of log `url` arrives (true) or `wait` passes (false).
fn arrives(collector: &Collector, arrivals: &mut Arrivals, url: &str, wait: Duration) -> bool {
    let before = arrivals.by_log.get(url).map_or(0, |v| v.len());
    let until = Instant::now() + wait;
    while Instant::now() < until {
        if let Ok(v) = collector.rx.recv_timeout(Duration::from_millis(50)) {
            arrivals.add(v);
        }
        if arrivals.by_log.get(url).map_or(0, |v| v.len()) > before {
            return true;
        }
    }
    false
}

/// The `lists` of every log in `/health/deep`, by URL.
fn health_lists(server: &Server) -> Vec<(String, Vec<String>)> {
    let (status, body) = server.http_get("/health/deep");
    assert_eq!(status, 200);
    let health: Value = serde_json::from_str(&body).expect("health JSON");
    let mut logs: Vec<(String, Vec<String>)> = health["logs"]
        .as_array()
        .expect("logs")
        .iter()
        .map(|l| {
            let lists = l["lists"].as_array().expect("lists");
            let lists = lists.iter().map(|n| n.as_str().unwrap().to_owned());
            (l["url"].as_str().unwrap().to_owned(), lists.collect())
        })
        .collect();
    logs.sort();
    logs
}

/// Waits (snapshots cross cores once a second) until `/health/deep` shows `want`.
fn health_shows(server: &Server, want: &[(&str, &[&str])]) {
    let mut want: Vec<(String, Vec<String>)> = want
        .iter()
        .map(|(url, lists)| {
            (
                url.to_string(),
                lists.iter().map(|l| l.to_string()).collect(),
            )
        })
        .collect();
    want.sort();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let got = health_lists(server);
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "/health/deep lists: {got:?}, want {want:?}\nserver log: {:#?}",
            server.log_lines()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn logged(server: &Server, text: &str) -> bool {
    server.log_lines().iter().any(|l| l.contains(text))
}

/// Google's list has logs 0 and 1; Apple's has 0, 1 (rejected: a disagreement) and 2 (only
/// there). All three are followed, each once, log 1 for Google's list alone.
#[test]
fn google_and_apple_lists_are_merged_by_log_id() {
    let sim = three_logs(21);
    let logs = sim.logs();
    let (g, a) = (sim.log_list_url.as_str(), sim.apple_list_url.as_str());
    sim.set_list(
        ListKind::Google,
        only(&[(0, ListedState::Usable), (1, ListedState::Usable)]),
    );
    sim.set_list(
        ListKind::Apple,
        only(&[
            (0, ListedState::Usable),
            (1, ListedState::Rejected),
            (2, ListedState::Usable),
        ]),
    );
    let both = format!("{g},{a}");
    let server = Server::start_with_env(
        &["--workers", "2", "--poll-interval-ms", "200"],
        &[("CERTSTREAM_LOG_LIST", &both)],
    );
    let collector = Collector::connect(&server.ws_url("/"));
    let mut arrivals = Arrivals::default();
    for log in &logs {
        assert!(
            arrives(&collector, &mut arrivals, &log.url, Duration::from_secs(15)),
            "{} streams: {:#?}",
            log.url,
            server.log_lines()
        );
    }
    health_shows(
        &server,
        &[
            (&logs[0].url, &[g, a]),
            (&logs[1].url, &[g]),
            (&logs[2].url, &[a]),
        ],
    );
    let following = server
        .log_lines()
        .iter()
        .filter(|l| l.contains("following log"))
        .count();
    assert_eq!(following, 3, "each log once: {:#?}", server.log_lines());
    assert!(
        logged(&server, "log lists disagree on the state of")
            && logged(
                &server,
                &format!("usable in {g}, rejected in {a}, followed as usable")
            ),
        "the disagreement is logged: {:#?}",
        server.log_lines()
    );
    let (status, metrics) = server.http_get("/metrics");
    assert_eq!(status, 200);
    let info: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("certstream_log_list_info{"))
        .collect();
    assert_eq!(info.len(), 4, "log 0 twice, logs 1 and 2 once: {info:#?}");
    for (log, list) in [(0, g), (0, a), (1, g), (2, a)] {
        let url = format!("url=\"{}\"", logs[log].url);
        let list = format!("list=\"{list}\"");
        assert!(
            info.iter()
                .any(|l| l.contains(&url) && l.contains(&list) && l.ends_with("} 1")),
            "log {log} from {list}: {info:#?}"
        );
    }
}

/// Apple's list fails (503) at start: it has no copy in the binary, so it is skipped with a
/// warning while Google's list is followed; once it answers, its log is added.
#[test]
fn a_list_that_fails_leaves_the_other_working_until_it_answers() {
    let sim = three_logs(22);
    let logs = sim.logs();
    sim.set_list(ListKind::Google, only(&[(0, ListedState::Usable)]));
    sim.set_list(ListKind::Apple, ListContent::Unavailable);
    let server = Server::following(
        &sim.log_list_url,
        &[
            "--log-list",
            &sim.apple_list_url,
            "--log-list-refresh-secs",
            "2",
        ],
    );
    let collector = Collector::connect(&server.ws_url("/"));
    let mut arrivals = Arrivals::default();
    assert!(
        arrives(
            &collector,
            &mut arrivals,
            &logs[0].url,
            Duration::from_secs(15)
        ),
        "Google's list is followed: {:#?}",
        server.log_lines()
    );
    assert!(
        logged(&server, "log list not loaded (HTTP status 503); skipped"),
        "the failing list is named in a warning: {:#?}",
        server.log_lines()
    );
    assert!(!arrives(
        &collector,
        &mut arrivals,
        &logs[1].url,
        Duration::from_secs(1)
    ));
    sim.set_list(ListKind::Apple, only(&[(1, ListedState::Usable)]));
    assert!(
        arrives(
            &collector,
            &mut arrivals,
            &logs[1].url,
            Duration::from_secs(15)
        ),
        "the list's log starts once it answers: {:#?}",
        server.log_lines()
    );
    health_shows(
        &server,
        &[
            (&logs[0].url, &[&sim.log_list_url]),
            (&logs[1].url, &[&sim.apple_list_url]),
        ],
    );
    // A list that fails after it loaded keeps its logs.
    sim.set_list(ListKind::Apple, ListContent::Unavailable);
    let deadline = Instant::now() + Duration::from_secs(15);
    while !logged(&server, "keeping the current one") {
        assert!(Instant::now() < deadline, "{:#?}", server.log_lines());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        arrives(
            &collector,
            &mut arrivals,
            &logs[1].url,
            Duration::from_secs(5)
        ),
        "still followed"
    );
}

/// A SIGHUP refresh that adds a log to Apple's list only starts it (for Apple's list alone);
/// the next one that adds it to Google's list too names both lists for it.
#[test]
fn sighup_adds_a_log_that_one_list_gained() {
    let sim = three_logs(23);
    let logs = sim.logs();
    let (g, a) = (sim.log_list_url.as_str(), sim.apple_list_url.as_str());
    sim.set_list(ListKind::Google, only(&[(0, ListedState::Usable)]));
    sim.set_list(ListKind::Apple, only(&[(0, ListedState::Usable)]));
    let server = Server::following(g, &["--log-list", a, "--log-list-refresh-secs", "3600"]);
    let collector = Collector::connect(&server.ws_url("/"));
    let mut arrivals = Arrivals::default();
    assert!(arrives(
        &collector,
        &mut arrivals,
        &logs[0].url,
        Duration::from_secs(15)
    ));
    sim.set_list(
        ListKind::Apple,
        only(&[(0, ListedState::Usable), (2, ListedState::Qualified)]),
    );
    assert!(
        !arrives(
            &collector,
            &mut arrivals,
            &logs[2].url,
            Duration::from_secs(2)
        ),
        "no refresh before SIGHUP (refresh is hourly)"
    );
    server.hup();
    assert!(
        arrives(
            &collector,
            &mut arrivals,
            &logs[2].url,
            Duration::from_secs(15)
        ),
        "the log Apple's list gained streams: {:#?}",
        server.log_lines()
    );
    health_shows(&server, &[(&logs[0].url, &[g, a]), (&logs[2].url, &[a])]);
    sim.set_list(
        ListKind::Google,
        only(&[(0, ListedState::Usable), (2, ListedState::Usable)]),
    );
    server.hup();
    health_shows(&server, &[(&logs[0].url, &[g, a]), (&logs[2].url, &[g, a])]);
    let started = server
        .log_lines()
        .iter()
        .filter(|l| l.contains("following log") && l.contains(&logs[2].url))
        .count();
    assert_eq!(started, 1, "relisted, not started twice");
}

/// `--check-config` reads every list given as a file (URLs are not fetched): a bad second
/// file is refused with its path.
#[test]
fn check_config_reads_every_list_file() {
    let dir = std::env::temp_dir().join(format!("certstream-lists-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("google.json");
    let bad = dir.join("apple.json");
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/ctdata/loglists/apple_current_log_list_511_2026-04-01.json"
    );
    std::fs::copy(fixture, &good).unwrap();
    std::fs::write(&bad, "{\"operators\": 7}").unwrap();
    let check = |lists: &[&std::path::Path]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_certstream-server"));
        for list in lists {
            cmd.arg("--log-list").arg(list);
        }
        cmd.args([
            "--check-config",
            "--workers",
            "1",
            "--log-list",
            "https://x.invalid/l",
        ]);
        cmd.output().expect("runs")
    };
    let out = check(&[&good]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = check(&[&good, &bad]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(bad.to_str().unwrap()),
        "names the file: {stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
