//! A browser's `EventSource` (Debian's headless chromium) on `/sse?resume`, beside a
//! WebSocket on `/` in the same page: every event is a message the WebSocket got too, and the
//! browser's `lastEventId` (what it sends back as `Last-Event-ID` when it reconnects) changes
//! exactly at cursor messages, to their token.
//!
//! Skipped (with a message saying so) only when chromium is missing and cannot be installed.

#[path = "common/browser.rs"]
mod browser;
mod common;

use std::{
    collections::BTreeMap,
    net::{Shutdown, TcpListener, TcpStream},
    sync::{Arc, Mutex},
    thread,
    time::Duration,
};

use browser::Browser;
use common::Server;
use loadtest::sim::{self, SimConfig};
use serde_json::Value;

/// Opens the EventSource and the WebSocket, collecting into `window.sse`, `window.ids` and
/// `window.ws`.
const OPEN: &str = r#"
window.sse = []; window.ids = []; window.ws = []; window.errors = 0;
const ws = new WebSocket("ws://" + location.host + "/");
ws.onmessage = function (e) { window.ws.push(e.data); };
ws.onopen = function () {
  const es = new EventSource("/sse?resume");
  es.onmessage = function (e) {
    window.sse.push(e.data);
    // The id persists from event to event (the SSE rules): record where it changes.
    const last = window.ids.length ? window.ids[window.ids.length - 1][0] : "";
    if (e.lastEventId !== last) { window.ids.push([e.lastEventId, e.data]); }
  };
  es.onerror = function () { window.errors += 1; };
};
"ok"
"#;

const STATE: &str = r#"JSON.stringify({
  sse: window.sse, ids: window.ids, errors: window.errors,
  missing: window.sse.filter(function (m) {
    return JSON.parse(m).message_type === "certificate_update" && window.ws.indexOf(m) < 0;
  }).length
})"#;

#[test]
fn a_browser_eventsource_gets_the_websocket_messages_and_cursor_ids() {
    let chromium = match browser::chromium() {
        Ok(path) => path,
        Err(why) => {
            eprintln!("SKIPPED: the EventSource browser test needs chromium: {why}");
            return;
        }
    };
    let sim = sim::start(SimConfig {
        rfc6962_logs: 2,
        static_logs: 1,
        rate_per_sec: 30.0,
        initial_entries: 10,
        seed: 18,
        ..SimConfig::default()
    })
    .expect("simulator starts");
    let server = Server::following(&sim.log_list_url, &[]);
    let mut browser = Browser::start(&chromium, 800, 600);
    browser.navigate(&format!("http://{}/health", server.addr));
    browser.wait_for("location.pathname", Duration::from_secs(10), |v| {
        v == "/health"
    });
    assert_eq!(browser.eval(OPEN), "ok");
    let state = browser.wait_for(STATE, Duration::from_secs(60), |v| {
        let s: Value = serde_json::from_str(v.as_str().unwrap_or("{}")).unwrap_or_default();
        s["sse"].as_array().is_some_and(|e| e.len() >= 20)
            && s["ids"].as_array().is_some_and(|i| !i.is_empty())
            && s["missing"] == 0
    });
    let s: Value = serde_json::from_str(state.as_str().unwrap()).unwrap();
    assert_eq!(s["errors"], 0, "the EventSource never failed: {s}");
    for pair in s["ids"].as_array().unwrap() {
        let (id, data) = (pair[0].as_str().unwrap(), pair[1].as_str().unwrap());
        let message: Value = serde_json::from_str(data).unwrap();
        assert_eq!(message["message_type"], "cursor", "{data}");
        assert_eq!(
            message["data"]["cursor"], id,
            "the event id is the cursor token"
        );
    }
}

/// A TCP proxy in front of the server whose connections the test can cut (a network drop).
struct Proxy {
    addr: std::net::SocketAddr,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    fn start(upstream: std::net::SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let open2 = Arc::clone(&open);
        thread::spawn(move || {
            for client in listener.incoming().map_while(Result::ok) {
                let Ok(server) = TcpStream::connect(upstream) else {
                    continue;
                };
                open2.lock().unwrap().push(client.try_clone().unwrap());
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(Shutdown::Both);
                    });
                }
            }
        });
        Proxy { addr, open }
    }

    /// Drops every connection open so far, as a network failure would.
    fn cut(&self) {
        for stream in self.open.lock().unwrap().drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

/// Collects every event into `window.sse`, with "OPEN" where each connection starts.
const OPEN_RESUMING: &str = r#"
window.sse = [];
const es = new EventSource("/sse?resume");
es.onopen = function () { window.sse.push("OPEN"); };
es.onmessage = function (e) { window.sse.push(e.data); };
"ok"
"#;

#[test]
fn a_browser_eventsource_cut_off_reconnects_with_last_event_id_and_misses_nothing() {
    let chromium = match browser::chromium() {
        Ok(path) => path,
        Err(why) => {
            eprintln!("SKIPPED: the EventSource browser test needs chromium: {why}");
            return;
        }
    };
    let sim = sim::start(SimConfig {
        rfc6962_logs: 2,
        static_logs: 1,
        rate_per_sec: 60.0,
        initial_entries: 0,
        seed: 19,
        ..SimConfig::default()
    })
    .expect("simulator starts");
    let dir = std::env::temp_dir().join(format!("certstream-es-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let replay = dir.join("replay");
    let server = Server::following(
        &sim.log_list_url,
        &["--replay-dir", replay.to_str().unwrap()],
    );
    let proxy = Proxy::start(server.addr);
    let mut browser = Browser::start(&chromium, 800, 600);
    browser.navigate(&format!("http://{}/health", proxy.addr));
    browser.wait_for("location.pathname", Duration::from_secs(10), |v| {
        v == "/health"
    });
    assert_eq!(browser.eval(OPEN_RESUMING), "ok");
    let count = "window.sse.length";
    browser.wait_for(count, Duration::from_secs(30), |v| v.as_u64() >= Some(30));
    proxy.cut();
    // The browser reconnects by itself (after its retry delay) with Last-Event-ID.
    let opens = "window.sse.filter(function (m) { return m === 'OPEN'; }).length";
    browser.wait_for(opens, Duration::from_secs(30), |v| v == 2);
    sim.pause_growth();
    thread::sleep(Duration::from_millis(1500));
    let sizes: Vec<(String, u64)> = sim
        .logs()
        .iter()
        .map(|l| (l.listed_url.clone(), sim.tree_size(l.idx)))
        .collect();
    let state = "JSON.stringify(window.sse)";
    let all = browser.wait_for(state, Duration::from_secs(30), |v| {
        let joined = joined_indices(v);
        sizes.iter().all(|(url, size)| {
            joined
                .get(url)
                .and_then(|v| v.last())
                .is_some_and(|&i| i + 1 >= *size)
        })
    });
    let joined = joined_indices(&all);
    for (url, size) in &sizes {
        let got = &joined[url];
        let want: Vec<u64> = (got[0]..*size).collect();
        assert_eq!(
            got, &want,
            "{url}: every index once, in order, across the cut"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Per `source.url`, the indices of the first connection up to its last cursor message (what
/// `Last-Event-ID` covers), then everything of the second.
fn joined_indices(sse: &Value) -> BTreeMap<String, Vec<u64>> {
    let events: Vec<String> =
        serde_json::from_str(sse.as_str().unwrap_or("[]")).unwrap_or_default();
    let mut joined: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut pending: Vec<(String, u64)> = Vec::new();
    let mut connection = 0;
    for event in &events {
        if event == "OPEN" {
            connection += 1;
            pending.clear();
            continue;
        }
        let v: Value = serde_json::from_str(event).unwrap();
        match v["message_type"].as_str() {
            Some("certificate_update") => {
                let url = v["data"]["source"]["url"].as_str().unwrap().to_owned();
                pending.push((url, v["data"]["cert_index"].as_u64().unwrap()));
            }
            Some("cursor") => {
                for (url, index) in pending.drain(..) {
                    joined.entry(url).or_default().push(index);
                }
            }
            other => panic!("unexpected {other:?} (connection {connection}): {v}"),
        }
    }
    joined
}
