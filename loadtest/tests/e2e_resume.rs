//! Resume without gaps: a client that reconnects with the last `cursor` it received gets
//! exactly what it missed, in order, then live; across a server kill -9 and restart too. A
//! position older than the store gets a `gap` message; bad `since` values get 400.
//!
//! A client treats each `cursor` message as a commit point: what it received after its last
//! cursor comes again after a reconnect (that is the protocol, see the README), so the checks
//! join what each connection received up to its last cursor.

mod common;

use std::{
    collections::BTreeMap,
    net::TcpStream,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use base64::Engine;
use common::Server;
use loadtest::sim::{self, SimConfig, SimHandle};
use serde_json::Value;
use sha2::Digest;
use tungstenite::{stream::MaybeTlsStream, Message, WebSocket};

/// Indices received per `source.url`, in arrival order.
type ByLog = BTreeMap<String, Vec<u64>>;

/// What one connection received up to its last cursor message.
#[derive(Debug, Default)]
struct Session {
    committed: ByLog,
    cursor: Option<String>,
    gaps: Vec<Value>,
    cursors_seen: usize,
    /// `/domains-only` messages (they carry no position) up to the last cursor.
    domains_committed: usize,
}

/// Connects, retrying as a real client would while the server answers 503 (its replay cap)
/// or is not there (restarting).
fn connect(url: &str) -> WebSocket<MaybeTlsStream<TcpStream>> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut ws, _) = loop {
        match tungstenite::connect(url) {
            Ok(ok) => break ok,
            Err(tungstenite::Error::Http(r)) if r.status() == 503 && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(200));
            }
            // Connection refused comes as a URL error ("unable to connect") from tungstenite.
            Err(tungstenite::Error::Io(_) | tungstenite::Error::Url(_))
                if Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => panic!("{url}: {e}"),
        }
    };
    if let MaybeTlsStream::Plain(s) = ws.get_mut() {
        s.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
    }
    ws
}

/// Reads `url` until `done` says so (or `limit` passes), keeping what came before the last
/// cursor.
fn read_session(url: &str, limit: Duration, done: impl Fn(&Session) -> bool) -> Session {
    let mut ws = connect(url);
    let mut session = Session::default();
    let mut pending: Vec<(String, u64)> = Vec::new();
    let mut pending_domains = 0;
    let until = Instant::now() + limit;
    while Instant::now() < until && !done(&session) {
        let text = match ws.read() {
            Ok(Message::Text(t)) => t,
            Ok(_) => continue,
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            // The server went away (killed): what came before the last cursor is kept.
            Err(_) => break,
        };
        let v: Value = serde_json::from_str(text.as_str()).expect("JSON");
        match v["message_type"].as_str() {
            Some("certificate_update") => {
                let source = v["data"]["source"]["url"].as_str().unwrap().to_owned();
                pending.push((source, v["data"]["cert_index"].as_u64().unwrap()));
            }
            Some("cursor") => {
                session.cursor = Some(v["data"]["cursor"].as_str().unwrap().to_owned());
                session.cursors_seen += 1;
                for (source, index) in pending.drain(..) {
                    session.committed.entry(source).or_default().push(index);
                }
                session.domains_committed += std::mem::take(&mut pending_domains);
            }
            Some("dns_entries") => pending_domains += 1,
            Some("gap") => session.gaps.push(v),
            Some("heartbeat") => {}
            other => panic!("unexpected message {other:?}: {v}"),
        }
    }
    let _ = ws.close(None);
    session
}

fn sim_with(seed: u64, rate: f64) -> SimHandle {
    sim::start(SimConfig {
        rfc6962_logs: 2,
        static_logs: 1,
        rate_per_sec: rate,
        initial_entries: 0,
        seed,
        ..SimConfig::default()
    })
    .expect("simulator starts")
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("certstream-resume-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn start(sim: &SimHandle, dir: &Path) -> Server {
    let args = start_args(dir, sim);
    Server::start(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// What [`Server::following`] passes, plus the state file and the store under `dir`.
fn start_args(dir: &Path, sim: &SimHandle) -> Vec<String> {
    [
        "--log-list",
        &sim.log_list_url,
        "--workers",
        "2",
        "--poll-interval-ms",
        "200",
        "--state-file",
        dir.join("state.json").to_str().unwrap(),
        "--replay-dir",
        dir.join("replay").to_str().unwrap(),
    ]
    .map(str::to_owned)
    .to_vec()
}

fn sizes(sim: &SimHandle) -> Vec<(String, u64)> {
    sim.logs()
        .iter()
        .map(|l| (l.listed_url.clone(), sim.tree_size(l.idx)))
        .collect()
}

/// Whether every log has reached its size in `received`.
fn caught_up(received: &ByLog, sizes: &[(String, u64)]) -> bool {
    sizes.iter().all(|(url, size)| {
        received
            .get(url)
            .and_then(|v| v.last())
            .is_some_and(|&i| i + 1 >= *size)
    })
}

/// Every log: indices from its first received one to its size, each once, in order.
fn assert_exactly_once(joined: &ByLog, sizes: &[(String, u64)]) {
    for (url, size) in sizes {
        let got = joined
            .get(url)
            .unwrap_or_else(|| panic!("nothing from {url}"));
        let first = got[0];
        let want: Vec<u64> = (first..*size).collect();
        assert_eq!(
            got, &want,
            "{url}: every index from {first} to {size} once, in order"
        );
    }
}

fn join(into: &mut ByLog, session: &Session) {
    for (url, v) in &session.committed {
        into.entry(url.clone()).or_default().extend(v);
    }
}

/// Pauses the logs, lets the server catch up, and returns the final sizes.
fn freeze(sim: &SimHandle) -> Vec<(String, u64)> {
    sim.pause_growth();
    std::thread::sleep(Duration::from_millis(1500));
    sizes(sim)
}

#[test]
fn a_client_that_reconnects_with_its_cursor_misses_nothing_and_sees_nothing_twice() {
    let sim = sim_with(71, 150.0);
    let dir = temp_dir("reconnect");
    let server = start(&sim, &dir);
    std::thread::sleep(Duration::from_secs(1));
    let mut joined = ByLog::new();
    let mut url = server.ws_url("/?resume");
    for round in 0..3 {
        let s = read_session(&url, Duration::from_millis(1500), |_| false);
        assert!(s.cursors_seen > 0, "round {round}: no cursor message");
        join(&mut joined, &s);
        // Away for a while: the logs grow meanwhile.
        std::thread::sleep(Duration::from_millis(1200));
        url = server.ws_url(&format!("/?since={}", s.cursor.unwrap()));
    }
    let sizes = freeze(&sim);
    let last = read_session(&url, Duration::from_secs(30), |s| {
        caught_up(&s.committed, &sizes)
    });
    assert!(
        last.gaps.is_empty(),
        "no gap within retention: {:?}",
        last.gaps
    );
    join(&mut joined, &last);
    assert_exactly_once(&joined, &sizes);
    // Away for a second or two: the replays came from the store's memory tier.
    let (_, metrics) = server.http_get("/metrics");
    let from_memory = common::metric(&metrics, "certstream_replayed_from_memory_frames_total");
    assert!(from_memory > 0, "{metrics}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_cursor_taken_before_a_kill_9_resumes_after_the_restart_with_nothing_lost_or_repeated() {
    let sim = sim_with(72, 150.0);
    let dir = temp_dir("kill9");
    let mut first = start(&sim, &dir);
    std::thread::sleep(Duration::from_secs(1));
    let s1 = read_session(
        &first.ws_url("/full-stream?resume"),
        Duration::from_secs(2),
        |_| false,
    );
    // The state file is saved every 5 s: the kill lands between saves, so the restarted server
    // fetches again entries the store already holds.
    std::thread::sleep(Duration::from_millis(3000));
    first.signal(9);
    std::thread::sleep(Duration::from_millis(500));
    let second = start(&sim, &dir);
    std::thread::sleep(Duration::from_millis(1000));
    let sizes = freeze(&sim);
    let url = second.ws_url(&format!(
        "/full-stream?since={}",
        s1.cursor.clone().expect("a cursor")
    ));
    let s2 = read_session(&url, Duration::from_secs(30), |s| {
        caught_up(&s.committed, &sizes)
    });
    assert!(s2.gaps.is_empty(), "{:?}", s2.gaps);
    let mut joined = ByLog::new();
    join(&mut joined, &s1);
    join(&mut joined, &s2);
    assert_exactly_once(&joined, &sizes);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A token built by hand from the documented format: log key = first 8 bytes of SHA-256 of
/// `source.url`, next index as LEB128.
fn token(watermark_us: u64, logs: &[(&str, u64)]) -> String {
    fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    let mut keyed: Vec<([u8; 8], u64)> = logs
        .iter()
        .map(|(url, next)| {
            let digest = sha2::Sha256::digest(url.as_bytes());
            (digest[..8].try_into().unwrap(), *next)
        })
        .collect();
    keyed.sort();
    let mut raw = vec![1u8];
    varint(&mut raw, watermark_us);
    varint(&mut raw, keyed.len() as u64);
    for (key, next) in keyed {
        raw.extend_from_slice(&key);
        varint(&mut raw, next);
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

#[test]
fn a_position_older_than_the_store_gets_a_gap_message_then_everything_held() {
    // The logs hold 300 entries before the server starts: it follows from their heads, so the
    // store never had 0..300.
    let sim = sim::start(SimConfig {
        rfc6962_logs: 1,
        static_logs: 0,
        rate_per_sec: 50.0,
        initial_entries: 300,
        seed: 73,
        ..SimConfig::default()
    })
    .expect("simulator starts");
    let dir = temp_dir("gap");
    let server = start(&sim, &dir);
    std::thread::sleep(Duration::from_secs(2));
    let sizes = freeze(&sim);
    let (url, size) = sizes[0].clone();
    let since = token(0, &[(&url, 10)]);
    let s = read_session(
        &server.ws_url(&format!("/?since={since}")),
        Duration::from_secs(20),
        |s| caught_up(&s.committed, &sizes),
    );
    let got = &s.committed[&url];
    let first = got[0];
    assert!(
        first >= 300,
        "the store starts where the server started: {first}"
    );
    assert_eq!(s.gaps.len(), 1, "{:?}", s.gaps);
    assert_eq!(s.gaps[0]["data"]["first_missing"], 10);
    assert_eq!(s.gaps[0]["data"]["first_sent"], first);
    assert_eq!(s.gaps[0]["data"]["url"], url.as_str());
    assert_eq!(got, &(first..size).collect::<Vec<_>>());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn since_a_time_replays_what_was_first_seen_from_then() {
    let sim = sim_with(74, 100.0);
    let dir = temp_dir("time");
    let server = start(&sim, &dir);
    std::thread::sleep(Duration::from_secs(2));
    let sizes = freeze(&sim);
    // Everything, from before the server started.
    let s = read_session(
        &server.ws_url("/?since=2020-01-01T00:00:00Z"),
        Duration::from_secs(20),
        |s| caught_up(&s.committed, &sizes),
    );
    assert!(s.gaps.is_empty());
    for (url, size) in &sizes {
        assert_eq!(s.committed[url], (0..*size).collect::<Vec<_>>(), "{url}");
    }
    // The same on /domains-only: one message per entry.
    let total: u64 = sizes.iter().map(|(_, size)| size).sum();
    let s = read_session(
        &server.ws_url("/domains-only?since=2020-01-01T00:00:00Z"),
        Duration::from_secs(20),
        |s| s.domains_committed as u64 >= total,
    );
    assert_eq!(s.domains_committed as u64, total);
    // A time after everything: nothing replayed, and live goes on.
    let s = read_session(
        &server.ws_url("/?since=2099-01-01T00:00:00Z"),
        Duration::from_secs(2),
        |_| false,
    );
    assert!(s.committed.is_empty(), "{:?}", s.committed);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_since_values_and_replay_without_a_store_get_400_with_the_reason() {
    let sim = sim_with(75, 10.0);
    let dir = temp_dir("bad");
    let server = start(&sim, &dir);
    for (query, why) in [
        ("since=!!!", "invalid resume token"),
        ("since=2026-13-01T00:00:00Z", "RFC 3339"),
        ("since=AQ", "bad watermark"),
        ("resume&keyword=bank", "cannot be combined with filters"),
    ] {
        let (code, body) = upgrade_status(&server, &format!("/?{query}"));
        assert_eq!(code, 400, "{query}: {body}");
        assert!(body.contains(why), "{query}: {body}");
    }
    let plain = Server::following(&sim.log_list_url, &[]);
    let (code, body) = upgrade_status(&plain, &format!("/?since={}", token(0, &[])));
    assert_eq!(code, 400);
    assert!(body.contains("--replay-dir"), "{body}");
    // `?resume` alone works without a store: cursors, no replay.
    let s = read_session(&plain.ws_url("/?resume"), Duration::from_secs(3), |s| {
        s.cursors_seen > 0
    });
    assert!(s.cursors_seen > 0);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Sends a WebSocket upgrade for `path` and returns the status and body of the answer.
fn upgrade_status(server: &Server, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let code = out
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    (code, body)
}

/// One client's life: connect, read a while, drop the connection, stay away, reconnect with
/// the last cursor; until `until`, then once more until every log is caught up to `sizes`.
fn flaky_client(
    server_url: String,
    seed: u64,
    until: Instant,
    sizes: std::sync::mpsc::Receiver<Vec<(String, u64)>>,
) -> (ByLog, usize) {
    let mut rng = seed;
    let mut next = move |lo: u64, hi: u64| {
        // xorshift: deterministic per client.
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        lo + rng % (hi - lo + 1)
    };
    let mut joined = ByLog::new();
    let mut url = format!("{server_url}/?resume");
    let mut gaps = 0;
    while Instant::now() < until {
        let s = read_session(&url, Duration::from_millis(next(500, 3000)), |_| false);
        gaps += s.gaps.len();
        join(&mut joined, &s);
        if let Some(cursor) = s.cursor {
            url = format!("{server_url}/?since={cursor}");
        }
        std::thread::sleep(Duration::from_millis(next(
            1000,
            1000 * knob("AWAY_MAX_SECS", 5),
        )));
    }
    let sizes = sizes.recv().expect("final sizes");
    let s = read_session(&url, Duration::from_secs(60), |s| {
        sizes.iter().all(|(log, size)| {
            let last = |by: &ByLog| by.get(log).and_then(|v| v.last()).copied();
            last(&s.committed)
                .or(last(&joined))
                .is_some_and(|i| i + 1 >= *size)
        })
    });
    gaps += s.gaps.len();
    join(&mut joined, &s);
    (joined, gaps)
}

/// The 50-client test's scale, `RESUME_E2E_<NAME>` in the environment (the defaults keep it
/// under a minute in a debug build; the full scale, a release run at R = 1000 with
/// clients away 1 to 20 s for two minutes, is
/// `RESUME_E2E_RATE=1000 RESUME_E2E_AWAY_MAX_SECS=20 RESUME_E2E_SECS=120 cargo test --release
/// -p loadtest --test e2e_resume fifty -- --nocapture`).
fn knob(name: &str, default: u64) -> u64 {
    std::env::var(format!("RESUME_E2E_{name}"))
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn fifty_clients_dropping_and_resuming_at_random_each_get_every_entry_exactly_once() {
    fifty_flaky_clients("fifty", 76, false);
}

#[test]
fn fifty_resuming_clients_lose_nothing_and_see_nothing_twice_across_a_kill_9_of_the_server() {
    fifty_flaky_clients("fifty-kill", 78, true);
}

/// 50 clients drop and resume at random; with `kill`, the server is killed with SIGKILL in the
/// middle and restarted on the same port, state file and store.
fn fifty_flaky_clients(name: &str, seed: u64, kill: bool) {
    let sim = sim_with(seed, knob("RATE", 250) as f64);
    let dir = temp_dir(name);
    let mut server = start(&sim, &dir);
    std::thread::sleep(Duration::from_secs(1));
    let base = format!("ws://{}", server.addr);
    let secs = knob("SECS", 15);
    let until = Instant::now() + Duration::from_secs(secs);
    let clients: Vec<_> = (0..50u64)
        .map(|i| {
            let (tx, rx) = std::sync::mpsc::channel();
            let base = base.clone();
            let handle =
                std::thread::spawn(move || flaky_client(base, 0x9E37_79B9 + i * 7919, until, rx));
            (tx, handle)
        })
        .collect();
    if kill {
        std::thread::sleep(Duration::from_secs(secs / 2));
        server.signal(9);
        let listen = server.addr.to_string();
        let args = start_args(&dir, &sim);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        server = Server::start_listening(&args, &[], &listen);
    }
    std::thread::sleep(until.saturating_duration_since(Instant::now()));
    let sizes = freeze(&sim);
    let frozen = Instant::now();
    for (tx, _) in &clients {
        tx.send(sizes.clone()).unwrap();
    }
    let mut delivered = 0;
    for (i, (_, handle)) in clients.into_iter().enumerate() {
        let (joined, gaps) = handle.join().expect("client thread");
        delivered += joined.values().map(Vec::len).sum::<usize>();
        eprintln!("client {i} done {:?} after the freeze", frozen.elapsed());
        assert_eq!(gaps, 0, "client {i}: no gap within retention");
        assert_exactly_once(&joined, &sizes);
    }
    let total: u64 = sizes.iter().map(|(_, s)| s).sum();
    eprintln!(
        "50 clients: {delivered} entries delivered exactly once in order ({total} in the logs), \
         last client caught up {:?} after the logs stopped",
        frozen.elapsed()
    );
    // The (restarted) server lives until every client is checked.
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The segment files of the store under `replay`, oldest first.
fn segments(replay: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(replay)
        .unwrap()
        .flatten()
        .filter(|d| d.path().is_dir())
        .flat_map(|d| {
            std::fs::read_dir(d.path())
                .unwrap()
                .flatten()
                .map(|f| f.path())
        })
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    out.sort();
    out
}

#[test]
fn a_flipped_byte_in_the_store_is_never_served_and_the_lost_range_is_a_gap() {
    let sim = sim::start(SimConfig {
        rfc6962_logs: 1,
        static_logs: 0,
        rate_per_sec: 100.0,
        initial_entries: 0,
        seed: 77,
        ..SimConfig::default()
    })
    .expect("simulator starts");
    let dir = temp_dir("flip");
    let mut first = start(&sim, &dir);
    std::thread::sleep(Duration::from_secs(3));
    assert!(first.terminate().expect("exits").success());
    let segs = segments(&dir.join("replay"));
    assert_eq!(segs.len(), 1, "{segs:?}");
    let mut bytes = std::fs::read(&segs[0]).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x40;
    std::fs::write(&segs[0], &bytes).unwrap();
    let second = start(&sim, &dir);
    std::thread::sleep(Duration::from_secs(1));
    let sizes = freeze(&sim);
    let (url, size) = sizes[0].clone();
    let since = token(0, &[(&url, 0)]);
    let s = read_session(
        &second.ws_url(&format!("/full-stream?since={since}")),
        Duration::from_secs(20),
        |s| caught_up(&s.committed, &sizes),
    );
    // Everything served parsed as JSON (read_session insists); the damage is one gap.
    assert_eq!(s.gaps.len(), 1, "{:?}", s.gaps);
    let (missing, sent) = (
        s.gaps[0]["data"]["first_missing"].as_u64().unwrap(),
        s.gaps[0]["data"]["first_sent"].as_u64().unwrap(),
    );
    assert!(missing > 0 && sent > missing, "{:?}", s.gaps[0]);
    let got = &s.committed[&url];
    let want: Vec<u64> = (0..missing).chain(sent..size).collect();
    assert_eq!(got, &want);
    // /health/deep names the damaged range the store found.
    let (code, body) = second.http_get("/health/deep");
    assert_eq!(code, 200);
    let health: Value = serde_json::from_str(&body).unwrap();
    let log = health["logs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["url"] == url.as_str())
        .unwrap();
    let corrupt = &log["replay_store"]["corrupt"][0];
    assert_eq!(corrupt[0].as_u64(), Some(missing), "{log}");
    assert!(corrupt[1].as_u64().unwrap() <= sent, "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_kill_9_during_a_full_speed_backfill_leaves_a_store_that_serves_every_entry_once() {
    // The logs hold 6000 entries; the server backfills them at full speed, writing the store
    // as fast as it can, and is killed mid-way (twice), then restarted on the same state file
    // and store.
    let sim = sim::start(SimConfig {
        rfc6962_logs: 2,
        static_logs: 1,
        rate_per_sec: 0.0,
        initial_entries: 2000,
        seed: 79,
        ..SimConfig::default()
    })
    .expect("simulator starts");
    let dir = temp_dir("backfill-kill");
    let mut args = start_args(&dir, &sim);
    args.extend(["--backfill".to_owned(), "all".to_owned()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    for after_ms in [700, 900] {
        let mut server = Server::start(&args);
        std::thread::sleep(Duration::from_millis(after_ms));
        server.signal(9);
    }
    let server = Server::start(&args);
    let sizes = sizes(&sim);
    let s = read_session(
        &server.ws_url("/?since=2020-01-01T00:00:00Z"),
        Duration::from_secs(60),
        |s| caught_up(&s.committed, &sizes),
    );
    assert!(s.gaps.is_empty(), "{:?}", s.gaps);
    for (url, size) in &sizes {
        assert_eq!(s.committed[url], (0..*size).collect::<Vec<_>>(), "{url}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
