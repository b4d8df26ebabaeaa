//! SSE and NDJSON with real clients: `curl -N` (alone and piped into `jq`) against the server
//! fed by the simulator, each message compared with what a WebSocket client of the same
//! stream received. (Python `httpx` readers: loadtest/python/test_http_streams.py.)

mod common;

use std::{
    collections::BTreeMap,
    process::Command,
    thread,
    time::{Duration, Instant},
};

use common::{Collector, Server};
use loadtest::sim::{self, SimConfig};
use serde_json::Value;

/// Runs `curl -sN` with `args` for `secs` seconds and returns what it printed.
fn curl(args: &[&str], secs: u32) -> String {
    let out = Command::new("curl")
        .args(["-sN", "--max-time", &secs.to_string()])
        .args(args)
        .output()
        .expect("curl is required for the SSE/NDJSON tests");
    String::from_utf8(out.stdout).expect("the stream is UTF-8")
}

/// Every message a collector has received so far.
fn drain(collector: &Collector) -> Vec<Value> {
    collector.rx.try_iter().collect()
}

/// Waits until the collector has seen a message of `message_type`.
fn wait_for_traffic(collector: &Collector, message_type: &str, seen: &mut Vec<Value>) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !seen.iter().any(|v| v["message_type"] == message_type) {
        assert!(
            Instant::now() < deadline,
            "no {message_type} on the WebSocket"
        );
        seen.extend(collector.rx.recv_timeout(Duration::from_secs(30)));
    }
}

/// Every certificate message of `got` is one the WebSocket client received too; returns how
/// many there were.
fn assert_all_on_the_websocket(got: &[Value], websocket: &[Value], what: &str) -> usize {
    let certs: Vec<&Value> = got
        .iter()
        .filter(|v| v["message_type"] != "heartbeat")
        .collect();
    for v in &certs {
        assert!(websocket.contains(v), "{what}: not on the WebSocket: {v}");
    }
    assert!(certs.len() >= 5, "{what}: only {} messages", certs.len());
    certs.len()
}

#[test]
fn curl_ndjson_and_sse_carry_the_websocket_messages() {
    let sim = sim::start(SimConfig {
        rfc6962_logs: 2,
        static_logs: 1,
        rate_per_sec: 40.0,
        initial_entries: 20,
        seed: 16,
        ..SimConfig::default()
    })
    .expect("simulator starts");
    let server = Server::following(&sim.log_list_url, &[]);
    let domains_ws = Collector::connect(&server.ws_url("/domains-only"));
    let lite_ws = Collector::connect(&server.ws_url("/"));
    let mut domains_seen = Vec::new();
    wait_for_traffic(&domains_ws, "dns_entries", &mut domains_seen);
    let base = format!("http://{}", server.addr);
    let ndjson_url = format!("{base}/domains-only?format=ndjson");
    let ndjson = thread::spawn(move || curl(&[&ndjson_url], 4));
    let sse_url = format!("{base}/sse");
    let sse = thread::spawn(move || curl(&[&sse_url], 4));
    let jq_cmd = format!("curl -sN --max-time 4 '{base}/?format=ndjson' | jq -c .data.cert_index");
    let jq = thread::spawn(move || Command::new("sh").args(["-c", &jq_cmd]).output());
    thread::sleep(Duration::from_secs(2));
    let (_, metrics) = server.http_get("/metrics");
    assert_eq!(
        common::metric(&metrics, "certstream_clients{protocol=\"sse\"}"),
        1
    );
    assert_eq!(
        common::metric(&metrics, "certstream_clients{protocol=\"ndjson\"}"),
        2
    );
    assert_eq!(
        common::metric(&metrics, "certstream_clients{protocol=\"websocket\"}"),
        2
    );

    let ndjson = ndjson.join().unwrap();
    let sse = sse.join().unwrap();
    let jq = jq.join().unwrap().expect("sh runs");
    thread::sleep(Duration::from_millis(500));
    domains_seen.extend(drain(&domains_ws));
    let lite_seen = drain(&lite_ws);

    let lines: Vec<Value> = ndjson
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(lines
        .iter()
        .all(|v| v["message_type"] != "certificate_update"));
    assert_all_on_the_websocket(&lines, &domains_seen, "NDJSON");

    let events: Vec<Value> = sse
        .split("\n\n")
        .filter(|e| !e.is_empty() && !e.starts_with(':'))
        .map(|e| {
            let data = e
                .strip_prefix("data: ")
                .unwrap_or_else(|| panic!("event {e:?}"));
            serde_json::from_str(data).unwrap_or_else(|err| panic!("{err}: {data}"))
        })
        .collect();
    assert_all_on_the_websocket(&events, &lite_seen, "SSE");

    let indices = String::from_utf8(jq.stdout).unwrap();
    let parsed = indices.lines().filter(|l| l.parse::<u64>().is_ok()).count();
    assert!(parsed >= 5, "curl | jq printed {indices:?}");
}

/// What one SSE connection received up to its last event with an `id:` (a cursor message):
/// `source.url` → indices in arrival order, and that id.
fn sse_session(events: &str) -> (BTreeMap<String, Vec<u64>>, Option<String>) {
    let mut committed: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut pending: Vec<(String, u64)> = Vec::new();
    let mut last_id = None;
    for event in events.split("\n\n").filter(|e| !e.starts_with(':')) {
        let mut id = None;
        let mut data = None;
        for line in event.lines() {
            if let Some(v) = line.strip_prefix("id: ") {
                id = Some(v.to_owned());
            } else if let Some(v) = line.strip_prefix("data: ") {
                data = Some(v);
            }
        }
        // The last event may be cut by curl's --max-time.
        let Some(Ok(v)) = data.map(serde_json::from_str::<Value>) else {
            continue;
        };
        match v["message_type"].as_str() {
            Some("certificate_update") => {
                let url = v["data"]["source"]["url"].as_str().unwrap().to_owned();
                pending.push((url, v["data"]["cert_index"].as_u64().unwrap()));
            }
            Some("cursor") => {
                assert_eq!(
                    id.as_deref(),
                    v["data"]["cursor"].as_str(),
                    "id is the token"
                );
                last_id = id;
                for (url, index) in pending.drain(..) {
                    committed.entry(url).or_default().push(index);
                }
            }
            other => panic!("unexpected {other:?}: {v}"),
        }
    }
    (committed, last_id)
}

#[test]
fn an_sse_client_reconnecting_with_last_event_id_misses_nothing_and_sees_nothing_twice() {
    let sim = sim::start(SimConfig {
        rfc6962_logs: 2,
        static_logs: 1,
        rate_per_sec: 100.0,
        initial_entries: 0,
        seed: 17,
        ..SimConfig::default()
    })
    .expect("simulator starts");
    let dir = std::env::temp_dir().join(format!("certstream-sse-resume-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let replay_dir = dir.join("replay");
    let server = Server::following(
        &sim.log_list_url,
        &["--replay-dir", replay_dir.to_str().unwrap()],
    );
    thread::sleep(Duration::from_secs(1));
    // What an EventSource does: the same URL each time, the last id as Last-Event-ID.
    let url = format!("http://{}/sse?resume", server.addr);
    let mut joined: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut last_id: Option<String> = None;
    for round in 0..4 {
        if round == 3 {
            sim.pause_growth();
            thread::sleep(Duration::from_millis(1500));
        }
        let header = last_id.as_ref().map(|id| format!("Last-Event-ID: {id}"));
        let mut args = vec![url.as_str()];
        if let Some(h) = &header {
            args.extend(["-H", h.as_str()]);
        }
        let (committed, id) = sse_session(&curl(&args, 2));
        assert!(id.is_some(), "round {round}: no event with an id");
        for (log, indices) in committed {
            joined.entry(log).or_default().extend(indices);
        }
        last_id = id;
        // Away for a while: the logs grow meanwhile.
        thread::sleep(Duration::from_millis(800));
    }
    let logs = sim.logs();
    assert_eq!(joined.len(), logs.len(), "every log streamed: {joined:?}");
    for log in &logs {
        let size = sim.tree_size(log.idx);
        let got = &joined[&log.listed_url];
        let want: Vec<u64> = (got[0]..size).collect();
        assert_eq!(got, &want, "{}: every index once, in order", log.listed_url);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_server_shutting_down_ends_stream_bodies_cleanly() {
    let sim = sim::start(SimConfig {
        rfc6962_logs: 1,
        static_logs: 0,
        rate_per_sec: 20.0,
        seed: 20,
        ..SimConfig::default()
    })
    .expect("simulator starts");
    let mut server = Server::following(&sim.log_list_url, &[]);
    let url = format!("http://{}/?format=ndjson", server.addr);
    let curl = thread::spawn(move || {
        Command::new("curl")
            .args(["-sN", "--max-time", "30", &url])
            .output()
            .expect("curl runs")
    });
    thread::sleep(Duration::from_secs(2));
    server.terminate();
    let out = curl.join().unwrap();
    // curl exits 0 only when the chunked body ended with its last chunk (18: cut short).
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.lines().count() >= 5, "{text}");
}

#[test]
fn sse_and_ndjson_filters_parse_and_match_as_on_the_websocket() {
    let sim = sim::start(SimConfig {
        rfc6962_logs: 2,
        static_logs: 1,
        rate_per_sec: 60.0,
        seed: 21,
        ..SimConfig::default()
    })
    .expect("simulator starts");
    let server = Server::following(&sim.log_list_url, &[]);
    let ws = Collector::connect(&server.ws_url("/full-stream?update_type=PrecertLogEntry"));
    let mut seen = Vec::new();
    wait_for_traffic(&ws, "certificate_update", &mut seen);
    let base = format!("http://{}", server.addr);
    let sse_url = format!("{base}/sse?stream=full&update_type=PrecertLogEntry");
    let sse = thread::spawn(move || curl(&[&sse_url], 3));
    let nd = curl(
        &[&format!("{base}/?format=ndjson&update_type=X509LogEntry")],
        3,
    );
    let sse = sse.join().unwrap();
    thread::sleep(Duration::from_millis(500));
    seen.extend(drain(&ws));
    let events: Vec<Value> = sse
        .split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str(d).ok())
        .collect();
    assert_all_on_the_websocket(&events, &seen, "filtered SSE");
    for v in events.iter().filter(|v| v["message_type"] != "heartbeat") {
        assert_eq!(v["data"]["update_type"], "PrecertLogEntry", "{v}");
    }
    let lines: Vec<Value> = nd
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let x509 = lines
        .iter()
        .filter(|v| v["message_type"] == "certificate_update");
    assert!(x509.clone().count() >= 3, "{nd}");
    for v in x509 {
        assert_eq!(v["data"]["update_type"], "X509LogEntry", "{v}");
    }
    let (code, body) = server.http_get("/sse?update_type=nope");
    assert_eq!(code, 400, "{body}");
}
