//! Smoke tests of the benchmark harness that cannot rot: they run the real binaries and the
//! real client library on loopback for a few seconds and check counts, never timings.
//!
//! 1. raw-fanout (fixed rate) + wsbench with 5 clients: messages arrive, zero loss, the latency
//!    and connect summaries are filled in, each client got its connect heartbeat.
//! 2. A scripted WebSocket server that skips one index, sends a ping and a fragmented message,
//!    plus a stub `/sim/state`: wsbench's loss tracking and gap check must catch exactly the
//!    entries that were not sent.
//! 3. The runner end to end (simulator, certstream, wsbench, /proc sampling, results files) on
//!    the quick steady-state workload, over plain TCP and over TLS (`--tls`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use loadtest::bench::run::{self, BenchPlan, BinPaths, ServerSpec, TlsFiles, Workload};
use loadtest::bench::ws;
use loadtest::bench::wsbench::{self, GapCheckConfig, Phase, WsBenchConfig};

struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_raw_fanout(args: &[&str]) -> (Kill, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_raw-fanout"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("raw-fanout starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(line.trim()).expect("ready line is JSON");
    let addr = v["listening"].as_str().expect("address").to_string();
    (Kill(child), addr)
}

#[test]
fn raw_fanout_and_wsbench_deliver_without_loss() {
    let (_fanout, addr) =
        start_raw_fanout(&["--rate", "2000", "--duration", "60", "--threads", "1"]);
    let mut cfg = WsBenchConfig::new(&format!("ws://{addr}/"), 5);
    cfg.warmup = Duration::from_millis(500);
    cfg.duration = Duration::from_millis(2500);
    let mut phases = Vec::new();
    let r = wsbench::run(&cfg, &mut |p| phases.push(p)).expect("wsbench runs");
    assert_eq!(
        phases,
        [
            Phase::Connecting,
            Phase::Warmup,
            Phase::Measuring,
            Phase::Draining,
            Phase::Stop
        ]
    );
    assert_eq!(
        (r.connected, r.connect_failed),
        (5, 0),
        "errors: {:?}",
        r.errors
    );
    assert!(r.delivered_msgs > 0, "nothing delivered: {r:?}");
    assert_eq!(r.loss.reading_clients, 5);
    assert_eq!(r.loss.missing_total, 0, "{:?}", r.loss);
    assert_eq!(r.loss.repeated_total, 0, "{:?}", r.loss);
    assert_eq!(r.loss.clients_disconnected, 0);
    assert_eq!(r.loss.malformed_messages, 0);
    assert_eq!(r.latency_ms.samples, r.delivered_msgs);
    assert!(r.latency_ms.p50 <= r.latency_ms.p99 && r.latency_ms.p99 <= r.latency_ms.max);
    assert!(r.latency_ms.max > 0.0);
    assert_eq!(r.connect_ms.samples, 5);
    assert!(r.heartbeats >= 5, "each client gets a heartbeat at connect");
    assert!(r.bytes > r.delivered_msgs * 1000, "frames are ~1.5 KB");
    assert!(r.cpu_pct > 0.0);
}

/// One scripted client session: 0..10 of log A without index 5, a ping, a fragmented message.
fn scripted_session(mut s: TcpStream) {
    let mut buf = vec![0u8; 8192];
    let mut filled = 0;
    let req = loop {
        let n = s.read(&mut buf[filled..]).unwrap();
        assert!(n > 0);
        filled += n;
        if let Some(req) = ws::parse_request(&buf[..filled]).unwrap() {
            break req;
        }
    };
    let mut out = ws::server_response(&req.key).into_bytes();
    ws::encode_server_frame(&mut out, ws::OP_PING, b"p");
    for i in (0..10u64).filter(|&i| i != 5) {
        let msg = format!(
            r#"{{"message_type":"certificate_update","data":{{"cert_index":{i},"seen":1.0,"source":{{"url":"http://127.0.0.1:1/logA/","name":"A"}}}}}}"#
        );
        if i == 7 {
            // Fragmented: text (FIN=0) + continuation (FIN=1), with a ping in between.
            let (a, b) = msg.as_bytes().split_at(20);
            out.extend_from_slice(&[0x01, a.len() as u8]);
            out.extend_from_slice(a);
            ws::encode_server_frame(&mut out, ws::OP_PING, b"q");
            out.extend_from_slice(&[0x80, b.len() as u8]);
            out.extend_from_slice(b);
        } else {
            ws::encode_server_frame(&mut out, ws::OP_TEXT, msg.as_bytes());
        }
    }
    s.write_all(&out).unwrap();
    // Expect two pongs back (masked client frames), then keep the connection open.
    let mut got = Vec::new();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    while got.len() < 2 * 7 {
        let mut b = [0u8; 64];
        match s.read(&mut b) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&b[..n]),
        }
    }
    let h = ws::parse_head(&got, 125).unwrap().unwrap();
    assert_eq!(h.opcode, ws::OP_PONG);
    assert!(h.mask.is_some());
    std::thread::sleep(Duration::from_secs(10));
}

fn stub_state_server(tree_size: u64) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming().take(16) {
            let Ok(mut s) = s else { continue };
            let mut b = [0u8; 2048];
            let _ = s.read(&mut b);
            let body = format!(
                r#"{{"logs":[{{"url":"http://127.0.0.1:1/logA","kind":"rfc6962","tree_size":{tree_size}}}]}}"#
            );
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
        }
    });
    format!("http://{addr}/sim/state")
}

#[test]
fn gap_check_counts_exactly_what_was_not_sent() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming().take(2) {
            let s = s.unwrap();
            std::thread::spawn(move || scripted_session(s));
        }
    });
    let mut cfg = WsBenchConfig::new(&format!("ws://{addr}/"), 2);
    cfg.threads = 1;
    cfg.warmup = Duration::ZERO;
    cfg.duration = Duration::from_millis(500);
    let mut gap = GapCheckConfig::new(&stub_state_server(12));
    gap.drain_timeout = Duration::from_millis(500);
    cfg.gap = Some(gap);
    let r = wsbench::run(&cfg, &mut |_| {}).expect("wsbench runs");
    assert_eq!(r.connected, 2, "{:?}", r.errors);
    // Index 5 skipped on both clients.
    assert_eq!(
        (
            r.loss.clients_with_loss,
            r.loss.missing_total,
            r.loss.repeated_total
        ),
        (2, 2, 0)
    );
    let g = r.gap_check.expect("gap report");
    assert!(!g.complete);
    assert_eq!(g.logs.len(), 1);
    let log = &g.logs[0];
    assert_eq!(
        (log.url.as_str(), log.target),
        ("http://127.0.0.1:1/logA", 12)
    );
    // Per client: 1 gap (5) + 2 never sent (10, 11).
    assert_eq!(
        (log.clients_checked, log.clients_complete, log.missing),
        (2, 0, 6)
    );
    assert_eq!(log.start_min, Some(0));
    assert_eq!(r.other_msgs, 0);
}

#[test]
fn unreachable_server_is_reported_not_hung() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cfg = WsBenchConfig::new(&format!("ws://127.0.0.1:{port}/"), 3);
    cfg.warmup = Duration::from_secs(30);
    cfg.duration = Duration::from_secs(30);
    let t0 = std::time::Instant::now();
    let r = wsbench::run(&cfg, &mut |_| {}).expect("a report, not an error");
    assert!(
        t0.elapsed() < Duration::from_secs(10),
        "no warm-up or window without clients"
    );
    assert_eq!((r.connected, r.connect_failed, r.errors_total), (0, 3, 3));
    assert!(r.errors[0].contains("connect"), "{:?}", r.errors);
    assert_eq!(r.delivered_msgs, 0);
}

/// Runs the quick steady workload through the runner against the certstream binary, with TLS
/// or without, and checks what it measured and wrote.
fn runner_steady_smoke(tls: bool) {
    let dir = std::env::temp_dir().join(format!(
        "bench-smoke-{}-{}",
        std::process::id(),
        if tls { "tls" } else { "plain" }
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let server = env!("CARGO_BIN_EXE_certstream-server");
    let mut cmd = format!("{server} --log-list {{log_list_url}} --listen 127.0.0.1:{{port}}");
    if tls {
        cmd.push_str(" --tls-cert {tls_cert} --tls-key {tls_key}");
    }
    let spec = ServerSpec {
        name: "certstream".into(),
        cmd,
        ws_url: format!("{}://127.0.0.1:{{port}}", if tls { "wss" } else { "ws" }),
    };
    let bins = BinPaths::beside_current_exe().expect("helper binaries");
    let mut plan = BenchPlan::quick(vec![spec], bins, &dir.join("results"));
    plan.workloads = vec![Workload::Steady];
    plan.repo_dir = env!("CARGO_MANIFEST_DIR").into();
    if tls {
        plan.tls = Some(TlsFiles::generate(&dir.join("pki")).expect("test PKI"));
    }
    let res = run::run(&plan).expect("the runner runs");
    assert!(res.errors.is_empty(), "{:?}", res.errors);
    let w = &res.workloads[0];
    assert_eq!(w.name, "steady-20");
    assert!(w.passed, "{:?}; errors {:?}", w.failures, w.ws.errors);
    assert_eq!((w.ws.connected, w.ws.connect_failed), (20, 0));
    assert!(w.ws.delivered_msgs > 0);
    assert_eq!(w.ws.loss.missing_total, 0, "{:?}", w.ws.loss);
    assert!(w.rss_idle_kib.is_some() && w.server_cpu_pct.is_some());
    let gap = w.ws.gap_check.as_ref().expect("gap check");
    assert!(gap.logs.iter().all(|l| l.missing == 0 && l.repeated == 0));
    let summary = std::fs::read_to_string(res.out_dir.join("summary.md")).expect("summary.md");
    assert!(res.out_dir.join("results.json").exists());
    assert!(summary.contains("| certstream | steady-20 |"), "{summary}");
    assert_eq!(summary.contains("over TLS"), tls, "{summary}");
    let wsbench_cmd = w.commands.last().expect("wsbench command");
    assert_eq!(wsbench_cmd.contains("wss://"), tls, "{wsbench_cmd}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn runner_measures_the_server_over_plain_tcp() {
    runner_steady_smoke(false);
}

#[test]
fn runner_measures_the_server_over_tls() {
    runner_steady_smoke(true);
}
