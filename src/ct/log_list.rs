//! The CT log lists v3 (`log_list.json`): which logs exist, their keys, URLs and states.
//! Google's list and Apple's (`current_log_list.json`) share the schema; Apple's adds
//! `assetVersion`, `assetVersionV2` and a `version` in each state, which are ignored. Several
//! lists are merged by [`super::log_lists`].
//!
//! ```text
//! { "version", "operators": [ { "name", "logs": [Log], "tiled_logs": [TiledLog] } ] }
//! Log:      description, log_id, key, url,                            mmd, state
//! TiledLog: description, log_id, key, submission_url, monitoring_url, mmd, state
//! state:    exactly one of pending | qualified | usable | readonly{final_tree_head} |
//!           retired | rejected, each with a timestamp (Apple's: and a version)
//! ```
//!
//! # Invariants worth naming
//!
//! - One bad log never costs the whole list: each log is decoded on its own, and a log that
//!   cannot be used (bad key, `log_id` ≠ SHA-256(key), missing URL, duplicate) is left out with
//!   a reason in [`LogList::skipped`]. Only a body that is not a log list at all, or one that
//!   yields no log, is an error: replacing a working list with an empty one must not happen.
//! - Unknown fields are ignored, everywhere: a publisher adding one must not cost the list.
//!   What is used (key, `log_id`, URLs, state, `final_tree_head`) is checked.
//! - Operators without `logs` or `tiled_logs` (older lists, CaliDog's crash of 2025-05) are
//!   fine; logs without `state` (test logs in `all_logs_list.json`) are [`LogState::Unknown`]
//!   and not polled.
//! - Every listed log appears once: logs are deduplicated by `log_id`, first listing wins.

use std::{borrow::Cow, collections::HashSet, fmt, sync::Arc};

use base64::Engine as _;
use serde::{de::IgnoredAny, Deserialize};
use sonic_rs::{JsonValueTrait as _, LazyValue};

use super::error::{CtError, DecodeFailure, DecodeKind, ErrorSide, Retry};
use super::http::HttpError;
use super::sig::{KeyError, LogKey};

/// Google's live v3 log list (Chrome's): one of the default `--log-list` sources.
pub const GOOGLE_LOG_LIST_URL: &str = "https://www.gstatic.com/ct/log_list/v3/log_list.json";

/// Apple's live log list (Safari's): the other default `--log-list` source.
pub const APPLE_LOG_LIST_URL: &str = "https://valid.apple.com/ct/log_list/current_log_list.json";

/// Google's list compiled into the binary: Chrome's v3 list, version 81.14 (2026-01-20). Used
/// when [`GOOGLE_LOG_LIST_URL`] cannot be fetched at start.
pub const EMBEDDED_LOG_LIST: &[u8] = include_bytes!("log_list_v3.json");

/// Apple's list compiled into the binary: version 511, assetVersion 32 (2026-04-01). Used when
/// [`APPLE_LOG_LIST_URL`] cannot be fetched at start.
pub const EMBEDDED_APPLE_LOG_LIST: &[u8] = include_bytes!("apple_log_list.json");

/// The copy compiled into the binary of the list published at `source`, if there is one: only
/// the two default URLs have one (a copy of one list is no stand-in for another).
pub fn embedded_copy(source: &str) -> Option<&'static [u8]> {
    match source {
        GOOGLE_LOG_LIST_URL => Some(EMBEDDED_LOG_LIST),
        APPLE_LOG_LIST_URL => Some(EMBEDDED_APPLE_LOG_LIST),
        _ => None,
    }
}

/// Which read API a log speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogKind {
    /// RFC 6962 `get-sth` / `get-entries` (the list's `logs`).
    Rfc6962,
    /// Static CT API checkpoints and tiles (the list's `tiled_logs`).
    StaticCt,
}

/// A log's state in the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogState {
    Pending,
    Qualified,
    Usable,
    /// Frozen at `final_tree_size`: nothing past it will ever appear.
    Readonly {
        final_tree_size: u64,
    },
    Retired,
    Rejected,
    /// No (recognised) state: test and monitoring-only logs.
    Unknown,
}

/// One usable entry of the log list.
#[derive(Debug, Clone)]
pub struct LogInfo {
    pub kind: LogKind,
    pub description: String,
    /// The operator's `name`.
    pub operator: String,
    /// `SHA-256(key)`, checked against the list's `log_id`.
    pub log_id: [u8; 32],
    pub key: LogKey,
    /// RFC 6962 `url` or tiled `monitoring_url`, exactly as listed (it is printed in
    /// certstream's `source.url`).
    pub url: String,
    /// Tiled logs only: the submission prefix, which names the checkpoint origin.
    pub submission_url: Option<String>,
    /// Maximum merge delay in seconds; 0 when the list omits it.
    pub mmd_secs: u64,
    pub state: LogState,
    /// The lists (`--log-list` sources) this log is followed for (those that have it usable,
    /// qualified or readonly), in the order they were given: empty from [`parse_log_list`],
    /// filled by [`super::log_lists::merge`].
    pub lists: Vec<Arc<str>>,
}

impl LogInfo {
    /// Whether a live stream should poll this log (certspotter's `IsApproved`): usable,
    /// qualified (already receiving production submissions) and readonly.
    pub fn is_polled(&self) -> bool {
        matches!(
            self.state,
            LogState::Usable | LogState::Qualified | LogState::Readonly { .. }
        )
    }
}

/// A parsed log list.
#[derive(Debug, Clone)]
pub struct LogList {
    /// The list's `version` ("" when absent).
    pub version: String,
    pub logs: Vec<LogInfo>,
    /// One human-readable line per listed log left out, saying which and why.
    pub skipped: Vec<String>,
}

/// Why a log list body was rejected as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogListError {
    /// Not JSON, or no `operators` array.
    InvalidJson { reason: String },
    /// Parsed, but not a single log was usable (`skipped` says why for each).
    NoLogs { skipped: Vec<String> },
}

impl fmt::Display for LogListError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogListError::InvalidJson { reason } => write!(f, "log list is not valid: {reason}"),
            LogListError::NoLogs { skipped } => {
                write!(f, "log list has no usable log ({} skipped", skipped.len())?;
                if let Some(first) = skipped.first() {
                    write!(f, ", first: {first}")?;
                }
                write!(f, ")")
            }
        }
    }
}

impl std::error::Error for LogListError {}

/// Why one log of the list was left out ([`LogList::skipped`] says which, and this).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogSkip {
    /// Not a JSON object of the log schema.
    NotAnObject {
        reason: String,
    },
    /// A required field is absent.
    Missing(&'static str),
    /// The `key` does not load.
    BadKey(KeyError),
    LogIdBase64,
    /// `log_id` is not SHA-256 of the key.
    LogIdMismatch,
    /// A URL field that is not an absolute http(s) URL with a host.
    NotHttpUrl {
        field: &'static str,
        url: String,
    },
    ReadonlyWithoutFinalTreeHead,
    /// Another log of the list has the same `log_id` (the first listing wins).
    DuplicateLogId,
}

impl fmt::Display for LogSkip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogSkip::NotAnObject { reason } => write!(f, "not a log object: {reason}"),
            LogSkip::Missing(field) => write!(f, "no {field}"),
            LogSkip::BadKey(e) => write!(f, "bad key: {e}"),
            LogSkip::LogIdBase64 => write!(f, "log_id is not base64"),
            LogSkip::LogIdMismatch => write!(f, "log_id is not SHA-256 of the key"),
            LogSkip::NotHttpUrl { field, url } => {
                write!(f, "{field} {url:?} is not an http(s) URL")
            }
            LogSkip::ReadonlyWithoutFinalTreeHead => {
                write!(f, "readonly state without final_tree_head")
            }
            LogSkip::DuplicateLogId => write!(f, "duplicate log_id"),
        }
    }
}

impl std::error::Error for LogSkip {}

impl DecodeFailure for LogSkip {
    fn kind(&self) -> DecodeKind {
        match self {
            LogSkip::BadKey(e) => e.kind(),
            LogSkip::NotAnObject { .. }
            | LogSkip::Missing(_)
            | LogSkip::LogIdBase64
            | LogSkip::NotHttpUrl { .. }
            | LogSkip::ReadonlyWithoutFinalTreeHead => DecodeKind::Malformed,
            LogSkip::LogIdMismatch | LogSkip::DuplicateLogId => DecodeKind::Mismatch,
        }
    }
}

/// Why the log list could not be loaded from its source (`--log-list`: a file or a URL).
#[derive(Debug)]
pub enum ListLoadError {
    /// The configured file cannot be read.
    Read { path: String, error: std::io::Error },
    /// The configured file is not a usable list.
    File { path: String, error: LogListError },
    /// The list URL could not be fetched.
    Fetch(HttpError),
    /// The list URL answered with a status other than 200.
    Status(u16),
    /// The fetched body is not a usable list.
    Body(LogListError),
    /// The copy compiled into the binary does not parse: a build bug.
    Embedded(LogListError),
    /// A refresh from `source` failed; the list in force stays.
    RefreshFailed {
        source: String,
        error: Box<ListLoadError>,
    },
}

impl fmt::Display for ListLoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListLoadError::Read { path, error } => {
                write!(f, "cannot read log list {path}: {error}")
            }
            ListLoadError::File { path, error } => write!(f, "log list {path}: {error}"),
            ListLoadError::Fetch(e) => write!(f, "{e}"),
            ListLoadError::Status(s) => write!(f, "HTTP status {s}"),
            ListLoadError::Body(e) => write!(f, "{e}"),
            ListLoadError::Embedded(e) => write!(f, "embedded log list: {e}"),
            ListLoadError::RefreshFailed { source, error } => write!(
                f,
                "cannot fetch the log list {source} ({error}); keeping the current one"
            ),
        }
    }
}

impl std::error::Error for ListLoadError {}

/// A list file is the operator's configuration; a list fetched from a URL is its publisher's.
impl CtError for ListLoadError {
    fn side(&self) -> ErrorSide {
        match self {
            ListLoadError::Read { .. }
            | ListLoadError::File { .. }
            | ListLoadError::Embedded(_) => ErrorSide::Internal,
            ListLoadError::Fetch(e) => e.side(),
            ListLoadError::Status(_) | ListLoadError::Body(_) => ErrorSide::Upstream,
            ListLoadError::RefreshFailed { error, .. } => error.side(),
        }
    }

    fn retry(&self) -> Retry {
        match self {
            ListLoadError::Fetch(e) => e.retry(),
            ListLoadError::Status(s) if *s >= 500 => Retry::Transient,
            ListLoadError::RefreshFailed { error, .. } => error.retry(),
            ListLoadError::Read { .. }
            | ListLoadError::File { .. }
            | ListLoadError::Status(_)
            | ListLoadError::Body(_)
            | ListLoadError::Embedded(_) => Retry::Persistent,
        }
    }
}

impl DecodeFailure for LogListError {
    fn kind(&self) -> DecodeKind {
        match self {
            LogListError::InvalidJson { .. } => DecodeKind::Malformed,
            LogListError::NoLogs { .. } => DecodeKind::Mismatch,
        }
    }
}

#[derive(Deserialize)]
struct RawList<'a> {
    /// Only shown, so taken as it comes: a string in both schemas, anything else as its JSON.
    #[serde(borrow, default)]
    version: Option<LazyValue<'a>>,
    #[serde(borrow)]
    operators: Vec<RawOperator<'a>>,
}

/// Logs stay undecoded ([`LazyValue`]) here so that one malformed log is skipped on its own.
#[derive(Deserialize)]
struct RawOperator<'a> {
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    logs: Option<Vec<LazyValue<'a>>>,
    #[serde(borrow, default)]
    tiled_logs: Option<Vec<LazyValue<'a>>>,
}

#[derive(Deserialize)]
struct RawLog<'a> {
    #[serde(borrow, default)]
    description: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    log_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    key: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    url: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    submission_url: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    monitoring_url: Option<Cow<'a, str>>,
    #[serde(default)]
    mmd: Option<u64>,
    #[serde(default)]
    state: Option<RawState>,
}

#[derive(Deserialize)]
struct RawState {
    #[serde(default)]
    pending: Option<IgnoredAny>,
    #[serde(default)]
    qualified: Option<IgnoredAny>,
    #[serde(default)]
    usable: Option<IgnoredAny>,
    #[serde(default)]
    readonly: Option<RawReadonly>,
    #[serde(default)]
    retired: Option<IgnoredAny>,
    #[serde(default)]
    rejected: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct RawReadonly {
    #[serde(default)]
    final_tree_head: Option<RawFinalTreeHead>,
}

#[derive(Deserialize)]
struct RawFinalTreeHead {
    tree_size: u64,
}

/// Maps the state object. The schema allows exactly one key; should a list carry several,
/// the most final one wins (a rejected log must never be polled because it was also usable).
fn log_state(state: Option<&RawState>) -> Result<LogState, LogSkip> {
    let Some(s) = state else {
        return Ok(LogState::Unknown);
    };
    if s.rejected.is_some() {
        return Ok(LogState::Rejected);
    }
    if s.retired.is_some() {
        return Ok(LogState::Retired);
    }
    if let Some(ro) = &s.readonly {
        let fth = ro
            .final_tree_head
            .as_ref()
            .ok_or(LogSkip::ReadonlyWithoutFinalTreeHead)?;
        return Ok(LogState::Readonly {
            final_tree_size: fth.tree_size,
        });
    }
    Ok(if s.usable.is_some() {
        LogState::Usable
    } else if s.qualified.is_some() {
        LogState::Qualified
    } else if s.pending.is_some() {
        LogState::Pending
    } else {
        LogState::Unknown
    })
}

/// An absolute http(s) URL with a host; anything else cannot be fetched.
fn check_url(url: &str, field: &'static str) -> Result<String, LogSkip> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(rest) if !rest.is_empty() && !rest.starts_with('/') => Ok(url.to_string()),
        _ => Err(LogSkip::NotHttpUrl {
            field,
            url: url.to_string(),
        }),
    }
}

/// Loads the key and checks the listed log_id against it.
fn log_key(raw: &RawLog<'_>) -> Result<LogKey, LogSkip> {
    let key_b64 = raw.key.as_deref().ok_or(LogSkip::Missing("key"))?;
    let key = LogKey::from_base64(key_b64).map_err(LogSkip::BadKey)?;
    let listed = raw.log_id.as_deref().ok_or(LogSkip::Missing("log_id"))?;
    let listed = base64::engine::general_purpose::STANDARD
        .decode(listed)
        .map_err(|_| LogSkip::LogIdBase64)?;
    if listed != key.log_id() {
        return Err(LogSkip::LogIdMismatch);
    }
    Ok(key)
}

/// Decodes one log entry of the list, or says why it cannot be used.
fn log_info(raw: &RawLog<'_>, kind: LogKind, operator: &str) -> Result<LogInfo, LogSkip> {
    let key = log_key(raw)?;
    let (url, submission_url) = match kind {
        LogKind::Rfc6962 => {
            let url = raw.url.as_deref().ok_or(LogSkip::Missing("url"))?;
            (check_url(url, "url")?, None)
        }
        LogKind::StaticCt => {
            let mon = raw
                .monitoring_url
                .as_deref()
                .ok_or(LogSkip::Missing("monitoring_url"))?;
            let sub = raw
                .submission_url
                .as_deref()
                .ok_or(LogSkip::Missing("submission_url"))?;
            (
                check_url(mon, "monitoring_url")?,
                Some(check_url(sub, "submission_url")?),
            )
        }
    };
    Ok(LogInfo {
        kind,
        description: raw.description.as_deref().unwrap_or(&url).to_string(),
        operator: operator.to_string(),
        log_id: key.log_id(),
        key,
        url,
        submission_url,
        mmd_secs: raw.mmd.unwrap_or(0),
        state: log_state(raw.state.as_ref())?,
        lists: Vec::new(),
    })
}

/// A short name for a log in `skipped` messages, even when it is too broken to decode.
fn log_label(lazy: &LazyValue<'_>, kind: LogKind, operator: &str, position: usize) -> String {
    let section = match kind {
        LogKind::Rfc6962 => "logs",
        LogKind::StaticCt => "tiled_logs",
    };
    let description = sonic_rs::get_from_str(lazy.as_raw_str(), ["description"])
        .ok()
        .and_then(|d| d.as_str().map(str::to_string));
    match description {
        Some(d) => format!("{operator:?} {section}[{position}] {d:?}"),
        None => format!("{operator:?} {section}[{position}]"),
    }
}

/// Accumulates logs across operators, deduplicating by log_id.
struct Collector {
    logs: Vec<LogInfo>,
    skipped: Vec<String>,
    seen: HashSet<[u8; 32]>,
}

impl Collector {
    fn add(&mut self, lazy: &LazyValue<'_>, kind: LogKind, operator: &str, position: usize) {
        let decoded = sonic_rs::from_str::<RawLog<'_>>(lazy.as_raw_str())
            .map_err(|e| LogSkip::NotAnObject {
                reason: e.to_string(),
            })
            .and_then(|raw| log_info(&raw, kind, operator));
        match decoded {
            Ok(info) if !self.seen.insert(info.log_id) => {
                let label = log_label(lazy, kind, operator, position);
                self.skipped
                    .push(format!("{label}: {}", LogSkip::DuplicateLogId));
            }
            Ok(info) => self.logs.push(info),
            Err(reason) => {
                let label = log_label(lazy, kind, operator, position);
                self.skipped.push(format!("{label}: {reason}"));
            }
        }
    }
}

/// Parses a v3 log list (`log_list.json` or `all_logs_list.json`).
pub fn parse_log_list(body: &[u8]) -> Result<LogList, LogListError> {
    // UTF-8 first: sonic-rs 0.5 builds `&str`s for `LazyValue`s before its own (deferred)
    // UTF-8 check, which is undefined behaviour on invalid input (see rfc6962::utf8_body).
    let text = std::str::from_utf8(body).map_err(|e| LogListError::InvalidJson {
        reason: format!("not UTF-8: {e}"),
    })?;
    let raw: RawList<'_> = sonic_rs::from_str(text).map_err(|e| LogListError::InvalidJson {
        reason: e.to_string(),
    })?;
    let mut c = Collector {
        logs: Vec::new(),
        skipped: Vec::new(),
        seen: HashSet::new(),
    };
    for op in &raw.operators {
        let operator = op.name.as_deref().unwrap_or("");
        for (i, lazy) in op.logs.iter().flatten().enumerate() {
            c.add(lazy, LogKind::Rfc6962, operator, i);
        }
        for (i, lazy) in op.tiled_logs.iter().flatten().enumerate() {
            c.add(lazy, LogKind::StaticCt, operator, i);
        }
    }
    if c.logs.is_empty() {
        return Err(LogListError::NoLogs { skipped: c.skipped });
    }
    let version = raw.version.as_ref().map_or_else(String::new, |v| {
        let raw = v.as_raw_str();
        sonic_rs::from_str::<String>(raw).unwrap_or_else(|_| raw.to_owned())
    });
    Ok(LogList {
        version,
        logs: c.logs,
        skipped: c.skipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(rel: &str) -> Vec<u8> {
        crate::ct::ctdata(&format!("loglists/{rel}"))
    }

    fn count(list: &LogList, kind: LogKind, pred: impl Fn(&LogState) -> bool) -> usize {
        list.logs
            .iter()
            .filter(|l| l.kind == kind && pred(&l.state))
            .count()
    }

    #[test]
    fn embedded_list_is_the_v81_14_fixture() {
        assert_eq!(
            EMBEDDED_LOG_LIST,
            fixture("google_log_list_v3_81.14_2026-01-20.json").as_slice()
        );
    }

    #[test]
    fn v81_14_counts() {
        let list = parse_log_list(EMBEDDED_LOG_LIST).unwrap();
        assert_eq!(list.version, "81.14");
        assert!(list.skipped.is_empty(), "{:?}", list.skipped);
        // ct-protocol.md §3.1: 49 RFC 6962 logs (36 usable, 9 readonly, 4 retired), 26 tiled
        // (25 usable + TrustAsia Luoshu2027 qualified).
        assert_eq!(count(&list, LogKind::Rfc6962, |_| true), 49);
        assert_eq!(
            count(&list, LogKind::Rfc6962, |s| *s == LogState::Usable),
            36
        );
        assert_eq!(
            count(&list, LogKind::Rfc6962, |s| matches!(
                s,
                LogState::Readonly { .. }
            )),
            9
        );
        assert_eq!(
            count(&list, LogKind::Rfc6962, |s| *s == LogState::Retired),
            4
        );
        assert_eq!(count(&list, LogKind::StaticCt, |_| true), 26);
        assert_eq!(
            count(&list, LogKind::StaticCt, |s| *s == LogState::Usable),
            25
        );
        let qualified: Vec<_> = list
            .logs
            .iter()
            .filter(|l| l.state == LogState::Qualified)
            .collect();
        assert_eq!(qualified.len(), 1);
        assert!(
            qualified[0].description.contains("Luoshu2027"),
            "{}",
            qualified[0].description
        );
        assert_eq!(qualified[0].kind, LogKind::StaticCt);
        assert_eq!(
            list.logs.iter().filter(|l| l.is_polled()).count(),
            36 + 9 + 26
        );
        let operators: HashSet<&str> = list.logs.iter().map(|l| l.operator.as_str()).collect();
        assert_eq!(operators.len(), 8);
        assert!(list
            .logs
            .iter()
            .all(|l| l.mmd_secs > 0 && l.url.ends_with('/')));
    }

    #[test]
    fn v81_14_details() {
        let list = parse_log_list(EMBEDDED_LOG_LIST).unwrap();
        let argon = &list.logs[0];
        assert_eq!(argon.description, "Google 'Argon2025h2' log");
        assert_eq!(argon.operator, "Google");
        assert_eq!(argon.url, "https://ct.googleapis.com/logs/us1/argon2025h2/");
        assert_eq!(argon.mmd_secs, 86400);
        assert_eq!(argon.submission_url, None);
        let syc = list
            .logs
            .iter()
            .find(|l| l.description == "Let's Encrypt 'Sycamore2026h1'")
            .unwrap();
        assert_eq!(syc.kind, LogKind::StaticCt);
        assert_eq!(syc.url, "https://mon.sycamore.ct.letsencrypt.org/2026h1/");
        assert_eq!(
            syc.submission_url.as_deref(),
            Some("https://log.sycamore.ct.letsencrypt.org/2026h1/")
        );
        assert_eq!(syc.mmd_secs, 60);
        assert_eq!(
            base64::engine::general_purpose::STANDARD.encode(syc.log_id),
            "pcl4kl1XRheChw3YiWYLXFVki30AQPLsB2hR0YhpGfc="
        );
        assert_eq!(syc.key.log_id(), syc.log_id);
        // Readonly logs carry their frozen size; Oak2025h2's is quoted in ct-protocol.md §4.4.
        let oak = list
            .logs
            .iter()
            .find(|l| l.description.contains("Oak2025h2"))
            .unwrap();
        assert_eq!(
            oak.state,
            LogState::Readonly {
                final_tree_size: 1_958_525_022
            }
        );
    }

    /// Apple's list (schema v5): the v3 schema plus `assetVersion`, `assetVersionV2` and a
    /// `version` in each state; counts as in the fixtures' SOURCES.md.
    #[test]
    fn apple_511_parses_with_its_extra_fields_ignored() {
        assert_eq!(
            EMBEDDED_APPLE_LOG_LIST,
            fixture("apple_current_log_list_511_2026-04-01.json").as_slice()
        );
        let list = parse_log_list(EMBEDDED_APPLE_LOG_LIST).unwrap();
        assert_eq!(list.version, "511");
        assert!(list.skipped.is_empty(), "{:?}", list.skipped);
        assert_eq!(count(&list, LogKind::Rfc6962, |_| true), 135);
        assert_eq!(count(&list, LogKind::StaticCt, |_| true), 31);
        assert_eq!(
            count(&list, LogKind::Rfc6962, |s| *s == LogState::Rejected),
            102
        );
        assert_eq!(
            count(&list, LogKind::Rfc6962, |s| matches!(
                s,
                LogState::Readonly { .. }
            )),
            6
        );
        assert_eq!(
            count(&list, LogKind::StaticCt, |s| *s == LogState::Pending),
            1
        );
        assert_eq!(
            list.logs.iter().filter(|l| l.is_polled()).count(),
            27 + 6 + 24
        );
        assert!(list.logs.iter().all(|l| l.lists.is_empty()));
    }

    #[test]
    fn only_the_default_urls_have_an_embedded_copy() {
        assert_eq!(embedded_copy(GOOGLE_LOG_LIST_URL), Some(EMBEDDED_LOG_LIST));
        assert_eq!(
            embedded_copy(APPLE_LOG_LIST_URL),
            Some(EMBEDDED_APPLE_LOG_LIST)
        );
        assert_eq!(embedded_copy("https://mirror.example/log_list.json"), None);
        assert_eq!(embedded_copy("/etc/certstream/log_list.json"), None);
    }

    #[test]
    fn a_numeric_version_and_unknown_fields_are_taken() {
        let body = format!(
            r#"{{"version":7,"assetVersion":3,"extra":{{"x":[1]}},"operators":[{{"name":"A",
                "new_field":true,"logs":[{}]}}]}}"#,
            log(
                "v",
                KEY,
                LOG_ID,
                r#","state":{"usable":{"timestamp":"t","version":"9"}},"tls_only":true"#
            )
        );
        let list = parse_log_list(body.as_bytes()).unwrap();
        assert_eq!(list.version, "7");
        assert_eq!(list.logs[0].state, LogState::Usable);
        let odd = body.replacen(r#""version":7"#, r#""version":{"major":1}"#, 1);
        let list = parse_log_list(odd.as_bytes()).unwrap();
        assert_eq!(list.version, r#"{"major":1}"#);
        let escaped = body.replacen(r#""version":7"#, r#""version":"8\u0031""#, 1);
        assert_eq!(parse_log_list(escaped.as_bytes()).unwrap().version, "81");
    }

    #[test]
    fn ctgo_sample_skips_only_the_bad_key() {
        let list = parse_log_list(&fixture("ctgo_testdata_loglist3.json")).unwrap();
        assert_eq!(list.version, "9.4");
        // SOURCES.md: NO-STATE=1 (Racketeer, whose "key" is a bare EC point, not an SPKI),
        // qualified=1, readonly=1, retired=1, usable=2.
        assert_eq!(list.skipped.len(), 1, "{:?}", list.skipped);
        assert!(
            list.skipped[0].contains("Racketeer") && list.skipped[0].contains("bad key"),
            "{}",
            list.skipped[0]
        );
        let states: Vec<_> = list
            .logs
            .iter()
            .map(|l| (l.description.as_str(), l.state))
            .collect();
        assert_eq!(
            states,
            [
                (
                    "Google 'Aviator' log",
                    LogState::Readonly {
                        final_tree_size: 46466472
                    }
                ),
                ("Google 'Icarus' log", LogState::Usable),
                ("Google 'Rocketeer' log", LogState::Usable),
                ("Google 'Argon2020' log", LogState::Qualified),
                ("Bob's Dubious Log", LogState::Retired),
            ]
        );
        // "https://log.bob.io" has no trailing slash and is kept exactly as listed.
        assert_eq!(list.logs[4].url, "https://log.bob.io");
        assert_eq!(list.logs[4].operator, "Bob's CT Log Shop");
        assert!(!list.logs[4].is_polled());
        assert!(list.logs[0].is_polled() && list.logs[3].is_polled());
    }

    use crate::ct::sig::test_keys::{
        ARGON2020 as KEY, ARGON2020_LOG_ID as LOG_ID, NAVIGLI2025H2 as KEY2,
        NAVIGLI2025H2_LOG_ID as LOG_ID2,
    };

    fn log(desc: &str, key: &str, id: &str, extra: &str) -> String {
        let url = format!("https://x.example/{desc}/");
        format!(r#"{{"description":"{desc}","key":"{key}","log_id":"{id}","url":"{url}"{extra}}}"#)
    }

    #[test]
    fn robust_against_odd_operators_and_logs() {
        let body = format!(
            r#"{{"version":"1","operators":[
                {{"name":"no logs at all"}},
                {{"name":"nulls","logs":null,"tiled_logs":null}},
                {{"name":"A","logs":[
                    {good},
                    {dup},
                    {wrong_id},
                    {not_obj},
                    {bad_state},
                    {ftp},
                    {multi}
                ],"tiled_logs":[
                    {{"description":"T","key":"{KEY2}","log_id":"{LOG_ID2}",
                      "monitoring_url":"https://m.example/","mmd":60}}
                ]}}
            ]}}"#,
            good = log(
                "good",
                KEY,
                LOG_ID,
                r#","state":{"usable":{"timestamp":"2020-01-01T00:00:00Z"}}"#
            ),
            dup = log("dup", KEY, LOG_ID, ""),
            wrong_id = log("wrong_id", KEY2, LOG_ID, ""),
            not_obj = "42",
            bad_state = log(
                "bad_state",
                KEY2,
                LOG_ID2,
                r#","state":{"readonly":{"timestamp":"x"}}"#
            ),
            ftp = log("ftp", KEY2, LOG_ID2, "").replace("https://", "ftp://"),
            multi = log(
                "multi",
                KEY2,
                LOG_ID2,
                r#","state":{"usable":{},"rejected":{}}"#
            ),
        );
        let list = parse_log_list(body.as_bytes()).unwrap();
        let got: Vec<_> = list
            .logs
            .iter()
            .map(|l| (l.description.as_str(), l.state))
            .collect();
        assert_eq!(
            got,
            [("good", LogState::Usable), ("multi", LogState::Rejected)]
        );
        let reasons = list.skipped.join("\n");
        for want in [
            "\"dup\": duplicate log_id",
            "\"wrong_id\": log_id is not SHA-256 of the key",
            "logs[3]: not a log object",
            "\"bad_state\": readonly state without final_tree_head",
            "\"ftp\": url",
            "tiled_logs[0] \"T\": no submission_url",
        ] {
            assert!(reasons.contains(want), "missing {want:?} in:\n{reasons}");
        }
        assert_eq!(list.skipped.len(), 6);
    }

    #[test]
    fn whole_list_errors() {
        assert!(matches!(
            parse_log_list(b"not json"),
            Err(LogListError::InvalidJson { .. })
        ));
        assert!(matches!(
            parse_log_list(b"{\"version\":\"1\"}"),
            Err(LogListError::InvalidJson { .. })
        ));
        assert!(matches!(
            parse_log_list(b"{\"operators\":[]}"),
            Err(LogListError::NoLogs { .. })
        ));
        let only_bad = format!(
            r#"{{"operators":[{{"logs":[{}]}}]}}"#,
            log("x", KEY2, LOG_ID, "")
        );
        let err = parse_log_list(only_bad.as_bytes()).unwrap_err();
        assert!(matches!(&err, LogListError::NoLogs { skipped } if skipped.len() == 1));
        assert!(err.to_string().contains("log_id is not SHA-256"), "{err}");
    }

    #[test]
    fn load_errors_say_whose_fault_they_are() {
        let missing = read_error("/nonexistent/log_list.json");
        assert_eq!(missing.side(), ErrorSide::Internal, "a configured path");
        assert_eq!(missing.retry(), Retry::Persistent);
        let refresh = ListLoadError::RefreshFailed {
            source: "https://lists.example/log_list.json".into(),
            error: Box::new(ListLoadError::Status(503)),
        };
        assert_eq!(refresh.side(), ErrorSide::Upstream);
        assert_eq!(refresh.retry(), Retry::Transient);
        assert_eq!(
            refresh.to_string(),
            "cannot fetch the log list https://lists.example/log_list.json (HTTP status 503); \
             keeping the current one"
        );
        let garbage = ListLoadError::Body(parse_log_list(b"[").unwrap_err());
        assert_eq!(garbage.side(), ErrorSide::Upstream);
        assert_eq!(garbage.retry(), Retry::Persistent);
        assert_eq!(LogSkip::LogIdMismatch.kind(), DecodeKind::Mismatch);
        assert_eq!(
            LogSkip::BadKey(KeyError::UnsupportedCurve).kind(),
            DecodeKind::Unsupported
        );
    }

    fn read_error(path: &str) -> ListLoadError {
        ListLoadError::Read {
            path: path.into(),
            error: std::fs::read(path).unwrap_err(),
        }
    }
}
