//! `/metrics` is valid Prometheus text exposition (`promtool check metrics`, from Debian's
//! prometheus package, which .ci/run installs; skipped with a note where promtool is missing),
//! and it carries the per-log and per-core figures.

mod common;

use std::{
    io::Write,
    process::{Command, Stdio},
    time::Duration,
};

use common::{Collector, Server};
use loadtest::sim::{self, SimConfig};

#[test]
fn metrics_pass_promtool_and_cover_logs_and_clients() {
    let sim = sim::start(SimConfig {
        rfc6962_logs: 1,
        static_logs: 1,
        rate_per_sec: 50.0,
        seed: 41,
        ..SimConfig::default()
    })
    .expect("simulator starts");
    let server = Server::following(&sim.log_list_url, &[]);
    let collector = Collector::connect(&server.ws_url("/"));
    let _ = collector
        .rx
        .recv_timeout(Duration::from_secs(20))
        .expect("a message arrives");
    // Snapshots cross cores once a second.
    std::thread::sleep(Duration::from_millis(1500));
    let (status, text) = server.http_get("/metrics");
    assert_eq!(status, 200);
    for name in [
        "certstream_log_tree_size{",
        "certstream_log_cursor{",
        "certstream_log_lag_entries{",
        "certstream_log_lag_seconds{",
        "certstream_log_errors_total{",
        "certstream_log_list_info{",
        "certstream_ws_clients{stream=\"lite\"} 1",
        "certstream_ws_frames_sent_total",
        "certstream_ring_drops_total{core=\"1\"}",
        "certstream_resident_memory_bytes",
    ] {
        assert!(text.contains(name), "/metrics lacks {name}:\n{text}");
    }
    let (status, deep) = server.http_get("/health/deep");
    assert_eq!(status, 200);
    let deep: serde_json::Value = serde_json::from_str(&deep).expect("/health/deep is JSON");
    assert_eq!(deep["status"], "ok");
    assert!(deep["uptime_seconds"].as_f64().unwrap() > 0.0);
    assert_eq!(deep["clients"], 1);
    let logs = deep["logs"].as_array().expect("logs");
    assert_eq!(logs.len(), 2, "{deep}");
    for l in logs {
        assert!(l["tree_size"].as_u64().unwrap() > 0, "{l}");
        assert!(
            ["caught_up", "catching_up"].contains(&l["state"].as_str().unwrap()),
            "{l}"
        );
        assert!(l["head_age_seconds"].as_f64().is_some(), "{l}");
        let lag = l["lag_seconds"].as_f64().expect("lag_seconds");
        // Zero when caught up; otherwise counted from a head the simulator signed after it
        // started (just before the server), so it cannot exceed the uptime by much.
        assert!(
            lag >= 0.0 && lag < deep["uptime_seconds"].as_f64().unwrap() + 5.0,
            "{l}"
        );
    }
    let Ok(mut promtool) = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    else {
        eprintln!("promtool not installed (Debian package prometheus): exposition check skipped");
        return;
    };
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = promtool.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn json_logs_are_one_json_object_per_line() {
    let sim = sim::start(SimConfig {
        rfc6962_logs: 1,
        static_logs: 0,
        rate_per_sec: 10.0,
        seed: 43,
        ..SimConfig::default()
    })
    .expect("simulator starts");
    let mut server = Server::following(&sim.log_list_url, &["--log-format", "json"]);
    std::thread::sleep(Duration::from_millis(1500));
    assert!(server.terminate().expect("exits").success());
    let lines = server.log_lines();
    assert!(lines.len() >= 3, "{lines:?}");
    for line in &lines {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(v["level"].is_string() && v["fields"].is_object(), "{line}");
    }
    assert!(
        lines.iter().any(|l| l.contains("\"log list loaded\"")),
        "{lines:?}"
    );
}

#[test]
fn bearer_token_auth_guards_streams_and_endpoints_but_not_health() {
    let sim = sim::start(SimConfig {
        rfc6962_logs: 1,
        static_logs: 0,
        rate_per_sec: 20.0,
        seed: 47,
        ..SimConfig::default()
    })
    .expect("simulator starts");
    let token = "s3cret-token-0123456789";
    let server = Server::following(&sim.log_list_url, &["--auth-token", token]);
    assert_eq!(server.http_get("/health").0, 200, "/health stays open");
    assert_eq!(server.http_get("/metrics").0, 401);
    assert_eq!(server.http_get("/latest.json").0, 401);
    assert_eq!(
        server.http_get(&format!("/latest.json?token={token}")).0,
        200
    );
    match tungstenite::connect(server.ws_url("/")) {
        Err(tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 401),
        other => panic!(
            "an upgrade without a token must get 401, got {:?}",
            other.map(|(_, r)| r.status())
        ),
    }
    let (mut ws, _) = tungstenite::connect(server.ws_url(&format!("/?token={token}")))
        .expect("query token accepted");
    let mut request =
        tungstenite::client::IntoClientRequest::into_client_request(server.ws_url("/full-stream"))
            .unwrap();
    request
        .headers_mut()
        .insert("Authorization", format!("Bearer {token}").parse().unwrap());
    let (mut ws2, _) = tungstenite::connect(request).expect("bearer header accepted");
    for ws in [&mut ws, &mut ws2] {
        loop {
            if let tungstenite::Message::Text(t) = ws.read().expect("stream") {
                assert!(t.as_str().contains("certificate_update"));
                break;
            }
        }
    }
}

/// The status of a WebSocket upgrade to `url`: 101, or the refusal's status.
fn upgrade_status(
    url: &str,
) -> (
    u16,
    Option<tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>>>,
) {
    match tungstenite::connect(url) {
        Ok((ws, resp)) => (resp.status().as_u16(), Some(ws)),
        Err(tungstenite::Error::Http(resp)) => (resp.status().as_u16(), None),
        Err(e) => panic!("upgrade to {url} failed: {e}"),
    }
}

#[test]
fn connection_limits_answer_429_per_ip_and_503_in_total() {
    let sim = sim::start(SimConfig {
        rfc6962_logs: 1,
        static_logs: 0,
        rate_per_sec: 5.0,
        seed: 53,
        ..SimConfig::default()
    })
    .expect("simulator starts");
    let per_ip = Server::following(&sim.log_list_url, &["--max-connections-per-ip", "2"]);
    let url = per_ip.ws_url("/");
    let (a, keep_a) = upgrade_status(&url);
    let (b, keep_b) = upgrade_status(&url);
    assert_eq!((a, b), (101, 101));
    assert_eq!(
        upgrade_status(&url).0,
        429,
        "the third connection from one address is refused"
    );
    drop(keep_a);
    std::thread::sleep(Duration::from_millis(300));
    let (c, _keep_c) = upgrade_status(&url);
    assert_eq!(c, 101, "a closed connection frees its place");
    drop(keep_b);
    let total = Server::following(&sim.log_list_url, &["--max-connections", "1"]);
    let (first, _keep) = upgrade_status(&total.ws_url("/"));
    assert_eq!(first, 101);
    assert_eq!(
        total.http_get("/health").0,
        503,
        "past the total limit every connection gets 503"
    );
}
