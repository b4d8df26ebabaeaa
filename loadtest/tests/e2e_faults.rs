//! End-to-end under faults: the `certstream` binary follows two RFC 6962 and two Static CT logs
//! (one of them over https) of a simulator running `loadtest/faults/e2e.toml`, which hits every fault kind in its first
//! minute (429 with and without Retry-After, 5xx bursts, hangs, resets and truncation
//! mid-body, trickled heads, bodies that do not parse, broken base64, short and empty pages,
//! heads going backwards, missing issuers, a failing log list, two logs leaving the list and
//! coming back) and corrupts some entries for good. Three wsbench clients read the lite stream
//! from the moment the logs start growing.
//!
//! Asserted: every index from each log's start to the simulator's final tree size reaches every
//! client exactly once and in order, except the corrupted ones, which never arrive and which
//! the server counts and lists with their index in `/health/deep`; every rule of the schedule
//! fired; the server is still up. Runs in about a minute in a debug build.

mod common;

use std::time::{Duration, Instant};

use common::Server;
use loadtest::{
    bench::wsbench::{self, GapCheckConfig, Phase, WsBenchConfig},
    sim::{self, FaultSchedule, SimConfig, SimHandle},
};
use serde_json::Value;

/// The schedule's last transient fault ends here (seconds of simulator time); the clients'
/// window runs a little past it so that the logs that left the list are back and streaming.
const FAULTS_END_SECS: f64 = 50.0;

fn schedule() -> FaultSchedule {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/faults/e2e.toml");
    FaultSchedule::load(std::path::Path::new(path)).expect("e2e.toml is valid")
}

fn sim_state(sim: &SimHandle) -> Value {
    let (code, body) = http_get_url(&format!("{}/sim/state", sim.http_base));
    assert_eq!(code, 200);
    serde_json::from_str(&body).expect("sim state is JSON")
}

fn http_get_url(url: &str) -> (u16, String) {
    let rest = url.strip_prefix("http://").expect("http URL");
    let slash = rest.find('/').unwrap_or(rest.len());
    let addr = rest[..slash].parse().expect("host:port");
    common::http_get(addr, &rest[slash..])
}

/// Waits until every log's published tree covers everything sequenced (growth is paused).
fn wait_published(sim: &SimHandle) -> Vec<u64> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let state = sim_state(sim);
        let logs = state["logs"].as_array().expect("logs").clone();
        if logs.iter().all(|l| l["tree_size"] == l["sequenced"]) {
            return logs
                .iter()
                .map(|l| l["tree_size"].as_u64().unwrap())
                .collect();
        }
        assert!(Instant::now() < deadline, "heads never caught up: {state}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn health(server: &Server) -> Value {
    let (code, body) = server.http_get("/health/deep");
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).expect("/health/deep is JSON")
}

/// The server's view of the log at `url` in `/health/deep`.
fn server_log(health: &Value, url: &str) -> Value {
    health["logs"]
        .as_array()
        .expect("logs")
        .iter()
        .find(|l| l["url"] == url)
        .cloned()
        .unwrap_or(Value::Null)
}

/// Waits until the server's cursor of every log is at `sizes`.
fn wait_cursors(server: &Server, urls: &[String], sizes: &[u64], within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let h = health(server);
        let cursors: Vec<u64> = urls
            .iter()
            .map(|u| server_log(&h, u)["cursor"].as_u64().unwrap_or(0))
            .collect();
        let heads: Vec<bool> = urls
            .iter()
            .map(|u| server_log(&h, u)["state"] != "waiting_for_head")
            .collect();
        if cursors == sizes && heads.iter().all(|&b| b) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "server cursors {cursors:?} never reached {sizes:?}\n{h}\nlog tail: {:#?}",
            tail(server)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn tail(server: &Server) -> Vec<String> {
    let lines = server.log_lines();
    lines[lines.len().saturating_sub(60)..].to_vec()
}

#[test]
fn every_entry_arrives_exactly_once_through_every_fault() {
    let t0 = Instant::now();
    let (sim, starts, urls, server) = start_sim_and_server();
    let report = run_gap_checked_clients(&sim, &server, &urls, &starts);
    let context = || {
        format!(
            "report: {}\nfaults: {:?}\nserver log tail: {:#?}",
            serde_json::to_string_pretty(&report).unwrap_or_default(),
            sim.fault_counts(),
            tail(&server)
        )
    };
    assert_every_client_got_every_entry_once(&report, &urls, &starts, &context);
    assert_every_fault_fired(&sim);
    assert_server_reported_exactly_the_corrupted(&sim, &server, &urls, &starts);
    assert_retirement_logged(&server);

    // Still up and healthy.
    let (code, body) = server.http_get("/health");
    assert_eq!((code, body.trim()), (200, "OK"));
    let mut server = server;
    assert!(
        server.child.try_wait().expect("wait").is_none(),
        "server still running"
    );
    eprintln!("e2e_faults: {:.1} s", t0.elapsed().as_secs_f64());
}

/// The faulty simulator (paused at a known head) and the server following it, once the server
/// is positioned at those heads.
fn start_sim_and_server() -> (SimHandle, Vec<u64>, Vec<String>, Server) {
    let sim = sim::start(SimConfig {
        rfc6962_logs: 2,
        static_logs: 2,
        rate_per_sec: 60.0,
        initial_entries: 200,
        page_caps: vec![32, 256],
        https: true,
        https_listed: vec![0],
        faults: schedule(),
        ..SimConfig::default()
    })
    .expect("simulator starts");
    // The logs stay still until the clients are connected, so the server starts each log at
    // a known index: the head it first sees.
    sim.pause_growth();
    let starts = wait_published(&sim);
    let urls: Vec<String> = sim.logs().iter().map(|l| l.listed_url.clone()).collect();
    assert!(urls[0].starts_with("https://") && urls[1].starts_with("http://"));
    let ca_file = sim.ca_file.clone().expect("https CA");
    let server = Server::following(
        &sim.log_list_url,
        &[
            "--ca-file",
            ca_file.to_str().expect("UTF-8 path"),
            "--log-list-refresh-secs",
            "1",
            "--http-read-timeout-ms",
            "1500",
            "--http-request-timeout-ms",
            "10000",
            "--fetch-backoff-max-ms",
            "1000",
        ],
    );
    wait_cursors(&server, &urls, &starts, Duration::from_secs(20));

    (sim, starts, urls, server)
}

/// Three gap-checked clients for the whole fault schedule; the logs grow only while they read.
fn run_gap_checked_clients(
    sim: &SimHandle,
    server: &Server,
    urls: &[String],
    starts: &[u64],
) -> wsbench::WsBenchReport {
    let mut cfg = WsBenchConfig::new(&server.ws_url("/"), 3);
    cfg.threads = 1;
    cfg.warmup = Duration::from_millis(200);
    let sim_clock = sim_state(sim)["uptime_secs"].as_f64().unwrap();
    cfg.duration = Duration::from_secs_f64((FAULTS_END_SECS - sim_clock).max(5.0));
    let mut gap = GapCheckConfig::new(&format!("{}/sim/state", sim.http_base));
    gap.starts = urls.iter().cloned().zip(starts.iter().copied()).collect();
    gap.drain_timeout = Duration::from_secs(40);
    gap.server_report_url = Some(format!("http://{}/health/deep", server.addr));
    cfg.gap = Some(gap);
    wsbench::run(&cfg, &mut |phase| match phase {
        Phase::Warmup => sim.resume_growth(),
        Phase::Draining => sim.pause_growth(),
        _ => {}
    })
    .expect("wsbench runs")
}

/// Every client, every log: all of [start, final size) exactly once, in order, skips excepted.
fn assert_every_client_got_every_entry_once(
    report: &wsbench::WsBenchReport,
    urls: &[String],
    starts: &[u64],
    context: &dyn Fn() -> String,
) {
    assert_eq!(report.connected, 3, "{}", context());
    assert_eq!(report.loss.clients_disconnected, 0, "{}", context());
    let gap = report.gap_check.as_ref().expect("gap check ran");
    assert_eq!(gap.logs.len(), 4);
    for (log, (url, start)) in gap.logs.iter().zip(urls.iter().zip(starts)) {
        assert_eq!(log.url, url.trim_end_matches('/'));
        assert_eq!(log.start_min, Some(*start), "{url}");
        assert!(
            log.target > start + 300,
            "{url} grew from {start} to {}: too little to test",
            log.target
        );
        assert_eq!(
            (log.missing, log.repeated, log.out_of_order),
            (0, 0, 0),
            "{url}: missing, repeated, out of order\n{}",
            context()
        );
        assert_eq!(log.delivered_but_skip_expected, 0, "{url}\n{}", context());
        assert_eq!(log.clients_complete, 3, "{url}\n{}", context());
        assert!(log.skips_expected > 0, "{url}: corrupted entries in range");
        let server_check = log.server.as_ref().expect("server report read");
        assert!(
            server_check.unreported.is_empty() && server_check.unexpected.is_empty(),
            "{url}: server skip report {server_check:?}"
        );
    }
    assert!(gap.complete, "{}", context());
    assert_eq!(
        (report.loss.missing_total, report.loss.repeated_total),
        (0, 0),
        "{}",
        context()
    );
    assert_eq!(report.loss.out_of_order_total, 0, "{}", context());
}

/// Every fault rule fired and every corruption rule broke entries.
fn assert_every_fault_fired(sim: &SimHandle) {
    for rule in sim.fault_counts() {
        assert!(
            rule.fired > 0,
            "rule {} ({} on {}) never fired",
            rule.rule + 1,
            rule.fault,
            rule.endpoint
        );
    }
    for c in sim.corrupt_counts() {
        assert!(c.entries > 0, "corruption {c:?} broke nothing");
    }
}

/// The server skipped exactly the corrupted entries it fetched, and lists the most recent
/// with their index.
fn assert_server_reported_exactly_the_corrupted(
    sim: &SimHandle,
    server: &Server,
    urls: &[String],
    starts: &[u64],
) {
    let finals: Vec<u64> = (0..urls.len()).map(|i| sim.tree_size(i)).collect();
    wait_cursors(server, urls, &finals, Duration::from_secs(30));
    let h = health(server);
    for (i, url) in urls.iter().enumerate() {
        let expected: Vec<u64> = sim
            .corrupted(i)
            .iter()
            .map(|(index, _)| *index)
            .filter(|index| (starts[i]..finals[i]).contains(index))
            .collect();
        let log = server_log(&h, url);
        assert_eq!(
            log["entries_skipped"].as_u64(),
            Some(expected.len() as u64),
            "{url}: {log}"
        );
        let listed: Vec<u64> = log["skipped_recent"]
            .as_array()
            .expect("skipped_recent")
            .iter()
            .map(|e| e["index"].as_u64().expect("index"))
            .collect();
        let recent = &expected[expected.len().saturating_sub(listed.len())..];
        assert_eq!(listed, recent, "{url}: the most recent skips, in order");
        assert!(!listed.is_empty());
    }
}

fn assert_retirement_logged(server: &Server) {
    let lines = server.log_lines();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("entry skipped") && l.contains("index=")),
        "each skip is logged with its index"
    );
    assert!(
        lines.iter().any(|l| l.contains("log left the list")),
        "logs 1 and 3 were retired"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("following log") && l.contains("resumed=true")),
        "and resumed when they came back"
    );
}
