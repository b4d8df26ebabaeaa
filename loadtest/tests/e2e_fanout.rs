//! End-to-end fan-out: a client that never reads cannot hurt the others, memory stays bounded,
//! and a stop closes every client with 1001.

mod common;

use std::{
    io::{Read, Write},
    net::TcpStream,
    time::{Duration, Instant},
};

use common::{assert_no_loss, metric, vm_rss_kb, Server};
use loadtest::{
    bench::wsbench::{self, GapCheckConfig, WsBenchConfig, WsBenchReport},
    sim::{self, SimConfig, SimHandle},
};

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

/// wsbench clients on `path` for `secs`, with the gap check against the simulator.
fn wsbench(
    server: &Server,
    sim: &SimHandle,
    path: &str,
    clients: usize,
    slow: usize,
    secs: u64,
) -> WsBenchReport {
    let mut cfg = WsBenchConfig::new(&server.ws_url(path), clients);
    cfg.slow = slow;
    cfg.warmup = Duration::from_secs(1);
    cfg.duration = Duration::from_secs(secs);
    cfg.gap = Some(GapCheckConfig::new(&format!("{}/sim/state", sim.http_base)));
    wsbench::run(&cfg, &mut |_| {}).expect("wsbench runs")
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
    let server = Server::following(&sim.log_list_url, &[]);
    let pid = server.child.id();
    let rss = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let rss2 = rss.clone();
    let sampler = std::thread::spawn(move || {
        for _ in 0..200 {
            rss2.fetch_max(vm_rss_kb(pid), std::sync::atomic::Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    // The slow client reads the full stream (the biggest frames) and never reads at all.
    let slow = silent_client(&server, "/full-stream");
    let report = wsbench(&server, &sim, "/", 6, 0, 25);
    drop(slow);
    assert_no_loss(&report);
    let (_, metrics) = server.http_get("/metrics");
    assert!(
        metric(
            &metrics,
            "certstream_ws_clients_closed_total{reason=\"lagging\"}"
        ) >= 1,
        "the silent client was closed for lagging: {metrics}"
    );
    assert!(
        metric(
            &metrics,
            "certstream_ws_frames_dropped_total{reason=\"client_queue_full\"}"
        ) > 0,
        "its frames were dropped and counted"
    );
    let _ = sampler.join();
    let rss_max = rss.load(std::sync::atomic::Ordering::Relaxed);
    // The bound: one slow client pins at most CLIENT_QUEUE_FRAMES_MAX full frames (a few KB
    // each) in the hub, on top of the idle footprint of a debug build.
    assert!(
        rss_max > 0 && rss_max < 150 * 1024,
        "server RSS stayed bounded: peak {rss_max} KB"
    );
}

#[test]
fn five_hundred_clients_on_three_streams_get_every_entry_in_order() {
    let sim = sim::start(SimConfig {
        rfc6962_logs: 2,
        static_logs: 2,
        rate_per_sec: 100.0,
        initial_entries: 0,
        seed: 21,
        ..SimConfig::default()
    })
    .expect("simulator starts");
    let server = std::sync::Arc::new(Server::following(&sim.log_list_url, &[]));
    let sim = std::sync::Arc::new(sim);
    let runs: Vec<_> = [
        ("/", 300usize),
        ("/full-stream", 150),
        ("/domains-only", 50),
    ]
    .into_iter()
    .map(|(path, n)| {
        let (server, sim) = (server.clone(), sim.clone());
        std::thread::spawn(move || (path, wsbench(&server, &sim, path, n, 0, 15)))
    })
    .collect();
    for run in runs {
        let (path, report) = run.join().expect("wsbench thread");
        assert_eq!(
            report.connected, report.clients,
            "{path}: every client connected"
        );
        if path == "/domains-only" {
            // dns_entries carry no index: every client must at least receive the stream.
            assert_eq!(report.errors_total, 0, "{:?}", report.errors);
            assert!(
                report.delivered_msgs >= report.clients as u64 * 100,
                "{path}: {} messages",
                report.delivered_msgs
            );
        } else {
            assert_no_loss(&report);
        }
    }
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
    let mut server = Server::following(&sim.log_list_url, &[]);
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
