//! A browser's `EventSource` (Debian's headless chromium) on `/sse?resume`, beside a
//! WebSocket on `/` in the same page: every event is a message the WebSocket got too, and the
//! browser's `lastEventId` (what it sends back as `Last-Event-ID` when it reconnects) changes
//! exactly at cursor messages, to their token.
//!
//! Skipped (with a message saying so) only when chromium is missing and cannot be installed.

#[path = "common/browser.rs"]
mod browser;
mod common;

use std::time::Duration;

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
