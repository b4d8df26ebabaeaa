//! End-to-end checks of `ctlog-sim` against the protocols, with independent little parsers
//! (no code shared with the simulator's encoders or the server's decoders).

use std::{
    io::{Read, Write},
    net::TcpStream,
    time::{Duration, Instant},
};

use base64::{engine::general_purpose::STANDARD, Engine};
use loadtest::sim::{self, SimConfig, SimHandle, SimLog};
use ring::{
    digest::{digest, SHA256},
    signature::{UnparsedPublicKey, ECDSA_P256_SHA256_ASN1},
};
use x509_parser::prelude::{FromDer, ParsedExtension, TbsCertificate, X509Certificate};

// ---------------------------------------------------------------- tiny HTTP/1.1 client

struct HttpResponse {
    status: u16,
    headers: Vec<(String, String)>,
    /// Body after transfer decoding and gunzip.
    body: Vec<u8>,
    /// Body exactly as on the wire after transfer decoding (still gzip if encoded).
    raw_body: Vec<u8>,
}

impl HttpResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

fn split_url(url: &str) -> (&str, &str) {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .unwrap();
    let slash = rest.find('/').unwrap_or(rest.len());
    (&rest[..slash], &rest[slash..])
}

fn get_with(url: &str, extra_headers: &str) -> HttpResponse {
    let (host, path) = split_url(url);
    let mut stream = TcpStream::connect(host).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra_headers}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    parse_response(&raw)
}

fn get(url: &str) -> HttpResponse {
    get_with(url, "")
}

fn parse_response(raw: &[u8]) -> HttpResponse {
    let head_end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = std::str::from_utf8(&raw[..head_end]).unwrap();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            (k.trim().to_owned(), v.trim().to_owned())
        })
        .collect();
    let mut body = &raw[head_end + 4..];
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v == "chunked");
    let mut raw_body = Vec::new();
    if chunked {
        loop {
            let line_end = body.windows(2).position(|w| w == b"\r\n").unwrap();
            let len =
                usize::from_str_radix(std::str::from_utf8(&body[..line_end]).unwrap(), 16).unwrap();
            body = &body[line_end + 2..];
            if len == 0 {
                break;
            }
            raw_body.extend_from_slice(&body[..len]);
            assert_eq!(&body[len..len + 2], b"\r\n");
            body = &body[len + 2..];
        }
    } else {
        raw_body = body.to_vec();
    }
    let gz = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("content-encoding") && v == "gzip");
    let decoded = if gz {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw_body[..])
            .read_to_end(&mut out)
            .unwrap();
        out
    } else {
        raw_body.clone()
    };
    HttpResponse {
        status,
        headers,
        body: decoded,
        raw_body,
    }
}

// ---------------------------------------------------------------- independent decoders

fn sha256(data: &[u8]) -> [u8; 32] {
    digest(&SHA256, data).as_ref().try_into().unwrap()
}

fn leaf_hash(leaf: &[u8]) -> [u8; 32] {
    sha256(&[&[0u8][..], leaf].concat())
}

fn mth(leaves: &[[u8; 32]]) -> [u8; 32] {
    if leaves.is_empty() {
        return sha256(&[]);
    }
    if leaves.len() == 1 {
        return leaves[0];
    }
    let mut k = 1;
    while k * 2 < leaves.len() {
        k *= 2;
    }
    let (l, r) = (mth(&leaves[..k]), mth(&leaves[k..]));
    sha256(&[&[1u8][..], &l, &r].concat())
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> &'a [u8] {
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a
    }
    fn uint(&mut self, n: usize) -> u64 {
        self.take(n)
            .iter()
            .fold(0, |acc, b| acc << 8 | u64::from(*b))
    }
    fn vec(&mut self, len_bytes: usize) -> &'a [u8] {
        let n = self.uint(len_bytes) as usize;
        self.take(n)
    }
}

struct Leaf<'a> {
    precert: bool,
    timestamp: u64,
    issuer_key_hash: Option<&'a [u8]>,
    /// x509: certificate DER; precert: TBS DER.
    signed_entry: &'a [u8],
    extensions: &'a [u8],
}

/// MerkleTreeLeaf (after the 2 leading bytes) / TileLeaf prefix.
fn read_timestamped_entry<'a>(r: &mut Reader<'a>) -> Leaf<'a> {
    let timestamp = r.uint(8);
    let entry_type = r.uint(2);
    let precert = entry_type == 1;
    let issuer_key_hash = precert.then(|| r.take(32));
    let signed_entry = r.vec(3);
    let extensions = r.vec(2);
    Leaf {
        precert,
        timestamp,
        issuer_key_hash,
        signed_entry,
        extensions,
    }
}

fn read_cert_list(data: &[u8]) -> Vec<&[u8]> {
    let mut r = Reader(data);
    let mut out = Vec::new();
    while !r.0.is_empty() {
        out.push(r.vec(3));
    }
    out
}

fn verify_digitally_signed(spki: &[u8], signed: &[u8], ds: &[u8]) {
    assert_eq!(&ds[..2], &[4, 3], "SHA-256/ECDSA");
    let len = u16::from_be_bytes([ds[2], ds[3]]) as usize;
    assert_eq!(ds.len(), 4 + len);
    let point = &spki[spki.len() - 65..];
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, point)
        .verify(signed, &ds[4..])
        .expect("signature verifies");
}

fn tree_head_input(ts: u64, size: u64, root: &[u8]) -> Vec<u8> {
    [&[0u8, 1][..], &ts.to_be_bytes(), &size.to_be_bytes(), root].concat()
}

// ---------------------------------------------------------------- helpers

fn start(cfg: SimConfig) -> SimHandle {
    sim::start(cfg).expect("simulator starts")
}

fn quiet(initial: u64) -> SimConfig {
    SimConfig {
        rate_per_sec: 0.0,
        initial_entries: initial,
        ..SimConfig::default()
    }
}

fn list_entry<'a>(list: &'a serde_json::Value, url_key: &str, url: &str) -> &'a serde_json::Value {
    list["operators"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|o| {
            o["logs"]
                .as_array()
                .unwrap()
                .iter()
                .chain(o["tiled_logs"].as_array().unwrap())
        })
        .find(|l| l[url_key] == url)
        .unwrap_or_else(|| panic!("{url} in log list"))
}

fn key_of(list: &serde_json::Value, log: &SimLog) -> Vec<u8> {
    let key = if log.kind == sim::LogType::Rfc6962 {
        "url"
    } else {
        "monitoring_url"
    };
    STANDARD
        .decode(list_entry(list, key, &log.url)["key"].as_str().unwrap())
        .unwrap()
}

/// Fetches entries [0, size) advancing by what each response returns.
fn fetch_all(log: &SimLog, size: u64) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    while (out.len() as u64) < size {
        let url = format!(
            "{}ct/v1/get-entries?start={}&end={}",
            log.url,
            out.len(),
            size - 1
        );
        let resp = get(&url);
        assert_eq!(resp.status, 200);
        let entries = resp.json()["entries"].as_array().unwrap().clone();
        assert!(!entries.is_empty());
        for e in entries {
            out.push((
                STANDARD.decode(e["leaf_input"].as_str().unwrap()).unwrap(),
                STANDARD.decode(e["extra_data"].as_str().unwrap()).unwrap(),
            ));
        }
    }
    out
}

// ---------------------------------------------------------------- tests

#[test]
fn sth_signature_verifies_and_root_matches_entries() {
    let sim = start(quiet(300));
    let list = get(&sim.log_list_url).json();
    for log in sim
        .logs()
        .iter()
        .filter(|l| l.kind == sim::LogType::Rfc6962)
    {
        let sth = get(&format!("{}ct/v1/get-sth", log.url)).json();
        let size = sth["tree_size"].as_u64().unwrap();
        assert_eq!(size, 300);
        assert_eq!(size, sim.tree_size(log.idx));
        let root = STANDARD
            .decode(sth["sha256_root_hash"].as_str().unwrap())
            .unwrap();
        let sig = STANDARD
            .decode(sth["tree_head_signature"].as_str().unwrap())
            .unwrap();
        let ts = sth["timestamp"].as_u64().unwrap();
        verify_digitally_signed(&key_of(&list, log), &tree_head_input(ts, size, &root), &sig);
        let hashes: Vec<[u8; 32]> = fetch_all(log, size)
            .iter()
            .map(|(l, _)| leaf_hash(l))
            .collect();
        assert_eq!(mth(&hashes).to_vec(), root, "log {}", log.name);
    }
}

#[test]
fn get_entries_caps_alignment_and_errors() {
    let sim = start(SimConfig {
        rfc6962_logs: 3,
        static_logs: 0,
        align_pages: true,
        ..quiet(1200)
    });
    let logs = sim.logs();
    assert_eq!(
        logs.iter().map(|l| l.page_cap.unwrap()).collect::<Vec<_>>(),
        vec![32, 256, 1000]
    );
    let count = |log: &SimLog, q: &str| {
        let r = get(&format!("{}ct/v1/get-entries?{q}", log.url));
        (
            r.status,
            if r.status == 200 {
                r.json()["entries"].as_array().unwrap().len()
            } else {
                0
            },
        )
    };
    assert_eq!(count(&logs[0], "start=0&end=999"), (200, 32));
    assert_eq!(
        count(&logs[0], "start=5&end=999"),
        (200, 27),
        "aligned to 32"
    );
    assert_eq!(
        count(&logs[1], "start=10&end=400"),
        (200, 246),
        "LE Oak example"
    );
    assert_eq!(count(&logs[1], "start=10&end=100"), (200, 91));
    assert_eq!(
        count(&logs[2], "start=1100&end=5000"),
        (200, 100),
        "partial at tree end"
    );
    assert_eq!(count(&logs[2], "start=1199&end=1199"), (200, 1));
    assert_eq!(count(&logs[2], "start=1200&end=1300").0, 400);
    assert_eq!(count(&logs[2], "start=9&end=8").0, 400);
    assert_eq!(count(&logs[2], "start=a&end=8").0, 400);
    assert_eq!(count(&logs[2], "start=-1&end=8").0, 400);
    assert_eq!(count(&logs[2], "end=8").0, 400);
    // Chunked always; gzip only when asked.
    let url = format!("{}ct/v1/get-entries?start=0&end=9", logs[2].url);
    let plain = get(&url);
    assert_eq!(plain.header("transfer-encoding"), Some("chunked"));
    assert_eq!(plain.header("content-encoding"), None);
    let gz = get_with(&url, "Accept-Encoding: gzip\r\n");
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    assert_eq!(&gz.raw_body[..2], &[0x1f, 0x8b]);
    assert_eq!(gz.body, plain.body, "same entries either way");
    // Unaligned when disabled.
    let sim2 = start(SimConfig {
        rfc6962_logs: 2,
        static_logs: 0,
        align_pages: false,
        ..quiet(600)
    });
    assert_eq!(count(&sim2.logs()[1], "start=10&end=400"), (200, 256));
}

#[test]
fn entries_are_well_formed_distinct_and_match_fingerprints() {
    let sim = start(SimConfig {
        rfc6962_logs: 2,
        static_logs: 0,
        ..quiet(400)
    });
    let mut serials = std::collections::HashSet::new();
    let (mut precerts, mut sizes) = (0, Vec::new());
    for log in sim.logs() {
        for (index, (leaf_input, extra)) in fetch_all(&log, 400).iter().enumerate() {
            assert_eq!(&leaf_input[..2], &[0, 0]);
            let mut r = Reader(&leaf_input[2..]);
            let leaf = read_timestamped_entry(&mut r);
            assert!(r.0.is_empty(), "no trailing bytes");
            assert!(
                leaf.extensions.is_empty(),
                "RFC 6962 leaves have no extensions"
            );
            assert!(leaf.timestamp > 1_700_000_000_000);
            let mut x = Reader(extra);
            let (published, chain) = if leaf.precert {
                precerts += 1;
                let pre = x.vec(3);
                (pre, read_cert_list(x.vec(3)))
            } else {
                (leaf.signed_entry, read_cert_list(x.vec(3)))
            };
            assert!(x.0.is_empty());
            assert!((1..=3).contains(&chain.len()));
            let (_, cert) = X509Certificate::from_der(published).expect("leaf parses");
            let (_, issuer) = X509Certificate::from_der(chain[0]).expect("issuer parses");
            assert_eq!(cert.issuer(), issuer.subject());
            assert!(
                serials.insert(cert.raw_serial().to_vec()),
                "distinct serial"
            );
            let sans = cert
                .subject_alternative_name()
                .unwrap()
                .unwrap()
                .value
                .general_names
                .len();
            assert!((1..=52).contains(&sans));
            sizes.push(published.len());
            if leaf.precert {
                check_precert(&cert, &leaf, &issuer);
            }
            assert_eq!(
                sim.entry_fingerprint(log.idx, index as u64),
                Some(sha256(published))
            );
            let kind = sim.entry_kind(log.idx, index as u64).unwrap();
            assert_eq!(
                kind,
                if leaf.precert {
                    sim::EntryKind::Precert
                } else {
                    sim::EntryKind::X509
                }
            );
        }
    }
    let share = f64::from(precerts) / 800.0;
    assert!((0.4..0.6).contains(&share), "precert share {share}");
    sizes.sort_unstable();
    let median = sizes[sizes.len() / 2];
    println!(
        "leaf DER sizes: min {} median {median} max {}",
        sizes[0],
        sizes[sizes.len() - 1]
    );
    assert!((600..1500).contains(&median));
}

fn check_precert(cert: &X509Certificate<'_>, leaf: &Leaf<'_>, issuer: &X509Certificate<'_>) {
    const POISON: &str = "1.3.6.1.4.1.11129.2.4.3";
    assert!(cert
        .extensions()
        .iter()
        .any(|e| e.oid.to_id_string() == POISON && e.critical));
    let (_, tbs) = TbsCertificate::from_der(leaf.signed_entry).expect("leaf_input TBS parses");
    assert!(tbs
        .extensions()
        .iter()
        .all(|e| e.oid.to_id_string() != POISON));
    assert_eq!(tbs.extensions().len() + 1, cert.extensions().len());
    assert_eq!(tbs.raw_serial(), cert.raw_serial());
    assert_eq!(
        leaf.issuer_key_hash.unwrap(),
        &sha256(issuer.public_key().raw)[..]
    );
    assert!(!cert
        .extensions()
        .iter()
        .any(|e| matches!(e.parsed_extension(), ParsedExtension::SCT(_))));
}

struct Checkpoint {
    origin: String,
    size: u64,
    root: Vec<u8>,
    key_name: String,
    blob: Vec<u8>,
}

fn parse_checkpoint(text: &str) -> Checkpoint {
    let (note, sigs) = text.split_once("\n\n").unwrap();
    let lines: Vec<&str> = note.split('\n').collect();
    assert_eq!(lines.len(), 3);
    assert!(text.ends_with('\n'));
    let sig = sigs.lines().next().unwrap();
    let rest = sig.strip_prefix("\u{2014} ").unwrap();
    let (name, b64) = rest.split_once(' ').unwrap();
    Checkpoint {
        origin: lines[0].to_owned(),
        size: lines[1].parse().unwrap(),
        root: STANDARD.decode(lines[2]).unwrap(),
        key_name: name.to_owned(),
        blob: STANDARD.decode(b64).unwrap(),
    }
}

fn verify_checkpoint(list: &serde_json::Value, log: &SimLog, text: &str) -> Checkpoint {
    let entry = list_entry(list, "monitoring_url", &log.url);
    let spki = STANDARD.decode(entry["key"].as_str().unwrap()).unwrap();
    let sub = entry["submission_url"].as_str().unwrap();
    let origin = sub.split_once("://").unwrap().1.trim_end_matches('/');
    let cp = parse_checkpoint(text);
    assert_eq!(cp.origin, origin);
    assert_eq!(cp.key_name, origin);
    let log_id = sha256(&spki);
    let key_id = sha256(&[origin.as_bytes(), &[0x0a, 0x05], &log_id].concat());
    assert_eq!(&cp.blob[..4], &key_id[..4]);
    let ts = u64::from_be_bytes(cp.blob[4..12].try_into().unwrap());
    verify_digitally_signed(
        &spki,
        &tree_head_input(ts, cp.size, &cp.root),
        &cp.blob[12..],
    );
    cp
}

/// Parses a data tile with the layout of static-ct-api; returns (merkle leaf hash, leaf_index,
/// sha256 of published cert, chain fingerprints) per entry.
/// (Merkle leaf hash, leaf_index, SHA-256 of the published cert, chain fingerprints).
type TileEntry = ([u8; 32], u64, [u8; 32], Vec<Vec<u8>>);

fn parse_tile(mut data: &[u8]) -> Vec<TileEntry> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let mut r = Reader(data);
        let leaf = read_timestamped_entry(&mut r);
        let merkle_len = data.len() - r.0.len();
        let published = if leaf.precert {
            r.vec(3)
        } else {
            leaf.signed_entry
        };
        let fps = r.vec(2);
        assert_eq!(fps.len() % 32, 0);
        let mut ext = Reader(leaf.extensions);
        assert_eq!(ext.uint(1), 0, "leaf_index type");
        let index = Reader(ext.vec(2)).uint(5);
        assert!(ext.0.is_empty());
        let merkle_leaf = [&[0u8, 0][..], &data[..merkle_len]].concat();
        out.push((
            leaf_hash(&merkle_leaf),
            index,
            sha256(published),
            fps.chunks(32).map(<[u8]>::to_vec).collect(),
        ));
        data = r.0;
    }
    out
}

#[test]
fn static_log_checkpoint_tiles_and_issuers() {
    let sim = start(SimConfig {
        rfc6962_logs: 0,
        static_logs: 1,
        ..quiet(600)
    });
    let log = &sim.logs()[0];
    let list = get(&sim.log_list_url).json();
    let cp = verify_checkpoint(
        &list,
        log,
        std::str::from_utf8(&get(&format!("{}checkpoint", log.url)).body).unwrap(),
    );
    assert_eq!(cp.size, 600);
    let mut hashes = Vec::new();
    for (n, path) in ["000", "001", "002.p/88"].iter().enumerate() {
        let resp = get(&format!("{}tile/data/{path}", log.url));
        assert_eq!(resp.status, 200, "{path}");
        assert_eq!(
            resp.header("content-encoding"),
            Some("gzip"),
            "gzip without negotiation"
        );
        assert_eq!(&resp.raw_body[..2], &[0x1f, 0x8b]);
        let entries = parse_tile(&resp.body);
        assert_eq!(entries.len(), if n < 2 { 256 } else { 88 });
        let level0 = get(&format!("{}tile/0/{path}", log.url));
        assert_eq!(level0.status, 200);
        for (k, (hash, index, fp, chain)) in entries.iter().enumerate() {
            let i = n as u64 * 256 + k as u64;
            assert_eq!(*index, i, "leaf_index extension");
            assert_eq!(&level0.body[k * 32..k * 32 + 32], hash);
            assert_eq!(sim.entry_fingerprint(log.idx, i), Some(*fp));
            for f in chain {
                let hex: String = f.iter().map(|b| format!("{b:02x}")).collect();
                let issuer = get(&format!("{}issuer/{hex}", log.url));
                assert_eq!(issuer.status, 200);
                assert_eq!(&sha256(&issuer.body)[..], &f[..]);
            }
            hashes.push(*hash);
        }
    }
    assert_eq!(mth(&hashes).to_vec(), cp.root);
    for bad in ["003", "002.p/87", "002.p/89", "002", "x000/000", "000.p/5"] {
        assert_eq!(
            get(&format!("{}tile/data/{bad}", log.url)).status,
            404,
            "{bad}"
        );
    }
}

#[test]
fn partial_tile_disappears_once_full_and_growth_pauses() {
    let sim = start(SimConfig {
        rfc6962_logs: 0,
        static_logs: 1,
        rate_per_sec: 400.0,
        initial_entries: 200,
        checkpoint_interval: Duration::from_millis(50),
        ..SimConfig::default()
    });
    sim.pause_growth();
    std::thread::sleep(Duration::from_millis(150));
    let log = &sim.logs()[0];
    let size = sim.tree_size(0);
    assert!((200..256).contains(&size), "size {size}");
    let partial = format!("{}tile/data/000.p/{size}", log.url);
    assert_eq!(get(&partial).status, 200);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(sim.tree_size(0), size, "paused");
    sim.resume_growth();
    let deadline = Instant::now() + Duration::from_secs(10);
    while sim.tree_size(0) < 256 {
        assert!(Instant::now() < deadline, "log grows");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        get(&partial).status,
        404,
        "partial gone once the full tile exists"
    );
    assert_eq!(get(&format!("{}tile/data/000", log.url)).status, 200);
    let state = get(&format!("{}/sim/state", sim.http_base)).json();
    assert!(state["logs"][0]["tree_size"].as_u64().unwrap() >= 256);
}

/// (description, state key) of every log of a list, in list order.
fn listed(list: &serde_json::Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for op in list["operators"].as_array().unwrap() {
        let logs = op["logs"].as_array().unwrap();
        for l in logs.iter().chain(op["tiled_logs"].as_array().unwrap()) {
            let state = l["state"].as_object().unwrap();
            assert_eq!(state.len(), 1, "one state: {l}");
            let key = state.keys().next().unwrap().clone();
            out.push((l["description"].as_str().unwrap().to_owned(), key));
        }
    }
    out
}

/// The Apple-shaped list: the v3 schema plus `assetVersion`, `assetVersionV2` and a `version`
/// in each state; what each list has is set at run time, and a list can be made to fail.
#[test]
fn the_apple_shaped_list_and_what_each_list_has() {
    use sim::{ListContent, ListKind, ListedState};
    let sim = start(SimConfig {
        rfc6962_logs: 2,
        static_logs: 1,
        ..quiet(0)
    });
    let apple = get(&sim.apple_list_url).json();
    assert!(apple["assetVersion"].is_u64() && apple["assetVersionV2"].is_u64());
    assert!(apple["version"].is_string());
    let tiled = &apple["operators"][1]["tiled_logs"][0];
    assert!(tiled["state"]["usable"]["version"].is_string());
    assert!(tiled["submission_url"].is_string() && tiled["tls_only"].is_boolean());
    assert_eq!(listed(&apple).len(), 3, "every log, usable, by default");
    let google = get(&sim.log_list_url);
    assert!(google.json().get("assetVersion").is_none());
    assert!(google.header("last-modified").is_some());
    sim.set_list(
        ListKind::Apple,
        ListContent::Only(vec![
            (2, ListedState::Qualified),
            (1, ListedState::Rejected),
        ]),
    );
    sim.set_list(
        ListKind::Google,
        ListContent::Only(vec![(0, ListedState::Usable)]),
    );
    let names = sim.logs();
    let want = |i: usize, state: &str| {
        (
            format!(
                "ctlog-sim '{}' {} log",
                names[i].name,
                names[i].kind.as_str()
            ),
            state.to_owned(),
        )
    };
    assert_eq!(
        listed(&get(&sim.apple_list_url).json()),
        [want(1, "rejected"), want(2, "qualified")]
    );
    let google = get(&sim.log_list_url);
    assert_eq!(listed(&google.json()), [want(0, "usable")]);
    assert!(
        google.header("last-modified").is_none(),
        "a list set at run time changes: never cached"
    );
    sim.set_list(ListKind::Apple, ListContent::Unavailable);
    assert_eq!(get(&sim.apple_list_url).status, 503);
    assert_eq!(
        get(&sim.log_list_url).status,
        200,
        "the other list still answers"
    );
}

#[test]
fn log_list_schema_and_ids() {
    let sim = start(SimConfig {
        https: true,
        replay: true,
        ..quiet(0)
    });
    let list = get(&sim.log_list_url).json();
    let mut seen = 0;
    for op in list["operators"].as_array().unwrap() {
        assert!(op["name"].is_string() && op["email"].is_array());
        for l in op["logs"]
            .as_array()
            .unwrap()
            .iter()
            .chain(op["tiled_logs"].as_array().unwrap())
        {
            let key = STANDARD.decode(l["key"].as_str().unwrap()).unwrap();
            assert_eq!(
                STANDARD.decode(l["log_id"].as_str().unwrap()).unwrap(),
                sha256(&key)
            );
            assert!(l["state"]["usable"]["timestamp"].is_string());
            assert!(l["temporal_interval"]["start_inclusive"].is_string());
            assert!(l["mmd"].is_u64() && l["description"].is_string());
            let url = l
                .get("url")
                .or(l.get("monitoring_url"))
                .unwrap()
                .as_str()
                .unwrap();
            assert!(url.starts_with("http://127.0.0.1:") && url.ends_with('/'));
            seen += 1;
        }
    }
    assert_eq!(seen, sim.logs().len());
    // The https variant over TLS, trusting the generated CA file.
    let https_list = https_get(&sim, sim.https_log_list_url.as_deref().unwrap());
    let text = String::from_utf8(https_list).unwrap();
    assert!(text.contains("\"url\": \"https://127.0.0.1:"));
    assert!(!text.contains("http://"));
    // Static checkpoints over https are signed for the https origin.
    let hl: serde_json::Value = serde_json::from_str(&text).unwrap();
    let st = sim
        .logs()
        .into_iter()
        .find(|l| l.kind == sim::LogType::Static)
        .unwrap();
    let https_log = SimLog {
        url: st.https_url.clone().unwrap(),
        ..st
    };
    let cp = https_get(&sim, &format!("{}checkpoint", https_log.url));
    verify_checkpoint(&hl, &https_log, std::str::from_utf8(&cp).unwrap());
}

#[test]
fn https_listed_logs_mix_the_http_list() {
    let sim = start(SimConfig {
        https: true,
        https_listed: vec![1, 2],
        ..quiet(0)
    });
    let list = get(&sim.log_list_url).json();
    let state = get(&format!("{}/sim/state", sim.http_base)).json();
    for log in sim.logs() {
        let https = [1, 2].contains(&log.idx);
        let expected = if https {
            log.https_url.clone().unwrap()
        } else {
            log.url.clone()
        };
        assert_eq!(log.listed_url, expected);
        let key = if log.kind == sim::LogType::Rfc6962 {
            "url"
        } else {
            "monitoring_url"
        };
        list_entry(&list, key, &expected);
        assert_eq!(state["logs"][log.idx]["url"], expected.as_str());
    }
    assert!(sim::start(SimConfig {
        https_listed: vec![0],
        ..quiet(0)
    })
    .is_err());
}

fn https_get(sim: &SimHandle, url: &str) -> Vec<u8> {
    let pem = std::fs::read_to_string(sim.ca_file.as_ref().unwrap()).unwrap();
    assert_eq!(Some(&pem), sim.ca_pem.as_ref());
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(
            STANDARD.decode(b64).unwrap(),
        ))
        .unwrap();
    let config = rustls::ClientConfig::builder_with_provider(
        rustls::crypto::ring::default_provider().into(),
    )
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let (host, path) = split_url(url);
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let conn = rustls::ClientConnection::new(config.into(), name).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, TcpStream::connect(host).unwrap());
    write!(
        tls,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    let _ = tls.read_to_end(&mut raw); // peers may skip close_notify
    let resp = parse_response(&raw);
    assert_eq!(resp.status, 200);
    resp.body
}

#[test]
fn replay_logs_serve_real_bytes() {
    let sim = start(SimConfig {
        rfc6962_logs: 0,
        static_logs: 0,
        replay: true,
        ..quiet(0)
    });
    let logs = sim.logs();
    let dir = sim::fixtures::default_dir();
    let mut expected = Vec::new();
    for file in sim::fixtures::RFC_REPLAY_FILES {
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("rfc6962").join(file)).unwrap())
                .unwrap();
        for e in v["entries"].as_array().unwrap() {
            expected.push((
                e["leaf_input"].as_str().unwrap().to_owned(),
                e["extra_data"].as_str().unwrap().to_owned(),
            ));
        }
    }
    let rfc = &logs[0];
    assert!(rfc.replay);
    let body = get(&format!("{}ct/v1/get-entries?start=0&end=25", rfc.url)).json();
    let got: Vec<(String, String)> = body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["leaf_input"].as_str().unwrap().to_owned(),
                e["extra_data"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(got.len(), 26);
    assert_eq!(got, expected[..got.len()]);
    let st = &logs[1];
    let list = get(&sim.log_list_url).json();
    let cp = verify_checkpoint(
        &list,
        st,
        std::str::from_utf8(&get(&format!("{}checkpoint", st.url)).body).unwrap(),
    );
    assert_eq!(cp.size, 768);
    let mut hashes = Vec::new();
    for n in 0..3 {
        let tile = get(&format!("{}tile/data/{n:03}", st.url));
        let real =
            std::fs::read(dir.join(format!("static-ct/navigli2025h2/tile/data/{n:03}"))).unwrap();
        assert_eq!(tile.body, real, "tile {n} byte-identical");
        hashes.extend(parse_tile(&tile.body).into_iter().map(|e| e.0));
    }
    assert_eq!(mth(&hashes).to_vec(), cp.root);
    for item in std::fs::read_dir(dir.join("static-ct/navigli2025h2/issuer")).unwrap() {
        let item = item.unwrap();
        let served = get(&format!(
            "{}issuer/{}",
            st.url,
            item.file_name().to_str().unwrap()
        ));
        assert_eq!(served.body, std::fs::read(item.path()).unwrap());
    }
}

#[test]
fn real_share_wraps_fixture_certs() {
    let sim = start(SimConfig {
        rfc6962_logs: 1,
        static_logs: 0,
        real_share: 0.5,
        ..quiet(100)
    });
    let log = &sim.logs()[0];
    let entries = fetch_all(log, 100);
    let mut real = 0;
    for (i, (leaf_input, _)) in entries.iter().enumerate() {
        if let Some(sim::EntryKind::Real { file }) = sim.entry_kind(0, i as u64) {
            real += 1;
            assert_eq!(&leaf_input[10..12], &[0, 0], "{file} wrapped as x509_entry");
            let cert = &leaf_input[15..leaf_input.len() - 2];
            assert_eq!(sim.entry_fingerprint(0, i as u64), Some(sha256(cert)));
        }
    }
    assert!((25..=75).contains(&real), "real entries {real}");
}

#[test]
fn generation_throughput_is_reported() {
    let rate = sim::measure_generation(5_000, 7).unwrap();
    // A figure, not an assertion on speed (debug builds are far slower than release).
    println!("ctlog-sim generation throughput: {rate:.0} entries/s (single thread)");
    assert!(rate > 0.0);
}
