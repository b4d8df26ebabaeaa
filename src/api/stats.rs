//! The `/api/stats` and `/api/logs` documents, rendered from every core's snapshot.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{unix_secs, IndexFacts, Rates, StoreFacts};
use crate::{
    frame::StreamKind,
    limits,
    metrics::{CoreSnapshot, FetchErrorKind, LogSnapshot, ProcessFacts, SkippedEntry},
    replay::store::Held,
    ws::{CloseReason, DropReason},
};

// ---- /api/stats ---------------------------------------------------------------------------------

#[derive(Serialize, Default, Clone, Copy)]
struct PerStream {
    total: u64,
    lite: u64,
    full: u64,
    domains: u64,
}

#[derive(Serialize)]
struct Clients {
    total: u64,
    by_stream: PerStream,
    /// Today only `websocket`; another transport adds its own key.
    by_protocol: BTreeMap<&'static str, PerStream>,
}

#[derive(Serialize)]
struct RatesOut {
    window_seconds: f64,
    certificates_per_second: f64,
    messages_per_second: f64,
    bytes_per_second: f64,
}

#[derive(Serialize)]
struct Totals {
    certificates: u64,
    messages_sent: u64,
    bytes_sent: u64,
}

#[derive(Serialize)]
struct Drops {
    ring_batches: u64,
    ring_certificates: u64,
    client_queue_messages: u64,
    clients_closed_slow: u64,
    store_pages_not_stored: u64,
}

#[derive(Serialize)]
struct Resume {
    replays_started: u64,
    replays_active: u64,
    replayed_messages: u64,
    holes: u64,
    gaps: u64,
}

#[derive(Serialize)]
struct StoreLogOut<'a> {
    url: &'a str,
    bytes: u64,
    segments: usize,
    first_index: Option<u64>,
    next_index: Option<u64>,
    oldest_seen: Option<f64>,
    corrupt_ranges: usize,
}

#[derive(Serialize)]
struct StoreOut<'a> {
    logs: usize,
    bytes: u64,
    segments: usize,
    oldest_seen: Option<f64>,
    window_seconds: Option<f64>,
    per_log: Vec<StoreLogOut<'a>>,
}

#[derive(Serialize)]
struct CertIndexOut {
    capacity_per_core: u64,
    entries_per_core: Vec<u64>,
}

#[derive(Serialize)]
struct Stats<'a> {
    uptime_seconds: f64,
    cores: usize,
    clients: Clients,
    rates: RatesOut,
    totals: Totals,
    drops: Drops,
    resume: Resume,
    store: Option<StoreOut<'a>>,
    cert_index: Option<CertIndexOut>,
}

/// `/api/stats`: uptime, clients per stream and protocol, rates, totals, drops, resume, the
/// replay store's size and window, the certificate index.
pub fn stats_json(snaps: &[CoreSnapshot], facts: ProcessFacts) -> String {
    let mut ws = crate::ws::WsMetricsSnapshot::default();
    for s in snaps {
        ws.merge(&s.ws);
    }
    let websocket = PerStream {
        total: ws.clients_total(),
        lite: ws.clients(StreamKind::Lite),
        full: ws.clients(StreamKind::Full),
        domains: ws.clients(StreamKind::Domains),
    };
    let stats = Stats {
        uptime_seconds: facts.uptime_secs,
        cores: snaps.len(),
        clients: Clients {
            total: websocket.total,
            by_stream: websocket,
            by_protocol: BTreeMap::from([("websocket", websocket)]),
        },
        rates: rates(snaps),
        totals: Totals {
            certificates: all_logs(snaps).map(|l| l.entries).sum(),
            messages_sent: ws.frames_sent,
            bytes_sent: ws.bytes_written,
        },
        drops: Drops {
            ring_batches: snaps.iter().map(|s| s.ring_drops).sum(),
            ring_certificates: snaps.iter().map(|s| s.ring_dropped_frames).sum(),
            client_queue_messages: ws.dropped(DropReason::ClientQueueFull),
            clients_closed_slow: ws.closed(CloseReason::Lagging)
                + ws.closed(CloseReason::HistoryOverrun)
                + ws.closed(CloseReason::WriteStalled),
            store_pages_not_stored: store_facts(snaps).map(|f| f.pages_not_stored).sum(),
        },
        resume: Resume {
            replays_started: ws.resume[0],
            replays_active: ws.resume[1],
            replayed_messages: ws.resume[2],
            holes: ws.resume[3],
            gaps: ws.resume[4],
        },
        store: store_out(snaps, facts.now_ms),
        cert_index: cert_index_out(snaps),
    };
    sonic_rs::to_string(&stats).unwrap_or_else(|_| "{}".to_owned())
}

fn all_logs(snaps: &[CoreSnapshot]) -> impl Iterator<Item = &LogSnapshot> {
    snaps.iter().flat_map(|s| s.logs.iter())
}

fn store_facts(snaps: &[CoreSnapshot]) -> impl Iterator<Item = &StoreFacts> {
    snaps.iter().filter_map(|s| s.api.store.as_ref())
}

fn rates(snaps: &[CoreSnapshot]) -> RatesOut {
    let mut sum = Rates::default();
    for s in snaps {
        sum.certificates += s.api.rates.certificates;
        sum.messages += s.api.rates.messages;
        sum.bytes += s.api.rates.bytes;
    }
    RatesOut {
        window_seconds: (limits::METRICS_SNAPSHOT_INTERVAL
            * limits::API_RATE_WINDOW_SAMPLES as u32)
            .as_secs_f64(),
        certificates_per_second: sum.certificates,
        messages_per_second: sum.messages,
        bytes_per_second: sum.bytes,
    }
}

fn store_out(snaps: &[CoreSnapshot], now_ms: u64) -> Option<StoreOut<'_>> {
    // No core keeps a store: no section.
    store_facts(snaps).next()?;
    let mut per_log: Vec<StoreLogOut> = store_facts(snaps)
        .flat_map(|f| f.logs.iter())
        .map(|l| StoreLogOut {
            url: &l.url,
            bytes: l.held.bytes,
            segments: l.held.segments,
            first_index: l.held.first_index,
            next_index: l.held.next_index,
            oldest_seen: l.held.oldest_seen_us.map(unix_secs),
            corrupt_ranges: l.held.corrupt.len(),
        })
        .collect();
    per_log.sort_by(|a, b| a.url.cmp(b.url));
    let oldest_us = store_facts(snaps)
        .flat_map(|f| f.logs.iter())
        .filter_map(|l| l.held.oldest_seen_us)
        .min();
    Some(StoreOut {
        logs: per_log.len(),
        bytes: per_log.iter().map(|l| l.bytes).sum(),
        segments: per_log.iter().map(|l| l.segments).sum(),
        oldest_seen: oldest_us.map(unix_secs),
        window_seconds: oldest_us
            .map(|us| (now_ms.saturating_mul(1000)).saturating_sub(us) as f64 / 1e6),
        per_log,
    })
}

fn cert_index_out(snaps: &[CoreSnapshot]) -> Option<CertIndexOut> {
    let facts: Vec<IndexFacts> = snaps.iter().filter_map(|s| s.api.cert_index).collect();
    let capacity_per_core = facts.first()?.capacity;
    Some(CertIndexOut {
        capacity_per_core,
        entries_per_core: facts.iter().map(|f| f.entries).collect(),
    })
}

// ---- /api/logs ----------------------------------------------------------------------------------

/// A log's health in `/api/logs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    Healthy,
    Degraded,
    Unhealthy,
}

/// Healthy: it has a verified tree head and its oldest unstreamed entry is public for at most
/// [`limits::LOG_DEGRADED_LAG`]. Degraded: behind by more than that, or still waiting for its
/// first head during [`limits::LOG_FIRST_HEAD_GRACE`] after the start. Unhealthy: behind by
/// more than [`limits::LOG_UNHEALTHY_LAG`], or no head after the grace. The reason says which
/// (`null` when healthy).
pub fn log_health(log: &LogSnapshot, facts: &ProcessFacts) -> (Health, Option<&'static str>) {
    if log.head_timestamp_ms == 0 {
        let grace = limits::LOG_FIRST_HEAD_GRACE.as_secs_f64();
        let health = if facts.uptime_secs < grace {
            Health::Degraded
        } else {
            Health::Unhealthy
        };
        return (health, Some("no_tree_head"));
    }
    let lag = log.lag_seconds(facts.now_ms);
    if lag > limits::LOG_UNHEALTHY_LAG.as_secs_f64() {
        (Health::Unhealthy, Some("lagging"))
    } else if lag > limits::LOG_DEGRADED_LAG.as_secs_f64() {
        (Health::Degraded, Some("lagging"))
    } else {
        (Health::Healthy, None)
    }
}

#[derive(Serialize, Default)]
struct Counts {
    healthy: u64,
    degraded: u64,
    unhealthy: u64,
}

#[derive(Serialize)]
struct CorruptRange {
    first: u64,
    end: u64,
}

#[derive(Serialize)]
struct StoreHeld {
    first_index: Option<u64>,
    next_index: Option<u64>,
    oldest_seen: Option<f64>,
    bytes: u64,
    segments: usize,
    corrupt: Vec<CorruptRange>,
}

#[derive(Serialize)]
struct LogOut<'a> {
    name: &'a str,
    url: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    health: Health,
    reason: Option<&'static str>,
    state: &'static str,
    tree_size: u64,
    cursor: u64,
    lag_entries: u64,
    lag_seconds: f64,
    head_age_seconds: Option<f64>,
    fetches: u64,
    errors: BTreeMap<&'static str, u64>,
    entries: u64,
    entries_skipped: u64,
    skipped_recent: &'a [SkippedEntry],
    store: Option<StoreHeld>,
}

#[derive(Serialize)]
struct Logs<'a> {
    uptime_seconds: f64,
    counts: Counts,
    logs: Vec<LogOut<'a>>,
}

/// `/api/logs`: every log's health, position, lag, errors and skips (what `/health/deep`
/// shows), with the replay store's held range and damaged ranges, sorted by URL, and the
/// number of logs in each health.
pub fn logs_json(snaps: &[CoreSnapshot], facts: ProcessFacts) -> String {
    let held: BTreeMap<[u8; 32], &Held> = store_facts(snaps)
        .flat_map(|f| f.logs.iter())
        .map(|l| (l.log_id, &l.held))
        .collect();
    let mut counts = Counts::default();
    let mut logs: Vec<LogOut> = all_logs(snaps)
        .map(|l| {
            let out = log_out(l, &facts, held.get(&l.log_id).copied());
            match out.health {
                Health::Healthy => counts.healthy += 1,
                Health::Degraded => counts.degraded += 1,
                Health::Unhealthy => counts.unhealthy += 1,
            }
            out
        })
        .collect();
    logs.sort_by(|a, b| a.url.cmp(b.url));
    let doc = Logs {
        uptime_seconds: facts.uptime_secs,
        counts,
        logs,
    };
    sonic_rs::to_string(&doc).unwrap_or_else(|_| "{}".to_owned())
}

fn log_out<'a>(l: &'a LogSnapshot, facts: &ProcessFacts, held: Option<&Held>) -> LogOut<'a> {
    let (health, reason) = log_health(l, facts);
    LogOut {
        name: &l.name,
        url: &l.url,
        kind: l.kind,
        health,
        reason,
        state: l.state(),
        tree_size: l.tree_size,
        cursor: l.cursor,
        lag_entries: l.lag_entries(),
        lag_seconds: l.lag_seconds(facts.now_ms),
        head_age_seconds: l.head_age_seconds(facts.now_ms),
        fetches: l.fetches,
        errors: FetchErrorKind::ALL
            .iter()
            .map(|&k| (k.label(), l.errors[k as usize]))
            .collect(),
        entries: l.entries,
        entries_skipped: l.entries_skipped,
        skipped_recent: &l.skipped_recent,
        store: held.map(|h| StoreHeld {
            first_index: h.first_index,
            next_index: h.next_index,
            oldest_seen: h.oldest_seen_us.map(unix_secs),
            bytes: h.bytes,
            segments: h.segments,
            corrupt: h
                .corrupt
                .iter()
                .map(|r| CorruptRange {
                    first: r.start,
                    end: r.end,
                })
                .collect(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use sonic_rs::{JsonContainerTrait, JsonValueTrait, Value};

    use super::*;
    use crate::api::{CoreApi, StoreLog};

    const NOW_MS: u64 = 1_800_000_000_000;

    fn facts(uptime_secs: f64) -> ProcessFacts {
        ProcessFacts {
            uptime_secs,
            rss_bytes: 0,
            now_ms: NOW_MS,
        }
    }

    /// A log id for tests: the URL's first 32 bytes.
    fn id_of(url: &str) -> [u8; 32] {
        let mut id = [0u8; 32];
        let n = url.len().min(32);
        id[..n].copy_from_slice(&url.as_bytes()[..n]);
        id
    }

    fn log(url: &str, head_ms: u64, tree: u64, cursor: u64, pending_since_ms: u64) -> LogSnapshot {
        LogSnapshot {
            log_id: id_of(url),
            url: url.to_owned(),
            name: format!("{url} name"),
            kind: "rfc6962",
            started: true,
            tree_size: tree,
            cursor,
            head_timestamp_ms: head_ms,
            fetches: 3,
            errors: [1, 0, 2, 0, 0],
            entries: cursor,
            entries_skipped: 0,
            skipped_recent: Vec::new(),
            pacing_ms: 0,
            pending_since_ms,
            lists: Vec::new(),
        }
    }

    #[test]
    fn log_health_follows_head_and_lag() {
        let f = facts(3600.0);
        let caught_up = log("a", NOW_MS - 5_000, 10, 10, 0);
        let behind = |secs: u64| log("b", NOW_MS, 20, 10, NOW_MS - secs * 1000);
        let no_head = log("c", 0, 0, 0, 0);
        assert_eq!(log_health(&caught_up, &f), (Health::Healthy, None));
        assert_eq!(log_health(&behind(30), &f), (Health::Healthy, None));
        assert_eq!(
            log_health(&behind(120), &f),
            (Health::Degraded, Some("lagging"))
        );
        assert_eq!(
            log_health(&behind(3600), &f),
            (Health::Unhealthy, Some("lagging"))
        );
        assert_eq!(
            log_health(&no_head, &facts(5.0)),
            (Health::Degraded, Some("no_tree_head"))
        );
        assert_eq!(
            log_health(&no_head, &f),
            (Health::Unhealthy, Some("no_tree_head"))
        );
    }

    fn snapshots() -> Vec<CoreSnapshot> {
        let mut core0 = CoreSnapshot {
            core: 0,
            logs: vec![log(
                "https://b.example/",
                NOW_MS,
                20,
                10,
                NOW_MS - 3_600_000,
            )],
            ring_drops: 1,
            ring_dropped_frames: 7,
            ..CoreSnapshot::default()
        };
        core0.ws.clients_connected = [2, 1, 0];
        core0.ws.frames_sent = 100;
        core0.api.rates = Rates {
            certificates: 1.5,
            messages: 10.0,
            bytes: 1000.0,
        };
        let held = Held {
            first_index: Some(3),
            next_index: Some(10),
            oldest_seen_us: Some(NOW_MS * 1000 - 60_000_000),
            bytes: 4096,
            segments: 2,
            corrupt: vec![std::ops::Range { start: 5, end: 7 }],
        };
        core0.api.store = Some(StoreFacts {
            logs: vec![StoreLog {
                log_id: id_of("https://b.example/"),
                url: "https://b.example/".to_owned(),
                held,
            }],
            pages_not_stored: 2,
        });
        core0.api.cert_index = Some(IndexFacts {
            entries: 10,
            capacity: 100,
        });
        let mut core1 = CoreSnapshot {
            core: 1,
            logs: vec![log("https://a.example/", NOW_MS, 10, 10, 0)],
            ..CoreSnapshot::default()
        };
        core1.ws.clients_connected = [0, 0, 3];
        core1.api.rates.messages = 5.0;
        core1.api.store = Some(StoreFacts::default());
        core1.api.cert_index = Some(IndexFacts {
            entries: 9,
            capacity: 100,
        });
        vec![core0, core1]
    }

    #[test]
    fn stats_sum_every_core_in_the_documented_shape() {
        let v: Value = sonic_rs::from_str(&stats_json(&snapshots(), facts(12.5))).unwrap();
        assert_eq!(v["uptime_seconds"].as_f64(), Some(12.5));
        assert_eq!(v["cores"].as_u64(), Some(2));
        let clients = &v["clients"];
        assert_eq!(clients["total"].as_u64(), Some(6));
        for by in [&clients["by_stream"], &clients["by_protocol"]["websocket"]] {
            assert_eq!(
                ["total", "lite", "full", "domains"].map(|k| by[k].as_u64()),
                [Some(6), Some(2), Some(1), Some(3)]
            );
        }
        assert_eq!(clients["by_protocol"].as_object().unwrap().len(), 1);
        assert_eq!(v["rates"]["messages_per_second"].as_f64(), Some(15.0));
        assert_eq!(v["rates"]["certificates_per_second"].as_f64(), Some(1.5));
        assert_eq!(v["rates"]["bytes_per_second"].as_f64(), Some(1000.0));
        assert_eq!(v["totals"]["certificates"].as_u64(), Some(20));
        assert_eq!(v["totals"]["messages_sent"].as_u64(), Some(100));
        assert_eq!(v["drops"]["ring_certificates"].as_u64(), Some(7));
        assert_eq!(v["drops"]["store_pages_not_stored"].as_u64(), Some(2));
        let store = &v["store"];
        assert_eq!(store["bytes"].as_u64(), Some(4096));
        assert_eq!(store["window_seconds"].as_f64(), Some(60.0));
        assert_eq!(store["per_log"][0]["first_index"].as_u64(), Some(3));
        assert_eq!(store["per_log"][0]["next_index"].as_u64(), Some(10));
        assert_eq!(store["per_log"][0]["corrupt_ranges"].as_u64(), Some(1));
        assert_eq!(
            v["cert_index"]["entries_per_core"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        for key in ["resume", "drops", "totals"] {
            assert!(v[key].is_object(), "{key}");
        }
    }

    #[test]
    fn without_a_store_its_sections_are_null() {
        let mut snaps = snapshots();
        for s in &mut snaps {
            s.api = CoreApi::default();
        }
        let v: Value = sonic_rs::from_str(&stats_json(&snaps, facts(1.0))).unwrap();
        assert!(v["store"].is_null() && v["cert_index"].is_null());
        assert_eq!(v["rates"]["messages_per_second"].as_f64(), Some(0.0));
    }

    #[test]
    fn logs_list_health_counts_and_store_ranges_sorted_by_url() {
        let v: Value = sonic_rs::from_str(&logs_json(&snapshots(), facts(3600.0))).unwrap();
        assert_eq!(
            ["healthy", "degraded", "unhealthy"].map(|k| v["counts"][k].as_u64()),
            [Some(1), Some(0), Some(1)]
        );
        let logs = v["logs"].as_array().unwrap();
        assert_eq!(logs[0]["url"].as_str(), Some("https://a.example/"));
        assert_eq!(logs[0]["health"].as_str(), Some("healthy"));
        assert!(logs[0]["reason"].is_null() && logs[0]["store"].is_null());
        assert_eq!(logs[0]["state"].as_str(), Some("caught_up"));
        let b = &logs[1];
        assert_eq!(b["health"].as_str(), Some("unhealthy"));
        assert_eq!(b["reason"].as_str(), Some("lagging"));
        assert_eq!(b["state"].as_str(), Some("catching_up"));
        assert_eq!(b["lag_entries"].as_u64(), Some(10));
        assert_eq!(b["errors"]["network"].as_u64(), Some(1));
        assert_eq!(b["errors"]["http_status"].as_u64(), Some(2));
        assert_eq!(b["store"]["first_index"].as_u64(), Some(3));
        assert_eq!(b["store"]["corrupt"][0]["first"].as_u64(), Some(5));
        assert_eq!(b["store"]["corrupt"][0]["end"].as_u64(), Some(7));
    }
}
