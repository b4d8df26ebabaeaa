//! End-to-end fan-out: a client that never reads cannot hurt the others, memory stays bounded,
//! and a stop closes every client with 1001.

mod common;

use std::{
    io::{Read, Write},
    net::TcpStream,
    time::{Duration, Instant},
};

use common::{Arrivals, Collector, Server};
use loadtest::sim::{self, SimConfig};

/// Upgrades a raw TCP connection to `path` and returns it without ever reading frames.
fn silent_client(server: &Server, path: &str) -> TcpStream {
    let mut s = TcpStream::connect(server.addr).unwrap();
    // A small receive buffer makes the server's send buffer fill quickly.
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"));
    s
}

fn vm_rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn metric(text: &str, prefix: &str) -> u64 {
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[test]
fn a_client_that_never_reads_is_dropped_and_the_others_lose_nothing() {
    let sim = sim::start(SimConfig {
        rfc6962_logs: 2,
        static_logs: 1,
        rate_per_sec: 600.0,
        initial_entries: 0,
        seed: 5,
        ..SimConfig::default()
    })
    .expect("simulator starts");
    let urls: Vec<String> = sim.logs().iter().map(|l| l.url.clone()).collect();
    let server = Server::start(&[
        "--log-list",
        &sim.log_list_url,
        "--workers",
        "2",
        "--poll-interval-ms",
        "200",
    ]);
    let readers: Vec<Collector> = (0..3)
        .map(|_| Collector::connect(&server.ws_url("/")))
        .collect();
    let _slow = silent_client(&server, "/full-stream");
    let mut arrivals: Vec<Arrivals> = (0..3).map(|_| Arrivals::default()).collect();
    let mut rss_max = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut closed_slow = false;
    while Instant::now() < deadline && !closed_slow {
        for (r, a) in readers.iter().zip(arrivals.iter_mut()) {
            while let Ok(v) = r.rx.try_recv() {
                a.add(v);
            }
        }
        rss_max = rss_max.max(vm_rss_kb(server.child.id()));
        let (_, metrics) = server.http_get("/metrics");
        closed_slow = metric(
            &metrics,
            "certstream_ws_clients_closed_total{reason=\"lagging\"}",
        ) >= 1;
        std::thread::sleep(Duration::from_millis(250));
    }
    let (_, metrics) = server.http_get("/metrics");
    assert!(
        closed_slow,
        "the silent client was closed for lagging: {metrics}"
    );
    assert!(
        metric(
            &metrics,
            "certstream_ws_frames_dropped_total{reason=\"client_queue_full\"}"
        ) > 0,
        "its frames were dropped and counted"
    );
    sim.pause_growth();
    std::thread::sleep(Duration::from_millis(2500));
    let sizes: Vec<u64> = (0..urls.len()).map(|i| sim.tree_size(i)).collect();
    let until = Instant::now() + Duration::from_secs(60);
    for (r, a) in readers.iter().zip(arrivals.iter_mut()) {
        while !urls.iter().zip(&sizes).all(|(u, &s)| a.complete(u, s)) && Instant::now() < until {
            if let Ok(v) = r.rx.recv_timeout(Duration::from_millis(100)) {
                a.add(v);
            }
        }
    }
    let (_, metrics) = server.http_get("/metrics");
    let diagnostics: Vec<&str> = metrics
        .lines()
        .filter(|l| {
            l.starts_with("certstream_log_lag")
                || l.starts_with("certstream_ws_frames_dropped")
                || l.starts_with("certstream_ws_clients_closed")
                || l.starts_with("certstream_ring")
        })
        .collect();
    for a in &arrivals {
        for (url, &size) in urls.iter().zip(&sizes) {
            let got = a.by_log.get(url).cloned().unwrap_or_default();
            let first = *got.first().expect("entries arrived");
            let expected: Vec<u64> = (first..size).collect();
            let diverge = got.iter().zip(&expected).position(|(a, b)| a != b);
            assert_eq!(got.len(), expected.len(), "a reading client got every index of {url} once, in order (first difference at {diverge:?}); server: {diagnostics:#?}");
            assert_eq!(
                got, expected,
                "a reading client got every index of {url} once, in order"
            );
        }
    }
    // The bound: one slow client may pin at most CLIENT_QUEUE_FRAMES_MAX full frames (a few KB
    // each) in the hub, on top of the idle footprint.
    assert!(
        rss_max < 150 * 1024,
        "server RSS stayed bounded: peak {rss_max} KB"
    );
}

#[test]
fn sigterm_closes_every_client_with_1001_and_exits_promptly() {
    let sim = sim::start(SimConfig {
        rfc6962_logs: 1,
        static_logs: 1,
        rate_per_sec: 50.0,
        seed: 9,
        ..SimConfig::default()
    })
    .expect("simulator starts");
    let mut server = Server::start(&["--log-list", &sim.log_list_url, "--workers", "2"]);
    let (mut ws, _) = tungstenite::connect(server.ws_url("/")).expect("connect");
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let status = server.terminate().expect("the server exits after SIGTERM");
    assert!(status.success(), "clean exit: {status:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "stopped within {:?}",
        started.elapsed()
    );
    let code = loop {
        match ws.read() {
            Ok(tungstenite::Message::Close(frame)) => break frame.map(|f| u16::from(f.code)),
            Ok(_) => continue,
            Err(e) => panic!("connection ended without a close frame: {e}"),
        }
    };
    assert_eq!(code, Some(1001));
}
