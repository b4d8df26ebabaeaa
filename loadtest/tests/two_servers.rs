//! Two servers in one process (the library's `runtime::start`, twice, on ephemeral ports): each
//! has its own control, so stopping one leaves the other streaming.

mod common;

use std::{
    collections::BTreeMap,
    net::{SocketAddr, TcpStream},
    time::{Duration, Instant},
};

use certstream::{config::Config, runtime};
use common::Collector;
use loadtest::sim::{self, SimConfig};

fn start(log_list: &str) -> runtime::Server {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(2)
        .to_string();
    let config = Config::load_from([
        "certstream",
        "--log-list",
        log_list,
        "--listen",
        "127.0.0.1:0",
        "--workers",
        &workers,
        "--poll-interval-ms",
        "200",
    ])
    .expect("configuration");
    runtime::start(config).expect("the server starts")
}

fn ws_url(addr: SocketAddr) -> String {
    format!("ws://{addr}/")
}

/// Highest cert_index per log seen by `collector` over `wait`.
fn newest_indices(collector: &Collector, wait: Duration) -> BTreeMap<String, u64> {
    let mut newest = BTreeMap::new();
    let until = Instant::now() + wait;
    while Instant::now() < until {
        let Ok(v) = collector.rx.recv_timeout(Duration::from_millis(50)) else {
            continue;
        };
        if v["message_type"] != "certificate_update" {
            continue;
        }
        let url = v["data"]["source"]["url"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let index = v["data"]["cert_index"].as_u64().unwrap_or(0);
        let at = newest.entry(url).or_insert(0);
        *at = index.max(*at);
    }
    newest
}

#[test]
fn two_servers_in_one_process_and_stopping_one_leaves_the_other_streaming() {
    let sim = sim::start(SimConfig {
        rfc6962_logs: 1,
        static_logs: 1,
        rate_per_sec: 40.0,
        initial_entries: 0,
        seed: 23,
        ..SimConfig::default()
    })
    .expect("simulator starts");
    let a = start(&sim.log_list_url);
    let b = start(&sim.log_list_url);
    assert_ne!(a.addr(), b.addr(), "each server has its own port");
    let client_a = Collector::connect(&ws_url(a.addr()));
    let client_b = Collector::connect(&ws_url(b.addr()));
    let seen_a = newest_indices(&client_a, Duration::from_secs(4));
    let seen_b = newest_indices(&client_b, Duration::from_secs(1));
    assert!(!seen_a.is_empty(), "server A streams");
    assert!(!seen_b.is_empty(), "server B streams");

    let a_addr = a.addr();
    let stopping = Instant::now();
    a.stop();
    a.wait().expect("server A stops cleanly");
    let took = stopping.elapsed();
    assert!(
        took < certstream::limits::STOP_DEADLINE,
        "A stopped in {took:?}"
    );
    assert!(
        TcpStream::connect(a_addr).is_err(),
        "A no longer accepts connections (its listening socket is closed, not left to the \
         kernel's io_uring teardown)"
    );

    // B keeps streaming: its client gets entries newer than anything before A's stop.
    let before = newest_indices(&client_b, Duration::from_millis(300));
    let after = newest_indices(&client_b, Duration::from_secs(3));
    let advanced = after
        .iter()
        .any(|(url, &i)| i > before.get(url).or(seen_b.get(url)).copied().unwrap_or(0));
    assert!(
        advanced,
        "B streams on after A stopped: {before:?} then {after:?}"
    );
    let control = b.control();
    control.stop();
    b.wait().expect("server B stops cleanly");
}
