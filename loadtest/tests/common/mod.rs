//! Helpers shared by the end-to-end tests: launch the server binary against the simulator and
//! read its WebSocket streams.
#![allow(dead_code)]

pub mod tls;

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader},
    net::{SocketAddr, TcpStream},
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicBool, Ordering},
        mpsc, Arc,
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use serde_json::Value;

/// A running `certstream` server process; killed on drop.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    pub stderr_tail: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Server {
    /// Starts the server with `args` (plus `--listen 127.0.0.1:0`) and waits for its listen line.
    pub fn start(args: &[&str]) -> Server {
        Server::start_with_env(args, &[])
    }

    /// [`Server::start`] with extra environment variables.
    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Server {
        Server::start_listening(args, env, "127.0.0.1:0")
    }

    /// [`Server::start_with_env`] on `listen` (a restart on the port its clients know).
    pub fn start_listening(args: &[&str], env: &[(&str, &str)], listen: &str) -> Server {
        let exe = env!("CARGO_BIN_EXE_certstream-server");
        let mut child = Command::new(exe)
            .args(args)
            .envs(env.iter().copied())
            .args(["--listen", listen])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting the certstream binary");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (tx, rx) = mpsc::channel();
        let tail = Arc::new(std::sync::Mutex::new(Vec::new()));
        let tail2 = tail.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = listen_addr(&line) {
                    let _ = tx.send(addr);
                }
                let mut t = tail2.lock().unwrap();
                t.push(line);
                if t.len() > 2000 {
                    t.drain(..1000);
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| {
                let _ = child.kill();
                panic!(
                    "server did not report its listen address: {:?}",
                    tail.lock().unwrap()
                );
            });
        Server {
            child,
            addr,
            stderr_tail: tail,
        }
    }

    /// Starts the server on two executors following `log_list`, polling every 200 ms, with the
    /// `extra` flags.
    pub fn following(log_list: &str, extra: &[&str]) -> Server {
        let mut args = vec![
            "--log-list",
            log_list,
            "--workers",
            "2",
            "--poll-interval-ms",
            "200",
        ];
        args.extend_from_slice(extra);
        Server::start(&args)
    }

    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{}", self.addr, path)
    }

    pub fn http_get(&self, path: &str) -> (u16, String) {
        http_get(self.addr, path)
    }

    pub fn log_lines(&self) -> Vec<String> {
        self.stderr_tail.lock().unwrap().clone()
    }

    /// Sends SIGTERM and waits for the exit status (bounded).
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        self.signal(15)
    }

    /// Sends SIGHUP (reload) without waiting.
    pub fn hup(&self) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc_kill(self.child.id() as i32, 1) };
    }

    /// Sends `sig` and waits for the exit status (bounded).
    pub fn signal(&mut self, sig: i32) -> Option<std::process::ExitStatus> {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc_kill(self.child.id() as i32, sig) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Finds `listen=ADDR` (text format) or `"listen":"ADDR"` (JSON format) in a tracing line.
fn listen_addr(line: &str) -> Option<SocketAddr> {
    const JSON_KEY: &str = "\"listen\":\"";
    if let Some(i) = line.find(JSON_KEY) {
        return line[i + JSON_KEY.len()..].split('"').next()?.parse().ok();
    }
    let rest = &line[line.find("listen=")? + "listen=".len()..];
    rest.split_whitespace()
        .next()?
        .trim_matches('"')
        .parse()
        .ok()
}

/// A one-shot HTTP/1.1 GET; returns status and body.
pub fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// A WebSocket reader thread collecting every text message as JSON.
pub struct Collector {
    pub rx: mpsc::Receiver<Value>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Collector {
    /// Connects (retrying for a few seconds) and starts reading.
    pub fn connect(url: &str) -> Collector {
        let deadline = Instant::now() + Duration::from_secs(10);
        let (mut ws, _) = loop {
            match tungstenite::connect(url) {
                Ok(ok) => break ok,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => panic!("cannot connect to {url}: {e}"),
            }
        };
        if let tungstenite::stream::MaybeTlsStream::Plain(s) = ws.get_mut() {
            s.set_read_timeout(Some(Duration::from_millis(200)))
                .unwrap();
        }
        let (tx, rx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                match ws.read() {
                    Ok(tungstenite::Message::Text(t)) => {
                        let v: Value =
                            serde_json::from_str(t.as_str()).expect("every message is JSON");
                        if tx.send(v).is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(tungstenite::Error::Io(e))
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) => {}
                    Err(e) => {
                        // Surfaces in Arrivals::add as an unexpected message type.
                        let _ = tx.send(serde_json::json!({"message_type": "collector_error", "error": e.to_string()}));
                        return;
                    }
                }
            }
        });
        Collector {
            rx,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// certificate_update messages grouped by `source.url`, indices in arrival order.
#[derive(Default)]
pub struct Arrivals {
    pub by_log: BTreeMap<String, Vec<u64>>,
    pub messages: BTreeMap<(String, u64), Value>,
    pub heartbeats: usize,
}

impl Arrivals {
    pub fn add(&mut self, v: Value) {
        match v["message_type"].as_str() {
            Some("certificate_update") => {
                let url = v["data"]["source"]["url"]
                    .as_str()
                    .expect("source.url")
                    .to_owned();
                let index = v["data"]["cert_index"].as_u64().expect("cert_index");
                self.by_log.entry(url.clone()).or_default().push(index);
                self.messages.entry((url, index)).or_insert(v);
            }
            Some("heartbeat") => self.heartbeats += 1,
            other => panic!("unexpected message_type {other:?}: {v}"),
        }
    }

    /// Whether log `url` has every index below `size`.
    pub fn complete(&self, url: &str, size: u64) -> bool {
        self.by_log.get(url).map_or(size == 0, |v| {
            v.len() as u64 >= size && v.iter().filter(|&&i| i < size).count() as u64 >= size
        })
    }
}

/// `AA:BB:..` fingerprint text → bytes.
pub fn colon_hex(s: &str) -> Vec<u8> {
    s.split(':')
        .map(|h| u8::from_str_radix(h, 16).expect("hex pair"))
        .collect()
}

/// The process's current VmRSS in KiB (0 once it is gone).
pub fn vm_rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Sum of the values of every /metrics line starting with `prefix`.
pub fn metric(text: &str, prefix: &str) -> u64 {
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// Every reading client got every index of every log once, in order.
pub fn assert_no_loss(report: &loadtest::bench::wsbench::WsBenchReport) {
    assert_eq!(report.errors_total, 0, "{:?}", report.errors);
    assert!(report.delivered_msgs > 0);
    assert_eq!(report.loss.clients_with_loss, 0, "{:?}", report.loss);
    assert_eq!(report.loss.missing_total, 0, "{:?}", report.loss);
    assert_eq!(report.loss.repeated_total, 0, "{:?}", report.loss);
    assert_eq!(report.loss.clients_disconnected, 0, "{:?}", report.loss);
    let gap = report.gap_check.as_ref().expect("gap check ran");
    assert!(
        gap.complete,
        "every client reached the final tree sizes: {gap:?}"
    );
    for log in &gap.logs {
        assert_eq!(
            (log.missing, log.repeated, log.clients_never_seen),
            (0, 0, 0),
            "{log:?}"
        );
    }
}
