//! The HTTP API against the simulator, on two executors with a replay store and a token:
//! `/api/cert/{hash}` finds a certificate seen on the stream by its SHA-256 and by its SHA-1
//! and returns the very message the stream carried; `/api/stats` and `/api/logs` describe the
//! server in their documented shapes; every endpoint asks for the token like the streams.

mod common;

use std::{
    net::TcpStream,
    path::PathBuf,
    time::{Duration, Instant},
};

use common::Server;
use loadtest::sim::{self, SimConfig};
use serde_json::Value;
use tungstenite::{stream::MaybeTlsStream, Message, WebSocket};

const TOKEN: &str = "api-test-token-0123456789";

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("certstream-api-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `path` with the token in its query.
fn with_token(path: &str) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}token={TOKEN}")
}

/// GETs `path` (with the token) until `accept` takes the answer or `limit` passes; the last
/// answer.
fn get_until(
    server: &Server,
    path: &str,
    limit: Duration,
    accept: impl Fn(u16, &Value) -> bool,
) -> (u16, Value) {
    let until = Instant::now() + limit;
    loop {
        let (code, body) = server.http_get(&with_token(path));
        let v: Value =
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"));
        if accept(code, &v) || Instant::now() > until {
            return (code, v);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The first `n` certificate messages of the full stream.
fn full_stream_messages(server: &Server, n: usize) -> Vec<Value> {
    let url = server.ws_url(&with_token("/full-stream"));
    let (mut ws, _): (WebSocket<MaybeTlsStream<TcpStream>>, _) =
        tungstenite::connect(&url).unwrap_or_else(|e| panic!("{url}: {e}"));
    let mut out = Vec::new();
    let until = Instant::now() + Duration::from_secs(30);
    while out.len() < n && Instant::now() < until {
        if let Ok(Message::Text(text)) = ws.read() {
            let v: Value = serde_json::from_str(text.as_str()).unwrap();
            if v["message_type"] == "certificate_update" {
                out.push(v);
            }
        }
    }
    let _ = ws.close(None);
    assert_eq!(out.len(), n, "certificates on the full stream");
    out
}

/// Looks `message`'s certificate up by `hash` and checks the answer against it.
fn check_lookup(server: &Server, message: &Value, hash: &str) {
    let url = message["data"]["source"]["url"].as_str().unwrap();
    let index = message["data"]["cert_index"].as_u64().unwrap();
    let path = format!("/api/cert/{hash}");
    // Found once its page is written to the store (milliseconds after it was streamed).
    let (code, found) = get_until(server, &path, Duration::from_secs(10), |c, _| c == 200);
    assert_eq!(code, 200, "{path}: {found}");
    let seen_in = found["seen_in"].as_array().expect("seen_in");
    let here = seen_in
        .iter()
        .find(|p| p["url"] == url && p["index"] == index)
        .unwrap_or_else(|| panic!("{path}: ({url}, {index}) missing from {seen_in:?}"));
    let seen = message["data"]["seen"].as_f64().unwrap();
    assert!(
        (here["seen"].as_f64().unwrap() - seen).abs() < 1e-5,
        "{here} vs seen {seen}"
    );
    let returned = &found["message"];
    assert_eq!(
        returned["data"]["leaf_cert"], message["data"]["leaf_cert"],
        "{path}"
    );
    assert_eq!(
        returned["data"]["chain"], message["data"]["chain"],
        "{path}"
    );
    if seen_in[0] == *here {
        assert_eq!(returned, message, "{path}: the message as streamed");
    }
}

#[test]
fn the_api_finds_streamed_certificates_and_describes_the_server() {
    let sim = sim::start(SimConfig {
        rfc6962_logs: 2,
        static_logs: 1,
        rate_per_sec: 40.0,
        initial_entries: 0,
        seed: 1414,
        ..SimConfig::default()
    })
    .expect("simulator starts");
    let dir = temp_dir("lookup");
    let replay = dir.join("replay");
    let server = Server::following(
        &sim.log_list_url,
        &[
            "--replay-dir",
            replay.to_str().unwrap(),
            "--auth-token",
            TOKEN,
        ],
    );
    for path in ["/api/stats", "/api/logs", "/api/cert/00"] {
        assert_eq!(server.http_get(path).0, 401, "{path} without the token");
    }

    for message in full_stream_messages(&server, 3) {
        let leaf = &message["data"]["leaf_cert"];
        let sha256 = leaf["sha256"]
            .as_str()
            .unwrap()
            .replace(':', "")
            .to_lowercase();
        check_lookup(&server, &message, &sha256);
        check_lookup(&server, &message, leaf["sha1"].as_str().unwrap());
    }
    let (code, v) = get_until(&server, "/api/cert/12:34", Duration::ZERO, |_, _| true);
    assert_eq!(code, 400, "a malformed hash: {v}");
    let unknown = "ab".repeat(32);
    let (code, v) = get_until(
        &server,
        &format!("/api/cert/{unknown}"),
        Duration::ZERO,
        |_, _| true,
    );
    assert_eq!(code, 404, "a hash never seen: {v}");

    check_stats(&server);
    check_logs(&server, sim.logs().len());
    let _ = std::fs::remove_dir_all(&dir);
}

/// With a client connected and certificates flowing: clients, rates, store and index.
fn check_stats(server: &Server) {
    let url = server.ws_url(&with_token("/domains-only"));
    let (mut ws, _) = tungstenite::connect(&url).unwrap();
    let (code, stats) = get_until(server, "/api/stats", Duration::from_secs(15), |_, v| {
        v["clients"]["by_stream"]["domains"].as_u64() >= Some(1)
            && v["rates"]["messages_per_second"].as_f64() > Some(0.0)
            && v["rates"]["certificates_per_second"].as_f64() > Some(0.0)
            && v["store"]["bytes"].as_u64() > Some(0)
    });
    assert_eq!(code, 200);
    assert!(
        stats["rates"]["bytes_per_second"].as_f64() > Some(0.0),
        "rates: {stats}"
    );
    let websocket = &stats["clients"]["by_protocol"]["websocket"];
    assert_eq!(websocket, &stats["clients"]["by_stream"], "{stats}");
    assert!(stats["uptime_seconds"].as_f64() > Some(0.0));
    assert_eq!(stats["cores"], 2);
    let per_log = stats["store"]["per_log"].as_array().unwrap();
    assert!(
        !per_log.is_empty()
            && per_log
                .iter()
                .all(|l| l["next_index"].as_u64() > l["first_index"].as_u64()),
        "{stats}"
    );
    let entries = stats["cert_index"]["entries_per_core"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert!(
        entries.iter().all(|e| e.as_u64() > Some(0)),
        "every executor indexes: {stats}"
    );
    for key in ["drops", "resume", "totals"] {
        assert!(stats[key].is_object(), "{key}: {stats}");
    }
    let _ = ws.close(None);
    let _ = ws.read();
}

/// Every log healthy, with its store range.
fn check_logs(server: &Server, n_logs: usize) {
    let (code, logs) = get_until(server, "/api/logs", Duration::from_secs(15), |_, v| {
        v["counts"]["healthy"].as_u64() == Some(n_logs as u64)
            && v["logs"]
                .as_array()
                .is_some_and(|l| l.iter().all(|l| l["store"]["next_index"].is_u64()))
    });
    assert_eq!(code, 200);
    assert_eq!(logs["counts"]["healthy"], n_logs, "{logs}");
    assert_eq!(logs["counts"]["degraded"], 0, "{logs}");
    assert_eq!(logs["counts"]["unhealthy"], 0, "{logs}");
    for log in logs["logs"].as_array().unwrap() {
        assert_eq!(log["health"], "healthy", "{log}");
        assert!(log["reason"].is_null(), "{log}");
        assert!(
            log["store"]["corrupt"]
                .as_array()
                .is_some_and(Vec::is_empty),
            "{log}"
        );
        assert!(log["store"]["first_index"].is_u64(), "{log}");
        for key in [
            "state",
            "tree_size",
            "cursor",
            "lag_seconds",
            "errors",
            "skipped_recent",
        ] {
            assert!(!log[key].is_null(), "{key}: {log}");
        }
    }
}

/// Without `--replay-dir` (and without a token): stats and logs still answer, with no store
/// sections; a lookup says why it cannot answer.
#[test]
fn without_a_store_the_api_says_so() {
    let sim = sim::start(SimConfig {
        rfc6962_logs: 1,
        static_logs: 0,
        rate_per_sec: 10.0,
        initial_entries: 0,
        seed: 1415,
        ..SimConfig::default()
    })
    .expect("simulator starts");
    let server = Server::following(&sim.log_list_url, &[]);
    let (code, body) = server.http_get(&format!("/api/cert/{}", "AB".repeat(20)));
    assert_eq!(code, 404, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert!(
        v["error"]
            .as_str()
            .is_some_and(|e| e.contains("--replay-dir")),
        "{v}"
    );
    let (code, stats) = get_until(&server, "/api/stats", Duration::from_secs(10), |_, v| {
        v["totals"]["certificates"].as_u64() > Some(0)
    });
    assert_eq!(code, 200);
    assert!(
        stats["store"].is_null() && stats["cert_index"].is_null(),
        "{stats}"
    );
    let (code, logs) = get_until(&server, "/api/logs", Duration::ZERO, |_, _| true);
    assert_eq!(code, 200);
    assert_eq!(logs["logs"].as_array().map(Vec::len), Some(1), "{logs}");
    assert!(logs["logs"][0]["store"].is_null(), "{logs}");
}
