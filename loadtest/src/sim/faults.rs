//! Fault injection: a declarative schedule of transient faults (per log, per endpoint, over
//! time) and persistent corruptions (entries that are broken for good), with a counter per rule
//! so a test can check that every fault really fired.
//!
//! # Format
//!
//! TOML (`ctlog-sim --faults FILE`, or [`FaultSchedule`] in `SimConfig::faults`):
//!
//! ```toml
//! seed = 7                  # optional: seeds `probability` (default: the simulator's seed)
//!
//! [[rule]]                  # a transient fault; the first matching rule wins
//! logs = "all"              # "all" | "rfc6962" | "static" | [0, 3] (simulator log indices)
//! endpoint = "entries"      # sth | checkpoint | head | entries | tile | data | issuer | loglist | any
//! from = 5.0                # seconds since the simulator started (default 0)
//! until = 15.0              # default: for ever
//! period = 60.0             # optional: the [from, until) window repeats every period seconds
//! every = 4                 # optional: only every 4th matching request (the 4th, 8th, ...)
//! probability = 0.1         # optional: seeded, reproducible coin per matching request
//! limit = 10                # optional: fire at most this many times
//! path = "tile/data/001"    # optional: only this path below the log's prefix (a trailing
//!                           # `*` matches any path starting with what precedes it)
//! fault = "status"          # see below
//! status = 503              # parameters of the fault, see below
//!
//! [[corrupt]]               # a persistent corruption of some entries
//! logs = "rfc6962"
//! kind = "garbage_leaf"     # undecodable_cert | garbage_leaf | bad_extra_data | invalid_base64
//!                           # | invalid_base64_extra
//! every = 97                # entries whose index % every == offset ...
//! offset = 13
//! probability = 0.001       # ... or a seeded coin per index (either or both)
//! ```
//!
//! Transient faults (`fault =`) and their parameters:
//!
//! | fault | endpoints | what the client gets |
//! |---|---|---|
//! | `rate_limit` | any | 429, with `Retry-After: retry_after` when given |
//! | `status` | any | `status` (4xx/5xx), with `Retry-After: retry_after` when given |
//! | `not_found` | any | 404 (a missing issuer, a tile not there yet) |
//! | `hang` | any | the request is read and never answered; the connection closes after `secs` (default 600) |
//! | `reset` | any | the head and half of the body, then a TCP reset |
//! | `truncate` | any | the head (with the full Content-Length) and half of the body, then a clean close |
//! | `trickle` | any | the whole response one byte every `delay_ms` (default 20) |
//! | `invalid_json` | any | a 200 whose body does not parse (cut JSON; bytes that are not a tile, checkpoint or issuer) |
//! | `invalid_base64` | sth, checkpoint, head | a head whose root hash is not base64 |
//! | `short_page` | entries | at most `max_entries` (default 1) entries |
//! | `empty_page` | entries | `{"entries":[]}` |
//! | `stale_head` | sth, checkpoint, head | a real, correctly signed head from `back` (default 10) publications ago: the tree goes backwards |
//! | `vanish` | loglist | the selected logs are left out of the log list |
//!
//! `rate_limit` and `status` also take `retry_after_date` (unix seconds) instead of
//! `retry_after`: the `Retry-After` is then that instant as an HTTP-date, as Skylight sends it.
//!
//! Transport shapes: the honest response, framed or broken on the wire the way some HTTP
//! servers and proxies do it (they exercise a client's HTTP/1.1 reader rather than its CT logic):
//!
//! | fault | endpoints | what the client gets |
//! |---|---|---|
//! | `chunked` | any | the body chunked in sizes 1, 7, 4096, 100, 30000 (cycled), every other chunk with a chunk extension (`;ext="v"`, upper-case hex size), and an `X-Trailer` trailer field |
//! | `close_delimited` | any | an `HTTP/1.0` response with neither length nor chunking: the body ends when the connection closes |
//! | `continue` | any | an interim `100 Continue` response, then the real one |
//! | `close` | any | the response with `Connection: close`, then a clean close |
//! | `idle_close` | any | the response as kept-alive (no `Connection: close`), then a clean close, as a server's keep-alive idle timeout does (with `every = N`: a connection dropped after every N requests) |
//! | `truncate_chunked` | any | a chunked response cut inside its second chunk, then a clean close |
//! | `oversize_head` | any | a response head with one header line of `bytes` (default 131072) bytes |
//! | `oversize_body` | any | a head declaring `Content-Length: bytes` (default 1 GiB), then a clean close |
//! | `gzip_bomb` | any | a 200 with `Content-Encoding: gzip` whose body inflates to `bytes` (default 1 MiB) zero bytes |
//!
//! Faults the poller scenarios need (`loadtest/tests/poller_*.rs`); each is byte-faithful to
//! the real protocol apart from the one thing it breaks:
//!
//! | fault | endpoints | what the client gets |
//! |---|---|---|
//! | `head_size` | sth, checkpoint, head | a real, correctly signed head of the tree's first `size` entries (a log that has not grown that far, or a frontend serving an old head: the tree goes backwards). On a static log the partial data tile at that head's edge is served from then on, as a log of that size serves it |
//! | `bad_signature` | sth, checkpoint, head | the head (of `size` entries when given, else the published size) with a real signature by the log's key over a tree one entry larger: it does not verify |
//! | `wrong_origin` | checkpoint | the published checkpoint, correctly signed, for another log's origin (`other.example/log`) |
//! | `rate_limit_date` | any | 429 with `Retry-After` as an IMF-fixdate `retry_after` seconds (default 1) from now |
//! | `oversized_page` | entries | `extra` (default 4) entries more than asked for (past `end`, still within the tree) |
//! | `raw_body` | any | a 200 whose body is `body` exactly (an HTML maintenance page, JSON of the wrong shape), or the bytes of `body_base64` (bytes that are not UTF-8) |
//! | `bad_gzip` | any | a 200 with `Content-Encoding: gzip` whose body is not gzip |
//! | `garbage_tile` | tile | a valid gzip of 5000 bytes that are not tile leaves |
//! | `short_tile` | tile | the tile cut after `max_entries` (default 1) entries |
//! | `tile_junk` | tile | the tile followed by 7 zero bytes |
//! | `bad_leaf_index` | tile | the tile with entry `entry` (default 0) of it claiming `leaf_index` (default its index + 1) in its `leaf_index` extension; the tree still commits to the honest bytes (a damaged copy) |
//! | `wrong_tile` | tile | data tile 0's bytes, whichever tile was asked (every `leaf_index` is wrong; on tile 0 itself the answer is honest) |
//! | `overstated_length` | any | the whole honest body under a `Content-Length` `extra` (default 50) bytes larger, then a clean close |
//!
//! Corruptions are persistent: every fetch of that index returns the same bytes, and the Merkle
//! tree (STH roots, hash tiles) is built over those bytes. A corrupted entry can never be
//! streamed; a server must skip it and say so. Kinds:
//!
//! | kind | logs | the entry |
//! |---|---|---|
//! | `undecodable_cert` | both | an x509_entry whose certificate is not DER at all |
//! | `garbage_leaf` | RFC 6962 | a `leaf_input` whose certificate length runs past its end |
//! | `bad_extra_data` | RFC 6962 | an `extra_data` whose chain length runs past its end |
//! | `invalid_base64` | RFC 6962 | a `leaf_input` that is not valid base64 |
//! | `invalid_base64_extra` | RFC 6962 | an `extra_data` that is not valid base64 (poller scenarios) |
//!
//! On Static CT logs only `undecodable_cert` is applied (a rule selecting them with another
//! kind skips them): a structurally broken tile leaf would make the rest of its tile
//! unlocatable, which is a different failure.
//!
//! The RFC 6962 replay log takes `invalid_base64`, `invalid_base64_extra` and `bad_extra_data`
//! (none changes the
//! Merkle leaf, so the tree of real entries still commits to what is served); the other
//! kinds would change the leaf and are not applied to replay logs.
//!
//! # Determinism
//!
//! Whether a request is hit depends only on the rule, how many matching requests it saw before
//! (its own counter) and the seed, and corruptions only on `(seed, rule, log, index)`: the same
//! schedule against the same client behaviour gives the same faults.

use std::{
    collections::HashSet,
    sync::atomic::{AtomicU64, Ordering},
    sync::OnceLock,
    time::Instant,
};

use serde::Deserialize;

use super::{log_type::LogType, rng::SplitMix};

/// Which logs a rule applies to.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum LogSelector {
    /// `"all"`, `"rfc6962"` or `"static"`.
    Named(String),
    /// Simulator log indices (RFC 6962 logs first, then static, then replay).
    Indices(Vec<usize>),
}

impl Default for LogSelector {
    fn default() -> Self {
        LogSelector::Named("all".into())
    }
}

impl LogSelector {
    pub fn matches(&self, idx: usize, kind: LogType) -> bool {
        match self {
            LogSelector::Named(n) => match n.as_str() {
                "rfc6962" => kind == LogType::Rfc6962,
                "static" => kind == LogType::Static,
                _ => true,
            },
            LogSelector::Indices(v) => v.contains(&idx),
        }
    }

    fn validate(&self) -> Result<(), String> {
        match self {
            LogSelector::Named(n) if !["all", "rfc6962", "static"].contains(&n.as_str()) => Err(
                format!("logs = {n:?}: expected \"all\", \"rfc6962\", \"static\" or a list of log indices"),
            ),
            _ => Ok(()),
        }
    }

    fn describe(&self) -> String {
        match self {
            LogSelector::Named(n) => n.clone(),
            LogSelector::Indices(v) => format!("{v:?}"),
        }
    }
}

/// What a request asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    /// RFC 6962 `get-sth`.
    Sth,
    /// Static CT `checkpoint`.
    Checkpoint,
    /// `sth` or `checkpoint`.
    Head,
    /// RFC 6962 `get-entries`.
    Entries,
    /// Static CT data tile.
    Tile,
    /// `entries` or `tile`.
    Data,
    /// Static CT `issuer/<hex>`.
    Issuer,
    /// `log_list.json`.
    Loglist,
    /// Anything.
    Any,
}

impl Endpoint {
    /// Whether a rule for `self` applies to a request for `concrete`.
    pub fn covers(self, concrete: Endpoint) -> bool {
        self == concrete
            || self == Endpoint::Any
            || (self == Endpoint::Head && matches!(concrete, Endpoint::Sth | Endpoint::Checkpoint))
            || (self == Endpoint::Data && matches!(concrete, Endpoint::Entries | Endpoint::Tile))
    }

    fn as_str(self) -> &'static str {
        match self {
            Endpoint::Sth => "sth",
            Endpoint::Checkpoint => "checkpoint",
            Endpoint::Head => "head",
            Endpoint::Entries => "entries",
            Endpoint::Tile => "tile",
            Endpoint::Data => "data",
            Endpoint::Issuer => "issuer",
            Endpoint::Loglist => "loglist",
            Endpoint::Any => "any",
        }
    }
}

/// The transient fault kinds (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    RateLimit,
    Status,
    NotFound,
    Hang,
    Reset,
    Truncate,
    Trickle,
    InvalidJson,
    InvalidBase64,
    ShortPage,
    EmptyPage,
    StaleHead,
    Vanish,
    // ---- Transport shapes (see the second table) ----
    Chunked,
    CloseDelimited,
    Continue,
    Close,
    IdleClose,
    TruncateChunked,
    OversizeHead,
    OversizeBody,
    GzipBomb,
    // ---- Poller scenarios ----
    HeadSize,
    BadSignature,
    WrongOrigin,
    RateLimitDate,
    OversizedPage,
    RawBody,
    BadGzip,
    GarbageTile,
    ShortTile,
    TileJunk,
    BadLeafIndex,
    WrongTile,
    OverstatedLength,
}

impl FaultKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::RateLimit => "rate_limit",
            FaultKind::Status => "status",
            FaultKind::NotFound => "not_found",
            FaultKind::Hang => "hang",
            FaultKind::Reset => "reset",
            FaultKind::Truncate => "truncate",
            FaultKind::Trickle => "trickle",
            FaultKind::InvalidJson => "invalid_json",
            FaultKind::InvalidBase64 => "invalid_base64",
            FaultKind::ShortPage => "short_page",
            FaultKind::EmptyPage => "empty_page",
            FaultKind::StaleHead => "stale_head",
            FaultKind::Vanish => "vanish",
            FaultKind::Chunked => "chunked",
            FaultKind::CloseDelimited => "close_delimited",
            FaultKind::Continue => "continue",
            FaultKind::Close => "close",
            FaultKind::IdleClose => "idle_close",
            FaultKind::TruncateChunked => "truncate_chunked",
            FaultKind::OversizeHead => "oversize_head",
            FaultKind::OversizeBody => "oversize_body",
            FaultKind::GzipBomb => "gzip_bomb",
            FaultKind::HeadSize => "head_size",
            FaultKind::BadSignature => "bad_signature",
            FaultKind::WrongOrigin => "wrong_origin",
            FaultKind::RateLimitDate => "rate_limit_date",
            FaultKind::OversizedPage => "oversized_page",
            FaultKind::RawBody => "raw_body",
            FaultKind::BadGzip => "bad_gzip",
            FaultKind::GarbageTile => "garbage_tile",
            FaultKind::ShortTile => "short_tile",
            FaultKind::TileJunk => "tile_junk",
            FaultKind::BadLeafIndex => "bad_leaf_index",
            FaultKind::WrongTile => "wrong_tile",
            FaultKind::OverstatedLength => "overstated_length",
        }
    }

    /// The endpoints this fault makes sense on (`None`: every endpoint).
    fn only_on(self) -> Option<&'static [Endpoint]> {
        match self {
            FaultKind::InvalidBase64 | FaultKind::StaleHead => {
                Some(&[Endpoint::Sth, Endpoint::Checkpoint, Endpoint::Head])
            }
            FaultKind::ShortPage | FaultKind::EmptyPage => Some(&[Endpoint::Entries]),
            FaultKind::Vanish => Some(&[Endpoint::Loglist]),
            FaultKind::HeadSize | FaultKind::BadSignature => {
                Some(&[Endpoint::Sth, Endpoint::Checkpoint, Endpoint::Head])
            }
            FaultKind::WrongOrigin => Some(&[Endpoint::Checkpoint]),
            FaultKind::OversizedPage => Some(&[Endpoint::Entries]),
            FaultKind::GarbageTile
            | FaultKind::ShortTile
            | FaultKind::TileJunk
            | FaultKind::BadLeafIndex
            | FaultKind::WrongTile => Some(&[Endpoint::Tile]),
            _ => None,
        }
    }
}

/// One transient-fault rule, as written in the schedule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    #[serde(default)]
    pub logs: LogSelector,
    pub endpoint: Endpoint,
    #[serde(default)]
    pub from: f64,
    pub until: Option<f64>,
    pub period: Option<f64>,
    pub every: Option<u64>,
    pub probability: Option<f64>,
    pub limit: Option<u64>,
    pub fault: FaultKind,
    /// `status`: the status code.
    pub status: Option<u16>,
    /// `rate_limit`, `status`: the `Retry-After` seconds.
    pub retry_after: Option<u64>,
    /// `hang`: seconds before the connection is closed.
    pub secs: Option<f64>,
    /// `trickle`: milliseconds between bytes.
    pub delay_ms: Option<u64>,
    /// `short_page`: most entries served.
    pub max_entries: Option<u64>,
    /// `stale_head`: publications back.
    pub back: Option<usize>,
    /// `rate_limit`, `status`: the `Retry-After` as an HTTP-date of these unix seconds.
    pub retry_after_date: Option<u64>,
    /// `oversize_head`, `oversize_body`, `gzip_bomb`: the size in bytes.
    pub bytes: Option<u64>,
    // ---- Poller scenarios ----
    /// Only this path below the log's prefix (`*` at the end: any path with that prefix).
    pub path: Option<String>,
    /// `head_size`, `bad_signature`: the tree size of the head served.
    pub size: Option<u64>,
    /// `oversized_page`: entries served past `end`; `overstated_length`: bytes announced
    /// past the body.
    pub extra: Option<u64>,
    /// `raw_body`: the body served.
    pub body: Option<String>,
    /// `raw_body`: the body served, base64-encoded (for bytes TOML strings cannot hold).
    pub body_base64: Option<String>,
    /// `bad_leaf_index`: the position in the tile of the entry whose index is wrong.
    pub entry: Option<usize>,
    /// `bad_leaf_index`: the index that entry claims.
    pub leaf_index: Option<u64>,
}

/// Kinds of persistent corruption (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CorruptKind {
    UndecodableCert,
    GarbageLeaf,
    BadExtraData,
    InvalidBase64,
    // ---- Poller scenarios ----
    InvalidBase64Extra,
}

impl CorruptKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CorruptKind::UndecodableCert => "undecodable_cert",
            CorruptKind::GarbageLeaf => "garbage_leaf",
            CorruptKind::BadExtraData => "bad_extra_data",
            CorruptKind::InvalidBase64 => "invalid_base64",
            CorruptKind::InvalidBase64Extra => "invalid_base64_extra",
        }
    }

    /// Whether this corruption can be applied to a log of `kind` (see the module docs).
    pub fn applies_to(self, kind: LogType) -> bool {
        kind == LogType::Rfc6962 || self == CorruptKind::UndecodableCert
    }
}

/// One corruption rule, as written in the schedule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorruptRule {
    #[serde(default)]
    pub logs: LogSelector,
    pub kind: CorruptKind,
    pub every: Option<u64>,
    #[serde(default)]
    pub offset: u64,
    pub probability: Option<f64>,
}

/// A whole schedule.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSchedule {
    pub seed: Option<u64>,
    #[serde(default, rename = "rule")]
    pub rules: Vec<Rule>,
    #[serde(default, rename = "corrupt")]
    pub corrupt: Vec<CorruptRule>,
}

impl FaultSchedule {
    /// Parses and validates a TOML schedule.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        let schedule: FaultSchedule = toml::from_str(text).map_err(|e| e.to_string())?;
        schedule.validate()?;
        Ok(schedule)
    }

    /// Reads a TOML schedule file.
    pub fn load(path: &std::path::Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read fault schedule {}: {e}", path.display()))?;
        Self::from_toml(&text).map_err(|e| format!("fault schedule {}: {e}", path.display()))
    }

    /// Checks every rule; errors name the rule (1-based, in file order).
    pub fn validate(&self) -> Result<(), String> {
        for (i, r) in self.rules.iter().enumerate() {
            validate_rule(r).map_err(|e| format!("rule {}: {e}", i + 1))?;
        }
        for (i, c) in self.corrupt.iter().enumerate() {
            validate_corrupt(c).map_err(|e| format!("corrupt {}: {e}", i + 1))?;
        }
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty() && self.corrupt.is_empty()
    }
}

/// The largest `oversize_head` (the head is built in memory).
const OVERSIZE_HEAD_MAX: u64 = 16 << 20;
/// The largest `gzip_bomb` (compressed on every firing; 1 GiB of zeros inflate from ~1 MB).
const GZIP_BOMB_MAX: u64 = 1 << 30;

fn validate_rule(r: &Rule) -> Result<(), String> {
    r.logs.validate()?;
    if let Some(allowed) = r.fault.only_on() {
        if !allowed.contains(&r.endpoint) {
            let names: Vec<&str> = allowed.iter().map(|e| e.as_str()).collect();
            return Err(format!(
                "fault {} only applies to endpoint {}",
                r.fault.as_str(),
                names.join(" / ")
            ));
        }
    }
    if r.fault == FaultKind::Status && !r.status.is_some_and(|s| (400..=599).contains(&s)) {
        return Err("fault status needs status = 400..=599".into());
    }
    if !r.from.is_finite() || r.from < 0.0 {
        return Err(format!("from = {} must be ≥ 0", r.from));
    }
    if let Some(until) = r.until {
        if until.is_nan() || until < r.from {
            return Err(format!("until = {until} is before from = {}", r.from));
        }
    }
    if let Some(period) = r.period {
        let len = r.until.map(|u| u - r.from);
        if !period.is_finite() || period <= 0.0 || len.is_none_or(|l| l > period) {
            return Err("period needs until, and until - from ≤ period".into());
        }
    }
    if r.every == Some(0) {
        return Err("every must be ≥ 1".into());
    }
    if r.retry_after.is_some() && r.retry_after_date.is_some() {
        return Err("give retry_after or retry_after_date, not both".into());
    }
    if r.fault == FaultKind::OversizeHead && r.bytes.is_some_and(|b| b > OVERSIZE_HEAD_MAX) {
        return Err(format!("oversize_head bytes must be ≤ {OVERSIZE_HEAD_MAX}"));
    }
    if r.fault == FaultKind::GzipBomb && r.bytes.is_some_and(|b| b > GZIP_BOMB_MAX) {
        return Err(format!("gzip_bomb bytes must be ≤ {GZIP_BOMB_MAX}"));
    }
    if r.fault == FaultKind::HeadSize && r.size.is_none() {
        return Err("fault head_size needs size".into());
    }
    if r.fault == FaultKind::RawBody && r.body.is_none() == r.body_base64.is_none() {
        return Err("fault raw_body needs body or body_base64".into());
    }
    if let Some(b64) = &r.body_base64 {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| format!("body_base64: {e}"))?;
    }
    if r.entry.is_some_and(|e| e >= 256) {
        return Err("entry must be below 256 (a position in a tile)".into());
    }
    check_probability(r.probability)?;
    if r.secs.is_some_and(|s| !s.is_finite() || s < 0.0) {
        return Err("secs must be ≥ 0".into());
    }
    Ok(())
}

fn validate_corrupt(c: &CorruptRule) -> Result<(), String> {
    c.logs.validate()?;
    if c.every == Some(0) {
        return Err("every must be ≥ 1".into());
    }
    if c.every.is_none() && c.probability.is_none() {
        return Err("give every (with offset) or probability".into());
    }
    if c.every.is_some_and(|n| c.offset >= n) {
        return Err("offset must be below every".into());
    }
    check_probability(c.probability)
}

fn check_probability(p: Option<f64>) -> Result<(), String> {
    match p {
        Some(p) if !(0.0..=1.0).contains(&p) => Err(format!("probability {p} is not in 0..=1")),
        _ => Ok(()),
    }
}

/// What the routes do with a request hit by a fault.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Action {
    /// Answer with this status (and `Retry-After` seconds).
    Status {
        code: u16,
        retry_after: Option<u64>,
    },
    /// Hold the connection without answering for this long, then close it.
    Hang {
        secs: f64,
    },
    /// Send the head and half the body, then reset the connection.
    Reset,
    /// Send the head and half the body, then close cleanly.
    Truncate,
    /// Send the response one byte at a time.
    Trickle {
        delay_ms: u64,
    },
    InvalidJson,
    InvalidBase64,
    ShortPage {
        max_entries: u64,
    },
    EmptyPage,
    StaleHead {
        back: usize,
    },
    Vanish,
    /// Answer with this status and `Retry-After` as the HTTP-date of `date_secs`.
    StatusRetryAt {
        code: u16,
        date_secs: u64,
    },
    /// Send the honest response in this transport shape.
    Shape(Shape),
    // ---- Poller scenarios ----
    HeadSize {
        size: u64,
    },
    BadSignature {
        size: Option<u64>,
    },
    WrongOrigin,
    RateLimitDate {
        secs: u64,
    },
    OversizedPage {
        extra: u64,
    },
    /// The body of rule `rule` ([`Injector::rule_body`]).
    RawBody {
        rule: usize,
    },
    BadGzip,
    GarbageTile,
    ShortTile {
        max_entries: u64,
    },
    TileJunk,
    BadLeafIndex {
        entry: usize,
        leaf_index: Option<u64>,
    },
    WrongTile,
    /// Send the whole honest body under a Content-Length `extra` bytes larger, then close.
    OverstatedLength {
        extra: u64,
    },
}

/// How an honest response is framed or broken on the wire (the transport-shape faults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Chunked,
    CloseDelimited,
    Continue,
    Close,
    IdleClose,
    TruncateChunked,
    OversizeHead { bytes: u64 },
    OversizeBody { bytes: u64 },
    GzipBomb { bytes: u64 },
}

impl Rule {
    fn action(&self, rule: usize) -> Action {
        match self.fault {
            FaultKind::RateLimit | FaultKind::Status if self.retry_after_date.is_some() => {
                Action::StatusRetryAt {
                    code: if self.fault == FaultKind::RateLimit {
                        429
                    } else {
                        self.status.unwrap_or(500)
                    },
                    date_secs: self.retry_after_date.unwrap_or(0),
                }
            }
            FaultKind::RateLimit => Action::Status {
                code: 429,
                retry_after: self.retry_after,
            },
            FaultKind::Status => Action::Status {
                code: self.status.unwrap_or(500),
                retry_after: self.retry_after,
            },
            FaultKind::NotFound => Action::Status {
                code: 404,
                retry_after: None,
            },
            FaultKind::Hang => Action::Hang {
                secs: self.secs.unwrap_or(600.0),
            },
            FaultKind::Reset => Action::Reset,
            FaultKind::Truncate => Action::Truncate,
            FaultKind::Trickle => Action::Trickle {
                delay_ms: self.delay_ms.unwrap_or(20),
            },
            FaultKind::InvalidJson => Action::InvalidJson,
            FaultKind::InvalidBase64 => Action::InvalidBase64,
            FaultKind::ShortPage => Action::ShortPage {
                max_entries: self.max_entries.unwrap_or(1).max(1),
            },
            FaultKind::EmptyPage => Action::EmptyPage,
            FaultKind::StaleHead => Action::StaleHead {
                back: self.back.unwrap_or(10).max(1),
            },
            FaultKind::Vanish => Action::Vanish,
            FaultKind::Chunked => Action::Shape(Shape::Chunked),
            FaultKind::CloseDelimited => Action::Shape(Shape::CloseDelimited),
            FaultKind::Continue => Action::Shape(Shape::Continue),
            FaultKind::Close => Action::Shape(Shape::Close),
            FaultKind::IdleClose => Action::Shape(Shape::IdleClose),
            FaultKind::TruncateChunked => Action::Shape(Shape::TruncateChunked),
            FaultKind::OversizeHead => Action::Shape(Shape::OversizeHead {
                bytes: self.bytes.unwrap_or(128 * 1024),
            }),
            FaultKind::OversizeBody => Action::Shape(Shape::OversizeBody {
                bytes: self.bytes.unwrap_or(1 << 30),
            }),
            FaultKind::GzipBomb => Action::Shape(Shape::GzipBomb {
                bytes: self.bytes.unwrap_or(1 << 20),
            }),
            FaultKind::HeadSize => Action::HeadSize {
                size: self.size.unwrap_or(0),
            },
            FaultKind::BadSignature => Action::BadSignature { size: self.size },
            FaultKind::WrongOrigin => Action::WrongOrigin,
            FaultKind::RateLimitDate => Action::RateLimitDate {
                secs: self.retry_after.unwrap_or(1),
            },
            FaultKind::OversizedPage => Action::OversizedPage {
                extra: self.extra.unwrap_or(4).max(1),
            },
            FaultKind::RawBody => Action::RawBody { rule },
            FaultKind::BadGzip => Action::BadGzip,
            FaultKind::GarbageTile => Action::GarbageTile,
            FaultKind::ShortTile => Action::ShortTile {
                max_entries: self.max_entries.unwrap_or(1).max(1),
            },
            FaultKind::TileJunk => Action::TileJunk,
            FaultKind::BadLeafIndex => Action::BadLeafIndex {
                entry: self.entry.unwrap_or(0),
                leaf_index: self.leaf_index,
            },
            FaultKind::WrongTile => Action::WrongTile,
            FaultKind::OverstatedLength => Action::OverstatedLength {
                extra: self.extra.unwrap_or(50).max(1),
            },
        }
    }

    /// Whether the rule's `path` (if any) selects `path` (below the log's prefix).
    fn selects_path(&self, path: &str) -> bool {
        match self.path.as_deref() {
            None => true,
            Some(p) => match p.strip_suffix('*') {
                Some(prefix) => path.starts_with(prefix),
                None => path == p,
            },
        }
    }

    /// Whether `t` seconds since start lies in the rule's (possibly repeating) window.
    fn active_at(&self, t: f64) -> bool {
        if t < self.from {
            return false;
        }
        let until = self.until.unwrap_or(f64::INFINITY);
        match self.period {
            Some(period) => (t - self.from) % period < until - self.from,
            None => t < until,
        }
    }
}

/// Per-rule counters of one running simulator.
pub struct Injector {
    schedule: FaultSchedule,
    seed: u64,
    /// Set when the simulator starts serving; the clock of the rule windows.
    started: OnceLock<Instant>,
    /// Matching requests seen in the window, per rule.
    seen: Vec<AtomicU64>,
    /// Faults injected, per rule.
    fired: Vec<AtomicU64>,
    /// Entries corrupted (sequenced), per corruption rule.
    corrupted: Vec<AtomicU64>,
}

/// How often one rule fired, for `/sim/state` and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleCount {
    /// 0-based position in the schedule.
    pub rule: usize,
    pub fault: &'static str,
    pub endpoint: &'static str,
    pub logs: String,
    pub fired: u64,
}

/// How many entries one corruption rule broke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorruptCount {
    pub rule: usize,
    pub kind: &'static str,
    pub logs: String,
    pub entries: u64,
}

impl Injector {
    pub fn new(schedule: FaultSchedule, sim_seed: u64) -> Self {
        let counters = |n: usize| (0..n).map(|_| AtomicU64::new(0)).collect();
        Injector {
            seed: schedule.seed.unwrap_or(sim_seed),
            seen: counters(schedule.rules.len()),
            fired: counters(schedule.rules.len()),
            corrupted: counters(schedule.corrupt.len()),
            schedule,
            started: OnceLock::new(),
        }
    }

    /// Starts the clock of the rule windows (once; later calls do nothing).
    pub fn start_clock(&self) {
        let _ = self.started.set(Instant::now());
    }

    /// The fault to inject into a request for `endpoint` of log `log` (`None` for the log
    /// list), counting it; `None` when no rule fires.
    pub fn on_request(&self, log: Option<(usize, LogType)>, endpoint: Endpoint) -> Option<Action> {
        self.on_path(log, endpoint, None).map(|(_, action)| action)
    }

    /// [`Injector::on_request`] for a request of `path` (below the log's prefix; `None` for the
    /// log list, which rules with a `path` never select), also naming the rule that fired.
    pub fn on_path(
        &self,
        log: Option<(usize, LogType)>,
        endpoint: Endpoint,
        path: Option<&str>,
    ) -> Option<(usize, Action)> {
        if self.schedule.rules.is_empty() {
            return None;
        }
        let t = self.elapsed_secs();
        for (i, rule) in self.schedule.rules.iter().enumerate() {
            let log_matches = log.is_none_or(|(idx, kind)| rule.logs.matches(idx, kind));
            let path_matches = match path {
                Some(p) => rule.selects_path(p),
                None => rule.path.is_none(),
            };
            if rule.fault == FaultKind::Vanish
                || !log_matches
                || !path_matches
                || !rule.endpoint.covers(endpoint)
                || !rule.active_at(t)
            {
                continue;
            }
            if self.fires(i, rule) {
                return Some((i, rule.action(i)));
            }
        }
        None
    }

    /// The body of `raw_body` rule `rule` (`body`, or `body_base64` decoded).
    pub fn rule_body(&self, rule: usize) -> Vec<u8> {
        use base64::Engine as _;
        let Some(r) = self.schedule.rules.get(rule) else {
            return Vec::new();
        };
        match (&r.body, &r.body_base64) {
            (Some(text), _) => text.as_bytes().to_vec(),
            (None, Some(b64)) => base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap_or_default(),
            (None, None) => Vec::new(),
        }
    }

    /// The logs to leave out of a log list served now (counting one firing per rule that
    /// left any out).
    pub fn vanished(&self, logs: &[(usize, LogType)]) -> HashSet<usize> {
        let t = self.elapsed_secs();
        let mut gone = HashSet::new();
        for (i, rule) in self.schedule.rules.iter().enumerate() {
            if rule.fault != FaultKind::Vanish || !rule.active_at(t) || !self.fires(i, rule) {
                continue;
            }
            gone.extend(
                logs.iter()
                    .filter(|(idx, kind)| rule.logs.matches(*idx, *kind))
                    .map(|(idx, _)| *idx),
            );
        }
        gone
    }

    /// Whether any rule hides logs from the log list (which then changes while it runs).
    pub fn has_vanish_rules(&self) -> bool {
        self.schedule
            .rules
            .iter()
            .any(|r| r.fault == FaultKind::Vanish)
    }

    /// Counts one matching request of rule `i` and decides (deterministically) whether it is hit.
    fn fires(&self, i: usize, rule: &Rule) -> bool {
        let n = self.seen[i].fetch_add(1, Ordering::Relaxed) + 1;
        if rule.every.is_some_and(|every| !n.is_multiple_of(every)) {
            return false;
        }
        if let Some(p) = rule.probability {
            if !SplitMix::from_words(&[self.seed, 0xfa17, i as u64, n]).chance(p) {
                return false;
            }
        }
        let fired = self.fired[i].fetch_add(1, Ordering::Relaxed);
        if rule.limit.is_some_and(|limit| fired >= limit) {
            self.fired[i].fetch_sub(1, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// The corruption of entry `index` of log `log`, if any (pure: the same answer every time).
    pub fn corruption(
        &self,
        log: usize,
        kind: LogType,
        index: u64,
    ) -> Option<(usize, CorruptKind)> {
        self.schedule
            .corrupt
            .iter()
            .enumerate()
            .find(|(i, c)| {
                c.kind.applies_to(kind)
                    && c.logs.matches(log, kind)
                    && c.every.is_none_or(|n| index % n == c.offset)
                    && c.probability.is_none_or(|p| {
                        SplitMix::from_words(&[self.seed, 0xc0bb, *i as u64, log as u64, index])
                            .chance(p)
                    })
            })
            .map(|(i, c)| (i, c.kind))
    }

    /// Counts one sequenced entry broken by corruption rule `rule`.
    pub fn count_corrupted(&self, rule: usize) {
        if let Some(c) = self.corrupted.get(rule) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn rule_counts(&self) -> Vec<RuleCount> {
        self.schedule
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| RuleCount {
                rule: i,
                fault: r.fault.as_str(),
                endpoint: r.endpoint.as_str(),
                logs: r.logs.describe(),
                fired: self.fired[i].load(Ordering::Relaxed),
            })
            .collect()
    }

    pub fn corrupt_counts(&self) -> Vec<CorruptCount> {
        self.schedule
            .corrupt
            .iter()
            .enumerate()
            .map(|(i, c)| CorruptCount {
                rule: i,
                kind: c.kind.as_str(),
                logs: c.logs.describe(),
                entries: self.corrupted[i].load(Ordering::Relaxed),
            })
            .collect()
    }

    /// Seconds since the simulator started serving (the clock of the rule windows).
    pub fn elapsed_secs(&self) -> f64 {
        self.started
            .get()
            .map_or(0.0, |t| t.elapsed().as_secs_f64())
    }
}

// ---- The broken bytes ------------------------------------------------------------------------

/// A "certificate" that is not DER at all (does not start with a SEQUENCE), unique per entry so
/// that leaf hashes stay distinct.
pub fn undecodable_cert(log: usize, index: u64) -> Vec<u8> {
    format!("ctlog-sim: corrupted certificate, log {log} index {index}").into_bytes()
}

/// A MerkleTreeLeaf (v1, timestamped_entry, x509_entry) whose certificate length claims more
/// bytes than follow.
pub fn garbage_leaf_input(timestamp_ms: u64, index: u64) -> Vec<u8> {
    let mut out = vec![0, 0];
    out.extend_from_slice(&timestamp_ms.to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&[0x00, 0x10, 0x00]); // 4096 bytes announced ...
    out.extend_from_slice(&index.to_be_bytes()); // ... 8 present
    out
}

/// An `extra_data` whose certificate chain length claims more bytes than follow.
pub fn broken_extra_data() -> Vec<u8> {
    vec![0x00, 0x10, 0x00, 0x30, 0x82]
}

/// Base64 text made invalid by a character outside the alphabet.
pub fn break_base64(text: &mut String) {
    text.insert(text.len() / 2, '*');
}

/// The origin a `wrong_origin` checkpoint is signed for.
pub const FOREIGN_ORIGIN: &str = "other.example/log";

/// A `bad_gzip` body: starts like gzip, is not.
pub const NOT_GZIP: &[u8] = b"\x1f\x8b definitely not gzip";

/// The first `entries` leaves of a raw data tile (`None` if it does not parse or is shorter).
pub fn cut_tile(raw: &[u8], entries: usize) -> Option<Vec<u8>> {
    let bounds = super::fixtures::tile_leaf_bounds(raw)?;
    let end = match entries {
        0 => 0,
        n => bounds.get(n - 1)?.1,
    };
    Some(raw[..end].to_vec())
}

/// A raw data tile whose leaf at position `entry` claims `leaf_index` in its `leaf_index`
/// extension (`None` if the tile does not parse or that leaf has no such extension).
pub fn with_leaf_index(raw: &[u8], entry: usize, leaf_index: u64) -> Option<Vec<u8>> {
    let (ext_end, _) = *super::fixtures::tile_leaf_bounds(raw)?.get(entry)?;
    // The extensions end the TimestampedEntry: u16 length 8, then type 0 (leaf_index),
    // u16 length 5, uint40.
    if ext_end < 10 || raw[ext_end - 10..ext_end - 5] != [0, 8, 0, 0, 5] || leaf_index >> 40 != 0 {
        return None;
    }
    let mut out = raw.to_vec();
    out[ext_end - 5..ext_end].copy_from_slice(&leaf_index.to_be_bytes()[3..]);
    Some(out)
}

/// A 200 body of `endpoint` that does not parse.
pub fn invalid_body(endpoint: Endpoint) -> &'static [u8] {
    match endpoint {
        Endpoint::Entries => br#"{"entries":[{"leaf_input":"AAAA","extra_da"#,
        Endpoint::Sth => br#"{"tree_size":12,"timestamp":"#,
        Endpoint::Loglist => br#"{"version":"1.0","operators":[{"#,
        Endpoint::Checkpoint => b"<html><body>503 Service Unavailable</body></html>\n",
        _ => b"\x1f\x8b\x08\x00 this is not a tile\n",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(toml_text: &str) -> Rule {
        let s = FaultSchedule::from_toml(toml_text).unwrap();
        s.rules[0].clone()
    }

    #[test]
    fn schedules_parse_and_bad_ones_name_the_rule() {
        let s = FaultSchedule::from_toml(
            r#"
            seed = 3
            [[rule]]
            logs = [0, 2]
            endpoint = "entries"
            from = 1.5
            until = 4
            every = 3
            fault = "status"
            status = 503
            retry_after = 1
            [[corrupt]]
            logs = "rfc6962"
            kind = "garbage_leaf"
            every = 10
            offset = 3
            "#,
        )
        .unwrap();
        assert_eq!(s.rules[0].logs, LogSelector::Indices(vec![0, 2]));
        assert_eq!(s.corrupt[0].kind, CorruptKind::GarbageLeaf);
        let bad = [
            (
                "[[rule]]\nendpoint = \"tile\"\nfault = \"empty_page\"\n",
                "entries",
            ),
            (
                "[[rule]]\nendpoint = \"sth\"\nfault = \"status\"\n",
                "status",
            ),
            (
                "[[rule]]\nendpoint = \"sth\"\nfault = \"hang\"\nwhen = 3\n",
                "when",
            ),
            (
                "[[rule]]\nendpoint = \"sth\"\nfault = \"hang\"\nlogs = \"some\"\n",
                "some",
            ),
            (
                "[[rule]]\nendpoint = \"sth\"\nfault = \"hang\"\nperiod = 5\n",
                "period",
            ),
            ("[[corrupt]]\nkind = \"garbage_leaf\"\n", "every"),
        ];
        for (text, word) in bad {
            let err = FaultSchedule::from_toml(text).unwrap_err();
            assert!(err.contains(word), "{text}: {err}");
        }
        let err = FaultSchedule::from_toml("[[rule]]\nendpoint = \"sth\"\nfault = \"reset\"\n[[rule]]\nendpoint = \"sth\"\nfault = \"status\"\n").unwrap_err();
        assert!(err.starts_with("rule 2"), "{err}");
    }

    #[test]
    fn windows_repeat_with_a_period() {
        let r = rule(
            "[[rule]]\nendpoint = \"sth\"\nfault = \"reset\"\nfrom = 10\nuntil = 12\nperiod = 5\n",
        );
        let active: Vec<bool> = [9.9, 10.0, 11.9, 12.0, 14.9, 15.0, 16.5, 17.1, 1000.5]
            .iter()
            .map(|&t| r.active_at(t))
            .collect();
        assert_eq!(
            active,
            [false, true, true, false, false, true, true, false, true]
        );
        let once = rule("[[rule]]\nendpoint = \"sth\"\nfault = \"reset\"\nfrom = 1\nuntil = 2\n");
        assert!(once.active_at(1.5) && !once.active_at(2.0) && !once.active_at(0.5));
    }

    #[test]
    fn every_and_limit_are_deterministic() {
        let s = FaultSchedule::from_toml(
            "[[rule]]\nlogs = \"static\"\nendpoint = \"data\"\nevery = 3\nlimit = 2\nfault = \"reset\"\n",
        )
        .unwrap();
        let inj = Injector::new(s, 1);
        inj.start_clock();
        let hits: Vec<bool> = (0..12)
            .map(|_| {
                inj.on_request(Some((1, LogType::Static)), Endpoint::Tile)
                    .is_some()
            })
            .collect();
        let expect: Vec<bool> = (1..=12).map(|n| n == 3 || n == 6).collect();
        assert_eq!(hits, expect);
        assert_eq!(inj.rule_counts()[0].fired, 2);
        assert!(
            inj.on_request(Some((0, LogType::Rfc6962)), Endpoint::Entries)
                .is_none(),
            "an RFC 6962 log is not selected by \"static\""
        );
        assert!(inj
            .on_request(Some((1, LogType::Static)), Endpoint::Issuer)
            .is_none());
    }

    #[test]
    fn probability_is_reproducible() {
        let text = "[[rule]]\nendpoint = \"any\"\nprobability = 0.3\nfault = \"reset\"\n";
        let run = || {
            let inj = Injector::new(FaultSchedule::from_toml(text).unwrap(), 9);
            (0..200)
                .map(|_| inj.on_request(None, Endpoint::Loglist).is_some())
                .collect::<Vec<bool>>()
        };
        let a = run();
        assert_eq!(a, run());
        let hits = a.iter().filter(|&&h| h).count();
        assert!((30..90).contains(&hits), "{hits} of 200 at p = 0.3");
    }

    #[test]
    fn corruption_is_pure_and_respects_log_kinds() {
        let s = FaultSchedule::from_toml(
            "[[corrupt]]\nkind = \"garbage_leaf\"\nevery = 10\noffset = 3\n[[corrupt]]\nlogs = [1]\nkind = \"undecodable_cert\"\nevery = 7\n",
        )
        .unwrap();
        let inj = Injector::new(s, 1);
        let rfc: Vec<u64> = (0..40)
            .filter(|&i| inj.corruption(0, LogType::Rfc6962, i).is_some())
            .collect();
        assert_eq!(rfc, vec![3, 13, 23, 33]);
        let st: Vec<(u64, CorruptKind)> = (0..20)
            .filter_map(|i| inj.corruption(1, LogType::Static, i).map(|(_, k)| (i, k)))
            .collect();
        assert_eq!(
            st,
            vec![
                (0, CorruptKind::UndecodableCert),
                (7, CorruptKind::UndecodableCert),
                (14, CorruptKind::UndecodableCert)
            ],
            "garbage_leaf is not applied to a static log"
        );
    }

    #[test]
    fn the_sample_schedules_are_valid() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("faults");
        for name in ["soak.toml", "e2e.toml"] {
            let s = FaultSchedule::load(&dir.join(name)).unwrap();
            assert!(!s.rules.is_empty() && !s.corrupt.is_empty(), "{name}");
        }
    }

    #[test]
    fn poller_scenario_rules_validate_and_select_paths() {
        for (text, word) in [
            (
                "[[rule]]\nendpoint = \"sth\"\nfault = \"head_size\"\n",
                "size",
            ),
            (
                "[[rule]]\nendpoint = \"any\"\nfault = \"raw_body\"\n",
                "body",
            ),
            (
                "[[rule]]\nendpoint = \"entries\"\nfault = \"wrong_tile\"\n",
                "tile",
            ),
            (
                "[[rule]]\nendpoint = \"tile\"\nfault = \"bad_leaf_index\"\nentry = 256\n",
                "entry",
            ),
        ] {
            let err = FaultSchedule::from_toml(text).unwrap_err();
            assert!(err.contains(word), "{text}: {err}");
        }
        let s = FaultSchedule::from_toml(
            "[[rule]]\nendpoint = \"tile\"\npath = \"tile/data/001.p/*\"\nfault = \"not_found\"\n[[rule]]\nendpoint = \"tile\"\npath = \"tile/data/002\"\nfault = \"reset\"\n",
        )
        .unwrap();
        let inj = Injector::new(s, 1);
        let log = Some((1, LogType::Static));
        let hit = |path: &str| inj.on_path(log, Endpoint::Tile, Some(path)).map(|(i, _)| i);
        assert_eq!(hit("tile/data/001.p/44"), Some(0));
        assert_eq!(hit("tile/data/001"), None);
        assert_eq!(hit("tile/data/002"), Some(1));
        assert_eq!(hit("tile/data/002.p/5"), None, "an exact path");
        assert!(
            inj.on_request(log, Endpoint::Tile).is_none(),
            "a rule with a path never hits a request without one"
        );
    }

    #[test]
    fn vanish_selects_logs_only_in_its_window() {
        let s = FaultSchedule::from_toml(
            "[[rule]]\nlogs = [1]\nendpoint = \"loglist\"\nfault = \"vanish\"\n",
        )
        .unwrap();
        let inj = Injector::new(s, 1);
        let logs = [(0, LogType::Rfc6962), (1, LogType::Static)];
        assert_eq!(inj.vanished(&logs), HashSet::from([1]));
        assert!(
            inj.on_request(None, Endpoint::Loglist).is_none(),
            "vanish never answers the request itself"
        );
        assert_eq!(inj.rule_counts()[0].fired, 1);
    }
}
