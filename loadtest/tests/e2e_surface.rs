//! The serving surface beside the streams: connection-rate limiting per address
//! (`--connection-rate-per-ip`, `--connection-burst-per-ip`) and hot reload of the `--config`
//! file without a signal.

mod common;

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use common::Server;
use loadtest::sim::{self, SimConfig, SimHandle};

fn simulator(seed: u64) -> SimHandle {
    sim::start(SimConfig {
        rfc6962_logs: 1,
        static_logs: 0,
        rate_per_sec: 10.0,
        seed,
        ..SimConfig::default()
    })
    .expect("simulator starts")
}

/// Waits for a log line containing `text` that was not there before (`seen` lines).
fn wait_for_log(server: &Server, seen: usize, text: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let lines = server.log_lines();
        if let Some(line) = lines.iter().skip(seen).find(|l| l.contains(text)) {
            return line.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no log line with {text:?}: {lines:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn connections_past_the_burst_get_429_until_the_rate_gives_another() {
    let sim = simulator(71);
    // One executor: the buckets are per executor, so this is the whole limit.
    let server = Server::start(&[
        "--log-list",
        &sim.log_list_url,
        "--workers",
        "1",
        "--connection-rate-per-ip",
        "0.5",
        "--connection-burst-per-ip",
        "3",
    ]);
    let started = Instant::now();
    let answers: Vec<(u16, String)> = (0..8).map(|_| server.http_get("/health")).collect();
    let elapsed = started.elapsed();
    for (code, body) in &answers[..3] {
        assert_eq!(
            (*code, body.as_str()),
            (200, "OK"),
            "the burst: {answers:?}"
        );
    }
    // After the burst, one connection per 2 s of elapsed time at most.
    let refill = (elapsed.as_secs_f64() / 2.0).floor() as usize;
    let admitted_after = answers[3..].iter().filter(|(c, _)| *c == 200).count();
    assert!(admitted_after <= refill, "{answers:?} in {elapsed:?}");
    let refused = answers[3..].iter().find(|(c, _)| *c == 429);
    let (_, body) = refused.unwrap_or_else(|| panic!("no 429: {answers:?} in {elapsed:?}"));
    assert!(body.contains("too many new connections"), "{body}");
    // One interval after the last attempt a connection is admitted again.
    std::thread::sleep(Duration::from_millis(2100));
    assert_eq!(server.http_get("/metrics").0, 200);
    assert_eq!(server.http_get("/metrics").0, 429);
    // The refusals are counted apart from the other 429s (one executor: its own counters).
    std::thread::sleep(Duration::from_millis(2100));
    let (_, metrics_now) = server.http_get("/metrics");
    let refused = answers.iter().filter(|(c, _)| *c == 429).count() as u64 + 1;
    assert_eq!(
        common::metric(&metrics_now, "certstream_connections_rate_limited_total"),
        refused,
        "{metrics_now}"
    );
}

const TOKEN_A: &str = "watch-token-aaaaaaaaaaaa";
const TOKEN_B: &str = "watch-token-bbbbbbbbbbbb";

/// Replaces `path` the way editors save: a new file renamed over the old one.
fn save_like_an_editor(path: &Path, text: &str) {
    let tmp = path.with_extension("toml.tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn config_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("certstream-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_changed_config_file_is_reloaded_without_a_signal_and_a_bad_edit_keeps_the_settings() {
    let sim = simulator(73);
    let dir = config_dir("watch");
    let config = dir.join("certstream.toml");
    std::fs::write(&config, format!("auth_tokens = [{TOKEN_A:?}]\n")).unwrap();
    let server = Server::start(&[
        "--log-list",
        &sim.log_list_url,
        "--workers",
        "1",
        "--config",
        config.to_str().unwrap(),
    ]);
    let with = |token: &str| server.http_get(&format!("/metrics?token={token}")).0;
    wait_for_log(&server, 0, "a change reloads it");
    assert_eq!((with(TOKEN_A), with(TOKEN_B)), (200, 401));

    // An editor's save: the new token applies, the old one is refused.
    let seen = server.log_lines().len();
    save_like_an_editor(&config, &format!("auth_tokens = [{TOKEN_B:?}]\n"));
    wait_for_log(&server, seen, "configuration reloaded");
    assert_eq!((with(TOKEN_A), with(TOKEN_B)), (401, 200));

    // A broken file written in place: logged, and the settings in force stay.
    let seen = server.log_lines().len();
    std::fs::write(&config, "auth_tokens = [\"unterminated\n").unwrap();
    let line = wait_for_log(&server, seen, "configuration reload failed");
    assert!(line.contains("certstream.toml"), "{line}");
    assert_eq!((with(TOKEN_A), with(TOKEN_B)), (401, 200));
    assert_eq!(server.http_get("/metrics").0, 401, "never opened");

    // Fixed again, with a connection rate: the rate applies from the next connection.
    let seen = server.log_lines().len();
    save_like_an_editor(
        &config,
        &format!(
            "auth_tokens = [{TOKEN_B:?}]\nconnection_rate_per_ip = 0.001\n\
             connection_burst_per_ip = 1\n"
        ),
    );
    let line = wait_for_log(&server, seen, "configuration reloaded");
    assert!(
        line.contains("connection-rate-per-ip 0.001 (burst 1)"),
        "{line}"
    );
    assert_eq!(with(TOKEN_B), 200);
    assert_eq!(with(TOKEN_B), 429, "one connection per ~17 minutes");
    std::fs::remove_dir_all(&dir).unwrap();
}
