//! Fault-injection tests of the pollers: a real poller ([`super::run`]) on a glommio executor
//! against a scripted HTTP/1.1 CT log on a std thread (127.0.0.1:0) that serves the real
//! navigli2025h2 entries, tiles and issuers from `loadtest/fixtures/ctdata`, with faults
//! injected per request.
//!
//! Every scenario asserts that each index from the start position to the tree size is emitted
//! exactly once, in order, with the leaf and chain the fixtures hold; that the log's verified
//! tree size and cursor never move backwards; that the poller stops promptly; and that the
//! [`LogStats`] counters the fault should move did move (and no others).
//!
//! # Layout
//!
//! - fixtures and what the sink must see ([`Seen`]), computed independently of the decoders
//!   under test where possible (RFC 6962 expectations come from hand-parsing `extra_data`);
//! - [`Signer`]: a fresh ECDSA P-256 log key signing STHs and checkpoints;
//! - [`FakeServer`]: the scripted server (a closure decides each reply from the request and
//!   how many requests its path saw before) and [`FakeLog`], the honest answers scripts wrap;
//! - [`drive`]: runs one poller until its cursor reaches the expected end or a deadline;
//! - the scenarios: RFC 6962, Static CT, then checks that no hostile answer makes a busy loop.

use std::{
    cell::RefCell,
    collections::HashMap,
    io::{Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    rc::Rc,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex,
    },
    thread::JoinHandle,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use base64::Engine as _;
use bytes::Bytes;
use glommio::{timer::sleep, LocalExecutorBuilder, Placement};
use ring::{
    rand::SystemRandom,
    signature::{EcdsaKeyPair, KeyPair as _, ECDSA_P256_SHA256_ASN1_SIGNING},
};
use sha2::{Digest as _, Sha256};
use sonic_rs::{JsonContainerTrait as _, JsonValueTrait as _};

use super::{
    next_tick, run, Backfill, Emitted, EntrySink, LogCtx, LogProgress, PollSlot, PollerEnv,
    PollerTiming, StopFlag,
};
use crate::{
    ct::{
        entry::LogEntry,
        http::{tls_config, HttpClient, Timeouts},
        log_list::{LogInfo, LogKind, LogState},
        sig::{tree_head_signed_data, LogKey},
        static_ct::{parse_data_tile, parse_data_tile_prefix},
    },
    metrics::{FetchErrorKind, LogStats},
};

// ---- Fixtures and expectations -----------------------------------------------------------------

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/loadtest/fixtures/ctdata");
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
/// Entries in the RFC 6962 fixture page.
const RFC_ENTRIES: u64 = 16;
/// Entries in the three data tiles.
const TILE_ENTRIES: u64 = 768;

fn fixture(rel: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{rel}")).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn sha(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What the sink recorded for one emitted entry: its index, SHA-256 of `leaf_der`, and SHA-256
/// of each chain certificate (which for Static CT is the tile's fingerprint).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    index: u64,
    leaf: [u8; 32],
    chain: Vec<[u8; 32]>,
}

/// The fixture page as `(leaf_input, extra_data)` base64 strings.
fn rfc_entries() -> Vec<(String, String)> {
    let body = fixture("rfc6962/navigli2025h2_get-entries_0-15.json");
    let page: sonic_rs::Value = sonic_rs::from_slice(&body).unwrap();
    let entries = page.get("entries").unwrap().as_array().unwrap();
    entries
        .iter()
        .map(|e| {
            let field = |name: &str| e.get(name).unwrap().as_str().unwrap().to_owned();
            (field("leaf_input"), field("extra_data"))
        })
        .collect()
}

fn u24(b: &[u8]) -> usize {
    (usize::from(b[0]) << 16) | (usize::from(b[1]) << 8) | usize::from(b[2])
}

/// What the sink must see for the fixture page, read straight from each `extra_data`
/// (`PrecertChainEntry`: pre_certificate<1..2^24-1>, precertificate_chain<0..2^24-1> of
/// certificates<1..2^24-1>), not through the decoder under test.
fn rfc_expected() -> Vec<Seen> {
    rfc_entries()
        .iter()
        .enumerate()
        .map(|(i, (_, extra))| {
            let extra = B64.decode(extra).unwrap();
            let pre_len = u24(&extra);
            let leaf = sha(&extra[3..3 + pre_len]);
            let rest = &extra[3 + pre_len..];
            let mut certs = &rest[3..3 + u24(rest)];
            let mut chain = Vec::new();
            while !certs.is_empty() {
                let len = u24(certs);
                chain.push(sha(&certs[3..3 + len]));
                certs = &certs[3 + len..];
            }
            Seen {
                index: i as u64,
                leaf,
                chain,
            }
        })
        .collect()
}

fn tile(n: u64) -> Bytes {
    Bytes::from(fixture(&format!(
        "static-ct/navigli2025h2/tile/data/{n:03}"
    )))
}

/// The first `width` entries of tile `n`, cut at the entry boundary: where entry `width` starts
/// (its `timestamped_entry` is a zero-copy slice of the tile).
fn tile_prefix(n: u64, width: usize) -> Vec<u8> {
    tile_prefix_of(&tile(n), n, width)
}

/// What the sink must see for the three tiles when every issuer resolves.
fn tile_expected() -> Vec<Seen> {
    (0..3)
        .flat_map(|n| parse_data_tile(&tile(n), n, 256).unwrap())
        .map(|l| Seen {
            index: l.index,
            leaf: sha(&l.leaf_der),
            chain: l.chain_fingerprints.clone(),
        })
        .collect()
}

/// Issuer certificates by lowercase hex fingerprint (their file names).
fn issuers() -> HashMap<String, Vec<u8>> {
    let dir = format!("{FIXTURES}/static-ct/navigli2025h2/issuer");
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().into_string().unwrap(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) for a `Retry-After` header.
fn http_date(t: SystemTime) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    let secs = t.duration_since(UNIX_EPOCH).unwrap().as_secs();
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // H. Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        WEEKDAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[test]
fn fixtures_agree_with_each_other() {
    // The RFC 6962 page is derived from tile 000: same leaves, same chains (whose certificates
    // hash to the tile's fingerprints), so both paths are checked against one truth.
    let rfc = rfc_expected();
    let tiles = tile_expected();
    assert_eq!(rfc.len() as u64, RFC_ENTRIES);
    assert_eq!(tiles.len() as u64, TILE_ENTRIES);
    assert_eq!(rfc[..], tiles[..RFC_ENTRIES as usize]);
    let known = issuers();
    assert!(tiles
        .iter()
        .flat_map(|s| &s.chain)
        .all(|fp| known.contains_key(&hex(fp))));
    // Cutting a tile at entry boundaries gives tiles that parse to exactly that many entries.
    assert_eq!(
        parse_data_tile(&Bytes::from(tile_prefix(1, 44)), 1, 44)
            .unwrap()
            .len(),
        44
    );
    assert_eq!(
        http_date(UNIX_EPOCH + Duration::from_secs(784_111_777)),
        "Sun, 06 Nov 1994 08:49:37 GMT"
    );
    assert_eq!(
        http_date(UNIX_EPOCH + Duration::from_secs(1_709_164_800)),
        "Thu, 29 Feb 2024 00:00:00 GMT"
    );
}

// ---- The fake log's key --------------------------------------------------------------------------

/// A fresh ECDSA P-256 log key that signs STHs and checkpoints like a real log.
struct Signer {
    pair: EcdsaKeyPair,
    rng: SystemRandom,
    key: LogKey,
}

impl Signer {
    fn new() -> Signer {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        // SubjectPublicKeyInfo { id-ecPublicKey, prime256v1 } BIT STRING { uncompressed point }.
        let mut spki = vec![
            0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
            0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
        ];
        spki.extend_from_slice(pair.public_key().as_ref());
        let key = LogKey::from_spki_der(&spki).unwrap();
        Signer { pair, rng, key }
    }

    /// A TLS `DigitallySigned` (SHA-256, ECDSA) over `message`.
    fn digitally_signed(&self, message: &[u8]) -> Vec<u8> {
        let sig = self.pair.sign(&self.rng, message).unwrap();
        let sig = sig.as_ref();
        let mut out = vec![4, 3];
        out.extend_from_slice(&(sig.len() as u16).to_be_bytes());
        out.extend_from_slice(sig);
        out
    }

    /// The timestamp and root of the tree head of `size` (the root is not checked by pollers).
    fn head(size: u64) -> (u64, [u8; 32]) {
        (1_746_300_000_000 + size, sha(&size.to_be_bytes()))
    }

    /// The signature of the head of `size`; a bad one is a real signature over another size.
    fn head_signature(&self, size: u64, good: bool) -> (u64, [u8; 32], Vec<u8>) {
        let (ts, root) = Signer::head(size);
        let signed_size = if good { size } else { size + 1 };
        (
            ts,
            root,
            self.digitally_signed(&tree_head_signed_data(ts, signed_size, &root)),
        )
    }

    fn sth(&self, size: u64, good: bool) -> Vec<u8> {
        let (ts, root, sig) = self.head_signature(size, good);
        format!(
            r#"{{"tree_size":{size},"timestamp":{ts},"sha256_root_hash":"{}","tree_head_signature":"{}"}}"#,
            B64.encode(root),
            B64.encode(sig)
        )
        .into_bytes()
    }

    /// A checkpoint (signed note) with the log's RFC6962NoteSignature:
    /// key ID `SHA-256(origin || \n || 0x05 || log_id)[:4]`, then `u64 timestamp || DigitallySigned`.
    fn checkpoint(&self, origin: &str, size: u64, good: bool) -> Vec<u8> {
        let (ts, root, sig) = self.head_signature(size, good);
        let key_id = sha(&[origin.as_bytes(), b"\n\x05", &self.key.log_id()].concat());
        let mut blob = key_id[..4].to_vec();
        blob.extend_from_slice(&ts.to_be_bytes());
        blob.extend_from_slice(&sig);
        format!(
            "{origin}\n{size}\n{}\n\n\u{2014} {origin} {}\n",
            B64.encode(root),
            B64.encode(blob)
        )
        .into_bytes()
    }
}

// ---- The scripted server -------------------------------------------------------------------------

/// One request, as a script sees it.
struct Req {
    path: String,
    query: String,
    /// How many requests for this path (without query) came before this one.
    n: usize,
}

impl Req {
    fn param(&self, name: &str) -> Option<u64> {
        self.query
            .split('&')
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
    }
}

/// What the server does with one request.
enum Reply {
    /// A complete response (Content-Length framing); the connection stays open.
    Full {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: Vec<u8>,
    },
    /// 200 announcing `declared` body bytes but sending only `body`, then closing.
    Truncated { declared: usize, body: Vec<u8> },
    /// 200 with the full Content-Length, half of `body`, then a TCP reset.
    Reset { body: Vec<u8> },
    /// No answer at all for this long, then close.
    Hang(Duration),
    /// The inner reply, then the connection is closed without notice (as servers drop idle
    /// keep-alive connections): the client's next request on it finds it dead.
    ThenClose(Box<Reply>),
}

impl Reply {
    fn ok(body: Vec<u8>) -> Reply {
        Reply::Full {
            status: 200,
            headers: Vec::new(),
            body,
        }
    }

    fn gzipped(body: &[u8]) -> Reply {
        Reply::Full {
            status: 200,
            headers: vec![("Content-Encoding", "gzip".into())],
            body: gzip(body),
        }
    }

    fn status(status: u16) -> Reply {
        Reply::Full {
            status,
            headers: Vec::new(),
            body: format!("status {status}\n").into_bytes(),
        }
    }

    fn header(mut self, name: &'static str, value: String) -> Reply {
        if let Reply::Full { headers, .. } = &mut self {
            headers.push((name, value));
        }
        self
    }
}

type Script = dyn Fn(&Req) -> Reply + Send + Sync;

/// One request the server received.
#[derive(Debug, Clone)]
struct Served {
    path: String,
    query: String,
    at: Instant,
}

/// An HTTP/1.1 server on 127.0.0.1:0 answering every request with its script; one thread per
/// connection so that a hanging reply does not hold up the others.
struct FakeServer {
    addr: SocketAddr,
    served: Arc<Mutex<Vec<Served>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeServer {
    /// `make` builds the script once the address (hence the log URL and origin) is known.
    fn start<S>(make: impl FnOnce(SocketAddr) -> S) -> FakeServer
    where
        S: Fn(&Req) -> Reply + Send + Sync + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let script: Arc<Script> = Arc::new(make(addr));
        let served = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let counts = Arc::new(Mutex::new(HashMap::new()));
        let (served2, stop2) = (served.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !stop2.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (script, counts, served) =
                            (script.clone(), counts.clone(), served2.clone());
                        std::thread::spawn(move || {
                            serve_connection(stream, &*script, &counts, &served)
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        FakeServer {
            addr,
            served,
            stop,
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// The requests for `path`, in arrival order.
    fn requests(&self, path: &str) -> Vec<Served> {
        self.served
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.path == path)
            .cloned()
            .collect()
    }

    fn requests_under(&self, prefix: &str) -> Vec<Served> {
        self.served
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.path.starts_with(prefix))
            .cloned()
            .collect()
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The request target of the next request head on `stream`; `None` once the client is gone.
fn read_request_target(stream: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return None,
        }
    }
    let text = String::from_utf8(head).ok()?;
    let mut words = text.split(' ');
    assert_eq!(words.next(), Some("GET"), "pollers only GET");
    words.next().map(str::to_owned)
}

fn serve_connection(
    mut stream: TcpStream,
    script: &Script,
    counts: &Mutex<HashMap<String, usize>>,
    served: &Mutex<Vec<Served>>,
) {
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    while let Some(target) = read_request_target(&mut stream) {
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        let n = {
            let mut counts = counts.lock().unwrap();
            let count = counts.entry(path.to_owned()).or_insert(0);
            *count += 1;
            *count - 1
        };
        served.lock().unwrap().push(Served {
            path: path.to_owned(),
            query: query.to_owned(),
            at: Instant::now(),
        });
        let reply = script(&Req {
            path: path.to_owned(),
            query: query.to_owned(),
            n,
        });
        let head = |status: u16, headers: &[(&str, String)], len: usize| {
            let mut h = format!("HTTP/1.1 {status} Scripted\r\nContent-Length: {len}\r\n");
            for (name, value) in headers {
                h.push_str(&format!("{name}: {value}\r\n"));
            }
            h.push_str("\r\n");
            h.into_bytes()
        };
        let (reply, close) = match reply {
            Reply::ThenClose(inner) => (*inner, true),
            other => (other, false),
        };
        match reply {
            Reply::ThenClose(_) => unreachable!("nested ThenClose"),
            Reply::Full {
                status,
                headers,
                body,
            } => {
                let mut out = head(status, &headers, body.len());
                out.extend_from_slice(&body);
                if stream.write_all(&out).is_err() || close {
                    return;
                }
            }
            Reply::Truncated { declared, body } => {
                let mut out = head(200, &[], declared);
                out.extend_from_slice(&body);
                let _ = stream.write_all(&out);
                let _ = stream.shutdown(std::net::Shutdown::Both);
                return;
            }
            Reply::Reset { body } => {
                let mut out = head(200, &[], body.len());
                out.extend_from_slice(&body[..body.len() / 2]);
                let _ = stream.write_all(&out);
                std::thread::sleep(Duration::from_millis(10));
                // SO_LINGER 0: close() sends RST instead of FIN.
                let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
                return;
            }
            Reply::Hang(d) => {
                std::thread::sleep(d);
                return;
            }
        }
    }
}

// ---- The honest log that scripts wrap --------------------------------------------------------------

/// The real navigli2025h2 data and a signing key; each method is the honest answer a script
/// returns when it does not inject a fault.
struct FakeLog {
    signer: Signer,
    /// The checkpoint origin (`127.0.0.1:PORT`, from the submission URL `http://127.0.0.1:PORT/`).
    origin: String,
    rfc: Vec<(String, String)>,
    tiles: Vec<Bytes>,
    issuers: HashMap<String, Vec<u8>>,
    /// Entries handed out by honest get-entries answers (to prove no entry is fetched twice).
    entries_served: AtomicU64,
    gzipped_tiles: Mutex<HashMap<(u64, usize), Vec<u8>>>,
}

impl FakeLog {
    fn new(signer: Signer, addr: SocketAddr) -> FakeLog {
        FakeLog {
            signer,
            origin: addr.to_string(),
            rfc: rfc_entries(),
            tiles: (0..3).map(tile).collect(),
            issuers: issuers(),
            entries_served: AtomicU64::new(0),
            gzipped_tiles: Mutex::default(),
        }
    }

    fn sth(&self, size: u64) -> Reply {
        Reply::ok(self.signer.sth(size, true))
    }

    fn bad_sth(&self, size: u64) -> Reply {
        Reply::ok(self.signer.sth(size, false))
    }

    /// `{"entries":[...]}` for the fixture entries in `range`, with `edit` applied to each
    /// `(index, leaf_input, extra_data)`.
    fn entries_json(
        &self,
        range: std::ops::Range<u64>,
        edit: impl Fn(u64, &mut String, &mut String),
    ) -> Vec<u8> {
        let items: Vec<String> = range
            .map(|i| {
                let (mut leaf, mut extra) = self.rfc[i as usize].clone();
                edit(i, &mut leaf, &mut extra);
                format!(r#"{{"leaf_input":"{leaf}","extra_data":"{extra}"}}"#)
            })
            .collect();
        format!(r#"{{"entries":[{}]}}"#, items.join(",")).into_bytes()
    }

    /// The range an honest log of `size` entries, serving at most `cap` per page, answers for
    /// `start..=end`; `None` for a request it must refuse (400, like Trillian).
    fn page_range(req: &Req, size: u64, cap: u64) -> Option<std::ops::Range<u64>> {
        let (start, end) = (req.param("start")?, req.param("end")?);
        if start > end || start >= size {
            return None;
        }
        Some(start..end.min(size - 1).min(start + cap - 1) + 1)
    }

    fn entries(&self, req: &Req, size: u64, cap: u64) -> Reply {
        self.entries_edited(req, size, cap, |_, _, _| {})
    }

    fn entries_edited(
        &self,
        req: &Req,
        size: u64,
        cap: u64,
        edit: impl Fn(u64, &mut String, &mut String),
    ) -> Reply {
        match FakeLog::page_range(req, size, cap) {
            Some(range) => {
                self.entries_served
                    .fetch_add(range.end - range.start, Ordering::SeqCst);
                Reply::ok(self.entries_json(range, edit))
            }
            None => Reply::status(400),
        }
    }

    fn checkpoint(&self, size: u64) -> Reply {
        Reply::ok(self.signer.checkpoint(&self.origin, size, true))
    }

    fn bad_checkpoint(&self, size: u64) -> Reply {
        Reply::ok(self.signer.checkpoint(&self.origin, size, false))
    }

    /// `(tile, width)` of a `/tile/data/NNN[.p/W]` path.
    fn tile_request(path: &str) -> Option<(u64, usize)> {
        let rest = path.strip_prefix("/tile/data/")?;
        let (index, width) = match rest.split_once(".p/") {
            Some((index, width)) => (index, width.parse().ok()?),
            None => (rest, 256),
        };
        Some((index.parse().ok()?, width))
    }

    /// A Static CT log of `size` entries: full tiles that exist, any partial tile up to the
    /// tree's edge, issuers, and the checkpoint.
    fn tiled(&self, req: &Req, size: u64) -> Reply {
        if req.path == "/checkpoint" {
            return self.checkpoint(size);
        }
        if let Some(hex) = req.path.strip_prefix("/issuer/") {
            return match self.issuers.get(hex) {
                Some(der) => Reply::ok(der.clone()),
                None => Reply::status(404),
            };
        }
        match FakeLog::tile_request(&req.path) {
            Some((n, width))
                if n * 256 + width as u64 <= size && (n as usize) < self.tiles.len() =>
            {
                // Compressed once per shape: a debug-build gzip per request slows every test.
                let mut cache = self.gzipped_tiles.lock().unwrap();
                let body = cache
                    .entry((n, width))
                    .or_insert_with(|| gzip(&tile_prefix_of(&self.tiles[n as usize], n, width)));
                Reply::Full {
                    status: 200,
                    headers: vec![("Content-Encoding", "gzip".into())],
                    body: body.clone(),
                }
            }
            _ => Reply::status(404),
        }
    }
}

/// [`tile_prefix`] of an already loaded tile.
fn tile_prefix_of(full: &Bytes, n: u64, width: usize) -> Vec<u8> {
    if width >= 256 {
        return full.to_vec();
    }
    let leaves = parse_data_tile_prefix(full, n, width + 1).unwrap();
    let end = leaves[width].timestamped_entry.as_ptr() as usize - full.as_ptr() as usize;
    full[..end].to_vec()
}

// ---- The harness ------------------------------------------------------------------------------------

#[derive(Default)]
struct RecordingSink {
    seen: RefCell<Vec<Seen>>,
}

impl EntrySink for RecordingSink {
    fn emit(&self, _log: &LogCtx, entries: Vec<LogEntry>) -> Emitted {
        let mut seen = self.seen.borrow_mut();
        for e in entries {
            seen.push(Seen {
                index: e.index,
                leaf: sha(&e.leaf_der),
                chain: e.chain.iter().map(|c| sha(c)).collect(),
            });
        }
        Emitted::taken()
    }
}

/// Delays short enough that a dozen failures cost milliseconds.
fn fast_timing() -> PollerTiming {
    PollerTiming {
        backoff_min: Duration::from_millis(5),
        backoff_max: Duration::from_millis(40),
        start_delay_min: Duration::ZERO,
        broken_tile_confirm_after: Duration::from_millis(30),
    }
}

/// Client timeouts well above what a loaded test machine needs to serve a tile; the hanging
/// connection scenario shortens the read timeout.
fn test_timeouts() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(2),
        read: Duration::from_secs(3),
        request: Duration::from_secs(5),
    }
}

const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// How to run one poller.
struct Drive {
    kind: LogKind,
    start_at: Option<u64>,
    /// Done once the log's cursor reaches this.
    until: u64,
    deadline: Duration,
    /// Extra time after `until` during which nothing more may be emitted.
    settle: Duration,
    timing: PollerTiming,
    timeouts: Timeouts,
}

impl Drive {
    fn rfc(until: u64) -> Drive {
        Drive {
            kind: LogKind::Rfc6962,
            start_at: None,
            until,
            deadline: Duration::from_secs(10),
            settle: Duration::from_millis(120),
            timing: fast_timing(),
            timeouts: test_timeouts(),
        }
    }

    fn tiled(until: u64) -> Drive {
        Drive {
            kind: LogKind::StaticCt,
            ..Drive::rfc(until)
        }
    }
}

struct Outcome {
    seen: Vec<Seen>,
    stats: Rc<LogStats>,
    progress: Rc<LogProgress>,
    /// Verified tree size and cursor, sampled every few milliseconds.
    tree_sizes: Vec<u64>,
    cursors: Vec<u64>,
    elapsed: Duration,
    /// From setting the StopFlag to the poller's return.
    stop_latency: Duration,
}

impl Outcome {
    fn errors(&self, kind: FetchErrorKind) -> u64 {
        self.stats.errors[kind as usize].get()
    }

    /// All error counters, for assertion messages.
    fn counters(&self) -> String {
        let errors: Vec<String> = FetchErrorKind::ALL
            .iter()
            .map(|k| format!("{}={}", k.label(), self.errors(*k)))
            .collect();
        format!(
            "errors [{}], fetches {}, skipped {}",
            errors.join(" "),
            self.stats.fetches.get(),
            self.progress.entries_skipped()
        )
    }

    fn assert_errors(&self, kind: FetchErrorKind, expected: u64) {
        assert_eq!(
            self.errors(kind),
            expected,
            "{} errors; {}",
            kind.label(),
            self.counters()
        );
    }

    /// Every error counter except the named ones is zero.
    fn assert_no_other_errors(&self, allowed: &[FetchErrorKind]) {
        for kind in FetchErrorKind::ALL {
            if !allowed.contains(&kind) {
                assert_eq!(
                    self.errors(kind),
                    0,
                    "unexpected {} errors; {}",
                    kind.label(),
                    self.counters()
                );
            }
        }
    }
}

fn log_info(kind: LogKind, url: String, key: &LogKey) -> LogInfo {
    LogInfo {
        kind,
        description: "fault-injection test log".into(),
        operator: "test".into(),
        log_id: key.log_id(),
        key: key.clone(),
        submission_url: (kind == LogKind::StaticCt).then(|| url.clone()),
        url,
        mmd_secs: 60,
        state: LogState::Usable,
    }
}

/// Runs a poller for the fake log at `server` until its cursor reaches `d.until` (plus the
/// settle time) or the deadline passes, then stops it and checks it stops promptly.
fn drive(server: &FakeServer, key: &LogKey, d: Drive) -> Outcome {
    let info = log_info(d.kind, server.url(), key);
    let executor = LocalExecutorBuilder::new(Placement::Unbound)
        .io_memory(crate::limits::EXECUTOR_IO_MEMORY_BYTES)
        .make()
        .unwrap();
    executor.run(async move {
        let sink = Rc::new(RecordingSink::default());
        let http = HttpClient::with_timeouts(tls_config(None).unwrap(), d.timeouts);
        let env = Rc::new(PollerEnv {
            http: Rc::new(http),
            sink: sink.clone(),
            backfill: Backfill::All,
            poll_interval: POLL_INTERVAL,
            clock_epoch: Instant::now(),
            timing: d.timing,
        });
        let stats = LogStats::new(info.log_id, &info.url, &info.description, "test");
        let progress = LogProgress::new(info.log_id, &info.description, &info.url, None);
        let log = Rc::new(LogCtx {
            info,
            stats: stats.clone(),
            progress: progress.clone(),
            slot: PollSlot::ONLY,
        });
        let stop = Rc::new(StopFlag::default());
        let task = glommio::spawn_local(run(env, log, d.start_at, stop.clone()));
        let started = Instant::now();
        let (mut tree_sizes, mut cursors) = (Vec::new(), Vec::new());
        let mut done_at = None;
        loop {
            sleep(Duration::from_millis(3)).await;
            tree_sizes.push(progress.tree_size());
            cursors.push(progress.cursor());
            if done_at.is_none() && progress.cursor() >= d.until {
                done_at = Some(Instant::now());
            }
            let settled = done_at.is_some_and(|t| t.elapsed() >= d.settle);
            if settled || started.elapsed() >= d.deadline {
                break;
            }
        }
        let elapsed = started.elapsed();
        stop.stop();
        let stopping = Instant::now();
        let stopped = futures_lite::future::or(
            async {
                task.await;
                true
            },
            async {
                sleep(Duration::from_secs(3)).await;
                false
            },
        )
        .await;
        assert!(
            stopped,
            "the poller did not stop within 3 s of its StopFlag"
        );
        let stop_latency = stopping.elapsed();
        let seen = sink.seen.take();
        Outcome {
            seen,
            stats,
            progress,
            tree_sizes,
            cursors,
            elapsed,
            stop_latency,
        }
    })
}

/// The invariants of every scenario: `expected` (minus `skipped`) from `from` on was emitted
/// exactly once, in order, with the right leaf and chain; tree size and cursor never went back.
fn assert_exactly_once(out: &Outcome, expected: &[Seen], from: u64, skipped: &[u64]) {
    let want: Vec<&Seen> = expected
        .iter()
        .filter(|e| e.index >= from && !skipped.contains(&e.index))
        .collect();
    let got_idx: Vec<u64> = out.seen.iter().map(|s| s.index).collect();
    let want_idx: Vec<u64> = want.iter().map(|s| s.index).collect();
    if got_idx != want_idx {
        let mut counts: HashMap<u64, usize> = HashMap::new();
        for i in &got_idx {
            *counts.entry(*i).or_default() += 1;
        }
        let repeated: Vec<u64> = {
            let mut r: Vec<u64> = counts
                .iter()
                .filter(|(_, c)| **c > 1)
                .map(|(i, _)| *i)
                .collect();
            r.sort_unstable();
            r
        };
        let missing: Vec<u64> = want_idx
            .iter()
            .filter(|i| !counts.contains_key(i))
            .copied()
            .collect();
        let unexpected: Vec<u64> = got_idx
            .iter()
            .filter(|i| !want_idx.contains(i))
            .copied()
            .collect();
        let first_diff = got_idx.iter().zip(&want_idx).position(|(a, b)| a != b);
        panic!(
            "emitted {} entries, expected {}; repeated {:?}; missing {:?}; unexpected {:?}; first out-of-order position {:?} (cursor {})",
            got_idx.len(),
            want_idx.len(),
            &repeated[..repeated.len().min(20)],
            &missing[..missing.len().min(20)],
            &unexpected[..unexpected.len().min(20)],
            first_diff,
            out.progress.cursor()
        );
    }
    for (got, want) in out.seen.iter().zip(want) {
        assert_eq!(got, want, "entry {} differs from the fixture", want.index);
    }
    assert!(
        out.tree_sizes.windows(2).all(|w| w[0] <= w[1]),
        "tree size went backwards: {:?}",
        out.tree_sizes
    );
    assert!(
        out.cursors.windows(2).all(|w| w[0] <= w[1]),
        "cursor went backwards: {:?}",
        dedup(&out.cursors)
    );
    assert_eq!(
        out.progress.entries_skipped(),
        skipped.len() as u64,
        "entries_skipped"
    );
}

fn dedup(v: &[u64]) -> Vec<u64> {
    let mut out = v.to_vec();
    out.dedup();
    out
}

/// Starts a server whose script is `script(fake_log, request)`; returns it, the fake log and
/// the log key.
fn serve<S>(script: S) -> (FakeServer, Arc<FakeLog>, LogKey)
where
    S: Fn(&FakeLog, &Req) -> Reply + Send + Sync + 'static,
{
    let signer = Signer::new();
    let key = signer.key.clone();
    let mut log = None;
    let server = FakeServer::start(|addr| {
        let f = Arc::new(FakeLog::new(signer, addr));
        log = Some(f.clone());
        move |req: &Req| script(&f, req)
    });
    (server, log.unwrap(), key)
}

const STH: &str = "/ct/v1/get-sth";
const ENTRIES: &str = "/ct/v1/get-entries";

/// An honest RFC 6962 log of `size` entries serving `cap` per page.
fn rfc_honest(log: &FakeLog, req: &Req, size: u64, cap: u64) -> Reply {
    match req.path.as_str() {
        STH => log.sth(size),
        ENTRIES => log.entries(req, size, cap),
        _ => Reply::status(404),
    }
}

// ---- RFC 6962 scenarios ------------------------------------------------------------------------------

fn rfc_capped(cap: u64) {
    let (server, log, key) = serve(move |log, req| rfc_honest(log, req, RFC_ENTRIES, cap));
    let out = drive(&server, &key, Drive::rfc(RFC_ENTRIES));
    assert_exactly_once(&out, &rfc_expected(), 0, &[]);
    // Each entry was handed out once: no window overlapped another or was fetched twice.
    assert_eq!(log.entries_served.load(Ordering::SeqCst), RFC_ENTRIES);
    let requests = server.requests(ENTRIES).len() as u64;
    assert_eq!(requests, RFC_ENTRIES.div_ceil(cap), "one request per page");
    assert!(
        out.stats.fetches.get() > requests,
        "get-sth and get-entries fetches are counted"
    );
    assert_eq!(out.progress.tree_size(), RFC_ENTRIES);
    assert_eq!(out.progress.cursor(), RFC_ENTRIES);
    out.assert_no_other_errors(&[]);
}

#[test]
fn rfc_pages_capped_at_3() {
    rfc_capped(3);
}

#[test]
fn rfc_pages_capped_at_1() {
    rfc_capped(1);
}

#[test]
fn rfc_varying_page_sizes_on_a_growing_tree() {
    const CAPS: [u64; 7] = [5, 1, 4, 2, 7, 3, 1];
    let (server, log, key) = serve(|log, req| {
        // The tree grows 6 → 11 → 16 while page sizes change on every request.
        let size = match req.n {
            0..=1 => 6,
            2..=3 => 11,
            _ => RFC_ENTRIES,
        };
        match req.path.as_str() {
            STH => log.sth(size),
            ENTRIES => log.entries(req, RFC_ENTRIES, CAPS[req.n % CAPS.len()]),
            _ => Reply::status(404),
        }
    });
    let out = drive(&server, &key, Drive::rfc(RFC_ENTRIES));
    assert_exactly_once(&out, &rfc_expected(), 0, &[]);
    assert_eq!(
        log.entries_served.load(Ordering::SeqCst),
        RFC_ENTRIES,
        "no entry fetched twice"
    );
    assert!(server.requests(STH).len() >= 5, "the tree grew in steps");
    out.assert_no_other_errors(&[]);
}

#[test]
fn rfc_aligned_pages_from_a_mid_page_start() {
    // A log that ends every page on a multiple of 4 (Trillian --align_getentries), followed
    // from index 1: the first page is short and later ones must not overlap it.
    let (server, log, key) = serve(|log, req| match req.path.as_str() {
        STH => log.sth(RFC_ENTRIES),
        ENTRIES => {
            let start = req.param("start").unwrap_or(0);
            log.entries(req, RFC_ENTRIES, 4 - start % 4)
        }
        _ => Reply::status(404),
    });
    let out = drive(
        &server,
        &key,
        Drive {
            start_at: Some(1),
            ..Drive::rfc(RFC_ENTRIES)
        },
    );
    assert_exactly_once(&out, &rfc_expected(), 1, &[]);
    assert_eq!(log.entries_served.load(Ordering::SeqCst), RFC_ENTRIES - 1);
    let starts: Vec<u64> = server
        .requests(ENTRIES)
        .iter()
        .map(|r| start_of(&r.query))
        .collect();
    assert_eq!(starts.first(), Some(&1));
    assert!(
        starts.iter().all(|s| *s >= 1),
        "nothing before start_at is fetched: {starts:?}"
    );
    out.assert_no_other_errors(&[]);
}

/// The gap between the first and second get-entries request.
fn retry_gap(server: &FakeServer) -> Duration {
    let reqs = server.requests(ENTRIES);
    reqs[1].at.duration_since(reqs[0].at)
}

#[test]
fn rfc_429_with_retry_after_seconds() {
    let (server, _log, key) = serve(|log, req| match (req.path.as_str(), req.n) {
        (ENTRIES, 0) => Reply::status(429).header("Retry-After", "1".into()),
        _ => rfc_honest(log, req, RFC_ENTRIES, 16),
    });
    let out = drive(&server, &key, Drive::rfc(RFC_ENTRIES));
    assert_exactly_once(&out, &rfc_expected(), 0, &[]);
    let gap = retry_gap(&server);
    assert!(
        gap >= Duration::from_millis(950),
        "Retry-After: 1 was not honoured: {gap:?}"
    );
    out.assert_errors(FetchErrorKind::RateLimited, 1);
    assert!(
        out.stats.pacing_ms.get() > 0,
        "the pacer widened after the 429"
    );
    out.assert_no_other_errors(&[FetchErrorKind::RateLimited]);
}

#[test]
fn rfc_429_with_retry_after_http_date() {
    let (server, _log, key) = serve(|log, req| match (req.path.as_str(), req.n) {
        // Whole seconds: two seconds from now is 1..2 s away.
        (ENTRIES, 0) => Reply::status(429).header(
            "Retry-After",
            http_date(SystemTime::now() + Duration::from_secs(2)),
        ),
        _ => rfc_honest(log, req, RFC_ENTRIES, 16),
    });
    let out = drive(&server, &key, Drive::rfc(RFC_ENTRIES));
    assert_exactly_once(&out, &rfc_expected(), 0, &[]);
    let gap = retry_gap(&server);
    assert!(
        gap >= Duration::from_millis(900),
        "Retry-After date was not honoured: {gap:?}"
    );
    out.assert_errors(FetchErrorKind::RateLimited, 1);
    out.assert_no_other_errors(&[FetchErrorKind::RateLimited]);
}

#[test]
fn rfc_429_without_retry_after_then_503_with_it() {
    // 429 without Retry-After (backoff), then a 503 with Retry-After (a rate limit, too).
    let (server, _log, key) = serve(|log, req| match (req.path.as_str(), req.n) {
        (ENTRIES, 0 | 1) => Reply::status(429),
        (ENTRIES, 2) => Reply::status(503).header("Retry-After", "0".into()),
        _ => rfc_honest(log, req, RFC_ENTRIES, 16),
    });
    let out = drive(&server, &key, Drive::rfc(RFC_ENTRIES));
    assert_exactly_once(&out, &rfc_expected(), 0, &[]);
    out.assert_errors(FetchErrorKind::RateLimited, 3);
    assert_eq!(server.requests(ENTRIES).len(), 4);
    out.assert_no_other_errors(&[FetchErrorKind::RateLimited]);
}

#[test]
fn rfc_5xx_bursts() {
    const BURST: [u16; 4] = [500, 502, 503, 504];
    let (server, _log, key) = serve(|log, req| match (req.path.as_str(), req.n) {
        (STH, 0) => Reply::status(502),
        (STH, 1) => Reply::status(504),
        (ENTRIES, n @ 0..=3) => Reply::status(BURST[n]),
        // A second burst in mid-stream, after some pages went through.
        (ENTRIES, n @ 6..=9) => Reply::status(BURST[n - 6]),
        _ => rfc_honest(log, req, RFC_ENTRIES, 3),
    });
    let out = drive(&server, &key, Drive::rfc(RFC_ENTRIES));
    assert_exactly_once(&out, &rfc_expected(), 0, &[]);
    out.assert_errors(FetchErrorKind::Status, 10);
    out.assert_no_other_errors(&[FetchErrorKind::Status]);
}

#[test]
fn rfc_non_json_bodies() {
    let (server, _log, key) = serve(|log, req| match (req.path.as_str(), req.n) {
        (STH, 0) => Reply::ok(b"<html>maintenance</html>".to_vec()),
        (ENTRIES, 0) => Reply::ok(b"<html><body>502 Bad Gateway</body></html>".to_vec()),
        (ENTRIES, 1) => Reply::ok(br#"{"entries":[{"leaf_input":"AAAA","#.to_vec()),
        (ENTRIES, 2) => Reply::ok(b"\xff\xfe{}".to_vec()),
        _ => rfc_honest(log, req, RFC_ENTRIES, 16),
    });
    let out = drive(&server, &key, Drive::rfc(RFC_ENTRIES));
    assert_exactly_once(&out, &rfc_expected(), 0, &[]);
    out.assert_errors(FetchErrorKind::BadResponse, 4);
    out.assert_no_other_errors(&[FetchErrorKind::BadResponse]);
}

#[test]
fn rfc_invalid_base64_in_one_entry_skips_only_that_entry() {
    let (server, _log, key) = serve(|log, req| match req.path.as_str() {
        STH => log.sth(RFC_ENTRIES),
        ENTRIES => log.entries_edited(req, RFC_ENTRIES, 6, |i, leaf, extra| match i {
            5 => *leaf = "%%% not base64 %%%".into(),
            9 => extra.insert(7, '*'),
            _ => {}
        }),
        _ => Reply::status(404),
    });
    let out = drive(&server, &key, Drive::rfc(RFC_ENTRIES));
    assert_exactly_once(&out, &rfc_expected(), 0, &[5, 9]);
    assert_eq!(
        server.requests(ENTRIES).len(),
        3,
        "a bad entry is a skip, not a page retry"
    );
    assert_eq!(out.progress.cursor(), RFC_ENTRIES);
    out.assert_no_other_errors(&[]);
}

#[test]
fn rfc_empty_entries_page_is_retried() {
    let (server, _log, key) = serve(|log, req| match (req.path.as_str(), req.n) {
        (ENTRIES, 0 | 1) => Reply::ok(br#"{"entries":[]}"#.to_vec()),
        (ENTRIES, 2) => Reply::ok(br#"{"something":"else"}"#.to_vec()),
        _ => rfc_honest(log, req, RFC_ENTRIES, 16),
    });
    let out = drive(&server, &key, Drive::rfc(RFC_ENTRIES));
    assert_exactly_once(&out, &rfc_expected(), 0, &[]);
    out.assert_errors(FetchErrorKind::BadResponse, 3);
    out.assert_no_other_errors(&[FetchErrorKind::BadResponse]);
}

#[test]
fn rfc_more_entries_than_requested_is_retried() {
    // The STH says 8 at first; the first page answers 12 entries for start=0&end=7.
    let (server, _log, key) = serve(|log, req| match (req.path.as_str(), req.n) {
        (STH, 0..=2) => log.sth(8),
        (ENTRIES, 0) => Reply::ok(log.entries_json(0..12, |_, _, _| {})),
        _ => rfc_honest(log, req, RFC_ENTRIES, 16),
    });
    let out = drive(&server, &key, Drive::rfc(RFC_ENTRIES));
    assert_exactly_once(&out, &rfc_expected(), 0, &[]);
    out.assert_errors(FetchErrorKind::BadResponse, 1);
    out.assert_no_other_errors(&[FetchErrorKind::BadResponse]);
}

#[test]
fn rfc_truncated_body() {
    let (server, log, key) = serve(|log, req| {
        let full = || log.entries_json(0..RFC_ENTRIES, |_, _, _| {});
        match (req.path.as_str(), req.n) {
            // Content-Length larger than what is sent, then close: once mid-body, once after
            // a complete JSON document.
            (ENTRIES, 0) => {
                let body = full();
                Reply::Truncated {
                    declared: body.len(),
                    body: body[..body.len() / 3].to_vec(),
                }
            }
            (ENTRIES, 1) => {
                let body = full();
                Reply::Truncated {
                    declared: body.len() + 50,
                    body,
                }
            }
            _ => rfc_honest(log, req, RFC_ENTRIES, 16),
        }
    });
    let out = drive(&server, &key, Drive::rfc(RFC_ENTRIES));
    assert_exactly_once(&out, &rfc_expected(), 0, &[]);
    out.assert_errors(FetchErrorKind::Network, 2);
    assert_eq!(log.entries_served.load(Ordering::SeqCst), RFC_ENTRIES);
    out.assert_no_other_errors(&[FetchErrorKind::Network]);
}

#[test]
fn rfc_body_reset_midway() {
    let (server, _log, key) = serve(|log, req| match (req.path.as_str(), req.n) {
        (ENTRIES, 0 | 1) => Reply::Reset {
            body: log.entries_json(0..RFC_ENTRIES, |_, _, _| {}),
        },
        (STH, 1) => Reply::Reset {
            body: log.signer.sth(RFC_ENTRIES, true),
        },
        _ => rfc_honest(log, req, RFC_ENTRIES, 16),
    });
    let out = drive(&server, &key, Drive::rfc(RFC_ENTRIES));
    assert_exactly_once(&out, &rfc_expected(), 0, &[]);
    assert!(
        out.errors(FetchErrorKind::Network) >= 2,
        "{}",
        out.errors(FetchErrorKind::Network)
    );
    out.assert_no_other_errors(&[FetchErrorKind::Network]);
}

#[test]
fn rfc_server_dropping_every_keep_alive_connection() {
    // Every answer is the last on its connection, without `Connection: close`: each pooled
    // connection is found dead by the next request, which the client retries on a fresh one.
    let (server, log, key) =
        serve(|log, req| Reply::ThenClose(Box::new(rfc_honest(log, req, RFC_ENTRIES, 2))));
    let out = drive(&server, &key, Drive::rfc(RFC_ENTRIES));
    assert_exactly_once(&out, &rfc_expected(), 0, &[]);
    assert_eq!(log.entries_served.load(Ordering::SeqCst), RFC_ENTRIES);
    out.assert_no_other_errors(&[]);
}

#[test]
fn rfc_sth_going_backwards_neither_rewinds_nor_repeats() {
    let (server, _log, key) = serve(|log, req| match (req.path.as_str(), req.n) {
        (STH, 0..=1) => log.sth(10),
        // A stale frontend: smaller trees, and one of size 0.
        (STH, 2..=4) => log.sth(4),
        (STH, 5) => log.sth(0),
        (STH, _) => log.sth(RFC_ENTRIES),
        _ => rfc_honest(log, req, RFC_ENTRIES, 16),
    });
    let out = drive(&server, &key, Drive::rfc(RFC_ENTRIES));
    assert_exactly_once(&out, &rfc_expected(), 0, &[]);
    assert!(
        server.requests(STH).len() >= 7,
        "the stale heads were all served"
    );
    assert!(
        out.tree_sizes.contains(&10),
        "the first head was used before the stale ones"
    );
    assert_eq!(out.progress.tree_size(), RFC_ENTRIES);
    // Nothing below 10 was asked for again once 0..10 was delivered.
    let starts: Vec<u64> = server
        .requests(ENTRIES)
        .iter()
        .map(|r| start_of(&r.query))
        .collect();
    assert_eq!(starts, vec![0, 10], "{starts:?}");
    out.assert_no_other_errors(&[]);
}

fn start_of(query: &str) -> u64 {
    Req {
        path: String::new(),
        query: query.to_owned(),
        n: 0,
    }
    .param("start")
    .unwrap()
}

fn end_of(query: &str) -> u64 {
    Req {
        path: String::new(),
        query: query.to_owned(),
        n: 0,
    }
    .param("end")
    .unwrap()
}

#[test]
fn rfc_sth_with_bad_signature_is_ignored() {
    // Bad heads claim 16 while the only verified head says 8; the poller must not fetch past 7
    // until a verified head says 16.
    let beyond_verified = Arc::new(AtomicBool::new(false));
    let good_16 = Arc::new(AtomicBool::new(false));
    let (flag, seen16) = (beyond_verified.clone(), good_16.clone());
    let (server, _log, key) = serve(move |log, req| match (req.path.as_str(), req.n) {
        (STH, 0 | 3) => log.bad_sth(RFC_ENTRIES),
        (STH, 1 | 2) => log.sth(8),
        (STH, _) => {
            seen16.store(true, Ordering::SeqCst);
            log.sth(RFC_ENTRIES)
        }
        (ENTRIES, _) => {
            if !seen16.load(Ordering::SeqCst) && end_of(&req.query) >= 8 {
                flag.store(true, Ordering::SeqCst);
            }
            log.entries(req, RFC_ENTRIES, 16)
        }
        _ => Reply::status(404),
    });
    let out = drive(&server, &key, Drive::rfc(RFC_ENTRIES));
    assert_exactly_once(&out, &rfc_expected(), 0, &[]);
    assert!(
        !beyond_verified.load(Ordering::SeqCst),
        "fetched past the verified tree size"
    );
    assert!(good_16.load(Ordering::SeqCst));
    out.assert_errors(FetchErrorKind::BadSignature, 2);
    assert!(
        !out.tree_sizes
            .iter()
            .any(|s| *s != 0 && *s != 8 && *s != RFC_ENTRIES),
        "an unverified size was recorded"
    );
    out.assert_no_other_errors(&[FetchErrorKind::BadSignature]);
}

#[test]
fn rfc_hanging_connection_hits_the_read_timeout() {
    let (server, _log, key) = serve(|log, req| match (req.path.as_str(), req.n) {
        (ENTRIES, 0) => Reply::Hang(Duration::from_millis(2500)),
        _ => rfc_honest(log, req, RFC_ENTRIES, 16),
    });
    let timeouts = Timeouts {
        read: Duration::from_millis(300),
        ..test_timeouts()
    };
    let out = drive(
        &server,
        &key,
        Drive {
            timeouts,
            ..Drive::rfc(RFC_ENTRIES)
        },
    );
    assert_exactly_once(&out, &rfc_expected(), 0, &[]);
    let gap = retry_gap(&server);
    // The read timeout is 300 ms; without it the retry would wait for the server (2.5 s).
    assert!(
        gap >= Duration::from_millis(280) && gap < Duration::from_millis(1500),
        "{gap:?}"
    );
    assert!(
        out.elapsed < Duration::from_millis(2000),
        "{:?}",
        out.elapsed
    );
    out.assert_errors(FetchErrorKind::Network, 1);
    out.assert_no_other_errors(&[FetchErrorKind::Network]);
}

// ---- Static CT scenarios -----------------------------------------------------------------------------

/// The entries of a Static CT log of `size` entries, with the chains missing `missing`.
fn tiled_expected(size: u64, missing: &[[u8; 32]]) -> Vec<Seen> {
    tile_expected()
        .into_iter()
        .take(size as usize)
        .map(|mut s| {
            s.chain.retain(|fp| !missing.contains(fp));
            s
        })
        .collect()
}

fn tiles_requested(server: &FakeServer) -> Vec<String> {
    server
        .requests_under("/tile/")
        .into_iter()
        .map(|r| r.path)
        .collect()
}

#[test]
fn tiled_full_and_partial_tiles() {
    let (server, _log, key) = serve(|log, req| log.tiled(req, 600));
    let out = drive(&server, &key, Drive::tiled(600));
    assert_exactly_once(&out, &tiled_expected(600, &[]), 0, &[]);
    let mut tiles = tiles_requested(&server);
    tiles.sort();
    assert_eq!(
        tiles,
        ["/tile/data/000", "/tile/data/001", "/tile/data/002.p/88"]
    );
    // Issuers are cached for good: each is fetched at most once per tile in flight (the
    // windows of one catch-up can miss the cache together), and every one is fetched.
    let mut distinct: Vec<String> = tiled_expected(600, &[])
        .iter()
        .flat_map(|s| s.chain.iter().map(|fp| format!("/issuer/{}", hex(fp))))
        .collect();
    distinct.sort_unstable();
    distinct.dedup();
    for path in &distinct {
        let n = server.requests(path).len();
        assert!(
            (1..=crate::limits::FETCHES_IN_FLIGHT_PER_LOG).contains(&n),
            "{path} fetched {n} times"
        );
    }
    assert!(server
        .requests_under("/issuer/")
        .iter()
        .all(|r| distinct.contains(&r.path)));
    assert_eq!(out.progress.tree_size(), 600);
    out.assert_no_other_errors(&[]);
}

#[test]
fn tiled_partial_tile_gone_falls_back_to_the_full_tile() {
    // Checkpoints say 300, then 400, then 768. Tile 1 exists as `.p/44` and in full, but its
    // `.p/144` is already gone (404) when the poller asks for it: the log has grown meanwhile.
    let (server, _log, key) = serve(|log, req| match (req.path.as_str(), req.n) {
        ("/checkpoint", 0..=2) => log.checkpoint(300),
        ("/checkpoint", 3..=5) => log.checkpoint(400),
        ("/checkpoint", _) => log.checkpoint(TILE_ENTRIES),
        ("/tile/data/001.p/44", _) => Reply::gzipped(&tile_prefix(1, 44)),
        (p, _) if p.starts_with("/tile/data/001.p/") => Reply::status(404),
        _ => log.tiled(req, TILE_ENTRIES),
    });
    let out = drive(&server, &key, Drive::tiled(TILE_ENTRIES));
    assert_exactly_once(&out, &tiled_expected(TILE_ENTRIES, &[]), 0, &[]);
    let tiles = tiles_requested(&server);
    assert!(
        tiles.contains(&"/tile/data/001.p/44".to_owned()),
        "{tiles:?}"
    );
    assert!(
        tiles.contains(&"/tile/data/001.p/144".to_owned()),
        "{tiles:?}"
    );
    assert!(tiles.contains(&"/tile/data/001".to_owned()), "{tiles:?}");
    assert!(
        out.cursors.contains(&400),
        "the size-400 checkpoint was streamed up to exactly 400"
    );
    out.assert_no_other_errors(&[]);
}

#[test]
fn tiled_partial_tile_404_while_the_full_tile_does_not_exist_yet() {
    // A CDN that has not caught up: the partial tile of the tree's edge is 404 twice, and the
    // full tile cannot exist yet. The poller must go back to the partial tile, not wait for a
    // full tile that appears only 212 entries later.
    let (server, _log, key) = serve(|log, req| match (req.path.as_str(), req.n) {
        ("/tile/data/001.p/44", 0 | 1) => Reply::status(404),
        _ => log.tiled(req, 300),
    });
    let out = drive(
        &server,
        &key,
        Drive {
            deadline: Duration::from_secs(3),
            ..Drive::tiled(300)
        },
    );
    assert_exactly_once(&out, &tiled_expected(300, &[]), 0, &[]);
    assert_eq!(server.requests("/tile/data/001.p/44").len(), 3);
    out.assert_errors(FetchErrorKind::Status, 2);
    out.assert_no_other_errors(&[FetchErrorKind::Status]);
}

#[test]
fn tiled_checkpoint_with_bad_signature_is_ignored() {
    let beyond_verified = Arc::new(AtomicBool::new(false));
    let good_768 = Arc::new(AtomicBool::new(false));
    let (flag, seen) = (beyond_verified.clone(), good_768.clone());
    let (server, _log, key) = serve(move |log, req| match (req.path.as_str(), req.n) {
        ("/checkpoint", 0 | 3) => log.bad_checkpoint(TILE_ENTRIES),
        ("/checkpoint", 1 | 2) => log.checkpoint(300),
        ("/checkpoint", _) => {
            seen.store(true, Ordering::SeqCst);
            log.checkpoint(TILE_ENTRIES)
        }
        (p, _) => {
            let past_300 = p.starts_with("/tile/data/002")
                || p == "/tile/data/001"
                || p.starts_with("/tile/data/001.p/") && p != "/tile/data/001.p/44";
            if past_300 && !seen.load(Ordering::SeqCst) {
                flag.store(true, Ordering::SeqCst);
            }
            log.tiled(req, TILE_ENTRIES)
        }
    });
    let out = drive(&server, &key, Drive::tiled(TILE_ENTRIES));
    assert_exactly_once(&out, &tiled_expected(TILE_ENTRIES, &[]), 0, &[]);
    assert!(
        !beyond_verified.load(Ordering::SeqCst),
        "fetched past the verified checkpoint"
    );
    assert!(good_768.load(Ordering::SeqCst));
    out.assert_errors(FetchErrorKind::BadSignature, 2);
    out.assert_no_other_errors(&[FetchErrorKind::BadSignature]);
}

#[test]
fn tiled_malformed_checkpoints_are_bad_responses() {
    let (server, _log, key) = serve(|log, req| match (req.path.as_str(), req.n) {
        ("/checkpoint", 0) => Reply::ok(b"<html>503 Service Unavailable</html>".to_vec()),
        // Another log's checkpoint (wrong origin), correctly signed.
        ("/checkpoint", 1) => Reply::ok(log.signer.checkpoint("other.example/log", 600, true)),
        ("/checkpoint", 2) => Reply::status(500),
        _ => log.tiled(req, 600),
    });
    let out = drive(&server, &key, Drive::tiled(600));
    assert_exactly_once(&out, &tiled_expected(600, &[]), 0, &[]);
    out.assert_errors(FetchErrorKind::BadResponse, 2);
    out.assert_errors(FetchErrorKind::Status, 1);
    out.assert_no_other_errors(&[FetchErrorKind::BadResponse, FetchErrorKind::Status]);
}

#[test]
fn tiled_checkpoint_going_backwards() {
    let (server, _log, key) = serve(|log, req| match (req.path.as_str(), req.n) {
        ("/checkpoint", 0..=1) => log.checkpoint(600),
        ("/checkpoint", 2..=4) => log.checkpoint(200),
        ("/checkpoint", _) => log.checkpoint(TILE_ENTRIES),
        _ => log.tiled(req, TILE_ENTRIES),
    });
    let out = drive(&server, &key, Drive::tiled(TILE_ENTRIES));
    assert_exactly_once(&out, &tiled_expected(TILE_ENTRIES, &[]), 0, &[]);
    assert!(server.requests("/checkpoint").len() >= 6);
    let tiles = tiles_requested(&server);
    assert_eq!(
        tiles
            .iter()
            .filter(|t| t.starts_with("/tile/data/000"))
            .count(),
        1,
        "{tiles:?}"
    );
    assert_eq!(
        tiles
            .iter()
            .filter(|t| t.starts_with("/tile/data/001"))
            .count(),
        1,
        "{tiles:?}"
    );
    out.assert_no_other_errors(&[]);
}

#[test]
fn tiled_missing_issuer_streams_the_chain_it_has() {
    let expected = tile_expected();
    // The last certificate of the first chain (the root): every entry references it.
    let root = *expected[0].chain.last().unwrap();
    let root_hex = hex(&root);
    let (server, _log, key) = serve(move |log, req| {
        if req.path == format!("/issuer/{root_hex}") {
            return Reply::status(404);
        }
        log.tiled(req, TILE_ENTRIES)
    });
    let out = drive(&server, &key, Drive::tiled(TILE_ENTRIES));
    let want = tiled_expected(TILE_ENTRIES, &[root]);
    assert!(
        want.iter().all(|s| !s.chain.is_empty()),
        "the intermediates still resolve"
    );
    assert_exactly_once(&out, &want, 0, &[]);
    // Asked once per tile that references it, not once per entry.
    let tiles_with_root = (0..3)
        .filter(|n| {
            expected[n * 256..(n + 1) * 256]
                .iter()
                .any(|s| s.chain.contains(&root))
        })
        .count();
    assert_eq!(
        server.requests(&format!("/issuer/{}", hex(&root))).len(),
        tiles_with_root
    );
    out.assert_errors(FetchErrorKind::Status, tiles_with_root as u64);
    out.assert_no_other_errors(&[FetchErrorKind::Status]);
}

#[test]
fn tiled_garbage_tile_bodies_are_retried() {
    let (server, _log, key) = serve(|log, req| match (req.path.as_str(), req.n) {
        // Claims gzip, is not.
        ("/tile/data/001", 0) => Reply::ok(b"\x1f\x8b definitely not gzip".to_vec())
            .header("Content-Encoding", "gzip".into()),
        // Valid gzip of garbage.
        ("/tile/data/001", 1) => Reply::gzipped(&[0xa5; 5000]),
        // A full tile URL answered with only 100 entries.
        ("/tile/data/001", 2) => Reply::gzipped(&tile_prefix(1, 100)),
        // A full tile with trailing junk.
        ("/tile/data/001", 3) => Reply::gzipped(&[tile(1).to_vec(), vec![0; 7]].concat()),
        _ => log.tiled(req, TILE_ENTRIES),
    });
    let out = drive(&server, &key, Drive::tiled(TILE_ENTRIES));
    assert_exactly_once(&out, &tiled_expected(TILE_ENTRIES, &[]), 0, &[]);
    assert_eq!(server.requests("/tile/data/001").len(), 5);
    assert_eq!(
        out.errors(FetchErrorKind::Network),
        1,
        "undecodable gzip is a transport error"
    );
    out.assert_errors(FetchErrorKind::BadResponse, 3);
    out.assert_no_other_errors(&[FetchErrorKind::Network, FetchErrorKind::BadResponse]);
}

/// Tile `n` with the `leaf_index` extension of entry `position` changed to `value`.
fn tile_with_leaf_index(n: u64, position: usize, value: u64) -> Vec<u8> {
    let full = tile(n);
    let leaves = parse_data_tile(&full, n, 256).unwrap();
    let entry = &leaves[position].timestamped_entry;
    // The extensions are the end of the TimestampedEntry: u16 length 8, then
    // type 0 (leaf_index), u16 length 5, uint40.
    let end = entry.as_ptr() as usize - full.as_ptr() as usize + entry.len();
    assert_eq!(
        &full[end - 10..end - 5],
        &[0, 8, 0, 0, 5],
        "leaf_index extension layout"
    );
    let mut out = full.to_vec();
    out[end - 5..end].copy_from_slice(&value.to_be_bytes()[3..]);
    out
}

#[test]
fn tiled_leaf_index_mismatch_is_retried_without_skipping() {
    let (server, _log, key) = serve(|log, req| match (req.path.as_str(), req.n) {
        // One entry of tile 1 claims the wrong index, three times; then tile 0's bytes are
        // served for tile 1 (every index wrong); then the right tile.
        ("/tile/data/001", 0..=2) => Reply::gzipped(&tile_with_leaf_index(1, 10, 999)),
        ("/tile/data/001", 3) => Reply::gzipped(&tile(0)),
        _ => log.tiled(req, TILE_ENTRIES),
    });
    let out = drive(&server, &key, Drive::tiled(TILE_ENTRIES));
    assert_exactly_once(&out, &tiled_expected(TILE_ENTRIES, &[]), 0, &[]);
    out.assert_errors(FetchErrorKind::BadResponse, 4);
    out.assert_no_other_errors(&[FetchErrorKind::BadResponse]);
}

#[test]
fn tiled_tile_broken_for_good_is_read_up_to_the_break_and_the_rest_reported() {
    // Tile 1's entry 200 always claims the wrong index: the log serves the same broken bytes
    // every time. Once that is confirmed, entries 256..=455 stream, 456..=511 (which cannot
    // be located in the tile) are skipped and reported, and tile 2 streams as usual.
    let (server, _log, key) = serve(|log, req| match req.path.as_str() {
        "/tile/data/001" => Reply::gzipped(&tile_with_leaf_index(1, 200, 7)),
        _ => log.tiled(req, TILE_ENTRIES),
    });
    let out = drive(&server, &key, Drive::tiled(TILE_ENTRIES));
    let skipped: Vec<u64> = (456..512).collect();
    assert_exactly_once(&out, &tiled_expected(TILE_ENTRIES, &[]), 0, &skipped);
    assert!(
        server.requests("/tile/data/001").len() >= crate::limits::BROKEN_TILE_REPEATS as usize,
        "the tile is fetched again until the break is confirmed"
    );
    let recent = out.progress.skipped_recent();
    assert_eq!(
        recent.iter().map(|e| e.index).collect::<Vec<_>>(),
        (480..512).collect::<Vec<_>>(),
        "the newest skips are listed"
    );
    out.assert_no_other_errors(&[FetchErrorKind::BadResponse]);
}

#[test]
fn tiled_tile_broken_only_until_the_confirmation_time_is_never_skipped() {
    // The same broken bytes, many times, but for less than the confirmation time: then the
    // right tile. Nothing may be skipped.
    let (server, _log, key) = serve(|log, req| match (req.path.as_str(), req.n) {
        ("/tile/data/001", 0..=7) => Reply::gzipped(&tile_with_leaf_index(1, 200, 7)),
        _ => log.tiled(req, TILE_ENTRIES),
    });
    let out = drive(
        &server,
        &key,
        Drive {
            timing: PollerTiming {
                broken_tile_confirm_after: Duration::from_secs(60),
                ..fast_timing()
            },
            ..Drive::tiled(TILE_ENTRIES)
        },
    );
    assert_exactly_once(&out, &tiled_expected(TILE_ENTRIES, &[]), 0, &[]);
    out.assert_errors(FetchErrorKind::BadResponse, 8);
}

#[test]
fn break_judge_needs_the_same_bytes_repeatedly_then_remembers_the_break() {
    use super::tiled::{BreakJudge, KnownBreak};
    let known = KnownBreak::default();
    let broken = Bytes::from(tile_with_leaf_index(1, 200, 7));
    let other = Bytes::from(tile_with_leaf_index(1, 100, 7));
    let mut judge = BreakJudge::new("test log", 1, &known, Duration::ZERO);
    let repeats = crate::limits::BROKEN_TILE_REPEATS;
    for _ in 1..repeats {
        assert!(judge.read(&broken, 256).is_err(), "not confirmed yet");
    }
    assert!(
        judge.read(&other, 256).is_err(),
        "other bytes start the count again"
    );
    for _ in 1..repeats {
        assert!(judge.read(&broken, 256).is_err());
    }
    let read = judge.read(&broken, 256).expect("confirmed");
    assert_eq!(read.leaves.len(), 200);
    assert_eq!(read.leaves.last().map(|l| l.index), Some(455));
    assert_eq!(read.unreadable_from.as_ref().map(|u| u.0), Some(456));
    // A later window of the same tile (a wider partial tile) broken at the same entry is the
    // same damage: read at once. A break elsewhere is not.
    let mut later = BreakJudge::new("test log", 1, &known, Duration::from_secs(3600));
    let wider = Bytes::from(tile_with_leaf_index(1, 200, 8));
    assert!(later.read(&wider, 256).is_ok());
    assert!(later.read(&other, 256).is_err());
    // A tile that parses is read whole whatever happened before.
    let good = tile(1);
    let read = later.read(&good, 256).expect("intact tile");
    assert_eq!(read.leaves.len(), 256);
    assert!(read.unreadable_from.is_none());
}

// ---- Busy loops ----------------------------------------------------------------------------------------

/// Runs a log that never makes progress for `run_for` and returns how many requests `path` got.
fn count_requests_while_stuck(
    server: &FakeServer,
    key: &LogKey,
    kind: LogKind,
    path_prefix: &str,
    timing: PollerTiming,
    run_for: Duration,
) -> (usize, Outcome) {
    let out = drive(
        server,
        key,
        Drive {
            kind,
            deadline: run_for,
            timing,
            ..Drive::rfc(u64::MAX)
        },
    );
    assert!(out.seen.is_empty());
    (server.requests_under(path_prefix).len(), out)
}

fn slow_timing() -> PollerTiming {
    PollerTiming {
        backoff_min: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
        ..fast_timing()
    }
}

#[test]
fn no_busy_loop_on_empty_pages_forever() {
    let (server, _log, key) = serve(|log, req| match req.path.as_str() {
        STH => log.sth(RFC_ENTRIES),
        _ => Reply::ok(br#"{"entries":[]}"#.to_vec()),
    });
    let (n, out) = count_requests_while_stuck(
        &server,
        &key,
        LogKind::Rfc6962,
        ENTRIES,
        slow_timing(),
        Duration::from_millis(1500),
    );
    // Backoff from 20 ms doubling to 200 ms: about a dozen attempts in 1.5 s; a busy loop
    // would make thousands.
    assert!((3..=40).contains(&n), "{n} get-entries requests in 1.5 s");
    // A request in flight when the poller stopped reached the server but was never counted.
    assert!(
        (n as u64 - 1..=n as u64).contains(&out.errors(FetchErrorKind::BadResponse)),
        "{n} requests; {}",
        out.counters()
    );
}

#[test]
fn no_busy_loop_on_429_with_zero_retry_after_forever() {
    let (server, _log, key) = serve(|log, req| match req.path.as_str() {
        STH => log.sth(RFC_ENTRIES),
        _ => Reply::status(429).header("Retry-After", "0".into()),
    });
    let (n, out) = count_requests_while_stuck(
        &server,
        &key,
        LogKind::Rfc6962,
        ENTRIES,
        slow_timing(),
        Duration::from_millis(1500),
    );
    // Retry-After: 0 asks for no wait at all; the pacer still spaces requests ≥ 50 ms apart.
    assert!((3..=35).contains(&n), "{n} get-entries requests in 1.5 s");
    // A request in flight when the poller stopped reached the server but was never counted.
    assert!(
        (n as u64 - 1..=n as u64).contains(&out.errors(FetchErrorKind::RateLimited)),
        "{n} requests; {}",
        out.counters()
    );
}

#[test]
fn a_long_retry_after_does_not_delay_stopping() {
    let (server, _log, key) = serve(|log, req| match req.path.as_str() {
        STH => log.sth(RFC_ENTRIES),
        _ => Reply::status(429).header("Retry-After", "600".into()),
    });
    let (n, out) = count_requests_while_stuck(
        &server,
        &key,
        LogKind::Rfc6962,
        ENTRIES,
        fast_timing(),
        Duration::from_millis(400),
    );
    assert_eq!(n, 1, "Retry-After: 600 is honoured");
    // The wait is cut into short sleeps that check the StopFlag.
    assert!(
        out.stop_latency < Duration::from_millis(500),
        "{:?}",
        out.stop_latency
    );
}

#[test]
fn no_busy_loop_on_missing_tiles_forever() {
    let (server, _log, key) = serve(|log, req| match req.path.as_str() {
        "/checkpoint" => log.checkpoint(600),
        _ => Reply::status(404),
    });
    let (n, out) = count_requests_while_stuck(
        &server,
        &key,
        LogKind::StaticCt,
        "/tile/",
        slow_timing(),
        Duration::from_millis(1500),
    );
    // Three tiles in flight (000, 001, 002.p/88), each retried after the log's shared backoff
    // (20..200 ms, about 110 ms once it has grown); the partial one costs two requests per
    // round (partial, then full). About 60 requests; a busy loop would make thousands.
    assert!((3..=120).contains(&n), "{n} tile requests in 1.5 s");
    let rounds = out.errors(FetchErrorKind::Status);
    assert!(
        rounds as usize * 2 >= n,
        "each failed round backs off: {n} requests, {rounds} rounds"
    );
}

#[test]
fn no_busy_loop_on_bad_signatures_forever() {
    let (server, _log, key) = serve(|log, req| log.bad_sth(RFC_ENTRIES).or_404(req, STH));
    let (n, out) = count_requests_while_stuck(
        &server,
        &key,
        LogKind::Rfc6962,
        STH,
        slow_timing(),
        Duration::from_millis(1000),
    );
    // Bad heads are polled once per poll interval (20 ms here), not in a loop.
    assert!((3..=60).contains(&n), "{n} get-sth requests in 1 s");
    // A request in flight when the poller stopped reached the server but was never counted.
    assert!(
        (n as u64 - 1..=n as u64).contains(&out.errors(FetchErrorKind::BadSignature)),
        "{n} requests; {}",
        out.counters()
    );
    assert_eq!(server.requests(ENTRIES).len(), 0);
}

impl Reply {
    /// This reply for `path`, 404 for anything else.
    fn or_404(self, req: &Req, path: &str) -> Reply {
        if req.path == path {
            self
        } else {
            Reply::status(404)
        }
    }
}

#[test]
fn poll_slots_spread_evenly_over_the_interval() {
    let interval = Duration::from_millis(1000);
    let phases: Vec<u128> = (0..4)
        .map(|i| PollSlot::new(i, 4).phase(interval).as_millis())
        .collect();
    assert_eq!(phases, [0, 250, 500, 750]);
    assert_eq!(PollSlot::ONLY.phase(interval), Duration::ZERO);
    // Out-of-range input is clamped, never divides by zero.
    assert_eq!(PollSlot::new(9, 4), PollSlot { index: 3, of: 4 });
    assert_eq!(PollSlot::new(0, 0), PollSlot::ONLY);
}

#[test]
fn next_tick_is_the_first_slot_tick_not_before_the_deadline() {
    let epoch = Instant::now();
    let ms = Duration::from_millis;
    let tick = |phase: u64, not_before: u64| {
        next_tick(epoch, ms(phase), ms(1000), epoch + ms(not_before)).duration_since(epoch)
    };
    assert_eq!(tick(250, 0), ms(250), "before the first tick");
    assert_eq!(tick(250, 250), ms(250), "exactly on a tick");
    assert_eq!(tick(250, 251), ms(1250), "just after a tick");
    assert_eq!(tick(250, 3100), ms(3250), "several intervals later");
    // A round that ends on time lands exactly one interval on: the schedule does not drift.
    let first = next_tick(epoch, ms(250), ms(1000), epoch);
    let mut t = first;
    for _ in 0..1000 {
        t = next_tick(epoch, ms(250), ms(1000), t + ms(1000));
    }
    assert_eq!(t.duration_since(first), ms(1_000_000));
}
