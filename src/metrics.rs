//! Counters and the Prometheus text exposition.
//!
//! Counters are plain `Cell`s owned by one executor ([`LogStats`] by the executor that owns the
//! log, [`CoreStats`] by each executor). A log's position (cursor, tree size, lag, skipped
//! entries) is not a counter: it lives in the log's `ct::poller::LogProgress`, which only the
//! log's poller writes, and which fills the log's [`LogSnapshot`] from its own fields and the
//! log's counters (this module knows nothing of the CT side: the pollers write its counters, it
//! renders what it is given). Once a second every executor copies both into a
//! [`CoreSnapshot`] (plain `Send` data) and sends it to every other executor over a bounded SPSC
//! ring, so `/metrics` and `/health/deep` on any core render the whole process without a lock.

use std::{
    cell::{Cell, RefCell},
    fmt::Write as _,
    rc::Rc,
    sync::Arc,
};

use crate::limits;

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
    /// The log lists (`--log-list` sources) the log is followed for, as the coordinator last
    /// said.
    pub lists: RefCell<Vec<Arc<str>>>,
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

    pub fn set_lists(&self, lists: Vec<Arc<str>>) {
        *self.lists.borrow_mut() = lists;
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

/// One entry that was skipped because it can never be decoded or encoded.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SkippedEntry {
    pub index: u64,
    pub reason: String,
}

impl SkippedEntry {
    /// The reason is capped at [`limits::SKIP_REASON_BYTES_MAX`] (on a character boundary).
    pub fn new(index: u64, mut reason: String) -> Self {
        if reason.len() > limits::SKIP_REASON_BYTES_MAX {
            let mut end = limits::SKIP_REASON_BYTES_MAX;
            while !reason.is_char_boundary(end) {
                end -= 1;
            }
            reason.truncate(end);
        }
        SkippedEntry { index, reason }
    }
}

/// Plain copy of one log's counters and position.
#[derive(Debug, Clone)]
pub struct LogSnapshot {
    pub log_id: [u8; 32],
    pub url: String,
    pub name: String,
    pub kind: &'static str,
    /// The log has a start position (its poller has a saved cursor, or the backfill point of
    /// its first verified head): its cursor is one the state file may keep.
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
    /// The log lists (`--log-list` sources) the log is followed for.
    pub lists: Vec<Arc<str>>,
}

impl LogSnapshot {
    /// Entries in the log not yet streamed.
    pub fn lag_entries(&self) -> u64 {
        self.tree_size.saturating_sub(self.cursor)
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

    /// Seconds since the latest verified tree head was made (`None` before the first one).
    pub fn head_age_seconds(&self, now_ms: u64) -> Option<f64> {
        (self.head_timestamp_ms > 0)
            .then(|| now_ms.saturating_sub(self.head_timestamp_ms) as f64 / 1000.0)
    }

    /// The state `/health/deep` prints: `waiting_for_head` until the first verified tree
    /// head, then `caught_up` or `catching_up`.
    pub fn state(&self) -> &'static str {
        match (self.head_timestamp_ms, self.lag_entries()) {
            (0, _) => "waiting_for_head",
            (_, 0) => "caught_up",
            _ => "catching_up",
        }
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
    /// What `/api/stats` and `/api/logs` add: rates, the replay store, the certificate index.
    pub api: crate::api::CoreApi,
}

impl CoreSnapshot {
    /// This core's counters and the counters and position of each of its logs.
    pub fn capture(
        core: usize,
        core_stats: &CoreStats,
        logs: impl IntoIterator<Item = LogSnapshot>,
    ) -> CoreSnapshot {
        CoreSnapshot {
            core,
            logs: logs.into_iter().collect(),
            frames_published: core_stats.frames_published.get(),
            ring_drops: core_stats.ring_drops.get(),
            ring_dropped_frames: core_stats.ring_dropped_frames.get(),
            ws: Default::default(),
            api: Default::default(),
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
    lists: &'a [Arc<str>],
    /// The log's replay store (`--replay-dir`), once its first page is written.
    #[serde(skip_serializing_if = "Option::is_none")]
    replay_store: Option<HealthStore>,
}

/// What the replay store holds of a log, for `/health/deep`.
#[derive(serde::Serialize)]
struct HealthStore {
    first_index: Option<u64>,
    next_index: Option<u64>,
    bytes: u64,
    segments: usize,
    /// `[first, end)` index ranges lost to damage found when the store was opened: never
    /// served; a resuming client gets a `gap` for them.
    corrupt: Vec<[u64; 2]>,
}

impl HealthStore {
    fn of(snaps: &[CoreSnapshot], log_id: &[u8; 32]) -> Option<HealthStore> {
        let held = snaps
            .iter()
            .filter_map(|s| s.api.store.as_ref())
            .flat_map(|store| store.logs.iter())
            .find(|l| l.log_id == *log_id)
            .map(|l| &l.held)?;
        Some(HealthStore {
            first_index: held.first_index,
            next_index: held.next_index,
            bytes: held.bytes,
            segments: held.segments,
            corrupt: held.corrupt.iter().map(|r| [r.start, r.end]).collect(),
        })
    }
}

#[derive(serde::Serialize)]
struct Health<'a> {
    status: &'static str,
    uptime_seconds: f64,
    clients: u64,
    logs: Vec<HealthLog<'a>>,
}

/// `/health/deep`: per-log state and lag, clients and uptime, the entries it had to skip
/// (count, and the most recent with index and reason), and the log lists it came from. A log is `waiting_for_head` until its
/// first verified tree head, then `caught_up` or `catching_up`.
pub fn health_json(snaps: &[CoreSnapshot], facts: ProcessFacts) -> String {
    let logs = snaps
        .iter()
        .flat_map(|s| s.logs.iter())
        .map(|l| HealthLog {
            name: &l.name,
            url: &l.url,
            kind: l.kind,
            state: l.state(),
            tree_size: l.tree_size,
            cursor: l.cursor,
            lag_entries: l.lag_entries(),
            lag_seconds: l.lag_seconds(facts.now_ms),
            head_age_seconds: l.head_age_seconds(facts.now_ms),
            fetches: l.fetches,
            errors: l.errors.iter().sum(),
            entries_skipped: l.entries_skipped,
            skipped_recent: &l.skipped_recent,
            lists: &l.lists,
            replay_store: HealthStore::of(snaps, &l.log_id),
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
        let age = l.head_age_seconds(facts.now_ms).unwrap_or(0.0);
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
    render_log_lists(out, &logs);
    render_log_errors(out, &logs);
}

/// `certstream_log_errors_total`: one series per log and error kind.
fn render_log_errors(out: &mut String, logs: &[&LogSnapshot]) {
    header(
        out,
        "certstream_log_errors_total",
        "counter",
        "Failed fetches by kind.",
    );
    for l in logs {
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

/// One `certstream_log_list_info` series per (log, list it is followed for).
fn render_log_lists(out: &mut String, logs: &[&LogSnapshot]) {
    header(
        out,
        "certstream_log_list_info",
        "gauge",
        "1 for each log list (--log-list source) the log is followed for (usable, qualified or readonly in it).",
    );
    for l in logs {
        for list in &l.lists {
            let _ = writeln!(
                out,
                "certstream_log_list_info{{{},list=\"{}\"}} 1",
                log_labels(l),
                label(list)
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
