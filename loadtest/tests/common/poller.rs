//! Harness of the poller scenarios (`tests/poller_*.rs`): the real poller
//! ([`certstream::ct::poller::run`]) on a glommio executor against the simulator started
//! in-process on 127.0.0.1:0, following its replay logs (the real navigli2025h2 entries, tiles
//! and issuers of `loadtest/fixtures/ctdata`), with faults from the scenario's fault schedule.
//!
//! Every scenario asserts that each index from the start position to the tree size is emitted
//! exactly once, in order, with the leaf and chain the fixtures hold; that the log's verified
//! tree size and cursor never move backwards; that the poller stops promptly; and that the
//! `LogStats` counters the fault should move did move (and no others). Faults are scheduled by
//! request count (`limit`, `every`), so what happens does not depend on timing; the simulator's
//! per-rule counters and request log say what it served.
//!
//! # Layout
//! - what the sink must see ([`Seen`]), read straight from the fixture files (not through the
//!   decoders under test nor the simulator);
//! - [`start_sim`]: the simulator with only its two replay logs;
//! - [`drive`]: runs one poller until its cursor reaches the expected end or a deadline;
//! - [`cursor`] and [`tree_size`]: the only reads of the log's progress;
//! - assertions on the outcome and on the simulator's request log.
#![allow(dead_code)]

use std::{
    cell::RefCell,
    collections::HashMap,
    rc::Rc,
    time::{Duration, Instant},
};

use base64::{engine::general_purpose::STANDARD, Engine as _};
use certstream::{
    ct::{
        entry::LogEntry,
        http::{tls_config, HttpClient, Timeouts},
        log_list::{LogInfo, LogKind, LogState},
        poller::{
            run, Backfill, Emitted, EntrySink, LogCtx, LogProgress, PollSlot, PollerEnv,
            PollerTiming, StopFlag,
        },
        sig::LogKey,
    },
    metrics::{FetchErrorKind, LogStats},
};
use glommio::{timer::sleep, LocalExecutorBuilder, Placement};
use loadtest::sim::{
    self,
    fixtures::{default_dir, RFC_REPLAY_FILES},
    FaultSchedule, Served, SimConfig, SimHandle,
};
use sha2::{Digest as _, Sha256};

/// Simulator index of the RFC 6962 replay log (no generated logs are started).
pub const RFC_LOG: usize = 0;
/// Simulator index of the Static CT replay log.
pub const STATIC_LOG: usize = 1;
/// Entries of the RFC 6962 replay log (see `loadtest::sim::fixtures`).
pub const RFC_ENTRIES: u64 = 26;
/// Entries of the Static CT replay log: navigli2025h2's three data tiles.
pub const TILE_ENTRIES: u64 = 768;

pub const STH: &str = "ct/v1/get-sth";
pub const ENTRIES: &str = "ct/v1/get-entries";
pub const CHECKPOINT: &str = "checkpoint";

pub fn sha(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// ---- What the sink must see ----------------------------------------------------------------

/// What the sink recorded for one emitted entry: its index, SHA-256 of `leaf_der`, and SHA-256
/// of each chain certificate (which for Static CT is the tile's fingerprint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub index: u64,
    pub leaf: [u8; 32],
    pub chain: Vec<[u8; 32]>,
}

fn u24(b: &[u8]) -> usize {
    (usize::from(b[0]) << 16) | (usize::from(b[1]) << 8) | usize::from(b[2])
}

fn u16be(b: &[u8]) -> usize {
    (usize::from(b[0]) << 8) | usize::from(b[1])
}

/// The certificates of a `certificate_chain<0..2^24-1>` of `ASN.1Cert<1..2^24-1>`.
fn chain_hashes(list: &[u8]) -> Vec<[u8; 32]> {
    let mut certs = &list[3..3 + u24(list)];
    let mut out = Vec::new();
    while !certs.is_empty() {
        let len = u24(certs);
        out.push(sha(&certs[3..3 + len]));
        certs = &certs[3 + len..];
    }
    out
}

/// One get-entries entry as the sink must see it, parsed by hand: the certificate of an
/// x509_entry's `leaf_input` (`version, leaf_type, timestamp(8), entry_type(2), cert<3>`) with
/// the chain of its `extra_data`, or a PrecertChainEntry's `pre_certificate` and chain.
fn rfc_seen(index: u64, leaf_input: &str, extra_data: &str) -> Seen {
    let leaf = STANDARD.decode(leaf_input).unwrap();
    let extra = STANDARD.decode(extra_data).unwrap();
    let (leaf_der, chain) = match &leaf[10..12] {
        [0, 0] => (&leaf[15..15 + u24(&leaf[12..])], chain_hashes(&extra)),
        [0, 1] => {
            let pre_len = u24(&extra);
            (&extra[3..3 + pre_len], chain_hashes(&extra[3 + pre_len..]))
        }
        other => panic!("entry {index}: entry type {other:?}"),
    };
    Seen {
        index,
        leaf: sha(leaf_der),
        chain,
    }
}

/// The RFC 6962 replay log's entries as `(leaf_input, extra_data)`, in its documented order.
pub fn rfc_fixture_entries() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for file in RFC_REPLAY_FILES {
        let body = std::fs::read(default_dir().join("rfc6962").join(file)).unwrap();
        let page: serde_json::Value = serde_json::from_slice(&body).unwrap();
        for e in page["entries"].as_array().unwrap() {
            let field = |name: &str| e[name].as_str().unwrap().to_owned();
            out.push((field("leaf_input"), field("extra_data")));
        }
    }
    out
}

/// What the sink must see for the RFC 6962 replay log.
pub fn rfc_expected() -> Vec<Seen> {
    rfc_fixture_entries()
        .iter()
        .zip(0..)
        .map(|((leaf, extra), i)| rfc_seen(i, leaf, extra))
        .collect()
}

/// Raw (uncompressed) data tile `n` of navigli2025h2.
pub fn tile_bytes(n: u64) -> Vec<u8> {
    std::fs::read(default_dir().join(format!("static-ct/navigli2025h2/tile/data/{n:03}"))).unwrap()
}

/// The leaves of a data tile, parsed by hand: `timestamp(8) entry_type(2)`, then an x509
/// certificate<3>, or `issuer_key_hash(32) tbs<3>`; `extensions<2>`; a precert's
/// `pre_certificate<3>`; `fingerprints<2>` of 32-byte chain fingerprints.
fn tile_seen(tile: &[u8], first_index: u64) -> Vec<Seen> {
    let mut out = Vec::new();
    let mut b = tile;
    while !b.is_empty() {
        let precert = b[8..10] == [0, 1];
        let mut at = 10;
        let mut leaf = None;
        if precert {
            at += 32;
            at += 3 + u24(&b[at..]);
        } else {
            let len = u24(&b[at..]);
            leaf = Some(sha(&b[at + 3..at + 3 + len]));
            at += 3 + len;
        }
        at += 2 + u16be(&b[at..]);
        if precert {
            let len = u24(&b[at..]);
            leaf = Some(sha(&b[at + 3..at + 3 + len]));
            at += 3 + len;
        }
        let fps_len = u16be(&b[at..]);
        let chain = b[at + 2..at + 2 + fps_len]
            .chunks(32)
            .map(|c| c.try_into().unwrap())
            .collect();
        at += 2 + fps_len;
        out.push(Seen {
            index: first_index + out.len() as u64,
            leaf: leaf.unwrap(),
            chain,
        });
        b = &b[at..];
    }
    out
}

/// What the sink must see for the first `size` entries of the Static CT replay log, with the
/// chains missing the issuers in `missing`.
pub fn tiled_expected(size: u64, missing: &[[u8; 32]]) -> Vec<Seen> {
    (0..3)
        .flat_map(|n| tile_seen(&tile_bytes(n), n * 256))
        .take(size as usize)
        .map(|mut s| {
            s.chain.retain(|fp| !missing.contains(fp));
            s
        })
        .collect()
}

/// Fingerprints (lowercase hex, their file names) of the navigli2025h2 issuers.
pub fn issuer_names() -> Vec<String> {
    std::fs::read_dir(default_dir().join("static-ct/navigli2025h2/issuer"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect()
}

// ---- The simulator ------------------------------------------------------------------------

/// The simulator serving only its two replay logs ([`RFC_LOG`], [`STATIC_LOG`]), RFC 6962
/// pages capped at `page_cap` (Trillian-aligned when `align`), faults from `schedule` (TOML),
/// every request recorded.
pub fn start_sim_with(schedule: &str, page_cap: u64, align: bool) -> SimHandle {
    sim::start(SimConfig {
        rfc6962_logs: 0,
        static_logs: 0,
        rate_per_sec: 0.0,
        replay: true,
        page_caps: vec![page_cap],
        align_pages: align,
        faults: FaultSchedule::from_toml(schedule).expect("valid fault schedule"),
        record_requests: true,
        ..SimConfig::default()
    })
    .expect("simulator starts")
}

/// [`start_sim_with`] with pages of up to 1000 entries (the whole replay log), unaligned.
pub fn start_sim(schedule: &str) -> SimHandle {
    start_sim_with(schedule, 1000, false)
}

/// The requests of log `log` for exactly `path`, in arrival order.
pub fn requests(sim: &SimHandle, log: usize, path: &str) -> Vec<Served> {
    requests_where(sim, log, |p| p == path)
}

/// The requests of log `log` whose path starts with `prefix`.
pub fn requests_under(sim: &SimHandle, log: usize, prefix: &str) -> Vec<Served> {
    requests_where(sim, log, |p| p.starts_with(prefix))
}

fn requests_where(sim: &SimHandle, log: usize, keep: impl Fn(&str) -> bool) -> Vec<Served> {
    sim.requests()
        .into_iter()
        .filter(|r| r.log == log && keep(&r.path))
        .collect()
}

/// How often each fault rule fired, in schedule order.
pub fn fired(sim: &SimHandle) -> Vec<u64> {
    sim.fault_counts().iter().map(|c| c.fired).collect()
}

/// Entries served by get-entries answers, summed over the request log.
pub fn entries_served(sim: &SimHandle) -> u64 {
    requests(sim, RFC_LOG, ENTRIES)
        .iter()
        .filter_map(|r| r.entries)
        .map(|(first, last)| last - first + 1)
        .sum()
}

/// The gap between the first and second request for `path`.
pub fn retry_gap(sim: &SimHandle, log: usize, path: &str) -> Duration {
    let reqs = requests(sim, log, path);
    reqs[1].at.duration_since(reqs[0].at)
}

// ---- The poller ---------------------------------------------------------------------------

/// The log's cursor. With [`tree_size`] the only read of the log's position.
pub fn cursor(log: &LogCtx) -> u64 {
    log.progress.cursor()
}

/// The log's verified tree size (see [`cursor`]).
pub fn tree_size(log: &LogCtx) -> u64 {
    log.progress.tree_size()
}

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
pub fn fast_timing() -> PollerTiming {
    PollerTiming {
        backoff_min: Duration::from_millis(5),
        backoff_max: Duration::from_millis(40),
        start_delay_min: Duration::ZERO,
        broken_tile_confirm_after: Duration::from_millis(30),
    }
}

/// Backoff from 20 ms doubling to 200 ms: the busy-loop checks count requests against it.
pub fn slow_timing() -> PollerTiming {
    PollerTiming {
        backoff_min: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
        ..fast_timing()
    }
}

/// Client timeouts well above what a loaded test machine needs to serve a tile; the hanging
/// connection scenario shortens the read timeout.
pub fn test_timeouts() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(2),
        read: Duration::from_secs(3),
        request: Duration::from_secs(5),
    }
}

pub const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// How to run one poller.
pub struct Drive {
    pub log: usize,
    pub start_at: Option<u64>,
    /// Done once the log's cursor reaches this.
    pub until: u64,
    pub deadline: Duration,
    /// Extra time after `until` during which nothing more may be emitted.
    pub settle: Duration,
    pub timing: PollerTiming,
    pub timeouts: Timeouts,
}

impl Drive {
    pub fn rfc(until: u64) -> Drive {
        Drive {
            log: RFC_LOG,
            start_at: None,
            until,
            deadline: Duration::from_secs(20),
            settle: Duration::from_millis(120),
            timing: fast_timing(),
            timeouts: test_timeouts(),
        }
    }

    pub fn tiled(until: u64) -> Drive {
        Drive {
            log: STATIC_LOG,
            ..Drive::rfc(until)
        }
    }

    /// A poller of `log` that never reaches its end: it runs for `run_for`.
    pub fn stuck(log: usize, run_for: Duration, timing: PollerTiming) -> Drive {
        Drive {
            log,
            until: u64::MAX,
            deadline: run_for,
            timing,
            ..Drive::rfc(0)
        }
    }
}

pub struct Outcome {
    pub seen: Vec<Seen>,
    pub log: Rc<LogCtx>,
    /// Verified tree size and cursor, sampled every few milliseconds.
    pub tree_sizes: Vec<u64>,
    pub cursors: Vec<u64>,
    pub elapsed: Duration,
    /// From setting the StopFlag to the poller's return.
    pub stop_latency: Duration,
}

impl Outcome {
    pub fn stats(&self) -> &LogStats {
        &self.log.stats
    }

    pub fn errors(&self, kind: FetchErrorKind) -> u64 {
        self.stats().errors[kind as usize].get()
    }

    /// All error counters, for assertion messages.
    pub fn counters(&self) -> String {
        let errors: Vec<String> = FetchErrorKind::ALL
            .iter()
            .map(|k| format!("{}={}", k.label(), self.errors(*k)))
            .collect();
        format!(
            "errors [{}], fetches {}, skipped {}",
            errors.join(" "),
            self.stats().fetches.get(),
            self.log.progress.entries_skipped()
        )
    }

    pub fn assert_errors(&self, kind: FetchErrorKind, expected: u64) {
        assert_eq!(
            self.errors(kind),
            expected,
            "{} errors; {}",
            kind.label(),
            self.counters()
        );
    }

    /// Every error counter except the named ones is zero.
    pub fn assert_no_other_errors(&self, allowed: &[FetchErrorKind]) {
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

/// The log list entry of simulator log `log`, as the server would build it.
fn log_info(sim: &SimHandle, log: usize) -> LogInfo {
    let l = &sim.logs()[log];
    let key = LogKey::from_spki_der(&l.key_spki).expect("simulator key");
    let kind = match l.kind {
        sim::LogType::Rfc6962 => LogKind::Rfc6962,
        sim::LogType::Static => LogKind::StaticCt,
    };
    LogInfo {
        kind,
        description: format!("simulator {} log {}", l.kind.as_str(), l.name),
        operator: "ctlog-sim".into(),
        log_id: key.log_id(),
        key,
        url: l.url.clone(),
        submission_url: l.submission_url.clone(),
        mmd_secs: 60,
        state: LogState::Usable,
        lists: Vec::new(),
    }
}

/// Runs a poller for simulator log `d.log` until its cursor reaches `d.until` (plus the settle
/// time) or the deadline passes, then stops it and checks it stops promptly.
pub fn drive(sim: &SimHandle, d: Drive) -> Outcome {
    let info = log_info(sim, d.log);
    let executor = LocalExecutorBuilder::new(Placement::Unbound)
        .io_memory(certstream::limits::EXECUTOR_IO_MEMORY_BYTES)
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
            stats,
            progress,
            slot: PollSlot::ONLY,
        });
        let stop = Rc::new(StopFlag::default());
        let task = glommio::spawn_local(run(env, log.clone(), d.start_at, stop.clone()));
        let started = Instant::now();
        let (mut tree_sizes, mut cursors) = (Vec::new(), Vec::new());
        let mut done_at = None;
        loop {
            sleep(Duration::from_millis(3)).await;
            tree_sizes.push(tree_size(&log));
            cursors.push(cursor(&log));
            if done_at.is_none() && cursor(&log) >= d.until {
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
            log,
            tree_sizes,
            cursors,
            elapsed,
            stop_latency,
        }
    })
}

/// The invariants of every scenario: `expected` (minus `skipped`) from `from` on was emitted
/// exactly once, in order, with the right leaf and chain; tree size and cursor never went back.
pub fn assert_exactly_once(out: &Outcome, expected: &[Seen], from: u64, skipped: &[u64]) {
    let want: Vec<&Seen> = expected
        .iter()
        .filter(|e| e.index >= from && !skipped.contains(&e.index))
        .collect();
    let got_idx: Vec<u64> = out.seen.iter().map(|s| s.index).collect();
    let want_idx: Vec<u64> = want.iter().map(|s| s.index).collect();
    if got_idx != want_idx {
        explain_index_mismatch(out, &got_idx, &want_idx);
    }
    for (got, want) in out.seen.iter().zip(want) {
        assert_eq!(got, want, "entry {} differs from the fixture", want.index);
    }
    assert!(
        out.tree_sizes.windows(2).all(|w| w[0] <= w[1]),
        "tree size went backwards: {:?}",
        dedup(&out.tree_sizes)
    );
    assert!(
        out.cursors.windows(2).all(|w| w[0] <= w[1]),
        "cursor went backwards: {:?}",
        dedup(&out.cursors)
    );
    assert_eq!(
        out.log.progress.entries_skipped(),
        skipped.len() as u64,
        "entries_skipped"
    );
}

fn explain_index_mismatch(out: &Outcome, got_idx: &[u64], want_idx: &[u64]) -> ! {
    let mut counts: HashMap<u64, usize> = HashMap::new();
    for i in got_idx {
        *counts.entry(*i).or_default() += 1;
    }
    let mut repeated: Vec<u64> = counts
        .iter()
        .filter(|(_, c)| **c > 1)
        .map(|(i, _)| *i)
        .collect();
    repeated.sort_unstable();
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
    let first_diff = got_idx.iter().zip(want_idx).position(|(a, b)| a != b);
    panic!(
        "emitted {} entries, expected {}; repeated {:?}; missing {:?}; unexpected {:?}; first out-of-order position {:?} (cursor {}; {})",
        got_idx.len(),
        want_idx.len(),
        &repeated[..repeated.len().min(20)],
        &missing[..missing.len().min(20)],
        &unexpected[..unexpected.len().min(20)],
        first_diff,
        cursor(&out.log),
        out.counters()
    );
}

pub fn dedup(v: &[u64]) -> Vec<u64> {
    let mut out = v.to_vec();
    out.dedup();
    out
}
