//! Server-level tests of SSE and NDJSON: real sockets against a glommio executor (the harness
//! of `tests.rs`), each message compared with what a WebSocket client of the same stream gets.

use std::{
    io::{Read, Write},
    net::TcpStream as StdStream,
    sync::Arc,
    time::Duration,
};

use super::tests::{batch, next_text, payload, quiet_config, TestServer, IO_TIMEOUT};
use super::*;

fn start(config: WsConfig) -> TestServer {
    let access = AccessSource::new(AccessSettings::default());
    TestServer::start_with_access(0, config, limits::HUB_HISTORY_FRAMES, access)
}

/// A streaming HTTP client: sends `request`, reads the response head, then decodes the
/// chunked body as it arrives.
struct ChunkedReader {
    stream: StdStream,
    raw: Vec<u8>,
    head: String,
    body: Vec<u8>,
    ended: bool,
}

impl ChunkedReader {
    fn get(port: u16, target: &str, headers: &str) -> Self {
        let mut stream = StdStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        let request = format!("GET {target} HTTP/1.1\r\nHost: t\r\n{headers}\r\n");
        stream.write_all(request.as_bytes()).unwrap();
        let mut me = Self {
            stream,
            raw: Vec::new(),
            head: String::new(),
            body: Vec::new(),
            ended: false,
        };
        let end = loop {
            if let Some(at) = me.raw.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            me.fill();
        };
        me.head = String::from_utf8(me.raw.drain(..end).collect()).unwrap();
        me
    }

    /// The whole answer to a request the server refuses (it closes after it).
    fn get_raw(port: u16, target: &str, headers: &str) -> String {
        let mut stream = StdStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        let request = format!("GET {target} HTTP/1.1\r\nHost: t\r\n{headers}\r\n");
        stream.write_all(request.as_bytes()).unwrap();
        let mut raw = String::new();
        stream.read_to_string(&mut raw).unwrap();
        raw
    }

    fn fill(&mut self) {
        let mut chunk = [0u8; 4096];
        let n = self.stream.read(&mut chunk).unwrap();
        assert!(
            n > 0,
            "server closed; body so far {:?}",
            String::from_utf8_lossy(&self.body)
        );
        self.raw.extend_from_slice(&chunk[..n]);
    }

    /// Decodes every whole chunk received so far into `body`.
    fn decode(&mut self) {
        while let Some(eol) = self.raw.windows(2).position(|w| w == b"\r\n") {
            let size_text = std::str::from_utf8(&self.raw[..eol]).unwrap();
            let size = usize::from_str_radix(size_text, 16).expect("hex chunk size");
            if self.raw.len() < eol + 2 + size + 2 {
                return;
            }
            let data = &self.raw[eol + 2..eol + 2 + size];
            self.body.extend_from_slice(data);
            assert_eq!(&self.raw[eol + 2 + size..eol + 4 + size], b"\r\n");
            self.raw.drain(..eol + 4 + size);
            if size == 0 {
                self.ended = true;
                return;
            }
        }
    }

    /// The body up to and including the next `separator`.
    fn next(&mut self, separator: &[u8]) -> String {
        loop {
            self.decode();
            if let Some(at) = self
                .body
                .windows(separator.len())
                .position(|w| w == separator)
            {
                let item: Vec<u8> = self.body.drain(..at + separator.len()).collect();
                return String::from_utf8(item).unwrap();
            }
            self.fill();
        }
    }

    fn next_line(&mut self) -> String {
        self.next(b"\n").trim_end_matches('\n').to_owned()
    }

    /// The `data:` of the next SSE event (comments are returned whole).
    fn next_event(&mut self) -> String {
        let event = self.next(b"\n\n");
        event
            .strip_prefix("data: ")
            .map_or(event.clone(), |d| d.trim_end_matches('\n').to_owned())
    }
}

#[test]
fn sse_and_ndjson_carry_the_websocket_messages_on_every_path() {
    let srv = start(quiet_config());
    let mut ws = super::tests::ws_client(srv.port, "/full-stream");
    let mut sse_paths = [
        ChunkedReader::get(srv.port, "/sse", ""),
        ChunkedReader::get(srv.port, "/sse?stream=full", ""),
        ChunkedReader::get(srv.port, "/domains-only", "Accept: text/event-stream\r\n"),
    ];
    let mut ndjson = [
        ChunkedReader::get(srv.port, "/domains-only?format=ndjson", ""),
        ChunkedReader::get(srv.port, "/", "Accept: application/x-ndjson\r\n"),
    ];
    for c in &sse_paths {
        assert!(c.head.starts_with("HTTP/1.1 200 OK\r\n"), "{}", c.head);
        assert!(
            c.head.contains("Content-Type: text/event-stream"),
            "{}",
            c.head
        );
        assert!(c.head.contains("Transfer-Encoding: chunked\r\n"));
    }
    for c in &ndjson {
        assert!(
            c.head.contains("Content-Type: application/x-ndjson\r\n"),
            "{}",
            c.head
        );
    }
    let snap = srv.wait_for("6 clients", |s| s.clients_total() == 6);
    assert_eq!(snap.protocol_connected, [1, 3, 2]);
    srv.publish(batch(0..50, 300));
    for i in 0..50 {
        let full = next_text(&mut ws);
        assert_eq!(full, payload("full", i, 300));
        assert_eq!(sse_paths[0].next_event(), payload("lite", i, 300));
        assert_eq!(
            sse_paths[1].next_event(),
            full,
            "same JSON as the WebSocket"
        );
        assert_eq!(sse_paths[2].next_event(), payload("domains", i, 300));
        assert_eq!(ndjson[0].next_line(), payload("domains", i, 300));
        assert_eq!(ndjson[1].next_line(), payload("lite", i, 300));
    }
    drop(sse_paths);
    drop(ndjson);
    srv.wait_for("clients gone", |s| s.clients_total() == 1);
}

#[test]
fn heartbeats_are_sse_comments_and_ndjson_lines() {
    let config = WsConfig {
        heartbeat_interval: Duration::from_millis(50),
        ..quiet_config()
    };
    let srv = start(config);
    let mut sse = ChunkedReader::get(srv.port, "/sse?stream=domains", "");
    let mut nd = ChunkedReader::get(srv.port, "/full-stream/?format=ndjson", "");
    assert_eq!(sse.next_event(), ": heartbeat\n\n");
    let line = nd.next_line();
    assert!(
        line.starts_with("{\"message_type\":\"heartbeat\",\"timestamp\":"),
        "{line}"
    );
    assert!(
        line.starts_with("{\"message_type\":\"heartbeat\",\"timestamp\":"),
        "{line}"
    );
}

#[test]
fn bad_stream_requests_are_refused_before_any_stream() {
    let srv = start(quiet_config());
    let refused = |request: &str| {
        let mut stream = StdStream::connect(("127.0.0.1", srv.port)).unwrap();
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut raw = String::new();
        stream.read_to_string(&mut raw).unwrap();
        raw
    };
    let r = refused("GET /sse?stream=nope HTTP/1.1\r\n\r\n");
    assert!(
        r.starts_with("HTTP/1.1 400") && r.ends_with("lite, full or domains\n"),
        "{r}"
    );
    let r = refused("GET /?format=ndjson HTTP/1.0\r\n\r\n");
    assert!(
        r.starts_with("HTTP/1.1 400") && r.contains("HTTP/1.1"),
        "{r}"
    );
    let r = refused("GET /sse?regex=( HTTP/1.1\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 400") && r.contains("regex"), "{r}");
    assert_eq!(srv.snapshot().clients_total(), 0);
}

#[test]
fn resuming_sse_clients_get_cursor_ids_and_last_event_id_is_a_since() {
    let srv = start(quiet_config());
    let mut sse = ChunkedReader::get(srv.port, "/sse?stream=full&resume", "");
    let mut nd = ChunkedReader::get(srv.port, "/full-stream?format=ndjson&resume", "");
    srv.wait_for("2 clients", |s| s.clients_total() == 2);
    let mut frames = batch(0..3, 10);
    for (i, f) in frames.iter_mut().enumerate() {
        Arc::get_mut(f).unwrap().meta.index = i as u64;
    }
    srv.publish(frames);
    for i in 0..3 {
        assert_eq!(sse.next_event(), payload("full", i, 10));
        assert_eq!(nd.next_line(), payload("full", i, 10));
    }
    // The batch ends with a cursor message: its token is the event's id.
    let event = sse.next(b"\n\n");
    let id = event
        .strip_prefix("id: ")
        .expect("an id line")
        .split('\n')
        .next()
        .unwrap();
    let data = event.split('\n').nth(1).unwrap();
    assert_eq!(
        data,
        format!(r#"data: {{"message_type":"cursor","data":{{"cursor":"{id}"}}}}"#)
    );
    // Each session's token is its own (its own watermark); the message is the same JSON.
    let line = nd.next_line();
    assert!(
        line.starts_with(r#"{"message_type":"cursor","data":{"cursor":""#),
        "{line}"
    );
    // A reconnect with Last-Event-ID asks for `since=<id>`: this server keeps no replay
    // store, so it says so (with one, the replay starts after the id).
    let mut stream = StdStream::connect(("127.0.0.1", srv.port)).unwrap();
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let request = format!("GET /sse?stream=full&resume HTTP/1.1\r\nLast-Event-ID: {id}\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    assert!(
        raw.starts_with("HTTP/1.1 400") && raw.contains("replay store"),
        "{raw}"
    );
}

#[test]
fn streams_take_the_token_from_the_header_or_the_query() {
    let access = AccessSource::new(AccessSettings {
        auth_tokens: vec!["0123456789abcdef".to_owned()],
        ..AccessSettings::default()
    });
    let srv = TestServer::start_with_access(0, quiet_config(), limits::HUB_HISTORY_FRAMES, access);
    let none = ChunkedReader::get_raw(srv.port, "/sse", "");
    assert!(none.starts_with("HTTP/1.1 401"), "{none}");
    let mut query = ChunkedReader::get(srv.port, "/?format=ndjson&token=0123456789abcdef", "");
    let bearer = "Authorization: Bearer 0123456789abcdef\r\n";
    let mut header = ChunkedReader::get(srv.port, "/sse", bearer);
    srv.wait_for("2 clients", |s| s.clients_total() == 2);
    srv.publish(batch(0..1, 1));
    assert_eq!(query.next_line(), payload("lite", 0, 1));
    assert_eq!(header.next_event(), payload("lite", 0, 1));
}

#[test]
fn a_stream_client_that_never_reads_is_skipped_then_dropped_while_others_get_everything() {
    let config = WsConfig {
        client_queue_frames_max: 256,
        client_lagging_close_after: Duration::from_millis(300),
        // Longer than one round of the loop below (publish, read it all): each check sees the
        // head moved, so the slow client's lag is continuous, as under a steady stream.
        lag_check_interval: Duration::from_millis(100),
        ..quiet_config()
    };
    let srv = TestServer::start_with_access(
        0,
        config,
        1024,
        AccessSource::new(AccessSettings::default()),
    );
    // Never reads (its socket buffers fill up), while a reading one keeps pace.
    let mut slow = StdStream::connect(("127.0.0.1", srv.port)).unwrap();
    slow.write_all(b"GET /sse?stream=full HTTP/1.1\r\n\r\n")
        .unwrap();
    let mut fast = ChunkedReader::get(srv.port, "/full-stream?format=ndjson", "");
    srv.wait_for("2 clients", |s| s.clients_total() == 2);
    let mut published = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while srv.snapshot().closed(CloseReason::Lagging) == 0 {
        assert!(std::time::Instant::now() < deadline, "{:?}", srv.snapshot());
        srv.publish(batch(published..published + 32, 16 * 1024));
        for i in published..published + 32 {
            assert_eq!(fast.next_line(), payload("full", i, 16 * 1024));
        }
        published += 32;
    }
    let snap = srv.snapshot();
    assert_eq!(
        snap.protocol_connected,
        [0, 0, 1],
        "the slow SSE client is gone"
    );
    assert!(snap.dropped(DropReason::ClientQueueFull) > 0, "{snap:?}");
}

#[test]
fn a_burst_of_small_frames_reaches_sse_and_ndjson_clients_whole() {
    let srv = start(quiet_config());
    let mut sse = ChunkedReader::get(srv.port, "/sse?stream=domains", "");
    let mut nd = ChunkedReader::get(srv.port, "/domains-only?format=ndjson", "");
    srv.wait_for("2 clients", |s| s.clients_total() == 2);
    // More frames than one send may gather: several sends, none over IOV_MAX.
    srv.publish(batch(0..3000, 0));
    for i in 0..3000 {
        assert_eq!(sse.next_event(), payload("domains", i, 0));
        assert_eq!(nd.next_line(), payload("domains", i, 0));
    }
    assert_eq!(srv.snapshot().clients_total(), 2);
}
