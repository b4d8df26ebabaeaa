//! What a wsbench run reports: [`WsBenchReport`] and its parts (latency summaries, loss, slow
//! clients, the gap check and the server's skip report). These are the `ws` fields of
//! bench-run's results.json, so a field here is a field there.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// A histogram summary in milliseconds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MsSummary {
    /// Samples recorded.
    pub samples: u64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest.
    pub max: f64,
}

impl MsSummary {
    /// Summarises a histogram of microseconds.
    pub fn from_us(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return MsSummary::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        MsSummary {
            samples: h.len(),
            mean: h.mean() / 1000.0,
            p50: ms(h.value_at_quantile(0.5)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
        }
    }
}

/// Loss over the reading clients.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LossSummary {
    /// Clients that read.
    pub reading_clients: usize,
    /// Reading clients with at least one missing index.
    pub clients_with_loss: usize,
    /// Indexes skipped, summed over reading clients and logs (entries the gap check expects to
    /// be skipped are not counted).
    pub missing_total: u64,
    /// Messages at an index already delivered, summed.
    pub repeated_total: u64,
    /// Messages that arrived after a later index of their log, summed.
    pub out_of_order_total: u64,
    /// Expected skips (corrupted entries) that were indeed not delivered, summed.
    pub skipped_expected_total: u64,
    /// Reading clients whose connection ended before the run did.
    pub clients_disconnected: usize,
    /// Certificate messages whose fields could not be found.
    pub malformed_messages: u64,
    /// Messages of logs beyond the tracked-log cap.
    pub untracked_messages: u64,
}

/// What happened to the slow clients.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SlowSummary {
    /// Slow clients connected.
    pub connected: usize,
    /// Of those, closed by the server by the end of the run.
    pub closed_by_server: usize,
}

/// Gap-check result for one log.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct GapLog {
    /// Log URL (canonical: no trailing slash).
    pub url: String,
    /// Simulator tree size at the end of the window (the target).
    pub target: u64,
    /// Reading clients checked.
    pub clients_checked: usize,
    /// Clients with every index in [start, target) exactly once, in order.
    pub clients_complete: usize,
    /// Clients that never received this log (no start given).
    pub clients_never_seen: usize,
    /// Missing indexes (gaps + not reached, expected skips excepted), summed over clients.
    pub missing: u64,
    /// Messages at an index already delivered, summed.
    pub repeated: u64,
    /// Messages that arrived after a later index, summed.
    pub out_of_order: u64,
    /// Expected skips in `[start_min, target)`.
    pub skips_expected: u64,
    /// Expected skips that some client received anyway, summed over clients.
    pub delivered_but_skip_expected: u64,
    /// Lowest start over clients.
    pub start_min: Option<u64>,
    /// The server's report for this log, when one was asked for and could be read.
    pub server: Option<ServerSkipCheck>,
}

/// How the server's report of skipped entries compares with the expected skips of one log.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ServerSkipCheck {
    /// The server's count of skipped entries (since it started).
    pub skipped_count: u64,
    /// Indexes in the server's list of recent skips.
    pub listed: usize,
    /// Expected skips in `[start_min, target)` the list should hold but does not.
    pub unreported: Vec<u64>,
    /// Listed indexes that were not expected to be skipped.
    pub unexpected: Vec<u64>,
}

impl ServerSkipCheck {
    pub(super) fn clean(&self) -> bool {
        self.unreported.is_empty() && self.unexpected.is_empty()
    }
}

/// Gap-check result.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct GapReport {
    /// Per log.
    pub logs: Vec<GapLog>,
    /// True when every client is complete for every log it saw and saw every log, and the
    /// server's skip report (when read) matches the expected skips.
    pub complete: bool,
    /// Seconds spent waiting for clients to catch up.
    pub drain_s: f64,
    /// Whether a server skip report was asked for but could not be read (and why).
    pub server_report_unavailable: Option<String>,
}

/// The result of a run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WsBenchReport {
    /// Target URL.
    pub url: String,
    /// Clients asked for.
    pub clients: usize,
    /// Slow clients asked for.
    pub slow: usize,
    /// Worker threads.
    pub threads: usize,
    /// Clients that completed the handshake.
    pub connected: usize,
    /// Clients that failed to connect.
    pub connect_failed: usize,
    /// Time from start until every client had connected or failed, ms.
    pub connect_all_ms: f64,
    /// Per-client connect (TCP + handshake) time.
    pub connect_ms: MsSummary,
    /// Warm-up, s.
    pub warmup_s: f64,
    /// Measured window actually observed, s.
    pub duration_s: f64,
    /// Messages (certificate updates and dns entries) delivered in the window, all clients.
    pub delivered_msgs: u64,
    /// `delivered_msgs / duration_s`.
    pub delivered_msgs_per_s: f64,
    /// Wire bytes read in the window.
    pub bytes: u64,
    /// Wire bytes per second.
    pub bytes_per_s: f64,
    /// Latency (receive − seen) of certificate updates in the window.
    pub latency_ms: MsSummary,
    /// Samples where `seen` was in the future (recorded as 0).
    pub latency_negative: u64,
    /// Loss over reading clients.
    pub loss: LossSummary,
    /// Slow clients.
    pub slow_clients: SlowSummary,
    /// JSON heartbeats seen over the whole run, all clients.
    pub heartbeats: u64,
    /// Messages of other types.
    pub other_msgs: u64,
    /// wsbench's own CPU over the window, percent of one core (worker threads).
    pub cpu_pct: f64,
    /// Gap check.
    pub gap_check: Option<GapReport>,
    /// Error count (connect and protocol errors).
    pub errors_total: usize,
    /// The first errors.
    pub errors: Vec<String>,
}
