//! Workers' state → [`WsBenchReport`]. [`merge`] sums the workers' counters and histograms,
//! turns each reading client's per-log tracks into loss figures ([`merge_client`]: gaps over
//! expected skips are excused), and, with a gap check, compares every client with the
//! simulator's targets ([`gap_client`]) and the server's skip report with the expected skips
//! ([`check_server_report`]). Pure: no I/O, no clocks.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::config::WsBenchConfig;
use super::control::{Control, Timing};
use super::report::{GapLog, GapReport, MsSummary, ServerSkipCheck, WsBenchReport};
use super::state::{find_id, new_histogram, ClientState, WorkerShared};
use super::targets::{GapTarget, ServerSkips};
use super::worker::WorkerResult;
use crate::bench::limits::ERRORS_KEPT_MAX;
use crate::bench::tracker::LogTrack;

/// The report of a run from the controller's timing and every worker's state.
pub(super) fn merge(
    cfg: &WsBenchConfig,
    ctl: &Control,
    t: Timing,
    results: Vec<WorkerResult>,
) -> WsBenchReport {
    let mut lat = new_histogram();
    let mut conn = new_histogram();
    let mut rep = WsBenchReport {
        url: cfg.url.clone(),
        clients: cfg.clients,
        slow: cfg.slow,
        threads: cfg.threads,
        connected: ctl.connected.load(Ordering::Acquire),
        connect_failed: ctl.failed.load(Ordering::Acquire),
        connect_all_ms: t.connect_all.as_secs_f64() * 1000.0,
        warmup_s: cfg.warmup.as_secs_f64(),
        duration_s: t.window.as_secs_f64(),
        ..Default::default()
    };
    let mut cpu = Duration::ZERO;
    let mut gap = t
        .gap_targets
        .as_ref()
        .map(|targets| new_gap_report(targets, t.drain));
    for w in &results {
        let sh = &w.shared;
        let _ = lat.add(&sh.latency_us);
        let _ = conn.add(&sh.connect_us);
        add_worker_counters(&mut rep, sh);
        cpu += w.cpu_window;
        let skips = skips_by_id(sh, t.gap_targets.as_ref().map(|t| &t[..]));
        for st in &w.clients {
            merge_client(&mut rep, st, &skips);
            if let (Some(g), Some(targets)) = (gap.as_mut(), t.gap_targets.as_ref()) {
                gap_client(g, targets, sh, st);
            }
        }
    }
    if let (Some(g), Some(targets)) = (gap.as_mut(), t.gap_targets.as_ref()) {
        finish_gap_report(g, targets, t.server_report.as_ref());
    }
    let secs = t.window.as_secs_f64().max(1e-9);
    rep.delivered_msgs_per_s = rep.delivered_msgs as f64 / secs;
    rep.bytes_per_s = rep.bytes as f64 / secs;
    rep.latency_ms = MsSummary::from_us(&lat);
    rep.connect_ms = MsSummary::from_us(&conn);
    rep.cpu_pct = cpu.as_secs_f64() / secs * 100.0;
    rep.gap_check = gap;
    rep
}

/// Adds one worker's message counters and first errors to the report.
fn add_worker_counters(rep: &mut WsBenchReport, sh: &WorkerShared) {
    rep.delivered_msgs += sh.delivered;
    rep.bytes += sh.bytes;
    rep.heartbeats += sh.heartbeats;
    rep.other_msgs += sh.other;
    rep.latency_negative += sh.negative;
    rep.loss.malformed_messages += sh.malformed;
    rep.loss.untracked_messages += sh.untracked;
    rep.errors_total += sh.errors_total;
    for e in &sh.errors {
        if rep.errors.len() < ERRORS_KEPT_MAX {
            rep.errors.push(e.clone());
        }
    }
}

/// Compares the server's skip report (when one was read) and gives the verdict: complete when
/// every checked client got every log whole and the server's report matched.
fn finish_gap_report(
    g: &mut GapReport,
    targets: &[GapTarget],
    server_report: Option<&Result<HashMap<String, ServerSkips>, String>>,
) {
    match server_report {
        Some(Ok(report)) => check_server_report(g, targets, report),
        Some(Err(e)) => g.server_report_unavailable = Some(e.clone()),
        None => {}
    }
    g.complete = g.logs.iter().all(|l| {
        l.clients_complete == l.clients_checked
            && l.missing == 0
            && l.repeated == 0
            && l.out_of_order == 0
            && l.delivered_but_skip_expected == 0
            && l.server.as_ref().is_none_or(ServerSkipCheck::clean)
    });
}

/// The expected skips of each log a worker interned, by interned id (empty without a gap check).
fn skips_by_id<'a>(sh: &WorkerShared, targets: Option<&'a [GapTarget]>) -> Vec<&'a [u64]> {
    (0..sh.interner.len() as u32)
        .map(|id| {
            targets
                .and_then(|ts| ts.iter().find(|t| t.url == sh.interner.name(id)))
                .map_or(&[][..], |t| &t.skips[..])
        })
        .collect()
}

fn merge_client(rep: &mut WsBenchReport, st: &ClientState, skips: &[&[u64]]) {
    if st.slow {
        if st.connected {
            rep.slow_clients.connected += 1;
            if st.ended.is_some() {
                rep.slow_clients.closed_by_server += 1;
            }
        }
        return;
    }
    if !st.connected {
        return;
    }
    rep.loss.reading_clients += 1;
    if st.ended.is_some() {
        rep.loss.clients_disconnected += 1;
    }
    let mut missing = 0;
    for (id, track) in st.logs.iter().enumerate() {
        let Some(t) = track else { continue };
        let excused = t.skips_in_gaps(skips.get(id).copied().unwrap_or(&[]));
        missing += t.missing - excused;
        rep.loss.skipped_expected_total += excused;
        rep.loss.repeated_total += t.repeated;
        rep.loss.out_of_order_total += t.out_of_order;
    }
    if missing > 0 {
        rep.loss.clients_with_loss += 1;
    }
    rep.loss.missing_total += missing;
}

fn new_gap_report(targets: &[GapTarget], drain: Duration) -> GapReport {
    GapReport {
        logs: targets
            .iter()
            .map(|t| GapLog {
                url: t.url.clone(),
                target: t.size,
                ..Default::default()
            })
            .collect(),
        complete: false,
        drain_s: drain.as_secs_f64(),
        server_report_unavailable: None,
    }
}

fn gap_client(g: &mut GapReport, targets: &[GapTarget], sh: &WorkerShared, st: &ClientState) {
    if st.slow || !st.connected {
        return;
    }
    for (log, target) in g.logs.iter_mut().zip(targets) {
        log.clients_checked += 1;
        let explicit = sh.starts.get(&target.url).copied();
        let seen =
            find_id(&sh.interner, &target.url).and_then(|id| st.logs.get(id as usize)?.clone());
        let track = match (seen, explicit) {
            (Some(t), _) => t,
            (None, Some(s)) => LogTrack::new(Some(s)),
            (None, None) => {
                log.clients_never_seen += 1;
                continue;
            }
        };
        let v = track.verdict(target.size, &target.skips);
        log.missing += v.missing;
        log.repeated += v.repeated;
        log.out_of_order += v.out_of_order;
        log.delivered_but_skip_expected += v.delivered_but_skip_expected;
        log.start_min = match (log.start_min, track.start) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if v.clean() {
            log.clients_complete += 1;
        }
    }
    for (log, target) in g.logs.iter_mut().zip(targets) {
        let from = log.start_min.unwrap_or(target.size);
        log.skips_expected = target
            .skips
            .iter()
            .filter(|&&s| s >= from && s < target.size)
            .count() as u64;
    }
}

/// Compares the server's skip report with the expected skips of each checked log: every listed
/// index must be an expected skip, and every expected skip in `[start_min, target)` must be
/// listed, unless the list is full and the skip is older than everything in it.
fn check_server_report(
    g: &mut GapReport,
    targets: &[GapTarget],
    report: &HashMap<String, ServerSkips>,
) {
    for (log, target) in g.logs.iter_mut().zip(targets) {
        let Some(server) = report.get(&target.url) else {
            continue;
        };
        let truncated = server.count > server.recent.len() as u64;
        let oldest_listed = server.recent.first().copied().unwrap_or(u64::MAX);
        let from = log.start_min.unwrap_or(target.size);
        let unreported = target
            .skips
            .iter()
            .filter(|&&s| s >= from && s < target.size)
            .filter(|&&s| !truncated || s >= oldest_listed)
            .filter(|s| server.recent.binary_search(s).is_err())
            .copied()
            .collect();
        let unexpected = server
            .recent
            .iter()
            .filter(|s| target.skips.binary_search(s).is_err())
            .copied()
            .collect();
        log.server = Some(ServerSkipCheck {
            skipped_count: server.count,
            listed: server.recent.len(),
            unreported,
            unexpected,
        });
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::state::End;
    use super::super::targets::parse_server_skips;
    use super::*;

    #[test]
    fn server_skip_reports_are_checked_against_expected_skips() {
        let body = br#"{"status":"ok","logs":[{"url":"http://h/a/","entries_skipped":3,
            "skipped_recent":[{"index":9,"reason":"x"},{"index":4,"reason":"y"}]}]}"#;
        let report = parse_server_skips(body).unwrap();
        let targets = vec![GapTarget {
            url: "http://h/a".into(),
            size: 20,
            skips: vec![1, 4, 12],
        }];
        let mut g = new_gap_report(&targets, Duration::ZERO);
        g.logs[0].start_min = Some(0);
        check_server_report(&mut g, &targets, &report);
        let check = g.logs[0].server.clone().unwrap();
        // The list is truncated (3 skipped, 2 listed): 1 is older than it, so not required.
        assert_eq!(check.unreported, vec![12]);
        assert_eq!(check.unexpected, vec![9]);
        assert!(!check.clean());
    }

    /// A worker whose one reading client saw `indexes` of log `http://h/a`.
    fn worker_with(indexes: &[u64]) -> (WorkerShared, ClientState) {
        let mut sh = WorkerShared::new(Arc::new(HashMap::new()));
        let mut st = ClientState {
            connected: true,
            ..Default::default()
        };
        let id = sh.log_id(b"http://h/a").expect("interned");
        for &i in indexes {
            st.track(id, None).on_index(i);
        }
        (sh, st)
    }

    fn target(size: u64, skips: Vec<u64>) -> Vec<GapTarget> {
        vec![GapTarget {
            url: "http://h/a".into(),
            size,
            skips,
        }]
    }

    #[test]
    fn gaps_over_expected_skips_are_excused() {
        let (sh, st) = worker_with(&[0, 1, 3, 5]);
        let targets = target(6, vec![2]);
        let mut rep = WsBenchReport::default();
        merge_client(&mut rep, &st, &skips_by_id(&sh, Some(&targets)));
        assert_eq!(rep.loss.reading_clients, 1);
        assert_eq!(
            (rep.loss.missing_total, rep.loss.skipped_expected_total),
            (1, 1),
            "2 is excused, 4 is lost"
        );
        assert_eq!(rep.loss.clients_with_loss, 1);

        let mut g = new_gap_report(&targets, Duration::ZERO);
        gap_client(&mut g, &targets, &sh, &st);
        finish_gap_report(&mut g, &targets, None);
        let log = &g.logs[0];
        assert_eq!((log.clients_checked, log.clients_complete), (1, 0));
        assert_eq!(
            (log.missing, log.skips_expected, log.start_min),
            (1, 1, Some(0))
        );
        assert!(!g.complete);
    }

    #[test]
    fn a_whole_log_is_complete_unless_the_server_report_disagrees() {
        let (sh, st) = worker_with(&[0, 1, 3]);
        let targets = target(4, vec![2]);
        let mut g = new_gap_report(&targets, Duration::ZERO);
        gap_client(&mut g, &targets, &sh, &st);
        let mut clean = g.clone();
        finish_gap_report(&mut clean, &targets, None);
        assert!(clean.complete, "{clean:?}");

        let unavailable = Err("HTTP 404".to_string());
        let mut noted = g.clone();
        finish_gap_report(&mut noted, &targets, Some(&unavailable));
        assert!(noted.complete, "an unreadable report is noted, not failed");
        assert_eq!(noted.server_report_unavailable.as_deref(), Some("HTTP 404"));

        let silent = Ok(HashMap::from([(
            "http://h/a".to_string(),
            ServerSkips::default(),
        )]));
        let mut unreported = g;
        finish_gap_report(&mut unreported, &targets, Some(&silent));
        assert!(!unreported.complete, "the server did not list skip 2");
    }

    #[test]
    fn slow_and_unconnected_clients_are_not_reading_clients() {
        let mut rep = WsBenchReport::default();
        let slow_closed = ClientState {
            slow: true,
            connected: true,
            ended: Some(End::Eof),
            ..Default::default()
        };
        merge_client(&mut rep, &slow_closed, &[]);
        merge_client(&mut rep, &ClientState::default(), &[]);
        let dropped = ClientState {
            connected: true,
            ended: Some(End::ServerClose),
            ..Default::default()
        };
        merge_client(&mut rep, &dropped, &[]);
        assert_eq!(
            (
                rep.slow_clients.connected,
                rep.slow_clients.closed_by_server
            ),
            (1, 1)
        );
        assert_eq!(
            (rep.loss.reading_clients, rep.loss.clients_disconnected),
            (1, 1)
        );
    }
}
