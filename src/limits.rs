//! Every bound and default in one place. Nothing else in the crate invents a limit: each queue,
//! buffer, timeout and batch size is named here with the reason for its value, and the
//! compile-time asserts at the bottom keep them consistent with each other.

use std::time::Duration;

// ---- Cross-core rings and per-core hub -------------------------------------------------------

/// Most frames the per-core hub ever holds. The hub releases every frame all of its sessions have
/// sent, so it normally holds only the slowest client's backlog (at most
/// [`CLIENT_QUEUE_FRAMES_MAX`]); this is the hard cap behind that.
pub const HUB_HISTORY_FRAMES: usize = 8192;

/// Newest hub entries kept even when every session has sent them: `/latest.json` and the
/// `example.json` endpoints are served from them (heartbeats are entries too, hence the margin).
pub const HUB_RETAIN_ENTRIES: usize = 64;

/// A client whose backlog passes this many frames loses its oldest frames (counted as
/// `client_queue_full`) and keeps streaming from the newest ones it can still hold.
pub const CLIENT_QUEUE_FRAMES_MAX: usize = 4096;

/// A client that stays over its queue bound this long is closed with 1008 (policy violation).
pub const CLIENT_LAGGING_CLOSE_AFTER: Duration = Duration::from_secs(10);

/// Upper bound on the bytes one session writes with a single send; bigger backlogs are sent in
/// several writes. Keeps one client's write buffer bounded.
pub const CLIENT_WRITE_BYTES_MAX: usize = 1 << 20;

/// Most frames the cross-core pump publishes between two flushes (then it yields to the
/// writers). Well under [`CLIENT_QUEUE_FRAMES_MAX`], so a burst never skips a reading client.
pub const PUMP_FLUSH_FRAMES: usize = 1024;

/// Messages kept for `/latest.json`.
pub const LATEST_MESSAGES: usize = 25;

/// Waiting-list length below which the hub does not sweep finished sessions' signals out of
/// it: sweeping a short list costs more than the few dead entries it holds.
pub const HUB_WAITING_COMPACT_MIN: usize = 64;

// ---- WebSocket and HTTP serving ---------------------------------------------------------------

/// Bytes of an HTTP request head accepted before answering 431.
pub const REQUEST_HEAD_BYTES_MAX: usize = 8192;
/// Headers in one request head.
pub const REQUEST_HEADERS_MAX: usize = 32;
/// Deadline for a whole request head to arrive (slowloris guard).
pub const REQUEST_HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest client WebSocket message accepted; larger ones close the connection with 1009.
pub const CLIENT_MESSAGE_BYTES_MAX: usize = 64 * 1024;
/// Interval of the JSON heartbeat and of the server's WebSocket ping.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(30);
/// A session whose socket accepts no byte for this long is closed (`write_stalled`): the client
/// has read nothing for a minute while data was pending, so it is gone or wedged. This catches
/// never-reading clients when the stream is too quiet for the queue bound to trip.
pub const CLIENT_WRITE_STALL_TIMEOUT: Duration = Duration::from_secs(60);
/// How often a writer blocked in a send re-applies the lag policy, so a client that stopped
/// reading is still skipped and closed on time while its socket buffer is full.
pub const CLIENT_LAG_CHECK_INTERVAL: Duration = Duration::from_secs(1);
/// Capacity a session keeps in its write buffer between sends; a burst may grow it up to
/// [`CLIENT_WRITE_BYTES_MAX`], after which it shrinks back so idle clients stay small.
pub const CLIENT_WRITE_BUFFER_RETAIN_BYTES: usize = 4 * 1024;
/// Frames one vectored send gathers (the kernel's IOV_MAX is 1024; one slot is for control
/// frames).
pub const CLIENT_WRITE_FRAMES_MAX: usize = 1023;
/// Frames one send gathers for an SSE client: each takes three slices (`data: `, payload,
/// `\n\n`), and the chunk framing and a cursor event (six) must fit in IOV_MAX too.
pub const CLIENT_WRITE_FRAMES_MAX_SSE: usize = 330;
/// Frames one send gathers for an NDJSON client: two slices each (payload, `\n`).
pub const CLIENT_WRITE_FRAMES_MAX_NDJSON: usize = 500;

/// Logs one resume token may list. Google's and Apple's lists together hold about 150 logs,
/// usable or not; at the widest (10-byte indexes) 256 logs still fit a request head.
pub const RESUME_TOKEN_LOGS_MAX: usize = 256;

/// Longest resume token accepted (base64url of [`RESUME_TOKEN_LOGS_MAX`] logs at their widest:
/// 8-byte key and a 10-byte index each), so a request line stays far under the head bound.
pub const RESUME_TOKEN_CHARS_MAX: usize = (2 + 10 + 10 + RESUME_TOKEN_LOGS_MAX * 18) * 4 / 3 + 4;

/// A resuming client gets a `cursor` message after a batch only when this long has passed
/// since its last one (and at the latest this long after its last certificate): at most a
/// few hundred bytes of token per client per interval, whatever the batch rate.
pub const RESUME_CURSOR_INTERVAL: Duration = Duration::from_millis(200);

/// Smallest `--replay-max-bytes`: a few segments, so retention never deletes the segment a
/// writer is filling.
pub const REPLAY_MAX_BYTES_MIN: u64 = 4 * REPLAY_SEGMENT_BYTES;

/// Clients replaying at once by default: each reads the store as fast as its socket takes it,
/// and disk and CPU are shared; live clients are unaffected by the cap either way.
pub const REPLAY_MAX_CLIENTS_DEFAULT: u64 = 64;

/// CPU shares of an executor's replay task queue against the default queue's 1000 (live
/// fan-out, pollers): a replay runs on what live work leaves, at least about 1 % of the core.
pub const REPLAY_TASK_QUEUE_SHARES: usize = 10;

/// Pages queued per executor towards its replay-store writer (about a minute of one core's
/// logs). Full: the page is streamed but not stored, counted and logged with its range; a
/// resuming client that needs it gets a `gap` message.
pub const REPLAY_WRITE_QUEUE_PAGES: usize = 256;

/// Bytes of frames each core keeps in the replay store's memory tier (`replay::recent`): at
/// ~11.5 KB per entry for the three forms, 256 MiB is about a minute of a 400 entries/s
/// firehose, the reconnect after a blip or a deploy; older positions are read from disk.
/// Held only with `--replay-dir`; the frames are the hub's own (shared, not copied).
pub const REPLAY_MEMORY_BYTES: usize = 256 << 20;

/// Control replies (pongs, close) a session may have queued before its reader stops reading
/// the socket: a client flooding pings without reading our replies is slowed by TCP, not by
/// our memory.
pub const CLIENT_CONTROL_BYTES_MAX: usize = 16 * 1024;
/// Bytes read from a client socket per read call (and tungstenite's read buffer). Clients send
/// little (pings, close), so a small buffer keeps idle sessions cheap.
pub const CLIENT_READ_CHUNK_BYTES: usize = 4096;
/// After the last response or close frame, how long unread client bytes are drained before
/// the socket is closed. Closing with unread data sends an RST that can destroy the reply
/// before the client reads it.
pub const CLOSE_LINGER: Duration = Duration::from_secs(1);
/// Bytes drained during [`CLOSE_LINGER`] at most.
pub const CLOSE_LINGER_BYTES_MAX: usize = 256 * 1024;
/// Pause after a failed accept (EMFILE, ENFILE, ENOBUFS) so the loop does not spin on an error
/// that persists until some connection closes.
pub const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(100);

/// Deadline for a client's TLS handshake (`--tls-cert`), before the request head's own
/// deadline starts: a client that opens a socket and trickles its ClientHello is dropped.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Plaintext bytes one buffered TLS write (HTTP responses, the 101, close) encrypts at a time:
/// one maximum-size TLS record.
pub const TLS_WRITE_CHUNK_BYTES: usize = 16 * 1024;

/// Buckets of the process-wide per-IP connection table (`--max-connections-per-ip`): 64 Ki
/// counters (512 KiB); addresses sharing a bucket share its count (stricter, never looser).
pub const CONNECTION_IP_BUCKETS: usize = 1 << 16;

/// Slots of each core's connection-rate table (`--connection-rate-per-ip`): 4 Ki timestamps
/// (32 KiB per core, allocated when a rate is first set). Addresses sharing a slot share its
/// bucket (stricter, never looser); at a few hundred distinct addresses a minute, collisions
/// are rare.
pub const CONNECTION_RATE_SLOTS: usize = 4096;
/// Default `--connection-burst-per-ip`: connections one address may open at once before its
/// sustained rate applies. A browser opens a page, its WebSocket and a health poll together; a
/// client reconnecting after a restart of ours opens its three streams at once.
pub const CONNECTION_BURST_PER_IP: u32 = 10;
/// Largest `--connection-burst-per-ip`: beyond it a burst is no limit at all.
pub const CONNECTION_BURST_PER_IP_MAX: u32 = 100_000;
/// Slowest `--connection-rate-per-ip` other than 0 (off), per second: one connection every
/// ~17 minutes. Slower would lock an address out for hours after one burst.
pub const CONNECTION_RATE_PER_IP_MIN: f64 = 0.001;
/// Fastest `--connection-rate-per-ip`, per second: past a million a second it limits nothing.
pub const CONNECTION_RATE_PER_IP_MAX: f64 = 1_000_000.0;

// ---- Subscription filters and dedup (`crate::filter`) ------------------------------------------

/// Filter patterns one client may give (domains, keywords, regexes, issuers and logs
/// together). Past it the request is refused with 400 before the upgrade.
pub const FILTER_PATTERNS_MAX: usize = 256;
/// Bytes of filter values (decoded) one client may give; the request head bound
/// ([`REQUEST_HEAD_BYTES_MAX`], 431 past it) applies first to the encoded query.
pub const FILTER_BYTES_MAX: usize = 8 * 1024;
/// Longest single keyword.
pub const FILTER_KEYWORD_BYTES_MAX: usize = 253;
/// Regexes one client may give, ...
pub const FILTER_REGEXES_MAX: usize = 8;
/// ... the longest pattern text ...
pub const FILTER_REGEX_BYTES_MAX: usize = 512;
/// ... the most its compiled NFA may take (`\w{500}` or `(a{200}){200}` are refused), ...
pub const FILTER_REGEX_NFA_BYTES_MAX: usize = 256 * 1024;
/// ... and the deepest nesting of groups and repetitions.
pub const FILTER_REGEX_NEST_MAX: u32 = 16;
/// Per core, the lazy DFA cache of the set of every client's regexes (the DFA is built while
/// names are searched; a cache too small for the set's states makes the search fall back to
/// the much slower NFA simulation).
pub const FILTER_REGEX_CACHE_BYTES: usize = 32 * 1024 * 1024;
/// A core folds newly connected clients' filters into its main index in one batch at most
/// this often (they are matched from a small index of their own meanwhile).
pub const FILTER_REBUILD_DELAY: Duration = Duration::from_millis(200);
/// How long dedup remembers a certificate by default (`--dedup-window`): an hour.
pub const DEDUP_WINDOW_DEFAULT: Duration = Duration::from_secs(3600);
/// Longest `--dedup-window`: a day.
pub const DEDUP_WINDOW_MAX_SECS: u64 = 86_400;
/// Keys one core's dedup window holds at most (two per certificate: leaf and issuance); past
/// it the oldest are forgotten early. At ≈ 34 bytes per key (an 8-byte key in a hash set at
/// its load factor plus 16 bytes in the expiry ring) 4 Mi keys are ≈ 140 MB per core, enough
/// for an hour of a 500 certificates/s firehose. Allocated only on cores where a client asked
/// for dedup.
pub const DEDUP_KEYS_MAX: usize = 4 * 1024 * 1024;

const _: () = assert!(FILTER_REGEXES_MAX <= FILTER_PATTERNS_MAX);
const _: () = assert!(DEDUP_WINDOW_DEFAULT.as_secs() <= DEDUP_WINDOW_MAX_SECS);

// ---- CT fetching -------------------------------------------------------------------------------

/// Bytes the CT HTTP client asks of the socket per read: a get-entries page (tens to hundreds of
/// KB) arrives in a handful of reads, and the buffer stays small per connection.
pub const HTTP_READ_CHUNK_BYTES: usize = 32 * 1024;

/// Entries asked for per get-entries request; logs answer with fewer (32, 256, alignment) and the
/// cursor advances by what came back.
pub const GET_ENTRIES_BATCH: u64 = 256;
/// get-entries requests in flight per RFC 6962 log while catching up.
pub const FETCHES_IN_FLIGHT_PER_LOG: usize = 3;
/// How often an idle log's tree head (get-sth or checkpoint) is polled.
pub const HEAD_POLL_INTERVAL: Duration = Duration::from_secs(1);
/// First backoff after an error; doubles up to [`BACKOFF_MAX`], with jitter.
pub const BACKOFF_MIN: Duration = Duration::from_millis(250);
/// Longest backoff after repeated errors.
pub const BACKOFF_MAX: Duration = Duration::from_secs(60);
/// A data tile that does not parse is taken as broken for good (its readable leaves used, the
/// rest skipped and reported) only once the log served the same broken bytes this many times
/// in a row ...
pub const BROKEN_TILE_REPEATS: u32 = 5;
/// ... over at least this long. Until then the log waits at the tile, as for any bad answer.
pub const BROKEN_TILE_CONFIRM_AFTER: Duration = Duration::from_secs(10 * 60);
/// Longest Retry-After honoured; a log asking for more is retried after this.
pub const RETRY_AFTER_MAX: Duration = Duration::from_secs(600);
/// TCP (and TLS) connect timeout for CT logs.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Read timeout while waiting for any bytes of a CT log response.
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest (decoded) CT response body accepted: a 1000-entry get-entries page with long chains
/// is several MB; anything past this is a broken or hostile log.
pub const RESPONSE_BYTES_MAX: usize = 32 * 1024 * 1024;
/// Largest response head (status line + headers).
pub const RESPONSE_HEAD_BYTES_MAX: usize = 64 * 1024;
/// How long a resolved address of a log host is reused before resolving again.
pub const DNS_CACHE_TTL: Duration = Duration::from_secs(300);
/// Deadline for one whole CT request: DNS, connect, TLS, head and body. The read timeout only
/// bounds each wait for bytes, so a server trickling one byte per second would otherwise hold a
/// request forever; 120 s still lets a full [`RESPONSE_BYTES_MAX`] body arrive at ~300 KB/s.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// Idle keep-alive connections kept per (scheme, host, port): the in-flight fetches of one log
/// plus its head poll; more would only hold sockets the log's server will time out anyway.
pub const POOL_IDLE_PER_HOST_MAX: usize = FETCHES_IN_FLIGHT_PER_LOG + 1;
/// An idle pooled connection older than this is closed instead of reused: servers drop idle
/// keep-alive connections after 30–120 s, and a reuse that races their close costs a retry.
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(20);
/// Header fields parsed in one CT response head; real logs send about a dozen.
pub const RESPONSE_HEADERS_MAX: usize = 64;
/// Longest chunk-size line (size plus extensions) of a chunked body; real ones are < 20 bytes.
pub const CHUNK_LINE_BYTES_MAX: usize = 4096;
/// Resolved addresses of one host tried per connect before giving up (each one may take
/// [`CONNECT_TIMEOUT`]).
pub const CONNECT_ADDRS_MAX: usize = 4;
/// First pacing interval between requests to a log after its first 429/503 (Sunlight's shared
/// anonymous limit of 75 req/s is ~13 ms; 50 ms is a cautious start that AIMD then shrinks).
pub const PACING_INTERVAL_FIRST: Duration = Duration::from_millis(50);
/// Widest pacing interval: DigiCert was observed at 0.15 req/s (≈ 7 s); 30 s leaves headroom.
pub const PACING_INTERVAL_MAX: Duration = Duration::from_secs(30);
/// After widening the pacing interval, further 429/503s within this time (or one interval, if
/// longer) come from requests already in flight and do not widen it again.
pub const PACING_WIDEN_HOLDOFF: Duration = Duration::from_secs(1);
/// Consecutive unthrottled responses before the pacing interval is narrowed by one step.
pub const PACING_NARROW_AFTER: u32 = 4;
/// The narrowing step is the interval set by the last widening divided by this, so climbing
/// back from a throttle takes the same number of steps whatever the log's scale.
pub const PACING_NARROW_DIVISOR: u32 = 16;
/// How often the log list is fetched again.
pub const LOG_LIST_REFRESH: Duration = Duration::from_secs(3600);
/// How soon a log list that has never loaded (and has no embedded copy) is tried again, when
/// that is sooner than the refresh: a list down at boot should not cost an hour of its logs.
pub const LOG_LIST_RETRY: Duration = Duration::from_secs(60);
/// Largest checkpoint accepted. A checkpoint is three short lines plus one signature line per
/// signer (≈ 100 bytes each): real ones are a few hundred bytes; 64 KiB leaves room for
/// hundreds of witness cosignatures while keeping a hostile one cheap to reject.
pub const CHECKPOINT_BYTES_MAX: usize = 64 * 1024;
/// Signature lines examined in one checkpoint (the log's own plus witness cosignatures, a
/// handful in practice); more is treated as a malformed note.
pub const CHECKPOINT_SIGNATURES_MAX: usize = 100;
/// Issuer certificates cached per Static CT log (real logs reference a handful).
pub const ISSUER_CACHE_MAX: usize = 1024;
/// No log is fetched earlier than this after start: clients reconnecting after a restart get a
/// moment to subscribe before the first (possibly backfilled) entries flow.
pub const FETCHER_START_DELAY_MIN: Duration = Duration::from_millis(500);

/// The User-Agent sent to every CT log; Sunlight rate-limits clients without a contact URL.
pub const USER_AGENT: &str = concat!(
    "certstream-glommio/",
    env!("CARGO_PKG_VERSION"),
    " (+https://github.com/certstream/certstream-glommio)"
);

/// Tree heads remembered per log for `certstream_log_lag_seconds` (the first head that held
/// the oldest entry not yet streamed). Past it, neighbouring heads are merged pairwise, keeping
/// the older timestamp: the lag is then over-stated by at most the merged span, never hidden.
pub const LAG_HEADS_MAX: usize = 64;

// ---- Configuration bounds ------------------------------------------------------------------

/// Most executors `--workers` may ask for: beyond any machine this runs on, yet low enough that
/// a typo (an extra digit or two) is refused instead of spawning thousands of pinned threads.
pub const WORKERS_MAX: usize = 1024;
/// Longest `--poll-interval-ms`, CT request timeout and `--fetch-backoff-max-ms`: an hour. A
/// longer one would leave a stalled or dead log unnoticed for longer than anyone would want.
pub const SETTING_MILLIS_MAX: u64 = 3_600_000;
/// Longest `--log-list-refresh-secs`: a week. Logs join and retire with a few weeks' notice, so
/// a list refreshed less often could keep following a retired log or miss a new one for long.
pub const LOG_LIST_REFRESH_SECS_MAX: u64 = 7 * 86_400;
/// Shortest bearer token (`--auth-token`) accepted, in bytes: 16 random characters carry enough
/// entropy that guessing one over the network is hopeless; shorter ones are likely mistakes.
pub const AUTH_TOKEN_BYTES_MIN: usize = 16;

const _: () = assert!(WORKERS_MAX > 0);
const _: () = assert!(LOG_LIST_REFRESH.as_secs() <= LOG_LIST_REFRESH_SECS_MAX);
const _: () = assert!(HEAD_POLL_INTERVAL.as_millis() <= SETTING_MILLIS_MAX as u128);
const _: () = assert!(REQUEST_TIMEOUT.as_millis() <= SETTING_MILLIS_MAX as u128);
const _: () = assert!(BACKOFF_MAX.as_millis() <= SETTING_MILLIS_MAX as u128);

// ---- Certificates ------------------------------------------------------------------------------

/// Chain certificates serialized per entry (real chains have 1–4).
pub const CHAIN_CERTS_MAX: usize = 16;
/// Domains listed per certificate in `all_domains` (real ones reach a few hundred).
pub const DOMAINS_PER_CERT_MAX: usize = 4096;
/// Chain certificates whose serialized JSON each core keeps for reuse (`cert::chain_cache`).
/// The public logs share well under a hundred intermediates and roots; 512 entries of a few KB
/// bound the cache to a few MB per core while keeping the hit rate near 100%.
pub const CHAIN_CACHE_CERTS_MAX: usize = 512;

const _: () = assert!(CLIENT_QUEUE_FRAMES_MAX < HUB_HISTORY_FRAMES);
const _: () = assert!(PUMP_FLUSH_FRAMES * 2 <= CLIENT_QUEUE_FRAMES_MAX);
const _: () = assert!(LATEST_MESSAGES <= HUB_HISTORY_FRAMES);
const _: () =
    assert!(LATEST_MESSAGES < HUB_RETAIN_ENTRIES && HUB_RETAIN_ENTRIES < CLIENT_QUEUE_FRAMES_MAX);
const _: () = assert!(CLIENT_WRITE_BUFFER_RETAIN_BYTES <= CLIENT_WRITE_BYTES_MAX);
// A queued pong and a close frame (at most 127 bytes each) must always fit.
const _: () = assert!(CLIENT_CONTROL_BYTES_MAX >= 2 * 127);
const _: () = assert!(CLIENT_MESSAGE_BYTES_MAX <= 1 << 20);
const _: () = assert!(LAG_HEADS_MAX >= 2);
const _: () = assert!(REQUEST_HEAD_BYTES_MAX >= 1024);
const _: () = assert!(RESUME_TOKEN_CHARS_MAX + 1024 <= REQUEST_HEAD_BYTES_MAX);
const _: () = assert!(GET_ENTRIES_BATCH >= 32 && GET_ENTRIES_BATCH <= 1000);
const _: () = assert!(REQUEST_TIMEOUT.as_secs() > CONNECT_TIMEOUT.as_secs());
const _: () =
    assert!(BACKOFF_MIN.as_nanos() > 0 && BACKOFF_MIN.as_nanos() < BACKOFF_MAX.as_nanos());
const _: () = assert!(PACING_INTERVAL_FIRST.as_nanos() < PACING_INTERVAL_MAX.as_nanos());
const _: () = assert!(PACING_NARROW_AFTER > 0 && PACING_NARROW_DIVISOR > 0);
const _: () = assert!(POOL_IDLE_PER_HOST_MAX > 0 && CONNECT_ADDRS_MAX > 0);

// ---- Executors ---------------------------------------------------------------------------------

/// io_uring registered buffer memory per executor. glommio's 10 MiB default serves DMA file
/// I/O, which this server does not do; it would only inflate the resident set (it is locked).
pub const EXECUTOR_IO_MEMORY_BYTES: usize = 128 * 1024;

/// Batches (one fetched page each, ≤ 1000 certificates) each SPSC ring between two executors
/// holds. A full ring drops the batch and counts it; ingest never blocks.
pub const RING_BATCHES_MAX: usize = 1024;

/// Control messages (log assignments) queued towards one executor.
pub const CONTROL_RING_MAX: usize = 4096;

/// At shutdown, how long the pumps get to publish the other cores' last pages before the 1001
/// close goes out.
pub const SHUTDOWN_RING_DRAIN: Duration = Duration::from_millis(50);

/// At shutdown, how long writers get to send the final 1001 close frame; the whole stop stays
/// well under a second.
pub const SHUTDOWN_FLUSH_GRACE: Duration = Duration::from_millis(300);

/// How often the state file is rewritten while running (it is also written at shutdown). A
/// crash repeats at most the entries of the last interval (plus one snapshot interval).
pub const STATE_SAVE_INTERVAL: Duration = Duration::from_secs(5);

/// Logs that left the list whose executor keeps the poller's final cursor (and the coordinator
/// their executor), so that a log coming back resumes exactly where it stopped. Lists change a
/// few logs a month; past this the oldest is forgotten and resumes from the state file.
pub const RETIRED_LOGS_MAX: usize = 256;

/// How long a log that left the list keeps its saved cursor.
pub const STATE_RETAIN_GONE: Duration = Duration::from_secs(7 * 86_400);

/// Skipped entries (index and reason) each log remembers for `/health/deep`. Skips are rare
/// (only entries that can never be decoded); each one is also logged at WARN with its index.
pub const SKIPPED_ENTRIES_RECENT: usize = 32;

/// Longest skip reason kept in that list.
pub const SKIP_REASON_BYTES_MAX: usize = 200;

/// How often each executor sends its counters to the others for `/metrics`.
pub const METRICS_SNAPSHOT_INTERVAL: Duration = Duration::from_secs(1);

// ---- Lifecycle: start, stop, reload, watchdog ---------------------------------------------------

/// After an event in the `--config` file's directory, the watcher waits until none came for
/// this long before it reads the file: an editor's save (write, rename, chmod) or a
/// configuration tool's several writes become one reload.
pub const CONFIG_WATCH_SETTLE: Duration = Duration::from_millis(300);
/// ... but no longer than this in all, so a file rewritten without pause is still reloaded.
pub const CONFIG_WATCH_SETTLE_MAX: Duration = Duration::from_secs(5);
/// Bytes read from the inotify descriptor at a time: dozens of events (16 bytes plus a name
/// each); more pending ones are read on the next turn.
pub const CONFIG_WATCH_BUFFER_BYTES: usize = 4096;

/// How long the start waits for every executor to bind its listener. A failure (an executor
/// that cannot be created, a bind error, a panic) or a stop ends the wait at once, as a
/// message; this only bounds an executor that neither binds nor fails (a wedged start).
pub const EXECUTORS_BIND_WAIT: Duration = Duration::from_secs(30);

/// At shutdown, how long an executor waits for every other one to close its publisher
/// (phase 1 of the stop) before it sends its 1001 close anyway: the others answer within a
/// scheduling round, so this only bounds a wedged executor.
pub const SHUTDOWN_PUBLISHERS_WAIT: Duration = Duration::from_millis(500);

/// After the server task is cancelled, each of two reactor rounds waits this long, so that the
/// cancellation of its in-flight accept reaches the kernel and the listening socket closes
/// before the executor ends (see `runtime::shard`).
pub const SHUTDOWN_LISTENER_RELEASE: Duration = Duration::from_millis(1);

/// A requested stop ends the process within this (the three shutdown waits above run one
/// after the other, plus the state file write).
pub const STOP_DEADLINE: Duration = Duration::from_secs(2);

/// Snapshots queued from one executor to another for `/metrics`: one being read and the next.
/// A full ring drops the new snapshot; the next one comes a
/// [`METRICS_SNAPSHOT_INTERVAL`] later and holds every counter anyway.
pub const SNAPSHOT_RING_DEPTH: usize = 2;

/// Log-list reloads waiting for the coordinator. SIGHUPs that come while one waits coalesce
/// into it: a single reload reads the newest list.
pub const RELOAD_REQUESTS_PENDING_MAX: usize = 1;

/// The systemd watchdog is pinged only while every executor beat within this window; each
/// beats once per [`METRICS_SNAPSHOT_INTERVAL`], so three missed beats mean a stuck executor.
pub const EXECUTOR_BEAT_WINDOW: Duration = Duration::from_secs(3);

/// Beats queued per executor towards the watchdog thread, which drains them as they come;
/// a full queue drops a beat (the next one follows a second later).
pub const WATCHDOG_BEATS_QUEUED_PER_EXECUTOR: usize = 4;

/// How long an idle executor spins on its rings before it parks in the kernel. Zero (glommio's
/// default): spinning buys microseconds of wake-up latency for a stream whose cadence is
/// milliseconds, and burns a core per executor while the server is idle.
pub const EXECUTOR_SPIN_BEFORE_PARK: Duration = Duration::ZERO;

/// Longest start delay per executor the test-only hook `CERTSTREAM_TEST_EXECUTOR_START_DELAY_MS`
/// accepts (see [`crate::runtime`]).
pub const TEST_EXECUTOR_START_DELAY_MAX: Duration = Duration::from_secs(10);

// ---- Replay store ------------------------------------------------------------------------------

/// Bytes one stored entry takes on disk, all three frames and the record's 72 bytes of head and
/// fixed fields: 11 489 on average over the 26 real entries of
/// `loadtest/fixtures/ctdata/rfc6962` encoded by `cert::encode_entry` (frames: lite 1 839,
/// full 9 459, domains 118; measured by `replay::store::tests::real_entries_round_trip`, which
/// fails when the mean leaves 0.5×–2× this figure). The full frame (leaf and chain DER in
/// base64) is 82% of it; re-encoding the lite and domains forms from it at replay would save
/// 17% at the cost of a parse per replayed entry, so all three are stored. Sizing only.
pub const REPLAY_BYTES_PER_ENTRY: u64 = 11_500;

/// Entries per second of the live firehose (all public logs, 2025-26), for sizing the store.
pub const REPLAY_SIZING_ENTRIES_PER_SEC: u64 = 400;

/// Default age bound of the replay store: an hour lets any client that was gone for a restart,
/// a network cut or a deploy resume without a gap.
pub const REPLAY_MAX_AGE_DEFAULT: Duration = Duration::from_secs(3600);

/// Default byte bound of ONE log's store (each writer bounds its own log): an hour of the whole
/// firehose, 400 entries/s × 3600 s × [`REPLAY_BYTES_PER_ENTRY`] ≈ 16.6 GB. No single log
/// carries the whole firehose, so the age bound is what bites and the store holds about an
/// hour of every log (≈ 16.6 GB in all); this bound only keeps a runaway log or a wrong clock
/// from filling the disk.
pub const REPLAY_MAX_BYTES_DEFAULT: u64 =
    REPLAY_SIZING_ENTRIES_PER_SEC * 3600 * REPLAY_BYTES_PER_ENTRY;

/// A new segment starts past this many bytes: retention deletes whole segments, so this is the
/// granularity of the bounds, and a reader that resumes inside a segment scans it from its
/// start to find its index (records have no fixed size): 8 MiB ≈ 730 entries, about 6 s of
/// the busiest log at 400 entries/s over all logs, and a few hundred files per log per hour,
/// which keeps listing a log's directory cheap. (64 MiB made every resume of the 50-client
/// test scan tens of MB per log.)
pub const REPLAY_SEGMENT_BYTES: u64 = 8 << 20;

/// Bytes a store reader (or recovery) reads at once; the buffer a replay batch's frames are
/// slices of. About 90 entries per read, small beside a session's write bound.
pub const REPLAY_READ_CHUNK_BYTES: usize = 1 << 20;

/// Bytes read to look at a segment's first entry only (the reader's first index, time
/// search): one typical entry; a larger one is read whole.
pub const REPLAY_PEEK_BYTES: usize = 16 * 1024;

/// Largest record body: an entry's three frames with the longest chain ([`CHAIN_CERTS_MAX`]
/// certificates) stay far below it. The writer refuses (and counts) a larger entry, and a
/// reader takes a larger length field for damage.
pub const REPLAY_RECORD_BYTES_MAX: usize = 4 << 20;

// ---- HTTP API (`/api/stats`, `/api/logs`, `/api/cert/{hash}`) -------------------------------------

/// `/api/stats` rates are the difference of counters over this many snapshot intervals
/// ([`METRICS_SNAPSHOT_INTERVAL`]): smooth enough to read, recent enough to follow a burst.
pub const API_RATE_WINDOW_SAMPLES: usize = 5;

/// Most certificates one executor's certificate index holds (it evicts the oldest past it):
/// [`REPLAY_MAX_AGE_DEFAULT`] of the firehose ([`REPLAY_SIZING_ENTRIES_PER_SEC`]) with a
/// quarter of headroom. A store kept longer than that is still served, but lookups then reach
/// back this many entries only. Every executor indexes every certificate (see
/// [`crate::api`]), so the memory is this × [`CERT_INDEX_BYTES_PER_ENTRY`] per executor.
pub const CERT_INDEX_ENTRIES_MAX: usize =
    (REPLAY_SIZING_ENTRIES_PER_SEC * REPLAY_MAX_AGE_DEFAULT.as_secs() * 5 / 4) as usize;

/// Bytes one indexed certificate costs, measured after eviction churn by
/// `api::cert_index::tests::memory_per_entry_is_what_limits_says` (at a sixteenth of
/// [`CERT_INDEX_ENTRIES_MAX`]: the same table buckets per entry): a 48-byte record and two
/// hash tables of `u32` keys and values (9 bytes a slot), which double once under churn and
/// then stay. Sizing only: ≈ 160 MB per executor for a full index.
pub const CERT_INDEX_BYTES_PER_ENTRY: usize = 90;

/// Entries of the index one executor keeps for a store whose age bound is `max_age`: the
/// certificates of that window at [`REPLAY_SIZING_ENTRIES_PER_SEC`], with a quarter of
/// headroom, at most [`CERT_INDEX_ENTRIES_MAX`].
pub fn cert_index_entries(max_age: Duration) -> usize {
    let window = max_age
        .as_secs()
        .saturating_mul(REPLAY_SIZING_ENTRIES_PER_SEC)
        .saturating_mul(5)
        / 4;
    usize::try_from(window)
        .unwrap_or(usize::MAX)
        .clamp(1024, CERT_INDEX_ENTRIES_MAX)
}

/// Positions of one certificate a lookup reports (newest first); a certificate seen in more
/// places than this (re-submitted again and again) lists its newest ones.
pub const API_CERT_POSITIONS_MAX: usize = 64;

/// Store reads one lookup makes to find the newest position still held (each reads at most
/// one segment up to the entry): positions retention already deleted are skipped this way.
pub const API_CERT_READS_MAX: usize = 4;

/// Lookups one executor runs at once; more get 503 (each may read up to a segment, in the
/// replay task queue, below live fan-out).
pub const API_CERT_LOOKUPS_MAX: u64 = 8;

/// `/api/logs`: a log whose oldest unstreamed entry has been public longer than this is
/// `degraded` (the lag of a log that keeps up stays near the poll interval).
pub const LOG_DEGRADED_LAG: Duration = Duration::from_secs(60);

/// `/api/logs`: ... and `unhealthy` past this (ten minutes behind: consumers notice).
pub const LOG_UNHEALTHY_LAG: Duration = Duration::from_secs(600);

/// `/api/logs`: a log without a verified tree head is `degraded` during this long after the
/// start (its first head is on its way), `unhealthy` after.
pub const LOG_FIRST_HEAD_GRACE: Duration = Duration::from_secs(60);

const _: () = assert!(
    SHUTDOWN_PUBLISHERS_WAIT.as_millis()
        + SHUTDOWN_RING_DRAIN.as_millis()
        + SHUTDOWN_FLUSH_GRACE.as_millis()
        + 2 * SHUTDOWN_LISTENER_RELEASE.as_millis()
        < STOP_DEADLINE.as_millis() / 2
);
const _: () =
    assert!(EXECUTOR_BEAT_WINDOW.as_millis() >= 2 * METRICS_SNAPSHOT_INTERVAL.as_millis());
const _: () = assert!(SNAPSHOT_RING_DEPTH >= 1 && RELOAD_REQUESTS_PENDING_MAX >= 1);
const _: () = assert!(CONFIG_WATCH_SETTLE.as_millis() < CONFIG_WATCH_SETTLE_MAX.as_millis());
const _: () = assert!(REPLAY_RECORD_BYTES_MAX as u64 <= REPLAY_SEGMENT_BYTES);
const _: () = assert!(API_RATE_WINDOW_SAMPLES >= 2);
const _: () = assert!(LOG_DEGRADED_LAG.as_secs() < LOG_UNHEALTHY_LAG.as_secs());
const _: () = assert!(CERT_INDEX_ENTRIES_MAX < u32::MAX as usize);
