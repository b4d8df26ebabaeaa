//! `wsbench`: N WebSocket clients in one process, cheap enough never to be the bottleneck.
//!
//! # Layout
//!
//! - The calling thread is the *controller*: it starts `threads` worker threads, walks the run
//!   through its [`Phase`]s (connect → warm-up → measured window → optional gap-check drain →
//!   stop) and merges the workers' results into a [`WsBenchReport`].
//! - Each worker thread runs a current-thread tokio runtime with a `LocalSet`; client `i` lives
//!   on worker `i % threads`. All per-worker state is `Rc<RefCell<..>>`: nothing on the data
//!   path is shared between threads except one relaxed atomic load of the phase per `read`.
//! - A reading client reads up to [`READ_BUF_BYTES`] per syscall and decodes every complete
//!   frame in place ([`super::ws::parse_head`]); a message is classified by a byte scan
//!   ([`super::scan::classify`]), never parsed as JSON. Per message the cost is the scan, one
//!   interner lookup, one [`LogTrack::on_index`] and one histogram record.
//! - Slow clients connect and never read; at stop they probe whether the server closed them.
//! - Gap check ([`GapCheckConfig`]): after the window, `/sim/state` gives each log's final tree
//!   size and the entries the simulator corrupted for good. Every reading client must get every
//!   other index from its start to that size exactly once and in order; the corrupted ones must
//!   not arrive. Optionally the server's own report of skipped entries (certstream's
//!   `/health/deep`) must name them ([`ServerSkipReport`]).
//!
//! # Invariants
//!
//! - Latency = wall-clock time right after the `read` that completed the frame − `seen`; both
//!   from the same host clock. It is recorded only inside the measured window, as are the
//!   delivered and byte counters; loss is tracked over the whole connection.
//! - Every wait has a bound: connect ([`CONNECT_TIMEOUT`], [`CONNECT_ALL_TIMEOUT`]), the run
//!   ([`RUN_DURATION_MAX`]), the drain ([`GapCheckConfig::drain_timeout`]).

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::rc::Rc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{watch, Semaphore};

use super::limits::{
    CONNECT_ALL_TIMEOUT, CONNECT_TIMEOUT, DRAIN_TIMEOUT_DEFAULT, ERRORS_KEPT_MAX,
    HANDSHAKE_HEAD_BYTES_MAX, LATENCY_US_MAX, MESSAGE_BYTES_MAX, READ_BUF_BYTES, RUN_DURATION_MAX,
    SERVER_REPORT_SETTLE,
};
use super::scan::{classify, Kind};
use super::sys::{now_unix_us, thread_cpu};
use super::tracker::{canonical_url, Interner, LogTrack};
use super::ws;

/// What to run.
#[derive(Debug, Clone)]
pub struct WsBenchConfig {
    /// `ws://host:port/path`; the path selects the stream.
    pub url: String,
    /// Clients in all, slow ones included.
    pub clients: usize,
    /// Clients that connect and never read.
    pub slow: usize,
    /// Time after all clients connected before measuring.
    pub warmup: Duration,
    /// Measured window.
    pub duration: Duration,
    /// Connects (TCP + handshake) in flight at once.
    pub connect_concurrency: usize,
    /// Worker threads.
    pub threads: usize,
    /// Bytes per read.
    pub read_buf_bytes: usize,
    /// Gap check against the simulator after the window.
    pub gap: Option<GapCheckConfig>,
    /// PEM file of the CA that signed the server's certificate, for `wss://` URLs (the only
    /// root trusted: a benchmark never talks to the public PKI).
    pub ca_file: Option<std::path::PathBuf>,
}

impl WsBenchConfig {
    /// Defaults for `clients` clients on `url`.
    pub fn new(url: &str, clients: usize) -> Self {
        WsBenchConfig {
            url: url.to_string(),
            clients,
            slow: 0,
            warmup: Duration::from_secs(10),
            duration: Duration::from_secs(60),
            connect_concurrency: 64,
            threads: 2,
            read_buf_bytes: READ_BUF_BYTES,
            gap: None,
            ca_file: None,
        }
    }
}

/// Verify, after the window, that each reading client got every index of every log from its
/// start to the simulator's tree size exactly once and in order, except the entries that must
/// be skipped (the simulator's corrupted ones, plus `expected_skips`), which must not arrive.
#[derive(Debug, Clone)]
pub struct GapCheckConfig {
    /// The simulator's `/sim/state` URL.
    pub state_url: String,
    /// Start index per log URL; a log not listed starts at the client's first message.
    pub starts: Vec<(String, u64)>,
    /// Longest wait for clients to reach the final tree sizes.
    pub drain_timeout: Duration,
    /// `(log URL, index)` pairs that must not arrive, besides those `/sim/state` lists as
    /// corrupted.
    pub expected_skips: Vec<(String, u64)>,
    /// The server's report of skipped entries (certstream: `/health/deep`); when given, every
    /// expected skip in the checked range must be in it. A report that cannot be read is noted
    /// as unavailable, not as a failure (other servers have none).
    pub server_report_url: Option<String>,
}

impl GapCheckConfig {
    /// Gap check with per-client starts and the default drain timeout.
    pub fn new(state_url: &str) -> Self {
        GapCheckConfig {
            state_url: state_url.to_string(),
            starts: Vec::new(),
            drain_timeout: DRAIN_TIMEOUT_DEFAULT,
            expected_skips: Vec::new(),
            server_report_url: None,
        }
    }
}

/// Run phases, in order. The controller reports each to its hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[repr(u8)]
pub enum Phase {
    /// Clients are connecting.
    Connecting = 0,
    /// All connected (or failed); not yet measuring.
    Warmup = 1,
    /// The measured window.
    Measuring = 2,
    /// Window over; waiting for clients to reach the final tree sizes.
    Draining = 3,
    /// Done.
    Stop = 4,
}

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
    fn clean(&self) -> bool {
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

/// Where to connect.
#[derive(Clone)]
pub struct WsTarget {
    /// TLS client for `wss://` targets (`None`: plain `ws://`).
    pub tls: Option<tokio_rustls::TlsConnector>,
    /// Resolved address.
    pub addr: SocketAddr,
    /// `host:port` for the Host header.
    pub host_port: String,
    /// Request path.
    pub path: String,
}

impl std::fmt::Debug for WsTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsTarget")
            .field("tls", &self.tls.is_some())
            .field("addr", &self.addr)
            .field("host_port", &self.host_port)
            .field("path", &self.path)
            .finish()
    }
}

/// Parses `ws://host:port/path` or `wss://host:port/path`; a `wss://` target trusts only the
/// CA in `ca_file`.
pub fn parse_ws_url(url: &str, ca_file: Option<&std::path::Path>) -> anyhow::Result<WsTarget> {
    let (rest, default_port, tls) = if let Some(rest) = url.strip_prefix("ws://") {
        (rest, 80, None)
    } else if let Some(rest) = url.strip_prefix("wss://") {
        let ca = ca_file.with_context(|| format!("{url}: wss:// needs a CA file (--ca-file)"))?;
        (rest, 443, Some(tls_connector(ca)?))
    } else {
        bail!("only ws:// and wss:// URLs are supported: {url}");
    };
    let (host_port, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let host_port = if host_port.contains(':') {
        host_port.to_string()
    } else {
        format!("{host_port}:{default_port}")
    };
    let addr = host_port
        .to_socket_addrs()
        .with_context(|| format!("resolving {host_port}"))?
        .next()
        .with_context(|| format!("no address for {host_port}"))?;
    Ok(WsTarget {
        tls,
        addr,
        host_port,
        path: path.to_string(),
    })
}

/// A TLS client trusting only the CA certificates in the PEM file `ca_file`.
fn tls_connector(ca_file: &std::path::Path) -> anyhow::Result<tokio_rustls::TlsConnector> {
    let mut roots = rustls::RootCertStore::empty();
    certstream::ct::http::add_pem_file(&mut roots, ca_file)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS versions")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// What the gap check measures one log against.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GapTarget {
    /// Canonical log URL.
    pub url: String,
    /// The simulator's tree size when the window ended.
    pub size: u64,
    /// Sorted indexes that must not arrive (corrupted entries, expected skips).
    pub skips: Vec<u64>,
}

/// The targets of every log, from the simulator.
type Targets = Arc<Vec<GapTarget>>;

/// Shared between the controller and the workers (control plane only; the data path reads
/// `phase` with one relaxed load per `read`).
struct Control {
    phase: AtomicU8,
    phase_tx: watch::Sender<Phase>,
    connected: AtomicUsize,
    failed: AtomicUsize,
    drained_workers: AtomicUsize,
    targets: Mutex<Option<Targets>>,
    connect_permits: Arc<Semaphore>,
}

impl Control {
    fn set_phase(&self, p: Phase) {
        self.phase.store(p as u8, Ordering::Release);
        self.phase_tx.send_replace(p);
    }
    fn measuring(&self) -> bool {
        self.phase.load(Ordering::Relaxed) == Phase::Measuring as u8
    }
}

/// Runs a benchmark. `on_phase` is called on the calling thread as each phase starts (the
/// moments bench-run samples the server's CPU).
pub fn run(cfg: &WsBenchConfig, on_phase: &mut dyn FnMut(Phase)) -> anyhow::Result<WsBenchReport> {
    validate(cfg)?;
    let target = parse_ws_url(&cfg.url, cfg.ca_file.as_deref())?;
    let (phase_tx, _) = watch::channel(Phase::Connecting);
    let ctl = Arc::new(Control {
        phase: AtomicU8::new(Phase::Connecting as u8),
        phase_tx,
        connected: AtomicUsize::new(0),
        failed: AtomicUsize::new(0),
        drained_workers: AtomicUsize::new(0),
        targets: Mutex::new(None),
        connect_permits: Arc::new(Semaphore::new(cfg.connect_concurrency.max(1))),
    });
    let starts: Arc<HashMap<String, u64>> = Arc::new(
        cfg.gap
            .iter()
            .flat_map(|g| g.starts.iter())
            .map(|(u, s)| (canonical_url(u), *s))
            .collect(),
    );
    on_phase(Phase::Connecting);
    let t0 = Instant::now();
    let mut handles = Vec::with_capacity(cfg.threads);
    for w in 0..cfg.threads {
        let specs: Vec<ClientSpec> = (w..cfg.clients)
            .step_by(cfg.threads)
            .map(|i| ClientSpec { slow: i < cfg.slow })
            .collect();
        let (ctl, target, starts) = (ctl.clone(), target.clone(), starts.clone());
        let buf = cfg.read_buf_bytes;
        let h = std::thread::Builder::new()
            .name(format!("wsbench-{w}"))
            .spawn(move || worker_main(specs, ctl, target, starts, buf))
            .context("spawning a worker thread")?;
        handles.push(h);
    }
    let outcome = drive(cfg, &ctl, t0, on_phase);
    ctl.set_phase(Phase::Stop);
    on_phase(Phase::Stop);
    let mut results = Vec::with_capacity(handles.len());
    for h in handles {
        match h.join() {
            Ok(r) => results.push(r),
            Err(_) => bail!("a wsbench worker thread panicked"),
        }
    }
    let mut timing = outcome?;
    if let (Some(gap), Some(targets)) = (&cfg.gap, timing.gap_targets.take()) {
        // Read once no client reads any more: every index a client jumped over was published
        // by then, so whether it was corrupted is known.
        timing.gap_targets = Some(with_latest_skips(targets, gap));
    }
    Ok(merge(cfg, &ctl, timing, results))
}

fn validate(cfg: &WsBenchConfig) -> anyhow::Result<()> {
    if cfg.clients == 0 {
        bail!("--clients must be at least 1");
    }
    if cfg.slow > cfg.clients {
        bail!(
            "--slow ({}) is more than --clients ({})",
            cfg.slow,
            cfg.clients
        );
    }
    if cfg.threads == 0 || cfg.threads > 64 {
        bail!("threads must be 1..=64");
    }
    if cfg.warmup + cfg.duration > RUN_DURATION_MAX {
        bail!("warm-up + duration is over {RUN_DURATION_MAX:?}");
    }
    if cfg.read_buf_bytes < 4096 {
        bail!("read buffer must be at least 4096 bytes");
    }
    Ok(())
}

struct Timing {
    connect_all: Duration,
    window: Duration,
    gap_targets: Option<Targets>,
    drain: Duration,
    /// The server's skip report per canonical log URL, or why it could not be read.
    server_report: Option<Result<HashMap<String, ServerSkips>, String>>,
}

/// Walks the phases; returns how long each took.
fn drive(
    cfg: &WsBenchConfig,
    ctl: &Control,
    t0: Instant,
    on_phase: &mut dyn FnMut(Phase),
) -> anyhow::Result<Timing> {
    while ctl.connected.load(Ordering::Acquire) + ctl.failed.load(Ordering::Acquire) < cfg.clients
        && t0.elapsed() < CONNECT_ALL_TIMEOUT
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    let connect_all = t0.elapsed();
    if ctl.connected.load(Ordering::Acquire) == 0 {
        // Nothing to measure; the report carries the connect errors.
        return Ok(Timing {
            connect_all,
            window: Duration::ZERO,
            gap_targets: None,
            drain: Duration::ZERO,
            server_report: None,
        });
    }
    ctl.set_phase(Phase::Warmup);
    on_phase(Phase::Warmup);
    std::thread::sleep(cfg.warmup);
    ctl.set_phase(Phase::Measuring);
    // The window starts when the workers start counting, before the hook's own work.
    let w0 = Instant::now();
    on_phase(Phase::Measuring);
    std::thread::sleep(cfg.duration.saturating_sub(w0.elapsed()));
    let mut timing = Timing {
        connect_all,
        window: Duration::ZERO,
        gap_targets: None,
        drain: Duration::ZERO,
        server_report: None,
    };
    let Some(gap) = &cfg.gap else {
        ctl.set_phase(Phase::Draining);
        timing.window = w0.elapsed();
        on_phase(Phase::Draining);
        return Ok(timing);
    };
    let targets = fetch_targets(&gap.state_url);
    // Counters stop at the phase change; the state is read right after so targets are
    // no earlier than the last measured message.
    ctl.set_phase(Phase::Draining);
    timing.window = w0.elapsed();
    on_phase(Phase::Draining);
    let mut targets = targets?;
    add_skips(&mut targets, &gap.expected_skips);
    let targets = Arc::new(targets);
    if let Ok(mut t) = ctl.targets.lock() {
        *t = Some(targets.clone());
    }
    ctl.phase_tx.send_replace(Phase::Draining); // wake workers to read the targets
    let d0 = Instant::now();
    while ctl.drained_workers.load(Ordering::Acquire) < cfg.threads
        && d0.elapsed() < gap.drain_timeout
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    timing.drain = d0.elapsed();
    timing.gap_targets = Some(targets);
    timing.server_report = gap.server_report_url.as_deref().map(|url| {
        // A server's report may trail its stream (certstream copies counters across cores
        // once a second): the last skips before the targets may not be listed yet.
        std::thread::sleep(SERVER_REPORT_SETTLE);
        fetch_server_skips(url).map_err(|e| format!("{e:#}"))
    });
    Ok(timing)
}

/// The targets with the skip lists read again after the clients stopped: entries corrupted
/// past the targets explain gaps the clients saw after the window. The sizes stay as they were.
fn with_latest_skips(targets: Targets, gap: &GapCheckConfig) -> Targets {
    let Ok(mut latest) = fetch_targets(&gap.state_url) else {
        return targets;
    };
    add_skips(&mut latest, &gap.expected_skips);
    let updated: Vec<GapTarget> = targets
        .iter()
        .map(|t| GapTarget {
            skips: latest
                .iter()
                .find(|l| l.url == t.url)
                .map_or_else(|| t.skips.clone(), |l| l.skips.clone()),
            ..t.clone()
        })
        .collect();
    Arc::new(updated)
}

/// Adds configured expected skips to the simulator's.
fn add_skips(targets: &mut [GapTarget], extra: &[(String, u64)]) {
    for (url, index) in extra {
        let url = canonical_url(url);
        if let Some(t) = targets.iter_mut().find(|t| t.url == url) {
            t.skips.push(*index);
        }
    }
    for t in targets {
        t.skips.sort_unstable();
        t.skips.dedup();
    }
}

/// Reads `/sim/state` into per-log targets.
pub fn fetch_targets(state_url: &str) -> anyhow::Result<Vec<GapTarget>> {
    let (code, body) = super::http::get(state_url, Duration::from_secs(10))?;
    if code != 200 {
        bail!("{state_url} answered HTTP {code}");
    }
    parse_sim_state(&body)
}

/// Parses `{"logs":[{"url":..,"tree_size":..,"corrupted":[{"index":..},..]}]}`
/// (`corrupted` is optional).
pub fn parse_sim_state(body: &[u8]) -> anyhow::Result<Vec<GapTarget>> {
    let v: serde_json::Value = serde_json::from_slice(body).context("sim state is not JSON")?;
    let logs = v
        .get("logs")
        .and_then(|l| l.as_array())
        .context("sim state has no logs array")?;
    logs.iter()
        .map(|l| {
            let url = l
                .get("url")
                .and_then(|u| u.as_str())
                .context("log without url")?;
            let size = l
                .get("tree_size")
                .and_then(|s| s.as_u64())
                .context("log without tree_size")?;
            let mut skips: Vec<u64> = l
                .get("corrupted")
                .and_then(|c| c.as_array())
                .map(|c| c.iter().filter_map(|e| e.get("index")?.as_u64()).collect())
                .unwrap_or_default();
            skips.sort_unstable();
            Ok(GapTarget {
                url: canonical_url(url),
                size,
                skips,
            })
        })
        .collect()
}

/// One log's entry in a server's skip report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerSkips {
    /// Entries skipped since the server started.
    pub count: u64,
    /// The most recent skipped indexes the server lists (sorted).
    pub recent: Vec<u64>,
}

/// Reads a server's skip report (certstream `/health/deep`).
pub fn fetch_server_skips(url: &str) -> anyhow::Result<HashMap<String, ServerSkips>> {
    let (code, body) = super::http::get(url, Duration::from_secs(10))?;
    if code != 200 {
        bail!("{url} answered HTTP {code}");
    }
    parse_server_skips(&body)
}

/// Parses `{"logs":[{"url":..,"entries_skipped":N,"skipped_recent":[{"index":..},..]}]}`.
pub fn parse_server_skips(body: &[u8]) -> anyhow::Result<HashMap<String, ServerSkips>> {
    let v: serde_json::Value = serde_json::from_slice(body).context("report is not JSON")?;
    let logs = v
        .get("logs")
        .and_then(|l| l.as_array())
        .context("report has no logs array")?;
    logs.iter()
        .map(|l| {
            let url = l
                .get("url")
                .and_then(|u| u.as_str())
                .context("log without url")?;
            let count = l
                .get("entries_skipped")
                .and_then(|c| c.as_u64())
                .context("log without entries_skipped")?;
            let mut recent: Vec<u64> = l
                .get("skipped_recent")
                .and_then(|r| r.as_array())
                .context("log without skipped_recent")?
                .iter()
                .filter_map(|e| e.get("index")?.as_u64())
                .collect();
            recent.sort_unstable();
            Ok((canonical_url(url), ServerSkips { count, recent }))
        })
        .collect()
}

// ---- worker ---------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
struct ClientSpec {
    slow: bool,
}

/// Per-worker counters and histograms (one thread, so plain fields).
struct WorkerShared {
    interner: Interner,
    starts: Arc<HashMap<String, u64>>,
    start_by_id: Vec<Option<u64>>,
    latency_us: Histogram<u64>,
    connect_us: Histogram<u64>,
    delivered: u64,
    bytes: u64,
    heartbeats: u64,
    other: u64,
    malformed: u64,
    untracked: u64,
    negative: u64,
    errors: Vec<String>,
    errors_total: usize,
}

impl WorkerShared {
    fn new(starts: Arc<HashMap<String, u64>>) -> Self {
        WorkerShared {
            interner: Interner::default(),
            starts,
            start_by_id: Vec::new(),
            latency_us: new_histogram(),
            connect_us: new_histogram(),
            delivered: 0,
            bytes: 0,
            heartbeats: 0,
            other: 0,
            malformed: 0,
            untracked: 0,
            negative: 0,
            errors: Vec::new(),
            errors_total: 0,
        }
    }

    fn error(&mut self, e: String) {
        self.errors_total += 1;
        if self.errors.len() < ERRORS_KEPT_MAX {
            self.errors.push(e);
        }
    }

    /// Interns `url`, remembering its configured start.
    fn log_id(&mut self, url: &[u8]) -> Option<u32> {
        let id = self.interner.id(url)?;
        if id as usize >= self.start_by_id.len() {
            let start = self.starts.get(self.interner.name(id)).copied();
            self.start_by_id.push(start);
        }
        Some(id)
    }
}

fn new_histogram() -> Histogram<u64> {
    // Bounds are constants, so construction cannot fail.
    Histogram::new_with_bounds(1, LATENCY_US_MAX, 3).expect("valid histogram bounds")
}

/// How a client's connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum End {
    Eof,
    ServerClose,
    Error(String),
}

#[derive(Default)]
struct ClientState {
    slow: bool,
    connected: bool,
    ended: Option<End>,
    logs: Vec<Option<LogTrack>>,
}

impl ClientState {
    fn track(&mut self, id: u32, start: Option<u64>) -> &mut LogTrack {
        let i = id as usize;
        if i >= self.logs.len() {
            self.logs.resize(i + 1, None);
        }
        self.logs[i].get_or_insert_with(|| LogTrack::new(start))
    }
}

struct WorkerResult {
    shared: WorkerShared,
    clients: Vec<ClientState>,
    cpu_window: Duration,
}

fn worker_main(
    specs: Vec<ClientSpec>,
    ctl: Arc<Control>,
    target: WsTarget,
    starts: Arc<HashMap<String, u64>>,
    read_buf: usize,
) -> WorkerResult {
    let shared = Rc::new(RefCell::new(WorkerShared::new(starts)));
    let states: Vec<Rc<RefCell<ClientState>>> = specs
        .iter()
        .map(|s| {
            Rc::new(RefCell::new(ClientState {
                slow: s.slow,
                ..Default::default()
            }))
        })
        .collect();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            shared.borrow_mut().error(format!("tokio runtime: {e}"));
            ctl.failed.fetch_add(specs.len(), Ordering::AcqRel);
            return finish(shared, states, Duration::ZERO);
        }
    };
    let local = tokio::task::LocalSet::new();
    let cpu = local.block_on(&rt, async {
        let mut slow_tasks = Vec::new();
        for st in &states {
            let c = ClientCtx {
                ctl: ctl.clone(),
                target: target.clone(),
                shared: shared.clone(),
                state: st.clone(),
                read_buf,
            };
            let slow = st.borrow().slow;
            let h = tokio::task::spawn_local(client_task(c));
            if slow {
                slow_tasks.push(h);
            }
        }
        let cpu = watch_phases(&ctl, &shared, &states).await;
        // Slow clients probe their sockets on Stop; give them a bounded moment.
        let _ = tokio::time::timeout(Duration::from_secs(3), async {
            for h in slow_tasks {
                let _ = h.await;
            }
        })
        .await;
        cpu
    });
    drop(local); // cancels the reading clients
    finish(shared, states, cpu)
}

fn finish(
    shared: Rc<RefCell<WorkerShared>>,
    states: Vec<Rc<RefCell<ClientState>>>,
    cpu_window: Duration,
) -> WorkerResult {
    let clients = states
        .into_iter()
        .map(|s| std::mem::take(&mut *s.borrow_mut()))
        .collect();
    let shared = match Rc::try_unwrap(shared) {
        Ok(s) => s.into_inner(),
        Err(rc) => std::mem::replace(&mut *rc.borrow_mut(), WorkerShared::new(Arc::default())),
    };
    WorkerResult {
        shared,
        clients,
        cpu_window,
    }
}

/// Follows the phase channel: measures this thread's CPU over the window and, when draining,
/// reports once every reading client reached the targets. Returns the window's CPU time.
async fn watch_phases(
    ctl: &Control,
    shared: &Rc<RefCell<WorkerShared>>,
    states: &[Rc<RefCell<ClientState>>],
) -> Duration {
    let mut rx = ctl.phase_tx.subscribe();
    let (mut cpu0, mut cpu) = (None, Duration::ZERO);
    let mut reported_drained = false;
    loop {
        let p = *rx.borrow_and_update();
        if p == Phase::Measuring && cpu0.is_none() {
            cpu0 = Some(thread_cpu());
        }
        if p > Phase::Measuring {
            if let Some(c0) = cpu0.take() {
                cpu = thread_cpu().saturating_sub(c0);
            }
        }
        if p == Phase::Stop {
            return cpu;
        }
        if p == Phase::Draining && !reported_drained {
            let targets = ctl.targets.lock().ok().and_then(|t| t.clone());
            if let Some(t) = targets {
                if all_reached(&t, shared, states) {
                    ctl.drained_workers.fetch_add(1, Ordering::AcqRel);
                    reported_drained = true;
                }
                // Poll while draining; the controller ends the drain by timeout otherwise.
                let _ = tokio::time::timeout(Duration::from_millis(20), rx.changed()).await;
                continue;
            }
        }
        if rx.changed().await.is_err() {
            return cpu;
        }
    }
}

fn all_reached(
    targets: &[GapTarget],
    shared: &Rc<RefCell<WorkerShared>>,
    states: &[Rc<RefCell<ClientState>>],
) -> bool {
    let sh = shared.borrow();
    let ids: Vec<(Option<u32>, &GapTarget, Option<u64>)> = targets
        .iter()
        .map(|t| {
            (
                find_id(&sh.interner, &t.url),
                t,
                sh.starts.get(&t.url).copied(),
            )
        })
        .collect();
    states.iter().all(|st| {
        let st = st.borrow();
        if st.slow || !st.connected || st.ended.is_some() {
            return true;
        }
        ids.iter().all(|&(id, target, start)| {
            match id.and_then(|id| st.logs.get(id as usize)?.as_ref()) {
                Some(t) => t.reached(target.size, &target.skips),
                // Never seen: done only if an explicit start says nothing was due.
                None => {
                    start.is_none_or(|s| LogTrack::new(Some(s)).reached(target.size, &target.skips))
                }
            }
        })
    })
}

fn find_id(interner: &Interner, canonical: &str) -> Option<u32> {
    (0..interner.len() as u32).find(|&i| interner.name(i) == canonical)
}

struct ClientCtx {
    ctl: Arc<Control>,
    target: WsTarget,
    shared: Rc<RefCell<WorkerShared>>,
    state: Rc<RefCell<ClientState>>,
    read_buf: usize,
}

async fn client_task(c: ClientCtx) {
    let (connected, elapsed) = {
        let _permit = c.ctl.connect_permits.acquire().await;
        // Timed from the permit: the per-client figure excludes queueing behind other connects
        // (the run's `connect_all_ms` covers that).
        let t0 = Instant::now();
        let r = tokio::time::timeout(CONNECT_TIMEOUT, connect(&c.target)).await;
        (r, t0.elapsed())
    };
    let (stream, leftover) = match connected {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return connect_failed(&c, format!("connect: {e:#}")),
        Err(_) => {
            return connect_failed(&c, format!("connect: timed out after {CONNECT_TIMEOUT:?}"))
        }
    };
    let us = elapsed.as_micros() as u64;
    c.shared
        .borrow_mut()
        .connect_us
        .saturating_record(us.max(1));
    c.state.borrow_mut().connected = true;
    c.ctl.connected.fetch_add(1, Ordering::AcqRel);
    let slow = c.state.borrow().slow;
    let end = if slow {
        hold_slow(&c, stream).await
    } else {
        read_loop(&c, stream, leftover).await
    };
    if let Some(End::Error(e)) = &end {
        c.shared.borrow_mut().error(e.clone());
    }
    c.state.borrow_mut().ended = end;
}

fn connect_failed(c: &ClientCtx, e: String) {
    c.shared.borrow_mut().error(e);
    c.ctl.failed.fetch_add(1, Ordering::AcqRel);
}

/// A client's connection: a TCP socket, or TLS over one.
pub trait ClientIo: AsyncRead + AsyncWrite + Unpin {}
impl<T: AsyncRead + AsyncWrite + Unpin> ClientIo for T {}
pub type ClientStream = Box<dyn ClientIo>;

/// TCP connect, TLS handshake for `wss://`, then the WebSocket handshake; returns the stream
/// and any frame bytes that followed the 101 head in the same read.
pub async fn connect(target: &WsTarget) -> anyhow::Result<(ClientStream, Vec<u8>)> {
    let tcp = TcpStream::connect(target.addr).await?;
    tcp.set_nodelay(true)?;
    let mut s: ClientStream = match &target.tls {
        None => Box::new(tcp),
        Some(tls) => {
            let host = target.host_port.rsplit_once(':').map_or("", |(h, _)| h);
            let name = rustls::pki_types::ServerName::try_from(host.to_owned())
                .with_context(|| format!("TLS server name {host}"))?;
            Box::new(tls.connect(name, tcp).await.context("TLS handshake")?)
        }
    };
    let key = ws::random_key();
    s.write_all(ws::client_request(&target.host_port, &target.path, &key).as_bytes())
        .await?;
    let mut buf = vec![0u8; HANDSHAKE_HEAD_BYTES_MAX];
    let mut filled = 0;
    loop {
        if filled == buf.len() {
            bail!("handshake response head over {HANDSHAKE_HEAD_BYTES_MAX} bytes");
        }
        let n = s.read(&mut buf[filled..]).await?;
        if n == 0 {
            bail!("server closed during the handshake");
        }
        filled += n;
        if let Some(head) = ws::check_response(&buf[..filled], &key)? {
            return Ok((s, buf[head..filled].to_vec()));
        }
    }
}

/// A slow client: holds the socket unread until Stop, then checks whether the server closed it.
async fn hold_slow(c: &ClientCtx, mut stream: ClientStream) -> Option<End> {
    let mut rx = c.ctl.phase_tx.subscribe();
    while *rx.borrow_and_update() != Phase::Stop {
        if rx.changed().await.is_err() {
            break;
        }
    }
    // Drain what is queued (bounded in bytes and time); EOF or reset means the server closed us.
    let mut buf = vec![0u8; 256 * 1024];
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut total = 0usize;
    while Instant::now() < deadline && total < 512 * 1024 * 1024 {
        match tokio::time::timeout(Duration::from_millis(100), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(End::Eof),
            Ok(Ok(n)) => total += n,
            // Nothing queued and no EOF: the server kept this client.
            Err(_) => return None,
        }
    }
    None
}

/// Frame-decoding state of one reading client.
struct Reader {
    buf: Vec<u8>,
    pos: usize,
    filled: usize,
    /// Reassembly buffer for a fragmented message (empty when none is in progress).
    frag: Vec<u8>,
    in_frag: bool,
    /// Control-frame replies to send after this batch.
    out: Vec<u8>,
    closed: bool,
}

async fn read_loop(c: &ClientCtx, mut stream: ClientStream, leftover: Vec<u8>) -> Option<End> {
    let cap = c.read_buf.max(leftover.len());
    let mut r = Reader {
        buf: vec![0u8; cap],
        pos: 0,
        filled: leftover.len(),
        frag: Vec::new(),
        in_frag: false,
        out: Vec::new(),
        closed: false,
    };
    r.buf[..leftover.len()].copy_from_slice(&leftover);
    loop {
        let need = match process_buffer(c, &mut r) {
            Ok(need) => need,
            Err(e) => return Some(End::Error(format!("protocol: {e}"))),
        };
        if !r.out.is_empty() {
            if let Err(e) = stream.write_all(&r.out).await {
                return Some(End::Error(format!("write: {e}")));
            }
            r.out.clear();
        }
        if r.closed {
            return Some(End::ServerClose);
        }
        compact(&mut r, need);
        match stream.read(&mut r.buf[r.filled..]).await {
            Ok(0) => return Some(End::Eof),
            Ok(n) => {
                r.filled += n;
                if c.ctl.measuring() {
                    c.shared.borrow_mut().bytes += n as u64;
                }
            }
            Err(e) => return Some(End::Error(format!("read: {e}"))),
        }
    }
}

/// Moves the unconsumed tail to the front and grows the buffer if one frame needs more room.
fn compact(r: &mut Reader, need: usize) {
    if r.pos > 0 {
        r.buf.copy_within(r.pos..r.filled, 0);
        r.filled -= r.pos;
        r.pos = 0;
    }
    if need > r.buf.len() {
        r.buf.resize(need, 0);
    }
    // Never hand `read` an empty slice (it would look like EOF); only reachable if a frame
    // header were longer than the buffer, which the minimum buffer size rules out.
    if r.filled == r.buf.len() {
        let grow = r.buf.len();
        r.buf.resize(r.buf.len() + grow, 0);
    }
}

/// Decodes every complete frame in the buffer. Returns the bytes the next incomplete frame
/// needs in all (0 when unknown).
fn process_buffer(c: &ClientCtx, r: &mut Reader) -> Result<usize, ws::WsError> {
    let now = now_unix_us();
    let measuring = c.ctl.measuring();
    let mut sh = c.shared.borrow_mut();
    let mut st = c.state.borrow_mut();
    while r.pos < r.filled {
        let Some(h) = ws::parse_head(&r.buf[r.pos..r.filled], MESSAGE_BYTES_MAX)? else {
            return Ok(0);
        };
        if h.mask.is_some() {
            return Err(ws::WsError::MaskedServerFrame);
        }
        if r.filled - r.pos < h.total_len() {
            return Ok(h.total_len());
        }
        let start = r.pos + h.header_len;
        let end = r.pos + h.total_len();
        r.pos = end;
        match h.opcode {
            ws::OP_TEXT | ws::OP_BINARY if h.fin && !r.in_frag => {
                on_message(&r.buf[start..end], now, measuring, &mut sh, &mut st);
            }
            ws::OP_TEXT | ws::OP_BINARY if !r.in_frag => {
                r.in_frag = true;
                r.frag.clear();
                r.frag.extend_from_slice(&r.buf[start..end]);
            }
            ws::OP_CONTINUATION if r.in_frag => {
                if r.frag.len() + (end - start) > MESSAGE_BYTES_MAX {
                    return Err(ws::WsError::TooLong((r.frag.len() + end - start) as u64));
                }
                r.frag.extend_from_slice(&r.buf[start..end]);
                if h.fin {
                    r.in_frag = false;
                    on_message(&r.frag, now, measuring, &mut sh, &mut st);
                }
            }
            ws::OP_PING => ws::encode_client_frame(&mut r.out, ws::OP_PONG, &r.buf[start..end]),
            ws::OP_PONG => {}
            ws::OP_CLOSE => {
                // Echo the server's status code; 1000 (normal) when it sent none.
                let code = if end - start >= 2 {
                    [r.buf[start], r.buf[start + 1]]
                } else {
                    [0x03, 0xE8]
                };
                ws::encode_client_frame(&mut r.out, ws::OP_CLOSE, &code);
                r.closed = true;
                return Ok(0);
            }
            // A data frame inside a fragmented message, or a stray continuation.
            other => return Err(ws::WsError::UnknownOpcode(other)),
        }
    }
    Ok(0)
}

fn on_message(
    msg: &[u8],
    now_us: u64,
    measuring: bool,
    sh: &mut WorkerShared,
    st: &mut ClientState,
) {
    match classify(msg) {
        Kind::Cert(f) => {
            match sh.log_id(f.url) {
                Some(id) => {
                    let start = sh.start_by_id[id as usize];
                    st.track(id, start).on_index(f.cert_index);
                }
                None => sh.untracked += 1,
            }
            if measuring {
                sh.delivered += 1;
                let lat = if now_us >= f.seen_us {
                    now_us - f.seen_us
                } else {
                    sh.negative += 1;
                    0
                };
                sh.latency_us.saturating_record(lat);
            }
        }
        Kind::CertMalformed => {
            sh.malformed += 1;
            if measuring {
                sh.delivered += 1;
            }
        }
        Kind::Dns => {
            if measuring {
                sh.delivered += 1;
            }
        }
        Kind::Heartbeat => sh.heartbeats += 1,
        Kind::Other => sh.other += 1,
    }
}

// ---- merge --------------------------------------------------------------------------------

fn merge(
    cfg: &WsBenchConfig,
    ctl: &Control,
    t: Timing,
    results: Vec<WorkerResult>,
) -> WsBenchReport {
    let mut lat = new_histogram();
    let mut conn = new_histogram();
    let mut rep = WsBenchReport {
        url: cfg.url.clone(),
        clients: cfg.clients,
        slow: cfg.slow,
        threads: cfg.threads,
        connected: ctl.connected.load(Ordering::Acquire),
        connect_failed: ctl.failed.load(Ordering::Acquire),
        connect_all_ms: t.connect_all.as_secs_f64() * 1000.0,
        warmup_s: cfg.warmup.as_secs_f64(),
        duration_s: t.window.as_secs_f64(),
        ..Default::default()
    };
    let mut cpu = Duration::ZERO;
    let mut gap = t
        .gap_targets
        .as_ref()
        .map(|targets| new_gap_report(targets, t.drain));
    for w in &results {
        let sh = &w.shared;
        let _ = lat.add(&sh.latency_us);
        let _ = conn.add(&sh.connect_us);
        rep.delivered_msgs += sh.delivered;
        rep.bytes += sh.bytes;
        rep.heartbeats += sh.heartbeats;
        rep.other_msgs += sh.other;
        rep.latency_negative += sh.negative;
        rep.loss.malformed_messages += sh.malformed;
        rep.loss.untracked_messages += sh.untracked;
        rep.errors_total += sh.errors_total;
        for e in &sh.errors {
            if rep.errors.len() < ERRORS_KEPT_MAX {
                rep.errors.push(e.clone());
            }
        }
        cpu += w.cpu_window;
        let skips = skips_by_id(sh, t.gap_targets.as_ref().map(|t| &t[..]));
        for st in &w.clients {
            merge_client(&mut rep, st, &skips);
            if let (Some(g), Some(targets)) = (gap.as_mut(), t.gap_targets.as_ref()) {
                gap_client(g, targets, sh, st);
            }
        }
    }
    if let (Some(g), Some(targets)) = (gap.as_mut(), t.gap_targets.as_ref()) {
        match &t.server_report {
            Some(Ok(report)) => check_server_report(g, targets, report),
            Some(Err(e)) => g.server_report_unavailable = Some(e.clone()),
            None => {}
        }
        g.complete = g.logs.iter().all(|l| {
            l.clients_complete == l.clients_checked
                && l.missing == 0
                && l.repeated == 0
                && l.out_of_order == 0
                && l.delivered_but_skip_expected == 0
                && l.server.as_ref().is_none_or(ServerSkipCheck::clean)
        });
    }
    let secs = t.window.as_secs_f64().max(1e-9);
    rep.delivered_msgs_per_s = rep.delivered_msgs as f64 / secs;
    rep.bytes_per_s = rep.bytes as f64 / secs;
    rep.latency_ms = MsSummary::from_us(&lat);
    rep.connect_ms = MsSummary::from_us(&conn);
    rep.cpu_pct = cpu.as_secs_f64() / secs * 100.0;
    rep.gap_check = gap;
    rep
}

/// The expected skips of each log a worker interned, by interned id (empty without a gap check).
fn skips_by_id<'a>(sh: &WorkerShared, targets: Option<&'a [GapTarget]>) -> Vec<&'a [u64]> {
    (0..sh.interner.len() as u32)
        .map(|id| {
            targets
                .and_then(|ts| ts.iter().find(|t| t.url == sh.interner.name(id)))
                .map_or(&[][..], |t| &t.skips[..])
        })
        .collect()
}

fn merge_client(rep: &mut WsBenchReport, st: &ClientState, skips: &[&[u64]]) {
    if st.slow {
        if st.connected {
            rep.slow_clients.connected += 1;
            if st.ended.is_some() {
                rep.slow_clients.closed_by_server += 1;
            }
        }
        return;
    }
    if !st.connected {
        return;
    }
    rep.loss.reading_clients += 1;
    if st.ended.is_some() {
        rep.loss.clients_disconnected += 1;
    }
    let mut missing = 0;
    for (id, track) in st.logs.iter().enumerate() {
        let Some(t) = track else { continue };
        let excused = t.skips_in_gaps(skips.get(id).copied().unwrap_or(&[]));
        missing += t.missing - excused;
        rep.loss.skipped_expected_total += excused;
        rep.loss.repeated_total += t.repeated;
        rep.loss.out_of_order_total += t.out_of_order;
    }
    if missing > 0 {
        rep.loss.clients_with_loss += 1;
    }
    rep.loss.missing_total += missing;
}

fn new_gap_report(targets: &[GapTarget], drain: Duration) -> GapReport {
    GapReport {
        logs: targets
            .iter()
            .map(|t| GapLog {
                url: t.url.clone(),
                target: t.size,
                ..Default::default()
            })
            .collect(),
        complete: false,
        drain_s: drain.as_secs_f64(),
        server_report_unavailable: None,
    }
}

fn gap_client(g: &mut GapReport, targets: &[GapTarget], sh: &WorkerShared, st: &ClientState) {
    if st.slow || !st.connected {
        return;
    }
    for (log, target) in g.logs.iter_mut().zip(targets) {
        log.clients_checked += 1;
        let explicit = sh.starts.get(&target.url).copied();
        let seen =
            find_id(&sh.interner, &target.url).and_then(|id| st.logs.get(id as usize)?.clone());
        let track = match (seen, explicit) {
            (Some(t), _) => t,
            (None, Some(s)) => LogTrack::new(Some(s)),
            (None, None) => {
                log.clients_never_seen += 1;
                continue;
            }
        };
        let v = track.verdict(target.size, &target.skips);
        log.missing += v.missing;
        log.repeated += v.repeated;
        log.out_of_order += v.out_of_order;
        log.delivered_but_skip_expected += v.delivered_but_skip_expected;
        log.start_min = match (log.start_min, track.start) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if v.clean() {
            log.clients_complete += 1;
        }
    }
    for (log, target) in g.logs.iter_mut().zip(targets) {
        let from = log.start_min.unwrap_or(target.size);
        log.skips_expected = target
            .skips
            .iter()
            .filter(|&&s| s >= from && s < target.size)
            .count() as u64;
    }
}

/// Compares the server's skip report with the expected skips of each checked log: every listed
/// index must be an expected skip, and every expected skip in `[start_min, target)` must be
/// listed, unless the list is full and the skip is older than everything in it.
fn check_server_report(
    g: &mut GapReport,
    targets: &[GapTarget],
    report: &HashMap<String, ServerSkips>,
) {
    for (log, target) in g.logs.iter_mut().zip(targets) {
        let Some(server) = report.get(&target.url) else {
            continue;
        };
        let truncated = server.count > server.recent.len() as u64;
        let oldest_listed = server.recent.first().copied().unwrap_or(u64::MAX);
        let from = log.start_min.unwrap_or(target.size);
        let unreported = target
            .skips
            .iter()
            .filter(|&&s| s >= from && s < target.size)
            .filter(|&&s| !truncated || s >= oldest_listed)
            .filter(|s| server.recent.binary_search(s).is_err())
            .copied()
            .collect();
        let unexpected = server
            .recent
            .iter()
            .filter(|s| target.skips.binary_search(s).is_err())
            .copied()
            .collect();
        log.server = Some(ServerSkipCheck {
            skipped_count: server.count,
            listed: server.recent.len(),
            unreported,
            unexpected,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ws_urls() {
        let t = parse_ws_url("ws://127.0.0.1:8080/full-stream", None).unwrap();
        assert_eq!(
            (t.host_port.as_str(), t.path.as_str()),
            ("127.0.0.1:8080", "/full-stream")
        );
        assert_eq!(t.addr.port(), 8080);
        assert_eq!(parse_ws_url("ws://127.0.0.1:9", None).unwrap().path, "/");
        assert!(
            parse_ws_url("wss://127.0.0.1:9/", None).is_err(),
            "wss needs a CA"
        );
        assert!(parse_ws_url("http://127.0.0.1:9/", None).is_err());
    }

    #[test]
    fn sim_state() {
        let body = br#"{"logs":[{"url":"http://127.0.0.1:5/a/","kind":"rfc6962","tree_size":7,
                                 "corrupted":[{"index":5,"kind":"garbage_leaf"},{"index":2}]},
                               {"url":"http://127.0.0.1:5/b","kind":"static","tree_size":0}]}"#;
        let t = parse_sim_state(body).unwrap();
        let target = |url: &str, size, skips: Vec<u64>| GapTarget {
            url: url.into(),
            size,
            skips,
        };
        assert_eq!(
            t,
            vec![
                target("http://127.0.0.1:5/a", 7, vec![2, 5]),
                target("http://127.0.0.1:5/b", 0, vec![])
            ]
        );
        assert!(parse_sim_state(br#"{"logs":[{"url":"x"}]}"#).is_err());
        assert!(parse_sim_state(b"nope").is_err());
        let mut t = t;
        add_skips(
            &mut t,
            &[("http://127.0.0.1:5/a/".into(), 3), ("http://x".into(), 1)],
        );
        assert_eq!(t[0].skips, vec![2, 3, 5]);
    }

    #[test]
    fn server_skip_reports_are_checked_against_expected_skips() {
        let body = br#"{"status":"ok","logs":[{"url":"http://h/a/","entries_skipped":3,
            "skipped_recent":[{"index":9,"reason":"x"},{"index":4,"reason":"y"}]}]}"#;
        let report = parse_server_skips(body).unwrap();
        assert_eq!(
            report["http://h/a"],
            ServerSkips {
                count: 3,
                recent: vec![4, 9]
            }
        );
        let targets = vec![GapTarget {
            url: "http://h/a".into(),
            size: 20,
            skips: vec![1, 4, 12],
        }];
        let mut g = new_gap_report(&targets, Duration::ZERO);
        g.logs[0].start_min = Some(0);
        check_server_report(&mut g, &targets, &report);
        let check = g.logs[0].server.clone().unwrap();
        // The list is truncated (3 skipped, 2 listed): 1 is older than it, so not required.
        assert_eq!(check.unreported, vec![12]);
        assert_eq!(check.unexpected, vec![9]);
        assert!(!check.clean());
        assert!(parse_server_skips(br#"{"logs":[{"url":"u"}]}"#).is_err());
    }

    #[test]
    fn config_is_validated() {
        let mut c = WsBenchConfig::new("ws://127.0.0.1:1/", 2);
        c.slow = 3;
        assert!(validate(&c).is_err());
        c.slow = 0;
        c.threads = 0;
        assert!(validate(&c).is_err());
        c.threads = 2;
        assert!(validate(&c).is_ok());
        c.clients = 0;
        assert!(validate(&c).is_err());
    }
}
