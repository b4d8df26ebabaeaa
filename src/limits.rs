//! Every bound and default in one place. Nothing else in the crate invents a limit: each queue,
//! buffer, timeout and batch size is named here with the reason for its value, and the
//! compile-time asserts at the bottom keep them consistent with each other.

use std::time::Duration;

// ---- Cross-core rings and per-core hub -------------------------------------------------------

/// Frames each SPSC ring between two executors can hold. A full ring drops the frame and counts
/// it (`ring_drops`); ingest never blocks. 8192 entries is eight seconds of the busiest
/// real-world burst (≈1,000/s) should the consuming core stall.
pub const RING_FRAMES_MAX: usize = 8192;

/// Frames the per-core hub keeps for its sessions. A session's cursor may lag the head by at most
/// this many frames; this is the client's bounded queue.
pub const HUB_HISTORY_FRAMES: usize = 16384;

/// A client whose backlog passes this many frames loses its oldest frames (counted as
/// `client_queue_full`) and keeps streaming from the newest ones it can still hold.
pub const CLIENT_QUEUE_FRAMES_MAX: usize = 4096;

/// A client that stays over its queue bound this long is closed with 1008 (policy violation).
pub const CLIENT_LAGGING_CLOSE_AFTER: Duration = Duration::from_secs(10);

/// Upper bound on the bytes one session writes with a single send; bigger backlogs are sent in
/// several writes. Keeps one client's write buffer bounded.
pub const CLIENT_WRITE_BYTES_MAX: usize = 1 << 20;

/// Messages kept for `/latest.json`.
pub const LATEST_MESSAGES: usize = 25;

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

// ---- CT fetching -------------------------------------------------------------------------------

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
/// How often the log list is fetched again.
pub const LOG_LIST_REFRESH: Duration = Duration::from_secs(3600);
/// Issuer certificates cached per Static CT log (real logs reference a handful).
pub const ISSUER_CACHE_MAX: usize = 1024;
/// Spread of the staggered start of the log fetchers.
pub const FETCHER_START_STAGGER: Duration = Duration::from_secs(2);

/// The User-Agent sent to every CT log; Sunlight rate-limits clients without a contact URL.
pub const USER_AGENT: &str = concat!(
    "certstream-glommio/",
    env!("CARGO_PKG_VERSION"),
    " (+https://github.com/certstream/certstream-glommio)"
);

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
const _: () = assert!(CLIENT_MESSAGE_BYTES_MAX <= 1 << 20);
const _: () = assert!(REQUEST_HEAD_BYTES_MAX >= 1024);
const _: () = assert!(GET_ENTRIES_BATCH >= 32 && GET_ENTRIES_BATCH <= 1000);
