//! Single-thread throughput of `certstream::cert::encode_entry` on real certificates.
//!
//! Loads every certificate under `fixtures/ctdata/certs` (one entry each, leaf only; PEM files
//! holding a chain use the rest as its chain) and every entry of the RFC 6962 get-entries bodies
//! (leaf plus chain, decoded here), then encodes them round-robin for `--seconds` and prints
//! `{"certs_per_sec":…,"ns_per_cert":…,"bytes_lite":…,"certs":…}` (`bytes_lite` is the mean lite
//! frame size, `certs` the corpus size).
//!
//! `cargo run --release -p loadtest --bin ingest-bench -- --seconds 5`

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use base64::Engine as _;
use bytes::Bytes;
use certstream::ct::entry::{EntryKind, EntrySource, LogEntry};
use clap::Parser;

#[derive(Parser)]
struct Args {
    /// How long to run.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// The fixtures directory (default: the crate's own).
    #[arg(long)]
    fixtures: Option<PathBuf>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let root = args
        .fixtures
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/ctdata"));
    let mut corpus = load_cert_files(&root.join("certs"))?;
    corpus.extend(load_get_entries(&root.join("rfc6962"))?);
    let source = EntrySource {
        log_id: [7; 32],
        url: "https://ct.example.net/log/",
        name: "Example log",
        cert_link: "https://ct.example.net/log/ct/v1/get-entries?start=1&end=1",
    };
    // Keep only what encodes: undecodable entries are skipped by the server too.
    corpus.retain(|e| certstream::cert::encode_entry(e, &source, 0.0).is_ok());
    if corpus.is_empty() {
        bail!("no encodable certificates under {}", root.display());
    }
    let budget = Duration::from_secs_f64(args.seconds);
    let cpu_start = thread_cpu_ns();
    let start = Instant::now();
    let (mut done, mut lite_bytes) = (0u64, 0u64);
    while start.elapsed() < budget {
        for entry in &corpus {
            let frames = certstream::cert::encode_entry(entry, &source, 1.7e9)?;
            lite_bytes += frames.lite.len() as u64;
            done += 1;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    // On a shared machine the thread is not on a CPU the whole time; the rate per second of
    // CPU time is what one dedicated core would do.
    let cpu_secs = match (cpu_start, thread_cpu_ns()) {
        (Some(a), Some(b)) if b > a => (b - a) as f64 / 1e9,
        _ => secs,
    };
    println!(
        "{{\"certs_per_sec\":{:.0},\"ns_per_cert\":{:.0},\"bytes_lite\":{},\"certs\":{},\"certs_per_cpu_sec\":{:.0},\"cpu_share\":{:.2}}}",
        done as f64 / secs,
        secs * 1e9 / done as f64,
        lite_bytes / done.max(1),
        corpus.len(),
        done as f64 / cpu_secs,
        cpu_secs / secs
    );
    Ok(())
}

/// Nanoseconds this thread has run on a CPU (Linux `/proc/thread-self/schedstat`).
fn thread_cpu_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
}

fn entry(leaf: Vec<u8>, chain: Vec<Bytes>, kind: EntryKind, index: u64) -> LogEntry {
    LogEntry {
        index,
        timestamp_ms: 0,
        kind,
        leaf_der: Bytes::from(leaf),
        chain,
    }
}

/// One entry per certificate file: the first certificate is the leaf, the rest its chain.
fn load_cert_files(dir: &Path) -> Result<Vec<LogEntry>> {
    let mut out = Vec::new();
    for file in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let data = std::fs::read(file?.path())?;
        let mut ders = pem_or_der(&data)?;
        if ders.is_empty() {
            continue;
        }
        let leaf = ders.remove(0);
        let chain = ders.into_iter().map(Bytes::from).collect();
        out.push(entry(leaf, chain, EntryKind::X509, out.len() as u64));
    }
    Ok(out)
}

fn pem_or_der(data: &[u8]) -> Result<Vec<Vec<u8>>> {
    let text = String::from_utf8_lossy(data);
    if !text.contains("-----BEGIN CERTIFICATE-----") {
        return Ok(vec![data.to_vec()]);
    }
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    for line in text.lines() {
        if line.starts_with("-----BEGIN CERTIFICATE") {
            cur = Some(String::new());
        } else if line.starts_with("-----END CERTIFICATE") {
            let b64 = cur.take().unwrap_or_default();
            out.push(base64::engine::general_purpose::STANDARD.decode(b64)?);
        } else if let Some(c) = cur.as_mut() {
            c.push_str(line.trim());
        }
    }
    Ok(out)
}

#[derive(serde::Deserialize)]
struct GetEntries {
    entries: Vec<RawEntry>,
}

#[derive(serde::Deserialize)]
struct RawEntry {
    leaf_input: String,
    extra_data: String,
}

/// Every entry of every `*get-entries*.json` body in `dir`.
fn load_get_entries(dir: &Path) -> Result<Vec<LogEntry>> {
    let mut out = Vec::new();
    for file in std::fs::read_dir(dir)? {
        let path = file?.path();
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if !name.contains("get-entries") || !name.ends_with(".json") {
            continue;
        }
        let body: GetEntries = serde_json::from_slice(&std::fs::read(&path)?)?;
        for raw in body.entries {
            let b64 = base64::engine::general_purpose::STANDARD;
            let leaf_input = b64.decode(raw.leaf_input)?;
            let extra = b64.decode(raw.extra_data)?;
            let e = decode_entry(&leaf_input, &extra, out.len() as u64)
                .with_context(|| format!("decoding an entry of {name}"))?;
            out.push(e);
        }
    }
    Ok(out)
}

/// MerkleTreeLeaf + extra_data (RFC 6962 §3.4, §4.6) → the published leaf and its chain.
fn decode_entry(leaf_input: &[u8], extra: &[u8], index: u64) -> Result<LogEntry> {
    let entry_type = leaf_input.get(10..12).context("short leaf_input")?;
    if entry_type == [0, 0] {
        let (leaf, _) = u24_item(leaf_input.get(12..).context("short x509 entry")?)?;
        let (list, _) = u24_item(extra)?;
        Ok(entry(
            leaf.to_vec(),
            u24_list(list)?,
            EntryKind::X509,
            index,
        ))
    } else {
        let (precert, rest) = u24_item(extra)?;
        let (list, _) = u24_item(rest)?;
        Ok(entry(
            precert.to_vec(),
            u24_list(list)?,
            EntryKind::Precert,
            index,
        ))
    }
}

fn u24_item(b: &[u8]) -> Result<(&[u8], &[u8])> {
    let len = b.get(..3).context("short length")?;
    let n = (usize::from(len[0]) << 16) | (usize::from(len[1]) << 8) | usize::from(len[2]);
    let item = b.get(3..3 + n).context("short item")?;
    Ok((item, &b[3 + n..]))
}

fn u24_list(mut b: &[u8]) -> Result<Vec<Bytes>> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let (item, rest) = u24_item(b)?;
        out.push(Bytes::copy_from_slice(item));
        b = rest;
    }
    Ok(out)
}
