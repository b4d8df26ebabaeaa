//! No hostile answer makes a poller spin: a log that never lets it make progress gets requests
//! at the pace of the backoff (or the poll interval, or Retry-After), never in a tight loop,
//! and a long wait does not delay stopping.
//!
//! These checks are about time by nature (requests per second while stuck): each runs the
//! poller for a fixed time and bounds the request count loosely, with a wide margin on both
//! sides (a busy loop makes thousands).

#[path = "common/poller.rs"]
mod poller;

use std::time::Duration;

use certstream::{ct::poller::PollerTiming, metrics::FetchErrorKind};
use poller::*;

/// Runs a poller of `log` (which never makes progress) for `run_for`; returns how many
/// requests went to paths under `path_prefix`, and the outcome.
fn count_requests_while_stuck(
    sim: &loadtest::sim::SimHandle,
    log: usize,
    path_prefix: &str,
    timing: PollerTiming,
    run_for: Duration,
) -> (usize, Outcome) {
    let out = drive(sim, Drive::stuck(log, run_for, timing));
    assert!(out.seen.is_empty());
    (requests_under(sim, log, path_prefix).len(), out)
}

/// A request in flight when the poller stopped reached the simulator but was never counted.
fn assert_counted_all_but_the_last(n: usize, out: &Outcome, kind: FetchErrorKind) {
    assert!(
        (n as u64 - 1..=n as u64).contains(&out.errors(kind)),
        "{n} requests; {}",
        out.counters()
    );
}

#[test]
fn no_busy_loop_on_empty_pages_forever() {
    let sim = start_sim("[[rule]]\nendpoint = \"entries\"\nfault = \"empty_page\"\n");
    let (n, out) = count_requests_while_stuck(
        &sim,
        RFC_LOG,
        ENTRIES,
        slow_timing(),
        Duration::from_millis(1500),
    );
    // Backoff from 20 ms doubling to 200 ms: about a dozen attempts in 1.5 s.
    assert!((3..=40).contains(&n), "{n} get-entries requests in 1.5 s");
    assert_counted_all_but_the_last(n, &out, FetchErrorKind::BadResponse);
}

#[test]
fn no_busy_loop_on_429_with_zero_retry_after_forever() {
    let sim =
        start_sim("[[rule]]\nendpoint = \"entries\"\nfault = \"rate_limit\"\nretry_after = 0\n");
    let (n, out) = count_requests_while_stuck(
        &sim,
        RFC_LOG,
        ENTRIES,
        slow_timing(),
        Duration::from_millis(1500),
    );
    // Retry-After: 0 asks for no wait at all; the pacer still spaces requests ≥ 50 ms apart.
    assert!((3..=35).contains(&n), "{n} get-entries requests in 1.5 s");
    assert_counted_all_but_the_last(n, &out, FetchErrorKind::RateLimited);
}

#[test]
fn a_long_retry_after_does_not_delay_stopping() {
    let sim =
        start_sim("[[rule]]\nendpoint = \"entries\"\nfault = \"rate_limit\"\nretry_after = 600\n");
    let (n, out) = count_requests_while_stuck(
        &sim,
        RFC_LOG,
        ENTRIES,
        fast_timing(),
        Duration::from_millis(400),
    );
    assert_eq!(n, 1, "Retry-After: 600 is honoured");
    // The wait is cut into short sleeps that check the StopFlag (200 ms each).
    assert!(
        out.stop_latency < Duration::from_millis(500),
        "{:?}",
        out.stop_latency
    );
}

#[test]
fn no_busy_loop_on_missing_tiles_forever() {
    let sim = start_sim(
        r#"
        [[rule]]
        endpoint = "checkpoint"
        fault = "head_size"
        size = 600
        [[rule]]
        endpoint = "tile"
        fault = "not_found"
        "#,
    );
    let (n, out) = count_requests_while_stuck(
        &sim,
        STATIC_LOG,
        "tile/",
        slow_timing(),
        Duration::from_millis(1500),
    );
    // Three tiles in flight (000, 001, 002.p/88), each retried after the log's shared backoff
    // (20..200 ms, about 110 ms once it has grown); the partial one costs two requests per
    // round (partial, then full). About 60 requests; a busy loop would make thousands.
    assert!((3..=120).contains(&n), "{n} tile requests in 1.5 s");
    let rounds = out.errors(FetchErrorKind::Status);
    assert!(
        rounds as usize * 2 >= n,
        "each failed round backs off: {n} requests, {rounds} rounds"
    );
}

#[test]
fn no_busy_loop_on_bad_signatures_forever() {
    let sim = start_sim("[[rule]]\nendpoint = \"sth\"\nfault = \"bad_signature\"\n");
    let (n, out) = count_requests_while_stuck(
        &sim,
        RFC_LOG,
        STH,
        slow_timing(),
        Duration::from_millis(1000),
    );
    // Bad heads are polled once per poll interval (20 ms here), not in a loop.
    assert!((3..=60).contains(&n), "{n} get-sth requests in 1 s");
    assert_counted_all_but_the_last(n, &out, FetchErrorKind::BadSignature);
    assert_eq!(requests(&sim, RFC_LOG, ENTRIES).len(), 0);
}
