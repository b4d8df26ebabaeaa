//! The simulator's fault schedule on the wire: each transient fault answers as documented, only
//! where and as often as its rule says, and is counted; corrupted entries are broken the same
//! way on every fetch and the signed tree commits to them. A raw HTTP/1.1 client reads exactly
//! what the simulator sends (no decoder shared with the simulator or the server).

use std::{
    io::{ErrorKind, Read, Write},
    net::TcpStream,
    time::{Duration, Instant},
};

use base64::{engine::general_purpose::STANDARD, Engine};
use loadtest::sim::{self, CorruptKind, FaultSchedule, SimConfig, SimHandle};
use ring::digest::{digest, SHA256};

/// What came back on one connection.
struct Raw {
    status: u16,
    head: String,
    body: Vec<u8>,
    /// The connection ended with an error (reset) rather than EOF.
    reset: bool,
    elapsed: Duration,
}

impl Raw {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }

    fn content_length(&self) -> Option<usize> {
        self.header("content-length")?.parse().ok()
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

/// GETs `url` with `Connection: close` and reads until EOF, a reset, or `timeout`.
fn raw_get(url: &str, timeout: Duration) -> Raw {
    let rest = url.strip_prefix("http://").expect("http URL");
    let slash = rest.find('/').unwrap_or(rest.len());
    let (host, path) = (&rest[..slash], &rest[slash..]);
    let mut s = TcpStream::connect(host).unwrap();
    s.set_read_timeout(Some(timeout)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let started = Instant::now();
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 65536];
    let reset = loop {
        match s.read(&mut chunk) {
            Ok(0) => break false,
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                break false
            }
            Err(_) => break true,
        }
    };
    let split = bytes.windows(4).position(|w| w == b"\r\n\r\n");
    let (head, body) = match split {
        Some(i) => (
            String::from_utf8_lossy(&bytes[..i]).into_owned(),
            bytes[i + 4..].to_vec(),
        ),
        None => (String::from_utf8_lossy(&bytes).into_owned(), Vec::new()),
    };
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    Raw {
        status,
        head,
        body: if chunked { dechunk(body) } else { body },
        reset,
        elapsed: started.elapsed(),
    }
}

/// Removes chunked framing (get-entries is sent chunked); a body cut short is kept as it came.
fn dechunk(body: Vec<u8>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = &body[..];
    loop {
        let Some(end) = rest.windows(2).position(|w| w == b"\r\n") else {
            return body;
        };
        let Ok(len) = usize::from_str_radix(std::str::from_utf8(&rest[..end]).unwrap_or("x"), 16)
        else {
            return body;
        };
        rest = &rest[end + 2..];
        if len == 0 {
            return out;
        }
        if rest.len() < len + 2 {
            return body;
        }
        out.extend_from_slice(&rest[..len]);
        rest = &rest[len + 2..];
    }
}

fn get(url: &str) -> Raw {
    raw_get(url, Duration::from_secs(10))
}

fn start(schedule: &str, initial: u64) -> SimHandle {
    sim::start(SimConfig {
        rfc6962_logs: 1,
        static_logs: 1,
        rate_per_sec: 0.0,
        initial_entries: initial,
        page_caps: vec![256],
        faults: FaultSchedule::from_toml(schedule).expect("valid schedule"),
        ..SimConfig::default()
    })
    .expect("simulator starts")
}

fn fired(sim: &SimHandle) -> Vec<u64> {
    sim.fault_counts().iter().map(|c| c.fired).collect()
}

/// Rules on one endpoint are consumed in order, one request each (`limit = 1`), then the
/// endpoint answers honestly again.
#[test]
fn content_faults_answer_as_scheduled_then_stop() {
    let sim = start(
        r#"
        [[rule]]
        endpoint = "sth"
        limit = 1
        fault = "rate_limit"
        retry_after = 7
        [[rule]]
        endpoint = "sth"
        limit = 1
        fault = "rate_limit"
        [[rule]]
        endpoint = "sth"
        limit = 1
        fault = "status"
        status = 503
        [[rule]]
        endpoint = "sth"
        limit = 1
        fault = "invalid_json"
        [[rule]]
        endpoint = "sth"
        limit = 1
        fault = "invalid_base64"
        [[rule]]
        endpoint = "entries"
        limit = 1
        fault = "short_page"
        max_entries = 3
        [[rule]]
        endpoint = "entries"
        limit = 1
        fault = "empty_page"
        [[rule]]
        logs = "static"
        endpoint = "issuer"
        limit = 1
        fault = "not_found"
        [[rule]]
        logs = [1]
        endpoint = "loglist"
        until = 1000
        fault = "vanish"
        "#,
        100,
    );
    let logs = sim.logs();
    let sth = format!("{}ct/v1/get-sth", logs[0].url);
    let r = get(&sth);
    assert_eq!((r.status, r.header("retry-after")), (429, Some("7".into())));
    let r = get(&sth);
    assert_eq!((r.status, r.header("retry-after")), (429, None));
    assert_eq!(get(&sth).status, 503);
    let r = get(&sth);
    assert_eq!(r.status, 200);
    assert!(serde_json::from_slice::<serde_json::Value>(&r.body).is_err());
    let r = get(&sth).json();
    let root = r["sha256_root_hash"].as_str().unwrap();
    assert!(STANDARD.decode(root).is_err(), "{root} is not base64");
    let honest = get(&sth).json();
    assert_eq!(honest["tree_size"], 100);
    assert!(STANDARD
        .decode(honest["sha256_root_hash"].as_str().unwrap())
        .is_ok());

    let entries = format!("{}ct/v1/get-entries?start=0&end=99", logs[0].url);
    let count = |r: &Raw| r.json()["entries"].as_array().unwrap().len();
    assert_eq!(count(&get(&entries)), 3, "short page");
    assert_eq!(count(&get(&entries)), 0, "empty page");
    assert_eq!(count(&get(&entries)), 100, "honest again");

    // The issuer of the first leaf of tile 0: its fingerprint follows the certificate.
    let issuer = first_issuer_url(&sim);
    assert_eq!(get(&issuer).status, 404);
    assert_eq!(get(&issuer).status, 200);

    let list = get(&sim.log_list_url).json();
    let text = list.to_string();
    assert!(
        text.contains(&logs[0].url) && !text.contains(&logs[1].url),
        "log 1 vanished"
    );
    assert_eq!(fired(&sim), vec![1, 1, 1, 1, 1, 1, 1, 1, 1]);
    let state = get(&format!("{}/sim/state", sim.http_base)).json();
    let faults = state["faults"].as_array().unwrap();
    assert_eq!(faults.len(), 9);
    assert_eq!(faults[8]["fault"], "vanish");
    assert_eq!(faults[8]["fired"], 1);
}

/// URL of the issuer of entry 0 of the static log, read from tile 0.
fn first_issuer_url(sim: &SimHandle) -> String {
    let log = &sim.logs()[1];
    let tile = get(&format!("{}tile/data/000.p/100", log.url));
    assert_eq!(tile.status, 200);
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(&tile.body[..])
        .read_to_end(&mut raw)
        .unwrap();
    // TileLeaf: timestamp(8) type(2) [ikh(32)] cert<3> exts<2> [precert<3>] fps<2>.
    let mut at = 8;
    let precert = raw[at + 1] == 1;
    at += 2 + if precert { 32 } else { 0 };
    let u = |at: usize, n: usize| {
        raw[at..at + n]
            .iter()
            .fold(0usize, |a, b| a << 8 | *b as usize)
    };
    at += 3 + u(at, 3);
    at += 2 + u(at, 2);
    if precert {
        at += 3 + u(at, 3);
    }
    let fp = &raw[at + 2..at + 34];
    let hex: String = fp.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}issuer/{hex}", log.url)
}

#[test]
fn stale_heads_go_back_in_time_and_are_real_heads() {
    let sim = sim::start(SimConfig {
        rfc6962_logs: 1,
        static_logs: 1,
        rate_per_sec: 200.0,
        sth_interval: Duration::from_millis(50),
        checkpoint_interval: Duration::from_millis(50),
        faults: FaultSchedule::from_toml(
            "[[rule]]\nendpoint = \"head\"\nevery = 2\nfault = \"stale_head\"\nback = 10\n",
        )
        .unwrap(),
        ..SimConfig::default()
    })
    .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    sim.pause_growth();
    // Heads are still published while paused (same size); fewer than `back` of them.
    std::thread::sleep(Duration::from_millis(150));
    let logs = sim.logs();
    let sth = format!("{}ct/v1/get-sth", logs[0].url);
    let sizes: Vec<u64> = (0..4)
        .map(|_| get(&sth).json()["tree_size"].as_u64().unwrap())
        .collect();
    let now = sim.tree_size(0);
    assert_eq!((sizes[0], sizes[2]), (now, now), "odd requests are honest");
    assert!(sizes[1] < now && sizes[3] < now, "{sizes:?} vs {now}");
    let cp_url = format!("{}checkpoint", logs[1].url);
    let cps: Vec<u64> = (0..2)
        .map(|_| {
            let text = String::from_utf8(get(&cp_url).body).unwrap();
            text.lines().nth(1).unwrap().parse().unwrap()
        })
        .collect();
    assert!(cps[1] < cps[0], "{cps:?}");
    assert_eq!(fired(&sim), vec![3]);
}

#[test]
fn wire_faults_hang_reset_truncate_and_trickle() {
    let sim = start(
        r#"
        [[rule]]
        logs = [0]
        endpoint = "sth"
        limit = 1
        fault = "hang"
        secs = 1.5
        [[rule]]
        logs = [0]
        endpoint = "entries"
        limit = 1
        fault = "reset"
        [[rule]]
        logs = [1]
        endpoint = "tile"
        limit = 1
        fault = "truncate"
        [[rule]]
        logs = [1]
        endpoint = "checkpoint"
        limit = 1
        fault = "trickle"
        delay_ms = 5
        "#,
        300,
    );
    let logs = sim.logs();
    let hung = raw_get(
        &format!("{}ct/v1/get-sth", logs[0].url),
        Duration::from_millis(500),
    );
    assert_eq!(
        (hung.status, hung.head.len()),
        (0, 0),
        "nothing within 0.5 s"
    );
    let closed = raw_get(
        &format!("{}ct/v1/get-sth", logs[0].url),
        Duration::from_secs(5),
    );
    assert_eq!(closed.status, 200, "the next request is answered");

    let reset = get(&format!("{}ct/v1/get-entries?start=0&end=255", logs[0].url));
    assert_eq!(reset.status, 200);
    assert!(reset.reset, "the connection ends with a reset");
    assert!(reset.body.len() < reset.content_length().unwrap());

    let cut = get(&format!("{}tile/data/000", logs[1].url));
    assert!(!cut.reset, "a truncated body ends with a clean close");
    assert_eq!(cut.body.len(), cut.content_length().unwrap() / 2);
    let whole = get(&format!("{}tile/data/000", logs[1].url));
    assert_eq!(whole.body.len(), whole.content_length().unwrap());

    let slow = get(&format!("{}checkpoint", logs[1].url));
    let bytes = slow.head.len() + 4 + slow.body.len();
    assert!(
        slow.elapsed >= Duration::from_millis(5 * bytes as u64 * 8 / 10),
        "{bytes} bytes in {:?}",
        slow.elapsed
    );
    assert!(String::from_utf8(slow.body)
        .unwrap()
        .contains("\n\n\u{2014} "));
    assert_eq!(fired(&sim), vec![1, 1, 1, 1]);
}

fn sha256(data: &[u8]) -> [u8; 32] {
    digest(&SHA256, data).as_ref().try_into().unwrap()
}

/// RFC 6962 Merkle tree hash over leaf hashes.
fn mth(leaves: &[[u8; 32]]) -> [u8; 32] {
    match leaves.len() {
        0 => sha256(&[]),
        1 => leaves[0],
        n => {
            let mut k = 1;
            while k * 2 < n {
                k *= 2;
            }
            let (l, r) = (mth(&leaves[..k]), mth(&leaves[k..]));
            sha256(&[&[1u8][..], &l, &r].concat())
        }
    }
}

/// Checks entry `i` of the corruption test's page (every 10th entry from 1 to 4 broken one way
/// each) and returns its Merkle leaf hash: the tree commits to the broken bytes.
fn leaf_hash_of_corrupted_entry(i: usize, e: &serde_json::Value) -> [u8; 32] {
    let leaf_b64 = e["leaf_input"].as_str().unwrap();
    let extra = STANDARD.decode(e["extra_data"].as_str().unwrap()).unwrap();
    let leaf = match i % 10 {
        3 => {
            assert!(STANDARD.decode(leaf_b64).is_err(), "{i}: not base64");
            // The tree holds the real leaf; the '*' is only in the text.
            STANDARD.decode(leaf_b64.replace('*', "")).unwrap()
        }
        _ => STANDARD.decode(leaf_b64).unwrap(),
    };
    // version(1) leaf_type(1) timestamp(8) entry_type(2) [issuer_key_hash(32)] entry<3>
    let at = if leaf[10..12] == [0, 1] { 44 } else { 12 };
    let cert_len = leaf[at..at + 3]
        .iter()
        .fold(0usize, |a, b| a << 8 | *b as usize);
    match i % 10 {
        1 => assert!(
            cert_len > leaf.len() - 15,
            "{i}: certificate runs past the leaf"
        ),
        4 => {
            assert_eq!(&leaf[10..12], &[0, 0], "{i}: x509_entry");
            assert_ne!(leaf[15], 0x30, "{i}: not a DER SEQUENCE");
        }
        _ => assert_eq!(at + 3 + cert_len + 2, leaf.len(), "{i}: well-formed leaf"),
    }
    let chain_len = extra[..3].iter().fold(0usize, |a, b| a << 8 | *b as usize);
    if i % 10 == 2 {
        assert!(
            chain_len > extra.len() - 3,
            "{i}: chain runs past extra_data"
        );
    }
    sha256(&[&[0u8][..], &leaf].concat())
}

#[test]
fn corruptions_are_persistent_and_committed_to() {
    let sim = start(
        r#"
        [[corrupt]]
        logs = [0]
        kind = "garbage_leaf"
        every = 10
        offset = 1
        [[corrupt]]
        logs = [0]
        kind = "bad_extra_data"
        every = 10
        offset = 2
        [[corrupt]]
        logs = [0]
        kind = "invalid_base64"
        every = 10
        offset = 3
        [[corrupt]]
        kind = "undecodable_cert"
        every = 10
        offset = 4
        "#,
        40,
    );
    let logs = sim.logs();
    let url = format!("{}ct/v1/get-entries?start=0&end=39", logs[0].url);
    let page = get(&url).json();
    assert_eq!(page, get(&url).json(), "every fetch returns the same bytes");
    let entries = page["entries"].as_array().unwrap();
    let mut hashes = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        hashes.push(leaf_hash_of_corrupted_entry(i, e));
    }
    let sth = get(&format!("{}ct/v1/get-sth", logs[0].url)).json();
    let root = STANDARD
        .decode(sth["sha256_root_hash"].as_str().unwrap())
        .unwrap();
    assert_eq!(
        mth(&hashes).to_vec(),
        root,
        "the signed tree commits to the broken bytes"
    );

    let rfc: Vec<(u64, CorruptKind)> = sim.corrupted(0);
    assert_eq!(rfc.len(), 16);
    assert_eq!(
        rfc[..4].iter().map(|c| c.0).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    let st = sim.corrupted(1);
    assert_eq!(
        st,
        vec![
            (4, CorruptKind::UndecodableCert),
            (14, CorruptKind::UndecodableCert),
            (24, CorruptKind::UndecodableCert),
            (34, CorruptKind::UndecodableCert)
        ],
        "only undecodable_cert applies to a static log"
    );
    let counts: Vec<u64> = sim.corrupt_counts().iter().map(|c| c.entries).collect();
    assert_eq!(counts, vec![4, 4, 4, 8]);
    let state = get(&format!("{}/sim/state", sim.http_base)).json();
    let listed: Vec<u64> = state["logs"][1]["corrupted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["index"].as_u64().unwrap())
        .collect();
    assert_eq!(listed, vec![4, 14, 24, 34]);
    assert_eq!(state["logs"][1]["corrupted"][0]["kind"], "undecodable_cert");
}

#[test]
fn a_bad_schedule_is_refused_at_start() {
    let schedule = FaultSchedule {
        rules: FaultSchedule::from_toml("[[rule]]\nendpoint = \"sth\"\nfault = \"reset\"\n")
            .unwrap()
            .rules
            .into_iter()
            .map(|mut r| {
                r.every = Some(0);
                r
            })
            .collect(),
        ..FaultSchedule::default()
    };
    let err = sim::start(SimConfig {
        faults: schedule,
        ..SimConfig::default()
    })
    .err()
    .expect("refused");
    assert!(err.to_string().contains("every"), "{err}");
}

// ---- Transport shapes, Retry-After dates, conditional GETs and the request log ----------------
// (added for the CT HTTP client tests, tests/http_client.rs)

/// Sends `GET path` with `extra` header lines on an open connection and reads one response
/// framed by its Content-Length (or none, for a 304): (head, body).
fn exchange(stream: &mut TcpStream, host: &str, path: &str, extra: &str) -> (String, Vec<u8>) {
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n").unwrap();
    let mut bytes = Vec::new();
    let mut byte = [0u8; 1];
    while !bytes.ends_with(b"\r\n\r\n") {
        assert_eq!(stream.read(&mut byte).unwrap(), 1, "head cut short");
        bytes.push(byte[0]);
    }
    let head = String::from_utf8(bytes).unwrap();
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().to_owned())
        })
        .map_or(0, |v| v.parse().unwrap());
    let mut body = vec![
        0u8;
        if head.starts_with("HTTP/1.1 304") {
            0
        } else {
            length
        }
    ];
    stream.read_exact(&mut body).unwrap();
    (head, body)
}

fn connect(url: &str) -> (TcpStream, String, String) {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let stream = TcpStream::connect(host).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    (stream, host.to_owned(), path.to_owned())
}

/// A chunked body decoded by hand: (payload, number of chunks with an extension, trailer text).
fn dechunk_with_extensions(mut rest: &[u8]) -> (Vec<u8>, usize, String) {
    let (mut out, mut extended) = (Vec::new(), 0);
    loop {
        let end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("size line");
        let line = std::str::from_utf8(&rest[..end]).unwrap();
        let (size, ext) = line
            .split_once(';')
            .map_or((line, None), |(s, e)| (s, Some(e)));
        extended += usize::from(ext == Some("ext=\"v\""));
        let size = usize::from_str_radix(size, 16).unwrap();
        rest = &rest[end + 2..];
        if size == 0 {
            return (out, extended, String::from_utf8_lossy(rest).into_owned());
        }
        out.extend_from_slice(&rest[..size]);
        assert_eq!(&rest[size..size + 2], b"\r\n");
        rest = &rest[size + 2..];
    }
}

fn assert_is_sth(body: &[u8], sim: &SimHandle) {
    let sth: serde_json::Value = serde_json::from_slice(body).expect("an STH");
    assert_eq!(sth["tree_size"], sim.tree_size(0));
}

/// A schedule of rules on log 0's get-sth that fire once each, in order: one per `fault` (its
/// `fault = ...` line and parameters).
fn one_shot_sth_rules(faults: &[&str]) -> String {
    faults
        .iter()
        .map(|f| format!("[[rule]]\nlogs = [0]\nendpoint = \"sth\"\nlimit = 1\n{f}\n"))
        .collect()
}

/// Each transport shape frames (or breaks) the honest STH as the faults table says; rules with
/// `limit = 1` on one endpoint are consumed in order, one request each.
#[test]
fn transport_shapes_frame_the_response_as_documented() {
    let sim = start(
        &one_shot_sth_rules(&[
            "fault = \"chunked\"",
            "fault = \"close_delimited\"",
            "fault = \"continue\"",
            "fault = \"close\"",
            "fault = \"truncate_chunked\"",
            "fault = \"oversize_head\"\nbytes = 100000",
            "fault = \"oversize_body\"\nbytes = 5000000000",
            "fault = \"gzip_bomb\"\nbytes = 1000000",
        ]),
        10,
    );
    let sth_url = format!("{}ct/v1/get-sth", sim.logs()[0].url);

    let chunked = get(&sth_url);
    assert_eq!(
        chunked.header("transfer-encoding").as_deref(),
        Some("chunked")
    );
    let (payload, extended, trailer) = dechunk_with_extensions(&chunked.body);
    assert_is_sth(&payload, &sim);
    // An STH (a few hundred bytes) goes in three chunks: 1, 7 (extended) and the rest.
    assert_eq!(extended, 1, "every other chunk has an extension");
    assert_eq!(trailer, "X-Trailer: yes\r\n\r\n");
    let raw_chunks = String::from_utf8_lossy(&chunked.body).into_owned();
    assert!(raw_chunks.starts_with("1\r\n"), "a 1-byte first chunk");
    assert!(raw_chunks.contains("\r\n7;ext=\"v\"\r\n"), "{raw_chunks}");

    let until_close = get(&sth_url);
    assert!(
        until_close.head.starts_with("HTTP/1.0 200 "),
        "{}",
        until_close.head
    );
    assert_eq!(until_close.content_length(), None);
    assert_eq!(until_close.header("transfer-encoding"), None);
    assert!(!until_close.reset);
    assert_is_sth(&until_close.body, &sim);

    let interim = get(&sth_url);
    assert_eq!(interim.status, 100);
    let rest = String::from_utf8_lossy(&interim.body).into_owned();
    assert!(rest.starts_with("HTTP/1.1 200 OK\r\n"), "{rest}");
    let (_, sth) = rest.split_once("\r\n\r\n").unwrap();
    assert_is_sth(sth.as_bytes(), &sim);

    let closing = get(&sth_url);
    assert_eq!(closing.header("connection").as_deref(), Some("close"));
    assert_eq!(closing.body.len(), closing.content_length().unwrap());

    let cut = get(&sth_url);
    assert_eq!(cut.header("transfer-encoding").as_deref(), Some("chunked"));
    assert!(!cut.reset, "a clean close");
    assert!(!cut.body.ends_with(b"0\r\n\r\n"), "no last chunk");
    let first = cut.body.windows(2).position(|w| w == b"\r\n").unwrap();
    let first_size = usize::from_str_radix(std::str::from_utf8(&cut.body[..first]).unwrap(), 16);
    assert!(
        cut.body.len() < first + 2 + first_size.unwrap() + 2 + 64,
        "cut inside the second chunk"
    );

    let big_head = get(&sth_url);
    assert_eq!(big_head.status, 200);
    assert!(big_head.head.len() > 100_000, "{}", big_head.head.len());
    assert_is_sth(&big_head.body, &sim);

    let declared = get(&sth_url);
    assert_eq!(declared.content_length(), Some(5_000_000_000));
    assert!(declared.body.is_empty() && !declared.reset);

    let bomb = get(&sth_url);
    assert_eq!(bomb.header("content-encoding").as_deref(), Some("gzip"));
    assert_eq!(bomb.body.len(), bomb.content_length().unwrap());
    assert!(bomb.body.len() < 10_000, "{}", bomb.body.len());
    let mut inflated = Vec::new();
    flate2::read::GzDecoder::new(&bomb.body[..])
        .read_to_end(&mut inflated)
        .unwrap();
    assert_eq!(inflated.len(), 1_000_000);
    assert!(inflated.iter().all(|&b| b == 0));

    assert_eq!(fired(&sim), vec![1; 8]);
    assert_is_sth(&get(&sth_url).body, &sim);
}

/// `idle_close` answers as kept-alive and then closes; without it the connection carries more
/// requests.
#[test]
fn idle_close_drops_a_kept_alive_connection() {
    let sim = start(
        "[[rule]]\nlogs = [0]\nendpoint = \"sth\"\nfault = \"idle_close\"\nlimit = 1\n",
        10,
    );
    let (mut dropped, host, path) = connect(&format!("{}ct/v1/get-sth", sim.logs()[0].url));
    let (head, body) = exchange(&mut dropped, &host, &path, "");
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    assert!(!head.to_ascii_lowercase().contains("connection:"), "{head}");
    assert_is_sth(&body, &sim);
    assert_eq!(
        dropped.read(&mut [0u8; 1]).unwrap(),
        0,
        "closed after the response"
    );

    let (mut kept, host, path) = connect(&format!("{}ct/v1/get-sth", sim.logs()[0].url));
    for _ in 0..2 {
        let (head, body) = exchange(&mut kept, &host, &path, "");
        assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
        assert_is_sth(&body, &sim);
    }
    assert_eq!(fired(&sim), vec![1]);
}

#[test]
fn retry_after_can_be_an_http_date() {
    let sim = start(
        "[[rule]]\nlogs = [0]\nendpoint = \"sth\"\nfault = \"rate_limit\"\nretry_after_date = 784111777\nlimit = 1\n\
         [[rule]]\nlogs = [1]\nendpoint = \"checkpoint\"\nfault = \"status\"\nstatus = 503\nretry_after_date = 4102444800\nlimit = 1\n",
        10,
    );
    let logs = sim.logs();
    let limited = get(&format!("{}ct/v1/get-sth", logs[0].url));
    assert_eq!(limited.status, 429);
    assert_eq!(
        limited.header("retry-after").as_deref(),
        Some("Sun, 06 Nov 1994 08:49:37 GMT")
    );
    let unavailable = get(&format!("{}checkpoint", logs[1].url));
    assert_eq!(unavailable.status, 503);
    assert_eq!(
        unavailable.header("retry-after").as_deref(),
        Some("Fri, 01 Jan 2100 00:00:00 GMT")
    );
    assert_eq!(fired(&sim), vec![1, 1]);
    let both = "[[rule]]\nendpoint = \"sth\"\nfault = \"rate_limit\"\nretry_after = 1\nretry_after_date = 1\n";
    let err = FaultSchedule::from_toml(both).unwrap_err();
    assert!(err.contains("retry_after_date"), "{err}");
}

/// The log list answers `If-Modified-Since` like the real one: a 304 with the list's length and
/// no body when unchanged, the list when changed since; not under a `vanish` schedule (the list
/// changes while it runs).
#[test]
fn the_log_list_answers_if_modified_since() {
    let sim = start("", 0);
    let (mut stream, host, path) = connect(&sim.log_list_url);
    let (head, list) = exchange(&mut stream, &host, &path, "");
    let stamp = head
        .lines()
        .find_map(|l| l.strip_prefix("Last-Modified: "))
        .expect("Last-Modified")
        .to_owned();
    let since = format!("If-Modified-Since: {stamp}\r\n");
    let (head, body) = exchange(&mut stream, &host, &path, &since);
    assert!(head.starts_with("HTTP/1.1 304 Not Modified\r\n"), "{head}");
    assert!(
        head.contains(&format!("Content-Length: {}\r\n", list.len())),
        "{head}"
    );
    assert!(body.is_empty());
    let older = "If-Modified-Since: Tue, 15 Nov 1994 12:45:26 GMT\r\n";
    let (head, body) = exchange(&mut stream, &host, &path, older);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert_eq!(body, list, "same connection, still in step after the 304");

    let vanishing = start(
        "[[rule]]\nlogs = [0]\nendpoint = \"loglist\"\nfault = \"vanish\"\nfrom = 1000\n",
        0,
    );
    let (mut stream, host, path) = connect(&vanishing.log_list_url);
    let (head, _) = exchange(&mut stream, &host, &path, older);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(!head.contains("Last-Modified"), "{head}");
}

/// What the simulator saw: each request head as sent, numbered by the connection it came on.
#[test]
fn the_request_log_records_heads_and_connections() {
    let sim = start("", 0);
    let url = format!("{}ct/v1/get-sth", sim.logs()[0].url);
    let (mut first, host, path) = connect(&url);
    exchange(&mut first, &host, &path, "X-Probe: one\r\n");
    exchange(&mut first, &host, &path, "");
    let (mut second, _, _) = connect(&url);
    exchange(&mut second, &host, &path, "X-Probe: two\r\n");
    assert_eq!(sim.connections_accepted(), 2);
    let requests = sim.request_heads();
    let seen: Vec<(u64, Option<&str>)> = requests
        .iter()
        .map(|r| (r.connection, r.header("x-probe")))
        .collect();
    assert_eq!(seen, [(1, Some("one")), (1, None), (2, Some("two"))]);
    assert_eq!(
        requests[0].head,
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nX-Probe: one\r\n\r\n")
    );
    assert_eq!(requests[0].request_line(), format!("GET {path} HTTP/1.1"));
    assert!(!requests[0].https);
}

// ---- Faults of the poller scenarios (tests/poller_*.rs) -------------------------------------

/// The simulator with only its replay logs (0: RFC 6962, 1: Static CT, real data), every
/// request recorded.
fn start_replay(schedule: &str) -> SimHandle {
    sim::start(SimConfig {
        rfc6962_logs: 0,
        static_logs: 0,
        rate_per_sec: 0.0,
        replay: true,
        page_caps: vec![1000],
        record_requests: true,
        faults: FaultSchedule::from_toml(schedule).expect("valid schedule"),
        ..SimConfig::default()
    })
    .expect("simulator starts")
}

fn fixture(rel: &str) -> Vec<u8> {
    std::fs::read(sim::fixtures::default_dir().join(rel)).unwrap()
}

fn gunzip(body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(body).read_to_end(&mut raw)?;
    Ok(raw)
}

/// `TreeHeadSignature` input (RFC 6962 §3.5): version 0, signature type 1 (tree_hash).
fn tree_head_input(ts: u64, size: u64, root: &[u8]) -> Vec<u8> {
    [&[0u8, 1][..], &ts.to_be_bytes(), &size.to_be_bytes(), root].concat()
}

/// Whether `ds` (a TLS DigitallySigned, SHA-256/ECDSA) is a valid signature of `signed` by the
/// P-256 key of `spki`.
fn signature_verifies(spki: &[u8], signed: &[u8], ds: &[u8]) -> bool {
    use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_ASN1};
    assert_eq!(&ds[..2], &[4, 3], "SHA-256 with ECDSA");
    let point = &spki[spki.len() - 65..];
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, point)
        .verify(signed, &ds[4..])
        .is_ok()
}

/// Leaf hashes of the RFC 6962 replay log, from the fixture files.
fn rfc_replay_leaf_hashes() -> Vec<[u8; 32]> {
    sim::fixtures::RFC_REPLAY_FILES
        .iter()
        .flat_map(|file| {
            let page: serde_json::Value =
                serde_json::from_slice(&fixture(&format!("rfc6962/{file}"))).unwrap();
            page["entries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    let leaf = STANDARD.decode(e["leaf_input"].as_str().unwrap()).unwrap();
                    sha256(&[&[0u8][..], &leaf].concat())
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Leaf hashes of navigli2025h2, from its real level-0 hash tiles.
fn static_replay_leaf_hashes() -> Vec<[u8; 32]> {
    (0..3)
        .flat_map(|n| fixture(&format!("static-ct/navigli2025h2/tile/0/{n:03}")))
        .collect::<Vec<u8>>()
        .chunks(32)
        .map(|c| c.try_into().unwrap())
        .collect()
}

/// Checks a checkpoint (c2sp.org/static-ct-api, signed note with one RFC6962NoteSignature) of
/// `origin` by the key of `spki`; returns (size, root, whether the signature verifies).
fn read_checkpoint(text: &str, origin: &str, spki: &[u8]) -> (u64, Vec<u8>, bool) {
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], origin);
    let size: u64 = lines[1].parse().unwrap();
    let root = STANDARD.decode(lines[2]).unwrap();
    assert_eq!(lines[3], "");
    let sig_line = lines[4]
        .strip_prefix(&format!("\u{2014} {origin} "))
        .expect("signature line of the origin");
    let blob = STANDARD.decode(sig_line).unwrap();
    let log_id = sha256(spki);
    let key_id = &sha256(&[origin.as_bytes(), b"\n\x05", &log_id].concat())[..4];
    assert_eq!(&blob[..4], key_id, "RFC6962NoteSignature key ID");
    let ts = u64::from_be_bytes(blob[4..12].try_into().unwrap());
    let ok = signature_verifies(spki, &tree_head_input(ts, size, &root), &blob[12..]);
    (size, root, ok)
}

#[test]
fn head_size_bad_signature_and_wrong_origin_are_real_signed_heads() {
    let sim = start_replay(
        r#"
        [[rule]]
        endpoint = "sth"
        limit = 1
        fault = "head_size"
        size = 10
        [[rule]]
        endpoint = "sth"
        limit = 1
        fault = "bad_signature"
        size = 8
        [[rule]]
        endpoint = "checkpoint"
        limit = 1
        fault = "head_size"
        size = 300
        [[rule]]
        endpoint = "checkpoint"
        limit = 1
        fault = "bad_signature"
        [[rule]]
        endpoint = "checkpoint"
        limit = 1
        fault = "wrong_origin"
        "#,
    );
    let logs = sim.logs();
    let (rfc, st) = (&logs[0], &logs[1]);
    let sth_url = format!("{}ct/v1/get-sth", rfc.url);
    let sth_parts = |v: &serde_json::Value| {
        let b64 = |k: &str| STANDARD.decode(v[k].as_str().unwrap()).unwrap();
        let (size, ts) = (
            v["tree_size"].as_u64().unwrap(),
            v["timestamp"].as_u64().unwrap(),
        );
        (
            size,
            ts,
            b64("sha256_root_hash"),
            b64("tree_head_signature"),
        )
    };
    let leaves = rfc_replay_leaf_hashes();
    // head_size: the real root of the first 10 leaves, correctly signed.
    let (size, ts, root, sig) = sth_parts(&get(&sth_url).json());
    assert_eq!((size, &root), (10, &mth(&leaves[..10]).to_vec()));
    assert!(signature_verifies(
        &rfc.key_spki,
        &tree_head_input(ts, 10, &root),
        &sig
    ));
    // bad_signature: a real signature, over a tree one entry larger.
    let (size, ts, root, sig) = sth_parts(&get(&sth_url).json());
    assert_eq!((size, &root), (8, &mth(&leaves[..8]).to_vec()));
    assert!(!signature_verifies(
        &rfc.key_spki,
        &tree_head_input(ts, 8, &root),
        &sig
    ));
    assert!(signature_verifies(
        &rfc.key_spki,
        &tree_head_input(ts, 9, &root),
        &sig
    ));
    let (size, ..) = sth_parts(&get(&sth_url).json());
    assert_eq!(size, 26, "honest again");

    let cp_url = format!("{}checkpoint", st.url);
    let origin = st.origin.clone().unwrap();
    let text = |r: Raw| String::from_utf8(r.body).unwrap();
    let tiles = static_replay_leaf_hashes();
    let (size, root, ok) = read_checkpoint(&text(get(&cp_url)), &origin, &st.key_spki);
    assert_eq!((size, root, ok), (300, mth(&tiles[..300]).to_vec(), true));
    // The partial tile at that head's edge now exists: the first 44 leaves of tile 001.
    let partial = get(&format!("{}tile/data/001.p/44", st.url));
    assert_eq!(partial.status, 200);
    let raw = gunzip(&partial.body).unwrap();
    let full = fixture("static-ct/navigli2025h2/tile/data/001");
    assert_eq!(leaf_ends(&raw).len(), 44);
    assert_eq!(&full[..raw.len()], &raw[..]);
    let (size, _, ok) = read_checkpoint(&text(get(&cp_url)), &origin, &st.key_spki);
    assert_eq!((size, ok), (768, false), "bad_signature");
    let (size, _, ok) = read_checkpoint(&text(get(&cp_url)), "other.example/log", &st.key_spki);
    assert_eq!(
        (size, ok),
        (768, true),
        "wrong_origin: signed, for another origin"
    );
    assert_eq!(fired(&sim), vec![1, 1, 1, 1, 1]);
}

/// Where each leaf of a raw data tile ends (static-ct-api TileLeaf: timestamp(8) type(2)
/// [issuer_key_hash(32)] cert_or_tbs<3> extensions<2> [pre_certificate<3>] fingerprints<2>).
fn leaf_ends(tile: &[u8]) -> Vec<usize> {
    let u = |at: usize, n: usize| {
        tile[at..at + n]
            .iter()
            .fold(0usize, |a, b| a << 8 | *b as usize)
    };
    let mut ends = Vec::new();
    let mut at = 0;
    while at < tile.len() {
        let precert = tile[at + 9] == 1;
        at += 10 + if precert { 32 } else { 0 };
        at += 3 + u(at, 3);
        at += 2 + u(at, 2);
        if precert {
            at += 3 + u(at, 3);
        }
        at += 2 + u(at, 2);
        ends.push(at);
    }
    ends
}

#[test]
fn tile_faults_break_only_the_tile_their_path_names() {
    let rule = |fault: &str, extra: &str| {
        format!("[[rule]]\nendpoint = \"tile\"\npath = \"tile/data/001\"\nlimit = 1\nfault = \"{fault}\"\n{extra}")
    };
    let sim = start_replay(
        &[
            rule("garbage_tile", ""),
            rule("short_tile", "max_entries = 100\n"),
            rule("tile_junk", ""),
            rule("bad_leaf_index", "entry = 10\nleaf_index = 999\n"),
            rule("wrong_tile", ""),
            rule("bad_gzip", ""),
        ]
        .concat(),
    );
    let url = format!("{}tile/data/001", sim.logs()[1].url);
    let real = fixture("static-ct/navigli2025h2/tile/data/001");
    // Another tile and the partial-tile path of tile 1 are not selected.
    let tile0 = get(&format!("{}tile/data/000", sim.logs()[1].url));
    assert_eq!(
        gunzip(&tile0.body).unwrap(),
        fixture("static-ct/navigli2025h2/tile/data/000")
    );
    let fetch = || {
        let r = get(&url);
        assert_eq!(
            (r.status, r.header("content-encoding")),
            (200, Some("gzip".into()))
        );
        r
    };
    assert_eq!(
        gunzip(&fetch().body).unwrap(),
        vec![0xa5; 5000],
        "garbage_tile"
    );
    let short = gunzip(&fetch().body).unwrap();
    assert_eq!(
        leaf_ends(&real)[99],
        short.len(),
        "short_tile: 100 whole leaves"
    );
    assert_eq!(&real[..short.len()], &short[..]);
    let junk = gunzip(&fetch().body).unwrap();
    assert_eq!(junk, [&real[..], &[0; 7]].concat(), "tile_junk");
    let bad = gunzip(&fetch().body).unwrap();
    let differ: Vec<usize> = (0..real.len()).filter(|&i| bad[i] != real[i]).collect();
    let end = leaf_ends(&real)[10];
    // Entry 10's `leaf_index` extension: the last 5 bytes of its extensions.
    let ext_end = {
        let start = leaf_ends(&real)[9];
        let mut at = start + 10 + if real[start + 9] == 1 { 32 } else { 0 };
        let u = |at: usize, n: usize| {
            real[at..at + n]
                .iter()
                .fold(0usize, |a, b| a << 8 | *b as usize)
        };
        at += 3 + u(at, 3);
        let ext_end = at + 2 + u(at, 2);
        assert_eq!(&real[ext_end - 10..ext_end - 5], &[0, 8, 0, 0, 5]);
        assert!(ext_end < end);
        ext_end
    };
    assert!(
        differ.iter().all(|&i| (ext_end - 5..ext_end).contains(&i)),
        "{differ:?}"
    );
    assert_eq!(
        &bad[ext_end - 5..ext_end],
        &999u64.to_be_bytes()[3..],
        "bad_leaf_index"
    );
    let wrong = gunzip(&fetch().body).unwrap();
    assert_eq!(
        wrong,
        fixture("static-ct/navigli2025h2/tile/data/000"),
        "wrong_tile"
    );
    let not_gzip = fetch();
    assert!(gunzip(&not_gzip.body).is_err(), "bad_gzip");
    assert_eq!(gunzip(&fetch().body).unwrap(), real, "honest again");
    assert_eq!(fired(&sim), vec![1; 6]);
    let faults: Vec<Option<usize>> = sim
        .requests()
        .iter()
        .filter(|r| r.path == "tile/data/001")
        .map(|r| r.fault)
        .collect();
    let expected: Vec<Option<usize>> = (0..6).map(Some).chain([None]).collect();
    assert_eq!(faults, expected, "the request log names the rule");
}

#[test]
fn page_and_body_faults_of_the_poller_scenarios() {
    let sim = start_replay(
        r#"
        [[rule]]
        endpoint = "entries"
        limit = 1
        fault = "oversized_page"
        extra = 4
        [[rule]]
        endpoint = "entries"
        limit = 1
        fault = "raw_body"
        body = '{"something":"else"}'
        [[rule]]
        endpoint = "entries"
        limit = 1
        fault = "rate_limit_date"
        retry_after = 30
        [[rule]]
        endpoint = "entries"
        limit = 1
        fault = "raw_body"
        body_base64 = "//57fQ=="
        [[rule]]
        endpoint = "entries"
        limit = 1
        fault = "overstated_length"
        extra = 50
        "#,
    );
    let url = format!("{}ct/v1/get-entries?start=2&end=7", sim.logs()[0].url);
    let count = |r: &Raw| r.json()["entries"].as_array().unwrap().len();
    assert_eq!(count(&get(&url)), 10, "6 asked for, 4 more");
    let raw = get(&url);
    assert_eq!(
        (raw.status, &raw.body[..]),
        (200, &br#"{"something":"else"}"#[..])
    );
    let limited = get(&url);
    assert_eq!(limited.status, 429);
    let date = limited.header("retry-after").unwrap();
    // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT", 30 s ahead of the Date header.
    let words: Vec<&str> = date.split(' ').collect();
    assert_eq!((words.len(), words[5]), (6, "GMT"), "{date}");
    let clock = |d: &str| {
        let t: Vec<u64> = d
            .split(' ')
            .nth(4)
            .unwrap()
            .split(':')
            .map(|x| x.parse().unwrap())
            .collect();
        t[0] * 3600 + t[1] * 60 + t[2]
    };
    let now = limited.header("date").unwrap();
    let ahead = (clock(&date) + 86_400 - clock(&now)) % 86_400;
    assert!((29..=31).contains(&ahead), "{date} vs {now}");
    assert_eq!(get(&url).body, b"\xff\xfe{}", "raw_body from body_base64");
    let overstated = get(&url);
    assert_eq!(
        overstated.content_length(),
        Some(overstated.body.len() + 50),
        "the whole body, 50 bytes fewer than announced"
    );
    assert_eq!(overstated.json()["entries"].as_array().unwrap().len(), 6);
    assert!(!overstated.reset, "then a clean close");
    assert_eq!(count(&get(&url)), 6, "honest again");
    let served: Vec<Option<(u64, u64)>> = sim.requests().iter().map(|r| r.entries).collect();
    assert_eq!(
        served,
        [Some((2, 11)), None, None, None, None, Some((2, 7))],
        "entries a client can use"
    );
}

#[test]
fn replay_log_corruptions_and_prefixes() {
    let sim = start_replay(
        r#"
        [[corrupt]]
        logs = [0]
        kind = "invalid_base64"
        every = 100
        offset = 5
        [[corrupt]]
        logs = [0]
        kind = "bad_extra_data"
        every = 100
        offset = 9
        [[corrupt]]
        logs = [0]
        kind = "garbage_leaf"
        every = 100
        offset = 12
        [[corrupt]]
        logs = [0]
        kind = "invalid_base64_extra"
        every = 100
        offset = 14
        "#,
    );
    let logs = sim.logs();
    let page = get(&format!("{}ct/v1/get-entries?start=0&end=25", logs[0].url)).json();
    let entries = page["entries"].as_array().unwrap();
    let fixture_entries: Vec<serde_json::Value> = sim::fixtures::RFC_REPLAY_FILES
        .iter()
        .flat_map(|f| {
            let v: serde_json::Value =
                serde_json::from_slice(&fixture(&format!("rfc6962/{f}"))).unwrap();
            v["entries"].as_array().unwrap().clone()
        })
        .collect();
    for (i, (got, real)) in entries.iter().zip(&fixture_entries).enumerate() {
        match i {
            5 => {
                let leaf = got["leaf_input"].as_str().unwrap();
                assert!(STANDARD.decode(leaf).is_err());
                assert_eq!(leaf.replace('*', ""), real["leaf_input"].as_str().unwrap());
            }
            9 => {
                assert_eq!(got["leaf_input"], real["leaf_input"]);
                let extra = STANDARD
                    .decode(got["extra_data"].as_str().unwrap())
                    .unwrap();
                let chain_len = extra[..3].iter().fold(0usize, |a, b| a << 8 | *b as usize);
                assert!(chain_len > extra.len() - 3, "chain runs past extra_data");
            }
            14 => {
                assert_eq!(got["leaf_input"], real["leaf_input"]);
                let extra = got["extra_data"].as_str().unwrap();
                assert!(STANDARD.decode(extra).is_err());
                assert_eq!(extra.replace('*', ""), real["extra_data"].as_str().unwrap());
            }
            // garbage_leaf would change the Merkle leaf: not applied to a replay log.
            _ => assert_eq!(got, real, "entry {i}"),
        }
    }
    assert_eq!(
        sim.corrupted(0),
        vec![
            (5, CorruptKind::InvalidBase64),
            (9, CorruptKind::BadExtraData),
            (14, CorruptKind::InvalidBase64Extra)
        ]
    );
    let sth = get(&format!("{}ct/v1/get-sth", logs[0].url)).json();
    let root = STANDARD
        .decode(sth["sha256_root_hash"].as_str().unwrap())
        .unwrap();
    assert_eq!(
        root,
        mth(&rfc_replay_leaf_hashes()).to_vec(),
        "the tree of the real leaves"
    );

    // A replay log shown at an earlier size: the full tile past it is not there yet.
    sim.publish_prefix(1, 300);
    let origin = logs[1].origin.clone().unwrap();
    let cp = String::from_utf8(get(&format!("{}checkpoint", logs[1].url)).body).unwrap();
    let (size, root, ok) = read_checkpoint(&cp, &origin, &logs[1].key_spki);
    assert_eq!(
        (size, root, ok),
        (300, mth(&static_replay_leaf_hashes()[..300]).to_vec(), true)
    );
    assert_eq!(get(&format!("{}tile/data/001", logs[1].url)).status, 404);
    assert_eq!(
        get(&format!("{}tile/data/001.p/44", logs[1].url)).status,
        200
    );
    assert_eq!(get(&format!("{}tile/data/000", logs[1].url)).status, 200);
}
