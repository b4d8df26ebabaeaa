//! The on-disk replay store: every streamed entry of every log, kept by bytes and age, so a
//! client can resume from a cursor or replay from a time (issue #14).
//!
//! # Layout
//!
//! `<dir>/<log key, 16 lowercase hex>/` per log ([`LogKey`]: the first 8 bytes of SHA-256 of
//! the log's URL), holding `log.json` ([`LogAbout`], written once, for people and for
//! [`list_logs`]) and the segments `<first index, 20 digits>.seg`. Indexes strictly increase
//! within a log, across segments in name order (gaps allowed: undecodable entries are never
//! stored).
//!
//! # Format (little-endian)
//!
//! - segment header (16 bytes): `CSREPLAY`, version `u32` = 1, 4 zero bytes;
//! - then records, each `magic u32 = 0xC5E7A11E`, `len u32`, `crc u32` (CRC-32 of the `len`
//!   bytes and the body), and the body of `len` bytes: `index u64`, `seen_us u64`,
//!   `leaf_sha256 [32]`, the lengths of `lite`, `full`, `domains` (`u32` each), then those
//!   three complete WebSocket frames as streamed (replay re-encodes nothing). A body over
//!   [`limits::REPLAY_RECORD_BYTES_MAX`] is refused as damage.
//!
//! Size, measured on the 26 real entries of `loadtest/fixtures/ctdata/rfc6962` encoded by
//! `cert::encode_entry` (test `real_entries_round_trip`): 11 489 bytes per entry on disk
//! (frames: lite 1 839, full 9 459, domains 118; record head and fixed fields 72), so an hour
//! of the firehose (≈ 400 entries/s) is ≈ 16.6 GB ([`limits::REPLAY_BYTES_PER_ENTRY`]). The
//! full frame is 82% of it: storing one compact form and re-encoding lite and domains at
//! replay would save at most 17% and cost a parse per replayed entry, so all three are kept.
//!
//! Open cost: the writer's recovery reads the log's whole store once (see below); readers
//! read in [`limits::REPLAY_READ_CHUNK_BYTES`] chunks and resume from where their last read
//! stopped, so a catching-up client reads each byte once.
//!
//! # Writing, and who reads what
//!
//! One [`LogWriter`] per log, on the executor that owns the log: it appends each page with one
//! write at the end of the newest segment, and starts a new segment before a page once the
//! newest holds [`StoreConfig::segment_bytes`] (so a segment passes the bound by at most one
//! page). It never rewrites a byte it wrote, except to truncate a torn tail at open.
//! [`LogReader`]s run on any executor, reading the same files without talking to the writer;
//! what they rely on:
//! - a segment is complete once a newer one exists: the writer creates the next segment only
//!   after its last write to the previous one finished;
//! - in the newest segment, a short or bad record at the end is a write in progress: the
//!   reader stops there without error ("not written yet") and, when it has nothing to return,
//!   lists the directory again to learn whether a newer segment completed this one;
//! - retention deletes whole segments: a reader keeps its open segment readable (unlinked
//!   files stay readable), and a segment gone before it was opened is skipped (the caller sees
//!   the gap in the indexes).
//!
//! No data is synced to the device: a killed process loses nothing the kernel took, and a
//! power loss is handled as damage by the same recovery.
//!
//! # Recovery at open (writer)
//!
//! Every segment is scanned once (bounded chunks; the cost is a read of the store per
//! restart). In the NEWEST segment a record that is cut short or fails its checksum with no
//! good record after it is a torn tail: truncated, logged, never served (a newest segment
//! without one good record is removed). Anywhere else a bad record marks the rest of its
//! segment corrupt: readers skip it, and its index range (from the last good index + 1 up to
//! the next segment's first index) is listed in [`Held::corrupt`]. When the newest segment is
//! damaged in the middle, the writer starts a new segment (so readers see the damaged one as
//! complete) and `next_index` follows the highest good record found after the damage.
//!
//! # Retention
//!
//! After each append, whole oldest segments are deleted (never the one being written) while
//! the log's total passes [`StoreConfig::max_bytes`], or while the newest `seen_us` of the
//! oldest segment is older than [`StoreConfig::max_age`] before the wall clock.

mod reader;
mod segment;
#[cfg(test)]
mod tests;
mod writer;

use std::{io, ops::Range, path::PathBuf, time::Duration};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

pub use reader::LogReader;
pub use writer::{AppendReport, LogWriter};

use crate::limits;

/// A log's key in the store: the first 8 bytes of SHA-256 of its URL (computed by the caller).
pub type LogKey = [u8; 8];

/// Where the store lives and what it keeps (each log is bounded on its own).
#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub dir: PathBuf,
    /// Most bytes of segments kept per log.
    pub max_bytes: u64,
    /// Entries whose `seen_us` is older than this are deleted (by whole segments).
    pub max_age: Duration,
    /// A new segment starts once the newest holds this many bytes.
    pub segment_bytes: u64,
}

impl StoreConfig {
    /// The defaults of [`limits`] under `dir`.
    pub fn with_defaults(dir: PathBuf) -> StoreConfig {
        StoreConfig {
            dir,
            max_bytes: limits::REPLAY_MAX_BYTES_DEFAULT,
            max_age: limits::REPLAY_MAX_AGE_DEFAULT,
            segment_bytes: limits::REPLAY_SEGMENT_BYTES,
        }
    }

    /// The directory of one log.
    pub fn log_dir(&self, key: LogKey) -> PathBuf {
        self.dir.join(key_hex(key))
    }
}

/// One stored entry; the frames are zero-copy slices of the read buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEntry {
    pub index: u64,
    pub seen_us: u64,
    pub leaf_sha256: [u8; 32],
    pub lite: Bytes,
    pub full: Bytes,
    pub domains: Bytes,
}

/// What a log's store holds (the writer's view, for `/health/deep` and the gap message).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Held {
    /// First index of the oldest segment.
    pub first_index: Option<u64>,
    /// One past the highest stored index.
    pub next_index: Option<u64>,
    /// `seen_us` of the oldest stored entry.
    pub oldest_seen_us: Option<u64>,
    pub bytes: u64,
    pub segments: usize,
    /// Index ranges lost to damage found at open (readers skip them).
    pub corrupt: Vec<Range<u64>>,
}

/// What `log.json` says about a log (for people, and for replay over all logs by time).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogAbout {
    /// The log's URL as printed in `source.url`.
    pub url: String,
    pub description: String,
    /// The log id, base64 as in the log list.
    pub log_id: String,
}

impl LogAbout {
    pub fn new(url: &str, description: &str, log_id: &[u8; 32]) -> LogAbout {
        use base64::Engine as _;
        LogAbout {
            url: url.to_owned(),
            description: description.to_owned(),
            log_id: base64::engine::general_purpose::STANDARD.encode(log_id),
        }
    }
}

const ABOUT_FILE: &str = "log.json";

/// 16 lowercase hex digits.
pub fn key_hex(key: LogKey) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_key_hex(name: &str) -> Option<LogKey> {
    if name.len() != 16 || !name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let mut key = [0u8; 8];
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&name[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(key)
}

/// Every log the store holds, with its `log.json` (a log whose `log.json` is missing or
/// unreadable is left out and logged). Runs on the blocking pool.
pub async fn list_logs(cfg: &StoreConfig) -> io::Result<Vec<(LogKey, LogAbout)>> {
    let dir = cfg.dir.clone();
    glommio::executor()
        .spawn_blocking(move || list_logs_blocking(&dir))
        .await
}

fn list_logs_blocking(dir: &std::path::Path) -> io::Result<Vec<(LogKey, LogAbout)>> {
    let entries = match std::fs::read_dir(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        other => other?,
    };
    let mut logs = Vec::new();
    for entry in entries {
        let entry = entry?;
        let Some(key) = entry.file_name().to_str().and_then(parse_key_hex) else {
            continue;
        };
        let path = entry.path().join(ABOUT_FILE);
        let about = std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|text| sonic_rs::from_str::<LogAbout>(&text).map_err(|e| e.to_string()));
        match about {
            Ok(about) => logs.push((key, about)),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "replay store: log without a readable log.json, left out")
            }
        }
    }
    logs.sort_by_key(|(key, _)| *key);
    Ok(logs)
}
