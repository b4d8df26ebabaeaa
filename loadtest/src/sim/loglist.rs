//! Log list v3 (same schema as Chrome's `log_list.json`): RFC 6962 logs under
//! `operators[].logs[]`, static-ct-api logs under `operators[].tiled_logs[]`.

use base64::{engine::general_purpose::STANDARD, Engine};
use serde_json::{json, Value};

use super::{log::Log, log_type::LogType};

/// Builds the list of `logs`, each under the base URL `base` gives it (`http://127.0.0.1:P`
/// or `https://127.0.0.1:Q`).
pub fn build<'a, 'b>(
    logs: impl IntoIterator<Item = &'a Log>,
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
    for log in logs {
        let base = base(log);
        let m = &log.meta;
        let mut entry = json!({
            "description": format!("ctlog-sim '{}' {} log", m.name, m.kind.as_str()),
            "log_id": STANDARD.encode(m.log_id),
            "key": STANDARD.encode(&m.spki),
            "mmd": if m.kind == LogType::Rfc6962 { 86_400 } else { 60 },
            "state": {"usable": {"timestamp": since}},
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
                tiled.push(entry);
            }
        }
    }
    let list = json!({
        "version": "1.0",
        "log_list_timestamp": rfc3339(now_secs),
        "operators": [
            {"name": "ctlog-sim RFC 6962", "email": ["sim@example.invalid"], "logs": rfc, "tiled_logs": []},
            {"name": "ctlog-sim Static CT", "email": ["sim@example.invalid"], "logs": [], "tiled_logs": tiled},
        ],
    });
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
