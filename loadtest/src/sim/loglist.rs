//! Log lists v3 the simulator serves: Google-shaped (Chrome's `log_list.json`) at
//! `/log_list.json` and Apple-shaped (`current_log_list.json`: the same schema plus
//! `assetVersion`, `assetVersionV2` and a `version` in each state) at
//! `/apple/current_log_list.json`. RFC 6962 logs go under `operators[].logs[]`, static-ct-api
//! logs under `operators[].tiled_logs[]`. Which logs each list has, and in which state, is
//! [`ListContent`] (every log, usable, unless a test says otherwise with
//! [`super::SimHandle::set_list`]).

use base64::{engine::general_purpose::STANDARD, Engine};
use serde_json::{json, Value};

use super::{log::Log, log_type::LogType};

/// Which of the two lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    /// Google-shaped, `/log_list.json`.
    Google,
    /// Apple-shaped, `/apple/current_log_list.json`.
    Apple,
}

/// A log's state in a served list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListedState {
    Pending,
    Qualified,
    Usable,
    Retired,
    Rejected,
}

impl ListedState {
    fn key(self) -> &'static str {
        match self {
            ListedState::Pending => "pending",
            ListedState::Qualified => "qualified",
            ListedState::Usable => "usable",
            ListedState::Retired => "retired",
            ListedState::Rejected => "rejected",
        }
    }
}

/// What a list serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListContent {
    /// Every log, usable (minus what a `vanish` rule hides).
    Every,
    /// These logs (by index) in these states (minus what a `vanish` rule hides).
    Only(Vec<(usize, ListedState)>),
    /// The list answers 503.
    Unavailable,
}

impl ListContent {
    /// The state `log` is listed in, or `None` when the list leaves it out.
    pub fn state_of(&self, log: usize) -> Option<ListedState> {
        match self {
            ListContent::Every => Some(ListedState::Usable),
            ListContent::Only(logs) => logs.iter().find(|(i, _)| *i == log).map(|(_, s)| *s),
            ListContent::Unavailable => None,
        }
    }
}

/// Builds the Google-shaped list of `logs`, every one usable, each under the base URL `base`
/// gives it (`http://127.0.0.1:P` or `https://127.0.0.1:Q`).
pub fn build<'a, 'b>(
    logs: impl IntoIterator<Item = &'a Log>,
    base: impl Fn(&Log) -> &'b str,
    now_secs: i64,
) -> String {
    let usable = logs.into_iter().map(|l| (l, ListedState::Usable));
    build_shaped(ListKind::Google, usable, base, now_secs)
}

/// Builds the list `kind` of `logs`, each in its state, each under the base URL `base` gives it.
pub fn build_shaped<'a, 'b>(
    kind: ListKind,
    logs: impl IntoIterator<Item = (&'a Log, ListedState)>,
    base: impl Fn(&Log) -> &'b str,
    now_secs: i64,
) -> String {
    let since = rfc3339(now_secs - 30 * 86_400);
    let interval = json!({
        "start_inclusive": rfc3339(now_secs - 365 * 86_400),
        "end_exclusive": rfc3339(now_secs + 2 * 365 * 86_400),
    });
    let mut rfc = Vec::new();
    let mut tiled = Vec::new();
    for (log, state) in logs {
        let base = base(log);
        let m = &log.meta;
        let mut entered = json!({"timestamp": since});
        if kind == ListKind::Apple {
            entered["version"] = json!("7");
        }
        let mut entry = json!({
            "description": format!("ctlog-sim '{}' {} log", m.name, m.kind.as_str()),
            "log_id": STANDARD.encode(m.log_id),
            "key": STANDARD.encode(&m.spki),
            "mmd": if m.kind == LogType::Rfc6962 { 86_400 } else { 60 },
            "state": {state.key(): entered},
            "temporal_interval": interval,
        });
        let obj = entry.as_object_mut().expect("json! object");
        match m.kind {
            LogType::Rfc6962 => {
                obj.insert("url".into(), Value::String(format!("{base}{}", m.path)));
                rfc.push(entry);
            }
            LogType::Static => {
                let sub = m.submission_path.as_deref().unwrap_or(&m.path);
                obj.insert(
                    "submission_url".into(),
                    Value::String(format!("{base}{sub}")),
                );
                obj.insert(
                    "monitoring_url".into(),
                    Value::String(format!("{base}{}", m.path)),
                );
                if kind == ListKind::Apple {
                    obj.insert("tls_only".into(), Value::Bool(false));
                }
                tiled.push(entry);
            }
        }
    }
    let operators = json!([
        {"name": "ctlog-sim RFC 6962", "email": ["sim@example.invalid"], "logs": rfc, "tiled_logs": []},
        {"name": "ctlog-sim Static CT", "email": ["sim@example.invalid"], "logs": [], "tiled_logs": tiled},
    ]);
    let list = match kind {
        ListKind::Google => json!({
            "version": "1.0",
            "log_list_timestamp": rfc3339(now_secs),
            "operators": operators,
        }),
        ListKind::Apple => json!({
            "$schema": "https://valid.apple.com/ct/log_list/schema_versions/log_list_schema_v5.json",
            "assetVersion": 1,
            "assetVersionV2": 1,
            "version": "7",
            "operators": operators,
        }),
    };
    serde_json::to_string_pretty(&list).unwrap_or_default()
}

/// `YYYY-MM-DDTHH:MM:SSZ` from Unix seconds.
pub fn rfc3339(secs: i64) -> String {
    let t = super::certgen::x509_time(secs);
    // x509_time yields UTCTime (YYMMDDHHMMSSZ) for 1950..2049 and GeneralizedTime otherwise.
    let s = String::from_utf8_lossy(&t[2..]).into_owned();
    let (year, rest) = if s.len() == 13 {
        let yy: i64 = s[..2].parse().unwrap_or(0);
        (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &s[2..])
    } else {
        (s[..4].parse().unwrap_or(0), &s[4..])
    };
    format!(
        "{year:04}-{}-{}T{}:{}:{}Z",
        &rest[0..2],
        &rest[2..4],
        &rest[4..6],
        &rest[6..8],
        &rest[8..10]
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339_formats() {
        assert_eq!(super::rfc3339(1_768_913_650), "2026-01-20T12:54:10Z");
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
    }
}
