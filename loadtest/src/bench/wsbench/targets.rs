//! What the gap check measures against. [`fetch_targets`] reads the simulator's `/sim/state`
//! into one [`GapTarget`] per log (final tree size, entries that must not arrive);
//! [`fetch_server_skips`] reads a server's own report of skipped entries (certstream:
//! `/health/deep`). The controller reads both; [`super::aggregate`] compares the clients'
//! tracks with them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};

use super::config::GapCheckConfig;
use crate::bench::tracker::canonical_url;

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
pub(super) type Targets = Arc<Vec<GapTarget>>;

/// The targets with the skip lists read again after the clients stopped: entries corrupted
/// past the targets explain gaps the clients saw after the window. The sizes stay as they were.
pub(super) fn with_latest_skips(targets: Targets, gap: &GapCheckConfig) -> Targets {
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
pub(super) fn add_skips(targets: &mut [GapTarget], extra: &[(String, u64)]) {
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
    let (code, body) = crate::bench::http::get(state_url, Duration::from_secs(10))?;
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
    let (code, body) = crate::bench::http::get(url, Duration::from_secs(10))?;
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn server_skip_reports_are_parsed() {
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
        assert!(parse_server_skips(br#"{"logs":[{"url":"u"}]}"#).is_err());
        assert!(
            parse_server_skips(br#"{"logs":[{"url":"u","entries_skipped":0}]}"#).is_err(),
            "skipped_recent is required"
        );
    }
}
