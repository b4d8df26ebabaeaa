//! The live page (`GET /` from a browser) in a real browser: Debian's headless chromium loads
//! it from a server fed by the simulator, with auth on, and the test waits until certificates
//! scroll in and the per-log table lists every simulated log.
//!
//! Skipped (with a message saying so) only when chromium is missing and cannot be installed.
//! With `CERTSTREAM_SCREENSHOT_DIR=docs` (relative to the repository root) it also writes the
//! README's screenshots (`live-page.png`, `live-page-phone.png`), from a simulator with a
//! longer history so that they show logs catching up.

#[path = "common/browser.rs"]
mod browser;
mod common;

use std::time::Duration;

use browser::Browser;
use common::Server;
use loadtest::sim::{self, SimConfig};
use serde_json::Value;

const TOKEN: &str = "page-token-0123456789";
const LOGS: usize = 4;

/// What the test reads off the page, as one JSON value.
const PAGE_STATE: &str = r##"JSON.stringify({
  status: document.getElementById("status").textContent,
  rate: document.getElementById("rate").textContent,
  certs: Array.from(document.querySelectorAll("#feed tr.cert")).map(function (tr) {
    return Array.from(tr.cells).map(function (td) { return td.textContent; });
  }),
  logs: Array.from(document.querySelectorAll("#logs tr.log")).map(function (tr) {
    return { name: tr.cells[0].textContent, state: tr.getAttribute("data-state"),
             progress: tr.cells[2].textContent.trim() };
  }),
  clients: document.getElementById("clients").textContent
})"##;

#[test]
fn a_browser_sees_certificates_scroll_in_and_the_per_log_table_fill() {
    let chromium = match browser::chromium() {
        Ok(path) => path,
        Err(why) => {
            eprintln!("SKIPPED: the live-page browser test needs chromium: {why}");
            return;
        }
    };
    // For the README's pictures, enough history that they show logs catching up.
    let history: u64 = if screenshots_wanted() { 20_000 } else { 2_000 };
    let sim = sim::start(SimConfig {
        rfc6962_logs: 2,
        static_logs: 2,
        rate_per_sec: 40.0,
        initial_entries: history,
        seed: 16,
        ..SimConfig::default()
    })
    .expect("simulator starts");
    let server = Server::following(
        &sim.log_list_url,
        &["--auth-token", TOKEN, "--backfill", &history.to_string()],
    );
    let mut browser = Browser::start(&chromium, 1280, 900);

    // Auth on: the page itself needs the token like every endpoint.
    browser.navigate(&format!("http://{}/", server.addr));
    browser.wait_for(
        "document.body ? document.body.textContent : ''",
        Duration::from_secs(10),
        |v| {
            v.as_str()
                .is_some_and(|t| t.contains("a valid token is required"))
        },
    );

    browser.navigate(&format!("http://{}/?token={TOKEN}", server.addr));
    let state = browser.wait_for(PAGE_STATE, Duration::from_secs(60), |v| {
        let s: Value = serde_json::from_str(v.as_str().unwrap_or("{}")).unwrap_or_default();
        s["certs"].as_array().is_some_and(|c| c.len() >= 10)
            && s["logs"].as_array().is_some_and(|l| l.len() == LOGS)
            && s["rate"].as_str().is_some_and(|r| r != "0")
            // /health/deep counts clients from the cores' snapshots, sent every second.
            && s["clients"].as_str().is_some_and(|c| c != "0" && c != "–")
    });
    let state: Value = serde_json::from_str(state.as_str().unwrap()).unwrap();
    assert_eq!(state["status"], "live", "{state}");
    for cert in state["certs"].as_array().unwrap() {
        let cells: Vec<&str> = cert
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        assert_eq!(cells.len(), 4, "seen, domains, issuer, log: {cells:?}");
        assert!(cells.iter().all(|c| !c.is_empty()), "{cells:?}");
        assert!(
            cells[3].starts_with("ctlog-sim"),
            "the log's name: {cells:?}"
        );
    }
    for log in state["logs"].as_array().unwrap() {
        assert!(
            log["name"].as_str().unwrap().starts_with("ctlog-sim"),
            "{log}"
        );
        assert!(
            ["caught_up", "catching_up"].contains(&log["state"].as_str().unwrap()),
            "every log has its first head by now: {log}"
        );
        assert!(log["progress"].as_str().unwrap().ends_with('%'), "{log}");
    }
    assert!(
        state["clients"].as_str().unwrap().parse::<u64>().unwrap() >= 1,
        "{state}"
    );
    save_screenshots(&mut browser);
}

fn screenshots_wanted() -> bool {
    std::env::var_os("CERTSTREAM_SCREENSHOT_DIR").is_some()
}

/// Writes the README's screenshots when `CERTSTREAM_SCREENSHOT_DIR` names a directory.
fn save_screenshots(browser: &mut Browser) {
    let Some(dir) = std::env::var_os("CERTSTREAM_SCREENSHOT_DIR") else {
        return;
    };
    // Relative to the repository root (tests run in loadtest/).
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(dir);
    std::fs::create_dir_all(&dir).unwrap();
    browser.set_viewport(1280, 900, 1.0, false);
    std::thread::sleep(Duration::from_secs(2));
    std::fs::write(dir.join("live-page.png"), browser.screenshot_png()).unwrap();
    browser.set_viewport(390, 844, 2.0, true);
    std::thread::sleep(Duration::from_secs(2));
    std::fs::write(dir.join("live-page-phone.png"), browser.screenshot_png()).unwrap();
}
