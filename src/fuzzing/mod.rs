//! Fuzz targets: one function per parser of bytes that come from outside the process.
//!
//! Each function feeds its input to the server's real entry point, exactly as the server
//! does, then checks the invariants that are cheap to check. A panic (a failed invariant
//! included) is a finding. The `cargo fuzz` targets in `loadtest/fuzz/` are one-line calls of
//! these functions, and the unit tests here run them over the seed corpus ([`seeds`]) and the
//! kept regression inputs, so the targets keep compiling and passing without a nightly
//! toolchain.
//!
//! Every function returns whether the input was accepted (decoded without error), which the
//! tests use to check that real data still reaches the deep end of each parser.
//!
//! | target | entry point | input |
//! |---|---|---|
//! | `rfc6962_get_entries` | [`rfc6962::parse_get_entries`] | a get-entries JSON body |
//! | `rfc6962_sth` | [`rfc6962::parse_sth`] + [`rfc6962::verify_sth`] | a get-sth JSON body |
//! | `rfc6962_leaf` | [`leaf::decode_rfc6962_entry`] | u24 length, leaf_input, extra_data |
//! | `static_ct_tile` | [`static_ct::parse_data_tile`] (+ `_prefix`) | tile index byte, width − 1 byte, tile |
//! | `static_ct_checkpoint` | [`static_ct::parse_checkpoint`] | a checkpoint (signed note) |
//! | `log_list` | [`log_list::parse_log_list`] | a v3 log list JSON |
//! | `http_request_head` | the client request head: end, parse, auth, route | request bytes |
//! | `http_response` | the CT client's response: head, framing, chunked, gzip | response bytes |
//! | `http_chunked` | the chunked decoder, whole and in pieces | piece-size byte, chunked body |
//! | `ws_client_frames` | the session reader (tungstenite `WebSocketContext`) | shape byte, client bytes |
//! | `cert_to_json` | [`cert::encode_entry`] | a certificate DER |

pub mod seeds;
#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::sync::OnceLock;
use std::time::SystemTime;

use base64::Engine as _;
use bytes::Bytes;
use sha2::Digest as _;
use sonic_rs::{JsonContainerTrait as _, JsonValueTrait as _, Value};

use crate::ct::entry::{EntryKind, EntrySource, LogEntry};
use crate::ct::http::{gunzip_capped, parse_response_head, BodyError, ChunkedDecoder, Framing};
use crate::ct::log_list::{self, LogKind};
use crate::ct::sig::LogKey;
use crate::ct::static_ct::{self, TileLeaf, TILE_WIDTH};
use crate::ct::{leaf, rfc6962};
use crate::ws::{self, CloseReason, RequestRoute};
use crate::{cert, limits};

/// A parser of outside bytes, named as its `cargo fuzz` target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    Rfc6962GetEntries,
    Rfc6962Sth,
    Rfc6962Leaf,
    StaticCtTile,
    StaticCtCheckpoint,
    LogList,
    HttpRequestHead,
    HttpResponse,
    HttpChunked,
    WsClientFrames,
    CertToJson,
}

impl Target {
    pub const ALL: [Target; 11] = [
        Target::Rfc6962GetEntries,
        Target::Rfc6962Sth,
        Target::Rfc6962Leaf,
        Target::StaticCtTile,
        Target::StaticCtCheckpoint,
        Target::LogList,
        Target::HttpRequestHead,
        Target::HttpResponse,
        Target::HttpChunked,
        Target::WsClientFrames,
        Target::CertToJson,
    ];

    /// The name of the fuzz target (`loadtest/fuzz/fuzz_targets/<name>.rs`) and of its corpus.
    pub fn name(self) -> &'static str {
        match self {
            Target::Rfc6962GetEntries => "rfc6962_get_entries",
            Target::Rfc6962Sth => "rfc6962_sth",
            Target::Rfc6962Leaf => "rfc6962_leaf",
            Target::StaticCtTile => "static_ct_tile",
            Target::StaticCtCheckpoint => "static_ct_checkpoint",
            Target::LogList => "log_list",
            Target::HttpRequestHead => "http_request_head",
            Target::HttpResponse => "http_response",
            Target::HttpChunked => "http_chunked",
            Target::WsClientFrames => "ws_client_frames",
            Target::CertToJson => "cert_to_json",
        }
    }

    pub fn from_name(name: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Runs the target on `data`; `true` when the input was accepted.
    pub fn run(self, data: &[u8]) -> bool {
        match self {
            Target::Rfc6962GetEntries => rfc6962_get_entries(data),
            Target::Rfc6962Sth => rfc6962_sth(data),
            Target::Rfc6962Leaf => rfc6962_leaf(data),
            Target::StaticCtTile => static_ct_tile(data),
            Target::StaticCtCheckpoint => static_ct_checkpoint(data),
            Target::LogList => log_list(data),
            Target::HttpRequestHead => http_request_head(data),
            Target::HttpResponse => http_response(data),
            Target::HttpChunked => http_chunked(data),
            Target::WsClientFrames => ws_client_frames(data),
            Target::CertToJson => cert_to_json(data),
        }
    }
}

// ---- RFC 6962 ----------------------------------------------------------------------------------

/// The first leaf index of the fuzzed get-entries page.
const PAGE_START: u64 = 1_000;

/// The Argon 2020 log's key (Google's log list); `rfc6962/argon2020_get-sth.json` verifies
/// with it.
const ARGON2020_KEY: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE6Tx2p1yKY4015NyIYvdrk36es0uAc1zA4PQ+TGRY+3ZjUTIYY9Wyu+3q/147JG4vNVKLtDWarZwVqGkg6lAYzA==";

/// A get-entries body, decoded as the RFC 6962 poller decodes a page of
/// [`limits::GET_ENTRIES_BATCH`] requested entries. Accepted when every entry decodes.
pub fn rfc6962_get_entries(data: &[u8]) -> bool {
    let requested = limits::GET_ENTRIES_BATCH;
    let Ok(page) = rfc6962::parse_get_entries(data, PAGE_START, requested) else {
        return false;
    };
    assert!(!page.is_empty() && page.len() as u64 <= requested);
    let mut all_decoded = true;
    for (k, result) in page.iter().enumerate() {
        let index = PAGE_START + k as u64;
        match result {
            Ok(entry) => {
                assert_eq!(entry.index, index);
                check_log_entry(entry);
            }
            Err(e) => {
                assert_eq!(e.index, index, "an entry error names its own index");
                all_decoded = false;
            }
        }
    }
    all_decoded
}

/// A get-sth body, decoded and verified with the Argon 2020 key. Accepted when it verifies.
pub fn rfc6962_sth(data: &[u8]) -> bool {
    static KEY: OnceLock<LogKey> = OnceLock::new();
    let key = KEY.get_or_init(|| LogKey::from_base64(ARGON2020_KEY).expect("argon2020 key"));
    match rfc6962::parse_sth(data) {
        Ok(sth) => rfc6962::verify_sth(&sth, key).is_ok(),
        Err(_) => false,
    }
}

/// `u24 length || leaf_input || extra_data` (a length past the end takes everything as
/// leaf_input), decoded as one get-entries entry after base64.
pub fn rfc6962_leaf(data: &[u8]) -> bool {
    let (leaf_input, extra_data) = split_u24_prefixed(data);
    let leaf_input = Bytes::copy_from_slice(leaf_input);
    let extra_data = Bytes::copy_from_slice(extra_data);
    let _ = leaf::leaf_hash(&leaf_input);
    let Ok(entry) = leaf::decode_rfc6962_entry(7, &leaf_input, &extra_data) else {
        return false;
    };
    assert_eq!(entry.index, 7);
    check_log_entry(&entry);
    // The published leaf is the x509 certificate inside leaf_input, or the pre_certificate
    // inside extra_data (never the TBS), and it is a slice of that buffer, not a copy.
    let home = match entry.kind {
        EntryKind::X509 => &leaf_input,
        EntryKind::Precert => &extra_data,
    };
    assert!(
        is_within(&entry.leaf_der, home),
        "leaf_der is not from its field"
    );
    assert!(entry.chain.iter().all(|c| is_within(c, &extra_data)));
    true
}

/// `(first, rest)` where `first` is the `u24`-length-prefixed field at the start of `data`.
fn split_u24_prefixed(data: &[u8]) -> (&[u8], &[u8]) {
    let Some((len, rest)) = data.split_first_chunk::<3>() else {
        return (data, &[]);
    };
    let len = (usize::from(len[0]) << 16) | (usize::from(len[1]) << 8) | usize::from(len[2]);
    rest.split_at(len.min(rest.len()))
}

/// What every decoded entry must satisfy, whatever log it came from.
fn check_log_entry(entry: &LogEntry) {
    assert!(!entry.leaf_der.is_empty(), "empty leaf certificate");
    assert!(entry.chain.len() <= limits::CHAIN_CERTS_MAX);
    assert!(
        entry.chain.iter().all(|c| !c.is_empty()),
        "empty chain cert"
    );
}

/// `inner` is a slice of `outer`'s buffer.
fn is_within(inner: &[u8], outer: &[u8]) -> bool {
    let outer = outer.as_ptr_range();
    let inner = inner.as_ptr_range();
    outer.start <= inner.start && inner.end <= outer.end
}

// ---- Static CT ---------------------------------------------------------------------------------

/// Origin and key of the skylight test log, whose checkpoints are in the shared test data.
const ROME_ORIGIN: &str = "rome2026h1.example.org";
const ROME_KEY: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEPIcer7RB32jt4bTEbhgUKLKvOctFD+I2hoDItFxUBlJiGFvftBuRk3fO7e1T7gC2ekyfL7XoO2oN/ObcZyc4EA==";

/// `tile index byte || width − 1 byte || data tile`. Index byte 0xfe is the last tile whose
/// indices fit a u64, 0xff the first that overflows. Parsed as the Static CT poller parses a
/// full or partial tile (exact) and a full tile fetched for a gone partial (prefix).
pub fn static_ct_tile(data: &[u8]) -> bool {
    let [index_byte, width_byte, tile @ ..] = data else {
        return false;
    };
    let tile_index = match index_byte {
        0xfe => u64::MAX / TILE_WIDTH as u64,
        0xff => u64::MAX / TILE_WIDTH as u64 + 1,
        n => u64::from(*n),
    };
    let width = usize::from(*width_byte) + 1;
    let tile = Bytes::copy_from_slice(tile);
    let exact = static_ct::parse_data_tile(&tile, tile_index, width);
    let prefix = static_ct::parse_data_tile_prefix(&tile, tile_index, width);
    if let Ok(leaves) = &exact {
        check_tile_leaves(&tile, leaves, tile_index, width);
        assert_eq!(
            prefix.as_ref().ok(),
            Some(leaves),
            "exact parse ok, prefix not"
        );
    }
    if let Ok(leaves) = &prefix {
        check_tile_leaves(&tile, leaves, tile_index, width);
        // A shorter prefix is the same leaves, cut.
        let half = width.div_ceil(2);
        let shorter = static_ct::parse_data_tile_prefix(&tile, tile_index, half);
        assert_eq!(shorter.as_deref().ok(), Some(&leaves[..half]));
    }
    exact.is_ok()
}

fn check_tile_leaves(tile: &Bytes, leaves: &[TileLeaf], tile_index: u64, width: usize) {
    assert_eq!(leaves.len(), width);
    for (k, leaf) in leaves.iter().enumerate() {
        assert_eq!(leaf.index, tile_index * TILE_WIDTH as u64 + k as u64);
        assert!(!leaf.leaf_der.is_empty());
        assert!(leaf.chain_fingerprints.len() <= limits::CHAIN_CERTS_MAX);
        assert!(is_within(&leaf.leaf_der, tile) && is_within(&leaf.timestamped_entry, tile));
        // timestamp (8) + entry_type (2) + at least a 3-byte length and a 2-byte one.
        assert!(leaf.timestamped_entry.len() >= 15);
        let _ = leaf.leaf_hash();
    }
}

/// A checkpoint of the rome2026h1 test log, parsed and verified with its key. Accepted when
/// the log's signature verifies.
pub fn static_ct_checkpoint(data: &[u8]) -> bool {
    static KEY: OnceLock<LogKey> = OnceLock::new();
    let key = KEY.get_or_init(|| LogKey::from_base64(ROME_KEY).expect("rome key"));
    let Ok(checkpoint) = static_ct::parse_checkpoint(data, ROME_ORIGIN, key) else {
        return false;
    };
    // What was verified is what the note says.
    let stated = format!("{ROME_ORIGIN}\n{}\n", checkpoint.tree_size);
    assert!(data.starts_with(stated.as_bytes()));
    assert_eq!(checkpoint.origin, ROME_ORIGIN);
    true
}

// ---- Log list ----------------------------------------------------------------------------------

/// A v3 log list. Accepted when at least one log is usable.
pub fn log_list(data: &[u8]) -> bool {
    let Ok(list) = log_list::parse_log_list(data) else {
        return false;
    };
    assert!(!list.logs.is_empty());
    let mut ids = HashSet::new();
    for log in &list.logs {
        assert!(ids.insert(log.log_id), "duplicate log_id kept");
        assert_eq!(log.log_id, log.key.log_id());
        assert!(is_http_url(&log.url), "{:?}", log.url);
        match log.kind {
            LogKind::Rfc6962 => assert!(log.submission_url.is_none()),
            LogKind::StaticCt => assert!(log.submission_url.as_deref().is_some_and(is_http_url)),
        }
    }
    true
}

fn is_http_url(url: &str) -> bool {
    url.starts_with("https://") || url.starts_with("http://")
}

// ---- Client HTTP request head ------------------------------------------------------------------

/// The token the fuzzed server is configured with (auth on).
const AUTH_TOKEN: &str = "fuzz-token-0123456789";

/// What a client sends first: the head is found, bounded, parsed, authorized and routed as
/// in `ws::handle_connection`. Accepted when the head parses.
pub fn http_request_head(data: &[u8]) -> bool {
    let Some(end) = ws::find_head_end(data, 0) else {
        return false;
    };
    if end > limits::REQUEST_HEAD_BYTES_MAX {
        return false;
    }
    let Ok(head) = ws::parse_request_head(&data[..end], limits::REQUEST_HEADERS_MAX) else {
        return false;
    };
    assert!(!head.path.contains('?'));
    let tokens = [AUTH_TOKEN.to_owned()];
    if ws::authorized(&head, &tokens) && head.path != "/health" {
        assert!(
            head.tokens.iter().any(|t| t == AUTH_TOKEN),
            "authorized without the token"
        );
    }
    if let RequestRoute::Upgrade { accept, .. } = ws::route(&head) {
        assert!(head.is_get && head.http11 && head.upgrade_websocket && head.connection_upgrade);
        let key = head.ws_key.as_deref().expect("upgrade without a key");
        assert_eq!(
            accept,
            tungstenite::handshake::derive_accept_key(key.as_bytes())
        );
    }
    true
}

// ---- CT log HTTP responses ---------------------------------------------------------------------

/// The body cap of the fuzzed client: smaller than the server's
/// [`limits::RESPONSE_BYTES_MAX`] so that gzip bombs and long bodies stay fast; the decoders
/// take the cap as a parameter, so the code path is the same.
const FUZZ_BODY_MAX: usize = 1 << 20;

/// A whole response as a CT log sends it, read the way `conn::Conn::read_response` and
/// `HttpClient::exchange` read it (1xx skipped, 101 refused, framing, chunked, gzip), with
/// the connection closing after `data`. Accepted when a body comes out.
pub fn http_response(data: &[u8]) -> bool {
    read_response(data, FUZZ_BODY_MAX).is_some()
}

fn read_response(mut buf: &[u8], body_max: usize) -> Option<Vec<u8>> {
    let head = loop {
        // `Ok(None)`: more bytes needed, but the connection closed.
        let (head, len) = parse_response_head(buf).ok()??;
        assert!(len <= buf.len() && len <= limits::RESPONSE_HEAD_BYTES_MAX);
        buf = &buf[len..];
        if head.status == 101 {
            return None;
        }
        if !(100..200).contains(&head.status) {
            break head;
        }
    };
    if let Some(retry) = &head.retry_after {
        for now in [SystemTime::UNIX_EPOCH, SystemTime::now()] {
            assert!(retry.delay(now) <= limits::RETRY_AFTER_MAX);
        }
    }
    let body = match head.framing {
        Framing::Empty => Vec::new(),
        Framing::Length(length) => {
            let length = usize::try_from(length).ok().filter(|&l| l <= body_max)?;
            buf.get(..length)?.to_vec()
        }
        Framing::Chunked => {
            let (out, _, done) = decode_chunked(buf, body_max, buf.len().max(1)).ok()?;
            if !done {
                return None;
            }
            out
        }
        Framing::UntilClose if buf.len() > body_max => return None,
        Framing::UntilClose => buf.to_vec(),
    };
    if !head.gzip || body.is_empty() {
        return Some(body);
    }
    let plain = gunzip_capped(&body, body_max).ok()?;
    assert!(plain.len() <= body_max);
    Some(plain)
}

/// The cap of the fuzzed chunked decoder, small enough to reach `TooLarge`.
const CHUNKED_OUT_MAX: usize = 64 * 1024;

/// `piece-size byte || chunked body`: the body is decoded in one go and again in pieces of
/// 1..=64 bytes, as reads deliver it. The result must not depend on how the bytes were
/// split. Accepted when the body ends.
pub fn http_chunked(data: &[u8]) -> bool {
    let Some((&piece_byte, body)) = data.split_first() else {
        return false;
    };
    let whole = decode_chunked(body, CHUNKED_OUT_MAX, body.len().max(1));
    let pieces = decode_chunked(body, CHUNKED_OUT_MAX, usize::from(piece_byte % 64) + 1);
    match (&whole, &pieces) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "decoded differently in pieces"),
        (Err(_), Err(_)) => {}
        _ => panic!("split-dependent result: whole {whole:?}, in pieces {pieces:?}"),
    }
    matches!(whole, Ok((_, _, true)))
}

/// Feeds `body` to a [`ChunkedDecoder`] `piece` bytes at a time, keeping the unconsumed bytes
/// as `Conn::read_chunked` does. Returns the payload, the bytes consumed and whether the
/// body ended.
fn decode_chunked(
    body: &[u8],
    max_out: usize,
    piece: usize,
) -> Result<(Vec<u8>, usize, bool), BodyError> {
    let mut decoder = ChunkedDecoder::new(max_out);
    let mut out = Vec::new();
    let mut buf = Vec::new();
    let mut consumed = 0;
    for bytes in body.chunks(piece) {
        buf.extend_from_slice(bytes);
        let before = out.len();
        let used = decoder.decode(&buf, &mut out)?;
        assert!(used <= buf.len(), "consumed more than given");
        assert!(out.len() - before <= used, "produced more than consumed");
        assert!(out.len() <= max_out);
        buf.drain(..used);
        consumed += used;
        if decoder.is_done() {
            assert_eq!(
                decoder.decode(&buf, &mut out),
                Ok(0),
                "decoded past the end"
            );
            break;
        }
    }
    Ok((out, consumed, decoder.is_done()))
}

// ---- Client WebSocket frames -------------------------------------------------------------------

/// The longest close frame: 2-byte header, 125-byte payload.
const CLOSE_FRAME_MAX: usize = 127;

/// Read sizes the fuzzed socket returns, picked by the high nibble of the shape byte.
const READ_SIZES: [usize; 8] = [
    1,
    2,
    5,
    14,
    125,
    1024,
    4095,
    limits::CLIENT_READ_CHUNK_BYTES,
];

/// `shape byte || client bytes`: the bytes a client sends after its upgrade, through the
/// session reader. The low nibble × 8 is how many came with the request head, the high one
/// picks the socket read size; then the client closes. Accepted when the session ends without
/// a protocol error.
pub fn ws_client_frames(data: &[u8]) -> bool {
    let Some((&shape, stream)) = data.split_first() else {
        return false;
    };
    let leftover_len = (usize::from(shape & 0x0f) * 8).min(stream.len());
    let read_size = READ_SIZES[usize::from(shape >> 4) % READ_SIZES.len()];
    let (leftover, rest) = stream.split_at(leftover_len);
    let replay = ws::replay_client_bytes(
        limits::CLIENT_MESSAGE_BYTES_MAX,
        leftover.to_vec(),
        rest.chunks(read_size),
    );
    let (reason, close) = replay.end.expect("the reader kept waiting after EOF");
    // A pong answers a masked ping at least 4 bytes longer, so replies never amplify the
    // input, except for the one close reply (which may carry tungstenite's own reason, e.g.
    // 1002 "Protocol violation" for a close frame with an invalid code).
    assert!(
        replay.control.len() <= stream.len() + CLOSE_FRAME_MAX,
        "replies outgrow the input"
    );
    check_server_control_frames(&replay.control);
    if let Some((code, reason_text)) = close {
        assert!(matches!(code, 1002 | 1007 | 1009), "close code {code}");
        assert!(reason_text.len() <= 123);
    }
    matches!(reason, CloseReason::ClientClose | CloseReason::Disconnected)
}

/// Replies the reader queues are whole, unmasked, final pong or close frames.
fn check_server_control_frames(mut out: &[u8]) {
    while !out.is_empty() {
        let [first, second, rest @ ..] = out else {
            panic!("truncated control frame {out:?}");
        };
        assert!(
            matches!(first, 0x8a | 0x88),
            "not a final pong/close: {first:#04x}"
        );
        assert!(second & 0x80 == 0, "server frame is masked");
        let len = usize::from(second & 0x7f);
        assert!(
            len <= 125 && len <= rest.len(),
            "bad control frame length {len}"
        );
        out = &rest[len..];
    }
}

// ---- Certificate → certstream JSON -------------------------------------------------------------

/// A certificate DER, encoded as the leaf of an entry whose chain is the same DER (so the
/// lenient chain path runs too); an odd last byte makes it a precert entry. Every frame must be a
/// text frame of valid JSON with the wire-format fields. Accepted when it encodes.
pub fn cert_to_json(data: &[u8]) -> bool {
    let der = Bytes::copy_from_slice(data);
    let kind = if data.last().is_some_and(|b| b & 1 == 1) {
        EntryKind::Precert
    } else {
        EntryKind::X509
    };
    let entry = LogEntry {
        index: 42,
        timestamp_ms: 1_700_000_000_000,
        kind,
        leaf_der: der.clone(),
        chain: vec![der],
    };
    let source = EntrySource {
        log_id: [7; 32],
        url: "https://ct.example.net/fuzz/",
        name: "Fuzz \"quoted\" log",
        cert_link: "https://ct.example.net/fuzz/ct/v1/get-entries?start=42&end=42",
    };
    let Ok(frames) = cert::encode_entry(&entry, &source, 1_700_000_000.123_456) else {
        return false;
    };
    let lite = text_frame_json(&frames.lite);
    let full = text_frame_json(&frames.full);
    let domains = text_frame_json(&frames.domains);
    check_update(&lite, kind, data, false);
    check_update(&full, kind, data, true);
    assert_eq!(str_at(&domains, &["message_type"]), "dns_entries");
    assert_eq!(
        domains.get("data"),
        lite.pointer(&["data", "leaf_cert", "all_domains"]),
        "domains-only differs from leaf_cert.all_domains"
    );
    true
}

/// The JSON payload of a complete, final, unmasked text frame.
fn text_frame_json(frame: &[u8]) -> Value {
    assert_eq!(frame.first(), Some(&0x81), "not a final text frame");
    let (header, len) = match frame.get(1).map(|b| b & 0x7f) {
        Some(126) => (4, usize::from(u16::from_be_bytes([frame[2], frame[3]]))),
        Some(127) => {
            let len = u64::from_be_bytes(frame[2..10].try_into().expect("8 bytes"));
            (10, usize::try_from(len).expect("length fits"))
        }
        Some(n) => (2, usize::from(n)),
        None => panic!("frame without a length"),
    };
    assert_eq!(header + len, frame.len(), "frame length field is wrong");
    let payload = std::str::from_utf8(&frame[header..]).expect("text frame is not UTF-8");
    sonic_rs::from_str(payload).unwrap_or_else(|e| panic!("frame is not JSON: {e}"))
}

/// Keys every cert object carries (docs/wire-format.md), in order.
const CERT_KEYS: [&str; 12] = [
    "subject",
    "issuer",
    "extensions",
    "not_before",
    "not_after",
    "serial_number",
    "fingerprint",
    "sha1",
    "sha256",
    "signature_algorithm",
    "is_ca",
    "all_domains",
];

/// Keys of a `subject` / `issuer` object.
const NAME_KEYS: [&str; 8] = [
    "aggregated",
    "C",
    "ST",
    "L",
    "O",
    "OU",
    "CN",
    "emailAddress",
];

fn check_update(msg: &Value, kind: EntryKind, der: &[u8], full: bool) {
    assert_eq!(str_at(msg, &["message_type"]), "certificate_update");
    assert_eq!(str_at(msg, &["data", "update_type"]), kind.update_type());
    let data = msg.get("data").expect("data");
    for key in ["cert_index", "cert_link", "seen", "source"] {
        assert!(data.get(key).is_some(), "data.{key} missing");
    }
    let leaf = data.get("leaf_cert").expect("leaf_cert");
    check_cert_object(leaf, der);
    assert_eq!(leaf.get("as_der").is_some(), full);
    assert_eq!(data.get("chain").is_some(), full);
    if full {
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        assert_eq!(str_at(leaf, &["as_der"]), b64);
        let chain = data
            .get("chain")
            .and_then(|c| c.as_array())
            .expect("chain array");
        assert_eq!(chain.len(), 1);
        for element in chain.iter() {
            assert_eq!(str_at(element, &["as_der"]), b64);
            for key in CERT_KEYS {
                assert!(element.get(key).is_some(), "chain element lacks {key}");
            }
        }
    }
}

fn check_cert_object(cert: &Value, der: &[u8]) {
    for key in CERT_KEYS {
        assert!(cert.get(key).is_some(), "leaf_cert.{key} missing");
    }
    for name in ["subject", "issuer"] {
        let object = cert.get(name).expect("name");
        if !object.is_null() {
            for key in NAME_KEYS {
                assert!(object.get(key).is_some(), "{name}.{key} missing");
            }
        }
    }
    assert_eq!(
        str_at(cert, &["sha256"]),
        hex_colon(&sha2::Sha256::digest(der))
    );
    assert_eq!(str_at(cert, &["sha1"]), str_at(cert, &["fingerprint"]));
    let domains = cert
        .get("all_domains")
        .and_then(|d| d.as_array())
        .expect("all_domains array");
    assert!(domains.len() <= limits::DOMAINS_PER_CERT_MAX);
    let unique: HashSet<&str> = domains.iter().filter_map(|d| d.as_str()).collect();
    assert_eq!(
        unique.len(),
        domains.len(),
        "all_domains has duplicates or non-strings"
    );
}

fn str_at<'v>(value: &'v Value, path: &[&str]) -> &'v str {
    value
        .pointer(path)
        .and_then(|v| v.as_str())
        .unwrap_or_else(|| panic!("{path:?} is not a string"))
}

/// Uppercase hex pairs joined by `:` (written here independently of `cert::text`).
fn hex_colon(bytes: &[u8]) -> String {
    let pairs: Vec<String> = bytes.iter().map(|b| format!("{b:02X}")).collect();
    pairs.join(":")
}
