//! Counters and the Prometheus text exposition.
//!
//! Counters are plain `Cell`s owned by one executor ([`LogStats`] by the executor that owns the
//! log, [`CoreStats`] by each executor). A log's position (cursor, tree size, lag, skipped
//! entries) is not a counter: it lives in its [`LogProgress`], which only the log's poller
//! writes, and is read from there. Once a second every executor copies both into a
//! [`CoreSnapshot`] (plain `Send` data) and sends it to every other executor over a bounded SPSC
//! ring, so `/metrics` and `/health/deep` on any core render the whole process without a lock.

use std::{cell::Cell, fmt::Write as _, rc::Rc};

pub use crate::ct::poller::progress::SkippedEntry;
use crate::ct::poller::progress::{LogPosition, LogProgress};

/// Why a log fetch failed. The discriminant indexes [`LogStats::errors`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchErrorKind {
    /// DNS, connect, TLS, timeout or I/O failure.
    Network,
    /// HTTP 429 (or 503 with Retry-After).
    RateLimited,
    /// Any other non-2xx status.
    Status,
    /// A page or head that could not be parsed (bad JSON, truncated, empty, oversized).
    BadResponse,
    /// A tree head or checkpoint whose signature did not verify.
    BadSignature,
}

impl FetchErrorKind {
    pub const ALL: [FetchErrorKind; 5] = [
        FetchErrorKind::Network,
        FetchErrorKind::RateLimited,
        FetchErrorKind::Status,
        FetchErrorKind::BadResponse,
        FetchErrorKind::BadSignature,
    ];

    pub fn label(self) -> &'static str {
        match self {
            FetchErrorKind::Network => "network",
            FetchErrorKind::RateLimited => "rate_limited",
            FetchErrorKind::Status => "http_status",
            FetchErrorKind::BadResponse => "bad_response",
            FetchErrorKind::BadSignature => "bad_signature",
        }
    }
}

/// Per-log counters, written only by the executor that owns the log.
#[derive(Debug, Default)]
pub struct LogStats {
    pub log_id: [u8; 32],
    pub url: String,
    pub name: String,
    pub kind: &'static str,
    /// Successful HTTP fetches.
    pub fetches: Cell<u64>,
    pub errors: [Cell<u64>; 5],
    /// Entries streamed.
    pub entries: Cell<u64>,
    /// Current minimum interval between requests chosen by the adaptive pacer.
    pub pacing_ms: Cell<u64>,
}

impl LogStats {
    pub fn new(log_id: [u8; 32], url: &str, name: &str, kind: &'static str) -> Rc<LogStats> {
        Rc::new(LogStats {
            log_id,
            url: url.to_owned(),
            name: name.to_owned(),
            kind,
            ..Default::default()
        })
    }

    pub fn count_error(&self, kind: FetchErrorKind) {
        bump(&self.errors[kind as usize]);
    }
}

/// Per-executor counters of the fan-out path.
#[derive(Debug, Default)]
pub struct CoreStats {
    /// Frames published to this core's hub (local and from rings).
    pub frames_published: Cell<u64>,
    /// Batches dropped because the ring to another core was full.
    pub ring_drops: Cell<u64>,
    /// Frames inside those dropped batches.
    pub ring_dropped_frames: Cell<u64>,
}

/// Increments a counter cell.
pub fn bump(c: &Cell<u64>) {
    c.set(c.get().wrapping_add(1));
}

/// Adds to a counter cell.
pub fn add(c: &Cell<u64>, n: u64) {
    c.set(c.get().wrapping_add(n));
}

/// Plain copy of one log's counters and position.
#[derive(Debug, Clone)]
pub struct LogSnapshot {
    pub log_id: [u8; 32],
    pub url: String,
    pub name: String,
    pub kind: &'static str,
    /// The log has a start position (see [`crate::ct::poller::LogPosition::started`]): its
    /// cursor is one the state file may keep.
    pub started: bool,
    pub tree_size: u64,
    pub cursor: u64,
    pub head_timestamp_ms: u64,
    pub fetches: u64,
    pub errors: [u64; 5],
    pub entries: u64,
    pub entries_skipped: u64,
    pub skipped_recent: Vec<SkippedEntry>,
    pub pacing_ms: u64,
    /// Timestamp of the first verified head holding the oldest entry not yet streamed (0 =
    /// none).
    pub pending_since_ms: u64,
}

impl LogSnapshot {
    /// A log's counters and position, now.
    pub fn capture(stats: &LogStats, progress: &LogProgress) -> LogSnapshot {
        let position = progress.position();
        LogSnapshot {
            log_id: position.log_id,
            url: stats.url.clone(),
            name: stats.name.clone(),
            kind: stats.kind,
            started: position.started,
            tree_size: position.tree_size,
            cursor: position.cursor,
            head_timestamp_ms: position.head_timestamp_ms,
            fetches: stats.fetches.get(),
            errors: std::array::from_fn(|i| stats.errors[i].get()),
            entries: stats.entries.get(),
            entries_skipped: progress.entries_skipped(),
            skipped_recent: progress.skipped_recent(),
            pacing_ms: stats.pacing_ms.get(),
            pending_since_ms: progress.pending_since_ms(),
        }
    }

    /// The log's position when the snapshot was taken, as its own executor reads it
    /// ([`LogProgress::position`]): how other executors see a log they do not own.
    pub fn position(&self) -> LogPosition {
        LogPosition {
            log_id: self.log_id,
            started: self.started,
            cursor: self.cursor,
            tree_size: self.tree_size,
            head_timestamp_ms: self.head_timestamp_ms,
        }
    }

    /// Entries in the log not yet streamed.
    pub fn lag_entries(&self) -> u64 {
        self.position().lag_entries()
    }

    /// How long the oldest entry not yet streamed has been public: now minus the timestamp of
    /// the first verified tree head that contained it; 0 when caught up. Grows steadily while
    /// a log is stuck, stays near the poll interval while it keeps up.
    pub fn lag_seconds(&self, now_ms: u64) -> f64 {
        if self.lag_entries() == 0 || self.pending_since_ms == 0 {
            return 0.0;
        }
        now_ms.saturating_sub(self.pending_since_ms) as f64 / 1000.0
    }
}

/// Plain copy of one executor's counters: what crosses cores for `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct CoreSnapshot {
    pub core: usize,
    pub logs: Vec<LogSnapshot>,
    pub frames_published: u64,
    pub ring_drops: u64,
    pub ring_dropped_frames: u64,
    /// The WebSocket side of this core.
    pub ws: crate::ws::WsMetricsSnapshot,
}

impl CoreSnapshot {
    /// This core's counters and the counters and position of each of its logs.
    pub fn capture<'a>(
        core: usize,
        core_stats: &CoreStats,
        logs: impl IntoIterator<Item = (&'a LogStats, &'a LogProgress)>,
    ) -> CoreSnapshot {
        CoreSnapshot {
            core,
            logs: logs
                .into_iter()
                .map(|(stats, progress)| LogSnapshot::capture(stats, progress))
                .collect(),
            frames_published: core_stats.frames_published.get(),
            ring_drops: core_stats.ring_drops.get(),
            ring_dropped_frames: core_stats.ring_dropped_frames.get(),
            ws: Default::default(),
        }
    }
}

/// Process-wide facts rendered alongside the per-core snapshots.
#[derive(Debug, Clone, Copy)]
pub struct ProcessFacts {
    pub uptime_secs: f64,
    pub rss_bytes: u64,
    pub now_ms: u64,
}

impl ProcessFacts {
    pub fn read(started: std::time::Instant) -> ProcessFacts {
        ProcessFacts {
            uptime_secs: started.elapsed().as_secs_f64(),
            rss_bytes: read_rss_bytes().unwrap_or(0),
            now_ms: unix_ms(),
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// VmRSS of this process from /proc.
pub fn read_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[derive(serde::Serialize)]
struct HealthLog<'a> {
    name: &'a str,
    url: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    state: &'static str,
    tree_size: u64,
    cursor: u64,
    lag_entries: u64,
    lag_seconds: f64,
    head_age_seconds: Option<f64>,
    fetches: u64,
    errors: u64,
    entries_skipped: u64,
    skipped_recent: &'a [SkippedEntry],
}

#[derive(serde::Serialize)]
struct Health<'a> {
    status: &'static str,
    uptime_seconds: f64,
    clients: u64,
    logs: Vec<HealthLog<'a>>,
}

/// `/health/deep`: per-log state and lag, clients and uptime, and the entries it had to skip
/// (count, and the most recent with index and reason). A log is `waiting_for_head` until its
/// first verified tree head, then `caught_up` or `catching_up`.
pub fn health_json(snaps: &[CoreSnapshot], facts: ProcessFacts) -> String {
    let logs = snaps
        .iter()
        .flat_map(|s| s.logs.iter())
        .map(|l| {
            let lag = l.lag_entries();
            let state = match (l.head_timestamp_ms, lag) {
                (0, _) => "waiting_for_head",
                (_, 0) => "caught_up",
                _ => "catching_up",
            };
            HealthLog {
                name: &l.name,
                url: &l.url,
                kind: l.kind,
                state,
                tree_size: l.tree_size,
                cursor: l.cursor,
                lag_entries: lag,
                lag_seconds: l.lag_seconds(facts.now_ms),
                head_age_seconds: (l.head_timestamp_ms > 0)
                    .then(|| facts.now_ms.saturating_sub(l.head_timestamp_ms) as f64 / 1000.0),
                fetches: l.fetches,
                errors: l.errors.iter().sum(),
                entries_skipped: l.entries_skipped,
                skipped_recent: &l.skipped_recent,
            }
        })
        .collect();
    let clients = snaps.iter().map(|s| s.ws.clients_total()).sum();
    let health = Health {
        status: "ok",
        uptime_seconds: facts.uptime_secs,
        clients,
        logs,
    };
    sonic_rs::to_string(&health).unwrap_or_else(|_| "{\"status\":\"ok\"}".to_owned())
}

/// Escapes a Prometheus label value.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Renders every snapshot in the Prometheus text exposition format (version 0.0.4).
pub fn render(snapshots: &[CoreSnapshot], facts: ProcessFacts) -> String {
    let mut out = String::with_capacity(4096);
    render_process(&mut out, facts);
    render_cores(&mut out, snapshots);
    render_ws(&mut out, snapshots);
    render_logs(&mut out, snapshots, facts);
    out
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn render_process(out: &mut String, facts: ProcessFacts) {
    header(
        out,
        "certstream_uptime_seconds",
        "gauge",
        "Seconds since the server started.",
    );
    let _ = writeln!(out, "certstream_uptime_seconds {:.3}", facts.uptime_secs);
    header(
        out,
        "certstream_resident_memory_bytes",
        "gauge",
        "Resident set size (VmRSS).",
    );
    let _ = writeln!(out, "certstream_resident_memory_bytes {}", facts.rss_bytes);
}

fn render_cores(out: &mut String, snaps: &[CoreSnapshot]) {
    type Field = fn(&CoreSnapshot) -> u64;
    let metrics: [(&str, &str, Field); 3] = [
        (
            "certstream_frames_published_total",
            "Certificates published to this core's clients.",
            |s| s.frames_published,
        ),
        (
            "certstream_ring_drops_total",
            "Batches dropped because a cross-core ring was full.",
            |s| s.ring_drops,
        ),
        (
            "certstream_ring_dropped_frames_total",
            "Certificates inside dropped ring batches.",
            |s| s.ring_dropped_frames,
        ),
    ];
    for (name, help, field) in metrics {
        header(out, name, "counter", help);
        for s in snaps {
            let _ = writeln!(out, "{name}{{core=\"{}\"}} {}", s.core, field(s));
        }
    }
}

/// The WebSocket counters summed over every core.
fn render_ws(out: &mut String, snaps: &[CoreSnapshot]) {
    let mut total = crate::ws::WsMetricsSnapshot::default();
    for s in snaps {
        total.merge(&s.ws);
    }
    total.write_prometheus(out);
}

fn render_logs(out: &mut String, snaps: &[CoreSnapshot], facts: ProcessFacts) {
    let logs: Vec<&LogSnapshot> = snaps.iter().flat_map(|s| s.logs.iter()).collect();
    type Field = fn(&LogSnapshot) -> u64;
    // Gauges are f64 so that the pacing interval can be in seconds (Prometheus base unit);
    // integer values up to 2^53 print exactly.
    type Gauge = fn(&LogSnapshot) -> f64;
    let gauges: [(&str, &str, Gauge); 4] = [
        (
            "certstream_log_tree_size",
            "Latest verified tree size.",
            |l| l.tree_size as f64,
        ),
        ("certstream_log_cursor", "Next index to stream.", |l| {
            l.cursor as f64
        }),
        (
            "certstream_log_lag_entries",
            "Entries in the log not yet streamed.",
            |l| l.lag_entries() as f64,
        ),
        (
            "certstream_log_pacing_seconds",
            "Minimum interval between requests chosen by the pacer.",
            |l| l.pacing_ms as f64 / 1000.0,
        ),
    ];
    for (name, help, field) in gauges {
        header(out, name, "gauge", help);
        for l in &logs {
            let _ = writeln!(out, "{name}{{{}}} {}", log_labels(l), field(l));
        }
    }
    header(
        out,
        "certstream_log_lag_seconds",
        "gauge",
        "Seconds the oldest entry not yet streamed has been in a verified tree head \
         (now minus the timestamp of the first head that contained it); 0 when caught up.",
    );
    for l in &logs {
        let lag = l.lag_seconds(facts.now_ms);
        let _ = writeln!(
            out,
            "certstream_log_lag_seconds{{{}}} {lag:.3}",
            log_labels(l)
        );
    }
    header(
        out,
        "certstream_log_head_age_seconds",
        "gauge",
        "Age of the latest verified tree head.",
    );
    for l in &logs {
        let age = if l.head_timestamp_ms == 0 {
            0.0
        } else {
            facts.now_ms.saturating_sub(l.head_timestamp_ms) as f64 / 1000.0
        };
        let _ = writeln!(
            out,
            "certstream_log_head_age_seconds{{{}}} {age:.3}",
            log_labels(l)
        );
    }
    let counters: [(&str, &str, Field); 3] = [
        (
            "certstream_log_fetches_total",
            "Successful HTTP fetches.",
            |l| l.fetches,
        ),
        ("certstream_log_entries_total", "Entries streamed.", |l| {
            l.entries
        }),
        (
            "certstream_log_entries_skipped_total",
            "Entries that could not be decoded, counted and skipped.",
            |l| l.entries_skipped,
        ),
    ];
    for (name, help, field) in counters {
        header(out, name, "counter", help);
        for l in &logs {
            let _ = writeln!(out, "{name}{{{}}} {}", log_labels(l), field(l));
        }
    }
    header(
        out,
        "certstream_log_errors_total",
        "counter",
        "Failed fetches by kind.",
    );
    for l in &logs {
        for kind in FetchErrorKind::ALL {
            let _ = writeln!(
                out,
                "certstream_log_errors_total{{{},kind=\"{}\"}} {}",
                log_labels(l),
                kind.label(),
                l.errors[kind as usize]
            );
        }
    }
}

fn log_labels(l: &LogSnapshot) -> String {
    format!(
        "log=\"{}\",url=\"{}\",type=\"{}\"",
        label(&l.name),
        label(&l.url),
        l.kind
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits;

    fn log(id: u8, url: &str, name: &str, kind: &'static str) -> (Rc<LogStats>, Rc<LogProgress>) {
        let stats = LogStats::new([id; 32], url, name, kind);
        let progress = LogProgress::new([id; 32], name, url, Some(0));
        (stats, progress)
    }

    fn capture(core: usize, (stats, progress): &(Rc<LogStats>, Rc<LogProgress>)) -> CoreSnapshot {
        CoreSnapshot::capture(core, &CoreStats::default(), [(&**stats, &**progress)])
    }

    #[test]
    fn render_lists_every_log_and_core() {
        let (stats, progress) = log(1, "https://ct.example/a/", "Example \"A\" log", "rfc6962");
        progress.record_head(100, 1);
        progress.advance(90);
        stats.count_error(FetchErrorKind::RateLimited);
        let core = CoreStats::default();
        bump(&core.frames_published);
        let snap = CoreSnapshot::capture(1, &core, [(&*stats, &*progress)]);
        assert_eq!(
            snap.logs[0].position(),
            progress.position(),
            "other cores see the owner's position"
        );
        let text = render(
            &[snap],
            ProcessFacts {
                uptime_secs: 1.0,
                rss_bytes: 5,
                now_ms: 0,
            },
        );
        assert!(text.contains("certstream_log_lag_entries{log=\"Example \\\"A\\\" log\",url=\"https://ct.example/a/\",type=\"rfc6962\"} 10"));
        assert!(text.contains("certstream_log_cursor{log=\"Example \\\"A\\\" log\",url=\"https://ct.example/a/\",type=\"rfc6962\"} 90"));
        assert!(text.contains("kind=\"rate_limited\"} 1"));
        assert!(text.contains("certstream_frames_published_total{core=\"1\"} 1"));
        assert!(text.contains("certstream_resident_memory_bytes 5"));
    }

    #[test]
    fn lag_seconds_count_from_the_first_head_holding_the_oldest_unstreamed_entry() {
        let log = log(2, "https://ct.example/b/", "B", "static");
        let progress = &log.1;
        let lag_at = |now_ms| capture(0, &log).logs[0].lag_seconds(now_ms);
        assert_eq!(lag_at(9_000), 0.0, "no head yet");
        progress.record_head(10, 1_000);
        progress.record_head(20, 2_000);
        progress.advance(5);
        assert_eq!(lag_at(4_000), 3.0);
        progress.advance(15);
        assert_eq!(lag_at(4_000), 2.0);
        progress.advance(20);
        assert_eq!(lag_at(4_000), 0.0, "caught up");
        progress.record_head(30, 5_000);
        let text = render(
            &[capture(0, &log)],
            ProcessFacts {
                uptime_secs: 1.0,
                rss_bytes: 0,
                now_ms: 5_500,
            },
        );
        assert!(
            text.contains("certstream_log_lag_seconds{log=\"B\",url=\"https://ct.example/b/\",type=\"static\"} 0.500"),
            "{text}"
        );
    }

    #[test]
    fn health_lists_recent_skips_with_their_index_bounded() {
        let log = log(2, "https://ct.example/b/", "B", "static");
        let progress = &log.1;
        let total = limits::SKIPPED_ENTRIES_RECENT as u64 + 5;
        for index in 0..total {
            progress.record_skip(index * 10, format!("entry {index}: broken"));
        }
        progress.record_skip(total * 10, "é".repeat(limits::SKIP_REASON_BYTES_MAX));
        let json = health_json(
            &[capture(0, &log)],
            ProcessFacts {
                uptime_secs: 1.0,
                rss_bytes: 0,
                now_ms: 0,
            },
        );
        let v: sonic_rs::Value = sonic_rs::from_str(&json).unwrap();
        use sonic_rs::{JsonContainerTrait as _, JsonValueTrait as _};
        let log = &v["logs"][0];
        assert_eq!(log["entries_skipped"].as_u64(), Some(total + 1));
        let recent = log["skipped_recent"].as_array().unwrap();
        assert_eq!(recent.len(), limits::SKIPPED_ENTRIES_RECENT);
        let first = total + 1 - limits::SKIPPED_ENTRIES_RECENT as u64;
        assert_eq!(
            recent[0]["index"].as_u64(),
            Some(first * 10),
            "oldest dropped first"
        );
        assert_eq!(
            recent[0]["reason"].as_str(),
            Some(format!("entry {first}: broken").as_str())
        );
        let last = recent[recent.len() - 1]["reason"].as_str().unwrap();
        assert!(last.len() <= limits::SKIP_REASON_BYTES_MAX && last.starts_with('é'));
    }
}
