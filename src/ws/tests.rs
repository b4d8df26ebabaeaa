//! Server-level tests: a real glommio executor on its own thread serving 127.0.0.1:0, std
//! clients (tungstenite or raw sockets) on test threads, frames built with `frame::encode`.

use std::{
    io::{Read, Write},
    net::TcpStream as StdStream,
    rc::Rc,
    sync::{
        atomic::{AtomicU64, Ordering},
        mpsc, Arc,
    },
    thread,
    time::{Duration, Instant},
};

use glommio::{LocalExecutorBuilder, Placement};
use tungstenite::{Message, WebSocket};

use super::*;
use crate::frame::{encode, Frames, OPCODE_TEXT};

pub(super) const IO_TIMEOUT: Duration = Duration::from_secs(20);
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

// ---- harness ------------------------------------------------------------------------------

enum Cmd {
    /// Publish every frame, then flush once (one burst).
    Publish(Vec<Arc<Frames>>),
    Snapshot(mpsc::Sender<WsMetricsSnapshot>),
}

pub(super) struct TestServer {
    pub(super) port: u16,
    cmds: Option<mpsc::Sender<Cmd>>,
    thread: Option<glommio::ExecutorJoinHandle<()>>,
}

impl TestServer {
    fn start(config: WsConfig, hub_history: usize) -> Self {
        Self::start_on(0, config, hub_history)
    }

    /// Serves `port` (0: any free port). SO_REUSEPORT lets a second core bind the port the
    /// first one got.
    fn start_on(port: u16, config: WsConfig, hub_history: usize) -> Self {
        let access = AccessSource::new(AccessSettings::default());
        Self::start_with_access(port, config, hub_history, access)
    }

    /// Serves `port` with tokens, limits and TLS from `access` (publish there to reload).
    pub(super) fn start_with_access(
        port: u16,
        config: WsConfig,
        hub_history: usize,
        access: Arc<AccessSource>,
    ) -> Self {
        let (port_tx, port_rx) = mpsc::channel();
        let (cmd_tx, cmd_rx) = mpsc::channel::<Cmd>();
        let thread = LocalExecutorBuilder::new(Placement::Unbound)
            .name("ws-test")
            .spawn(move || async move {
                let listener = glommio::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
                port_tx.send(listener.local_addr().unwrap().port()).unwrap();
                let hub = Rc::new(Hub::new(hub_history, crate::limits::LATEST_MESSAGES));
                let ctx = Rc::new(ServerContext::new(Rc::clone(&hub), config).with_access(access));
                let _server = glommio::spawn_local(serve(listener, Rc::clone(&ctx)));
                loop {
                    match cmd_rx.try_recv() {
                        Ok(Cmd::Publish(frames)) => {
                            for f in frames {
                                hub.publish(f);
                            }
                            hub.flush();
                        }
                        Ok(Cmd::Snapshot(reply)) => {
                            let _ = reply.send(ctx.snapshot());
                        }
                        Err(mpsc::TryRecvError::Empty) => {
                            glommio::timer::sleep(Duration::from_millis(1)).await;
                        }
                        Err(mpsc::TryRecvError::Disconnected) => break,
                    }
                }
            })
            .unwrap();
        let port = port_rx.recv_timeout(IO_TIMEOUT).unwrap();
        Self {
            port,
            cmds: Some(cmd_tx),
            thread: Some(thread),
        }
    }

    fn default_config() -> Self {
        Self::start(quiet_config(), crate::limits::HUB_HISTORY_FRAMES)
    }

    pub(super) fn publish(&self, frames: Vec<Arc<Frames>>) {
        self.cmds
            .as_ref()
            .unwrap()
            .send(Cmd::Publish(frames))
            .unwrap();
    }

    pub(super) fn snapshot(&self) -> WsMetricsSnapshot {
        let (tx, rx) = mpsc::channel();
        self.cmds.as_ref().unwrap().send(Cmd::Snapshot(tx)).unwrap();
        rx.recv_timeout(IO_TIMEOUT).unwrap()
    }

    /// Polls the counters until `done` holds; panics with the last snapshot on timeout.
    pub(super) fn wait_for(
        &self,
        what: &str,
        done: impl Fn(&WsMetricsSnapshot) -> bool,
    ) -> WsMetricsSnapshot {
        let deadline = Instant::now() + IO_TIMEOUT;
        loop {
            let snap = self.snapshot();
            if done(&snap) {
                return snap;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {snap:?}"
            );
            thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.cmds.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Defaults, with the heartbeat pushed out of the way of frame-counting tests.
pub(super) fn quiet_config() -> WsConfig {
    WsConfig {
        heartbeat_interval: Duration::from_secs(3600),
        ..WsConfig::default()
    }
}

pub(super) fn payload(form: &str, i: usize, pad: usize) -> String {
    let kind = if form == "domains" {
        "dns_entries"
    } else {
        "certificate_update"
    };
    format!(
        "{{\"message_type\":\"{kind}\",\"form\":\"{form}\",\"i\":{i},\"pad\":\"{}\"}}",
        "x".repeat(pad)
    )
}

fn frames(i: usize, pad: usize) -> Arc<Frames> {
    Arc::new(Frames {
        lite: encode(OPCODE_TEXT, payload("lite", i, pad).as_bytes()),
        full: encode(OPCODE_TEXT, payload("full", i, pad).as_bytes()),
        domains: encode(OPCODE_TEXT, payload("domains", i, pad).as_bytes()),
        meta: Default::default(),
    })
}

pub(super) fn batch(range: std::ops::Range<usize>, pad: usize) -> Vec<Arc<Frames>> {
    range.map(|i| frames(i, pad)).collect()
}

pub(super) fn index_of(text: &str) -> usize {
    let start = text.find("\"i\":").expect("index field") + 4;
    let end = start + text[start..].find(',').expect("index end");
    text[start..end].parse().expect("index number")
}

fn connect_raw(port: u16) -> StdStream {
    let stream = StdStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream
}

pub(super) fn ws_client(port: u16, path: &str) -> WebSocket<StdStream> {
    let url = format!("ws://127.0.0.1:{port}{path}");
    let (ws, response) = tungstenite::client(url.as_str(), connect_raw(port)).unwrap();
    assert_eq!(response.status(), 101);
    ws
}

/// Next text message, skipping pings/pongs.
pub(super) fn next_text<S: Read + Write>(ws: &mut WebSocket<S>) -> String {
    loop {
        match ws.read().unwrap() {
            Message::Text(text) => return text.as_str().to_owned(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected message {other:?}"),
        }
    }
}

/// Sends `request` and reads the whole response (the server closes after it).
fn http(port: u16, request: &[u8]) -> (u16, String, Vec<u8>) {
    let mut stream = connect_raw(port);
    stream.write_all(request).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("response head")
        + 4;
    let head = String::from_utf8(raw[..end].to_vec()).unwrap();
    let code = head[9..12].parse().unwrap();
    (code, head, raw[end..].to_vec())
}

fn get(port: u16, path: &str) -> (u16, String, Vec<u8>) {
    http(
        port,
        format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes(),
    )
}

/// Raw upgrade; returns the socket positioned after the 101 head.
fn raw_upgrade(port: u16, path: &str, after_head: &[u8]) -> StdStream {
    let mut stream = connect_raw(port);
    let mut request = format!(
        "GET {path} HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .into_bytes();
    request.extend_from_slice(after_head);
    stream.write_all(&request).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    assert!(
        head.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
        "{head}"
    );
    stream
}

/// A masked client frame, as a real client would send it (shared by the ws unit tests).
pub(crate) fn client_frame(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
    let mask = [0xa1, 0xb2, 0xc3, 0xd4];
    let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n if n <= 0xffff => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// Reads one server frame: (first byte, payload). Server frames are never masked.
fn read_frame(stream: &mut StdStream) -> (u8, Vec<u8>) {
    let mut head = [0u8; 2];
    stream.read_exact(&mut head).unwrap();
    assert_eq!(head[1] & 0x80, 0, "server frames are unmasked");
    let len = match head[1] & 0x7f {
        126 => {
            let mut b = [0u8; 2];
            stream.read_exact(&mut b).unwrap();
            u16::from_be_bytes(b) as usize
        }
        127 => {
            let mut b = [0u8; 8];
            stream.read_exact(&mut b).unwrap();
            u64::from_be_bytes(b) as usize
        }
        n => n as usize,
    };
    let mut payload = vec![0u8; len];
    stream.read_exact(&mut payload).unwrap();
    (head[0], payload)
}

/// Reads frames until a close frame; returns its code. Then expects EOF.
fn expect_close(stream: &mut StdStream) -> u16 {
    loop {
        let (first, payload) = read_frame(stream);
        if first == 0x88 {
            let code = u16::from_be_bytes([payload[0], payload[1]]);
            let mut rest = Vec::new();
            // The server half-closes after its close frame.
            let _ = stream.read_to_end(&mut rest);
            assert!(rest.is_empty(), "bytes after close: {rest:?}");
            return code;
        }
    }
}

// ---- HTTP endpoints -------------------------------------------------------------------------

#[test]
fn every_http_endpoint_and_status_code() {
    let srv = TestServer::default_config();
    let port = srv.port;

    let (code, head, body) = get(port, "/");
    assert_eq!(code, 200);
    assert!(head.contains("Content-Type: text/html"), "{head}");
    let html = String::from_utf8(body).unwrap();
    for endpoint in [
        "/full-stream",
        "/domains-only",
        "/latest.json",
        "/example.json",
    ] {
        assert!(html.contains(endpoint), "index names {endpoint}");
    }
    assert_eq!(get(port, "/health").2, b"OK");
    let (code, head, body) = get(port, "/metrics");
    assert_eq!(code, 200);
    assert!(head.contains("text/plain; version=0.0.4"), "{head}");
    assert!(String::from_utf8(body)
        .unwrap()
        .contains("certstream_ws_clients{stream=\"lite\"} 0"));

    // Before any certificate.
    assert_eq!(
        get(port, "/example.json"),
        (200, get(port, "/example.json").1, b"{}".to_vec())
    );
    assert_eq!(get(port, "/latest.json").2, b"{\"messages\":[]}");

    srv.publish(batch(0..30, 3));
    srv.wait_for("30 published", |s| s.hub_published == 30);
    assert_eq!(
        get(port, "/example.json").2,
        payload("lite", 29, 3).as_bytes()
    );
    assert_eq!(
        get(port, "/full-stream/example.json").2,
        payload("full", 29, 3).as_bytes()
    );
    assert_eq!(
        get(port, "/domains-only/example.json").2,
        payload("domains", 29, 3).as_bytes()
    );
    let latest: Vec<String> = (5..30).rev().map(|i| payload("lite", i, 3)).collect();
    let want = format!("{{\"messages\":[{}]}}", latest.join(","));
    let (code, head, body) = get(port, "/latest.json");
    assert_eq!(code, 200);
    assert!(head.contains("Content-Type: application/json"));
    assert_eq!(String::from_utf8(body).unwrap(), want);

    assert_eq!(get(port, "/nope").0, 404);
    let (code, head, _) = http(port, b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(code, 405);
    assert!(head.contains("Allow: GET"));
    assert_eq!(http(port, b"BREW /\r\n\r\n").0, 400);

    let snap = srv.snapshot();
    assert_eq!(snap.http_responses(200), 10);
    assert_eq!(
        snap.handshake_failures(HandshakeFailure::MalformedRequest),
        1
    );
}

#[test]
fn upgrade_rejections_answer_400_426_431() {
    let srv = TestServer::default_config();
    let port = srv.port;
    let upgrade = |extra: &str| {
        http(
            port,
            format!("GET / HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n{extra}\r\n")
                .as_bytes(),
        )
    };
    let (code, head, _) = upgrade(&format!(
        "Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 8\r\n"
    ));
    assert_eq!(code, 426);
    assert!(head.contains("Sec-WebSocket-Version: 13\r\n"), "{head}");
    assert_eq!(
        upgrade("Sec-WebSocket-Version: 13\r\n").0,
        400,
        "missing key"
    );
    assert_eq!(
        upgrade("Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: c2hvcnQ=\r\n").0,
        400,
        "bad key"
    );
    let no_conn = format!(
        "GET /full-stream HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nSec-WebSocket-Key: {KEY}\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n"
    );
    assert_eq!(
        http(port, no_conn.as_bytes()).0,
        400,
        "missing Connection: upgrade"
    );

    // A head over the byte bound, still being uploaded when the server answers.
    let huge = format!("GET / HTTP/1.1\r\nX-Big: {}\r\n\r\n", "a".repeat(20_000));
    assert_eq!(http(port, huge.as_bytes()).0, 431);
    let many: String = (0..40).map(|i| format!("X-{i}: v\r\n")).collect();
    assert_eq!(
        http(port, format!("GET / HTTP/1.1\r\n{many}\r\n").as_bytes()).0,
        431
    );

    let snap = srv.snapshot();
    assert_eq!(
        snap.handshake_failures(HandshakeFailure::UnsupportedVersion),
        1
    );
    assert_eq!(snap.handshake_failures(HandshakeFailure::BadUpgrade), 3);
    assert_eq!(snap.handshake_failures(HandshakeFailure::HeadTooLarge), 2);
    assert_eq!(snap.clients_total(), 0);
}

#[test]
fn slowloris_head_is_closed_after_the_deadline() {
    let config = WsConfig {
        request_head_timeout: Duration::from_millis(300),
        ..quiet_config()
    };
    let srv = TestServer::start(config, 64);
    let mut stream = connect_raw(srv.port);
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: t\r\nX-Slow:")
        .unwrap();
    let started = Instant::now();
    let mut rest = Vec::new();
    let read = stream.read_to_end(&mut rest);
    let elapsed = started.elapsed();
    assert!(read.is_ok() || rest.is_empty(), "{read:?}");
    assert!(rest.is_empty(), "no answer for a head that never ended");
    assert!(
        elapsed >= Duration::from_millis(250),
        "closed too early: {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_secs(5),
        "closed too late: {elapsed:?}"
    );
    srv.wait_for("timeout counted", |s| {
        s.handshake_failures(HandshakeFailure::Timeout) == 1
    });
}

// ---- streams --------------------------------------------------------------------------------

#[test]
fn each_stream_receives_exactly_its_form() {
    let srv = TestServer::default_config();
    let mut lite = ws_client(srv.port, "/");
    let mut full = ws_client(srv.port, "/full-stream/");
    let mut domains = ws_client(srv.port, "/domains-only");
    srv.wait_for("3 clients", |s| s.clients_total() == 3);
    let snap = srv.snapshot();
    assert_eq!(
        (
            snap.clients(StreamKind::Lite),
            snap.clients(StreamKind::Full),
            snap.clients(StreamKind::Domains)
        ),
        (1, 1, 1)
    );
    srv.publish(batch(0..5, 1));
    for i in 0..5 {
        assert_eq!(next_text(&mut lite), payload("lite", i, 1));
        assert_eq!(next_text(&mut full), payload("full", i, 1));
        assert_eq!(next_text(&mut domains), payload("domains", i, 1));
    }
}

#[test]
fn a_thousand_frames_reach_fifty_clients_in_order_with_coalesced_writes() {
    const CLIENTS: usize = 50;
    const FRAMES: usize = 1000;
    let srv = TestServer::default_config();
    let port = srv.port;
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let path = ["/", "/full-stream", "/domains-only"][c % 3];
            let form = ["lite", "full", "domains"][c % 3];
            let mut ws = ws_client(port, path);
            thread::spawn(move || {
                for i in 0..FRAMES {
                    assert_eq!(next_text(&mut ws), payload(form, i, 20), "client {c}");
                }
            })
        })
        .collect();
    srv.wait_for("50 clients", |s| s.clients_total() == CLIENTS as u64);
    let before = srv.snapshot();
    srv.publish(batch(0..FRAMES, 20));
    for client in clients {
        client.join().unwrap();
    }
    let after = srv.wait_for("all frames counted", |s| {
        s.frames_sent == (CLIENTS * FRAMES) as u64
    });
    let writes = after.writes - before.writes;
    // One burst, one flush: each client needs about one send, not one per frame.
    assert!(
        writes <= (CLIENTS * 4) as u64,
        "{writes} sends for {} frames",
        CLIENTS * FRAMES
    );
    assert!(writes >= CLIENTS as u64);
    assert_eq!(after.dropped(DropReason::ClientQueueFull), 0);
}

#[test]
fn two_cores_share_the_port_and_each_fans_out_its_own_hub() {
    let first = TestServer::default_config();
    let second = TestServer::start_on(first.port, quiet_config(), 64);
    assert_eq!(second.port, first.port);
    let mut clients: Vec<_> = (0..20).map(|_| ws_client(first.port, "/")).collect();
    let deadline = Instant::now() + IO_TIMEOUT;
    let (a, b) = loop {
        let (a, b) = (
            first.snapshot().clients_total(),
            second.snapshot().clients_total(),
        );
        if a + b == 20 || Instant::now() > deadline {
            break (a, b);
        }
        thread::sleep(Duration::from_millis(5));
    };
    assert_eq!(a + b, 20);
    assert!(a > 0 && b > 0, "the kernel spread the accepts: {a}/{b}");
    // Each core publishes the same certificates, as the runtime's rings would make it.
    first.publish(batch(0..10, 2));
    second.publish(batch(0..10, 2));
    for ws in &mut clients {
        for i in 0..10 {
            assert_eq!(next_text(ws), payload("lite", i, 2));
        }
    }
}

#[test]
fn a_burst_larger_than_the_history_skips_sleeping_clients_instead_of_closing_them() {
    let config = WsConfig {
        client_queue_frames_max: 100,
        ..quiet_config()
    };
    let srv = TestServer::start(config, 200);
    let mut ws = ws_client(srv.port, "/");
    srv.wait_for("client", |s| s.clients_total() == 1);
    srv.publish(batch(0..500, 0));
    // The newest queue's worth of the burst, in order, then the stream goes on.
    for i in 400..500 {
        assert_eq!(next_text(&mut ws), payload("lite", i, 0));
    }
    srv.publish(batch(500..501, 0));
    assert_eq!(next_text(&mut ws), payload("lite", 500, 0));
    let snap = srv.snapshot();
    assert_eq!(snap.dropped(DropReason::ClientQueueFull), 400);
    assert_eq!(snap.clients_total(), 1);
    assert_eq!(snap.closed(CloseReason::HistoryOverrun), 0);
}

#[test]
fn config_defaults_validate_and_bad_knobs_are_named() {
    let history = crate::limits::HUB_HISTORY_FRAMES;
    assert_eq!(WsConfig::default().validate(history), Ok(()));
    let zero = WsConfig {
        lag_check_interval: Duration::ZERO,
        ..WsConfig::default()
    };
    assert_eq!(
        zero.validate(history),
        Err(WsConfigError::ZeroDuration("lag_check_interval"))
    );
    let big = WsConfig {
        client_queue_frames_max: history,
        ..WsConfig::default()
    };
    assert!(matches!(
        big.validate(history),
        Err(WsConfigError::QueueNotBelowHistory { .. })
    ));
}

// ---- client frames --------------------------------------------------------------------------

#[test]
fn ping_gets_pong_and_client_close_gets_a_close_reply() {
    let srv = TestServer::default_config();
    let mut ws = ws_client(srv.port, "/");
    ws.send(Message::Ping(b"hi".to_vec().into())).unwrap();
    match ws.read().unwrap() {
        Message::Pong(data) => assert_eq!(&data[..], b"hi"),
        other => panic!("expected pong, got {other:?}"),
    }
    ws.close(None).unwrap();
    loop {
        match ws.read() {
            Ok(Message::Close(_)) | Ok(_) => continue,
            Err(tungstenite::Error::ConnectionClosed) => break,
            Err(err) => panic!("close handshake failed: {err}"),
        }
    }
    srv.wait_for("client close counted", |s| {
        s.closed(CloseReason::ClientClose) == 1
    });
}

#[test]
fn frames_sent_with_the_upgrade_request_are_processed() {
    let srv = TestServer::default_config();
    let mut stream = raw_upgrade(srv.port, "/", &client_frame(0x9, true, b"early"));
    assert_eq!(read_frame(&mut stream), (0x8a, b"early".to_vec()));
    stream
        .write_all(&client_frame(0x8, true, &1000u16.to_be_bytes()))
        .unwrap();
    assert_eq!(expect_close(&mut stream), 1000);
}

#[test]
fn protocol_violations_close_with_1002_1007_1009() {
    let srv = TestServer::default_config();
    let mut unmasked = raw_upgrade(srv.port, "/", &[]);
    unmasked.write_all(&[0x81, 0x02, b'h', b'i']).unwrap();
    assert_eq!(expect_close(&mut unmasked), 1002);

    let mut utf8 = raw_upgrade(srv.port, "/full-stream", &[]);
    utf8.write_all(&client_frame(0x1, true, &[b'a', 0xc3, 0x28]))
        .unwrap();
    assert_eq!(expect_close(&mut utf8), 1007);

    let mut big = raw_upgrade(srv.port, "/domains-only", &[]);
    big.write_all(&client_frame(0x2, true, &vec![7u8; 64 * 1024 + 1]))
        .unwrap();
    assert_eq!(expect_close(&mut big), 1009);

    let snap = srv.wait_for("3 closes", |s| s.clients_total() == 0);
    assert_eq!(snap.closed(CloseReason::ProtocolError), 1);
    assert_eq!(snap.closed(CloseReason::InvalidUtf8), 1);
    assert_eq!(snap.closed(CloseReason::MessageTooBig), 1);
}

#[test]
fn fragmented_message_is_ignored_and_the_stream_continues() {
    let srv = TestServer::default_config();
    let mut stream = raw_upgrade(srv.port, "/", &[]);
    let mut bytes = client_frame(0x1, false, b"frag");
    bytes.extend(client_frame(0x0, false, b"men"));
    bytes.extend(client_frame(0x0, true, b"ted"));
    bytes.extend(client_frame(0x2, true, &[1, 2, 3]));
    bytes.extend(client_frame(0x9, true, b"sync"));
    stream.write_all(&bytes).unwrap();
    // The pong proves every frame before it was consumed without closing the session.
    assert_eq!(read_frame(&mut stream), (0x8a, b"sync".to_vec()));
    srv.publish(batch(0..2, 0));
    for i in 0..2 {
        assert_eq!(
            read_frame(&mut stream),
            (0x81, payload("lite", i, 0).into_bytes())
        );
    }
    assert_eq!(srv.snapshot().clients_total(), 1);
}

// ---- heartbeat ------------------------------------------------------------------------------

#[test]
fn heartbeat_and_ping_arrive_and_silent_clients_stay() {
    let config = WsConfig {
        heartbeat_interval: Duration::from_millis(100),
        ..WsConfig::default()
    };
    let srv = TestServer::start(config, 64);
    let mut stream = raw_upgrade(srv.port, "/domains-only", &[]);
    let (first, body) = read_frame(&mut stream);
    assert_eq!(first, 0x81);
    let text = String::from_utf8(body).unwrap();
    assert!(
        text.starts_with("{\"message_type\":\"heartbeat\",\"timestamp\":"),
        "{text}"
    );
    assert_eq!(read_frame(&mut stream), (0x89, Vec::new()));
    // Never answering anything for several intervals is fine.
    thread::sleep(Duration::from_millis(600));
    let snap = srv.snapshot();
    assert_eq!(snap.clients_total(), 1);
    assert!(snap.hub_published >= 5, "{snap:?}");
}

// ---- slow consumer --------------------------------------------------------------------------

#[test]
fn a_client_that_never_reads_is_skipped_then_closed_while_others_get_everything() {
    const FAST: usize = 3;
    const PAD: usize = 16 * 1024;
    const HISTORY: usize = 1024;
    const FRAMES_MAX: usize = 40_000;
    let config = WsConfig {
        client_queue_frames_max: 256,
        client_lagging_close_after: Duration::from_millis(300),
        lag_check_interval: Duration::from_millis(20),
        ..quiet_config()
    };
    let srv = TestServer::start(config, HISTORY);
    let received: Arc<Vec<AtomicU64>> = Arc::new((0..FAST).map(|_| AtomicU64::new(0)).collect());
    let readers: Vec<_> = (0..FAST)
        .map(|c| {
            let mut ws = ws_client(srv.port, "/");
            let received = Arc::clone(&received);
            thread::spawn(move || {
                let mut expected = 0;
                loop {
                    let text = next_text(&mut ws);
                    if text.starts_with("{\"end\"") {
                        // Hand the socket back so the client stays connected for the checks.
                        return (expected, ws);
                    }
                    assert_eq!(
                        index_of(&text),
                        expected,
                        "client {c} lost or reordered a frame"
                    );
                    expected += 1;
                    received[c].store(expected as u64, Ordering::Release);
                }
            })
        })
        .collect();
    let _slow = raw_upgrade(srv.port, "/full-stream", &[]);
    srv.wait_for("all clients", |s| s.clients_total() == FAST as u64 + 1);

    // Stay within 128 frames of the slowest fast reader, so only the never-reading client lags.
    let mut published = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let slowest = received
            .iter()
            .map(|r| r.load(Ordering::Acquire))
            .min()
            .unwrap() as usize;
        if published < slowest + 128 && published < FRAMES_MAX {
            srv.publish(batch(published..published + 32, PAD));
            published += 32;
        } else {
            thread::sleep(Duration::from_millis(1));
        }
        if srv.snapshot().closed(CloseReason::Lagging) == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "slow client never closed: {:?}",
            srv.snapshot()
        );
    }
    let end = Arc::new(Frames {
        lite: encode(OPCODE_TEXT, b"{\"end\":true}"),
        full: encode(OPCODE_TEXT, b"{\"end\":true}"),
        domains: encode(OPCODE_TEXT, b"{\"end\":true}"),
        meta: Default::default(),
    });
    srv.publish(vec![end]);
    let mut still_open = Vec::new();
    for reader in readers {
        let (got, ws) = reader.join().unwrap();
        assert_eq!(got, published, "a reading client missed frames");
        still_open.push(ws);
    }
    let snap = srv.snapshot();
    assert_eq!(
        snap.clients(StreamKind::Lite),
        FAST as u64,
        "fast clients stay connected"
    );
    assert_eq!(snap.clients(StreamKind::Full), 0, "the slow client is gone");
    assert_eq!(snap.closed(CloseReason::Lagging), 1);
    assert!(snap.dropped(DropReason::ClientQueueFull) > 0, "{snap:?}");
    assert!(snap.hub_history <= HISTORY as u64, "hub memory is bounded");
}
