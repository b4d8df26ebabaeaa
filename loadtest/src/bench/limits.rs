//! Every bound the benchmark harness uses, with the reason for its value. The harness talks to
//! servers under test (which may misbehave), so each buffer, count and wait is capped here.

use std::time::Duration;

/// Bytes each client reads per `read` call. Big reads are what keep the load generator cheap:
/// one syscall drains dozens of ~1.5 KB frames.
pub const READ_BUF_BYTES: usize = 128 * 1024;

/// Largest WebSocket message (after reassembly) a client accepts. Full-stream messages with long
/// chains are tens of KB; a server sending more than this is broken and the client disconnects.
pub const MESSAGE_BYTES_MAX: usize = 4 * 1024 * 1024;

/// Bytes of an HTTP response/request head accepted during the WebSocket handshake.
pub const HANDSHAKE_HEAD_BYTES_MAX: usize = 8 * 1024;

/// Headers parsed in a handshake head.
pub const HANDSHAKE_HEADERS_MAX: usize = 32;

/// Deadline for one client's TCP connect plus WebSocket handshake.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

/// Deadline for all clients of one run to finish connecting (success or failure).
pub const CONNECT_ALL_TIMEOUT: Duration = Duration::from_secs(120);

/// Distinct `source.url` values tracked per worker thread. Real runs have tens of logs; a server
/// inventing URLs would otherwise grow the interner without bound. Messages past this count
/// are still counted as delivered but not loss-tracked.
pub const TRACKED_LOGS_MAX: usize = 4096;

/// Gaps (ranges of indexes jumped over) remembered per client and log, to tell a late message
/// from a repeated one and an expected skip from a loss. A server that skips only what it must
/// leaves one gap per corrupted entry; past this bound `missing` stays exact but those gaps
/// count as `gaps_untracked`.
pub const TRACKED_GAPS_MAX: usize = 4096;

/// Error strings kept in a report; the count of all errors is kept separately.
pub const ERRORS_KEPT_MAX: usize = 32;

/// Longest wait, after the measured window, for clients to reach the simulator's final tree
/// sizes in gap-check mode.
pub const DRAIN_TIMEOUT_DEFAULT: Duration = Duration::from_secs(20);

/// Wait, after the clients drained, before reading the server's skip report: reports may trail
/// the stream by a snapshot interval (certstream: 1 s across executors).
pub const SERVER_REPORT_SETTLE: Duration = Duration::from_secs(2);

/// Highest latency value the histograms hold (1 hour in µs); larger values saturate.
pub const LATENCY_US_MAX: u64 = 3_600_000_000;

/// Longest a single run (warm-up + measured window) may last.
pub const RUN_DURATION_MAX: Duration = Duration::from_secs(6 * 3600);

// ---- raw-fanout ------------------------------------------------------------------------------

/// Frames the fan-out sender builds per batch when sending as fast as possible. About 48 KB of
/// lite frames: big enough that per-write overhead is amortised.
pub const FANOUT_BATCH_FRAMES: usize = 32;

/// Frames made in one tick at a fixed rate, however late the tick is (keeps one batch bounded).
pub const FANOUT_TICK_FRAMES_MAX: usize = 4096;

/// Interval of the fixed-rate generator.
pub const FANOUT_TICK: Duration = Duration::from_millis(1);

/// Batches the fan-out sender keeps. A client further behind skips to the oldest kept batch and
/// the skipped frames are counted as dropped; this bounds the sender's memory.
pub const FANOUT_HISTORY_BATCHES: usize = 4096;

/// In as-fast-as-possible mode a new batch is made only while every reading client is within
/// this many batches of the head: the sender runs at the pace of its slowest reader.
pub const FANOUT_AHEAD_BATCHES: u64 = 4;

/// A client that has not taken a byte for this long no longer paces the fast generator.
pub const FANOUT_STALLED_AFTER: Duration = Duration::from_secs(1);

/// Batches coalesced into one vectored write.
pub const FANOUT_IOV_MAX: usize = 64;

/// Interval of the JSON heartbeat sent by raw-fanout (same as real servers).
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(30);

// ---- bench-run --------------------------------------------------------------------------------

/// Longest wait for a child (simulator, server) to become ready.
pub const CHILD_READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Bytes of a child's readiness line.
pub const READY_LINE_BYTES_MAX: usize = 1024 * 1024;

/// Bytes of an HTTP control-plane response (e.g. `/sim/state`).
pub const HTTP_RESPONSE_BYTES_MAX: usize = 16 * 1024 * 1024;

/// Resource samples kept per server run (1 Hz, so about 6 hours).
pub const RESOURCE_SAMPLES_MAX: usize = 6 * 3600;

/// Saturation steps tried at most.
pub const SATURATION_STEPS_MAX: usize = 32;

/// Saturation fails a step when the reading clients' p99 latency passes this.
pub const SATURATION_P99_MS_MAX: f64 = 100.0;
