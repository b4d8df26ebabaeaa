//! End-to-end ingest: the `certstream` binary follows the simulator's RFC 6962 and Static CT
//! logs (over http and https, one log with 32-entry pages, plus the replay logs serving real CT
//! data byte for byte) and every index of every log reaches a WebSocket client exactly once, in
//! order, with the right certificate and fields.

mod common;

use std::time::{Duration, Instant};

use common::{colon_hex, Arrivals, Collector, Server};
use loadtest::sim::{self, SimConfig, SimHandle};

/// Lets the simulator grow for `grow`, freezes it, and waits until `collector` holds every
/// index of every log, or panics with what is missing.
fn collect_everything(
    sim: &SimHandle,
    server: &Server,
    collector: &Collector,
    grow: Duration,
    urls: &[String],
) -> Arrivals {
    let mut arrivals = Arrivals::default();
    let until = Instant::now() + grow;
    while Instant::now() < until {
        if let Ok(v) = collector.rx.recv_timeout(Duration::from_millis(50)) {
            arrivals.add(v);
        }
    }
    sim.pause_growth();
    // Published sizes catch up with the sequenced ones within one STH/checkpoint interval.
    std::thread::sleep(Duration::from_millis(2500));
    let sizes: Vec<u64> = (0..urls.len()).map(|i| sim.tree_size(i)).collect();
    let deadline = Instant::now() + Duration::from_secs(90);
    while !urls
        .iter()
        .zip(&sizes)
        .all(|(u, &s)| arrivals.complete(u, s))
    {
        if Instant::now() > deadline {
            let have: Vec<(String, usize, u64)> = urls
                .iter()
                .zip(&sizes)
                .map(|(u, &s)| (u.clone(), arrivals.by_log.get(u).map_or(0, |v| v.len()), s))
                .collect();
            panic!("not everything arrived (url, received, tree size): {have:?}\nserver log tail: {:#?}", tail(server));
        }
        if let Ok(v) = collector.rx.recv_timeout(Duration::from_millis(100)) {
            arrivals.add(v);
        }
    }
    for (url, &size) in urls.iter().zip(&sizes) {
        let got = &arrivals.by_log[url];
        let expected: Vec<u64> = (0..size).collect();
        assert_eq!(
            &got[..size as usize],
            &expected[..],
            "log {url}: every index once, in order"
        );
        assert!(size > 0, "log {url} produced entries");
    }
    arrivals
}

fn tail(server: &Server) -> Vec<String> {
    let lines = server.log_lines();
    lines[lines.len().saturating_sub(40)..].to_vec()
}

/// Every delivered message carries the certificate the simulator put at that index.
fn check_messages(sim: &SimHandle, arrivals: &Arrivals, log_urls: &[String]) {
    for (idx, url) in log_urls.iter().enumerate() {
        for ((u, index), msg) in arrivals
            .messages
            .range((url.clone(), 0)..(url.clone(), u64::MAX))
        {
            assert_eq!(u, url);
            let data = &msg["data"];
            let fp = sim.entry_fingerprint(idx, *index).expect("sequenced entry");
            let sha256 = colon_hex(data["leaf_cert"]["sha256"].as_str().expect("sha256"));
            assert_eq!(
                sha256, fp,
                "log {url} index {index}: the leaf is the certificate at that index"
            );
            let kind = sim.entry_kind(idx, *index).expect("sequenced entry");
            let generated = matches!(kind, sim::EntryKind::X509 | sim::EntryKind::Precert);
            let expect_type = match kind {
                sim::EntryKind::X509
                | sim::EntryKind::Real { .. }
                | sim::EntryKind::Replay { precert: false } => "X509LogEntry",
                sim::EntryKind::Precert | sim::EntryKind::Replay { precert: true } => {
                    "PrecertLogEntry"
                }
            };
            assert_eq!(data["update_type"], expect_type, "log {url} index {index}");
            if expect_type == "PrecertLogEntry" {
                assert_eq!(
                    data["leaf_cert"]["extensions"]["ctlPoisonByte"], true,
                    "log {url} index {index}"
                );
            }
            assert!(
                data["leaf_cert"]["as_der"].is_string(),
                "full stream carries as_der"
            );
            let chain = data["chain"].as_array().expect("chain");
            assert!(
                !generated || !chain.is_empty(),
                "log {url} index {index}: chain present"
            );
            assert_eq!(data["source"]["url"], url.as_str());
            let link = data["cert_link"].as_str().expect("cert_link");
            assert!(
                link.starts_with(url.as_str()),
                "cert_link {link} is under the log URL {url}"
            );
            assert!(data["seen"].as_f64().expect("seen") > 1.7e9);
        }
    }
}

#[test]
fn http_logs_of_both_kinds_deliver_every_index_once() {
    let sim = sim::start(SimConfig {
        rfc6962_logs: 2,
        static_logs: 2,
        rate_per_sec: 120.0,
        initial_entries: 300,
        page_caps: vec![32, 1000],
        align_pages: true,
        replay: true,
        seed: 7,
        ..SimConfig::default()
    })
    .expect("simulator starts");
    let logs = sim.logs();
    let urls: Vec<String> = logs.iter().map(|l| l.url.clone()).collect();
    let server = Server::following(&sim.log_list_url, &["--backfill", "all"]);
    let collector = Collector::connect(&server.ws_url("/full-stream"));
    let arrivals = collect_everything(&sim, &server, &collector, Duration::from_secs(4), &urls);
    check_messages(&sim, &arrivals, &urls);
    let (status, metrics) = server.http_get("/metrics");
    assert_eq!(status, 200);
    assert!(
        metrics.contains("certstream_log_cursor"),
        "metrics list the log cursors"
    );
}

#[test]
fn https_logs_deliver_every_index_once() {
    let sim = sim::start(SimConfig {
        rfc6962_logs: 1,
        static_logs: 1,
        rate_per_sec: 60.0,
        initial_entries: 100,
        page_caps: vec![256],
        https: true,
        seed: 11,
        ..SimConfig::default()
    })
    .expect("simulator starts");
    let logs = sim.logs();
    let urls: Vec<String> = logs
        .iter()
        .map(|l| l.https_url.clone().expect("https url"))
        .collect();
    let list = sim.https_log_list_url.clone().expect("https log list");
    let ca = sim.ca_file.clone().expect("CA file");
    let server = Server::following(
        &list,
        &["--ca-file", ca.to_str().unwrap(), "--backfill", "all"],
    );
    let collector = Collector::connect(&server.ws_url("/full-stream"));
    let arrivals = collect_everything(&sim, &server, &collector, Duration::from_secs(3), &urls);
    check_messages(&sim, &arrivals, &urls);
}

/// The simulator's log list reduced to the RFC 6962 logs whose URLs are in `keep`.
fn list_with(full: &serde_json::Value, keep: &[&str]) -> String {
    let mut list = full.clone();
    for op in list["operators"].as_array_mut().expect("operators") {
        op["tiled_logs"] = serde_json::json!([]);
        if let Some(logs) = op["logs"].as_array_mut() {
            logs.retain(|l| keep.contains(&l["url"].as_str().unwrap_or("")));
        }
    }
    list.to_string()
}

/// Replaces `path` atomically, so the server never reads half a list.
fn write_list(path: &std::path::Path, body: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, body).unwrap();
    std::fs::rename(&tmp, path).unwrap();
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

#[test]
fn sighup_reloads_the_log_list_adding_and_retiring_logs_without_a_restart() {
    let sim = sim::start(SimConfig {
        rfc6962_logs: 2,
        static_logs: 0,
        rate_per_sec: 40.0,
        initial_entries: 10,
        seed: 13,
        ..SimConfig::default()
    })
    .expect("simulator starts");
    let addr: std::net::SocketAddr = sim
        .http_base
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .expect("sim address");
    let (status, body) = common::http_get(addr, "/log_list.json");
    assert_eq!(status, 200);
    let full: serde_json::Value = serde_json::from_str(&body).expect("log list JSON");
    let logs = sim.logs();
    let (a, b) = (logs[0].url.as_str(), logs[1].url.as_str());
    let dir = std::env::temp_dir().join(format!("certstream-refresh-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("log_list.json");
    write_list(&path, &list_with(&full, &[a]));
    let server = Server::following(path.to_str().unwrap(), &["--log-list-refresh-secs", "3600"]);
    let collector = Collector::connect(&server.ws_url("/"));
    let mut arrivals = Arrivals::default();
    assert!(
        arrives(&collector, &mut arrivals, a, Duration::from_secs(15)),
        "the listed log streams"
    );
    assert!(
        !arrives(&collector, &mut arrivals, b, Duration::from_secs(2)),
        "an unlisted log does not"
    );
    write_list(&path, &list_with(&full, &[a, b]));
    assert!(
        !arrives(&collector, &mut arrivals, b, Duration::from_secs(2)),
        "no reload before SIGHUP (refresh is hourly)"
    );
    server.hup();
    assert!(
        arrives(&collector, &mut arrivals, b, Duration::from_secs(15)),
        "a log added to the list starts streaming without a restart"
    );
    write_list(&path, &list_with(&full, &[b]));
    server.hup();
    let deadline = Instant::now() + Duration::from_secs(15);
    while !server
        .log_lines()
        .iter()
        .any(|l| l.contains("log left the list"))
    {
        assert!(
            Instant::now() < deadline,
            "the retired log is stopped: {:#?}",
            server.log_lines()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    while collector.rx.try_recv().is_ok() {}
    assert!(
        !arrives(&collector, &mut arrivals, a, Duration::from_secs(2)),
        "a log that left the list stops streaming"
    );
    assert!(
        arrives(&collector, &mut arrivals, b, Duration::from_secs(5)),
        "the remaining log keeps streaming"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_unreadable_log_list_file_is_a_clear_boot_error() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_certstream-server"))
        .args([
            "--log-list",
            "/nonexistent/log_list.json",
            "--listen",
            "127.0.0.1:0",
        ])
        .output()
        .expect("runs");
    assert!(!out.status.success(), "refuses to start");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("/nonexistent/log_list.json"),
        "names the file: {stderr}"
    );
}
