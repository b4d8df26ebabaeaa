//! The Google CT log list v3 (`log_list.json`): which logs exist, their keys, URLs and states.
//!
//! ```text
//! { "version", "operators": [ { "name", "logs": [Log], "tiled_logs": [TiledLog] } ] }
//! Log:      description, log_id, key, url,                            mmd, state
//! TiledLog: description, log_id, key, submission_url, monitoring_url, mmd, state
//! state:    exactly one of pending | qualified | usable | readonly{final_tree_head} |
//!           retired | rejected, each with a timestamp
//! ```
//!
//! # Invariants worth naming
//!
//! - One bad log never costs the whole list: each log is decoded on its own, and a log that
//!   cannot be used (bad key, `log_id` ≠ SHA-256(key), missing URL, duplicate) is left out with
//!   a reason in [`LogList::skipped`]. Only a body that is not a log list at all, or one that
//!   yields no log, is an error: replacing a working list with an empty one must not happen.
//! - Operators without `logs` or `tiled_logs` (older lists, CaliDog's crash of 2025-05) are
//!   fine; logs without `state` (test logs in `all_logs_list.json`) are [`LogState::Unknown`]
//!   and not polled.
//! - Every listed log appears once: logs are deduplicated by `log_id`, first listing wins.

use std::{borrow::Cow, collections::HashSet, fmt};

use base64::Engine as _;
use serde::{de::IgnoredAny, Deserialize};
use sonic_rs::{JsonValueTrait as _, LazyValue};

use super::error::{DecodeFailure, DecodeKind};
use super::sig::LogKey;

/// The log list compiled into the binary: Chrome's v3 list, version 81.14 (2026-01-20). Used
/// when no fresher list can be fetched.
pub const EMBEDDED_LOG_LIST: &[u8] = include_bytes!("log_list_v3.json");

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
    #[serde(borrow, default)]
    version: Option<Cow<'a, str>>,
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
fn log_state(state: Option<&RawState>) -> Result<LogState, String> {
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
            .ok_or("readonly state without final_tree_head")?;
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
fn check_url(url: &str, field: &str) -> Result<String, String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(rest) if !rest.is_empty() && !rest.starts_with('/') => Ok(url.to_string()),
        _ => Err(format!("{field} {url:?} is not an http(s) URL")),
    }
}

/// Loads the key and checks the listed log_id against it.
fn log_key(raw: &RawLog<'_>) -> Result<LogKey, String> {
    let key_b64 = raw.key.as_deref().ok_or("no key")?;
    let key = LogKey::from_base64(key_b64).map_err(|e| format!("bad key: {e}"))?;
    let listed = raw.log_id.as_deref().ok_or("no log_id")?;
    let listed = base64::engine::general_purpose::STANDARD
        .decode(listed)
        .map_err(|_| "log_id is not base64".to_string())?;
    if listed != key.log_id() {
        return Err("log_id is not SHA-256 of the key".to_string());
    }
    Ok(key)
}

/// Decodes one log entry of the list, or says why it cannot be used.
fn log_info(raw: &RawLog<'_>, kind: LogKind, operator: &str) -> Result<LogInfo, String> {
    let key = log_key(raw)?;
    let (url, submission_url) = match kind {
        LogKind::Rfc6962 => (check_url(raw.url.as_deref().ok_or("no url")?, "url")?, None),
        LogKind::StaticCt => {
            let mon = raw.monitoring_url.as_deref().ok_or("no monitoring_url")?;
            let sub = raw.submission_url.as_deref().ok_or("no submission_url")?;
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
            .map_err(|e| format!("not a log object: {e}"))
            .and_then(|raw| log_info(&raw, kind, operator));
        match decoded {
            Ok(info) if !self.seen.insert(info.log_id) => {
                let label = log_label(lazy, kind, operator, position);
                self.skipped.push(format!("{label}: duplicate log_id"));
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
    let version = raw.version.as_deref().unwrap_or("").to_string();
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
}
