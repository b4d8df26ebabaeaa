//! The HTTP API of issue #14: `GET /api/stats`, `GET /api/logs` and `GET /api/cert/{hash}`
//! (the shapes are in the README, section "HTTP API"). The HTTP glue (routing, auth, the
//! asynchronous lookup) is in `ws/api.rs`; this module holds what it serves from: the plain
//! per-core facts that ride in every [`crate::metrics::CoreSnapshot`], their JSON renderings,
//! and the certificate index.
//!
//! | file | role |
//! |---|---|
//! | `facts.rs` | [`CoreApi`]: what each core adds to its snapshot (rates, store summary, index size) |
//! | `stats.rs` | the `/api/stats` and `/api/logs` JSON, and how a log's health is judged |
//! | `cert_index.rs` | [`CertIndex`]: hash → (log, index, seen), bounded, per executor |
//!
//! # Stats and logs: no lock, one second old at most
//!
//! Every executor already sends a [`crate::metrics::CoreSnapshot`] to every other one each
//! [`crate::limits::METRICS_SNAPSHOT_INTERVAL`]; the API's facts ride in it ([`CoreApi`]), so
//! `/api/stats` and `/api/logs` on any core render the whole process from this core's fresh
//! snapshot and the others' latest, like `/metrics` and `/health/deep`. Rates are computed per
//! core from its own counters over the last [`crate::limits::API_RATE_WINDOW_SAMPLES`]
//! snapshots ([`RateSampler`]), and summed. The store summary of a log comes from its writer
//! ([`crate::replay::store::LogWriter::held`]) on the executor that owns it, after each page
//! it writes (a log the store holds but no page reached since the start is not listed until
//! its next page).
//!
//! # Certificate lookup: every executor indexes every certificate it publishes
//!
//! Each executor publishes every certificate of every log into its hub (its own logs' pages,
//! and the other executors' through the rings), so each can index all of them and answer a
//! lookup alone, with no message between cores and no shared structure: the index is filled
//! where frames enter the hub, and read by the HTTP task of the same core. The index maps the
//! hash (SHA-256 or SHA-1, their first 8 bytes) to every (log, index, seen) it appeared
//! under, bounded by count ([`crate::limits::cert_index_entries`] of the store's age bound,
//! at most [`crate::limits::CERT_INDEX_ENTRIES_MAX`]), oldest evicted first. The lookup then
//! reads the newest position still held from the replay store with a
//! [`crate::replay::store::LogReader`] (glommio file reads, in the replay task queue below
//! live fan-out), checks the full SHA-256 (or the `sha1` of the stored message) and returns
//! its full-stream message as stored.
//!
//! The alternative weighed: only the owning executor indexes its logs' certificates (as its
//! store feed writes them), and a lookup asks every executor through a request/reply ring
//! pair per pair of cores. It costs 1× the index memory instead of one index per executor,
//! but needs 2·n·(n−1) more rings, request ids, a gather with a deadline and its failure
//! modes. With the index at ≈ [`crate::limits::CERT_INDEX_BYTES_PER_ENTRY`] bytes per
//! certificate (≈ 160 MB for an hour of the firehose) the per-executor copy is the simpler
//! choice on the few-core machines this server targets; past ~8 executors the owner-only
//! index with a gather becomes worth its complexity.
//!
//! What it costs and misses, named:
//! - memory: one index per executor, allocated as it fills (only with `--replay-dir`);
//! - a batch a full ring dropped (counted in `certstream_ring_drops_total`) is not indexed on
//!   the executor that lost it: a lookup arriving there does not list those positions (404
//!   when it was the only one), though the store holds them;
//! - a certificate is found once its page is written to the store, normally milliseconds
//!   after it was streamed; before that the lookup answers 404;
//! - positions other than the returned one are matched on 64 bits of the hash (see
//!   [`cert_index`]), and may point at entries retention deleted since (the lookup checks
//!   each log's held range first).

pub mod cert_index;
mod facts;
mod stats;

pub use cert_index::{CertHash, CertIndex, HashError, Position};
pub use facts::{CoreApi, IndexFacts, RateCounters, RateSampler, Rates, StoreFacts, StoreLog};
pub use stats::{log_health, logs_json, stats_json, Health};

/// Uppercase hex pairs joined by `:`, as the messages print hashes.
pub fn hex_colon(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        out.push_str(&format!("{b:02X}"));
    }
    out
}

/// Microseconds since the epoch as the messages' `seen`: seconds with six decimals.
pub fn unix_secs(us: u64) -> f64 {
    us as f64 / 1e6
}
