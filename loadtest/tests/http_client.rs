//! certstream's CT HTTP client (`certstream::ct::http::HttpClient`) on a real glommio executor
//! against the CT log simulator on 127.0.0.1:0: framing (length, chunked with extensions and
//! trailers, close-delimited, interim 100), gzip asked and unasked, keep-alive and its pool,
//! conditional GETs, every size and time bound, error kinds and retryability, and TLS.
//!
//! The simulator's transport-shape faults (`loadtest/src/sim/faults.rs`, second table) make the
//! server misbehave; its request log and connection counter say what it saw. Expected bodies
//! come from the real fixtures the simulator replays (the RFC 6962 replay log serves the
//! navigli2025h2 entries 0-15 at indices 6-21; the static replay log serves its tiles
//! byte-identical) or from an independent raw HTTP/1.0-style fetch.
//!
//! Error variants are matched in one place, [`kind`]; everything else goes through
//! `is_retryable()` and `Display`.

use std::{
    future::Future,
    io::{Read, Write},
    net::TcpStream,
    rc::Rc,
    time::{Duration, Instant, SystemTime},
};

use certstream::{
    ct::{
        http::{tls_config, HttpClient, HttpError, Response, Timeouts},
        pacing::RetryAfter,
    },
    limits,
};
use loadtest::sim::{self, FaultSchedule, SimConfig, SimHandle};
use serde_json::Value;

/// Replay log indices: the RFC 6962 replay log, then the static one (no growing logs).
const RFC_REPLAY: usize = 0;
const STATIC_REPLAY: usize = 1;
/// The replay log's get-entries range holding the navigli2025h2 entries 0-15.
const NAVIGLI_RANGE: &str = "ct/v1/get-entries?start=6&end=21";

/// The one place that names `HttpError` variants (branch arch-errors reshapes them).
fn kind(err: &HttpError) -> &'static str {
    match err {
        HttpError::InvalidUrl { .. } => "invalid url",
        HttpError::InvalidHeader { .. } => "invalid header",
        HttpError::Config(_) => "config",
        HttpError::Dns { .. } => "dns",
        HttpError::Connect { .. } => "connect",
        HttpError::Tls { .. } => "tls",
        HttpError::Timeout { .. } => "timeout",
        HttpError::Io { .. } => "io",
        HttpError::Closed { .. } => "closed",
        HttpError::MalformedResponse { .. } => "malformed",
        HttpError::TooLarge { .. } => "too large",
        HttpError::Decode { .. } => "decode",
    }
}

/// A quiet simulator with only the two replay logs (stable heads: they never grow) and
/// `schedule` as its faults.
fn start_sim(schedule: &str, https: bool) -> SimHandle {
    sim::start(SimConfig {
        rfc6962_logs: 0,
        static_logs: 0,
        rate_per_sec: 0.0,
        replay: true,
        page_caps: vec![256],
        https,
        faults: FaultSchedule::from_toml(schedule).expect("valid schedule"),
        ..SimConfig::default()
    })
    .expect("simulator starts")
}

/// `<log url><path>` over http.
fn url(sim: &SimHandle, log: usize, path: &str) -> String {
    format!("{}{path}", sim.logs()[log].url)
}

fn host_port(sim: &SimHandle) -> String {
    sim.http_base.trim_start_matches("http://").to_owned()
}

fn fired(sim: &SimHandle) -> Vec<u64> {
    sim.fault_counts().iter().map(|c| c.fired).collect()
}

fn run<T, Fut>(make: impl FnOnce() -> Fut + Send + 'static) -> T
where
    T: Send + 'static,
    Fut: Future<Output = T> + 'static,
{
    glommio::LocalExecutorBuilder::default()
        .spawn(make)
        .expect("glommio executor")
        .join()
        .expect("executor thread")
}

fn plain_client() -> HttpClient {
    HttpClient::new(tls_config(None).unwrap())
}

fn fixture(path: &str) -> Vec<u8> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/ctdata");
    std::fs::read(format!("{dir}/{path}")).unwrap()
}

/// The real navigli2025h2 get-entries 0-15 body, parsed.
fn navigli_entries() -> Value {
    serde_json::from_slice(&fixture("rfc6962/navigli2025h2_get-entries_0-15.json")).unwrap()
}

fn json(body: &[u8]) -> Value {
    serde_json::from_slice(body).expect("a JSON body")
}

/// The body of a plain GET of `url`, read by hand (no Accept-Encoding, `Connection: close`,
/// a `Content-Length` response): what the simulator serves honestly, independent of the
/// client under test.
fn raw_body(url: &str) -> Vec<u8> {
    let rest = url.strip_prefix("http://").expect("http URL");
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let mut stream = TcpStream::connect(host).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).unwrap();
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8_lossy(&bytes[..end]).to_ascii_lowercase();
    let length: usize = head
        .split("\r\n")
        .find_map(|l| l.strip_prefix("content-length:"))
        .expect("a Content-Length response")
        .trim()
        .parse()
        .unwrap();
    assert_eq!(bytes.len() - end, length, "{head}");
    bytes.split_off(end)
}

fn expect_ok(result: Result<Response, HttpError>) -> Response {
    result.unwrap_or_else(|e| panic!("{e}"))
}

fn expect_err(result: Result<Response, HttpError>) -> HttpError {
    match result {
        Ok(r) => panic!("expected an error, got status {}", r.status),
        Err(e) => e,
    }
}

// ---- Framing and content coding ----------------------------------------------------------------

#[test]
fn content_length_body_and_request_headers() {
    let sim = start_sim("", false);
    let sth_url = url(&sim, RFC_REPLAY, "ct/v1/get-sth");
    let got = run({
        let sth_url = sth_url.clone();
        move || async move { expect_ok(plain_client().get(&sth_url).await) }
    });
    assert_eq!(got.status, 200);
    assert_eq!(got.content_type.as_deref(), Some("application/json"));
    assert_eq!(json(&got.body)["tree_size"], sim.tree_size(RFC_REPLAY));
    let requests = sim.request_heads();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(
        request.request_line(),
        "GET /rfc6962/replay/ct/v1/get-sth HTTP/1.1",
        "{}",
        request.head
    );
    assert_eq!(request.header("host"), Some(host_port(&sim).as_str()));
    assert_eq!(request.header("user-agent"), Some(limits::USER_AGENT));
    assert_eq!(request.header("accept-encoding"), Some("gzip"));
    assert_eq!(request.header("connection"), Some("keep-alive"));
    assert_eq!(got.body.as_ref(), raw_body(&sth_url).as_slice());
}

#[test]
fn chunked_body_with_extensions_and_trailers() {
    // Both requests are sent chunked with extensions and a trailer: the STH plain, the entries
    // gzipped (the client asks for gzip). The connection is reused after each, which needs the
    // decoder to stop exactly after the trailers.
    let sim = start_sim(
        "[[rule]]\nlogs = [0]\nendpoint = \"any\"\nfault = \"chunked\"\nlimit = 2\n",
        false,
    );
    let (sth_url, entries_url) = (
        url(&sim, RFC_REPLAY, "ct/v1/get-sth"),
        url(&sim, RFC_REPLAY, NAVIGLI_RANGE),
    );
    let (sth, entries, opened) = run({
        let (sth_url, entries_url) = (sth_url.clone(), entries_url.clone());
        move || async move {
            let client = plain_client();
            let sth = expect_ok(client.get(&sth_url).await);
            let entries = expect_ok(client.get(&entries_url).await);
            (sth, entries, client.connections_opened())
        }
    });
    assert_eq!(fired(&sim), [2]);
    assert_eq!(opened, 1);
    assert_eq!(json(&entries.body), navigli_entries());
    assert_eq!(
        sim.request_heads()[1].request_line(),
        format!("GET /rfc6962/replay/{NAVIGLI_RANGE} HTTP/1.1")
    );
    assert_eq!(sth.body.as_ref(), raw_body(&sth_url).as_slice());
}

#[test]
fn gzip_when_asked_chunked() {
    // Honest get-entries: gzipped because the client asked, and chunked (as Go's net/http
    // streams large bodies).
    let sim = start_sim("", false);
    let entries_url = url(&sim, RFC_REPLAY, NAVIGLI_RANGE);
    let got = run(move || async move { expect_ok(plain_client().get(&entries_url).await) });
    assert_eq!(
        sim.request_heads()[0].header("accept-encoding"),
        Some("gzip")
    );
    assert_eq!(json(&got.body), navigli_entries());
}

#[test]
fn gzip_unasked_tile_with_content_length() {
    // Static CT data tiles are served gzipped without negotiation, with a Content-Length.
    let sim = start_sim("", false);
    let tile_url = url(&sim, STATIC_REPLAY, "tile/data/000");
    let got = run(move || async move { expect_ok(plain_client().get(&tile_url).await) });
    let tile = fixture("static-ct/navigli2025h2/tile/data/000");
    assert_eq!(got.body.len(), 408_365);
    assert_eq!(got.body.as_ref(), tile.as_slice());
}

#[test]
fn close_delimited_body() {
    // Entries (gzipped) and an STH (plain) each end only when the server closes: neither
    // connection can be pooled.
    let sim = start_sim(
        "[[rule]]\nlogs = [0]\nendpoint = \"any\"\nfault = \"close_delimited\"\nlimit = 2\n",
        false,
    );
    let (sth_url, entries_url) = (
        url(&sim, RFC_REPLAY, "ct/v1/get-sth"),
        url(&sim, RFC_REPLAY, NAVIGLI_RANGE),
    );
    let (entries, sth, opened) = run({
        let (sth_url, entries_url) = (sth_url.clone(), entries_url.clone());
        move || async move {
            let client = plain_client();
            let entries = expect_ok(client.get(&entries_url).await);
            let sth = expect_ok(client.get(&sth_url).await);
            (entries, sth, client.connections_opened())
        }
    });
    assert_eq!(fired(&sim), [2]);
    assert_eq!(opened, 2);
    assert_eq!(json(&entries.body), navigli_entries());
    assert_eq!(sth.body.as_ref(), raw_body(&sth_url).as_slice());
}

#[test]
fn interim_100_continue_is_skipped() {
    let sim = start_sim(
        "[[rule]]\nlogs = [0]\nendpoint = \"sth\"\nfault = \"continue\"\nlimit = 1\n",
        false,
    );
    let sth_url = url(&sim, RFC_REPLAY, "ct/v1/get-sth");
    let (interim, honest, opened) = run({
        let sth_url = sth_url.clone();
        move || async move {
            let client = plain_client();
            let interim = expect_ok(client.get(&sth_url).await);
            let honest = expect_ok(client.get(&sth_url).await);
            (interim, honest, client.connections_opened())
        }
    });
    assert_eq!(fired(&sim), [1]);
    assert_eq!(interim.status, 200);
    assert_eq!(interim.body, honest.body);
    assert_eq!(
        opened, 1,
        "the connection stays usable after the interim response"
    );
    assert_eq!(interim.body.as_ref(), raw_body(&sth_url).as_slice());
}

// ---- Keep-alive and the pool ---------------------------------------------------------------------

#[test]
fn keep_alive_serves_two_requests_on_one_connection() {
    let sim = start_sim("", false);
    let (sth_url, entries_url) = (
        url(&sim, RFC_REPLAY, "ct/v1/get-sth"),
        url(&sim, RFC_REPLAY, NAVIGLI_RANGE),
    );
    let (bodies, opened) = run(move || async move {
        let client = plain_client();
        let mut bodies = Vec::new();
        for url in [&sth_url, &entries_url, &sth_url] {
            bodies.push(expect_ok(client.get(url).await).body);
        }
        (bodies, client.connections_opened())
    });
    assert_eq!(opened, 1);
    assert_eq!(sim.connections_accepted(), 1);
    assert_eq!(bodies[0], bodies[2]);
    assert_eq!(json(&bodies[1]), navigli_entries());
    let requests = sim.request_heads();
    assert_eq!(requests.len(), 3);
    assert!(requests.iter().all(|r| r.connection == 1));
    assert!(requests[1]
        .request_line()
        .starts_with("GET /rfc6962/replay/ct/v1/get-entries?"));
}

#[test]
fn idle_pool_is_bounded_per_host() {
    let sim = start_sim("", false);
    let sth_url = url(&sim, RFC_REPLAY, "ct/v1/get-sth");
    let concurrent = limits::POOL_IDLE_PER_HOST_MAX + 2;
    let (opened, idle) = run(move || async move {
        let client = Rc::new(plain_client());
        // All tasks start (and connect) before any finishes, so none finds an idle connection.
        let tasks: Vec<_> = (0..concurrent)
            .map(|_| {
                let (client, url) = (client.clone(), sth_url.clone());
                glommio::spawn_local(async move { expect_ok(client.get(&url).await) })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.status, 200);
        }
        (client.connections_opened(), client.idle_connections())
    });
    assert_eq!(opened, concurrent as u64);
    assert_eq!(sim.connections_accepted(), concurrent as u64);
    assert_eq!(idle, limits::POOL_IDLE_PER_HOST_MAX);
}

#[test]
fn server_closing_pooled_connection_is_retried() {
    // The first response comes as kept-alive, then the server closes the connection as its
    // idle timeout would. The second request finds that pooled connection dead (whether the
    // FIN arrived before it was sent or not: the server never reads it) and is retried once
    // on a new connection; the third reuses the new one.
    let sim = start_sim(
        "[[rule]]\nlogs = [0]\nendpoint = \"sth\"\nfault = \"idle_close\"\nlimit = 1\n",
        false,
    );
    let sth_url = url(&sim, RFC_REPLAY, "ct/v1/get-sth");
    let (bodies, opened) = run(move || async move {
        let client = plain_client();
        let mut bodies = Vec::new();
        for _ in 0..3 {
            bodies.push(expect_ok(client.get(&sth_url).await).body);
        }
        (bodies, client.connections_opened())
    });
    assert_eq!(fired(&sim), [1]);
    assert_eq!(opened, 2);
    assert_eq!(sim.connections_accepted(), 2);
    let connections: Vec<u64> = sim.request_heads().iter().map(|r| r.connection).collect();
    assert_eq!(
        connections,
        [1, 2, 2],
        "which connection answered each request"
    );
    assert!(bodies.iter().all(|b| *b == bodies[0]));
}

#[test]
fn connection_close_is_not_pooled() {
    let sim = start_sim(
        "[[rule]]\nlogs = [0]\nendpoint = \"sth\"\nfault = \"close\"\n",
        false,
    );
    let sth_url = url(&sim, RFC_REPLAY, "ct/v1/get-sth");
    let (bodies, opened, idle) = run(move || async move {
        let client = plain_client();
        let first = expect_ok(client.get(&sth_url).await).body;
        let second = expect_ok(client.get(&sth_url).await).body;
        (
            [first, second],
            client.connections_opened(),
            client.idle_connections(),
        )
    });
    assert_eq!(fired(&sim), [2]);
    assert_eq!((opened, idle), (2, 0));
    assert_eq!(sim.connections_accepted(), 2);
    assert_eq!(bodies[0], bodies[1]);
}

#[test]
fn if_modified_since_and_304_then_reuse() {
    // The log list answers conditional GETs, as the real one does. Its 304 carries the
    // list's Content-Length and no body: reading a body there would hang the next exchange.
    let sim = start_sim("", false);
    let list_url = sim.log_list_url.clone();
    let (first, not_modified, modified, opened) = run(move || async move {
        let client = plain_client();
        let first = expect_ok(client.get(&list_url).await);
        let stamp = first.last_modified.clone().expect("Last-Modified");
        let header = [("If-Modified-Since", stamp.as_str())];
        let not_modified = expect_ok(client.get_with_headers(&list_url, &header).await);
        let older = [("If-Modified-Since", "Tue, 15 Nov 1994 12:45:26 GMT")];
        let modified = expect_ok(client.get_with_headers(&list_url, &older).await);
        (first, not_modified, modified, client.connections_opened())
    });
    assert_eq!(first.status, 200);
    let stamp = first.last_modified.clone().unwrap();
    assert!(stamp.ends_with(" GMT"), "{stamp}");
    assert_eq!(not_modified.status, 304);
    assert!(not_modified.body.is_empty());
    assert_eq!(modified.status, 200);
    assert_eq!(modified.body, first.body);
    assert_eq!(modified.last_modified.as_deref(), Some(stamp.as_str()));
    assert_eq!(opened, 1);
    let requests = sim.request_heads();
    assert_eq!(
        requests[1].header("if-modified-since"),
        Some(stamp.as_str())
    );
    assert_eq!(requests[0].header("if-modified-since"), None);
}

// ---- Broken and oversize responses ---------------------------------------------------------------

#[test]
fn truncated_bodies_are_errors() {
    let sim = start_sim(
        "[[rule]]\nlogs = [0]\nendpoint = \"sth\"\nfault = \"truncate\"\nlimit = 1\n\
         [[rule]]\nlogs = [0]\nendpoint = \"entries\"\nfault = \"truncate_chunked\"\nlimit = 1\n",
        false,
    );
    let (sth_url, entries_url) = (
        url(&sim, RFC_REPLAY, "ct/v1/get-sth"),
        url(&sim, RFC_REPLAY, NAVIGLI_RANGE),
    );
    let errors = run({
        let sth_url = sth_url.clone();
        move || async move {
            let client = plain_client();
            [
                expect_err(client.get(&sth_url).await),
                expect_err(client.get(&entries_url).await),
            ]
        }
    });
    assert_eq!(fired(&sim), [1, 1]);
    for err in &errors {
        assert_eq!(kind(err), "closed", "{err}");
        assert!(err.is_retryable(), "{err}");
        assert!(err.to_string().contains("127.0.0.1"), "{err}");
    }
    let length = raw_body(&sth_url).len();
    let cut = format!("{} of {length}", length / 2);
    assert!(errors[0].to_string().contains(&cut), "{}: {cut}", errors[0]);
    assert!(
        errors[1].to_string().contains("chunked body"),
        "{}",
        errors[1]
    );
}

#[test]
fn oversize_bodies_and_heads_are_refused() {
    let schedule = format!(
        "[[rule]]\nlogs = [0]\nendpoint = \"sth\"\nfault = \"oversize_body\"\nbytes = {body}\nlimit = 1\n\
         [[rule]]\nlogs = [0]\nendpoint = \"entries\"\nfault = \"chunked\"\nlimit = 1\n\
         [[rule]]\nlogs = [0]\nendpoint = \"sth\"\nfault = \"gzip_bomb\"\nbytes = {bomb}\nlimit = 1\n\
         [[rule]]\nlogs = [0]\nendpoint = \"sth\"\nfault = \"oversize_head\"\nbytes = {head}\nlimit = 1\n",
        body = limits::RESPONSE_BYTES_MAX + 1,
        bomb = 1 << 20,
        head = limits::RESPONSE_HEAD_BYTES_MAX + 1,
    );
    let sim = start_sim(&schedule, false);
    let (sth_url, entries_url) = (
        url(&sim, RFC_REPLAY, "ct/v1/get-sth"),
        url(&sim, RFC_REPLAY, NAVIGLI_RANGE),
    );
    let errors = run(move || async move {
        // Declared too large: refused before reading it.
        let declared = expect_err(plain_client().get(&sth_url).await);
        // With a 4 KiB cap: the gzipped entries sent chunked pass it on the wire, a gzip bomb
        // (about 1 KiB) when inflated, and the head its own (fixed) cap.
        let small = plain_client().with_body_max(4096);
        vec![
            declared,
            expect_err(small.get(&entries_url).await),
            expect_err(small.get(&sth_url).await),
            expect_err(small.get(&sth_url).await),
        ]
    });
    assert_eq!(fired(&sim), [1, 1, 1, 1]);
    for err in &errors {
        assert_eq!(kind(err), "too large", "{err}");
        assert!(!err.is_retryable(), "{err}");
    }
    let texts: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert!(texts[0].contains("response body"), "{}", texts[0]);
    assert!(texts[1].contains("response body"), "{}", texts[1]);
    assert!(texts[2].contains("decompressed"), "{}", texts[2]);
    assert!(texts[3].contains("response head larger"), "{}", texts[3]);
}

// ---- Time bounds -------------------------------------------------------------------------------
// These are about time: the lower bounds are the configured limits, the upper ones only show
// that the limit (not the server) ended the request, and are loose for a loaded machine.

#[test]
fn slow_trickle_hits_the_request_deadline() {
    // The entries trickle one byte every 20 ms (never idle long enough for the 1 s read
    // timeout): sending them all would take about 1,000 s, the deadline stops it at 300 ms.
    let sim = start_sim(
        "[[rule]]\nlogs = [0]\nendpoint = \"entries\"\nfault = \"trickle\"\ndelay_ms = 20\n",
        false,
    );
    let entries_url = url(&sim, RFC_REPLAY, NAVIGLI_RANGE);
    let (err, elapsed) = run(move || async move {
        let timeouts = Timeouts {
            connect: Duration::from_secs(1),
            read: Duration::from_secs(1),
            request: Duration::from_millis(300),
        };
        let client = HttpClient::with_timeouts(tls_config(None).unwrap(), timeouts);
        let started = Instant::now();
        let err = expect_err(client.get(&entries_url).await);
        (err, started.elapsed())
    });
    assert_eq!(fired(&sim), [1]);
    assert_eq!(kind(&err), "timeout", "{err}");
    assert_eq!(err.to_string(), "127.0.0.1: request timed out");
    assert!(err.is_retryable());
    assert!(
        elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(10),
        "{elapsed:?}"
    );
}

#[test]
fn silent_server_hits_the_read_timeout() {
    // The request is read and never answered (until the client gives up and closes).
    let sim = start_sim(
        "[[rule]]\nlogs = [0]\nendpoint = \"sth\"\nfault = \"hang\"\n",
        false,
    );
    let sth_url = url(&sim, RFC_REPLAY, "ct/v1/get-sth");
    let (err, elapsed) = run(move || async move {
        let timeouts = Timeouts {
            read: Duration::from_millis(200),
            ..Timeouts::default()
        };
        let client = HttpClient::with_timeouts(tls_config(None).unwrap(), timeouts);
        let started = Instant::now();
        let err = expect_err(client.get(&sth_url).await);
        (err, started.elapsed())
    });
    assert_eq!(fired(&sim), [1]);
    assert_eq!(kind(&err), "timeout", "{err}");
    assert_eq!(err.to_string(), "127.0.0.1: read timed out");
    assert!(err.is_retryable());
    assert!(
        elapsed >= Duration::from_millis(200) && elapsed < Duration::from_secs(10),
        "{elapsed:?}"
    );
}

#[test]
fn too_many_requests_surfaces_retry_after() {
    // 429 with delta-seconds, 429 and 503 with an HTTP-date (as Skylight sends it).
    let sim = start_sim(
        "[[rule]]\nlogs = [0]\nendpoint = \"sth\"\nfault = \"rate_limit\"\nretry_after = 30\nlimit = 1\n\
         [[rule]]\nlogs = [0]\nendpoint = \"sth\"\nfault = \"rate_limit\"\nretry_after_date = 4102444800\nlimit = 1\n\
         [[rule]]\nlogs = [0]\nendpoint = \"sth\"\nfault = \"status\"\nstatus = 503\nretry_after_date = 784111777\nlimit = 1\n",
        false,
    );
    let sth_url = url(&sim, RFC_REPLAY, "ct/v1/get-sth");
    let (responses, opened) = run(move || async move {
        let client = plain_client();
        let mut responses = Vec::new();
        for _ in 0..3 {
            responses.push(expect_ok(client.get(&sth_url).await));
        }
        (responses, client.connections_opened())
    });
    assert_eq!(fired(&sim), [1, 1, 1]);
    assert_eq!(
        opened, 1,
        "error statuses are complete responses on a kept-alive connection"
    );
    let [seconds, date, past] = &responses[..] else {
        unreachable!()
    };
    assert_eq!(seconds.status, 429);
    assert_eq!(seconds.retry_after, Some(RetryAfter::Seconds(30)));
    assert_eq!(
        seconds.retry_after_delay(SystemTime::now()),
        Some(Duration::from_secs(30))
    );
    assert_eq!(seconds.body.as_ref(), b"injected fault\n");
    let epoch = SystemTime::UNIX_EPOCH;
    assert_eq!(date.status, 429);
    assert_eq!(
        date.retry_after,
        Some(RetryAfter::Date(epoch + Duration::from_secs(4_102_444_800)))
    );
    assert_eq!(past.status, 503);
    assert_eq!(
        past.retry_after,
        Some(RetryAfter::Date(epoch + Duration::from_secs(784_111_777)))
    );
}

// ---- TLS ---------------------------------------------------------------------------------------

fn https_port(sim: &SimHandle) -> u16 {
    let base = sim.https_base.as_deref().expect("https simulator");
    base.rsplit(':').next().unwrap().parse().unwrap()
}

#[test]
fn https_with_extra_ca_and_keep_alive() {
    let sim = start_sim("", true);
    let port = https_port(&sim);
    let tls = tls_config(Some(sim.ca_file.as_deref().unwrap())).unwrap();
    let (bodies, opened) = run(move || async move {
        let client = HttpClient::new(tls);
        let url = format!("https://localhost:{port}/rfc6962/replay/ct/v1/get-sth");
        // By name: resolved once, then from the DNS cache; the second request reuses the
        // pooled TLS connection.
        let mut bodies = Vec::new();
        for _ in 0..2 {
            bodies.push(expect_ok(client.get(&url).await).body);
        }
        (bodies, client.connections_opened())
    });
    assert_eq!(opened, 1);
    let requests = sim.request_heads();
    assert_eq!(requests.len(), 2);
    assert!(requests.iter().all(|r| r.https && r.connection == 1));
    let host = format!("localhost:{port}");
    assert_eq!(requests[0].header("host"), Some(host.as_str()));
    let honest = raw_body(&url(&sim, RFC_REPLAY, "ct/v1/get-sth"));
    assert!(bodies.iter().all(|b| b.as_ref() == honest.as_slice()));
}

#[test]
fn https_to_ip_literal() {
    let sim = start_sim("", true);
    let port = https_port(&sim);
    let tls = tls_config(Some(sim.ca_file.as_deref().unwrap())).unwrap();
    let got = run(move || async move {
        let url = format!("https://127.0.0.1:{port}/rfc6962/replay/ct/v1/get-sth");
        expect_ok(HttpClient::new(tls).get(&url).await)
    });
    assert!(sim.request_heads()[0].https);
    let honest = raw_body(&url(&sim, RFC_REPLAY, "ct/v1/get-sth"));
    assert_eq!(got.body.as_ref(), honest.as_slice());
}

#[test]
fn https_without_the_ca_fails_verification() {
    let sim = start_sim("", true);
    let port = https_port(&sim);
    let err = run(move || async move {
        let url = format!("https://localhost:{port}/rfc6962/replay/ct/v1/get-sth");
        expect_err(plain_client().get(&url).await)
    });
    assert_eq!(kind(&err), "tls", "{err}");
    let text = err.to_string();
    assert!(
        text.contains("UnknownIssuer") || text.contains("unknown issuer"),
        "{text}"
    );
    assert!(text.contains("localhost"), "{text}");
    assert!(!err.is_retryable());
    assert_eq!(sim.connections_accepted(), 1);
    assert!(
        sim.request_heads().is_empty(),
        "no request after a failed handshake"
    );
}
