//! The seed corpus of every fuzz target, built from the real CT test data (`ctdata`, the
//! shared folder copied in `loadtest/fixtures/ctdata`) plus small hand-made HTTP heads,
//! chunked bodies and WebSocket frames.
//!
//! `fuzz-seeds` (loadtest) writes them to `loadtest/fuzz/corpus/<target>/`; the unit tests
//! run each target over them, so the seeds and the framing each target expects stay in step.

use std::io::{self, Write as _};
use std::path::Path;

use base64::Engine as _;
use sonic_rs::{JsonContainerTrait as _, JsonValueTrait as _};

use super::Target;

/// One seed input.
#[derive(Debug, Clone)]
pub struct Seed {
    pub target: Target,
    /// File name in the corpus directory.
    pub name: String,
    pub data: Vec<u8>,
    /// Whether the target must accept it (`None`: no promise, e.g. odd certificates).
    pub accepted: Option<bool>,
}

/// The RFC 6962 get-entries bodies of the test data (all valid).
const GET_ENTRIES: [&str; 8] = [
    "argon2020_get-entries_10000-10000.json",
    "geotrust-test_precert_get-entries.json",
    "navigli2025h2_get-entries_0-15.json",
    "navigli2025h2_get-entries_168-168.json",
    "navigli2025h2_get-entries_281-281.json",
    "navigli2025h2_get-entries_543-543.json",
    "navigli2025h2_get-entries_747-747.json",
    "pilot_get-entries_0-3.json",
];

/// Every seed, built from the test data in `ctdata`.
pub fn all(ctdata: &Path) -> io::Result<Vec<Seed>> {
    let mut seeds = Vec::new();
    let mut add = |target, name: String, data, accepted| {
        seeds.push(Seed {
            target,
            name,
            data,
            accepted,
        })
    };
    let read = |rel: &str| std::fs::read(ctdata.join(rel));

    for file in GET_ENTRIES {
        let body = read(&format!("rfc6962/{file}"))?;
        for (k, (leaf_input, extra_data)) in raw_entries(&body)?.into_iter().enumerate() {
            let mut data = u24_prefix(&leaf_input);
            data.extend_from_slice(&extra_data);
            add(Target::Rfc6962Leaf, format!("{file}.{k}"), data, Some(true));
        }
        add(Target::Rfc6962GetEntries, file.to_owned(), body, Some(true));
    }
    for file in list_dir(&ctdata.join("rfc6962/malformed"))? {
        let body = read(&format!("rfc6962/malformed/{file}"))?;
        if file.starts_with("get-entries_") {
            add(Target::Rfc6962GetEntries, file, body, Some(false));
        } else if file.starts_with("get-sth_") {
            add(Target::Rfc6962Sth, file, body, Some(false));
        }
    }
    let sth = "argon2020_get-sth.json";
    add(
        Target::Rfc6962Sth,
        sth.into(),
        read(&format!("rfc6962/{sth}"))?,
        Some(true),
    );

    for n in 0..3u8 {
        let mut data = vec![n, (super::TILE_WIDTH - 1) as u8];
        data.extend(read(&format!("static-ct/navigli2025h2/tile/data/00{n}"))?);
        add(
            Target::StaticCtTile,
            format!("navigli-data-00{n}"),
            data,
            Some(true),
        );
    }
    for file in ["checkpoint", "checkpoint.witness-cosigned"] {
        let text = read(&format!("static-ct/skylight-test-rome2026h1/{file}"))?;
        add(
            Target::StaticCtCheckpoint,
            format!("rome-{file}"),
            text,
            Some(true),
        );
    }
    for file in list_dir(&ctdata.join("static-ct/sycamore2024h2/invalid"))? {
        let text = read(&format!("static-ct/sycamore2024h2/invalid/{file}"))?;
        add(
            Target::StaticCtCheckpoint,
            format!("sycamore-{file}"),
            text,
            Some(false),
        );
    }
    for file in list_dir(&ctdata.join("loglists"))? {
        let list = read(&format!("loglists/{file}"))?;
        add(Target::LogList, file, list, Some(true));
    }

    for (name, der) in certificates(ctdata)? {
        add(Target::CertToJson, name, der, None);
    }
    for (name, data, accepted) in request_heads() {
        add(Target::HttpRequestHead, name.into(), data, Some(accepted));
    }
    let sth_body = read(&format!("rfc6962/{sth}"))?;
    for (name, data, accepted) in responses(&sth_body)? {
        add(Target::HttpResponse, name.into(), data, Some(accepted));
    }
    for (name, data, accepted) in chunked_bodies(&sth_body) {
        add(Target::HttpChunked, name.into(), data, Some(accepted));
    }
    for (name, data, accepted) in client_frames() {
        add(Target::WsClientFrames, name.into(), data, Some(accepted));
    }
    Ok(seeds)
}

/// File names in `dir`, sorted.
fn list_dir(dir: &Path) -> io::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    Ok(names)
}

fn invalid(what: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

/// `(leaf_input, extra_data)` of every entry of a (valid) get-entries body.
fn raw_entries(body: &[u8]) -> io::Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let v: sonic_rs::Value = sonic_rs::from_slice(body).map_err(invalid)?;
    let entries = v
        .get("entries")
        .and_then(|e| e.as_array())
        .ok_or_else(|| invalid("no entries"))?;
    let field = |e: &sonic_rs::Value, name: &str| {
        let text = e.get(name).and_then(|f| f.as_str()).unwrap_or_default();
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(invalid)
    };
    entries
        .iter()
        .map(|e| Ok((field(e, "leaf_input")?, field(e, "extra_data")?)))
        .collect()
}

fn u24_prefix(field: &[u8]) -> Vec<u8> {
    let len = field.len() as u32;
    let mut out = len.to_be_bytes()[1..].to_vec();
    out.extend_from_slice(field);
    out
}

/// Every certificate of the test data: `certs/` (PEM or DER), the Static CT issuers, and the
/// leaf of each get-entries entry.
fn certificates(ctdata: &Path) -> io::Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    for file in list_dir(&ctdata.join("certs"))? {
        let data = std::fs::read(ctdata.join("certs").join(&file))?;
        let ders = pem_certificates(&data).unwrap_or_else(|| vec![data]);
        for (k, der) in ders.into_iter().enumerate() {
            out.push((format!("{file}.{k}"), der));
        }
    }
    let issuers = ctdata.join("static-ct/navigli2025h2/issuer");
    for file in list_dir(&issuers)? {
        out.push((
            format!("issuer-{}", &file[..16]),
            std::fs::read(issuers.join(&file))?,
        ));
    }
    for file in [
        "argon2020_get-entries_10000-10000.json",
        "pilot_get-entries_0-3.json",
    ] {
        let body = std::fs::read(ctdata.join("rfc6962").join(file))?;
        for (k, (leaf_input, _)) in raw_entries(&body)?.into_iter().enumerate() {
            // MerkleTreeLeaf: version, leaf_type, timestamp (8), entry_type (2), u24 cert.
            if let Some(cert) = leaf_input.get(15..) {
                let len = cert.len().min(u24(&leaf_input[12..15]));
                out.push((format!("{file}.{k}.leaf"), cert[..len].to_vec()));
            }
        }
    }
    Ok(out)
}

fn u24(b: &[u8]) -> usize {
    (usize::from(b[0]) << 16) | (usize::from(b[1]) << 8) | usize::from(b[2])
}

/// The DERs of a PEM file, or `None` when it is not PEM.
fn pem_certificates(data: &[u8]) -> Option<Vec<Vec<u8>>> {
    let text = std::str::from_utf8(data).ok()?;
    if !text.contains("-----BEGIN CERTIFICATE-----") {
        return None;
    }
    let mut out = Vec::new();
    let mut body: Option<String> = None;
    for line in text.lines() {
        if line.starts_with("-----BEGIN CERTIFICATE") {
            body = Some(String::new());
        } else if line.starts_with("-----END CERTIFICATE") {
            let b64 = body.take()?;
            out.push(base64::engine::general_purpose::STANDARD.decode(b64).ok()?);
        } else if let Some(b) = body.as_mut() {
            b.push_str(line.trim());
        }
    }
    Some(out)
}

type HandMade = (&'static str, Vec<u8>, bool);

/// The RFC 6455 §1.3 sample key.
const SAMPLE_WS_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

fn request_heads() -> Vec<HandMade> {
    let upgrade = |path: &str, extra: &str| {
        format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
             Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: {SAMPLE_WS_KEY}\r\n\
             Sec-WebSocket-Version: 13\r\n{extra}\r\n"
        )
        .into_bytes()
    };
    let token = super::AUTH_TOKEN;
    vec![
        ("upgrade-lite", upgrade("/", ""), true),
        (
            "upgrade-full-query-token",
            upgrade(&format!("/full-stream?token={token}"), ""),
            true,
        ),
        (
            "upgrade-domains-bearer",
            upgrade(
                "/domains-only/",
                &format!("Authorization: Bearer {token}\r\n"),
            ),
            true,
        ),
        ("health", b"GET /health HTTP/1.0\r\n\r\n".to_vec(), true),
        (
            "metrics",
            b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            true,
        ),
        (
            "post",
            b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n".to_vec(),
            true,
        ),
        ("not-http", b"SSH-2.0-OpenSSH_9.6\r\n\r\n".to_vec(), false),
        (
            "unterminated",
            b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec(),
            false,
        ),
    ]
}

/// Responses a CT log may send: sized, chunked, gzip, interim 1xx, no body, close-delimited.
fn responses(json: &[u8]) -> io::Result<Vec<HandMade>> {
    let with_head = |head: &str, body: &[u8]| {
        let mut out = head.as_bytes().to_vec();
        out.extend_from_slice(body);
        out
    };
    let sized = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        json.len()
    );
    let gz = gzip(json)?;
    let gzip_head = format!(
        "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
        gz.len()
    );
    let chunked_head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\
                        Last-Modified: Tue, 15 Nov 1994 12:45:26 GMT\r\n\r\n";
    Ok(vec![
        ("sized", with_head(&sized, json), true),
        ("gzip", with_head(&gzip_head, &gz), true),
        (
            "chunked",
            with_head(
                chunked_head,
                &[chunk(json, 100, ""), b"\r\n".to_vec()].concat(),
            ),
            true,
        ),
        (
            "continue-then-close-delimited",
            with_head("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 200 OK\r\n\r\n", json),
            true,
        ),
        (
            "503-retry-after-date",
            b"HTTP/1.1 503 Slow Down\r\nRetry-After: Wed, 21 Oct 2015 07:28:00 GMT\r\n\
              Content-Length: 0\r\n\r\n"
                .to_vec(),
            true,
        ),
        (
            "429-retry-after-seconds",
            b"HTTP/1.1 429 Too Many\r\nRetry-After: 120\r\nConnection: close\r\n\r\n".to_vec(),
            true,
        ),
        ("204", b"HTTP/1.1 204 No Content\r\n\r\n".to_vec(), true),
        (
            "switching-protocols",
            b"HTTP/1.1 101 Switching\r\n\r\n".to_vec(),
            false,
        ),
        (
            "truncated-body",
            with_head(&sized, &json[..json.len() / 2]),
            false,
        ),
    ])
}

fn gzip(data: &[u8]) -> io::Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data)?;
    encoder.finish()
}

/// `data` as a chunked body of `size`-byte chunks, each size line carrying `ext`, up to the
/// last chunk (trailers and the final CRLF are the caller's).
fn chunk(data: &[u8], size: usize, ext: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for piece in data.chunks(size) {
        out.extend_from_slice(format!("{:x}{ext}\r\n", piece.len()).as_bytes());
        out.extend_from_slice(piece);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n");
    out
}

fn chunked_bodies(data: &[u8]) -> Vec<HandMade> {
    let ended = |mut body: Vec<u8>, trailers: &str| {
        body.extend_from_slice(trailers.as_bytes());
        body.extend_from_slice(b"\r\n");
        body
    };
    // The first byte picks the piece size of the second decode.
    let seed = |piece: u8, body: Vec<u8>| {
        let mut out = vec![piece];
        out.extend(body);
        out
    };
    vec![
        ("small-chunks", seed(0, ended(chunk(data, 7, ""), "")), true),
        (
            "big-chunk-ext",
            seed(13, ended(chunk(data, 4000, ";name=\"v\""), "")),
            true,
        ),
        (
            "trailers",
            seed(63, ended(chunk(data, 64, ""), "Digest: x\r\nX-A: b\r\n")),
            true,
        ),
        (
            "missing-last-chunk",
            seed(5, ended(b"A\r\n0123456789\r\n".to_vec(), "")),
            false,
        ),
        ("unfinished", seed(9, chunk(data, 50, "")), false),
    ]
}

/// A masked client frame (mask 0x37fa213d, RFC 6455 §5.7).
fn client_frame(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
    const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
    let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n if n <= usize::from(u16::MAX) => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&MASK);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    out
}

fn client_frames() -> Vec<HandMade> {
    let frames = |shape: u8, parts: &[Vec<u8>]| {
        let mut out = vec![shape];
        for p in parts {
            out.extend_from_slice(p);
        }
        out
    };
    let close = |code: u16, reason: &[u8]| {
        let mut payload = code.to_be_bytes().to_vec();
        payload.extend_from_slice(reason);
        client_frame(0x8, true, &payload)
    };
    vec![
        (
            "ping",
            frames(0x00, &[client_frame(0x9, true, b"ping")]),
            true,
        ),
        (
            "text-binary-close",
            frames(
                0x13,
                &[
                    client_frame(0x1, true, "héllo".as_bytes()),
                    client_frame(0x2, true, &[0, 1, 2, 3]),
                    close(1000, b"bye"),
                ],
            ),
            true,
        ),
        (
            "fragmented-with-ping",
            frames(
                0x72,
                &[
                    client_frame(0x1, false, b"hel"),
                    client_frame(0x9, true, b"p"),
                    client_frame(0x0, true, b"lo"),
                ],
            ),
            true,
        ),
        (
            "long-binary",
            frames(0xf0, &[client_frame(0x2, true, &[0x5a; 300])]),
            true,
        ),
        ("unmasked", frames(0x00, &[b"\x81\x02hi".to_vec()]), false),
        (
            "bad-utf8",
            frames(0x21, &[client_frame(0x1, true, &[0xff, 0xfe])]),
            false,
        ),
    ]
}
